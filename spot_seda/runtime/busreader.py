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


class DoorbellReader:
    """BusReader's job without the thread, for a consumer with a doorbell (bus/shm.py,
    `bus.doorbells`): the loop watches the doorbell's fd and, when it turns readable, empties it,
    then polls the ring without waiting and applies each poll itself. A command's answer then costs
    one wake-up of the loop, where the thread cost its own wake-up, its wait for the GIL and a
    `call_soon_threadsafe` to wake the loop. Same interface as BusReader (start, stop, applied)."""

    def __init__(self, runner, loop: asyncio.AbstractEventLoop, after: Callable[[], None] | None = None,
                 positions: bool = False) -> None:
        self.runner = runner
        self.loop = loop
        self.after = after
        self.positions = positions
        self.fd = runner.consumer.doorbell
        self.applied: dict = runner.consumer.positions() if positions else {}
        self._watching = False
        self._stopped = False
        self._resume: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self._watch()
        self.loop.call_soon(self._ready)  # what was queued before the loop watched

    def _watch(self) -> None:
        if not self._watching:
            self.loop.add_reader(self.fd, self._ready)
            self._watching = True

    def _unwatch(self) -> None:
        if self._watching:
            self.loop.remove_reader(self.fd)
            self._watching = False

    def _ready(self) -> None:
        self._resume = None
        if self._stopped:  # (a call_soon made before stop(): nothing is applied after it)
            return
        try:
            while os.read(self.fd, 65536):  # empty the pipe first, then the ring: no put is missed
                pass
        except BlockingIOError:
            pass
        consumer = self.runner.consumer
        try:
            for _ in range(8):  # a busy ring: at most 8 polls, then the loop's other work gets a turn
                batches = consumer.poll_detached(0)
                if not batches:
                    return
                depth = consumer.depth() if self.runner.row is not None else -1
                self.runner.process(iter(batches), depth)
                if self.positions:
                    self.applied = consumer.positions()
                if self.after is not None:
                    self.after()
                if depth == 0 and self.runner.linger_s:  # (Runner.run: input gathers meanwhile)
                    self._unwatch()
                    self._resume = self.loop.call_later(self.runner.linger_s, self._linger_over)
                    return
            self.loop.call_soon(self._ready)  # more may wait: the doorbell rang for it already
        except BaseException:
            # as BusReader: the stage's state may be half-updated; the supervisor restarts the pipeline
            log.critical("applying the bus input failed: stopping this stage", exc_info=True)
            os._exit(70)

    def _linger_over(self) -> None:
        self._watch()
        self._ready()

    async def stop(self) -> None:
        """Stop reading; nothing is in flight (every poll is applied as it is taken), so the caller
        may drain the queue itself at once."""
        self._stopped = True
        self._unwatch()
        if self._resume is not None:
            self._resume.cancel()
            self._resume = None


def bus_reader(runner, loop: asyncio.AbstractEventLoop, after: Callable[[], None] | None = None,
               positions: bool = False, thread_setup: Callable[[], None] | None = None):
    """The reader for this runner's consumer: on the loop when it has a doorbell, else on a thread."""
    if getattr(runner.consumer, "doorbell", None) is not None:
        return DoorbellReader(runner, loop, after=after, positions=positions)
    return BusReader(runner, loop, after=after, positions=positions, thread_setup=thread_setup)
