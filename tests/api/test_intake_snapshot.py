"""Order entry's part in a snapshot (api/intake.py): commands wait only until the accepted ones are
published and the stage's writer is forked at the marker's position; they flow while the marker
travels through Match and Settlement, and what comes back meanwhile (the channel state) goes to the
writer once the marker is back. The state these give is checked in tests/runtime/test_markers.py."""

from __future__ import annotations

import asyncio
from collections import deque
from types import SimpleNamespace

from spot_seda.api import intake as intake_module
from spot_seda.api.intake import Intake
from spot_seda.stages.base import ChannelRecording


class Writer:
    """The supervisor's SnapshotWriter as the intake uses it: `begin` forks, the result finishes."""

    def __init__(self, seen: dict, intake_of) -> None:
        self.seen, self.intake_of = seen, intake_of

    def begin(self, position):
        self.seen["gate while forking"] = self.intake_of().open.is_set()
        self.seen["forked at"] = position
        seen = self.seen
        return SimpleNamespace(finish=lambda batches: seen.setdefault("finished with", list(batches)),
                               abandon=lambda: seen.setdefault("abandoned", True))


def runner_for(seen: dict, loop, back_after: float | None):
    runner = SimpleNamespace()

    def emit_marker(kind, position):
        seen["emitted"] = (kind, position)
        if back_after is not None:  # the marker's round trip
            loop.call_later(back_after, runner.on_marker, kind, position)

    def record_channel(kind, position):
        seen["recording from"] = seen.get("forked at")  # (right after the fork, nothing in between)
        runner.recording = ChannelRecording(f"{kind}:{position}")
        runner.recording.batches.append(b"feedback on its way")
        return runner.recording

    runner.emit_marker = emit_marker
    runner.record_channel = record_channel
    runner.drop_channel = lambda: seen.setdefault("dropped", True)
    return runner


def test_commands_flow_while_the_marker_travels_and_the_channel_goes_to_the_writer(tmp_path):
    seen = {}

    async def main():
        loop = asyncio.get_running_loop()
        # the marker's round trip takes long enough that nothing the test waits for before it comes
        # back is late on a busy box (with 20 ms, and a fixed 5 ms wait, it once was)
        runner = runner_for(seen, loop, back_after=1.0)
        intake = None
        runner.on_marker = Writer(seen, lambda: intake)
        pending = deque([(7, [])])  # an accepted command still waiting for its journal sync
        intake = Intake(runner, SimpleNamespace(last_position=7), pending, tmp_path, rotate=False)
        task = loop.create_task(intake.snapshot())
        await asyncio.sleep(0.002)
        seen["gate before the command is published"] = intake.open.is_set()
        admitted = loop.create_task(intake.admit())
        pending.clear()  # published
        try:
            await asyncio.wait_for(intake.open.wait(), 0.8)
        except TimeoutError:
            pass
        await asyncio.sleep(0)  # (the admitted command's turn)
        seen["gate while the marker travels"] = intake.open.is_set()
        seen["a command admitted meanwhile"] = admitted.done()
        seen["finished before the marker is back"] = "finished with" in seen
        assert await task is True
        return intake

    intake = asyncio.run(main())
    assert seen == {"gate before the command is published": False, "emitted": ("snapshot", 7),
                    "gate while forking": False, "forked at": 7, "recording from": 7,
                    "gate while the marker travels": True, "a command admitted meanwhile": True,
                    "finished before the marker is back": False, "finished with": [b"feedback on its way"]}
    assert intake.position == 7 and len(intake.paused_ms) == 1 and intake.paused_ms[0] < 20


def test_a_marker_that_does_not_come_back_abandons_the_writer(tmp_path, monkeypatch):
    monkeypatch.setattr(intake_module, "MARKER_TIMEOUT_S", 0.05)
    seen = {}

    async def main():
        loop = asyncio.get_running_loop()
        runner = runner_for(seen, loop, back_after=None)
        intake = None
        runner.on_marker = Writer(seen, lambda: intake)
        intake = Intake(runner, SimpleNamespace(last_position=3), deque(), tmp_path, rotate=False)
        assert await intake.snapshot() is False
        runner.on_marker("snapshot", 3)  # (late: nothing waits for it any more)
        return intake

    intake = asyncio.run(main())
    assert seen.get("abandoned") and seen.get("dropped") and "finished with" not in seen
    assert intake.position == 0 and intake.open.is_set()
