"""Node benchmark: orders/s over HTTP keep-alive and over the WebSocket API vs the same machine's bare
aiohttp "hello" rate.

In one run:
  1. a bare aiohttp app on uvloop answering GET /hello (the ceiling for any aiohttp handler here);
  2. the real node (`python run.py`, every stage its own pinned process) taking signed
     POST /api/v3/order (newOrderRespType=RESULT, so each answer waits for the Match stage);
  3. the node again at half the rate it reached, for the round-trip latency distribution, once
     its stages are at rest (Persist and Push catch up on the full rate's orders after its end);
  4. (--apis ...,ws) the same orders as the WebSocket API's `order.place` (HMAC-signed params,
     RESULT) on /ws-api/v3 of the same node, one WebSocket per client: full rate, then half;
  5. (--apis ...,test) the same orders to POST /api/v3/order/test: signed, validated and checked
     against the filters like an order, never placed. The HTTP front door alone: what the node's
     order costs before its pipeline, and so what its pipeline adds (BENCHMARKS.md).
N concurrent clients each loop request -> answer on one keep-alive connection. Orders alternate
buy/sell around one price so that about half of them trade. The clients are `--client go`
(bench/httpload, built with the Go toolchain on first use; the default where `go` is on PATH; about
50 us of CPU an order) or `--client python` (aiohttp in this process, about 230 us an order, more
than any stage but Acquiring, taken from the servers it measures on a small box). Each phase prints
every process's CPU per order, the clients' too. Progress prints as it goes; a latency
histogram goes to bench/out/node.png. Each phase's line ends with the hypervisor's share of the
box's CPU time meanwhile ("steal N%", bench/steal.py) and how busy each core was ("cores busy 0:
99%, 1: 71%").

    python bench/node.py [--clients 16] [--seconds 5] [--apis rest,ws] [--transports shm,kafka]
                         [--variant SECTION.KEY=VALUE] [--reads] [--client go|python]

With `kafka` among the transports, a local single-node Kafka broker (KRaft, spot_seda.kafka_broker)
is started for the run and the node runs once per transport, so the figures compare in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from spot_seda.kafka_broker.node import free_port  # noqa: E402,F401 (a port below the ephemeral range)

from nodeconfig import default_config  # noqa: E402
from steal import StealMeter  # noqa: E402
from wakeup import brief, brief_text  # noqa: E402

CORES = sorted(os.sched_getaffinity(0))  # the cores the node may use: each phase's line says how busy each was
TOKEN = "bench-token"
#: orders shed (503/-1003) by the node's admission control and sent again, per API
SHED: Counter = Counter()

HELLO = """
import sys, uvloop
from aiohttp import web
async def hello(request):
    return web.json_response({})
app = web.Application()
app.router.add_get("/hello", hello)
uvloop.install()
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""


def wait_up(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


def stop_node(node: subprocess.Popen, timeout: float) -> None:
    """SIGTERM to the node's process group (it was started in a session of its own); SIGKILL to
    the group if it has not stopped within `timeout` s."""
    os.killpg(node.pid, signal.SIGTERM)
    try:
        node.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(node.pid, signal.SIGKILL)
        node.wait()


@functools.cache
def go_build(name: str) -> Path:
    """bench/<name> (a Go program of the benches) built into bench/out/<name> (once a run); its path."""
    exe = ROOT / "bench" / "out" / name
    exe.parent.mkdir(exist_ok=True)
    # built aside, then renamed over: another process (the tests run on two workers) may be building
    # it too or running the one in place, which keeps its own inode
    built = exe.with_name(f".{name}.{os.getpid()}")
    subprocess.run(["go", "build", "-o", str(built), "."], cwd=ROOT / "bench" / name, check=True)
    os.replace(built, exe)
    return exe


DONE = r"done: (\d+) requests in ([\d.]+) s; shed (\d+); cpu ([\d.]+) s"


async def run_httpload(flags: list[str], echo=lambda line: True) -> tuple[re.Match, list[str]]:
    """bench/httpload with `flags`, each line it prints echoed where `echo(line)`; returns the match
    of its last line (DONE: requests, seconds, shed, its CPU seconds) and its other lines."""
    proc = await asyncio.create_subprocess_exec(str(go_build("httpload")), *flags, stdout=subprocess.PIPE)
    done, lines = None, []
    async for line in proc.stdout:
        text = line.decode()
        if text.startswith("done:"):
            done = re.match(DONE, text)
            continue
        lines.append(text)
        if echo(text):
            print(text, end="", flush=True)
    if await proc.wait() != 0 or done is None:
        raise SystemExit(f"bench/httpload {' '.join(flags[:2])} failed (exit status {proc.returncode})")
    return done, lines


async def go_load(mode: str, base: str, clients: int, seconds: float, rate: float | None = None,
                  accounts: Path | None = None) -> tuple[float, np.ndarray, float]:
    """bench/httpload's clients (`mode`: hello, order or ws-order) against `base` for `seconds`, its
    progress lines echoed; returns (requests/s, latencies in ms, the clients' CPU seconds)."""
    with tempfile.TemporaryDirectory(prefix="spot_seda_httpload_") as tmp:
        flags = ["-mode", mode, "-url", base, "-clients", str(clients), "-seconds", str(seconds),
                 "-rate", str(rate or 0), "-out", f"{tmp}/lat.f32"]
        if accounts is not None:
            flags += ["-accounts", str(accounts)]
        done, _ = await run_httpload(flags)
        count, elapsed, shed, cpu = int(done[1]), float(done[2]), int(done[3]), float(done[4])
        SHED[{"order": "rest", "ws-order": "ws"}.get(mode, mode)] += shed
        return count / elapsed, np.fromfile(f"{tmp}/lat.f32", "<f4").astype(float), cpu


def post_json(url: str, doc: dict) -> dict:
    req = urllib.request.Request(url, data=json.dumps(doc).encode(), headers={"X-Admin-Token": TOKEN, "Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(req).read())


async def load(make_request, clients: int, seconds: float, rate: float | None = None, connect=None):
    """Run `clients` loops for `seconds`; returns (requests/s, latencies in ms). Each loop's
    `make_request(conn, i, n)` gets the shared HTTP session, or what `connect(session, i)` made for
    that client before the clock started (its WebSocket)."""
    import aiohttp

    latencies: list[float] = []
    done = 0
    deadline = time.perf_counter() + seconds
    interval = clients / rate if rate else 0.0

    async def one(i: int, conn):
        nonlocal done
        next_at = time.perf_counter() + interval * i / clients
        n = 0
        while time.perf_counter() < deadline:
            if interval:
                delay = next_at - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                next_at += interval
            start = time.perf_counter()
            await make_request(conn, i, n)
            latencies.append((time.perf_counter() - start) * 1000)
            done += 1
            n += 1

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        conns = [session if connect is None else await connect(session, i) for i in range(clients)]
        began = time.perf_counter()
        await asyncio.gather(*(one(i, conn) for i, conn in enumerate(conns)))
        elapsed = time.perf_counter() - began
        for conn in conns:
            if conn is not session:
                await conn.close()
    return done / elapsed, np.array(latencies)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--keep", action="store_true",
                        help="keep each node's data directory (its logs; with SPOT_SEDA_PROFILE, its profile)")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--out", default=str(ROOT / "bench" / "out"))
    parser.add_argument("--transports", default="shm", help="comma-separated: shm, kafka")
    parser.add_argument("--apis", default="rest,ws", help="comma-separated: rest (POST /api/v3/order), "
                                                          "ws (the WebSocket API's order.place), test (the same "
                                                          "orders to POST /api/v3/order/test: the HTTP front door "
                                                          "alone, signed and validated, never placed)")
    parser.add_argument("--reads", action="store_true",
                        help="during the REST full-rate phase, one more client loops a signed GET /api/v3/myTrades "
                             "(a history read, which waits for Persist: read your own writes) and its latency is "
                             "printed; the orders' figures then include that client's load")
    parser.add_argument("--variant", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="also run the shm node with this setting changed (repeatable; one run each; "
                             "several settings in one run as 'a.b=1; c.d=2')")
    parser.add_argument("--client", choices=("go", "python"), default="go" if shutil.which("go") else "python",
                        help="the load clients: bench/httpload in Go (the default where `go` is on PATH) or "
                             "aiohttp in this process")
    args = parser.parse_args()
    import uvloop

    print(f"# {len(os.sched_getaffinity(0))} cores; {args.clients} keep-alive clients ({args.client}); "
          f"{args.seconds}s per phase", flush=True)
    print(f"# {brief_text(brief())}", flush=True)
    if args.client == "go":
        go_build("httpload")  # (before any phase's clock)
    port = free_port()
    hello = subprocess.Popen([sys.executable, "-c", HELLO, str(port)])
    try:
        wait_up(f"http://127.0.0.1:{port}/hello")

        async def get_hello(session, i, n):
            async with session.get(f"http://127.0.0.1:{port}/hello") as resp:
                await resp.read()
        steal = StealMeter()
        if args.client == "go":
            bare, bare_lat, _ = uvloop.run(go_load("hello", f"http://127.0.0.1:{port}", args.clients, args.seconds))
        else:
            bare, bare_lat = uvloop.run(load(get_hello, args.clients, args.seconds))
        print(f"bare aiohttp hello: {bare:,.0f} req/s  p50 {np.percentile(bare_lat, 50):.2f} ms  "
              f"p99 {np.percentile(bare_lat, 99):.2f} ms  {steal.summary(CORES)}", flush=True)
    finally:
        hello.terminate()
        hello.wait()

    for transport in args.transports.split(","):
        if transport == "kafka":
            from spot_seda.kafka_broker import KafkaBroker

            with KafkaBroker(Path(tempfile.mkdtemp(prefix="spot_seda_bench_kafka_"))) as broker:
                rate, lat, half, half_lat = run_node(args, bare, transport, broker.bootstrap)
        else:
            rate, lat, half, half_lat = run_node(args, bare, transport)
        if transport == "shm":
            plot(Path(args.out), bare_lat, lat, half_lat, bare, rate, half)
    for variant in args.variant:
        run_node(args, bare, "shm", override=variant)
    return 0


def process_cpu(pid: int) -> float | None:
    """CPU time (user + system) so far of one process, in seconds; None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def cpu_seconds(data: Path) -> dict[str, float]:
    """CPU time (user + system) so far of each stage process, and of this process (the clients)."""
    from spot_seda.runtime.metrics import open_from_manifest

    out = {"clients (this bench)": sum(os.times()[:2])}
    for row in open_from_manifest(data).snapshot():
        cpu = process_cpu(row["pid"])
        if cpu is not None:
            out[row["stage"]] = cpu
    return out


def gc_passes(data: Path, reset: bool = True) -> dict[str, tuple[int, int, int]]:
    """Each stage's garbage-collector passes and their nanoseconds so far, and its longest pass
    (runtime/metrics.py watch_gc); `reset`: the longest counts from now on (a phase's own)."""
    from spot_seda.runtime.metrics import open_from_manifest

    table = open_from_manifest(data)
    out = {}
    for row in table.snapshot():
        out[row["stage"]] = (row["gc_collections"], row["gc_ns"], row["gc_max_ns"])
        if reset:
            table.row(row["stage"])["gc_max_ns"] = 0
    return out


def print_gc(before: dict[str, tuple[int, int, int]], after: dict[str, tuple[int, int, int]]) -> None:
    """The garbage-collector passes of each stage between two gc_passes: each stopped that stage."""
    parts = [f"{stage} {n - before[stage][0]} ({(ns - before[stage][1]) / 1e6:.1f} ms, longest {top / 1e6:.1f})"
             for stage, (n, ns, top) in after.items() if stage in before and n > before[stage][0]]
    print("  garbage collector passes: " + (", ".join(parts) or "none"), flush=True)


def wait_idle(data: Path, limit_s: float = 30.0, window_s: float = 0.5, busy: float = 0.05) -> tuple[float, float]:
    """Wait until the node's stages together use less than `busy` of a core over `window_s` (the
    stages no answer waits for, Persist and Push, catch up on a phase's orders after its last answer);
    returns (seconds waited, the last window's share of a core)."""
    def stages() -> float:
        return sum(v for k, v in cpu_seconds(data).items() if k != "clients (this bench)")

    start = time.monotonic()
    last = stages()
    while True:
        time.sleep(window_s)
        now = stages()
        share = (now - last) / window_s
        last = now
        if share < busy or time.monotonic() - start >= limit_s:
            return time.monotonic() - start, share


def print_cpu(used: dict[str, float], orders: float) -> None:
    """Each process's CPU seconds over a phase, per order of it."""
    print("  CPU per order: " + ", ".join(f"{who} {seconds / orders * 1e6:.0f} us" for who, seconds in
                                          sorted(used.items(), key=lambda x: -x[1])), flush=True)


def with_setting(config: str, override: str) -> str:
    """The TOML text with `section.key = value` set; several as `a.b = 1; c.d = 2`. A key not in its
    section yet is added to it (say `runtime.cores.match = [1]`); the section must be there."""
    for one in filter(str.strip, override.split(";")):
        name, _, value = one.partition("=")
        section, _, key = name.strip().rpartition(".")
        head, found, rest = config.partition(f"\n[{section}]")
        if not found:
            raise SystemExit(f"--variant {one}: no [{section}] in configs/default.toml")
        body, nxt, tail = rest.partition("\n[")
        body, n = re.subn(rf"^{re.escape(key)}\s*=.*$", f"{key} = {value.strip()}", body, count=1, flags=re.M)
        if not n:
            body = body.rstrip("\n") + f"\n{key} = {value.strip()}\n"
        config = head + found + body + nxt + tail
    return config


def run_node(args, bare: float, transport: str, bootstrap: str = "", override: str = ""):
    """The node's two phases (full rate, half rate) on one transport (and one changed setting)."""
    import uvloop

    data = Path(tempfile.mkdtemp(prefix="spot_seda_bench_"))
    http = free_port()
    # the default configuration, as a user runs it; only where it listens and keeps data differ
    # (and the transport, when it is not the default)
    config = default_config()  # (rate limits off: bench/nodeconfig.py)
    if transport != "shm":
        config = config.replace('transport = "shm"', f'transport = "{transport}"', 1)
        config = config.replace('bootstrap_servers = "127.0.0.1:9092"', f'bootstrap_servers = "{bootstrap}"', 1)
    if override:
        config = with_setting(config, override)
    (data / "node.toml").write_text(config)
    name = f"{transport}, {override}" if override else transport
    env = dict(os.environ, SPOT_SEDA_ADMIN_TOKEN=TOKEN)
    node = subprocess.Popen([sys.executable, str(ROOT / "run.py"), "--config", str(data / "node.toml"),
                             "--data-dir", str(data), "--http-port", str(http),
                             "--ws-port", str(free_port())], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=open(data / "node.log", "wb"), start_new_session=True)
    base = f"http://127.0.0.1:{http}"
    try:
        wait_up(base + "/api/v3/ping")
        accounts = []
        for _ in range(args.clients):
            acct = post_json(base + "/admin/v1/accounts", {})
            for asset, amount in (("BTC", "100000"), ("USDT", "1000000000")):
                post_json(base + "/admin/v1/deposit", {"accountId": acct["accountId"], "asset": asset, "amount": amount})
            accounts.append(acct)

        async def place(session, i, n, path="/api/v3/order"):
            acct = accounts[i]
            side = "BUY" if (i + n) % 2 else "SELL"
            query = urlencode({"symbol": "BTCUSDT", "side": side, "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.001",
                               "price": "50000", "newOrderRespType": "RESULT", "timestamp": int(time.time() * 1000)})
            sig = hmac.new(acct["secretKey"].encode(), query.encode(), hashlib.sha256).hexdigest()
            while True:  # shed (503/-1003: admission control) -> sent again at once, as a client retries
                async with session.post(f"{base}{path}?{query}&signature={sig}",
                                        headers={"X-MBX-APIKEY": acct["apiKey"]}) as resp:
                    body = await resp.read()
                    if resp.status == 503 and b"-1003" in body:
                        SHED["rest"] += 1
                        continue
                    if resp.status != 200:
                        raise SystemExit(f"order refused: {resp.status} {body!r}")
                    return

        async def read_trades(session, i, n):
            """A history read of the first client's account, signed: it waits for Persist to hold
            every order published before it (api/readbarrier.py)."""
            acct = accounts[0]
            query = urlencode({"symbol": "BTCUSDT", "limit": 10, "timestamp": int(time.time() * 1000)})
            sig = hmac.new(acct["secretKey"].encode(), query.encode(), hashlib.sha256).hexdigest()
            async with session.get(f"{base}/api/v3/myTrades?{query}&signature={sig}",
                                   headers={"X-MBX-APIKEY": acct["apiKey"]}) as resp:
                body = await resp.read()
                if resp.status != 200:
                    raise SystemExit(f"read refused: {resp.status} {body!r}")

        def ws_order(i: int, n: int) -> str:
            """The same order as `place`, as a WebSocket API request (web-socket-api.md's signature)."""
            acct = accounts[i]
            params = {"apiKey": acct["apiKey"], "newOrderRespType": "RESULT", "price": "50000", "quantity": "0.001",
                      "side": "BUY" if (i + n) % 2 else "SELL", "symbol": "BTCUSDT", "timeInForce": "GTC",
                      "timestamp": int(time.time() * 1000), "type": "LIMIT"}  # (sorted by name)
            payload = "&".join(f"{k}={v}" for k, v in params.items())
            params["signature"] = hmac.new(acct["secretKey"].encode(), payload.encode(), hashlib.sha256).hexdigest()
            return json.dumps({"id": n, "method": "order.place", "params": params})

        async def place_ws(ws, i, n):
            while True:
                await ws.send_str(ws_order(i, n))
                answer = json.loads(await ws.receive_str())
                if answer["status"] == 503 and answer.get("error", {}).get("code") == -1003:
                    SHED["ws"] += 1
                    continue
                if answer["status"] != 200:
                    raise SystemExit(f"order refused: {answer}")
                return

        async def connect_ws(session, i):
            return await session.ws_connect(base.replace("http://", "ws://") + "/ws-api/v3", compress=0)

        (data / "accounts.json").write_text(json.dumps(accounts))

        def cpu_since(before: dict[str, float], go_cpu: float | None) -> dict[str, float]:
            """Each process's CPU seconds since `before` (cpu_seconds), with bench/httpload's."""
            used = {who: cpu - before.get(who, 0.0) for who, cpu in cpu_seconds(data).items()}
            if go_cpu is not None:
                used["clients (bench/httpload)"] = go_cpu
            return used

        def run_load(api: str, seconds: float, rate: float | None = None, reads: bool = False):
            """One phase of `api`'s orders: (orders/s, latencies, the Go clients' CPU seconds or None),
            and with `reads` also (reads/s, their latencies) of one Python client beside them."""
            request, connect = {"rest": (place, None), "ws": (place_ws, connect_ws),
                                "test": (functools.partial(place, path="/api/v3/order/test"), None)}[api]
            if args.client == "go":
                orders = go_load({"rest": "order", "ws": "ws-order", "test": "test-order"}[api], base, args.clients,
                                 seconds, rate,
                                 data / "accounts.json")
            else:
                async def python_orders():
                    return (*await load(request, args.clients, seconds, rate=rate, connect=connect), None)
                orders = python_orders()

            async def phase():
                if not reads:
                    return await orders, None
                return await asyncio.gather(orders, load(read_trades, 1, seconds))
            return uvloop.run(phase())

        results = {}
        for api in args.apis.split(","):
            label = {"rest": "HTTP POST /api/v3/order", "ws": "WebSocket API order.place",
                     "test": "HTTP POST /api/v3/order/test (the front door alone: never placed)"}[api]
            run_load(api, 1.0)  # warm-up
            before, collected = cpu_seconds(data), gc_passes(data)
            steal = StealMeter()
            (rate, lat, go_cpu), read_result = run_load(api, args.seconds, reads=args.reads and api == "rest")
            used = cpu_since(before, go_cpu)
            print(f"node over {name}, {label} (RESULT): {rate:,.0f} orders/s = {rate / bare:.0%} of bare  "
                  f"p50 {np.percentile(lat, 50):.2f} ms  p99 {np.percentile(lat, 99):.2f} ms  {steal.summary(CORES)}", flush=True)
            print_cpu(used, rate * args.seconds)
            print_gc(collected, gc_passes(data, reset=False))
            if read_result is not None:
                reads, read_lat = read_result
                print(f"  reads beside the orders (GET /api/v3/myTrades, one client): {reads:,.0f}/s  "
                      f"p50 {np.percentile(read_lat, 50):.2f} ms  p99 {np.percentile(read_lat, 99):.2f} ms  "
                      f"max {read_lat.max():.2f} ms", flush=True)
            # the half rate from a node at rest, not one still writing the full rate's history
            waited, share = wait_idle(data)
            print(f"  the node at rest {waited:.1f} s after the last answer (its stages then used {share:.0%} of a core)",
                  flush=True)
            before, collected = cpu_seconds(data), gc_passes(data)
            steal = StealMeter()
            (half, half_lat, go_cpu), _ = run_load(api, args.seconds, rate=rate / 2)
            used = cpu_since(before, go_cpu)
            p50, p99, p999 = np.percentile(half_lat, [50, 99, 99.9])
            print(f"node over {name}, {label} at half rate ({half:,.0f} orders/s): p50 {p50:.2f} ms  "
                  f"p99 {p99:.2f} ms  p99.9 {p999:.2f} ms  {steal.summary(CORES)}", flush=True)
            print_cpu(used, half * args.seconds)
            print_gc(collected, gc_passes(data, reset=False))
            if SHED[api]:
                print(f"  shed by admission control and sent again: {SHED[api]:,} times", flush=True)
            results[api] = rate, lat, half, half_lat
    finally:
        os.killpg(node.pid, signal.SIGTERM)
        node.wait(60)
        if args.keep:
            print(f"  (data kept in {data})", flush=True)
        else:
            shutil.rmtree(data, ignore_errors=True)
    return results.get("rest") or next(iter(results.values()))


def plot(out: Path, bare_lat, lat, half_lat, bare, rate, half) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(8, 4))
    bins = np.logspace(-1, 2.5, 80)
    for data, label in ((bare_lat, f"bare hello {bare:,.0f}/s"), (lat, f"orders, max {rate:,.0f}/s"), (half_lat, f"orders, half {half:,.0f}/s")):
        ax.hist(data, bins=bins, histtype="step", label=label, density=True)
    ax.set_xscale("log")
    ax.set_xlabel("round trip (ms)")
    ax.set_ylabel("density")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "node.png", dpi=110)
    print(f"plot: {out / 'node.png'}")


if __name__ == "__main__":
    sys.exit(main())
