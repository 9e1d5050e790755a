"""bench/archive_check.py runs end to end: its commits write every new order and update the old one
(the bench checks that) over an empty and a non-empty archive. Speed is not asserted."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_archive_check_bench_times_commits_over_each_archive_size():
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "archive_check.py"), "--archived", "0,2000",
                          "--orders", "200", "--repeat", "2"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    rows = re.findall(r"^\| ([\d,]+) \| ([\d.]+) \| ([\d.]+) \|$", run.stdout, re.M)
    assert [archived for archived, _, _ in rows] == ["0", "2,000"]
    assert all(float(best) > 0 and float(median) >= float(best) for _, best, median in rows)
