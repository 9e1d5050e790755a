"""bench/typed_fields.py runs end to end on entries whose two forms carry the same fields (the bench
checks that before it times anything). Speed is not asserted."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_typed_fields_bench_times_both_forms_of_both_entries():
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "typed_fields.py"), "--entries", "1024", "--repeat", "1"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    rows = re.findall(r"^\| (trade|balance change) \| (map|typed record) \|((?: [\d,]+ \|){5})$", run.stdout, re.M)
    assert [(entry, form) for entry, form, _ in rows] == [
        ("trade", "map"), ("trade", "typed record"), ("balance change", "map"), ("balance change", "typed record")]
    assert all(float(x.replace(",", "")) > 0 for _, _, figures in rows for x in figures.strip(" |").split(" | "))
