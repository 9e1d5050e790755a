"""Every bad input gets Binance's error, changes no balance, and the node keeps serving; one user
never sees or touches another's orders."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from decimal import Decimal as D
from urllib.parse import urlencode

import aiohttp
import pytest

from tests.node.client import admin, funded_client
from tests.node.conftest import ADMIN_TOKEN, run

ORDER = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01", "price": "50000"}

BAD_ORDERS = [
    ({"symbol": "NOPE"}, -1121, "Invalid symbol."),
    ({"symbol": ""}, -1102, None),
    ({"side": "UP"}, -1117, "Invalid side."),
    ({"type": "STOP"}, -1116, "Invalid orderType."),
    ({"timeInForce": "FOREVER"}, -1115, "Invalid timeInForce."),
    ({"price": "NaN"}, -1100, None),
    ({"price": "inf"}, -1100, None),
    ({"price": "-1"}, -1100, None),
    ({"quantity": "-0.01"}, -1100, None),
    ({"quantity": "1e400"}, -1013, "Filter failure: LOT_SIZE"),  # beyond int64: fails the filter
    ({"price": "123456789012345678901234567890"}, None, None),
    ({"price": "50000.001"}, None, None),  # below the tick: PRICE_FILTER or a precision error
    ({"quantity": "0.000001"}, None, None),  # off the step
    ({"quantity": "0.0001", "price": "10"}, -1013, "Filter failure: NOTIONAL"),
    ({"quantity": "100000"}, -1013, "Filter failure: LOT_SIZE"),
    ({"quantity": "0"}, None, None),
    ({"quantity": "2", "price": "50000"}, -2010, "Account has insufficient balance for requested action."),
    ({"newClientOrderId": "x" * 37}, -1100, None),
]


def signed_url(base: str, secret: str, params: dict) -> str:
    query = urlencode(params)
    return f"{base}?{query}&signature={hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()}"


def test_bad_orders_get_binance_errors_and_change_nothing(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            client = await funded_client(session, node.base, ADMIN_TOKEN, USDT="1000")
            for change, code, msg in BAD_ORDERS:
                params = {k: v for k, v in (ORDER | change).items() if v is not None}
                status, doc = await client.order(**params)
                assert 400 <= status < 500 and "code" in doc, (change, status, doc)
                if code is not None:
                    assert doc["code"] == code, (change, doc)
                if msg is not None:
                    assert doc["msg"] == msg, (change, doc)
            assert await client.balances() == {"USDT": ("1000.00000000", "0.00000000")}
            status, open_orders = await client.signed("GET", "/api/v3/openOrders")
            assert status == 200 and open_orders == []
    run(scenario())


def test_authentication_and_transport_errors(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            client = await funded_client(session, node.base, ADMIN_TOKEN, USDT="1000")
            url = node.base + "/api/v3/order"
            now = int(time.time() * 1000)
            headers = {"X-MBX-APIKEY": client.api_key}
            cases = [
                # no API key / a malformed one / an unknown one
                (dict(headers={}), {-2014, -2015}),
                (dict(headers={"X-MBX-APIKEY": "short"}), {-2014}),
                (dict(headers={"X-MBX-APIKEY": "A" * 64}), {-2015}),
                # no signature, a wrong one, one signed with another secret
                (dict(url=f"{url}?{urlencode(ORDER | {'timestamp': now})}"), {-1102}),
                (dict(url=f"{url}?{urlencode(ORDER | {'timestamp': now})}&signature={'0' * 64}"), {-1022}),
                (dict(url=signed_url(url, "x" * 64, ORDER | {"timestamp": now})), {-1022}),
                # stale and future timestamps, a recvWindow over the limit, no timestamp
                (dict(url=signed_url(url, client.secret, ORDER | {"timestamp": now - 60_000})), {-1021}),
                (dict(url=signed_url(url, client.secret, ORDER | {"timestamp": now + 60_000})), {-1021}),
                (dict(url=signed_url(url, client.secret, ORDER | {"timestamp": now, "recvWindow": 70000})), {-1131}),
                (dict(url=signed_url(url, client.secret, ORDER)), {-1102}),
            ]
            for case, codes in cases:
                async with session.post(case.get("url", signed_url(url, client.secret, ORDER | {"timestamp": now})),
                                        headers=case.get("headers", headers)) as resp:
                    doc = await resp.json()
                    assert 400 <= resp.status < 500 and doc["code"] in codes, (case, resp.status, doc)
            # an oversized body, a non-JSON body on the seed's JSON endpoint, an unknown path
            async with session.post(url, data="x=" + "1" * 200_000, headers=headers) as resp:
                assert resp.status == 413 and "code" in await resp.json()
            async with session.post(signed_url(node.base + "/api/spot/v2/", client.secret, {"timestamp": now}),
                                    data=b"{not json", headers=headers) as resp:
                assert 400 <= resp.status < 500 and "code" in await resp.json()
            async with session.get(node.base + "/api/v3/nothing") as resp:
                assert resp.status == 404 and "code" in await resp.json()
            # admin: no token, a wrong token, a bad amount
            async with session.post(node.base + "/admin/v1/deposit", json={"accountId": 1}) as resp:
                assert resp.status in (401, 403)
            for doc in ({"accountId": client.account_id, "asset": "USDT", "amount": "NaN"},
                        {"accountId": client.account_id, "asset": "USDT", "amount": "-5"},
                        {"accountId": client.account_id, "asset": "DOGE", "amount": "5"},
                        {"accountId": 999_999, "asset": "USDT", "amount": "5"}):
                status, answer = await admin(session, node.base, ADMIN_TOKEN, "/admin/v1/deposit", doc)
                assert 400 <= status < 500 and "code" in answer, (doc, answer)
            status, answer = await admin(session, node.base, ADMIN_TOKEN, "/admin/v1/withdraw",
                                         {"accountId": client.account_id, "asset": "USDT", "amount": "1000.00000001"})
            assert status == 400 and answer["code"] == -2010
            assert await client.balances() == {"USDT": ("1000.00000000", "0.00000000")}
            # still serving, and a good order still works
            status, doc = await client.order(**ORDER, newOrderRespType="RESULT")
            assert status == 200 and doc["status"] == "NEW", doc
    run(scenario())


def test_the_seed_endpoint_takes_a_json_order(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            client = await funded_client(session, node.base, ADMIN_TOKEN, USDT="1000")
            body = b'{"symbol": "BTCUSDT", "side": "BUY", "price": "20000", "quantity": "0.01"}'
            query = urlencode({"timestamp": int(time.time() * 1000)})
            sig = hmac.new(client.secret.encode(), (query + body.decode()).encode(), hashlib.sha256).hexdigest()
            async with session.post(f"{node.base}/api/spot/v2/?{query}&signature={sig}", data=body,
                                    headers={"X-MBX-APIKEY": client.api_key, "Content-Type": "application/json"}) as resp:
                doc = await resp.json()
                assert resp.status == 200, doc
                assert doc["status"] == "NEW" and D(doc["price"]) == 20000 and D(doc["origQty"]) == D("0.01")
    run(scenario())


def test_the_seed_endpoint_takes_no_parameter_sent_empty_and_none_twice(node):
    """Its JSON fields are parameters: a required one (symbol, side) sent empty is -1102 as on v3; a
    name twice (in the query string and the body, twice in the query string, clientOrderId beside
    newClientOrderId) is -1101, never one of them (an empty one) silently dropped. Nothing placed."""
    async def scenario():
        async with aiohttp.ClientSession() as session:
            client = await funded_client(session, node.base, ADMIN_TOKEN, USDT="1000")
            order = {"symbol": "BTCUSDT", "side": "BUY", "price": "20000", "quantity": "0.01"}
            duplicate = {"code": -1101, "msg": "Duplicate values for a parameter detected."}
            for doc, extra_query, answer in (
                    (order | {"symbol": ""}, "", {"code": -1102, "msg": "Mandatory parameter 'symbol' was not "
                                                  "sent, was empty/null, or malformed."}),
                    (order | {"side": ""}, "", {"code": -1102, "msg": "Mandatory parameter 'side' was not sent, "
                                                "was empty/null, or malformed."}),
                    (order | {"newClientOrderId": "", "clientOrderId": "abc1"}, "", duplicate),
                    (order, "&quantity=", duplicate),
                    (order, "&recvWindow=5000&recvWindow=", duplicate)):
                body = json.dumps(doc)
                query = urlencode({"timestamp": int(time.time() * 1000)}) + extra_query
                sig = hmac.new(client.secret.encode(), (query + body).encode(), hashlib.sha256).hexdigest()
                async with session.post(f"{node.base}/api/spot/v2/?{query}&signature={sig}", data=body,
                                        headers={"X-MBX-APIKEY": client.api_key,
                                                 "Content-Type": "application/json"}) as resp:
                    assert (resp.status, await resp.json()) == (400, answer), (doc, extra_query)
            assert await client.balances() == {"USDT": ("1000.00000000", "0.00000000")}
    run(scenario())


def test_one_user_never_sees_or_touches_another_users_orders(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            alice = await funded_client(session, node.base, ADMIN_TOKEN, USDT="1000")
            bob = await funded_client(session, node.base, ADMIN_TOKEN, USDT="1000")
            status, order = await alice.order(**ORDER, newOrderRespType="RESULT")
            assert status == 200
            status, doc = await bob.signed("GET", "/api/v3/order", symbol="BTCUSDT", orderId=order["orderId"])
            assert (status, doc["code"]) == (400, -2013)
            status, doc = await bob.signed("DELETE", "/api/v3/order", symbol="BTCUSDT", orderId=order["orderId"])
            assert (status, doc["code"]) == (400, -2011)
            status, doc = await bob.signed("GET", "/api/v3/openOrders", symbol="BTCUSDT")
            assert status == 200 and doc == []
            status, doc = await bob.signed("GET", "/api/v3/allOrders", symbol="BTCUSDT")
            assert status == 200 and doc == []
            status, doc = await alice.signed("GET", "/api/v3/order", symbol="BTCUSDT", orderId=order["orderId"])
            assert status == 200 and doc["status"] == "NEW"
    run(scenario())


@pytest.mark.parametrize("path", ["/api/v3/ping", "/api/v3/time", "/api/v3/exchangeInfo", "/openapi.json", "/metrics"])
def test_public_endpoints_answer(node, path):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            async with session.get(node.base + path) as resp:
                assert resp.status == 200, await resp.text()
                if path == "/metrics":
                    text = await resp.text()
                    assert "spot_seda_stage_events_in" in text
                    assert 'spot_seda_stage_gc_pause_max_seconds{stage="acquiring",instance="0"}' in text
                elif path == "/api/v3/exchangeInfo":
                    doc = await resp.json()
                    assert {s["symbol"] for s in doc["symbols"]} == {"BTCUSDT", "ETHUSDT"}
                    assert set(doc["symbols"][0]["orderTypes"]) == {"LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS",
                                                                    "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"}
    run(scenario())


def test_admission_control_answers_503_when_the_pipeline_is_behind(tmp_path):
    """With a tiny backlog allowance, a burst of concurrent orders gets some -1003/503 answers at
    once (never a hang, never a 500), and every order that was accepted is answered."""
    from tests.conftest import run_node
    from tests.node.conftest import free_port, node_toml, wait_http

    http = free_port()
    toml = node_toml(tmp_path / "data", http, free_port()).replace("result_timeout_s = 10.0", "result_timeout_s = 10.0\nmax_in_flight = 2")
    with run_node(tmp_path, toml) as proc:
        base = f"http://127.0.0.1:{http}"
        wait_http(base, proc)

        async def scenario():
            async with aiohttp.ClientSession() as session:
                client = await funded_client(session, base, ADMIN_TOKEN, USDT="1000000")
                answers = await asyncio.gather(*(client.order(**ORDER, newOrderRespType="RESULT") for _ in range(200)))
                statuses = [status for status, _ in answers]
                refused = [doc for status, doc in answers if status == 503]
                assert set(statuses) <= {200, 503}, statuses
                assert refused and all(doc["code"] == -1003 for doc in refused)
                assert statuses.count(200) >= 2
                status, open_orders = await client.signed("GET", "/api/v3/openOrders", symbol="BTCUSDT")
                assert len(open_orders) == statuses.count(200)  # every accepted order is there, no more
        run(scenario())


def test_parameters_in_a_form_body_post_and_delete_included(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            client = await funded_client(session, node.base, ADMIN_TOKEN, USDT="1000")
            status, order = await client.signed("POST", "/api/v3/order", body=True, **ORDER, newOrderRespType="RESULT")
            assert status == 200 and order["status"] == "NEW", order
            status, doc = await client.signed("DELETE", "/api/v3/order", body=True, symbol="BTCUSDT", orderId=order["orderId"])
            assert status == 200 and doc["status"] == "CANCELED", doc
            status, doc = await client.signed("DELETE", "/api/v3/order", body=True, symbol="BTCUSDT", orderId=order["orderId"])
            assert (status, doc["code"]) == (400, -2011)
    run(scenario())


def test_every_route_of_the_document_is_served(node):
    """The running node serves each (method, path) of its /openapi.json: an unsigned request gets a
    Binance error or an answer, never the router's 404 / 405 (routes checked from the app's router)."""
    from spot_seda.api.openapi import openapi_document
    from spot_seda.api.rest import ROUTES

    async def scenario():
        async with aiohttp.ClientSession() as session:
            async with session.get(node.base + "/openapi.json") as resp:
                doc = await resp.json()
            assert doc == openapi_document(ROUTES)
            routes = [(method.upper(), path) for path, item in doc["paths"].items() for method in item]
            assert len(routes) >= 40
            for method, path in routes:
                async with session.request(method, node.base + path) as resp:
                    assert resp.status not in (404, 405), (method, path, resp.status)
                    if path.startswith(("/api/", "/admin/")) and resp.status >= 400:
                        body = await resp.json()
                        assert set(body) == {"code", "msg"}, (method, path, body)
    run(scenario())


def test_a_parameter_in_both_the_query_string_and_the_body_is_the_query_strings(node):
    """rest-api.md: "If a parameter sent in both the query string and request body, the query string
    parameter will be used." One sent twice in either of them is -1101."""
    async def scenario():
        async with aiohttp.ClientSession() as session:
            client = await funded_client(session, node.base, ADMIN_TOKEN, USDT="1000")

            async def post(query: dict, body: str) -> tuple[int, dict]:
                q = urlencode(query | {"timestamp": int(time.time() * 1000)})
                signature = hmac.new(client.secret.encode(), (q + body).encode(), hashlib.sha256).hexdigest()
                async with session.post(f"{node.base}/api/v3/order?{q}&signature={signature}", data=body, headers={
                        "X-MBX-APIKEY": client.api_key,
                        "Content-Type": "application/x-www-form-urlencoded"}) as resp:
                    return resp.status, await resp.json()

            status, doc = await post(ORDER, "quantity=0.02&price=40000&newOrderRespType=RESULT")
            assert status == 200 and (doc["origQty"], doc["price"]) == ("0.01000000", "50000.00000000"), doc
            assert doc["status"] == "NEW"  # (RESULT: the body's own parameter is read)
            status, doc = await post({k: v for k, v in ORDER.items() if k != "price"}, "price=40000&price=40001")
            assert (status, doc) == (400, {"code": -1101, "msg": "Duplicate values for a parameter detected."})
            assert (await client.balances())["USDT"] == ("500.00000000", "500.00000000")
    run(scenario())


def test_a_get_reads_the_query_string_only(node):
    """rest-api.md: "For `GET` endpoints, parameters must be sent as a `query string`." A GET's
    form body is not read: what it holds is not sent (DELETE, POST and PUT read both)."""
    async def scenario():
        async with aiohttp.ClientSession() as session:
            client = await funded_client(session, node.base, ADMIN_TOKEN, USDT="1000")
            form = {"Content-Type": "application/x-www-form-urlencoded"}
            async with session.get(f"{node.base}/api/v3/depth", data="symbol=BTCUSDT&limit=5", headers=form) as resp:
                assert (resp.status, await resp.json()) == (400, {
                    "code": -1102, "msg": "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."})
            async with session.get(f"{node.base}/api/v3/depth?symbol=BTCUSDT", data="limit=abc", headers=form) as resp:
                assert resp.status == 200 and "bids" in await resp.json()  # (limit=abc, not read: no -1100)
            body = f"timestamp={int(time.time() * 1000)}"
            body += "&signature=" + hmac.new(client.secret.encode(), body.encode(), hashlib.sha256).hexdigest()
            async with session.get(f"{node.base}/api/v3/account", data=body,
                                   headers=form | {"X-MBX-APIKEY": client.api_key}) as resp:
                assert (resp.status, await resp.json()) == (400, {
                    "code": -1102, "msg": "Mandatory parameter 'signature' was not sent, was empty/null, or malformed."})
            status, doc = await client.signed("GET", "/api/v3/account")  # the same in the query string
            assert status == 200 and doc["balances"], doc
    run(scenario())
