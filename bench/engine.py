"""Engine benchmark: a seeded order flow through the order book alone, and through book + ledger + candles.

Workload (seeded, `--seed`; `--ops` commands, default 1,000,000), on BTCUSDT rules from the config:
- the mid price drifts as a random walk (a ±1-tick step with probability 1/2 per command, from 30000.00);
- 70% LIMIT GTC orders, side at random, priced 0..100 ticks (0.01) on their own side of the mid, and
  one in twenty 1..5 ticks through it (so limits take too); qty 0.00001..0.002 BTC;
- 20% cancels of an order id drawn from the last 2,000 placed (some already filled: those come back
  UNKNOWN_ORDER, which is part of the work a cancel does);
- 10% takers: half MARKET by qty, a quarter MARKET by quote amount (10..200 USDT), a quarter LIMIT IOC
  3 ticks through;
- 1,000 accounts, 10% of orders with an STP mode; timestamps advance 1 ms per command.

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
import random
import sys
import time
from bisect import insort
from collections import deque
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from spot_seda.config import load_settings  # noqa: E402
from spot_seda.engine import CandleBook, Ledger, OrderBook, OrderReport, Trade, order_hold  # noqa: E402
from spot_seda.model.enums import OrderStatus, OrderType, Side, TimeInForce  # noqa: E402

PLACE, CANCEL = 0, 1
ACCOUNTS = 1000


def workload(n: int, seed: int, step: int) -> list[tuple]:
    """The seeded command list: (PLACE, id, account, side, type, tif, price, qty, quote_qty, stp, ts) or (CANCEL, id, account)."""
    rng = random.Random(seed)
    rand, randrange = rng.random, rng.randrange
    mid = 3_000_000  # 30000.00 in cents
    ts = 1_700_000_000_000
    next_id = 0
    placed: list[tuple[int, int]] = []  # (order id, account) of orders placed so far
    cmds: list[tuple] = []
    for _ in range(n):
        ts += 1
        if rand() < 0.5:
            mid += 1 if rand() < 0.5 else -1
        x = rand()
        if x < 0.9 and (x < 0.7 or not placed):
            next_id += 1
            account = randrange(1, ACCOUNTS + 1)
            side = randrange(2)
            offset = randrange(0, 101) if rand() < 0.95 else -randrange(1, 6)
            price = mid - offset if side == Side.BUY else mid + offset
            stp = randrange(1, 4) if rand() < 0.1 else 0
            cmds.append((PLACE, next_id, account, side, OrderType.LIMIT, TimeInForce.GTC, price, randrange(1, 201) * step, 0, stp, ts))
            placed.append((next_id, account))
        elif x < 0.9:
            oid, account = placed[randrange(max(0, len(placed) - 2000), len(placed))]
            cmds.append((CANCEL, oid, account))
        else:
            next_id += 1
            account = randrange(1, ACCOUNTS + 1)
            side = randrange(2)
            qty = randrange(1, 201) * step
            y = rand()
            if y < 0.5:
                cmds.append((PLACE, next_id, account, side, OrderType.MARKET, TimeInForce.GTC, 0, qty, 0, 0, ts))
            elif y < 0.75:
                cmds.append((PLACE, next_id, account, side, OrderType.MARKET, TimeInForce.GTC, 0, 0, randrange(10, 201) * 10**8, 0, ts))
            else:
                price = mid + 3 if side == Side.BUY else mid - 3
                cmds.append((PLACE, next_id, account, side, OrderType.LIMIT, TimeInForce.IOC, price, qty, 0, 0, ts))
            placed.append((next_id, account))
    return cmds


class PlainBook:
    """The plain reference model of price-time matching: no reports, no STP, no order types but
    limit and market, no index but order id; trades are counted, not recorded."""

    def __init__(self, scale: int) -> None:
        self.scale = scale
        self.levels: tuple[dict, dict] = ({}, {})
        self.keys: tuple[list, list] = ([], [])
        self.orders: dict[int, list] = {}
        self.trades = 0

    def place(self, oid, side, price, qty, market, rest):
        other = 1 - side
        keys, levels = self.keys[other], self.levels[other]
        limit = -(1 << 62) if market else (-price if side == 0 else price)
        while qty and keys and keys[-1] >= limit:
            key = keys[-1]
            q = levels[key]
            while q and qty:
                m = q[0]
                if not m[1]:
                    q.popleft()
                    continue
                fill = min(m[1], qty)
                m[1] -= fill
                qty -= fill
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


def run_plain(cmds, rules) -> float:
    book = PlainBook(rules.price_scale)
    place, cancel = book.place, book.cancel
    n = len(cmds)
    t0 = time.perf_counter()
    for i, c in enumerate(cmds, 1):
        if c[0] == PLACE:
            place(c[1], c[3], c[6], c[7] or 10**12, c[4] == OrderType.MARKET, c[5] == TimeInForce.GTC)
        else:
            cancel(c[1])
        if not i % 250_000:
            progress("plain", i, n, t0)
    return time.perf_counter() - t0


def run_book(cmds, rules) -> tuple[float, int, OrderBook]:
    book = OrderBook(rules)
    place, cancel = book.place, book.cancel
    n = len(cmds)
    records = 0
    t0 = time.perf_counter()
    for i, c in enumerate(cmds, 1):
        if c[0] == PLACE:
            _, oid, account, side, type_, tif, price, qty, quote, stp, ts = c
            records += len(place(oid, account, side, type_, tif, price, qty, quote, "", stp, ts))
        else:
            records += len(cancel(c[1], c[2]))
        if not i % 250_000:
            progress("book", i, n, t0)
    elapsed = time.perf_counter() - t0
    book.validate()
    return elapsed, records, book


def run_full(cmds, rules) -> tuple[float, int, dict]:
    """Acquiring freeze -> match -> settle + release -> candles, all in one loop on one core."""
    book, acq, stl, candles = OrderBook(rules), Ledger(), Ledger(), CandleBook(rules.symbol)
    for account in range(1, ACCOUNTS + 1):  # deposits at Acquiring, replicated to Settlement
        for asset, amount in ((rules.base, 10**6 * 10**8), (rules.quote, 10**10 * 10**8)):
            stl.apply(acq.deposit(account, asset, amount)[1])
    place, cancel = book.place, book.cancel
    freeze, settle, release, fold = acq.freeze, stl.settle_trade, stl.release, candles.apply
    stl_apply = stl.apply
    final = OrderStatus.FILLED
    n = len(cmds)
    nsf = changes_out = 0
    batch: list[Trade] = []
    t0 = time.perf_counter()
    for i, c in enumerate(cmds, 1):
        if c[0] == PLACE:
            _, oid, account, side, type_, tif, price, qty, quote, stp, ts = c
            if type_ == OrderType.MARKET and side == Side.BUY and not quote:
                quote = qty * 4_000_000 // rules.price_scale  # a budget for a market buy by qty
            if type_ == OrderType.MARKET and side == Side.SELL and not qty:
                qty = 10**8  # a base cap for a market sell by quote amount
            asset, amount = order_hold(rules, side, type_, price, qty, quote)
            code, changes = freeze(oid, account, asset, amount)
            if code:
                nsf += 1
                continue
            stl_apply(changes)  # Settlement's replica learns the hold
            records = place(oid, account, side, type_, tif, price, qty, quote, "", stp, ts)
        else:
            records = cancel(c[1], c[2])
        for r in records:
            kind = type(r)
            if kind is Trade:
                code, changes = settle(rules, r)
                changes_out += len(changes)
                batch.append(r)
            elif kind is OrderReport and r.status >= final:
                changes_out += len(release(r.order_id)[1])
        if not i % 100:
            fold(batch)
            batch = []
        if not i % 250_000:
            progress("full", i, n, t0)
    fold(batch)
    elapsed = time.perf_counter() - t0
    book.validate()
    stl.check_invariants()
    acq.check_invariants()
    open_ids = {o.order_id for a in range(1, ACCOUNTS + 1) for o in book.open_orders(a)}
    assert open_ids == set(stl._holds), "every open order, and only those, holds funds"
    return elapsed, changes_out, {"nsf": nsf, "trades": book.last_trade_id}


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
    rules = load_settings().symbol_rules()["BTCUSDT"]
    print(f"engine bench: {args.ops:,} commands, seed {args.seed}, python {platform.python_version()}, "
          f"nproc {os.cpu_count()}, cpu {cpu_model()}", flush=True)
    t = time.perf_counter()
    cmds = workload(args.ops, args.seed, rules.step)
    kinds = sum(1 for c in cmds if c[0] == CANCEL)
    print(f"workload generated in {time.perf_counter() - t:.1f}s ({kinds / len(cmds):.0%} cancels)", flush=True)

    results: dict[str, float] = {}
    elapsed = run_plain(cmds, rules)
    results["plain model"] = len(cmds) / elapsed
    print(f"plain model : {results['plain model']:>11,.0f} ops/s ({elapsed:.2f}s)", flush=True)
    elapsed, records, book = run_book(cmds, rules)
    results["order book"] = len(cmds) / elapsed
    print(f"order book  : {results['order book']:>11,.0f} ops/s ({elapsed:.2f}s), {records:,} records "
          f"({records / len(cmds):.2f}/command), {book.last_trade_id:,} trades, {len(book):,} orders resting, "
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
