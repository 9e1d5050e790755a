"""ccxt's `binance` exchange class, the trading library most bots are written against, pointed at a
real node: markets from exchangeInfo (precision and limits), market data, balances, every spot order
ccxt places (limit GTC and IOC, market by amount and by cost, LIMIT_MAKER, stop-loss and take-profit),
queries, edit_order (cancelReplace), cancels, trades, and the exception class ccxt raises for each of
the node's refusals. Each unified field is checked against what the node answered, balances against
the trades' amounts and fees. Both ccxt.binance and ccxt.async_support's.

ccxt is configured as a spot-only bot would be (spot_config, point_at): its defaults also load
futures markets and ask /sapi/ for currencies and margin pairs, which the node does not serve. What
ccxt cannot do on spot without /sapi/ is left out: fetch_trading_fee(s), fetch_status,
fetch_currencies, deposits and withdrawals; create_orders, cancel_orders and fetch_open_order ccxt
itself supports on futures only."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import ccxt  # a dev dependency: missing, the module fails rather than skips
import pytest

from tests.node.client import eventually, funded_client
from tests.node.conftest import ADMIN_TOKEN, serving_node

BTC, ETH = "BTC/USDT", "ETH/USDT"


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    with serving_node(tmp_path_factory.mktemp("ccxt")) as proc:
        yield proc


class RecordingBinance(ccxt.binance):
    """ccxt's binance class, keeping each request it sends as (method, path, parameters)."""

    def __init__(self, config: dict) -> None:
        super().__init__(config)
        self.sent: list[tuple[str, str, dict]] = []

    def fetch(self, url, method="GET", headers=None, body=None):
        parts = urlsplit(url)
        self.sent.append((method, parts.path, dict(parse_qsl(body or parts.query))))
        return super().fetch(url, method, headers, body)


def spot_config(api_key: str = "", secret: str = "", **options) -> dict:
    """ccxt.binance's configuration as a spot bot sets it."""
    return {
        "apiKey": api_key,
        "secret": secret,
        # the node here has no [rate_limits]; ccxt's own throttle would only add sleeps
        "enableRateLimit": False,
        "options": {
            "defaultType": "spot",
            # ccxt's default also loads linear and inverse markets (fapi/dapi exchangeInfo)
            "fetchMarkets": {"types": ["spot"]},
            # with keys set, load_markets would also ask sapi margin/allPairs and margin/isolated/allPairs
            "fetchMargins": False,
            # currencies come from sapi capital/config/getall
            "fetchCurrencies": False,
            "adjustForTimeDifference": False,
            # fetch_open_orders() without a symbol refuses until told the weight is known
            "fetchOpenOrders": {"warnWithoutSymbol": False},
            **options,
        },
    }


def point_at(exchange, node):
    """Binance's spot API is `public` and `private` in ccxt: both on the node's /api/v3. Any other
    section (sapi, fapi, ...) has no URL here, so ccxt refuses it (NotSupported) before a request
    leaves."""
    api = node.base + "/api/v3"
    exchange.urls["api"] = {"public": api, "private": api}
    # ccxt picks its spot error table by the URL's host (api.binance.com), and only the common one
    # otherwise; merged, a refusal maps to the class it maps to against Binance (-2021/-2022 of
    # cancelReplace, for one)
    exchange.exceptions["exact"] = {**exchange.exceptions["exact"], **exchange.exceptions["spot"]["exact"]}
    return exchange


def binance_exchange(node, api_key: str = "", secret: str = "", **options) -> RecordingBinance:
    """ccxt.binance (sync) on the node."""
    return point_at(RecordingBinance(spot_config(api_key, secret, **options)), node)


def new_account(node, **amounts: str):
    """A new HMAC account (tests.node.client.Client: its api_key and secret) with these deposits."""
    async def make():
        async with aiohttp.ClientSession() as session:
            return await funded_client(session, node.base, ADMIN_TOKEN, **amounts)
    return asyncio.run(make())


def funded_exchange(node, **amounts: str) -> RecordingBinance:
    """A new HMAC account with these deposits, and ccxt signing for it, markets loaded."""
    client = new_account(node, **amounts)
    exchange = binance_exchange(node, client.api_key, client.secret)
    exchange.load_markets()
    return exchange


def num(value) -> D:
    """ccxt's float as the decimal it was parsed from (ccxt parses the node's decimal strings)."""
    return D(str(value))


def balances(exchange, *assets: str) -> dict[str, tuple[D, D]]:
    """(free, used) of each asset, from fetch_balance."""
    doc = exchange.fetch_balance()
    return {a: (num(doc.get(a, {}).get("free", 0)), num(doc.get(a, {}).get("used", 0))) for a in assets}


def last_sent(exchange) -> tuple[str, str, dict]:
    return exchange.sent[-1]


def test_load_markets_reads_precision_and_limits_from_exchange_info(node):
    exchange = binance_exchange(node)
    markets = exchange.load_markets()
    assert [path for _, path, _ in exchange.sent] == ["/api/v3/exchangeInfo"]
    assert sorted(markets) == [BTC, ETH]
    info = {s["symbol"]: s for s in exchange.publicGetExchangeInfo()["symbols"]}
    for market in markets.values():
        symbol = info[market["id"]]
        filters = {f["filterType"]: f for f in symbol["filters"]}
        assert (market["type"], market["spot"], market["active"]) == ("spot", True, True)
        assert (market["base"], market["quote"]) == (symbol["baseAsset"], symbol["quoteAsset"])
        assert num(market["precision"]["price"]) == D(filters["PRICE_FILTER"]["tickSize"])
        assert num(market["precision"]["amount"]) == D(filters["LOT_SIZE"]["stepSize"])
        limits = market["limits"]
        assert (num(limits["price"]["min"]), num(limits["price"]["max"])) == \
            (D(filters["PRICE_FILTER"]["minPrice"]), D(filters["PRICE_FILTER"]["maxPrice"]))
        assert (num(limits["amount"]["min"]), num(limits["amount"]["max"])) == \
            (D(filters["LOT_SIZE"]["minQty"]), D(filters["LOT_SIZE"]["maxQty"]))
        assert (num(limits["market"]["min"]), num(limits["market"]["max"])) == \
            (D(filters["MARKET_LOT_SIZE"]["minQty"]), D(filters["MARKET_LOT_SIZE"]["maxQty"]))
        assert num(limits["cost"]["min"]) == D(filters["NOTIONAL"]["minNotional"])
    # what a bot sends is cut to the symbol's step and tick (configs/default.toml)
    assert exchange.amount_to_precision(BTC, 0.123456789) == "0.12345"
    assert exchange.amount_to_precision(ETH, 0.123456789) == "0.1234"
    assert exchange.price_to_precision(BTC, 30000.126) == "30000.13"
    # the node's clock; and ccxt's adjustment to it, which a bot may switch on
    assert abs(exchange.fetch_time() - exchange.milliseconds()) < 5000
    adjusting = binance_exchange(node, adjustForTimeDifference=True)
    adjusting.load_markets()
    assert sorted(path for _, path, _ in adjusting.sent) == ["/api/v3/exchangeInfo", "/api/v3/time"]
    assert abs(adjusting.options["timeDifference"]) < 5000


def test_market_data_is_what_the_node_answers(node):
    maker = funded_exchange(node, ETH="10", USDT="10000")
    taker = funded_exchange(node, USDT="10000")
    try:
        maker.create_order(ETH, "limit", "sell", 1, 2001)
        maker.create_order(ETH, "limit", "sell", 2, 2002)
        maker.create_order(ETH, "limit", "buy", 1, 1999)
        bought = taker.create_order(ETH, "market", "buy", 0.5)
        assert (bought["status"], num(bought["average"])) == ("closed", D(2001))
        public = binance_exchange(node)
        public.load_markets()

        book = public.fetch_order_book(ETH, 5)
        depth = public.publicGetDepth({"symbol": "ETHUSDT", "limit": 5})
        assert book["asks"] == [[2001.0, 0.5], [2002.0, 2.0]] and book["bids"] == [[1999.0, 1.0]]
        assert book["asks"] == [[float(p), float(q)] for p, q in depth["asks"]]
        assert book["nonce"] == depth["lastUpdateId"]

        ticker = public.fetch_ticker(ETH)
        raw = public.publicGetTicker24hr({"symbol": "ETHUSDT"})
        assert (num(ticker["last"]), num(ticker["bid"]), num(ticker["ask"])) == (D(2001), D(1999), D(2001))
        assert (num(ticker["bidVolume"]), num(ticker["askVolume"])) == (D(1), D("0.5"))
        for field, key in (("last", "lastPrice"), ("high", "highPrice"), ("low", "lowPrice"), ("open", "openPrice"),
                           ("baseVolume", "volume"), ("quoteVolume", "quoteVolume"), ("vwap", "weightedAvgPrice")):
            assert num(ticker[field]) == D(raw[key]), field
        assert ticker["timestamp"] <= raw["closeTime"]  # closeTime: the ticker's now
        tickers = public.fetch_tickers([BTC, ETH])
        assert sorted(tickers) == [BTC, ETH] and num(tickers[ETH]["last"]) == D(2001)
        assert last_sent(public)[2] == {"symbols": '["BTCUSDT","ETHUSDT"]'}
        assert num(public.fetch_tickers()[ETH]["last"]) == D(2001)  # every symbol: ticker/24hr, none named
        window = public.fetch_ticker(ETH, {"rolling": True, "windowSize": "1h"})
        assert last_sent(public)[1] == "/api/v3/ticker" and num(window["last"]) == D(2001)
        bids_asks = public.fetch_bids_asks([ETH])[ETH]
        assert (num(bids_asks["bid"]), num(bids_asks["ask"])) == (D(1999), D(2001))
        assert num(public.fetch_last_prices([ETH])[ETH]["price"]) == D(2001)

        trades = public.fetch_trades(ETH)  # aggTrades
        agg = public.publicGetAggTrades({"symbol": "ETHUSDT"})
        assert [t["id"] for t in trades] == [str(a["a"]) for a in agg]
        last = trades[-1]
        assert (num(last["price"]), num(last["amount"]), num(last["cost"]), last["side"]) == \
            (D(2001), D("0.5"), D("1000.5"), "buy")  # the taker bought
        recent = public.fetch_trades(ETH, None, 5, {"fetchTradesMethod": "publicGetTrades"})
        assert last_sent(public)[1:] == ("/api/v3/trades", {"symbol": "ETHUSDT", "limit": "5"})
        assert recent[-1]["id"] == str(public.publicGetTrades({"symbol": "ETHUSDT"})[-1]["id"])

        candles = public.fetch_ohlcv(ETH, "1m")
        klines = public.publicGetKlines({"symbol": "ETHUSDT", "interval": "1m"})
        assert candles == [[k[0], *(float(v) for v in k[1:6])] for k in klines]
        assert candles[-1][4] == 2001.0 and num(candles[-1][5]) >= D("0.5")
        since = public.fetch_ohlcv(ETH, "1m", candles[-1][0], 3)
        assert last_sent(public)[2]["startTime"] == str(candles[-1][0]) and since == candles[-1:]
    finally:
        maker.cancel_all_orders(ETH)


def test_orders_fill_and_balances_move_by_amounts_and_fees(node):
    trader = funded_exchange(node, USDT="100000")
    maker = funded_exchange(node, BTC="1")

    # a limit GTC order rests, its funds locked
    limit = trader.create_order(BTC, "limit", "buy", 0.01, 20000)
    method, path, sent = last_sent(trader)
    assert (method, path, sent["type"], sent["timeInForce"], sent["newOrderRespType"]) == \
        ("POST", "/api/v3/order", "LIMIT", "GTC", "FULL")
    assert limit["clientOrderId"] == sent["newClientOrderId"] and limit["clientOrderId"].startswith("x-")
    assert (limit["status"], limit["type"], limit["side"], limit["timeInForce"]) == ("open", "limit", "buy", "GTC")
    assert (num(limit["price"]), num(limit["amount"]), num(limit["filled"]), num(limit["remaining"])) == \
        (D(20000), D("0.01"), D(0), D("0.01"))
    assert limit["id"] == str(limit["info"]["orderId"]) and limit["timestamp"] == limit["info"]["transactTime"]
    assert balances(trader, "USDT") == {"USDT": (D(99800), D(200))}
    found = trader.fetch_order(limit["id"], BTC)
    assert (found["status"], found["clientOrderId"], num(found["remaining"])) == ("open", limit["clientOrderId"], D("0.01"))
    assert [o["id"] for o in trader.fetch_open_orders(BTC)] == [limit["id"]]
    assert [o["id"] for o in trader.fetch_open_orders()] == [limit["id"]]  # every symbol

    # edit_order is cancelReplace: the order is canceled and a new one placed
    edited = trader.edit_order(limit["id"], BTC, "limit", "buy", 0.02, 21000)
    method, path, sent = last_sent(trader)
    assert (path, sent["cancelOrderId"], sent["cancelReplaceMode"]) == \
        ("/api/v3/order/cancelReplace", limit["id"], "STOP_ON_FAILURE")
    assert edited["id"] != limit["id"] and edited["status"] == "open"
    assert (num(edited["price"]), num(edited["amount"])) == (D(21000), D("0.02"))
    assert trader.fetch_order(limit["id"], BTC)["status"] == "canceled"
    assert balances(trader, "USDT") == {"USDT": (D(99580), D(420))}
    canceled = trader.cancel_order(edited["id"], BTC)
    assert (canceled["id"], canceled["status"], num(canceled["filled"]), num(canceled["remaining"])) == \
        (edited["id"], "canceled", D(0), D("0.02"))
    assert balances(trader, "USDT") == {"USDT": (D(100000), D(0))}

    # a market buy by amount takes the maker's ask; the 0.1% fee is paid in what was bought
    ask = maker.create_order(BTC, "limit", "sell", 0.05, 30000)
    market = trader.create_order(BTC, "market", "buy", 0.01)
    assert (market["status"], market["type"], num(market["filled"]), num(market["remaining"])) == \
        ("closed", "market", D("0.01"), D(0))
    assert (num(market["average"]), num(market["cost"])) == (D(30000), D(300))
    assert (market["fee"]["currency"], num(market["fee"]["cost"])) == ("BTC", D("0.00001"))
    assert [(num(t["price"]), num(t["amount"]), str(t["id"])) for t in market["trades"]] == \
        [(D(30000), D("0.01"), str(market["info"]["fills"][0]["tradeId"]))]
    assert balances(trader, "BTC", "USDT") == {"BTC": (D("0.00999"), D(0)), "USDT": (D(99700), D(0))}

    # a market buy by cost: quoteOrderQty
    by_cost = trader.create_market_buy_order_with_cost(BTC, 300)
    assert last_sent(trader)[2]["quoteOrderQty"] == "300" and "quantity" not in last_sent(trader)[2]
    assert (by_cost["status"], num(by_cost["filled"]), num(by_cost["cost"])) == ("closed", D("0.01"), D(300))
    assert num(by_cost["fee"]["cost"]) == D("0.00001")
    assert balances(trader, "BTC", "USDT") == {"BTC": (D("0.01998"), D(0)), "USDT": (D(99400), D(0))}

    # limit IOC for more than the book holds: what is there fills, the rest expires
    ioc = trader.create_order(BTC, "limit", "buy", 0.04, 30000, {"timeInForce": "IOC"})
    assert last_sent(trader)[2]["timeInForce"] == "IOC"
    assert (ioc["status"], ioc["timeInForce"], num(ioc["filled"]), num(ioc["remaining"])) == \
        ("expired", "IOC", D("0.03"), D("0.01"))
    assert (num(ioc["cost"]), num(ioc["average"]), num(ioc["fee"]["cost"])) == (D(900), D(30000), D("0.00003"))
    assert balances(trader, "BTC", "USDT") == {"BTC": (D("0.04995"), D(0)), "USDT": (D(98500), D(0))}

    # a market sell with no bid on the book: nothing fills, Binance answers EXPIRED
    nothing = trader.create_order(BTC, "market", "sell", 0.01)
    assert (nothing["status"], num(nothing["filled"]), nothing["trades"]) == ("expired", D(0), [])
    assert balances(trader, "BTC", "USDT") == {"BTC": (D("0.04995"), D(0)), "USDT": (D(98500), D(0))}

    # the maker's side: filled in three trades, paid in USDT less its fee
    def maker_filled():
        order = maker.fetch_order(ask["id"], BTC)
        assert (order["status"], num(order["filled"]), num(order["cost"]), num(order["average"])) == \
            ("closed", D("0.05"), D(1500), D(30000))
        assert balances(maker, "BTC", "USDT") == {"BTC": (D("0.95"), D(0)), "USDT": (D("1498.5"), D(0))}
    eventually(maker_filled)

    # trades: ccxt's view of myTrades, the taker's and the maker's
    mine = trader.fetch_my_trades(BTC)
    raw = trader.privateGetMyTrades({"symbol": "BTCUSDT"})
    assert [(t["id"], t["order"]) for t in mine] == [(str(r["id"]), str(r["orderId"])) for r in raw]
    assert [t["order"] for t in mine] == [market["id"], by_cost["id"], ioc["id"]]
    assert {(t["side"], t["takerOrMaker"], t["fee"]["currency"]) for t in mine} == {("buy", "taker", "BTC")}
    assert [(num(t["amount"]), num(t["price"]), num(t["cost"]), num(t["fee"]["cost"])) for t in mine] == \
        [(D("0.01"), D(30000), D(300), D("0.00001")), (D("0.01"), D(30000), D(300), D("0.00001")),
         (D("0.03"), D(30000), D(900), D("0.00003"))]
    theirs = maker.fetch_my_trades(BTC)
    assert {(t["side"], t["takerOrMaker"], t["fee"]["currency"], t["order"]) for t in theirs} == \
        {("sell", "maker", "USDT", ask["id"])}
    assert [num(t["fee"]["cost"]) for t in theirs] == [D("0.3"), D("0.3"), D("0.9")]
    assert [t["id"] for t in trader.fetch_order_trades(ioc["id"], BTC)] == [mine[-1]["id"]]

    # history: allOrders, all statuses, and the closed (filled) ones
    statuses = {o["id"]: o["status"] for o in trader.fetch_orders(BTC)}
    assert statuses == {limit["id"]: "canceled", edited["id"]: "canceled", market["id"]: "closed",
                        by_cost["id"]: "closed", ioc["id"]: "expired", nothing["id"]: "expired"}
    closed = trader.fetch_closed_orders(BTC)
    assert [o["id"] for o in closed] == [market["id"], by_cost["id"]]
    assert [num(o["cost"]) for o in closed] == [D(300), D(300)]
    assert [o["id"] for o in trader.fetch_orders(BTC, market["timestamp"], 2)] == [market["id"], by_cost["id"]]
    assert last_sent(trader)[2]["startTime"] == str(market["timestamp"])

    # cancel_all_orders: DELETE openOrders, each order canceled, the funds back
    first = trader.create_order(BTC, "limit", "buy", 0.01, 20000)
    second = trader.create_order(BTC, "limit", "buy", 0.01, 20500, {"clientOrderId": "ccxt-own-id"})
    assert second["clientOrderId"] == "ccxt-own-id"
    assert trader.fetch_order(None, BTC, {"clientOrderId": "ccxt-own-id"})["id"] == second["id"]
    assert balances(trader, "USDT") == {"USDT": (D(98095), D(405))}
    all_canceled = trader.cancel_all_orders(BTC)
    assert last_sent(trader)[:2] == ("DELETE", "/api/v3/openOrders")
    assert sorted((o["id"], o["status"]) for o in all_canceled) == sorted([(first["id"], "canceled"),
                                                                           (second["id"], "canceled")])
    assert trader.fetch_open_orders(BTC) == []
    assert balances(trader, "USDT") == {"USDT": (D(98500), D(0))}
    assert {path.rsplit("/", 1)[0] for _, path, _ in trader.sent + maker.sent} <= {"/api/v3", "/api/v3/order"}


def test_stop_loss_and_take_profit_orders_wait_then_trigger(node):
    maker = funded_exchange(node, ETH="10", USDT="10000")
    other = funded_exchange(node, USDT="10000")
    trader = funded_exchange(node, ETH="1")
    try:
        maker.create_order(ETH, "limit", "sell", 0.1, 2000)
        other.create_order(ETH, "market", "buy", 0.1)  # the last price: 2000
        with pytest.raises(ccxt.OrderImmediatelyFillable, match="Stop price would trigger immediately"):  # -2010
            trader.create_order(ETH, "limit", "sell", 0.1, 2040, {"stopLossPrice": 2050})

        stop_limit = trader.create_order(ETH, "limit", "sell", 0.1, 1890, {"stopLossPrice": 1900})
        sent = last_sent(trader)[2]
        assert (sent["type"], sent["stopPrice"], sent["price"]) == ("STOP_LOSS_LIMIT", "1900", "1890")
        assert (stop_limit["status"], stop_limit["type"], num(stop_limit["triggerPrice"]), num(stop_limit["price"])) == \
            ("open", "limit", D(1900), D(1890))
        stop_market = trader.create_order(ETH, "market", "sell", 0.1, None, {"stopLossPrice": 1900})
        assert last_sent(trader)[2]["type"] == "STOP_LOSS" and "price" not in last_sent(trader)[2]
        take_profit = trader.create_order(ETH, "limit", "sell", 0.1, 2110, {"takeProfitPrice": 2100})
        assert last_sent(trader)[2]["type"] == "TAKE_PROFIT_LIMIT"
        assert num(take_profit["triggerPrice"]) == D(2100)
        opened = {o["id"]: (o["info"]["type"], num(o["triggerPrice"])) for o in trader.fetch_open_orders(ETH)}
        assert opened == {stop_limit["id"]: ("STOP_LOSS_LIMIT", D(1900)), stop_market["id"]: ("STOP_LOSS", D(1900)),
                          take_profit["id"]: ("TAKE_PROFIT_LIMIT", D(2100))}
        assert balances(trader, "ETH") == {"ETH": (D("0.7"), D("0.3"))}

        # a trade at 1895 reaches both stops: each sells into the maker's bid
        maker.create_order(ETH, "limit", "buy", 0.3, 1895)
        sold = trader.create_order(ETH, "market", "sell", 0.05)
        assert (sold["status"], num(sold["average"])) == ("closed", D(1895))

        def triggered():
            for order in (trader.fetch_order(stop_limit["id"], ETH), trader.fetch_order(stop_market["id"], ETH)):
                assert (order["status"], num(order["filled"]), num(order["average"])) == ("closed", D("0.1"), D(1895))
            assert trader.fetch_order(take_profit["id"], ETH)["status"] == "open"
        eventually(triggered)
        # 0.25 ETH sold at 1895, less the 0.1% taker fee in USDT; the take-profit's 0.1 still locked
        assert balances(trader, "ETH", "USDT") == {"ETH": (D("0.65"), D("0.1")), "USDT": (D("473.27625"), D(0))}
        assert [o["id"] for o in trader.cancel_all_orders(ETH)] == [take_profit["id"]]
        assert balances(trader, "ETH") == {"ETH": (D("0.75"), D(0))}
    finally:
        maker.cancel_all_orders(ETH)


def test_refusals_raise_ccxts_exception_classes_and_change_nothing(node):
    trader = funded_exchange(node, USDT="1000")
    maker = funded_exchange(node, BTC="1")
    ask = maker.create_order(BTC, "limit", "sell", 0.01, 30000)
    try:
        with pytest.raises(ccxt.InsufficientFunds, match="insufficient balance"):  # -2010
            trader.create_order(BTC, "limit", "buy", 1, 20000)
        with pytest.raises(ccxt.InvalidOrder, match="LOT_SIZE"):  # -1013 above maxQty
            trader.create_order(BTC, "limit", "buy", 9001, 0.1)
        with pytest.raises(ccxt.InvalidOrder, match="PRICE_FILTER"):  # -1013 above maxPrice
            trader.create_order(BTC, "limit", "buy", 0.00001, 100_000_000_000)
        # ccxt maps -1013 to BadRequest, and only LOT_SIZE and PRICE_FILTER to InvalidOrder, on Binance too
        with pytest.raises(ccxt.BadRequest, match="Filter failure: NOTIONAL"):
            trader.create_order(BTC, "limit", "buy", 0.0001, 1)
        with pytest.raises(ccxt.OrderImmediatelyFillable):  # -2010 LIMIT_MAKER that would take
            trader.create_order(BTC, "limit", "buy", 0.01, 30000, {"postOnly": True})
        assert last_sent(trader)[2]["type"] == "LIMIT_MAKER"
        with pytest.raises(ccxt.OrderNotFound):  # -2013
            trader.fetch_order("999999999", BTC)
        with pytest.raises(ccxt.OrderNotFound):  # -2011
            trader.cancel_order("999999999", BTC)
        with pytest.raises(ccxt.OrderNotFound):  # -2011: nothing open to cancel
            trader.cancel_all_orders(BTC)
        with pytest.raises(ccxt.BadResponse, match='"cancelResponse":{"code":-2011'):  # -2022, spot's table
            trader.edit_order("999999999", BTC, "limit", "buy", 0.01, 20000)
        with pytest.raises(ccxt.BadRequest, match="Not all sent parameters were read"):  # -1104
            trader.create_order(BTC, "limit", "buy", 0.01, 20000, {"notABinanceParameter": "1"})
        impostor = binance_exchange(node, trader.apiKey, "0" * 64)
        with pytest.raises(ccxt.AuthenticationError, match="Signature for this request is not valid"):  # -1022
            impostor.fetch_balance()
        assert balances(trader, "BTC", "USDT") == {"BTC": (D(0), D(0)), "USDT": (D(1000), D(0))}
        assert trader.fetch_open_orders(BTC) == []
        # none of the refused orders is an order: the LIMIT_MAKER too (refused by Match, after it got an
        # id) is in no view, as on Binance, where the client only ever saw -2010
        assert trader.fetch_orders(BTC) == []
        assert [o["id"] for o in maker.fetch_open_orders(BTC)] == [ask["id"]]
    finally:
        maker.cancel_all_orders(BTC)


def test_ccxt_async_support_places_sees_and_cancels_an_order(node):
    """ccxt.async_support (aiohttp underneath), as asyncio bots use it, with the same configuration."""
    import ccxt.async_support as ccxt_async

    client = new_account(node, USDT="1000")

    async def scenario():
        exchange = point_at(ccxt_async.binance(spot_config(client.api_key, client.secret)), node)
        try:
            await exchange.load_markets()
            order = await exchange.create_order(BTC, "limit", "buy", 0.01, 20000)
            assert (order["status"], num(order["amount"]), num(order["price"])) == ("open", D("0.01"), D(20000))
            usdt = (await exchange.fetch_balance())["USDT"]
            assert (num(usdt["free"]), num(usdt["used"])) == (D(800), D(200))
            assert [o["id"] for o in await exchange.fetch_open_orders(BTC)] == [order["id"]]
            assert (await exchange.cancel_order(order["id"], BTC))["status"] == "canceled"
            with pytest.raises(ccxt.OrderNotFound):
                await exchange.cancel_order(order["id"], BTC)
            usdt = (await exchange.fetch_balance())["USDT"]
            assert (num(usdt["free"]), num(usdt["used"])) == (D(1000), D(0))
        finally:
            await exchange.close()
    asyncio.run(scenario())
