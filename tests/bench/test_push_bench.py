"""bench/push.py runs end to end: a real node, a load process and WebSocket clients, and the trades
reach the clients (it once measured nothing: the load's buy met its own sells, which self-trade
prevention expires rather than fills). Speed is not asserted."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("client", ["python", "go"])
def test_the_push_bench_delivers_every_trade_to_every_client(client):
    """Both kinds of client and of REST load, Python's together and Go's together (bench/wsfan and
    bench/httpload are built by the bench itself on first use: the README's test command's machine
    has the Go toolchain)."""
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "push.py"), "--clients", "5", "--rate", "100",
                          "--seconds", "1", "--sweep", "10", "--client", client, "--load", client], cwd=ROOT,
                         capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    offered = int(re.search(r"load: offered (\d+) trades", run.stdout).group(1))
    delivered = int(re.search(rf"5 clients \({client}\): delivered (\d+) messages", run.stdout).group(1))
    assert offered >= 100 and delivered == 5 * offered, run.stdout[-4000:]
    cpu_line = run.stdout.partition("CPU per trade offered: ")[2].splitlines()[0]
    cpu = dict(re.findall(r"([a-z]+-0) (\d+) us", cpu_line))
    assert set(cpu) == {"acquiring-0", "match-0", "kline-0", "settlement-0", "persist-0", "push-0"}, run.stdout
    assert f"the {client} clients " in cpu_line, cpu_line
    assert ("the REST load (bench/httpload) " if client == "go" else "the REST load (this bench) ") in cpu_line, cpu_line
    # receipt time minus the trade's time: never before the trade, and not the clock of another epoch
    p50, p99 = map(float, re.search(r"latency p50 ([-\d.]+) ms, p99 ([-\d.]+) ms", run.stdout).groups())
    assert 0 <= p50 <= p99 < 10_000, run.stdout
    if client == "go":  # wsfan counts each client's trades: all five got every one
        assert f"every client got every trade: yes (per client {offered}-{offered} of {offered} made)" in run.stdout
