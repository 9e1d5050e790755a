"""Persist's commit as the archive grows: one transaction of `--orders` new orders (each created and
reported NEW, as a second of Persist's input holds them) plus a report of one order resting since
before the archive's horizon, written by History.apply over a history that holds N archived orders
whose ids lie between that old order and the new ones (HistoryWriter._archived: an entry of an
archived order must write nothing, so each commit asks which of its orders were archived).

    python bench/archive_check.py [--archived 0,100000,1000000] [--orders 5000] [--repeat 5]

Prints, per archive size, the best and the median milliseconds of a commit over `--repeat`
commits; the rows of those commits are checked (every new order written, the old one updated).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from spot_seda.history import History  # noqa: E402
from spot_seda.model.changelog import created, updated  # noqa: E402
from spot_seda.model.enums import EntityType  # noqa: E402

T0 = 1_700_000_000_000
OLD_ORDER = 500
FIRST_ARCHIVED = 1_000
_seq = iter(range(1, 10**12))


def new_order(order_id: int, ts: int):
    return created(str(order_id), EntityType.ORDER, ts, next(_seq), symbol="BTCUSDT", account=order_id % 1000,
                   client_order_id=f"c{order_id}", side="BUY", type="LIMIT", time_in_force="GTC", price=5_000_000,
                   qty=100_000, quote_qty=0, stp="NONE", frozen_asset="USDT", frozen=5_000_000_000, status="NEW")


def report(order_id: int, status: str, executed: int, ts: int):
    return updated(str(order_id), EntityType.ORDER, ts, next(_seq), status=status, executed_qty=executed,
                   cum_quote_qty=executed * 50, account=order_id % 1000, symbol="BTCUSDT")


def commits(archived: int, orders: int, repeat: int) -> list[float]:
    """Seconds of each of `repeat` commits over a fresh history holding `archived` archived orders."""
    with tempfile.TemporaryDirectory(prefix="spot_seda_archive_check_") as scratch:
        with History(Path(scratch) / "history.sqlite") as history:
            history.apply([new_order(OLD_ORDER, T0)])
            db = history._db
            db.execute("BEGIN")
            db.executemany("INSERT INTO archived_orders (order_id, account, symbol) VALUES (?, 1, 'BTCUSDT')",
                           ((i,) for i in range(FIRST_ARCHIVED, FIRST_ARCHIVED + archived)))
            db.execute("COMMIT")
            first_new = FIRST_ARCHIVED + archived + 1_000_000
            took = []
            for k in range(repeat):
                ts = T0 + 10 + k
                base = first_new + k * orders
                batch = [report(OLD_ORDER, "PARTIALLY_FILLED", k + 1, ts)]
                for order_id in range(base, base + orders):
                    batch += [new_order(order_id, ts), report(order_id, "NEW", 0, ts)]
                began = time.perf_counter()
                history.apply(batch)
                took.append(time.perf_counter() - began)
            written = db.execute("SELECT count(*) FROM orders WHERE order_id >= ?", (first_new,)).fetchone()[0]
            assert written == orders * repeat, (written, orders * repeat)
            assert history.order(OLD_ORDER).executed_qty == repeat
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archived", default="0,100000,1000000", help="archive sizes, comma-separated")
    parser.add_argument("--orders", type=int, default=5000, help="new orders a commit")
    parser.add_argument("--repeat", type=int, default=5, help="commits per archive size")
    args = parser.parse_args()
    print("| archived orders | commit, best (ms) | commit, median (ms) |")
    print("|---:|---:|---:|")
    for archived in (int(x) for x in args.archived.split(",")):
        took = commits(archived, args.orders, args.repeat)
        print(f"| {archived:,} | {min(took) * 1000:.1f} | {statistics.median(took) * 1000:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
