"""The in-process transport: the same semantics as shm over deques, for tests, replay and comparison.

Single-threaded by design: a full queue cannot drain while its producer waits, so BusFull is raised
at once instead of after a timeout.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from ..model.changelog import Batch, ChangeLogEntry, Codec
from .base import Bus, BusFull, Consumer, Producer, Wiring, split_for_limit


class InprocBus(Bus):
    """Bounded deques per (group, member); messages are encoded and decoded as on the shm rings so
    that both engines exercise the same codec path and the same size limits.

    `direct=True` (recovery and offline replay, where the journal is the input and speed matters)
    queues the Batch objects themselves: entries are immutable, so consumers may share them; no
    size limit applies and nothing is encoded."""

    def __init__(self, wiring: Wiring, settings, direct: bool = False) -> None:
        self.wiring = wiring
        self.settings = settings
        self.direct = direct
        self.codec = Codec(settings.codec)
        self.queues: dict[tuple[str, int], _Queue] = {
            (g, m): _Queue(settings.queue_bytes)
            for g, (_topics, members) in wiring.groups.items()
            for m in range(members)
        }

    def routes_of(self, producer: str) -> dict[str, list[list[_Queue]]]:
        """topic -> the queues of each group that wants `producer`'s entries (Wiring.sources)."""
        return {topic: [[self.queues[g, m] for m in range(members)] for g, members in self.wiring.subscribers_of(topic, producer)]
                for topic in self.wiring.topics}

    def producer(self, name: str) -> "InprocProducer":
        return InprocProducer(self, name)

    def consumer(self, group: str, member: int) -> "InprocConsumer":
        if self.direct:
            return DirectConsumer(self.queues[group, member], self.codec, self.settings.batch_max)
        return InprocConsumer(self.queues[group, member], self.codec, self.settings.batch_max)

    def pending(self) -> int:
        """Messages waiting in all queues (0 = the pipeline is quiescent)."""
        return sum(len(q.items) for q in self.queues.values())


class _Queue:
    __slots__ = ("items", "bytes", "capacity")

    def __init__(self, capacity: int) -> None:
        self.items: deque[bytes] = deque()
        self.bytes = 0
        self.capacity = capacity


class InprocProducer(Producer):
    def __init__(self, bus: InprocBus, name: str) -> None:
        self.name = name
        self._bus = bus
        self._routes = bus.routes_of(name)
        self.partitions = bus.wiring.topics

    def publish_to(self, topic: str, partition: int, entries: list[ChangeLogEntry]) -> None:
        if not entries:
            return
        bus = self._bus
        groups = self._routes[topic]
        if not groups:
            return
        if bus.direct:
            batch = Batch(topic, partition, self.name, entries)
            for members in groups:
                members[partition % len(members)].items.append(batch)
            return
        messages = split_for_limit(
            bus.codec.encode, Batch(topic, partition, self.name, entries), bus.settings.max_message_bytes
        )
        size = sum(map(len, messages))
        targets = [members[partition % len(members)] for members in groups]
        for q in targets:  # all or nothing: check every target before touching any
            if q.bytes + size > q.capacity:
                raise BusFull(f"{self.name}: in-process queue for {topic}[{partition}] is full")
        for q in targets:
            q.items.extend(messages)
            q.bytes += size


class InprocConsumer(Consumer):
    def __init__(self, q: _Queue, codec: Codec, max_messages: int) -> None:
        self._q = q
        self._decode = codec.decode
        self._max = max_messages

    def poll(self, timeout: float) -> Iterator[Batch]:
        items, q, decode = self._q.items, self._q, self._decode
        for _ in range(min(len(items), self._max)):
            data = items.popleft()
            q.bytes -= len(data)
            yield decode(data)

    def depth(self) -> int:
        return len(self._q.items)


class DirectConsumer(InprocConsumer):
    """Reads the Batch objects a direct bus queues (no decoding)."""

    def poll(self, timeout: float) -> Iterator[Batch]:
        items = self._q.items
        for _ in range(min(len(items), self._max)):
            yield items.popleft()
