"""The Bus interface: topics, partitions by key, consumer groups, ordered batches per partition.

Shaped after Kafka so that every engine (shm, inproc, kafka) fits it unchanged:
- a topic has a fixed number of partitions; an entry's partition is chosen by a stable hash of its key
  (a symbol or an account), so one key's entries stay in order;
- a consumer group receives every entry of the topics it subscribes to; its members split the
  partitions between them (partition p belongs to member p % members);
- a message is a `Batch` of one (topic, partition, producer): the per-message cost is paid per batch;
- a producer that finds a queue full waits up to `put_timeout_s`, then fails with BusFull: back-pressure,
  never silent loss and never unbounded memory.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Collection, Iterator
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from ..model.changelog import Batch, ChangeLogEntry


class BusError(RuntimeError):
    """A transport failure the caller must handle (or crash on)."""


class Fenced(BusError):
    """A newer incarnation of this producer (the same stage instance, started again here or on
    another machine) has taken over: this one must stop without writing anything more."""


#: the exit status of a stage process that stopped because it was fenced off: its supervisor does
#: not start it again (that would fence off the incarnation that replaced it, and so on)
FENCED_EXIT = 75


class BusFull(BusError):
    """A consumer's queue stayed full for longer than the put timeout (the pipeline is behind)."""


class BusClosed(BusError):
    """The bus was closed while in use."""


class EntryTooLarge(BusError):
    """A single entry encodes to more than the largest message the transport carries."""


def partition_for(key: str, partitions: int) -> int:
    """Stable partition of a key (crc32, the same in every process and on every run)."""
    if partitions == 1:  # the default (bus.partitions): no hash for every output list of every stage
        return 0
    return zlib.crc32(key.encode()) % partitions


@dataclass(frozen=True)
class Wiring:
    """Who consumes what: topics with their partition counts, and groups with their members."""

    topics: dict[str, int]
    #: group name -> (subscribed topics, number of members)
    groups: dict[str, tuple[tuple[str, ...], int]] = field(default_factory=dict)
    #: group name -> topic -> the producing stages it wants on that topic (a topic not named: all).
    #: The queue transports then never carry, and the consumer never decodes, what it would drop
    #: (Match's own OrderChangeLog output coming back to it, Acquiring's to itself)
    sources: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    #: producing stage -> topics whose relative order it needs kept per partition number (Match:
    #: trades before the order updates they cause). The queue transports keep every producer's
    #: order anyway (one queue per member); Kafka orders only within a partition (bus/kafka.py)
    ordered: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for group, (topics, members) in self.groups.items():
            if members < 1:
                raise ValueError(f"group {group!r} needs at least one member")
            for topic in topics:
                if topic not in self.topics:
                    raise ValueError(f"group {group!r} subscribes to undeclared topic {topic!r}")

    def subscribers(self, topic: str) -> list[tuple[str, int]]:
        """(group, members) of every group subscribed to `topic`."""
        return [(g, m) for g, (topics, m) in self.groups.items() if topic in topics]

    def subscribers_of(self, topic: str, producer: str) -> list[tuple[str, int]]:
        """(group, members) of every group that wants `producer`'s entries on `topic`; `producer`
        is an instance name ("match-0"), its stage the part before the last "-"."""
        stage = producer.rpartition("-")[0]
        return [(g, m) for g, m in self.subscribers(topic)
                if topic not in self.sources.get(g, {}) or stage in self.sources[g][topic]]

    def member_for(self, partition: int, members: int) -> int:
        """The group member that owns a partition."""
        return partition % members


class Producer(ABC):
    """Publishes batches of entries to topics."""

    partitions: dict[str, int]
    #: called now and then while a publish waits on the transport (Kafka's acknowledgements), so the
    #: stage's heartbeat stays fresh and the supervisor does not take the wait for a wedged stage
    keepalive: Callable[[], None] | None = None

    @abstractmethod
    def publish_to(self, topic: str, partition: int, entries: list[ChangeLogEntry]) -> None:
        """Send entries, in order, to one partition of `topic` (for every subscribed group)."""

    def publish(self, topic: str, key: str, entries: list[ChangeLogEntry]) -> None:
        """Send entries, in order, to the partition of `key`."""
        try:
            partitions = self.partitions[topic]
        except KeyError:
            raise KeyError(f"publish to undeclared topic {topic!r}") from None
        self.publish_to(topic, partition_for(key, partitions), entries)

    def pretouch(self, topics) -> None:
        """Map now, in this process, the memory of these topics' routes (bus.pretouch); a no-op
        for transports without shared-memory rings."""

    def flush(self, timeout: float | None = None) -> None:
        """Block until everything published has been handed to the transport."""

    def commit(self, consumer: "Consumer | None" = None) -> None:
        """End a unit of work: what was published since the last call, with the input `consumer`
        has handed over (its positions), counts as done. A transactional producer (Kafka with
        kafka.transactions) commits both in one transaction; otherwise the consumer commits alone."""
        if consumer is not None:
            consumer.commit()


class Consumer(ABC):
    """Receives the batches of the partitions one group member owns."""

    #: a file descriptor that turns readable when a message may be waiting (None: the transport has
    #: none): an event loop watches it instead of a thread blocking in poll. Read it empty, then
    #: poll with timeout 0 until nothing comes (runtime/busreader.py, DoorbellReader).
    doorbell: int | None = None

    @abstractmethod
    def poll(self, timeout: float) -> Iterator[Batch]:
        """The batches waiting (at least one, or none after `timeout` seconds; 0 = never wait).

        Batches are decoded as the iterator advances: consume it before polling again, and keep
        only what you need, so that one batch at a time is alive as Python objects.
        """

    def poll_detached(self, timeout: float) -> Collection[Batch]:
        """As `poll`, for a caller that hands the batches to another thread (runtime/busreader.py):
        a collection whose length is known now and which may be iterated later, on any thread, while
        this consumer polls again. The default decodes them all now; a transport whose messages are
        plain bytes once read (shm) leaves each to be decoded as the other thread reaches it."""
        return list(self.poll(timeout))

    def commit(self) -> None:
        """Mark everything polled so far as processed (Kafka offsets; a no-op on the queues)."""

    def depth(self) -> int:
        """How many messages wait for this member (best effort; -1 when unknown)."""
        return -1

    def positions(self) -> dict:
        """Where this member would start again to read what it has not handed over yet
        (transport-specific keys; empty when the transport cannot start elsewhere)."""
        return {}

    def close(self) -> None:
        """Release the consumer."""


class Blobs(ABC):
    """Opaque values by key, kept by the transport's cluster (Kafka: a compacted topic)."""

    @abstractmethod
    def put(self, key: str, data: bytes) -> None:
        """Store `data` under `key` durably, replacing what was there."""

    @abstractmethod
    def get(self, key: str) -> bytes | None:
        """The last value stored under `key` (None: none)."""


class Bus(ABC):
    """A transport: creates producers and consumers for a wiring."""

    wiring: Wiring
    #: False when a member killed mid-operation can wedge a queue others share (shm): the supervisor
    #: then restarts the whole pipeline on fresh queues instead of just the dead member.
    survives_member_death: bool = True
    #: a member's consumer made again (in a restarted process) starts where the pipeline's
    #: consumers started, and reads again everything its group was sent since (Kafka keeps it):
    #: a stage that rebuilds its state from its input can then restart alone (supervisor.py)
    rereads_from_start: bool = False
    #: producer(name, groups) can deliver to some consumer groups only (recovery feeds Persist so)
    can_target_groups: bool = False

    @abstractmethod
    def producer(self, name: str) -> Producer:
        """A producer; `name` identifies the stage instance for logs and errors."""

    @abstractmethod
    def consumer(self, group: str, member: int) -> Consumer:
        """The consumer of member `member` of `group`."""

    def blobs(self) -> "Blobs | None":
        """Where a stage instance keeps opaque state any machine can read back (None: nowhere)."""
        return None

    def close(self) -> None:
        """Release every resource the bus holds (queues, connections)."""


def split_for_limit(encode, batch: Batch, limit: int) -> list[bytes]:
    """Encode a batch as one or more messages of at most `limit` bytes each, keeping entry order.

    Raises EntryTooLarge when a single entry cannot fit.
    """
    data = encode(batch)
    if len(data) <= limit:
        return [data]
    entries = batch.entries
    if len(entries) == 1:
        raise EntryTooLarge(
            f"entry {entries[0].entity_type}:{entries[0].entity_id} encodes to {len(data)} bytes; "
            f"the largest message is {limit} bytes (bus.max_message_bytes)"
        )
    half = len(entries) // 2
    head = Batch(batch.topic, batch.partition, batch.producer, entries[:half])
    tail = Batch(batch.topic, batch.partition, batch.producer, entries[half:])
    return split_for_limit(encode, head, limit) + split_for_limit(encode, tail, limit)
