"""What Push's 1000 ms tick costs (stages/push.py), in process: with nobody subscribed, and with every
per-second stream of every symbol subscribed (the 24-hour tickers, @avgPrice, the rolling-window
tickers, the all-market arrays).

    python bench/push_tick.py [--symbols 200] [--repeat 7]

The node's stages run in one process (the inproc Bus) on a configuration of `--symbols` symbols,
each with 100 trades in the last minutes; the sink only counts what it is handed, so the figure is
Push's own work (state reads and payloads), not the fan-out's. Prints the best of `--repeat` runs
of 20 ticks, in ms per tick.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from spot_seda.binance import streams as S  # noqa: E402
from spot_seda.config import parse_settings  # noqa: E402
from spot_seda.model.commands import NewOrder, Transfer  # noqa: E402
from spot_seda.runtime.inproc import InprocPipeline  # noqa: E402
from spot_seda.runtime.replay import apply_commands  # noqa: E402

TICKS = 20


class CountingSink:
    """Wants the streams it is given; counts what it is handed."""

    def __init__(self, streams: set[str]) -> None:
        self.streams = streams
        self.sent = 0

    def wants(self, stream: str) -> bool:
        return stream in self.streams

    def wants_any(self, prefix: str) -> bool:
        return any(s.startswith(prefix) for s in self.streams)

    def send(self, stream: str, payload) -> None:
        self.sent += 1


def config(data_dir: str, symbols: int) -> str:
    tables = "".join(f"""
[[symbols]]
symbol = "S{i}USDT"
base = "S{i}"
quote = "USDT"
price_decimals = 2
tick_size = "0.01"
step_size = "0.001"
min_qty = "0.001"
max_qty = "9000"
min_notional = "1"
""" for i in range(symbols))
    return f'[node]\ndata_dir = "{data_dir}"\n[bus]\ntransport = "inproc"\n' + tables


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        pipeline = InprocPipeline(parse_settings(config(tmp, args.symbols)))
        push = pipeline.stage("push-0")
        now = time.time_ns() // 1_000_000
        cmds: list = [Transfer(1, "USDT", 10**18, now), Transfer(2, "USDT", 10**18, now)]
        for i in range(args.symbols):
            cmds += [Transfer(1, f"S{i}", 10**14, now)]
            for k in range(100):  # a trade a second over the last 100 seconds
                ts = now - (100 - k) * 1000
                price = 10_000 + k
                cmds += [NewOrder(1, f"S{i}USDT", "SELL", "LIMIT", "GTC", price, 10**5, 0, "", "NONE", ts),
                         NewOrder(2, f"S{i}USDT", "BUY", "LIMIT", "IOC", price, 10**5, 0, "", "NONE", ts)]
        apply_commands(pipeline, cmds, journaled=False)
        pipeline.pump()
        every = {name for i in range(args.symbols) for name in
                 (f"s{i}usdt@ticker", f"s{i}usdt@miniTicker", f"s{i}usdt@avgPrice",
                  *(f"s{i}usdt@ticker_{w}" for w in S.ROLLING_WINDOWS))} | set(S.ALL_MARKET)
        for label, streams in (("nobody subscribed", set()), ("every per-second stream", every)):
            push.sink = sink = CountingSink(streams)
            best = min(timeit.repeat(lambda: push.tick("1000ms"), number=TICKS, repeat=args.repeat))
            print(f"{label:>24}: {best / TICKS * 1000:8.3f} ms per tick, {args.symbols} symbols "
                  f"({sink.sent // (TICKS * args.repeat)} payloads a tick)")


if __name__ == "__main__":
    main()
