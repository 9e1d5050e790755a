"""The journal's files: the frame format, the scan that finds where good data ends, and reading
(DESIGN.md section 7). The writer (journal/writer.py) appends these frames; replay, recovery and
tools read them with `read` here, without a lock or an open writer.

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

import logging
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Literal, NamedTuple

import msgspec

log = logging.getLogger("spot_seda.journal")


FsyncPolicy = Literal["always", "batch", "off"]
POLICIES = ("always", "batch", "off")

HEADER = struct.Struct("<IIQ")  # length, crc, position
POS = struct.Struct("<Q")
HEADER_BYTES = HEADER.size  # 16
MAX_PAYLOAD = 0xFFFFFFFF
SUFFIX = ".seg"
frame_crc = zlib.crc32


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
    first_position: int = 1  #: the last segment's first position
    good_end: int = 0  #: the byte offset where its good data ends (the writer appends there)

    def __str__(self) -> str:
        if not self.truncated:
            return f"journal clean: last position {self.last_position}"
        return (f"journal tail cut: {self.reason} at position {self.bad_position}, {self.segment} byte "
                f"{self.offset}, {self.dropped_bytes} bytes dropped; last position {self.last_position}")


def segment_name(first_position: int) -> str:
    return f"{first_position:020d}{SUFFIX}"


def segment_files(directory: Path) -> list[tuple[int, Path]]:
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


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _scan(buf: bytes, first: int) -> tuple[int, int, str | None]:
    """Walk the frames of one segment from its start. Returns (good_end, next_position, reason):
    the byte offset after the last good frame, the position after it, and why it stopped (None: at
    the end of the data)."""
    unpack = HEADER.unpack_from
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
        if frame_crc(mv[off + 8:end]) != crc:
            return off, expected, "bad crc"
        if pos != expected:
            return off, expected, "bad position"
        off = end
        expected += 1
    return off, expected, None


def _valid_frames_after(buf: bytes, start: int, min_position: int) -> int:
    """How many valid frames (crc right, position >= min_position) start anywhere after byte `start`:
    tells damage in the middle (good records follow) from a torn or corrupt tail (nothing follows)."""
    return len(_valid_frames(buf, start, min_position))


def _valid_frames(buf: bytes, start: int, min_position: int) -> list[tuple[int, int]]:
    """(byte offset, position) of each valid frame (crc right, position >= min_position and above
    the one before) that starts anywhere after byte `start`. Candidate offsets are found by a
    vectorised scan of the position field at every byte offset."""
    import numpy as np

    n = len(buf)
    first = start + 1
    count = n - HEADER_BYTES - first + 1  # offsets o with o + 16 <= n
    if count <= 0:
        return []
    max_position = min_position + n // HEADER_BYTES + 1
    hits: list[int] = []
    chunk = 1 << 22
    for lo in range(0, count, chunk):  # the u64 at every byte offset, unaligned, in 4 Mi slices
        k = min(chunk, count - lo)
        values = np.ndarray(shape=(k,), dtype="<u8", buffer=buf, offset=first + lo + 8, strides=(1,))
        hits.extend((np.nonzero((values >= min_position) & (values <= max_position))[0] + lo).tolist())
    mv = memoryview(buf)
    found = []
    expected_next = None
    for idx in hits:
        off = first + idx
        length, crc, pos = HEADER.unpack_from(buf, off)
        end = off + HEADER_BYTES + length
        if end <= n and frame_crc(mv[off + 8:end]) == crc:
            if expected_next is None or pos >= expected_next:
                found.append((off, pos))
                expected_next = pos + 1
    return found



def first_on_disk(directory: str | os.PathLike) -> int:
    """The first position of the oldest segment in `directory` (1 for a journal never rotated;
    0 when there is none), without opening it."""
    segments = segment_files(Path(directory))
    return segments[0][0] if segments else 0

def read(directory: str | os.PathLike, from_position: int = 1) -> Iterator[tuple[int, bytes]]:
    """(position, payload) of every record from `from_position` on, oldest first, across segments.
    Checks every crc and that positions are contiguous; raises JournalCorruptError otherwise. An
    incomplete frame at the very end of the last segment ends the iteration (see module doc)."""
    directory = Path(directory)
    segs = segment_files(directory)
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
    unpack = HEADER.unpack_from
    crc32 = frame_crc
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

def read_structs(directory: str | os.PathLike, type_, from_position: int = 1) -> Iterator[tuple[int, object]]:
    """(position, decoded object) for a journal written with append_struct (msgpack of `type_`)."""
    decode = msgspec.msgpack.Decoder(type_).decode
    for pos, payload in read(directory, from_position):
        yield pos, decode(payload)

def verify(directory: str | os.PathLike) -> int:
    """Read the whole journal, checking every frame; returns the last position (0: empty)."""
    segs = segment_files(Path(directory))
    last = 0
    for last, _ in read(directory, segs[0][0] if segs else 1):
        pass
    return last


class _Tail(NamedTuple):
    """The last segment, scanned (_scan_tail)."""

    first: int  # its first position
    path: Path
    buf: bytes
    good_end: int  # the byte after its last good frame
    next_pos: int  # the position after that frame
    reason: str | None  # why the scan stopped there (None: at the end of the data)
    after: int  # valid frames after the stop: damage in the middle when any

    @property
    def where(self) -> str:
        return f"position {self.next_pos}, {self.path} byte {self.good_end} of {len(self.buf)}"


def _scan_tail(directory: Path) -> _Tail | None:
    """The journal's last segment scanned, as opening it checks it; None without a segment."""
    segs = segment_files(directory)
    if not segs:
        return None
    first, path = segs[-1]
    buf = path.read_bytes()
    good_end, next_pos, reason = _scan(buf, first)
    after = _valid_frames_after(buf, good_end, next_pos) if reason is not None else 0
    return _Tail(first, path, buf, good_end, next_pos, reason, after)


def last_position(directory: Path) -> int:
    """The position of the last whole record, as opening would find it (0: none), reading only the
    last segment."""
    tail = _scan_tail(directory)
    return 0 if tail is None else tail.next_pos - 1


def middle_damage(directory: Path) -> tuple[int, int, str] | None:
    """Damage in the middle of the last segment, as opening would find it, without changing
    anything: (the last position before it, the valid records after it, what is wrong and where);
    None when there is none there (a torn tail is not: opening cuts it, and nothing acknowledged)."""
    tail = _scan_tail(directory)
    if tail is None or not tail.after:
        return None
    return tail.next_pos - 1, tail.after, f"{tail.reason} at {tail.where}"


def start_after(directory: Path, position: int) -> tuple[int, int]:
    """Rewrite a journal damaged in the middle of its last segment, at or before `position`, to start
    at `position` + 1: what a snapshot at `position` holds leaves the journal, damage included,
    and nothing after it is lost. The records after `position` must follow the damage whole, in
    order, to the end of the segment (a torn last frame aside, which opening cuts anyway). Returns
    (records kept, records dropped); raises JournalCorruptError, changing nothing, when they do not.
    The new segment is written and synced before the old ones are deleted: a crash between the two
    leaves both, and the next open reads the newer."""
    tail = _scan_tail(directory)
    if tail is None or tail.reason is None or tail.next_pos > position + 1 or tail.first > position:
        raise JournalCorruptError(f"no damage at or before position {position} in the last segment of {directory}")
    frames = _valid_frames(tail.buf, tail.good_end, tail.next_pos)
    last = frames[-1][1] if frames else tail.next_pos - 1
    if last < position:
        raise JournalCorruptError(f"the journal in {directory} ends at position {last}, before {position}")
    start = next((off for off, pos in frames if pos == position + 1), len(tail.buf) if last == position else None)
    rest = tail.buf[start:] if start is not None else b""
    end, after, reason = _scan(rest, position + 1) if start is not None else (0, 0, "missing")
    # (only a torn last frame may stop the scan: one with valid frames after it is damage too)
    if reason is not None and (start is None or _valid_frames_after(rest, end, after)):
        raise JournalCorruptError(f"the records after position {position} in {tail.path} are damaged too")
    kept = after - position - 1
    dropped = position - first_on_disk(directory) + 1
    new = directory / segment_name(position + 1)
    tmp = new.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        f.write(rest)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, new)
    fsync_dir(directory)
    for first, path in segment_files(directory):
        if first <= position:
            path.unlink()
    fsync_dir(directory)
    return kept, dropped


def recover_tail(directory: Path, repair: bool) -> RecoveryReport:
    """Scan the last segment of `directory` and cut a torn or corrupt tail (see "Recovery on open");
    raises JournalCorruptError for damage in the middle unless `repair`."""
    tail = _scan_tail(directory)
    if tail is None:
        return RecoveryReport(segment=None, last_position=0, next_position=1)
    first, path, buf, good_end, next_pos, reason, after = tail
    where = tail.where
    report = RecoveryReport(segment=path, last_position=next_pos - 1, next_position=next_pos,
                            first_position=first, good_end=good_end)
    if reason is not None:
        if after and not repair:
            raise JournalCorruptError(
                f"journal damaged in the middle ({reason} at {where}) with {after} valid records after it; "
                "refusing to start rather than drop acknowledged commands (`run.py repair-journal` cuts it there)")
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
                                dropped_bytes=len(buf) - good_end, dropped_records=after,
                                first_position=first, good_end=good_end)
    return report


def _bad(path: Path, off: int, expected: int, found: int | None, reason: str) -> str:
    got = "" if found is None else f" (frame says position {found})"
    return f"journal corrupt: {reason} in {path} at byte {off}, expected position {expected}{got}"
