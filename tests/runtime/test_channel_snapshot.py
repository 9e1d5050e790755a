"""A snapshot that does not hold order entry back (runtime/snapshots.py, Chandy-Lamport): Acquiring's
state taken as it sends the marker, plus what reached it until the marker was back on each input
channel (Runner.record_channel), restored as recovery restores it (snapshots.restore), is its state
once the marker is back; and a pipeline restored from such a snapshot carries on to the very bytes
of the whole run."""

from __future__ import annotations

import io
import pickle

from spot_seda.model.changelog import MSGPACK
from spot_seda.runtime import snapshots
from spot_seda.runtime.inproc import InprocPipeline
from spot_seda.runtime.replay import apply_commands, record, write_jsonl
from tests.conftest import settings_from
from tests.sessions import commands, run

AT = 600  # the journal position of the snapshot
IN_FLIGHT = 120  # the last commands before it, sent on with their feedback still on its way


def pipeline_at(tmp_path, name: str) -> InprocPipeline:
    return InprocPipeline(settings_from(f'[node]\ndata_dir = "{tmp_path / name}"\n[bus]\ntransport = "inproc"\n'))


def state_of(runner) -> dict:
    """What the stage's snapshot writer writes (snapshots.write_stage), as plain data."""
    return {"stage": runner.stage.snapshot_state(), "next": dict(runner.sequencer.next),
            "last_seen": dict(runner.last_seen)}


class _Canonical(pickle._Pickler):
    """Pickles equal states to equal bytes: sets in sorted order (a set's iteration order depends on
    its history, and on the hash seed for strings), and no memo (whether two equal values are one
    object or two does not show). The pure-Python pickler: the C one never asks reducer_override
    about a set (it has an opcode of its own), so a set of (account, asset) pairs came out in the
    hash seed's order and the comparison failed for some seeds."""

    def reducer_override(self, obj):
        if type(obj) in (set, frozenset):
            return type(obj), (sorted(obj, key=repr),)
        return NotImplemented


def canonical(state: dict) -> bytes:
    out = io.BytesIO()
    pickler = _Canonical(out, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.fast = True
    pickler.dump(state)
    return out.getvalue()


def snapshot_mid_flight(pipe: InprocPipeline, journal) -> tuple[dict[str, bytes], list[bytes], bytes]:
    """Run the journal up to AT with the feedback of its last IN_FLIGHT commands on its way, take a
    snapshot as the node does, and pump until the marker is back. Returns each stage's file as its
    writer would write it (Acquiring's without its channel), Acquiring's channel record, and
    Acquiring's state once the marker was back."""
    apply_commands(pipe, journal[:AT - IN_FLIGHT], journaled=True)
    acquiring = pipe.runners["acquiring-0"]
    for cmd in journal[AT - IN_FLIGHT:AT]:
        _accepted, outputs = acquiring.stage.execute(cmd, journaled=True)
        acquiring.publish(outputs)
    files: dict[str, bytes] = {}
    for label, runner in pipe.runners.items():  # every other stage writes at the marker's arrival
        if label != "acquiring-0" and runner.stage.inherits_state:
            runner.on_marker = lambda kind, position, runner=runner, label=label: files.setdefault(
                label, pickle.dumps(state_of(runner)))
    back: list[bytes] = []
    acquiring.on_marker = lambda kind, position: back.append(canonical(state_of(acquiring)))
    acquiring.emit_marker("snapshot", AT)
    files["acquiring-0"] = pickle.dumps(state_of(acquiring))  # forked here, at the marker's start
    recording = acquiring.record_channel("snapshot", AT)
    pipe.pump()
    assert recording.done and len(back) == 1
    return files, recording.batches, back[0]


def test_the_origins_state_and_its_channel_are_its_state_once_the_marker_is_back(tmp_path):
    _live, journal, _ = run(tmp_path, "journal", commands(13, 1200))
    files, channel, at_return = snapshot_mid_flight(pipeline_at(tmp_path, "live"), journal)
    topics = {MSGPACK.decode(data).topic for data in channel}
    assert len(topics) == 3, topics  # Match's reports and trades, Settlement's balance changes were on their way

    restored = pipeline_at(tmp_path, "restored").runners["acquiring-0"]
    snapshots.restore(restored, pickle.loads(files["acquiring-0"]) | {"channel": channel})
    assert canonical(state_of(restored)) == at_return

    without = pipeline_at(tmp_path, "without").runners["acquiring-0"]  # the test can fail: the channel matters
    snapshots.restore(without, pickle.loads(files["acquiring-0"]))
    assert canonical(state_of(without)) != at_return


def test_a_pipeline_restored_from_it_carries_on_to_the_bytes_of_the_whole_run(tmp_path):
    live, journal, _ = run(tmp_path, "journal", commands(17, 1200))
    pipe = pipeline_at(tmp_path, "first")
    batches = record(pipe)
    files, channel, _ = snapshot_mid_flight(pipe, journal)
    after = pipeline_at(tmp_path, "after")
    for label, blob in files.items():  # as runtime/recovery.py restores a snapshot
        state = pickle.loads(blob)
        if label == "acquiring-0":
            state["channel"] = channel
        snapshots.restore(after.runners[label], state)
    later = record(after)
    apply_commands(after, journal[AT:], journaled=True)
    write_jsonl(batches + later, tmp_path / "resumed.jsonl")
    assert (tmp_path / "resumed.jsonl").read_bytes() == live


def test_the_channel_is_kept_in_the_origins_file_and_an_abandoned_one_leaves_none(tmp_path):
    """The writer pickles the state first and asks for the channel after (the marker travels
    meanwhile): both in one file, which snapshots.load reads back whole; a channel that never comes
    (the marker did not come back) leaves no file behind."""
    pipe = pipeline_at(tmp_path, "p")
    apply_commands(pipe, commands(3, 200), journaled=False)
    runner = pipe.runners["acquiring-0"]
    asked = []

    def channel():
        asked.append(len(list((tmp_path / "snapshots").glob("*.tmp"))))  # the state is written by then
        return [b"one", b"two"]

    snapshots.write_stage(tmp_path, "acquiring-0", 200, runner, channel)
    snapshots.write_manifest(tmp_path, 200, ["acquiring-0"], "")
    position, states = snapshots.load(tmp_path, "")
    assert asked == [1] and position == 200 and states["acquiring-0"]["channel"] == [b"one", b"two"]
    # (as the file holds it: read back, the packed orders are a dict again, model/orders.py)
    assert canonical(states["acquiring-0"]["stage"]) == canonical(pickle.loads(pickle.dumps(runner.stage.snapshot_state())))

    class Abandoned(Exception):
        pass

    def never():
        raise Abandoned

    try:
        snapshots.write_stage(tmp_path, "acquiring-0", 300, runner, never)
    except Abandoned:
        pass
    assert sorted(f.name for f in (tmp_path / "snapshots").iterdir()) == ["acquiring-0-200.pkl", "manifest.json"]
