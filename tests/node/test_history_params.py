"""The history endpoints honour every parameter Binance documents (issue 14: none ignored): aggTrades
fromId / startTime / endTime, historicalTrades fromId, myTrades orderId, account omitZeroBalances;
and the aggTrade stream numbers aggregates as REST does. A real node over HTTP and WebSocket."""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal as D

import aiohttp
import pytest

from tests.node.client import Client, admin, funded_client
from tests.node.conftest import ADMIN_TOKEN, run, serving_node

SYMBOL = "BTCUSDT"
HOUR = 3_600_000


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    with serving_node(tmp_path_factory.mktemp("hist")) as proc:
        yield proc


async def _sell(maker, price: str, qty: str = "0.01") -> dict:
    status, doc = await maker.order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC", quantity=qty,
                                    price=price, newOrderRespType="RESULT")
    assert status == 200, doc
    return doc


async def _market_buy(taker, qty: str) -> dict:
    status, doc = await taker.order(symbol=SYMBOL, side="BUY", type="MARKET", quantity=qty)
    assert status == 200 and doc["status"] == "FILLED", doc
    return doc


def test_agg_trades_page_by_id_and_by_time_and_match_the_stream(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            maker = await funded_client(session, node.base, ADMIN_TOKEN, BTC="10")
            taker = await funded_client(session, node.base, ADMIN_TOKEN, USDT="1000000")
            async with session.ws_connect(f"{node.ws}/ws/btcusdt@aggTrade") as ws:
                await asyncio.sleep(0.2)  # subscribed before the first trade
                fills, expected = [], []
                for round_ in range(4):
                    # two makers' orders at one price and one above: a taker filled by three, two at one
                    # price, which Binance aggregates ("from the same taker order, with the same price")
                    for price in ("30000", "30000", "30001"):
                        await _sell(maker, price)
                    got = (await _market_buy(taker, "0.03"))["fills"]
                    fills += got
                    ids = [f["tradeId"] for f in got]
                    assert [D(f["price"]) for f in got] == [30000, 30000, 30001]
                    expected += [{"a": ids[0], "f": ids[0], "l": ids[1], "q": "0.02000000", "p": "30000.00000000"},
                                 {"a": ids[2], "f": ids[2], "l": ids[2], "q": "0.01000000", "p": "30001.00000000"}]
                trade_ids = [f["tradeId"] for f in fills]
                assert len(trade_ids) == 12
                agg_ids = [a["a"] for a in expected]
                streamed = []
                while len(streamed) < len(expected):
                    event = json.loads((await asyncio.wait_for(ws.receive(), 10)).data)
                    streamed.append({k: event[k] for k in ("a", "p", "q", "f", "l", "m")})
            status, latest = await taker.public("/api/v3/aggTrades", symbol=SYMBOL)
            assert status == 200
            # REST and the stream number the same aggregates alike, field for field
            assert [{k: a[k] for k in ("a", "p", "q", "f", "l", "m")} for a in latest] == streamed
            assert [{k: a[k] for k in ("a", "f", "l", "q", "p")} for a in latest] == expected
            assert not any(a["m"] for a in latest)  # the buyer took: never the maker
            status, latest2 = await taker.public("/api/v3/aggTrades", symbol=SYMBOL, limit=3)
            assert [a["a"] for a in latest2] == agg_ids[-3:]

            # fromId pages forward without repeating or skipping, whatever the page size
            for size in (1, 2, 5):
                paged, from_id = [], agg_ids[0]
                while True:
                    status, page = await taker.public("/api/v3/aggTrades", symbol=SYMBOL, fromId=from_id, limit=size)
                    assert status == 200 and len(page) <= size
                    if not page:
                        break
                    paged += page
                    from_id = page[-1]["a"] + 1
                assert paged == latest
            status, page = await taker.public("/api/v3/aggTrades", symbol=SYMBOL, fromId=agg_ids[3], limit=2)
            assert [a["a"] for a in page] == agg_ids[3:5]
            # an id inside an aggregate: the aggregates from there on (ids at least it)
            status, page = await taker.public("/api/v3/aggTrades", symbol=SYMBOL, fromId=expected[2]["f"] + 1, limit=2)
            assert [a["a"] for a in page] == agg_ids[3:5]

            # a time window: inclusive at both ends; startTime gives the first `limit`, endTime alone the last
            first_t, last_t = latest[0]["T"], latest[-1]["T"]
            status, page = await taker.public("/api/v3/aggTrades", symbol=SYMBOL, startTime=first_t, endTime=last_t)
            assert [a["a"] for a in page] == agg_ids
            status, page = await taker.public("/api/v3/aggTrades", symbol=SYMBOL, startTime=first_t, limit=3)
            assert [a["a"] for a in page] == agg_ids[:3]
            status, page = await taker.public("/api/v3/aggTrades", symbol=SYMBOL, endTime=last_t, limit=3)
            assert [a["a"] for a in page] == agg_ids[-3:]
            status, page = await taker.public("/api/v3/aggTrades", symbol=SYMBOL, startTime=last_t + 1)
            assert status == 200 and page == []
            status, page = await taker.public("/api/v3/aggTrades", symbol=SYMBOL, startTime=first_t - HOUR - 1,
                                              endTime=first_t - 1)
            assert status == 200 and page == []

            # any span of time (Binance removed its one-hour limit in 2022), `limit` bounds the page
            status, page = await taker.public("/api/v3/aggTrades", symbol=SYMBOL, startTime=first_t - 2 * HOUR,
                                              endTime=last_t, limit=2)
            assert status == 200 and [a["a"] for a in page] == agg_ids[:2], page
            # refusals, with Binance's codes
            status, err = await taker.public("/api/v3/aggTrades", symbol=SYMBOL, fromId=1, startTime=first_t)
            assert (status, err["code"]) == (400, -1128)
            status, err = await taker.public("/api/v3/aggTrades", symbol=SYMBOL, startTime=5, endTime=4)
            assert (status, err["code"]) == (400, -1128)
            status, err = await taker.public("/api/v3/aggTrades", symbol=SYMBOL, fromId="x")
            assert (status, err["code"]) == (400, -1100)

            # historicalTrades: the same trades, by trade id
            status, recent = await taker.public("/api/v3/historicalTrades", symbol=SYMBOL)
            assert status == 200 and [t["id"] for t in recent] == trade_ids
            status, page = await taker.public("/api/v3/historicalTrades", symbol=SYMBOL, fromId=trade_ids[2], limit=4)
            assert status == 200 and [t["id"] for t in page] == trade_ids[2:6]
            assert page[0] == recent[2]
            status, page = await taker.public("/api/v3/historicalTrades", symbol=SYMBOL, limit=2)
            assert [t["id"] for t in page] == trade_ids[-2:]
            status, page = await taker.public("/api/v3/historicalTrades", symbol=SYMBOL, fromId=trade_ids[-1] + 1)
            assert status == 200 and page == []
            status, err = await taker.public("/api/v3/historicalTrades", symbol=SYMBOL, limit=0)
            assert (status, err["code"]) == (400, -1130)
            status, err = await taker.public("/api/v3/historicalTrades")
            assert (status, err["code"]) == (400, -1102)
    run(scenario())


def test_my_trades_by_order_id(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            maker = await funded_client(session, node.base, ADMIN_TOKEN, BTC="10", USDT="100000")
            taker = await funded_client(session, node.base, ADMIN_TOKEN, USDT="1000000")
            sells = [await _sell(maker, "31000"), await _sell(maker, "31000")]
            first = await _market_buy(taker, "0.01")
            second = await _market_buy(taker, "0.01")
            for buy in (first, second):
                status, rows = await taker.signed("GET", "/api/v3/myTrades", symbol=SYMBOL, orderId=buy["orderId"])
                assert status == 200 and [(r["id"], r["orderId"]) for r in rows] == \
                    [(buy["fills"][0]["tradeId"], buy["orderId"])], rows
            for sell, buy in zip(sells, (first, second)):
                status, rows = await maker.signed("GET", "/api/v3/myTrades", symbol=SYMBOL, orderId=sell["orderId"])
                assert [(r["id"], r["isBuyer"]) for r in rows] == [(buy["fills"][0]["tradeId"], False)], rows
            # orderId + fromId pages within the order
            status, rows = await taker.signed("GET", "/api/v3/myTrades", symbol=SYMBOL, orderId=first["orderId"],
                                              fromId=first["fills"][0]["tradeId"] + 1)
            assert status == 200 and rows == []
            # another account's order id: nothing
            status, rows = await maker.signed("GET", "/api/v3/myTrades", symbol=SYMBOL, orderId=first["orderId"])
            assert status == 200 and rows == []
            # a self-trade (NONE: the symbol's default, EXPIRE_MAKER, would prevent it), asked by one of its
            # orders: that order's side only
            sell = await _sell(maker, "32000")
            status, buy = await maker.order(symbol=SYMBOL, side="BUY", type="MARKET", quantity="0.01",
                                            selfTradePreventionMode="NONE")
            assert status == 200 and buy["status"] == "FILLED", buy
            status, rows = await maker.signed("GET", "/api/v3/myTrades", symbol=SYMBOL, orderId=buy["orderId"])
            assert [(r["orderId"], r["isBuyer"]) for r in rows] == [(buy["orderId"], True)], rows
            status, rows = await maker.signed("GET", "/api/v3/myTrades", symbol=SYMBOL, orderId=sell["orderId"])
            assert [(r["orderId"], r["isBuyer"]) for r in rows] == [(sell["orderId"], False)], rows
            # Binance's combinations
            status, err = await taker.signed("GET", "/api/v3/myTrades", symbol=SYMBOL, orderId=1, startTime=1)
            assert (status, err["code"]) == (400, -1128)
            status, err = await taker.signed("GET", "/api/v3/myTrades", symbol=SYMBOL, fromId=1, endTime=1)
            assert (status, err["code"]) == (400, -1128)
            status, err = await taker.signed("GET", "/api/v3/myTrades", symbol=SYMBOL, startTime=0, endTime=24 * HOUR + 1)
            assert (status, err) == (400, {"code": -1127, "msg": "More than 24 hours between startTime and endTime."})
            # allOrders' window is 24 hours too (rest-api.md); within it, the orders
            status, err = await taker.signed("GET", "/api/v3/allOrders", symbol=SYMBOL, startTime=0, endTime=24 * HOUR + 1)
            assert (status, err) == (400, {"code": -1127, "msg": "More than 24 hours between startTime and endTime."})
            end = second["transactTime"] + 1
            status, rows = await taker.signed("GET", "/api/v3/allOrders", symbol=SYMBOL, startTime=end - 24 * HOUR,
                                              endTime=end)
            assert status == 200 and [r["orderId"] for r in rows] == [first["orderId"], second["orderId"]], rows
            # ... and with a time, orderId is ignored (web-socket-api.md, allOrders), not added as a filter
            for window in ({"startTime": end - 24 * HOUR}, {"endTime": end}):
                status, rows = await taker.signed("GET", "/api/v3/allOrders", symbol=SYMBOL,
                                                  orderId=second["orderId"], **window)
                assert status == 200 and [r["orderId"] for r in rows] == [first["orderId"], second["orderId"]], rows
    run(scenario())


def test_account_omit_zero_balances(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            client = await funded_client(session, node.base, ADMIN_TOKEN, USDT="100", BTC="1")
            status, doc = await admin(session, node.base, ADMIN_TOKEN, "/admin/v1/withdraw",
                                      {"accountId": client.account_id, "asset": "BTC", "amount": "1"})
            assert status == 200, doc
            status, doc = await client.signed("GET", "/api/v3/account")
            assert status == 200 and {b["asset"]: D(b["free"]) for b in doc["balances"]} == {"BTC": 0, "USDT": 100}
            for value in ("false", "FALSE"):
                status, doc = await client.signed("GET", "/api/v3/account", omitZeroBalances=value)
                assert status == 200 and [b["asset"] for b in doc["balances"]] == ["BTC", "USDT"], (value, doc)
            status, err = await client.signed("GET", "/api/v3/account", omitZeroBalances="")
            assert (status, err) == (400, {"code": -1105, "msg": "Parameter 'omitZeroBalances' was empty."})
            for value in ("true", "True"):
                status, doc = await client.signed("GET", "/api/v3/account", omitZeroBalances=value)
                assert status == 200 and [b["asset"] for b in doc["balances"]] == ["USDT"], (value, doc)
            status, err = await client.signed("GET", "/api/v3/account", omitZeroBalances="yes")
            assert (status, err["code"]) == (400, -1100)
    run(scenario())


def test_account_update_time_is_its_last_balance_change(node):
    """GET /api/v3/account's updateTime is the time of the account's last balance change (Binance:
    the user data stream's "u", "Time of last account update"), not the time of the request: an
    order's freeze, a trade against it, its cancel's release. (On ETHUSDT, which the other tests of
    this module leave alone.)"""
    async def scenario():
        async with aiohttp.ClientSession() as session:
            maker = await funded_client(session, node.base, ADMIN_TOKEN, ETH="1")
            taker = await funded_client(session, node.base, ADMIN_TOKEN, USDT="1000")

            async def update_time() -> int:
                status, doc = await maker.signed("GET", "/api/v3/account")
                assert status == 200, doc
                return doc["updateTime"]
            status, placed = await maker.order(symbol="ETHUSDT", side="SELL", type="LIMIT", timeInForce="GTC",
                                               quantity="0.2", price="2000", newOrderRespType="RESULT")
            assert status == 200, placed
            assert await update_time() == placed["transactTime"]
            await asyncio.sleep(0.05)
            assert await update_time() == placed["transactTime"]  # nothing changed since
            status, bought = await taker.order(symbol="ETHUSDT", side="BUY", type="MARKET", quantity="0.1")
            assert status == 200 and bought["status"] == "FILLED", bought
            assert await update_time() == bought["transactTime"] > placed["transactTime"]
            await asyncio.sleep(0.01)
            status, canceled = await maker.signed("DELETE", "/api/v3/order", symbol="ETHUSDT", orderId=placed["orderId"])
            assert status == 200, canceled
            assert await update_time() == canceled["transactTime"] > bought["transactTime"]
    run(scenario())


def test_python_binance_pages_trades_and_reads_an_orders_trades_right_after_it_fills(node):
    """As a bot writes it with python-binance: a MARKET order's own trades read at once
    (get_my_trades(orderId)); aggregate trades paged by fromId and by time windows, historical trades
    by fromId, each page going on from the last without repeating or skipping a trade."""
    from tests.node.test_api_keys import binance_client

    async def accounts():
        async with aiohttp.ClientSession() as session:
            return [await funded_client(session, node.base, ADMIN_TOKEN, **funds)
                    for funds in ({"BTC": "10"}, {"USDT": "1000000"})]
    maker, taker = [binance_client(node, api_key=c.api_key, api_secret=c.secret) for c in run(accounts())]
    trade_ids, rounds = [], []
    for _ in range(4):
        for price in ("33000", "33000", "33001"):
            maker.create_order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC", quantity="0.01", price=price)
        buy = taker.create_order(symbol=SYMBOL, side="BUY", type="MARKET", quantity="0.03")
        mine = taker.get_my_trades(symbol=SYMBOL, orderId=buy["orderId"])  # at once: no wait, no retry
        assert buy["status"] == "FILLED" and [(t["id"], t["orderId"], t["isBuyer"]) for t in mine] == [
            (f["tradeId"], buy["orderId"], True) for f in buy["fills"]], (buy, mine)
        rounds.append([f["tradeId"] for f in buy["fills"]])
        trade_ids += rounds[-1]
        time.sleep(0.005)  # each round its own milliseconds: the time windows below do not overlap

    # each round's two fills at 33000 are one aggregate (one taker, one price), its fill at 33001 another
    agg_ids = [i for ids in rounds for i in (ids[0], ids[2])]

    def paged(fetch, key: str) -> list[int]:
        """Pages of 5 by fromId, each starting right after the last one's final id (an aggregate's id
        is its first trade's: the next one's may be higher than the last one's + 1)."""
        ids, from_id = [], trade_ids[0]
        while page := fetch(symbol=SYMBOL, fromId=from_id, limit=5):
            assert len(page) <= 5 and page[0][key] >= from_id, page
            assert key == "a" or page[0][key] == from_id, page
            ids += [t[key] for t in page]
            from_id = ids[-1] + 1
        return ids
    assert paged(taker.get_aggregate_trades, "a") == agg_ids
    assert paged(taker.get_historical_trades, "id") == trade_ids
    aggs = taker.get_aggregate_trades(symbol=SYMBOL, fromId=trade_ids[0])
    assert [(a["f"], a["l"], a["q"]) for a in aggs] == [
        x for ids in rounds for x in ((ids[0], ids[1], "0.02000000"), (ids[2], ids[2], "0.01000000"))]
    windows = []
    for ids in rounds:  # one window per round, from its first trade's time to its last's
        times = [t["T"] for t in taker.get_aggregate_trades(symbol=SYMBOL, fromId=ids[0], limit=2)]
        windows += [t["a"] for t in taker.get_aggregate_trades(symbol=SYMBOL, startTime=times[0], endTime=times[-1])]
    assert windows == agg_ids
    first_time = taker.get_aggregate_trades(symbol=SYMBOL, fromId=trade_ids[0], limit=1)[0]["T"]
    # python-binance's iterator pages with fromId = the last id it has, and drops that one
    assert [t["a"] for t in taker.aggregate_trade_iter(SYMBOL, start_str=first_time)][-len(agg_ids):] == agg_ids

def test_klines_time_zone_ticker_type_and_exchange_info_filters_are_honoured(node):
    """No market-data parameter Binance documents is dropped: klines timeZone moves the candles'
    boundaries (startTime / endTime stay UTC), ticker/24hr type=MINI gives the short answer,
    exchangeInfo's permissions / symbolStatus filter the symbols and showPermissionSets=false empties
    permissionSets; a bad value or combination is Binance's error."""
    async def scenario():
        async with aiohttp.ClientSession() as session:
            maker = await funded_client(session, node.base, ADMIN_TOKEN, BTC="10")
            taker = await funded_client(session, node.base, ADMIN_TOKEN, USDT="1000000")
            await _sell(maker, "34000")
            await _market_buy(taker, "0.01")

            async def klines(**p):
                status, rows = await taker.public("/api/v3/klines", symbol=SYMBOL, **p)
                assert status == 200, rows
                return rows
            day = await klines(interval="1d")
            for zone, offset in (("8", 8 * HOUR), ("+08:00", 8 * HOUR), ("-1:00", -HOUR), ("05:45", 5 * HOUR + 45 * 60_000)):
                rows = await klines(interval="1d", timeZone=zone)
                # the boundaries are the zone's midnights, told in UTC; every trade is counted once
                assert all((k[0] + offset) % (24 * HOUR) == 0 and k[6] - k[0] == 24 * HOUR - 1 for k in rows), (zone, rows)
                assert sum(k[8] for k in rows) == sum(k[8] for k in day)
                assert sum(D(k[5]) for k in rows) == sum(D(k[5]) for k in day)
                hours = await klines(interval="1h", timeZone=zone)
                assert all((k[0] + offset) % HOUR == 0 for k in hours) and sum(k[8] for k in hours) == sum(k[8] for k in day)
            assert await klines(interval="1m", timeZone="-1:00") == await klines(interval="1m")  # whole minutes move none
            last = (await klines(interval="1d", timeZone="8"))[-1]
            assert await klines(interval="1d", timeZone="8", startTime=last[0] + 1) == []  # startTime: UTC open times
            assert (await klines(interval="1d", timeZone="8", startTime=last[0]))[0][0] == last[0]
            for bad in ("15", "-12:01", "8:60", "UTC"):
                status, err = await taker.public("/api/v3/klines", symbol=SYMBOL, interval="1d", timeZone=bad)
                assert (status, err["code"]) == (400, -1130), (bad, err)

            status, full = await taker.public("/api/v3/ticker/24hr", symbol=SYMBOL)
            status, mini = await taker.public("/api/v3/ticker/24hr", symbol=SYMBOL, type="MINI")
            assert status == 200 and list(mini) == ["symbol", "openPrice", "highPrice", "lowPrice", "lastPrice", "volume",
                                                    "quoteVolume", "openTime", "closeTime", "firstId", "lastId", "count"]
            assert {k: full[k] for k in mini if k not in ("openTime", "closeTime")} == \
                {k: v for k, v in mini.items() if k not in ("openTime", "closeTime")}
            status, minis = await taker.public("/api/v3/ticker/24hr", type="MINI")
            assert status == 200 and all("bidPrice" not in t for t in minis) and len(minis) == 2
            for path in ("/api/v3/ticker/24hr", "/api/v3/ticker", "/api/v3/ticker/tradingDay"):
                for bad in ("SMALL", "mini"):  # errors.md -1139 INVALID_TICKER_TYPE
                    status, err = await taker.public(path, symbol=SYMBOL, type=bad)
                    assert (status, err) == (400, {"code": -1139, "msg": "Invalid ticker type."}), (path, bad, err)
            # more than 100 symbols: counted before the names are checked (CHANGELOG.md 2022-06-20)
            many = "[" + ",".join(f'"SYM{i}"' for i in range(101)) + "]"
            for path in ("/api/v3/ticker", "/api/v3/ticker/tradingDay"):
                status, err = await taker.public(path, symbols=many)
                assert (status, err) == (400, {"code": -1101, "msg": "Too many values sent for parameter 'symbols', "
                                                                     "maximum allowed up to 100."}), (path, err)
                status, err = await taker.public(path, symbols=many.replace(",\"SYM100\"", ""))
                assert (status, err["code"]) == (400, -1121), (path, err)  # 100 names: each is checked

            async def names(**p):
                status, info = await taker.public("/api/v3/exchangeInfo", **p)
                assert status == 200, info
                return [s["symbol"] for s in info["symbols"]]
            assert await names() == await names(permissions="SPOT") == await names(permissions='["MARGIN","SPOT"]') \
                == await names(symbolStatus="TRADING") == ["BTCUSDT", "ETHUSDT"]
            assert await names(permissions="MARGIN") == await names(symbolStatus="HALT") == []
            status, info = await taker.public("/api/v3/exchangeInfo", showPermissionSets="false")
            assert [s["permissionSets"] for s in info["symbols"]] == [[], []]
            status, info = await taker.public("/api/v3/exchangeInfo", symbol=SYMBOL)
            assert info["symbols"][0]["permissionSets"] == [["SPOT"]]
            for bad, code in (({"symbol": SYMBOL, "symbolStatus": "TRADING"}, -1128),
                              ({"symbols": '["BTCUSDT"]', "permissions": "SPOT"}, -1128),
                              ({"symbolStatus": "OPEN"}, -1122), ({"permissions": "FUTURES"}, -1100),
                              ({"showPermissionSets": "maybe"}, -1100)):
                status, err = await taker.public("/api/v3/exchangeInfo", **bad)
                assert (status, err["code"]) == (400, code), (bad, err)
    run(scenario())


def _untimed(doc):
    """A ticker answer without its window's times (they move with the request's time)."""
    if isinstance(doc, list):
        return [_untimed(d) for d in doc]
    return {k: v for k, v in doc.items() if k not in ("openTime", "closeTime")}


def test_depth_and_tickers_honour_symbol_status(node):
    """symbolStatus on depth, ticker/24hr, ticker/price, ticker/bookTicker, ticker and
    ticker/tradingDay (CHANGELOG 2025-10-28; every symbol here is TRADING): TRADING answers as
    without it; for one symbol another status is -1220 "The symbol's status does not match the
    requested symbolStatus.", for symbols=[...] or all symbols it leaves them out ([]); a status
    Binance does not know is -1122 "Invalid symbolStatus." (errors.md). The WebSocket API's methods
    answer the same."""
    from tests.ws_api.conftest import WsApi

    mismatch = {"code": -1220, "msg": "The symbol's status does not match the requested symbolStatus."}
    invalid = {"code": -1122, "msg": "Invalid symbolStatus."}
    both = '["BTCUSDT","ETHUSDT"]'
    cases = [("/api/v3/depth", "depth", {"symbol": SYMBOL}, None),
             ("/api/v3/ticker/24hr", "ticker.24hr", {"symbol": SYMBOL}, {}),
             ("/api/v3/ticker/price", "ticker.price", {"symbol": SYMBOL}, {}),
             ("/api/v3/ticker/bookTicker", "ticker.book", {"symbol": SYMBOL}, {}),
             ("/api/v3/ticker", "ticker", {"symbol": SYMBOL}, {"symbols": both}),
             ("/api/v3/ticker/tradingDay", "ticker.tradingDay", {"symbol": SYMBOL}, {"symbols": both})]

    async def scenario():
        async with aiohttp.ClientSession() as session:
            client = await funded_client(session, node.base, ADMIN_TOKEN)
            api = WsApi(await session.ws_connect(node.base.replace("http://", "ws://") + "/ws-api/v3"))
            for path, method, one, many in cases:
                for params in ([one] if many is None else [one, many, {"symbols": both}]):
                    status, plain = await client.public(path, **params)
                    assert status == 200, (path, params, plain)
                    status, trading = await client.public(path, symbolStatus="TRADING", **params)
                    assert (status, _untimed(trading)) == (200, _untimed(plain)), (path, params, trading)
                    status, halted = await client.public(path, symbolStatus="HALT", **params)
                    if params is one:
                        assert (status, halted) == (400, mismatch), (path, halted)
                    else:
                        assert (status, halted) == (200, []), (path, params, halted)
                    doc = await api.call(method, {**params, "symbolStatus": "BREAK"})
                    if params is one:
                        assert (doc["status"], doc["error"]) == (400, mismatch), (method, doc)
                    else:
                        assert (doc["status"], doc["result"]) == (200, []), (method, doc)
                status, err = await client.public(path, symbolStatus="OPEN", **one)
                assert (status, err) == (400, invalid), (path, err)
                doc = await api.call(method, {**one, "symbolStatus": "trading"})
                assert (doc["status"], doc["error"]) == (400, invalid), (method, doc)
    run(scenario())


def test_exchange_info_says_opo_lists_are_not_allowed(node):
    """rest-api.md's exchangeInfo shows "opoAllowed" after "otoAllowed"; the node has no OPO lists
    (POST /api/v3/orderList/opo is an unknown path), so every symbol says false."""
    async def scenario():
        async with aiohttp.ClientSession() as session:
            client = await funded_client(session, node.base, ADMIN_TOKEN, USDT="100")
            status, info = await client.public("/api/v3/exchangeInfo")
            assert status == 200 and info["symbols"], info
            for symbol in info["symbols"]:
                keys = list(symbol)
                assert keys[keys.index("otoAllowed") + 1] == "opoAllowed" and symbol["opoAllowed"] is False, symbol
            status, doc = await client.signed("POST", "/api/v3/orderList/opo", symbol=SYMBOL)
            assert status == 404, doc
    run(scenario())


def test_times_in_microseconds_are_taken_as_binance_takes_them(node):
    """rest-api.md: timestamp, startTime and endTime may be sent in microseconds: a signed request
    timed in µs is served, and a window in µs selects what the same window in ms selects."""
    async def scenario():
        async with aiohttp.ClientSession() as session:
            maker = await funded_client(session, node.base, ADMIN_TOKEN, BTC="1")
            taker = await funded_client(session, node.base, ADMIN_TOKEN, USDT="100000")
            await _sell(maker, "30500")
            buy = await _market_buy(taker, "0.01")
            status, doc = await taker.signed("GET", "/api/v3/account", timestamp=time.time_ns() // 1000)
            assert status == 200 and doc["accountType"] == "SPOT", doc
            at = buy["transactTime"]
            status, in_ms = await taker.signed("GET", "/api/v3/myTrades", symbol=SYMBOL, startTime=at, endTime=at)
            status, in_us = await taker.signed("GET", "/api/v3/myTrades", symbol=SYMBOL, startTime=at * 1000,
                                               endTime=at * 1000 + 999)
            assert status == 200 and in_us == in_ms and [t["orderId"] for t in in_us] == [buy["orderId"]], in_us
            status, after = await taker.signed("GET", "/api/v3/myTrades", symbol=SYMBOL, startTime=at * 1000 + 1,
                                               endTime=at * 1000 + 999)
            assert (status, after) == (200, []), after  # the trade's ms began before the window
    run(scenario())


def test_times_come_in_microseconds_when_the_header_asks(node):
    """rest-api.md: "All time and timestamp related fields in the JSON responses are in milliseconds
    by default. To receive the information in microseconds, please add the header
    `X-MBX-TIME-UNIT:MICROSECOND` or `X-MBX-TIME-UNIT:microsecond`." The same answers, each time
    field times 1,000 (the node keeps milliseconds); any other unit is -1194."""
    async def scenario():
        async with aiohttp.ClientSession() as plain, \
                aiohttp.ClientSession(headers={"X-MBX-TIME-UNIT": "MICROSECOND"}) as micro_session:
            maker = await funded_client(plain, node.base, ADMIN_TOKEN, BTC="1")
            taker = await funded_client(plain, node.base, ADMIN_TOKEN, USDT="100000")
            micro = Client(micro_session, node.base, taker.api_key, taker.secret)
            sell = await _sell(maker, "31000")
            status, bought = await micro.order(symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="GTC",
                                               quantity="0.01", price="31000", newOrderRespType="FULL")
            assert status == 200 and bought["status"] == "FILLED", bought
            now_us = time.time() * 1e6
            assert now_us - 60e6 < bought["transactTime"] < now_us + 1e6, bought  # microseconds, not ms

            async def both(path: str, signed: bool = False, **p):
                if signed:
                    (s1, ms), (s2, us) = await taker.signed("GET", path, **p), await micro.signed("GET", path, **p)
                else:
                    (s1, ms), (s2, us) = await taker.public(path, **p), await micro.public(path, **p)
                assert s1 == s2 == 200, (path, ms, us)
                return ms, us

            ms, us = await both("/api/v3/order", signed=True, symbol=SYMBOL, orderId=bought["orderId"])
            assert us == ms | {k: ms[k] * 1000 for k in ("time", "updateTime", "workingTime")}, (ms, us)
            ms, us = await both("/api/v3/myTrades", signed=True, symbol=SYMBOL, orderId=bought["orderId"])
            assert us == [t | {"time": t["time"] * 1000} for t in ms] and ms, (ms, us)
            ms, us = await both("/api/v3/aggTrades", symbol=SYMBOL, limit=3)
            assert us == [t | {"T": t["T"] * 1000} for t in ms] and ms, (ms, us)
            ms, us = await both("/api/v3/klines", symbol=SYMBOL, interval="1m", limit=2)
            # (a candle's close time, its last millisecond, is its last microsecond)
            assert us == [[r[0] * 1000, *r[1:6], r[6] * 1000 + 999, *r[7:]] for r in ms] and ms, (ms, us)
            ms, us = await both("/api/v3/ticker/tradingDay", symbol=SYMBOL)
            assert us["openTime"] == ms["openTime"] * 1000 and us["closeTime"] == ms["closeTime"] * 1000 + 999, us
            ms, us = await both("/api/v3/ticker/24hr", symbol=SYMBOL)
            times = ("openTime", "closeTime")  # (a window ending now: the two calls' differ by a ms or so)
            assert {k: v for k, v in us.items() if k not in times} == {k: v for k, v in ms.items() if k not in times}
            assert all(abs(us[k] - ms[k] * 1000) < 1_000_000 and us[k] % 1000 == 0 for k in times), (ms, us)
            ms, us = await both("/api/v3/depth", symbol=SYMBOL, limit=5)  # no time field: the same
            assert us == ms, (ms, us)
            ms, us = await both("/api/v3/account", signed=True)
            assert us == ms | {"updateTime": ms["updateTime"] * 1000}, (ms, us)
            # an error's data too: a cancel-replace whose cancel went through and whose new order did not
            status, bid = await micro.order(symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="GTC",
                                            quantity="0.01", price="20000")
            assert status == 200 and bid["workingTime"] > now_us - 60e6, bid
            await _sell(maker, "33000")
            status, err = await micro.signed("POST", "/api/v3/order/cancelReplace", symbol=SYMBOL, side="BUY",
                                             type="LIMIT_MAKER", quantity="0.01", price="33000",
                                             cancelReplaceMode="ALLOW_FAILURE", cancelOrderId=bid["orderId"])
            assert status == 409 and err["code"] == -2021, err
            assert err["data"]["cancelResponse"]["transactTime"] > now_us - 60e6, err
            assert sell["transactTime"] < bought["transactTime"] // 1000 + 1

            for unit, code in (("millisecond", 200), ("MILLISECOND", 200), ("NANOSECOND", 400), ("Microsecond", 400)):
                async with plain.get(f"{node.base}/api/v3/time", headers={"X-MBX-TIME-UNIT": unit}) as resp:
                    doc = await resp.json()
                    assert resp.status == code, (unit, doc)
                    if code == 200:
                        assert abs(doc["serverTime"] - time.time() * 1000) < 60_000, (unit, doc)
                    else:
                        assert doc == {"code": -1194, "msg": "Invalid value for time unit; expected either "
                                                             "MICROSECOND or MILLISECOND."}, (unit, doc)
    run(scenario())
