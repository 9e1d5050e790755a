"""The Go programs of the benches pass their own unit tests (`go test` in each: wsfan's frame
parsing and its progress percentiles)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("program", ["wsfan"])
def test_the_go_program_passes_its_unit_tests(program):
    run = subprocess.run(["go", "test", "-count=1", "./..."], cwd=ROOT / "bench" / program, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert run.stdout.startswith("ok"), run.stdout
