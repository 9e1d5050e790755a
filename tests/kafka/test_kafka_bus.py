"""The Kafka transport against a real broker (KRaft, from Maven Central jars): the Bus contract
(every group gets every entry, in order per partition, members split the partitions), and where a
new bus starts reading."""

from __future__ import annotations

import uuid

from spot_seda.bus.base import Wiring
from spot_seda.bus.kafka import KafkaBus
from spot_seda.model.changelog import created
from tests.conftest import settings_from


def kafka_settings(broker, codec: str = "msgpack"):
    return settings_from(f'[bus]\ntransport = "kafka"\npartitions = 3\n'
                         f'[kafka]\nbootstrap_servers = "{broker.bootstrap}"\ntopic_prefix = "t{uuid.uuid4().hex[:8]}."\n'
                         f'codec = "{codec}"\nlinger_ms = 0.5\n')


def drain(consumer, want: int, timeout: float = 30.0) -> list:
    import time

    got, deadline = [], time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        got += list(consumer.poll(0.2))
    return got


def test_every_group_gets_every_entry_in_order_and_members_split_partitions(kafka_broker):
    settings = kafka_settings(kafka_broker)
    wiring = Wiring({"A": 3, "B": 3}, {"one": (("A", "B"), 1), "two": (("A",), 2)})
    bus = KafkaBus(wiring, settings)
    try:
        producer = bus.producer("src-0")
        consumers = {"one": bus.consumer("one", 0), "two-0": bus.consumer("two", 0), "two-1": bus.consumer("two", 1)}
        for i in range(300):
            producer.publish("A", f"k{i % 7}", [created(str(i), "X", 0, i + 1, n=i)])
            if i % 3 == 0:
                producer.publish_to("B", i % 3, [created(f"b{i}", "X", 0, i + 1, n=i)])
        producer.flush()
        one = drain(consumers["one"], 400)
        assert sum(len(b.entries) for b in one) == 400
        two = {m: drain(consumers[m], 1) for m in ("two-0", "two-1")}
        for m in two:  # the member got what it had not received yet too
            two[m] += drain(consumers[m], 10**9, timeout=2)
        assert {b.partition for b in two["two-0"]} <= {0, 2} and {b.partition for b in two["two-1"]} <= {1}
        assert sum(len(b.entries) for m in two for b in two[m]) == 300
        for batches in (one, two["two-0"], two["two-1"]):
            per_partition: dict = {}
            for b in batches:
                assert b.producer == "src-0"
                per_partition.setdefault((b.topic, b.partition), []).extend(e.sequence for e in b.entries)
            assert all(seqs == sorted(seqs) for seqs in per_partition.values())
    finally:
        bus.close()


def test_a_new_bus_starts_after_what_was_published_before_it(kafka_broker):
    settings = kafka_settings(kafka_broker, codec="json")
    wiring = Wiring({"A": 3}, {"g": (("A",), 1)})
    first = KafkaBus(wiring, settings)
    producer = first.producer("p-0")
    producer.publish_to("A", 1, [created("old", "X", 0, 1)])
    producer.flush()
    first.close()
    second = KafkaBus(wiring, settings)  # a restarted pipeline: fresh "queues", like shm
    try:
        consumer = second.consumer("g", 0)
        producer = second.producer("p-0")
        producer.publish_to("A", 1, [created("new", "X", 0, 2)])
        producer.flush()
        got = drain(consumer, 1)
        assert [e.entity_id for b in got for e in b.entries] == ["new"]
    finally:
        second.close()
