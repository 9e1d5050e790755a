"""The stage contract (the seed's ActorX) and the runner that feeds a stage from the Bus.

A stage declares the topics it consumes and produces and implements `handle_events(topic, entries)`,
returning what to publish. It never touches a queue: the runner does receive-batch -> handle ->
publish, and keeps the counters, the duplicate filter and the drain-on-stop logic in one place.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar, Callable

import msgspec

from ..bus.base import Consumer, partition_for
from ..model.changelog import MSGPACK, Batch, ChangeLogEntry, Updated
from ..model.enums import EntityType

if TYPE_CHECKING:
    from ..bus.base import Producer
    from ..config import Settings

MARKER = EntityType.MARKER

#: What a stage returns: (topic, key, entries), in causal order; the runner keeps that order per partition.
Publish = tuple[str, str, list[ChangeLogEntry]]


@dataclass
class StageContext:
    """What a stage instance knows about where it runs."""

    settings: "Settings"
    name: str  # the stage's name in the topology, also its consumer group
    instance: int
    instances: int
    data_dir: Path
    #: on a machine without Acquiring (`run.py --stage`, over Kafka): nothing else writes its data dir
    alone: bool = False

    @property
    def producer_name(self) -> str:
        return f"{self.name}-{self.instance}"

    @property
    def log(self) -> logging.Logger:
        return logging.getLogger(f"spot_seda.{self.producer_name}")


class Stage:
    """Base class of every stage; subclasses set `consumes`/`produces` and override the hooks."""

    consumes: ClassVar[tuple[str, ...]] = ()
    produces: ClassVar[tuple[str, ...]] = ()
    #: drop entries whose sequence was already seen from the same (topic, partition, producer)
    dedupe: ClassVar[bool] = True
    #: its output is a function of its input alone (the node's stages): replay rebuilds it exactly
    replayable: ClassVar[bool] = True
    #: a forked process may carry on from the state the supervisor rebuilt (False for stages that
    #: hold OS resources, like an open database: they start afresh)
    inherits_state: ClassVar[bool] = True
    #: handle_events may get entries of several topics in one call (topic is then the first one's):
    #: a stage that treats every entry alike (Persist) then handles a whole poll in one call
    mixed_topics: ClassVar[bool] = False
    #: every instance receives every entry (its own consumer group) instead of a share of partitions
    broadcast: ClassVar[bool] = False
    #: topic -> the stages whose output on it this stage wants (empty: every producer)
    sources: ClassVar[dict[str, tuple[str, ...]]] = {}
    #: consumers rely on the order of its outputs across its topics, partition by partition (Match:
    #: a command's trades before its order updates): a transport that orders only within a
    #: partition (Kafka) must keep it (Wiring.ordered)
    ordered_outputs: ClassVar[bool] = False
    #: its state is a function of its input alone: restarted from the state it had when the pipeline
    #: started, re-reading its input since then brings it back (False for Acquiring: its state comes
    #: from the commands, which only the journal holds)
    recovers_from_input: ClassVar[bool] = True
    #: what it publishes to partition p follows from its input of partition p alone (Match, KLine,
    #: Settlement: keyed by symbol in and out), so its output sequences do not depend on how its
    #: partitions' input interleaved
    keeps_partitions: ClassVar[bool] = False
    #: the stage records how far it has applied each input channel (Persist, in its database): its
    #: runner lets it read `input_progress`, the last sequence per channel of everything handed to
    #: handle_events so far
    tracks_input: ClassVar[bool] = False
    input_progress: dict[tuple[str, int, str], int]
    #: and, over a transport that can start a consumer there (Kafka), the input positions past
    #: everything handed to handle_events so far (Consumer.positions)
    input_positions: dict

    def poll_timeout_s(self) -> float | None:
        """The longest the runner may wait for input before calling idle() (None: its default);
        asked once, after start()."""
        return None

    def __init__(self, ctx: StageContext) -> None:
        self.ctx = ctx

    @classmethod
    def display_name(cls) -> str:
        """The seed's name for log lines: MatchStage -> SpotMatchStage."""
        return "Spot" + cls.__name__

    def start(self) -> None:
        """Load state before the first event (snapshots, files)."""

    def sequence_start(self) -> int:
        """First output sequence of this incarnation. A deterministic stage (`replayable`) starts at 1
        and gets its state and sequences back by replay, so a replay reproduces its output exactly; a
        synthetic one starts past anything an earlier incarnation can have sent (a clock in us), so
        consumers see a gap after its restart rather than false duplicates."""
        return 1 if self.replayable else time.time_ns() // 1000

    def handle_events(self, topic: str, entries: list[ChangeLogEntry]) -> list[Publish]:
        """Apply a batch of entries of one topic; return the entries to publish."""
        raise NotImplementedError

    def idle(self) -> list[Publish]:
        """Called when no input is waiting (sources generate here; timers fire here)."""
        return []

    def stop(self) -> list[Publish]:
        """Called once after the input has drained, before the process exits."""
        return []

    def marker(self, kind: str, position: int) -> None:
        """A marker has reached this stage on every input: everything before it is applied. A
        stage whose state lives outside the process makes it durable here (Persist)."""

    def replay_end(self, end: dict) -> None:
        """Add to `end` (the fields of history.ReplayEnd) what this stage's state says about the end
        of a recovery's replay: History.roll_back_to then makes the history agree with it. Each
        stage speaks for its own output; the runtime names none of them."""

    #: attributes rebuilt by start() rather than snapshotted (functions, encoders, connections)
    transient: ClassVar[tuple[str, ...]] = ()

    def snapshot_state(self) -> dict:
        """The stage's state as plain picklable data (a snapshot at a clean stop)."""
        skip = {"ctx", *self.transient}
        return {k: v for k, v in self.__dict__.items() if k not in skip}

    def restore_state(self, state: dict) -> None:
        """Carry on from a snapshot: start() rebuilds the transient parts, the snapshot the rest. A
        symbol the configuration has gained since the snapshot keeps what start() made for it in
        each of the stage's maps by symbol (its book, candles, views): without it, its first
        command, journaled, stopped the stage at every start."""
        self.start()
        fresh = dict(self.__dict__)
        self.__dict__.update(state)
        symbols = set(self.ctx.settings.symbol_rules())
        for name, made in fresh.items():
            kept = self.__dict__.get(name)
            if type(made) is not dict or type(kept) is not dict or kept is made:
                continue
            # keyed by symbol, or by (symbol, ...): a symbol the snapshot's map does not name at all
            new = symbols - {k[0] if type(k) is tuple and k else k for k in kept}
            for key, value in made.items():
                if (key[0] if type(key) is tuple and key else key) in new:
                    kept[key] = value


class Operator(Stage):
    """A stage in the middle of the stream (Match, KLine, Settlement): entries in, entries out, its
    output a function of its input alone, so a replay rebuilds it exactly. `handle_events` returns
    what to publish."""


class Endpoint(Stage):
    """A stage at an end of the stream, serving the world outside it: Acquiring (commands come in from
    clients and are published from their requests), Push (WebSocket clients) and Persist (SQLite).
    Its input only updates what it knows: it implements `apply`, and publishes nothing from it."""

    def apply(self, topic: str, entries: list[ChangeLogEntry]) -> None:
        """Take in a batch of entries of one topic (of several with `mixed_topics`)."""
        raise NotImplementedError

    def handle_events(self, topic: str, entries: list[ChangeLogEntry]) -> list[Publish]:
        self.apply(topic, entries)
        return []


_set = msgspec.structs.force_setattr  # (Sequencer.stamp)


class Sequencer:
    """Stamps contiguous sequence numbers per (topic, partition) on one producer's output, in the
    order it is published: the one place that sees the final order, so the numbers are gap-free by
    construction whatever order a stage builds its output in."""

    __slots__ = ("_partitions", "next", "start")

    def __init__(self, partitions: dict[str, int], start: int = 1) -> None:
        self._partitions = partitions
        self.next: dict[tuple[str, int], int] = {}
        self.start = start

    def stamp(self, topic: str, partition: int, entries: list[ChangeLogEntry]) -> list[ChangeLogEntry]:
        slot = (topic, partition)
        seq = self.next.get(slot, self.start)
        self.next[slot] = seq + len(entries)
        out = []
        append = out.append
        for e in entries:
            if e.sequence:  # an entry published before (passed on): a copy, the original stays as it was
                e = ChangeLogEntry(e.entity_id, e.entity_type, e.change_type, e.timestamp, seq)
            else:  # one the stage has just made (sequence 0): numbered in place (no copy per entry)
                _set(e, "sequence", seq)
            append(e)
            seq += 1
        return out


def sequence_layout(settings) -> str:
    """What output sequences are counted under: the same commands number each (topic, partition,
    producer) stream alike only with the same partitions and stage instances."""
    several = sorted((name, n) for name, n in settings.runtime.instances.items() if n != 1)  # 1 is the default
    return f"partitions={settings.bus.partitions};instances={several}"


def marker_entry(kind: str, position: int, origin: str) -> ChangeLogEntry:
    """A barrier for the pipeline: `kind` says what it is for ("snapshot", "sync"), `position` is
    the journal position everything before it reflects, `origin` the instance that sent it."""
    return ChangeLogEntry(f"{kind}:{position}", EntityType.MARKER, Updated({"origin": origin}), 0, 0)


#: (topic, partition, producer instance) — one ordered stream of entries into a consumer
Channel = tuple[str, int, str]


class ChannelRecording:
    """What reaches the origin of a marker after it captured its own state and before that marker
    has come back on each input channel: the channel state of a Chandy-Lamport snapshot (the
    feedback of the commands before the marker, still on its way when the origin's state was
    taken). Kept as the bus's msgpack batches, in the order they arrived; `done` once the marker
    is back on every channel (Runner.record_channel)."""

    __slots__ = ("key", "batches", "done")

    def __init__(self, key: str) -> None:
        self.key = key
        self.batches: list[bytes] = []
        self.done = False


class Runner:
    """Drives one stage instance: poll -> dedupe -> handle -> publish, with counters.

    Markers: a marker is a one-entry batch with no sequence that the origin (Acquiring) sends on
    every partition of every topic it produces. A runner that has received a marker on every one of
    its input `channels` has applied everything its upstream produced before it; it then forwards
    the marker on every partition it produces (after its own earlier output, so the order holds
    downstream) and calls `on_marker(kind, position)`. The node uses this for consistent snapshots
    without stopping the pipeline (runtime/snapshots.py) and the shm replay to wait until the
    feedback of a command has reached Acquiring (runtime/shmreplay.py). Markers never reach a stage's
    `handle_events`, take no sequence number, and never change what a stage outputs.
    """

    def __init__(
        self,
        stage: Stage,
        consumer: "Consumer | None",
        producer: "Producer",
        partitions: dict[str, int],
        row=None,  # this instance's counters, row[column] as ints (runtime/metrics.py Row)
        poll_timeout: float = 0.05,
    ) -> None:
        self.stage = stage
        self.partitions = partitions
        self.sequencer: Sequencer | None = None
        self.consumer = consumer
        self.producer = producer
        self.row = row
        if row is not None:
            producer.keepalive = self.beat
        self.poll_timeout = poll_timeout
        self.last_seen: dict[tuple[str, int, str], int] = {}
        self.gaps = 0
        self.batch_max = stage.ctx.settings.bus.batch_max
        #: the input channels a marker must arrive on before it completes here (topology.input_channels)
        self.channels: frozenset[Channel] = frozenset()
        self.on_marker: Callable[[str, int], None] | None = None
        self._markers: dict[str, set[Channel]] = {}
        #: kind -> the last position a marker of that kind completed at here
        self._completed: dict[str, int] = {}
        #: the input being recorded for a snapshot's channel state (record_channel), or None
        self._recording: ChannelRecording | None = None
        #: inside process(): what is published is committed with the input at its end, not at once
        self._in_unit = False
        #: seconds run() sleeps after a poll that emptied the queue (runtime.linger_ms; set by the
        #: stage process: the in-process pipeline pumps without sleeping)
        self.linger_s = 0.0
        #: the queue depth after the last poll that brought input (-1: not read, no metrics row)
        self.depth = -1

    def publish(self, outputs: list[Publish]) -> int:
        """Publish a stage's outputs: entries are merged per (topic, partition) in the order the stage
        returned them, so each partition's order (and sequences) follow the stage's causal order,
        whatever keys share a partition and however the input was batched. Topics go out in the
        order the stage declares them in `produces` (Match: trades before the order updates they
        cause, which is what Settlement and Acquiring rely on)."""
        if not outputs:
            return 0
        partitions = self.partitions
        merged: dict[tuple[str, int], list[ChangeLogEntry]] = {}
        for topic, key, entries in outputs:
            slot = (topic, partition_for(key, partitions[topic]))
            target = merged.get(slot)
            if target is None:
                merged[slot] = list(entries)
            else:
                target += entries
        publish_to = self.producer.publish_to
        stamp = self.sequencer.stamp
        count = 0
        slots = merged.items() if len(merged) == 1 else sorted(merged.items(), key=self._topic_rank)
        for (topic, partition), entries in slots:
            publish_to(topic, partition, stamp(topic, partition, entries))
            count += len(entries)
        if self.row is not None:
            self.row["events_out"] += count
            self.row["batches_out"] += len(merged)
        if not self._in_unit:  # not caused by input (Acquiring's commands, a source, a stop)
            self.producer.commit()
        return count

    def _topic_rank(self, item) -> int:
        produces = self.stage.produces
        topic = item[0][0]
        return produces.index(topic) if topic in produces else len(produces)

    def fresh(self, batch: Batch) -> list[ChangeLogEntry]:
        """The entries of a batch not applied before (sequence above the last one seen)."""
        entries = batch.entries
        if not self.stage.dedupe or not entries:
            return entries
        slot = (batch.topic, batch.partition, batch.producer)
        last = self.last_seen.get(slot)
        first = entries[0].sequence
        self.last_seen[slot] = max(entries[-1].sequence, last or 0)
        if last is None or first > last:  # the common case: the whole batch is new
            if last is not None and first != last + 1:
                self.gaps += 1
                self.stage.ctx.log.warning(
                    "sequence gap on %s[%d] from %s: %d -> %d", *slot, last, first
                )
            return entries
        kept = [e for e in entries if e.sequence > last]
        if self.row is not None:
            self.row["duplicates"] += len(entries) - len(kept)
        return kept

    def beat(self) -> None:
        """The stage is alive (the supervisor kills one whose heartbeat is older than stall_timeout_s)."""
        self.row["heartbeat_ns"] = time.time_ns()

    def step(self, timeout: float) -> bool:
        """Handle whatever input waits (up to `timeout` s of waiting); False when there was none."""
        if self.process(self.consumer.poll(timeout) if self.consumer is not None else ()):
            return True
        produced = self.publish(self.stage.idle())
        if self.consumer is None and not produced and timeout > 0:
            time.sleep(timeout)  # a source with nothing to say must not spin
        if self.row is not None:
            self.row["queue_depth"] = 0
            self.row["heartbeat_ns"] = time.time_ns()
        return False

    def process(self, batches: Iterable[Batch], depth: int | None = None) -> bool:
        """Feed received batches to the stage and publish its outputs; False when there were none.

        `depth`: the queue depth as the caller read it. A caller that polled the consumer on
        another thread (runtime/busreader.py) passes it, and this call then leaves the consumer
        alone (a Kafka consumer must not be used from two threads at once).

        What the stage publishes here is committed at the end with the consumer's positions, as
        one unit (Producer.commit: one Kafka transaction with kafka.transactions); if the stage
        raises, none of it is."""
        self._in_unit = True
        try:
            return self._process(batches, depth)
        finally:
            self._in_unit = False

    def _process(self, batches: Iterable[Batch], depth: int | None) -> bool:
        row = self.row
        started = time.perf_counter_ns()
        received = messages = 0
        topic = None
        pending: list[ChangeLogEntry] = []
        handle = self.stage.handle_events
        limit = self.batch_max
        sources = self.stage.sources
        mixed = self.stage.mixed_topics
        # a stage with a store of its own (Persist) records with what it wrote the input positions
        # past it: taken after each batch joins `pending`, so they never run ahead of what it holds
        # (where a consumer can start at positions at all: Kafka)
        positions = self.consumer.positions if self.stage.tracks_input and \
            type(self.consumer).positions is not Consumer.positions else None
        for batch in batches:
            if not messages:
                started = time.perf_counter_ns()  # busy time excludes the wait for input
            messages += 1
            received += len(batch.entries)
            if sources and batch.producer.rpartition("-")[0] not in sources.get(batch.topic, ()):
                continue  # e.g. Match's own OrderChangeLog output coming back to it
            if batch.entries and batch.entries[0].entity_type == MARKER:
                if pending:  # everything before the marker is applied (and its output sent) first
                    self.publish(handle(topic, pending))
                    pending = []
                self._marker(batch)
                continue
            if self._recording is not None:
                self._record(batch)
            # consecutive batches of one topic reach the stage as one list, up to batch_max entries
            if pending and ((batch.topic != topic and not mixed) or len(pending) >= limit):
                self.publish(handle(topic, pending))
                pending = []
            topic = batch.topic
            pending += self.fresh(batch)
            if positions is not None:
                self.stage.input_positions = positions()
        if not messages:
            return False
        if pending:
            self.publish(handle(topic, pending))
        self.producer.commit(self.consumer if depth is None else None)
        if row is not None:
            row["events_in"] += received
            row["batches_in"] += messages
            row["busy_ns"] += time.perf_counter_ns() - started
            row["queue_depth"] = self.depth = self.consumer.depth() if depth is None else depth
            row["heartbeat_ns"] = time.time_ns()
        return True

    def emit_marker(self, kind: str, position: int, origin: str | None = None) -> None:
        """Send a marker on every partition of every topic this stage produces."""
        entry = [marker_entry(kind, position, origin or self.stage.ctx.producer_name)]
        for topic in self.stage.produces:
            for partition in range(self.partitions[topic]):
                self.producer.publish_to(topic, partition, entry)
        if not self._in_unit:
            self.producer.commit()

    def record_channel(self, kind: str, position: int) -> ChannelRecording:
        """At the origin, right after it captured its own state and before it sends the marker
        (`kind`, `position`): record every input batch from here until that marker is back on its
        channel. The origin's state plus these, applied in order (take_channel), is its state once
        the marker has come back on every channel, without holding anything back meanwhile."""
        self._recording = ChannelRecording(f"{kind}:{position}")
        return self._recording

    def drop_channel(self) -> None:
        """Stop recording (the snapshot was abandoned)."""
        self._recording = None

    def _record(self, batch: Batch) -> None:
        recording = self._recording
        if batch.entries and (batch.topic, batch.partition, batch.producer) not in self._markers.get(recording.key, ()):
            recording.batches.append(MSGPACK.encode(batch))  # (a channel that brought the marker: after it)

    def take_channel(self, batches: Iterable[bytes]) -> None:
        """Apply a snapshot's recorded channel state (record_channel) to the state it was restored
        to, as the batches were applied live: through the duplicate filter and the stage."""
        for data in batches:
            self.process([MSGPACK.decode(data)], depth=0)

    def _marker(self, batch: Batch) -> None:
        entry = batch.entries[0]
        key = entry.entity_id
        seen = self._markers.setdefault(key, set())
        seen.add((batch.topic, batch.partition, batch.producer))
        if not self.channels <= seen:
            return
        del self._markers[key]
        if self._recording is not None and self._recording.key == key:
            self._recording.done = True
            self._recording = None
        kind, _, position = key.partition(":")
        if int(position) <= self._completed.get(kind, 0):
            # a marker passed here before (an upstream stage restarted alone re-reads its input and
            # forwards it again): once is enough, and a snapshot of today's state under an old
            # position would be wrong
            return
        self._completed[kind] = int(position)
        origin = entry.change_type.changed_fields["origin"]
        if origin != self.stage.ctx.producer_name:  # back at the origin: the round trip is complete
            self.emit_marker(kind, int(position), origin)
        self.stage.marker(kind, int(position))
        if self.on_marker is not None:
            self.on_marker(kind, int(position))

    def start(self) -> None:
        """Let the stage load its state, then set up the output sequences (once: an adopted runner
        already has both)."""
        if self.sequencer is not None:
            return
        self.stage.start()
        self.sequencer = Sequencer(self.partitions, self.stage.sequence_start())
        if self.stage.tracks_input:
            self.stage.input_progress = self.last_seen
            self.stage.input_positions = {}
        wait = self.stage.poll_timeout_s()
        if wait is not None:
            self.poll_timeout = wait

    def adopt(self, other: "Runner") -> None:
        """Carry on from another runner's stage state, output sequences and duplicate filter (the
        supervisor's replay of the journal, inherited by a freshly forked stage process)."""
        self.stage = other.stage
        self.sequencer = other.sequencer
        self.last_seen = dict(other.last_seen)

    def run(self, stopping: Callable[[], bool]) -> None:
        """Loop until `stopping()` turns true and the input has drained, then let the stage finish."""
        self.start()
        while True:
            if stopping():
                # Drain: upstream stages have stopped first, so an empty poll means we are done.
                if not self.step(0):
                    break
            elif self.step(self.poll_timeout) and self.linger_s and self.depth == 0:
                time.sleep(self.linger_s)  # let input gather: one wake-up for more of it
        self.publish(self.stage.stop())
        self.producer.flush()
