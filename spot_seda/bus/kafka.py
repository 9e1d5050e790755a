"""The Kafka transport: the same Bus semantics over an Apache Kafka cluster (confluent-kafka).

Topics: each logical topic is a Kafka topic of its own, named as the seed names it with the
configured prefix (`<kafka.topic_prefix>OrderChangeLog`, ...TradeChangeLog, ...KLineChangeLog,
...BalanceChangeLog), with the wiring's partitions (`bus.partitions`; configs/kafka.toml: 10) and
`kafka.replication_factor` replicas (3), `min.insync.replicas` = `kafka.min_insync_replicas` (2)
and unclean leader election off. Producers are idempotent with acks=all: a message counts as sent
once the in-sync replicas have it, and retries neither reorder nor duplicate a partition. A message
is one encoded Batch (msgpack or JSON, `kafka.codec`); its header `p` names the producer instance,
so a consumer drops the producers its group does not read (Wiring.sources) without decoding them.
The Bus picks partitions itself (crc32 of the key), so Kafka's partitioner never decides, and every
topic of a key has the same partition number: the topics are co-partitioned.

Order across topics. Kafka orders messages only within a partition, and some stages rely on a
producer's order across two topics: Match publishes a command's trades (TradeChangeLog) before the
order updates they cause (OrderChangeLog), and Settlement, Acquiring and Push need the fills first.
A producer whose stage declares its outputs ordered (Wiring.ordered; Stage.ordered_outputs) keeps
that order per partition number: before it sends to topic T partition p it waits until its earlier
messages to its other topics' partition p are acknowledged, and stamps the message with header `d`,
their offsets ("TradeChangeLog=1234"). A consumer that reads one of those other topics holds the
message (and what follows it in its partition) until it has consumed that partition past the offset.
Offsets are absolute, so this holds wherever a consumer starts; the price is one acknowledgement
round trip per batch that writes two topics, paid only by Match. Order across partition numbers
(Acquiring's freeze keyed by account and its order keyed by symbol) is not kept, and nothing relies
on it: Push waits for an order's Created entry itself, and balance deltas commute.

Consumers: a group member is assigned its partitions of every topic (`p % members`) directly, no
rebalancing, and starts at the offsets read when the bus was built, before the supervisor forked
the stages: the end of every partition. That is the shm transport's "fresh queues" at every
(re)start: what a stage's state must reflect comes from the journal and snapshots
(runtime/recovery.py), and everything the new incarnation publishes lies after those offsets. A
consumer made again later (a stage restarted alone) starts there too and re-reads what its group
was sent since (`rereads_from_start`); a supervisor with no journal beside it starts its consumers
at the beginning (`start_from_beginning`), or where a stage's kept state says (bus/kafkastate.py).
The offsets of what each member has processed are committed to its consumer group
(`<prefix><stage>`), so `kafka-consumer-groups.sh --describe` and `run.py status` show every
stage's lag.

Fork safety: librdkafka clients own threads and must not cross a fork, so the bus builds its
producers and consumers lazily in the process that asks for them; the parent only uses
short-lived admin and metadata clients.
"""

from __future__ import annotations

import time
from collections import deque
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


def topic_configs(kafka) -> dict[str, str]:
    """The Kafka topic configuration the node's topics are created with."""
    return {
        "min.insync.replicas": str(min(kafka.min_insync_replicas, kafka.replication_factor)),
        "unclean.leader.election.enable": "false",  # a lagging replica never becomes leader: no lost acks
        # a stage restarted alone re-reads its input since the pipeline started (or, with no
        # Acquiring beside it, all of it): what it must re-read must still be there
        "retention.ms": str(kafka.retention_ms),
    }


def wait_for_leaders(admin, topics: dict[str, int], timeout: float = 30.0) -> None:
    """Until the metadata shows every partition of `topics` (name -> partitions) with a leader
    (topic creation is asynchronous); raises BusError on a partition count that differs."""
    deadline = time.monotonic() + timeout
    while True:
        meta = admin.list_topics(timeout=timeout).topics
        ready = True
        for name, partitions in topics.items():
            t = meta.get(name)
            if t is None or t.error or not t.partitions:
                ready = False
                continue
            if len(t.partitions) != partitions:
                raise BusError(f"Kafka topic {name} has {len(t.partitions)} partitions, expected {partitions} "
                               "(bus.partitions; a topic's partitions never change: use another topic_prefix)")
            ready = ready and all(p.leader >= 0 for p in t.partitions.values())
        if ready:
            return
        if time.monotonic() > deadline:
            raise BusError(f"Kafka topics {sorted(topics)} not ready after {timeout:.0f} s")
        time.sleep(0.1)


class KafkaBus(Bus):
    """Producers and consumers on one Kafka cluster for a wiring."""

    # a member killed by SIGKILL leaves no lock behind, but its stage's state must still come back
    # from the journal with everyone else's (the same recovery as shm): see the module docstring
    survives_member_death = False
    # the start offsets are the bus's, read once in the supervisor: a consumer made again in a
    # restarted stage process reads every message since the pipeline started once more
    rereads_from_start = True

    def __init__(self, wiring: Wiring, settings) -> None:
        self.wiring = wiring
        self.settings = settings.bus
        self.kafka = settings.kafka
        self.codec = Codec(self.kafka.codec)
        self.prefix = self.kafka.topic_prefix
        self.common = {"bootstrap.servers": self.kafka.bootstrap_servers}
        self._clients: list = []
        self.ensure_topics()
        #: (Kafka topic, partition) -> the offset consumers of this bus start at
        self.start_offsets = self.end_offsets()

    def kafka_topic(self, topic: str) -> str:
        """The Kafka topic a logical topic travels on."""
        return self.prefix + topic

    def ensure_topics(self) -> None:
        """Create the wiring's topics (or check existing ones have the wiring's partitions)."""
        ck = _kafka()
        admin = ck.admin.AdminClient(self.common)
        existing = admin.list_topics(timeout=30).topics
        new = [ck.admin.NewTopic(self.kafka_topic(t), num_partitions=n, replication_factor=self.kafka.replication_factor,
                                 config=topic_configs(self.kafka))
               for t, n in self.wiring.topics.items() if self.kafka_topic(t) not in existing]
        if new:
            for name, future in admin.create_topics(new, operation_timeout=30).items():
                try:
                    future.result()
                except ck.KafkaException as exc:
                    if exc.args[0].code() != ck.KafkaError.TOPIC_ALREADY_EXISTS:
                        raise BusError(f"cannot create Kafka topic {name}: {exc}") from None
        wait_for_leaders(admin, {self.kafka_topic(t): n for t, n in self.wiring.topics.items()})

    def end_offsets(self) -> dict[tuple[str, int], int]:
        """The current end offset of every partition of every topic."""
        ck = _kafka()
        probe = ck.Consumer(self.common | {"group.id": self.prefix + "probe", "enable.auto.commit": False})
        try:
            offsets = {}
            for topic, partitions in self.wiring.topics.items():
                name = self.kafka_topic(topic)
                for p in range(partitions):
                    deadline = time.monotonic() + 30
                    while True:
                        try:
                            offsets[name, p] = probe.get_watermark_offsets(ck.TopicPartition(name, p), timeout=30)[1]
                            break
                        except ck.KafkaException as exc:  # e.g. a new partition's leader still being elected
                            if time.monotonic() > deadline:
                                raise BusError(f"cannot read the end of {name}[{p}]: {exc}") from None
                            time.sleep(0.1)
            return offsets
        finally:
            probe.close()

    def start_from_beginning(self) -> None:
        """Consumers made from now on start at the first offset Kafka holds of every partition (a
        stage with no journal beside it rebuilds its state from all of its input)."""
        ck = _kafka()
        probe = ck.Consumer(self.common | {"group.id": self.prefix + "probe", "enable.auto.commit": False})
        try:
            for name, p in list(self.start_offsets):
                self.start_offsets[name, p] = probe.get_watermark_offsets(ck.TopicPartition(name, p), timeout=30)[0]
        finally:
            probe.close()

    def last_sequences(self, producer: str, window: int = 512) -> dict[tuple[str, int], int]:
        """(topic, partition) -> the sequence of the last entry `producer` has in Kafka there, for
        every partition of every topic that holds some of its entries. Reads each partition
        backwards, `window` messages at a time, until it meets one of that producer's batches."""
        ck = _kafka()
        found: dict[tuple[str, int], int] = {}
        probe = ck.Consumer(self.common | {"group.id": self.prefix + "probe", "enable.auto.commit": False,
                                           "enable.partition.eof": True})
        wanted = producer.encode()
        try:
            for topic, partitions in self.wiring.topics.items():
                name = self.kafka_topic(topic)
                for p in range(partitions):
                    low, high = probe.get_watermark_offsets(ck.TopicPartition(name, p), timeout=30)
                    end = high
                    while end > low and (topic, p) not in found:
                        start = max(low, end - window)
                        last = None
                        for m in _read_range(probe, ck.TopicPartition(name, p, start), end):
                            headers = m.headers() or []
                            if headers and headers[0] == ("p", wanted):
                                batch = self.codec.decode(m.value())
                                if batch.entries and batch.entries[-1].sequence:  # markers carry none
                                    last = batch.entries[-1].sequence
                        if last is not None:
                            found[topic, p] = last
                        end = start
            return found
        finally:
            probe.close()

    def producer(self, name: str) -> "KafkaProducer":
        producer = KafkaProducer(self, name)
        self._clients.append(producer)
        return producer

    def consumer(self, group: str, member: int, start: dict[tuple[str, int], int] | None = None) -> "KafkaConsumer":
        """`start`: (Kafka topic, partition) -> offset to start at instead of the bus's (a stage
        restored from a snapshot that names its input positions)."""
        try:
            topics, members = self.wiring.groups[group]
        except KeyError:
            raise KeyError(f"no consumer group member {group}[{member}] in this wiring") from None
        consumer = KafkaConsumer(self, group, member, topics, members, start or {})
        self._clients.append(consumer)
        return consumer

    def blobs(self):
        from .kafkastate import KafkaBlobs

        blobs = KafkaBlobs(self)
        self._clients.append(blobs)
        return blobs

    def close(self) -> None:
        for client in self._clients:
            client.close()
        self._clients.clear()


def _read_range(consumer, tp, end: int, timeout: float = 30.0):
    """The messages of tp from tp.offset up to `end` (exclusive), in order."""
    consumer.assign([tp])
    deadline = time.monotonic() + timeout
    offset = tp.offset
    try:
        while offset < end:
            if time.monotonic() > deadline:
                raise BusError(f"reading {tp.topic}[{tp.partition}] from {tp.offset} timed out at {offset} of {end}")
            for m in consumer.consume(num_messages=1000, timeout=0.5):
                if m.error() is not None:
                    continue  # end of partition
                if m.offset() >= end:
                    offset = end
                    break
                offset = m.offset() + 1
                yield m
    finally:
        consumer.unassign()


class KafkaProducer(Producer):
    def __init__(self, bus: KafkaBus, name: str) -> None:
        ck = _kafka()
        self.name = name
        self.partitions = bus.wiring.topics
        self._names = {t: bus.kafka_topic(t) for t in bus.wiring.topics}
        self._encode = bus.codec.encode
        self._limit = bus.settings.max_message_bytes
        self._timeout = bus.settings.put_timeout_s
        self._failed: list[str] = []
        self._header = ("p", name.encode())
        #: the topics whose order per partition number this producer keeps (module docstring)
        self._ordered = frozenset(bus.wiring.ordered.get(name.rpartition("-")[0], ()))
        self._pending: dict[tuple[str, int], int] = {}  # (topic, partition) -> messages not acknowledged
        self._acked: dict[tuple[str, int], int] = {}  # (topic, partition) -> offset of the last acknowledged
        self._p = ck.Producer(bus.common | {
            "enable.idempotence": True,  # acks=all, no reordering or duplicates on retry
            "acks": "all",
            "linger.ms": bus.kafka.linger_ms,
            "message.max.bytes": max(self._limit + 4096, 1_000_000),
            "client.id": name,
        })

    def _delivered(self, err, msg) -> None:
        if err is not None:
            self._failed.append(f"{msg.topic()}[{msg.partition()}]: {err}")
            return
        slot = (msg.topic(), msg.partition())
        self._pending[slot] -= 1
        if msg.offset() > self._acked.get(slot, -1):
            self._acked[slot] = msg.offset()

    def _after(self, name: str, partition: int) -> list[tuple[str, bytes]]:
        """Headers for a message to `name`[partition]: the producer, and for an ordered producer the
        acknowledged offsets of its messages to its other topics' same partition (after waiting
        for the ones in flight)."""
        headers = [self._header]
        if not self._ordered:
            return headers
        others = [t for t in self._ordered if self._names[t] != name]
        deadline = None
        while any(self._pending.get((self._names[t], partition)) for t in others):
            deadline = deadline or time.monotonic() + self._timeout
            if time.monotonic() > deadline:
                raise BusFull(f"{self.name}: Kafka did not acknowledge {name}[{partition}]'s predecessors "
                              f"within {self._timeout}s")
            self._p.poll(0.001)
            if self._failed:
                raise BusError(f"{self.name}: Kafka delivery failed: {self._failed[0]}")
        deps = [f"{t}={self._acked[self._names[t], partition]}" for t in others
                if (self._names[t], partition) in self._acked]
        if deps:
            headers.append(("d", ",".join(deps).encode()))
        return headers

    def publish_to(self, topic: str, partition: int, entries: list[ChangeLogEntry]) -> None:
        if not entries:
            return
        if self._failed:
            raise BusError(f"{self.name}: Kafka delivery failed: {self._failed[0]}")
        name = self._names[topic]
        headers = self._after(name, partition)
        slot = (name, partition)
        produce, poll = self._p.produce, self._p.poll
        for message in split_for_limit(self._encode, Batch(topic, partition, self.name, entries), self._limit):
            deadline = None
            while True:
                try:
                    produce(name, message, partition=partition, headers=headers, on_delivery=self._delivered)
                    self._pending[slot] = self._pending.get(slot, 0) + 1
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
    def __init__(self, bus: KafkaBus, group: str, member: int, topics: tuple[str, ...], members: int,
                 start: dict[tuple[str, int], int]) -> None:
        ck = _kafka()
        self._ck = ck
        self._max = bus.settings.batch_max
        self._decode = bus.codec.decode
        self._eof = ck.KafkaError._PARTITION_EOF
        self._c = ck.Consumer(bus.common | {
            "group.id": bus.prefix + group,
            # offsets are stored as messages are handed to the stage and committed every second,
            # for the lag tools: where to start is the supervisor's call (module docstring)
            "enable.auto.commit": True,
            "auto.commit.interval.ms": 1000,
            "enable.auto.offset.store": False,
            "fetch.wait.max.ms": 5,  # a stage waits in poll(); the broker should not hold fetches long
            "client.id": f"{group}-{member}",
        })
        self._prefix = bus.prefix
        wanted = bus.wiring.sources.get(group, {})
        #: Kafka topic -> the producer stages this group reads there (None: all)
        self._sources = {bus.kafka_topic(t): (frozenset(wanted[t]) if t in wanted else None) for t in topics}
        offsets = bus.start_offsets | start
        self._assigned = [ck.TopicPartition(bus.kafka_topic(t), p, offsets[bus.kafka_topic(t), p])
                          for t in topics for p in range(bus.wiring.topics[t]) if p % members == member]
        #: (Kafka topic, partition) -> the next offset to hand over (everything before it was)
        self._next = {(tp.topic, tp.partition): tp.offset for tp in self._assigned}
        #: (Kafka topic, partition) -> messages received but held until what they follow is handed over
        self._held: dict[tuple[str, int], deque] = {}
        self._stored: dict[tuple[str, int], int] = {}
        self._c.assign(self._assigned)
        self._closed = False

    def poll(self, timeout: float) -> Iterator[Batch]:
        # consume() would wait out its whole timeout unless the batch fills: wait for one message,
        # then take whatever else is already here
        self._store()  # the previous poll's batches were consumed: they count as processed
        first = self._c.poll(max(timeout, 0.0))
        if first is None:
            if self._held:
                yield from self._release()
            return
        messages = [first, *self._c.consume(num_messages=self._max - 1, timeout=0)] if self._max > 1 else [first]
        for m in messages:
            err = m.error()
            if err is not None:
                if err.code() == self._eof:
                    continue
                raise BusError(f"Kafka consumer error: {err}")
            slot = (m.topic(), m.partition())
            held = self._held.get(slot)
            if held is not None:  # behind a held message of its partition: it waits too
                held.append(m)
                continue
            if not self._ready(m):
                self._held[slot] = deque([m])
                continue
            batch = self._take(m)
            if batch is not None:
                yield batch
            if self._held:
                yield from self._release()

    def _ready(self, m) -> bool:
        """Whether every message `m` must follow (header `d`) has been handed over already."""
        headers = m.headers()
        if not headers or len(headers) < 2:
            return True
        partition, nexts = m.partition(), self._next
        for name, value in headers:
            if name != "d":
                continue
            for dep in value.decode().split(","):
                topic, _, offset = dep.rpartition("=")
                slot = (self._prefix + topic, partition)
                if slot in nexts and nexts[slot] <= int(offset):
                    return False
        return True

    def _take(self, m) -> Batch | None:
        """Hand `m` over: its batch, or None when its producer is not one this group reads."""
        name = m.topic()
        self._next[name, m.partition()] = m.offset() + 1
        sources = self._sources[name]
        if sources is not None:
            headers = m.headers()
            producer = headers[0][1].decode() if headers else ""
            if producer.rpartition("-")[0] not in sources:
                return None  # e.g. Match's own OrderChangeLog output coming back to it: undecoded
        return self._decode(m.value())

    def _release(self) -> Iterator[Batch]:
        """Hand over held messages whose predecessors have been handed over, until none is left
        that can go."""
        progress = True
        while progress and self._held:
            progress = False
            for slot in list(self._held):
                held = self._held[slot]
                while held and self._ready(held[0]):
                    batch = self._take(held.popleft())
                    progress = True
                    if batch is not None:
                        yield batch
                if not held:
                    del self._held[slot]

    def _store(self) -> None:
        """Store the offsets handed over since the last call, for the next auto-commit."""
        changed = [self._ck.TopicPartition(t, p, o) for (t, p), o in self._next.items()
                   if o >= 0 and self._stored.get((t, p)) != o]
        if changed:
            try:
                self._c.store_offsets(offsets=changed)
            except self._ck.KafkaException:  # e.g. a partition being reassigned: the next poll stores it
                return
            for tp in changed:
                self._stored[tp.topic, tp.partition] = tp.offset

    def commit(self) -> None:
        self._store()

    def positions(self) -> dict[tuple[str, int], int]:
        """(Kafka topic, partition) -> the next offset to hand over: everything before it was."""
        return dict(self._next)

    def depth(self) -> int:
        """Messages behind the partitions' high watermarks (from the last fetch; no round trip)."""
        lag = 0
        for (topic, partition), offset in self._next.items():
            if offset >= 0:
                _low, high = self._c.get_watermark_offsets(self._ck.TopicPartition(topic, partition), cached=True)
                if high >= 0:
                    lag += max(0, high - offset)
        return lag

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                self._store()
                self._c.commit(asynchronous=False)
            except self._ck.KafkaException:
                pass  # nothing processed, or the cluster is gone: the lag tools see the last commit
            self._c.close()
