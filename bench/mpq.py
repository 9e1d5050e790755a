"""A bench-only Bus engine: the shm transport with each faster-fifo ring swapped for a
`multiprocessing.Queue`, the queue the standard library offers for the same job.

Everything else is the shm engine's (routing, batching, encoding, back-pressure on a bounded
queue), so bench/pipeline.py's `mpq` rows show what faster-fifo buys once real stages sit on it.
A multiprocessing.Queue pickles each message in a feeder thread and unpickles it on `get`, one
message per call; the adapter below gives it faster-fifo's batch calls by looping.
"""

from __future__ import annotations

import multiprocessing
import queue
import time

import msgspec

from spot_seda.bus.shm import ShmBus

_fork = multiprocessing.get_context("fork")
#: messages (batches of entries) a queue holds before a producer waits: with batches of a few
#: hundred entries about what the shm rings' 64 MiB hold
MAX_MESSAGES = 20_000


class MpqQueue:
    """faster-fifo's calls over a bounded multiprocessing.Queue."""

    def __init__(self, maxsize: int = MAX_MESSAGES) -> None:
        self.q = _fork.Queue(maxsize)

    def put(self, message: bytes, block: bool = True, timeout: float | None = None) -> None:
        self.q.put(message, block, timeout)

    def put_many(self, messages: list[bytes], block: bool = True, timeout: float | None = None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        for m in messages:
            self.q.put(m, block, None if deadline is None else max(0.0, deadline - time.monotonic()))

    def get_many(self, block: bool = True, timeout: float | None = None, max_messages_to_get: int = 100) -> list[bytes]:
        out = [self.q.get(block, timeout)]  # raises queue.Empty after timeout, as faster-fifo does
        return self._more(out, max_messages_to_get)

    def get_many_nowait(self, max_messages_to_get: int = 100) -> list[bytes]:
        return self._more([self.q.get_nowait()], max_messages_to_get)

    def _more(self, out: list[bytes], limit: int) -> list[bytes]:
        get = self.q.get_nowait
        while len(out) < limit:
            try:
                out.append(get())
            except queue.Empty:
                break
        return out

    def qsize(self) -> int:
        return self.q.qsize()

    def close(self) -> None:
        self.q.close()
        self.q.cancel_join_thread()  # a stopping bench must not wait for a consumer that is gone


class MpqBus(ShmBus):
    """The shm Bus on multiprocessing.Queue, with no doorbells (bus.doorbells): a doorbell must ring
    after the message is readable, and multiprocessing.Queue's put returns before its feeder thread
    has written the message, so a reader woken by it could find nothing and sleep on it for good."""

    def __init__(self, wiring, settings) -> None:
        super().__init__(wiring, msgspec.structs.replace(settings, doorbells=[]))

    def new_queue(self) -> MpqQueue:
        return MpqQueue()
