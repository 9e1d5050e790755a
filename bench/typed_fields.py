"""A trade's and a balance change's fields as a map against their typed records (model/changelog.py
TradeFields, BalanceFields): what one entry costs to build, encode, decode (as a stage's consumer
does, in 512-entry batches) and read, in one process, both forms in the same run.

    python bench/typed_fields.py [--entries 51200] [--repeat 7]

Each figure is the best of `--repeat` runs, in ns per entry; the map form is what the stages wrote
before the record (and what they still read from older data). Five stages decode every trade
(Acquiring, Settlement, KLine, Push, Persist) and three every balance change (Acquiring, Push,
Persist), so a decode saved counts that many times per entry in the pipeline.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from spot_seda.model.changelog import (MSGPACK, BalanceFields, Batch, ChangeLogEntry, Created,  # noqa: E402
                                       TradeFields, Updated)
from spot_seda.model.entities import balance_id_of, trade_id_of  # noqa: E402

T0 = 1_767_225_600_000
BATCH = 512


def trade(i: int, typed: bool) -> ChangeLogEntry:
    values = ("BTCUSDT", i, 4_998_300 + i % 50, 40_000, 1_999_320_000, 8_470 + i, 8_455 + i, 9, 2, i % 2 == 0,
              8_455 + i, 8_470 + i)
    fields = TradeFields(*values) if typed else dict(zip(TradeFields.__struct_fields__, values))
    return ChangeLogEntry(trade_id_of("BTCUSDT", i), "SpotTrade", Created(fields), T0 + i, i)


def balance(i: int, typed: bool) -> ChangeLogEntry:
    values = (i % 1000, "USDT", -1_999_320_000 - i, 1_999_320_000, "trade", 8_470 + i)
    fields = BalanceFields(*values) if typed else dict(zip(BalanceFields.__struct_fields__, values))
    return ChangeLogEntry(balance_id_of(i % 1000, "USDT"), "SpotBalance", Updated(fields), T0 + i, i)


def read_trade(e: ChangeLogEntry):  # what Settlement reads of a trade
    f = e.change_type.fields
    if type(f) is TradeFields:
        return (f.symbol, f.price, f.qty, f.quote_qty, f.maker_order_id, f.taker_order_id, f.buyer_is_maker)
    return (f["symbol"], f["price"], f["qty"], f["quote_qty"], f["maker_order_id"], f["taker_order_id"],
            f["buyer_is_maker"])


def read_balance(e: ChangeLogEntry):  # what Push reads of a balance change
    f = e.change_type.changed_fields
    if type(f) is BalanceFields:
        return (f.account, f.asset, f.available_delta, f.frozen_delta, f.reason, f.ref)
    return (f["account"], f["asset"], f["available_delta"], f["frozen_delta"], f["reason"], f["ref"])


def best(fn, n: int, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return min(times) / n * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=51_200)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    n = args.entries
    print(f"# {n:,} entries in {BATCH}-entry batches; ns per entry, best of {args.repeat}")
    print("| entry | form | build | encode | decode | read | bytes |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, make, read in (("trade", trade, read_trade), ("balance change", balance, read_balance)):
        for i in (0, n - 1):  # the two forms carry the same fields, read the same
            if make(i, True).field_dict() != make(i, False).field_dict() or \
                    read(make(i, True)) != read(make(i, False)):
                sys.exit(f"{name} {i}: the typed record and the map differ")
        for typed in (False, True):
            entries = [make(i, typed) for i in range(n)]
            batches = [Batch("t", 0, "p", entries[i:i + BATCH]) for i in range(0, n, BATCH)]
            raw = [MSGPACK.encode(b) for b in batches]
            figures = (best(lambda: [make(i, typed) for i in range(n)], n, args.repeat),
                       best(lambda: [MSGPACK.encode(b) for b in batches], n, args.repeat),
                       best(lambda: [MSGPACK.decode(r) for r in raw], n, args.repeat),
                       best(lambda: [read(e) for e in entries], n, args.repeat))
            size = sum(map(len, raw)) / n
            print(f"| {name} | {'typed record' if typed else 'map'} | "
                  + " | ".join(f"{x:,.0f}" for x in figures) + f" | {size:.0f} |", flush=True)


if __name__ == "__main__":
    main()
