"""Trading over Binance's WebSocket API (api/wsapi.py, issue 16) through a real node over a real aiohttp
WebSocket: orders placed, queried and cancelled on one connection whose user data subscription shows
them; an Ed25519 session.logon, then unsigned requests in the session; the orders are the REST
API's (same journal, same answers); `rateLimits` in the answers; bad frames and signatures get
Binance's errors and change nothing."""

from __future__ import annotations

import time
from decimal import Decimal as D

import aiohttp
import msgspec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from spot_seda.model.commands import DECODER, NewOrder
from tests.conftest import eventually
from tests.node.client import admin, funded_client
from tests.ws_api.conftest import ADMIN_TOKEN, ORDERS_10S, connect, run, sign

SYMBOL = "BTCUSDT"
LIMIT_SELL = {"symbol": SYMBOL, "side": "SELL", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01"}


def limits_of(answer: dict) -> dict[str, int]:
    return {f'{l["rateLimitType"]}-{l["intervalNum"]}{l["interval"][0]}': l["count"] for l in answer["rateLimits"]}


async def ed25519_account(session, node, **deposits):
    """An account registered with an Ed25519 public key; (its api key, its private key, its id)."""
    private = ed25519.Ed25519PrivateKey.generate()
    pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    status, acct = await admin(session, node.base, ADMIN_TOKEN, "/admin/v1/accounts", {"publicKey": pem})
    assert status == 200 and acct["keyType"] == "ED25519", acct
    for asset, amount in deposits.items():
        status, doc = await admin(session, node.base, ADMIN_TOKEN, "/admin/v1/deposit",
                                  {"accountId": acct["accountId"], "asset": asset, "amount": amount})
        assert status == 200, doc
    return acct["apiKey"], private, acct["accountId"]


def test_place_query_cancel_with_user_data_on_one_connection(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            alice = await funded_client(session, node.base, ADMIN_TOKEN, BTC="1", USDT="100000")
            bob = await funded_client(session, node.base, ADMIN_TOKEN, USDT="100000")
            api = await connect(session, node)
            sub = await api.signed("userDataStream.subscribe.signature", alice.api_key, alice.secret)
            assert sub["status"] == 200 and sub["result"] == {"subscriptionId": 0}, sub
            again = await api.signed("userDataStream.subscribe.signature", alice.api_key, alice.secret)
            assert again["error"]["code"] == -2035, again  # one subscription per account and connection

            placed = await api.signed("order.place", alice.api_key, alice.secret, **LIMIT_SELL, price="61000",
                                      newClientOrderId="ws-sell-1", newOrderRespType="RESULT")
            assert placed["status"] == 200, placed
            order = placed["result"]
            assert order["status"] == "NEW" and order["clientOrderId"] == "ws-sell-1", order
            counts = limits_of(placed)
            assert counts["ORDERS-10S"] >= 1 and counts["ORDERS-1D"] >= 1 and counts["REQUEST_WEIGHT-1M"] > 0, placed
            new = await api.event(lambda e: e.get("e") == "executionReport" and e["c"] == "ws-sell-1")
            assert new["X"] == "NEW" and new["i"] == order["orderId"], new
            await api.event(lambda e: e.get("e") == "outboundAccountPosition")

            status = await api.signed("order.status", alice.api_key, alice.secret, symbol=SYMBOL,
                                      origClientOrderId="ws-sell-1")
            assert status["result"]["orderId"] == order["orderId"] and status["result"]["status"] == "NEW", status
            wrong = await api.signed("order.status", alice.api_key, alice.secret, symbol=SYMBOL,
                                     orderId=order["orderId"], origClientOrderId="ws-sell-2")
            assert wrong["status"] == 400 and wrong["error"] == {
                "code": -2039, "msg": "Client order ID is not correct for this order ID."}, wrong
            opened = await api.signed("openOrders.status", alice.api_key, alice.secret, symbol=SYMBOL)
            assert [o["orderId"] for o in opened["result"]] == [order["orderId"]], opened
            # the order is REST's: the same journal, the same view, the same answer
            code, rest = await alice.signed("GET", "/api/v3/order", symbol=SYMBOL, orderId=order["orderId"])
            assert code == 200 and rest == status["result"], (rest, status)

            # bob takes half of it over REST; alice sees the trade on her WebSocket API connection
            code, taken = await bob.order(symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="IOC",
                                          quantity="0.005", price="61000")
            assert code == 200 and taken["status"] == "FILLED", taken
            fill = await api.event(lambda e: e.get("e") == "executionReport" and e["x"] == "TRADE")
            assert fill["X"] == "PARTIALLY_FILLED" and fill["l"] == "0.00500000", fill

            cancelled = await api.signed("order.cancel", alice.api_key, alice.secret, symbol=SYMBOL,
                                         orderId=order["orderId"])
            assert cancelled["status"] == 200 and cancelled["result"]["status"] == "CANCELED", cancelled
            gone = await api.event(lambda e: e.get("e") == "executionReport" and e["X"] == "CANCELED")
            assert gone["i"] == order["orderId"], gone
            again = await api.signed("order.cancel", alice.api_key, alice.secret, symbol=SYMBOL, orderId=order["orderId"])
            assert again["status"] == 400 and again["error"]["code"] == -2011, again

            # two more, cancelled together
            for price in ("62000", "63000"):
                assert (await api.signed("order.place", alice.api_key, alice.secret, **LIMIT_SELL, price=price))["status"] == 200
            all_cancelled = await api.signed("openOrders.cancelAll", alice.api_key, alice.secret, symbol=SYMBOL)
            assert [o["price"] for o in all_cancelled["result"]] == ["62000.00000000", "63000.00000000"], all_cancelled

            history = await api.signed("allOrders", alice.api_key, alice.secret, symbol=SYMBOL)
            assert [o["status"] for o in history["result"]] == ["CANCELED"] * 3, history
            code, rest_history = await alice.signed("GET", "/api/v3/allOrders", symbol=SYMBOL)
            assert rest_history == history["result"]
            trades = await api.signed("myTrades", alice.api_key, alice.secret, symbol=SYMBOL)
            assert [(t["qty"], t["isBuyer"]) for t in trades["result"]] == [("0.00500000", False)], trades
            account = await api.signed("account.status", alice.api_key, alice.secret, omitZeroBalances=True)
            balances = {b["asset"]: (b["free"], b["locked"]) for b in account["result"]["balances"]}
            assert balances == await alice.balances() and balances["BTC"] == ("0.99500000", "0.00000000"), balances
            # the time of the last balance change: the cancels' release
            assert account["result"]["updateTime"] == max(o["transactTime"] for o in all_cancelled["result"]), account
            usage = await api.signed("account.rateLimits.orders", alice.api_key, alice.secret)
            # three orders placed; the first one's fill took it off again (the day's count: a 10 s
            # window may have rolled over)
            assert [u["count"] for u in usage["result"]][1] == 2, usage

            unsub = await api.call("userDataStream.unsubscribe", {"subscriptionId": 0})
            assert unsub["result"] == {}, unsub
            ended = [doc for doc in api.events if doc["event"].get("e") == "eventStreamTerminated"]  # before the reply
            assert [(doc["subscriptionId"], sorted(doc["event"])) for doc in ended] == [(0, ["E", "e"])], api.events
            assert abs(ended[0]["event"]["E"] - time.time() * 1000) < 60_000, ended
            assert (await api.call("userDataStream.unsubscribe", {"subscriptionId": 0}))["error"]["code"] == -2036
            await api.ws.close()
    run(scenario())


def test_ed25519_logon_then_unsigned_requests(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            api_key, private, account_id = await ed25519_account(session, node, BTC="1")
            api = await connect(session, node)
            status = await api.call("session.status")
            assert status["result"]["apiKey"] is None and status["result"]["userDataStream"] is False, status
            # before logon, neither an unsigned order nor userDataStream.subscribe
            refused = await api.call("order.place", {**LIMIT_SELL, "price": "70000", "timestamp": 1})
            assert refused["error"]["code"] == -1102 and "apiKey" in refused["error"]["msg"], refused
            assert (await api.call("userDataStream.subscribe"))["error"]["code"] == -1002

            logon = await api.signed("session.logon", api_key, private)
            assert logon["status"] == 200 and logon["result"]["apiKey"] == api_key, logon
            assert logon["result"]["authorizedSince"] >= logon["result"]["connectedSince"], logon
            sub = await api.call("userDataStream.subscribe")
            assert sub["result"] == {"subscriptionId": 0}, sub
            assert (await api.call("session.status"))["result"]["userDataStream"] is True

            # no apiKey, no signature: the session's account; a timestamp is still required
            placed = await api.call("order.place", {**LIMIT_SELL, "price": "70000", "newClientOrderId": "logon-1",
                                                    "timestamp": int(time.time() * 1000)})
            assert placed["status"] == 200 and placed["result"]["status"] == "NEW", placed
            event = await api.event(lambda e: e.get("e") == "executionReport" and e["c"] == "logon-1")
            assert event["X"] == "NEW", event
            stale = await api.call("order.place", {**LIMIT_SELL, "price": "70000", "timestamp": int(time.time() * 1000) - 60_000})
            assert stale["error"]["code"] == -1021, stale
            mine = await api.call("openOrders.status", {"symbol": SYMBOL, "timestamp": int(time.time() * 1000)})
            assert [o["clientOrderId"] for o in mine["result"]] == ["logon-1"], mine
            # a null apiKey or signature is one not sent: the request runs as the session's
            mine = await api.call("openOrders.status", {"symbol": SYMBOL, "timestamp": int(time.time() * 1000),
                                                        "apiKey": None, "signature": None})
            assert [o["clientOrderId"] for o in mine["result"]] == ["logon-1"], mine

            out = await api.call("session.logout")
            assert out["result"]["apiKey"] is None and out["result"]["userDataStream"] is False, out
            ended = await api.event(lambda e: e.get("e") == "eventStreamTerminated")  # the logon's subscription
            assert set(ended) == {"e", "E"}, ended
            refused = await api.call("openOrders.status", {"symbol": SYMBOL, "timestamp": int(time.time() * 1000)})
            assert refused["error"]["code"] == -1102, refused
            # a signed request on the same connection works all the same (ad hoc)
            cancel = await api.signed("order.cancel", api_key, private, symbol=SYMBOL, origClientOrderId="logon-1")
            assert cancel["result"]["status"] == "CANCELED", cancel

            # HMAC keys cannot log on (Ed25519 only, as Binance); a wrong Ed25519 signature neither
            hmac_user = await funded_client(session, node.base, ADMIN_TOKEN)
            assert (await api.signed("session.logon", hmac_user.api_key, hmac_user.secret))["error"]["code"] == -1002
            # ... but only for its owner: with a wrong signature an HMAC key is -1022 like any other
            # (the key alone, which travels in headers, says nothing of its kind)
            assert (await api.signed("session.logon", hmac_user.api_key, "not-its-secret"))["error"]["code"] == -1022
            impostor = ed25519.Ed25519PrivateKey.generate()
            assert (await api.signed("session.logon", api_key, impostor))["error"]["code"] == -1022
            assert (await api.call("session.status"))["result"]["apiKey"] is None
            await api.ws.close()
    run(scenario())


def test_bad_frames_and_signatures_get_errors_and_change_nothing(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            carol = await funded_client(session, node.base, ADMIN_TOKEN, BTC="1", USDT="1000")
            before = await carol.balances()
            api = await connect(session, node)
            await api.ws.send_bytes(b'{"id": 1, "method": "ping"}')
            doc = await api.answer(None)
            assert doc["status"] == 400 and doc["error"]["code"] == -1135 and "binary" in doc["error"]["msg"], doc
            for frame, code in (("{not json", -1135), ("[1, 2]", -1135), ('"ping"', -1135), ("[" * 60_000, -1135),
                                ('{"id": 7}', -1102), ('{"id": {"a": 1}, "method": "ping"}', -1102),
                                ('{"method": "ping"}', -1102)):  # (web-socket-api.md: `id` is mandatory)
                await api.ws.send_str(frame)
                doc = await api.answer(7 if code == -1102 and "method" not in frame else None)
                assert doc["error"]["code"] == code, (frame[:40], doc)
            await api.ws.send_str('{"id": null, "method": "ping"}')  # (null is an id)
            assert (await api.answer(None))["status"] == 200
            assert (await api.call("ping", [1]))["error"]["code"] == -1135  # params must be an object
            assert (await api.call("no.such.method"))["error"]["code"] == -1020

            order = {**LIMIT_SELL, "price": "80000"}
            wrong = await api.signed("order.place", carol.api_key, "not-the-secret", **order)
            assert wrong["status"] == 400 and wrong["error"]["code"] == -1022, wrong
            tampered = await api.signed("order.place", carol.api_key, carol.secret, **order)  # (placed: a control)
            assert tampered["status"] == 200, tampered
            cancel = await api.signed("order.cancel", carol.api_key, carol.secret, symbol=SYMBOL,
                                      orderId=tampered["result"]["orderId"])
            assert cancel["status"] == 200
            params = dict(order, apiKey=carol.api_key, timestamp=int(time.time() * 1000))
            params["signature"] = sign(carol.secret, params)
            params["price"] = "1"  # changed after signing
            assert (await api.call("order.place", params))["error"]["code"] == -1022
            assert (await api.call("order.place", {**order, "apiKey": "x" * 64, "timestamp": 1, "signature": "ab"}))["error"]["code"] == -2015
            assert (await api.call("order.place", {**order, "apiKey": carol.api_key, "timestamp": 1}))["error"]["code"] == -1102
            old = await api.signed("order.place", carol.api_key, carol.secret, **order, recvWindow=5000, timestamp=1)
            assert old["error"]["code"] == -1021, old
            # a null is a parameter not sent (errors.md -1102: "was not sent, was empty/null, or malformed")
            null = await api.signed("order.place", carol.api_key, carol.secret, **{**order, "price": None})
            assert null["error"] == {"code": -1102, "msg": "Mandatory parameter 'price' was not sent, was empty/null, "
                                                           "or malformed."}, null
            nested = await api.signed("order.place", carol.api_key, carol.secret, **{**order, "price": ["1"]})
            assert nested["error"]["code"] == -1100, nested
            assert (await api.call("depth", {"symbol": None}))["error"]["code"] == -1102
            # ... for every check: an unknown one, returnRateLimits, an envelope's apiKey
            assert (await api.call("ping", {"foo": None}))["status"] == 200
            answer = await api.call("time", {"returnRateLimits": None})
            assert answer["status"] == 200 and "rateLimits" in answer, answer
            depth = await api.call("depth", {"symbol": SYMBOL, "limit": None})  # an optional one: its default
            assert depth["status"] == 200 and "bids" in depth["result"], depth
            # REST's validation and REST's codes
            off_tick = await api.signed("order.place", carol.api_key, carol.secret, **{**order, "price": "80000.001"})
            code, rest = await carol.order(**{**order, "price": "80000.001"})
            assert off_tick["error"] == rest and off_tick["status"] == code == 400, (off_tick, rest)
            broke = await api.signed("order.place", carol.api_key, carol.secret, **{**order, "quantity": "5"})
            assert broke["error"]["code"] == -2010, broke
            unknown = await api.signed("order.place", carol.api_key, carol.secret, **order, foo="bar")
            assert unknown["error"]["code"] == -1104, unknown
            missing = await api.signed("order.status", carol.api_key, carol.secret, symbol=SYMBOL, orderId=10**9)
            assert missing["error"]["code"] == -2013, missing
            assert (await api.call("ping"))["status"] == 200  # the connection goes on

            assert await carol.balances() == before
            code, opened = await carol.signed("GET", "/api/v3/openOrders", symbol=SYMBOL)
            assert opened == []
            code, history = await carol.signed("GET", "/api/v3/allOrders", symbol=SYMBOL)
            assert [o["status"] for o in history] == ["CANCELED"], history  # only the control order
            await api.ws.close()
    run(scenario())


def test_market_data_methods_answer_as_rest(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            dave = await funded_client(session, node.base, ADMIN_TOKEN, BTC="1", USDT="100000")
            await dave.order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC", quantity="0.02", price="55000")
            await dave.order(symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01", price="55000",
                             selfTradePreventionMode="NONE")  # a trade with itself (the default would expire the ask)
            api = await connect(session, node)
            for method, path, params in (("depth", "/api/v3/depth", {"symbol": SYMBOL, "limit": 5}),
                                         ("trades.recent", "/api/v3/trades", {"symbol": SYMBOL, "limit": 3}),
                                         ("klines", "/api/v3/klines", {"symbol": SYMBOL, "interval": "1m"}),
                                         ("uiKlines", "/api/v3/uiKlines", {"symbol": SYMBOL, "interval": "1m"}),
                                         ("ticker.price", "/api/v3/ticker/price", {"symbol": SYMBOL}),
                                         ("ticker.book", "/api/v3/ticker/bookTicker", {"symbol": SYMBOL}),
                                         ("exchangeInfo", "/api/v3/exchangeInfo", {"symbol": SYMBOL})):
                answer = await api.call(method, params)
                assert answer["status"] == 200, answer
                code, rest = await dave.public(path, **params)
                if method == "exchangeInfo":
                    answer["result"].pop("serverTime"), rest.pop("serverTime")
                    # (the WebSocket API lists CONNECTIONS where REST lists RAW_REQUESTS: CHANGELOG 2023-08-25)
                    ws_limits, rest_limits = answer["result"].pop("rateLimits"), rest.pop("rateLimits")
                    assert ws_limits[:-1] == rest_limits[:-1] and rest_limits[-1]["rateLimitType"] == "RAW_REQUESTS"
                    assert ws_limits[-1] == {"rateLimitType": "CONNECTIONS", "interval": "MINUTE", "intervalNum": 5,
                                             "limit": 300}, ws_limits
                assert answer["result"] == rest, (method, answer, rest)
            listed = await api.call("ticker.price", {"symbols": [SYMBOL, "ETHUSDT"]})
            code, rest = await dave.public("/api/v3/ticker/price", symbols='["BTCUSDT","ETHUSDT"]')
            assert listed["result"] == rest, listed
            # exchangeInfo's permissions: "ARRAY of STRING" (web-socket-api.md), or one name
            for permissions, text in ((["SPOT", "MARGIN"], '["SPOT","MARGIN"]'), (["MARGIN"], '["MARGIN"]'),
                                      ("SPOT", "SPOT")):
                answer = await api.call("exchangeInfo", {"permissions": permissions})
                assert answer["status"] == 200, answer
                code, rest = await dave.public("/api/v3/exchangeInfo", permissions=text)
                for doc in (answer["result"], rest):
                    doc.pop("serverTime"), doc.pop("rateLimits")
                assert code == 200 and answer["result"] == rest, (permissions, answer, rest)
                assert [s["symbol"] for s in rest["symbols"]] == ([] if permissions == ["MARGIN"] else [SYMBOL, "ETHUSDT"])
            for bad in ([1], [["SPOT"]], {"SPOT": 1}):
                assert (await api.call("exchangeInfo", {"permissions": bad}))["error"]["code"] == -1100, bad
            answer = await api.call("exchangeInfo", {"symbolStatus": "FOO"})  # errors.md: -1122 INVALID_SYMBOLSTATUS
            assert (answer["status"], answer["error"]) == (400, {"code": -1122, "msg": "Invalid symbolStatus."}), answer
            assert (await api.call("depth", {"symbol": "NOPE"}))["error"]["code"] == -1121
            assert (await api.call("klines", {"symbol": SYMBOL}))["error"]["code"] == -1102
            code, ui = await dave.public("/api/v3/uiKlines", symbol=SYMBOL, interval="1m")
            code, plain = await dave.public("/api/v3/klines", symbol=SYMBOL, interval="1m")
            assert code == 200 and ui == plain and ui[-1][8] >= 1, ui  # the same candles, with the trade
            # the rolling window and trading day tickers: the 24-hour ticker's sums over their windows
            code, day = await dave.public("/api/v3/ticker/24hr", symbol=SYMBOL)
            for method, path, params in (("ticker", "/api/v3/ticker", {"windowSize": "7d"}),
                                         ("ticker", "/api/v3/ticker", {}),
                                         ("ticker.tradingDay", "/api/v3/ticker/tradingDay", {}),
                                         ("ticker.tradingDay", "/api/v3/ticker/tradingDay", {"timeZone": "+08:00"})):
                code, rest = await dave.public(path, symbol=SYMBOL, **params)
                assert code == 200 and rest["count"] >= 1 and rest["openTime"] % 60_000 == 0, rest
                if path.endswith("tradingDay"):  # closeTime: the day's last millisecond (rest-api.md's examples)
                    assert rest["closeTime"] == rest["openTime"] + 86_400_000 - 1, rest
                else:  # the window ends now
                    assert rest["openTime"] < rest["closeTime"] <= rest["openTime"] + 7 * 86_400_000 + 60_000, rest
                assert set(rest) == set(day) - {"prevClosePrice", "lastQty", "bidPrice", "bidQty", "askPrice", "askQty"}
                assert rest["lastPrice"] == day["lastPrice"] and rest["lastId"] == day["lastId"], (rest, day)
                answer = await api.call(method, {"symbols": [SYMBOL], **params})
                code, listed = await dave.public(path, symbols='["BTCUSDT"]', **params)
                strip = [{k: v for k, v in t.items() if k != "closeTime"} for t in listed]
                assert [{k: v for k, v in t.items() if k != "closeTime"} for t in answer["result"]] == strip, answer
            code, mini = await dave.public("/api/v3/ticker", symbol=SYMBOL, windowSize="1h", type="MINI")
            assert "priceChange" not in mini and mini["count"] >= 1, mini
            for params, error in (({}, -1102), ({"symbol": SYMBOL, "windowSize": "1d2h"}, -1100),
                                  ({"symbol": SYMBOL, "windowSize": "8d"}, -1100),
                                  ({"symbol": SYMBOL, "symbols": '["BTCUSDT"]'}, -1128)):
                code, err = await dave.public("/api/v3/ticker", **params)
                assert (code, err["code"]) == (400, error), (params, err)
            for path in ("/api/v3/ticker/24hr", "/api/v3/ticker/price", "/api/v3/ticker/bookTicker"):
                code, err = await dave.public(path, symbol=SYMBOL, symbols='["BTCUSDT"]')  # not both (rest-api.md)
                assert (code, err["code"]) == (400, -1128), (path, err)
            await api.ws.close()
    run(scenario())


def test_commission_rates_and_filters_of_an_account_over_rest_and_the_websocket_api(node):
    """GET /api/v3/account/commission and `account.commission`: the symbol's maker and taker rates
    (configs/default.toml: 0.001 each), in Binance's shape; a symbol is mandatory and must exist.
    GET /api/v3/myFilters and `myFilters`: the symbol's filters."""
    async def scenario():
        async with aiohttp.ClientSession() as session:
            erin = await funded_client(session, node.base, ADMIN_TOKEN, USDT="10")
            zero = {"maker": "0.00000000", "taker": "0.00000000", "buyer": "0.00000000", "seller": "0.00000000"}
            expected = {"symbol": SYMBOL,
                        "standardCommission": {**zero, "maker": "0.00100000", "taker": "0.00100000"},
                        "specialCommission": zero, "taxCommission": zero,
                        "discount": {"enabledForAccount": False, "enabledForSymbol": False, "discountAsset": "",
                                     "discount": "0.00000000"}}
            assert await erin.signed("GET", "/api/v3/account/commission", symbol=SYMBOL) == (200, expected)
            status, err = await erin.signed("GET", "/api/v3/account/commission")
            assert (status, err["code"]) == (400, -1102), err
            status, err = await erin.signed("GET", "/api/v3/account/commission", symbol="NOPEUSDT")
            assert (status, err["code"]) == (400, -1121), err
            api = await connect(session, node)
            answer = await api.signed("account.commission", erin.api_key, erin.secret, symbol=SYMBOL)
            assert answer["status"] == 200 and answer["result"] == expected, answer
            unsigned = await api.call("account.commission", {"symbol": SYMBOL})
            assert unsigned["status"] >= 400, unsigned
            # myFilters: the symbol's filters as exchangeInfo lists them, no exchange or asset filters
            code, info = await erin.public("/api/v3/exchangeInfo", symbol=SYMBOL)
            mine = {"exchangeFilters": [], "symbolFilters": info["symbols"][0]["filters"], "assetFilters": []}
            assert await erin.signed("GET", "/api/v3/myFilters", symbol=SYMBOL) == (200, mine)
            answer = await api.signed("myFilters", erin.api_key, erin.secret, symbol=SYMBOL)
            assert answer["status"] == 200 and answer["result"] == mine, answer
            await api.ws.close()
    run(scenario())


def test_rate_limits_in_every_answer_and_orders_limit(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            erin = await funded_client(session, node.base, ADMIN_TOKEN, BTC="10")
            api = await connect(session, node)
            first, second = await api.call("time"), await api.call("depth", {"symbol": SYMBOL})
            assert limits_of(second)["REQUEST_WEIGHT-1M"] - limits_of(first)["REQUEST_WEIGHT-1M"] == 5  # depth weighs 5
            assert "rateLimits" not in await api.call("time", {"returnRateLimits": False})
            quiet = await connect(session, node, "?returnRateLimits=false")
            assert "rateLimits" not in await quiet.call("time")
            assert "rateLimits" in await quiet.call("time", {"returnRateLimits": True})
            await quiet.ws.close()

            # ORDERS per account: pipelined orders, answered in any order, the one past the limit 429
            sends = []
            for i in range(ORDERS_10S + 1):
                params = dict(LIMIT_SELL, price=str(90000 + i), newOrderRespType="ACK", apiKey=erin.api_key)
                params["timestamp"] = int(time.time() * 1000)
                params["signature"] = sign(erin.secret, params)
                sends.append(await api.send("order.place", params))
            answers = [await api.answer(i) for i in sends]
            refused = [a for a in answers if a["status"] != 200]
            assert len(refused) == 1 and refused[0]["status"] == 429 and refused[0]["error"]["code"] == -1015, refused
            data = refused[0]["error"]["data"]
            assert 0 < data["retryAfter"] - data["serverTime"] <= 10_000 and data["retryAfter"] % 10_000 == 0, data
            assert limits_of(refused[0])["ORDERS-10S"] == ORDERS_10S
            code, opened = await erin.signed("GET", "/api/v3/openOrders", symbol=SYMBOL)
            assert len(opened) == ORDERS_10S  # the refused one changed nothing
            cleared = await api.signed("openOrders.cancelAll", erin.api_key, erin.secret, symbol=SYMBOL)
            assert len(cleared["result"]) == ORDERS_10S

            async def settled():
                assert (await erin.balances())["BTC"] == ("10.00000000", "0.00000000")
            await eventually(settled)
            await api.ws.close()
    run(scenario())


def test_only_placed_orders_count_and_a_fill_takes_one_off(node):
    """The unfilled order count over the WebSocket API, as over REST (faqs/order_count_decrement.md):
    a refused order.place or list gives its count back; a first fill takes one off (day counts: a
    10 s window may roll over during the test)."""
    async def scenario():
        async with aiohttp.ClientSession() as session:
            maker = await funded_client(session, node.base, ADMIN_TOKEN, ETH="1")
            taker = await funded_client(session, node.base, ADMIN_TOKEN, USDT="100000")
            api = await connect(session, node)
            sell = {"symbol": "ETHUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01"}
            placed = await api.signed("order.place", maker.api_key, maker.secret, **sell, price="2000")
            assert placed["status"] == 200 and limits_of(placed)["ORDERS-1D"] == 1, placed
            for params, code in (({**sell, "quantity": "100", "price": "2000"}, -2010),
                                 ({**sell, "price": "2000.001"}, -1013)):
                refused = await api.signed("order.place", maker.api_key, maker.secret, **params)
                assert refused["status"] == 400 and refused["error"]["code"] == code, refused
                assert limits_of(refused)["ORDERS-1D"] == 1, refused
            refused = await api.signed("orderList.place.oco", maker.api_key, maker.secret, symbol="ETHUSDT",
                                       side="SELL", quantity="100", aboveType="LIMIT_MAKER", abovePrice="3100",
                                       belowType="STOP_LOSS", belowStopPrice="1000")
            assert refused["error"]["code"] == -2010 and limits_of(refused)["ORDERS-1D"] == 1, refused
            # a taker filling at once: counted when placed, taken off at its fill; the maker's too
            taken = await api.signed("order.place", taker.api_key, taker.secret, symbol="ETHUSDT", side="BUY",
                                     type="MARKET", quantity="0.01")
            assert taken["result"]["status"] == "FILLED" and limits_of(taken)["ORDERS-1D"] == 1, taken
            usage = await api.signed("account.rateLimits.orders", taker.api_key, taker.secret)
            assert [u["count"] for u in usage["result"]] == [0, 0], usage

            async def maker_back_to_zero():
                usage = await api.signed("account.rateLimits.orders", maker.api_key, maker.secret)
                assert [u["count"] for u in usage["result"]][1] == 0, usage
            await eventually(maker_back_to_zero)
            await api.ws.close()
    run(scenario())


def journaled_orders(data_dir) -> dict[str, dict]:
    """Every NewOrder in the node's journal, by client order id, as a dict of its fields."""
    found = {}
    for segment in sorted((data_dir / "journal").glob("*.seg")):
        buf, offset = segment.read_bytes(), 0
        while offset + 16 <= len(buf):  # a 16-byte header (payload length first), then the payload
            length = int.from_bytes(buf[offset:offset + 4], "little")
            command = DECODER.decode(buf[offset + 16:offset + 16 + length])
            if isinstance(command, NewOrder):
                found[command.client_order_id] = msgspec.structs.asdict(command)
            offset += 16 + length
    return found


def test_an_order_over_the_ws_api_is_journaled_as_a_rest_order(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            frank = await funded_client(session, node.base, ADMIN_TOKEN, BTC="1")
            code, rest = await frank.order(**LIMIT_SELL, price="66000", newClientOrderId="same-rest")
            api = await connect(session, node)
            ws = await api.signed("order.place", frank.api_key, frank.secret, **LIMIT_SELL, price="66000",
                                  newClientOrderId="same-ws")
            await api.ws.close()
            return rest, ws["result"]
    rest, ws = run(scenario())
    differ = ("orderId", "clientOrderId", "transactTime", "workingTime")
    assert {k: v for k, v in rest.items() if k not in differ} == {k: v for k, v in ws.items() if k not in differ}
    journal = journaled_orders(node.data_dir)
    by_rest, by_ws = journal["same-rest"], journal["same-ws"]
    assert (by_rest["order_id"], by_ws["order_id"]) == (rest["orderId"], ws["orderId"])
    differ = ("order_id", "client_order_id", "timestamp")
    assert {k: v for k, v in by_rest.items() if k not in differ} == {k: v for k, v in by_ws.items() if k not in differ}


def test_a_trailing_stop_placed_over_the_websocket_api_triggers(node):
    """order.place with trailingDelta (100 BIPS, no stopPrice): the answer and order.status carry it;
    a rise then a 1% fall from the highest trade triggers it, as REST's (tests/node/test_stop_orders.py)."""
    async def trade(seller, buyer, price: str) -> None:
        status, doc = await seller.order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC",
                                         quantity="0.01", price=price)
        assert status == 200, doc
        status, doc = await buyer.order(symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="IOC",
                                        quantity="0.01", price=price)
        assert status == 200 and doc["status"] == "FILLED", doc

    async def scenario():
        async with aiohttp.ClientSession() as session:
            maker = await funded_client(session, node.base, ADMIN_TOKEN, BTC="1")
            taker = await funded_client(session, node.base, ADMIN_TOKEN, USDT="100000")
            owner = await funded_client(session, node.base, ADMIN_TOKEN, BTC="1")
            bidder = await funded_client(session, node.base, ADMIN_TOKEN, USDT="100000")
            await trade(maker, taker, "50000")
            api = await connect(session, node)
            placed = await api.signed("order.place", owner.api_key, owner.secret, symbol=SYMBOL, side="SELL",
                                      type="STOP_LOSS_LIMIT", timeInForce="GTC", quantity="0.5", price="48900",
                                      trailingDelta=100, newOrderRespType="RESULT")
            assert placed["status"] == 200, placed
            order_id = placed["result"]["orderId"]
            assert (placed["result"]["status"], placed["result"]["trailingDelta"]) == ("NEW", 100), placed
            refused = await api.signed("order.place", owner.api_key, owner.secret, symbol=SYMBOL, side="SELL",
                                       type="STOP_LOSS_LIMIT", timeInForce="GTC", quantity="0.1", price="48900",
                                       trailingDelta=5000)
            assert refused["error"] == {"code": -1013, "msg": "Filter failure: TRAILING_DELTA"}, refused

            async def status_of() -> dict:
                answer = await api.signed("order.status", owner.api_key, owner.secret, symbol=SYMBOL, orderId=order_id)
                assert answer["status"] == 200, answer
                return answer["result"]

            async def tracking():
                doc = await status_of()
                assert (doc["isWorking"], doc["trailingDelta"]) == (False, 100) and doc["trailingTime"] > 0, doc
            await eventually(tracking)
            await trade(maker, taker, "50500")  # the highest: 1% below it is 49,995
            status, bid = await bidder.order(symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="GTC",
                                             quantity="1", price="49990")
            assert status == 200, bid
            status, sold = await maker.order(symbol=SYMBOL, side="SELL", type="MARKET", quantity="0.01")
            assert status == 200, sold

            async def triggered():
                doc = await status_of()
                assert (doc["status"], doc["executedQty"], doc["isWorking"]) == ("FILLED", "0.50000000", True), doc
            await eventually(triggered)
    run(scenario())


def test_an_rsa_key_signs_websocket_api_requests_but_cannot_log_on(node):
    """web-socket-api.md's "SIGNED request example (RSA)": base64 RSASSA-PKCS1-v1_5 SHA-256 over the
    sorted params; session.logon is Ed25519 only (-1002), and a wrong RSA signature is -1022."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    from tests.node.test_api_keys import public_pem, sign_with

    def signed(private, api_key, **params) -> dict:
        params = {"apiKey": api_key, "timestamp": int(time.time() * 1000), **params}
        payload = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
        return params | {"signature": sign_with(private, payload)}

    async def scenario():
        async with aiohttp.ClientSession() as session:
            private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            status, acct = await admin(session, node.base, ADMIN_TOKEN, "/admin/v1/accounts",
                                       {"publicKey": public_pem(private)})
            assert status == 200 and acct["keyType"] == "RSA", acct
            status, doc = await admin(session, node.base, ADMIN_TOKEN, "/admin/v1/deposit",
                                      {"accountId": acct["accountId"], "asset": "BTC", "amount": "1"})
            assert status == 200, doc
            api = await connect(session, node)
            placed = await api.call("order.place", signed(private, acct["apiKey"], **LIMIT_SELL, price="71000"))
            assert placed["status"] == 200 and placed["result"]["status"] == "NEW", placed
            impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            wrong = await api.call("order.cancel", signed(impostor, acct["apiKey"], symbol=SYMBOL,
                                                          orderId=placed["result"]["orderId"]))
            assert wrong["status"] == 400 and wrong["error"]["code"] == -1022, wrong
            logon = await api.call("session.logon", signed(private, acct["apiKey"]))
            assert logon["error"]["code"] == -1002, logon
            cancelled = await api.call("order.cancel", signed(private, acct["apiKey"], symbol=SYMBOL,
                                                              orderId=placed["result"]["orderId"]))
            assert cancelled["result"]["status"] == "CANCELED", cancelled
            await api.ws.close()
    run(scenario())


def test_an_expired_order_says_why_in_its_queries_and_its_execution_report(node):
    """CHANGELOG 2026: order queries carry `expiryReason` for an expired order (enums.md's names),
    executionReport "eR": an IOC that found nothing, a FOK that could not fill whole; an order that
    did not expire has neither."""
    async def scenario():
        async with aiohttp.ClientSession() as session:
            fay = await funded_client(session, node.base, ADMIN_TOKEN, USDT="1000")
            api = await connect(session, node)
            assert (await api.signed("userDataStream.subscribe.signature", fay.api_key, fay.secret))["status"] == 200
            buy = {"symbol": SYMBOL, "side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": "1000"}
            for tif, reason in (("IOC", "UNFILLED_IOC_QUANTITY_EXPIRED"), ("FOK", "UNFILLED_FOK_ORDER_EXPIRED")):
                status, placed = await fay.order(timeInForce=tif, newOrderRespType="RESULT", **buy)
                assert status == 200 and placed["status"] == "EXPIRED", placed
                assert placed["expiryReason"] == reason, placed  # the placement's answer too (rest-api.md)
                status, got = await fay.signed("GET", "/api/v3/order", symbol=SYMBOL, orderId=placed["orderId"])
                assert got["expiryReason"] == reason, got
                answer = await api.signed("order.status", fay.api_key, fay.secret, symbol=SYMBOL, orderId=placed["orderId"])
                assert answer["result"] == got, answer
                report = await api.event(lambda e: e.get("e") == "executionReport" and e["i"] == placed["orderId"]
                                         and e["x"] == "EXPIRED")
                assert report["eR"] == reason, report
            status, listed = await fay.signed("GET", "/api/v3/allOrders", symbol=SYMBOL)
            assert [o.get("expiryReason") for o in listed] == ["UNFILLED_IOC_QUANTITY_EXPIRED", "UNFILLED_FOK_ORDER_EXPIRED"]
            status, resting = await fay.order(timeInForce="GTC", **buy)
            status, got = await fay.signed("GET", "/api/v3/order", symbol=SYMBOL, orderId=resting["orderId"])
            assert got["status"] == "NEW" and "expiryReason" not in got and "expiryReason" not in resting, got
            await api.ws.close()
    run(scenario())


def test_an_order_expired_by_self_trade_prevention_reports_what_it_prevented(node):
    """stp_faq: an order EXPIRE_MAKER expires shows its remaining quantity as prevented, in its
    executionReport ("A" cumulative, "B" this event's) as in its queries (preventedQuantity)."""
    async def scenario():
        async with aiohttp.ClientSession() as session:
            gus = await funded_client(session, node.base, ADMIN_TOKEN, USDT="10000", BTC="0.1")
            api = await connect(session, node)
            assert (await api.signed("userDataStream.subscribe.signature", gus.api_key, gus.secret))["status"] == 200
            # a price inside the spread the module's other tests left: only gus's own order is there
            code, book = await gus.public("/api/v3/depth", symbol=SYMBOL, limit=1)
            bid = D(book["bids"][0][0]) if book["bids"] else D(1000)
            ask = D(book["asks"][0][0]) if book["asks"] else D(10**6)
            assert ask - bid >= D("0.02"), book
            price = str(((bid + ask) / 2).quantize(D("0.01")))
            btc = {"symbol": SYMBOL, "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01", "price": price}
            status, maker = await gus.order(side="SELL", **btc)
            status, taker = await gus.order(side="BUY", selfTradePreventionMode="EXPIRE_MAKER", newOrderRespType="RESULT",
                                            **btc)
            assert status == 200 and (taker["status"], taker["executedQty"]) == ("NEW", "0.00000000"), taker
            report = await api.event(lambda e: e.get("e") == "executionReport" and e["i"] == maker["orderId"]
                                     and e["X"] == "EXPIRED_IN_MATCH")
            assert (report["x"], report["A"], report["B"]) == ("TRADE_PREVENTION", "0.01000000", "0.01000000"), report
            status, doc = await gus.signed("GET", "/api/v3/order", symbol=SYMBOL, orderId=maker["orderId"])
            assert doc["preventedQuantity"] == "0.01000000", doc
            assert (await gus.signed("DELETE", "/api/v3/order", symbol=SYMBOL, orderId=taker["orderId"]))[0] == 200
            await api.ws.close()
    run(scenario())
