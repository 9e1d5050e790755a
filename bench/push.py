"""Push fan-out benchmark: N WebSocket clients on one symbol's trade stream while orders flow.

The real node (`python run.py`, every stage its own pinned process) takes orders over REST from a
load: rounds of `--sweep` resting sells (ACK) then one market buy that takes them all, paced to
offer `--rate` trades/s, sent by `--load go` (bench/httpload -mode sweep, the default where `go` is
on PATH) or `--load python` (aiohttp in this process, about 217 us of CPU a trade on the same cores). `--clients` WebSocket connections subscribe to btcusdt@trade; each
received trade's latency is receipt time minus the trade's `T` (its timestamp, assigned at
Acquiring; ms resolution); wsfan's receipt time is that of the socket read that brought the frame. The
clients are `--client go` (bench/wsfan, built with the Go toolchain on first use: goroutines on
gorilla/websocket, the default where `go` is on PATH) or `--client python` (one asyncio process
with a minimal frame parser). On 2 cores the Python one is the bottleneck: it reads at most about
400,000 frames a second, while 1,000 clients at 2,000 trades/s are offered 2 million.
Prints progress every second; writes a latency histogram to bench/out/push.png.

    python bench/push.py [--clients 1000] [--rate 2000] [--seconds 10] [--sweep 50] [--client go] [--load go]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import multiprocessing
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.node import (TOKEN, cpu_seconds, free_port, go_build, post_json, process_cpu, run_httpload,  # noqa: E402
                        stop_node, wait_up)


class TradeCounter(asyncio.Protocol):
    """A WebSocket client that only counts text frames and reads the trade time from each."""

    def __init__(self, stats, ready: asyncio.Future) -> None:
        self.stats = stats
        self.buf = b""
        self.upgraded = False
        self.ready = ready

    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        print(f"a client's connection was closed ({exc or 'by the server'})", flush=True)

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                return
            self.upgraded = True
            buf = buf[end + 4:]
            self.ready.set_result(True)
        now = time.time() * 1000
        pos, n = 0, len(buf)
        lat = self.stats["lat"]
        while n - pos >= 2:
            opcode, ln = buf[pos] & 0x0F, buf[pos + 1] & 0x7F
            head = 2
            if ln == 126:
                if n - pos < 4:
                    break
                ln, head = int.from_bytes(buf[pos + 2:pos + 4], "big"), 4
            elif ln == 127:
                if n - pos < 10:
                    break
                ln, head = int.from_bytes(buf[pos + 2:pos + 10], "big"), 10
            if n - pos < head + ln:
                break
            if opcode == 1:
                payload = buf[pos + head:pos + head + ln]
                i = payload.find(b'"T":')
                if i >= 0:
                    lat.append(now - int(payload[i + 4:payload.index(b",", i)]))
            elif opcode == 9:  # ping: answer with a masked pong
                self.transport.write(b"\x8a\x80\x00\x00\x00\x00")
            pos += head + ln
        self.buf = buf[pos:]


async def run_clients(ws_port: int, count: int, seconds: float, out: str, start_evt, stop_evt, total=None) -> None:
    loop = asyncio.get_running_loop()
    stats = {"lat": []}
    readies = []
    for i in range(count):
        ready = loop.create_future()
        transport, _ = await loop.create_connection(lambda r=ready: TradeCounter(stats, r), "127.0.0.1", ws_port)
        transport.write(b"GET /ws/btcusdt@trade HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        readies.append(ready)
    await asyncio.gather(*readies)
    print(f"clients: {count} subscribed to btcusdt@trade", flush=True)
    start_evt.set()
    samples: list[float] = []
    t0 = time.monotonic()
    last = t0
    while not stop_evt.is_set():
        await asyncio.sleep(1.0)
        now = time.monotonic()
        got, stats["lat"] = stats["lat"], []
        samples.extend(got)
        arr = np.array(got) if got else np.zeros(1)  # (zeros: nothing arrived this second)
        print(f"  t={now - t0:5.1f}s delivered {len(got) / (now - last):10.0f} msg/s  p50 {np.percentile(arr, 50):7.1f} ms"
              f"  p99 {np.percentile(arr, 99):7.1f} ms  total {len(samples)}", flush=True)
        if total is not None:  # (messages delivered so far: PythonClients.wait_tail)
            total.value = len(samples)
        last = now
    np.save(out, np.array(samples))


def clients_process(ws_port, count, seconds, out, start_evt, stop_evt, total) -> None:
    import uvloop

    uvloop.run(run_clients(ws_port, count, seconds, out, start_evt, stop_evt, total))


#: how long the tail of the load may take to reach the clients after it stops (a busy box)
TAIL_TIMEOUT_S = 60.0
#: ... and how long it may deliver nothing before the rest counts as lost
STALLED_S = 10.0


def wait_delivered(total, expected: int) -> None:
    """Until the clients have had `expected` messages in all (`total()`, updated by their per-second
    report), at most TAIL_TIMEOUT_S, or STALLED_S with nothing new (the rest is then missing:
    BENCHMARKS.md, "Push", on the runs that lost some)."""
    deadline = time.monotonic() + TAIL_TIMEOUT_S
    seen, moved = total(), time.monotonic()
    while seen < expected and time.monotonic() < min(deadline, moved + STALLED_S):
        time.sleep(0.1)
        if total() != seen:
            seen, moved = total(), time.monotonic()


class GoClients:
    """bench/wsfan as a child process: built on first use, stopped by closing its stdin."""

    def __init__(self, ws_port: int, count: int, out: str) -> None:
        exe = go_build("wsfan")
        self.out = out
        self.ready = threading.Event()
        self.done = ""
        self.total = 0  # messages delivered so far, as its last per-second report said
        self.proc = subprocess.Popen([str(exe), "-url", f"ws://127.0.0.1:{ws_port}/ws/btcusdt@trade",
                                      "-clients", str(count), "-out", out],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.reader = threading.Thread(target=self._echo, daemon=True)
        self.reader.start()

    def _echo(self) -> None:
        for line in self.proc.stdout:
            if line.startswith("done:"):
                self.done = line.strip()
                continue
            if line.startswith("  t="):
                self.total = int(line.rsplit("total", 1)[1])
            print(line, end="", flush=True)
            if line.startswith("clients:"):
                self.ready.set()

    def wait_ready(self, timeout: float) -> None:
        if not self.ready.wait(timeout):
            raise SystemExit("bench/wsfan: the clients did not all connect in time")

    def wait_tail(self, expected: int) -> None:
        wait_delivered(lambda: self.total, expected)

    def stop(self) -> np.ndarray:
        self.proc.stdin.close()
        if self.proc.wait(60) != 0:
            raise SystemExit(f"bench/wsfan exited with {self.proc.returncode}")
        self.reader.join(10)
        print(f"wsfan {self.done}", flush=True)
        return np.fromfile(self.out, "<f4")


class PythonClients:
    """run_clients in a spawned process."""

    def __init__(self, ws_port: int, count: int, out: str) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.out = out
        self.start_evt, self.stop_evt = ctx.Event(), ctx.Event()
        self.total = ctx.Value("q", 0)
        self.proc = ctx.Process(target=clients_process,
                                args=(ws_port, count, 0, out, self.start_evt, self.stop_evt, self.total))
        self.proc.start()

    def wait_ready(self, timeout: float) -> None:
        self.start_evt.wait(timeout)

    def wait_tail(self, expected: int) -> None:
        wait_delivered(lambda: self.total.value, expected)

    def stop(self) -> np.ndarray:
        self.stop_evt.set()
        self.proc.join(60)
        return np.load(self.out)


def make_accounts(base: str) -> list[dict]:
    """Two funded accounts: the load's maker and taker. One account's buy against its own sells
    would be self-trade prevention's (Binance's default mode expires the makers), not a trade."""
    accounts = []
    for _ in range(2):
        acct = post_json(base + "/admin/v1/accounts", {})
        for asset, amount in (("BTC", "100000"), ("USDT", "1000000000")):
            post_json(base + "/admin/v1/deposit", {"accountId": acct["accountId"], "asset": asset, "amount": amount})
        accounts.append(acct)
    return accounts


async def go_load_main(base: str, rate: int, seconds: float, sweep: int, accounts: list[dict], tmp: Path):
    """The same load as load_main, sent by bench/httpload (-mode sweep); (trades offered, its CPU s)."""
    import json
    import re

    (tmp / "accounts.json").write_text(json.dumps(accounts))
    t0 = time.monotonic()
    done, lines = await run_httpload(["-mode", "sweep", "-url", base, "-accounts", str(tmp / "accounts.json"),
                                      "-rate", str(rate), "-seconds", str(seconds), "-sweep", str(sweep),
                                      "-out", str(tmp / "rounds.f32")], echo=lambda line: line.startswith("load:"))
    offered = next((int(m[1]) for m in map(re.compile(r"offered: (\d+) trades").match, lines) if m), None)
    if offered is None:
        raise SystemExit("bench/httpload -mode sweep said nothing of the trades it offered")
    print(f"load: offered {offered} trades in {time.monotonic() - t0:.1f}s "
          f"({offered / (time.monotonic() - t0):.0f}/s)", flush=True)
    return offered, float(done[4])


async def load_main(base: str, rate: int, seconds: float, sweep: int, accounts: list[dict]) -> int:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        keys = [(acct["apiKey"], acct["secretKey"].encode()) for acct in accounts]
        maker, taker = keys
        failures: list[str] = []

        async def order(account=maker, **p):
            key, secret = account
            p["timestamp"] = int(time.time() * 1000)
            q = urlencode(p)
            sig = hmac.new(secret, q.encode(), hashlib.sha256).hexdigest()
            async with session.post(f"{base}/api/v3/order?{q}&signature={sig}", headers={"X-MBX-APIKEY": key}) as r:
                if r.status != 200 and not failures:
                    failures.append(await r.text())
                    print("load: an order failed:", failures[0], flush=True)
                return r.status

        t0 = time.monotonic()
        trades = 0
        while time.monotonic() - t0 < seconds:
            due = t0 + trades / rate
            if time.monotonic() < due:
                await asyncio.sleep(due - time.monotonic())
            await asyncio.gather(*(order(symbol="BTCUSDT", side="SELL", type="LIMIT", timeInForce="GTC", quantity="0.001",
                                         price="50000", newOrderRespType="ACK") for _ in range(sweep)))
            await order(taker, symbol="BTCUSDT", side="BUY", type="MARKET", quantity=f"{sweep / 1000:.3f}",
                        newOrderRespType="ACK")
            trades += sweep
        print(f"load: offered {trades} trades in {time.monotonic() - t0:.1f}s "
              f"({trades / (time.monotonic() - t0):.0f}/s)", flush=True)
        return trades


def executed_trades(base: str) -> int:
    """How many trades the node made: trade ids count from 1 per symbol, so the last one's id. An
    order the node refused (say -1003 under load) made fewer trades than were offered."""
    import json
    import urllib.request

    with urllib.request.urlopen(base + "/api/v3/trades?symbol=BTCUSDT&limit=1", timeout=30) as r:
        last = json.load(r)
    return last[-1]["id"] if last else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--rate", type=int, default=2000, help="trades/s offered")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--sweep", type=int, default=50, help="trades per taker order")
    ap.add_argument("--client", choices=("go", "python"), default="go" if shutil.which("go") else "python",
                    help="the WebSocket clients: bench/wsfan in Go (the default where `go` is on PATH) or Python")
    ap.add_argument("--load", choices=("go", "python"), default="go" if shutil.which("go") else "python",
                    help="the REST load: bench/httpload -mode sweep in Go (the default where `go` is on PATH) or "
                         "aiohttp in this process")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="push-bench-"))
    http, ws = free_port(), free_port()
    default = (ROOT / "configs" / "default.toml").read_text()
    symbols = default[default.index("[[symbols]]"):]
    (tmp / "node.toml").write_text(f'[node]\ndata_dir = "{tmp / "data"}"\nhttp_port = {http}\nws_port = {ws}\n'
                                   f'admin_token = "{TOKEN}"\nmax_in_flight = 100000\nws_send_buffer_bytes = {64 * 1024 * 1024}\n[runtime]\nlog_level = "WARNING"\n' + symbols)
    node = subprocess.Popen([sys.executable, str(ROOT / "run.py"), "--config", str(tmp / "node.toml")], cwd=ROOT,
                            stdout=open(tmp / "node.log", "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{http}"
        wait_up(base + "/api/v3/ping")
        time.sleep(1.0)
        clients = (GoClients if args.client == "go" else PythonClients)(ws, args.clients, str(tmp / "lat.npy"))
        clients.wait_ready(120)
        accounts = make_accounts(base)
        if args.load == "go":
            go_build("httpload")  # (before the clock)
        before = cpu_seconds(tmp / "data")
        before_clients = process_cpu(clients.proc.pid) or 0.0
        began = time.monotonic()
        if args.load == "go":
            trades, load_cpu = asyncio.run(go_load_main(base, args.rate, args.seconds, args.sweep, accounts, tmp))
        else:
            trades = asyncio.run(load_main(base, args.rate, args.seconds, args.sweep, accounts))
        load_s = time.monotonic() - began
        executed = executed_trades(base)
        clients.wait_tail(executed * args.clients)  # until the last trades have reached the clients
        print(f"load: the node made {executed} trades", flush=True)
        # the stages' own CPU per trade: the client process shares the cores and may be the bottleneck
        # (one Python process reading every client's frames), so delivered msg/s can hide Push's cost
        me = "the REST load (this bench)" if args.load == "python" else "this bench"
        used = {(me if who == "clients (this bench)" else who): cpu - before.get(who, 0.0)
                for who, cpu in cpu_seconds(tmp / "data").items()}
        used[f"the {args.client} clients"] = (process_cpu(clients.proc.pid) or 0.0) - before_clients
        if args.load == "go":
            used["the REST load (bench/httpload)"] = load_cpu
        print("CPU per trade offered: " + ", ".join(f"{who} {seconds / max(trades, 1) * 1e6:.0f} us" for who, seconds in
                                                    sorted(used.items(), key=lambda kv: -kv[1])), flush=True)
        lat = clients.stop()
        if not len(lat):
            raise SystemExit(f"no trade reached the clients: see the node's log, {tmp / 'node.log'}")
        if args.client == "go":
            low, high = map(int, clients.done.split("min ")[1].split(" max "))
            print(f"every client got every trade: {'yes' if low == high == executed else 'NO'} "
                  f"(per client {low}-{high} of {executed} made)", flush=True)
        if len(lat) < executed * args.clients:  # say why, where the node knows: a stage restarted, a client cut...
            noted = [line for line in (tmp / "node.log").read_text(errors="replace").splitlines()
                     if " WARNING " in line or " ERROR " in line]
            print(f"delivered {len(lat)} of {executed * args.clients} messages; the node's warnings and errors "
                  f"({len(noted)}):", *noted[-40:], sep="\n", flush=True)
        print(f"\n{args.clients} clients ({args.client}): delivered {len(lat)} messages; over the {load_s:.1f}s of load "
              f"{len(lat) / load_s:,.0f} msg/s;"
              f" latency p50 {np.percentile(lat, 50):.1f} ms, p99 {np.percentile(lat, 99):.1f} ms, max {lat.max():.1f} ms")
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
            fig, ax = plt.subplots(figsize=(7, 4))
            ax.hist(lat, bins=100)
            ax.set_xlabel("trade timestamp -> client receipt (ms)")
            ax.set_ylabel("messages")
            ax.set_title(f"Push fan-out: {args.clients} {args.client} clients, {args.rate} trades/s offered")
            (ROOT / "bench" / "out").mkdir(exist_ok=True)
            fig.savefig(ROOT / "bench" / "out" / "push.png", dpi=100, bbox_inches="tight")
            print("plot: bench/out/push.png")
        except ImportError:
            print("(matplotlib not installed: no plot)")
    finally:
        stop_node(node, 30)


if __name__ == "__main__":
    main()
