"""The bridge between a stage's Bus queue and an asyncio event loop (the HTTP and WebSocket stages).

A thread blocks on the queue (faster-fifo waits without holding the GIL) and hands each poll's
batches to the loop, which applies them in order: the loop owns the stage's state, so no lock is
needed. Over shm the loop decodes each batch as it reaches it (`Consumer.poll_detached`), one
batch alive as objects at a time (BENCHMARKS.md, "Twenty-third session": Acquiring 5% less CPU than
when the thread decoded the whole poll); other transports' consumers decode on the thread. The
thread does not wait for each poll to be applied (that was a second cross-thread wake-up per poll,
and a GIL hand-off each way); it may run up to
`max_in_flight` polls ahead, so a busy loop still slows the reader instead of letting decoded
batches pile up in memory. With the runner's `linger_s` (runtime.linger_ms), the thread sleeps that
long after a poll that emptied the queue, so the next one takes more in (one wake-up of the thread
and of the loop for it).

Only the thread touches the consumer (a Kafka consumer is not to be used from two threads at
once): it reads the queue depth after each poll and hands it over with the batches, and, when
asked (`positions`: a stage that keeps its state in the cluster, Push), the consumer's positions
past that poll; once the loop has applied the poll, `applied` holds them, the input positions the
stage's state reflects (the thread may have read further). It commits nothing itself: a Kafka
consumer stores what a poll handed over at its next poll, for the lag tools.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable

log = logging.getLogger("spot_seda.busreader")


class BusReader:
    """Feeds `runner` from its consumer on a thread; batches are processed on `loop`."""

    def __init__(self, runner, loop: asyncio.AbstractEventLoop, after: Callable[[], None] | None = None,
                 max_in_flight: int = 8, positions: bool = False,
                 thread_setup: Callable[[], None] | None = None) -> None:
        self.runner = runner
        self.thread_setup = thread_setup  # called first on the thread (e.g. its scheduling policy)
        self.positions = positions
        #: the consumer's positions past the last poll the loop applied (with `positions`)
        self.applied: dict = runner.consumer.positions() if positions else {}
        self.loop = loop
        self.after = after  # called on the loop after each applied poll (e.g. flush WebSocket writes)
        self.done = threading.Event()
        self.slots = threading.Semaphore(max_in_flight)
        self.max_in_flight = max_in_flight
        self.thread = threading.Thread(target=self._read, name="bus-reader", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _apply(self, batches, depth: int, positions: dict | None) -> None:
        try:
            self.runner.process(iter(batches), depth)
            if positions is not None:
                self.applied = positions
            if self.after is not None:
                self.after()
        except BaseException:
            # the stage's state may be half-updated: it must not go on serving from it; the
            # supervisor restarts the pipeline, which rebuilds it from the journal
            log.critical("applying the bus input failed: stopping this stage", exc_info=True)
            os._exit(70)
        finally:
            self.slots.release()

    def _read(self) -> None:
        if self.thread_setup is not None:
            self.thread_setup()
        consumer = self.runner.consumer
        while not self.done.is_set():
            batches = consumer.poll_detached(0.05)
            if batches:
                depth = consumer.depth() if self.runner.row is not None else -1
                positions = consumer.positions() if self.positions else None
                self.slots.acquire()
                self.loop.call_soon_threadsafe(self._apply, batches, depth, positions)
                if depth == 0 and self.runner.linger_s:  # (Runner.run: input gathers meanwhile)
                    time.sleep(self.runner.linger_s)

    async def stop(self) -> None:
        """Stop reading (after the current poll, at most 50 ms) without blocking the loop; returns
        once the thread has ended and every poll it handed over has been applied, so the caller may
        drain the queue itself."""
        self.done.set()
        await self.loop.run_in_executor(None, self.thread.join)  # (it may wait for a slot: the loop frees them)
        for _ in range(self.max_in_flight):  # every slot back: nothing handed over is left to apply
            while not self.slots.acquire(blocking=False):
                await asyncio.sleep(0.001)
        for _ in range(self.max_in_flight):
            self.slots.release()
