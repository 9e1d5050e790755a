"""engine/avgprice.py: the average price of the last window's trades and PERCENT_PRICE_BY_SIDE on it."""

from __future__ import annotations

from engine_helpers import P, Q, btc

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
