"""bench/ab.py's reading of a pipeline run and its summary (the runs themselves are the bench's)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import ab  # noqa: E402

OUTPUT = """  capacity 12,646 commands/s (every stage done; answers at 14,481/s); steal 0%
| shm | acquiring-0 | 41.9 | 3% | 48 | 201,790 | 101,450 | 1,223.0 | 27 | 28 → 85 |
| shm | match-0 | 14.3 | 1% | 7 | 54,310 | 91,788 | 987.5 | 24 | 4 → 22 |
| shm | (load) | 0.8 | | | | | | | |
"""


def test_a_run_is_read_as_its_stages_their_total_and_the_capacity():
    assert ab.parse(OUTPUT) == {"acquiring": 41.9, "match": 14.3, "total": 56.2, "capacity": 12646.0}
    with pytest.raises(ValueError, match="not a pipeline bench's output"):
        ab.parse("Traceback (most recent call last): ...")


def test_the_summary_reads_each_figure_over_the_reference_stage_too():
    a = [{"acquiring": 40.0, "match": 10.0, "total": 50.0, "capacity": 100.0}] * 2
    b = [{"acquiring": 44.0, "match": 11.0, "total": 55.0, "capacity": 90.0},  # a slower moment: all 10% up
         {"acquiring": 36.0, "match": 10.0, "total": 46.0, "capacity": 110.0}]  # a real gain of 10%
    lines = ab.summarize(a, b, "match")
    acquiring = lines[2].split(" | ")
    assert acquiring[0] == "| acquiring" and acquiring[3] == "1.000"  # raw: the two cancel out
    assert acquiring[4] == "0.950" and acquiring[5] == "1 |"  # over Match: 1.0 and 0.9, lower in one pair
