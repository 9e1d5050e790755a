"""engine/avgprice.py: the average price of the last window's trades and PERCENT_PRICE_BY_SIDE on it."""

from __future__ import annotations

import pickle
from collections import deque

from engine_helpers import P, Q, btc
from hypothesis import given, settings, strategies as st

from spot_seda.engine.avgprice import AvgPrice

ONE = 10**8
MULTIPLIERS = (2 * ONE, ONE // 2, 3 * ONE, ONE // 4)  # bid up 2, down 0.5; ask up 3, down 0.25
SCALE = btc().price_scale


def trade(avg, ts, price, qty):
    avg.add(ts, P(price), Q(qty), btc().notional(P(price), Q(qty)))


def test_no_trade_no_check_then_the_volume_weighted_average_then_the_last_price():
    avg = AvgPrice(300_000)
    assert avg.price_ok(True, P("1000000"), SCALE, MULTIPLIERS, 0)
    trade(avg, 1_000, "100", "1")
    trade(avg, 2_000, "200", "3")  # average (100 + 600) / 4 = 175
    assert avg.price_ok(True, P("350"), SCALE, MULTIPLIERS, 3_000)
    assert not avg.price_ok(True, P("350.01"), SCALE, MULTIPLIERS, 3_000)
    assert avg.price_ok(True, P("87.5"), SCALE, MULTIPLIERS, 3_000)
    assert not avg.price_ok(True, P("87.49"), SCALE, MULTIPLIERS, 3_000)
    assert avg.price_ok(False, P("525"), SCALE, MULTIPLIERS, 3_000)  # sells: 3x and 0.25x
    assert not avg.price_ok(False, P("43.74"), SCALE, MULTIPLIERS, 3_000)
    # the first trade leaves the 5-minute window: the average is 200
    assert avg.price_ok(True, P("400"), SCALE, MULTIPLIERS, 301_000)
    assert not avg.price_ok(True, P("400.01"), SCALE, MULTIPLIERS, 301_000)
    # no trade in the window: the last trade's price (200)
    assert avg.price_ok(True, P("400"), SCALE, MULTIPLIERS, 900_000) and avg.qty == 0
    assert not avg.price_ok(True, P("99.99"), SCALE, MULTIPLIERS, 900_000)


def test_a_quantity_at_the_average_price_for_notional():
    """NOTIONAL's applyMinToMarket values a MARKET order's quantity at the window's average price
    (rounded down), the last trade's price with none in the window, and cannot without any trade."""
    avg = AvgPrice(300_000)
    rules = btc()
    assert avg.amount_of(Q("1"), rules.notional, 0) is None
    trade(avg, 1_000, "100", "1")
    trade(avg, 2_000, "200", "3")  # average 175
    assert avg.amount_of(Q("2"), rules.notional, 3_000) == 350 * ONE
    assert avg.amount_of(Q("0.00000003"), rules.notional, 3_000) == 525  # 3 units x 175: no rounding up
    assert avg.amount_of(Q("1"), rules.notional, 301_000) == 200 * ONE  # the first trade left the window
    assert avg.amount_of(Q("1"), rules.notional, 900_000) == 200 * ONE and avg.qty == 0  # the last price


class NaiveAvgPrice:
    """The twin: every trade kept as (time, quote, qty), in the order added; a trade leaves once a
    time at least the window after it is seen (as the engine's), the sums recomputed each time."""

    def __init__(self, window_ms: int) -> None:
        self.window_ms, self.trades, self.last_price = window_ms, [], 0

    def see(self, now: int) -> None:
        while self.trades and self.trades[0][0] <= now - self.window_ms:
            self.trades.pop(0)

    def add(self, ts: int, price: int, qty: int, quote: int) -> None:
        self.trades.append((ts, quote, qty))
        self.last_price = price
        self.see(ts)

    def sums(self) -> tuple[int, int]:
        return sum(q for _, q, _ in self.trades), sum(q for _, _, q in self.trades)


# a session: trades (several at one time, as a command's fills), queries, and now and then the clock
# a little back (a trade's time is its command's, from a clock that may step back)
_STEPS = st.lists(st.tuples(st.sampled_from(["trade", "trade", "trade", "query"]),
                            st.sampled_from([0, 0, 0, 1, 7, 40_000, 120_000, -3]),
                            st.integers(1, 500), st.integers(1, 9)), max_size=120)


@settings(max_examples=300, deadline=None)
@given(_STEPS, st.sampled_from([60_000, 300_000]))
def test_the_window_sums_and_answers_as_a_twin_that_keeps_every_trade(steps, window):
    avg, twin, rules = AvgPrice(window), NaiveAvgPrice(window), btc()
    now = 1_000_000
    for kind, step, price, qty in steps:
        now += step
        if kind == "trade":
            p, q = P(str(price)), Q(str(qty))
            avg.add(now, p, q, rules.notional(p, q))
            twin.add(now, p, q, rules.notional(p, q))
        else:
            p = P(str(price))
            assert avg.amount_of(Q("1"), rules.notional, now) == _naive_amount(twin, Q("1"), rules.notional, now)
            for buy in (True, False):
                assert avg.price_ok(buy, p, SCALE, MULTIPLIERS, now) == _naive_price_ok(twin, buy, p, now)
        twin.see(now)
        assert (avg.quote, avg.qty) == twin.sums() and avg.last_price == twin.last_price
        assert len(avg.times) <= len(twin.trades)  # (one per time: a command's fills are one)
    copy = pickle.loads(pickle.dumps(avg))
    assert (list(copy.times), list(copy.quotes), list(copy.qtys), copy.quote, copy.qty, copy.last_price) == (
        list(avg.times), list(avg.quotes), list(avg.qtys), avg.quote, avg.qty, avg.last_price)


def _naive_amount(twin: NaiveAvgPrice, qty: int, notional, now: int) -> int | None:
    twin.see(now)
    quote, volume = twin.sums()
    if volume:
        return qty * quote // volume
    return notional(twin.last_price, qty) if twin.last_price else None


def _naive_price_ok(twin: NaiveAvgPrice, buy: bool, price: int, now: int) -> bool:
    twin.see(now)
    up, down = MULTIPLIERS[:2] if buy else MULTIPLIERS[2:]
    quote, qty = twin.sums()
    if qty:
        return quote * SCALE * down <= price * ONE * qty <= quote * SCALE * up
    if twin.last_price:
        return twin.last_price * down <= price * ONE <= twin.last_price * up
    return True


def test_a_window_pickled_before_the_sums_per_millisecond_loads():
    """A snapshot written when the window kept a (time, quote, qty) tuple per trade."""
    old = AvgPrice.__new__(AvgPrice)
    state = (None, {"window_ms": 300_000, "trades": deque([(1_000, 700, 4), (1_000, 50, 1), (2_000, 9, 3)]),
                    "quote": 759, "qty": 8, "last_price": 3})
    old.__setstate__(state)
    assert (list(old.times), list(old.quotes), list(old.qtys)) == ([1_000, 1_000, 2_000], [700, 50, 9], [4, 1, 3])
    old.add(301_000, 5, 1, 5)  # the two trades at 1,000 leave together
    assert (old.quote, old.qty, list(old.times)) == (14, 4, [2_000, 301_000])
