"""Order entry's part in a snapshot: hold new commands back for a moment, send the marker, let them in again.

runtime/snapshots.py describes the whole protocol. Here: commands wait at `admit()` while a
snapshot is being started; once every accepted command is durable and published, Acquiring forks
the child that writes its own state as it is at the journal's last position (runtime/stageproc.py,
SnapshotWriter.begin), starts recording its input (the channel state), sends a "snapshot" marker
tagged with that position, and lets commands flow again. When the marker has come back through
Match and Settlement on every input channel, the record goes to the child, which writes both. The
pause is the wait for the last accepted commands and a fork, not the marker's round trip.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from pathlib import Path

from ..model.reasons import Reason
from ..journal import Journal
from ..runtime.snapshots import manifest_position
from ..binance import errors

log = logging.getLogger("spot_seda.acquiring")

#: a snapshot whose marker has not come back by then is abandoned (and never declared complete)
MARKER_TIMEOUT_S = 10.0


class Intake:
    """The gate in front of Acquiring's command methods, and the snapshot cycle that closes it."""

    def __init__(self, runner, journal: Journal, pending: deque, data_dir: Path, rotate: bool = True,
                 interval: float = 0.0) -> None:
        self.runner = runner
        self.rotate = rotate
        self.journal = journal
        self.pending = pending  # (position, outputs) accepted and journaled, not yet published
        self.data_dir = data_dir
        self.open = asyncio.Event()
        self.open.set()
        self.position = manifest_position(data_dir)  # of the last snapshot this stage took
        self.paused_ms: list[float] = []
        #: seconds between periodic snapshots (journal.snapshot_interval_s; 0: none but those asked for)
        self.interval = interval
        self._due = time.monotonic() + interval
        #: the last periodic snapshot started (`snapshot_when_due`): a stop waits for it
        self.cycle: asyncio.Task | None = None
        self._waits: dict[int, asyncio.Future] = {}
        #: the supervisor's SnapshotWriter: forks this stage's writer (None: a snapshot writes nothing
        #: here, as in a pipeline run without files; the marker's round trip still counts)
        self.writer = runner.on_marker if hasattr(runner.on_marker, "begin") else None

        def on_marker(kind: str, position: int) -> None:
            if kind != "snapshot":
                return
            waiting = self._waits.pop(position, None)
            if waiting is not None and not waiting.done():  # (done: abandoned)
                waiting.set_result(None)

        runner.on_marker = on_marker

    async def admit(self, deadline: float | None = None) -> None:
        """Wait while a snapshot is being started (call right before a command method). Past
        `deadline` (loop time) the command is refused -1003 (503): nothing was accepted."""
        if not self.open.is_set():
            if deadline is None:
                await self.open.wait()
                return
            try:
                async with asyncio.timeout_at(deadline):
                    await self.open.wait()
            except TimeoutError:
                raise errors.refusal(Reason.OVERLOADED) from None

    def snapshot_when_due(self) -> bool:
        """Start the periodic snapshot once `interval` has passed since the last one started, unless
        one is still under way (order entry's serving loop calls this every turn); True if it did."""
        if not self.interval or time.monotonic() < self._due or (self.cycle is not None and not self.cycle.done()):
            return False
        self.cycle = asyncio.get_running_loop().create_task(self.snapshot())
        self._due = time.monotonic() + self.interval
        return True

    async def snapshot(self) -> bool:
        """Take a snapshot at the journal's last position (if anything is new since the last one);
        then delete the journal segments the last complete snapshot no longer needs."""
        journal = self.journal
        if journal.last_position > self.position:
            loop = asyncio.get_running_loop()
            self.open.clear()
            started = time.perf_counter()
            writing = recording = None
            try:
                while self.pending:  # accepted commands still waiting for their journal sync
                    await asyncio.sleep(0.0005)
                position = journal.last_position
                waiting = loop.create_future()
                self._waits[position] = waiting
                if self.writer is not None:  # (nothing runs on the loop between these three)
                    # the state at the marker, forked before the marker wakes Match and Settlement,
                    # which share order entry's core on a small machine
                    writing = self.writer.begin(position)
                    recording = self.runner.record_channel("snapshot", position)
                self.runner.emit_marker("snapshot", position)
            finally:
                self.open.set()
            paused = (time.perf_counter() - started) * 1e3
            self.paused_ms.append(paused)
            try:
                await asyncio.wait_for(waiting, MARKER_TIMEOUT_S)
            except asyncio.TimeoutError:
                log.error("the snapshot marker did not come back within %.0fs: snapshot abandoned", MARKER_TIMEOUT_S)
                self._waits.pop(position, None)
                if writing is not None:
                    self.runner.drop_channel()
                    writing.abandon()
                return False
            if writing is not None:
                writing.finish(recording.batches)
            self.position = position
            log.info("📸 snapshot marker at journal position %d (order entry paused %.1f ms, %d batches on their "
                     "way recorded)", position, paused, len(recording.batches) if recording is not None else 0)
        if not self.rotate:
            return True
        removed = journal.truncate_before(manifest_position(self.data_dir) + 1)
        if removed:
            log.info("🗑️  removed %d journal segment(s) older than the last snapshot", len(removed))
        return True
