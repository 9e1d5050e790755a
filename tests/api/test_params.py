"""Request parameters to typed commands: every path good and bad, exact Binance errors, and property
tests (exact decimal parsing; garbage only ever gives an ApiError)."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spot_seda.api.plumbing import query_pairs, unique_pairs
from spot_seda.binance import orderparams as O, params as P, queryparams as Q
from spot_seda.binance.errors import ApiError
from spot_seda.model.enums import OrderType, SelfTradePrevention, Side, TimeInForce
from spot_seda.model.fixedpoint import MAX_UNITS, to_units
from spot_seda.model.orders import Order
from spot_seda.model.symbols import SymbolRules, SymbolSpec, TrailingDelta

RULES = {
    "BTCUSDT": SymbolRules(SymbolSpec(symbol="BTCUSDT", base="BTC", quote="USDT", price_decimals=2, tick_size="0.01",
                                      step_size="0.00001", min_qty="0.00001", max_qty="9000", min_notional="5")),
    "ETHBTC": SymbolRules(SymbolSpec(symbol="ETHBTC", base="ETH", quote="BTC", price_decimals=6, tick_size="0.000005",
                                     step_size="0.01", min_qty="0.01", max_qty="100000", min_notional="0.0001")),
}


def err(fn, *args, **kwargs) -> ApiError:
    with pytest.raises(ApiError) as info:
        fn(*args, **kwargs)
    return info.value


def code_msg(fn, *args, **kwargs) -> tuple[int, str]:
    e = err(fn, *args, **kwargs)
    assert e.status == 400
    return e.code, e.msg


def limit(**over):
    p = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "price": "30000.01",
         "quantity": "0.001", "timestamp": "1", "signature": "ab", "recvWindow": "5000"}
    p.update(over)
    return {k: v for k, v in p.items() if v is not None}


def market(**over):
    p = {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.5"}
    p.update(over)
    return {k: v for k, v in p.items() if v is not None}


# ------------------------------------------------------------------------------------ new orders


def test_an_order_without_stp_takes_the_symbols_default():
    loose = {"BTCUSDT": SymbolRules(SymbolSpec(symbol="BTCUSDT", base="BTC", quote="USDT", default_stp="NONE"))}
    assert O.parse_new_order(limit(), loose).stp == SelfTradePrevention.NONE
    assert O.parse_new_order(limit(selfTradePreventionMode="EXPIRE_TAKER"), loose).stp == SelfTradePrevention.EXPIRE_TAKER
    assert O.parse_new_order(limit(), RULES).stp == SelfTradePrevention.EXPIRE_MAKER  # Binance's default


def test_limit_order():
    o = O.parse_new_order(limit(newClientOrderId="my-order_1", selfTradePreventionMode="EXPIRE_BOTH"), RULES)
    assert o == O.OrderRequest(symbol="BTCUSDT", side=Side.BUY, type=OrderType.LIMIT, time_in_force=TimeInForce.GTC,
                           price=3_000_001, qty=100_000, quote_qty=0, client_order_id="my-order_1", resp_type="FULL",
                           stp=SelfTradePrevention.EXPIRE_BOTH)


@pytest.mark.parametrize("tif", ["GTC", "IOC", "FOK"])
def test_limit_time_in_force(tif):
    assert O.parse_new_order(limit(timeInForce=tif), RULES).time_in_force == TimeInForce[tif]


def test_defaults():
    o = O.parse_new_order(limit(), RULES)
    assert (o.resp_type, o.stp, o.client_order_id) == ("FULL", SelfTradePrevention.EXPIRE_MAKER, None)
    assert O.parse_new_order(market(), RULES).resp_type == "FULL"
    maker = O.parse_new_order(limit(type="LIMIT_MAKER", timeInForce=None), RULES)
    assert (maker.type, maker.resp_type, maker.time_in_force) == (OrderType.LIMIT_MAKER, "ACK", TimeInForce.GTC)
    for resp in ("ACK", "RESULT", "FULL"):
        assert O.parse_new_order(limit(newOrderRespType=resp), RULES).resp_type == resp


def test_market_orders():
    by_qty = O.parse_new_order(market(), RULES)
    assert (by_qty.qty, by_qty.quote_qty, by_qty.price, by_qty.side) == (50_000_000, 0, 0, Side.SELL)
    by_quote = O.parse_new_order(market(side="BUY", quantity=None, quoteOrderQty="100.5"), RULES)
    assert (by_quote.qty, by_quote.quote_qty, by_quote.type) == (0, 10_050_000_000, OrderType.MARKET)


MISSING = "Mandatory parameter '{}' was not sent, was empty/null, or malformed."
DEC_RANGE = "Illegal characters found in parameter '{}'; legal range is '^([0-9]{{1,20}})(\\.[0-9]{{1,20}})?$'."


def stop(**over):
    p = {"symbol": "BTCUSDT", "side": "SELL", "type": "STOP_LOSS_LIMIT", "timeInForce": "GTC", "price": "29000",
         "stopPrice": "29500.5", "quantity": "0.001"}
    p.update(over)
    return {k: v for k, v in p.items() if v is not None}


def stop_market(**over):
    return stop(**({"type": "STOP_LOSS", "timeInForce": None, "price": None} | over))


@pytest.mark.parametrize("type_", ["STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"])
@pytest.mark.parametrize("tif", ["GTC", "IOC", "FOK"])
def test_stop_limit_orders(type_, tif):
    o = O.parse_new_order(stop(type=type_, timeInForce=tif), RULES)
    assert o == O.OrderRequest(symbol="BTCUSDT", side=Side.SELL, type=OrderType[type_], time_in_force=TimeInForce[tif],
                           price=2_900_000, qty=100_000, quote_qty=0, client_order_id=None, resp_type="ACK",
                           stp=SelfTradePrevention.EXPIRE_MAKER, stop_price=2_950_050)


@pytest.mark.parametrize("type_", ["STOP_LOSS", "TAKE_PROFIT"])
def test_stop_market_orders(type_):
    o = O.parse_new_order(stop_market(type=type_, side="BUY", newOrderRespType="FULL"), RULES)
    assert (o.type, o.side, o.time_in_force, o.price, o.qty, o.quote_qty, o.stop_price, o.resp_type) == (
        OrderType[type_], Side.BUY, TimeInForce.GTC, 0, 100_000, 0, 2_950_050, "FULL")


TRAILING_RULES = {"BTCUSDT": SymbolRules(SymbolSpec(
    symbol="BTCUSDT", base="BTC", quote="USDT", trailing_delta=TrailingDelta(
        min_trailing_above_delta=20, max_trailing_above_delta=30, min_trailing_below_delta=40,
        max_trailing_below_delta=50)))}


@pytest.mark.parametrize("type_,side,above", [
    ("STOP_LOSS", "BUY", True), ("STOP_LOSS_LIMIT", "BUY", True), ("TAKE_PROFIT", "SELL", True),
    ("TAKE_PROFIT_LIMIT", "SELL", True), ("STOP_LOSS", "SELL", False), ("STOP_LOSS_LIMIT", "SELL", False),
    ("TAKE_PROFIT", "BUY", False), ("TAKE_PROFIT_LIMIT", "BUY", False)])
@pytest.mark.parametrize("stop_price", ["29500.50", None])
def test_trailing_stops_within_their_sides_trailing_delta_range(type_, side, above, stop_price):
    """TRAILING_DELTA (filters.md): the "above" range for a stop that triggers above the market, the
    "below" range for the others; stopPrice optional (the activation price)."""
    base = stop if type_.endswith("_LIMIT") else stop_market
    low, high = (20, 30) if above else (40, 50)
    for delta, ok in ((low - 1, False), (low, True), (high, True), (high + 1, False)):
        params = base(type=type_, side=side, stopPrice=stop_price, trailingDelta=str(delta))
        if ok:
            o = O.parse_new_order(params, TRAILING_RULES)
            assert (o.type, o.trailing_delta, o.stop_price) == (OrderType[type_], delta, 2_950_050 if stop_price else 0)
        else:
            assert code_msg(O.parse_new_order, params, TRAILING_RULES) == (-1013, "Filter failure: TRAILING_DELTA")


@pytest.mark.parametrize("params,code,msg", [
    (stop(stopPrice=None), -1102, "Param 'stopPrice' or 'trailingDelta' must be sent, but both were empty/null!"),
    (stop(stopPrice=""), -1102, "Param 'stopPrice' or 'trailingDelta' must be sent, but both were empty/null!"),
    (stop(trailingDelta="9"), -1013, "Filter failure: TRAILING_DELTA"),  # Binance's default range: 10..2000
    (stop(stopPrice=None, trailingDelta="2001"), -1013, "Filter failure: TRAILING_DELTA"),
    (stop(stopPrice=None, trailingDelta="0"), -1013, "Filter failure: TRAILING_DELTA"),
    (stop(stopPrice=None, trailingDelta="-5"), -1100, P.errors.illegal_chars("trailingDelta", P.errors.INT_RANGE).msg),
    (stop(stopPrice=None, trailingDelta="1.5"), -1100, P.errors.illegal_chars("trailingDelta", P.errors.INT_RANGE).msg),
    (stop(stopPrice="abc"), -1100, DEC_RANGE.format("stopPrice")),
    (stop(stopPrice="-1"), -1100, DEC_RANGE.format("stopPrice")),
    (stop(stopPrice="1.000000001"), -1111, "Parameter 'stopPrice' has too much precision."),
    (stop(stopPrice="29500.505"), -1013, "Filter failure: PRICE_FILTER"),  # off the tick
    (stop(stopPrice="0"), -1013, "Filter failure: PRICE_FILTER"),
    (stop(stopPrice="1e30"), -1013, "Filter failure: PRICE_FILTER"),
    (stop(timeInForce=None), -1102, MISSING.format("timeInForce")),
    (stop(price=None), -1102, MISSING.format("price")),
    (stop(quantity=None), -1102, MISSING.format("quantity")),
    (stop(quoteOrderQty="10"), -1106, "Parameter 'quoteOrderQty' sent when not required."),
    (stop(price="1", quantity="0.001"), -1013, "Filter failure: NOTIONAL"),
    (stop(icebergQty="0.0005"), -2010, "Iceberg orders are not supported for this symbol."),
    (stop_market(price="29000"), -1106, "Parameter 'price' sent when not required."),
    (stop_market(timeInForce="GTC"), -1106, "Parameter 'timeInForce' sent when not required."),
    (stop_market(quoteOrderQty="10"), -1106, "Parameter 'quoteOrderQty' sent when not required."),
    (stop_market(quantity=None), -1102, MISSING.format("quantity")),
    (stop_market(quantity="0.000001"), -1013, "Filter failure: LOT_SIZE"),
    (stop_market(stopPrice="100"), -1013, "Filter failure: NOTIONAL"),  # 100 x 0.001 < 5: at the stop price
    (market(stopPrice="1"), -1106, "Parameter 'stopPrice' sent when not required."),
    (limit(type="LIMIT_MAKER", timeInForce=None, stopPrice="1"), -1106, "Parameter 'stopPrice' sent when not required."),
    # sent empty where the type takes none (check_none_empty leaves a lone stopPrice or trailingDelta to the type)
    (market(stopPrice=""), -1106, "Parameter 'stopPrice' sent when not required."),
    (limit(trailingDelta=""), -1106, "Parameter 'trailingDelta' sent when not required."),
])
def test_stop_order_errors(params, code, msg):
    assert code_msg(O.parse_new_order, params, RULES) == (code, msg)


@pytest.mark.parametrize("text", ["30000.01", "30000.010", "30000.0100000000", "3000001e-2", "3000001E-2",
                                  "3.000001e4", "+30000.01", "030000.01", "30000.01000000000000000000000"])
def test_price_forms_are_equal(text):
    assert O.parse_new_order(limit(price=text), RULES).price == 3_000_001


@pytest.mark.parametrize("text,units", [("0.1", 10_000_000), ("0.10", 10_000_000), ("1e-1", 10_000_000),
                                        ("1E-1", 10_000_000), (".1", 10_000_000), ("1.", 100_000_000),
                                        ("0.00001", 1000), ("1e-5", 1000), ("9000", 900_000_000_000)])
def test_quantity_forms(text, units):
    assert O.parse_new_order(market(quantity=text), RULES).qty == units


@pytest.mark.parametrize("over,code,msg", [
    ({"symbol": None}, -1102, MISSING.format("symbol")),
    ({"symbol": ""}, -1102, MISSING.format("symbol")),
    ({"symbol": "NOPE"}, -1121, "Invalid symbol."),
    ({"symbol": "btcusdt"}, -1100, "Illegal characters found in parameter 'symbol'; legal range is '^[A-Z0-9-_.]{1,20}$'."),
    ({"side": None}, -1102, MISSING.format("side")),
    ({"side": "buy"}, -1117, "Invalid side."),
    ({"type": None}, -1102, MISSING.format("type")),
    ({"type": "LIMITED"}, -1116, "Invalid orderType."),
    ({"type": "STOP_LOSS_LIMIT"}, -1102, "Param 'stopPrice' or 'trailingDelta' must be sent, but both were empty/null!"),
    ({"type": "TAKE_PROFIT"}, -1102, "Param 'stopPrice' or 'trailingDelta' must be sent, but both were empty/null!"),
    ({"type": "TAKE_PROFIT", "stopPrice": "30000"}, -1106, "Parameter 'price' sent when not required."),
    ({"trailingDelta": "100"}, -1106, "Parameter 'trailingDelta' sent when not required."),
    ({"timeInForce": None}, -1102, MISSING.format("timeInForce")),
    ({"timeInForce": "GTX"}, -1115, "Invalid timeInForce."),
    ({"price": None}, -1102, MISSING.format("price")),
    ({"price": ""}, -1102, MISSING.format("price")),
    ({"quantity": None}, -1102, MISSING.format("quantity")),
    ({"price": "NaN"}, -1100, DEC_RANGE.format("price")),
    ({"price": "inf"}, -1100, DEC_RANGE.format("price")),
    ({"price": "-1"}, -1100, DEC_RANGE.format("price")),
    ({"price": "-0"}, -1100, DEC_RANGE.format("price")),
    ({"price": " 1"}, -1100, DEC_RANGE.format("price")),
    ({"price": "1,5"}, -1100, DEC_RANGE.format("price")),
    ({"price": "0x10"}, -1100, DEC_RANGE.format("price")),
    ({"price": "1e"}, -1100, DEC_RANGE.format("price")),
    ({"price": "."}, -1100, DEC_RANGE.format("price")),
    ({"price": "1" * 65}, -1100, DEC_RANGE.format("price")),
    ({"price": "١"}, -1100, DEC_RANGE.format("price")),
    ({"quantity": "abc"}, -1100, DEC_RANGE.format("quantity")),
    ({"price": "0.000000001"}, -1111, "Parameter 'price' has too much precision."),
    ({"quantity": "1e-9"}, -1111, "Parameter 'quantity' has too much precision."),
    ({"quantity": "1e-99999999999"}, -1111, "Parameter 'quantity' has too much precision."),
    ({"price": "30000.001"}, -1013, "Filter failure: PRICE_FILTER"),  # within 8 decimals, off the tick
    ({"price": "0"}, -1013, "Filter failure: PRICE_FILTER"),
    ({"price": "1e30"}, -1013, "Filter failure: PRICE_FILTER"),
    ({"price": "1e99999999999"}, -1013, "Filter failure: PRICE_FILTER"),
    ({"price": "92233720368.54775808"}, -1013, "Filter failure: PRICE_FILTER"),
    ({"quantity": "0.000001"}, -1013, "Filter failure: LOT_SIZE"),  # below min, off step
    ({"quantity": "0"}, -1013, "Filter failure: LOT_SIZE"),
    ({"quantity": "9000.00001"}, -1013, "Filter failure: LOT_SIZE"),
    ({"quantity": "1e40"}, -1013, "Filter failure: LOT_SIZE"),
    ({"price": "100", "quantity": "0.04999"}, -1013, "Filter failure: NOTIONAL"),
    ({"quoteOrderQty": "5"}, -1106, "Parameter 'quoteOrderQty' sent when not required."),
    ({"stopPrice": "1"}, -1106, "Parameter 'stopPrice' sent when not required."),
    ({"icebergQty": "0.0001"}, -2010, "Iceberg orders are not supported for this symbol."),
    ({"newClientOrderId": ""}, -1118, "New client order ID was empty."),
    ({"newClientOrderId": "x" * 37}, -1100,
     "Illegal characters found in parameter 'newClientOrderId'; legal range is '^[a-zA-Z0-9-_]{1,36}$'."),
    ({"newClientOrderId": "a b"}, -1100,
     "Illegal characters found in parameter 'newClientOrderId'; legal range is '^[a-zA-Z0-9-_]{1,36}$'."),
    ({"newOrderRespType": "MINI"}, -1100,
     "Illegal characters found in parameter 'newOrderRespType'; legal range is 'ACK, RESULT, FULL'."),
    # stp_faq.md: a mode of Binance's (enums.md) the symbol does not allow; a word that is no mode
    ({"selfTradePreventionMode": "TRANSFER"}, -1013, "This symbol does not allow the specified self-trade prevention mode."),
    ({"selfTradePreventionMode": "FOO"}, -1100,
     "Illegal characters found in parameter 'selfTradePreventionMode'; legal range is "
     "'NONE, EXPIRE_TAKER, EXPIRE_MAKER, EXPIRE_BOTH, DECREMENT'."),
])
def test_limit_errors(over, code, msg):
    assert code_msg(O.parse_new_order, limit(**over), RULES) == (code, msg)


def test_price_and_notional_edges():
    assert O.parse_new_order(limit(price="100", quantity="0.05"), RULES).price == 10_000  # notional exactly 5
    assert O.parse_new_order(limit(icebergQty="0"), RULES).qty == 100_000
    assert O.parse_new_order(limit(quantity="9000", price="0.01"), RULES).qty == 900_000_000_000
    big = O.max_price(RULES["BTCUSDT"])
    assert O.parse_new_order(limit(price=str(Decimal(big) / 100), quantity="0.00001"), RULES).price == big
    # ETHBTC: 6 price decimals, tick 0.000005
    assert O.parse_new_order(limit(symbol="ETHBTC", price="0.065005", quantity="1"), RULES).price == 65_005
    assert code_msg(O.parse_new_order, limit(symbol="ETHBTC", price="0.065001", quantity="1"), RULES)[1] == \
        "Filter failure: PRICE_FILTER"
    assert code_msg(O.parse_new_order, limit(symbol="ETHBTC", price="0.0650051", quantity="1"), RULES)[1] == \
        "Filter failure: PRICE_FILTER"
    assert code_msg(O.parse_new_order, limit(symbol="ETHBTC", price="0.065005", quantity="1.001"), RULES)[1] == \
        "Filter failure: LOT_SIZE"


def test_notional_above_the_integer_range():
    assert code_msg(O.parse_new_order, limit(price="90000000000", quantity="9000"), RULES) == (-1013, "Filter failure: NOTIONAL")


@pytest.mark.parametrize("over,code,msg", [
    ({"quantity": None}, -1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!"),
    ({"quantity": "", "quoteOrderQty": ""}, -1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!"),
    ({"quoteOrderQty": "10"}, -1106, "Parameter 'quoteOrderQty' sent when not required."),
    ({"price": "100"}, -1106, "Parameter 'price' sent when not required."),
    ({"timeInForce": "GTC"}, -1106, "Parameter 'timeInForce' sent when not required."),
    ({"quantity": "0.000001"}, -1013, "Filter failure: LOT_SIZE"),
    ({"quantity": None, "quoteOrderQty": "4.99999999"}, -1013, "Filter failure: NOTIONAL"),
    ({"quantity": None, "quoteOrderQty": "0"}, -1013, "Filter failure: NOTIONAL"),
    ({"quantity": None, "quoteOrderQty": "1e40"}, -1013, "Filter failure: NOTIONAL"),
    ({"quantity": None, "quoteOrderQty": "5.000000001"}, -1111, "Parameter 'quoteOrderQty' has too much precision."),
    ({"quantity": None, "quoteOrderQty": "x"}, -1100, DEC_RANGE.format("quoteOrderQty")),
])
def test_market_errors(over, code, msg):
    assert code_msg(O.parse_new_order, market(**over), RULES) == (code, msg)


def test_limit_maker_errors():
    base = limit(type="LIMIT_MAKER", timeInForce=None)
    assert code_msg(O.parse_new_order, base | {"timeInForce": "GTC"}, RULES) == \
        (-1106, "Parameter 'timeInForce' sent when not required.")
    assert code_msg(O.parse_new_order, {k: v for k, v in base.items() if k != "price"}, RULES) == \
        (-1102, MISSING.format("price"))
    assert code_msg(O.parse_new_order, base | {"quoteOrderQty": "6"}, RULES)[0] == -1106


def test_market_check_notional_helper():
    rules = RULES["BTCUSDT"]
    O.check_notional(rules, 10_000, 5_000_000)  # 100 x 0.05 = 5
    assert err(O.check_notional, rules, 10_000, 4_999_999).msg == "Filter failure: NOTIONAL"


# ------------------------------------------------------------------------------ property tests


@settings(max_examples=400, deadline=None)
@given(units=st.integers(0, MAX_UNITS), trailing=st.integers(0, 6), style=st.sampled_from(["plain", "exp", "EXP", "int-exp"]))
def test_any_decimal_form_round_trips_exactly(units, trailing, style):
    whole, frac = divmod(units, 10**8)
    if style == "plain":
        text = f"{whole}.{frac:08d}" + "0" * trailing
    elif style == "int-exp":
        text = f"{units}{'0' * trailing}e-{8 + trailing}"
    else:
        e = "e" if style == "exp" else "E"
        text = f"{units}{e}-8"
    assert P.decimal_units(text, "quantity") == units == to_units(text, 8)


@settings(max_examples=300, deadline=None)
@given(st.decimals(min_value=0, max_value=Decimal(MAX_UNITS) / 10**8, allow_nan=False, allow_infinity=False, places=8))
def test_decimals_agree_with_fixedpoint(value):
    text = str(value)
    assert P.decimal_units(text, "price") == to_units(text, 8)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_garbage_decimal_only_api_errors(text):
    try:
        units = P.decimal_units(text, "price")
    except ApiError as e:
        assert e.code in (-1100, -1111, -1108)
    else:
        assert 0 <= units <= MAX_UNITS and units == to_units(text, 8)


_KEYS = ["symbol", "side", "type", "timeInForce", "price", "quantity", "quoteOrderQty", "newClientOrderId",
         "newOrderRespType", "selfTradePreventionMode", "icebergQty", "stopPrice", "trailingDelta"]
_VALUES = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["BTCUSDT", "ETHBTC", "BUY", "SELL", "LIMIT", "MARKET", "LIMIT_MAKER", "GTC", "IOC", "FOK",
                     "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT",
                     "0", "1", "0.001", "30000", "1e-3", "NaN", "-1", "", "ACK", "NONE", "1e999999"]),
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(_KEYS), _VALUES))
def test_garbage_orders_only_api_errors(p):
    try:
        order = O.parse_new_order(p, RULES)
    except ApiError as e:
        assert e.status == 400 and e.code < 0 and e.msg
    else:
        rules = RULES[order.symbol]
        assert rules.price_ok(order.stop_price) if order.type.is_stop else order.stop_price == 0
        if order.type == OrderType.MARKET:
            assert (order.qty > 0) != (order.quote_qty > 0) and order.price == 0
        elif order.type.working_type == OrderType.MARKET:  # STOP_LOSS, TAKE_PROFIT: by quantity
            assert rules.qty_ok(order.qty) and order.quote_qty == 0 and order.price == 0
            assert rules.notional(order.stop_price, order.qty) >= rules.min_notional
        else:
            assert rules.price_ok(order.price) and rules.qty_ok(order.qty)
            assert rules.notional(order.price, order.qty) >= rules.min_notional


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["symbol", "orderId", "origClientOrderId", "limit", "interval", "symbols",
                                        "startTime", "endTime", "fromId", "newClientOrderId"]), _VALUES))
def test_garbage_other_params_only_api_errors(p):
    for parse in (lambda: O.parse_order_ref(p, RULES), lambda: P.parse_client_order_id(p),
                  lambda: P.parse_symbols_filter(p, RULES), lambda: Q.parse_interval(p), lambda: Q.parse_depth_limit(p),
                  lambda: P.parse_limit(p), lambda: Q.parse_time_range(p), lambda: P.parse_int(p, "fromId"),
                  lambda: P.parse_symbol(p, RULES, required=False)):
        try:
            parse()
        except ApiError as e:
            assert e.status == 400


# ------------------------------------------------------------------------------ other endpoints


def test_order_ref():
    assert O.parse_order_ref({"symbol": "BTCUSDT", "orderId": "12"}, RULES) == ("BTCUSDT", 12, None)
    assert O.parse_order_ref({"symbol": "BTCUSDT", "origClientOrderId": "abc"}, RULES) == ("BTCUSDT", None, "abc")
    assert O.parse_order_ref({"symbol": "BTCUSDT", "orderId": "3", "origClientOrderId": "abc"}, RULES) == ("BTCUSDT", 3, "abc")
    assert code_msg(O.parse_order_ref, {"symbol": "BTCUSDT", "orderId": "3", "origClientOrderId": ""}, RULES) \
        == (-1119, "Original client order ID was empty.")
    both = "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"
    assert code_msg(O.parse_order_ref, {"symbol": "BTCUSDT"}, RULES) == (-1102, both)
    assert code_msg(O.parse_order_ref, {"symbol": "BTCUSDT", "orderId": "", "origClientOrderId": ""}, RULES) == (-1102, both)
    assert code_msg(O.parse_order_ref, {"orderId": "1"}, RULES) == (-1102, MISSING.format("symbol"))
    assert code_msg(O.parse_order_ref, {"symbol": "BTCUSDT", "orderId": "x1"}, RULES) == (
        -1100, "Illegal characters found in parameter 'orderId'; legal range is '^[0-9]{1,20}$'.")
    assert code_msg(O.parse_order_ref, {"symbol": "BTCUSDT", "orderId": "-1"}, RULES)[0] == -1100
    assert code_msg(O.parse_order_ref, {"symbol": "BTCUSDT", "orderId": "9" * 20}, RULES) == (
        -1108, "Parameter 'orderId' overflowed.")
    assert code_msg(O.parse_order_ref, {"symbol": "BTCUSDT", "origClientOrderId": "a b"}, RULES)[0] == -1100
    assert O.parse_order_ref({"symbol": "ETHBTC", "origClientOrderId": "q"}, RULES) == ("ETHBTC", None, "q")


def test_order_matches_ref():
    order = Order.from_fields({"symbol": "BTCUSDT", "account": 1, "client_order_id": "abc", "side": "BUY", "type": "LIMIT",
                               "time_in_force": "GTC", "price": 1, "qty": 1, "quote_qty": 0, "stp": "NONE",
                               "frozen_asset": "USDT", "frozen": 1, "status": "NEW"}, 3, 0)
    assert O.order_matches_ref(order, 3, None) and O.order_matches_ref(order, None, "abc")
    assert O.order_matches_ref(order, 3, "abc")
    assert not O.order_matches_ref(order, 3, "abd") and not O.order_matches_ref(order, 4, None)


def test_symbol_and_symbols():
    assert P.parse_symbol({"symbol": "ETHBTC"}, RULES) == "ETHBTC"
    assert P.parse_symbol({}, RULES, required=False) is None
    assert P.parse_symbols_filter({}, RULES) == ["BTCUSDT", "ETHBTC"]
    assert P.parse_symbols_filter({"symbol": "ETHBTC"}, RULES) == ["ETHBTC"]
    assert P.parse_symbols_filter({"symbols": '["ETHBTC","BTCUSDT"]'}, RULES) == ["ETHBTC", "BTCUSDT"]
    assert P.parse_symbols_filter({"symbols": '[ "ETHBTC" ]'}, RULES) == ["ETHBTC"]
    assert P.parse_symbols_list({}, RULES) is None
    sym_range = ("Illegal characters found in parameter 'symbols'; legal range is "
                 "'^\\[(\"[A-Z0-9-_.]{1,20}\"(,\"[A-Z0-9-_.]{1,20}\"){0,}){0,1}\\]$'.")
    for bad in ("BTCUSDT", "[BTCUSDT]", '["BTCUSDT"', '{"a":1}', '[1]', '["btcusdt"]', '[null]', '"BTCUSDT"'):
        assert code_msg(P.parse_symbols_filter, {"symbols": bad}, RULES) == (-1100, sym_range), bad
    assert code_msg(P.parse_symbols_filter, {"symbols": "[]"}, RULES) == (-1102, MISSING.format("symbols"))
    assert code_msg(P.parse_symbols_filter, {"symbols": ""}, RULES) == (-1102, MISSING.format("symbols"))
    assert code_msg(P.parse_symbols_filter, {"symbols": '["BTCUSDT","BTCUSDT"]'}, RULES) == (
        -1151, "Symbol is present multiple times in the list.")
    assert code_msg(P.parse_symbols_filter, {"symbols": '["BTCUSDT","DOGEUSDT"]'}, RULES) == (-1121, "Invalid symbol.")
    assert code_msg(P.parse_symbols_filter, {"symbol": "BTCUSDT", "symbols": '["BTCUSDT"]'}, RULES)[0] == -1128
    assert code_msg(P.parse_symbols_filter, {"symbol": "DOGE"}, RULES) == (-1121, "Invalid symbol.")


NO = frozenset()
EMPTY_CASES = [
    # Binance: aggTrades?symbol=IOSTBTC&fromId= is -1105 (0xjmp/binance-ruby issue 4); so `limit=`
    ({"symbol": "BTCUSDT", "fromId": ""}, {"symbol", "fromId"}, {"symbol"}, "fromId"),
    ({"symbol": "BTCUSDT", "limit": ""}, {"symbol", "limit"}, {"symbol"}, "limit"),
    ({"symbol": ""}, {"symbol"}, NO, "symbol"),  # the tickers': all symbols, were it taken as not sent
    ({"limit": 5, "fromId": ""}, {"limit", "fromId"}, NO, "fromId"),  # a WebSocket API request's JSON values
    ({"recvWindow": "", "timestamp": "1"}, {"recvWindow", "timestamp"}, {"timestamp"}, "recvWindow"),
    # a pair member beside its partner, or one whose partner the endpoint does not read
    ({"quantity": "", "quoteOrderQty": "5"}, {"quantity", "quoteOrderQty"}, NO, "quantity"),
    ({"quantity": "1", "quoteOrderQty": ""}, {"quantity", "quoteOrderQty"}, NO, "quoteOrderQty"),
    ({"belowStopPrice": "", "belowTrailingDelta": "100"}, {"belowStopPrice", "belowTrailingDelta"}, NO,
     "belowStopPrice"),
    ({"orderId": "", "origClientOrderId": "a"}, {"orderId", "origClientOrderId"}, NO, "orderId"),
    ({"orderListId": "", "listClientOrderId": "a"}, {"orderListId", "listClientOrderId"}, NO, "orderListId"),
    ({"symbol": "BTCUSDT", "orderId": ""}, {"symbol", "orderId", "limit"}, {"symbol"}, "orderId"),  # allOrders
    # a partner sent as a WebSocket API request's JSON 0 or false is sent ("0", "false": client id "0")
    ({"orderId": "", "origClientOrderId": 0}, {"orderId", "origClientOrderId"}, NO, "orderId"),
    ({"orderId": "", "origClientOrderId": False}, {"orderId", "origClientOrderId"}, NO, "orderId"),
    ({"cancelOrderId": "", "cancelOrigClientOrderId": 0}, {"cancelOrderId", "cancelOrigClientOrderId"}, NO,
     "cancelOrderId"),
    ({"quantity": 0, "quoteOrderQty": ""}, {"quantity", "quoteOrderQty"}, NO, "quoteOrderQty"),
    # left to the operation: mandatory (-1102), a client order id (-1118 / -1119), a pair with neither sent
    ({"symbol": ""}, {"symbol"}, {"symbol"}, None),
    ({"newClientOrderId": ""}, {"newClientOrderId"}, NO, None),
    ({"orderId": "1", "origClientOrderId": ""}, {"orderId", "origClientOrderId"}, NO, None),
    ({"quantity": "", "quoteOrderQty": ""}, {"quantity", "quoteOrderQty"}, NO, None),
    ({"stopPrice": ""}, {"stopPrice", "trailingDelta"}, NO, None),
    ({"orderListId": ""}, {"orderListId", "origClientOrderId"}, NO, None),
    ({"symbol": "BTCUSDT", "limit": 0}, {"symbol", "limit"}, NO, None),
]


@pytest.mark.parametrize("params,known,mandatory,empty", EMPTY_CASES)
def test_a_parameter_sent_empty_is_never_taken_as_not_sent(params, known, mandatory, empty):
    if empty is None:
        P.check_none_empty(params, frozenset(known), frozenset(mandatory))
        return
    assert code_msg(P.check_none_empty, params, frozenset(known), frozenset(mandatory)) == \
        (-1105, f"Parameter '{empty}' was empty.")


def test_the_operations_answer_what_check_none_empty_leaves_to_them():
    both = "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!"
    assert code_msg(O.parse_new_order, market(quantity="", quoteOrderQty=""), RULES) == (-1102, both)
    assert code_msg(O.parse_new_order, limit(symbol=""), RULES) == (-1102, MISSING.format("symbol"))
    assert code_msg(O.parse_new_order, limit(newClientOrderId=""), RULES) == (-1118, "New client order ID was empty.")
    assert code_msg(P.parse_limit, {"limit": "0"})[0] == -1130  # (0 is not empty)


def test_limits():
    assert P.parse_limit({}, "limit", default=500, maximum=1000) == 500
    assert P.parse_limit({"limit": "20"}, default=500, maximum=1000) == 20
    assert P.parse_limit({"limit": "5000"}, default=500, maximum=1000) == 1000  # clamped
    assert code_msg(P.parse_limit, {"limit": "0"}) == (-1130, "Data sent for parameter 'limit' is not valid.")
    assert code_msg(P.parse_limit, {"limit": "ten"})[0] == -1100
    assert code_msg(P.parse_limit, {"limit": "-5"})[0] == -1100
    for n in (1, 5, 7, 10, 20, 50, 100, 500, 1000, 4999, 5000):  # any of 1-5000 (rest-api.md)
        assert Q.parse_depth_limit({"limit": str(n)}) == n
    assert Q.parse_depth_limit({}) == 100
    assert Q.parse_depth_limit({"limit": "6000"}) == 5000  # "only 5000 entries will be returned"
    assert code_msg(Q.parse_depth_limit, {"limit": "0"}) == (-1130, "Data sent for parameter 'limit' is not valid.")


@pytest.mark.parametrize("interval", ["1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h",
                                      "1d", "3d", "1w", "1M"])
def test_intervals(interval):
    assert Q.parse_interval({"interval": interval}) == interval


@pytest.mark.parametrize("bad", ["1", "2m", "1H", "1mo", "60s", " 1m"])
def test_bad_intervals(bad):
    assert code_msg(Q.parse_interval, {"interval": bad}) == (-1120, "Invalid interval.")


def test_interval_missing_and_ints():
    assert code_msg(Q.parse_interval, {}) == (-1102, MISSING.format("interval"))
    assert P.parse_int({"fromId": "0"}, "fromId") == 0
    assert P.parse_int({}, "fromId") is None
    assert code_msg(P.parse_int, {}, "orderId", required=True) == (-1102, MISSING.format("orderId"))
    assert code_msg(P.parse_int, {"startTime": "1.5"}, "startTime")[0] == -1100
    assert Q.parse_time_range({"startTime": "1", "endTime": "2"}) == (1, 2)
    assert Q.parse_time_range({}) == (None, None)
    assert code_msg(Q.parse_time_range, {"startTime": "3", "endTime": "2"})[0] == -1128


def test_non_string_values_are_api_errors():
    assert code_msg(O.parse_new_order, limit(price=1.5), RULES)[0] == -1100
    assert code_msg(P.parse_symbol, {"symbol": ["BTCUSDT"]}, RULES)[0] == -1100


def _outcome(parse, text: str, decimals: int):
    """A quantity parser's answer to `text`: its units, or its Binance error (code, message)."""
    try:
        return parse(text, "quantity", decimals)
    except ApiError as exc:
        return (exc.code, exc.msg)


@given(whole=st.text("0123456789", min_size=1, max_size=22), dot=st.booleans(),
       frac=st.text("0123456789", max_size=42), decimals=st.sampled_from([0, 2, 5, 8]))
@settings(max_examples=600, deadline=None)
def test_plain_decimals_read_by_integer_arithmetic_agree_with_the_general_path(whole, dot, frac, decimals):
    """decimal_units' fast path (digits[.digits]) gives what the Decimal path gives: the same units,
    or the same Binance error."""
    from spot_seda.binance.params import decimal_units, general_decimal_units

    text = whole + ("." + frac if dot else "")
    assert _outcome(decimal_units, text, decimals) == _outcome(general_decimal_units, text, decimals)


@given(text=st.text(alphabet="0123456789..٣²١+-eE _", max_size=30), decimals=st.sampled_from([0, 2, 8]))
@settings(max_examples=600, deadline=None)
def test_the_fast_path_takes_only_ascii_digits_and_one_dot(text, decimals):
    """Near misses of the plain form (other scripts' digits, signs, blanks, two dots, exponents)
    get what the Decimal path gives them: the same units, or the same Binance error."""
    from spot_seda.binance.params import decimal_units, general_decimal_units

    assert _outcome(decimal_units, text, decimals) == _outcome(general_decimal_units, text, decimals)


# ------------------------------------------------------- issue 14: no order parameter dropped


def test_pegged_orders_are_refused_not_placed_plain():
    base = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01",
            "price": "30000"}
    for name, value in (("pegPriceType", "PRIMARY_PEG"), ("pegOffsetValue", "1"), ("pegOffsetType", "PRICE_LEVEL")):
        assert code_msg(O.parse_new_order, {**base, name: value}, RULES) == \
            (-2010, "Pegged orders are not supported for this symbol.")


def test_strategy_id_and_type_are_checked_and_kept_for_the_answer():
    base = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01",
            "price": "30000"}
    cmd = O.parse_new_order({**base, "strategyId": "37", "strategyType": "1000000"}, RULES)
    assert (cmd.strategy_id, cmd.strategy_type) == (37, 1_000_000)
    assert (O.parse_new_order(base, RULES).strategy_id, O.parse_new_order(base, RULES).strategy_type) == (None, None)
    assert code_msg(O.parse_new_order, {**base, "strategyType": "999999"}, RULES) == (-1134, "strategyType was less than 1000000.")
    assert code_msg(O.parse_new_order, {**base, "strategyId": "x"}, RULES)[0] == -1100


def test_unknown_new_order_parameters_are_refused():
    known = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01",
             "price": "30000", "timestamp": "1", "recvWindow": "5000", "signature": "ab"}
    P.check_all_read(known, O.NEW_ORDER_PARAMS)
    assert code_msg(P.check_all_read, {**known, "quantitty": "1"}, O.NEW_ORDER_PARAMS) == \
        (-1104, "Not all sent parameters were read; read '9' parameter(s) but was sent '10'.")


def test_cancel_restrictions_values():
    assert O.parse_cancel_restrictions({}) == ""
    assert O.parse_cancel_restrictions({"cancelRestrictions": "ONLY_NEW"}) == "ONLY_NEW"
    assert O.parse_cancel_restrictions({"cancelRestrictions": "ONLY_PARTIALLY_FILLED"}) == "ONLY_PARTIALLY_FILLED"
    for bad in ("only_new", "ONLY_FILLED", "ONLY_NEW,ONLY_PARTIALLY_FILLED"):  # rest-api.md "Regarding cancelRestrictions"
        assert code_msg(O.parse_cancel_restrictions, {"cancelRestrictions": bad}) == (-1145, "Invalid cancelRestrictions")


def test_exchange_info_symbol_status():
    assert Q.parse_exchange_info_filter({"symbolStatus": "TRADING"}) == (True, True)
    assert Q.parse_exchange_info_filter({"symbolStatus": "HALT"}) == (False, True)
    for bad in ("FOO", "trading", "OPEN"):  # errors.md: -1122 INVALID_SYMBOLSTATUS
        assert code_msg(Q.parse_exchange_info_filter, {"symbolStatus": bad}) == (-1122, "Invalid symbolStatus.")


def test_rolling_ticker_window_sizes():
    assert Q.parse_window_size({}) == 86_400_000
    for text, ms in (("1m", 60_000), ("59m", 59 * 60_000), ("1h", 3_600_000), ("23h", 23 * 3_600_000),
                     ("1d", 86_400_000), ("7d", 7 * 86_400_000)):
        assert Q.parse_window_size({"windowSize": text}) == ms
    for bad in ("0m", "60m", "24h", "8d", "1d2h", "01m", "m", "1w", "1M", "１m", "-1m", "1.5h"):
        assert code_msg(Q.parse_window_size, {"windowSize": bad})[0] == -1100, bad


def test_history_windows_follow_binance():
    assert Q.parse_agg_trades_window({"fromId": "3"}) == (3, None, None)
    assert Q.parse_agg_trades_window({"startTime": "0", "endTime": str(3_600_000)}) == (None, 0, 3_600_000)
    assert Q.parse_agg_trades_window({"startTime": "0", "endTime": str(86_400_001)}) == (None, 0, 86_400_001)
    assert code_msg(Q.parse_agg_trades_window, {"fromId": "1", "endTime": "5"})[0] == -1128
    assert Q.parse_my_trades_window({"orderId": "4", "fromId": "2"}) == (4, 2, None, None)
    assert code_msg(Q.parse_my_trades_window, {"orderId": "4", "startTime": "2"})[0] == -1128
    assert code_msg(Q.parse_my_trades_window, {"startTime": "0", "endTime": str(86_400_001)})[0] == -1127
    assert Q.parse_day_window({"startTime": "0", "endTime": str(86_400_000)}) == (0, 86_400_000)
    assert code_msg(Q.parse_day_window, {"startTime": "0", "endTime": str(86_400_001)}) == (
        -1127, "More than 24 hours between startTime and endTime.")
    assert P.parse_bool({"omitZeroBalances": "TRUE"}, "omitZeroBalances") is True
    assert code_msg(P.parse_bool, {"omitZeroBalances": "1"}, "omitZeroBalances")[0] == -1100


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab=&%+.-_ 0129AFé~;")), max_size=40)
       | st.lists(st.tuples(st.text(max_size=8), st.text(max_size=8)), max_size=6).map(
           urlencode))
def test_query_pairs_are_parse_qsls_pairs(source):
    """The HTTP stage's query parser (its fast path: nothing to unquote) gives exactly what
    urllib.parse.parse_qsl(keep_blank_values=True) gives, for any query string."""
    assert query_pairs(source) == parse_qsl(source, keep_blank_values=True)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab=&%+.-_ 0129AFé~;")), max_size=40))
def test_unique_pairs_are_parse_qsls_map_or_1101(source):
    """The parameters as a map (the plain case read without a list of pairs): parse_qsl's pairs,
    or -1101 when a name comes twice."""
    pairs = parse_qsl(source, keep_blank_values=True)
    try:
        got = unique_pairs(source)
    except ApiError as exc:
        assert exc.code == -1101 and len(dict(pairs)) < len(pairs)
    else:
        assert got == dict(pairs) and len(got) == len(pairs)
