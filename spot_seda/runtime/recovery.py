"""Recovery: rebuild the node's stage state from the journal of acknowledged commands.

The journal holds every command Acquiring accepted, with the ids, budgets and timestamps it
assigned, written before the client got its answer. Every stage is a deterministic function of
that command stream, so replaying it through the stages (in one process, see replay.py) rebuilds
exactly the state the node had — books, holds, candles, views, output sequences — whichever stage
or process died, and however. The stages that only consume are not replayed into: each runs as its
own process from the start and is fed, in parallel, what the replay publishes (the supervisor's
`_fed`), on the other cores. Persist is sent what its SQLite history does not hold yet; Push starts
from the snapshot's state, takes everything the replay publishes after it, as it takes the live
stages' output, and opens its port once it has taken all of it (ReplayGate, stageproc.py). It was a
third of the replay's work (BENCHMARKS.md, "Recovery"). `recover_node` is the whole of it, as the
supervisor runs it before the fork.
"""

from __future__ import annotations

import gc
import logging
import os
import sqlite3
import time
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import msgspec

from .. import accountlog, commandlog
from ..history import History, ReplayEnd
from ..journal import Journal
from ..bus.base import BusFull, Producer
from ..model.commands import DECODER
from ..stages.base import Runner, sequence_layout
from ..topology import consumer_slot, stage_specs
from . import clustersnapshots, snapshots
from .inproc import InprocPipeline
from .replay import apply_commands, with_progress

if TYPE_CHECKING:
    from .supervisor import Instance

log = logging.getLogger("spot_seda.recovery")


class StartReport(msgspec.Struct, kw_only=True):
    """What the node's last start recovered, written to `data_dir/recovery.json` (`run.py status`
    prints it; operators and tests read values here, not log lines)."""

    #: the journal position of the snapshot it loaded (0: none; every stage started from nothing)
    snapshot_position: int = 0
    #: over Kafka: the position of the cluster's snapshot installed in the data dir before the
    #: recovery, newer than the local one or where there was none (clustersnapshots.py; 0: none)
    snapshot_from_cluster: int = 0
    #: over Kafka: the history lacked output the snapshot reflects (a data dir that had no such
    #: snapshot): Persist was left out of the replay and reads its input from the change log in
    #: Kafka, from the input positions its history recorded, else from the topics' beginning
    history_from_kafka: bool = False
    #: the history lacked output the snapshot reflects, and no cluster had it (the file lost, or
    #: replaced by an older copy): what it lacks stays missing
    history_lacking: bool = False
    #: journaled commands replayed after the snapshot
    replayed_commands: int = 0
    #: the torn or corrupt journal tail opening cut (journal/frames.py), or None
    journal_tail_cut: str | None = None
    #: "topic[partition]/producer" -> the last sequence the history already held (sent to Persist no more)
    history_written: dict[str, int] = {}
    #: what History.roll_back_to removed when the history held output the journal does not (or None)
    history_rolled_back: dict[str, int] | None = None

    def write(self, data_dir: Path) -> None:
        path = data_dir / REPORT
        temp = path.with_suffix(".tmp")
        temp.write_bytes(msgspec.json.format(msgspec.json.encode(self)))
        os.replace(temp, path)

    @staticmethod
    def read(data_dir: Path) -> "StartReport | None":
        try:
            return msgspec.json.decode((data_dir / REPORT).read_bytes(), type=StartReport)
        except FileNotFoundError:
            return None


REPORT = "recovery.json"


def journal_dir(data_dir: Path) -> Path:
    return data_dir / "journal"


def read_journal(data_dir: Path, from_position: int = 1):
    """Decoded commands of the journal, oldest first (a torn tail is cut by opening it first)."""

    directory = journal_dir(data_dir)
    if not directory.exists():
        return
    Journal(directory).close()  # opening checks the tail and cuts a torn or corrupt last record
    for _position, payload in Journal.read(directory, from_position):
        yield DECODER.decode(payload)


_LOAD = object()


def rebuild(settings, data_dir: Path, feed=None, fed: tuple[str, ...] = (),
            report: StartReport | None = None, snapshot=_LOAD) -> dict[str, Runner]:
    """Replay the journal into fresh stages; returns their runners by instance label.

    `fed` names stages that are not rebuilt here but already run as processes of their own
    (Persist): every batch the replay publishes is also handed to `feed(label)`, a producer that
    delivers to those stages only, so they write in parallel with the replay. `report` gets what
    was loaded and replayed; `snapshot`: snapshots.load's result when the caller loaded it already."""
    report = report if report is not None else StartReport()
    started = time.perf_counter()
    with _lazy_collector():
        pipeline = InprocPipeline(settings, data_dir, direct=True, exclude=fed)
        if feed is not None:
            for label, runner in pipeline.runners.items():
                runner.producer = _Tee(runner.producer, feed(label))
        start = 1
        if snapshot is _LOAD:
            snapshot = snapshots.load(data_dir, sequence_layout(settings))
        if snapshot is not None:
            position, states = snapshot
            for label, state in states.items():
                runner = pipeline.runners.get(label)
                if runner is None:  # a stage left out of this replay (recover_node's `only`)
                    continue
                snapshots.restore(runner, state)
            start = position + 1
            log.info("📦 loaded the snapshot at journal position %d", position)
            report.snapshot_position = position
        if journal_dir(data_dir).exists():  # opening checks the tail and cuts a torn or corrupt last record
            journal = Journal(journal_dir(data_dir))
            journal.close()
            if journal.recovery.truncated:
                report.journal_tail_cut = str(journal.recovery)
        commands = with_progress(read_journal(data_dir, start), lambda line: log.info("replaying: %s", line))
        applied, _refused = apply_commands(pipeline, commands, journaled=True)
        for runner in pipeline.runners.values():
            if not runner.stage.inherits_state:
                runner.stage.stop()  # release what it holds (a database connection) before the fork
            runner.producer = _Detached()
        report.replayed_commands = applied
        if applied:
            log.info("♻️  replayed %d journaled commands in %.2fs", applied, time.perf_counter() - started)
        return pipeline.runners


@contextmanager
def _lazy_collector():
    """Millions of live objects are built during a rebuild, few of them cyclic garbage: the default
    gen-0 threshold would run the collector over them again and again."""
    thresholds = gc.get_threshold()
    gc.set_threshold(200_000, 50, 50)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


class _Tee(Producer):
    """Publishes to the replay's own queues and to the stages that run beside it."""

    def __init__(self, inner: Producer, also: Producer) -> None:
        self.inner = inner
        self.also = also

    def publish_to(self, topic, partition, entries) -> None:
        self.inner.publish_to(topic, partition, entries)
        self.also.publish_to(topic, partition, entries)


class _Detached(Producer):
    """The replay pipeline's queues are not the node's: a recovered runner gets the real producer."""

    def publish_to(self, topic, partition, entries) -> None:
        raise RuntimeError("a recovered runner must be given the node's producer")


def rotate_journal(data_dir: Path, snapshot_position: int) -> None:
    """Delete the journal segments that hold only commands the snapshot already reflects (the
    segment being written is always kept)."""

    journal = Journal(journal_dir(data_dir))
    try:
        removed = journal.truncate_before(snapshot_position + 1)
    finally:
        journal.close()
    if removed:
        log.info("🗑️  removed %d journal segment(s) older than the snapshot", len(removed))


def replay_end(recovered: dict[str, Runner], sequences: dict[tuple[str, int, str], int], settings):
    """What the recovery's replay rebuilt, as History.roll_back_to takes it."""

    end: dict = {"next_order_id": 1, "orders": [], "last_trade_ids": {}, "open_candles": [],
                 "last_prevented_match_ids": {}}
    for runner in recovered.values():  # each stage adds what its own state says (Stage.replay_end)
        runner.stage.replay_end(end)
    return ReplayEnd(**end, sequences=sequences, partitions=settings.bus.partitions)


class Feed(Producer):
    """A producer to the stages fed during recovery: waits while their queue is full (they work as
    fast as they can), fails if one of them died. A store (Persist) is sent only what its history
    lacks (`written`); a stage that carries state (Push) everything, from the snapshot it started
    from on. A batch both want is encoded once."""

    def __init__(self, bus, fed: "list[Instance]", label: str, written: dict[tuple[str, int, str], int]) -> None:
        self.fed = fed
        self.label = label
        self.written = written  # (topic, partition, producer) -> last sequence already in the history
        stores = _groups(x for x in fed if not x.cls.inherits_state)
        views = _groups(x for x in fed if x.cls.inherits_state)
        self.both = bus.producer(label, stores + views)
        self.stores = bus.producer(label, stores) if stores and views else None
        self.views = bus.producer(label, views) if stores and views else None

    def publish_to(self, topic, partition, entries) -> None:
        done = self.written.get((topic, partition, self.label))
        if done is None or entries[0].sequence > done:
            return self._put(self.both, topic, partition, entries)
        if self.views is not None:  # (the stores have these up to `done`)
            self._put(self.views, topic, partition, entries)
        if entries[-1].sequence > done:
            self._put(self.stores or self.both, topic, partition, [e for e in entries if e.sequence > done])

    def _put(self, producer: Producer, topic, partition, entries) -> None:
        while True:
            try:
                return producer.publish_to(topic, partition, entries)
            except BusFull:
                dead = [x.label for x in self.fed if x.process is None or not x.process.is_alive()]
                if dead:
                    raise RuntimeError(f"{', '.join(dead)} died while the journal was being replayed") from None


def _groups(instances) -> tuple[str, ...]:
    """The consumer groups of these instances, each once."""
    return tuple({consumer_slot(x.cls, x.spec.name, x.index)[0]: None for x in instances})


def recover_node(settings, data_dir: Path, bus, fed: list["Instance"], split: list[str] | None,
                 leave_out: tuple[str, ...] = (), report: StartReport | None = None,
                 start_fed: Callable[[tuple[int, dict[str, dict]] | None], None] | None = None,
                 ) -> tuple[dict[str, Runner], dict[str, dict[tuple[str, int], list]]]:
    """Rebuild the stages from the journal before the fork: (the recovered runners by instance label,
    what each instance must publish again). `fed`: the instances that run as their own processes
    during the replay and are fed its output (Persist, Push); `start_fed(snapshot)`, called with the
    snapshot the replay starts from (snapshots.load's result) before the replay, starts those that
    carry state from it (Push); `split`: over Kafka, the labels of the
    instances about to start here (all of this machine's, or an Acquiring restarting alone while
    the others run on), whose replay keeps what Kafka lacks of their output to publish again (a
    gap there would let a zombie copy of them, resumed, fill it with entries of its own), and
    feeds no one;
    `leave_out`: stages not replayed at all (what Acquiring's state does not depend on, when only
    it restarts). Writes the StartReport (into `report` when given), rolls the history back to the
    journal when it is ahead (`_check_history`), and freezes the rebuilt state for the children.

    Over Kafka, a whole pipeline's recovery first installs the cluster's snapshot set when it is
    newer than the data dir's (clustersnapshots.fetch); when the snapshot it then loads reflects
    output the history lacks (a new machine's empty history), Persist is left out of the replay
    (the replay would write only what follows the snapshot) and reads the change log in Kafka
    instead (`report.history_from_kafka`: the supervisor starts its consumer there)."""
    gc.unfreeze()  # what an earlier recovery froze may be garbage now
    report = report if report is not None else StartReport()
    if commandlog.enabled(settings):  # the cluster's command log and the local journal agree first,
        commandlog.reconcile(settings, journal_dir(data_dir))
        accountlog.reconcile(settings, data_dir)  # and its account registry and the local one
        if clustersnapshots.enabled(settings) and not leave_out:  # then the newest snapshot is here
            try:
                report.snapshot_from_cluster = clustersnapshots.fetch(settings, data_dir, sequence_layout(settings))
            except Exception as exc:  # only a saving: the local snapshot (or none) still serves
                log.warning("cannot read the snapshot in the cluster (recovering from the local one): %s", exc)
    stores = [x for x in fed if not x.cls.inherits_state]  # (Persist: what its history holds is not sent)
    written = _written(settings, data_dir) if stores else {}
    readable, written = written is not None, written or {}
    report.history_written = {f"{t}[{p}]/{who}": n for (t, p, who), n in sorted(written.items())}
    snapshot = snapshots.load(data_dir, sequence_layout(settings))
    if split is not None and not fed and not leave_out and _history_lacks(settings, data_dir, snapshot):
        leave_out = leave_out + tuple(s.name for s in stage_specs(settings.node.topology)
                                      if s.load().tracks_input and s.name not in leave_out)
        report.history_from_kafka = True
        log.info("📚 the history lacks output the snapshot at %d reflects: Persist reads the change log in Kafka "
                 "instead of the replay", snapshot[0])
    if stores and readable and not report.history_from_kafka and _history_lacks(settings, data_dir, snapshot, written):
        log.error("⚠️  the history %s lacks output the snapshot at journal position %d reflects (lost, or replaced "
                  "by an older copy?): the orders, trades and candles before that position that it lacks are not "
                  "in it, and the replay cannot write them; restore it from a copy to have them back",
                  data_dir / "history.sqlite", snapshot[0])
        report.history_lacking = True
    if written:
        log.info("📚 the history already holds %d streams up to sequences %s: the replay sends Persist only "
                 "what follows", len(written), ", ".join(f"{t}[{p}]/{who}:{n}" for (t, p, who), n in sorted(written.items())))
    tails: dict[str, _Unpublished] = {}
    if split is not None:  # others read what these published: what they could not, they must now
        tails = {label: _Unpublished(bus, label) for label in split}

        def feed(label: str) -> Producer:
            return tails.get(label) or _Nowhere()
    elif fed:
        def feed(label: str) -> Producer:
            return Feed(bus, fed, label, written)
    else:
        feed = None
    if start_fed is not None:
        start_fed(snapshot)
    recovered = rebuild(settings, data_dir, feed, tuple({x.spec.name for x in fed}) + leave_out, report, snapshot)
    for tail in tails.values():
        if tail.probe is not None:
            tail.probe.close()
    republish = {label: tail.entries for label, tail in tails.items() if tail.entries}
    for label, entries in republish.items():
        log.info("📤 %s publishes again %d entries of the journal that Kafka lacks", label,
                 sum(len(e) for e in entries.values()))
    report.history_rolled_back = _check_history(settings, data_dir, recovered, written)
    report.write(data_dir)
    gc.freeze()  # the children inherit this state: no collector pass should touch (and copy) its pages
    return recovered, republish


def published(recovered: dict[str, Runner]) -> dict[tuple[str, int, str], int]:
    """(topic, partition, instance label) -> the last sequence each recovered instance has published
    there (its state's output sequences: the snapshot's and the replay's)."""
    return {(topic, partition, label): nxt - 1 for label, runner in recovered.items()
            for (topic, partition), nxt in runner.sequencer.next.items()}


def _history_lacks(settings, data_dir: Path, snapshot, written: dict | None = None) -> bool:
    """Whether the history holds less of some stream than the snapshot's output sequences say was
    sent (History.progress against each instance's next sequence): the replay after the snapshot
    would not write it. A history at a local snapshot never lacks it (Persist makes its rows durable
    at the snapshot's marker); an empty one, on a new machine, does."""
    if snapshot is None:
        return False
    written = _written(settings, data_dir) if written is None else written
    if written is None:  # (unreadable for now: not known to lack anything)
        return False
    return any(written.get((topic, partition, label), 0) < nxt - 1
               for label, state in snapshot[1].items() for (topic, partition), nxt in state["next"].items())


def _check_history(settings, data_dir: Path, recovered: dict[str, Runner],
                   written: dict[tuple[str, int, str], int]) -> dict[str, int] | None:
    """When the history holds output the journal does not reproduce (commands lost to a power
    failure with journal.fsync = "batch" or "off": their rows had reached SQLite's disk, not
    the journal's), roll the history back to what the replay rebuilt, so that it agrees with the
    journal and the new commands that reuse those ids and sequences are written afresh."""
    ends = published(recovered)
    ahead = sorted(channel for channel, seq in written.items() if seq > ends.get(channel, 0))
    if not ahead:
        return None
    path = data_dir / "history.sqlite"
    with History(path) as history:
        counts = history.roll_back_to(replay_end(recovered, ends, settings))
    log.error("⚠️  the history held output the journal does not reproduce on %s (commands lost to a power "
              "failure with journal.fsync = %r?): rolled %s back to the journal: %s", ahead,
              settings.journal.fsync, path, ", ".join(f"{n} {what}" for what, n in counts.items()))
    return counts


def _written(settings, data_dir: Path) -> dict[tuple[str, int, str], int] | None:
    """What Persist has already written of each stream (History.progress): the replay need not
    send it again. None: the file is there but cannot be read now (locked)."""
    path = data_dir / "history.sqlite"
    if not path.exists():
        return {}
    try:
        with History(path, readonly=True) as history:
            return history.progress(sequence_layout(settings))
    except sqlite3.OperationalError as exc:  # only a saving: Persist rewrites what it already has idempotently
        log.warning("cannot read how far the history got (%s): the replay sends Persist everything", exc)
        return None
    except sqlite3.DatabaseError as exc:  # not a database, or malformed: Persist could only die on it
        raise HistoryDamaged.of(path, exc) from None


class HistoryDamaged(Exception):
    """The SQLite history cannot be read as a database: the node refuses to start on it."""

    @classmethod
    def of(cls, path: Path, exc: sqlite3.DatabaseError) -> "HistoryDamaged":
        return cls(f"the history {path} is damaged ({exc}): restore it from a copy, or move it away to start with "
                   "one rebuilt from the journal (the commands it still holds)")


def check_history_file(data_dir: Path) -> None:
    """Raise HistoryDamaged when the history's file is there but is no SQLite database (its header
    and schema unreadable), before any stage opens it: Persist would die on it at every restart."""
    path = data_dir / "history.sqlite"
    if not path.exists():
        return
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError:
        return  # (locked, or unreadable for now: _written says so, and Persist retries)
    except sqlite3.DatabaseError as exc:
        raise HistoryDamaged.of(path, exc) from None


class _Unpublished(Producer):
    """Keeps what a replayed instance publishes past what Kafka already holds of it. Kafka is
    asked about the partitions the replay publishes to only: the others may be long, and hold
    nothing of this instance to find."""

    def __init__(self, bus, label: str) -> None:
        self.bus, self.label = bus, label
        self.probe = None
        self.last: dict[tuple[str, int], int] = {}
        self.entries: dict[tuple[str, int], list] = {}

    def publish_to(self, topic, partition, entries) -> None:
        slot = (topic, partition)
        if slot not in self.last:
            self.probe = self.probe or self.bus.probe()
            self.last[slot] = self.bus.last_sequences(self.label, topics=(topic,), partition=partition,
                                                      probe=self.probe).get(slot, 0)
        done = self.last[slot]
        fresh = [e for e in entries if e.sequence > done]
        if fresh:
            self.entries.setdefault((topic, partition), []).extend(fresh)


class _Nowhere(Producer):
    """Where the other stages of a split replay publish: they run on other machines, from Kafka."""

    def publish_to(self, topic, partition, entries) -> None:
        pass
