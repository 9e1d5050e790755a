"""The read barrier's waits (api/readbarrier.py) against a history that never catches up (Persist
stalled): each read is answered -1007 at its deadline, and gives up its place on the marker, so
reads that keep coming while Persist is stalled do not pile up in memory."""

from __future__ import annotations

import asyncio

from spot_seda.api import readbarrier
from spot_seda.api.admission import TICK_S, Admission
from spot_seda.api.readbarrier import ReadBarrier
from spot_seda.binance.errors import ApiError


class _Acquiring:
    """What the barrier asks of Acquiring's runner and Outbox: a publish count, a marker sent."""

    on_marker = None
    flushes = 1  # one publish so far: every read needs a marker

    def emit_marker(self, kind: str, position: int) -> None:
        self.sent = position  # (never comes back: the history below never records it)


class _StalledHistory:
    def read_marks(self) -> dict[int, int]:
        return {}


def test_reads_that_give_up_on_a_stalled_history_leave_nothing_on_its_marker(monkeypatch):
    # no marker resent however slow the box (a busy one took over RESEND_S for the rounds below)
    monkeypatch.setattr(readbarrier, "RESEND_S", 3600.0)

    async def main() -> None:
        gate = Admission(orders_in_flight=8, all_in_flight=1024, loop_lag_ms=0, timeout_s=1.0)
        gate.start()
        acquiring = _Acquiring()
        barrier = ReadBarrier(acquiring, acquiring, _StalledHistory(), 1, 2 * TICK_S, gate)

        async def read() -> int:
            try:
                await barrier.wait()
            except ApiError as exc:
                return exc.code
            return 0

        for _ in range(3):
            assert await asyncio.gather(*(read() for _ in range(200))) == [-1007] * 200
        [(_flushes, _back, marker, _at, home)] = barrier.out.values()  # one marker out, still pending
        assert not marker.done() and not home.done()
        assert not marker._callbacks  # (600 without the clean-up: one per read that gave up)
        gate.stop()
        barrier.poller.cancel()

    asyncio.run(main())


def test_a_read_of_the_views_alone_waits_for_the_marker_back_at_acquiring_not_for_persist(monkeypatch):
    """depth and bookTicker read Acquiring's book views: their barrier is the marker's return to
    Acquiring (through Match and Settlement), not Persist's commit, which lags under load. A read
    that needs the history still waits for that."""
    monkeypatch.setattr(readbarrier, "RESEND_S", 3600.0)

    async def main() -> None:
        gate = Admission(orders_in_flight=8, all_in_flight=1024, loop_lag_ms=0, timeout_s=1.0)
        gate.start()
        acquiring = _Acquiring()
        barrier = ReadBarrier(acquiring, acquiring, _StalledHistory(), 1, 0.5, gate)
        views = asyncio.ensure_future(barrier.wait(views_only=True))
        full = asyncio.ensure_future(barrier.wait())
        await asyncio.sleep(0.05)
        assert not views.done() and not full.done()  # one marker out for both
        assert barrier.markers_sent == 1
        acquiring.on_marker("read", acquiring.sent)  # back at Acquiring; the history never records it
        await asyncio.sleep(0.01)
        assert views.done() and views.exception() is None
        assert not full.done()
        await barrier.wait(views_only=True)  # nothing published since: at once, no marker
        assert barrier.markers_sent == 1
        try:
            await full
        except ApiError as exc:
            assert exc.code == -1007
        else:
            raise AssertionError("a read of the history went ahead of Persist")
        acquiring.flushes += 1  # a publish: the next views-only read waits again
        later = asyncio.ensure_future(barrier.wait(views_only=True))
        await asyncio.sleep(0.05)
        assert not later.done() and barrier.markers_sent == 2
        acquiring.on_marker("read", acquiring.sent)
        await asyncio.sleep(0.01)
        assert later.done() and later.exception() is None
        gate.stop()
        barrier.poller.cancel()

    asyncio.run(main())
