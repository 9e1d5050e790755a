"""Candle tests: Binance bucketing in UTC, closing by later trades, and equality with a recomputation."""

from __future__ import annotations

from datetime import datetime, timezone

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spot_seda.engine.records import Trade
from spot_seda.engine.kline import INTERVALS, CandleBook, Kline, bucket, offset_base, offset_moves, regroup
from spot_seda.engine.results import InvariantError
from spot_seda.model.enums import Side


def ms(*args) -> int:
    return int(datetime(*args, tzinfo=timezone.utc).timestamp()) * 1000


def trade(ts, price, qty=1000, side=Side.BUY, n=[0]):
    n[0] += 1
    return Trade(n[0], price, qty, price * qty // 100, 1, 2, 1, 2, side, ts)


def check(book: CandleBook) -> None:
    """The engine's own invariant check, and that an empty book has no candle."""
    book.check_invariants()
    if book.last_ts == 0:
        assert all(book.candle(interval) is None for interval in book.intervals)


@pytest.mark.parametrize("breakage, message", [
    (lambda c: c.__setitem__(3, c[4] - 1), "out of order"),  # high below low
    (lambda c: c.__setitem__(9, c[6] + 1), "taker-buy"),  # taker-buy volume beyond the volume
    (lambda c: c.__setitem__(0, c[0] + 1), "bucket"),  # an open time off the interval's grid
    (lambda c: c.__setitem__(8, c[8] + 100), "holds more"),  # more trades than the candles around it
])
def test_check_invariants_catches_a_broken_candle(breakage, message):
    book = CandleBook("BTCUSDT")
    book.apply([Trade(1, 100, 10, 1000, 1, 2, 1, 2, Side.BUY, ms(2024, 3, 5, 10)),
                Trade(2, 120, 10, 1200, 1, 2, 1, 2, Side.SELL, ms(2024, 3, 5, 10, 0, 1))])
    book.check_invariants()
    breakage(book._open["1s"])
    with pytest.raises(InvariantError, match=message):
        book.check_invariants()


@pytest.mark.parametrize("interval, ts, expected", [
    ("1s", ms(2024, 3, 5, 10, 11, 12) + 999, (ms(2024, 3, 5, 10, 11, 12), ms(2024, 3, 5, 10, 11, 13) - 1)),
    ("15m", ms(2024, 3, 5, 10, 44, 59), (ms(2024, 3, 5, 10, 30), ms(2024, 3, 5, 10, 45) - 1)),
    ("4h", ms(2024, 3, 5, 3, 59), (ms(2024, 3, 5, 0), ms(2024, 3, 5, 4) - 1)),
    ("1d", ms(2024, 2, 29, 23, 59), (ms(2024, 2, 29), ms(2024, 3, 1) - 1)),
    ("1w", ms(2024, 1, 3, 12), (ms(2024, 1, 1), ms(2024, 1, 8) - 1)),  # Wed -> Monday 1 Jan 2024
    ("1w", ms(2024, 1, 1), (ms(2024, 1, 1), ms(2024, 1, 8) - 1)),
    ("1w", ms(2023, 12, 31, 23, 59), (ms(2023, 12, 25), ms(2024, 1, 1) - 1)),  # Sunday belongs to the week before
    ("1w", 1499040000000, (1499040000000, 1499644799999)),  # the row in Binance's klines documentation
    ("1M", ms(2024, 2, 29, 12), (ms(2024, 2, 1), ms(2024, 3, 1) - 1)),
    ("1M", ms(2023, 12, 31, 23, 59), (ms(2023, 12, 1), ms(2024, 1, 1) - 1)),
    ("3d", ms(1970, 1, 4), (ms(1970, 1, 4), ms(1970, 1, 7) - 1)),
])
def test_bucket_boundaries_in_utc(interval, ts, expected):
    assert bucket(interval, ts) == expected


H8 = 8 * 3_600_000  # UTC+8, Binance's @kline_<interval>@+08:00


@pytest.mark.parametrize("interval, ts, expected", [
    ("1h", ms(2024, 3, 5, 10, 30), (ms(2024, 3, 5, 10), ms(2024, 3, 5, 11) - 1)),  # whole hours: as in UTC
    ("8h", ms(2024, 3, 5, 17), (ms(2024, 3, 5, 16), ms(2024, 3, 6, 0) - 1)),
    ("6h", ms(2024, 3, 5, 1), (ms(2024, 3, 4, 22), ms(2024, 3, 5, 4) - 1)),  # local 00/06/12/18 h
    ("1d", ms(2024, 3, 5, 15, 59), (ms(2024, 3, 4, 16), ms(2024, 3, 5, 16) - 1)),  # the local day
    ("1d", ms(2024, 3, 5, 16), (ms(2024, 3, 5, 16), ms(2024, 3, 6, 16) - 1)),
    ("1w", ms(2023, 12, 31, 17), (ms(2023, 12, 31, 16), ms(2024, 1, 7, 16) - 1)),  # local Monday 00:00
    ("1M", ms(2024, 2, 29, 16), (ms(2024, 2, 29, 16), ms(2024, 3, 31, 16) - 1)),  # local 1 March
])
def test_bucket_boundaries_with_a_time_zone_offset(interval, ts, expected):
    assert bucket(interval, ts, H8) == expected


def test_a_candle_book_with_an_offset_closes_on_the_local_day():
    book = CandleBook("BTCUSDT", ("1d",), offset_ms=H8)
    book.apply([trade(ms(2024, 3, 5, 15, 59), 100)])
    out = book.apply([trade(ms(2024, 3, 5, 16), 101)])
    assert [(k.closed, k.open_time, k.close) for k in out] == [(True, ms(2024, 3, 4, 16), 100),
                                                               (False, ms(2024, 3, 5, 16), 101)]
    check(book)
    assert CandleBook.restore(book.snapshot()).state_hash() == book.state_hash()
    assert "offset_ms" not in CandleBook("BTCUSDT").snapshot()  # a UTC book's snapshot is as it was


def test_open_candle_updates_per_batch_and_closes_on_a_later_trade():
    book = CandleBook("BTCUSDT", ("1m", "1h"))
    t0 = ms(2024, 5, 1, 12, 0, 5)
    out = book.apply([trade(t0, 100), trade(t0 + 10, 105, side=Side.SELL), trade(t0 + 2000, 95, qty=3000)])
    assert [(k.interval, k.closed) for k in out] == [("1m", False), ("1h", False)]
    k = out[0]
    assert (k.open, k.high, k.low, k.close, k.volume, k.trades) == (100, 105, 95, 95, 5000, 3)
    assert (k.taker_buy_volume, k.taker_buy_quote_volume) == (4000, 100 * 1000 // 100 + 95 * 3000 // 100)
    assert k.quote_volume == 1000 + 1050 + 2850
    assert book.apply([]) == []
    out = book.apply([trade(t0 + 3 * 60_000, 101)])  # two empty minutes: no rows for them
    assert [(k.interval, k.closed, k.open_time) for k in out] == [
        ("1m", True, ms(2024, 5, 1, 12, 0)), ("1m", False, ms(2024, 5, 1, 12, 3)), ("1h", False, ms(2024, 5, 1, 12))]
    assert out[2].trades == 4 and out[2].close == 101
    check(book)


def test_late_trade_counts_at_newest_time_and_close_due():
    book = CandleBook("BTCUSDT", ("1m",))
    t0 = ms(2024, 5, 1, 12, 1)
    book.apply([trade(t0, 100)])
    out = book.apply([trade(t0 - 30_000, 90)])  # a clock step back: no reopened candle
    assert [(k.open_time, k.low, k.closed) for k in out] == [(t0, 90, False)]
    assert book.close_due(t0 + 59_999) == []
    closed = book.close_due(t0 + 60_000)
    assert [(k.open_time, k.closed) for k in closed] == [(t0, True)] and book.candle("1m") is None
    check(book)
    with pytest.raises(ValueError):
        CandleBook("BTCUSDT", ("2m",))


def recompute(trades, intervals):
    """Candles straight from the definition: group trades by bucket, then aggregate each group."""
    result = {}
    last = 0
    for t in trades:
        ts = max(last, t.timestamp)
        last = ts
        for interval in intervals:
            key = (interval, bucket(interval, ts)[0])
            result.setdefault(key, []).append(t)
    candles = {}
    for (interval, open_time), ts_ in result.items():
        buys = [t for t in ts_ if t.taker_side == Side.BUY]
        candles[(interval, open_time)] = (
            bucket(interval, open_time)[1], ts_[0].price, max(t.price for t in ts_), min(t.price for t in ts_), ts_[-1].price,
            sum(t.qty for t in ts_), sum(t.quote_qty for t in ts_), len(ts_), sum(t.qty for t in buys), sum(t.quote_qty for t in buys))
    return candles


def fields(k: Kline):
    return (k.close_time, k.open, k.high, k.low, k.close, k.volume, k.quote_volume, k.trades, k.taker_buy_volume, k.taker_buy_quote_volume)


def assert_last_states(emitted: list[Kline], expected: dict) -> set:
    """Every candle's last given state is `expected`'s (recompute), and a closed candle is given no
    more; returns the closed ones' keys."""
    latest, closed = {}, set()
    for k in emitted:
        key = (k.interval, k.open_time)
        assert key not in closed, "a closed candle changed again"
        if k.closed:
            closed.add(key)
        latest[key] = k
    assert {key: fields(k) for key, k in latest.items()} == expected
    return closed


# gaps from 0 ms to ~40 days: many trades in one second, and jumps across weeks and months
gaps = st.one_of(st.integers(0, 1500), st.integers(0, 4 * 3_600_000), st.integers(0, 40 * 86_400_000))
trade_rows = st.lists(st.tuples(gaps, st.integers(1, 10**6), st.integers(1, 50), st.sampled_from(Side)), min_size=1, max_size=120)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trade_rows, st.lists(st.integers(1, 20), min_size=1), st.integers(1, 3), st.integers(ms(2023, 12, 20), ms(2024, 3, 1)))
def test_candles_equal_recomputation_from_trades(rows, batch_sizes, restore_every, start):
    trades, ts = [], start
    for i, (gap, price, qty, side) in enumerate(rows):
        ts += gap if i % 7 else -gap % 5000 - 2500  # now and then a slightly older timestamp
        trades.append(Trade(i + 1, price, qty * 1000, price * qty * 10, 1, 2, 1, 2, side, ts))
    book = CandleBook("BTCUSDT")
    emitted: list[Kline] = []
    i = batch = 0
    while i < len(trades):  # random batch split; restore from a snapshot between some batches
        n = batch_sizes[batch % len(batch_sizes)]
        emitted += book.apply(trades[i:i + n])
        i += n
        batch += 1
        if batch % restore_every == 0:
            twin = CandleBook.restore(msgspec.msgpack.decode(msgspec.msgpack.encode(book.snapshot())))
            assert twin.state_hash() == book.state_hash()
            book = twin
        check(book)
    expected = recompute(trades, tuple(INTERVALS))
    closed = assert_last_states(emitted, expected)
    for interval in INTERVALS:  # exactly the newest candle of each interval is still open
        newest = max(t for i_, t in expected if i_ == interval)
        assert {t for i_, t in expected if i_ == interval and (i_, t) not in closed} == {newest}
        assert book.candle(interval).open_time == newest


OFFSETS = (8 * 3_600_000, -3_600_000, (5 * 60 + 45) * 60_000, 14 * 3_600_000, -(9 * 60 + 30) * 60_000)


def test_which_intervals_an_offset_moves_and_what_tiles_them():
    assert [i for i in INTERVALS if offset_moves(i, H8)] == ["6h", "12h", "1d", "3d", "1w", "1M"]
    assert not any(offset_moves(i, 0) for i in INTERVALS)
    assert (offset_base("1d", H8), offset_base("1M", H8), offset_base("6h", -3_600_000)) == ("4h", "4h", "1h")
    assert offset_base("1h", (5 * 60 + 45) * 60_000) == "15m" and offset_base("1d", 37 * 60_000) == "1m"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trade_rows, st.sampled_from(OFFSETS), st.integers(ms(2023, 12, 20), ms(2024, 3, 1)))
def test_regrouped_utc_candles_equal_a_book_on_the_offset_clock(rows, offset, start):
    """klines' timeZone (api/market.py): the finer UTC candles regrouped on the offset clock are the
    candles a CandleBook with that offset builds from the same trades."""
    trades, ts = [], start
    for i, (gap, price, qty, side) in enumerate(rows):
        ts += gap
        trades.append(Trade(i + 1, price, qty * 1000, price * qty * 10, 1, 2, 1, 2, side, ts))
    moved = tuple(i for i in INTERVALS if offset_moves(i, offset))
    local = CandleBook("BTCUSDT", moved, offset_ms=offset)
    want: dict = {}
    for k in local.apply(trades):
        want[(k.interval, k.open_time)] = fields(k)
    for interval in moved:
        base = offset_base(interval, offset)
        utc = CandleBook("BTCUSDT", (base,))
        latest: dict = {}
        for k in utc.apply(trades):
            latest[k.open_time] = msgspec.structs.asdict(k)
        got = regroup([latest[t] for t in sorted(latest)], interval, offset)
        assert [(c["open_time"], fields(Kline(**c))) for c in got] == \
            sorted((t, f) for (i, t), f in want.items() if i == interval), (interval, base)


def paced_rows(trades, cuts, ticks, update_ms, restore_every=0):
    """Run `trades` through a book with a cadence, applied in pieces ending at `cuts` and with a
    Tick (flush_rows) after the trades numbered in `ticks`; a final Tick at the end. Returns the
    rows given, and the open rows the book reported after each piece."""
    book = CandleBook("BTCUSDT", update_ms=update_ms)
    rows, states = [], []
    bounds = sorted({0, len(trades), *cuts, *ticks})
    for n, (a, b) in enumerate(zip(bounds, bounds[1:])):
        rows += book.apply_rows(trades[a:b])
        if b in ticks:
            rows += book.flush_rows()
        states.append((b, book.open_rows()))
        check(book)
        if restore_every and n % restore_every == 0:
            twin = CandleBook.restore(msgspec.msgpack.decode(msgspec.msgpack.encode(book.snapshot())))
            assert twin.state_hash() == book.state_hash() and twin.open_rows() == book.open_rows()
            book = twin
    rows += book.flush_rows()
    return rows, states, book


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trade_rows, st.sets(st.integers(0, 120)), st.sets(st.integers(0, 120)), st.sets(st.integers(0, 120)),
       st.sampled_from([1000, 2000, 5000]), st.integers(ms(2023, 12, 20), ms(2024, 3, 1)))
def test_a_cadence_gives_the_same_candles_whatever_the_batches(rows, cuts, other_cuts, ticks, update_ms, start):
    trades, ts = [], start
    for i, (gap, price, qty, side) in enumerate(rows):
        ts += gap if i % 7 else -gap % 5000 - 2500  # now and then a slightly older timestamp
        trades.append(Trade(i + 1, price, qty * 1000, price * qty * 10, 1, 2, 1, 2, side, ts))
    ticks = {t for t in ticks if t <= len(trades)}
    paced, states, book = paced_rows(trades, cuts, ticks, update_ms, restore_every=3)
    # the rows depend on the trades and the Ticks only: any other split (and restores) gives the same
    assert paced_rows(trades, other_cuts, ticks, update_ms)[0] == paced
    assert paced_rows(trades, (), ticks, update_ms)[0] == paced
    # the book holds at every point what a book without a cadence holds after the same trades
    twin = CandleBook("BTCUSDT")
    done = 0
    for b, open_rows in states:
        twin.apply_rows(trades[done:b])
        done = b
        assert open_rows == twin.open_rows()
    # every candle's last row is its state from the definition; closed ones change no more
    assert_last_states([Kline(*row) for row in paced], recompute(trades, tuple(INTERVALS)))
    # at most one open state of an interval per window of trade time, beside the Ticks' and the last
    windows = len({t.timestamp // update_ms for t in trades})
    assert len([row for row in paced if not row[-1]]) <= len(INTERVALS) * (windows + len(ticks) + 1)
    assert book.last_ts == max(t.timestamp for t in trades)


def test_a_cadence_gives_open_candles_once_a_window_and_closed_ones_at_once():
    book = CandleBook("BTCUSDT", update_ms=1000)
    t0 = ms(2024, 3, 5, 10)
    assert book.apply_rows([trade(t0, 100), trade(t0 + 10, 110)]) == []  # the second is not over
    assert book.apply_rows([trade(t0 + 500, 90)]) == []
    rows = book.apply_rows([trade(t0 + 1000, 95)])  # a later second, a later window
    closed = [r for r in rows if r[-1]]
    opens = {r[1]: r for r in rows if not r[-1]}
    assert [(r[1], r[4:8]) for r in closed] == [("1s", (100, 110, 90, 90))]  # the 1s candle it is past
    assert set(opens) == set(INTERVALS) - {"1s"}
    assert opens["1m"][4:11] == (100, 110, 90, 90, 3000, 3000, 3)  # the state at the window's end
    assert book.candle("1m").close == 95  # the book itself already counts the pending trade
    tick = book.flush_rows()
    assert {r[1] for r in tick} == set(INTERVALS) and all(not r[-1] for r in tick)
    assert {r[1]: r for r in tick}["1m"][7] == 95
    assert book.flush_rows() == []  # nothing changed since


def test_close_due_with_a_cadence_folds_the_pending_second_first():
    book = CandleBook("BTCUSDT", update_ms=1000)
    t0 = ms(2024, 3, 5, 10)
    book.apply_rows([trade(t0, 100), trade(t0 + 10, 120)])
    closed = book.close_due(t0 + 3_600_000)  # past the 1s, 1m ... 30m and 1h candles
    assert {k.interval for k in closed} >= {"1s", "1m", "1h"} and all(k.trades == 2 and k.high == 120 for k in closed)
    assert book.flush_rows() == [r for r in book.open_rows()]  # the ones left open, and no closed one again
    book.check_invariants()


def test_a_snapshot_without_a_cadence_reads_as_before():
    book = CandleBook("BTCUSDT")
    book.apply([trade(ms(2024, 3, 5, 10), 100)])
    assert set(book.snapshot()) == {"symbol", "intervals", "last_ts", "open"}
    with pytest.raises(ValueError):
        CandleBook("BTCUSDT", update_ms=1500)


def test_a_tick_after_a_candles_interval_closes_it_and_a_later_trade_cannot_reopen_it():
    book = CandleBook("BTCUSDT", update_ms=1000)
    t0 = ms(2024, 3, 5, 10)
    book.apply_rows([trade(t0 + 100, 100), trade(t0 + 200, 110)])
    assert [r for r in book.tick_rows(t0 + 999) if r[-1]] == []  # the second is not over yet
    closed = [r for r in book.tick_rows(t0 + 1000) if r[-1]]  # it is now: the 1s candle closes, nothing else
    assert [(r[1], r[2], r[7], r[10]) for r in closed] == [("1s", t0, 110, 2)]
    assert [r for r in book.tick_rows(t0 + 1500) if r[-1]] == []  # closed once
    closed = [r for r in book.tick_rows(t0 + 3_600_000) if r[-1]]
    assert {r[1] for r in closed} == {"1m", "3m", "5m", "15m", "30m", "1h"}
    # a trade stamped before the last Tick (a clock step) counts at the Tick's time: the next hour
    rows = book.apply_rows([trade(t0 + 5, 90)]) + book.flush_rows()
    assert all(not r[-1] for r in rows) and {r[1]: r[2] for r in rows}["1h"] == t0 + 3_600_000
    book.check_invariants()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trade_rows, st.lists(st.tuples(st.integers(0, 120), st.integers(0, 3 * 86_400_000)), max_size=12),
       st.sets(st.integers(0, 120)), st.sampled_from([1000, 2000, 5000]), st.integers(ms(2023, 12, 20), ms(2024, 3, 1)))
def test_ticks_close_exactly_the_candles_whose_interval_ended_whatever_the_batches(rows, ticks, cuts, update_ms, start):
    """Ticks at any times among the trades (Acquiring journals them): each closes every open candle
    whose interval ended before it and nothing else; no candle's content depends on them (the
    definition's candles, with a Tick's time as a floor for later trades' times, as the clock-step
    guard has it); how the trades were batched changes no row (with a cadence, as the KLine stage runs)."""
    trades, ts = [], start
    for i, (gap, price, qty, side) in enumerate(rows):
        ts += gap
        trades.append(Trade(i + 1, price, qty * 1000, price * qty * 10, 1, 2, 1, 2, side, ts))
    after = {}  # trade count -> the Tick's time: that long after the trade before it
    for n, extra in ticks:
        n = min(n, len(trades))
        after[n] = (trades[n - 1].timestamp if n else start) + extra

    def run(cut_at) -> tuple[list[tuple], CandleBook]:
        book = CandleBook("BTCUSDT", update_ms=update_ms)
        out, done = [], 0
        for b in sorted({0, len(trades), *(c for c in cut_at if c <= len(trades)), *after}):
            if b > done:
                out += book.apply_rows(trades[done:b])
                done = b
            if b in after:
                tick = after[b]
                out += book.tick_rows(tick)
                assert all(row[3] >= tick for row in book.open_rows()), tick  # nothing ended is left open
            check(book)
        return out + book.flush_rows(), book

    emitted, book = run(cuts)
    assert run(())[0] == emitted and run(range(len(trades)))[0] == emitted
    # the definition, each trade at max(its time, every earlier trade's and Tick's time)
    floor, timed = 0, []
    for n, t in enumerate(trades):
        if n in after:
            floor = max(floor, after[n])
        floor = max(floor, t.timestamp)
        timed.append(msgspec.structs.replace(t, timestamp=floor))
    closed = assert_last_states([Kline(*row) for row in emitted], recompute(timed, tuple(INTERVALS)))
    # a candle is closed iff a later trade or Tick came past its end
    last = max([t.timestamp for t in timed] + [after[n] for n in after if n < len(trades)] + [after.get(len(trades), 0)])
    for k in (Kline(*row) for row in emitted):
        assert ((k.interval, k.open_time) in closed) == (k.close_time < last), k
