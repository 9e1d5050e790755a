"""The command log in Kafka: every accepted command on a replicated topic before its client is answered.

Over Kafka (`bus.transport = "kafka"`, `kafka.command_log = true`) Acquiring's journal is mirrored
to `<kafka.topic_prefix>CommandLog`: one partition (one writer, and the order is the journal's),
`kafka.replication_factor` replicas, `min.insync.replicas` = `kafka.min_insync_replicas`, unclean
leader election off, kept forever (a node on a new machine replays it from position 1). A record's
key is its journal position (8 bytes, big-endian), its value the journal payload, byte for byte.

`KafkaJournal` (spot_seda/kafkajournal.py) wraps the local `Journal` with the same interface:
`append` frames the command locally; `sync` writes it locally, then hands it to the cluster, and
returns once the local policy (journal.fsync) is met *and* the cluster has committed every record
up to there on its in-sync replicas. So an acknowledged command is on at least
`min_insync_replicas` brokers, whatever happens to this box; and since a record reaches the
cluster only once its journal has written it, the log never holds more of a writer's records than
its journal: a log longer than a dead Acquiring's journal means another writer took over since
(`superseded`), and its supervisor leaves it stopped rather than take the log back.

One writer, fenced. The log's producer is transactional, with one `transactional.id` for the log
(its topic name), and a committer thread commits the records appended since its last transaction
in one (a group commit: one EndTxn round trip per group). Every writer's start (`reconcile`, then
`KafkaJournal`) calls init_transactions, which aborts what an older writer left open and fences
it off: a stopped Acquiring resumed after a newer one started (a zombie) fails at its next commit
(CommandLogFenced), answers nobody, and exits with FENCED_EXIT, which its supervisor does not
restart. Readers are read_committed, so its aborted or unfinished transactions never reach the log.
A new writer then checks that the log ends where its journal does (else another writer appended
after its recovery read the log: it fails, and is recovered again).

`reconcile` runs in the supervisor before every recovery, so the two logs agree before a replay:
it fences older writers off first, then records the cluster has and the local journal lacks (a new
machine, an empty or lost data dir, a disk that lost its last writes) are copied into the local
journal; records the local journal has and the cluster lacks (written here, never acknowledged: the
process died waiting for the cluster) are sent to the cluster. A local journal whose last record
shared with the cluster differs from the cluster's (a zombie's journal: after a newer writer took
over, its own last records were never acknowledged) is refused (CommandLogDiverged), never merged.
Then the journal replay rebuilds every stage as before (runtime/recovery.py).

The account registry rides the same writer (spot_seda/accountlog.py): each registration is a record
of the compacted topic `<kafka.topic_prefix>Accounts`, committed in the log's next transaction
(`commit_records`' `beside`, `KafkaJournal.send_beside`) before the admin endpoint answers, so it
is fenced like a command; `accountlog.reconcile` runs right after `reconcile`, so a node on an
empty data dir gets every account and API key back as well as every command.
"""

from __future__ import annotations

import logging
import struct
import time
from pathlib import Path

from .bus.kafkaclients import available, client_config, create_topics, kafka_lib, wait_for_leaders, watermarks
from .journal import Journal, JournalError

log = logging.getLogger("spot_seda.commandlog")


class CommandLogFenced(JournalError):
    """A newer writer of the command log took over: this one must append nothing more, and stop."""


class CommandLogDiverged(JournalError):
    """The local journal holds records at positions the cluster's log holds others at."""


TOPIC = "CommandLog"
_KEY = struct.Struct(">Q")


def topic_name(settings) -> str:
    return settings.kafka.topic_prefix + TOPIC


def enabled(settings) -> bool:
    return settings.bus.transport == "kafka" and settings.kafka.command_log


def ensure_topic(settings, name: str | None = None, compacted: bool = False) -> None:
    """Create the command log topic if it is missing (1 partition, replicated, kept forever); or
    the topic `name`, configured alike, which the log's writer also writes (`compacted`: only
    each key's latest record is kept: spot_seda/accountlog.py's registry)."""
    ck = kafka_lib()
    kafka = settings.kafka
    admin = ck.admin.AdminClient(client_config(kafka.bootstrap_servers))
    name = name or topic_name(settings)
    if name in admin.list_topics(timeout=kafka.request_timeout_s).topics:
        return
    config = {
        "min.insync.replicas": str(min(kafka.min_insync_replicas, kafka.replication_factor)),
        "unclean.leader.election.enable": "false",
        "retention.ms": "-1", "retention.bytes": "-1",  # the source of truth: never aged out
    }
    if compacted:
        config["cleanup.policy"] = "compact"
    new = ck.admin.NewTopic(name, num_partitions=1, replication_factor=kafka.replication_factor, config=config)
    create_topics(admin, [new], JournalError)
    wait_for_leaders(admin, {name: 1})  # creation is asynchronous


def fenced_writer(settings, name: str):
    """The log's writer: idempotent, acks=all, and transactional under the log's one
    transactional.id, so building it fences every older writer off (module docstring)."""
    ck = kafka_lib()
    kafka = settings.kafka
    producer = ck.Producer(client_config(kafka.bootstrap_servers, **{
        "enable.idempotence": True, "acks": "all",  # in order, once, on the in-sync replicas
        "linger.ms": kafka.linger_ms,
        "client.id": name,
        "transactional.id": topic_name(settings),
        # a transaction left open by a writer that died holds readers back until then (or until
        # the next writer's init_transactions aborts it, which every start does first); it also
        # bounds how long a record may wait for a broker (message.timeout.ms follows it), and at
        # 10 s a broker's failover on a loaded box timed the log's records out and failed the
        # writer for good (INVALID_TXN_STATE at the abort): a minute, Kafka's default
        "transaction.timeout.ms": 60_000,
    }))
    try:
        producer.init_transactions(30)
    except ck.KafkaException as exc:
        raise _failure(exc) from None
    return producer


def _failure(exc) -> JournalError:
    """The JournalError for a KafkaException of the writer: CommandLogFenced when a newer writer
    took over (or the producer failed for good)."""
    ck = kafka_lib()
    err = exc.args[0]
    if err.fatal() or err.code() in (ck.KafkaError.PRODUCER_FENCED, ck.KafkaError._FENCED,
                                     ck.KafkaError.INVALID_PRODUCER_EPOCH, ck.KafkaError._FATAL):
        return CommandLogFenced(f"the command log's writer was fenced off by a newer one, or failed for good: {err}")
    return JournalError(f"the command log in Kafka failed: {err}")


def commit_records(producer, topic: str, records, timeout: float = 30.0, beside=()) -> None:
    """One transaction holding `records` ((position, payload), in order) and `beside` ((topic, key,
    value) for the writer's other topics, partition 0: the account registry's); raises
    JournalError (CommandLogFenced when fenced off) unless the cluster committed them all. An
    abortable failure (a broker moving) is retried with the same records: an aborted attempt is
    never read."""
    ck = kafka_lib()

    def produce(name: str, value: bytes, key: bytes) -> None:
        while True:
            try:
                producer.produce(name, value, key, partition=0)
                return
            except BufferError:  # librdkafka's queue is full: let it drain
                producer.poll(0.05)

    for attempt in range(5):
        try:
            producer.begin_transaction()
            for position, payload in records:
                produce(topic, payload, _KEY.pack(position))
            for name, key, value in beside:
                produce(name, value, key)
            while True:
                try:
                    producer.commit_transaction(timeout)  # flushes first: every record acknowledged
                    return
                except ck.KafkaException as exc:
                    if not exc.args[0].retriable():
                        raise
        except ck.KafkaException as exc:
            err = exc.args[0]
            if err.fatal() or not err.txn_requires_abort() or attempt == 4:
                raise _failure(exc) from None
            log.warning("command log transaction aborted (%s): sending its %d record(s) again", err,
                        len(records) + len(beside))
            try:
                producer.abort_transaction(timeout)
            except ck.KafkaException as again:
                raise _failure(again) from None


def reader(settings, group: str | None = None):
    """A consumer of what the log's writer committed (read_committed: never a fenced or aborted
    writer's records), for this log or another topic the writer commits to (`group`)."""
    return kafka_lib().Consumer(client_config(settings.kafka.bootstrap_servers, **{
        "group.id": group or topic_name(settings) + ".reader",
        "enable.auto.commit": False, "enable.partition.eof": True,
        "fetch.wait.max.ms": 10,  # a fetch left waiting at the end would hold up the next seek
        "isolation.level": "read_committed",
    }))


def stable_watermarks(consumer, tp, what: str) -> tuple[int, int]:
    """(low, high) of one partition, `high` the last stable offset (read_committed); retried for
    30 s while a new topic's leader is still being elected, or moving. JournalError names `what`."""
    try:
        return watermarks(consumer, tp)
    except kafka_lib().KafkaException as exc:
        raise JournalError(f"cannot read the end of {what}: {exc}") from None


def _read(settings, after: int, first_only: bool = False):
    """(position, payload) of the cluster's records past position `after`, oldest first, and the
    cluster's last position (0: the log is empty).

    Offsets are not positions: transaction markers (one per commit) and aborted records take
    offsets too. So the last record is found by reading back from the end, and the first one
    past `after` by a binary search over offsets (positions grow with offsets). `first_only`: that
    first record alone."""
    ck = kafka_lib()
    name = topic_name(settings)
    consumer = reader(settings)
    try:
        tp = ck.TopicPartition(name, 0)
        low, high = stable_watermarks(consumer, tp, f"the command log {name}")
        last = None
        back = 16
        while last is None:
            start = max(low, high - back)
            tail = _scan(consumer, tp, start, high)
            if tail:
                last = tail[-1]
            elif start == low:
                return [], 0
            back *= 16
        if last[1] <= after:
            return [], last[1]
        lo, hi = low, last[0]  # the first record at or past offset `hi` is past `after`
        while lo < hi:
            mid = (lo + hi) // 2
            first = _scan(consumer, tp, mid, high, first_only=True)
            if first and first[0][1] > after:
                hi = mid
            else:
                lo = mid + 1
        return [(pos, value) for _offset, pos, value in _scan(consumer, tp, lo, high, first_only)
                if pos > after], last[1]
    finally:
        consumer.close()


def _scan(consumer, tp, start: int, end: int, first_only: bool = False) -> list[tuple[int, int, bytes]]:
    """(offset, position, payload) of the committed records from offset `start` up to `end`."""
    if start >= end:
        return []
    ck = kafka_lib()
    consumer.assign([ck.TopicPartition(tp.topic, tp.partition, start)])
    out: list[tuple[int, int, bytes]] = []
    deadline = time.monotonic() + 60
    try:
        while True:
            if time.monotonic() > deadline:
                raise JournalError(f"reading the command log from offset {start} to {end} timed out")
            for m in available(consumer, 10000):
                if m.error() is not None:
                    if m.error().code() != ck.KafkaError._PARTITION_EOF:
                        raise JournalError(f"reading the command log failed: {m.error()}")
                    if m.offset() >= end:  # the end, past any trailing markers
                        return out
                    continue
                if m.offset() >= end:
                    return out
                out.append((m.offset(), _KEY.unpack(m.key())[0], m.value()))
                if first_only:
                    return out
            if consumer.position([tp])[0].offset >= end:  # moved past markers to the end
                return out
    finally:
        consumer.unassign()


def reconcile(settings, directory: Path) -> tuple[int, int]:
    """Make the local journal in `directory` and the cluster's command log hold the same records
    (module docstring). Fences every older writer off first, so no record lands in the log while
    the two are compared. Returns (records copied from the cluster, records sent to it)."""
    ensure_topic(settings)
    producer = fenced_writer(settings, "commandlog-reconcile")  # fences off every older writer
    journal = Journal(directory, fsync="off", segment_bytes=settings.journal.segment_bytes)  # close() fsyncs
    try:
        local = journal.last_position
        common = min(local, last_position(settings))
        missing, last = _read(settings, common - 1 if common else 0)
        if common >= max(1, Journal.first_on_disk(directory)) and (not missing or missing[0] != (common, _payload_at(directory, common))):
            # an acknowledged record is in the cluster: the local one was never acknowledged
            raise CommandLogDiverged(
                f"the local journal's record {common} is not the command log's in Kafka {topic_name(settings)}: "
                f"another Acquiring wrote the log after this one stopped, and this journal's last records were "
                f"never acknowledged. Move {directory} away to start from the cluster's log")
        missing = [(pos, value) for pos, value in missing if pos > local]
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
            tail = list(Journal.read(directory, last + 1))
            commit_records(producer, topic_name(settings), tail, 60)
            pushed = len(tail)
    finally:
        journal.close()
        producer.flush(10)
    if pulled or pushed:
        log.info("🧾 command log: %d record(s) copied from Kafka %s, %d sent to it",
                 pulled, topic_name(settings), pushed)
    return pulled, pushed


def _payload_at(directory: Path, position: int) -> bytes:
    for _position, payload in Journal.read(directory, position):
        return payload
    raise JournalError(f"the local journal has no record {position}")


def superseded(settings, directory: Path) -> tuple[int, int] | None:
    """(the log's end, the journal's end) when the cluster's log holds records past the local
    journal's last: another writer appended after this one (which hands a record to the cluster
    only once its journal has written it), so a restart here must not take the log back. None
    when it does not."""
    journal = Journal(directory, fsync="off", segment_bytes=settings.journal.segment_bytes)
    try:
        mine = journal.last_position
    finally:
        journal.close()
    end = last_position(settings)
    return (end, mine) if end > mine else None


def last_position(settings) -> int:
    """The cluster's last committed position (0: the log is empty)."""
    return _read(settings, 1 << 62)[1]


def record_at(settings, position: int) -> bytes | None:
    """The payload of the cluster's committed record at `position` (read_committed: on the in-sync
    replicas, never an aborted or fenced writer's), or None when the log does not hold it."""
    if position < 1:
        return None
    records, _last = _read(settings, position - 1, first_only=True)
    return records[0][1] if records and records[0][0] == position else None


def journal_record(directory: Path, position: int) -> bytes | None:
    """The payload of the local journal's record at `position`, or None when it has none there
    (not written yet, or in a segment deleted since)."""
    if position < max(1, Journal.first_on_disk(directory)):
        return None
    for at, payload in Journal.read(directory, position):
        return payload if at == position else None
    return None
