"""What the Kafka cluster keeps beside the change log: stage instances' kept state (a compacted
topic, `KafkaBlobs`), who kept it last (`kept_heads`, for failover), and every consumer group's lag
(`group_lag`, for `run.py status`). The transport itself is bus/kafka.py."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import TYPE_CHECKING

from .base import Blobs, BusError, Wiring
from .kafkaclients import client_config, create_topics, kafka_lib, read_range, topic_configs, wait_for_leaders, watermarks

if TYPE_CHECKING:
    from .kafka import KafkaBus


class KafkaBlobs(Blobs):
    """Values by key in the compacted topic `<prefix>StageSnapshots` (replicated as the node's
    topics), cut into chunks under the message size limit: chunk i of a value is keyed
    `<key>#<id>#<i>`, then a head keyed `<key>` names the id and the chunk count, so a reader never
    assembles a value half written; the previous value's chunks are then deleted (tombstones).
    `topic` (a name under the prefix) puts them in another compacted topic made alike: the node's
    snapshot set (runtime/clustersnapshots.py) has `<prefix>NodeSnapshots`."""

    def __init__(self, bus: KafkaBus, topic: str = "StageSnapshots") -> None:
        ck = kafka_lib()
        self._ck = ck
        self._bus = bus
        self.topic = bus.prefix + topic
        self._chunk = max(1024, bus.settings.max_message_bytes - 4096)
        self._common = bus.common
        self._ensure()
        self._producer = None  # made on the first put: a reader needs none
        self._previous: dict[str, tuple[int, int]] = {}  # key -> (id, chunks) of the value it replaced

    def _ensure(self) -> None:
        ck = self._ck
        admin = ck.admin.AdminClient(self._common)
        if self.topic not in admin.list_topics(timeout=self._bus.kafka.request_timeout_s).topics:
            config = topic_configs(self._bus.kafka) | {"cleanup.policy": "compact", "retention.ms": "-1"}
            new = ck.admin.NewTopic(self.topic, num_partitions=1, replication_factor=self._bus.kafka.replication_factor,
                                    config=config)
            create_topics(admin, [new])
        wait_for_leaders(admin, {self.topic: 1})

    @classmethod
    def from_settings(cls, settings, topic: str) -> "KafkaBlobs":
        """Blobs of the cluster `settings` names, without a bus (a short-lived process of the
        supervisor's: it builds no topic of the wiring)."""
        kafka = settings.kafka
        return cls(SimpleNamespace(prefix=kafka.topic_prefix, settings=settings.bus, kafka=kafka,
                                   common=client_config(kafka.bootstrap_servers)), topic)

    def put(self, key: str, data: bytes) -> None:
        ident = time.time_ns()
        chunks = [data[i:i + self._chunk] for i in range(0, len(data), self._chunk)] or [b""]
        for i, chunk in enumerate(chunks):
            self._produce(f"{key}#{ident}#{i}", chunk)
        self._produce(key, f"{ident} {len(chunks)}".encode())
        self._flush()
        old = self._previous.get(key)
        if old is not None:
            for i in range(old[1]):
                self._produce(f"{key}#{old[0]}#{i}", None)
            self._flush()
        self._previous[key] = (ident, len(chunks))

    def stored(self, key: str) -> tuple[int, int] | None:
        """(id, chunks) of the value this client last put or got under `key`: what the next put
        deletes once it has replaced it."""
        return self._previous.get(key)

    def replacing(self, key: str, stored: tuple[int, int]) -> None:
        """The value under `key` is (id, chunks), as another client's `stored` said: the next put
        deletes its chunks once it has replaced it (a value's chunks are otherwise kept for ever)."""
        self._previous[key] = (int(stored[0]), int(stored[1]))

    @property
    def _p(self):
        if self._producer is None:
            self._producer = self._ck.Producer(self._common | {
                "enable.idempotence": True, "acks": "all",
                "message.max.bytes": max(self._bus.settings.max_message_bytes + 4096, 1_000_000)})
        return self._producer

    def _produce(self, key: str, value: bytes | None) -> None:
        while True:
            try:
                self._p.produce(self.topic, value, key.encode(), partition=0)
                return
            except BufferError:
                self._p.poll(0.05)

    def _flush(self) -> None:
        if self._p.flush(self._bus.settings.put_timeout_s):
            raise BusError(f"{self.topic}: not acknowledged within {self._bus.settings.put_timeout_s}s")

    def get(self, key: str) -> bytes | None:
        ck = self._ck
        probe = ck.Consumer(self._common | {"group.id": self.topic + ".reader", "enable.auto.commit": False,
                                            "enable.partition.eof": True})
        try:
            low, high = self._watermarks(probe)
            head, values = None, {}
            prefix = key + "#"
            for m in read_range(probe, ck.TopicPartition(self.topic, 0, low), high):
                k = m.key().decode()
                if k == key:
                    head = m.value()
                elif k.startswith(prefix):
                    values[k] = m.value()
        finally:
            probe.close()
        if head is None:
            return None
        ident, count = map(int, head.split())
        parts = [values.get(f"{key}#{ident}#{i}") for i in range(count)]
        if any(p is None for p in parts):
            raise BusError(f"{self.topic}: the value of {key!r} lacks chunks")
        self._previous[key] = (ident, count)
        return b"".join(parts)

    def _watermarks(self, probe) -> tuple[int, int]:
        """The topic's low and high offsets. A client made just after the topic was (its metadata
        not yet carrying the new partition) is told "unknown partition" for a moment, and one asking
        while its leader moves "not leader for partition" (a stage failed at its start on it, once in
        a full test run): asked again."""
        ck = self._ck
        unknown = (ck.KafkaError._UNKNOWN_PARTITION, ck.KafkaError._UNKNOWN_TOPIC,
                   ck.KafkaError.UNKNOWN_TOPIC_OR_PART, ck.KafkaError.LEADER_NOT_AVAILABLE,
                   ck.KafkaError.NOT_LEADER_FOR_PARTITION)
        return watermarks(probe, ck.TopicPartition(self.topic, 0), lambda exc: exc.args[0].code() in unknown,
                          pause=0.1)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(self._bus.settings.put_timeout_s)


def kept_heads(bus: KafkaBus, since: int = 0) -> tuple[dict[str, int], int]:
    """The heads written to `<prefix>StageSnapshots` from offset `since` on: key -> the time (ns,
    the writer's clock) its latest value was stored; and the offset to read on from. A short-lived
    client, so the supervisor can call it between forks."""
    ck = kafka_lib()
    topic = bus.prefix + "StageSnapshots"
    probe = ck.Consumer(bus.common | {"group.id": topic + ".watch", "enable.auto.commit": False,
                                      "enable.partition.eof": True})
    heads: dict[str, int] = {}
    try:
        try:
            low, high = probe.get_watermark_offsets(ck.TopicPartition(topic, 0), timeout=10)
        except ck.KafkaException:  # no such topic yet: nobody kept anything
            return heads, since
        for m in read_range(probe, ck.TopicPartition(topic, 0, max(low, since)), high):
            key = m.key().decode()
            if "#" not in key and m.value():
                heads[key] = int(m.value().split()[0])
        return heads, high
    finally:
        probe.close()


def group_lag(wiring: Wiring, settings, timeout: float = 10.0) -> dict[str, dict[str, int]]:
    """Per consumer group of the wiring, from the cluster alone (wherever its members run): the
    offsets it has committed, the end offsets of its topics and the lag between them, summed over
    its partitions ({"committed", "end", "lag"}; a group that never committed has committed -1 and
    lag -1). What `kafka-consumer-groups.sh --describe` shows per partition, for `run.py status`."""
    ck = kafka_lib()
    kafka = settings.kafka
    admin = ck.admin.AdminClient(client_config(kafka.bootstrap_servers))
    partitions = [ck.TopicPartition(kafka.topic_prefix + t, p) for t, n in wiring.topics.items() for p in range(n)]
    existing = admin.list_topics(timeout=timeout).topics
    partitions = [tp for tp in partitions if tp.topic in existing]
    if not partitions:
        return {}
    ends = {(tp.topic, tp.partition): result.result().offset for tp, result in admin.list_offsets(
        {tp: ck.admin.OffsetSpec.latest() for tp in partitions}, request_timeout=timeout).items()}
    report = {}
    for group, (topics, _members) in wiring.groups.items():
        name = kafka.topic_prefix + group
        mine = {kafka.topic_prefix + t for t in topics}
        request = ck.ConsumerGroupTopicPartitions(name, [tp for tp in partitions if tp.topic in mine])
        committed_tps = admin.list_consumer_group_offsets([request], request_timeout=timeout)[name].result()
        committed = end = 0
        known = False
        for tp in committed_tps.topic_partitions:
            high = ends.get((tp.topic, tp.partition), 0)
            end += high
            if tp.offset >= 0:
                known = True
                committed += tp.offset
            else:  # never committed on this partition: nothing of it processed... since its start
                committed += high
        report[group] = {"committed": committed if known else -1, "end": end, "lag": end - committed if known else -1}
    return report
