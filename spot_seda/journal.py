"""The durable command journal: append-only, framed, checksummed, group-committed (DESIGN.md section 7).

Acquiring appends every accepted command here before it answers the client; replaying the journal
rebuilds every stage (invariants 6 and 7). Snapshots are tagged with a journal *position*.

On disk
-------
A directory of segment files, each named by the position of its first record, zero-padded to 20
digits: ``00000000000000000001.seg``, ``00000000000000052113.seg``, ... A segment is a sequence of
frames, little-endian, no file header::

    [length u32][crc u32][position u64][payload: length bytes]

``crc`` is ``zlib.crc32`` over the position and the payload (the 8 + length bytes after the crc field),
so a flipped bit in the position, the payload or the length (the crc is then taken over the wrong
bytes) is caught. Positions are contiguous integers from 1 across all segments: segment N's first
record has position N, the record after position p has position p + 1. A new segment starts when the
next record would take the current one past ``segment_bytes`` (a record bigger than that gets a
segment of its own). A ``LOCK`` file holds an exclusive ``flock`` while a writer has the journal open:
a second writer gets ``JournalLocked``; readers need no lock.

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

Recovery on open
----------------
Opening scans the *last* segment frame by frame. The first frame that is incomplete (torn write), has
an impossible length, a bad crc or a position other than the expected one is the end of the good data:

* if no valid frame follows it in the segment it is a torn or corrupt *tail*: it is logged
  (``logging.warning`` with the position it would have had, the segment and the byte offset), the
  segment is truncated at the end of the last whole record (and fsynced), and ``journal.recovery``
  (a ``RecoveryReport``) says what was cut. The next append reuses that position. Such a tail was
  never acknowledged under "always" (a commit fsyncs before answering) and can only be the last
  window under "batch".
* if a valid frame (a correct crc and a later position) follows it, the damage is in the *middle* of
  acknowledged data: opening raises ``JournalCorruptError`` and refuses to start rather than drop the
  records after it. An operator who accepts the loss opens with ``repair=True``, which truncates there
  too (logged as an error, reported in ``recovery.dropped_records``).

Sealed segments are not scanned on open (a 64 MiB segment takes ~0.1 s); ``Journal.read`` verifies
every frame and raises ``JournalCorruptError`` on any bad one, a gap in the positions or a missing
segment, so a replay never applies a damaged journal silently. ``Journal.verify(directory)`` checks
everything up front.

Reading
-------
``Journal.read(directory, from_position=1)`` yields ``(position, payload)`` in order across segments,
checking crc and contiguity (BENCHMARKS.md, "Journal"). An incomplete frame at
the very end of the last segment (a writer mid-write, or a tail the next open will cut) ends the
iteration quietly; anything else raises. Asking for a position older than the oldest segment (already
dropped by ``truncate_before``) raises ``JournalError``.

Rotation: ``truncate_before(position)`` deletes whole segments all of whose records are < position
(call it once every stage has a snapshot at or after position - 1); it never deletes the segment being
written.

Threads and processes: a ``Journal`` belongs to one thread (the asyncio loop's, say); the helper
threads only ever fsync a duplicate of the file descriptor. Do not carry an open ``Journal`` across a
``fork``: close it first (the child would share the lock and the file offset).
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import struct
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Literal

import msgspec

__all__ = [
    "Journal",
    "RecoveryReport",
    "JournalError",
    "JournalCorruptError",
    "JournalLocked",
    "HEADER_BYTES",
    "segment_name",
]

log = logging.getLogger("spot_seda.journal")

FsyncPolicy = Literal["always", "batch", "off"]
POLICIES = ("always", "batch", "off")

_HEADER = struct.Struct("<IIQ")  # length, crc, position
_POS = struct.Struct("<Q")
HEADER_BYTES = _HEADER.size  # 16
MAX_PAYLOAD = 0xFFFFFFFF
SUFFIX = ".seg"
_crc32 = zlib.crc32


class JournalError(RuntimeError):
    """The journal cannot do what was asked (poisoned after an I/O error, position gone, ...)."""


class JournalCorruptError(JournalError):
    """Damaged data that is not a torn tail: a bad record followed by good ones, a gap, a bad segment."""


class JournalLocked(JournalError):
    """Another writer holds this journal directory."""


@dataclass(frozen=True)
class RecoveryReport:
    """What opening found at the end of the journal (``Journal.recovery``)."""

    segment: Path | None  #: the last segment (None: the journal was empty)
    last_position: int  #: the last whole record (0: none)
    next_position: int  #: the position the next append gets
    truncated: bool = False  #: a bad tail was cut
    reason: str | None = None  #: "torn frame" | "bad length" | "bad crc" | "bad position"
    bad_position: int | None = None  #: the position the first bad record would have had
    offset: int | None = None  #: byte offset in the segment where the file was cut
    dropped_bytes: int = 0  #: bytes cut off
    dropped_records: int = 0  #: valid records after the damage (only with repair=True; else it raises)

    def __str__(self) -> str:
        if not self.truncated:
            return f"journal clean: last position {self.last_position}"
        return (f"journal tail cut: {self.reason} at position {self.bad_position}, {self.segment} byte "
                f"{self.offset}, {self.dropped_bytes} bytes dropped; last position {self.last_position}")


def segment_name(first_position: int) -> str:
    return f"{first_position:020d}{SUFFIX}"


def _segments(directory: Path) -> list[tuple[int, Path]]:
    """(first position, path) of every segment, oldest first."""
    out = []
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    for name in names:
        if name.endswith(SUFFIX) and len(name) == 20 + len(SUFFIX) and name[:20].isdigit():
            out.append((int(name[:20]), directory / name))
    out.sort()
    return out


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _scan(buf: bytes, first: int) -> tuple[int, int, str | None]:
    """Walk the frames of one segment from its start. Returns (good_end, next_position, reason):
    the byte offset after the last good frame, the position after it, and why it stopped (None: at
    the end of the data)."""
    unpack = _HEADER.unpack_from
    mv = memoryview(buf)
    n = len(buf)
    off = 0
    expected = first
    while off < n:
        if off + HEADER_BYTES > n:
            return off, expected, "torn frame"
        length, crc, pos = unpack(buf, off)
        end = off + HEADER_BYTES + length
        if end > n:
            return off, expected, "torn frame"
        if _crc32(mv[off + 8:end]) != crc:
            return off, expected, "bad crc"
        if pos != expected:
            return off, expected, "bad position"
        off = end
        expected += 1
    return off, expected, None


def _valid_frames_after(buf: bytes, start: int, min_position: int) -> int:
    """How many valid frames (crc right, position >= min_position) start anywhere after byte `start`:
    tells damage in the middle (good records follow) from a torn or corrupt tail (nothing follows).
    Candidate offsets are found by a vectorised scan of the position field at every byte offset."""
    import numpy as np

    n = len(buf)
    first = start + 1
    count = n - HEADER_BYTES - first + 1  # offsets o with o + 16 <= n
    if count <= 0:
        return 0
    max_position = min_position + n // HEADER_BYTES + 1
    hits: list[int] = []
    chunk = 1 << 22
    for lo in range(0, count, chunk):  # the u64 at every byte offset, unaligned, in 4 Mi slices
        k = min(chunk, count - lo)
        values = np.ndarray(shape=(k,), dtype="<u8", buffer=buf, offset=first + lo + 8, strides=(1,))
        hits.extend((np.nonzero((values >= min_position) & (values <= max_position))[0] + lo).tolist())
    mv = memoryview(buf)
    found = 0
    expected_next = None
    for idx in hits:
        off = first + idx
        length, crc, pos = _HEADER.unpack_from(buf, off)
        end = off + HEADER_BYTES + length
        if end <= n and _crc32(mv[off + 8:end]) == crc:
            if expected_next is None or pos >= expected_next:
                found += 1
                expected_next = pos + 1
    return found


class Journal:
    """The writer. See the module docstring for the format and the promises of each fsync policy.

    ``directory`` is created if missing. ``segment_bytes`` caps a segment's size. ``repair=True``
    cuts middle damage in the last segment instead of refusing to open (drops acknowledged data).
    """

    def __init__(self, directory: str | os.PathLike, fsync: FsyncPolicy = "always", batch_window_ms: float = 2.0,
                 segment_bytes: int = 64 << 20, repair: bool = False) -> None:
        if fsync not in POLICIES:
            raise ValueError(f"fsync must be one of {POLICIES}, not {fsync!r}")
        if segment_bytes < HEADER_BYTES + 1:
            raise ValueError("segment_bytes too small")
        if batch_window_ms <= 0 and fsync == "batch":
            raise ValueError("batch_window_ms must be > 0")
        self.directory = Path(directory)
        self.fsync = fsync
        self.batch_window_s = batch_window_ms / 1000.0
        self.segment_bytes = segment_bytes
        self._durable_meta = fsync != "off"  # fsync sealed segments and the directory
        self._failed: BaseException | None = None
        self._closed = False
        self._fd = -1
        self._lock_fd = -1

        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(self.directory / "LOCK", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            self._lock_fd = -1
            raise JournalLocked(f"journal {self.directory} is open by another writer") from None

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
        self._group: asyncio.Future | None = None  # the group gathering for the next write (+ fsync)
        # "batch" background fsync
        self._flusher: threading.Thread | None = None
        self._cond = threading.Condition()
        self._dirty = False

    # ----------------------------------------------------------------------------------- opening

    def _recover(self, repair: bool) -> RecoveryReport:
        segs = _segments(self.directory)
        if not segs:
            self._seg_first = 1
            self._seg_path = self.directory / segment_name(1)
            self._seg_fill = 0  # bytes in the current segment, buffered ones included
            return RecoveryReport(segment=None, last_position=0, next_position=1)
        first, path = segs[-1]
        buf = path.read_bytes()
        good_end, next_pos, reason = _scan(buf, first)
        report = RecoveryReport(segment=path, last_position=next_pos - 1, next_position=next_pos)
        if reason is not None:
            after = _valid_frames_after(buf, good_end, next_pos)
            where = f"position {next_pos}, {path} byte {good_end} of {len(buf)}"
            if after and not repair:
                raise JournalCorruptError(
                    f"journal damaged in the middle ({reason} at {where}) with {after} valid records after it; "
                    "refusing to start rather than drop acknowledged commands (Journal(..., repair=True) cuts it)")
            if after:
                log.error("journal repair: %s at %s; DROPPING %d valid records after it", reason, where, after)
            else:
                log.warning("journal: %s at %s: cutting %d bytes (an unacknowledged torn or corrupt tail)",
                            reason, where, len(buf) - good_end)
            fd = os.open(path, os.O_WRONLY)
            try:
                os.ftruncate(fd, good_end)
                os.fsync(fd)
            finally:
                os.close(fd)
            report = RecoveryReport(segment=path, last_position=next_pos - 1, next_position=next_pos, truncated=True,
                                    reason=reason, bad_position=next_pos, offset=good_end,
                                    dropped_bytes=len(buf) - good_end, dropped_records=after)
        self._seg_first = first
        self._seg_path = path
        self._seg_fill = good_end
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND)
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
        segs = _segments(self.directory)
        return segs[0][0] if segs else self._seg_first

    def segments(self) -> list[Path]:
        return [p for _, p in _segments(self.directory)]

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
        buf += _HEADER.pack(n, _crc32(payload, _crc32(_POS.pack(pos))), pos)
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
        target = self._next - 1
        if (self._synced if self.fsync == "always" else self._written) >= target:
            if self._failed is not None or self._closed:
                self._raise_unusable()
            return target
        group = self._group
        if group is None:
            loop = asyncio.get_running_loop()
            group = self._group = loop.create_future()
            if self._inflight is None:
                loop.call_soon(self._start_group, loop)
            # else: the fsync in flight starts this group when it returns
        try:
            await asyncio.shield(group)
        except Exception as exc:  # the write or fsync failed: everyone in the group learns it
            raise JournalError(f"journal commit failed: {exc!r}") from exc
        return target

    def _start_group(self, loop: asyncio.AbstractEventLoop) -> None:
        group, self._group = self._group, None
        if group is None or group.done():
            return
        try:
            self._write_pending()
        except BaseException as exc:
            group.set_exception(exc if isinstance(exc, Exception) else JournalError(repr(exc)))
            return
        if self.fsync != "always":
            if self.fsync == "batch":
                self._mark_dirty()
            group.set_result(None)
            return
        self._inflight = loop.run_in_executor(None, self._fsync_current)
        self._inflight.add_done_callback(lambda done: self._group_synced(loop, done, group))

    def _group_synced(self, loop: asyncio.AbstractEventLoop, done: asyncio.Future, group: asyncio.Future) -> None:
        self._inflight = None
        exc = JournalError("journal fsync cancelled") if done.cancelled() else done.exception()
        if exc is not None:
            group.set_exception(exc)
        else:
            group.set_result(None)
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
            _fsync_dir(self.directory)
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
        segs = _segments(self.directory)
        deleted = []
        for (first, path), (next_first, _) in zip(segs, segs[1:]):
            if next_first <= position and path != self._seg_path:
                path.unlink()
                deleted.append(path)
            else:
                break
        if deleted and self._durable_meta:
            _fsync_dir(self.directory)
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
            if group is not None and not group.done():  # its records were just written and fsynced
                try:
                    group.set_result(None) if self._failed is None else group.set_exception(JournalError("journal closed"))
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

    @staticmethod
    def first_on_disk(directory: str | os.PathLike) -> int:
        """The first position of the oldest segment in `directory` (1 for a journal never rotated;
        0 when there is none), without opening it."""
        segments = _segments(Path(directory))
        return segments[0][0] if segments else 0

    @staticmethod
    def read(directory: str | os.PathLike, from_position: int = 1) -> Iterator[tuple[int, bytes]]:
        """(position, payload) of every record from `from_position` on, oldest first, across segments.
        Checks every crc and that positions are contiguous; raises JournalCorruptError otherwise. An
        incomplete frame at the very end of the last segment ends the iteration (see module doc)."""
        directory = Path(directory)
        segs = _segments(directory)
        if not segs:
            return
        from_position = max(from_position, 1)
        if from_position < segs[0][0]:
            raise JournalError(f"position {from_position} is no longer in {directory}: the oldest is {segs[0][0]}")
        start = 0
        for i, (first, _) in enumerate(segs):
            if first <= from_position:
                start = i
        expected = segs[start][0]
        last_index = len(segs) - 1
        unpack = _HEADER.unpack_from
        crc32 = _crc32
        for i in range(start, len(segs)):
            first, path = segs[i]
            if first != expected:
                raise JournalCorruptError(f"{path}: segment starts at position {first}, expected {expected} (missing records)")
            with open(path, "rb") as f:
                buf = f.read()
            mv = memoryview(buf)
            n = len(buf)
            off = 0
            pos = first
            # skip to from_position (still verified: a damaged record never goes unnoticed)
            while off < n:
                if off + HEADER_BYTES > n:
                    break
                length, crc, p = unpack(buf, off)
                body = off + HEADER_BYTES
                end = body + length
                if end > n:
                    break
                if p != pos or crc32(mv[off + 8:end]) != crc:
                    raise JournalCorruptError(_bad(path, off, pos, p, "bad position" if p != pos else "bad crc"))
                if p >= from_position:
                    yield p, buf[body:end]
                pos += 1
                off = end
            if off < n:
                if i == last_index:
                    return  # an incomplete frame at the very end: being written, or a tail open() cuts
                raise JournalCorruptError(_bad(path, off, pos, None, "torn frame in a sealed segment"))
            expected = pos

    @staticmethod
    def read_structs(directory: str | os.PathLike, type_, from_position: int = 1) -> Iterator[tuple[int, object]]:
        """(position, decoded object) for a journal written with append_struct (msgpack of `type_`)."""
        decode = msgspec.msgpack.Decoder(type_).decode
        for pos, payload in Journal.read(directory, from_position):
            yield pos, decode(payload)

    @staticmethod
    def verify(directory: str | os.PathLike) -> int:
        """Read the whole journal, checking every frame; returns the last position (0: empty)."""
        segs = _segments(Path(directory))
        last = 0
        for last, _ in Journal.read(directory, segs[0][0] if segs else 1):
            pass
        return last


def _bad(path: Path, off: int, expected: int, found: int | None, reason: str) -> str:
    got = "" if found is None else f" (frame says position {found})"
    return f"journal corrupt: {reason} in {path} at byte {off}, expected position {expected}{got}"
