"""A small Binance-style test client over a real aiohttp session: signs like Binance clients do."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from decimal import Decimal as D
from urllib.parse import urlencode

import aiohttp


class Client:
    def __init__(self, session: aiohttp.ClientSession, base: str, api_key: str = "", secret: str = "") -> None:
        self.session = session
        self.base = base
        self.api_key = api_key
        self.secret = secret

    async def public(self, path: str, **params) -> tuple[int, object]:
        async with self.session.get(self.base + path, params=params) as resp:
            return resp.status, await resp.json()

    async def signed(self, method: str, path: str, body: bool = False, **params) -> tuple[int, object]:
        """Send a signed request: parameters in the query (default) or a form body."""
        params.setdefault("timestamp", int(time.time() * 1000))
        payload = urlencode(params)
        signature = hmac.new(self.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        headers = {"X-MBX-APIKEY": self.api_key}
        if body:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            async with self.session.request(method, self.base + path, data=f"{payload}&signature={signature}", headers=headers) as resp:
                return resp.status, await resp.json()
        async with self.session.request(method, f"{self.base}{path}?{payload}&signature={signature}", headers=headers) as resp:
            return resp.status, await resp.json()

    async def order(self, **params) -> tuple[int, dict]:
        return await self.signed("POST", "/api/v3/order", **params)

    async def balances(self) -> dict[str, tuple[str, str]]:
        status, doc = await self.signed("GET", "/api/v3/account")
        assert status == 200, doc
        return {b["asset"]: (b["free"], b["locked"]) for b in doc["balances"]}


async def admin(session: aiohttp.ClientSession, base: str, token: str, path: str, doc: dict | None = None) -> tuple[int, dict]:
    async with session.post(base + path, json=doc or {}, headers={"X-Admin-Token": token}) as resp:
        return resp.status, await resp.json()


async def funded_client(session, base: str, token: str, **amounts: str) -> Client:
    status, acct = await admin(session, base, token, "/admin/v1/accounts")
    assert status == 200, acct
    for asset, amount in amounts.items():
        status, doc = await admin(session, base, token, "/admin/v1/deposit",
                                  {"accountId": acct["accountId"], "asset": asset, "amount": amount})
        assert status == 200, doc
    client = Client(session, base, acct["apiKey"], acct["secretKey"])
    client.account_id = acct["accountId"]
    return client


async def open_orders_and_balances(*clients: Client):
    """What the fuzz must not change: each client's balances and open orders (both symbols)."""
    out = []
    for c in clients:
        status, orders = await c.signed("GET", "/api/v3/openOrders")
        assert status == 200, orders
        out.append((await c.balances(), sorted((o["symbol"], o["orderId"], o["status"], o["executedQty"]) for o in orders)))
    return out


async def expect_balances(client: Client, **expected: tuple[str, str]) -> None:
    """Eventually each named asset's (free, locked) is as given (exact decimals)."""
    from tests.conftest import eventually

    async def check():
        balances = await client.balances()
        for asset, (free, locked) in expected.items():
            got = balances.get(asset, ("0", "0"))
            assert (D(got[0]), D(got[1])) == (D(free), D(locked)), (asset, got, (free, locked))
    await eventually(check)


async def user_data_stream(session: aiohttp.ClientSession, node, client: Client):
    """A WebSocket on the client's user data stream (a new listenKey)."""
    async with session.post(node.base + "/api/v3/userDataStream", headers={"X-MBX-APIKEY": client.api_key}) as r:
        key = (await r.json())["listenKey"]
    return await session.ws_connect(f"{node.ws}/ws/{key}")


async def execution_report(ws, order_id: int, execution: str, seen: list | None = None) -> dict:
    """The next executionReport of this order and execution type; `seen` collects every event read."""
    while True:
        event = json.loads((await asyncio.wait_for(ws.receive(), 10)).data)
        if seen is not None:
            seen.append(event)
        if event.get("e") == "executionReport" and event["i"] == order_id and event["x"] == execution:
            return event


def eventually(check, timeout: float = 10.0):
    """Retry a check: what another account's order did reaches this one's reads a moment later
    (the blocking twin of tests.conftest.eventually, for synchronous clients)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
