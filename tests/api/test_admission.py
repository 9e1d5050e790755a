"""Admission control's standing-queue signal (api/admission.py), on a real event loop: a loop kept
late on every tick of an interval sheds new orders, one late tick does not, and the signal clears
once an interval has a tick on time again."""

from __future__ import annotations

import asyncio
import time

from spot_seda.api.admission import INTERVAL_S, TICK_S, Admission


def gate(standing_ms: float) -> Admission:
    # bounds far away: only the standing queue (or its absence) decides
    return Admission(orders_in_flight=10_000, all_in_flight=10_000, loop_lag_ms=0.0, timeout_s=10.0,
                     standing_lag_ms=standing_ms)


async def busy_loop(seconds: float, block_s: float, every_s: float) -> None:
    """Keep the loop busy: `block_s` of blocking work every `every_s`, for `seconds`."""
    loop = asyncio.get_running_loop()
    ends = loop.time() + seconds
    while loop.time() < ends:
        time.sleep(block_s)  # a handler's CPU work, as the loop sees it
        await asyncio.sleep(every_s)


def test_a_loop_late_on_every_tick_sheds_orders_and_recovers():
    async def scenario():
        admission = gate(standing_ms=5.0)
        admission.start()
        try:
            assert admission.refusal_of(order=True) is None
            # 30 ms of work, 1 ms free: every tick of an interval comes 5+ ms late
            await busy_loop(4 * INTERVAL_S, 0.03, 0.001)
            assert admission.standing
            assert admission.refusal_of(order=True) == "standing_queue"
            assert admission.refusal_of(order=False) is None  # reads and cancels go on
            await asyncio.sleep(3 * INTERVAL_S)  # idle: every tick on time
            assert not admission.standing
            assert admission.refusal_of(order=True) is None
        finally:
            admission.stop()

    asyncio.run(scenario())


def test_one_late_tick_is_a_passing_burst_not_a_standing_queue():
    async def scenario():
        admission = gate(standing_ms=20.0)  # (a box busy with other work is often 5 ms late)
        admission.start()
        try:
            await asyncio.sleep(2 * TICK_S)
            seen = []
            for _ in range(3):  # a 60 ms stall (a collection, the process descheduled), then quiet
                time.sleep(0.06)
                for _ in range(int(2 * INTERVAL_S / TICK_S)):
                    await asyncio.sleep(TICK_S)
                    seen.append(admission.standing)
            assert admission.max_lag_seen_s >= 0.04  # the stall was seen
            assert not any(seen)
        finally:
            admission.stop()

    asyncio.run(scenario())


def test_the_signal_is_off_without_a_target():
    async def scenario():
        admission = gate(standing_ms=0.0)
        admission.start()
        try:
            await busy_loop(3 * INTERVAL_S, 0.03, 0.001)
            assert not admission.standing
            assert admission.refusal_of(order=True) is None
        finally:
            admission.stop()

    asyncio.run(scenario())
