"""Order entry's part in a snapshot (api/intake.py): commands wait from the marker's start until the
stage's state is captured (its writer forked, at the marker's return), and may flow again that very
moment, not once the snapshot's coroutine has had its turn behind every request that came in while
they waited."""

from __future__ import annotations

import asyncio
from collections import deque
from types import SimpleNamespace

from spot_seda.api.intake import Intake


def test_commands_wait_for_the_marker_and_flow_again_as_soon_as_the_state_is_captured(tmp_path):
    seen = {}

    async def main():
        loop = asyncio.get_running_loop()
        runner = SimpleNamespace()

        def write_own(kind, position):  # (the supervisor's SnapshotWriter: forks the writer)
            seen["gate while captured"] = intake.open.is_set()
            seen["captured"] = (kind, position)

        def back_at_origin(kind, position):  # the marker's round trip, then one callback of the loop
            runner.on_marker(kind, position)
            seen["gate right after"] = intake.open.is_set()
            seen["snapshot resumed by then"] = task.done()

        runner.on_marker = write_own
        runner.emit_marker = lambda kind, position: loop.call_later(0.01, back_at_origin, kind, position)
        journal = SimpleNamespace(last_position=7)
        intake = Intake(runner, journal, deque(), tmp_path, rotate=False)
        task = loop.create_task(intake.snapshot())
        await asyncio.sleep(0.005)
        seen["gate while the marker travels"] = intake.open.is_set()
        admitted = loop.create_task(intake.admit())
        await asyncio.sleep(0)
        seen["a command admitted meanwhile"] = admitted.done()
        assert await task is True
        await admitted
        return intake

    intake = asyncio.run(main())
    assert seen == {"gate while the marker travels": False, "a command admitted meanwhile": False,
                    "gate while captured": False, "captured": ("snapshot", 7), "gate right after": True,
                    "snapshot resumed by then": False}
    assert intake.position == 7 and len(intake.paused_ms) == 1 and 5 <= intake.paused_ms[0] < 5000
