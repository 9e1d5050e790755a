"""Kafka transactions (kafka.transactions = true) against the real three-broker cluster: what a
transaction that was aborted or never committed wrote never reaches a consumer (read_committed);
an input batch's outputs and its consumer's offsets commit together; a second producer with the
same transactional.id (a newer incarnation of the stage instance) fences the first off, whose next
send or commit fails; and a node's stage that finds itself fenced stops, and is not restarted."""

from __future__ import annotations

import asyncio
import uuid

import aiohttp
import pytest

from spot_seda.bus.base import BusError, Fenced, Wiring
from spot_seda.bus.kafka import KafkaBus
from spot_seda.bus.kafkaclients import kafka_lib
from spot_seda.model.changelog import created
from tests.conftest import run_node, settings_from
from tests.kafka.test_kafka_bus import drain
from tests.kafka.test_node_over_kafka import kafka_extra
from tests.node.client import funded_client
from tests.node.conftest import ADMIN_TOKEN, free_port, node_toml, wait_http

WIRING = Wiring({"A": 2}, {"readers": (("A",), 1)})


def transactional_settings(broker):
    return settings_from(f'[bus]\ntransport = "kafka"\npartitions = 2\n[kafka]\nbootstrap_servers = '
                         f'"{broker.bootstrap}"\ntopic_prefix = "x{uuid.uuid4().hex[:8]}."\nreplication_factor = 3\n'
                         'transactions = true\n')


def entries(first: int, n: int) -> list:
    return [created(str(i), "X", 0, i, n=i) for i in range(first, first + n)]


def test_what_an_aborted_or_uncommitted_transaction_wrote_is_never_read(kafka_cluster):
    bus = KafkaBus(WIRING, transactional_settings(kafka_cluster))
    try:
        reader = bus.consumer("readers", 0)
        aborted = bus.producer("stage-0")
        aborted.publish_to("A", 0, entries(1, 5))
        aborted._p.flush(10)  # in the cluster, acknowledged, not committed
        aborted.close()  # aborts the open transaction
        uncommitted = bus.producer("other-0")
        uncommitted.publish_to("A", 1, entries(1, 5))
        uncommitted._p.flush(10)  # left open: its process "died" here
        committed = bus.producer("stage-0")
        committed.publish_to("A", 0, entries(6, 3))
        committed.commit()
        got = drain(reader, 10**9, timeout=4)
        assert [e.entity_id for b in got for e in b.entries] == ["6", "7", "8"]
        assert {b.producer for b in got} == {"stage-0"}
    finally:
        bus.close()


def test_outputs_and_the_input_offsets_they_reflect_commit_together(kafka_cluster):
    settings = transactional_settings(kafka_cluster)
    wiring = Wiring({"A": 2, "B": 2}, {"readers": (("A",), 1), "check": (("B",), 1)})
    bus = KafkaBus(wiring, settings)
    try:
        source = bus.producer("source-0")
        source.publish_to("A", 0, entries(1, 4))
        source.commit()
        stage, reader, check = bus.producer("stage-0"), bus.consumer("readers", 0), bus.consumer("check", 0)
        batches = drain(reader, 1)
        stage.publish_to("B", 0, entries(1, 4))
        stage.commit(reader)
        assert [e.entity_id for b in drain(check, 1) for e in b.entries] == ["1", "2", "3", "4"]
        ck = kafka_lib()
        probe = ck.Consumer({"bootstrap.servers": kafka_cluster.bootstrap, "group.id": settings.kafka.topic_prefix +
                             "readers"})
        partition = ck.TopicPartition(settings.kafka.topic_prefix + "A", 0)
        try:
            committed = probe.committed([partition], timeout=10)
            end = probe.get_watermark_offsets(partition, timeout=10)[1]
        finally:
            probe.close()
        # past the batch and the source's commit marker after it: the group shows no lag
        assert len(batches) == 1 and committed[0].offset == end == reader.positions()[partition.topic, 0] + 1
    finally:
        bus.close()


def test_a_second_producer_with_the_same_transactional_id_fences_the_first(kafka_cluster):
    bus = KafkaBus(WIRING, transactional_settings(kafka_cluster))
    try:
        reader = bus.consumer("readers", 0)
        zombie = bus.producer("match-0")
        zombie.publish_to("A", 0, entries(1, 2))  # a transaction open when it was stopped
        successor = bus.producer("match-0")  # init_transactions: aborts that, fences the zombie
        successor.publish_to("A", 0, entries(1, 3))
        successor.commit()
        with pytest.raises(Fenced):
            zombie.commit()
        with pytest.raises(Fenced):
            zombie.publish_to("A", 1, entries(10, 1))
            zombie.commit()
        got = drain(reader, 10**9, timeout=4)
        assert [e.entity_id for b in got for e in b.entries] == ["1", "2", "3"]
    finally:
        bus.close()


def test_a_failed_delivery_is_fenced_when_a_newer_incarnation_took_over_and_a_failure_otherwise(kafka_cluster):
    """A stage stopped and resumed (SIGSTOP, a paused VM) after its successor took over may hear of
    it first from the delivery reports of messages it had in flight, timed out or refused (purged
    here, on cue), not from a send or a commit. That is the same fence: the stage must stop for
    good, not restart and fence its successor off in turn. A producer nobody took over from gets a
    plain failure (its stage restarts), its transaction aborted."""
    bus = KafkaBus(WIRING, transactional_settings(kafka_cluster))
    try:
        for taken_over, name in ((True, "match-0"), (False, "settlement-0")):
            stage = bus.producer(name)
            stage.publish_to("A", 0, entries(1, 2))
            if taken_over:
                bus.producer(name)
            stage.publish_to("A", 0, entries(3, 1))
            stage._p.purge(in_queue=True, in_flight=True, blocking=True)  # (librdkafka's own, to fail it now)
            stage._poll(0.5)
            assert stage._failed
            with pytest.raises(BusError) as failed:
                stage.publish_to("A", 1, entries(10, 1))
            assert isinstance(failed.value, Fenced) == taken_over, failed.value
        assert drain(bus.consumer("readers", 0), 10**9, timeout=4) == []  # nothing of either committed
    finally:
        bus.close()


class RacedCommit:
    """A producer whose commit is answered as a commit racing a takeover once was (the coordinator's
    UNKNOWN_SERVER_ERROR, abortable), which a test cannot make the cluster do on cue; everything
    else, the abort included, goes to the real producer and the real cluster."""

    def __init__(self, real) -> None:
        self.real = real

    def __getattr__(self, name: str):
        return getattr(self.real, name)

    def commit_transaction(self, timeout: float) -> None:
        ck = kafka_lib()
        raise ck.KafkaException(ck.KafkaError(ck.KafkaError.UNKNOWN, "EndTxn commit failed: Unknown broker error",
                                              txn_requires_abort=True))


def test_an_abortable_commit_failure_is_fenced_when_a_newer_incarnation_took_over_and_a_failure_otherwise(
        kafka_cluster):
    bus = KafkaBus(WIRING, transactional_settings(kafka_cluster))
    try:
        zombie = bus.producer("match-0")
        zombie.publish_to("A", 0, entries(1, 2))
        bus.producer("match-0")  # takes over: the zombie's abort is refused as fenced
        zombie._p = RacedCommit(zombie._p)
        with pytest.raises(Fenced):
            zombie.commit()
        alone = bus.producer("settlement-0")
        alone.publish_to("A", 1, entries(5, 1))
        alone._p = RacedCommit(alone._p)
        with pytest.raises(BusError) as failed:  # aborted: the stage restarts and replays its input
            alone.commit()
        assert not isinstance(failed.value, Fenced)
        assert drain(bus.consumer("readers", 0), 10**9, timeout=4) == []  # both transactions aborted
    finally:
        bus.close()


def test_a_fenced_stage_of_a_node_stops_and_is_not_restarted(tmp_path, kafka_cluster):
    """A node with transactions trades; then a newer 'incarnation' of its Match (a producer with
    Match's transactional.id) takes over: the node's Match fails at its next commit and exits
    without writing, and its supervisor leaves it stopped instead of fencing the newcomer back."""
    http = free_port()
    base = f"http://127.0.0.1:{http}"
    extra = kafka_extra(kafka_cluster).replace("[runtime]", "transactions = true\n[runtime]")  # in [kafka]
    with run_node(tmp_path, node_toml(tmp_path / "data", http, free_port(), extra=extra)) as node:
        wait_http(base, node, timeout=60)

        async def order(client, side: str, tif: str = "GTC"):
            return await client.order(symbol="BTCUSDT", side=side, type="LIMIT", timeInForce=tif, quantity="0.1",
                                      price="100", newOrderRespType="FULL",
                                      selfTradePreventionMode="NONE")  # (trades with itself)

        async def trade():
            async with aiohttp.ClientSession() as session:
                client = await funded_client(session, base, ADMIN_TOKEN, USDT="10000", BTC="1")
                status, doc = await order(client, "BUY")
                assert status == 200 and doc["status"] == "NEW", doc
                status, doc = await order(client, "SELL")
                assert status == 200 and doc["status"] == "FILLED", doc  # over transactions end to end

        asyncio.run(trade())
        prefix = settings_from("[bus]\n" + extra).kafka.topic_prefix
        ck = kafka_lib()
        successor = ck.Producer({"bootstrap.servers": kafka_cluster.bootstrap, "transactional.id": prefix + "match-0"})
        successor.init_transactions(30)  # fences the node's Match off

        async def after():
            async with aiohttp.ClientSession() as session:
                client = await funded_client(session, base, ADMIN_TOKEN, USDT="10000")
                await client.order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.1",
                                   price="90", newOrderRespType="ACK")
        asyncio.run(after())
        node.wait_for(lambda: "was fenced off by a newer incarnation" in node.log(), timeout=30, what="Match fenced")
        assert "fenced off by a newer incarnation, or failed for good" in node.log()
        assert "restarting SpotMatchStage match-0" not in node.log()
