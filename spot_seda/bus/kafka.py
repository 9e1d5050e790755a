"""The Kafka transport: the same Bus semantics over an Apache Kafka cluster (confluent-kafka).

One Kafka topic, `<kafka.topic_prefix>changelog`, with `bus.partitions` partitions, carries every
logical topic; a message is one encoded Batch (msgpack or JSON, `kafka.codec`) whose Kafka key is
its logical topic. Why one: the stages rely on each producer's order *across* logical topics, as
the shm queues keep it (Match's trades reach Settlement before the order updates they cause, and
Acquiring's freeze before the order), and Kafka orders messages only within a partition. A
consumer skips the logical topics its group does not read by key, without decoding them. The Bus
picks partitions itself (crc32 of the key), so Kafka's partitioner never decides; the producer is
idempotent (acks=all), so retries neither reorder nor duplicate a partition's messages.

Consumers: a group member is assigned its partitions (`p % members`) directly, no rebalancing,
and starts at the offsets read when the bus was built, before the supervisor forked the stages:
the end of every partition. That is the shm transport's "fresh queues" at every (re)start: what a
stage's state must reflect comes from the journal and snapshots (runtime/recovery.py), and
everything the new incarnation publishes lies after those offsets. Offsets are committed to the
group as well, so the usual tools show each stage's lag.

Fork safety: librdkafka clients own threads and must not cross a fork, so the bus builds its
producers and consumers lazily in the process that asks for them; the parent only uses
short-lived admin and metadata clients.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from ..model.changelog import Batch, ChangeLogEntry, Codec
from .base import Bus, BusError, BusFull, Consumer, Producer, Wiring, split_for_limit


def _kafka():
    try:
        import confluent_kafka
        import confluent_kafka.admin  # noqa: F401  (ck.admin below)
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise BusError("bus.transport = 'kafka' needs the confluent-kafka package") from exc
    return confluent_kafka


class KafkaBus(Bus):
    """Producers and consumers on one Kafka cluster for a wiring."""

    # a member killed by SIGKILL leaves no lock behind, but its stage's state must still come back
    # from the journal with everyone else's (the same recovery as shm): see the module docstring
    survives_member_death = False

    def __init__(self, wiring: Wiring, settings) -> None:
        self.wiring = wiring
        self.settings = settings.bus
        self.kafka = settings.kafka
        self.codec = Codec(self.kafka.codec)
        self.prefix = self.kafka.topic_prefix
        self.common = {"bootstrap.servers": self.kafka.bootstrap_servers}
        self._clients: list = []
        self.ensure_topics()
        #: partition -> the offset consumers of this bus start at
        self.start_offsets = self.end_offsets()

    @property
    def topic(self) -> str:
        """The Kafka topic every logical topic travels on."""
        return self.prefix + "changelog"

    def ensure_topics(self) -> None:
        """Create the Kafka topic (or check an existing one has bus.partitions partitions)."""
        ck = _kafka()
        counts = set(self.wiring.topics.values())
        if len(counts) != 1:
            raise BusError(f"the Kafka transport needs one partition count for every topic, got {self.wiring.topics}")
        partitions = counts.pop()
        admin = ck.admin.AdminClient(self.common)
        if self.topic not in admin.list_topics(timeout=30).topics:
            new = ck.admin.NewTopic(self.topic, num_partitions=partitions, replication_factor=self.kafka.replication_factor)
            try:
                admin.create_topics([new], operation_timeout=30)[self.topic].result()
            except ck.KafkaException as exc:
                if exc.args[0].code() != ck.KafkaError.TOPIC_ALREADY_EXISTS:
                    raise BusError(f"cannot create Kafka topic {self.topic}: {exc}") from None
        deadline = time.monotonic() + 30
        while True:  # until the metadata shows every partition with a leader (creation is asynchronous)
            meta = admin.list_topics(timeout=30).topics.get(self.topic)
            if meta is not None and not meta.error and meta.partitions:
                if len(meta.partitions) != partitions:
                    raise BusError(f"Kafka topic {self.topic} has {len(meta.partitions)} partitions, "
                                   f"bus.partitions = {partitions}")
                if all(p.leader >= 0 for p in meta.partitions.values()):
                    self.partition_count = partitions
                    return
            if time.monotonic() > deadline:
                raise BusError(f"Kafka topic {self.topic} not ready after 30 s")
            time.sleep(0.1)

    def end_offsets(self) -> dict[int, int]:
        """The current end offset of every partition."""
        ck = _kafka()
        probe = ck.Consumer(self.common | {"group.id": self.prefix + "probe", "enable.auto.commit": False})
        try:
            offsets = {}
            for p in range(self.partition_count):
                deadline = time.monotonic() + 30
                while True:
                    try:
                        offsets[p] = probe.get_watermark_offsets(ck.TopicPartition(self.topic, p), timeout=30)[1]
                        break
                    except ck.KafkaException as exc:  # e.g. a new partition's leader still being elected
                        if time.monotonic() > deadline:
                            raise BusError(f"cannot read the end of {self.topic}[{p}]: {exc}") from None
                        time.sleep(0.1)
            return offsets
        finally:
            probe.close()

    def producer(self, name: str) -> "KafkaProducer":
        producer = KafkaProducer(self, name)
        self._clients.append(producer)
        return producer

    def consumer(self, group: str, member: int) -> "KafkaConsumer":
        try:
            topics, members = self.wiring.groups[group]
        except KeyError:
            raise KeyError(f"no consumer group member {group}[{member}] in this wiring") from None
        consumer = KafkaConsumer(self, group, member, topics, members)
        self._clients.append(consumer)
        return consumer

    def close(self) -> None:
        for client in self._clients:
            client.close()
        self._clients.clear()


class KafkaProducer(Producer):
    def __init__(self, bus: KafkaBus, name: str) -> None:
        ck = _kafka()
        self.name = name
        self.partitions = bus.wiring.topics
        self._topic = bus.topic
        self._keys = {t: t.encode() for t in bus.wiring.topics}
        self._encode = bus.codec.encode
        self._limit = bus.settings.max_message_bytes
        self._timeout = bus.settings.put_timeout_s
        self._failed: list[str] = []
        self._p = ck.Producer(bus.common | {
            "enable.idempotence": True,  # acks=all, no reordering or duplicates on retry
            "linger.ms": bus.kafka.linger_ms,
            "message.max.bytes": max(self._limit + 4096, 1_000_000),
            "client.id": name,
        })

    def _delivered(self, err, msg) -> None:
        if err is not None:
            self._failed.append(f"{msg.topic()}[{msg.partition()}]: {err}")

    def publish_to(self, topic: str, partition: int, entries: list[ChangeLogEntry]) -> None:
        if not entries:
            return
        if self._failed:
            raise BusError(f"{self.name}: Kafka delivery failed: {self._failed[0]}")
        name, key = self._topic, self._keys[topic]
        produce, poll = self._p.produce, self._p.poll
        for message in split_for_limit(self._encode, Batch(topic, partition, self.name, entries), self._limit):
            deadline = None
            while True:
                try:
                    produce(name, message, key, partition=partition, on_delivery=self._delivered)
                    break
                except BufferError:  # librdkafka's local queue is full: back-pressure
                    deadline = deadline or time.monotonic() + self._timeout
                    if time.monotonic() > deadline:
                        raise BusFull(f"{self.name}: Kafka producer queue for {topic}[{partition}] stayed full "
                                      f"for {self._timeout}s") from None
                    poll(0.05)
        poll(0)  # serve delivery reports

    def flush(self, timeout: float | None = None) -> None:
        left = self._p.flush(self._timeout if timeout is None else timeout)
        if left:
            raise BusError(f"{self.name}: {left} Kafka messages not delivered within the flush timeout")
        if self._failed:
            raise BusError(f"{self.name}: Kafka delivery failed: {self._failed[0]}")

    def close(self) -> None:
        self._p.flush(self._timeout)


class KafkaConsumer(Consumer):
    def __init__(self, bus: KafkaBus, group: str, member: int, topics: tuple[str, ...], members: int) -> None:
        ck = _kafka()
        self._max = bus.settings.batch_max
        self._decode = bus.codec.decode
        self._eof = ck.KafkaError._PARTITION_EOF
        self._c = ck.Consumer(bus.common | {
            "group.id": bus.prefix + group,
            "enable.auto.commit": True,  # only for lag tools: where to start is the supervisor's call
            "enable.auto.offset.store": True,
            "fetch.wait.max.ms": 5,  # a stage waits in poll(); the broker should not hold fetches long
            "client.id": f"{group}-{member}",
        })
        self._wanted = frozenset(t.encode() for t in topics)
        self._assigned = [ck.TopicPartition(bus.topic, p, bus.start_offsets[p])
                          for p in range(bus.partition_count) if p % members == member]
        self._c.assign(self._assigned)
        self._closed = False

    def poll(self, timeout: float) -> Iterator[Batch]:
        # consume() would wait out its whole timeout unless the batch fills: wait for one message,
        # then take whatever else is already here
        first = self._c.poll(max(timeout, 0.0))
        if first is None:
            return
        messages = [first, *self._c.consume(num_messages=self._max - 1, timeout=0)] if self._max > 1 else [first]
        decode, eof, wanted = self._decode, self._eof, self._wanted
        for m in messages:
            err = m.error()
            if err is not None:
                if err.code() == eof:
                    continue
                raise BusError(f"Kafka consumer error: {err}")
            if m.key() in wanted:  # another group's topic: skipped undecoded
                yield decode(m.value())

    def depth(self) -> int:
        """Messages behind the partitions' high watermarks (from the last fetch; no round trip)."""
        lag = 0
        for tp in self._c.position(self._assigned):
            if tp.offset >= 0:
                _low, high = self._c.get_watermark_offsets(tp, cached=True)
                lag += max(0, high - tp.offset)
        return lag

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._c.close()
