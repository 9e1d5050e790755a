"""KLine stage alone: µs per trading command (each of its 16 candle updates built as a change-log
entry), on a seeded stream of trades, one process, no queues. The KLine stage's own glue, which
the pipeline bench only shows mixed with five other stages on two cores.

    python bench/kline_stage.py [--commands 20000] [--repeat 3]

Prints the best of `--repeat` runs (each on a fresh stage). To compare two trees, run each tree's
copy alternately (BENCHMARKS.md, "Pipeline", eighth session).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from spot_seda.config import load_settings  # noqa: E402
from spot_seda.model.changelog import ChangeLogEntry, Created, TradeFields  # noqa: E402
from spot_seda.model.enums import EntityType, Topic  # noqa: E402
from spot_seda.stages.base import StageContext  # noqa: E402
from spot_seda.stages.kline import KLineStage  # noqa: E402


def trades(commands: int, seed: int = 1) -> list[ChangeLogEntry]:
    """Match's trade entries for `commands` taker orders of 1-3 fills each, 1-300 ms apart."""
    rng = random.Random(seed)
    out, ts, trade_id = [], 1_700_000_000_000, 0
    for taker in range(commands):
        ts += rng.randint(1, 300)
        for k in range(rng.randint(1, 3)):
            trade_id += 1
            buyer, seller = (1, taker) if k % 2 else (taker, 1)  # (the maker, order 1, buys when buyer_is_maker)
            out.append(ChangeLogEntry(str(trade_id), EntityType.TRADE, Created(TradeFields(
                "BTCUSDT", trade_id, 5_000_000 + rng.randint(-100, 100), 10, 500, buyer, seller, 1, 2, bool(k % 2),
                1, taker)), ts, trade_id))
    return out


def run(entries: list[ChangeLogEntry], commands: int, batch: int = 500) -> float:
    """µs per trading command through a fresh KLineStage, in batches as a ring delivers them."""
    with tempfile.TemporaryDirectory() as scratch:
        stage = KLineStage(StageContext(load_settings(ROOT / "configs" / "default.toml"), "kline", 0, 1, Path(scratch)))
        stage.start()
        began = time.perf_counter()
        for i in range(0, len(entries), batch):
            stage.handle_events(Topic.TRADE, entries[i:i + batch])
        return (time.perf_counter() - began) / commands * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commands", type=int, default=20_000, help="trading commands (taker orders)")
    parser.add_argument("--repeat", type=int, default=3, help="runs; the best is printed")
    args = parser.parse_args()
    entries = trades(args.commands)
    best = min(run(entries, args.commands) for _ in range(args.repeat))
    print(f"kline stage: {best:.2f} µs per trading command ({len(entries):,} trades, {args.commands:,} commands)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
