"""The bridge between a stage's Bus queue and an asyncio event loop (the HTTP and WebSocket stages).

A thread blocks on the queue (faster-fifo waits without holding the GIL), decodes what arrives,
and has the loop apply it, waiting until it has: the loop owns the stage's state, so no lock is
needed, and a busy loop slows the reader instead of letting decoded batches pile up in memory.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable


class BusReader:
    """Feeds `runner` from its consumer on a thread; batches are processed on `loop`."""

    def __init__(self, runner, loop: asyncio.AbstractEventLoop, after: Callable[[], None] | None = None) -> None:
        self.runner = runner
        self.loop = loop
        self.after = after  # called on the loop after each applied poll (e.g. flush WebSocket writes)
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._read, name="bus-reader", daemon=True)

    def start(self) -> None:
        self.thread.start()

    async def _apply(self, batches) -> None:
        self.runner.process(iter(batches))
        if self.after is not None:
            self.after()

    def _read(self) -> None:
        consumer = self.runner.consumer
        while not self.done.is_set():
            batches = list(consumer.poll(0.05))
            if batches:
                asyncio.run_coroutine_threadsafe(self._apply(batches), self.loop).result()

    async def stop(self, timeout: float = 2.0) -> None:
        """Stop reading (after the current poll) without blocking the loop."""
        self.done.set()
        await self.loop.run_in_executor(None, self.thread.join, timeout)
