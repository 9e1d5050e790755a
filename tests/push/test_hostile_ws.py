"""Hostile WebSocket input against a real node's Push stage (issue 13, DESIGN.md invariant 8): every
frame gets one Binance-style error and the connection stays usable; a seeded fuzz of junk frames on
the stream and WebSocket API endpoints leaves no traceback and no dropped connection."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter

import aiohttp
import pytest

from spot_seda.api import wsmethods
from tests.hostile import PLAUSIBLE, TEMPLATES, VALUES
from tests.node.client import funded_client, open_orders_and_balances
from tests.node.conftest import ADMIN_TOKEN, serving_node
from tests.ws_api.conftest import sign


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    """A real node for this module. Overload is not what it tests: the fuzz's concurrent requests on a
    loaded machine must not be shed for the HTTP stage's loop lag."""
    with serving_node(tmp_path_factory.mktemp("hostile_ws")) as proc:
        yield proc


def run(coro):
    return asyncio.run(coro)


def test_deep_json_and_binary_frames_get_errors_and_the_connection_stays_open(node):
    async def scenario():
        mark = len(node.log())
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"{node.ws}/ws") as ws:
                for deep in ("[" * 10000, '{"a":' * 10000, "[" * 10000 + "]" * 10000):
                    await ws.send_str(deep)
                    reply = await ws.receive_json(timeout=5)
                    assert reply == {"code": 3, "msg": "Invalid JSON: nested too deeply", "id": None}, reply
                await ws.send_bytes(b"\x00\x01")
                assert (await ws.receive_json(timeout=5))["code"] == 3
                await ws.send_json({"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 1})
                assert await ws.receive_json(timeout=5) == {"result": None, "id": 1}
            async with session.ws_connect(f"{node.ws}/ws-api/v3") as ws:
                await ws.send_str("[" * 10000)
                reply = await ws.receive_json(timeout=5)
                assert reply["status"] == 400 and reply["error"]["code"] == -1135, reply
                assert "nested too deeply" in reply["error"]["msg"], reply
                await ws.send_bytes(b'{"id": 1, "method": "ping"}')  # JSON, but in a binary frame
                reply = await ws.receive_json(timeout=5)
                assert reply["status"] == 400 and reply["error"]["code"] == -1135, reply
                assert "binary" in reply["error"]["msg"], reply
                await ws.send_json({"id": 2, "method": "ping"})
                assert await ws.receive_json(timeout=5) == {"id": 2, "status": 200, "result": {}}
        log = node.log()[mark:]
        assert "Traceback" not in log and "unexpected error" not in log, log[-3000:]
    run(scenario())


def test_refused_handshakes_and_unknown_paths_answer_binance_json(node):
    async def scenario():
        http = node.ws.replace("ws://", "http://")
        async with aiohttp.ClientSession() as session:
            for method, path, headers, status in (
                    ("GET", "/nope", {}, 404), ("POST", "/ws", {}, 405), ("GET", "/ws", {}, 400),
                    ("GET", "/ws-api/v3", {"Upgrade": "websocket", "Connection": "Upgrade",
                                           "Sec-WebSocket-Version": "99", "Sec-WebSocket-Key": "x"}, 400)):
                async with session.request(method, http + path, headers=headers) as resp:
                    assert resp.status == status and resp.content_type == "application/json", (path, resp.status)
                    doc = await resp.json()
                    assert set(doc) == {"code", "msg"} and doc["code"] == -1000 and doc["msg"], doc
            # the WebSocket API on the HTTP port likewise (it once answered a plain GET 500)
            for headers in ({}, {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "99"}):
                async with session.get(node.base + "/ws-api/v3", headers=headers) as resp:
                    assert resp.status == 400 and resp.content_type == "application/json", resp.status
                    doc = await resp.json()
                    assert doc["code"] == -1000 and doc["msg"].startswith("Bad WebSocket handshake"), doc
    run(scenario())


JUNK = ["", " ", "null", "0", "-1", "1e999", '"x"', "[]", "{}", "{", "}", "[" * 500, "\u0000", "é" * 100,
        '{"method": null}', '{"method": "SUBSCRIBE", "params": null}', '{"method": "SUBSCRIBE", "params": [[]]}',
        '{"method": "SUBSCRIBE", "params": ["changelog@OrderChangeLog"], "id": 1}',
        '{"method": "SUBSCRIBE", "params": ["x"], "id": 18446744073709551616}',
        '{"method": "SUBSCRIBE", "params": ["' + "a" * 5000 + '"]}', '{"method": "LIST_SUBSCRIPTIONS", "id": {}}',
        '{"id": 1, "method": "userDataStream.subscribe.signature", "params": {"apiKey": []}}',
        '{"id": 1, "method": "userDataStream.subscribe.signature", "params": {"apiKey": "x", "timestamp": 1e400}}',
        '{"id": [1], "method": "userDataStream.unsubscribe", "params": {"subscriptionId": 2e70}}',
        '{"id": 1, "method": "userDataStream.unsubscribe", "params": {"subscriptionId": true}}',
        '{"id": 1, "method": "ping", "params": []}', '{"id": 1, "method": 7}', '{"id": 1, "method": "time", "params": 1}']


def mutate(rng: random.Random) -> str:
    text = rng.choice(JUNK)
    if text and rng.random() < 0.5:  # cut, duplicate or flip a character
        i = rng.randrange(len(text))
        text = rng.choice([text[:i], text + text[i:], text[:i] + chr(rng.randrange(32, 0x2FF)) + text[i + 1:]])
    return text


STREAMS = ["btcusdt@trade", "ethusdt@aggTrade", "btcusdt@depth", "btcusdt@depth5@100ms", "btcusdt@bookTicker",
           "btcusdt@kline_1m", "!ticker@arr", "btcusdt@ticker", "changelog@TradeChangeLog", "changelog@OrderChangeLog",
           "BTCUSDT@trade", "nope@trade", "btcusdt@kline_7m", "", "@", "a" * 300, "btcusdt@depth21"]
#: the WebSocket API's methods (Acquiring's, on the HTTP port; Push's serves the user data ones)
WS_API_METHODS = list(wsmethods.METHODS) + ["session.logon", "session.status", "session.logout", "session.subscriptions",
                                        "userDataStream.subscribe", "userDataStream.subscribe.signature",
                                        "userDataStream.unsubscribe", "v3/ping", "nope", "", "order.place "]
JSON_ODD = [None, True, 2**70, -1, 1.5, [], {}, ["BTCUSDT"], {"a": 1}, "x" * 2000]
WS_CASES = {("ws", "/ws"): 1000, ("ws", "/stream"): 600, ("ws", "/ws/btcusdt@trade"): 400, ("ws", "/ws-api/v3"): 600,
            ("http", "/ws-api/v3"): 2400}
WINDOW = 25  # frames sent before their answers are read: a pipeline, not one round trip a frame


def stream_frame(rng: random.Random) -> str | bytes:
    """A frame for a stream connection: junk, or a request with hostile parts."""
    if rng.random() < 0.4:
        text = mutate(rng)
        return text.encode() if rng.random() < 0.15 else text
    doc = {"method": rng.choice(["SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "subscribe", ""]),
           "params": rng.sample(STREAMS, rng.randrange(0, 4)), "id": rng.choice([1, "a", None, -5, 2**70, "x" * 80, 1.5])}
    if rng.random() < 0.3:
        doc[rng.choice(["params", "id", "method"])] = rng.choice(JSON_ODD)
    return json.dumps(doc)


def api_frame(rng: random.Random, n: int, api_key: str, secret: str) -> str | bytes:
    """A frame for a WebSocket API connection: junk, or request `n` with an endpoint's plausible
    parameters, up to two made hostile, often signed by the fuzzer's account."""
    if rng.random() < 0.2:
        text = mutate(rng)
        return text.encode() if rng.random() < 0.2 else text
    method = rng.choice(WS_API_METHODS)
    route = wsmethods.METHODS[method].route[1] if method in wsmethods.METHODS else ""
    keys = dict.fromkeys(TEMPLATES.get(route, ("symbol",)) + tuple(rng.sample(list(PLAUSIBLE), rng.randrange(0, 3))))
    params: dict = {k: rng.choice(PLAUSIBLE[k]) for k in keys}
    for _ in range(rng.randrange(0, 3)):
        params[rng.choice(list(params))] = rng.choice(VALUES) if rng.random() < 0.7 else rng.choice(JSON_ODD)
    if rng.random() < 0.6:
        params |= {"apiKey": api_key, "timestamp": int(time.time() * 1000)}
        if all(isinstance(v, (str, int, float, bool)) for v in params.values()):
            params["signature"] = sign(secret, params)
    doc = {"id": n if rng.random() < 0.9 else rng.choice(JSON_ODD), "method": method, "params": params}
    return json.dumps(doc)


def is_answer(doc, api: bool) -> bool:
    """An answer to a request, not a stream event (a depth snapshot or an event of a subscription)."""
    if api:
        return isinstance(doc, dict) and "status" in doc and "event" not in doc
    return isinstance(doc, dict) and ("result" in doc or "code" in doc) and "e" not in doc


def check_answer(doc: dict, api: bool, where) -> None:
    """A WebSocket API answer: a result, or a 4xx with Binance's error (`data` beside it on a
    cancel-replace); a stream connection's: a result, or Binance's stream error codes."""
    if not api:
        assert "result" in doc or (doc["code"] in (0, 1, 2, 3) and doc["msg"]), (where, doc)
        return
    assert doc["status"] < 500, (where, doc)
    if "error" in doc:
        err = doc["error"]
        assert 400 <= doc["status"] < 500 and {"code", "msg"} <= set(err) <= {"code", "msg", "data"}, (where, doc)
        assert isinstance(err["code"], int) and err["code"] < 0 and isinstance(err["msg"], str) and err["msg"], (where, doc)
    else:
        assert doc["status"] == 200 and "result" in doc, (where, doc)


def test_seeded_fuzz_of_both_websocket_ports_one_answer_each_nothing_drops_no_state_change(node):
    """5,000 seeded frames over both WebSocket ports (Push's streams and user data API, Acquiring's
    WebSocket API on the HTTP port), all connections at once, each pipelining WINDOW frames before
    reading their answers: every frame gets one answer (a result or Binance's error, never 5xx), no
    connection drops, no balance or open order changes, no traceback."""
    async def scenario():
        mark = len(node.log())
        rng = random.Random(1313)
        async with aiohttp.ClientSession() as session:
            victim = await funded_client(session, node.base, ADMIN_TOKEN, BTC="2", USDT="5000")
            status, doc = await victim.order(symbol="BTCUSDT", side="SELL", type="LIMIT", timeInForce="GTC",
                                             quantity="0.5", price="70000", newClientOrderId="keep-me")
            assert status == 200, doc
            fuzzer = await funded_client(session, node.base, ADMIN_TOKEN)  # nothing to spend, nothing to cancel
            before = await open_orders_and_balances(victim, fuzzer)
            seeds = {where: rng.randrange(2**32) for where in WS_CASES}  # one stream of cases per connection
            answered: dict = {}
            codes: Counter = Counter()  # (printed: how deep the cases got)
            began = time.monotonic()

            async def connection(port: str, path: str, count: int) -> None:
                crng = random.Random(seeds[(port, path)])
                api = path == "/ws-api/v3"
                base = node.base.replace("http://", "ws://") if port == "http" else node.ws
                async with session.ws_connect(base + path, max_msg_size=0) as ws:
                    sent = 0
                    while sent < count:
                        window = []
                        for _ in range(min(WINDOW, count - sent)):
                            frame = api_frame(crng, sent, fuzzer.api_key, fuzzer.secret) if api else stream_frame(crng)
                            await (ws.send_bytes(frame) if isinstance(frame, bytes) else ws.send_str(frame))
                            window.append(frame)
                            sent += 1
                        got = 0
                        while got < len(window):
                            msg = await ws.receive(timeout=10)
                            assert msg.type == aiohttp.WSMsgType.TEXT, (port, path, msg, window[got:][:3])
                            doc = json.loads(msg.data)
                            if is_answer(doc, api):
                                check_answer(doc, api, (port, path, window))
                                codes[doc["error"]["code"] if "error" in doc else doc.get("code", 200)] += 1
                                got += 1
                    ping = {"id": "last", "method": "ping"} if api else {"method": "LIST_SUBSCRIPTIONS", "id": "last"}
                    await ws.send_str(json.dumps(ping))
                    while True:  # still usable: its answer comes after whatever events are on the way
                        doc = json.loads((await ws.receive(timeout=10)).data)
                        if is_answer(doc, api) and doc.get("id") == "last":
                            assert "result" in doc, doc
                            break
                    assert not ws.closed
                answered[(port, path)] = sent

            await asyncio.gather(*(connection(port, path, n) for (port, path), n in WS_CASES.items()))
            elapsed = time.monotonic() - began
            print(f"{sum(answered.values())} frames in {elapsed:.1f} s: {answered}; codes {dict(codes.most_common())}")
            assert answered == WS_CASES
            assert await open_orders_and_balances(victim, fuzzer) == before
        log = node.log()[mark:]
        assert "Traceback" not in log and "unexpected error" not in log and "dropping" not in log, log[-3000:]
    run(scenario())
