"""The node with bus.transport = "kafka": every stage its own process, talking through a real
three-broker cluster with replication 3; the HTTP trading scenarios of tests/node pass unchanged,
Kafka's own kafka-consumer-groups and `run.py status` show every stage's lag, a killed Match comes
back alone (its book rebuilt from what it re-reads in Kafka) while the other stages go on, and so
does a killed Acquiring, with every acknowledged order."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from decimal import Decimal

import aiohttp
import pytest

from spot_seda.kafka_broker import consumer_groups
from tests.conftest import ROOT, run_node
from tests.node.client import funded_client
from tests.node.conftest import ADMIN_TOKEN, free_port, node_toml, wait_http
from tests.node.test_trading import (  # noqa: F401  (run here again, over Kafka)
    test_every_order_type,
    test_limit_orders_trade_at_the_makers_price_and_settle_exactly,
)


def kafka_extra(broker, replication: int = 3) -> str:
    """Lines that go into node_toml's [bus] section, then the [kafka] and [runtime] sections."""
    return (f'transport = "kafka"\n[kafka]\nbootstrap_servers = "{broker.bootstrap}"\n'
            f'replication_factor = {replication}\n'
            f'topic_prefix = "n{uuid.uuid4().hex[:8]}."\n[runtime]\nrestart_backoff_s = 0.05\n')


@pytest.fixture(scope="module")
def node(tmp_path_factory, kafka_broker):
    tmp = tmp_path_factory.mktemp("kafka-node")
    http, ws = free_port(), free_port()
    with run_node(tmp, node_toml(tmp / "data", http, ws, extra=kafka_extra(kafka_broker))) as proc:
        base = f"http://127.0.0.1:{http}"
        wait_http(base, proc, timeout=60)
        proc.base = base
        yield proc


def test_kafka_tools_and_run_py_status_show_every_stage_groups_lag(node, kafka_broker):
    async def trade():
        async with aiohttp.ClientSession() as session:
            client = await funded_client(session, node.base, ADMIN_TOKEN, USDT="10000", BTC="1")
            for side in ("BUY", "SELL"):
                status, doc = await client.order(symbol="BTCUSDT", side=side, type="LIMIT", timeInForce="GTC",
                                                 quantity="0.1", price="100", newOrderRespType="RESULT",
                                                 selfTradePreventionMode="NONE")  # (trades with itself)
                assert status == 200, doc
    asyncio.run(trade())
    config = node.data_dir.parent / "node.toml"
    prefix = next(line.split('"')[1] for line in config.read_text().splitlines() if line.startswith("topic_prefix"))
    groups = [prefix + g for g in ("match", "settlement", "kline", "acquiring", "persist", "push-0")]

    def described() -> str | None:  # offsets are committed every second
        res = consumer_groups(["--bootstrap-server", kafka_broker.bootstrap, "--describe", "--all-groups"],
                              capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stderr
        lines = [line.split() for line in res.stdout.splitlines()]
        mine = {row[0] for row in lines if row and row[0] in groups and row[1].startswith(prefix)}
        return res.stdout if mine == set(groups) else None
    out = node.wait_for(described, timeout=30, what="every stage group in kafka-consumer-groups")
    assert "LAG" in out and prefix + "OrderChangeLog" in out and prefix + "TradeChangeLog" in out

    def status() -> str | None:
        res = subprocess.run([sys.executable, str(ROOT / "run.py"), "--config", str(config), "status", "--once"],
                             capture_output=True, text=True, timeout=60, cwd=ROOT)
        assert res.returncode == 0, res.stderr
        rows = {line.split()[0]: line.split()[1:] for line in res.stdout.splitlines() if line.strip()}
        return res.stdout if all(g in rows and rows[g][-1] == "0" for g in ("match", "settlement", "persist")) else None
    out = node.wait_for(status, timeout=30, what="run.py status with no lag left")
    assert "kafka group" in out and "match-0" in out  # the Kafka groups beside the local stage table


async def _place(client, prices) -> list[int]:
    ids = []
    for price in prices:
        status, doc = await client.order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                                         quantity="0.1", price=str(price), newOrderRespType="RESULT")
        assert status == 200, doc
        ids.append(doc["orderId"])
    return ids


async def _check(client, ids, price_sum: int) -> None:
    for order_id in ids:
        status, doc = await client.signed("GET", "/api/v3/order", symbol="BTCUSDT", orderId=order_id)
        assert status == 200 and doc["status"] == "NEW", doc
    free, locked = (await client.balances())["USDT"]
    assert (Decimal(free), Decimal(locked)) == (100000 - Decimal(price_sum) / 10, Decimal(price_sum) / 10)


def _kill_and_wait(node, label: str) -> None:
    victim = node.stage_pids()[label]
    os.kill(victim, signal.SIGKILL)
    node.wait_for(lambda: node.stage_pids().get(label) not in (0, victim, None), what=f"{label} restarted")
    wait_http(node.base, node, timeout=60)


def test_a_killed_match_restarts_alone_and_rebuilds_its_book_from_kafka(node):
    async def before():
        async with aiohttp.ClientSession() as session:
            buyer = await funded_client(session, node.base, ADMIN_TOKEN, USDT="100000")
            seller = await funded_client(session, node.base, ADMIN_TOKEN, BTC="1")
            return buyer, seller, await _place(buyer, range(100, 110))

    async def after(buyer, seller, ids):
        async with aiohttp.ClientSession() as session:
            buyer.session = seller.session = session
            ids += await _place(buyer, range(110, 115))  # the restarted Match trades again
            await _check(buyer, ids, sum(range(100, 115)))
            # its book is whole: a sell takes the best bid, placed before the kill or after
            status, doc = await seller.order(symbol="BTCUSDT", side="SELL", type="LIMIT", timeInForce="IOC",
                                             quantity="0.2", price="108", newOrderRespType="FULL")
            assert status == 200 and doc["status"] == "FILLED", doc
            assert [Decimal(f["price"]) for f in doc["fills"]] == [114, 113], doc

    buyer, seller, ids = asyncio.run(before())
    others = {label: pid for label, pid in node.stage_pids().items() if label != "match-0"}
    restarts = node.stage_rows()["match-0"]["restarts"]
    _kill_and_wait(node, "match-0")
    asyncio.run(after(buyer, seller, ids))
    assert {label: pid for label, pid in node.stage_pids().items() if label != "match-0"} == others  # went on
    assert node.stage_rows()["match-0"]["restarts"] == restarts + 1


def test_a_killed_acquiring_restarts_alone_and_keeps_every_acknowledged_order(node):
    async def before():
        async with aiohttp.ClientSession() as session:
            client = await funded_client(session, node.base, ADMIN_TOKEN, USDT="100000")
            return client, await _place(client, range(100, 110))

    async def after(client, ids):
        async with aiohttp.ClientSession() as session:  # the old connections died with the old Acquiring
            client.session = session
            ids += await _place(client, range(110, 115))  # the restarted pipeline trades over Kafka again
            await _check(client, ids, sum(range(100, 115)))

    client, ids = asyncio.run(before())
    others = {label: pid for label, pid in node.stage_pids().items() if label != "acquiring-0"}
    _kill_and_wait(node, "acquiring-0")
    asyncio.run(after(client, ids))
    # rebuilt from its journal and the command log while the other stages ran on
    assert {label: pid for label, pid in node.stage_pids().items() if label != "acquiring-0"} == others
