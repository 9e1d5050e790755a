"""Entities to Binance JSON: exact field names, exact 8-decimal strings, fees as the Ledger takes them."""

from __future__ import annotations

import json
from types import SimpleNamespace

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spot_seda.binance import marketviews as MV, views as V
from spot_seda.engine.ledger import Ledger
from spot_seda.model.summary import aggregate_trades, summarize
from spot_seda.model.enums import Side
from spot_seda.model.orders import Order
from spot_seda.model.symbols import SymbolRules, SymbolSpec

BTC = SymbolRules(SymbolSpec(symbol="BTCUSDT", base="BTC", quote="USDT", price_decimals=2, tick_size="0.01",
                             step_size="0.00001", min_qty="0.00001", max_qty="9000", min_notional="5",
                             maker_fee="0.001", taker_fee="0.002"))
ETH = SymbolRules(SymbolSpec(symbol="ETHBTC", base="ETH", quote="BTC", price_decimals=6, tick_size="0.000001",
                             step_size="0.01", min_qty="0.01", max_qty="100000", min_notional="0.0001"))

ORDER_FIELDS = ["symbol", "orderId", "orderListId", "clientOrderId", "price", "origQty", "executedQty",
                "cummulativeQuoteQty", "status", "timeInForce", "type", "side", "stopPrice", "icebergQty", "time",
                "updateTime", "isWorking", "workingTime", "origQuoteOrderQty", "selfTradePreventionMode"]
ACK_FIELDS = ["symbol", "orderId", "orderListId", "clientOrderId", "transactTime"]
RESULT_FIELDS = ACK_FIELDS + ["price", "origQty", "executedQty", "origQuoteOrderQty", "cummulativeQuoteQty", "status",
                              "timeInForce", "type", "side", "workingTime", "selfTradePreventionMode"]


def row(**over) -> dict:
    """An order by the change log's (and the History's) names."""
    o = {"order_id": 7, "symbol": "BTCUSDT", "account": 1, "client_order_id": "c7", "side": "BUY", "type": "LIMIT",
         "time_in_force": "GTC", "price": 3_000_001, "qty": 150_000, "quote_qty": 0, "stp": "NONE",
         "frozen_asset": "USDT", "frozen": 1, "status": "PARTIALLY_FILLED", "executed_qty": 50_000,
         "cum_quote_qty": 1_500_000_500, "time": 1000, "update_time": 1005, "working_time": 1001}
    o.update(over)
    return o


def as_order(fields: dict) -> Order:
    return Order.from_fields(fields, fields["order_id"], fields["time"])


def order(**over) -> Order:
    return as_order(row(**over))


def trade(**over) -> dict:
    t = {"symbol": "BTCUSDT", "trade_id": 11, "price": 3_000_001, "qty": 50_000, "quote_qty": 1_500_000_500,
         "buyer_order_id": 7, "seller_order_id": 5, "buyer_account": 1, "seller_account": 2, "buyer_is_maker": 0,
         "maker_order_id": 5, "taker_order_id": 7, "time": 1003}
    t.update(over)
    return t


def test_price_and_amount_text():
    assert V.price_text(BTC, 3_000_001) == "30000.01000000"
    assert V.price_text(ETH, 65_005) == "0.06500500"
    assert V.price_text(BTC, 0) == "0.00000000"
    assert V.amount_text(100_000) == "0.00100000"
    assert V.amount_text(2**63 - 1) == "92233720368.54775807"


def test_order_json():
    j = V.order_json(order(), BTC)
    assert list(j) == ORDER_FIELDS
    assert j == {
        "symbol": "BTCUSDT", "orderId": 7, "orderListId": -1, "clientOrderId": "c7", "price": "30000.01000000",
        "origQty": "0.00150000", "executedQty": "0.00050000", "cummulativeQuoteQty": "15.00000500",
        "status": "PARTIALLY_FILLED", "timeInForce": "GTC", "type": "LIMIT", "side": "BUY", "stopPrice": "0.00000000",
        "icebergQty": "0.00000000", "time": 1000, "updateTime": 1005, "isWorking": True, "workingTime": 1001,
        "origQuoteOrderQty": "0.00000000", "selfTradePreventionMode": "NONE",
    }
    assert V.order_json(order(working_time=-1), BTC)["workingTime"] == 1000  # not yet reported by Match
    assert V.order_json(order(status="EXPIRED_IN_MATCH", stp="EXPIRE_TAKER"), BTC)["status"] == "EXPIRED_IN_MATCH"
    # an order without its side or type is a bug, never shown as a BUY or a LIMIT (History shows no
    # stub rows: history/queries.py CREATED)
    for missing in ("side", "type"):
        with pytest.raises(KeyError):
            V.order_json(as_order({k: v for k, v in row().items() if k != missing}), BTC)


def test_stop_orders_show_their_stop_price_and_work_from_their_trigger():
    pending_row = row(type="STOP_LOSS_LIMIT", stop_price=2_950_000, status="NEW", executed_qty=0, cum_quote_qty=0,
                      working_time=-1)
    pending = as_order(pending_row)
    j = V.order_json(pending, BTC)
    assert list(j) == ORDER_FIELDS
    assert (j["stopPrice"], j["isWorking"], j["workingTime"], j["type"]) == ("29500.00000000", False, -1, "STOP_LOSS_LIMIT")
    assert V.order_json(as_order(pending_row | {"working_time": None}), BTC)["workingTime"] == -1  # a History row: NULL
    assert V.order_json(as_order(pending_row | {"status": "CANCELED"}), BTC)["isWorking"] is False  # canceled before its trigger
    triggered = V.order_json(as_order(pending_row | {"working_time": 1004}), BTC)
    assert (triggered["isWorking"], triggered["workingTime"]) == (True, 1004)
    # a new order's and a cancel's answers carry stopPrice for stop orders only (Binance's conditional field)
    result = V.order_result(pending, BTC)
    assert list(result) == RESULT_FIELDS[:-2] + ["stopPrice"] + RESULT_FIELDS[-2:]
    assert (result["stopPrice"], result["workingTime"]) == ("29500.00000000", -1)
    assert "stopPrice" not in V.order_result(order(), BTC) and "stopPrice" not in V.cancel_json(order(), BTC, "x", 1)
    assert V.cancel_json(pending, BTC, "x", 1)["stopPrice"] == "29500.00000000"
    # a STOP_LOSS buy by quantity holds a quote budget internally (all free quote): not shown
    market = V.order_json(order(type="STOP_LOSS", price=0, qty=100_000, quote_qty=10**12, stop_price=3_100_000,
                                working_time=-1), BTC)
    assert (market["origQty"], market["origQuoteOrderQty"], market["price"]) == ("0.00100000", "0.00000000", "0.00000000")


def test_trailing_stops_show_their_delta_and_when_they_started_tracking():
    """Binance's conditional trailingDelta / trailingTime: trailing stops only, -1 until they track
    (a History row's NULL too), in every order view and answer; the executionReport's "d" / "D"."""
    from spot_seda.binance.streams import execution_report

    waiting_row = row(type="STOP_LOSS_LIMIT", stop_price=2_950_000, trailing_delta=250, status="NEW", executed_qty=0,
                      cum_quote_qty=0, working_time=-1)
    waiting, tracking = as_order(waiting_row), as_order(waiting_row | {"trailing_time": 1003})
    for view in (V.order_json(waiting, BTC), V.order_result(waiting, BTC), V.cancel_json(waiting, BTC, "x", 1)):
        assert (view["trailingDelta"], view["trailingTime"]) == (250, -1)
    assert V.order_json(as_order(waiting_row | {"trailing_time": None}), BTC)["trailingTime"] == -1
    j = V.order_json(tracking, BTC)
    assert list(j) == ORDER_FIELDS + ["trailingDelta", "trailingTime"]
    assert (j["trailingDelta"], j["trailingTime"], j["isWorking"], j["stopPrice"]) == (250, 1003, False, "29500.00000000")
    plain = order(type="STOP_LOSS_LIMIT", stop_price=2_950_000, working_time=-1)
    for view in (V.order_json(plain, BTC), V.order_result(plain, BTC), V.order_json(order(), BTC)):
        assert "trailingDelta" not in view and "trailingTime" not in view
    report = execution_report(BTC, as_order(waiting_row | {"trailing_time": 1003, "order_id": 1, "time": 1000}), "NEW",
                              1003, 1)
    assert (report["d"], report["D"]) == (250, 1003)
    assert "d" not in execution_report(BTC, order(type="STOP_LOSS_LIMIT", stop_price=2_950_000, working_time=-1,
                                                  order_id=2, time=1000), "NEW", 1003, 1)


def test_a_canceled_leg_names_the_cancel_its_answer_named_and_an_amend_its_prevented_quantity():
    """A canceled order's report: "c" the cancel's client id (Match gives every order one cancel ends
    that cancel's, an order list's other legs too), else cancel-<id>; "C" the order's. An amend
    answers with what self-trade prevention took off the order (preventedQty)."""
    from spot_seda.binance.orderops import amend_json
    from spot_seda.binance.streams import execution_report

    leg = order(order_id=49, client_order_id="auto-49", status="CANCELED")
    report = execution_report(BTC, leg, "CANCELED", 1003, 1)
    assert (report["c"], report["C"]) == ("cancel-49", "auto-49")
    leg.cancel_client_order_id = "mine"  # a cancel that named itself
    assert execution_report(BTC, leg, "CANCELED", 1003, 1)["c"] == "mine"
    prevented = order(prevented_qty=300_000, qty=1_000_000)
    assert amend_json(prevented, BTC, "old", 1003, execution_id=7)["amendedOrder"]["preventedQty"] == "0.00300000"
    assert amend_json(order(), BTC, "old", 1003, execution_id=7)["amendedOrder"]["preventedQty"] == "0.00000000"


def test_an_otoco_lists_status_names_its_contingency_oto():
    from spot_seda.binance.streams import list_status_event

    event = list_status_event("BTCUSDT", 3, "l", "EXEC_STARTED", "EXECUTING", 9, [(1, "a"), (2, "b")], "OTOCO")
    assert event["c"] == "OTO"  # enums.md: OCO and OTO only, as REST shows it
    assert list_status_event("BTCUSDT", 3, "l", "EXEC_STARTED", "EXECUTING", 9, [], "OCO")["c"] == "OCO"


def test_market_order_quantities():
    # MARKET BUY by quantity: the internal quote budget is not shown
    j = V.order_json(order(type="MARKET", price=0, qty=100_000, quote_qty=999_999_999_999, status="FILLED",
                           executed_qty=100_000), BTC)
    assert (j["origQty"], j["origQuoteOrderQty"], j["price"]) == ("0.00100000", "0.00000000", "0.00000000")
    # MARKET BUY by quoteOrderQty
    j = V.order_json(order(type="MARKET", price=0, qty=0, quote_qty=10_000_000_000, executed_qty=33_000), BTC)
    assert (j["origQty"], j["origQuoteOrderQty"]) == ("0.00033000", "100.00000000")
    # MARKET SELL by quoteOrderQty: the held base (the whole free balance) is not shown as origQty
    j = V.order_json(order(type="MARKET", side="SELL", price=0, qty=7 * 10**8, quote_qty=10_000_000_000,
                           executed_qty=33_000), BTC)
    assert (j["origQty"], j["origQuoteOrderQty"]) == ("0.00033000", "100.00000000")
    # MARKET SELL by quantity
    j = V.order_json(order(type="MARKET", side="SELL", price=0, qty=200_000, quote_qty=0), BTC)
    assert (j["origQty"], j["origQuoteOrderQty"]) == ("0.00200000", "0.00000000")


def test_ack_result_full():
    o = order(status="FILLED", executed_qty=150_000)
    assert V.order_ack(o) == {"symbol": "BTCUSDT", "orderId": 7, "orderListId": -1, "clientOrderId": "c7", "transactTime": 1000}
    r = V.order_result(o, BTC)
    assert list(r) == RESULT_FIELDS
    f = V.order_full(o, BTC, [trade(), trade(trade_id=12, buyer_is_maker=1)], 1)
    assert list(f) == RESULT_FIELDS + ["fills"]
    assert f["fills"] == [
        {"price": "30000.01000000", "qty": "0.00050000", "commission": "0.00000100", "commissionAsset": "BTC", "tradeId": 11},
        {"price": "30000.01000000", "qty": "0.00050000", "commission": "0.00000050", "commissionAsset": "BTC", "tradeId": 12},
    ]
    sell = V.order_full(order(side="SELL", account=2), BTC, [trade()], None)
    assert sell["fills"][0]["commissionAsset"] == "USDT"
    assert sell["fills"][0]["commission"] == "0.01500000"  # maker 0.1% of 15.000005 USDT, rounded down
    for body in (V.order_ack(o), r, f):
        assert "code" not in body


def test_fee_of():
    t = trade()  # buyer (account 1) took: taker 0.2% of the base it receives; seller (2) maker 0.1% of quote
    assert V.fee_of(BTC, t, 1) == (100, "BTC")
    assert V.fee_of(BTC, t, 2) == (1_500_000, "USDT")
    assert V.fee_of(BTC, trade(buyer_is_maker=True), 1) == (50, "BTC")
    assert V.fee_of(BTC, trade(buyer_is_maker=True), 2) == (3_000_001, "USDT")
    assert V.fee_of(BTC, trade(qty=499), 1) == (0, "BTC")  # rounded down
    self_trade = trade(seller_account=1)
    assert V.fee_of(BTC, self_trade, 1) == (100, "BTC")
    assert V.fee_of(BTC, self_trade, 1, is_buyer=False) == (1_500_000, "USDT")


@settings(max_examples=200, deadline=None)
@given(qty=st.integers(1, 10**10).map(lambda n: n * 100), price=st.integers(1, 10**8), buyer_is_maker=st.booleans(),
       maker=st.integers(0, 999_999), taker=st.integers(0, 999_999))
def test_fee_matches_the_ledger(qty, price, buyer_is_maker, maker, taker):
    rules = SymbolRules(SymbolSpec(symbol="BTCUSDT", base="BTC", quote="USDT", price_decimals=2, tick_size="0.01",
                                   step_size="0.00000100", min_qty="0.000001", max_qty="9000",
                                   maker_fee=f"{maker / 1e6:.6f}", taker_fee=f"{taker / 1e6:.6f}"))
    quote = rules.notional(price, qty)
    ledger = Ledger(fee_account=0)
    ledger.deposit(1, "USDT", quote)
    ledger.deposit(2, "BTC", qty)
    ledger.freeze(101, 1, "USDT", quote)
    ledger.freeze(102, 2, "BTC", qty)
    if buyer_is_maker:
        ids = dict(maker_order_id=101, maker_account=1, taker_order_id=102, taker_account=2, taker_side=Side.SELL)
    else:
        ids = dict(maker_order_id=102, maker_account=2, taker_order_id=101, taker_account=1, taker_side=Side.BUY)
    code, _ = ledger.settle_trade(rules, SimpleNamespace(qty=qty, quote_qty=quote, **ids))
    assert code.name == "OK"
    fees = ledger.balances(0)
    t = trade(qty=qty, price=price, quote_qty=quote, buyer_is_maker=buyer_is_maker)
    buyer_fee, buyer_asset = V.fee_of(rules, t, 1)
    seller_fee, seller_asset = V.fee_of(rules, t, 2)
    assert fees.get("BTC", (0, 0))[0] == buyer_fee and buyer_asset == "BTC"
    assert fees.get("USDT", (0, 0))[0] == seller_fee and seller_asset == "USDT"
    assert ledger.balances(1)["BTC"][0] == qty - buyer_fee
    assert ledger.balances(2)["USDT"][0] == quote - seller_fee


def test_my_trades():
    t = trade()
    mine = V.my_trade_json(t, 1, BTC)
    assert list(mine) == ["symbol", "id", "orderId", "orderListId", "price", "qty", "quoteQty", "commission",
                          "commissionAsset", "time", "isBuyer", "isMaker", "isBestMatch"]
    assert mine == {"symbol": "BTCUSDT", "id": 11, "orderId": 7, "orderListId": -1, "price": "30000.01000000",
                    "qty": "0.00050000", "quoteQty": "15.00000500", "commission": "0.00000100",
                    "commissionAsset": "BTC", "time": 1003, "isBuyer": True, "isMaker": False, "isBestMatch": True}
    theirs = V.my_trade_json(t, 2, BTC)
    assert (theirs["orderId"], theirs["isBuyer"], theirs["isMaker"], theirs["commissionAsset"]) == (5, False, True, "USDT")
    rows = V.my_trades_json([t, trade(trade_id=12, seller_account=1, seller_order_id=8)], 1, BTC)
    assert [(r["id"], r["isBuyer"], r["orderId"]) for r in rows] == [(11, True, 7), (12, True, 7), (12, False, 8)]
    # a self-trade's two sides: each its own order's list (the history's order_list_ids)
    rows = V.my_trades_json([trade(trade_id=12, seller_account=1, seller_order_id=8)], 1, BTC, {8: 3})
    assert [(r["orderId"], r["orderListId"]) for r in rows] == [(7, -1), (8, 3)]


def test_public_trades_and_agg_trades():
    t = trade(buyer_is_maker=1)
    assert MV.trade_json(t, BTC) == {"id": 11, "price": "30000.01000000", "qty": "0.00050000", "quoteQty": "15.00000500",
                                    "time": 1003, "isBuyerMaker": True, "isBestMatch": True}
    assert MV.agg_trade_json([t], BTC) == {"a": 11, "p": "30000.01000000", "q": "0.00050000", "f": 11, "l": 11,
                                          "T": 1003, "m": True, "M": True}
    trades = [trade(trade_id=1), trade(trade_id=2), trade(trade_id=3, price=3_000_002),
              trade(trade_id=4, price=3_000_002, taker_order_id=99), trade(trade_id=6, price=3_000_002, taker_order_id=99)]
    rows = MV.agg_trades_json(aggregate_trades(trades), BTC)
    # Binance's aggregate: consecutive fills of one taker at one price (3 is another price; 4 another
    # taker; 6 does not follow 4), numbered by its first trade's id
    assert [(r["a"], r["f"], r["l"], r["q"], r["p"]) for r in rows] == [
        (1, 1, 2, "0.00100000", "30000.01000000"), (3, 3, 3, "0.00050000", "30000.02000000"),
        (4, 4, 4, "0.00050000", "30000.02000000"), (6, 6, 6, "0.00050000", "30000.02000000")]


def test_kline_row():
    k = {"symbol": "BTCUSDT", "interval": "1m", "open_time": 60_000, "close_time": 119_999, "open": 100, "high": 250,
         "low": 99, "close": 200, "volume": 300_000, "quote_volume": 450, "trades": 3, "taker_buy_volume": 100_000,
         "taker_buy_quote_volume": 150, "closed": 0}
    assert MV.kline_row(k, BTC) == [60_000, "1.00000000", "2.50000000", "0.99000000", "2.00000000", "0.00300000", 119_999,
                                   "0.00000450", 3, "0.00100000", "0.00000150", "0"]


def test_ratios_are_rounded_as_binance_shows_them():
    # rest-api.md's ticker examples: -94.99999800 on an open of 98.99999800 is "-95.960" (-95.95959...),
    # a quoteVolume of 485217905.04210480 over 18495.35066000 is "26234.58803036" (...0357...)
    assert V.change_percent_text(-9_499_999_800, 9_899_999_800) == "-95.960"
    assert V.average_price_text(48_521_790_504_210_480, 1_849_535_066_000) == "26234.58803036"
    assert V.change_percent_text(-8, 9) == "-88.889"  # (-88.888... cut off would show -88.888)
    assert V.change_percent_text(8, 9) == "88.889"
    assert V.change_percent_text(1, 200_000) == "0.001"  # 0.0005: a half, away from zero
    assert V.change_percent_text(-1, 200_000) == "-0.001"
    assert V.change_percent_text(1, 200_001) == "0.000"
    assert V.change_percent_text(5, 0) == "0.000"
    assert V.average_price_text(2, 3) == "0.66666667"
    assert V.average_price_text(5, 0) == "0.00000000"


def test_depth_and_book_ticker():
    d = MV.depth_json(BTC, 42, [(3_000_001, 5), (3_000_000, 7)], [(3_000_100, 100_000_000)])
    assert d == {"lastUpdateId": 42, "bids": [["30000.01000000", "0.00000005"], ["30000.00000000", "0.00000007"]],
                 "asks": [["30001.00000000", "1.00000000"]]}
    assert MV.book_ticker_json(BTC, (100, 1), None) == {"symbol": "BTCUSDT", "bidPrice": "1.00000000", "bidQty": "0.00000001",
                                                        "askPrice": "0.00000000", "askQty": "0.00000000"}


def test_tickers_and_avg_price():
    trades = [trade(trade_id=2, price=20_000, qty=10**8, quote_qty=200 * 10**8),
              trade(trade_id=1, price=10_000, qty=10**8, quote_qty=100 * 10**8),
              trade(trade_id=3, price=15_000, qty=2 * 10**8, quote_qty=300 * 10**8)]
    j = MV.ticker_24hr_json(BTC, summarize(trades), ((14_900, 10**8), (15_100, 2 * 10**8)), now=MV.DAY_MS + 5,
                           prev_close=9_000)
    assert j["symbol"] == "BTCUSDT"
    assert (j["openPrice"], j["highPrice"], j["lowPrice"], j["lastPrice"]) == (
        "100.00000000", "200.00000000", "100.00000000", "150.00000000")
    assert (j["priceChange"], j["priceChangePercent"], j["weightedAvgPrice"]) == ("50.00000000", "50.000", "150.00000000")
    assert (j["volume"], j["quoteVolume"], j["lastQty"]) == ("4.00000000", "600.00000000", "2.00000000")
    assert (j["bidPrice"], j["askQty"], j["firstId"], j["lastId"], j["count"], j["openTime"], j["closeTime"]) == (
        "149.00000000", "2.00000000", 1, 3, 3, 5, MV.DAY_MS + 5)
    assert j["prevClosePrice"] == "90.00000000"
    down = MV.ticker_24hr_json(BTC, summarize([trade(trade_id=1, price=300), trade(trade_id=2, price=200)]), (None, None), 0)
    assert (down["priceChange"], down["priceChangePercent"]) == ("-1.00000000", "-33.333")
    empty = MV.ticker_24hr_json(BTC, summarize([]), (None, None), 10)
    assert empty["prevClosePrice"] == "0.00000000"
    assert (empty["count"], empty["firstId"], empty["lastId"], empty["lastPrice"], empty["priceChangePercent"]) == (
        0, -1, -1, "0.00000000", "0.000")
    assert MV.ticker_price_json(BTC, trades[0]) == {"symbol": "BTCUSDT", "price": "200.00000000"}
    assert MV.ticker_price_json(BTC, None) == {"symbol": "BTCUSDT", "price": "0.00000000"}
    assert MV.avg_price_json(BTC, trades, 9) == {"mins": 5, "price": "150.00000000", "closeTime": 1003}
    assert MV.avg_price_json(BTC, [], 9) == {"mins": 5, "price": "0.00000000", "closeTime": 9}
    assert MV.avg_price_json(BTC, [], 9, trades[1])["price"] == "100.00000000"


def test_exchange_info():
    info = MV.exchange_info_json({"BTCUSDT": BTC, "ETHBTC": ETH}, 123)
    assert list(info) == ["timezone", "serverTime", "rateLimits", "exchangeFilters", "symbols"]
    assert (info["timezone"], info["serverTime"]) == ("UTC", 123)
    btc, eth = info["symbols"]
    assert (btc["symbol"], btc["status"], btc["baseAsset"], btc["quoteAsset"]) == ("BTCUSDT", "TRADING", "BTC", "USDT")
    assert btc["orderTypes"] == ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT",
                                 "TAKE_PROFIT_LIMIT"]
    assert (btc["icebergAllowed"], btc["ocoAllowed"], btc["quoteOrderQtyMarketAllowed"], btc["isSpotTradingAllowed"]) == (
        False, True, True, True)
    assert (btc["otoAllowed"], btc["opoAllowed"]) == (True, False)  # (no OPO lists)
    assert list(btc)[list(btc).index("icebergAllowed"):list(btc).index("filters")] == [  # the docs' example's order
        "icebergAllowed", "ocoAllowed", "otoAllowed", "opoAllowed", "quoteOrderQtyMarketAllowed", "allowTrailingStop",
        "cancelReplaceAllowed", "amendAllowed", "pegInstructionsAllowed", "isSpotTradingAllowed",
        "isMarginTradingAllowed"]
    assert (btc["baseAssetPrecision"], btc["quotePrecision"], btc["quoteAssetPrecision"]) == (8, 8, 8)
    assert btc["defaultSelfTradePreventionMode"] == "EXPIRE_MAKER"  # as Binance ships its symbols
    strict = SymbolRules(msgspec.structs.replace(BTC.spec, default_stp="EXPIRE_BOTH"))
    assert MV.exchange_info_json({"BTCUSDT": strict}, 1)["symbols"][0]["defaultSelfTradePreventionMode"] == "EXPIRE_BOTH"
    assert btc["allowedSelfTradePreventionModes"] == ["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH", "DECREMENT"]
    assert btc["permissionSets"] == [["SPOT"]]
    price, lot, market_lot, notional, max_orders, max_algo, trailing = btc["filters"]
    assert price == {"filterType": "PRICE_FILTER", "minPrice": "0.01000000", "maxPrice": "92233720368.54000000",
                     "tickSize": "0.01000000"}
    assert lot == {"filterType": "LOT_SIZE", "minQty": "0.00001000", "maxQty": "9000.00000000", "stepSize": "0.00001000"}
    assert notional == {"filterType": "NOTIONAL", "minNotional": "5.00000000", "applyMinToMarket": True,
                        "maxNotional": "92233720368.54775807", "applyMaxToMarket": False, "avgPriceMins": 5}
    assert market_lot == {"filterType": "MARKET_LOT_SIZE", "minQty": "0.00001000", "maxQty": "9000.00000000",
                          "stepSize": "0.00001000"}
    assert (max_orders, max_algo) == ({"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
                                      {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5})
    assert btc["allowTrailingStop"] is True
    assert trailing == {"filterType": "TRAILING_DELTA", "minTrailingAboveDelta": 10, "maxTrailingAboveDelta": 2000,
                        "minTrailingBelowDelta": 10, "maxTrailingBelowDelta": 2000}  # Binance's defaults
    small = SymbolRules(msgspec.structs.replace(BTC.spec, market_max_qty="10", max_num_orders=3))
    filters = MV.exchange_info_json({"BTCUSDT": small}, 1)["symbols"][0]["filters"]
    assert (filters[2]["maxQty"], filters[4]["maxNumOrders"]) == ("10.00000000", 3)
    assert eth["filters"][0]["tickSize"] == "0.00000100"
    json.dumps(info)


def test_account_json():
    j = V.account_json(3, {"USDT": (10**8, 5), "BTC": (0, 0)}, BTC, 77)
    assert (j["makerCommission"], j["takerCommission"], j["commissionRates"]["maker"], j["commissionRates"]["taker"]) == (
        10, 20, "0.00100000", "0.00200000")
    assert j["balances"] == [{"asset": "BTC", "free": "0.00000000", "locked": "0.00000000"},
                             {"asset": "USDT", "free": "1.00000000", "locked": "0.00000005"}]
    assert (j["accountType"], j["uid"], j["updateTime"], j["canTrade"], j["permissions"]) == ("SPOT", 3, 77, True, ["SPOT"])
    assert [b["asset"] for b in V.account_json(3, {"USDT": (1, 0), "BTC": (0, 0)}, omit_zero_balances=True)["balances"]] == ["USDT"]
    assert V.balance_json("BTC", 1, 2) == {"asset": "BTC", "free": "0.00000001", "locked": "0.00000002"}
    assert V.listen_key_json("k") == {"listenKey": "k"}
    assert "code" not in j
