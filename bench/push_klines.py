"""What Push spends on one KLine stage candle (stages/push.py `_klines`), in process: the candle's
state (the first trade id of an open candle) and the check for its streams' subscribers, with a
WebSocket hub (api/fanout.py) that nobody subscribed to, as in the pipeline benchmark.

    python bench/push_klines.py [--entries 32000] [--repeat 7]

Entries are candles of every interval of one symbol as the KLine stage writes them (the fields of
model/entities.KLINE_FIELDS, in order), in 512-entry batches. Prints the best of `--repeat` runs,
in µs per entry.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from spot_seda.api.fanout import Hub  # noqa: E402
from spot_seda.config import parse_settings  # noqa: E402
from spot_seda.engine.kline import INTERVALS  # noqa: E402
from spot_seda.model.changelog import created  # noqa: E402
from spot_seda.model.entities import KLINE_FIELDS  # noqa: E402
from spot_seda.model.enums import EntityType  # noqa: E402
from spot_seda.runtime.inproc import InprocPipeline  # noqa: E402

T0 = 1_767_225_600_000  # 2026-01-01T00:00Z


def candles(count: int) -> list:
    out = []
    for i in range(count):
        interval = list(INTERVALS)[i % len(INTERVALS)]
        opened = T0 + (i // len(INTERVALS)) * 60_000
        values = ("BTCUSDT", interval, opened, opened + 59_999, 100, 110, 90, 105, 3, 300, 3, 1, 100, False)
        out.append(created(f"BTCUSDT:{interval}:{opened}", EntityType.KLINE, opened, i + 1,
                           **dict(zip(KLINE_FIELDS, values))))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--entries", type=int, default=32_000)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    base = (ROOT / "configs" / "default.toml").read_text()
    with tempfile.TemporaryDirectory() as tmp:
        settings = parse_settings(f'[node]\ndata_dir = "{tmp}"\n[bus]\ntransport = "inproc"\n'
                                  + base[base.index("[[symbols]]"):])
        push = InprocPipeline(settings).stage("push-0")
        push.sink = Hub()
        entries = candles(args.entries)
        # Push holds back a candle until it has seen the trades it was made of (stages/push.py);
        # in the pipeline they have come by then, so say they have, or every candle only waits
        push.trade_ts["BTCUSDT"] = entries[-1].timestamp
        best = float("inf")
        for _ in range(args.repeat):
            started = time.perf_counter()
            for i in range(0, len(entries), 512):
                push._klines(entries[i:i + 512])
            best = min(best, time.perf_counter() - started)
        if push.klines_stalled or not push.candle_first:
            sys.exit(f"measured nothing: {len(push.klines_stalled):,} candle entries left waiting, "
                     f"{len(push.candle_first)} candles known")
    print(f"Push _klines: {best / len(entries) * 1e6:.3f} µs per candle entry (best of {args.repeat}, "
          f"{len(entries):,} entries; {len(push.candle_first)} candles known, {len(push.klines_stalled)} held back)")


if __name__ == "__main__":
    main()
