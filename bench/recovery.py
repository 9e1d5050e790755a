"""Recovery benchmark: how long a node takes to come back, replaying its whole journal or starting
from a snapshot, and the replay rate.

1. Writes a journal of N commands in the form Acquiring journals them (ids, budgets, timestamps
   assigned): deposits large enough that no freeze fails, then a seeded random session over two
   symbols — GTC and IOC limits around a mid price, markets by quantity (sell) and by quote amount
   (buy), cancels of recent orders. Writing it directly keeps the set-up out of the measurement.
2. Starts the node on it with no snapshot (periodic snapshots are off in this bench): the
   supervisor replays the whole journal through every stage before it forks them, while Persist
   writes the history beside it and Push takes the replay's output beside it too (it opens its
   WebSocket port once it has all of it). Time until HTTP answers and until the WebSocket port
   does, the replay rate from the node's log, and the rate counting until Push had caught up.
3. Once Persist has written everything, kills the node (SIGKILL, every process) and starts it
   again: the whole journal is replayed once more, but the history already holds its output, so
   Persist is sent nothing (what a crash between two snapshots costs, with no snapshot at all).
4. Stops it cleanly (every stage snapshots at the journal's last position) and starts it again:
   time until HTTP answers, and the size of the snapshot.

    python bench/recovery.py [--commands 1000000] [--resting] [--keep]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from spot_seda.kafka_broker.node import free_port  # noqa: E402 (a port below the ephemeral range)

from nodeconfig import default_config  # noqa: E402

from spot_seda.journal import Journal  # noqa: E402
from spot_seda.model.commands import ENCODER  # noqa: E402
from spot_seda.model.commands import Cancel, NewOrder, Transfer  # noqa: E402


def start_and_time(data: Path) -> tuple[float, float, str, subprocess.Popen]:
    """Start the node on `data`: (seconds until HTTP answers, until the WebSocket port accepts, its
    log, the process). Push opens its port once it has applied the start's replay (recovery.py)."""
    import socket

    port, ws = free_port(), free_port()
    log = data.parent / f"node-{time.monotonic_ns()}.log"
    config = data.parent / "node.toml"
    default = default_config()  # (rate limits off: bench/nodeconfig.py)
    assert "\n[journal]" in default
    config.write_text(re.sub(r"^snapshot_interval_s.*$", "", default, flags=re.M).replace(
        "\n[journal]", "\n[journal]\nsnapshot_interval_s = 0", 1))  # only at a clean stop
    began = time.perf_counter()
    node = subprocess.Popen([sys.executable, str(ROOT / "run.py"), "--config", str(config), "--data-dir", str(data),
                             "--http-port", str(port), "--ws-port", str(ws)], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=open(log, "wb"), start_new_session=True)
    shown = ""
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v3/ping", timeout=1).read()
            break
        except OSError:
            if node.poll() is not None:
                raise SystemExit(log.read_text())
            progress = re.findall(r"replaying: .*", log.read_text())
            if progress and progress[-1] != shown:
                shown = progress[-1]
                print(f"#   {shown}", flush=True)
            time.sleep(0.02)
    http = time.perf_counter() - began
    while True:
        try:
            socket.create_connection(("127.0.0.1", ws), timeout=1).close()
            break
        except OSError:
            if node.poll() is not None:
                raise SystemExit(log.read_text())
            time.sleep(0.02)
    return http, time.perf_counter() - began, log.read_text(), node


def replay_rates(log: str) -> str:
    """The replay's rate, and the rate with Push's catching up counted in: the supervisor replays
    the journal while Push, beside it, takes its output (runtime/recovery.py); the recovery is over
    when both are. From the node's log lines and their times."""
    from datetime import datetime

    done = re.search(r"^(\S+ \S+) .*replayed (\d+) journaled commands in ([\d.]+)s", log, re.M)
    if done is None:
        return log[-500:]
    def at(stamp: str) -> float:
        return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()
    n, seconds = int(done.group(2)), float(done.group(3))
    began = at(done.group(1)) - seconds
    text = f"{n:,} commands replayed in {seconds:.2f}s = {n / seconds:,.0f} commands/s"
    applied = re.findall(r"^(\S+ \S+) .*has applied the recovery's replay", log, re.M)
    if applied:
        whole = max(at(a) for a in applied) - began
        text += f"; Push had applied all of it {whole:.2f}s after the replay began = {n / whole:,.0f} commands/s"
    return text


def journal_session(n: int, seed: int, resting: bool = False):
    """N journaled commands of a seeded session (see the module docstring); `resting`: only GTC
    limits that never cross (bids below the mid, asks above), so the books hold every order."""
    rng = random.Random(seed)
    ts, oid, ref = 1_767_225_600_000, 0, 0
    accounts = range(1, 11)
    for account in accounts:
        for asset in ("BTC", "ETH", "USDT"):
            ref += 1
            yield Transfer(account, asset, 10**9 * 10**8, ts, f"transfer-{ref}")
    recent: list[tuple[int, int, str]] = []
    for _ in range(n - 3 * len(accounts)):
        ts += rng.randint(0, 20)
        symbol, mid, step = rng.choice([("BTCUSDT", 5_000_000, 1000), ("ETHUSDT", 200_000, 10_000)])
        account, side, r = rng.choice(accounts), rng.choice(["BUY", "SELL"]), rng.random()
        if resting:
            oid += 1
            qty = rng.randint(1, 100) * step * 10
            price = mid - rng.randint(1, 500) * 100 if side == "BUY" else mid + rng.randint(1, 500) * 100
            yield NewOrder(account, symbol, side, "LIMIT", "GTC", price, qty, 0, f"auto-{oid}", "NONE", ts, oid)
            continue
        if r < 0.15 and recent:
            victim = recent.pop(rng.randrange(len(recent)))
            yield Cancel(victim[1], victim[2], victim[0], ts)
            continue
        oid += 1
        qty = rng.randint(1, 100) * step * 10
        if r < 0.55:
            price = mid + rng.randint(-60, 60) * 100
            yield NewOrder(account, symbol, side, "LIMIT", "GTC", price, qty, 0, f"auto-{oid}", "NONE", ts, oid)
            recent.append((oid, account, symbol))
            if len(recent) > 2000:
                recent.pop(0)
        elif r < 0.75:
            price = mid + rng.randint(-20, 20) * 100
            yield NewOrder(account, symbol, side, "LIMIT", "IOC", price, qty, 0, f"auto-{oid}", "NONE", ts, oid)
        elif side == "SELL":
            yield NewOrder(account, symbol, side, "MARKET", "GTC", 0, qty, 0, f"auto-{oid}", "NONE", ts, oid)
        else:
            yield NewOrder(account, symbol, side, "MARKET", "GTC", 0, 0, qty * mid // 100, f"auto-{oid}", "NONE",
                           ts, oid)


def wait_for_persist(data: Path) -> None:
    """Until Persist has taken in everything the replay sent it and written it: its queue empty, its
    count still for two seconds, and no write transaction open on the history (a big last batch can take
    longer than that second to write, and the kill -9 that follows would lose it)."""
    import sqlite3

    from spot_seda.runtime.metrics import open_from_manifest

    def writing() -> bool:
        db = sqlite3.connect(data / "history.sqlite", timeout=0, isolation_level=None)
        try:
            db.execute("BEGIN IMMEDIATE")  # fails at once while Persist holds the write lock
            db.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError:
            return True
        finally:
            db.close()

    table = open_from_manifest(data)
    last, still = -1, 0
    # still for 2 s: longer than history.commit_interval_ms (1 s), for which Persist may hold rows it
    # has taken in, with no transaction open yet (a shorter wait let a kill -9 lose some of them)
    while still < 10:
        row = next(r for r in table.snapshot() if r["stage"].startswith("persist"))
        count = row["events_in"]
        still = still + 1 if count == last and row["queue_depth"] == 0 and not writing() else 0
        last = count
        time.sleep(0.2)
    print(f"#   Persist took in {last:,} entries", flush=True)


def log_text(data: Path) -> str:
    """Every node log of this run (start_and_time writes them beside the data dir)."""
    return "".join(p.read_text() for p in sorted(data.parent.glob("node-*.log")))


def plot_progress(log: str, path: Path, total: int) -> None:
    """Commands replayed over time, from the node's progress lines (the recovery's throughput)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from datetime import datetime

    def at(line: str) -> float:
        return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()

    lines = log.splitlines()
    done = next((x for x in lines if "replayed" in x and "journaled commands" in x), None)
    if done is None:
        return
    began = at(done) - float(re.search(r"in ([\d.]+)s", done).group(1))  # the replay's own clock
    points = [(0.0, 0)] + [(at(x) - began, int(m.group(1).replace(",", ""))) for x in lines
                           if (m := re.search(r"replaying: ([\d,]+) commands", x))]
    points.append((at(done) - began, int(re.search(r"replayed (\d+)", done).group(1))))
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.plot([t for t, _ in points], [n for _, n in points], marker=".")
    ax.set_xlabel("seconds since the replay began")
    ax.set_ylabel("journaled commands replayed")
    ax.set_title(f"recovery with no snapshot: {total:,} commands replayed (Push and Persist fed beside)", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commands", type=int, default=1_000_000)
    parser.add_argument("--resting", action="store_true", help="a session whose orders all rest (deep books)")
    parser.add_argument("--keep", action="store_true", help="leave the node's data dir (for bench/history.py)")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="spot_seda_recovery_"))
    data = scratch / "data"
    print(f"# writing a journal of {args.commands:,} commands ...", flush=True)
    journal = Journal(data / "journal", fsync="off")
    for i, cmd in enumerate(journal_session(args.commands, 1, args.resting), 1):
        journal.append(ENCODER.encode(cmd))
        if i % 200_000 == 0:
            print(f"#   {i:,}", flush=True)
    journal.close()

    elapsed, ws, log, node = start_and_time(data)
    plot_progress(log, ROOT / "bench" / "out" / ("recovery-resting.png" if args.resting else "recovery.png"), args.commands)
    print(f"restart, no snapshot: HTTP answers after {elapsed:.2f}s, WebSocket after {ws:.2f}s", flush=True)
    print(f"  {replay_rates(log)}", flush=True)
    wait_for_persist(data)
    os.killpg(node.pid, signal.SIGKILL)
    node.wait(60)
    elapsed, ws, log, node = start_and_time(data)
    print(f"restart after kill -9, no snapshot, history written: HTTP answers after {elapsed:.2f}s, WebSocket "
          f"after {ws:.2f}s", flush=True)
    print(f"  {replay_rates(log)}", flush=True)
    skipped = re.search(r"history already holds .*", log)
    print(f"  {skipped.group(0) if skipped else 'Persist was sent everything again'}", flush=True)
    stopped = time.perf_counter()
    os.killpg(node.pid, signal.SIGTERM)
    node.wait(600)
    print(f"clean stop (with the final snapshot): {time.perf_counter() - stopped:.2f}s", flush=True)
    pause = re.search(r"order entry paused ([\d.]+) ms", log_text(data))
    if pause:
        print(f"  order entry paused {pause.group(1)} ms for the final snapshot", flush=True)
    sizes = sorted((p.stat().st_size, p.name) for p in (data / "snapshots").glob("*.pkl"))
    print("  snapshot files: " + ", ".join(f"{name} {size / 1e6:.1f} MB" for size, name in sizes), flush=True)
    elapsed, ws, log, node = start_and_time(data)
    print(f"restart from the snapshot taken at the clean stop: HTTP answers after {elapsed:.2f}s, WebSocket after {ws:.2f}s "
          f"({'snapshot loaded' if 'loaded the snapshot' in log else 'NO SNAPSHOT'})", flush=True)
    os.killpg(node.pid, signal.SIGTERM)
    node.wait(600)
    if args.keep:
        print(f"# the node's data dir is kept: {data}", flush=True)
    else:
        shutil.rmtree(scratch, ignore_errors=True)  # a 1M journal leaves ~1 GB
    return 0


if __name__ == "__main__":
    sys.exit(main())
