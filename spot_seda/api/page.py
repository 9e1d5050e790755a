"""The node's own web page (issue 17): the market, your account and the pipeline at work, live.

Served by the HTTP stage (Acquiring) beside the REST API, from the same origin, so the page's REST
calls need no CORS; its streams come from Push's WebSocket port (browsers let a page open a
WebSocket to another port: the handshake is not subject to CORS), whose number the page finds in a
`<meta>` tag of the HTML. Everything the page does to the market or an account goes through the
public REST API and streams, signed in the browser (WebCrypto HMAC-SHA256): this module adds no
way to do anything the API would refuse. It adds:

- `GET /` (and `/index.html`): the page; `GET /page/<file>`: its scripts and styles, from
  spot_seda/web/ (package data; no CDN, no third-party code: it draws with canvas and SVG);
- `GET /page/v1/pipeline[?since=<ms>]`: the pipeline view's data, one JSON document: the stage graph
  from topology.py (which stage feeds which, over which topic) and, per stage instance, a series of
  points (rate in and out, queue depth or Kafka lag, batch size, busy %, CPU %, restarts) sampled
  once a second from the shared metrics table that `run.py status` and `/metrics` read
  (runtime/metrics.py), over the last WINDOW_S seconds. `since` returns only the newer points.

Sampling costs nothing while nobody looks: it starts with the first pipeline request and stops
after IDLE_STOP_S without one (the points kept so far stay, so a reload still shows the minutes
before). CPU comes from /proc/<pid>/stat of each stage's current process.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import deque
from importlib import resources
from pathlib import Path

from aiohttp import web

from ..runtime.metrics import open_from_manifest
from ..topology import instances_of, stage_specs
from .plumbing import STAGE
from .jsonbody import json_answer

#: seconds between samples, and how many seconds of them are kept
INTERVAL_S = 1.0
WINDOW_S = 300
#: sampling stops after this long without a pipeline request
IDLE_STOP_S = 120.0

#: the per-instance values of each point, in this order (the page reads the names from the JSON)
POINT_FIELDS = ("in_per_s", "out_per_s", "depth", "batch", "busy_pct", "cpu_pct", "restarts", "up")

#: the files of spot_seda/web/ the page may load, and their types (nothing else is served)
ASSETS = {"app.js": "text/javascript", "app.css": "text/css", "pipeline.js": "text/javascript",
          "market.js": "text/javascript", "account.js": "text/javascript", "common.js": "text/javascript",
          "favicon.svg": "image/svg+xml"}

_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

SAMPLER = web.AppKey("page_sampler", object)
INDEX = web.AppKey("page_index", str)


def web_dir() -> Path:
    return Path(str(resources.files("spot_seda") / "web"))


# ------------------------------------------------------------------------------ the graph


def stage_graph(settings) -> dict:
    """The SEDA graph of the node's topology, in flow order: stages (with their instances and
    topics) and edges `producer -> consumer` labelled with the topic, honouring each consumer's
    `sources` (Acquiring reads OrderChangeLog from Match only, not its own)."""
    specs = stage_specs(settings.node.topology)
    classes = {spec.name: spec.load() for spec in specs}
    stages = []
    for spec in specs:
        cls = classes[spec.name]
        door = {"spot_seda.api.rest:serve": "HTTP", "spot_seda.api.ws:serve": "WebSocket"}.get(spec.serve or "")
        stages.append({
            "name": spec.name,
            "instances": [f"{spec.name}-{i}" for i in range(instances_of(spec.name, settings))],
            "consumes": list(cls.consumes), "produces": list(cls.produces),
            # what the stage serves to the outside: clients in (HTTP), clients out (WebSocket)
            "serves": door,
        })
    edges = []
    for consumer in specs:
        cls = classes[consumer.name]
        for topic in cls.consumes:
            wanted = cls.sources.get(topic) if cls.sources else None
            for producer in specs:
                if topic in classes[producer.name].produces and (wanted is None or producer.name in wanted):
                    edges.append({"from": producer.name, "to": consumer.name, "topic": topic})
    return {"topology": settings.node.topology, "stages": stages, "edges": edges}


# ------------------------------------------------------------------------------ sampling


def cpu_ticks(pid: int) -> int | None:
    """utime + stime of a process, in clock ticks (None when it is gone)."""
    if pid <= 0:
        return None
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: count from the last ')'
    fields = text[text.rindex(b")") + 2:].split()
    return int(fields[11]) + int(fields[12])


class Sample:
    __slots__ = ("t_ns", "rows", "cpu")

    def __init__(self, t_ns: int, rows: list[dict[str, int]], cpu: list[int | None]) -> None:
        self.t_ns = t_ns
        self.rows = rows
        self.cpu = cpu


def derive(prev: Sample, cur: Sample, stall_ns: int) -> list[list[float | int | None]]:
    """One point per instance from two consecutive samples (POINT_FIELDS order). A counter that went
    backwards (a new table after a node restart) gives no rate rather than a negative one."""
    dt = (cur.t_ns - prev.t_ns) / 1e9
    out = []
    for i, row in enumerate(cur.rows):
        before = prev.rows[i] if i < len(prev.rows) else None
        same = before is not None and before["pid"] == row["pid"] and row["pid"] != 0

        def rate(column: str) -> float | None:
            if before is None or dt <= 0:
                return None
            delta = row[column] - before[column]
            return round(delta / dt, 1) if delta >= 0 else None

        batches = row["batches_in"] - before["batches_in"] if before else 0
        events = row["events_in"] - before["events_in"] if before else 0
        busy = rate("busy_ns")
        cpu = None
        if same and cur.cpu[i] is not None and prev.cpu[i] is not None and dt > 0:
            cpu = round(100.0 * (cur.cpu[i] - prev.cpu[i]) / _CLK_TCK / dt, 1)
        up = int(row["pid"] != 0 and (cur.t_ns - row["heartbeat_ns"]) < stall_ns)
        out.append([rate("events_in"), rate("events_out"), row["queue_depth"],
                    round(events / batches, 1) if batches > 0 and events >= 0 else None,
                    round(busy / 1e7, 1) if busy is not None else None, cpu, row["restarts"], up])
    return out


class Sampler:
    """Samples the metrics table once a second while someone watches; keeps WINDOW_S of points."""

    def __init__(self, data_dir: Path, settings) -> None:
        self.data_dir = data_dir
        self.settings = settings
        self.table = None
        self.table_path: str | None = None
        self.rows: list[str] = []
        self.samples: deque[Sample] = deque(maxlen=int(WINDOW_S / INTERVAL_S) + 1)
        self.points: deque[tuple[int, list]] = deque(maxlen=int(WINDOW_S / INTERVAL_S))
        self.task: asyncio.Task | None = None
        self.last_request = 0.0
        self.graph = stage_graph(settings)
        # a stage silent for this long is shown as down (the supervisor kills it at stall_timeout_s)
        self.stall_ns = int(max(2.0, min(5.0, settings.runtime.stall_timeout_s)) * 1e9)

    def _open(self):
        manifest = json.loads((self.data_dir / "run" / "node.json").read_text())
        if self.table is None or manifest["metrics"] != self.table_path:
            self.table = open_from_manifest(self.data_dir)
            self.table_path = manifest["metrics"]
            if self.table.rows != self.rows:  # another layout: the old points no longer line up
                self.rows = list(self.table.rows)
                self.samples.clear()
                self.points.clear()
        return self.table

    def sample(self) -> None:
        try:
            table = self._open()
        except (FileNotFoundError, KeyError, ValueError):
            return  # the node is starting or stopping: no table to read
        rows = table.snapshot()
        cur = Sample(time.time_ns(), rows, [cpu_ticks(r["pid"]) for r in rows])
        if self.samples:
            self.points.append((cur.t_ns // 1_000_000, derive(self.samples[-1], cur, self.stall_ns)))
        self.samples.append(cur)

    async def run(self) -> None:
        while time.monotonic() - self.last_request < IDLE_STOP_S:
            self.sample()
            await asyncio.sleep(INTERVAL_S)

    def touch(self) -> None:
        """A pipeline request: (re)start sampling; the first one samples at once."""
        self.last_request = time.monotonic()
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self.run())

    def document(self, since_ms: int) -> dict:
        latest = self.samples[-1].rows if self.samples else []
        return {
            "now": time.time_ns() // 1_000_000,
            "transport": self.settings.bus.transport,
            "interval_ms": int(INTERVAL_S * 1000),
            "window_s": WINDOW_S,
            "graph": self.graph,
            "rows": self.rows,
            "fields": list(POINT_FIELDS),
            "points": [{"t": t, "v": values} for t, values in self.points if t > since_ms],
            # the latest raw counters, for the totals beside the charts
            "latest": [{k: r[k] for k in ("stage", "pid", "core", "restarts", "events_in", "events_out", "queue_depth")}
                       for r in latest],
        }

    async def stop(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
            try:
                await self.task
            except asyncio.CancelledError:
                pass


# ------------------------------------------------------------------------------ handlers


def _security_headers(request: web.Request, resp: web.StreamResponse) -> web.StreamResponse:
    """The page runs only its own code and talks only to this node: a strict CSP (scripts and
    styles from 'self', connections to this origin and the node's WebSocket port), no framing (the
    order form must not be clickjacked), no sniffing, no referrer (URLs never leave the page)."""
    settings = request.app[STAGE].ctx.settings
    host = request.url.host or settings.node.host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    ws = f"{host}:{settings.node.ws_port}"
    resp.headers["Content-Security-Policy"] = (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self' ws://{ws} wss://{ws}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


def index_html(settings) -> str:
    """The page's HTML with the node's WebSocket port filled in."""
    html = (web_dir() / "index.html").read_text(encoding="utf-8")
    return html.replace("{{WS_PORT}}", str(int(settings.node.ws_port)))


async def index(request: web.Request) -> web.Response:
    resp = web.Response(text=request.app[INDEX], content_type="text/html", charset="utf-8")
    resp.headers["Cache-Control"] = "no-cache"
    return _security_headers(request, resp)


async def asset(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    kind = ASSETS.get(name)
    if kind is None:
        raise web.HTTPNotFound()
    resp = web.Response(body=(web_dir() / name).read_bytes(), content_type=kind,
                        charset="utf-8" if kind.startswith("text/") else None)
    resp.headers["Cache-Control"] = "no-cache"  # small files; a changed node must not run old code
    return _security_headers(request, resp)


async def pipeline(request: web.Request) -> web.Response:
    sampler: Sampler = request.app[SAMPLER]
    text = request.query.get("since", "0")
    since = int(text) if text.isdigit() and len(text) < 16 else 0
    first = sampler.task is None or sampler.task.done()
    sampler.touch()
    if first and not sampler.samples:
        sampler.sample()  # a first sample now: the next one, a second later, makes the first point
    resp = json_answer(sampler.document(since))
    resp.headers["Cache-Control"] = "no-store"
    return resp


async def _stop_sampler(app: web.Application) -> None:
    await app[SAMPLER].stop()


def add_page_routes(app: web.Application) -> None:
    """Register the page's routes on the HTTP stage's app (rest.build_app calls this)."""
    stage = app[STAGE]
    app[SAMPLER] = Sampler(Path(stage.ctx.data_dir), stage.ctx.settings)
    app[INDEX] = index_html(stage.ctx.settings)
    app.on_cleanup.append(_stop_sampler)
    r = app.router
    r.add_get("/", index)
    r.add_get("/index.html", index)
    r.add_get("/page/v1/pipeline", pipeline)
    r.add_get("/page/{name}", asset)
