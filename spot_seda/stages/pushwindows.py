"""Push's rolling trade statistics per symbol, in buckets of bounded number: the 24-hour window in
one-minute buckets (@ticker, @miniTicker and the shorter rolling windows, which open on a minute as
Binance's do, so the newest buckets give them exactly) and the last 5 minutes in one-second buckets
(@avgPrice). Buckets leave by the trades' time, never by the clock of a read, so the state is the
change log's alone (the journal replay rebuilds it), whoever listens.
"""

from __future__ import annotations

from collections import deque
from itertools import islice

from ..binance import streams as S

DAY_MS = 86_400_000
MINUTE_MS = 60_000
SECOND_MS = 1000
AVG_PRICE_MS = S.AVG_PRICE_MINS * MINUTE_MS


class Rolling:
    """24-hour rolling trade statistics of one symbol in one-minute buckets (bounded memory); the
    shorter rolling windows are its newest buckets. Buckets leave by the trades' time, in add(),
    never by the clock of a read: the state is the change log's alone, listened to or not."""

    __slots__ = ("buckets", "prev_close")

    def __init__(self) -> None:
        # [minute, open, high, low, close, last_qty, volume, quote_volume, first_id, last_id, count]
        self.buckets: deque[list[int]] = deque()
        self.prev_close = 0  # the close of the last bucket that left

    def add(self, ts: int, trade_id: int, price: int, qty: int, quote: int) -> None:
        buckets = self.buckets
        start = open_time(ts, DAY_MS)
        while buckets and buckets[0][0] < start:
            self.prev_close = buckets.popleft()[4]
        minute = ts - ts % MINUTE_MS
        b = buckets[-1] if buckets else None
        if b is None or minute > b[0]:
            buckets.append([minute, price, price, price, price, qty, qty, quote, trade_id, trade_id, 1])
            return
        if price > b[2]:
            b[2] = price
        if price < b[3]:
            b[3] = price
        b[4], b[5] = price, qty
        b[6] += qty
        b[7] += quote
        b[9] = trade_id
        b[10] += 1

    def last_minute(self) -> int:
        """The start of the newest minute with trades (0: none)."""
        return self.buckets[-1][0] if self.buckets else 0

    def _held(self, now: int, span: int) -> int:
        """How many of the newest buckets the window of `span` ending at `now` holds: those from the
        minute of now - span on."""
        buckets = self.buckets
        start = open_time(now, span)
        if span >= DAY_MS:  # (most of the buckets: count the few stale ones from the old end)
            stale = 0
            for b in buckets:
                if b[0] >= start:
                    break
                stale += 1
            return len(buckets) - stale
        held = 0
        for b in reversed(buckets):
            if b[0] < start:
                break
            held += 1
        return held

    def ids(self, now: int, span: int) -> tuple[int, int] | None:
        """(first, last) trade id in the window: its statistics changed exactly when these did."""
        held = self._held(now, span)
        if not held:
            return None
        buckets = self.buckets
        return buckets[len(buckets) - held][8], buckets[-1][9]

    def window(self, now: int, span: int = DAY_MS) -> S.Window | None:
        buckets = self.buckets
        held = self._held(now, span)
        if not held:
            return None
        stale = len(buckets) - held
        inside = buckets if not stale else list(islice(buckets, stale, None))
        prev_close = buckets[stale - 1][4] if stale else self.prev_close
        first, last = inside[0], inside[-1]
        return S.Window(first[1], max(b[2] for b in inside), min(b[3] for b in inside), last[4], last[5],
                        sum(b[6] for b in inside), sum(b[7] for b in inside), first[8], last[9],
                        sum(b[10] for b in inside), prev_close,  # (0: no trade before the window, as REST's prevClosePrice)
                        open_time(now, span))


def open_time(now: int, span: int) -> int:
    """A rolling window's open time: the start of the minute `span` before `now` (Binance: "O" always
    starts on a minute, so a window may be up to 59,999 ms wider than its size)."""
    start = now - span
    return start - start % MINUTE_MS


class AvgPriceWindow:
    """One symbol's last AVG_PRICE_MS of trades in one-second buckets (at most 301); buckets leave by
    the trades' time, in add(), as Rolling's."""

    __slots__ = ("buckets", "last_price", "last_time")

    def __init__(self) -> None:
        self.buckets: deque[list[int]] = deque()  # [second, quote volume, volume]
        self.last_price = 0
        self.last_time = 0  # 0: no trade yet

    def add(self, ts: int, price: int, qty: int, quote: int) -> None:
        buckets = self.buckets
        while buckets and buckets[0][0] + SECOND_MS <= ts - AVG_PRICE_MS:
            buckets.popleft()
        second = ts - ts % SECOND_MS
        if buckets and buckets[-1][0] >= second:  # (a clock step back counts in the newest second)
            b = buckets[-1]
            b[1] += quote
            b[2] += qty
        else:
            buckets.append([second, quote, qty])
        self.last_price, self.last_time = price, ts

    def sums(self, now: int) -> tuple[int, int]:
        """(quote volume, volume) of the trades from the second of now - 5 minutes on."""
        quote = qty = 0
        for b in reversed(self.buckets):
            if b[0] + SECOND_MS <= now - AVG_PRICE_MS:
                break
            quote += b[1]
            qty += b[2]
        return quote, qty
