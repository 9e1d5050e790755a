"""Engine benchmark: a seeded order flow through the order books alone, and through book + ledger + candles.

Workload: bench/workload.py (seeded, `--seed`; `--ops` commands, default 1,000,000; both symbols of
the config, deposits first, 1,000 accounts): the same flow bench/pipeline.py sends through the node.

Three runs on one core, same process, same commands, timed around the command loop only:
1. `plain`: a minimal price-time book (dict of deques + sorted price lists, no reports, no STP, no
   indexes but order id), the "plain reference model" the goal is stated against;
2. `book`: spot_seda's OrderBook, every record (trades, order reports, level changes) produced;
3. `full`: Acquiring's ledger freezes each order, the book matches, Settlement's ledger settles every
   trade and releases every finished order's hold, candles fold the trades in batches of 100
   commands. Book and ledger invariants are checked at the end.
Prints progress and ops/s, and saves bench/out/engine.png.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from bisect import insort
from collections import deque
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from spot_seda.config import load_settings  # noqa: E402
from spot_seda.engine import CandleBook, Ledger, OrderBook, OrderReport, Trade, order_hold  # noqa: E402
from spot_seda.model.enums import OrderStatus, OrderType, Side, TimeInForce  # noqa: E402
from workload import ACCOUNTS, CANCEL, PLACE, deposits, workload  # noqa: E402

class PlainBook:
    """The plain reference model of price-time matching: no reports, no STP, no order types but
    limit and market, no index but order id; trades are counted, not recorded."""

    def __init__(self, scale: int, step: int = 1) -> None:
        self.scale = scale
        self.step = step
        self.levels: tuple[dict, dict] = ({}, {})
        self.keys: tuple[list, list] = ([], [])
        self.orders: dict[int, list] = {}
        self.trades = 0

    def place(self, oid, side, price, qty, market, rest, quote=0):
        """`quote`: a market order by quote amount (qty 0) fills until that much quote is spent or
        received, in whole lot steps, as the book's does."""
        other = 1 - side
        keys, levels = self.keys[other], self.levels[other]
        limit = -(1 << 62) if market else (-price if side == 0 else price)
        while (qty or quote) and keys and keys[-1] >= limit:
            key = keys[-1]
            q = levels[key]
            while q and (qty or quote):
                m = q[0]
                if not m[1]:
                    q.popleft()
                    continue
                if qty:
                    fill = min(m[1], qty)
                    qty -= fill
                else:  # the most whole steps the quote left pays for at this level's price
                    fill = min(m[1], quote * self.scale // abs(key) // self.step * self.step)
                    if not fill:
                        quote = 0
                        break
                    quote -= abs(key) * fill // self.scale
                m[1] -= fill
                self.trades += 1
                if not m[1]:
                    q.popleft()
                    del self.orders[m[0]]
            if not any(o[1] for o in q):
                keys.pop()
                del levels[key]
        if qty and rest and not market:
            key = price if side == 0 else -price
            q = self.levels[side].get(key)
            if q is None:
                q = self.levels[side][key] = deque()
                insort(self.keys[side], key)
            o = [oid, qty, side, key]
            q.append(o)
            self.orders[oid] = o

    def cancel(self, oid):
        o = self.orders.pop(oid, None)
        if o is not None:
            o[1] = 0
            q = self.levels[o[2]][o[3]]
            if not any(x[1] for x in q):
                del self.levels[o[2]][o[3]]
                self.keys[o[2]].remove(o[3])


def progress(name: str, i: int, n: int, t0: float) -> None:
    print(f"  {name}: {i:>9,}/{n:,} commands, {i / (time.perf_counter() - t0):>11,.0f} ops/s", flush=True)


def run_plain(cmds, rules) -> tuple[float, int]:
    """Seconds, and the trades made (the same work as the book's only if about as many)."""
    books = {symbol: PlainBook(r.price_scale, r.step) for symbol, r in rules.items()}
    n = len(cmds)
    t0 = time.perf_counter()
    for i, c in enumerate(cmds, 1):
        if c[0] == PLACE:
            books[c[11]].place(c[1], c[3], c[6], c[7], c[4] == OrderType.MARKET, c[5] == TimeInForce.GTC, c[8])
        else:
            books[c[3]].cancel(c[1])
        if not i % 250_000:
            progress("plain", i, n, t0)
    return time.perf_counter() - t0, sum(b.trades for b in books.values())


def run_book(cmds, rules) -> tuple[float, int, dict[str, OrderBook]]:
    books = {symbol: OrderBook(r) for symbol, r in rules.items()}
    n = len(cmds)
    records = 0
    t0 = time.perf_counter()
    for i, c in enumerate(cmds, 1):
        if c[0] == PLACE:
            _, oid, account, side, type_, tif, price, qty, quote, stp, ts, symbol = c
            records += len(books[symbol].place(oid, account, side, type_, tif, price, qty, quote, "", stp, ts))
        else:
            records += len(books[c[3]].cancel(c[1], c[2]))
        if not i % 250_000:
            progress("book", i, n, t0)
    elapsed = time.perf_counter() - t0
    for book in books.values():
        book.check_invariants()
    return elapsed, records, books


def run_full(cmds, rules) -> tuple[float, int, dict]:
    """Acquiring freeze -> match -> settle + release -> candles, all in one loop on one core."""
    books = {symbol: OrderBook(r) for symbol, r in rules.items()}
    candles = {symbol: CandleBook(symbol) for symbol in rules}
    acq, stl = Ledger(), Ledger()
    for account, asset, amount in deposits(rules):  # at Acquiring, replicated to Settlement
        stl.apply(acq.deposit(account, asset, amount)[1])
    freeze, settle, release = acq.freeze, stl.settle_trade, stl.release
    stl_apply = stl.apply
    final = OrderStatus.FILLED
    n = len(cmds)
    nsf = changes_out = 0
    batches: dict[str, list[Trade]] = {symbol: [] for symbol in rules}
    t0 = time.perf_counter()
    for i, c in enumerate(cmds, 1):
        if c[0] == PLACE:
            _, oid, account, side, type_, tif, price, qty, quote, stp, ts, symbol = c
            r = rules[symbol]
            if type_ == OrderType.MARKET and side == Side.BUY and not quote:
                quote = qty * 4_000_000 // r.price_scale  # a budget for a market buy by qty
            if type_ == OrderType.MARKET and side == Side.SELL and not qty:
                qty = 10**8  # a base cap for a market sell by quote amount
            asset, amount = order_hold(r, side, type_, price, qty, quote)
            code, changes = freeze(oid, account, asset, amount)
            if code:
                nsf += 1
                continue
            stl_apply(changes)  # Settlement's replica learns the hold
            records = books[symbol].place(oid, account, side, type_, tif, price, qty, quote, "", stp, ts)
        else:
            symbol = c[3]
            r = rules[symbol]
            records = books[symbol].cancel(c[1], c[2])
        for rec in records:
            kind = type(rec)
            if kind is Trade:
                code, changes = settle(r, rec)
                changes_out += len(changes)
                batches[symbol].append(rec)
            elif kind is OrderReport and rec.status >= final:
                changes_out += len(release(rec.order_id)[1])
        if not i % 100:
            for symbol, batch in batches.items():
                candles[symbol].apply(batch)
                batches[symbol] = []
        if not i % 250_000:
            progress("full", i, n, t0)
    for symbol, batch in batches.items():
        candles[symbol].apply(batch)
    elapsed = time.perf_counter() - t0
    for book in books.values():
        book.check_invariants()
    stl.check_invariants()
    acq.check_invariants()
    open_ids = {o.order_id for book in books.values() for a in range(1, ACCOUNTS + 1) for o in book.open_orders(a)}
    assert open_ids == set(stl._holds), "every open order, and only those, holds funds"
    return elapsed, changes_out, {"nsf": nsf, "trades": sum(b.last_trade_id for b in books.values())}


def full_chain_rate(ops: int, seed: int) -> float:
    """Commands/s of the full chain (run_full) on this core: what bench/pipeline.py compares with."""
    rules = load_settings().symbol_rules()
    elapsed, _changes, _info = run_full(workload(ops, seed, rules), rules)
    return ops / elapsed


def plot(results: dict[str, float], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.6))
    names = list(results)
    bars = ax.bar(names, [results[k] for k in names], color=["#999999", "#1f77b4", "#2ca02c"])
    ax.axhline(500_000, color="red", linestyle="--", linewidth=1, label="goal: book 500k ops/s")
    for bar, name in zip(bars, names):
        ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height(), f"{results[name]:,.0f}", ha="center", va="bottom", fontsize=9)
    ax.set_ylabel("commands / s (one core)")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-full", action="store_true", help="time only the plain model and the book")
    args = parser.parse_args()
    rules = load_settings().symbol_rules()
    print(f"engine bench: {args.ops:,} commands, seed {args.seed}, python {platform.python_version()}, "
          f"nproc {os.cpu_count()}, cpu {cpu_model()}", flush=True)
    t = time.perf_counter()
    cmds = workload(args.ops, args.seed, rules)
    kinds = sum(1 for c in cmds if c[0] == CANCEL)
    print(f"workload generated in {time.perf_counter() - t:.1f}s ({kinds / len(cmds):.0%} cancels)", flush=True)

    results: dict[str, float] = {}
    elapsed, plain_trades = run_plain(cmds, rules)
    results["plain model"] = len(cmds) / elapsed
    print(f"plain model : {results['plain model']:>11,.0f} ops/s ({elapsed:.2f}s), {plain_trades:,} trades", flush=True)
    elapsed, records, books = run_book(cmds, rules)
    results["order book"] = len(cmds) / elapsed
    print(f"order book  : {results['order book']:>11,.0f} ops/s ({elapsed:.2f}s), {records:,} records "
          f"({records / len(cmds):.2f}/command), {sum(b.last_trade_id for b in books.values()):,} trades, "
          f"{sum(len(b) for b in books.values()):,} orders resting, "
          f"ratio to plain {results['order book'] / results['plain model']:.2f}", flush=True)
    if not args.skip_full:
        elapsed, changes, info = run_full(cmds, rules)
        results["book+ledger+candles"] = len(cmds) / elapsed
        print(f"book+ledger+candles: {results['book+ledger+candles']:>11,.0f} ops/s ({elapsed:.2f}s), "
              f"{changes:,} balance changes, {info['trades']:,} trades, {info['nsf']} NSF; invariants hold", flush=True)
    out = ROOT / "bench" / "out" / "engine.png"
    plot(results, out, f"{args.ops:,} commands, seed {args.seed}, {cpu_model()}, python {platform.python_version()}")
    print(f"plot: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
