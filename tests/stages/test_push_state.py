"""Push keeps the same state whether or not anybody listens: with no client (the replay) it skips
building payloads and stream names, and must not skip anything else."""

from __future__ import annotations

import pickle

from spot_seda.runtime.inproc import InprocPipeline
from spot_seda.runtime.replay import apply_commands
from spot_seda.stages.push import NullSink
from tests.conftest import settings_from
import pytest

from tests.sessions import commands, stop_commands


class EverySink:
    """A client subscribed to every stream."""

    def __init__(self) -> None:
        self.sent = 0

    def wants(self, stream: str) -> bool:
        return True

    def wants_any(self, prefix: str) -> bool:
        return True

    def send(self, stream: str, payload) -> None:
        self.sent += 1


@pytest.mark.parametrize("make", [commands, stop_commands], ids=["plain", "with_stops"])
def test_push_state_is_the_same_with_and_without_listeners(tmp_path, make):
    states, sinks = [], []
    for name, sink in (("quiet", NullSink()), ("heard", EverySink())):
        settings = settings_from(f'[node]\ndata_dir = "{tmp_path / name}"\n[bus]\ntransport = "inproc"\n')
        pipeline = InprocPipeline(settings)
        push = pipeline.stage("push-0")
        push.sink = sink
        apply_commands(pipeline, make(5, 600), journaled=False)
        for speed in ("100ms", "1000ms"):
            push.tick(speed)
        states.append(pickle.dumps(push.snapshot_state()))
        sinks.append(sink)
    assert sinks[1].sent > 1000  # the listener really got events of every kind
    assert states[0] == states[1]
