"""Binance's rate limits through a real node over HTTP (api/ratelimit.py, issue 16): the weight and
order-count headers, 429 + Retry-After past a (small, configured) limit, 418 for an IP that keeps
going, recovery after the window, orders counted per account whatever the IP, exchangeInfo's
rateLimits, GET /api/v3/rateLimit/order.

Weight is counted per client IP, so each test talks from its own loopback address (127.0.0.N: Linux
routes all of 127/8 to the loopback interface) and the tests do not share counters."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from urllib.parse import urlencode

import aiohttp
import pytest

from tests.conftest import eventually, run_node
from tests.node.client import Client, funded_client
from tests.node.conftest import ADMIN_TOKEN, free_port, node_toml, wait_http

SYMBOL = "BTCUSDT"
WEIGHT_5S = 100
LIMITS = f"""
[rate_limits]
enabled = true
request_weight = [{{interval = "MINUTE", interval_num = 1, limit = 100000}},
                  {{interval = "SECOND", interval_num = 5, limit = {WEIGHT_5S}}}]
orders = [{{interval = "SECOND", interval_num = 10, limit = 5}}, {{interval = "DAY", interval_num = 1, limit = 1000}}]
ban_after_429s = 3
ban_s = 2.0
ban_max_s = 60.0
"""


def run(coro):
    return asyncio.run(coro)


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ratelimits")
    http, ws = free_port(), free_port()
    with run_node(tmp, node_toml(tmp / "data", http, ws, LIMITS)) as proc:
        proc.base = f"http://127.0.0.1:{http}"
        wait_http(proc.base, proc)
        yield proc


def session_from(ip: str) -> aiohttp.ClientSession:
    """A client whose requests come from `ip` (a loopback address of its own)."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(ip, 0), force_close=True))


async def window_start(seconds: int) -> None:
    """Sleep to just after the next clock-aligned `seconds` boundary (the limiter's windows are
    aligned so), not in the last seconds of a minute, so a short sequence stays in one window."""
    while True:
        await asyncio.sleep(seconds - time.time() % seconds + 0.03)
        if time.time() % 60 < 60 - seconds - 1:
            return


async def get(session, url: str, **kw) -> tuple[int, dict, object]:
    async with session.get(url, **kw) as resp:
        return resp.status, resp.headers, await resp.json()


def test_exchange_info_lists_the_configured_limits(node):
    async def scenario():
        async with session_from("127.0.0.9") as s:
            status, _headers, doc = await get(s, node.base + "/api/v3/exchangeInfo")
            assert status == 200
            assert doc["rateLimits"] == [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 100000},
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "SECOND", "intervalNum": 5, "limit": WEIGHT_5S},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 5},
                {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 1000},
                {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 300000},
            ]
    run(scenario())


def test_every_api_answer_carries_its_ip_s_weight_and_an_order_its_account_s_counts(node):
    async def scenario():
        async with session_from("127.0.0.2") as s:
            client = await funded_client(s, node.base, ADMIN_TOKEN, USDT="100000")
            await window_start(5)
            used = 0

            async def expect(weight: int, status: int, headers) -> None:
                nonlocal used
                used += weight
                assert headers["X-MBX-USED-WEIGHT-1M"] == str(used), (weight, dict(headers))
                assert headers["X-MBX-USED-WEIGHT-5S"] == str(used)

            for path, params, weight in (("/api/v3/ping", {}, 1), ("/api/v3/exchangeInfo", {}, 20),
                                         ("/api/v3/depth", {"symbol": SYMBOL, "limit": "500"}, 25),
                                         ("/api/v3/ticker/price", {}, 4), ("/api/v3/ticker/24hr", {"symbol": SYMBOL}, 2),
                                         ("/api/v3/depth", {"symbol": "NOPE"}, 5)):  # an error answer too
                status, headers, doc = await get(s, node.base + path, params=params)
                await expect(weight, status, headers)
                assert "X-MBX-ORDER-COUNT-10S" not in headers and "Retry-After" not in headers
            assert doc["code"] == -1121
            async with s.get(f"{node.base}/api/v3/account", params={"timestamp": int(time.time() * 1000)},
                             headers={"X-MBX-APIKEY": client.api_key}) as resp:  # no signature: -1102, still weight 20
                assert resp.status == 400 and (await resp.json())["code"] == -1102
                await expect(20, resp.status, resp.headers)
            for n in (1, 2):
                async with s.post(node.base + "/api/v3/order?" + _signed_query(client, {
                        "symbol": SYMBOL, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                        "quantity": "0.001", "price": "10000"}), headers={"X-MBX-APIKEY": client.api_key}) as resp:
                    assert resp.status == 200, await resp.text()
                    await expect(0, resp.status, resp.headers)  # a successful order weighs 0 (since 2026-04-02)
                    assert resp.headers["X-MBX-ORDER-COUNT-10S"] == str(n)
                    assert resp.headers["X-MBX-ORDER-COUNT-1D"] == str(n)
            # admin endpoints are the operator's, not the API's: no weight
            async with s.post(node.base + "/admin/v1/accounts", json={}, headers={"X-Admin-Token": ADMIN_TOKEN}) as resp:
                assert resp.status == 200 and "X-MBX-USED-WEIGHT-1M" not in resp.headers
            status, headers, _ = await get(s, node.base + "/api/v3/time")
            await expect(1, status, headers)
    run(scenario())


def test_a_weight_that_depends_on_a_parameter_reads_it_from_a_form_body_too(node):
    """POST /api/v3/order/test weighs 20 with computeCommissionRates, sent in the query string or,
    as python-binance sends it, in the form body."""
    async def scenario():
        async with session_from("127.0.0.5") as s:
            client = await funded_client(s, node.base, ADMIN_TOKEN, USDT="100000")
            await window_start(5)
            order = {"symbol": SYMBOL, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.001",
                     "price": "10000", "computeCommissionRates": "true"}
            used = []
            for where in ("query", "body"):
                query, data = ("?" + _signed_query(client, order), None) if where == "query" else \
                    ("", _signed_query(client, order))
                async with s.post(node.base + "/api/v3/order/test" + query, data=data,
                                  headers={"X-MBX-APIKEY": client.api_key,
                                           "Content-Type": "application/x-www-form-urlencoded"}) as resp:
                    assert resp.status == 200, await resp.text()
                    used.append(int(resp.headers["X-MBX-USED-WEIGHT-5S"]))
            assert used == [20, 40], used
    run(scenario())


def _signed_query(client: Client, params: dict) -> str:
    params = dict(params, timestamp=int(time.time() * 1000))
    payload = urlencode(params)
    return payload + "&signature=" + hmac.new(client.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def test_past_the_weight_limit_429_then_418_for_an_ip_that_keeps_going_then_recovery(node):
    async def scenario():
        async with session_from("127.0.0.3") as s, session_from("127.0.0.6") as other:
            await window_start(5)
            for n in range(1, WEIGHT_5S // 20 + 1):
                status, headers, _ = await get(s, node.base + "/api/v3/exchangeInfo")
                assert status == 200 and headers["X-MBX-USED-WEIGHT-5S"] == str(20 * n)
            began = time.time()
            status, headers, doc = await get(s, node.base + "/api/v3/ping")  # weight 1 is too much now
            assert status == 429, doc
            assert doc == {"code": -1003, "msg": f"Too much request weight used; current limit is {WEIGHT_5S} request "
                                                 "weight per 5 SECOND. Please use WebSocket Streams for live updates "
                                                 "to avoid polling the API."}
            assert 1 <= int(headers["Retry-After"]) <= 5 and headers["X-MBX-USED-WEIGHT-5S"] == str(WEIGHT_5S)
            # it keeps going without waiting: two more 429s (ban_after_429s = 3), then 418
            for _ in range(2):
                status, headers, doc = await get(s, node.base + "/api/v3/ping")
                assert status == 429 and doc["code"] == -1003
            status, headers, doc = await get(s, node.base + "/api/v3/ping")
            assert status == 418, doc
            assert headers["Retry-After"] == "2"
            assert doc["code"] == -1003 and doc["msg"].startswith("Way too much request weight used; IP banned until ")
            until = int(doc["msg"].split("until ")[1].split(".")[0])
            assert began * 1000 + 1500 < until < time.time() * 1000 + 2500
            assert doc["msg"].endswith(". Please use WebSocket Streams for live updates to avoid bans.")
            status, headers, doc = await get(s, node.base + "/api/v3/time")  # still banned, whatever the endpoint
            assert status == 418 and 1 <= int(headers["Retry-After"]) <= 2
            # meanwhile every other client is served
            status, headers, doc = await get(other, node.base + "/api/v3/exchangeInfo")
            assert status == 200 and headers["X-MBX-USED-WEIGHT-5S"] == "20"
            # a client that does as told (waits Retry-After each time) is back within the ban and a window
            retry_after = 2  # the ban's Retry-After
            for _attempt in range(4):
                await asyncio.sleep(retry_after)
                status, headers, doc = await get(s, node.base + "/api/v3/exchangeInfo")
                if status == 200:
                    break
                assert status == 429, (status, doc)
                retry_after = int(headers["Retry-After"])
            assert status == 200 and headers["X-MBX-USED-WEIGHT-5S"] == "20"  # a fresh window
            assert time.time() - began < 12
    run(scenario())


def test_orders_are_counted_per_account_whatever_the_ip(node):
    async def scenario():
        async with session_from("127.0.0.4") as s4, session_from("127.0.0.5") as s5:
            a = await funded_client(s4, node.base, ADMIN_TOKEN, USDT="100000")
            b = await funded_client(s4, node.base, ADMIN_TOKEN, USDT="100000")
            a5 = Client(s5, node.base, a.api_key, a.secret)  # account a, from another IP
            order = {"symbol": SYMBOL, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.001",
                     "price": "10000"}

            async def place(client: Client, **extra):
                async with client.session.post(client.base + "/api/v3/order?" + _signed_query(client, order | extra),
                                               headers={"X-MBX-APIKEY": client.api_key}) as resp:
                    return resp.status, resp.headers, await resp.json()

            await window_start(10)
            for n in range(1, 6):  # 5 orders of a: from both IPs, one count
                status, headers, doc = await place(a if n % 2 else a5)
                assert status == 200, doc
                assert (headers["X-MBX-ORDER-COUNT-10S"], headers["X-MBX-ORDER-COUNT-1D"]) == (str(n), str(n))
            status, headers, doc = await place(a5)
            assert status == 429
            assert doc == {"code": -1015, "msg": "Too many new orders; current limit is 5 orders per 10 SECOND."}
            retry_after = int(headers["Retry-After"])
            assert 1 <= retry_after <= 10 and headers["X-MBX-ORDER-COUNT-10S"] == "5"
            status, headers, doc = await place(a)  # from the first IP too
            assert status == 429 and doc["code"] == -1015
            status, headers, doc = await place(b)  # another account from a's IP: its own count
            assert status == 200 and headers["X-MBX-ORDER-COUNT-10S"] == "1"
            # the refused orders changed nothing: 5 open orders of a
            status, open_orders = await a.signed("GET", "/api/v3/openOrders", symbol=SYMBOL)
            assert status == 200 and len(open_orders) == 5
            # cancels are not orders
            status, doc = await a5.signed("DELETE", "/api/v3/order", symbol=SYMBOL, orderId=open_orders[0]["orderId"])
            assert status == 200 and doc["status"] == "CANCELED"
            async with s5.get(node.base + "/api/v3/rateLimit/order?" + _signed_query(a5, {}),
                              headers={"X-MBX-APIKEY": a.api_key}) as resp:
                assert resp.status == 200
                assert await resp.json() == [
                    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 5, "count": 5},
                    {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 1000, "count": 5}]
            await asyncio.sleep(10 - time.time() % 10 + 0.05)  # the next 10 s window
            status, headers, doc = await place(a5)
            assert status == 200 and (headers["X-MBX-ORDER-COUNT-10S"], headers["X-MBX-ORDER-COUNT-1D"]) == ("1", "6")
            # the seed's order entry counts as an order too
            query = urlencode({"timestamp": int(time.time() * 1000)})
            body = json.dumps({"symbol": SYMBOL, "side": "BUY", "price": "10000", "quantity": "0.001"})
            signature = hmac.new(a.secret.encode(), (query + body).encode(), hashlib.sha256).hexdigest()
            async with s4.post(f"{node.base}/api/spot/v2/?{query}&signature={signature}", data=body,
                               headers={"X-MBX-APIKEY": a.api_key, "Content-Type": "application/json"}) as resp:
                assert resp.status == 200, await resp.text()
                assert (resp.headers["X-MBX-ORDER-COUNT-10S"], resp.headers["X-MBX-ORDER-COUNT-1D"]) == ("2", "7")
    run(scenario())


ETH_SELL = {"symbol": "ETHUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01"}


async def _order(client: Client, path: str = "/api/v3/order", **params) -> tuple[int, dict, dict]:
    async with client.session.post(client.base + path + "?" + _signed_query(client, params),
                                   headers={"X-MBX-APIKEY": client.api_key}) as resp:
        return resp.status, resp.headers, await resp.json()


async def _order_counts(client: Client) -> list[int]:
    """GET /api/v3/rateLimit/order: the account's count in each ORDERS window (10 s, 1 day)."""
    status, usage = await client.signed("GET", "/api/v3/rateLimit/order")
    assert status == 200, usage
    return [u["count"] for u in usage]


def test_a_refused_order_does_not_count(node):
    """faqs/order_count_decrement.md: "Every successful request to place an order adds to the
    unfilled order count"; an order refused (its balance, a filter, a bad parameter) or a list
    refused was not placed, so its count goes back, and the limit still refuses with -1015 before
    anything is placed."""
    async def scenario():
        async with session_from("127.0.0.21") as s:
            client = await funded_client(s, node.base, ADMIN_TOKEN, ETH="1")
            await window_start(10)
            for n in (1, 2, 3):
                status, headers, doc = await _order(client, **ETH_SELL, price=str(3000 + n))
                assert status == 200 and headers["X-MBX-ORDER-COUNT-10S"] == str(n), doc
            for params, code in ((ETH_SELL | {"quantity": "100", "price": "3000"}, -2010),  # the balance
                                 (ETH_SELL | {"price": "3000.001"}, -1013),  # PRICE_FILTER
                                 (ETH_SELL | {"quantity": "0.0001", "price": "3000"}, -1013),  # NOTIONAL
                                 (ETH_SELL | {"quantity": "x", "price": "3000"}, -1100),
                                 ({k: v for k, v in ETH_SELL.items() if k != "quantity"} | {"price": "3000"}, -1102)):
                status, headers, doc = await _order(client, **params)
                assert status == 400 and doc["code"] == code, (params, doc)
                assert (headers["X-MBX-ORDER-COUNT-10S"], headers["X-MBX-ORDER-COUNT-1D"]) == ("3", "3"), (params, doc)
            # a list of two the balance cannot cover: neither order counts
            status, headers, doc = await _order(client, "/api/v3/orderList/oco", symbol="ETHUSDT", side="SELL",
                                                quantity="100", aboveType="LIMIT_MAKER", abovePrice="3100",
                                                belowType="STOP_LOSS", belowStopPrice="1000")
            assert status == 400 and doc["code"] == -2010, doc
            assert headers["X-MBX-ORDER-COUNT-10S"] == "3"
            assert await _order_counts(client) == [3, 3]
            for n in (4, 5):  # so the limit (5) still has room for two
                status, headers, doc = await _order(client, **ETH_SELL, price=str(3000 + n))
                assert status == 200 and headers["X-MBX-ORDER-COUNT-10S"] == str(n), doc
            # full: -1015 for any order, before its parameters (nothing placed, nothing counted)
            for params in (ETH_SELL | {"price": "3010"}, ETH_SELL | {"quantity": "100", "price": "3000"}):
                status, headers, doc = await _order(client, **params)
                assert status == 429 and doc["code"] == -1015, doc
                assert headers["X-MBX-ORDER-COUNT-10S"] == "5" and 1 <= int(headers["Retry-After"]) <= 10
            status, opened = await client.signed("GET", "/api/v3/openOrders", symbol="ETHUSDT")
            assert status == 200 and len(opened) == 5, opened
    run(scenario())


def test_an_order_s_first_fill_takes_it_off_the_count(node):
    """faqs/order_count_decrement.md: "When an order is filled for the first time (partially or
    fully), your unfilled order count is decremented by one order for all intervals": a taker that
    fills at once (counted when placed, as the answer's headers show, and taken off then), a maker
    filled later; only its first fill counts."""
    async def scenario():
        async with session_from("127.0.0.22") as s_maker, session_from("127.0.0.23") as s_taker:
            maker = await funded_client(s_maker, node.base, ADMIN_TOKEN, ETH="1")
            taker = await funded_client(s_taker, node.base, ADMIN_TOKEN, USDT="100000")
            buy = {"symbol": "ETHUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01", "newOrderRespType": "FULL"}
            await window_start(10)
            status, headers, resting = await _order(maker, **ETH_SELL | {"quantity": "0.02", "price": "2000"})
            assert status == 200 and resting["status"] == "NEW", resting
            assert (headers["X-MBX-ORDER-COUNT-10S"], headers["X-MBX-ORDER-COUNT-1D"]) == ("1", "1")
            # the taker's market order fills at once: counted when placed, off again at its fill
            status, headers, doc = await _order(taker, **buy)
            assert status == 200 and doc["status"] == "FILLED", doc
            assert headers["X-MBX-ORDER-COUNT-10S"] == "1"
            status, headers, doc = await _order(taker, symbol="ETHUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                                                quantity="0.01", price="1000")
            assert status == 200 and doc["status"] == "NEW", doc
            assert (headers["X-MBX-ORDER-COUNT-10S"], headers["X-MBX-ORDER-COUNT-1D"]) == ("1", "1")

            # the maker's order, partly filled: its first fill took it off
            async def maker_counts(expected):
                assert await _order_counts(maker) == expected
            await eventually(lambda: maker_counts([0, 0]), pause=1.0)
            status, headers, doc = await _order(maker, **ETH_SELL, price="2500")
            assert status == 200 and headers["X-MBX-ORDER-COUNT-10S"] == "1", doc
            # the rest of it filled: not its first fill, nothing more comes off
            status, headers, doc = await _order(taker, **buy)
            assert status == 200 and doc["status"] == "FILLED" and doc["fills"][0]["price"] == "2000.00000000", doc
            assert headers["X-MBX-ORDER-COUNT-10S"] == "2"
            status, order = await maker.signed("GET", "/api/v3/order", symbol="ETHUSDT", orderId=resting["orderId"])
            assert order["status"] == "FILLED", order
            assert await _order_counts(maker) == [1, 1]
            assert await _order_counts(taker) == [1, 1]  # the resting buy; both market orders off again
    run(scenario())


def test_refusals_show_in_the_metrics_apart_from_shedding(node):
    async def scenario():
        async with session_from("127.0.0.9") as s:
            async with s.get(node.base + "/metrics") as resp:
                text = await resp.text()
        assert 'spot_seda_http_rate_limited_total{limit="request_weight"}' in text
        assert 'spot_seda_http_rate_limited_total{limit="orders"}' in text
        assert 'spot_seda_http_shed_total{kind="order"} 0' in text  # nothing above was shed (503)
    run(scenario())


# ------------------------------------------------------------- weight 0 for a successful order request


async def _weighed(client: Client, method: str, path: str, bad_signature: bool = False, **params):
    """A signed request: (its status, its X-MBX-USED-WEIGHT-1M, its body)."""
    query = _signed_query(client, params)
    if bad_signature:
        query = query[:-4] + ("0000" if not query.endswith("0000") else "1111")
    async with client.session.request(method, client.base + path + "?" + query,
                                      headers={"X-MBX-APIKEY": client.api_key}) as resp:
        return resp.status, int(resp.headers["X-MBX-USED-WEIGHT-1M"]), await resp.json()


class _Weighing:
    """Sends requests (as `who`, default the client it started with) and checks the status of each
    and what it added to the IP's used weight: `await expect(added, status, method, path, **params)`."""

    def __init__(self, client, used: int) -> None:
        self.client, self.used = client, used

    @classmethod
    async def start(cls, client) -> "_Weighing":
        status, used, doc = await _weighed(client, "GET", "/api/v3/account")
        assert status == 200, doc
        return cls(client, used)

    async def __call__(self, added: int, expected_status: int, method: str, path: str, who=None, **params):
        status, now, doc = await _weighed(who or self.client, method, path, **params)
        assert status == expected_status, (method, path, params, doc)
        assert now == self.used + added, (method, path, params, doc, now, self.used)
        self.used = now
        return doc


def test_a_successful_order_request_weighs_0_a_failed_one_its_weight(node):
    """binance-spot-api-docs CHANGELOG 2026-03-27 (in effect since 2026-04-02): the weight of the
    requests that place, cancel or replace orders "become 0 when the request is successful. Failed
    requests are still charged the documented weight." A success's headers already show the count
    without it; a refusal (-2010, a filter, a bad signature, an unknown order) adds its weight; a
    read still weighs what it did (GET /api/v3/account: 20)."""
    async def scenario():
        async with session_from("127.0.0.31") as s:
            client = await funded_client(s, node.base, ADMIN_TOKEN, USDT="100000")
            lister = await funded_client(s, node.base, ADMIN_TOKEN, BTC="1")  # (its own ORDERS count)
            await window_start(5)  # (>= 6 s before the minute's end: one 1-minute window throughout)
            bid = {"symbol": SYMBOL, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.001"}
            expect = await _Weighing.start(client)

            placed = await expect(0, 200, "POST", "/api/v3/order", **bid, price="5000")
            for params, code in ((bid | {"quantity": "100", "price": "5000"}, -2010),  # the balance
                                 (bid | {"price": "5000.001"}, -1013)):  # PRICE_FILTER
                doc = await expect(1, 400, "POST", "/api/v3/order", **params)
                assert doc["code"] == code, doc
            doc = await expect(1, 400, "POST", "/api/v3/order", bad_signature=True, **bid, price="5000")
            assert doc["code"] == -1022, doc
            await expect(0, 200, "DELETE", "/api/v3/order", symbol=SYMBOL, orderId=placed["orderId"])
            doc = await expect(1, 400, "DELETE", "/api/v3/order", symbol=SYMBOL, orderId=placed["orderId"])
            assert doc["code"] == -2011, doc
            placed = await expect(0, 200, "POST", "/api/v3/order", **bid, price="5000")
            await expect(0, 200, "POST", "/api/v3/order/cancelReplace", cancelReplaceMode="STOP_ON_FAILURE",
                         cancelOrderId=placed["orderId"], **bid, price="5001")
            await expect(0, 200, "DELETE", "/api/v3/openOrders", symbol=SYMBOL)
            doc = await expect(1, 400, "DELETE", "/api/v3/openOrders", symbol=SYMBOL)  # none left
            assert doc["code"] == -2011, doc
            oco = await expect(0, 200, "POST", "/api/v3/orderList/oco", who=lister, symbol=SYMBOL, side="SELL",
                               quantity="0.002", aboveType="LIMIT_MAKER", abovePrice="95000",
                               belowType="STOP_LOSS_LIMIT", belowStopPrice="5000", belowPrice="4900",
                               belowTimeInForce="GTC")
            await expect(0, 200, "DELETE", "/api/v3/orderList", who=lister, symbol=SYMBOL,
                         orderListId=oco["orderListId"])
            doc = await expect(1, 400, "DELETE", "/api/v3/orderList", who=lister, symbol=SYMBOL,
                               orderListId=oco["orderListId"])
            assert doc["code"] == -2011, doc
            await expect(20, 200, "GET", "/api/v3/account")  # a read still weighs its weight
    run(scenario())


def test_an_amend_weighs_0_only_when_it_expires_the_order(node):
    """CHANGELOG 2026-04-02: PUT /api/v3/order/amend/keepPriority's weight (4) "only becomes 0 when
    the order expires because of the amendment"; an amend that leaves the order open, or fails, is
    charged. (BTCUSDT asks at 90000: no other test of this module sells BTC.)"""
    async def scenario():
        async with session_from("127.0.0.32") as s:
            maker = await funded_client(s, node.base, ADMIN_TOKEN, BTC="1")
            taker = await funded_client(s, node.base, ADMIN_TOKEN, USDT="100000")
            await window_start(5)
            expect = await _Weighing.start(maker)

            ask = await expect(0, 200, "POST", "/api/v3/order", symbol=SYMBOL, side="SELL", type="LIMIT",
                               timeInForce="GTC", quantity="0.003", price="90000")
            amend = {"symbol": SYMBOL, "orderId": ask["orderId"]}
            doc = await expect(4, 200, "PUT", "/api/v3/order/amend/keepPriority", **amend, newQty="0.002")
            assert doc["amendedOrder"]["status"] == "NEW", doc  # still open: charged
            doc = await expect(4, 400, "PUT", "/api/v3/order/amend/keepPriority", **amend, newQty="0.002")
            assert doc["code"] == -2038, doc  # no change: refused, charged
            bought = await expect(0, 200, "POST", "/api/v3/order", who=taker, symbol=SYMBOL, side="BUY",
                                  type="MARKET", quantity="0.001", newOrderRespType="FULL")
            assert bought["status"] == "FILLED" and float(bought["fills"][0]["price"]) == 90000, bought
            # down to what has executed: the order expires because of the amendment: 0
            doc = await expect(0, 200, "PUT", "/api/v3/order/amend/keepPriority", **amend, newQty="0.001")
            assert doc["amendedOrder"]["status"] == "EXPIRED", doc
    run(scenario())
