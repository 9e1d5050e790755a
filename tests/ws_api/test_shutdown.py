"""A clean stop of the node (SIGTERM) tells every WebSocket connection, on both ports, as Binance does:
the `serverShutdown` event in the connection's own shape (the WebSocket API's `{"event": ...}`, with
a user data subscription or without; a raw stream's payload; a combined stream's under
`!serverShutdown`), then a close with 1001 GOING_AWAY; an order answered before it is kept."""

from __future__ import annotations

import aiohttp

from tests.node.client import funded_client
from tests.node.conftest import serving_node
from tests.ws_api.conftest import ADMIN_TOKEN, WsApi, run

SYMBOL = "BTCUSDT"


def test_clean_stop_sends_server_shutdown_then_going_away(tmp_path):
    with serving_node(tmp_path) as node:
        ws_api = node.base.replace("http://", "ws://") + "/ws-api/v3"

        async def scenario():
            async with aiohttp.ClientSession() as session:
                user = await funded_client(session, node.base, ADMIN_TOKEN, BTC="1")
                api = WsApi(await session.ws_connect(ws_api))
                placed = await api.signed("order.place", user.api_key, user.secret, symbol=SYMBOL, side="SELL",
                                          type="LIMIT", timeInForce="GTC", quantity="0.01", price="70000")
                assert placed["status"] == 200, placed
                subscriber = WsApi(await session.ws_connect(ws_api))  # with user data from Push (relayed)
                doc = await subscriber.signed("userDataStream.subscribe.signature", user.api_key, user.secret)
                assert doc["status"] == 200, doc
                push_api = WsApi(await session.ws_connect(node.ws + "/ws-api/v3"))  # Push's own WebSocket API
                doc = await push_api.signed("userDataStream.subscribe.signature", user.api_key, user.secret)
                assert doc["status"] == 200, doc
                raw = await session.ws_connect(node.ws + "/ws/btcusdt@trade")
                combined = await session.ws_connect(node.ws + "/stream?streams=btcusdt@trade")
                node.proc.terminate()  # SIGTERM: the supervisor stops the stages in flow order

                async def notice(ws) -> dict:
                    """The shutdown notice the connection gets, after which it is closed with 1001."""
                    msg = await ws.receive(timeout=20)
                    assert msg.type == aiohttp.WSMsgType.TEXT, msg
                    msg2 = await ws.receive(timeout=10)
                    assert msg2.type == aiohttp.WSMsgType.CLOSE and msg2.data == 1001, msg2
                    return msg.json()

                for conn in (api.ws, subscriber.ws, push_api.ws):
                    event = (await notice(conn))["event"]
                    assert set(event) == {"e", "E"} and event["e"] == "serverShutdown" and event["E"] > 0, event
                event = await notice(raw)
                assert set(event) == {"e", "E"} and event["e"] == "serverShutdown", event
                doc = await notice(combined)
                assert doc["stream"] == "!serverShutdown" and doc["data"]["e"] == "serverShutdown", doc
        run(scenario())
        assert node.proc.wait(30) == 0
    # the acknowledged order survived the stop
    with serving_node(tmp_path) as node:
        async def depth():
            """(the book is rebuilt from the snapshot and journal the stop left)"""
            async with aiohttp.ClientSession() as session:
                async with session.get(node.base + "/api/v3/depth", params={"symbol": SYMBOL}) as resp:
                    return await resp.json()
        assert run(depth())["asks"] == [["70000.00000000", "0.01000000"]]
