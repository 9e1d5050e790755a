"""A real node (`python run.py`, every stage its own process) with Binance's rate limits, shared by a
test module, and a small client of its WebSocket API (`/ws-api/v3` on the HTTP port) over a real
aiohttp WebSocket: signs as web-socket-api.md says, matches answers to requests by id and keeps the
user data events that arrive in between."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import time

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.node.conftest import ADMIN_TOKEN, serving_node

__all__ = ["ADMIN_TOKEN"]

ORDERS_10S = 40
LIMITS = f"""
[rate_limits]
enabled = true
request_weight = [{{interval = "MINUTE", interval_num = 1, limit = 100000}}]
orders = [{{interval = "SECOND", interval_num = 10, limit = {ORDERS_10S}}}, {{interval = "DAY", interval_num = 1, limit = 100000}}]
"""


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    with serving_node(tmp_path_factory.mktemp("wsapi"), LIMITS) as proc:
        proc.ws_api = proc.base.replace("http://", "ws://") + "/ws-api/v3"
        yield proc


def sign(key, params: dict) -> str:
    """web-socket-api.md: every param but `signature`, sorted by name, `key=value` joined by `&`;
    hex HMAC-SHA256 with a secret (str), base64 Ed25519 with a private key. A null is a parameter not
    sent: not signed."""
    payload = "&".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in sorted(params.items())
                       if v is not None)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return base64.b64encode(key.sign(payload.encode())).decode()
    return hmac.new(key.encode(), payload.encode(), hashlib.sha256).hexdigest()


class WsApi:
    """One WebSocket API connection."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.answers: dict = {}
        self.events: list[dict] = []  # {"subscriptionId", "event"} frames, in arrival order

    async def _read(self, timeout: float) -> None:
        msg = await self.ws.receive(timeout=timeout)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        doc = msg.json()
        if "event" in doc:
            self.events.append(doc)
        else:
            self.answers[doc["id"]] = doc

    async def send(self, method: str, params: dict | None = None):
        req_id = next(self.ids)
        doc = {"id": req_id, "method": method}
        if params is not None:
            doc["params"] = params
        await self.ws.send_json(doc)
        return req_id

    async def answer(self, req_id, timeout: float = 10.0) -> dict:
        deadline = time.monotonic() + timeout
        while req_id not in self.answers:
            await self._read(max(0.01, deadline - time.monotonic()))
        return self.answers.pop(req_id)

    async def call(self, method: str, params: dict | None = None, timeout: float = 10.0) -> dict:
        """The whole answer {"id", "status", "result" | "error", "rateLimits"}."""
        return await self.answer(await self.send(method, params), timeout)

    async def signed(self, method: str, api_key: str, key, **params) -> dict:
        params = {"apiKey": api_key, "timestamp": int(time.time() * 1000), **params}
        params["signature"] = sign(key, params)
        return await self.call(method, params)

    async def event(self, predicate, timeout: float = 10.0) -> dict:
        """The first event (its payload) that satisfies `predicate`, waiting for it; taken off the list."""
        deadline = time.monotonic() + timeout
        while True:
            for i, doc in enumerate(self.events):
                if predicate(doc["event"]):
                    return self.events.pop(i)["event"]
            await self._read(max(0.01, deadline - time.monotonic()))


async def connect(session: aiohttp.ClientSession, node, query: str = "") -> WsApi:
    return WsApi(await session.ws_connect(node.ws_api + query))


def run(coro):
    return asyncio.run(coro)
