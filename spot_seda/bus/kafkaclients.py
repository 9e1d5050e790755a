"""The Kafka transport's clients (bus/kafka.py is the bus and its topics): the producer that keeps a
stage's order across its topics per partition number (header `d`, the offsets it must follow) and
names itself in header `p`; the consumer that reads a group member's partitions of every topic,
drops the producers its group does not read, holds a message until the offsets in its `d` header
are consumed, and commits what it processed; and the admin helpers the bus and bus/kafkastate.py
share (topic configuration, waiting for leaders). See bus/kafka.py's docstring for the design.

Transactions (kafka.transactions): the producer's `transactional.id` is the topic prefix and the
stage instance ("spot_seda.match-0"); building it calls init_transactions, which aborts what an
older incarnation left open and fences that incarnation off (its next send or commit fails with
Fenced). A transaction opens at the first message of a unit of work and `commit(consumer)` ends
it, with the consumer's positions sent to its group in the same transaction
(send_offsets_to_transaction): the outputs of an input batch and the offsets past that batch
become visible together, and consumers (isolation.level=read_committed) never see the outputs of
a transaction that was aborted or never committed.

Fork safety: librdkafka clients own threads and must not cross a fork; the bus builds these lazily
in the process that asks for them.

librdkafka's own log lines (a broker that does not answer, a connection reset) go through Python's
logging as `spot_seda.kafka.client`, formatted like the node's other lines, and each one at most
once per `REPEAT_S` per client and broker (librdkafka retries a lost broker every 50 ms or so and
would say so each time): every client is made from `client_config`.
"""

from __future__ import annotations

import logging
import re
import time
from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..model.changelog import Batch, ChangeLogEntry
from .base import BusError, BusFull, Consumer, Fenced, Producer, split_for_limit

if TYPE_CHECKING:
    from .kafka import KafkaBus


def kafka_lib():
    """The confluent_kafka module (with its admin client), imported when Kafka is used: an extra."""
    try:
        import confluent_kafka
        import confluent_kafka.admin  # noqa: F401  (ck.admin below)
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise BusError("bus.transport = 'kafka' needs the confluent-kafka package") from exc
    return confluent_kafka


#: a line librdkafka repeats is logged again only after this many seconds, with how many were left out
REPEAT_S = 10.0
#: how long librdkafka says something took ("Connect to ... failed: Connection refused (after 0ms in
#: state CONNECT)"): not part of what makes two of its lines the same (on a loaded box 0ms, then 1ms)
_DURATION = re.compile(r"\b\d+ms\b")


class _Repeats(logging.Filter):
    """Lets a librdkafka line through once per REPEAT_S (the same text but for the durations in it:
    same client, broker and error); the next one that passes says how many like it were left out
    meanwhile."""

    def __init__(self) -> None:
        super().__init__()
        self._seen: dict[str, list] = {}  # text -> [when it last passed, how many left out since]

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        key = _DURATION.sub("ms", text)
        now = time.monotonic()
        seen = self._seen.get(key)
        if seen is not None and now - seen[0] < REPEAT_S:
            seen[1] += 1
            return False
        if seen is not None and seen[1]:
            record.msg, record.args = "%s (%d more like it in %.0f s)", (text, seen[1], now - seen[0])
        if len(self._seen) >= 1000:  # (bounded: a stream of distinct lines starts counting afresh)
            self._seen.clear()
        self._seen[key] = [now, 0]
        return True


CLIENT_LOG = logging.getLogger("spot_seda.kafka.client")
CLIENT_LOG.addFilter(_Repeats())


def client_config(bootstrap_servers: str, **settings) -> dict:
    """The configuration every librdkafka client here starts from: the cluster, and its log lines
    into Python's logging (module docstring); `settings` are librdkafka's, e.g. group.id."""
    return {"bootstrap.servers": bootstrap_servers, "logger": CLIENT_LOG, **settings}


def available(consumer, most: int, timeout: float = 0.5) -> list:
    """The next message (waiting up to `timeout`) and whatever else is already fetched, up to
    `most`: consume() alone would wait out its whole timeout unless `most` messages come."""
    first = consumer.poll(timeout)
    return [] if first is None else [first, *consumer.consume(num_messages=most - 1, timeout=0)]


def watermarks(consumer, tp, retry=lambda exc: True, timeout: float = 30.0, pause: float = 0.2) -> tuple[int, int]:
    """(low, high) offsets of `tp` (high: the last stable offset for a read_committed consumer). A
    failure `retry(exc)` accepts (a topic just made, its leader being elected or moving) is asked
    again for up to `timeout`; past it, or for another failure, the KafkaException is raised."""
    ck = kafka_lib()
    deadline = time.monotonic() + timeout
    while True:
        try:
            return consumer.get_watermark_offsets(tp, timeout=timeout)
        except ck.KafkaException as exc:
            if not retry(exc) or time.monotonic() > deadline:
                raise
            time.sleep(pause)


def read_range(consumer, tp, end: int, timeout: float = 30.0):
    """The messages of tp from tp.offset up to `end` (exclusive), in order."""
    consumer.assign([tp])
    deadline = time.monotonic() + timeout
    offset = tp.offset
    try:
        while offset < end:
            if time.monotonic() > deadline:
                raise BusError(f"reading {tp.topic}[{tp.partition}] from {tp.offset} timed out at {offset} of {end}")
            for m in available(consumer, 1000):
                if m.error() is not None:  # end of partition: past `end` when its last offsets are
                    if m.offset() >= end:  # transaction markers or aborted messages, never handed over
                        offset = end
                        break
                    continue
                if m.offset() >= end:
                    offset = end
                    break
                offset = m.offset() + 1
                yield m
    finally:
        consumer.unassign()


def topic_configs(kafka) -> dict[str, str]:
    """The Kafka topic configuration the node's topics are created with."""
    return {
        "min.insync.replicas": str(min(kafka.min_insync_replicas, kafka.replication_factor)),
        "unclean.leader.election.enable": "false",  # a lagging replica never becomes leader: no lost acks
        # a stage restarted alone re-reads its input since the pipeline started (or, with no
        # Acquiring beside it, all of it): what it must re-read must still be there
        "retention.ms": str(kafka.retention_ms),
    }


def create_topics(admin, topics: list, error: type[Exception] = BusError, timeout: float = 30.0) -> None:
    """Create `topics` (NewTopic); one that exists already (another machine made it meanwhile) counts
    as made; any other failure raises `error`. Each result is read with Future.exception(), never
    raised here: a raised exception's traceback would hold this frame, and the frame (through the
    loop's last future, which holds that exception) the AdminClient, in a cycle that outlives the
    call. A stage process forked from the supervisor before its collector broke the cycle
    inherited that librdkafka handle, and freeing it there waited forever for a thread fork does
    not copy: a Match taken over on another machine froze (BENCHMARKS.md, "Failover")."""
    ck = kafka_lib()
    for name, future in admin.create_topics(topics, operation_timeout=timeout).items():
        failure = future.exception()
        if failure is None:
            continue
        if not (isinstance(failure, ck.KafkaException) and failure.args[0].code() == ck.KafkaError.TOPIC_ALREADY_EXISTS):
            raise error(f"cannot create Kafka topic {name}: {failure}")


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


class KafkaProducer(Producer):
    def __init__(self, bus: KafkaBus, name: str) -> None:
        ck = kafka_lib()
        self.name = name
        self.partitions = bus.wiring.topics
        self._names = {t: bus.kafka_topic(t) for t in bus.wiring.topics}
        self._encode = bus.codec.encode
        self._limit = bus.settings.max_message_bytes
        self._timeout = bus.kafka.ack_timeout_s
        self._failed: list[str] = []
        self._header = ("p", name.encode())
        #: the topics whose order per partition number this producer keeps (module docstring)
        self._ordered = frozenset(bus.wiring.ordered.get(name.rpartition("-")[0], ()))
        self._pending: dict[tuple[str, int], int] = {}  # (topic, partition) -> messages not acknowledged
        self._acked: dict[tuple[str, int], int] = {}  # (topic, partition) -> offset of the last acknowledged
        config = bus.common | {
            "enable.idempotence": True,  # acks=all, no reordering or duplicates on retry
            "acks": "all",
            "linger.ms": bus.kafka.linger_ms,
            "message.max.bytes": max(self._limit + 4096, 1_000_000),
            "client.id": name,
        }
        self._transactional = bus.kafka.transactions
        self._in_transaction = False
        if self._transactional:
            # a transaction left open by a process that died holds back read_committed consumers
            # until it times out (or the instance's next incarnation aborts it at its start)
            config |= {"transactional.id": bus.prefix + name, "transaction.timeout.ms": 10_000}
        self._p = ck.Producer(config)
        if self._transactional:
            try:
                self._p.init_transactions(self._timeout)
            except ck.KafkaException as exc:
                raise self._failure(exc) from None

    def _delivered(self, err, msg) -> None:
        if err is not None:
            self._failed.append(f"{msg.topic()}[{msg.partition()}]: {err}")
            return
        slot = (msg.topic(), msg.partition())
        self._pending[slot] -= 1
        if msg.offset() > self._acked.get(slot, -1):
            self._acked[slot] = msg.offset()

    def _poll(self, timeout: float) -> None:
        """Serve delivery reports; a fatal error surfacing here (a transactional producer fenced off
        while it waited) is the same Fenced as at a send or a commit."""
        try:
            self._p.poll(timeout)
        except kafka_lib().KafkaException as exc:
            raise self._failure(exc) from None

    def _after(self, name: str, partition: int) -> list[tuple[str, bytes]]:
        """Headers for a message to `name`[partition]: the producer, and for an ordered producer the
        acknowledged offsets of its messages to its other topics' same partition (after waiting
        for the ones in flight)."""
        headers = [self._header]
        if not self._ordered:
            return headers
        others = [t for t in self._ordered if self._names[t] != name]
        deadline = beat = None
        while any(self._pending.get((self._names[t], partition)) for t in others):
            now = time.monotonic()
            deadline = deadline or now + self._timeout
            if now > deadline:
                raise BusFull(f"{self.name}: Kafka did not acknowledge {name}[{partition}]'s predecessors "
                              f"within {self._timeout}s (kafka.ack_timeout_s)")
            if self.keepalive is not None and (beat is None or now - beat > 0.5):  # (a broker failing over)
                self.keepalive()
                beat = now
            self._poll(0.001)
            if self._failed:
                raise self._delivery_failure()
        deps = [f"{t}={self._acked[self._names[t], partition]}" for t in others
                if (self._names[t], partition) in self._acked]
        if deps:
            headers.append(("d", ",".join(deps).encode()))
        return headers

    def _delivery_failure(self) -> BusError:
        """The BusError for messages whose delivery failed. In a transaction it is aborted first,
        and the abort says whether a newer incarnation took over: a stage stopped and resumed
        (SIGSTOP, a paused VM) may hear of its successor first from the reports of messages it had
        in flight, timed out or refused, and restarting it then would fence the successor off."""
        failure = BusError(f"{self.name}: Kafka delivery failed: {self._failed[0]}")
        if self._in_transaction:
            try:
                self._again(self._p.abort_transaction, self._timeout)
                self._in_transaction = False
            except kafka_lib().KafkaException as exc:
                if isinstance(fenced := self._failure(exc), Fenced):
                    return fenced
        return failure

    def _again(self, call, *args):
        """`call(*args)` (a transactional call of the producer), made again while librdkafka says the
        error is retriable, up to kafka.ack_timeout_s. CONCURRENT_TRANSACTIONS is what a producer
        resumed in the middle of a takeover hears while the coordinator is still aborting its
        transaction for the newcomer: taken for a plain failure it restarted this incarnation, whose
        restart fenced the newcomer off; asked again, it hears that it was fenced."""
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                return call(*args)
            except kafka_lib().KafkaException as exc:
                err = exc.args[0]
                if err.fatal() or err.txn_requires_abort() or time.monotonic() > deadline or not (
                        err.retriable() or err.code() == kafka_lib().KafkaError.CONCURRENT_TRANSACTIONS):
                    raise
                time.sleep(0.1)

    def _failure(self, exc) -> BusError:
        """The BusError for a KafkaException: Fenced when a newer incarnation took over."""
        err = exc.args[0]
        ck = kafka_lib()
        if err.fatal() or err.code() in (ck.KafkaError.PRODUCER_FENCED, ck.KafkaError._FENCED, ck.KafkaError._FATAL,
                                         ck.KafkaError.INVALID_PRODUCER_EPOCH):
            return Fenced(f"{self.name}: fenced off by a newer incarnation, or failed for good: {err}")
        return BusError(f"{self.name}: Kafka transaction failed: {err}")

    def publish_to(self, topic: str, partition: int, entries: list[ChangeLogEntry]) -> None:
        if not entries:
            return
        if self._failed:
            raise self._delivery_failure()
        if self._transactional and not self._in_transaction:
            try:
                self._p.begin_transaction()
            except kafka_lib().KafkaException as exc:
                raise self._failure(exc) from None
            self._in_transaction = True
        name = self._names[topic]
        headers = self._after(name, partition)
        slot = (name, partition)
        produce, poll = self._p.produce, self._poll
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
                except kafka_lib().KafkaException as exc:  # a transactional producer fenced off
                    raise self._failure(exc) from None
        poll(0)  # serve delivery reports

    def flush(self, timeout: float | None = None) -> None:
        if self._in_transaction:
            self.commit()
            return
        left = self._p.flush(self._timeout if timeout is None else timeout)
        if left:
            raise BusError(f"{self.name}: {left} Kafka messages not delivered within the flush timeout")
        if self._failed:
            raise BusError(f"{self.name}: Kafka delivery failed: {self._failed[0]}")

    def commit(self, consumer: "Consumer | None" = None) -> None:
        if not self._in_transaction:  # nothing written since the last commit: the consumer's own commits
            if consumer is not None:
                consumer.commit()
            return
        ck = kafka_lib()
        try:
            if consumer is not None and (offsets := consumer.transaction_offsets()):
                self._again(self._p.send_offsets_to_transaction, offsets, consumer.group_metadata(), self._timeout)
            self._again(self._p.commit_transaction, self._timeout)  # flushes first: every message acknowledged
        except ck.KafkaException as exc:
            failure = self._failure(exc)
            if not isinstance(failure, Fenced) and exc.args[0].txn_requires_abort():
                # abortable: abort it, and the abort says whether a newer incarnation took over (a
                # commit racing a takeover was once answered UNKNOWN_SERVER_ERROR; taken for a plain
                # failure, it restarted this incarnation, whose restart fenced the newcomer off)
                try:
                    self._again(self._p.abort_transaction, self._timeout)
                    self._in_transaction = False
                except ck.KafkaException as again:
                    if isinstance(fenced := self._failure(again), Fenced):
                        failure = fenced
            raise failure from None
        self._in_transaction = False
        if self._failed:
            raise BusError(f"{self.name}: Kafka delivery failed: {self._failed[0]}")

    def close(self) -> None:
        if not self._in_transaction:
            self._p.flush(self._timeout)
            return
        self._in_transaction = False
        try:
            self._p.abort_transaction(self._timeout)  # left by a failure: nothing of it may be seen
        except kafka_lib().KafkaException:
            pass  # fenced off, or the cluster is gone: the transaction times out (or was aborted already)


class KafkaConsumer(Consumer):
    def __init__(self, bus: KafkaBus, group: str, member: int, topics: tuple[str, ...], members: int,
                 start: dict[tuple[str, int], int]) -> None:
        ck = kafka_lib()
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
            # (librdkafka's default, said here) the broker answers a fetch as soon as there is
            # anything to read, so this only bounds an empty one: at 5 ms an idle node's consumers
            # sent each broker some 200 fetches a second apiece, and an idle node over Kafka took
            # 12-26% of a core and its brokers one to one and a half more (BENCHMARKS.md, "Idle")
            "fetch.wait.max.ms": 500,
            "client.id": f"{group}-{member}",
            # librdkafka's default, said here: only committed transactions' messages are read (the
            # same as read_uncommitted while no producer is transactional)
            "isolation.level": "read_committed",
        })
        self._prefix = bus.prefix
        self._transactions = bus.kafka.transactions  # the producers write transaction markers
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

    def _past_markers(self) -> dict[tuple[str, int], int]:
        """`_next`, moved past what librdkafka never hands over (transaction markers, aborted
        messages) in the partitions that hold nothing back: else a partition a transactional
        producer wrote would always look one message behind its end."""
        if not self._transactions:
            return self._next
        ahead = {(tp.topic, tp.partition): tp.offset for tp in self._c.position(self._assigned)}
        return {slot: o if slot in self._held else max(o, ahead.get(slot, -1)) for slot, o in self._next.items()}

    def transaction_offsets(self) -> list:
        """The positions handed over since the last call, as a producer's transaction sends them
        to this consumer's group (send_offsets_to_transaction)."""
        changed = [self._ck.TopicPartition(t, p, o) for (t, p), o in self._past_markers().items()
                   if o >= 0 and self._stored.get((t, p)) != o]
        for tp in changed:
            self._stored[tp.topic, tp.partition] = tp.offset
        return changed

    def group_metadata(self):
        return self._c.consumer_group_metadata()

    def positions(self) -> dict[tuple[str, int], int]:
        """(Kafka topic, partition) -> the next offset to hand over: everything before it was."""
        return dict(self._next)

    def depth(self) -> int:
        """Messages behind the partitions' high watermarks (from the last fetch; no round trip)."""
        lag = 0
        for (topic, partition), offset in self._past_markers().items():
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
