"""The command log in Kafka: every accepted command on a replicated topic before its client is answered.

Over Kafka (`bus.transport = "kafka"`, `kafka.command_log = true`) Acquiring's journal is mirrored
to `<kafka.topic_prefix>CommandLog`: one partition (one writer, and the order is the journal's),
`kafka.replication_factor` replicas, `min.insync.replicas` = `kafka.min_insync_replicas`, unclean
leader election off, kept forever (a node on a new machine replays it from position 1). A record's
key is its journal position (8 bytes, big-endian), its value the journal payload, byte for byte.

`KafkaJournal` wraps the local `Journal` with the same interface: `append` frames the command
locally and hands it to an idempotent acks=all producer; `sync` returns once the local policy
(journal.fsync) is met *and* the cluster's in-sync replicas have every record up to there. So an
acknowledged command is on at least `min_insync_replicas` brokers, whatever happens to this box.

`reconcile` runs in the supervisor before every recovery, so the two logs agree before a replay:
records the cluster has and the local journal lacks (a new machine, an empty or lost data dir,
a disk that lost its last writes) are copied into the local journal; records the local journal has
and the cluster lacks (written here, never acknowledged: the process died waiting for the cluster)
are sent to the cluster. Then the journal replay rebuilds every stage as before (runtime/recovery.py).

Not built: fencing this log's writer. With `kafka.transactions` a newer Acquiring fences an older
one's change-log producer (its next publish fails and it stops), but this log's producer is not
transactional: a zombie Acquiring could still append, and answer, a command between its journal's
sync and that failed publish, which the newer one never reads (one Acquiring per node is still the
operator's to ensure). Account registrations (accounts.sqlite) stay local to the box.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import threading
import time
from pathlib import Path

from .bus.kafkaclients import kafka_lib
from .journal import Journal, JournalError

log = logging.getLogger("spot_seda.commandlog")

TOPIC = "CommandLog"
_KEY = struct.Struct(">Q")


def topic_name(settings) -> str:
    return settings.kafka.topic_prefix + TOPIC


def enabled(settings) -> bool:
    return settings.bus.transport == "kafka" and settings.kafka.command_log


def ensure_topic(settings) -> None:
    """Create the command log topic if it is missing (1 partition, replicated, kept forever)."""
    ck = kafka_lib()
    kafka = settings.kafka
    admin = ck.admin.AdminClient({"bootstrap.servers": kafka.bootstrap_servers})
    name = topic_name(settings)
    if name in admin.list_topics(timeout=30).topics:
        return
    config = {
        "min.insync.replicas": str(min(kafka.min_insync_replicas, kafka.replication_factor)),
        "unclean.leader.election.enable": "false",
        "retention.ms": "-1", "retention.bytes": "-1",  # the source of truth: never aged out
    }
    new = ck.admin.NewTopic(name, num_partitions=1, replication_factor=kafka.replication_factor, config=config)
    try:
        admin.create_topics([new], operation_timeout=30)[name].result()
    except ck.KafkaException as exc:
        if exc.args[0].code() != ck.KafkaError.TOPIC_ALREADY_EXISTS:
            raise JournalError(f"cannot create the command log topic {name}: {exc}") from None
    deadline = time.monotonic() + 30
    while True:  # creation is asynchronous
        meta = admin.list_topics(name, timeout=30).topics.get(name)
        if meta is not None and not meta.error and meta.partitions and meta.partitions[0].leader >= 0:
            return
        if time.monotonic() > deadline:
            raise JournalError(f"the command log topic {name} has no leader after 30 s")
        time.sleep(0.1)


def _producer(settings, name: str):
    ck = kafka_lib()
    kafka = settings.kafka
    return ck.Producer({
        "bootstrap.servers": kafka.bootstrap_servers,
        "enable.idempotence": True, "acks": "all",  # in order, once, on the in-sync replicas
        "linger.ms": kafka.linger_ms,
        "client.id": name,
    })


def _read(settings, after: int):
    """(position, payload) of the cluster's records past position `after`, oldest first, and the
    cluster's last position (0: the log is empty)."""
    ck = kafka_lib()
    name = topic_name(settings)
    consumer = ck.Consumer({"bootstrap.servers": settings.kafka.bootstrap_servers, "group.id": name + ".reader",
                            "enable.auto.commit": False, "enable.partition.eof": True})
    try:
        tp = ck.TopicPartition(name, 0)
        deadline = time.monotonic() + 30
        while True:
            try:
                low, high = consumer.get_watermark_offsets(tp, timeout=30)
                break
            except ck.KafkaException as exc:  # a new topic's leader still being elected, or moving
                if time.monotonic() > deadline:
                    raise JournalError(f"cannot read the end of the command log {name}: {exc}") from None
                time.sleep(0.2)
        if high <= low:
            return [], 0
        last = _position_at(consumer, tp, high - 1)
        if last <= after:
            return [], last
        # positions are consecutive from the first record: jump straight to `after` + 1
        start = max(low, high - (last - after))
        records = _read_from(consumer, tp, start, high)
        if not records or records[0][0] > after + 1:
            records = _read_from(consumer, tp, low, high)
        return [(pos, value) for pos, value in records if pos > after], last
    finally:
        consumer.close()


def _position_at(consumer, tp, offset: int) -> int:
    records = _read_from(consumer, type(tp)(tp.topic, tp.partition), offset, offset + 1)
    if not records:
        raise JournalError(f"cannot read the command log's record at offset {offset}")
    return records[0][0]


def _read_from(consumer, tp, start: int, end: int) -> list[tuple[int, bytes]]:
    tp = type(tp)(tp.topic, tp.partition, start)
    consumer.assign([tp])
    out: list[tuple[int, bytes]] = []
    deadline = time.monotonic() + 60
    next_offset = start
    while next_offset < end:
        if time.monotonic() > deadline:
            raise JournalError(f"reading the command log from offset {start} timed out at {next_offset} of {end}")
        for m in consumer.consume(num_messages=10000, timeout=0.5):
            if m.error() is not None:
                if m.error().code() == kafka_lib().KafkaError._PARTITION_EOF:
                    continue
                raise JournalError(f"reading the command log failed: {m.error()}")
            if m.offset() >= end:
                continue
            out.append((_KEY.unpack(m.key())[0], m.value()))
            next_offset = m.offset() + 1
    consumer.unassign()
    return out


def reconcile(settings, directory: Path) -> tuple[int, int]:
    """Make the local journal in `directory` and the cluster's command log hold the same records
    (module docstring). Returns (records copied from the cluster, records sent to it)."""
    ensure_topic(settings)
    journal = Journal(directory, fsync="off", segment_bytes=settings.journal.segment_bytes)  # close() fsyncs
    try:
        local = journal.last_position
        missing, last = _read(settings, local)
        pulled = pushed = 0
        for position, payload in missing:
            if position != journal.next_position:
                raise JournalError(f"the command log in Kafka jumps to position {position} where the local "
                                   f"journal expects {journal.next_position}")
            journal.append(payload)
            pulled += 1
        if pulled:
            journal.commit()
        if local > last:
            first = Journal.first_on_disk(directory)
            if first > last + 1:
                log.warning("the command log in Kafka ends at %d, the local journal's segments start at %d: "
                            "the cluster's log will start late (a node on a new machine cannot replay it whole)",
                            last, first)
            producer = _producer(settings, "commandlog-reconcile")
            for position, payload in Journal.read(directory, last + 1):
                producer.produce(topic_name(settings), payload, _KEY.pack(position), partition=0)
                producer.poll(0)
                pushed += 1
            if producer.flush(60):
                raise JournalError("the cluster did not take the local journal's tail within 60 s")
    finally:
        journal.close()
    if pulled or pushed:
        log.info("🧾 command log: %d record(s) copied from Kafka %s, %d sent to it",
                 pulled, topic_name(settings), pushed)
    return pulled, pushed


class KafkaJournal:
    """A local Journal whose records also go to the cluster; `sync` waits for both (module docstring).

    Everything else (positions, truncation, reading) is the local journal's."""

    def __init__(self, journal: Journal, settings, name: str = "acquiring") -> None:
        ensure_topic(settings)
        self.local = journal
        self._topic = topic_name(settings)
        self._p = _producer(settings, name + "-commandlog")
        self._acked = journal.last_position  # reconcile() left the cluster holding everything local
        self._failed: str | None = None
        self._waiters: list[tuple[int, asyncio.Future]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._poller = threading.Thread(target=self._poll, name="commandlog", daemon=True)
        self._poller.start()

    def __getattr__(self, name):  # last_position, truncate_before, read ... are the local journal's
        return getattr(self.local, name)

    def append(self, payload: bytes) -> int:
        position = self.local.append(payload)
        while True:
            try:
                self._p.produce(self._topic, payload, _KEY.pack(position), partition=0, on_delivery=self._delivered)
                return position
            except BufferError:  # librdkafka's queue is full: the poller thread drains it
                time.sleep(0.001)

    def append_many(self, payloads) -> int:
        for payload in payloads:
            self.append(payload)
        return self.local.last_position

    def _delivered(self, err, msg) -> None:  # on the poller thread
        with self._lock:
            if err is not None:
                self._failed = f"{msg.topic()}: {err}"
            else:
                self._acked = max(self._acked, _KEY.unpack(msg.key())[0])
        loop = self._loop
        if loop is not None:
            loop.call_soon_threadsafe(self._wake)

    def _poll(self) -> None:
        while not self._closed:
            self._p.poll(0.05)

    def _wake(self) -> None:
        with self._lock:
            acked, failed = self._acked, self._failed
        keep = []
        for target, future in self._waiters:
            if future.done():
                continue
            if failed is not None:
                future.set_exception(JournalError(f"the command log in Kafka failed: {failed}"))
            elif acked >= target:
                future.set_result(None)
            else:
                keep.append((target, future))
        self._waiters = keep

    async def sync(self) -> int:
        """Wait until every record appended so far is durable here (journal.fsync) and on the
        cluster's in-sync replicas; returns the last such position."""
        target = await self.local.sync()
        self._loop = asyncio.get_running_loop()
        with self._lock:
            if self._failed is not None:
                raise JournalError(f"the command log in Kafka failed: {self._failed}")
            if self._acked >= target:
                return target
        future = self._loop.create_future()
        self._waiters.append((target, future))
        self._wake()  # in case it was acknowledged in between
        await asyncio.shield(future)
        return target

    def commit(self) -> int:
        """Blocking: the local commit, then every record on the cluster."""
        target = self.local.commit()
        if self._p.flush(60):
            raise JournalError("the command log in Kafka did not take the records within 60 s")
        if self._failed is not None:
            raise JournalError(f"the command log in Kafka failed: {self._failed}")
        return target

    flush = commit

    def close(self) -> None:
        try:
            self._p.flush(10)
        finally:
            self._closed = True
            self._poller.join(1)
            self.local.close()
