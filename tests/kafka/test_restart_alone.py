"""Stages restarting alone over Kafka (issue 15), under REST traffic. kill -9 of Acquiring: the
supervisor rebuilds it from its snapshot, the journal and the command log in Kafka (reconciled
first), it publishes first what Kafka lacks of its output and reads the change log again, while
Match, KLine, Settlement, Persist and Push run on in the same processes. kill -9 of Persist: it
resumes at the input positions its history recorded with its last rows, not where the pipeline
started. kill -9 of Match or Push: it restores the state it kept in Kafka since the pipeline
started and re-reads only from there (the metrics table's `restored_ns`), and a WebSocket client
that subscribes to the restarted Push sees the book REST shows and its own orders and balances.
Every acknowledged order is in the history once, the trades are a replay's, money is conserved."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from decimal import Decimal as D

import aiohttp
import pytest

from tests.conftest import run_node
from tests.kafka.test_node_over_kafka import kafka_extra
from tests.kafka.test_replicated import Traffic, check_history, open_accounts, orders_in_history, settle
from tests.node.client import Client
from tests.node.conftest import free_port, node_toml, wait_http


@pytest.mark.parametrize("label, extra, seed, resumed", [
    # snapshots while orders flow: the restart loads one and replays the journal after it
    ("acquiring-0", "[journal]\nsnapshot_interval_s = 1.0\n", 22, None),
    # where it resumed reading is not in the metrics: the supervisor's word for it
    ("persist-0", "", 26, "persist-0 resumes past what its history holds, at input offsets"),
    # it keeps its state in Kafka every second: each restart loads the latest, not the replay's
    ("match-0", "[journal]\nsnapshot_interval_s = 1.0\n", 23, "kept"),
], ids=["acquiring", "persist", "match"])
def test_a_stage_killed_twice_under_traffic_restarts_alone(tmp_path, kafka_cluster, label, extra, seed, resumed):
    """kill -9 of `label` twice while orders flow, each time after more orders went through (and,
    for a stage that keeps its state, after it kept it since), until it is back (a new pid, HTTP
    answering) and more orders went through again."""
    data = tmp_path / "data"
    http = free_port()
    extra = kafka_extra(kafka_cluster) + "restart_backoff_max_s = 0.5\n" + extra
    base = f"http://127.0.0.1:{http}"
    acked: dict[int, int] = {}
    clients: dict[int, Client] = {}
    with run_node(tmp_path, node_toml(data, http, free_port(), extra=extra)) as node:
        wait_http(base, node, timeout=60)
        asyncio.run(open_accounts(base, clients))
        others = {other: pid for other, pid in node.wait_running().items() if other != label}
        with Traffic(clients, acked, seed=seed) as traffic:
            for kill in range(2):
                now = traffic.count()
                node.wait_for(lambda: traffic.count() > now + 60, timeout=60, what=f"orders before kill {kill}")
                kept = wait_kept(node, label) if resumed == "kept" else 0
                victim = node.stage_pids()[label]
                os.kill(victim, signal.SIGKILL)
                node.wait_for(lambda: node.stage_pids().get(label) not in (0, victim, None), timeout=60,
                              what=f"{label} back")
                if resumed == "kept":  # the state it starts from was kept after the one seen before the kill
                    node.wait_for(lambda: node.stage_rows()[label]["restored_ns"] > kept, timeout=30,
                                  what=f"{label} restored from its kept state")
                wait_http(base, node, timeout=60)
                now = traffic.count()
                node.wait_for(lambda: traffic.count() > now + 60, timeout=90, what=f"orders after restart {kill}")
        assert node.stage_rows()[label]["restarts"] == 2
        assert {other: pid for other, pid in node.stage_pids().items() if other != label} == others
        if resumed and resumed != "kept":
            assert node.log().count(resumed) == 2
        totals = asyncio.run(settle(base, clients, acked))
        history = orders_in_history(data)
        assert all(history.get(order_id) == 1 for order_id in acked), "an acknowledged order missing or twice"
    check_history(data, totals, len(clients))


def wait_kept(node, label: str) -> int:
    """Wait until `label` has kept its state in Kafka again (a save that began after this call);
    when the one before it was written (ns)."""
    before = node.stage_rows()[label]["kept_ns"]
    node.wait_for(lambda: node.stage_rows()[label]["kept_ns"] > before, timeout=30, what=f"{label} keeping its state")
    return before


def test_push_killed_under_traffic_resumes_from_its_kept_state(tmp_path, kafka_cluster):
    """kill -9 of Push while orders flow: it comes back alone (every other pid unchanged), from the
    state it kept in Kafka after the orders before the kill (not the pipeline's start), and a
    client that subscribes to it afterwards gets the book REST shows (depth5, same lastUpdateId)
    and its user data stream: its new order's executionReports and balances equal to REST's."""
    data = tmp_path / "data"
    http, ws = free_port(), free_port()
    extra = kafka_extra(kafka_cluster) + "restart_backoff_max_s = 0.5\n[journal]\nsnapshot_interval_s = 1.0\n"
    base = f"http://127.0.0.1:{http}"
    acked: dict[int, int] = {}
    clients: dict[int, Client] = {}
    with run_node(tmp_path, node_toml(data, http, ws, extra=extra)) as node:
        wait_http(base, node, timeout=60)
        started = time.time_ns()
        asyncio.run(open_accounts(base, clients))
        others = {other: pid for other, pid in node.wait_running().items() if other != "push-0"}
        with Traffic(clients, acked, seed=27) as traffic:
            node.wait_for(lambda: traffic.count() > 80, timeout=60, what="orders before the kill")
            kept = wait_kept(node, "push-0")
            victim = node.stage_pids()["push-0"]
            os.kill(victim, signal.SIGKILL)
            node.wait_for(lambda: node.stage_pids().get("push-0") not in (0, victim, None), timeout=60,
                          what="push back")
            now = traffic.count()
            node.wait_for(lambda: traffic.count() > now + 60, timeout=90, what="orders after the restart")
        row = node.stage_rows()["push-0"]
        assert row["restarts"] == 1
        assert row["restored_ns"] > kept > started  # from state kept since the orders before the kill
        assert {other: pid for other, pid in node.stage_pids().items() if other != "push-0"} == others
        asyncio.run(_subscribe_after_restart(base, f"ws://127.0.0.1:{ws}", clients))
        totals = asyncio.run(settle(base, clients, acked))
        history = orders_in_history(data)
        assert all(history.get(order_id) == 1 for order_id in acked), "an acknowledged order missing or twice"
    check_history(data, totals, len(clients))


async def _subscribe_after_restart(base: str, ws_base: str, clients: dict[int, Client]) -> None:
    """With the traffic stopped, the book as it left it: a new client's depth5 stream agrees with
    REST depth, and a client's user data stream reports its new order and its balances as REST does."""
    async with aiohttp.ClientSession() as session:
        client = next(iter(clients.values()))
        client.session = session
        async with session.post(base + "/api/v3/userDataStream", headers={"X-MBX-APIKEY": client.api_key}) as r:
            key = (await r.json())["listenKey"]
        user = await session.ws_connect(f"{ws_base}/ws/{key}")
        depth = await session.ws_connect(f"{ws_base}/ws/btcusdt@depth5@100ms")
        # a bid far below the book: it rests, moves the depth (a new update id) and freezes USDT
        status, doc = await client.order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                                         quantity="0.001", price="40000", newOrderRespType="RESULT")
        assert status == 200 and doc["status"] == "NEW", doc
        order_id = doc["orderId"]
        deadline = time.monotonic() + 10
        latest = None
        while True:  # the stream's latest event agrees with REST's book, once both have the order
            try:
                latest = json.loads((await asyncio.wait_for(depth.receive(), 0.3)).data)
            except asyncio.TimeoutError:
                pass
            status, book = await client.public("/api/v3/depth", symbol="BTCUSDT", limit=5)
            assert status == 200, book
            if latest == book:
                break
            assert time.monotonic() < deadline, (latest, book)
        assert book["bids"] and book["asks"], book  # the traffic's orders rest on both sides
        positions, reports = {}, []

        def take(event: dict) -> None:
            if event["e"] == "executionReport" and event["i"] == order_id:
                reports.append(event["x"])
            elif event["e"] == "outboundAccountPosition":
                positions.update({b["a"]: (D(b["f"]), D(b["l"])) for b in event["B"]})
        deadline = time.monotonic() + 10
        while not (reports and "USDT" in positions):
            take(json.loads((await asyncio.wait_for(user.receive(), deadline - time.monotonic())).data))
        try:  # and whatever follows within a second
            while True:
                take(json.loads((await asyncio.wait_for(user.receive(), 1.0)).data))
        except asyncio.TimeoutError:
            pass
        assert reports == ["NEW"], reports
        rest = {asset: (D(free), D(locked)) for asset, (free, locked) in (await client.balances()).items()}
        assert positions["USDT"] == rest["USDT"] and positions["USDT"][1] >= D("40"), (positions, rest)
        await user.close()
        await depth.close()
