"""bench/engine.py compares the order book with a plain reference model: the comparison means
something only if both do the same work. The plain model once swept the book with every market
order by quote amount (2.7x the book's trades). Speed is not asserted."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_plain_model_and_the_book_make_about_the_same_trades():
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "engine.py"), "--ops", "20000", "--skip-full"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    plain = int(re.search(r"plain model .*?([\d,]+) trades", run.stdout).group(1).replace(",", ""))
    book = int(re.search(r"order book .*?([\d,]+) trades", run.stdout).group(1).replace(",", ""))
    assert book > 1000
    assert abs(plain - book) <= book // 100, (plain, book)  # (the plain model has no self-trade prevention)
