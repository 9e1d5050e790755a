"""`timeUnit` in a WebSocket connection's URL (web-socket-streams.md: "All time and timestamp related
fields are milliseconds by default. To receive the information in microseconds, please add the
parameter `timeUnit=MICROSECOND or timeUnit=microsecond` in the URL"; web-socket-api.md says the same
of the WebSocket API's responses). A real node; the same events seen by a connection in milliseconds
and one in microseconds must differ only in their time fields, each times 1,000 (a candle's close
time, its last millisecond, is its last microsecond); ids that look like times ("t" of a trade, "U"
and "u" of a depth update, "I" of an executionReport) must not move. Another unit refuses the
handshake with -1194, as REST's header does."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from tests.conftest import eventually
from tests.node.client import funded_client
from tests.node.conftest import ADMIN_TOKEN, run, serving_node
from tests.ws_api.conftest import WsApi, sign

SYMBOL = "BTCUSDT"
INVALID_UNIT = {"code": -1194, "msg": "Invalid value for time unit; expected either MICROSECOND or MILLISECOND."}


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    with serving_node(tmp_path_factory.mktemp("timeunit")) as proc:
        proc.ws_api = proc.base.replace("http://", "ws://") + "/ws-api/v3"
        yield proc


class Listener:
    """A stream connection that keeps every event it gets (a combined stream's unwrapped, by stream)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.events: list[dict] = []
        self.task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                doc = msg.json()
                if "result" not in doc:  # (not a request's answer)
                    self.events.append(doc)

    def of(self, kind: str) -> list[dict]:
        return [e.get("data", e) for e in self.events if e.get("data", e).get("e") == kind]


async def listen(session: aiohttp.ClientSession, url: str) -> Listener:
    return Listener(await session.ws_connect(url))


def micro(ms_event: dict, *keys: str) -> dict:
    """What the microsecond connection must get for `ms_event`: `keys` (and "E") times 1,000."""
    return ms_event | {k: ms_event[k] * 1000 for k in ("E", *keys) if k in ms_event}


def test_streams_user_data_and_the_websocket_api_in_microseconds(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            maker = await funded_client(session, node.base, ADMIN_TOKEN, BTC="1")
            taker = await funded_client(session, node.base, ADMIN_TOKEN, USDT="100000")
            async with session.post(f"{node.base}/api/v3/userDataStream", headers={"X-MBX-APIKEY": taker.api_key}) as resp:
                assert resp.status == 200, await resp.text()
                key = (await resp.json())["listenKey"]
            streams = f"{SYMBOL.lower()}@kline_1m/{SYMBOL.lower()}@ticker/{SYMBOL.lower()}@depth"
            ms = {"trade": await listen(session, f"{node.ws}/ws/{SYMBOL.lower()}@trade"),
                  "combined": await listen(session, f"{node.ws}/stream?streams={streams}"),
                  "user": await listen(session, f"{node.ws}/ws/{key}?timeUnit=MILLISECOND")}
            us = {"trade": await listen(session, f"{node.ws}/ws/{SYMBOL.lower()}@trade?timeUnit=MICROSECOND"),
                  "combined": await listen(session, f"{node.ws}/stream?streams={streams}&timeUnit=microsecond"),
                  "user": await listen(session, f"{node.ws}/ws/{key}?timeUnit=MICROSECOND")}
            api = WsApi(await session.ws_connect(node.ws_api + "?timeUnit=MICROSECOND"))
            params = {"apiKey": taker.api_key, "timestamp": int(time.time() * 1000)}
            sub = await api.call("userDataStream.subscribe.signature", params | {"signature": sign(taker.secret, params)})
            assert sub["status"] == 200, sub

            now_us = time.time() * 1e6
            answer = await api.call("time")
            assert answer["status"] == 200 and now_us - 1e6 < answer["result"]["serverTime"] < now_us + 60e6, answer

            status, sell = await maker.order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC",
                                             quantity="0.01", price="31000")
            assert status == 200, sell
            await asyncio.sleep(0.5)  # (the maker's order on the book before the taker's)
            placed = await api.signed("order.place", taker.api_key, taker.secret, symbol=SYMBOL, side="BUY",
                                      type="LIMIT", timeInForce="GTC", quantity="0.02", price="31000",
                                      newOrderRespType="RESULT")
            assert placed["status"] == 200 and placed["result"]["status"] == "PARTIALLY_FILLED", placed
            order_us = placed["result"]
            assert now_us - 1e6 < order_us["transactTime"] < now_us + 60e6, order_us
            status, order_ms = await taker.signed("GET", "/api/v3/order", symbol=SYMBOL, orderId=order_us["orderId"])
            assert status == 200, order_ms
            answer = await api.signed("order.status", taker.api_key, taker.secret, symbol=SYMBOL,
                                      orderId=order_us["orderId"])
            assert answer["result"] == micro(order_ms, "time", "updateTime", "workingTime"), (answer, order_ms)
            # an error's data too: a cancel-replace whose cancel went through and whose new order did not
            answer = await api.signed("order.cancelReplace", taker.api_key, taker.secret, symbol=SYMBOL, side="SELL",
                                      type="LIMIT", timeInForce="GTC", quantity="5", price="90000",
                                      cancelReplaceMode="ALLOW_FAILURE", cancelOrderId=order_us["orderId"])
            assert (answer["status"], answer["error"]["code"]) == (409, -2021), answer
            assert now_us - 1e6 < answer["error"]["data"]["cancelResponse"]["transactTime"] < now_us + 60e6, answer

            async def everything_came():
                assert ms["trade"].of("trade") and len(us["trade"].of("trade")) == len(ms["trade"].of("trade"))
                for kind in ("executionReport", "outboundAccountPosition"):
                    assert ms["user"].of(kind) and len(us["user"].of(kind)) == len(ms["user"].of(kind)), kind
                for kind in ("kline", "24hrTicker", "depthUpdate"):
                    assert {e["E"] * 1000 for e in ms["combined"].of(kind)} & {e["E"] for e in us["combined"].of(kind)}, kind
            await eventually(everything_came, timeout=15)
            while len([e for e in api.events if e["event"]["e"] == "executionReport"]) < \
                    len(ms["user"].of("executionReport")):
                await api._read(10)  # (the WebSocket API's events: read as they come)

            # the same events: only their time fields moved
            for m, u in zip(ms["trade"].of("trade"), us["trade"].of("trade")):
                assert u == micro(m, "T"), (m, u)
            reports = ms["user"].of("executionReport")
            assert {r["x"] for r in reports} == {"NEW", "TRADE", "CANCELED"}, reports
            for m, u in zip(reports, us["user"].of("executionReport")):
                assert u == micro(m, "T", "O", "W"), (m, u)
            for m, u in zip(reports, [e["event"] for e in api.events if e["event"]["e"] == "executionReport"]):
                assert u == micro(m, "T", "O", "W"), (m, u)  # relayed to the WebSocket API's connection
            for m, u in zip(ms["user"].of("outboundAccountPosition"), us["user"].of("outboundAccountPosition")):
                assert u == micro(m, "u"), (m, u)
            # each microsecond event is one of the millisecond events of its time, moved (a stream may
            # send two events at one time: a candle's last update and its close, at a minute's end)
            def kline_micro(m):
                return micro(m) | {"k": m["k"] | {"t": m["k"]["t"] * 1000, "T": m["k"]["T"] * 1000 + 999}}

            for kind, moved in (("24hrTicker", lambda m: micro(m, "O", "C")), ("depthUpdate", micro),
                                ("kline", kline_micro)):
                by_time: dict[int, list[dict]] = {}
                for e in ms["combined"].of(kind):
                    by_time.setdefault(e["E"] * 1000, []).append(moved(e))
                pairs = [(by_time[u["E"]], u) for u in us["combined"].of(kind) if u["E"] in by_time]
                assert pairs and all(u in ms_events for ms_events, u in pairs), (kind, pairs)
            for listener in (*ms.values(), *us.values()):
                await listener.ws.close()
            await api.ws.close()
    run(scenario())


def test_another_time_unit_refuses_the_handshake(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            http_ws = node.base + "/ws-api/v3"
            push = node.ws.replace("ws://", "http://")
            for url in (f"{push}/ws/{SYMBOL.lower()}@trade?timeUnit=NANOSECOND", f"{push}/ws?timeUnit=Microsecond",
                        f"{push}/stream?streams={SYMBOL.lower()}@trade&timeUnit=", f"{push}/ws-api/v3?timeUnit=seconds",
                        f"{http_ws}?timeUnit=NANOSECOND"):
                async with session.get(url, headers={"Connection": "Upgrade", "Upgrade": "websocket",
                                                     "Sec-WebSocket-Version": "13",
                                                     "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}) as resp:
                    assert resp.status == 400 and await resp.json() == INVALID_UNIT, (url, resp.status)
            # milliseconds said out loud: as without it; Push's own WebSocket API in microseconds too
            for url, factor in ((f"{node.ws}/ws-api/v3?timeUnit=millisecond", 1), (f"{node.ws_api}?timeUnit=MILLISECOND", 1),
                                (f"{node.ws}/ws-api/v3?timeUnit=microsecond", 1000)):
                async with session.ws_connect(url) as ws:
                    await ws.send_json({"id": 1, "method": "time"})
                    doc = (await ws.receive(timeout=10)).json()
                    assert abs(doc["result"]["serverTime"] / factor - time.time() * 1000) < 60_000, (url, doc)
    run(scenario())
