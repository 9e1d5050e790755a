"""The WebSocket API's REQUEST_WEIGHT through a real node (api/wsapi.py, issue 16), as web-socket-api.md
"IP limits" says it: the connection weighs 2 and each request its REST endpoint's weight, against the
IP's one count shared with REST and with the IP's other connections; past the limit 429 -1003 with
`error.data.retryAfter`; an IP that keeps going is banned (418, `retryAfter` the ban's end) and
disconnected, and its new handshakes are refused 418 with Retry-After until the ban ends; meanwhile
another IP's connection is served throughout.

Each test talks from loopback addresses of its own (127.0.0.N), as tests/node/test_rate_limits.py."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from tests.node.client import Client, funded_client
from tests.node.conftest import ADMIN_TOKEN, serving_node
from tests.node.test_rate_limits import session_from, window_start
from tests.ws_api.conftest import WsApi, run, sign

WEIGHT_5S = 100
BAN_S = 2.0
ORDERS_10S = 50
LIMITS = f"""
[rate_limits]
enabled = true
request_weight = [{{interval = "MINUTE", interval_num = 1, limit = 100000}},
                  {{interval = "SECOND", interval_num = 5, limit = {WEIGHT_5S}}}]
orders = [{{interval = "SECOND", interval_num = 10, limit = {ORDERS_10S}}}, {{interval = "DAY", interval_num = 1, limit = 1000}}]
ban_after_429s = 3
ban_s = {BAN_S}
ban_max_s = 60.0
"""


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    with serving_node(tmp_path_factory.mktemp("wsapi_limits"), LIMITS) as proc:
        proc.ws_api = proc.base.replace("http://", "ws://") + "/ws-api/v3"
        yield proc


def weight_5s(answer: dict) -> int:
    """The REQUEST_WEIGHT count of the 5-second window in an answer's `rateLimits`."""
    (count,) = [l["count"] for l in answer["rateLimits"]
                if (l["rateLimitType"], l["interval"], l["intervalNum"]) == ("REQUEST_WEIGHT", "SECOND", 5)]
    return count


def test_weight_past_the_limit_429_then_418_and_disconnected_while_other_ips_are_served(node):
    async def scenario():
        async with session_from("127.0.0.21") as s, session_from("127.0.0.22") as other_ip:
            await window_start(5)
            api = WsApi(await s.ws_connect(node.ws_api))  # the connection: 2
            async with s.get(node.base + "/api/v3/exchangeInfo") as resp:  # REST from the same IP: 20, one count
                assert resp.status == 200 and resp.headers["X-MBX-USED-WEIGHT-5S"] == "22", dict(resp.headers)
            second = WsApi(await s.ws_connect(node.ws_api))  # another connection of the IP: 2 more
            used = 24
            for method, params, weight in (("exchangeInfo", {}, 20), ("depth", {"symbol": "BTCUSDT"}, 5),
                                           ("exchangeInfo", {}, 20), ("ticker.price", {}, 4)):
                answer = await api.call(method, params)
                used += weight
                assert answer["status"] == 200 and weight_5s(answer) == used, (method, answer)
            answer = await second.call("exchangeInfo")
            used += 20
            assert answer["status"] == 200 and weight_5s(answer) == used == 93, answer

            refused = await api.call("exchangeInfo")  # 113 > 100: refused, nothing added
            assert refused["status"] == 429, refused
            data = refused["error"].pop("data")
            assert refused["error"] == {
                "code": -1003, "msg": f"Too much request weight used; current limit is {WEIGHT_5S} request weight "
                                      "per 5 SECOND. Please use WebSocket Streams for live updates to avoid polling "
                                      "the API."}
            assert 0 < data["retryAfter"] - data["serverTime"] <= 5000 and data["retryAfter"] % 5000 == 0, data  # the window's end
            assert weight_5s(refused) == used
            assert (await api.call("exchangeInfo"))["error"]["code"] == -1003  # a second 429, then a third
            assert (await second.call("exchangeInfo"))["status"] == 429
            assert (await api.call("ping"))["status"] == 200  # (what still fits is served: 94)

            # meanwhile another IP is served, its own count from its own connection
            bystander = WsApi(await other_ip.ws_connect(node.ws_api))
            served = await bystander.call("ping")
            assert served["status"] == 200 and weight_5s(served) == 3, served

            began = time.time() * 1000
            banned = await api.call("exchangeInfo")  # it keeps going: banned
            assert banned["status"] == 418, banned
            error = banned["error"]
            until = int(error["msg"].split("until ")[1].split(".")[0])
            assert error["code"] == -1003 and error["msg"] == (
                f"Way too much request weight used; IP banned until {until}. Please use WebSocket Streams for live "
                "updates to avoid bans.")
            assert error["data"]["retryAfter"] == until, error  # the ban's end, to the millisecond
            assert began + BAN_S * 1000 - 500 < until <= time.time() * 1000 + BAN_S * 1000 + 100
            # ... and disconnected (Binance: "an automated IP ban and you will be disconnected")
            closing = await api.ws.receive(timeout=5)
            assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), closing
            if closing.type == aiohttp.WSMsgType.CLOSE:
                assert closing.data == 1008 and "banned" in closing.extra, closing
            # the IP's other connection: 418 at its next request, then closed too
            assert (await second.call("time"))["status"] == 418  # (banned: whatever it weighs)
            closing = await second.ws.receive(timeout=5)
            assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), closing

            # a new handshake from the banned IP: 418, Retry-After, Binance's body
            with pytest.raises(aiohttp.WSServerHandshakeError) as handshake:
                await s.ws_connect(node.ws_api)
            assert handshake.value.status == 418
            assert 1 <= int(handshake.value.headers["Retry-After"]) <= BAN_S
            async with s.get(node.ws_api) as resp:
                doc = await resp.json()
                assert resp.status == 418 and doc["code"] == -1003 and f"banned until {until}" in doc["msg"], doc
            # REST from that IP is banned too (one IP, one count)
            async with s.get(node.base + "/api/v3/time") as resp:
                assert resp.status == 418

            served = await bystander.call("ping")  # still served
            assert served["status"] == 200 and weight_5s(served) in (1, 4), served  # (maybe a new 5 s window)

            # once the ban is over the IP connects and is served again
            wait_s = until / 1000 - time.time() + 0.1
            if wait_s > 0:
                await asyncio.sleep(wait_s)
            again = WsApi(await s.ws_connect(node.ws_api))
            answer = await again.call("ping")
            assert answer["status"] == 200, answer
            await again.ws.close()
            await bystander.ws.close()
    run(scenario())


def test_cancel_replace_cancel_only_still_cancels_past_the_orders_limit_as_rest_does(node):
    """web-socket-api.md, order.cancelReplace: with orderRateLimitExceededMode=CANCEL_ONLY an account
    at its ORDERS limit still gets its order canceled: -2021 with `cancelResult: SUCCESS` and the
    new order's -1015 in `newOrderResponse` (409; 429 under STOP_ON_FAILURE, as REST answers it),
    where DO_NOTHING cancels nothing (429 -1015). The count stands: cancels take nothing off."""
    async def scenario():
        async with session_from("127.0.0.23") as s, session_from("127.0.0.24") as rest_ip:
            client = await funded_client(rest_ip, node.base, ADMIN_TOKEN, USDT="100000")
            rest = Client(rest_ip, node.base, client.api_key, client.secret)
            await window_start(10)
            api = WsApi(await s.ws_connect(node.ws_api))

            async def call(method, **params):
                return await api.signed(method, client.api_key, client.secret, **params)

            bid = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.001"}
            sent = []
            for n in range(ORDERS_10S):  # (sent all at once, answered as they are done)
                params = {"apiKey": client.api_key, "timestamp": int(time.time() * 1000), **bid, "price": str(10000 + n)}
                sent.append(await api.send("order.place", params | {"signature": sign(client.secret, params)}))
            placed = [await api.answer(req_id) for req_id in sent]
            assert all(p["status"] == 200 for p in placed), [p for p in placed if p["status"] != 200][:1]
            ids = [p["result"]["orderId"] for p in placed]
            full = {"code": -1015, "msg": f"Too many new orders; current limit is {ORDERS_10S} orders per 10 SECOND."}

            def orders_10s(answer: dict) -> int:
                (count,) = [l["count"] for l in answer["rateLimits"]
                            if (l["rateLimitType"], l["interval"]) == ("ORDERS", "SECOND")]
                return count

            async def status_of(order_id: int) -> str:
                status, doc = await rest.signed("GET", "/api/v3/order", symbol="BTCUSDT", orderId=order_id)
                assert status == 200, doc
                return doc["status"]

            # DO_NOTHING (the default): 429 -1015, nothing canceled
            doc = await call("order.cancelReplace", cancelReplaceMode="ALLOW_FAILURE", cancelOrderId=ids[0],
                             **bid, price="9000")
            assert doc["status"] == 429 and {k: doc["error"][k] for k in ("code", "msg")} == full, doc
            assert doc["error"]["data"]["retryAfter"] % 10_000 == 0, doc
            assert await status_of(ids[0]) == "NEW"

            # CANCEL_ONLY: canceled all the same; the new order fails -1015
            for order_id, mode, status in ((ids[0], "ALLOW_FAILURE", 409), (ids[1], "STOP_ON_FAILURE", 429)):
                doc = await call("order.cancelReplace", cancelReplaceMode=mode, orderRateLimitExceededMode="CANCEL_ONLY",
                                 cancelOrderId=order_id, **bid, price="9000")
                assert doc["status"] == status, doc
                error = doc["error"]
                assert (error["code"], error["msg"]) == (-2021, "Order cancel-replace partially failed."), doc
                data = error["data"]
                assert (data["cancelResult"], data["newOrderResult"]) == ("SUCCESS", "FAILURE"), doc
                assert (data["cancelResponse"]["orderId"], data["cancelResponse"]["status"]) == (order_id, "CANCELED")
                assert data["newOrderResponse"] == full, doc
                assert orders_10s(doc) == ORDERS_10S, doc
                assert await status_of(order_id) == "CANCELED"

            # REST answers the same
            status, body = await rest.signed("POST", "/api/v3/order/cancelReplace", cancelReplaceMode="ALLOW_FAILURE",
                                             orderRateLimitExceededMode="CANCEL_ONLY", cancelOrderId=ids[2],
                                             **bid, price="9000")
            assert status == 409 and (body["code"], body["data"]["cancelResult"]) == (-2021, "SUCCESS"), body
            assert body["data"]["newOrderResponse"] == full, body
            status, opened = await rest.signed("GET", "/api/v3/openOrders", symbol="BTCUSDT")
            assert status == 200 and sorted(o["orderId"] for o in opened) == ids[3:]
            await api.ws.close()
    run(scenario())


def weight_1m(answer: dict) -> int:
    """The REQUEST_WEIGHT count of the 1-minute window in an answer's `rateLimits`."""
    (count,) = [l["count"] for l in answer["rateLimits"]
                if (l["rateLimitType"], l["interval"], l["intervalNum"]) == ("REQUEST_WEIGHT", "MINUTE", 1)]
    return count


def test_a_successful_order_method_weighs_0_a_failed_one_its_weight(node):
    """binance-spot-api-docs CHANGELOG 2026-03-27 (in effect since 2026-04-02): `order.place`,
    `order.cancel`, `openOrders.cancelAll` (and the other methods that place, cancel or replace
    orders) weigh 0 when they succeed, so a success's `rateLimits` shows nothing added; a failed one
    (-2010, a filter, a bad signature, an unknown order) is charged its weight; a read
    (`account.status`, 20) still is."""
    async def scenario():
        async with session_from("127.0.0.25") as s:
            client = await funded_client(s, node.base, ADMIN_TOKEN, USDT="100000")
            await window_start(5)  # (>= 6 s before the minute's end: one 1-minute window throughout)
            api = WsApi(await s.ws_connect(node.ws_api))
            used = weight_1m(await api.call("ping"))
            bid = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.001"}

            async def expect(added: int, status: int, method: str, answer: dict | None = None, **params) -> dict:
                nonlocal used
                if answer is None:
                    answer = await api.signed(method, client.api_key, client.secret, **params)
                assert answer["status"] == status, (method, params, answer)
                assert weight_1m(answer) == used + added, (method, params, answer, used)
                used = weight_1m(answer)
                return answer

            placed = (await expect(0, 200, "order.place", **bid, price="5000"))["result"]
            for params, code in ((bid | {"quantity": "100", "price": "5000"}, -2010),  # the balance
                                 (bid | {"price": "5000.001"}, -1013)):  # PRICE_FILTER
                answer = await expect(1, 400, "order.place", **params)
                assert answer["error"]["code"] == code, answer
            params = {"apiKey": client.api_key, "timestamp": int(time.time() * 1000), **bid, "price": "5000"}
            params["signature"] = sign(client.secret, params | {"price": "5001"})  # signed for another price
            answer = await expect(1, 400, "order.place", await api.call("order.place", params))
            assert answer["error"]["code"] == -1022, answer
            await expect(0, 200, "order.cancel", symbol="BTCUSDT", orderId=placed["orderId"])
            answer = await expect(1, 400, "order.cancel", symbol="BTCUSDT", orderId=placed["orderId"])
            assert answer["error"]["code"] == -2011, answer
            await expect(0, 200, "order.place", **bid, price="5000")
            await expect(0, 200, "openOrders.cancelAll", symbol="BTCUSDT")
            answer = await expect(1, 400, "openOrders.cancelAll", symbol="BTCUSDT")  # none left
            assert answer["error"]["code"] == -2011, answer
            await expect(20, 200, "account.status")  # a read still weighs its weight
            await api.ws.close()
    run(scenario())


CONNECTIONS_10S = 3


def test_new_connections_past_the_ips_limit_are_refused_429_on_each_port(tmp_path):
    """CONNECTIONS (web-socket-api.md "Connection limits", web-socket-streams.md: per IP, new
    connections per 5 minutes; here 3 per 10 s): the WebSocket API's handshake and the streams' are
    each refused 429 -1003 with Retry-After past it, while another IP connects; the WebSocket API's
    exchangeInfo lists CONNECTIONS where REST's lists RAW_REQUESTS (CHANGELOG 2023-08-25)."""
    limits = LIMITS + f'connections = [{{interval = "SECOND", interval_num = 10, limit = {CONNECTIONS_10S}}}]\n'
    with serving_node(tmp_path, limits) as proc:
        ws_api = proc.base.replace("http://", "ws://") + "/ws-api/v3"

        async def scenario():
            async with session_from("127.0.0.41") as s, session_from("127.0.0.42") as other_ip:
                await window_start(10)
                for url in (ws_api, proc.ws + "/ws/btcusdt@trade", proc.ws + "/stream?streams=btcusdt@trade"):
                    open_ = [await s.ws_connect(url) for _ in range(CONNECTIONS_10S if url == ws_api else 1)]
                    if url == ws_api:
                        api = WsApi(open_[0])
                        info = await api.call("exchangeInfo", {"symbol": "BTCUSDT"})
                        kinds = [l["rateLimitType"] for l in info["result"]["rateLimits"]]
                        assert "CONNECTIONS" in kinds and "RAW_REQUESTS" not in kinds, kinds
                        (conn,) = [l for l in info["result"]["rateLimits"] if l["rateLimitType"] == "CONNECTIONS"]
                        assert (conn["interval"], conn["intervalNum"], conn["limit"]) == ("SECOND", 10, CONNECTIONS_10S)
                        async with s.get(proc.base + "/api/v3/exchangeInfo") as resp:
                            kinds = [l["rateLimitType"] for l in (await resp.json())["rateLimits"]]
                        assert "RAW_REQUESTS" in kinds and "CONNECTIONS" not in kinds, kinds
                    for ws in open_:
                        await ws.close()
                # the streams port counts its own: /ws and /stream made 2 there; one more, then refused
                await (await s.ws_connect(proc.ws + "/ws")).close()
                for url in (ws_api, proc.ws + "/ws", proc.ws + "/stream?streams=btcusdt@trade"):
                    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                        await s.ws_connect(url)
                    assert refused.value.status == 429, url
                    assert 0 < int(refused.value.headers["Retry-After"]) <= 10, refused.value.headers
                    async with s.get(url.replace("ws://", "http://"),
                                     headers={"Connection": "Upgrade", "Upgrade": "websocket",
                                              "Sec-WebSocket-Version": "13",
                                              "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}) as resp:
                        assert resp.status == 429 and (await resp.json())["code"] == -1003, url
                    await (await other_ip.ws_connect(url)).close()  # another IP connects
        run(scenario())
