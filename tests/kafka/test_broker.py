"""The brokers the Kafka tests run against really works: topics, keyed produce, group consume."""

from __future__ import annotations

import time
import uuid
from collections import defaultdict

import confluent_kafka
from confluent_kafka.admin import AdminClient, NewTopic

from spot_seda.bus.kafkaclients import wait_for_leaders

N = 1000
PARTITIONS = 3


def test_produce_consume_keyed_in_partition_order(kafka_broker):
    conf = {"bootstrap.servers": kafka_broker.bootstrap}
    topic = f"t-{uuid.uuid4().hex[:8]}"

    admin = AdminClient(conf)
    for fut in admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)]).values():
        fut.result(timeout=15)
    wait_for_leaders(admin, {topic: PARTITIONS})  # a cluster's metadata catches up asynchronously

    # Produce: 20 keys, each message's value is its sequence number.
    produced: dict[int, list[tuple[int, bytes, int]]] = defaultdict(list)  # partition -> (offset, key, seq)
    errors = []

    def delivered(err, msg):
        if err is not None:
            errors.append(err)
        else:
            produced[msg.partition()].append((msg.offset(), msg.key(), int(msg.value())))

    producer = confluent_kafka.Producer({**conf, "enable.idempotence": True, "linger.ms": 5})
    for i in range(N):
        producer.produce(topic, key=f"k{i % 20}".encode(), value=str(i).encode(), on_delivery=delivered)
        producer.poll(0)
    assert producer.flush(15) == 0
    assert not errors
    assert sum(len(v) for v in produced.values()) == N
    assert len(produced) > 1, "20 keys should spread over more than one partition"

    # Consume it all back in a consumer group.
    consumer = confluent_kafka.Consumer({
        **conf,
        "group.id": f"g-{topic}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })
    consumed: dict[int, list[tuple[int, bytes, int]]] = defaultdict(list)
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + 20
        got = 0
        while got < N and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=500, timeout=0.5):
                assert msg.error() is None, msg.error()
                consumed[msg.partition()].append((msg.offset(), msg.key(), int(msg.value())))
                got += 1
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()

    assert got == N
    for part, msgs in consumed.items():
        offsets = [o for o, _k, _s in msgs]
        assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets), part
        seqs = [s for _o, _k, s in msgs]
        assert seqs == sorted(seqs), f"partition {part} out of produce order"
        assert msgs == sorted(produced[part]), part
    # A key lives in exactly one partition.
    owner: dict[bytes, int] = {}
    for part, msgs in consumed.items():
        for _o, key, _s in msgs:
            assert owner.setdefault(key, part) == part
    assert sorted(s for msgs in consumed.values() for _o, _k, s in msgs) == list(range(N))


def test_the_broker_tool_restarted_on_its_data_keeps_its_port(tmp_path):
    """`python -m spot_seda.kafka_broker --data-dir D`, stopped and started again: the same bootstrap
    list, so a node's [kafka] bootstrap_servers still reaches it (it changed at every start)."""
    import signal
    import subprocess
    import sys

    from tests.conftest import ROOT

    seen = []
    for _ in range(2):
        proc = subprocess.Popen([sys.executable, "-m", "spot_seda.kafka_broker", "--data-dir", str(tmp_path / "k")],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            seen.append(proc.stdout.readline().strip())  # (printed once the broker answers)
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) == 0
    assert seen[0].startswith("127.0.0.1:") and seen[1] == seen[0]


def test_consumer_groups_against_no_cluster_fails(tmp_path):
    """Kafka's kafka-consumer-groups prints a stack trace and exits 0 when no broker answers; the
    package's `consumer-groups` passes the trace on and exits 1, so `... && next` stops there."""
    import subprocess
    import sys

    from tests.conftest import ROOT
    from tests.node.conftest import free_port

    done = subprocess.run([sys.executable, "-m", "spot_seda.kafka_broker", "consumer-groups", "--bootstrap-server",
                           f"127.0.0.1:{free_port()}", "--list", "--timeout", "2000"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done
    assert "Failed to find brokers" in done.stderr
