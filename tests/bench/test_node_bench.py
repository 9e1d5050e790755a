"""bench/node.py runs end to end with both kinds of client: a bare aiohttp server, then a real node
taking signed orders over REST and over the WebSocket API, and the same orders to order/test (the
front door alone), at full and at half rate. Speed is not
asserted; that every phase answered orders, and whose CPU the bench accounts, is."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STAGES = {"acquiring-0", "match-0", "kline-0", "settlement-0", "persist-0", "push-0"}


@pytest.mark.parametrize("client", ["python", "go"])
def test_the_node_bench_places_orders_over_both_apis(client, tmp_path):
    """(bench/httpload in Go is built by the bench itself: the README's test command's machine has
    the Go toolchain. It exits non-zero on any answer but 200 or a shed order's 503, so a refused
    order fails the run.)"""
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "node.py"), "--seconds", "1", "--apis", "rest,ws,test",
                          "--client", client, "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                         timeout=240)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = run.stdout
    assert f"keep-alive clients ({client})" in out and "\n# a wake-up here: a timed sleep " in out
    assert float(re.search(r"bare aiohttp hello: ([\d,]+) req/s", out)[1].replace(",", "")) > 0
    for label in ("HTTP POST /api/v3/order", "WebSocket API order.place",
                  "HTTP POST /api/v3/order/test (the front door alone: never placed)"):
        full = re.search(rf"node over shm, {re.escape(label)} \(RESULT\): ([\d,]+) orders/s = (\d+)% of bare", out)
        half = re.search(rf"node over shm, {re.escape(label)} at half rate \(([\d,]+) orders/s\): p50 [\d.]+ ms  "
                         r"p99 [\d.]+ ms", out)
        assert full and half, out
        rate, halved = (float(m[1].replace(",", "")) for m in (full, half))
        assert rate > 0 and 0.3 * rate < halved < 0.7 * rate, out  # the open loop keeps its schedule
    for line in re.findall(r"CPU per order: (.*)", out):
        accounted = dict(re.findall(r"([a-z\-0-9 ()/]+?) (\d+) us(?:, |$)", line))
        assert STAGES <= set(accounted), line
        clients = "clients (bench/httpload)" if client == "go" else "clients (this bench)"
        assert int(accounted[clients]) > 0, line
    assert (tmp_path / "node.png").stat().st_size > 0
