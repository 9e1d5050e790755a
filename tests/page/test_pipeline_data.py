"""The pipeline view's data (GET /page/v1/pipeline, spot_seda/api/page.py) without a browser: the
stage graph follows topology.py, points are derived right from the metrics table's counters."""

from __future__ import annotations

import time

from spot_seda.api.page import POINT_FIELDS, Sample, derive, stage_graph
from tests.conftest import settings_from

F = {name: i for i, name in enumerate(POINT_FIELDS)}


def _row(**values) -> dict:
    base = {"stage": "match-0", "pid": 10, "core": 0, "started_ns": 0, "heartbeat_ns": 0, "restarts": 0,
            "events_in": 0, "events_out": 0, "batches_in": 0, "batches_out": 0, "queue_depth": 0, "busy_ns": 0,
            "errors": 0, "duplicates": 0, "snapshot_position": 0}
    return base | values


def test_graph_is_the_topology_with_sources_honoured():
    graph = stage_graph(settings_from(""))
    assert [s["name"] for s in graph["stages"]] == ["acquiring", "match", "kline", "settlement", "persist", "push"]
    edges = {(e["from"], e["to"], e["topic"]) for e in graph["edges"]}
    assert ("acquiring", "match", "OrderChangeLog") in edges
    assert ("match", "acquiring", "OrderChangeLog") in edges  # feedback: Acquiring learns the results
    assert ("settlement", "acquiring", "BalanceChangeLog") in edges
    assert ("match", "match", "OrderChangeLog") not in edges  # Match reads Acquiring's orders only
    assert ("acquiring", "acquiring", "OrderChangeLog") not in edges
    assert {e["to"] for e in graph["edges"] if e["topic"] == "KLineChangeLog"} == {"persist", "push"}
    serves = {s["name"]: s["serves"] for s in graph["stages"]}
    assert serves["acquiring"] == "HTTP" and serves["push"] == "WebSocket" and serves["match"] is None


def test_points_are_rates_between_samples():
    t0 = time.time_ns()
    a = Sample(t0, [_row(heartbeat_ns=t0, events_in=100, events_out=50, batches_in=10, busy_ns=0)], [100])
    b = Sample(t0 + 2 * 10**9, [_row(heartbeat_ns=t0 + 2 * 10**9, events_in=300, events_out=250, batches_in=20,
                                     busy_ns=5 * 10**8, queue_depth=3)], [150])
    (p,) = derive(a, b, stall_ns=5 * 10**9)
    assert p[F["in_per_s"]] == 100.0 and p[F["out_per_s"]] == 100.0
    assert p[F["batch"]] == 20.0  # 200 entries in 10 messages
    assert p[F["busy_pct"]] == 25.0  # 0.5 s busy in 2 s
    assert p[F["depth"]] == 3 and p[F["up"]] == 1
    assert p[F["cpu_pct"]] is not None and p[F["cpu_pct"]] > 0


def test_a_restarted_or_stalled_stage_gives_no_bogus_figures():
    t0 = time.time_ns()
    a = Sample(t0, [_row(heartbeat_ns=t0, events_in=500, pid=10)], [1000])
    b = Sample(t0 + 10**9, [_row(heartbeat_ns=t0 - 10 * 10**9, events_in=20, pid=11, restarts=1)], [3])
    (p,) = derive(a, b, stall_ns=5 * 10**9)
    assert p[F["in_per_s"]] is None  # a counter that went backwards: no negative rate
    assert p[F["cpu_pct"]] is None   # another process: its CPU time is not comparable
    assert p[F["batch"]] is None
    assert p[F["restarts"]] == 1 and p[F["up"]] == 0  # its heartbeat is 10 s old


def test_the_node_serves_the_page_and_the_pipeline_document(page_node):
    rest = page_node.rest
    status, doc = rest.public("/page/v1/pipeline")
    assert status == 200, doc
    assert doc["rows"] == ["acquiring-0", "match-0", "kline-0", "settlement-0", "persist-0", "push-0"]
    assert doc["fields"] == list(POINT_FIELDS) and doc["transport"] == "shm"
    buyer = rest.funded(USDT="100000")
    seller = rest.funded(BTC="10")
    deadline = time.monotonic() + 15
    seen = set()
    while time.monotonic() < deadline and len(seen) < 4:
        for who, side in ((seller, "SELL"), (buyer, "BUY")):
            status, answer = who.order(symbol="BTCUSDT", side=side, type="LIMIT", timeInForce="GTC",
                                       quantity="0.001", price="30000")
            assert status == 200, answer
        time.sleep(0.3)
        status, doc = rest.public("/page/v1/pipeline", since=str(doc["now"] - 5000))
        for point in doc["points"]:
            for name, values in zip(doc["rows"], point["v"]):
                if values[F["in_per_s"]]:
                    seen.add(name)
    # every stage downstream of Acquiring took entries in (Acquiring's own input is Match's feedback)
    assert {"match-0", "kline-0", "settlement-0", "persist-0"} <= seen, (seen, doc)
    assert all(r["pid"] > 0 for r in doc["latest"])
