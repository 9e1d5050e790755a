"""The node with bus.transport = "kafka": every stage its own process, talking through a real
broker; the HTTP trading scenarios of tests/node pass unchanged, and a killed stage brings the
pipeline back with every acknowledged order."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from decimal import Decimal

import aiohttp
import pytest

from tests.conftest import run_node
from tests.node.client import funded_client
from tests.node.conftest import ADMIN_TOKEN, free_port, node_toml, wait_http
from tests.node.test_trading import (  # noqa: F401  (run here again, over Kafka)
    test_every_order_type,
    test_limit_orders_trade_at_the_makers_price_and_settle_exactly,
)


def kafka_extra(broker) -> str:
    """Lines that go into node_toml's [bus] section, then the [kafka] and [runtime] sections."""
    return (f'transport = "kafka"\n[kafka]\nbootstrap_servers = "{broker.bootstrap}"\n'
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


def test_a_killed_stage_restarts_the_pipeline_and_keeps_every_acknowledged_order(node):
    async def place(client, prices) -> list[int]:
        ids = []
        for price in prices:
            status, doc = await client.order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                                             quantity="0.1", price=str(price), newOrderRespType="RESULT")
            assert status == 200, doc
            ids.append(doc["orderId"])
        return ids

    async def before():
        async with aiohttp.ClientSession() as session:
            client = await funded_client(session, node.base, ADMIN_TOKEN, USDT="100000")
            return client, await place(client, range(100, 110))

    async def after(client, ids):
        async with aiohttp.ClientSession() as session:  # the old connections died with the old Acquiring
            client.session = session
            ids += await place(client, range(110, 115))  # the restarted pipeline trades over Kafka again
            for order_id in ids:
                status, doc = await client.signed("GET", "/api/v3/order", symbol="BTCUSDT", orderId=order_id)
                assert status == 200 and doc["status"] == "NEW", doc
            free, locked = (await client.balances())["USDT"]
            assert (Decimal(free), Decimal(locked)) == (Decimal("99839.5"), Decimal("160.5"))  # 0.1 x (100 + ... + 114)

    client, ids = asyncio.run(before())
    victim = node.stage_pids()["match-0"]
    os.kill(victim, signal.SIGKILL)
    node.wait_for(lambda: node.stage_pids().get("match-0") not in (0, victim, None), what="match restarted")
    wait_http(node.base, node, timeout=60)
    asyncio.run(after(client, ids))
    assert "restarting the whole pipeline" in node.log()
