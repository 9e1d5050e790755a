"""KeptState's rules without a cluster (runtime/stageproc.py): what it keeps comes back whole, and
which kept state a start may load: any, without Acquiring on the machine; beside Acquiring only the
state kept under the same pipeline, and none at a pipeline's first start (the journal's replay is
the state to start from). The Kafka side: tests/kafka/test_restart_alone.py."""

from __future__ import annotations

from types import SimpleNamespace

from spot_seda.runtime.inproc import InprocPipeline
from spot_seda.runtime.stageproc import KeptState
from tests.conftest import settings_from


class DictBlobs:
    """Bus.blobs in a dict."""

    def __init__(self) -> None:
        self.values: dict[str, bytes] = {}
        self.gets = 0

    def get(self, key: str) -> bytes | None:
        self.gets += 1
        return self.values.get(key)

    def put(self, key: str, data: bytes) -> None:
        self.values[key] = data


def kept_state(settings, blobs, from_log: bool, pipeline: str, again: bool, row=None) -> KeptState:
    sup = SimpleNamespace(bus=SimpleNamespace(blobs=lambda: blobs), settings=settings, from_log=from_log,
                          pipeline=pipeline)
    return KeptState(sup, SimpleNamespace(label="push-0", again=again), row)


def test_a_kept_state_comes_back_whole_and_only_where_it_belongs(tmp_path):
    settings = settings_from("[journal]\nsnapshot_interval_s = 0\n")
    pipeline = InprocPipeline(settings, tmp_path)
    runner = pipeline.runners["push-0"]
    runner.last_seen[("OrderChangeLog", 0, "match-0")] = 41
    runner._completed["snapshot"] = 7
    positions = {("x.OrderChangeLog", 0): 120}
    blobs = DictBlobs()
    keeper = kept_state(settings, blobs, False, "p1", True)
    keeper.store(keeper.capture(runner, positions))

    # beside Acquiring: a restart in the same pipeline loads it
    row = {"restored_ns": 0, "kept_ns": 0}
    kept = kept_state(settings, blobs, False, "p1", True, row)
    saved = kept.load()
    assert saved is not None and saved["positions"] == positions
    fresh = InprocPipeline(settings, tmp_path / "fresh").runners["push-0"]
    kept.restore(fresh, saved)
    assert fresh.last_seen == runner.last_seen and fresh._completed == {"snapshot": 7}
    assert fresh.sequencer.next == runner.sequencer.next
    assert fresh.stage.snapshot_state().keys() == runner.stage.snapshot_state().keys()
    assert row["restored_ns"] > 0
    # ...a later pipeline (a whole node's start: the replay of its journal) does not, nor does a
    # first start, which does not even look
    assert kept_state(settings, blobs, False, "p2", True).load() is None
    gets = blobs.gets
    assert kept_state(settings, blobs, False, "p1", False).load() is None and blobs.gets == gets
    # without Acquiring on the machine: whatever is kept is the state, whichever supervisor kept it
    assert kept_state(settings, blobs, True, "p9", False).load() is not None
    # counted under other partitions: its sequences mean nothing here
    other = settings_from("[bus]\npartitions = 2\n[journal]\nsnapshot_interval_s = 0\n")
    assert kept_state(other, blobs, True, "p9", False).load() is None


def test_beside_acquiring_a_clean_stop_keeps_nothing(tmp_path):
    """A node's next start replays its journal under a new pipeline: state kept at the stop would
    never be loaded. Without Acquiring it is what the next start loads."""
    settings = settings_from("")
    runner = InprocPipeline(settings, tmp_path).runners["push-0"]
    blobs = DictBlobs()
    kept_state(settings, blobs, False, "p1", False).stop(runner, {})
    assert blobs.values == {}
    kept_state(settings, blobs, True, "p1", False).stop(runner, {})
    assert list(blobs.values) == ["push-0"]


def test_a_save_the_cluster_cannot_take_is_skipped_and_the_stage_goes_on(tmp_path):
    """Keeping state only shortens a later restart: outputs not acknowledged in time (a broker
    failing over) skip this save, a write that fails is logged, and neither stops the stage nor
    holds it (the write runs on a thread); the next interval saves again."""
    import threading

    from spot_seda.bus.base import BusError

    settings = settings_from("[journal]\nsnapshot_interval_s = 0.01\n")
    runner = InprocPipeline(settings, tmp_path).runners["match-0"]
    blobs = DictBlobs()
    row = {"restored_ns": 0, "kept_ns": 0}
    kept = KeptState(SimpleNamespace(bus=SimpleNamespace(blobs=lambda: blobs), settings=settings, from_log=False,
                                     pipeline="p1"), SimpleNamespace(label="match-0", again=False), row)
    flush = runner.producer.flush
    timeouts = []

    def unacknowledged(timeout=None):
        timeouts.append(timeout)
        raise BusError("2 Kafka messages not delivered within the flush timeout")
    runner.producer.flush = unacknowledged
    kept.due = 0.0
    assert kept.tick(runner) is False and blobs.values == {} and row["kept_ns"] == 0
    assert timeouts and 0 < timeouts[0] <= 5  # a short wait, not the bus's own timeout

    runner.producer.flush = flush
    gate = threading.Event()

    def stuck_then_broken(key, data):
        gate.wait(5)
        raise BusError("not acknowledged within 10s")
    blobs.put = stuck_then_broken
    kept.due = 0.0
    kept.tick(runner)  # returns while the write is stuck
    assert kept._storing.is_alive()
    gate.set()
    kept._storing.join(5)
    assert not kept._storing.is_alive() and row["kept_ns"] == 0  # logged, not raised

    del blobs.put  # the cluster is back
    kept.due = 0.0
    kept.tick(runner)
    kept._storing.join(5)
    assert list(blobs.values) == ["match-0"] and row["kept_ns"] > 0
