"""Markers: a barrier passes every stage once it has arrived on all of that stage's inputs, after
everything sent before it, and changes nothing a stage outputs."""

from __future__ import annotations

from spot_seda.runtime.inproc import InprocPipeline
from spot_seda.runtime.replay import apply_commands, record, write_jsonl
from tests.conftest import settings_from
from tests.sessions import commands


def pipeline_at(tmp_path, name: str) -> InprocPipeline:
    return InprocPipeline(settings_from(f'[node]\ndata_dir = "{tmp_path / name}"\n[bus]\ntransport = "inproc"\n'))


def test_markers_pass_every_stage_once_and_change_no_output(tmp_path):
    cmds = commands(3, 900)
    plain = pipeline_at(tmp_path, "plain")
    plain_batches = record(plain)
    apply_commands(plain, cmds, journaled=False)

    marked = pipeline_at(tmp_path, "marked")
    marked_batches = record(marked)
    passed: dict[str, list[tuple[str, int]]] = {label: [] for label in marked.runners}
    in_flight_at_return: list[int] = []
    for label, runner in marked.runners.items():
        def on_marker(kind, position, label=label, runner=runner):
            passed[label].append((kind, position))
            if label == "acquiring-0":  # back at the origin: Match has reported every order before it
                in_flight_at_return.append(runner.stage.in_flight)
        runner.on_marker = on_marker
    acquiring = marked.runners["acquiring-0"]
    for i in range(0, len(cmds), 100):
        apply_commands(marked, cmds[i:i + 100], journaled=False)
        acquiring.emit_marker("snapshot", i + 100)  # the journal position the commands so far reach
        # some markers cross each other in the queues before the pipeline is pumped
        if i % 200 == 0:
            continue
        marked.pump()
    marked.pump()

    expected = [("snapshot", i + 100) for i in range(0, len(cmds), 100)]
    for label, seen in passed.items():
        assert seen == expected, label  # every stage, in order, once each (Acquiring: the round trip)
    assert in_flight_at_return == [0] * len(expected)
    a, b = tmp_path / "plain.jsonl", tmp_path / "marked.jsonl"
    write_jsonl(plain_batches, a)
    write_jsonl(marked_batches, b)
    assert a.read_bytes() == b.read_bytes()
    assert b"Marker" not in b.read_bytes()


def test_a_marker_waits_for_every_input_channel(tmp_path):
    pipeline = pipeline_at(tmp_path, "p")
    persist = pipeline.runners["persist-0"]
    assert len(persist.channels) == 6  # Acquiring's two topics, Match's two, Settlement's, KLine's
    passed = []
    persist.on_marker = lambda kind, position: passed.append(position)
    # only Acquiring's own copy reaches Persist until the other stages have run
    pipeline.runners["acquiring-0"].emit_marker("sync", 1)
    persist.step(0)
    assert passed == []
    pipeline.pump()
    assert passed == [1]
