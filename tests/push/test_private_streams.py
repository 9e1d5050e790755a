"""One user's data never reaches another (DESIGN.md invariant 9, issue 13): the raw OrderChangeLog and
BalanceChangeLog need the admin token, and no public stream or unauthenticated endpoint carries an
account id, an order id or a client order id. A real node, real aiohttp clients."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from tests.conftest import eventually
from tests.node.client import funded_client
from tests.push.conftest import ADMIN_TOKEN

SYMBOL = "BTCUSDT"
ADMIN = {"X-Admin-Token": ADMIN_TOKEN}
PUBLIC_STREAMS = ["btcusdt@trade", "btcusdt@aggTrade", "btcusdt@kline_1m", "btcusdt@depth@100ms", "btcusdt@depth",
                  "btcusdt@depth5@100ms", "btcusdt@bookTicker", "btcusdt@ticker", "btcusdt@miniTicker",
                  "changelog@TradeChangeLog", "changelog@KLineChangeLog"]
PUBLIC_GETS = [("/api/v3/trades", {"symbol": SYMBOL}), ("/api/v3/aggTrades", {"symbol": SYMBOL}),
               ("/api/v3/depth", {"symbol": SYMBOL}), ("/api/v3/klines", {"symbol": SYMBOL, "interval": "1m"}),
               ("/api/v3/ticker/24hr", {"symbol": SYMBOL}), ("/api/v3/ticker/price", {}),
               ("/api/v3/ticker/bookTicker", {}), ("/api/v3/avgPrice", {"symbol": SYMBOL}),
               ("/api/v3/exchangeInfo", {}), ("/metrics", {}), ("/openapi.json", {})]
#: what a key naming an account or an order looks like, in any of the node's spellings
PRIVATE_KEY_PARTS = ("account", "order", "client")


def run(coro):
    return asyncio.run(coro)


def private_keys(doc, path: str = "") -> list[str]:
    """Every key of a JSON document that names an account, an order or a client order id."""
    found = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            if any(part in key.lower() for part in PRIVATE_KEY_PARTS):
                found.append(path + "/" + key)
            found += private_keys(value, path + "/" + key)
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            found += private_keys(value, f"{path}/{i}")
    return found


async def cross(a, b, price: str, ids: tuple[str, str]) -> int:
    """a sells to b at `price`, both with the given client order ids; the trade's id."""
    status, doc = await a.order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC", quantity="0.01",
                                price=price, newClientOrderId=ids[0])
    assert status == 200, doc
    status, doc = await b.order(symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="IOC", quantity="0.01",
                                price=price, newClientOrderId=ids[1], newOrderRespType="FULL")
    assert status == 200 and doc["status"] == "FILLED", doc
    return doc["fills"][0]["tradeId"]


async def refused(session, url: str, headers=None) -> tuple[int, dict]:
    """A handshake the server refuses: its status and Binance-style JSON body (a plain GET gets the
    same answer as an upgrade, since the stream names are checked first)."""
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await session.ws_connect(url, headers=headers)
    async with session.get(url.replace("ws://", "http://"), headers=headers) as resp:
        assert resp.status == info.value.status
        return resp.status, await resp.json()


def test_private_change_logs_need_the_admin_token(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            a = await funded_client(session, node.base, ADMIN_TOKEN, BTC="1")
            b = await funded_client(session, node.base, ADMIN_TOKEN, USDT="100000")
            for topic in ("OrderChangeLog", "BalanceChangeLog"):
                for url in (f"{node.ws}/ws/changelog@{topic}", f"{node.ws}/stream?streams=btcusdt@trade/changelog@{topic}"):
                    status, doc = await refused(session, url)
                    assert status == 401 and doc["code"] == 2 and f"changelog@{topic}" in doc["msg"], doc
                    assert "X-Admin-Token" in doc["msg"], doc
                    status, doc = await refused(session, url, {"X-Admin-Token": "wrong"})
                    assert (status, doc["code"]) == (401, -2015), doc
            async with session.ws_connect(f"{node.ws}/ws") as ws:
                await ws.send_json({"method": "SUBSCRIBE", "params": ["btcusdt@trade", "changelog@OrderChangeLog"], "id": 1})
                reply = await ws.receive_json(timeout=5)
                assert reply["code"] == 2 and reply["id"] == 1 and "private" in reply["msg"], reply
                await ws.send_json({"method": "SUBSCRIBE", "params": ["changelog@BalanceChangeLog"], "id": 2})
                assert (await ws.receive_json(timeout=5))["code"] == 2
                await ws.send_json({"method": "LIST_SUBSCRIPTIONS", "id": 3})
                assert await ws.receive_json(timeout=5) == {"result": [], "id": 3}  # nothing half-subscribed
            # the admin gets whole entries of every topic, raw or combined
            names = [f"changelog@{t}" for t in ("OrderChangeLog", "BalanceChangeLog", "TradeChangeLog")]
            got: dict[str, list] = {n: [] for n in names}
            async with session.ws_connect(f"{node.ws}/stream?streams={'/'.join(names)}", headers=ADMIN) as ws, \
                    session.ws_connect(f"{node.ws}/ws", headers=ADMIN) as raw:
                await raw.send_json({"method": "SUBSCRIBE", "params": ["changelog@OrderChangeLog"], "id": 1})
                assert await raw.receive_json(timeout=5) == {"result": None, "id": 1}
                await raw.send_json({"method": "LIST_SUBSCRIPTIONS", "id": 2})
                assert await raw.receive_json(timeout=5) == {"result": ["changelog@OrderChangeLog"], "id": 2}
                await cross(a, b, "50000", ("adm-sell", "adm-buy"))

                async def complete():
                    while not all(got.values()) or not any(
                            e["entity_id"].startswith(SYMBOL) for e in got["changelog@TradeChangeLog"]):
                        m = await ws.receive_json(timeout=5)
                        got[m["stream"]].append(m["data"])
                await asyncio.wait_for(complete(), 10)
                entry = await raw.receive_json(timeout=5)
                assert entry["entity_type"] == "SpotOrder", entry
            fields = {f["name"]: f["value"] for f in got["changelog@TradeChangeLog"][-1]["change_type"]["fields"]}
            assert {fields["buyer_account"], fields["seller_account"]} == {a.account_id, b.account_id}
            orders = [e for e in got["changelog@OrderChangeLog"] if e["change_type"]["type"] == "Created"]
            assert "adm-sell" in json.dumps(orders)
    run(scenario())


def test_no_public_stream_or_unauthenticated_endpoint_carries_another_accounts_data(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            alice = await funded_client(session, node.base, ADMIN_TOKEN, BTC="1", USDT="100000")
            bob = await funded_client(session, node.base, ADMIN_TOKEN, BTC="1", USDT="100000")
            secrets = ("alice-private-7", "bob-private-9", "alice-resting-3")
            frames: list[str] = []
            stop = asyncio.Event()
            async with session.ws_connect(f"{node.ws}/stream?streams={'/'.join(PUBLIC_STREAMS)}") as combined, \
                    session.ws_connect(f"{node.ws}/ws/changelog@TradeChangeLog") as raw:

                async def collect(ws):
                    while not stop.is_set():
                        try:
                            msg = await asyncio.wait_for(ws.receive(), 0.2)
                        except asyncio.TimeoutError:
                            continue
                        assert msg.type == aiohttp.WSMsgType.TEXT, msg
                        frames.append(msg.data)
                tasks = [asyncio.create_task(collect(combined)), asyncio.create_task(collect(raw))]
                trade_id = f"{SYMBOL}:{await cross(alice, bob, '50100', secrets[:2])}"
                status, resting = await alice.order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC",
                                                    quantity="0.01", price="90000", newClientOrderId=secrets[2])
                assert status == 200, resting

                async def seen():  # the trade on both change-log connections, and a depth event
                    entries = [json.loads(f) for f in frames]
                    assert sum(1 for e in entries if e.get("entity_id") == trade_id or
                               e.get("data", {}).get("entity_id") == trade_id) == 2
                    assert any(e.get("stream") == "btcusdt@depth@100ms" for e in entries)
                await eventually(seen)
                await asyncio.sleep(1.2)  # one more 1000ms depth and ticker round
                stop.set()
                await asyncio.gather(*tasks)
            bodies: list[tuple[str, str]] = [("ws", f) for f in frames]
            for path, params in PUBLIC_GETS:
                async with session.get(node.base + path, params=params) as resp:
                    assert resp.status == 200, (path, await resp.text())
                    bodies.append((path, await resp.text()))
            # private endpoints without credentials: refused, and the refusal tells nothing
            for method, path, params in (("GET", "/api/v3/order", {"symbol": SYMBOL, "origClientOrderId": secrets[2]}),
                                         ("GET", "/api/v3/openOrders", {"symbol": SYMBOL}),
                                         ("GET", "/api/v3/allOrders", {"symbol": SYMBOL}),
                                         ("GET", "/api/v3/myTrades", {"symbol": SYMBOL}),
                                         ("GET", "/api/v3/account", {}),
                                         ("DELETE", "/api/v3/order", {"symbol": SYMBOL, "origClientOrderId": secrets[2]})):
                async with session.request(method, node.base + path, params=params) as resp:
                    assert resp.status in (400, 401), (path, resp.status)
                    bodies.append((path, await resp.text()))
            for where, text in bodies:
                for secret in secrets:
                    assert secret not in text, (where, secret, text[:500])
                # Prometheus text; the API's own schema; the symbols' rules (orderTypes, ...)
                if where not in ("/metrics", "/openapi.json", "/api/v3/exchangeInfo"):
                    assert private_keys(json.loads(text)) == [], (where, text[:500])
            trades = [json.loads(f) for f in frames]
            trades = [e.get("data", e) for e in trades if e.get("data", e).get("entity_type") == "SpotTrade"]
            assert trades and all({f["name"] for f in e["change_type"]["fields"]} ==
                                  {"symbol", "trade_id", "price", "qty", "quote_qty", "buyer_is_maker"} for e in trades)
            # alice's resting order is still hers alone, and still open
            status, doc = await alice.signed("GET", "/api/v3/order", symbol=SYMBOL, origClientOrderId=secrets[2])
            assert status == 200 and doc["status"] == "NEW", doc
    run(scenario())
