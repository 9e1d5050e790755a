"""Hostile WebSocket input against a real node's Push stage (issue 13, DESIGN.md invariant 8): every
frame gets one Binance-style error and the connection stays usable; a seeded fuzz of junk frames on
the stream and WebSocket API endpoints leaves no traceback and no dropped connection."""

from __future__ import annotations

import asyncio
import json
import random

import aiohttp

from tests.push.conftest import ADMIN_TOKEN

__all__ = ["ADMIN_TOKEN"]


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


def test_seeded_fuzz_of_junk_frames_each_gets_one_answer_and_nothing_drops(node):
    async def scenario():
        mark = len(node.log())
        rng = random.Random(1313)
        async with aiohttp.ClientSession() as session:
            for path, is_api in (("/ws", False), ("/stream", False), ("/ws-api/v3", True)):
                async with session.ws_connect(node.ws + path) as ws:
                    for _ in range(150):
                        if rng.random() < 0.1:
                            await ws.send_bytes(mutate(rng).encode())
                        else:
                            await ws.send_str(mutate(rng))
                        reply = await ws.receive_json(timeout=5)
                        if is_api:
                            assert set(reply) == {"id", "status", "result"} or (
                                400 <= reply["status"] < 500 and set(reply) == {"id", "status", "error"}
                                and reply["error"]["code"] < 0), reply
                        else:
                            assert "result" in reply or (reply["code"] in (0, 1, 2, 3) and reply["msg"]), reply
                    # still usable
                    ping = {"id": 9, "method": "ping"} if is_api else {"method": "LIST_SUBSCRIPTIONS", "id": 9}
                    await ws.send_str(json.dumps(ping))
                    reply = await ws.receive_json(timeout=5)
                    assert reply["id"] == 9 and ("result" in reply), reply
                    assert not ws.closed
        log = node.log()[mark:]
        assert "Traceback" not in log and "unexpected error" not in log and "dropping" not in log, log[-3000:]
    run(scenario())
