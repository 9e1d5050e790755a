"""bench/steal.py: the hypervisor's share of the box's CPU time between two reads of /proc/stat."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import steal  # noqa: E402

#: user nice system idle iowait irq softirq steal guest guest_nice
BEFORE = "cpu  1000 0 500 8000 10 0 5 100 0 0\ncpu0 500 0 250 4000 5 0 2 50 0 0\n"
AFTER = "cpu  1300 0 600 8400 10 0 5 300 40 0\ncpu0 650 0 300 4200 5 0 2 150 20 0\n"


def _meter_over(tmp_path, monkeypatch, before: str, after: str) -> steal.StealMeter:
    """A meter started on a /proc/stat reading `before`, the file then reading `after`."""
    stat = tmp_path / "stat"
    monkeypatch.setattr(steal, "_STAT", stat)
    stat.write_text(before)
    meter = steal.StealMeter()
    stat.write_text(after)
    return meter


def test_steal_is_the_share_of_all_cpu_time_since_the_start(tmp_path, monkeypatch):
    meter = _meter_over(tmp_path, monkeypatch, BEFORE, AFTER)
    # 200 ticks stolen of 300 + 100 + 400 + 200 = 1,000 (guest time is already in user's)
    assert meter.percent() == 20.0
    assert meter.text() == "steal 20%"


def test_without_proc_stat_there_is_no_figure(tmp_path, monkeypatch):
    monkeypatch.setattr(steal, "_STAT", tmp_path / "missing")
    meter = steal.StealMeter()
    assert meter.percent() is None and meter.text() == ""


def test_the_real_file_gives_a_share():
    pct = steal.StealMeter().percent()
    assert pct is None or 0.0 <= pct <= 100.0


def test_each_core_is_busy_for_what_it_ran_of_its_time(tmp_path, monkeypatch):
    # cpu0: 150 user + 50 system ran, 200 idle, 100 stolen (guest time is in user's): 200 of 500
    # cpu1: 90 nice + 10 system + 2 softirq ran, 95 idle, 3 waiting for I/O: 102 of 200
    meter = _meter_over(tmp_path, monkeypatch, BEFORE + "cpu1 500 0 250 4000 5 0 3 50 0 0\n",
                        AFTER + "cpu1 500 90 260 4095 8 0 5 50 0 0\n")
    assert meter.busy([0, 1]) == {0: 40.0, 1: 51.0}
    assert meter.busy([1, 7]) == {1: 51.0}  # a core the file does not list has no figure
    assert steal.busy_text(meter.busy([1, 0])) == "cores busy 0: 40%, 1: 51%"
    assert steal.busy_text({}) == steal.busy_text(None) == ""


def test_without_proc_stat_there_are_no_cores_busy(tmp_path, monkeypatch):
    monkeypatch.setattr(steal, "_STAT", tmp_path / "missing")
    assert steal.StealMeter().busy([0]) is None


def test_the_real_file_gives_each_core_a_share():
    import os

    cores = sorted(os.sched_getaffinity(0))
    shares = steal.StealMeter().busy(cores)
    assert shares is None or (set(shares) <= set(cores) and all(0.0 <= v <= 100.0 for v in shares.values()))


def test_a_summary_says_the_steal_and_each_core(tmp_path, monkeypatch):
    meter = _meter_over(tmp_path, monkeypatch, BEFORE, AFTER)
    assert meter.summary([0]) == "steal 20%; cores busy 0: 40%"
    monkeypatch.setattr(steal, "_STAT", tmp_path / "missing")
    assert meter.summary([0]) == ""
