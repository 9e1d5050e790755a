"""The durable command journal: append-only, framed, checksummed, group-committed (DESIGN.md section 7).

Acquiring appends every accepted command here before it answers the client; replaying the journal
rebuilds every stage (invariants 6 and 7). Snapshots are tagged with a journal *position*.

Writing and what each fsync policy promises
-------------------------------------------
``append()`` only frames the record into an in-memory buffer (a few microseconds) and returns its
position: the record is *not yet acknowledged*. A command is acknowledged once a ``commit()`` (blocking)
or an ``await sync()`` (asyncio) that started after its ``append()`` has returned; only then may the
caller answer the client. Every commit hands all pending records to the OS in one ``write`` per
segment touched (normally one), so a group of appends costs one syscall.

``"always"``  commit()/sync() return only after the records are written *and* ``fsync``-ed. An
              acknowledged command survives a kill -9 of any process and a power cut / kernel crash.
              With the blocking ``commit()`` the grouping is the caller's: append the batch, commit
              once (the fsync blocks the calling thread: do not call it on an event loop).
``"batch"``   commit()/sync() return once the records are written to the OS (page cache); a helper
              thread fsyncs at most once every ``batch_window_ms``, starting at most a window after a
              write. An acknowledged command survives a kill -9 of any process; a power cut can lose
              the commands acknowledged in the last window, never an older one. The window is
              batch_window_ms + the fsync's own time + the helper's wait for the GIL: when the owning
              thread is busy in Python each hand-off takes up to the interpreter's switch interval
              (5 ms), so the window is longer when the owner rarely releases the GIL (BENCHMARKS.md,
              "Journal", has the figures).
``"off"``     commit()/sync() return once the records are written to the OS; nothing is fsynced until
              ``close()`` (sealed segments are not fsynced either). An acknowledged command survives a
              kill -9 of any process, not a machine crash (the kernel writes it back when it likes,
              typically within ~30 s).

For asyncio servers, ``await sync()`` is the group commit: every client that appended in the same loop
iteration joins one group: one write, then ("always") one fsync run in the loop's default executor
so the loop keeps serving; callers arriving while that fsync runs form the next group, started as
soon as it returns (so at most one fsync is in flight and each covers everything gathered meanwhile).
A request handler does ``pos = journal.append(cmd); await journal.sync(); answer(...)``. Under
"batch" and "off" a plain ``commit()`` on the loop is also fine (a page-cache write, no fsync): lower
latency, one write per call instead of per group.

In every policy a segment is fsynced when it is sealed by a rotation ("always" and "batch"), the
directory is fsynced when a segment is created or deleted ("always" and "batch"), and ``close()``
writes and fsyncs everything. If a write or an fsync fails the journal is poisoned: every later call
raises ``JournalError`` (after a failed fsync the kernel may have dropped the dirty pages, so a retry
could report success for lost data); restart, and recovery cuts whatever was half written.

The frame format, recovery on open and reading: journal/frames.py.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable

import msgspec

from . import frames
from .frames import (HEADER_BYTES, MAX_PAYLOAD, POLICIES, FsyncPolicy, JournalError, JournalLocked, RecoveryReport,
                     frame_crc, fsync_dir, HEADER, POS, segment_files, segment_name)

log = logging.getLogger("spot_seda.journal")


def _lock(directory: Path) -> int:
    """Take the journal's exclusive lock (one writer at a time); returns its fd (closing it releases)."""
    fd = os.open(directory / "LOCK", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise JournalLocked(f"journal {directory} is open by another writer") from None
    return fd


class Journal:
    """The writer. See the module docstring for the format and the promises of each fsync policy.

    ``directory`` is created if missing. ``segment_bytes`` caps a segment's size. ``repair=True``
    cuts middle damage in the last segment instead of refusing to open (drops acknowledged data).
    """

    def __init__(self, directory: str | os.PathLike, fsync: FsyncPolicy = "always", batch_window_ms: float = 2.0,
                 segment_bytes: int = 64 << 20, repair: bool = False,
                 thread_setup: Callable[[], None] | None = None) -> None:
        if fsync not in POLICIES:
            raise ValueError(f"fsync must be one of {POLICIES}, not {fsync!r}")
        if segment_bytes < HEADER_BYTES + 1:
            raise ValueError("segment_bytes too small")
        if batch_window_ms <= 0 and fsync == "batch":
            raise ValueError("batch_window_ms must be > 0")
        self.directory = Path(directory)
        self.fsync = fsync
        #: called first on the fsync thread ("batch"), e.g. to set its scheduling policy
        self.thread_setup = thread_setup
        self.batch_window_s = batch_window_ms / 1000.0
        self.segment_bytes = segment_bytes
        self._durable_meta = fsync != "off"  # fsync sealed segments and the directory
        self._failed: BaseException | None = None
        self._closed = False
        self._fd = -1
        self._lock_fd = -1

        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock_fd = _lock(self.directory)

        try:
            self.recovery = self._recover(repair)
        except BaseException:
            self._release_lock()
            raise
        last = self.recovery.last_position
        self._next = last + 1  # position of the next append
        self._written = last  # handed to the OS
        self._synced = last  # fsynced (everything on disk at open counts: it is all there is)
        self._buf = bytearray()
        self._cuts: list[tuple[int, int]] = []  # (offset in _buf, position) where a new segment starts
        self._fd_lock = threading.Lock()  # guards (_fd, _written) as one for the fsync helpers
        # stats for tests and benchmarks
        self.writes = 0
        self.fsyncs = 0
        # async group commit
        self._inflight: asyncio.Future | None = None  # the group fsync running in the executor
        # the callers gathering for the next write (+ fsync): (each one's future, its target position)
        self._group: list[tuple[asyncio.Future, int]] | None = None
        # "batch" background fsync
        self._flusher: threading.Thread | None = None
        self._cond = threading.Condition()
        self._dirty = False

    # ----------------------------------------------------------------------------------- opening

    def _recover(self, repair: bool) -> RecoveryReport:
        report = frames.recover_tail(self.directory, repair)
        if report.segment is None:
            self._seg_first = 1
            self._seg_path = self.directory / segment_name(1)
            self._seg_fill = 0  # bytes in the current segment, buffered ones included
            return report
        self._seg_first = report.first_position
        self._seg_path = report.segment
        self._seg_fill = report.good_end
        self._fd = os.open(report.segment, os.O_WRONLY | os.O_APPEND)
        return report

    # ----------------------------------------------------------------------------------- properties

    @property
    def last_position(self) -> int:
        """The last appended position (acknowledged or not); 0 when the journal is empty."""
        return self._next - 1

    @property
    def next_position(self) -> int:
        return self._next

    @property
    def written_position(self) -> int:
        """The last position handed to the OS (survives kill -9)."""
        return self._written

    @property
    def synced_position(self) -> int:
        """The last position known fsynced (survives a power cut)."""
        return self._synced

    @property
    def first_position(self) -> int:
        """The oldest position still on disk (after truncate_before)."""
        segs = segment_files(self.directory)
        return segs[0][0] if segs else self._seg_first

    def segments(self) -> list[Path]:
        return [p for _, p in segment_files(self.directory)]

    # ----------------------------------------------------------------------------------- appending

    def append(self, payload: bytes) -> int:
        """Frame one record into the buffer; returns its position. Not acknowledged until a commit."""
        if self._failed is not None or self._closed:
            self._raise_unusable()
        pos = self._next
        n = len(payload)
        size = HEADER_BYTES + n
        if n > MAX_PAYLOAD:
            raise ValueError(f"payload of {n} bytes is too big for a journal record")
        if self._seg_fill + size > self.segment_bytes and self._seg_fill:
            self._cuts.append((len(self._buf), pos))
            self._seg_fill = 0
        buf = self._buf
        buf += HEADER.pack(n, frame_crc(payload, frame_crc(POS.pack(pos))), pos)
        buf += payload
        self._seg_fill += size
        self._next = pos + 1
        return pos

    def append_many(self, payloads: Iterable[bytes]) -> int:
        """Append each payload in order; returns the last position (last_position if none)."""
        append = self.append
        for p in payloads:
            append(p)
        return self._next - 1

    def append_struct(self, obj: msgspec.Struct, encode=msgspec.msgpack.Encoder().encode) -> int:
        """Append a msgspec object encoded as msgpack (read back with ``read_structs``)."""
        return self.append(encode(obj))

    # ----------------------------------------------------------------------------------- committing

    def commit(self) -> int:
        """Acknowledge everything appended so far, blocking, per the fsync policy: write it to the OS
        (one write), then fsync ("always"), or leave the fsync to the window thread ("batch") or to
        close ("off"). Returns the last acknowledged position."""
        self._write_pending()
        target = self._written
        if self.fsync == "always":
            if self._synced < target:
                self._fsync_current()
        elif self.fsync == "batch":
            self._mark_dirty()
        return target

    flush = commit

    async def sync(self) -> int:
        """Acknowledge everything appended so far without blocking the event loop; returns the last
        acknowledged position (>= every position appended before the call).

        Group commit: the first caller of a loop iteration opens a group and schedules it for the next
        iteration, so every client that appends in the same iteration joins it: one write for all of
        them, then ("always") one fsync in the loop's default executor. While that fsync runs, new
        callers gather into the next group, which starts the moment the fsync returns. "batch"/"off":
        the group's write is done on the loop (page cache, microseconds), the fsync as the policy says.
        A cancelled caller does not cancel the group."""
        return await self.sync_future()

    def sync_future(self) -> asyncio.Future:
        """sync() as a future of this caller's own (its result the position, or JournalError): a
        caller that cancels it, or fails it at its deadline (api/admission.py), leaves the group and
        the other callers alone, with no task or shield in between."""
        target = self._next - 1
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        if (self._synced if self.fsync == "always" else self._written) >= target:
            if self._failed is not None or self._closed:
                self._raise_unusable()
            fut.set_result(target)
            return fut
        group = self._group
        if group is None:
            group = self._group = []
            if self._inflight is None:
                loop.call_soon(self._start_group, loop)
            # else: the fsync in flight starts this group when it returns
        group.append((fut, target))
        return fut

    def _start_group(self, loop: asyncio.AbstractEventLoop) -> None:
        group, self._group = self._group, None
        if group is None:
            return
        try:
            self._write_pending()
        except BaseException as exc:
            _fail(group, exc if isinstance(exc, Exception) else JournalError(repr(exc)))
            return
        if self.fsync != "always":
            if self.fsync == "batch":
                self._mark_dirty()
            _acknowledge(group)
            return
        self._inflight = loop.run_in_executor(None, self._fsync_current)
        self._inflight.add_done_callback(lambda done: self._group_synced(loop, done, group))

    def _group_synced(self, loop: asyncio.AbstractEventLoop, done: asyncio.Future, group: list) -> None:
        self._inflight = None
        exc = JournalError("journal fsync cancelled") if done.cancelled() else done.exception()
        if exc is not None:
            _fail(group, exc)
        else:
            _acknowledge(group)
        if self._group is not None:  # callers gathered while the fsync ran: their group goes now
            self._start_group(loop)

    def _write_pending(self) -> None:
        """Hand the buffered frames to the OS: one write per segment touched, rotating as planned."""
        if self._failed is not None or self._closed:
            self._raise_unusable()
        buf = self._buf
        if not buf:
            return
        cuts = self._cuts
        self._buf = bytearray()
        self._cuts = []
        try:
            start = 0
            for cut_off, cut_pos in cuts:
                if cut_off > start:
                    self._write_all(memoryview(buf)[start:cut_off], cut_pos - 1)
                self._rotate(cut_pos)
                start = cut_off
            self._write_all(memoryview(buf)[start:], self._next - 1)
        except BaseException as exc:
            self._failed = exc
            raise

    def _write_all(self, data: memoryview, last_pos: int) -> None:
        if self._fd < 0:  # the very first segment of an empty journal
            self._rotate(self._written + 1)
        fd = self._fd
        while data:
            n = os.write(fd, data)
            self.writes += 1
            data = data[n:]
        with self._fd_lock:
            self._written = last_pos

    def _rotate(self, first_position: int) -> None:
        """Seal the current segment (fsync it unless "off") and open a new one starting at first_position."""
        old = self._fd
        path = self.directory / segment_name(first_position)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_TRUNC, 0o644)
        if old >= 0 and self._durable_meta:
            os.fsync(old)
            self.fsyncs += 1
        if self._durable_meta:
            fsync_dir(self.directory)
        with self._fd_lock:
            self._fd = fd
            self._seg_first = first_position
            self._seg_path = path
            if old >= 0 and self._durable_meta and self._synced < self._written:
                self._synced = self._written  # everything before the new segment is on disk now
        if old >= 0:
            os.close(old)

    def _fsync_current(self) -> None:
        """fsync what has been written so far (safe from any thread: works on a dup of the fd)."""
        with self._fd_lock:
            if self._fd < 0 or self._synced >= self._written:
                return
            target = self._written
            fd = os.dup(self._fd)
        try:
            os.fsync(fd)
        except BaseException as exc:
            self._failed = exc
            raise
        finally:
            os.close(fd)
        self.fsyncs += 1
        with self._fd_lock:
            if target > self._synced:
                self._synced = target

    # "batch": a thread fsyncs at most once per window, within a window of a write
    def _mark_dirty(self) -> None:
        if self._dirty or self._synced >= self._written:
            return
        with self._cond:
            self._dirty = True
            if self._flusher is None:
                self._flusher = threading.Thread(target=self._flush_loop, name="journal-fsync", daemon=True)
                self._flusher.start()
            self._cond.notify()

    def _flush_loop(self) -> None:
        if self.thread_setup is not None:
            self.thread_setup()
        last = 0.0
        cond = self._cond
        while True:
            with cond:
                while not self._dirty and not self._closed:
                    cond.wait()
                if self._closed:
                    return
                delay = last + self.batch_window_s - time.monotonic()
                if delay > 0:
                    cond.wait(delay)  # close() wakes it early; it fsyncs on its own then
                    if self._closed:
                        return
                self._dirty = False
            try:
                self._fsync_current()
            except BaseException as exc:  # poisoned: the next append/commit raises
                log.error("journal fsync failed: %s", exc)
                return
            last = time.monotonic()

    # ----------------------------------------------------------------------------------- maintenance

    def truncate_before(self, position: int) -> list[Path]:
        """Delete whole segments all of whose records are < position (never the segment being
        written). Returns the deleted paths."""
        segs = segment_files(self.directory)
        deleted = []
        for (first, path), (next_first, _) in zip(segs, segs[1:]):
            if next_first <= position and path != self._seg_path:
                path.unlink()
                deleted.append(path)
            else:
                break
        if deleted and self._durable_meta:
            fsync_dir(self.directory)
        return deleted

    def close(self) -> None:
        """Write what is buffered, fsync it (whatever the policy), release the directory."""
        if self._closed:
            return
        try:
            if self._failed is None:
                self._write_pending()
                with self._fd_lock:
                    fd = self._fd
                if fd >= 0:
                    os.fsync(fd)
                    self.fsyncs += 1
                    self._synced = self._written
        finally:
            group, self._group = self._group, None
            if group:  # its records were just written and fsynced
                try:
                    _acknowledge(group) if self._failed is None else _fail(group, JournalError("journal closed"))
                except RuntimeError:  # its loop is closed: nobody is waiting any more
                    pass
            with self._cond:
                self._closed = True
                self._cond.notify_all()
            if self._flusher is not None and self._flusher is not threading.current_thread():
                self._flusher.join()
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
            self._release_lock()

    @staticmethod
    @contextmanager
    def exclusive(directory: str | os.PathLike):
        """Hold the journal's lock without opening it (nothing is read or cut): no node can open it
        meanwhile. Raises JournalLocked when one has it open."""
        fd = _lock(Path(directory))
        try:
            yield
        finally:
            os.close(fd)

    def _release_lock(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = -1

    def _raise_unusable(self):
        if self._closed:
            raise JournalError("journal is closed")
        raise JournalError(f"journal unusable after an I/O error: {self._failed!r}; reopen it to recover")

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Journal({str(self.directory)!r}, fsync={self.fsync!r}, last_position={self.last_position})"

    # ----------------------------------------------------------------------------------- reading

    first_on_disk = staticmethod(frames.first_on_disk)
    read = staticmethod(frames.read)
    read_structs = staticmethod(frames.read_structs)
    verify = staticmethod(frames.verify)


def _acknowledge(group: list[tuple[asyncio.Future, int]]) -> None:
    for fut, target in group:
        if not fut.done():  # (not cancelled, nor failed at its caller's deadline)
            fut.set_result(target)


def _fail(group: list[tuple[asyncio.Future, int]], exc: BaseException) -> None:
    """Everyone in the group learns that the write or fsync failed."""
    for fut, _target in group:
        if not fut.done():
            err = JournalError(f"journal commit failed: {exc!r}")
            err.__cause__ = exc
            fut.set_exception(err)
