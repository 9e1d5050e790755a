"""The command journal (spot_seda/journal.py): format, recovery of torn and corrupt tails, refusal of
middle damage, rotation, fsync policies, group commit, and acknowledged positions surviving kill -9."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing as mp
import os
import random
import signal
import struct
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spot_seda.journal import (
    HEADER_BYTES,
    Journal,
    JournalCorruptError,
    JournalError,
    JournalLocked,
    segment_name,
)
from spot_seda.model.commands import Command, NewOrder


def payload(pos: int) -> bytes:
    """A payload derivable from its position, of varying length (0..~100 bytes)."""
    return (b"%d;" % pos) * (pos % 13)


def fill(directory: Path, n: int, **kw) -> Journal:
    j = Journal(directory, **kw)
    for _ in range(n):
        j.append(payload(j.next_position))
    j.commit()
    return j


def records(directory: Path, from_position: int = 1) -> list[tuple[int, bytes]]:
    return list(Journal.read(directory, from_position))


def assert_intact(directory: Path, last: int) -> None:
    got = records(directory)
    assert [p for p, _ in got] == list(range(1, last + 1))
    assert all(data == payload(p) for p, data in got)


def frame_offsets(path: Path) -> list[int]:
    """Byte offset of every frame in a segment."""
    buf = path.read_bytes()
    out, off = [], 0
    while off < len(buf):
        out.append(off)
        off += HEADER_BYTES + struct.unpack_from("<I", buf, off)[0]
    return out


def flip(path: Path, offset: int, bit: int = 0) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 1 << bit
    path.write_bytes(bytes(data))


# ------------------------------------------------------------------------------------- format


def test_round_trip_across_segments(tmp_path):
    j = fill(tmp_path, 5000, fsync="off", segment_bytes=4096)
    assert j.last_position == 5000
    j.close()
    segs = j.segments()
    assert len(segs) > 20
    for path in segs:  # named by their first position, never past segment_bytes
        first = int(path.name[:20])
        assert struct.unpack_from("<Q", path.read_bytes(), 8)[0] == first
        assert path.stat().st_size <= 4096
    assert_intact(tmp_path, 5000)
    assert [p for p, _ in records(tmp_path, 4321)] == list(range(4321, 5001))
    assert records(tmp_path, 5001) == []


def test_frame_layout(tmp_path):
    with Journal(tmp_path, fsync="off") as j:
        assert j.append(b"hello") == 1
        assert j.append(b"") == 2
    buf = (tmp_path / segment_name(1)).read_bytes()
    import zlib
    length, crc, pos = struct.unpack_from("<IIQ", buf, 0)
    assert (length, pos) == (5, 1) and buf[16:21] == b"hello"
    assert crc == zlib.crc32(buf[8:21])
    assert struct.unpack_from("<IIQ", buf, 21)[::2] == (0, 2)
    assert len(buf) == 21 + 16


def test_big_record_gets_its_own_segment(tmp_path):
    with Journal(tmp_path, fsync="off", segment_bytes=100) as j:
        j.append(b"a" * 10)
        j.append(b"b" * 500)
        j.append(b"c" * 10)
    assert [p.name for p in j.segments()] == [segment_name(1), segment_name(2), segment_name(3)]
    assert [d for _, d in records(tmp_path)] == [b"a" * 10, b"b" * 500, b"c" * 10]


def test_positions_contiguous_across_reopen(tmp_path):
    last = 0
    for i, policy in enumerate(["always", "batch", "off"] * 3):
        with Journal(tmp_path, fsync=policy, segment_bytes=2048) as j:
            assert j.recovery.last_position == last and not j.recovery.truncated
            assert j.next_position == last + 1
            for _ in range(50 + i * 37):
                assert j.append(payload(j.next_position)) == last + 1
                last += 1
                if last % 7 == 0:
                    j.commit()
    assert_intact(tmp_path, last)
    assert Journal.verify(tmp_path) == last


def test_empty_journal(tmp_path):
    assert records(tmp_path / "missing") == []
    with Journal(tmp_path / "j") as j:
        assert j.last_position == 0 and j.recovery.segment is None
    assert records(tmp_path / "j") == []
    with Journal(tmp_path / "j") as j:  # reopening an empty (segment-less) journal
        assert j.append(b"x") == 1
    assert records(tmp_path / "j") == [(1, b"x")]


def test_second_writer_is_refused(tmp_path):
    with Journal(tmp_path):
        with pytest.raises(JournalLocked):
            Journal(tmp_path)
    Journal(tmp_path).close()  # released on close


def test_typed_helpers(tmp_path):
    order = NewOrder(7, "BTCUSDT", "BUY", "LIMIT", "GTC", 100, 5, 0, "c1", "NONE", 1_700_000_000_000, order_id=42)
    with Journal(tmp_path) as j:
        assert j.append_struct(order) == 1
    assert list(Journal.read_structs(tmp_path, Command)) == [(1, order)]


def test_closed_journal_refuses(tmp_path):
    j = fill(tmp_path, 3)
    j.close()
    j.close()  # idempotent
    with pytest.raises(JournalError):
        j.append(b"x")


def test_io_error_poisons(tmp_path):
    j = fill(tmp_path, 3)
    os.close(j._fd)  # the next write fails with EBADF, as a real I/O error would
    j.append(b"x")
    with pytest.raises(OSError):
        j.commit()
    with pytest.raises(JournalError, match="unusable"):
        j.append(b"y")
    j._fd = -1
    j.close()
    with Journal(tmp_path) as again:
        assert again.last_position == 3


# ------------------------------------------------------------------------------------- recovery


def test_torn_tail_at_every_offset_is_cut(tmp_path, caplog):
    src = tmp_path / "src"
    fill(src, 51, fsync="off")  # payload(51) is 36 bytes.close()
    seg = src / segment_name(1)
    good = seg.read_bytes()
    last_start = frame_offsets(seg)[-1]
    assert len(good) - last_start > 30  # a header and a payload to tear
    for cut in range(last_start, len(good)):
        d = tmp_path / f"cut{cut}"
        d.mkdir()
        (d / seg.name).write_bytes(good[:cut])
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="spot_seda.journal"):
            j = Journal(d, fsync="off")
        r = j.recovery
        if cut == last_start:  # a whole number of records: nothing to cut
            assert not r.truncated and r.last_position == 50
        else:
            assert r.truncated and r.reason == "torn frame"
            assert (r.bad_position, r.offset, r.dropped_bytes, r.last_position) == (51, last_start, cut - last_start, 50)
            assert "position 51" in caplog.text and f"byte {last_start}" in caplog.text
        assert (d / seg.name).stat().st_size == last_start
        assert j.append(payload(51)) == 51 and j.append(payload(52)) == 52
        j.close()
        assert_intact(d, 52)


def test_torn_group_write_cuts_at_last_whole_record(tmp_path):
    """A group commit of several records torn in the middle: whole ones stay, the rest goes."""
    src = tmp_path / "src"
    fill(src, 30, fsync="off").close()
    seg = src / segment_name(1)
    good = seg.read_bytes()
    offsets = frame_offsets(seg)
    rnd = random.Random(5)
    for cut in rnd.sample(range(offsets[20] + 1, len(good)), 40):
        d = tmp_path / f"cut{cut}"
        d.mkdir()
        (d / seg.name).write_bytes(good[:cut])
        whole = sum(1 for o in offsets[1:] + [len(good)] if o <= cut)
        with Journal(d) as j:
            assert j.last_position == whole
            assert j.recovery.truncated == (cut not in offsets)
        assert_intact(d, whole)


@pytest.mark.parametrize("field, reason", [
    ("length-down", "bad crc"), ("length-up", "torn frame"), ("crc", "bad crc"),
    ("position", "bad crc"), ("payload", "bad crc"),  # the crc covers the position
])
def test_bit_flipped_last_record_is_cut(tmp_path, caplog, field, reason):
    fill(tmp_path, 50, fsync="off", segment_bytes=1 << 20).close()
    seg = tmp_path / segment_name(1)
    last_start = frame_offsets(seg)[-1]
    size = seg.stat().st_size
    where = {"length-down": (last_start, 0), "length-up": (last_start + 2, 0), "crc": (last_start + 4, 3),
             "position": (last_start + 8, 2), "payload": (size - 1, 6)}[field]
    flip(seg, *where)
    with caplog.at_level(logging.WARNING, logger="spot_seda.journal"):
        j = Journal(tmp_path)
    assert j.recovery.truncated and j.recovery.reason == reason
    assert j.recovery.bad_position == 50 and j.recovery.offset == last_start
    assert "position 50" in caplog.text
    assert j.append(payload(50)) == 50
    j.close()
    assert_intact(tmp_path, 50)


def test_whole_frame_with_a_wrong_position_is_cut(tmp_path):
    """A well-formed frame (right crc) whose position is not the next one: a replayed or misplaced
    write at the tail; it is cut, never replayed."""
    fill(tmp_path, 20, fsync="off").close()
    seg = tmp_path / segment_name(1)
    data = seg.read_bytes()
    seg.write_bytes(data + data[frame_offsets(seg)[-1]:])  # record 20 a second time
    with Journal(tmp_path) as j:
        assert j.recovery.reason == "bad position" and j.recovery.bad_position == 21
        assert j.last_position == 20
    assert_intact(tmp_path, 20)


@pytest.mark.parametrize("where", ["payload", "length", "position"])
def test_bit_flip_in_the_middle_refuses_to_open(tmp_path, where):
    fill(tmp_path, 200, fsync="off").close()
    seg = tmp_path / segment_name(1)
    start = frame_offsets(seg)[120]
    offset = {"payload": start + HEADER_BYTES + 1, "length": start + 1, "position": start + 8}[where]
    flip(seg, offset, 1)
    before = seg.read_bytes()
    with pytest.raises(JournalCorruptError, match="middle.*position 121"):
        Journal(tmp_path)
    assert seg.read_bytes() == before  # nothing cut
    with pytest.raises(JournalCorruptError):
        records(tmp_path)
    # the operator's way out: repair drops the damaged record and everything after it, loudly
    with Journal(tmp_path, repair=True) as j:
        assert j.recovery.truncated and j.recovery.last_position == 120
        assert j.recovery.dropped_records >= 70
    assert_intact(tmp_path, 120)


def test_damage_in_a_sealed_segment_is_caught_by_read(tmp_path):
    fill(tmp_path, 600, fsync="off", segment_bytes=2048).close()
    segs = sorted(tmp_path.glob("*.seg"))
    assert len(segs) > 3
    flip(segs[1], HEADER_BYTES + 2)
    with Journal(tmp_path) as j:  # only the last segment is scanned on open
        assert j.last_position == 600
    with pytest.raises(JournalCorruptError, match="bad crc"):
        records(tmp_path)
    with pytest.raises(JournalCorruptError):
        Journal.verify(tmp_path)


def test_missing_segment_is_caught_by_read(tmp_path):
    fill(tmp_path, 600, fsync="off", segment_bytes=2048).close()
    sorted(tmp_path.glob("*.seg"))[2].unlink()
    with pytest.raises(JournalCorruptError, match="missing records"):
        records(tmp_path)


def test_torn_empty_last_segment(tmp_path):
    """A crash right after a rotation created the next segment: it is empty, appends go there."""
    fill(tmp_path, 100, fsync="off", segment_bytes=1024).close()
    segs = sorted(tmp_path.glob("*.seg"))
    last = segs[-1]
    first = int(last.name[:20])
    last.write_bytes(last.read_bytes()[:5])  # its first record torn
    with Journal(tmp_path, segment_bytes=1024) as j:
        assert j.last_position == first - 1 and j.recovery.offset == 0
        j.append(payload(first))
    assert_intact(tmp_path, first)


# ------------------------------------------------------------------------------------- rotation


def test_truncate_before(tmp_path):
    j = fill(tmp_path, 1000, fsync="batch", segment_bytes=2048)
    firsts = [int(p.name[:20]) for p in j.segments()]
    cut = firsts[4] + 3  # inside the 5th segment: the first four hold only records < cut
    deleted = j.truncate_before(cut)
    assert [int(p.name[:20]) for p in deleted] == firsts[:4]
    assert j.first_position == firsts[4]
    assert [p for p, _ in records(tmp_path, cut)] == list(range(cut, 1001))
    assert records(tmp_path, firsts[4])[0][0] == firsts[4]
    with pytest.raises(JournalError, match="no longer"):
        next(Journal.read(tmp_path, 1))
    assert j.truncate_before(firsts[4]) == []  # idempotent
    assert len(j.truncate_before(10**9)) == len(firsts) - 5  # never the segment being written
    assert j.segments() == [j._seg_path]
    j.append(payload(1001))
    j.close()
    with Journal(tmp_path) as again:
        assert again.last_position == 1001 and again.first_position == firsts[-1]


# ------------------------------------------------------------------------------------- fsync policies


def test_policy_always(tmp_path):
    with Journal(tmp_path, fsync="always") as j:
        for i in range(5):
            j.append_many([payload(j.next_position + k) for k in range(3)])
            assert j.commit() == 3 * (i + 1)
            assert j.synced_position == j.written_position == 3 * (i + 1)
        assert j.fsyncs >= 5 and j.writes == 5  # one write per group


def test_policy_batch_fsyncs_within_the_window(tmp_path):
    with Journal(tmp_path, fsync="batch", batch_window_ms=20) as j:
        for _ in range(30):
            j.append(payload(j.next_position))
            assert j.commit() == j.written_position == j.last_position  # written to the OS at once
            time.sleep(0.002)
        deadline = time.monotonic() + 2
        while j.synced_position < 30 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert j.synced_position == 30
        assert 1 <= j.fsyncs <= 10  # at most one per 20 ms window over ~60 ms (+ slack for a slow disk)


def test_policy_off(tmp_path):
    j = Journal(tmp_path, fsync="off", segment_bytes=1024)
    for _ in range(200):
        j.append(payload(j.next_position))
        j.commit()
    assert j.written_position == 200 and j.fsyncs == 0
    assert len(records(tmp_path)) == 200  # already readable: it is in the OS
    j.close()
    assert j.fsyncs == 1


def test_invalid_arguments(tmp_path):
    with pytest.raises(ValueError):
        Journal(tmp_path, fsync="sometimes")
    with pytest.raises(ValueError):
        Journal(tmp_path, segment_bytes=4)


@pytest.mark.parametrize("policy", ["always", "batch", "off"])
def test_async_group_commit(tmp_path, policy):
    j = Journal(tmp_path, fsync=policy, segment_bytes=4096)
    acked: dict[int, int] = {}
    blocked = []

    async def client(i: int) -> None:
        for _ in range(10):
            pos = j.append(payload(j.next_position))
            done = await j.sync()
            assert done >= pos
            if policy == "always":
                assert j.synced_position >= pos
            else:
                assert j.written_position >= pos
            acked[pos] = i
            await asyncio.sleep(0)

    async def ticker() -> None:  # the loop stays responsive while fsyncs run in the executor
        for _ in range(20):
            t = time.perf_counter()
            await asyncio.sleep(0.001)
            blocked.append(time.perf_counter() - t)

    async def main() -> None:
        await asyncio.gather(ticker(), *(client(i) for i in range(40)))

    asyncio.run(main())
    assert sorted(acked) == list(range(1, 401))
    assert max(blocked) < 0.2  # the fsyncs ran in the executor, not on the loop
    if policy == "always":
        assert j.fsyncs < 400 and j.writes < 400  # grouped: one write + fsync per group
    j.close()
    assert_intact(tmp_path, 400)


def test_cancelled_caller_does_not_cancel_the_group(tmp_path):
    j = Journal(tmp_path, fsync="always")

    async def main() -> None:
        j.append(b"a")
        first = asyncio.create_task(j.sync())
        j.append(b"b")
        second = asyncio.create_task(j.sync())
        await asyncio.sleep(0)  # both are waiting on the same group
        first.cancel()
        assert await second == 2
        assert j.synced_position == 2 and j.fsyncs == 1 and j.writes == 1

    asyncio.run(main())
    j.close()
    assert records(tmp_path) == [(1, b"a"), (2, b"b")]


def test_a_caller_failed_at_its_deadline_leaves_the_group_alone(tmp_path):
    """What api/admission.py does to a request past its deadline: its own sync future fails; the
    group's write and fsync go on, and the other callers are acknowledged as usual."""
    j = Journal(tmp_path, fsync="always")

    async def main() -> None:
        j.append(b"a")
        late = j.sync_future()
        j.append(b"b")
        other = j.sync_future()
        late.set_exception(TimeoutError())  # its deadline passed before the group was written
        with pytest.raises(TimeoutError):
            await late
        assert await other == 2
        assert await j.sync() == 2 and j.synced_position == 2 and j.fsyncs == 1

    asyncio.run(main())
    j.close()
    assert records(tmp_path) == [(1, b"a"), (2, b"b")]


def test_close_releases_waiting_callers(tmp_path):
    j = Journal(tmp_path, fsync="batch")

    async def main() -> None:
        j.append(b"a")
        waiter = asyncio.create_task(j.sync())
        await asyncio.sleep(0)
        j.close()  # writes and fsyncs the group's records itself
        assert await waiter == 1

    asyncio.run(main())
    assert records(tmp_path) == [(1, b"a")]


# ------------------------------------------------------------------------------------- kill -9


def _crash_child(directory: str, policy: str, use_async: bool, ack_fd: int) -> None:
    j = Journal(directory, fsync=policy, batch_window_ms=1.0, segment_bytes=32 * 1024)
    rnd = random.Random(os.getpid())

    def ack(pos: int) -> None:
        os.write(ack_fd, struct.pack("<Q", pos))

    if not use_async:
        while True:
            for _ in range(rnd.randint(1, 30)):
                j.append(payload(j.next_position))
            ack(j.commit())

    async def client() -> None:
        while True:
            pos = j.append(payload(j.next_position))
            await j.sync()
            ack(pos)

    async def main() -> None:
        await asyncio.gather(*(client() for _ in range(8)))

    asyncio.run(main())


@pytest.mark.parametrize("policy, use_async", [("always", False), ("always", True), ("batch", False), ("off", False), ("off", True)])
def test_kill_9_loses_nothing_acknowledged(tmp_path, policy, use_async):
    rnd = random.Random(hash(policy) ^ use_async)
    ctx = mp.get_context("fork")
    max_acked = 0
    for round_ in range(3):
        r, w = os.pipe()
        child = ctx.Process(target=_crash_child, args=(str(tmp_path), policy, use_async, w))
        child.start()
        os.close(w)
        acks: list[int] = []
        first = threading.Event()

        def reader() -> None:
            buf = b""
            while chunk := os.read(r, 65536):
                buf += chunk
                if len(buf) >= 8:
                    first.set()
            acks.extend(p for (p,) in struct.iter_unpack("<Q", buf[: len(buf) // 8 * 8]))

        t = threading.Thread(target=reader)
        t.start()
        first.wait(30)  # the child is up and writing (a busy box may take a while to start it)
        time.sleep(rnd.uniform(0.05, 0.3))
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        t.join()
        os.close(r)
        assert child.exitcode == -signal.SIGKILL
        assert acks, "the child acknowledged nothing before the kill"
        max_acked = max([max_acked, *acks])
        with Journal(tmp_path) as j:  # recovers (cuts a torn tail if the kill tore one)
            assert j.last_position >= max_acked, f"round {round_}: acked {max_acked}, journal ends at {j.last_position}"
            last = j.last_position
        assert_intact(tmp_path, last)
        max_acked = last  # the next child continues from what survived


# ------------------------------------------------------------------------------------- properties


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.lists(st.binary(max_size=300), max_size=30), min_size=1, max_size=5),
       segment_bytes=st.integers(min_value=17, max_value=3000),
       policy=st.sampled_from(["always", "batch", "off"]))
def test_arbitrary_payloads_round_trip(tmp_path_factory, batches, segment_bytes, policy):
    directory = tmp_path_factory.mktemp("prop")
    expected: list[bytes] = []
    for batch in batches:  # each batch: one open, appends with commits at random points, close
        with Journal(directory, fsync=policy, segment_bytes=segment_bytes) as j:
            for i, data in enumerate(batch):
                assert j.append(data) == len(expected) + 1
                expected.append(data)
                if i % 3 == 2:
                    j.commit()
    got = records(directory)
    assert [p for p, _ in got] == list(range(1, len(expected) + 1))
    assert [d for _, d in got] == expected
    for path in directory.glob("*.seg"):
        size = path.stat().st_size
        assert size <= segment_bytes or len(frame_offsets(path)) == 1


def test_start_after_drops_what_a_snapshot_holds_with_its_damage_and_keeps_the_rest(tmp_path):
    """frames.start_after: damage at or before the snapshot's position; the journal then starts
    after it, the records after it byte for byte, and the writer goes on from its end."""
    from spot_seda.journal import frames

    journal = tmp_path / "journal"
    fill(journal, 200, fsync="off").close()
    seg = journal / segment_name(1)
    flip(seg, frame_offsets(seg)[120] + HEADER_BYTES + 1, 1)  # position 121
    after = [(p, payload(p)) for p in range(151, 201)]
    with pytest.raises(JournalCorruptError):
        frames.start_after(journal, 100)  # (the damage is after position 100: not what a snapshot at 100 holds)
    assert frames.start_after(journal, 150) == (50, 150)
    assert [p.name for p in sorted(journal.glob("*.seg"))] == [segment_name(151)]
    assert records(journal, 151) == after
    j = Journal(journal, fsync="off")
    assert j.next_position == 201
    j.close()


def test_start_after_refuses_damage_after_the_position_that_looks_like_a_torn_frame(tmp_path):
    """A length field's flipped high bit makes a frame look torn (it runs past the end): with valid
    frames after it, it is damage, and nothing is changed (a reviewer's case: the old segment was
    deleted and the journal still could not be opened)."""
    from spot_seda.journal import frames

    journal = tmp_path / "journal"
    fill(journal, 200, fsync="off").close()
    seg = journal / segment_name(1)
    flip(seg, frame_offsets(seg)[120] + HEADER_BYTES + 1, 1)  # position 121: before the snapshot's 150
    flip(seg, frame_offsets(seg)[159] + 3, 7)  # position 160's length: its top byte
    before = seg.read_bytes()
    with pytest.raises(JournalCorruptError, match="the records after position 150 .* are damaged too"):
        frames.start_after(journal, 150)
    assert [p.name for p in sorted(journal.glob("*.seg"))] == [segment_name(1)] and seg.read_bytes() == before
