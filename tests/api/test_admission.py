"""Admission's deadline sweep (api/admission.py): the waits of a request fail at the first lag tick
past their deadline, not before, and a wait that is done is forgotten."""

from __future__ import annotations

import asyncio

import pytest

from spot_seda.api.admission import TICK_S, Admission


def _gate() -> Admission:
    return Admission(orders_in_flight=8, all_in_flight=16, loop_lag_ms=0, timeout_s=1.0)


def test_a_wait_fails_at_the_first_tick_past_its_deadline():
    async def main() -> None:
        gate = _gate()
        gate.start()
        loop = asyncio.get_running_loop()
        started = loop.time()
        late = gate.expire_at(loop.create_future(), started + 3 * TICK_S)
        with pytest.raises(TimeoutError):
            await late
        waited = loop.time() - started
        assert 3 * TICK_S <= waited < 3 * TICK_S + 5 * TICK_S  # not before its deadline; within a tick or so
        gate.stop()

    asyncio.run(main())


def test_a_wait_answered_in_time_keeps_its_answer_and_is_forgotten():
    async def main() -> None:
        gate = _gate()
        gate.start()
        loop = asyncio.get_running_loop()
        answered = loop.create_future()
        waiting = gate.expire_at(loop.create_future(), loop.time() + 10 * TICK_S)
        gate.expire_at(answered, loop.time() + 2 * TICK_S)
        loop.call_later(TICK_S / 2, lambda: answered.done() or answered.set_result("the answer"))
        assert await answered == "the answer"
        await asyncio.sleep(3 * TICK_S)  # past the answered one's deadline: dropped, not failed
        assert answered.result() == "the answer"
        assert [fut for _, fut in gate._bounded] == [waiting]
        waiting.cancel()  # a cancelled wait (its client gone) is forgotten too
        await asyncio.sleep(2 * TICK_S)
        assert gate._bounded == []
        gate.stop()

    asyncio.run(main())


def test_a_gate_whose_timer_was_not_started_starts_it_for_a_deadline():
    async def main() -> None:
        gate = _gate()
        loop = asyncio.get_running_loop()
        with pytest.raises(TimeoutError):
            await gate.expire_at(loop.create_future(), loop.time() + TICK_S)
        gate.stop()

    asyncio.run(main())


def test_a_stopped_gate_still_ends_a_wait_listed_after_it():
    # the HTTP stage stops the gate while it shuts down; a handler that waits after that (its
    # answer, or a read) must still get its -1007 at the deadline instead of hanging
    async def main() -> None:
        gate = _gate()
        gate.start()
        gate.stop()
        loop = asyncio.get_running_loop()
        late = gate.expire_at(loop.create_future(), loop.time() + TICK_S)
        await asyncio.wait({late}, timeout=20 * TICK_S)
        assert late.done() and isinstance(late.exception(), TimeoutError)  # failed by the gate, in time
        gate.stop()

    asyncio.run(main())


def test_a_lagging_loop_sheds_orders_only_while_requests_are_in_flight():
    """node.shed_loop_lag_ms: a lag with nothing in flight (another process had the core, a snapshot
    paused the loop) is no backlog: the next client's order is taken; with requests in flight the
    order is shed (-1003), other requests still served."""
    async def main() -> None:
        gate = Admission(orders_in_flight=8, all_in_flight=16, loop_lag_ms=20, timeout_s=1.0)
        gate.start()
        gate.lag_s = 0.3  # (as a tick 300 ms late leaves it)
        assert gate.refusal_of(True) is None and gate.refusal_of(False) is None
        gate.in_flight = 1
        assert gate.refusal_of(True) == "loop_lag" and gate.refusal_of(False) is None
        gate.lag_s = 0.0
        gate._due = asyncio.get_running_loop().time() + TICK_S  # (no tick overdue either)
        assert gate.refusal_of(True) is None
        gate.stop()

    asyncio.run(main())
