"""bench/wakeup.py measures each of its lines on this machine and writes what it printed: both
sides of each round trip blocked and were woken, each measured in its own process, and a timed
sleep lasted at least its length. Speed is not asserted."""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import wakeup  # noqa: E402


def test_the_wakeup_bench_measures_every_line(tmp_path, capsys):
    out = tmp_path / "wakeup.json"
    allowed = os.sched_getaffinity(0)
    doc = wakeup.main(["--trips", "60", "--json", str(out)])
    assert os.sched_getaffinity(0) == allowed  # (it pins itself while it measures, and not after)
    lines = doc["lines"]
    expected = {"syscall", "sleep", "pipe_one_core", "ring_one_core", "work_busy", "work_after_sleep"}
    if len(allowed) > 1:
        expected |= {"pipe_two_cores", "ring_two_cores"}
    assert set(lines) == expected
    for key, figures in lines.items():
        assert math.isfinite(figures["wall_us"]) and math.isfinite(figures["cpu_us"]), (key, figures)
        trip = key.startswith(("pipe", "ring"))
        assert (figures["other_side_cpu_us"] is not None) == trip, (key, figures)
        if trip:  # both sides blocked and were woken, each in its own process
            assert figures["wall_us"] >= figures["cpu_us"] > 0 and figures["other_side_cpu_us"] > 0, (key, figures)
    # a timed sleep blocks for at least its length; a call and a unit of work take time (the unit
    # after a sleep is a difference of two figures: only printed)
    assert lines["sleep"]["wall_us"] >= wakeup.SLEEP_S * 1e6
    assert lines["syscall"]["cpu_us"] > 0 and lines["work_busy"]["cpu_us"] > 0
    printed = capsys.readouterr().out
    for figures in lines.values():
        assert f"| {figures['what']} |" in printed
    assert json.loads(out.read_text()) == json.loads(json.dumps(doc))


def test_the_brief_measure_the_other_benches_print():
    """bench/node.py and bench/pipeline.py print it in their headers (and the pipeline's JSON has it)."""
    allowed = os.sched_getaffinity(0)
    b = wakeup.brief(trips=30)
    assert os.sched_getaffinity(0) == allowed
    assert b["sleep_cpu_us"] > 0 and b["pipe_round_trip_us"] > 0 and b["across_cores"] == (len(allowed) > 1)
    text = wakeup.brief_text(b)
    assert text.startswith("a wake-up here: a timed sleep ") and "(bench/wakeup.py)" in text
