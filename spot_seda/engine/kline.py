"""Candles (k-lines) of one symbol for all of Binance's intervals, built from trades (the KLine stage's core).

Buckets are in UTC by the trade's timestamp (ms, assigned upstream, so replays are identical):
- 1s 1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d: aligned to the Unix epoch (open_time % size == 0);
- 3d: also aligned to the Unix epoch (open_time % 259_200_000 == 0) — the convention of the common
  client libraries (ccxt, freqtrade); Binance does not document its 3d anchor;
- 1w: weeks start Monday 00:00 UTC, as on Binance;
- 1M: calendar months, 1st 00:00 UTC to the month's last millisecond.
close_time is the bucket's last millisecond (next open_time - 1), as in Binance's kline rows.
A time-zone offset (`offset_ms`, Binance's `@kline_<interval>@+08:00` streams) moves every boundary
to the offset's local clock: the bucket of local time ts + offset, told back in UTC (open and close
times stay Unix milliseconds).

Every `apply(trades)` batch returns `Kline` records: a candle that a later trade ended (closed=True)
when that happens, then the latest state of each interval's open candle touched by the batch
(closed=False), once per batch. Intervals without trades have no candle at all (like Binance: no rows
for empty intervals; a chart or the REST layer must not invent them). A candle is closed only by a
later trade or by a journaled Tick past its end (`tick_rows`), both replayed alike; `close_due(now_ms)`
closes on any clock. Timestamps are expected non-decreasing; a trade older than the
newest one seen is counted at the newest time (a clock-step guard, never re-opening a closed candle).

Speed: a batch's trades are first folded into 1-second buckets (every interval boundary is a whole
second), so the per-interval work is paid once per second of trading, not once per trade.

Cadence (`update_ms`, a whole number of seconds; 0 = off). Off, every `apply` returns the state of
each open candle it touched. On, a book gives an open candle's state at most once per window of
`update_ms` of trade time, as Binance streams a candle every 1-2 s, and folds a second's trades into
the candles only once that second is over:
- the first trade of a later second closes the candles it is past (returned at once, closed=True);
  when it also starts a later window, the touched open candles come out as they were at the end
  of the window before;
- `flush_rows()` folds what is pending and returns the touched open candles now; it closes
  nothing. `tick_rows(now)` (the KLine stage calls it on a journaled Tick, with the Tick's time)
  does the same, then closes the candles whose interval ended before `now`.
Both depend on trade times and Ticks only, never on how the trades were batched, so a replay gives
the same rows. A candle's last state before it closes, and its closed state, are always given.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

import msgspec

from ..model.enums import Side
from .results import InvariantError

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_S, _M, _H, _D = 1000, 60_000, 3_600_000, 86_400_000
_MONDAY = 4 * _D  # 1970-01-01 was a Thursday: the first Monday is 4 days later

#: Binance's interval names and their fixed sizes in ms (None: calendar month).
INTERVALS: dict[str, int | None] = {
    "1s": _S, "1m": _M, "3m": 3 * _M, "5m": 5 * _M, "15m": 15 * _M, "30m": 30 * _M,
    "1h": _H, "2h": 2 * _H, "4h": 4 * _H, "6h": 6 * _H, "8h": 8 * _H, "12h": 12 * _H,
    "1d": _D, "3d": 3 * _D, "1w": 7 * _D, "1M": None,
}


class Kline(msgspec.Struct, array_like=True, gc=False, frozen=True):
    """One candle's state: OHLC prices, base volume, quote volume, trade count, taker-buy volumes."""

    symbol: str
    interval: str
    open_time: int
    close_time: int
    open: int
    high: int
    low: int
    close: int
    volume: int
    quote_volume: int
    trades: int
    taker_buy_volume: int
    taker_buy_quote_volume: int
    closed: bool


def bucket(interval: str, ts: int, offset_ms: int = 0) -> tuple[int, int]:
    """(open_time, close_time) of the `interval` candle that contains timestamp `ts` (ms, UTC), its
    boundaries on a clock `offset_ms` ahead of UTC."""
    if offset_ms:
        open_time, close_time = bucket(interval, ts + offset_ms)
        return open_time - offset_ms, close_time - offset_ms
    size = INTERVALS[interval]
    if size is None:
        day = _EPOCH + timedelta(milliseconds=ts)
        start = datetime(day.year, day.month, 1, tzinfo=timezone.utc)
        end = datetime(day.year + day.month // 12, day.month % 12 + 1, 1, tzinfo=timezone.utc)
        return _ms(start), _ms(end) - 1
    offset = _MONDAY if interval == "1w" else 0
    open_time = ts - (ts - offset) % size
    return open_time, open_time + size - 1


def _ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


#: the fixed intervals finer candles may be regrouped from (offset_base)
_BASES = ("4h", "2h", "1h", "30m", "15m", "5m", "3m", "1m")
# read once: an enum member read through its class costs ~0.2 µs on Python 3.11 (EnumType.__getattr__)
_BUY = Side.BUY


def offset_moves(interval: str, offset_ms: int) -> bool:
    """Whether a clock `offset_ms` ahead of UTC moves `interval`'s boundaries (a 1h candle is the same
    under +08:00, a 1d one is not)."""
    size = INTERVALS[interval]
    return offset_ms != 0 and (size is None or offset_ms % size != 0)


def offset_base(interval: str, offset_ms: int) -> str:
    """The coarsest UTC interval whose candles tile `interval`'s candles on the offset clock: one that
    divides the offset and a day (every moved interval is whole days or a multiple of it)."""
    size = INTERVALS[interval] or _D
    for base in _BASES:
        base_size = INTERVALS[base]
        if offset_ms % base_size == 0 and size % base_size == 0 and _D % base_size == 0:
            return base
    raise ValueError(f"no base interval for {interval} at offset {offset_ms} ms")  # (offsets are whole minutes)


def regroup(rows: list[dict], interval: str, offset_ms: int) -> list[dict]:
    """`interval` candles on a clock `offset_ms` ahead of UTC from the finer UTC candles `rows`
    (ascending, of offset_base's interval): the first row's open, the last's close, the extremes,
    the sums; open and close times the offset clock's boundaries, told in UTC ms."""
    out: list[dict] = []
    last = None
    for row in rows:
        open_time, close_time = bucket(interval, row["open_time"], offset_ms)
        if last is not None and last["open_time"] == open_time:
            last["high"] = max(last["high"], row["high"])
            last["low"] = min(last["low"], row["low"])
            last["close"] = row["close"]
            for name in ("volume", "quote_volume", "trades", "taker_buy_volume", "taker_buy_quote_volume"):
                last[name] += row[name]
            last["closed"] = row["closed"]
        else:
            last = dict(row, interval=interval, open_time=open_time, close_time=close_time)
            out.append(last)
    return out


# a candle in progress: [open_time, close_time, open, high, low, close, volume, quote_volume, trades,
#                        taker_buy_volume, taker_buy_quote_volume]
_OPEN_TIME, _CLOSE_TIME, _O, _H_, _L, _C, _V, _QV, _N, _TBV, _TBQV = range(11)


class CandleBook:
    """The open candle of every interval for one symbol."""

    def __init__(self, symbol: str, intervals: tuple[str, ...] = tuple(INTERVALS), offset_ms: int = 0,
                 update_ms: int = 0) -> None:
        unknown = set(intervals) - set(INTERVALS)
        if unknown:
            raise ValueError(f"unknown kline intervals: {sorted(unknown)}")
        self.symbol = symbol
        self.intervals = tuple(intervals)
        self.offset_ms = offset_ms  # the boundaries' time zone (module doc)
        self._open: dict[str, list[int]] = {}  # interval -> candle in progress
        self.last_ts = 0
        if update_ms < 0 or update_ms % _S:
            raise ValueError(f"update_ms must be a whole number of seconds, got {update_ms}")
        self.update_ms = update_ms  # the cadence (module doc); 0: every apply gives what it touched
        #: with a cadence: the 1-second aggregate of trades not yet folded into the candles, and the
        #: intervals whose open candle changed since it was last given
        self._sec: list[int] | None = None
        self._touched: set[str] = set()

    def __setstate__(self, state: dict) -> None:
        """(A book pickled in a stage's snapshot before the cadence existed has none of its state.)"""
        state.setdefault("update_ms", 0)
        state.setdefault("_sec", None)
        state.setdefault("_touched", set())
        self.__dict__.update(state)

    def open_rows(self) -> list[tuple]:
        """The candle in progress of every interval that has one, as apply_rows gives it (not closed),
        trades not yet folded in included (the book itself is left as it is)."""
        opened = self._current()
        return [(self.symbol, interval, *opened[interval], False) for interval in self.intervals
                if interval in opened]

    def _current(self) -> dict[str, list[int]]:
        """The open candles with the pending second folded in (a copy when one is pending: a pending
        second closes nothing, since apply_rows closed what its first trade was past)."""
        if self._sec is None:
            return self._open
        opened = {interval: c.copy() for interval, c in self._open.items()}
        self._fold(self._sec, [], set(), opened)
        return opened

    def apply(self, trades) -> list[Kline]:
        """Fold a batch of trades (book.Trade or anything with price, qty, quote_qty, taker_side,
        timestamp) into the candles; return the closed candles and the touched open ones (module doc)."""
        return [Kline(*row) for row in self.apply_rows(trades)]

    def apply_rows(self, trades) -> list[tuple]:
        """apply(), each candle as a plain tuple of Kline's fields in order (the KLine stage turns
        them straight into change-log fields; no record object in between)."""
        if self.update_ms:
            return self._apply_paced(trades, self.update_ms)
        out = self._apply_paced(trades, 0)  # (closes what the trades pass, gives no open candle)
        out += self.flush_rows()  # the touched open candles, once per batch
        return out

    def _apply_paced(self, trades, window: int) -> list[tuple]:
        """Fold `trades` in a second at a time (module doc, "Cadence"): the candles a trade is past
        closed and given at once; with a `window`, the touched open candles given when a trade
        starts a later one; the last second kept pending."""
        out: list[tuple] = []
        last_ts, sec = self.last_ts, self._sec
        for t in trades:
            ts = t.timestamp
            if ts < last_ts:
                ts = last_ts
            price, qty, quote = t.price, t.qty, t.quote_qty
            buy = t.taker_side == _BUY
            if sec is not None and ts <= sec[_CLOSE_TIME]:
                if price > sec[_H_]:
                    sec[_H_] = price
                elif price < sec[_L]:
                    sec[_L] = price
                sec[_C] = price
                sec[_V] += qty
                sec[_QV] += quote
                sec[_N] += 1
                if buy:
                    sec[_TBV] += qty
                    sec[_TBQV] += quote
                last_ts = ts
                continue
            if sec is not None:  # a later second: the one before is over
                self._fold(sec, out, self._touched, self._open)
            self._close_before(ts, out)  # so a pending second never closes a candle
            if window and ts // window != last_ts // window:
                self._give_touched(out)
            last_ts = ts
            start = ts - ts % _S
            sec = [start, start + _S - 1, price, price, price, price, qty, quote, 1, qty if buy else 0, quote if buy else 0]
        self.last_ts, self._sec = last_ts, sec
        return out

    def flush_rows(self) -> list[tuple]:
        """Fold the pending second in and give every open candle changed since it was last given (a
        clock's tick; module doc). Closes nothing. (Without a cadence apply_rows ends with it.)"""
        out: list[tuple] = []
        self._fold_pending(out)
        if self._touched:
            self._give_touched(out)
        return out

    def tick_rows(self, now: int) -> list[tuple]:
        """A journaled Tick at `now` (trade time's clock): flush_rows(), then every open candle whose
        close_time is before `now` closed and given, as Binance closes a candle when its interval ends
        whether or not a trade comes. A later trade older than `now` counts at `now` (the clock-step
        guard), so a closed candle is never re-opened. Deterministic: Ticks are journaled."""
        out = self.flush_rows()
        self._close_before(now, out)
        if now > self.last_ts:
            self.last_ts = now
        return out

    def _fold_pending(self, out: list[tuple]) -> None:
        if self._sec is not None:
            self._fold(self._sec, out, self._touched, self._open)
            self._sec = None

    def _close_before(self, ts: int, out: list[tuple]) -> None:
        """Close (and give) every open candle a trade at `ts` is past."""
        opened, touched = self._open, self._touched
        for interval in self.intervals:
            c = opened.get(interval)
            if c is not None and c[_CLOSE_TIME] < ts:
                out.append((self.symbol, interval, *c, True))
                del opened[interval]
                touched.discard(interval)

    def _give_touched(self, out: list[tuple]) -> None:
        symbol, opened, touched = self.symbol, self._open, self._touched
        for interval in self.intervals:  # fixed order: deterministic output
            if interval in touched:
                out.append((symbol, interval, *opened[interval], False))
        touched.clear()

    def close_due(self, now_ms: int) -> list[Kline]:
        """Close every open candle whose close_time is before `now_ms` (for a stage closing on a clock;
        with a cadence, the pending second folded in first)."""
        rows: list[tuple] = []
        self._fold_pending(rows)
        out = [Kline(*row) for row in rows]
        for interval in self.intervals:
            c = self._open.get(interval)
            if c is not None and c[_CLOSE_TIME] < now_ms:
                out.append(self._record(interval, c, True))
                del self._open[interval]
                self._touched.discard(interval)
        return out

    def candle(self, interval: str) -> Kline | None:
        """The open candle of `interval` (closed=False), or None before the first trade."""
        c = self._current().get(interval)
        return self._record(interval, c, False) if c else None

    def snapshot(self) -> dict:
        """Plain, msgspec-encodable state (the offset only when there is one: UTC books' snapshots are
        as they always were)."""
        state = {"symbol": self.symbol, "intervals": list(self.intervals), "last_ts": self.last_ts,
                 "open": {i: list(c) for i, c in sorted(self._open.items())}}
        if self.offset_ms:
            state["offset_ms"] = self.offset_ms
        if self.update_ms:  # (likewise: only books with a cadence carry its state)
            state["update_ms"] = self.update_ms
            state["pending"] = list(self._sec) if self._sec is not None else None
            state["touched"] = [i for i in self.intervals if i in self._touched]
        return state

    @classmethod
    def restore(cls, snapshot: dict) -> CandleBook:
        """A candle book in exactly the state `snapshot()` captured."""
        book = cls(snapshot["symbol"], tuple(snapshot["intervals"]), snapshot.get("offset_ms", 0),
                   snapshot.get("update_ms", 0))
        book.last_ts = snapshot["last_ts"]
        book._open = {i: list(c) for i, c in snapshot["open"].items()}
        if snapshot.get("pending") is not None:
            book._sec = list(snapshot["pending"])
        book._touched = set(snapshot.get("touched", ()))
        return book

    def state_hash(self) -> str:
        """Digest of snapshot()."""
        return hashlib.blake2b(msgspec.msgpack.encode(self.snapshot()), digest_size=16).hexdigest()

    def check_invariants(self) -> None:
        """Every open candle is its interval's bucket, low <= open, close <= high, the taker-buy
        volumes within the totals, at least one trade, and it holds the newest trade's time; a candle
        whose time range lies inside another's has no more trades or volume and no wider prices.
        Raise InvariantError on the first broken one (the engines' one vocabulary: OrderBook and
        Ledger.check_invariants). With a cadence, on the candles with the pending second folded in."""
        opened = self._current()
        for interval, c in opened.items():
            name = f"{self.symbol} {interval} candle at {c[_OPEN_TIME]}"
            if interval not in self.intervals:
                raise InvariantError(f"{name}: not one of the book's intervals")
            if (c[_OPEN_TIME], c[_CLOSE_TIME]) != bucket(interval, c[_OPEN_TIME], self.offset_ms):
                raise InvariantError(f"{name}: times {c[_OPEN_TIME]}..{c[_CLOSE_TIME]} are not the interval's bucket")
            if not c[_L] <= min(c[_O], c[_C]) <= max(c[_O], c[_C]) <= c[_H_]:
                raise InvariantError(f"{name}: low/open/close/high out of order {c[_L]}, {c[_O]}, {c[_C]}, {c[_H_]}")
            if not (0 <= c[_TBV] <= c[_V] and 0 <= c[_TBQV] <= c[_QV] and c[_N] >= 1):
                raise InvariantError(f"{name}: taker-buy volumes beyond the totals, or no trades")
            if not c[_OPEN_TIME] <= self.last_ts <= c[_CLOSE_TIME]:
                raise InvariantError(f"{name}: the newest trade's time {self.last_ts} is outside it")
        for a_interval, a in opened.items():
            for b_interval, b in opened.items():
                inside = b[_OPEN_TIME] <= a[_OPEN_TIME] and a[_CLOSE_TIME] <= b[_CLOSE_TIME]
                if a is not b and inside and (a[_N] > b[_N] or a[_V] > b[_V] or a[_H_] > b[_H_] or a[_L] < b[_L]):
                    raise InvariantError(f"{self.symbol}: the {a_interval} candle holds more than the {b_interval} "
                                         "candle around it")

    # ---------------------------------------------------------------- internals

    def _fold(self, sec: list[int], out: list[tuple], touched: set[str], opened: dict[str, list[int]]) -> None:
        """Merge a 1-second aggregate into every interval's open candle of `opened` (the book's, or a
        copy), closing the ones it passes."""
        ts = sec[_OPEN_TIME]
        for interval in self.intervals:
            c = opened.get(interval)
            if c is not None and ts <= c[_CLOSE_TIME]:
                if sec[_H_] > c[_H_]:
                    c[_H_] = sec[_H_]
                if sec[_L] < c[_L]:
                    c[_L] = sec[_L]
                c[_C] = sec[_C]
                c[_V] += sec[_V]
                c[_QV] += sec[_QV]
                c[_N] += sec[_N]
                c[_TBV] += sec[_TBV]
                c[_TBQV] += sec[_TBQV]
            else:
                if c is not None:
                    out.append((self.symbol, interval, *c, True))
                new = sec.copy()
                new[_OPEN_TIME], new[_CLOSE_TIME] = bucket(interval, ts, self.offset_ms)
                opened[interval] = new
            touched.add(interval)

    def _record(self, interval: str, c: list[int], closed: bool) -> Kline:
        return Kline(self.symbol, interval, *c, closed)
