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
        [(_flushes, _back, marker, _at)] = barrier.out.values()  # one marker out, still pending
        assert not marker.done()
        assert not marker._callbacks  # (600 without the clean-up: one per read that gave up)
        gate.stop()
        barrier.poller.cancel()

    asyncio.run(main())
