"""Overload benchmark (issue 13): the node offered a multiple of its capacity, open loop, by many
clients; does it shed (503/-1003) at once, answer everything within a bound, and come back to full
rate right after?

In one run, on the real node (`python run.py`, the default configuration):
  1. capacity: `--capacity-clients` keep-alive clients loop request -> answer (signed POST
     /api/v3/order, newOrderRespType=RESULT) for `--capacity-seconds`;
  2. the burst: `--clients` clients offer `--factor` x that rate for `--seconds`, open loop (each
     request has a scheduled send time; its latency counts from then, so a late send is not hidden),
     each with a `--client-timeout` (a request not answered by then counts as unanswered);
  3. recovery: the capacity clients again, the rate reported per 0.5 s window, for 3 s; then, after
     a pause of SETTLE_S, 3 s more: the settled rate of the node as the burst left it (more orders,
     a longer history), which the first window after the burst is compared with;
  4. every order that got an id, or -1007, or no answer at all, is looked up by its client order id.
Memory: the resident set summed over the node's processes, before, at its peak, and after.
`--vegeta PATH`: the burst is sent by vegeta (vegeta_burst), which keeps its schedule where Python
clients on the same small box cannot.

    python bench/overload.py [--clients 1024] [--factor 2.5] [--seconds 20] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
#: the pause before the settled rate is measured (recovery, above)
SETTLE_S = 3.0
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from nodeconfig import default_config  # noqa: E402
from bench.node import TOKEN, free_port, post_json, wait_up  # noqa: E402


def node_rss_mib(data: Path, supervisor: int) -> float:
    """Resident memory summed over the supervisor and every stage process (MiB)."""
    from spot_seda.runtime.metrics import open_from_manifest

    pids = {supervisor}
    try:
        pids |= {row["pid"] for row in open_from_manifest(data).snapshot() if row["pid"]}
    except (OSError, ValueError, KeyError):
        pass
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


class Orders:
    def __init__(self, base: str, accounts: list[dict]) -> None:
        self.base = base
        self.accounts = accounts
        self.n = 0

    def request(self, i: int, resp_type: str = "RESULT", rest: bool = False) -> tuple[str, dict, str]:
        """(url, headers, client order id) of a new signed order of client i's account (the client
        order id names the account: ov-<account index>-<n>): buys and sells at one price, which fill
        each other; `rest`: at a price far from it (a buy 40% below, a sell 40% above), to rest."""
        acct = self.accounts[i % len(self.accounts)]
        self.n += 1
        cid = f"ov-{i % len(self.accounts)}-{self.n}"
        side = "BUY" if self.n % 2 else "SELL"
        price = ("30000" if side == "BUY" else "70000") if rest else "50000"
        query = urlencode({"symbol": "BTCUSDT", "side": side, "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.001",
                           "price": price, "newOrderRespType": resp_type, "newClientOrderId": cid,
                           "timestamp": int(time.time() * 1000), "recvWindow": 60000})
        sig = hmac.new(acct["secretKey"].encode(), query.encode(), hashlib.sha256).hexdigest()
        return f"{self.base}/api/v3/order?{query}&signature={sig}", {"X-MBX-APIKEY": acct["apiKey"]}, cid


async def closed_loop(orders: Orders, clients: int, seconds: float, window: float = 0.0):
    """Closed loop: (orders/s overall, [orders/s per window])."""
    import aiohttp

    done: list[float] = []
    deadline = time.perf_counter() + seconds

    async def one(i: int, session):
        while time.perf_counter() < deadline:
            url, headers, _ = orders.request(i)
            async with session.post(url, headers=headers) as resp:
                await resp.read()
                if resp.status == 200:
                    done.append(time.perf_counter())

    began = time.perf_counter()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients)) as session:
        await asyncio.gather(*(one(i, session) for i in range(clients)))
    elapsed = time.perf_counter() - began
    windows = []
    if window:
        edges = np.arange(began, began + seconds + window / 2, window)
        counts, _ = np.histogram(done, bins=edges)
        windows = list(counts / window)
    return len(done) / elapsed, windows


async def burst(orders: Orders, clients: int, rate: float, seconds: float, timeout: float, on_tick):
    """Open loop at `rate` orders/s over `clients` clients; returns the records
    (client order id, status or None, code or None, latency from the scheduled send (s), order id,
    latency from the actual send (s), scheduled send (s from the burst's start)): the difference of
    the latencies is this client's own lateness, which on a small box (the clients sharing its cores
    with the node) can dwarf the node's answer times."""
    import aiohttp

    interval = clients / rate
    began = time.perf_counter() + 0.2
    end = began + seconds
    records = []

    async def one(i: int, session):
        at = began + interval * i / clients
        while at < end:
            delay = at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            url, headers, cid = orders.request(i)
            status = code = oid = None
            sent = time.perf_counter()
            try:
                async with session.post(url, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
                    doc = await resp.json()
                    status, code, oid = resp.status, doc.get("code"), doc.get("orderId")
            except (asyncio.TimeoutError, aiohttp.ClientError):
                pass
            now = time.perf_counter()
            records.append((cid, status, code, now - at, oid, now - sent, at - began))
            at += interval

    async def ticker():
        while time.perf_counter() < end + timeout:
            on_tick()
            await asyncio.sleep(0.5)

    tick = asyncio.ensure_future(ticker())
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        await asyncio.gather(*(one(i, session) for i in range(clients)))
    tick.cancel()
    return records


def vegeta_burst(orders: Orders, clients: int, rate: float, seconds: float, timeout: float, on_tick,
                 vegeta: str) -> list:
    """The burst by vegeta (Go; `go install github.com/tsenart/vegeta/v12@v12.13.0`) instead of Python
    clients: a load generator that keeps its schedule with a fraction of a core, so on a small box
    the answer times are the node's rather than the Python clients' own lateness. The orders are
    signed beforehand (recvWindow 60 s: the burst must start within it), one per request, and sent
    open loop at `rate` over at most `clients` connections; each latency counts from the request's
    scheduled send (vegeta's pacer). The same records as burst()."""
    import base64

    count = int(rate * seconds) + 1
    requests = [orders.request(i % clients) for i in range(count)]
    with tempfile.TemporaryDirectory(prefix="vegeta_") as tmp:
        targets = Path(tmp) / "targets.jsonl"
        targets.write_text("".join(json.dumps({"method": "POST", "url": url, "header": {k: [v] for k, v in headers.items()}})
                                   + "\n" for url, headers, _ in requests))
        attack = subprocess.Popen(
            [vegeta, "attack", "-format=json", f"-targets={targets}", f"-rate={rate:.0f}/1s", f"-duration={seconds}s",
             f"-timeout={timeout}s", f"-connections={clients}", f"-max-connections={clients}", "-keepalive=true"],
            stdout=subprocess.PIPE)
        encode = subprocess.Popen([vegeta, "encode", "--to", "json"], stdin=attack.stdout, stdout=subprocess.PIPE)
        attack.stdout.close()
        out = []
        while encode.poll() is None:
            out.append(encode.stdout.read(1 << 20))
            on_tick()
        out.append(encode.stdout.read())
        attack.wait()
    records = []
    hits = [json.loads(line) for line in b"".join(out).splitlines()]
    began = min((datetime.fromisoformat(h["timestamp"]) for h in hits), default=None)
    for hit in hits:
        # the order's own client id, from the URL vegeta sent: its `seq` numbers the pacer's ticks,
        # and two workers may take their targets from the file in the other order
        cid = parse_qs(urlsplit(hit["url"]).query)["newClientOrderId"][0] if hit.get("url") else \
            requests[hit["seq"] % count][2]
        status = hit["code"] or None
        code = oid = None
        if status:
            try:
                doc = json.loads(base64.b64decode(hit["body"] or b"") or b"{}")
                code, oid = doc.get("code"), doc.get("orderId")
            except ValueError:
                pass
            else:
                if doc.get("clientOrderId", cid) != cid:
                    raise AssertionError(f"answer for {cid} names {doc['clientOrderId']}")
        latency = hit["latency"] / 1e9
        records.append((cid, status, code, latency, oid, latency,
                        (datetime.fromisoformat(hit["timestamp"]) - began).total_seconds()))
    return records


async def lookups(orders: Orders, records) -> Counter:
    """Look up by client order id each order whose client could not know its fate, or that got an id."""
    import aiohttp

    out: Counter = Counter()
    sem = asyncio.Semaphore(16)

    async def look(cid: str):
        acct = orders.accounts[int(cid.split("-")[1])]
        query = urlencode({"symbol": "BTCUSDT", "origClientOrderId": cid, "timestamp": int(time.time() * 1000),
                           "recvWindow": 60000})
        sig = hmac.new(acct["secretKey"].encode(), query.encode(), hashlib.sha256).hexdigest()
        async with sem, session.get(f"{orders.base}/api/v3/order?{query}&signature={sig}",
                                    headers={"X-MBX-APIKEY": acct["apiKey"]}) as resp:
            if resp.status != 200:
                print(f"  lookup of {cid}: HTTP {resp.status} {await resp.text()}", flush=True)
            return resp.status

    async with aiohttp.ClientSession() as session:
        want = [(idx, r) for idx, r in enumerate(records) if r[1] == 200 or r[1] is None or r[2] == -1007]
        found = await asyncio.gather(*(look(r[0]) for _, r in want))
    for (_, r), status in zip(want, found):
        kind = "accepted" if r[1] == 200 else ("-1007" if r[1] else "unanswered")
        out[f"{kind} {'found' if status == 200 else 'not found'}"] += 1
    return out


@contextmanager
def funded_node(config_text: str, accounts: int = 64):
    """The real node (`run.py`, its own process group) on a fresh data dir with `config_text`, and
    `accounts` accounts funded with BTC and USDT: yields (the node's process, its data dir, Orders
    over those accounts); SIGTERM to the node at the end. (One account per client would be 1,024
    accounts; 64 share the load: orders are per account.)"""
    data = Path(tempfile.mkdtemp(prefix="spot_seda_bench_"))
    http = free_port()
    (data / "node.toml").write_text(config_text)
    env = dict(os.environ, SPOT_SEDA_ADMIN_TOKEN=TOKEN)
    node = subprocess.Popen([sys.executable, str(ROOT / "run.py"), "--config", str(data / "node.toml"),
                             "--data-dir", str(data), "--http-port", str(http), "--ws-port", str(free_port())],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=open(data / "node.log", "wb"),
                            start_new_session=True)
    base = f"http://127.0.0.1:{http}"
    try:
        wait_up(base + "/api/v3/ping")
        funded = []
        for _ in range(accounts):
            acct = post_json(base + "/admin/v1/accounts", {})
            for asset, amount in (("BTC", "100000"), ("USDT", "1000000000")):
                post_json(base + "/admin/v1/deposit", {"accountId": acct["accountId"], "asset": asset, "amount": amount})
            funded.append(acct)
        yield node, data, Orders(base, funded)
    finally:
        os.killpg(node.pid, signal.SIGTERM)
        node.wait(60)
        shutil.rmtree(data, ignore_errors=True)


def plot(records: list, path: str, title: str) -> None:
    """Each answer's latency (from its scheduled send) against that send, accepted and shed apart,
    with the 1 s bound: where in the burst the answers were late, if any."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 5))
    for label, keep, color in (("shed (503/-1003)", lambda r: r[2] == -1003, "tab:orange"),
                               ("accepted", lambda r: r[1] == 200, "tab:blue"),
                               ("other / unanswered", lambda r: r[1] != 200 and r[2] != -1003, "tab:red")):
        chosen = [r for r in records if keep(r)]
        if chosen:
            ax.scatter([r[6] for r in chosen], [r[3] * 1e3 for r in chosen], s=2, alpha=0.4, color=color,
                       label=f"{label}: {len(chosen):,}")
    ax.axhline(1000, color="black", linestyle="--", linewidth=1, label="1 s")
    ax.set_xlabel("scheduled send (s from the burst's start)")
    ax.set_ylabel("answer latency (ms)")
    ax.set_title(title)
    ax.legend(loc="upper left", markerscale=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=1024)
    parser.add_argument("--factor", type=float, default=2.5, help="offered load as a multiple of the capacity")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--client-timeout", type=float, default=15.0)
    parser.add_argument("--capacity-clients", type=int, default=16)
    parser.add_argument("--capacity-seconds", type=float, default=3.0)
    parser.add_argument("--config", help="node configuration (default: configs/default.toml, rate limits off)")
    parser.add_argument("--vegeta", metavar="PATH", help="send the burst with this vegeta binary (vegeta_burst)")
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--plot", help="plot each answer's latency over the burst here (PNG)")
    args = parser.parse_args()
    import uvloop

    config = Path(args.config).read_text() if args.config else default_config()  # (rate limits off: nodeconfig.py)
    with funded_node(config) as (node, data, orders):
        print(f"# {len(os.sched_getaffinity(0))} cores; node data in {data} (removed at the end)", flush=True)
        uvloop.run(closed_loop(orders, args.capacity_clients, 1.0))  # warm-up
        capacity, _ = uvloop.run(closed_loop(orders, args.capacity_clients, args.capacity_seconds))
        rss_before = node_rss_mib(data, node.pid)
        print(f"capacity: {capacity:,.0f} orders/s ({args.capacity_clients} closed-loop clients); "
              f"node RSS {rss_before:,.0f} MiB", flush=True)

        rss_peak = [rss_before]
        offered = capacity * args.factor
        print(f"burst: {args.clients} clients offering {offered:,.0f} orders/s ({args.factor}x) for {args.seconds:.0f} s",
              flush=True)
        sample = lambda: rss_peak.append(node_rss_mib(data, node.pid))  # noqa: E731
        if args.vegeta:
            records = vegeta_burst(orders, args.clients, offered, args.seconds, args.client_timeout, sample,
                                   args.vegeta)
        else:
            records = uvloop.run(burst(orders, args.clients, offered, args.seconds, args.client_timeout, sample))
        ended = time.perf_counter()
        rate, windows = uvloop.run(closed_loop(orders, args.capacity_clients, 3.0, window=0.5))
        since_end = time.perf_counter() - ended
        rss_after = node_rss_mib(data, node.pid)
        # the same clients once more after a pause: the rate of the node as the burst left it (more
        # orders, a longer history) once settled, which the rate right after is compared with
        time.sleep(SETTLE_S)
        settled, _ = uvloop.run(closed_loop(orders, args.capacity_clients, 3.0))

        lat = np.array([r[3] for r in records if r[1] is not None]) * 1e3
        kinds = Counter("accepted" if r[1] == 200 else "unanswered" if r[1] is None else f"{r[1]}/{r[2]}" for r in records)
        shed_lat = np.array([r[3] for r in records if r[2] == -1003]) * 1e3
        acc_lat = np.array([r[3] for r in records if r[1] == 200]) * 1e3
        sent_lat = np.array([r[5] for r in records if r[1] is not None]) * 1e3
        shed_sent = np.array([r[5] for r in records if r[2] == -1003]) * 1e3
        pct = lambda a, q: float(np.percentile(a, q)) if len(a) else float("nan")  # noqa: E731
        print(f"answers: {dict(kinds)}", flush=True)
        print(f"latency from scheduled send, all answers: p50 {pct(lat, 50):.0f} ms  p99 {pct(lat, 99):.0f} ms  "
              f"max {lat.max() if len(lat) else float('nan'):.0f} ms; shed p99 {pct(shed_lat, 99):.0f} ms; "
              f"accepted p99 {pct(acc_lat, 99):.0f} ms; answered within 1 s: {float((lat < 1000).mean()) if len(lat) else 0:.1%}",
              flush=True)
        print(f"latency from the actual send: p50 {pct(sent_lat, 50):.0f} ms  p99 {pct(sent_lat, 99):.0f} ms  "
              f"max {sent_lat.max() if len(sent_lat) else float('nan'):.0f} ms; shed p99 {pct(shed_sent, 99):.0f} ms; "
              f"within 1 s: {float((sent_lat < 1000).mean()) if len(sent_lat) else 0:.1%}", flush=True)
        print(f"after the burst ({since_end:.1f} s of it): {rate:,.0f} orders/s; per 0.5 s: "
              + ", ".join(f"{w:,.0f}" for w in windows)
              + f"; {SETTLE_S:.0f} s later, settled: {settled:,.0f} orders/s (the first 0.5 s after the burst at "
              f"{windows[0] / settled if settled and windows else float('nan'):.0%} of it)", flush=True)
        print(f"node RSS: before {rss_before:,.0f} MiB, peak {max(rss_peak):,.0f} MiB, after {rss_after:,.0f} MiB", flush=True)
        if args.plot:
            plot(records, args.plot, f"{offered:,.0f} orders/s offered ({args.factor}x {capacity:,.0f}) for "
                 f"{args.seconds:.0f} s by {args.clients} {'vegeta connections' if args.vegeta else 'clients'}"
                 + (f"; {Path(args.config).name}" if args.config else ""))
            print(f"plot: {args.plot}", flush=True)
        found = uvloop.run(lookups(orders, records))
        print(f"looked up by client order id: {dict(found)}", flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps({
                "capacity": capacity, "offered": offered, "clients": args.clients, "seconds": args.seconds,
                "answers": dict(kinds), "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99),
                "shed_p99_ms": pct(shed_lat, 99), "accepted_p99_ms": pct(acc_lat, 99),
                "sent_p50_ms": pct(sent_lat, 50), "sent_p99_ms": pct(sent_lat, 99), "shed_sent_p99_ms": pct(shed_sent, 99),
                "after_windows": windows, "settled": settled, "rss_mib": {"before": rss_before, "peak": max(rss_peak), "after": rss_after},
                "lookups": dict(found)}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
