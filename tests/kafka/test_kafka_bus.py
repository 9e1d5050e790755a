"""The Kafka transport against a real three-broker cluster (KRaft, from Maven Central jars): the
seed's topics as Kafka topics with replication 3, the Bus contract (every group gets every entry, in
order per partition, members split the partitions), a producer's order across topics where its
stage needs it, committed offsets for the lag tools, and where a new bus starts reading."""

from __future__ import annotations

import uuid

from spot_seda.bus.base import Wiring
from spot_seda.bus.kafka import KafkaBus
from spot_seda.model.changelog import created
from spot_seda.model.enums import Topic
from tests.conftest import settings_from


def kafka_settings(broker, codec: str = "msgpack", replication: int = 3):
    return settings_from(f'[bus]\ntransport = "kafka"\npartitions = 3\n'
                         f'[kafka]\nbootstrap_servers = "{broker.bootstrap}"\ntopic_prefix = "t{uuid.uuid4().hex[:8]}."\n'
                         f'codec = "{codec}"\nlinger_ms = 0.5\nreplication_factor = {replication}\n')


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


def test_topics_are_the_seeds_replicated_three_ways(kafka_broker):
    from confluent_kafka.admin import AdminClient, ConfigResource

    settings = kafka_settings(kafka_broker)
    bus = KafkaBus(Wiring({t: 3 for t in Topic.ALL}, {"g": (Topic.ALL, 1)}), settings)
    try:
        admin = AdminClient({"bootstrap.servers": kafka_broker.bootstrap})
        meta = admin.list_topics(timeout=10).topics
        prefix = settings.kafka.topic_prefix
        for topic in Topic.ALL:
            partitions = meta[prefix + topic].partitions
            assert len(partitions) == 3 and all(len(p.replicas) == 3 for p in partitions.values())
            resource = ConfigResource(ConfigResource.Type.TOPIC, prefix + topic)
            config = admin.describe_configs([resource])[resource].result(10)
            assert config["min.insync.replicas"].value == "2"
            assert config["unclean.leader.election.enable"].value == "false"
        assert prefix + "changelog" not in meta
    finally:
        bus.close()


def test_an_ordered_producer_keeps_its_order_across_topics_per_partition(kafka_broker):
    # Match's shape: trades then order updates, same partition number; the consumer reads both
    settings = kafka_settings(kafka_broker)
    wiring = Wiring({"T": 3, "O": 3}, {"settle": (("T", "O"), 1)}, ordered={"match": ("T", "O")})
    bus = KafkaBus(wiring, settings)
    try:
        consumer = bus.consumer("settle", 0)
        producer = bus.producer("match-0")
        n = 0
        for i in range(200):
            p = i % 3
            for topic in ("T", "O") if i % 4 else ("O", "T"):
                n += 1
                producer.publish_to(topic, p, [created(str(n), "X", 0, n, n=n)])
        producer.flush()
        got = drain(consumer, n)
        per_partition: dict[int, list[int]] = {}
        for b in got:
            per_partition.setdefault(b.partition, []).extend(e.field_dict()["n"] for e in b.entries)
        assert sum(len(v) for v in per_partition.values()) == n
        for numbers in per_partition.values():  # each partition number's messages in publish order, across T and O
            assert numbers == sorted(numbers)
    finally:
        bus.close()


def test_consumers_commit_what_they_processed_for_the_lag_tools(kafka_broker):
    import confluent_kafka
    from confluent_kafka.admin import AdminClient

    settings = kafka_settings(kafka_broker)
    bus = KafkaBus(Wiring({"A": 3}, {"g": (("A",), 1)}), settings)
    try:
        producer = bus.producer("src-0")
        for i in range(30):
            producer.publish_to("A", i % 3, [created(str(i), "X", 0, i + 1)])
        producer.flush()
        consumer = bus.consumer("g", 0)
        assert sum(len(b.entries) for b in drain(consumer, 30)) == 30
        consumer.commit()
        consumer.close()
        name, group = settings.kafka.topic_prefix + "A", settings.kafka.topic_prefix + "g"
        admin = AdminClient({"bootstrap.servers": kafka_broker.bootstrap})
        request = confluent_kafka.ConsumerGroupTopicPartitions(group)
        result = admin.list_consumer_group_offsets([request])[group].result(10)
        committed = {tp.partition: tp.offset for tp in result.topic_partitions if tp.topic == name}
        assert committed == {0: 10, 1: 10, 2: 10}  # everything processed: no lag
    finally:
        bus.close()


def test_creating_a_topic_another_machine_made_leaves_no_kafka_client_in_a_cycle(kafka_broker):
    """Three machines create the same topics at once: "already exists" counts as made, and leaves
    no reference cycle behind. One did (a raised result's traceback held the frame holding the
    AdminClient): a stage forked before the supervisor's collector ran inherited it, freed it in
    its own collector and froze waiting for a librdkafka thread fork does not copy."""
    import gc
    import types

    from spot_seda.bus.kafkaclients import create_topics, kafka_lib

    ck = kafka_lib()
    name = f"cycle-{uuid.uuid4().hex[:8]}"
    admin = ck.admin.AdminClient({"bootstrap.servers": kafka_broker.bootstrap})
    create_topics(admin, [ck.admin.NewTopic(name, num_partitions=1, replication_factor=1)])
    gc.collect()
    gc.disable()
    try:
        for _ in range(3):  # it exists now: as another machine would find it
            create_topics(admin, [ck.admin.NewTopic(name, num_partitions=1, replication_factor=1)])
        # no call's frame (which holds the AdminClient) outlived it, kept by garbage only a collector frees
        left = [o for o in gc.get_objects() if isinstance(o, types.FrameType) and o.f_code is create_topics.__code__]
        assert left == []
    finally:
        gc.enable()
    assert name in admin.list_topics(timeout=10).topics
