"""bench/pipeline.py's own accounting, over every transport but Kafka (tests/kafka has that one):
every injected command is answered or refused, and the fills, orders and final balances the run's
history holds equal an in-process replay of the journal it wrote. Speed is not asserted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spot_seda.runtime import snapshots as snapshot_files

from .pipeline_check import ROOT, check_accounting, check_against_replay, run_bench


@pytest.mark.parametrize("transport", ["inproc", "shm", "mpq"])
def test_every_command_is_accounted_for_and_the_history_equals_a_replay(transport, tmp_path):
    # over shm, more subscribers than aiohttp's default connection pool holds (100): the 101st once
    # waited for a free connection for ever, and the bench timed out waiting for its subscribers
    extra = ("--subscribers", "101" if transport == "shm" else "2") if transport != "inproc" else ()
    result = run_bench(tmp_path, transport, *extra)
    check_accounting(result)
    assert all(p["steal_pct"] is None or 0 <= p["steal_pct"] <= 100 for p in result["phases"])
    if extra:
        assert result["frames"] > 0  # the subscribers saw trades
        assert result["phases"][1]["latency_us"]["pushed"]["count"] > 0
    check_against_replay(result, tmp_path)


def test_an_absolute_open_loop_rate_runs_at_that_rate(tmp_path):
    """--rates-per-s: a phase offered that many commands/s, whatever the capacity measured."""
    result = run_bench(tmp_path, "inproc", "--rates-per-s", "400")
    check_accounting(result)
    names = [p["name"] for p in result["phases"]]
    assert names == ["closed loop", "open 50%", "open 400/s"]
    fixed = result["phases"][2]
    assert fixed["offered_per_s"] == 400 and fixed["count"] == 200  # 0.5 s of it


def test_snapshots_are_taken_as_the_node_takes_them_and_each_open_loop_has_a_timeline(tmp_path):
    """Order entry snapshots every journal.snapshot_interval_s, as api/rest.py's loop does, and every
    stage writes its file: each phase says when each began and how long it held commands back, and
    each open loop's latency per 100 ms of sends says where its tail was. Nothing else changes."""
    config = tmp_path / "node.toml"
    text = (ROOT / "configs" / "default.toml").read_text()
    assert "\nsnapshot_interval_s = 10.0" in text
    config.write_text(text.replace("\nsnapshot_interval_s = 10.0", "\nsnapshot_interval_s = 0.3"))
    result = run_bench(tmp_path, "shm", "--config", str(config), "--orders", "4000", "--open-seconds", "1.5")
    check_accounting(result)
    snapshots = [s for p in result["phases"] for s in p["snapshots"]]
    assert len(snapshots) >= 3
    assert all(s["t"] >= 0 for s in snapshots) and any(s["paused_ms"] > 0 for s in snapshots)
    written = {f.name.rpartition("-")[0] for f in (Path(result["data_dir"]) / "snapshots").glob("*.pkl")}
    assert written == {"acquiring-0", "match-0", "kline-0", "settlement-0", "push-0"}
    assert (Path(result["data_dir"]) / "snapshots" / "manifest.json").exists()
    _position, states = snapshot_files.load(Path(result["data_dir"]), json.loads(
        (Path(result["data_dir"]) / "snapshots" / "manifest.json").read_text())["layout"])
    # order entry's writer was forked as the marker left, and kept what came back meanwhile
    assert isinstance(states["acquiring-0"]["channel"], list)
    assert all("channel" not in state for label, state in states.items() if label != "acquiring-0")
    open_loop = result["phases"][1]
    tl = open_loop["timeline"]
    sent_for_s = open_loop["count"] / open_loop["offered_per_s"]  # (from a moment after the phase's start)
    assert tl["t"] == sorted(tl["t"]) and len(tl["t"]) >= sent_for_s / 0.1 - 1 and tl["t"][-1] < sent_for_s + 0.2
    assert all(0 < p50 <= top for p50, top in zip(tl["p50_us"], tl["max_us"]))
    worst = open_loop["latency_us"]["matched"]["max"]  # (HDR: to 3 significant digits)
    assert worst * 0.99 <= max(tl["max_us"]) <= worst * 1.01
    check_against_replay(result, tmp_path)


def test_each_stage_process_times_its_garbage_collector(tmp_path):
    """Every stage process counts its collector's passes, their time and the longest in the metrics
    table (runtime/metrics.py watch_gc), and each phase reports its own: with thresholds this low
    every stage whose state grows with the orders collects (KLine's, a few candles, need not)."""
    config = tmp_path / "node.toml"
    text = (ROOT / "configs" / "default.toml").read_text()
    line = next(x for x in text.splitlines() if x.startswith("gc_thresholds = "))
    config.write_text(text.replace(line, "gc_thresholds = [50, 10, 10]"))
    result = run_bench(tmp_path, "shm", "--config", str(config))
    check_accounting(result)
    closed = result["phases"][0]["stages"]
    assert set(closed) == {"acquiring-0", "match-0", "kline-0", "settlement-0", "persist-0", "push-0"}
    for label in ("acquiring-0", "match-0", "settlement-0", "persist-0", "push-0"):
        assert closed[label]["gc_collections"] > 0, label
        assert 0 < closed[label]["gc_max_ms"] <= closed[label]["gc_ms"], (label, closed[label])
    for phase in result["phases"]:  # (the longest counts from each phase's start)
        for label, stage in phase["stages"].items():
            assert stage["gc_max_ms"] <= stage["gc_ms"] if stage["gc_collections"] else stage["gc_ms"] == 0, label
