"""A stage's snapshot writer (the child it forks at a snapshot marker) runs behind the live stages:
on any of the node's cores, under SCHED_BATCH at nice 19, whatever its stage's core and priority
(pinned beside its stage it took 20-60 ms of that core from order entry at every snapshot); the
stage itself keeps its own."""

from __future__ import annotations

import json
import os
import threading
from types import SimpleNamespace

from spot_seda.runtime import snapshots
from spot_seda.runtime.stageproc import SnapshotWriter


def _scheduling() -> dict:
    return {"cores": sorted(os.sched_getaffinity(0)), "policy": os.sched_getscheduler(0), "nice": os.nice(0)}


def test_the_snapshot_writer_leaves_its_stages_core_and_priority(tmp_path, monkeypatch):
    allowed = sorted(os.sched_getaffinity(0))
    probe = tmp_path / "writer.json"

    def write_stage(data_dir, label, position, runner):  # (in the writer: what it runs under)
        probe.write_text(json.dumps({**_scheduling(), "label": label, "position": position}))

    monkeypatch.setattr(snapshots, "write_stage", write_stage)
    pid = os.fork()
    if pid == 0:  # a stage process of our own: pinned to one core, at a nice value of its own
        code = 1
        try:
            os.sched_setaffinity(0, {allowed[-1]})
            os.nice(3)
            row = {"snapshot_position": 0}
            sup = SimpleNamespace(data_dir=tmp_path, allowed_cores=set(allowed))
            inst = SimpleNamespace(cls=SimpleNamespace(inherits_state=True), label="match-0")
            writer = SnapshotWriter(sup, inst, runner=None, row=row)
            writer("snapshot", 42)
            writer.wait(30)
            (tmp_path / "stage.json").write_text(json.dumps({**_scheduling(), "reported": row["snapshot_position"]}))
            code = 0
        finally:
            os._exit(code)
    _pid, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    writer = json.loads(probe.read_text())
    assert writer == {"cores": allowed, "policy": os.SCHED_BATCH, "nice": 19, "label": "match-0", "position": 42}
    stage = json.loads((tmp_path / "stage.json").read_text())
    assert stage == {"cores": [allowed[-1]], "policy": os.SCHED_OTHER, "nice": 3, "reported": 42}


def test_order_entrys_writer_is_forked_first_and_writes_once_it_has_the_channel(tmp_path):
    """Acquiring's writer (SnapshotWriter.begin) is forked before the marker leaves and waits for the
    channel state: given it (`finish`), it writes both and the position is reported; abandoned (the
    marker did not come back), it writes nothing, reports nothing and leaves no file behind."""
    from spot_seda.runtime.inproc import InprocPipeline
    from tests.conftest import settings_from

    pipe = InprocPipeline(settings_from(f'[node]\ndata_dir = "{tmp_path / "p"}"\n[bus]\ntransport = "inproc"\n'))
    runner = pipe.runners["acquiring-0"]
    row = {"snapshot_position": 0}
    sup = SimpleNamespace(data_dir=tmp_path, allowed_cores=set(os.sched_getaffinity(0)))
    inst = SimpleNamespace(cls=SimpleNamespace(inherits_state=True), label="acquiring-0")
    writer = SnapshotWriter(sup, inst, runner=runner, row=row)

    writer.begin(7).finish([b"on its way"])
    writer.wait(30)
    assert row["snapshot_position"] == 7
    snapshots.write_manifest(tmp_path, 7, ["acquiring-0"], "")
    _position, states = snapshots.load(tmp_path, "")
    assert states["acquiring-0"]["channel"] == [b"on its way"]

    writer.begin(8).abandon()
    writer.wait(30)
    assert row["snapshot_position"] == 7
    assert sorted(f.name for f in snapshots.directory(tmp_path).iterdir()) == ["acquiring-0-7.pkl", "manifest.json"]


def test_a_polled_writer_reports_its_child_from_the_stages_own_loop(tmp_path):
    """Match's, Settlement's and KLine's writers start no reaper thread (its start held the stage in
    the order path): the stage's loop reaps their children between steps (SnapshotWriter.poll), and
    the position is reported once the file is written, not before; a clean stop waits for them."""
    import time

    from spot_seda.runtime.inproc import InprocPipeline
    from tests.conftest import settings_from

    pipe = InprocPipeline(settings_from(f'[node]\ndata_dir = "{tmp_path / "p"}"\n[bus]\ntransport = "inproc"\n'))
    row = {"snapshot_position": 0}
    sup = SimpleNamespace(data_dir=tmp_path, allowed_cores=set(os.sched_getaffinity(0)))
    inst = SimpleNamespace(cls=SimpleNamespace(inherits_state=True), label="match-0")
    writer = SnapshotWriter(sup, inst, runner=pipe.runners["match-0"], row=row)
    writer.polled = True
    threads = threading.active_count()
    writer("snapshot", 5)
    assert threading.active_count() == threads and len(writer.children) == 1 and row["snapshot_position"] == 0
    deadline = time.monotonic() + 30
    while writer.children and time.monotonic() < deadline:
        writer.poll()
        time.sleep(0.01)
    assert not writer.children and row["snapshot_position"] == 5
    assert snapshots.stage_path(tmp_path, "match-0", 5).exists()

    writer("snapshot", 6)  # the clean stop's: wait() reaps it
    writer.wait(30)
    assert not writer.children and row["snapshot_position"] == 6
