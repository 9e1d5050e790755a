"""The average price of a symbol's recent trades and Binance's filters on it: PERCENT_PRICE_BY_SIDE
and NOTIONAL's applyMinToMarket (a MARKET order by quantity, valued at the average price): pure and
exact (integers and cross-multiplication, no float).

The average is quote volume over base volume of the trades in the last window (Binance's
avgPriceMins) before the order's time; with no trade in the window, the last trade's price; with no
trade ever, nothing is checked. A buy's limit price must lie within [average x bidMultiplierDown,
average x bidMultiplierUp], a sell's within the ask multipliers.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from ..model.fixedpoint import ASSET_DECIMALS

_ONE = 10**ASSET_DECIMALS  # the multipliers' scale


class AvgPrice:
    """One symbol's trades of the last window, summed per millisecond, and their sums. The fills of
    one command share its time and leave the window together, so the sums stay exact. Times, quote
    and base volumes are three deques of ints, not a tuple per trade: a busy window held millions,
    each walked once by the cycle collector and kept for the window (BENCHMARKS.md, "Pipeline",
    fortieth session)."""

    __slots__ = ("window_ms", "times", "quotes", "qtys", "quote", "qty", "last_price")

    def __init__(self, window_ms: int) -> None:
        self.window_ms = window_ms
        self.times: deque[int] = deque()  # in the order added (a clock step back is not reordered)
        self.quotes: deque[int] = deque()  # the quote volume at each time
        self.qtys: deque[int] = deque()  # the base volume
        self.quote = 0
        self.qty = 0
        self.last_price = 0  # in price units; 0: no trade yet

    def __setstate__(self, state: tuple) -> None:
        _, slots = state  # (pickle's form for __slots__: no __dict__)
        trades = slots.pop("trades", None)
        if trades is not None:  # a snapshot from before the sums per millisecond: (time, quote, qty) each
            slots["times"] = deque(t for t, _, _ in trades)
            slots["quotes"] = deque(q for _, q, _ in trades)
            slots["qtys"] = deque(q for _, _, q in trades)
        for name, value in slots.items():
            setattr(self, name, value)

    def add(self, ts: int, price: int, qty: int, quote: int) -> None:
        times = self.times
        if times and times[-1] == ts:
            self.quotes[-1] += quote
            self.qtys[-1] += qty
        else:
            times.append(ts)
            self.quotes.append(quote)
            self.qtys.append(qty)
        self.quote += quote
        self.qty += qty
        self.last_price = price
        self._evict(ts)

    def _evict(self, now: int) -> None:
        times = self.times
        start = now - self.window_ms
        while times and times[0] <= start:
            times.popleft()
            self.quote -= self.quotes.popleft()
            self.qty -= self.qtys.popleft()

    def amount_of(self, qty: int, notional: Callable[[int, int], int], now: int) -> int | None:
        """`qty` at the window's average price at time `now`, as a quote amount (rounded down), or
        at the last trade's price (`notional(price, qty)`) with no trade in the window; None with
        no trade ever. What NOTIONAL's applyMinToMarket checks a MARKET order by quantity against."""
        self._evict(now)
        if self.qty:
            return qty * self.quote // self.qty
        if self.last_price:
            return notional(self.last_price, qty)
        return None

    def price_ok(self, buy: bool, price: int, price_scale: int, multipliers: tuple[int, int, int, int], now: int) -> bool:
        """PERCENT_PRICE_BY_SIDE for a limit `price` (price units) at time `now` (module doc)."""
        self._evict(now)
        up, down = multipliers[:2] if buy else multipliers[2:]
        if self.qty:  # average = quote * price_scale / qty (price units), compared without dividing
            lhs, avg_num, avg_den = price * _ONE, self.quote * price_scale, self.qty
            return avg_num * down <= lhs * avg_den <= avg_num * up
        if self.last_price:
            return self.last_price * down <= price * _ONE <= self.last_price * up
        return True
