"""History queries behind the public market data: a 24-hour ticker from the closed 1m candles plus the
window's edges (History.trade_window) against summing every trade of the window, on a real history.

    python bench/recovery.py --commands 1000000 --keep   # leaves a node's data dir, prints its path
    python bench/history.py --db DATA_DIR/history.sqlite [--repeat 5]

For each symbol and two window ends (the last trade, and 23 hours later, when the window holds
only part of the trading), prints the trades in the window, the best time of each way over
`--repeat` runs and their ratio; it checks the two ways agree.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from spot_seda.history import History
from spot_seda.model.summary import summarize  # noqa: E402

DAY_MS = 86_400_000


def best_of(repeat: int, fn) -> tuple[float, object]:
    best, value = float("inf"), None
    for _ in range(repeat):
        began = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - began)
    return best, value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", required=True, type=Path, help="a node's history.sqlite")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with History(args.db, readonly=True) as history:
        symbols = [row[0] for row in history._db.execute("SELECT DISTINCT symbol FROM klines")]
        print(f"# {args.db}: {history._db.execute('SELECT count(*) FROM trades').fetchone()[0]:,} trades", flush=True)
        print("| symbol | window ends | trades in it | every trade | candles + edges | ratio |")
        print("|---|---|---:|---:|---:|---:|")
        for symbol in symbols:
            last = history.trades(symbol, limit=1)[0]["time"]
            for label, now in (("at the last trade", last), ("23 h later", last + 23 * 3_600_000)):
                start = now - DAY_MS
                slow, expected = best_of(args.repeat, lambda: summarize(history.trades_since(symbol, start)))
                fast, (got, _prev) = best_of(args.repeat, lambda: history.trade_window(symbol, start))
                assert got == expected, (symbol, start, got, expected)
                count = expected.count if expected else 0
                print(f"| {symbol} | {label} | {count:,} | {slow * 1000:.1f} ms | {fast * 1000:.2f} ms | "
                      f"{slow / fast:.0f}x |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
