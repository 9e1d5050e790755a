"""python-binance's own WebSocket API client (`AsyncClient.ws_*`, and its user socket, which subscribes
with `userDataStream.subscribe.signature` on that same connection) pointed at a real node: an
unmodified Binance client places, queries and cancels orders and reads its executionReports on one
WebSocket, signing with an HMAC key and with an Ed25519 one. python-binance is a dev dependency:
missing, the test fails rather than skips."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from cryptography.hazmat.primitives import serialization

from tests.node.client import funded_client
from tests.ws_api.conftest import ADMIN_TOKEN, run
from tests.ws_api.test_trading import SYMBOL, ed25519_account


def binance_client(node, **keys):
    """python-binance's AsyncClient with its REST root and its WebSocket API URL on the node."""
    from binance import AsyncClient

    client = AsyncClient(**keys)
    client.API_URL = node.base + "/api"
    client.ws_api._url = node.ws_api  # (the attribute its reconnecting socket connects to)
    # its read loop looks for a close only between receive timeouts (10 s): closing would wait that
    # long; the node answers in milliseconds, so 3 s (also the request timeout) is plenty
    client.ws_api.TIMEOUT = 3
    return client


async def order_flow(client, tag: str) -> None:
    from binance import BinanceSocketManager
    from binance.exceptions import BinanceAPIException

    sockets = BinanceSocketManager(client)
    async with sockets.user_socket() as user:
        placed = await client.ws_create_order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC",
                                              quantity="0.01", price="65000", newClientOrderId=f"{tag}-1")
        assert placed["status"] == "NEW" and placed["clientOrderId"] == f"{tag}-1", placed
        event = await asyncio.wait_for(user.recv(), 10)
        while event.get("e") != "executionReport":
            event = await asyncio.wait_for(user.recv(), 10)
        assert event["X"] == "NEW" and event["i"] == placed["orderId"], event
        got = await client.ws_get_order(symbol=SYMBOL, orderId=placed["orderId"])
        assert got["status"] == "NEW" and got["price"] == "65000.00000000", got
        opened = await client.ws_get_open_orders(symbol=SYMBOL)
        assert [o["orderId"] for o in opened] == [placed["orderId"]]
        cancelled = await client.ws_cancel_order(symbol=SYMBOL, orderId=placed["orderId"])
        assert cancelled["status"] == "CANCELED", cancelled
        event = await asyncio.wait_for(user.recv(), 10)
        while event.get("X") != "CANCELED":
            event = await asyncio.wait_for(user.recv(), 10)
        assert event["i"] == placed["orderId"]
        with pytest.raises(BinanceAPIException) as refused:
            await client.ws_create_order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC",
                                         quantity="0.01", price="65000.001")
        assert refused.value.code == -1013, refused.value
        account = await client.ws_get_account()
        assert {b["asset"]: b["free"] for b in account["balances"]}["BTC"] == "1.00000000", account
        book = await client.ws_get_order_book(symbol=SYMBOL, limit=5)
        assert "lastUpdateId" in book


def test_python_binance_websocket_api_hmac(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            user = await funded_client(session, node.base, ADMIN_TOKEN, BTC="1")
        client = binance_client(node, api_key=user.api_key, api_secret=user.secret)
        try:
            await order_flow(client, "pb-hmac")
        finally:
            await client.close_connection()
    run(scenario())


def test_python_binance_websocket_api_ed25519(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            api_key, private, _ = await ed25519_account(session, node, BTC="1")
        pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
        client = binance_client(node, api_key=api_key, private_key=pem)
        try:
            await order_flow(client, "pb-ed")
        finally:
            await client.close_connection()
    run(scenario())
