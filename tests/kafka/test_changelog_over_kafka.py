"""The change log in Kafka is the in-process replay's, byte for byte, with several partitions per
topic (DESIGN.md invariant 6): orders from several accounts on two symbols go in over REST to a
node whose stages talk through the three-broker cluster (4 partitions, replication 3); every
partition of every topic is read back from Kafka, and each (topic, partition, producer) stream is
compared, entry by entry in the Kafka codec, with a replay of the node's journal; with Kafka
transactions (kafka.transactions) as without."""

from __future__ import annotations

import asyncio
import random
import tempfile
from decimal import Decimal as D
from pathlib import Path

import aiohttp
import pytest

from spot_seda.bus.kafkaclients import kafka_lib, read_range
from spot_seda.config import load_settings
from spot_seda.model.changelog import Codec
from spot_seda.model.enums import EntityType
from spot_seda.runtime.inproc import InprocPipeline
from spot_seda.runtime.recovery import read_journal
from spot_seda.runtime.replay import apply_commands, record
from spot_seda.topology import sinks
from tests.conftest import run_node
from tests.kafka.test_node_over_kafka import kafka_extra
from tests.node.client import Client, admin
from tests.node.conftest import ADMIN_TOKEN, free_port, node_toml, wait_http

PARTITIONS = 4
SYMBOLS = (("BTCUSDT", 50_000, 1000), ("ETHUSDT", 2_000, 100))  # symbol, mid price, quantity scale (1/x)


async def open_accounts(session, base: str, count: int) -> list[Client]:
    clients = []
    for _ in range(count):
        status, acct = await admin(session, base, ADMIN_TOKEN, "/admin/v1/accounts")
        assert status == 200, acct
        for asset, amount in (("BTC", "100"), ("ETH", "1000"), ("USDT", "10000000")):
            status, doc = await admin(session, base, ADMIN_TOKEN, "/admin/v1/deposit",
                                      {"accountId": acct["accountId"], "asset": asset, "amount": amount})
            assert status == 200, doc
        clients.append(Client(session, base, acct["apiKey"], acct["secretKey"]))
    return clients


async def trade(client: Client, rng: random.Random, orders: int) -> int:
    """Limit orders around each symbol's mid (GTC and IOC, so they trade, rest and expire) and
    cancels of the open ones; returns how many orders were acknowledged."""
    acked = 0
    for _ in range(orders):
        symbol, mid, scale = rng.choice(SYMBOLS)
        params = dict(symbol=symbol, side=rng.choice(["BUY", "SELL"]), type="LIMIT",
                      timeInForce=rng.choice(["GTC", "IOC"]), quantity=str(D(rng.randint(1, 20)) / scale),
                      price=str(mid + rng.randint(-10, 10)), newOrderRespType=rng.choice(["ACK", "RESULT"]))
        while (answer := await client.order(**params))[1].get("code") == -1003:
            await asyncio.sleep(0.05)  # shed at the door (a loaded box): nothing happened, send it again
        status, doc = answer
        assert status == 200, doc
        acked += 1
        if rng.random() < 0.15:
            status, doc = await client.signed("DELETE", "/api/v3/openOrders", symbol=symbol)
            assert status == 200 or doc.get("code") in (-2011, -1003), doc  # (-2011: nothing open)
    return acked


def kafka_streams(settings) -> dict[tuple[str, int, str], list[bytes]]:
    """(topic, partition, producer) -> its entries in Kafka, in offset order, each encoded alone in
    the Kafka codec; the sequences must run 1, 2, 3... with no gap and no repeat."""
    ck = kafka_lib()
    codec = Codec(settings.kafka.codec)
    prefix = settings.kafka.topic_prefix
    probe = ck.Consumer({"bootstrap.servers": settings.kafka.bootstrap_servers, "group.id": prefix + "test-reader",
                         "enable.auto.commit": False, "enable.partition.eof": True})
    streams: dict[tuple[str, int, str], list[bytes]] = {}
    last: dict[tuple[str, int, str], int] = {}
    try:
        for topic in ("OrderChangeLog", "TradeChangeLog", "KLineChangeLog", "BalanceChangeLog"):
            for partition in range(PARTITIONS):
                low, high = probe.get_watermark_offsets(ck.TopicPartition(prefix + topic, partition), timeout=30)
                for m in read_range(probe, ck.TopicPartition(prefix + topic, partition, low), high):
                    batch = codec.decode(m.value())
                    assert (batch.topic, batch.partition) == (topic, partition)
                    for entry in batch.entries:
                        if entry.entity_type == EntityType.MARKER:
                            continue
                        key = (topic, partition, batch.producer)
                        assert entry.sequence == last.get(key, 0) + 1, (key, entry)
                        last[key] = entry.sequence
                        streams.setdefault(key, []).append(codec.encode_entry(entry))
    finally:
        probe.close()
    return streams


def replayed_streams(settings, data_dir: Path) -> dict[tuple[str, int, str], list[bytes]]:
    """The same, from an in-process replay of the node's journal (what `run.py replay` writes)."""
    codec = Codec(settings.kafka.codec)
    settings.bus.transport = "inproc"
    streams: dict[tuple[str, int, str], list[bytes]] = {}
    with tempfile.TemporaryDirectory(prefix="spot_seda_replay_") as scratch:
        pipeline = InprocPipeline(settings, Path(scratch), direct=True, exclude=sinks(settings.node.topology))
        batches = record(pipeline)
        apply_commands(pipeline, read_journal(data_dir), journaled=True)
    for batch in batches:
        streams.setdefault((batch.topic, batch.partition, batch.producer), []).extend(
            codec.encode_entry(e) for e in batch.entries)
    return streams


@pytest.mark.parametrize("transactions", [False, True], ids=["idempotent", "transactions"])
def test_the_change_log_in_kafka_with_several_partitions_is_a_replay_of_the_journal(tmp_path, kafka_cluster,
                                                                                    transactions):
    data = tmp_path / "data"
    http = free_port()
    base = f"http://127.0.0.1:{http}"
    extra = f"partitions = {PARTITIONS}\n" + kafka_extra(kafka_cluster).replace(
        "[runtime]", f"transactions = {str(transactions).lower()}\n[runtime]")  # (in [kafka])

    async def traffic() -> int:
        async with aiohttp.ClientSession() as session:
            clients = await open_accounts(session, base, 4)
            rng = random.Random(1515)
            done = await asyncio.gather(*(trade(c, random.Random(rng.random()), 60) for c in clients))
            return sum(done)

    with run_node(tmp_path, node_toml(data, http, free_port(), extra=extra)) as node:
        wait_http(base, node, timeout=60)
        assert asyncio.run(traffic()) == 240
        node.terminate(60)  # a clean stop: every stage drains its input and flushes its output
    settings = load_settings(tmp_path / "node.toml")
    in_kafka = kafka_streams(settings)
    replayed = replayed_streams(settings, data)
    assert {k for k in in_kafka if k[0] == "BalanceChangeLog" and k[2].startswith("settlement")}, "no settlement"
    # BTCUSDT and ETHUSDT have partitions 3 and 0 of 4: Settlement reads two partitions at once
    assert {k[1] for k in in_kafka if k[0] == "TradeChangeLog"} == {0, 3}
    assert sorted(in_kafka) == sorted(replayed)
    for key in sorted(replayed):
        assert in_kafka[key] == replayed[key], f"{key} differs from the replay"
