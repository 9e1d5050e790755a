"""The rest of binance-sdk-spot against a real node, as strictly as tests/node/test_binance_sdk.py
(whose helpers, `strict_parsing` and `strict_events` this module uses): every REST and WebSocket API
method the node serves that that module does not call (market data: historicalTrades, the tickers for
a list of symbols FULL and MINI, ticker/tradingDay, trades.recent / historical / aggregate, klines,
uiKlines, avgPrice, ticker.*; orders: order test with and without computeCommissionRates, amend
keepPriority, cancelReplace, openOrders.cancelAll, OCO (both endpoints), OTO, OTOCO, orderList
status / cancel, open and all order lists, myTrades by orderId / fromId / time, allOrders from an
orderId and in a window; account: commission, myFilters, the unfilled order count), every user data
event (balanceUpdate, outboundAccountPosition, executionReport NEW / TRADE / CANCELED / EXPIRED /
REPLACED / TRADE_PREVENTION, listStatus, eventStreamTerminated) on the WebSocket API and a listenKey
alike, the market streams beyond trade and diff depth; and, once per method, the refusal of every SDK
method the node does not serve (README). The node runs with Binance's rate limits, so the answers
that carry them (rateLimits, the unfilled order count) carry some.

SDK bugs worked around here: the WebSocket API's MyFiltersResponse lacks the answer's envelope (as
its ExchangeInfoResponse); its klines / uiKlines candles' from_dict raises on every answer."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal as D

import aiohttp
import pytest
from binance_common.configuration import ConfigurationWebSocketAPI, ConfigurationWebSocketStreams
from binance_common.utils import send_request
from binance_common.errors import NotFoundError
from binance_sdk_spot.rest_api import models as rest_models
from binance_sdk_spot.spot import Spot
from binance_sdk_spot.websocket_api import models as ws_models
from binance_sdk_spot.websocket_streams import models as stream_models

from tests.node.conftest import ADMIN_TOKEN, serving_node
from tests.node.test_binance_sdk import (  # noqa: F401 (strict_events, strict_parsing: autouse, here too)
    BTC, ETH, balances, eventually, extras, is_report, items, new_account, one, parsed, rest, strict_events,
    strict_parsing, until, ws_api_url, ws_raw,
)

pytestmark = pytest.mark.filterwarnings("ignore:parameter 'timeout' of type 'float' is deprecated:DeprecationWarning")


RATE_LIMITS = """
[rate_limits]
enabled = true
request_weight = [{interval = "MINUTE", interval_num = 1, limit = 6000}]
orders = [{interval = "SECOND", interval_num = 10, limit = 100}, {interval = "DAY", interval_num = 1, limit = 200000}]
"""


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    # Binance's rate limits on (configs/default.toml's), so the answers that carry them carry some
    with serving_node(tmp_path_factory.mktemp("binance_sdk_sweep"), extra=RATE_LIMITS) as proc:
        yield proc



def ws_api(node, client=None):
    keys = {} if client is None else {"api_key": client.api_key, "api_secret": client.secret}
    return Spot(config_ws_api=ConfigurationWebSocketAPI(stream_url=ws_api_url(node), **keys)).websocket_api


def plain(model) -> dict:
    """A model's fields as the node sent them (REST's and the WebSocket API's models of one answer
    differ in whether to_dict() shows an empty additional_properties)."""
    return {k: v for k, v in model.to_dict().items() if k != "additional_properties"}


def result(answer, model: type):
    """A WebSocket API answer's result, the answer parsed strictly into the SDK's `model` (for the
    tickers, a oneOf of the envelopes for one symbol and for several: the one it chose)."""
    data = parsed(answer, model)
    if "one_of_schemas" in type(data).model_fields:
        data = data.actual_instance
    return data.result


def test_market_data_over_rest_and_the_websocket_api(node):
    maker = new_account(node, ETH="10", USDT="10000")
    taker = new_account(node, USDT="10000")
    rm, rt, public = rest(node, maker), rest(node, taker), rest(node)
    for side, qty, price in (("SELL", "1", "2001"), ("SELL", "2", "2002"), ("BUY", "1", "1999")):
        rm.new_order(symbol=ETH, side=side, type="LIMIT", time_in_force="GTC", quantity=D(qty), price=D(price))
    first = parsed(rt.new_order(symbol=ETH, side="BUY", type="MARKET", quantity=D("0.5")), rest_models.NewOrderResponse)
    second = parsed(rt.new_order(symbol=ETH, side="BUY", type="LIMIT", time_in_force="IOC", quantity=D("0.7"),
                                 price=D(2002)), rest_models.NewOrderResponse)
    fills = first.fills + second.fills
    assert [(D(f.price), D(f.qty)) for f in fills] == [(D(2001), D("0.5")), (D(2001), D("0.5")), (D(2002), D("0.2"))]
    ids = [f.trade_id for f in fills]
    try:
        # historicalTrades (the API key's) pages by fromId
        every = items(rt.historical_trades(symbol=ETH), rest_models.HistoricalTradesResponse)
        assert [(t.id, D(t.price), D(t.qty), t.is_buyer_maker) for t in every] == \
            [(i, D(f.price), D(f.qty), False) for i, f in zip(ids, fills)]
        later = items(rt.historical_trades(symbol=ETH, from_id=ids[1], limit=1), rest_models.HistoricalTradesResponse)
        assert [t.id for t in later] == [ids[1]]

        # the tickers for a list of symbols, FULL and MINI: the ETH trades' statistics, none for BTC
        stats = (D(2001), D(2002), D(2001), D(2002), D("1.2"), D("2401.4"), ids[0], ids[-1], 3)
        nothing = (D(0), D(0), D(0), D(0), D(0), D(0), -1, -1, 0)

        def figures(t) -> tuple:
            return (D(t.open_price), D(t.high_price), D(t.low_price), D(t.last_price), D(t.volume), D(t.quote_volume),
                    t.first_id, t.last_id, t.count)

        def full(t) -> tuple:  # FULL's fields beyond MINI's
            return D(t.price_change), D(t.price_change_percent), D(t.weighted_avg_price)
        eth_full = (D(1), D("0.05"), D("2001.16666667"))

        day = one(parsed(public.ticker24hr(symbols=[ETH, BTC], type="MINI"), rest_models.Ticker24hrResponse))
        assert [(t.symbol, figures(t)) for t in day] == [(ETH, stats), (BTC, nothing)]
        assert {t.price_change for t in day} == {None} and day[0].close_time - day[0].open_time == 24 * 3600_000
        day_full = one(parsed(public.ticker24hr(symbols=[ETH, BTC]), rest_models.Ticker24hrResponse))
        assert [figures(t) for t in day_full] == [stats, nothing] and full(day_full[0]) == eth_full
        assert (D(day_full[0].last_qty), D(day_full[0].bid_price), D(day_full[0].ask_price), D(day_full[0].ask_qty)) == \
            (D("0.2"), D(1999), D(2002), D("1.8"))
        today = one(parsed(public.ticker_trading_day(symbol=ETH), rest_models.TickerTradingDayResponse))
        assert (today.symbol, figures(today), full(today)) == (ETH, stats, eth_full)
        # the trading day: the UTC day of the trades
        assert (today.open_time % 86_400_000, today.close_time - today.open_time) == (0, 86_400_000 - 1)
        assert today.open_time <= fills_time(public, ids[-1]) <= today.close_time
        days = one(parsed(public.ticker_trading_day(symbols=[ETH, BTC], type="MINI"), rest_models.TickerTradingDayResponse))
        assert [(t.symbol, figures(t), t.price_change) for t in days] == [(ETH, stats, None), (BTC, nothing, None)]
        prices = one(parsed(public.ticker_price(symbols=[ETH, BTC]), rest_models.TickerPriceResponse))
        assert [(t.symbol, D(t.price)) for t in prices] == [(ETH, D(2002)), (BTC, D(0))]
        books = one(parsed(public.ticker_book_ticker(symbols=[ETH, BTC]), rest_models.TickerBookTickerResponse))
        assert [(t.symbol, D(t.bid_price), D(t.bid_qty), D(t.ask_price), D(t.ask_qty)) for t in books] == \
            [(ETH, D(1999), D(1), D(2002), D("1.8")), (BTC, D(0), D(0), D(0), D(0))]
        windows = one(parsed(public.ticker(symbols=[ETH, BTC], window_size="1d", type="MINI"), rest_models.TickerResponse))
        assert [(t.symbol, figures(t), t.price_change) for t in windows] == [(ETH, stats, None), (BTC, nothing, None)]
        assert windows[0].open_time % 60_000 == 0  # (a rolling window opens on the minute)
        windows = one(parsed(public.ticker(symbols=[ETH, BTC], window_size="2h"), rest_models.TickerResponse))
        assert [(figures(t)) for t in windows] == [stats, nothing] and full(windows[0]) == eth_full
        candles = public.klines(symbol=ETH, interval="1m").data()
        rest_answers = {
            "historical": [plain(t) for t in every[1:]], "aggregate": items(public.agg_trades(symbol=ETH),
                                                                              rest_models.AggTradesResponse),
            "avg": parsed(public.avg_price(symbol=ETH), rest_models.AvgPriceResponse),
        }
        assert (rest_answers["avg"].mins, D(rest_answers["avg"].price)) == (5, D("2001.16666667"))

        async def over_the_websocket_api():
            """The same reads over the WebSocket API: the same answers as REST's."""
            connection = await ws_api(node, taker).create_connection()
            try:
                recent = result(await connection.trades_recent(symbol=ETH, limit=2), ws_models.TradesRecentResponse)
                assert [plain(t) for t in recent] == rest_answers["historical"]
                historical = result(await connection.trades_historical(symbol=ETH, from_id=ids[1]),
                                    ws_models.TradesHistoricalResponse)
                assert [plain(t) for t in historical] == rest_answers["historical"]
                aggregate = result(await connection.trades_aggregate(symbol=ETH), ws_models.TradesAggregateResponse)
                assert [plain(a) for a in aggregate] == [plain(a) for a in rest_answers["aggregate"]]
                assert [(a.f, a.l, D(a.p), D(a.q)) for a in aggregate] == [(i, i, D(f.price), D(f.qty)) for i, f in zip(ids, fills)]
                window = result(await connection.trades_aggregate(symbol=ETH, from_id=ids[2], limit=5),
                                ws_models.TradesAggregateResponse)
                assert [a.f for a in window] == [ids[2]]
                timed = result(await connection.trades_aggregate(symbol=ETH, start_time=aggregate[0].T,
                                                                 end_time=aggregate[0].T), ws_models.TradesAggregateResponse)
                assert [a.f for a in timed] == [a.f for a in aggregate if a.T == aggregate[0].T]
                # SDK bug: the candle's items' from_dict (KlinesResponseResultInnerInner, a oneOf of int and
                # str) raises on every candle (`int.is_array()`), and binance-common falls back, silently, to
                # pydantic's model_validate: that parse is checked, and the answer as sent
                for call, model in ((connection.klines, ws_models.KlinesResponse),
                                    (connection.ui_klines, ws_models.UiKlinesResponse)):
                    answer = await call(symbol=ETH, interval="1m")
                    data = answer.data()
                    assert isinstance(data, model) and not data.additional_properties and data.status == 200
                    assert data.result == candles
                    assert ws_raw(answer)["result"] == candles
                    with pytest.raises(AttributeError, match="is_array"):
                        model.from_dict(ws_raw(answer))
                (candle,) = candles
                assert [D(v) for v in candle[1:6]] + [candle[8]] == [D(2001), D(2002), D(2001), D(2002), D("1.2"), 3]
                avg = result(await connection.avg_price(symbol=ETH), ws_models.AvgPriceResponse)
                assert plain(avg) == plain(rest_answers["avg"])

                one_day = result(await connection.ticker24hr(symbol=ETH), ws_models.Ticker24hrResponse)
                assert (figures(one_day), full(one_day), D(one_day.last_qty), D(one_day.bid_qty)) == \
                    (stats, eth_full, D("0.2"), D(1))
                several = result(await connection.ticker24hr(symbols=[ETH, BTC]), ws_models.Ticker24hrResponse)
                assert [plain(t) | {"openTime": 0, "closeTime": 0} for t in several] == \
                    [plain(t) | {"openTime": 0, "closeTime": 0} for t in day_full]
                mini = result(await connection.ticker24hr(symbol=ETH, type="MINI"), ws_models.Ticker24hrResponse)
                assert (figures(mini), mini.price_change, mini.bid_price) == (stats, None, None)
                trading = result(await connection.ticker_trading_day(symbol=ETH), ws_models.TickerTradingDayResponse)
                assert plain(trading) == plain(today)
                trading = result(await connection.ticker_trading_day(symbols=[ETH, BTC], type="MINI"),
                                 ws_models.TickerTradingDayResponse)
                assert [plain(t) for t in trading] == [plain(t) for t in days]
                rolling = result(await connection.ticker(symbol=ETH, window_size="1h"), ws_models.TickerResponse)
                assert (figures(rolling), full(rolling), rolling.open_time % 60_000) == (stats, eth_full, 0)
                rolling = result(await connection.ticker(symbols=[ETH, BTC], window_size="2h"), ws_models.TickerResponse)
                assert [plain(t) | {"closeTime": 0} for t in rolling] == \
                    [plain(t) | {"closeTime": 0} for t in windows]
                rolling = result(await connection.ticker(symbol=ETH, window_size="1d", type="MINI"), ws_models.TickerResponse)
                assert (figures(rolling), rolling.price_change) == (stats, None)
                price = result(await connection.ticker_price(symbol=ETH), ws_models.TickerPriceResponse)
                assert (price.symbol, D(price.price)) == (ETH, D(2002))
                several = result(await connection.ticker_price(symbols=[ETH, BTC]), ws_models.TickerPriceResponse)
                assert [plain(t) for t in several] == [plain(t) for t in prices]
                book = result(await connection.ticker_book(symbol=ETH), ws_models.TickerBookResponse)
                assert plain(book) == plain(books[0])
                several = result(await connection.ticker_book(symbols=[ETH, BTC]), ws_models.TickerBookResponse)
                assert [plain(t) for t in several] == [plain(t) for t in books]
            finally:
                await connection.close_connection(close_session=True)
        asyncio.run(over_the_websocket_api())
    finally:
        rm.delete_open_orders(symbol=ETH)


def fills_time(api, trade_id: int) -> int:
    (trade,) = [t for t in api.get_trades(symbol=ETH).data() if t.id == trade_id]
    return trade.time


def test_rest_order_operations_lists_and_account_reads(node):
    trader, other = new_account(node, BTC="1", USDT="100000"), new_account(node, BTC="1", USDT="100000")
    rt, ro = rest(node, trader), rest(node, other)
    try:
        # the symbol's rates (configs/default.toml: 0.1% maker and taker), nothing special, no tax, no discount
        rates = parsed(rt.account_commission(symbol=BTC), rest_models.AccountCommissionResponse)
        standard, special, tax = rates.standard_commission, rates.special_commission, rates.tax_commission
        assert (rates.symbol, D(standard.maker), D(standard.taker), D(standard.buyer), D(standard.seller)) == \
            (BTC, D("0.001"), D("0.001"), D(0), D(0))
        assert {D(getattr(c, f)) for c in (special, tax) for f in ("maker", "taker", "buyer", "seller")} == {D(0)}
        assert (rates.discount.enabled_for_account, rates.discount.enabled_for_symbol, D(rates.discount.discount)) == \
            (False, False, D(0))
        # myFilters: the symbol's filters as exchangeInfo lists them
        mine = parsed(rt.my_filters(symbol=BTC), rest_models.MyFiltersResponse)
        (info,) = parsed(rt.exchange_info(symbol=BTC), rest_models.ExchangeInfoResponse).symbols
        assert [plain(f.actual_instance) for f in mine.symbol_filters] == [plain(f.actual_instance) for f in info.filters]
        assert (mine.exchange_filters, mine.asset_filters) == ([], [])

        # order/test: validated, nothing placed; with computeCommissionRates the order's rates
        quiet = parsed(rt.order_test(symbol=BTC, side="BUY", type="LIMIT", time_in_force="GTC", quantity=D("0.01"),
                                     price=D(20000)), rest_models.OrderTestResponse)
        assert plain(quiet) == {}
        test = parsed(rt.order_test(symbol=BTC, side="BUY", type="LIMIT", time_in_force="GTC", quantity=D("0.01"),
                                    price=D(20000), compute_commission_rates=True), rest_models.OrderTestResponse)
        assert (D(test.standard_commission_for_order.maker), D(test.standard_commission_for_order.taker)) == \
            (D("0.001"), D("0.001"))
        assert (D(test.tax_commission_for_order.taker), test.discount.enabled_for_account) == (D(0), False)
        assert rt.get_open_orders(symbol=BTC).data() == [] and \
            balances(rt, "USDT") == {"USDT": (D(100000), D(0))}

        first_window: list[int] = []  # the 10-second window (epoch-aligned, as the node's) of the first counted order

        def order_count() -> list:
            """The ORDERS windows' counts; the 10-second one as the day's while it has not rolled over
            since the first order was counted (a loaded machine can take longer than that to get here:
            then it holds only what came since, at most the day's)."""
            rows = [(r.rate_limit_type, r.interval, r.interval_num, r.limit, r.count)
                    for r in items(rt.rate_limit_order(), rest_models.RateLimitOrderResponse)]
            (ten, day) = rows
            if first_window and int(time.time() // 10) != first_window[0] and ten[4] <= day[4]:
                rows[0] = ten[:4] + (day[4],)
            return rows
        assert order_count() == [("ORDERS", "SECOND", 10, 100, 0), ("ORDERS", "DAY", 1, 200000, 0)]

        # a last price of 25000; the trader's market buy fills at once, so it counts no unfilled order
        ro.new_order(symbol=BTC, side="SELL", type="LIMIT", time_in_force="GTC", quantity=D("0.001"), price=D(25000))
        rt.new_order(symbol=BTC, side="BUY", type="MARKET", quantity=D("0.001"))
        assert order_count() == [("ORDERS", "SECOND", 10, 100, 0), ("ORDERS", "DAY", 1, 200000, 0)]

        # amend keepPriority: 0.03 down to 0.02, what it no longer needs unlocked
        first_window.append(int(time.time() // 10))
        limit = parsed(rt.new_order(symbol=BTC, side="BUY", type="LIMIT", time_in_force="GTC", quantity=D("0.03"),
                                    price=D(20000)), rest_models.NewOrderResponse)
        amended = parsed(rt.order_amend_keep_priority(symbol=BTC, order_id=limit.order_id, new_qty=D("0.02"),
                                                      new_client_order_id="smaller"),
                         rest_models.OrderAmendKeepPriorityResponse)
        order = amended.amended_order
        assert (order.order_id, order.orig_client_order_id, order.client_order_id, D(order.qty), D(order.price),
                order.status, D(order.executed_qty), amended.list_status) == \
            (limit.order_id, limit.client_order_id, "smaller", D("0.02"), D(20000), "NEW", D(0), None)
        assert amended.transact_time >= limit.transact_time and order.working_time == limit.working_time
        assert balances(rt, "USDT") == {"USDT": (D(99575), D(400))}
        assert order_count() == [("ORDERS", "SECOND", 10, 100, 1), ("ORDERS", "DAY", 1, 200000, 1)]

        # OTO: the pending sell waits until the working buy fills
        oto = parsed(rt.order_list_oto(symbol=BTC, working_type="LIMIT", working_side="BUY", working_price=D(21000),
                                       working_quantity=D("0.01"), working_time_in_force="GTC", pending_type="LIMIT",
                                       pending_side="SELL", pending_quantity=D("0.01"), pending_price=D(40000),
                                       pending_time_in_force="GTC", list_client_order_id="my-oto"),
                     rest_models.OrderListOtoResponse)
        working, pending = oto.order_reports
        assert (oto.contingency_type, oto.list_status_type, oto.list_order_status, oto.list_client_order_id) == \
            ("OTO", "EXEC_STARTED", "EXECUTING", "my-oto")
        assert [o.order_id for o in oto.orders] == [working.order_id, pending.order_id]
        assert (working.status, working.side, D(working.price), pending.status, pending.side, D(pending.price),
                pending.working_time) == ("NEW", "BUY", D(21000), "PENDING_NEW", "SELL", D(40000), -1)
        sold = parsed(ro.new_order(symbol=BTC, side="SELL", type="LIMIT", time_in_force="GTC", quantity=D("0.01"),
                                   price=D(21000)), rest_models.NewOrderResponse)
        assert [(D(f.price), D(f.qty)) for f in sold.fills] == [(D(21000), D("0.01"))]

        def pending_placed():
            placed = parsed(rt.get_order(symbol=BTC, order_id=pending.order_id), rest_models.GetOrderResponse)
            assert (placed.status, placed.order_list_id, placed.is_working) == ("NEW", oto.order_list_id, True)
            assert parsed(rt.get_order(symbol=BTC, order_id=working.order_id), rest_models.GetOrderResponse).status == "FILLED"
        eventually(pending_placed)

        # OTOCO: a working buy, then an OCO pair to sell
        otoco = parsed(rt.order_list_otoco(symbol=BTC, working_type="LIMIT", working_side="BUY", working_price=D(21000),
                                           working_quantity=D("0.01"), working_time_in_force="GTC", pending_side="SELL",
                                           pending_quantity=D("0.01"), pending_above_type="LIMIT_MAKER",
                                           pending_above_price=D(40000), pending_below_type="STOP_LOSS_LIMIT",
                                           pending_below_stop_price=D(19000), pending_below_price=D(18900),
                                           pending_below_time_in_force="GTC"), rest_models.OrderListOtocoResponse)
        assert [(o.type, o.side, o.status, o.working_time == -1) for o in otoco.order_reports] == \
            [("LIMIT", "BUY", "NEW", False), ("STOP_LOSS_LIMIT", "SELL", "PENDING_NEW", True),
             ("LIMIT_MAKER", "SELL", "PENDING_NEW", True)]
        assert D(otoco.order_reports[1].stop_price) == D(19000)
        # the deprecated POST /api/v3/order/oco: price is the limit maker's, the stop leg listed first
        oco = parsed(rt.order_oco(symbol=BTC, side="SELL", quantity=D("0.01"), price=D(30000), stop_price=D(20500),
                                  stop_limit_price=D(20400), stop_limit_time_in_force="GTC", list_client_order_id="old-oco"),
                     rest_models.OrderOcoResponse)
        assert [(o.type, D(o.price), o.status, o.working_time == -1) for o in oco.order_reports] == \
            [("STOP_LOSS_LIMIT", D(20400), "NEW", True), ("LIMIT_MAKER", D(30000), "NEW", False)]
        assert (oco.contingency_type, oco.list_client_order_id) == ("OCO", "old-oco")
        # 1 open order, the OTO's pending 1 (its working order filled), the OTOCO 3, the OCO 2
        assert order_count() == [("ORDERS", "SECOND", 10, 100, 7), ("ORDERS", "DAY", 1, 200000, 7)]

        # DELETE /api/v3/orderList, by the list's client id and by its id
        gone = parsed(rt.delete_order_list(symbol=BTC, list_client_order_id="old-oco"), rest_models.DeleteOrderListResponse)
        assert (gone.order_list_id, gone.list_status_type, gone.list_order_status) == (oco.order_list_id, "ALL_DONE", "ALL_DONE")
        assert [(o.order_id, o.orig_client_order_id, o.status) for o in gone.order_reports] == \
            [(o.order_id, o.client_order_id, "CANCELED") for o in oco.order_reports]
        gone = parsed(rt.delete_order_list(symbol=BTC, order_list_id=otoco.order_list_id, new_client_order_id="bye"),
                      rest_models.DeleteOrderListResponse)
        assert (gone.list_client_order_id, [o.status for o in gone.order_reports]) == \
            (otoco.list_client_order_id, ["CANCELED"] * 3)
        # what is left: the amended buy (400 USDT) and the OTO's sell (0.01 BTC); 25 + 210 USDT spent,
        # 0.001 + 0.01 BTC bought less the 0.1% fee
        assert balances(rt, "BTC", "USDT") == {"BTC": (D("1.000989"), D("0.01")), "USDT": (D(99365), D(400))}
        assert sorted(o.order_id for o in rt.get_open_orders(symbol=BTC).data()) == [limit.order_id, pending.order_id]
    finally:
        for api in (rt, ro):
            if api.get_open_orders(symbol=BTC).data():
                api.delete_open_orders(symbol=BTC)


def test_websocket_api_order_operations_lists_and_account_reads(node):
    trader, other = new_account(node, BTC="1", USDT="100000"), new_account(node, BTC="1", USDT="100000")
    ro = rest(node, other)

    async def scenario():
        c = await ws_api(node, trader).create_connection()
        try:
            # two buys from the other account: at 25000 (the last price, for the lists below), then 25100
            ro.new_order(symbol=BTC, side="SELL", type="LIMIT", time_in_force="GTC", quantity=D("0.001"), price=D(25100))
            ro.new_order(symbol=BTC, side="SELL", type="LIMIT", time_in_force="GTC", quantity=D("0.001"), price=D(25000))
            first = result(await c.order_place(symbol=BTC, side="BUY", type="MARKET", quantity=D("0.001")),
                           ws_models.OrderPlaceResponse)
            second = result(await c.order_place(symbol=BTC, side="BUY", type="LIMIT", time_in_force="GTC",
                                                quantity=D("0.001"), price=D(25100)), ws_models.OrderPlaceResponse)
            (t1,), (t2,) = first.fills, second.fills
            assert (D(t1.price), D(t2.price)) == (D(25000), D(25100))
            # myTrades by orderId, from an id, in a time window; allOrders from an orderId, windowed, limited
            by_order = result(await c.my_trades(symbol=BTC, order_id=second.order_id), ws_models.MyTradesResponse)
            assert [(t.id, t.order_id, D(t.price), D(t.qty), t.is_buyer, t.is_maker) for t in by_order] == \
                [(t2.trade_id, second.order_id, D(25100), D("0.001"), True, False)]
            assert [t.id for t in result(await c.my_trades(symbol=BTC, from_id=t2.trade_id), ws_models.MyTradesResponse)] == \
                [t2.trade_id]
            mine = result(await c.my_trades(symbol=BTC, start_time=first.transact_time, end_time=second.transact_time),
                          ws_models.MyTradesResponse)
            assert [(t.id, D(t.commission), t.commission_asset) for t in mine] == \
                [(t1.trade_id, D("0.000001"), "BTC"), (t2.trade_id, D("0.000001"), "BTC")]
            assert [o.order_id for o in result(await c.all_orders(symbol=BTC, order_id=second.order_id),
                                               ws_models.AllOrdersResponse)] == [second.order_id]
            window = result(await c.all_orders(symbol=BTC, start_time=first.transact_time, end_time=second.transact_time,
                                               limit=1), ws_models.AllOrdersResponse)
            assert [(o.order_id, o.status, o.type) for o in window] == [(first.order_id, "FILLED", "MARKET")]

            # the account's reads: commission rates, filters, unfilled order count
            rates = result(await c.account_commission(symbol=BTC), ws_models.AccountCommissionResponse)
            assert (D(rates.standard_commission.maker), D(rates.standard_commission.taker), D(rates.tax_commission.taker),
                    rates.discount.enabled_for_account) == (D("0.001"), D("0.001"), D(0), False)
            # SDK bug: its WebSocket API MyFiltersResponse is REST's shape, without the answer's envelope
            # (as its ExchangeInfoResponse): the result is parsed with the same model here
            raw = ws_raw(await c.my_filters(symbol=BTC))
            assert (raw["status"], {r["rateLimitType"] for r in raw["rateLimits"]}) == (200, {"REQUEST_WEIGHT"})
            filters = ws_models.MyFiltersResponse.from_dict(raw["result"])
            assert not extras(filters) and (filters.exchange_filters, filters.asset_filters) == ([], [])
            mine = rest_models.MyFiltersResponse.from_dict(rest(node, trader).my_filters(symbol=BTC).data().to_dict())
            assert [plain(f.actual_instance) for f in filters.symbol_filters] == \
                [plain(f.actual_instance) for f in mine.symbol_filters]
            counted = parsed(await c.account_rate_limits_orders(), ws_models.AccountRateLimitsOrdersResponse)
            assert [(r.rate_limit_type, r.interval, r.interval_num, r.limit, r.count) for r in counted.result] == \
                [("ORDERS", "SECOND", 10, 100, 0), ("ORDERS", "DAY", 1, 200000, 0)]  # both filled at once
            assert [r.rate_limit_type for r in counted.rate_limits] == ["REQUEST_WEIGHT"]

            # order.test, with and without the commission rates
            test = parsed(await c.order_test(symbol=BTC, side="BUY", type="LIMIT", time_in_force="GTC",
                                             quantity=D("0.01"), price=D(20000)), ws_models.OrderTestResponse)
            assert (test.status, plain(test.result)) == (200, {})
            test = result(await c.order_test(symbol=BTC, side="BUY", type="LIMIT", time_in_force="GTC", quantity=D("0.01"),
                                             price=D(20000), compute_commission_rates=True), ws_models.OrderTestResponse)
            assert (D(test.standard_commission_for_order.maker), D(test.special_commission_for_order.taker),
                    test.discount.discount_asset) == (D("0.001"), D(0), "")

            # amend keepPriority, then cancelReplace, of one order
            placed = result(await c.order_place(symbol=BTC, side="BUY", type="LIMIT", time_in_force="GTC",
                                                quantity=D("0.03"), price=D(20000)), ws_models.OrderPlaceResponse)
            amended = result(await c.order_amend_keep_priority(symbol=BTC, order_id=placed.order_id, new_qty=D("0.02")),
                             ws_models.OrderAmendKeepPriorityResponse)
            assert (amended.amended_order.order_id, D(amended.amended_order.qty), amended.amended_order.status,
                    amended.amended_order.orig_client_order_id, amended.list_status) == \
                (placed.order_id, D("0.02"), "NEW", placed.client_order_id, None)
            replaced = parsed(await c.order_cancel_replace(symbol=BTC, cancel_replace_mode="STOP_ON_FAILURE", side="BUY",
                                                           type="LIMIT", cancel_order_id=placed.order_id,
                                                           time_in_force="GTC", quantity=D("0.02"), price=D(19000)),
                              ws_models.OrderCancelReplaceResponse)
            r = replaced.result
            assert (r.cancel_result, r.new_order_result, r.cancel_response.order_id, r.cancel_response.status,
                    r.cancel_response.orig_client_order_id) == \
                ("SUCCESS", "SUCCESS", placed.order_id, "CANCELED", amended.amended_order.client_order_id)
            assert (r.new_order_response.status, D(r.new_order_response.price), D(r.new_order_response.orig_qty)) == \
                ("NEW", D(19000), D("0.02"))
            # the new order counts against ORDERS, and the answer says so
            assert [(l.rate_limit_type, l.interval, l.count) for l in replaced.rate_limits][:2] == \
                [("ORDERS", "SECOND", 2), ("ORDERS", "DAY", 2)]

            # order lists: OCO, the deprecated orderList.place, OTO, OTOCO
            oco = result(await c.order_list_place_oco(symbol=BTC, side="SELL", quantity=D("0.01"), above_type="LIMIT_MAKER",
                                                      above_price=D(30000), below_type="STOP_LOSS_LIMIT",
                                                      below_stop_price=D(24000), below_price=D(23900),
                                                      below_time_in_force="GTC", list_client_order_id="ws-oco"),
                         ws_models.OrderListPlaceOcoResponse)
            assert [(o.type, o.status, o.working_time == -1) for o in oco.order_reports] == \
                [("STOP_LOSS_LIMIT", "NEW", True), ("LIMIT_MAKER", "NEW", False)]
            old = result(await c.order_list_place(symbol=BTC, side="SELL", quantity=D("0.01"), price=D(30000),
                                                  stop_price=D(24000), stop_limit_price=D(23900),
                                                  stop_limit_time_in_force="GTC"), ws_models.OrderListPlaceResponse)
            assert [(o.type, D(o.price)) for o in old.order_reports] == [("STOP_LOSS_LIMIT", D(23900)), ("LIMIT_MAKER", D(30000))]
            oto = result(await c.order_list_place_oto(symbol=BTC, working_type="LIMIT", working_side="BUY",
                                                      working_price=D(21000), working_quantity=D("0.01"),
                                                      working_time_in_force="GTC", pending_type="LIMIT",
                                                      pending_side="SELL", pending_quantity=D("0.01"),
                                                      pending_price=D(40000), pending_time_in_force="GTC"),
                         ws_models.OrderListPlaceOtoResponse)
            assert [(o.side, o.status) for o in oto.order_reports] == [("BUY", "NEW"), ("SELL", "PENDING_NEW")]
            otoco = result(await c.order_list_place_otoco(symbol=BTC, working_type="LIMIT", working_side="BUY",
                                                          working_price=D(21000), working_quantity=D("0.01"),
                                                          working_time_in_force="GTC", pending_side="SELL",
                                                          pending_quantity=D("0.01"), pending_above_type="LIMIT_MAKER",
                                                          pending_above_price=D(40000), pending_below_type="STOP_LOSS_LIMIT",
                                                          pending_below_stop_price=D(19000), pending_below_price=D(18900),
                                                          pending_below_time_in_force="GTC"),
                           ws_models.OrderListPlaceOtocoResponse)
            assert [(o.type, o.status) for o in otoco.order_reports] == \
                [("LIMIT", "NEW"), ("STOP_LOSS_LIMIT", "PENDING_NEW"), ("LIMIT_MAKER", "PENDING_NEW")]
            lists = [oco, old, oto, otoco]

            status = result(await c.order_list_status(order_list_id=oto.order_list_id), ws_models.OrderListStatusResponse)
            assert (status.contingency_type, status.list_order_status, [o.order_id for o in status.orders]) == \
                ("OTO", "EXECUTING", [o.order_id for o in oto.orders])
            by_client_id = result(await c.order_list_status(orig_client_order_id="ws-oco"), ws_models.OrderListStatusResponse)
            assert by_client_id.order_list_id == oco.order_list_id
            opened = result(await c.open_order_lists_status(), ws_models.OpenOrderListsStatusResponse)
            assert [ol.order_list_id for ol in opened] == [ol.order_list_id for ol in lists]
            gone = result(await c.order_list_cancel(symbol=BTC, order_list_id=otoco.order_list_id),
                          ws_models.OrderListCancelResponse)
            assert (gone.list_status_type, [(o.order_id, o.status) for o in gone.order_reports]) == \
                ("ALL_DONE", [(o.order_id, "CANCELED") for o in otoco.order_reports])
            every = result(await c.all_order_lists(), ws_models.AllOrderListsResponse)
            assert [(ol.order_list_id, ol.list_order_status) for ol in every] == \
                [(oco.order_list_id, "EXECUTING"), (old.order_list_id, "EXECUTING"), (oto.order_list_id, "EXECUTING"),
                 (otoco.order_list_id, "ALL_DONE")]
            assert [ol.order_list_id for ol in result(await c.all_order_lists(from_id=oto.order_list_id, limit=1),
                                                      ws_models.AllOrderListsResponse)] == [oto.order_list_id]

            # openOrders.cancelAll: the lone order and each list, a list as the list
            canceled = result(await c.open_orders_cancel_all(symbol=BTC), ws_models.OpenOrdersCancelAllResponse)
            assert sorted((x.order_list_id, x.order_id, x.list_status_type) for x in canceled) == \
                sorted([(-1, r.new_order_response.order_id, None)] + [(ol.order_list_id, None, "ALL_DONE") for ol in lists[:3]])
            for x in canceled:
                if x.order_list_id != -1:
                    assert {o.status for o in x.order_reports} == {"CANCELED"}
            assert result(await c.open_orders_status(symbol=BTC), ws_models.OpenOrdersStatusResponse) == []
            account = result(await c.account_status(), ws_models.AccountStatusResponse)
            held = {b.asset: (D(b.free), D(b.locked)) for b in account.balances}
            # 0.002 BTC bought less the fee, for 50.1 USDT; nothing locked
            assert (held["BTC"], held["USDT"]) == ((D("1.001998"), D(0)), (D("99949.9"), D(0)))
        finally:
            await c.close_connection(close_session=True)
    asyncio.run(scenario())


def deposit(node, client, asset: str, amount: str) -> None:
    async def post():
        async with aiohttp.ClientSession() as session:
            async with session.post(node.base + "/admin/v1/deposit", headers={"X-Admin-Token": ADMIN_TOKEN},
                                    json={"accountId": client.account_id, "asset": asset, "amount": amount}) as r:
                assert r.status == 200, await r.text()
    asyncio.run(post())


def test_user_data_events_of_an_orders_whole_life(node):
    """Every user data event the node sends, on the WebSocket API (userDataStream.subscribe.signature)
    and on a listenKey's stream alike: balanceUpdate, outboundAccountPosition, executionReport NEW /
    TRADE (maker and taker, partial and full) / CANCELED / EXPIRED / REPLACED / TRADE_PREVENTION,
    an OCO's listStatus from start to end, and eventStreamTerminated."""
    trader, other = new_account(node, BTC="1", USDT="100000"), new_account(node, BTC="1", USDT="100000")
    rt, ro = rest(node, trader), rest(node, other)
    listen_key = send_request(rt._session, rt.configuration, "POST", "/api/v3/userDataStream").data()["listenKey"]
    spot = Spot(config_ws_api=ConfigurationWebSocketAPI(api_key=trader.api_key, api_secret=trader.secret,
                                                        stream_url=ws_api_url(node)),
                config_ws_streams=ConfigurationWebSocketStreams(stream_url=node.ws))

    async def scenario():
        api = await spot.websocket_api.create_connection()
        streams = await spot.websocket_streams.create_connection()
        on_api, on_streams = [], []
        loop = asyncio.get_running_loop()

        async def call(f, *args, **kwargs):  # a blocking REST call, off the event loop the events come on
            return await loop.run_in_executor(None, lambda: f(*args, **kwargs))

        async def report(order_id: int, execution: str):
            return (await until(on_api, lambda e: is_report(e, order_id, execution))).actual_instance

        async def position(**held: tuple[str, str]):
            def matches(event) -> bool:
                e = event.actual_instance
                return isinstance(e, ws_models.OutboundAccountPosition) and \
                    all({b.a: (D(b.f), D(b.l)) for b in e.B}.get(a) == (D(f), D(l)) for a, (f, l) in held.items())
            return (await until(on_api, matches)).actual_instance

        async def place(**order):
            return await call(lambda: parsed(rt.new_order(symbol=BTC, **order), rest_models.NewOrderResponse))
        try:
            subscribed = await api.user_data_stream_subscribe_signature()
            subscription = subscribed.response.data().result.subscription_id
            subscribed.stream.on("message", on_api.append)
            (await streams.user_data(listen_key)).on("message", on_streams.append)
            listed = result(await api.session_subscriptions(), ws_models.SessionSubscriptionsResponse)
            assert [s.subscription_id for s in listed] == [subscription]

            # a deposit: balanceUpdate, then the balance
            await call(deposit, node, trader, "USDT", "100")
            update = (await until(on_api, lambda e: isinstance(e.actual_instance, ws_models.BalanceUpdate))).actual_instance
            assert (update.a, D(update.d), update.T <= update.E) == ("USDT", D(100), True)
            assert (await position(USDT=("100100", "0"))).u == update.T

            # a maker sell, filled in two trades: NEW, TRADE (PARTIALLY_FILLED), TRADE (FILLED)
            ask = await place(side="SELL", type="LIMIT", time_in_force="GTC", quantity=D("0.02"), price=D(50000))
            new = await report(ask.order_id, "NEW")
            assert (new.s, new.c, new.S, new.o, new.f, D(new.q), D(new.p), D(new.P), D(new.F), new.g, new.C, new.X,
                    new.r, D(new.l), D(new.z), D(new.L), D(new.n), new.N, new.t, new.w, new.m, D(new.Z), D(new.Y),
                    D(new.Q), new.V) == \
                (BTC, ask.client_order_id, "SELL", "LIMIT", "GTC", D("0.02"), D(50000), D(0), D(0), -1, "", "NEW",
                 "NONE", D(0), D(0), D(0), D(0), None, -1, True, False, D(0), D(0), D(0), "EXPIRE_MAKER")
            assert new.T == new.O == new.W == ask.transact_time
            await position(BTC=("0.98", "0.02"))
            first = await call(lambda: parsed(ro.new_order(symbol=BTC, side="BUY", type="LIMIT", time_in_force="GTC",
                                                           quantity=D("0.01"), price=D(50000)), rest_models.NewOrderResponse))
            half = await report(ask.order_id, "TRADE")
            assert (half.X, D(half.l), D(half.L), D(half.z), D(half.Z), D(half.Y), D(half.n), half.N, half.t, half.m,
                    half.w) == ("PARTIALLY_FILLED", D("0.01"), D(50000), D("0.01"), D(500), D(500), D("0.5"), "USDT",
                                first.fills[0].trade_id, True, True)
            await call(ro.new_order, symbol=BTC, side="BUY", type="MARKET", quantity=D("0.01"))
            full = await until(on_api, lambda e: is_report(e, ask.order_id, "TRADE") and e.actual_instance.X == "FILLED")
            full = full.actual_instance
            assert (D(full.l), D(full.z), D(full.Z), full.m, full.w, full.I > half.I > new.I) == \
                (D("0.01"), D("0.02"), D(1000), True, False, True)
            await position(BTC=("0.98", "0"), USDT=("101099", "0"))

            # a taker buy: NEW, then its TRADE, the fee in BTC
            await call(ro.new_order, symbol=BTC, side="SELL", type="LIMIT", time_in_force="GTC", quantity=D("0.01"),
                       price=D(45000))
            bid = await place(side="BUY", type="LIMIT", time_in_force="GTC", quantity=D("0.01"), price=D(45000))
            await report(bid.order_id, "NEW")
            taken = await report(bid.order_id, "TRADE")
            assert (taken.X, D(taken.L), D(taken.n), taken.N, taken.m, taken.t) == \
                ("FILLED", D(45000), D("0.00001"), "BTC", False, bid.fills[0].trade_id)
            await position(BTC=("0.98999", "0"), USDT=("100649", "0"))

            # CANCELED: "C" the client id the order had
            low = await place(side="BUY", type="LIMIT", time_in_force="GTC", quantity=D("0.01"), price=D(10000))
            gone = await call(lambda: parsed(rt.delete_order(symbol=BTC, order_id=low.order_id, new_client_order_id="gone"),
                                             rest_models.DeleteOrderResponse))
            canceled = await report(low.order_id, "CANCELED")
            assert (canceled.X, canceled.c, canceled.C, D(canceled.z), gone.client_order_id) == \
                ("CANCELED", "gone", low.client_order_id, D(0), "gone")
            # EXPIRED: an IOC with nothing to take
            ioc = await place(side="BUY", type="LIMIT", time_in_force="IOC", quantity=D("0.01"), price=D(10000))
            expired = await report(ioc.order_id, "EXPIRED")
            assert (ioc.status, expired.X, expired.f, D(expired.z)) == ("EXPIRED", "EXPIRED", "IOC", D(0))
            # REPLACED: an amend keepPriority
            amend = await place(side="BUY", type="LIMIT", time_in_force="GTC", quantity=D("0.02"), price=D(10000))
            amended = await call(lambda: parsed(rt.order_amend_keep_priority(symbol=BTC, order_id=amend.order_id,
                                                                             new_qty=D("0.01"), new_client_order_id="less"),
                                                rest_models.OrderAmendKeepPriorityResponse))
            replaced = await report(amend.order_id, "REPLACED")
            assert (replaced.X, D(replaced.q), replaced.c, replaced.C, replaced.I, replaced.w) == \
                ("NEW", D("0.01"), "less", amend.client_order_id, amended.execution_id, True)
            await position(USDT=("100549", "100"))
            # TRADE_PREVENTION: the trader's buy meets its own ask; EXPIRE_MAKER expires the ask
            own_ask = await place(side="SELL", type="LIMIT", time_in_force="GTC", quantity=D("0.01"), price=D(48000))
            own_bid = await place(side="BUY", type="LIMIT", time_in_force="GTC", quantity=D("0.01"), price=D(48000))
            assert (own_bid.status, own_bid.fills) == ("NEW", [])
            prevented = await report(own_ask.order_id, "TRADE_PREVENTION")
            assert (prevented.X, D(prevented.A), D(prevented.z), prevented.V) == \
                ("EXPIRED_IN_MATCH", D("0.01"), D(0), "EXPIRE_MAKER")
            # ... its prevented match ("v", "U"), as myPreventedMatches lists it, by id and by order
            assert (prevented.v, prevented.U) == (0, own_bid.order_id), prevented
            (match,) = await call(lambda: items(rt.my_prevented_matches(symbol=BTC, prevented_match_id=prevented.v),
                                                rest_models.MyPreventedMatchesResponseInner))
            assert (match.symbol, match.prevented_match_id, match.taker_order_id, match.maker_order_id,
                    match.self_trade_prevention_mode, D(match.price), D(match.maker_prevented_quantity)) == \
                (BTC, 0, own_bid.order_id, own_ask.order_id, "EXPIRE_MAKER", D(48000), D("0.01")), match
            by_order = await call(lambda: items(rt.my_prevented_matches(symbol=BTC, order_id=own_ask.order_id),
                                                rest_models.MyPreventedMatchesResponseInner))
            assert [m.prevented_match_id for m in by_order] == [0], by_order
            await call(rt.delete_open_orders, symbol=BTC)
            await report(own_bid.order_id, "CANCELED")
            await position(BTC=("0.98999", "0"), USDT=("100649", "0"))

            # an OCO's life: listStatus EXEC_STARTED, its limit maker filled, the stop leg EXPIRED, ALL_DONE
            oco = await call(lambda: parsed(rt.order_list_oco(symbol=BTC, side="SELL", quantity=D("0.01"),
                                                              above_type="LIMIT_MAKER", above_price=D(60000),
                                                              below_type="STOP_LOSS_LIMIT", below_stop_price=D(40000),
                                                              below_price=D(39900), below_time_in_force="GTC",
                                                              list_client_order_id="life"),
                                            rest_models.OrderListOcoResponse))
            stop, maker = oco.order_reports

            def list_status(status: str):
                return lambda e: isinstance(e.actual_instance, ws_models.ListStatus) and e.actual_instance.l == status
            started = (await until(on_api, list_status("EXEC_STARTED"))).actual_instance
            assert (started.s, started.g, started.c, started.C, started.L, started.r, started.T) == \
                (BTC, oco.order_list_id, "OCO", "life", "EXECUTING", "NONE", oco.transaction_time)
            assert [(o.s, o.i, o.c) for o in started.O] == [(BTC, o.order_id, o.client_order_id) for o in oco.orders]
            for leg in (stop, maker):
                assert (await report(leg.order_id, "NEW")).g == oco.order_list_id
            await call(ro.new_order, symbol=BTC, side="BUY", type="LIMIT", time_in_force="GTC", quantity=D("0.01"),
                       price=D(60000))
            sold = await report(maker.order_id, "TRADE")
            assert (sold.X, D(sold.L), sold.g) == ("FILLED", D(60000), oco.order_list_id)
            ended = await report(stop.order_id, "EXPIRED")
            assert (ended.X, ended.o, D(ended.P), ended.g) == ("EXPIRED", "STOP_LOSS_LIMIT", D(40000), oco.order_list_id)
            done = (await until(on_api, list_status("ALL_DONE"))).actual_instance
            assert (done.g, done.L, done.C, [o.i for o in done.O]) == \
                (oco.order_list_id, "ALL_DONE", "life", [stop.order_id, maker.order_id])
            await position(BTC=("0.97999", "0"), USDT=("101248.4", "0"))

            # userDataStream.unsubscribe: the subscription's eventStreamTerminated
            assert parsed(await api.user_data_stream_unsubscribe(subscription_id=subscription),
                          ws_models.UserDataStreamUnsubscribeResponse).status == 200
            terminated = await until(on_api, lambda e: isinstance(e.actual_instance, ws_models.EventStreamTerminated))
            assert terminated.actual_instance.E >= done.E
            assert result(await api.session_subscriptions(), ws_models.SessionSubscriptionsResponse) == []

            # the listenKey's stream carried the same events (each parsed into the streams client's models)
            def same(events) -> list:
                return [(type(e.actual_instance).__name__, plain(e.actual_instance)) for e in events
                        if not isinstance(e.actual_instance, (ws_models.EventStreamTerminated,
                                                              stream_models.EventStreamTerminated))]
            await until([0], lambda _: len(same(on_streams)) >= len(same(on_api)))
            assert same(on_streams) == same(on_api)
        finally:
            await api.close_connection(close_session=True)
            await streams.close_connection(close_session=True)
    asyncio.run(scenario())


def test_market_streams_parse_into_the_sdks_models(node):
    """The market streams beyond trade and diff depth (test_binance_sdk.py's), each event the SDK's
    model, its values what REST says of the same trade and book."""
    maker, taker = new_account(node, ETH="10", USDT="100000"), new_account(node, USDT="100000")
    rm, rt, public = rest(node, maker), rest(node, taker), rest(node)

    async def scenario():
        streams = Spot(config_ws_streams=ConfigurationWebSocketStreams(stream_url=node.ws)).websocket_streams
        connection = await streams.create_connection()
        loop = asyncio.get_running_loop()
        got: dict[str, list] = {}
        try:
            for name, subscribe in (
                    ("ethusdt@aggTrade", connection.agg_trade(symbol="ethusdt")),
                    ("ethusdt@kline_1m", connection.kline(symbol="ethusdt", interval="1m")),
                    ("ethusdt@kline_1d@+08:00", connection.kline_offset(symbol="ethusdt", interval="1d")),
                    ("ethusdt@miniTicker", connection.mini_ticker(symbol="ethusdt")),
                    ("ethusdt@ticker", connection.ticker(symbol="ethusdt")),
                    ("!miniTicker@arr", connection.all_mini_ticker()),
                    ("!ticker_1h@arr", connection.all_market_rolling_window_ticker(window_size="1h")),
                    ("ethusdt@bookTicker", connection.book_ticker(symbol="ethusdt")),
                    ("ethusdt@depth5@100ms", connection.partial_book_depth(symbol="ethusdt", levels=5, update_speed="100ms")),
                    ("ethusdt@ticker_4h", connection.rolling_window_ticker(symbol="ethusdt", window_size="4h")),
                    ("ethusdt@avgPrice", connection.avg_price(symbol="ethusdt"))):
                got[name] = []
                (await subscribe).on("message", got[name].append)
            assert sorted((await connection.list_subscribe())["result"]) == sorted(got)

            def trade():
                rm.new_order(symbol=ETH, side="SELL", type="LIMIT", time_in_force="GTC", quantity=D(1), price=D(2100))
                bought = parsed(rt.new_order(symbol=ETH, side="BUY", type="MARKET", quantity=D("0.3")),
                                rest_models.NewOrderResponse)
                (fill,) = bought.fills
                (done,) = [t for t in public.get_trades(symbol=ETH).data() if t.id == fill.trade_id]
                return (done, one(parsed(public.ticker24hr(symbol=ETH), rest_models.Ticker24hrResponse)),
                        parsed(public.depth(symbol=ETH), rest_models.DepthResponse),
                        parsed(public.avg_price(symbol=ETH), rest_models.AvgPriceResponse))
            done, day, depth, avg = await loop.run_in_executor(None, trade)
            assert (D(done.price), D(done.qty), D(day.last_price)) == (D(2100), D("0.3"), D(2100))

            agg = await until(got["ethusdt@aggTrade"], lambda a: a.f == done.id)
            assert isinstance(agg, stream_models.AggTradeResponse)
            assert (agg.e, agg.s, D(agg.p), D(agg.q), agg.l, agg.m, agg.T) == \
                ("aggTrade", ETH, D(2100), D("0.3"), done.id, False, done.time)
            for stream, interval in (("ethusdt@kline_1m", "1m"), ("ethusdt@kline_1d@+08:00", "1d")):
                candle = (await until(got[stream], lambda k: k.k.L == done.id)).k
                assert (candle.s, candle.i, D(candle.c), candle.t <= done.time <= candle.T) == (ETH, interval, D(2100), True)
            assert (candle.t - 16 * 3600_000) % 86_400_000 == 0  # a UTC+8 day opens at 16:00 UTC

            def same_day(t) -> bool:  # the 24-hour figures REST gave just after the trade
                return D(t.c) == D(2100) and D(t.v) == D(day.volume) and D(t.q) == D(day.quote_volume)
            mini = await until(got["ethusdt@miniTicker"], same_day)
            assert isinstance(mini, stream_models.MiniTickerResponse) and \
                (mini.e, mini.s, D(mini.h), D(mini.l)) == ("24hrMiniTicker", ETH, D(day.high_price), D(day.low_price))
            # (the book's best levels after the trade: the ticker the trade sends waits for Match's report
            # that holds them, tests/push/test_streams.py; one the 1000 ms tick sends in between may not)
            full = await until(got["ethusdt@ticker"], lambda t: same_day(t) and D(t.A) == D("0.7"))
            assert (full.e, full.n, full.F, full.L, D(full.a), D(full.A), D(full.b), D(full.Q)) == \
                ("24hrTicker", day.count, day.first_id, done.id, D(2100), D("0.7"), D(day.bid_price), D("0.3"))
            arrays = await until(got["!miniTicker@arr"], lambda arr: any(t.s == ETH and same_day(t) for t in arr))
            assert all(isinstance(t, stream_models.AllMiniTickerResponseInner) for t in arrays)
            hour = await until(got["!ticker_1h@arr"], lambda arr: any(t.s == ETH and t.L == done.id for t in arr))
            (eth_hour,) = [t for t in hour if t.s == ETH]
            assert (eth_hour.e, D(eth_hour.c), eth_hour.O % 60_000) == ("1hTicker", D(2100), 0)
            window = await until(got["ethusdt@ticker_4h"], lambda t: t.L == done.id)
            assert (window.e, window.s, D(window.c), window.O % 60_000) == ("4hTicker", ETH, D(2100), 0)

            book = await until(got["ethusdt@bookTicker"], lambda b: b.u == depth.last_update_id)
            assert (book.s, D(book.a), D(book.A)) == (ETH, D(2100), D("0.7"))
            five = await until(got["ethusdt@depth5@100ms"], lambda d: d.last_update_id == depth.last_update_id)
            assert (five.asks, five.bids) == (depth.asks[:5], depth.bids[:5])
            average = await until(got["ethusdt@avgPrice"], lambda a: D(a.w) == D(avg.price))
            assert (average.e, average.s, average.i, average.T) == ("avgPrice", ETH, "5m", avg.close_time)
        finally:
            await connection.close_connection(close_session=True)
            await loop.run_in_executor(None, lambda: rm.delete_open_orders(symbol=ETH))
    asyncio.run(scenario())


#: the SDK's methods the node does not serve (README: the order amendment history, SOR and its
#: allocations, OPO / OPOCO lists, referencePrice, executionRules, block trades),
#: each called with what it needs
ORDER = {"symbol": BTC, "side": "BUY", "type": "LIMIT", "quantity": D("0.01")}
OPO = {"symbol": BTC, "working_type": "LIMIT", "working_side": "BUY", "working_price": D(20000),
       "working_quantity": D("0.01"), "pending_side": "SELL"}
NOT_SERVED = {
    "execution_rules": {}, "my_allocations": {"symbol": BTC},
    "order_amendments": {"symbol": BTC, "order_id": 1}, "reference_price": {"symbol": BTC},
    "reference_price_calculation": {"symbol": BTC},
}
REST_NOT_SERVED = NOT_SERVED | {
    "historical_block_trades": {"symbol": BTC, "from_id": 1}, "order_list_opo": OPO | {"pending_type": "LIMIT"},
    "order_list_opoco": OPO | {"pending_above_type": "LIMIT_MAKER"}, "sor_order": ORDER, "sor_order_test": ORDER,
}
WS_NOT_SERVED = NOT_SERVED | {
    "block_trades_historical": {"symbol": BTC, "from_id": 1}, "order_list_place_opo": OPO | {"pending_type": "LIMIT"},
    "order_list_place_opoco": OPO | {"pending_above_type": "LIMIT_MAKER"}, "sor_order_place": ORDER,
    "sor_order_test": ORDER,
}


def test_what_the_node_does_not_serve_is_refused_as_the_readme_says(node):
    trader = new_account(node, USDT="1000")
    rt = rest(node, trader)
    for method, args in REST_NOT_SERVED.items():
        with pytest.raises(NotFoundError) as caught:
            getattr(rt, method)(**args)
        assert caught.value.status_code == -1000 and caught.value.error_message.startswith("Unknown path /api/v3/"), \
            (method, caught.value.error_message)

    async def scenario():
        connection = await ws_api(node, trader).create_connection()
        try:
            for method, args in WS_NOT_SERVED.items():
                assert (await getattr(connection, method)(**args)).data() == \
                    {"error": {"code": -1020, "msg": "This operation is not supported."}}, method
        finally:
            await connection.close_connection(close_session=True)
        # the SDK's block trade and reference price streams: the SDK does not surface a SUBSCRIBE's
        # error, so the subscription list shows it; the node's answer is web-socket-streams.md's code 2
        streams = Spot(config_ws_streams=ConfigurationWebSocketStreams(stream_url=node.ws)).websocket_streams
        connection = await streams.create_connection()
        try:
            await connection.block_trade(symbol="btcusdt")
            await connection.reference_price(symbol="btcusdt")
            assert (await connection.list_subscribe())["result"] == []
        finally:
            await connection.close_connection(close_session=True)
        async with aiohttp.ClientSession() as session, session.ws_connect(node.ws + "/ws") as ws:
            for req_id, name in enumerate(("btcusdt@blockTrade", "btcusdt@referencePrice")):
                await ws.send_json({"method": "SUBSCRIBE", "params": [name], "id": req_id})
                assert await ws.receive_json(timeout=5) == \
                    {"code": 2, "msg": f"Invalid request: unknown stream '{name}'", "id": req_id}
    asyncio.run(scenario())
    assert balances(rt, "USDT") == {"USDT": (D(1000), D(0))} and rt.all_orders(symbol=BTC).data() == []
