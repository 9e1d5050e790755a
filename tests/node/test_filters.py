"""exchangeInfo's filters listed truthfully and enforced with Binance's codes (issue 14): a node whose
BTCUSDT allows 3 open orders, 1 pending stop and market orders of at most 1 BTC refuses the next
one -1013 "Filter failure: MAX_NUM_ORDERS" / "MAX_NUM_ALGO_ORDERS" / "MARKET_LOT_SIZE", freezing
nothing, and takes trailing stops with a trailingDelta of 50-2000 BIPS above the market, 10-300
below it (its TRAILING_DELTA, configured); ETHUSDT is not limited by BTCUSDT's orders, and has
PERCENT_PRICE_BY_SIDE around the average price of its last 5 minutes' trades."""

from __future__ import annotations

from decimal import Decimal as D

import aiohttp
import pytest

from tests.conftest import eventually, run_node
from tests.node.client import funded_client
from tests.node.conftest import ADMIN_TOKEN, default_symbols, free_port, run, wait_http

SYMBOL = "BTCUSDT"
LIMIT = {"symbol": SYMBOL, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01", "price": "20000"}
PERCENT_PRICE = """
[symbols.percent_price_by_side]
bid_multiplier_up = "5"
bid_multiplier_down = "0.2"
ask_multiplier_up = "4"
ask_multiplier_down = "0.5"
avg_price_mins = 5
"""


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("filters")
    symbols = default_symbols().replace(
        'default_stp = "EXPIRE_MAKER"', 'default_stp = "EXPIRE_MAKER"\nmax_num_orders = 3\nmax_num_algo_orders = 1\nmarket_max_qty = "1"',
        1)
    symbols = symbols.replace("min_trailing_above_delta = 10", "min_trailing_above_delta = 50", 1).replace(
        "max_trailing_below_delta = 2000", "max_trailing_below_delta = 300", 1)  # (BTCUSDT's: the first)
    symbols += PERCENT_PRICE  # (a sub-table of the last [[symbols]]: ETHUSDT)
    http = free_port()
    toml = symbols + f"""
[node]
data_dir = "{tmp / 'data'}"
http_port = {http}
ws_port = {free_port()}
admin_token = "{ADMIN_TOKEN}"
"""
    with run_node(tmp, toml) as proc:
        proc.base = f"http://127.0.0.1:{http}"
        wait_http(proc.base, proc)
        yield proc


def test_market_orders_by_quote_amount_keep_within_lot_size(node):
    """First in the module: BTCUSDT's book is empty. Binance: "MARKET orders using quoteOrderQty will
    not break LOT_SIZE filter rules" and errors.md's -2010 texts for those it cannot place: refused on
    an empty book (nothing frozen, no order left), at most MARKET_LOT_SIZE's maxQty (1 BTC here)
    when the budget would buy more, refused when the book holds less than minQty."""
    async def scenario():
        async with aiohttp.ClientSession() as session:
            maker = await funded_client(session, node.base, ADMIN_TOKEN, BTC="5")
            taker = await funded_client(session, node.base, ADMIN_TOKEN, USDT="100000", BTC="1")
            before = await taker.balances()
            for side, resp in (("BUY", "FULL"), ("SELL", "FULL"), ("BUY", "ACK")):
                status, doc = await taker.order(symbol=SYMBOL, side=side, type="MARKET", quoteOrderQty="100",
                                                newOrderRespType=resp)
                assert (status, doc) == (400, {"code": -2010,
                                               "msg": "Order book liquidity is less than symbol minimum quantity."})

            async def unchanged():
                assert await taker.balances() == before
            await eventually(unchanged)
            status, doc = await taker.signed("GET", "/api/v3/openOrders", symbol=SYMBOL)
            assert (status, doc) == (200, [])
            status, doc = await maker.order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC",
                                            quantity="0.000005", price="20000")
            assert (status, doc["code"]) == (400, -1013)  # (below minQty: a maker cannot rest less either)
            status, doc = await maker.order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC", quantity="3",
                                            price="20000")
            assert status == 200, doc
            status, doc = await taker.order(symbol=SYMBOL, side="BUY", type="MARKET", quoteOrderQty="50000")
            assert status == 200 and (doc["status"], doc["executedQty"], doc["cummulativeQuoteQty"]) == (
                "FILLED", "1.00000000", "20000.00000000"), doc  # 2.5 BTC affordable, 1 the most
            status, doc = await taker.order(symbol=SYMBOL, side="BUY", type="MARKET", quoteOrderQty="0.1")
            assert (status, doc) == (400, {"code": -1013, "msg": "Filter failure: NOTIONAL"})  # (the API's check first)
            status, doc = await maker.signed("DELETE", "/api/v3/openOrders", symbol=SYMBOL)  # (the next tests' book)
            assert status == 200, doc
    run(scenario())


def test_exchange_info_lists_the_filters_it_enforces(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            async with session.get(node.base + "/api/v3/exchangeInfo", params={"symbol": SYMBOL}) as resp:
                info = await resp.json()
            filters = {f["filterType"]: f for f in info["symbols"][0]["filters"]}
            assert list(filters) == ["PRICE_FILTER", "LOT_SIZE", "MARKET_LOT_SIZE", "NOTIONAL", "MAX_NUM_ORDERS",
                                     "MAX_NUM_ALGO_ORDERS", "TRAILING_DELTA"]
            assert filters["TRAILING_DELTA"] == {
                "filterType": "TRAILING_DELTA", "minTrailingAboveDelta": 50, "maxTrailingAboveDelta": 2000,
                "minTrailingBelowDelta": 10, "maxTrailingBelowDelta": 300}
            assert filters["MAX_NUM_ORDERS"]["maxNumOrders"] == 3
            assert filters["MAX_NUM_ALGO_ORDERS"]["maxNumAlgoOrders"] == 1
            assert filters["MARKET_LOT_SIZE"]["maxQty"] == "1.00000000"
            sym = info["symbols"][0]
            assert (sym["cancelReplaceAllowed"], sym["amendAllowed"]) == (True, True)
    run(scenario())


def test_trailing_delta_within_the_symbols_configured_ranges(node):
    """A STOP_LOSS buy triggers above the market (the "above" range, 50-2000 here), a STOP_LOSS sell
    below it (10-300): outside its range a trailing stop is refused and freezes nothing."""
    async def scenario():
        async with aiohttp.ClientSession() as session:
            client = await funded_client(session, node.base, ADMIN_TOKEN, USDT="10000", BTC="1")
            stop = {"symbol": SYMBOL, "type": "STOP_LOSS_LIMIT", "timeInForce": "GTC", "quantity": "0.01"}
            for side, price, delta in (("BUY", "21000", "49"), ("SELL", "19000", "301")):
                status, doc = await client.order(**stop, side=side, price=price, trailingDelta=delta)
                assert (status, doc) == (400, {"code": -1013, "msg": "Filter failure: TRAILING_DELTA"}), (side, delta)
            status, account = await client.signed("GET", "/api/v3/account")
            assert {b["asset"]: b["locked"] for b in account["balances"]} == {
                "BTC": "0.00000000", "USDT": "0.00000000"}
            status, doc = await client.order(**stop, side="SELL", price="19000", trailingDelta="300")
            assert status == 200, doc
            status, doc = await client.signed("DELETE", "/api/v3/order", symbol=SYMBOL, orderId=doc["orderId"])
            assert status == 200 and (doc["status"], doc["trailingDelta"]) == ("CANCELED", 300), doc
    run(scenario())


def test_open_order_limits_and_market_lot_size(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            client = await funded_client(session, node.base, ADMIN_TOKEN, USDT="10000", BTC="5", ETH="5")
            ids = []
            for _ in range(3):
                status, doc = await client.order(**LIMIT)
                assert status == 200, doc
                ids.append(doc["orderId"])
            status, doc = await client.order(**LIMIT)
            assert (status, doc) == (400, {"code": -1013, "msg": "Filter failure: MAX_NUM_ORDERS"})
            status, doc = await client.signed("POST", "/api/v3/order/test", **LIMIT)  # the test order knows it too
            assert (status, doc) == (400, {"code": -1013, "msg": "Filter failure: MAX_NUM_ORDERS"})
            # another symbol has its own count
            status, doc = await client.order(**(LIMIT | {"symbol": "ETHUSDT", "price": "1000"}))
            assert status == 200, doc

            async def frozen():
                status, acct = await client.signed("GET", "/api/v3/account")
                usdt = next(b for b in acct["balances"] if b["asset"] == "USDT")
                assert D(usdt["locked"]) == D("610"), usdt  # 3 x 200 + 10: nothing for the refused one
            await eventually(frozen)
            status, doc = await client.signed("DELETE", "/api/v3/order", symbol=SYMBOL, orderId=ids[0])
            assert status == 200, doc
            stop = {"symbol": SYMBOL, "side": "SELL", "type": "STOP_LOSS_LIMIT", "timeInForce": "GTC",
                    "quantity": "0.01", "price": "19000", "stopPrice": "19500"}
            status, doc = await client.order(**stop)
            assert status == 200, doc  # the 3rd open order, the 1st stop
            status, doc = await client.signed("DELETE", "/api/v3/order", symbol=SYMBOL, orderId=ids[1])
            assert status == 200, doc
            status, doc = await client.order(**stop)
            assert (status, doc) == (400, {"code": -1013, "msg": "Filter failure: MAX_NUM_ALGO_ORDERS"})
            # replacing the one stop by another: the stop replaced does not count against it, as an
            # order replaced does not count against MAX_NUM_ORDERS
            status, open_ = await client.signed("GET", "/api/v3/openOrders", symbol=SYMBOL)
            old_stop = next(o["orderId"] for o in open_ if o["type"] == "STOP_LOSS_LIMIT")
            status, doc = await client.signed("POST", "/api/v3/order/cancelReplace", cancelReplaceMode="STOP_ON_FAILURE",
                                              cancelOrderId=old_stop, **(stop | {"stopPrice": "19400"}))
            assert status == 200 and doc["newOrderResult"] == "SUCCESS", doc

            for order in ({"symbol": SYMBOL, "side": "SELL", "type": "MARKET", "quantity": "1.5"},
                          {"symbol": SYMBOL, "side": "SELL", "type": "STOP_LOSS", "quantity": "1.5", "stopPrice": "100"}):
                status, doc = await client.signed("POST", "/api/v3/order/test", **order)
                assert (status, doc) == (400, {"code": -1013, "msg": "Filter failure: MARKET_LOT_SIZE"}), order
            status, doc = await client.order(symbol=SYMBOL, side="SELL", type="MARKET", quantity="1")
            assert status == 200, doc  # at the maximum: taken
    run(scenario())


def test_percent_price_by_side_around_the_average_price(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            async with session.get(node.base + "/api/v3/exchangeInfo", params={"symbol": "ETHUSDT"}) as resp:
                filters = (await resp.json())["symbols"][0]["filters"]
            assert filters[-1] == {"filterType": "PERCENT_PRICE_BY_SIDE", "bidMultiplierUp": "5.00000000",
                                   "bidMultiplierDown": "0.20000000", "askMultiplierUp": "4.00000000",
                                   "askMultiplierDown": "0.50000000", "avgPriceMins": 5}
            client = await funded_client(session, node.base, ADMIN_TOKEN, USDT="10000", ETH="1")
            eth = {"symbol": "ETHUSDT", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.1"}
            # no trade yet: no average, nothing checked
            status, ask = await client.order(side="SELL", price="99999", **eth)
            assert status == 200, ask
            status, doc = await client.signed("DELETE", "/api/v3/order", symbol="ETHUSDT", orderId=ask["orderId"])
            assert status == 200, doc
            # a trade at 1000 (with the bid at 1000 the other test left, or with this sell): the average
            status, sell = await client.order(side="SELL", price="1000", newOrderRespType="RESULT",
                                              selfTradePreventionMode="NONE", **eth)
            assert status == 200, sell
            status, buy = await client.order(side="BUY", price="1000", newOrderRespType="RESULT",
                                             selfTradePreventionMode="NONE", **eth)
            assert status == 200 and D(buy["executedQty"]) > 0, (sell, buy)
            refused = {"code": -1013, "msg": "Filter failure: PERCENT_PRICE_BY_SIDE"}

            async def placed(side, price):
                status, doc = await client.order(side=side, price=price, **eth)
                return doc if status != 200 else "ok"
            assert await placed("BUY", "5000.01") == refused
            status, doc = await client.signed("POST", "/api/v3/order/test", side="BUY", price="5000.01", **eth)
            assert (status, doc) == (400, refused)
            assert await placed("BUY", "199.99") == refused
            assert await placed("SELL", "4000.01") == refused
            assert await placed("SELL", "499.99") == refused
            assert await placed("BUY", "5000") == "ok"
            assert await placed("SELL", "4000") == "ok"
    run(scenario())


def test_a_market_order_by_quantity_is_worth_its_notional_at_the_average_price(node):
    """NOTIONAL says applyMinToMarket with avgPriceMins 5: a MARKET order by quantity is valued at the
    average price of the last 5 minutes' trades and refused -1013 below minNotional (5 USDT), placed
    and test-placed alike; it freezes nothing. (ETHUSDT trades only at 1000 in this module.)"""
    async def scenario():
        async with aiohttp.ClientSession() as session:
            client = await funded_client(session, node.base, ADMIN_TOKEN, USDT="10000", ETH="1")
            eth = {"symbol": "ETHUSDT", "selfTradePreventionMode": "NONE"}
            status, sell = await client.order(side="SELL", type="LIMIT", timeInForce="GTC", quantity="0.1",
                                              price="1000", **eth)
            assert status == 200, sell
            status, buy = await client.order(side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.1",
                                             price="1000", newOrderRespType="RESULT", **eth)
            assert status == 200 and D(buy["executedQty"]) > 0, (sell, buy)
            before = await client.balances()
            refused = (400, {"code": -1013, "msg": "Filter failure: NOTIONAL"})
            for side in ("SELL", "BUY"):
                market = {"side": side, "type": "MARKET", "quantity": "0.0049", **eth}  # 4.90 USDT at 1000
                assert await client.order(**market) == refused, side
                assert await client.signed("POST", "/api/v3/order/test", **market) == refused, side
            assert await client.balances() == before  # nothing frozen
            status, doc = await client.order(side="SELL", type="MARKET", quantity="0.005", **eth)  # 5 USDT
            assert status == 200, doc
    run(scenario())
