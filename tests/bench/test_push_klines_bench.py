"""bench/push_klines.py runs end to end and times Push's candle work (it once timed nothing: Push holds
back a candle until it has seen the candle's trades, the bench fed it none, so every candle only
waited in `klines_stalled` and `_klines` returned at its first entry). Speed is not asserted."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_push_klines_bench_handles_every_candle():
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "push_klines.py"), "--entries", "1024", "--repeat", "1"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    # the bench exits non-zero when a candle is left waiting or none reached Push's state
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    figure = re.search(r"Push _klines: ([\d.]+) µs per candle entry .*1,024 entries; (\d+) candles known, "
                       r"(\d+) held back", run.stdout)
    assert figure, run.stdout
    assert float(figure.group(1)) > 0 and int(figure.group(2)) > 0 and int(figure.group(3)) == 0, run.stdout
