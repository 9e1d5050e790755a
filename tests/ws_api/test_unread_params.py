"""No parameter is dropped without a word (README), through a real node with ORDERS limits: every REST
route and every WebSocket API method (Acquiring's and Push's), sent a request it takes plus one
parameter it does not read, answers -1104 with Binance's counts (every parameter sent, `signature`
and `apiKey` included, and the ones read) and does nothing: no order canceled (a DELETE
/api/v3/order with the misspelt `cancelRestriction` leaves the order open), placed, amended or
counted against ORDERS, no list placed or canceled, no listen key closed, no session or
subscription begun; then the same requests without it are taken. The table the node reads:
api/knownparams.py (every route and method has a set: tests/api/test_known_params.py)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import urlencode

import aiohttp

from spot_seda.api import knownparams, rest, wsmethods, wsproto
from spot_seda.binance.params import EITHER
from tests.node.client import Client, funded_client
from tests.ws_api.conftest import ADMIN_TOKEN, connect, run
from tests.ws_api.test_trading import ed25519_account

SYMBOL = "BTCUSDT"
UNKNOWN = {"unknownParam": "1"}
#: how a REST case is sent: query parameters / a signed request / the API key header only (listen
#: keys) / the seed's JSON body / an admin JSON body / a plain query on the node's own routes
PUBLIC, SIGNED, KEY, SEED, ADMIN, PLAIN = "public", "signed", "key", "seed", "admin", "plain"
LIMIT_BUY = {"symbol": SYMBOL, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01",
             "price": "10000"}


def unread(read: int, sent: int) -> dict:
    return {"code": -1104,
            "msg": f"Not all sent parameters were read; read '{read}' parameter(s) but was sent '{sent}'."}


async def trade_at(session, node, price: str) -> None:
    """One trade at `price` between two fresh accounts (the order lists' prices are judged by it)."""
    seller = await funded_client(session, node.base, ADMIN_TOKEN, BTC="1")
    buyer = await funded_client(session, node.base, ADMIN_TOKEN, USDT="100000")
    status, doc = await seller.order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC", quantity="0.01",
                                     price=price)
    assert status == 200, doc
    status, doc = await buyer.order(symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="IOC", quantity="0.01",
                                    price=price)
    assert status == 200 and doc["status"] == "FILLED", doc


async def trader(session, node) -> tuple[Client, dict]:
    """A funded account with three open orders (o1, o2, o3), an open OCO (l1) and a listen key."""
    await trade_at(session, node, "20000")
    c = await funded_client(session, node.base, ADMIN_TOKEN, BTC="5", USDT="100000")
    refs = {}
    for name in ("o1", "o2", "o3"):
        status, doc = await c.order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC", quantity="0.01",
                                    price="30000")
        assert status == 200, doc
        refs[name] = doc["orderId"]
    status, doc = await c.signed("POST", "/api/v3/orderList/oco", **oco())
    assert status == 200, doc
    refs["l1"] = doc["orderListId"]
    async with c.session.post(c.base + "/api/v3/userDataStream", headers={"X-MBX-APIKEY": c.api_key}) as resp:
        refs["key"] = (await resp.json())["listenKey"]
    return c, refs


def oco() -> dict:
    return {"symbol": SYMBOL, "side": "SELL", "quantity": "0.1", "aboveType": "LIMIT_MAKER", "abovePrice": "21000",
            "belowType": "STOP_LOSS_LIMIT", "belowStopPrice": "19000", "belowPrice": "18900",
            "belowTimeInForce": "GTC"}


def cases(c: Client, refs: dict) -> list[tuple[str, str, str, dict, dict]]:
    """(method, path, how, a request the route takes, the parameter it does not read) for every route,
    in an order in which each request is still taken after the ones before it (the cancels last)."""
    o1, o2, o3, l1, key = refs["o1"], refs["o2"], refs["o3"], refs["l1"], refs["key"]
    symbol = {"symbol": SYMBOL}
    oto = {"symbol": SYMBOL, "workingType": "LIMIT", "workingSide": "BUY", "workingPrice": "15000",
           "workingQuantity": "0.01", "workingTimeInForce": "GTC", "pendingType": "LIMIT", "pendingSide": "SELL",
           "pendingPrice": "22000", "pendingQuantity": "0.01", "pendingTimeInForce": "GTC"}
    otoco = {"symbol": SYMBOL, "workingType": "LIMIT", "workingSide": "BUY", "workingPrice": "15000",
             "workingQuantity": "0.01", "workingTimeInForce": "GTC", "pendingSide": "SELL",
             "pendingQuantity": "0.01", "pendingAboveType": "LIMIT_MAKER", "pendingAbovePrice": "23000",
             "pendingBelowType": "STOP_LOSS", "pendingBelowStopPrice": "18000"}
    transfer = {"accountId": c.account_id, "asset": "USDT", "amount": "1"}
    rows = [
        ("GET", "/api/v3/ping", PUBLIC, {}),
        ("GET", "/api/v3/time", PUBLIC, {}),
        ("GET", "/api/v3/exchangeInfo", PUBLIC, symbol),
        ("GET", "/api/v3/depth", PUBLIC, {**symbol, "limit": "5"}),
        ("GET", "/api/v3/trades", PUBLIC, symbol),
        ("GET", "/api/v3/historicalTrades", PUBLIC, symbol),
        ("GET", "/api/v3/aggTrades", PUBLIC, symbol),
        ("GET", "/api/v3/klines", PUBLIC, {**symbol, "interval": "1m"}),
        ("GET", "/api/v3/uiKlines", PUBLIC, {**symbol, "interval": "1m"}),
        ("GET", "/api/v3/ticker/24hr", PUBLIC, symbol),
        ("GET", "/api/v3/ticker", PUBLIC, symbol),
        ("GET", "/api/v3/ticker/tradingDay", PUBLIC, symbol),
        ("GET", "/api/v3/ticker/price", PUBLIC, symbol),
        ("GET", "/api/v3/ticker/bookTicker", PUBLIC, symbol),
        ("GET", "/api/v3/avgPrice", PUBLIC, symbol),
        ("POST", "/api/v3/order", SIGNED, LIMIT_BUY),
        ("GET", "/api/v3/order", SIGNED, {**symbol, "orderId": o1}),
        ("POST", "/api/v3/order/test", SIGNED, LIMIT_BUY),
        ("POST", "/api/v3/order/cancelReplace", SIGNED, {"cancelReplaceMode": "STOP_ON_FAILURE", "cancelOrderId": o2,
                                                         **LIMIT_BUY}),
        ("PUT", "/api/v3/order/amend/keepPriority", SIGNED, {**symbol, "orderId": o3, "newQty": "0.005"}),
        ("GET", "/api/v3/openOrders", SIGNED, symbol),
        ("GET", "/api/v3/allOrders", SIGNED, symbol),
        ("POST", "/api/v3/orderList/oco", SIGNED, oco()),
        ("POST", "/api/v3/order/oco", SIGNED, {**symbol, "side": "SELL", "quantity": "0.1", "price": "25000",
                                               "stopPrice": "15000"}),
        ("POST", "/api/v3/orderList/oto", SIGNED, oto),
        ("POST", "/api/v3/orderList/otoco", SIGNED, otoco),
        ("GET", "/api/v3/orderList", SIGNED, {"orderListId": l1}),
        ("GET", "/api/v3/allOrderList", SIGNED, {}),
        ("GET", "/api/v3/openOrderList", SIGNED, {}),
        ("GET", "/api/v3/myTrades", SIGNED, symbol),
        ("GET", "/api/v3/myPreventedMatches", SIGNED, {**symbol, "preventedMatchId": "0"}),
        ("GET", "/api/v3/account", SIGNED, {"omitZeroBalances": "true"}),
        ("GET", "/api/v3/account/commission", SIGNED, symbol),
        ("GET", "/api/v3/myFilters", SIGNED, symbol),
        ("GET", "/api/v3/rateLimit/order", SIGNED, {}),
        ("POST", "/api/v3/userDataStream", KEY, {}),
        ("PUT", "/api/v3/userDataStream", KEY, {"listenKey": key}),
        ("POST", "/api/spot/v2/", SEED, {"symbol": SYMBOL, "side": "BUY", "price": "10000", "quantity": "0.01"}),
        ("POST", "/admin/v1/accounts", ADMIN, {}),
        ("POST", "/admin/v1/deposit", ADMIN, transfer),
        ("POST", "/admin/v1/withdraw", ADMIN, transfer),
        ("GET", "/metrics", PLAIN, {}),
        ("GET", "/openapi.json", PLAIN, {}),
        ("GET", "/ws-api/v3", PLAIN, {"returnRateLimits": "false"}),
        # a cancel with Binance's cancelRestrictions misspelt: refused, not a cancel without restriction
        ("DELETE", "/api/v3/order", SIGNED, {**symbol, "orderId": o1}),
        ("DELETE", "/api/v3/orderList", SIGNED, {**symbol, "orderListId": l1}),
        ("DELETE", "/api/v3/userDataStream", KEY, {"listenKey": key}),
        ("DELETE", "/api/v3/openOrders", SIGNED, symbol),
    ]
    unknown = {("DELETE", "/api/v3/order"): {"cancelRestriction": "ONLY_PARTIALLY_FILLED"}}
    return [(m, path, how, params, unknown.get((m, path), UNKNOWN)) for m, path, how, params in rows]


async def send(c: Client, method: str, path: str, how: str, params: dict) -> tuple[int, object]:
    """The request as `how` sends it; (HTTP status, JSON answer or text)."""
    session, url, headers, data = c.session, c.base + path, {}, None
    if how == SIGNED:
        return await c.signed(method, path, **params)
    if how == SEED:  # the JSON fields, then any other parameter in the signed query string
        fields = {k: v for k, v in params.items() if k in ("symbol", "side", "price", "quantity")}
        data = json.dumps(fields)
        query = urlencode({"timestamp": int(time.time() * 1000),
                           **{k: v for k, v in params.items() if k not in fields}})
        signature = hmac.new(c.secret.encode(), (query + data).encode(), hashlib.sha256).hexdigest()
        url += f"?{query}&signature={signature}"
        headers = {"X-MBX-APIKEY": c.api_key, "Content-Type": "application/json"}
    elif how == ADMIN:
        data, headers = json.dumps(params), {"X-Admin-Token": ADMIN_TOKEN}
    else:
        url += "?" + urlencode(params) if params else ""
        if how == KEY:
            headers = {"X-MBX-APIKEY": c.api_key}
    async with session.request(method, url, data=data, headers=headers) as resp:
        text = await resp.text()
        return resp.status, json.loads(text) if resp.content_type == "application/json" else text


async def state(c: Client) -> tuple:
    """What a refused request must leave as it was: the account's open orders (and their quantities and
    client ids), open lists, balances, and its orders counted today against ORDERS."""
    status, orders = await c.signed("GET", "/api/v3/openOrders")
    assert status == 200, orders
    status, lists = await c.signed("GET", "/api/v3/openOrderList")
    assert status == 200, lists
    status, usage = await c.signed("GET", "/api/v3/rateLimit/order")
    assert status == 200, usage
    return ([(o["orderId"], o["status"], o["origQty"], o["clientOrderId"]) for o in orders],
            [lst["orderListId"] for lst in lists], await c.balances(),
            [u["count"] for u in usage if u["interval"] == "DAY"])


def test_every_rest_route_refuses_a_parameter_it_does_not_read_and_does_nothing(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            c, refs = await trader(session, node)
            table = cases(c, refs)
            assert {(m, p) for m, p, *_ in table} == {(m, p) for m, p, _ in rest.ROUTES}, "a route without a case"
            before = await state(c)
            for method, path, how, params, unknown in table:
                status, doc = await send(c, method, path, how, {**params, **unknown})
                if how == ADMIN:  # the admin endpoints' JSON fields: -1103, as they always answered one
                    expected = {"code": -1103, "msg": "An unknown parameter was sent."}
                else:
                    read = len(params) + (2 if how in (SIGNED, SEED) else 0)  # (timestamp, signature)
                    expected = unread(read, read + 1)
                assert (status, doc) == (400, expected), (method, path)
            assert await state(c) == before
            status, doc = await c.signed("GET", "/api/v3/order", symbol=SYMBOL, orderId=refs["o1"])
            assert (status, doc["status"]) == (200, "NEW"), doc  # the misspelt cancel canceled nothing
            # the same requests without it are taken (so the counts above are of a request the route takes)
            for method, path, how, params, _ in table:
                if path == "/ws-api/v3":
                    async with session.ws_connect(node.ws_api + "?" + urlencode(params)) as ws:
                        await ws.send_json({"id": 1, "method": "ping"})
                        assert (await ws.receive_json(timeout=10))["status"] == 200
                    continue
                status, doc = await send(c, method, path, how, params)
                assert status == 200, (method, path, doc)
            assert await state(c) != before
    run(scenario())


def ws_cases(c: Client, refs: dict) -> list[tuple[str, dict, dict]]:
    """(method, a request it takes, the param it does not read) for every REST-backed WebSocket API
    method, in the REST cases' order (its route's request)."""
    by_route: dict[tuple[str, str], list[str]] = {}
    for name, method in wsmethods.METHODS.items():
        by_route.setdefault(method.route, []).append(name)
    out = []
    for method, path, _how, params, unknown in cases(c, refs):
        for name in by_route.get((method, path), []):
            out.append((name, params, unknown))
    return out


def test_every_websocket_api_method_refuses_a_param_it_does_not_read_and_does_nothing(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            c, refs = await trader(session, node)
            ed_key, ed_private, _ = await ed25519_account(session, node)
            api = await connect(session, node)
            table = ws_cases(c, refs)
            assert {name for name, *_ in table} == wsmethods.METHODS.keys(), "a method without a case"
            before = await state(c)
            for name, params, unknown in table:
                if wsmethods.METHODS[name].signed:  # (apiKey, timestamp, signature beside)
                    answer = await api.signed(name, c.api_key, c.secret, **params, **unknown)
                    read = len(params) + 3
                else:
                    answer = await api.call(name, {**params, **unknown})
                    read = len(params)
                assert (answer["status"], answer["error"]) == (400, unread(read, read + 1)), (name, answer)
            # the connection's own methods
            own = ["session.status", "session.subscriptions", "userDataStream.subscribe", "userDataStream.unsubscribe",
                   "session.logout"]
            for name in own:
                answer = await api.call(name, dict(UNKNOWN))
                assert (answer["status"], answer["error"]) == (400, unread(0, 1)), (name, answer)
            answer = await api.signed("session.logon", ed_key, ed_private, **UNKNOWN)
            assert (answer["status"], answer["error"]) == (400, unread(3, 4)), answer
            answer = await api.signed("userDataStream.subscribe.signature", c.api_key, c.secret, **UNKNOWN)
            assert (answer["status"], answer["error"]) == (400, unread(3, 4)), answer
            assert {name for name in own} | {"session.logon", "userDataStream.subscribe.signature"} == \
                wsmethods.PARAMS.keys() - wsmethods.METHODS.keys()
            status = await api.call("session.status")
            assert status["result"]["apiKey"] is None and status["result"]["userDataStream"] is False, status
            assert (await api.call("session.subscriptions"))["result"] == []
            assert await state(c) == before
            code, doc = await c.signed("GET", "/api/v3/order", symbol=SYMBOL, orderId=refs["o1"])
            assert (code, doc["status"]) == (200, "NEW"), doc
            # Push's WebSocket API (its user data methods) likewise, its handshake too
            push_http = node.ws.replace("ws://", "http://") + "/ws-api/v3"
            for query, error in (("?unknownParam=1", unread(0, 1)), ("?returnRateLimits=false&unknownParam=1",
                                                                       unread(1, 2)),
                                 ("?returnRateLimits=", {"code": -1105,
                                                         "msg": "Parameter 'returnRateLimits' was empty."})):
                async with session.get(push_http + query) as resp:
                    assert (resp.status, await resp.json()) == (400, error), query
            async with session.ws_connect(node.ws + "/ws-api/v3?returnRateLimits=false") as ws:
                await ws.close()
            async with session.ws_connect(node.ws + "/ws-api/v3") as ws:
                push = PushApi(ws)
                for name in ("ping", "time", "userDataStream.unsubscribe"):
                    answer = await push.call(name, dict(UNKNOWN))
                    assert (answer["status"], answer["error"]) == (400, unread(0, 1)), (name, answer)
                answer = await push.signed("userDataStream.subscribe.signature", c, **UNKNOWN)
                assert (answer["status"], answer["error"]) == (400, unread(3, 4)), answer
                assert set(wsproto._API_PARAMS) == {"ping", "time", "userDataStream.unsubscribe",
                                                    "userDataStream.subscribe.signature"}
                # ... and takes them without it
                for name in ("ping", "time"):
                    assert (await push.call(name, {}))["status"] == 200
                assert (await push.signed("userDataStream.subscribe.signature", c))["result"] == {"subscriptionId": 0}
                assert (await push.call("userDataStream.unsubscribe", {}))["status"] == 200
            # the same requests without it are taken
            for name, params, _ in table:
                if wsmethods.METHODS[name].signed:
                    answer = await api.signed(name, c.api_key, c.secret, **params)
                else:
                    answer = await api.call(name, params)
                assert answer["status"] == 200, (name, answer)
            assert (await api.signed("session.logon", ed_key, ed_private))["status"] == 200
            for name in ("session.status", "userDataStream.subscribe", "session.subscriptions",
                         "userDataStream.unsubscribe", "session.logout"):
                assert (await api.call(name, {}))["status"] == 200, name
            answer = await api.signed("userDataStream.subscribe.signature", c.api_key, c.secret)
            assert answer["status"] == 200, answer
            await api.ws.close()
    run(scenario())


# ------------------------------------------------------------------ parameters sent empty

#: what the operation itself answers for one of its parameters sent empty that check_none_empty leaves
#: to it: a mandatory one (-1102), one of a pair whose partner is not sent (-1102 "... both were
#: empty/null!") or one the order's type does not take (-1106), a client order id (-1118 / -1119)
OPERATION_CODES = {-1102, -1106, -1118, -1119}


def empty_answer(name: str, mandatory: frozenset[str], doc) -> bool:
    """Whether `doc` is the answer to `name` sent empty: -1105 naming it, unless the operation answers it."""
    if name in mandatory or name.endswith("ClientOrderId") or name in EITHER or name == "orderListId":
        return isinstance(doc, dict) and doc.get("code") in OPERATION_CODES | {-1105}
    return doc == {"code": -1105, "msg": f"Parameter '{name}' was empty."}


def test_every_rest_route_refuses_each_of_its_parameters_sent_empty_and_does_nothing(node):
    """`limit=` is not "limit not sent" (Binance: `aggTrades?fromId=` is -1105 "Parameter 'fromId' was
    empty."): every parameter of every route (but the admin ones' JSON fields), sent empty beside a
    request the route takes, is refused; nothing changes; a WebSocket handshake is refused before
    it upgrades."""
    async def scenario():
        async with aiohttp.ClientSession() as session:
            c, refs = await trader(session, node)
            before = await state(c)
            tried = 0
            for method, path, how, params, _ in cases(c, refs):
                if how == ADMIN:
                    continue
                mandatory = knownparams.route_mandatory((method, path))
                for name in sorted(knownparams.ROUTE_PARAMS[(method, path)] - {"timestamp", "signature"}):
                    status, doc = await send(c, method, path, how, {**params, name: ""})
                    assert status == 400 and empty_answer(name, mandatory, doc), (method, path, name, status, doc)
                    tried += 1
            assert tried > 300
            assert await state(c) == before
            status, doc = await send(c, "GET", "/api/v3/aggTrades", PUBLIC, {"symbol": SYMBOL, "fromId": ""})
            assert (status, doc) == (400, {"code": -1105, "msg": "Parameter 'fromId' was empty."})
    run(scenario())


def test_every_websocket_api_method_refuses_each_of_its_params_sent_empty_and_does_nothing(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            c, refs = await trader(session, node)
            api = await connect(session, node)
            before = await state(c)
            for name, params, _ in ws_cases(c, refs):
                signed = wsmethods.METHODS[name].signed
                skip = {"timestamp", "signature", "returnRateLimits"} | ({"apiKey"} if signed else set())
                for param in sorted(wsmethods.PARAMS[name] - skip):  # (returnRateLimits "": -1100, as "yes")
                    sent = {**params, param: ""}
                    answer = await (api.signed(name, c.api_key, c.secret, **sent) if signed else api.call(name, sent))
                    error = answer.get("error")
                    assert answer["status"] == 400 and empty_answer(param, wsmethods.MANDATORY[name], error), \
                        (name, param, answer)
            answer = await api.call("userDataStream.unsubscribe", {"subscriptionId": ""})
            assert answer["error"] == {"code": -1105, "msg": "Parameter 'subscriptionId' was empty."}, answer
            ed_key, ed_private, _ = await ed25519_account(session, node)
            answer = await api.signed("session.logon", ed_key, ed_private, recvWindow="")
            assert answer["error"] == {"code": -1105, "msg": "Parameter 'recvWindow' was empty."}, answer
            assert (await api.call("session.status"))["result"]["apiKey"] is None
            assert await state(c) == before
            async with session.ws_connect(node.ws + "/ws-api/v3") as ws:  # Push's
                answer = await PushApi(ws).call("userDataStream.unsubscribe", {"subscriptionId": ""})
                assert answer["error"] == {"code": -1105, "msg": "Parameter 'subscriptionId' was empty."}, answer
            await api.ws.close()
    run(scenario())


class PushApi:
    """Push's /ws-api/v3: one request at a time, answered in order."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.next_id = 0

    async def call(self, method: str, params: dict) -> dict:
        self.next_id += 1
        await self.ws.send_json({"id": self.next_id, "method": method, "params": params})
        while True:
            doc = await self.ws.receive_json(timeout=10)
            if doc.get("id") == self.next_id:
                return doc

    async def signed(self, method: str, c: Client, **params) -> dict:
        params = {"apiKey": c.api_key, "timestamp": int(time.time() * 1000), **params}
        payload = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
        params["signature"] = hmac.new(c.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        return await self.call(method, params)
