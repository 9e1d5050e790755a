"""The single-box transport: faster-fifo shared-memory queues between stage processes.

One bounded MPMC queue per consumer-group member. Publishing encodes a batch once (msgpack) and puts
the bytes into the queue of the member that owns the partition, for every subscribed group. Queues are
created by the supervisor before it forks the stages, so every child inherits them; their memory is
anonymous shared memory that the kernel frees with the last process (no named segment can leak).
"""

from __future__ import annotations

import os
import queue
from collections.abc import Collection, Iterable, Iterator

from faster_fifo import Queue

from ..model.changelog import Batch, ChangeLogEntry, Codec
from .base import Bus, BusClosed, BusFull, Consumer, Producer, Wiring, split_for_limit


def _identity(data: bytes) -> bytes:
    return data


_PAGE = os.sysconf("SC_PAGE_SIZE")


class ShmBus(Bus):
    """faster-fifo queues for every (group, member) of a wiring."""

    # glibc's process-shared condition variables keep a reference for each waiter; a waiter killed
    # by SIGKILL never drops it, and the next signaller waits for it for ever. faster-fifo's mutex is
    # not robust either. So a member that dies abnormally may leave its queues wedged.
    survives_member_death = False
    can_target_groups = True

    def __init__(self, wiring: Wiring, settings) -> None:
        self.wiring = wiring
        self.settings = settings
        self.codec = Codec(settings.codec)
        if settings.max_message_bytes * 2 > settings.queue_bytes:
            raise ValueError("bus.queue_bytes must hold at least two messages of bus.max_message_bytes")
        self.queues: dict[tuple[str, int], Queue] = {}
        #: (read end, write end) of a non-blocking pipe per member of a group in settings.doorbells,
        #: keyed by id(queue) for the producers (made before the fork, like the queues). The byte is
        #: written after the put returns, so a put must leave its message readable by then (faster-fifo's
        #: does; bench/mpq.py's multiprocessing.Queue does not, and has none)
        self.doorbells: dict[int, tuple[int, int]] = {}
        self._touched: set[tuple[int, int]] = set()  # (pid, id(queue)): a fork inherits the set, not the mappings
        for group, (_topics, members) in wiring.groups.items():
            for member in range(members):
                # Raw bytes both ways: the consumer decodes lazily, one message at a time, so only
                # the batch in hand is alive as Python objects (decoding a whole poll at once is
                # 2x slower: fresh memory for every object instead of reused memory).
                q = self.queues[group, member] = self.new_queue()
                if group in settings.doorbells:
                    r, w = os.pipe()
                    os.set_blocking(r, False)
                    os.set_blocking(w, False)
                    self.doorbells[id(q)] = (r, w)

    def new_queue(self):
        """One member's queue (bench/mpq.py swaps in multiprocessing.Queue to compare)."""
        return Queue(max_size_bytes=self.settings.queue_bytes, dumps=_identity, loads=bytes)

    def producer(self, name: str, groups: tuple[str, ...] | None = None) -> "ShmProducer":
        """A producer named `name`; with `groups`, one that delivers to those consumer groups only
        (recovery feeds the replay's output to Persist alone: the other stages rebuild their own)."""
        return ShmProducer(self, name, groups)

    def consumer(self, group: str, member: int) -> "ShmConsumer":
        try:
            q = self.queues[group, member]
        except KeyError:
            raise KeyError(f"no consumer group member {group}[{member}] in this wiring") from None
        self.pretouch((q,))
        consumer = ShmConsumer(q, self.codec, self.settings.poll_max_messages)
        if id(q) in self.doorbells:
            consumer.doorbell = self.doorbells[id(q)][0]
        return consumer

    def pretouch(self, queues: Iterable[Queue]) -> None:
        """With `bus.pretouch`, read one byte of every page of these rings, so this process maps
        them all now (the supervisor wrote them in full when it made them: no new memory) rather
        than one page fault at a time as each ring first wraps under load. A process maps only the
        rings it reads (its consumer's, when made) or writes (a topic's, at its first publish)."""
        if not self.settings.pretouch:
            return
        pid = os.getpid()
        for q in queues:
            memory = getattr(q, "shared_memory", None)  # (bench/mpq.py's queues have none to touch)
            if memory is not None and (pid, id(q)) not in self._touched:
                self._touched.add((pid, id(q)))
                bytes(memoryview(memory).cast("B")[::_PAGE])  # a strided copy: one read per page

    def close(self) -> None:
        for q in self.queues.values():
            q.close()
        pipes = list(self.doorbells.values())
        self.doorbells.clear()  # first: a producer of this bus rings no fd number that may be reused
        for r, w in pipes:
            os.close(r)
            os.close(w)


class ShmProducer(Producer):
    __slots__ = ("name", "_routes", "partitions", "_encode", "_limit", "_timeout", "_bus", "_untouched", "_bells")

    def __init__(self, bus: ShmBus, name: str, groups: tuple[str, ...] | None = None) -> None:
        self.name = name
        # only the groups that want this producer's entries (Wiring.sources), and with `groups` only those
        self._routes = {
            topic: [[bus.queues[g, m] for m in range(members)] for g, members in bus.wiring.subscribers_of(topic, name)
                    if groups is None or g in groups]
            for topic in bus.wiring.topics
        }
        self.partitions = bus.wiring.topics
        self._encode = bus.codec.encode
        self._limit = bus.settings.max_message_bytes
        self._timeout = bus.settings.put_timeout_s
        self._bus = bus
        self._untouched = set(self._routes)  # topics not published yet: their rings not pre-touched
        self._bells = bus.doorbells  # (the bus's own dict: emptied before its close() closes the pipes)

    def pretouch(self, topics) -> None:
        """Pre-touch the rings of these topics now (a stage process calls it at start with the
        topics its stage produces, which every snapshot marker is sent on), not at their first
        publish: that one may be a snapshot marker, while order entry waits for it."""
        for topic in topics:
            if topic in self._untouched:
                self._untouched.discard(topic)
                self._bus.pretouch(q for members in self._routes.get(topic, ()) for q in members)

    def publish_to(self, topic: str, partition: int, entries: list[ChangeLogEntry]) -> None:
        if not entries:
            return
        try:
            groups = self._routes[topic]
        except KeyError:
            raise KeyError(f"{self.name}: publish to undeclared topic {topic!r}") from None
        if not groups:
            return
        if topic in self._untouched:
            self.pretouch((topic,))
        messages = split_for_limit(self._encode, Batch(topic, partition, self.name, entries), self._limit)
        for members in groups:
            q = members[partition % len(members)]
            try:
                if len(messages) == 1:
                    q.put(messages[0], block=True, timeout=self._timeout)
                else:
                    q.put_many(messages, block=True, timeout=self._timeout)
            except queue.Full:
                raise BusFull(
                    f"{self.name}: queue for {topic}[{partition}] stayed full for {self._timeout}s "
                    "(consumer behind or stopped; see bus.queue_bytes / bus.put_timeout_s)"
                ) from None
            except ValueError as exc:  # faster-fifo raises ValueError on a closed queue
                raise BusClosed(f"{self.name}: {exc}") from None
            bell = self._bells.get(id(q))
            if bell is not None:  # after the put: a reader that empties the pipe and then the ring misses nothing
                try:
                    os.write(bell[1], b"\0")
                except BlockingIOError:  # the pipe is full of rings already: the reader has a wake-up pending
                    pass


class _Decoded:
    """Messages read from a ring, each decoded as iteration reaches it (Consumer.poll_detached)."""

    __slots__ = ("raw", "decode")

    def __init__(self, raw: list[bytes], decode) -> None:
        self.raw, self.decode = raw, decode

    def __len__(self) -> int:
        return len(self.raw)

    def __iter__(self) -> Iterator[Batch]:
        return map(self.decode, self.raw)


class ShmConsumer(Consumer):
    __slots__ = ("_q", "_max", "_decode", "doorbell")

    def __init__(self, q: Queue, codec: Codec, max_messages: int) -> None:
        self.doorbell = None
        self._q = q
        self._decode = codec.decode
        self._max = max_messages

    def _take(self, timeout: float) -> list[bytes]:
        """The messages waiting, as bytes (none after `timeout` s; 0 = never wait)."""
        try:
            if timeout <= 0:
                return self._q.get_many_nowait(max_messages_to_get=self._max)
            return self._q.get_many(block=True, timeout=timeout, max_messages_to_get=self._max)
        except queue.Empty:
            return []

    def poll(self, timeout: float) -> Iterator[Batch]:
        return map(self._decode, self._take(timeout))

    def poll_detached(self, timeout: float) -> "Collection[Batch]":
        raw = self._take(timeout)
        return _Decoded(raw, self._decode) if raw else ()

    def depth(self) -> int:
        return self._q.qsize()
