"""Hostile HTTP input against a real node (issue 13, DESIGN.md invariant 8): each case that once
answered 500 or logged a traceback gets a 4xx Binance error and changes nothing, and a seeded fuzz
of every REST endpoint answers no 5xx, only Binance JSON errors, with every balance unchanged."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import time
from urllib.parse import quote, urlencode

import aiohttp
import pytest
from yarl import URL

from tests.node.client import Client, admin, funded_client
from tests.node.conftest import ADMIN_TOKEN, serving_node

SYMBOL = "BTCUSDT"
ADMIN = {"X-Admin-Token": ADMIN_TOKEN}


def run(coro):
    return asyncio.run(coro)


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    """A real node shared by this module, its WebSocket port too."""
    with serving_node(tmp_path_factory.mktemp("hostile")) as proc:
        yield proc


async def binance_error(resp: aiohttp.ClientResponse, where) -> dict:
    """The answer is a 4xx with Binance's {"code": -1xxx, "msg": "..."} and nothing else."""
    text = await resp.text()
    assert 400 <= resp.status < 500, (where, resp.status, text[:300])
    assert resp.content_type == "application/json", (where, resp.content_type, text[:300])
    doc = json.loads(text)
    assert set(doc) == {"code", "msg"} and isinstance(doc["code"], int) and doc["code"] < 0, (where, doc)
    assert isinstance(doc["msg"], str) and doc["msg"], (where, doc)
    return doc


def log_since(node, mark: int) -> str:
    return node.log()[mark:]


def test_each_hostile_request_gets_a_4xx_binance_error_and_changes_nothing(node):
    async def scenario():
        mark = len(node.log())
        async with aiohttp.ClientSession(auto_decompress=False) as session:
            c = await funded_client(session, node.base, ADMIN_TOKEN, BTC="1", USDT="1000")
            status, resting = await c.order(symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="GTC",
                                            quantity="0.01", price="40000", newClientOrderId="keep-me")
            assert status == 200, resting
            before = await c.balances()
            cases = [
                # (what, method, path, body, headers, expected code)
                ("seed body of 5000 '[' without credentials", "POST", "/api/spot/v2/", b"[" * 5000, {}, -1135),
                ("gzip header over a body that is not gzip", "POST", "/api/v3/order",
                 b"symbol=BTCUSDT&side=BUY&type=LIMIT", {"Content-Encoding": "gzip",
                                                          "Content-Type": "application/x-www-form-urlencoded"}, -1100),
                ("deflate header over a body that is not deflate", "POST", "/api/v3/order", b"\x00\xffjunk",
                 {"Content-Encoding": "deflate"}, -1100),
                ("admin deposit nested 5000 deep", "POST", "/admin/v1/deposit", b"[" * 5000, ADMIN, -1135),
                ("admin deposit nested objects", "POST", "/admin/v1/deposit", b'{"a":' * 3000 + b"1" + b"}" * 3000,
                 ADMIN, -1135),
                ("admin accountId 2**70", "POST", "/admin/v1/deposit",
                 json.dumps({"accountId": 2**70, "asset": "USDT", "amount": "1"}).encode(), ADMIN, -1130),
                ("admin accountId -2**70", "POST", "/admin/v1/withdraw",
                 json.dumps({"accountId": -2**70, "asset": "USDT", "amount": "1"}).encode(), ADMIN, -1130),
                ("admin asset as a list", "POST", "/admin/v1/deposit",
                 json.dumps({"accountId": c.account_id, "asset": ["USDT"], "amount": "1"}).encode(), ADMIN, -1130),
                ("admin asset as an object", "POST", "/admin/v1/withdraw",
                 json.dumps({"accountId": c.account_id, "asset": {"USDT": 1}, "amount": "1"}).encode(), ADMIN, -1130),
                ("admin accounts nested", "POST", "/admin/v1/accounts", b"[" * 5000, ADMIN, -1135),
            ]
            for what, method, path, body, headers, code in cases:
                async with session.request(method, node.base + path, data=body, headers=headers) as resp:
                    doc = await binance_error(resp, what)
                    assert doc["code"] == code, (what, doc)
            # a cancel whose own new client order id is not one: -1100, and the order stays open
            for bad in ("<script>", "x" * 37, "a b", "é"):
                status, doc = await c.signed("DELETE", "/api/v3/order", symbol=SYMBOL, origClientOrderId="keep-me",
                                             newClientOrderId=bad)
                assert status == 400 and doc["code"] == -1100 and "newClientOrderId" in doc["msg"], (bad, doc)
            status, doc = await c.signed("DELETE", "/api/v3/order", symbol=SYMBOL, origClientOrderId="keep-me",
                                         newClientOrderId="")
            assert status == 400 and doc["code"] == -1118, doc
            status, doc = await c.signed("GET", "/api/v3/order", symbol=SYMBOL, origClientOrderId="keep-me")
            assert status == 200 and doc["status"] == "NEW", doc
            assert await c.balances() == before
            async with session.get(node.base + "/api/v3/ping") as resp:  # still serving
                assert resp.status == 200
            # a valid new client order id on a cancel still works
            status, doc = await c.signed("DELETE", "/api/v3/order", symbol=SYMBOL, origClientOrderId="keep-me",
                                         newClientOrderId="my-cancel-1")
            assert status == 200 and doc["status"] == "CANCELED", doc
        log = log_since(node, mark)
        assert "Traceback" not in log and "unexpected error" not in log, log[-3000:]
    run(scenario())


# ------------------------------------------------------------------------------------ fuzz

ROUTES = [("GET", p) for p in ("/api/v3/ping", "/api/v3/time", "/api/v3/exchangeInfo", "/api/v3/depth", "/api/v3/trades",
                                "/api/v3/historicalTrades", "/api/v3/aggTrades", "/api/v3/klines", "/api/v3/ticker/24hr", "/api/v3/ticker/price",
                                "/api/v3/ticker/bookTicker", "/api/v3/avgPrice", "/api/v3/order", "/api/v3/openOrders",
                                "/api/v3/allOrders", "/api/v3/myTrades", "/api/v3/account")] + \
    [("POST", "/api/v3/order"), ("DELETE", "/api/v3/order"), ("DELETE", "/api/v3/openOrders"),
     ("POST", "/api/v3/userDataStream"), ("PUT", "/api/v3/userDataStream"), ("DELETE", "/api/v3/userDataStream"),
     ("POST", "/api/spot/v2/"), ("POST", "/admin/v1/deposit"), ("POST", "/admin/v1/withdraw"),
     ("POST", "/admin/v1/accounts"), ("PATCH", "/api/v3/order"), ("GET", "/api/v4/nope"), ("POST", "/api/v3/ping")]
KEYS = ["symbol", "symbols", "side", "type", "timeInForce", "quantity", "quoteOrderQty", "price", "newClientOrderId",
        "origClientOrderId", "orderId", "newOrderRespType", "selfTradePreventionMode", "limit", "interval", "startTime",
        "endTime", "fromId", "omitZeroBalances", "cancelRestrictions", "pegPriceType", "strategyId", "recvWindow", "timestamp", "listenKey", "signature", "", "x" * 300, "sym bol", "é", "[]"]
VALUES = ["", "-1", "0", "1e400", "NaN", "inf", "-0.0", "9" * 40, "0x10", "1.0.0", "1,5", " 1", "<script>", "'; DROP TABLE x",
          "\x00", "é€", "%", "%zz", "[" * 200, '["BTCUSDT"', '["BTCUSDT","BTCUSDT"]', "BTCUSDT", "btcusdt", "BUY", "LIMIT",
          "FOK", "1m", "x" * 1200, "null", "true", "-9223372036854775809", "18446744073709551616", "0.000000001"]
#: JSON values for bodies: every amount here is invalid (a deposit that passed would change a balance)
JSON_VALUES = [None, True, -5, 0, 2**70, -2**70, 1.5e308, "", "-1", "0", "1e400", "NaN", "abc", [], {}, ["USDT"],
               {"a": [1]}, "USDT", "BTC", "BTCUSDT", "\u0000", "x" * 1000]
JSON_KEYS = ["accountId", "asset", "amount", "symbol", "side", "price", "quantity", "clientOrderId", "type", "?"]


def hostile_body(rng: random.Random) -> tuple[bytes | None, dict]:
    kind = rng.randrange(8)
    if kind == 0:
        return None, {}
    if kind == 1:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))), {}
    if kind == 2:
        depth = rng.choice([10, 999, 1000, 5000, 20000])
        return (rng.choice(["[", '{"a":', "[{"]) * depth).encode(), {"Content-Type": "application/json"}
    if kind == 3:
        doc = {rng.choice(JSON_KEYS): rng.choice(JSON_VALUES) for _ in range(rng.randrange(1, 5))}
        return json.dumps(doc).encode(), {"Content-Type": "application/json"}
    if kind == 4:
        return rng.choice([b"[]", b"null", b"1", b'"x"', b"{", b"{}" * 3, b'{"a":1}{"b":2}']), {}
    if kind == 5:
        return b"junk body", {"Content-Encoding": rng.choice(["gzip", "deflate", "br", "x-nope", "gzip, gzip"])}
    if kind == 6:
        return urlencode({rng.choice(KEYS): rng.choice(VALUES)}).encode(), {"Content-Type": "application/x-www-form-urlencoded"}
    return "ü".encode("latin-1"), {"Content-Type": "application/x-www-form-urlencoded"}


def hostile_query(rng: random.Random, client: Client | None) -> str:
    """A query string: random pairs, sometimes raw junk, sometimes signed by `client` (so the request
    reaches the endpoint's own validation)."""
    if rng.random() < 0.15:
        return rng.choice(["a=%zz&&=&b", "symbol=BTCUSDT&symbol=ETHUSDT", "=", "&&&", "symbol", "%00=%00", "a=" + "%" * 50])
    pairs = [(rng.choice(KEYS), rng.choice(VALUES)) for _ in range(rng.randrange(0, 6))]
    if rng.random() < 0.5:
        pairs = [("symbol", SYMBOL)] + pairs
    query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)
    if client is not None:
        query = (query + "&" if query else "") + f"timestamp={int(time.time() * 1000)}"
        query += "&signature=" + hmac.new(client.secret.encode(), query.encode(), hashlib.sha256).hexdigest()
    return query


def test_seeded_fuzz_of_every_endpoint_no_5xx_only_binance_errors_no_balance_changes(node):
    async def scenario():
        mark = len(node.log())
        rng = random.Random(1313)
        async with aiohttp.ClientSession(auto_decompress=False) as session:
            victim = await funded_client(session, node.base, ADMIN_TOKEN, BTC="2", USDT="5000")
            status, doc = await victim.order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC",
                                             quantity="0.5", price="70000")
            assert status == 200, doc
            fuzzer = await funded_client(session, node.base, ADMIN_TOKEN)  # nothing to spend, nothing to cancel
            before = (await victim.balances(), await fuzzer.balances())
            status, accounts_before = await admin(session, node.base, ADMIN_TOKEN, "/admin/v1/accounts")
            statuses: dict[int, int] = {}
            deadline = time.monotonic() + 8.0
            sent = 0
            while sent < 1200 and time.monotonic() < deadline:
                method, path = rng.choice(ROUTES)
                signer = fuzzer if rng.random() < 0.5 else None
                headers = {}
                if signer is not None or rng.random() < 0.2:
                    headers["X-MBX-APIKEY"] = rng.choice([fuzzer.api_key, fuzzer.api_key, "x" * 64, "", "é"])
                # the admin token only on transfers, whose bodies here never hold a valid amount
                if path in ("/admin/v1/deposit", "/admin/v1/withdraw") and rng.random() < 0.7:
                    headers.update(ADMIN)
                body, body_headers = hostile_body(rng)
                headers.update(body_headers)
                url = URL(node.base + path + "?" + hostile_query(rng, signer), encoded=True)
                async with session.request(method, url, data=body, headers=headers) as resp:
                    statuses[resp.status] = statuses.get(resp.status, 0) + 1
                    if resp.status >= 400:
                        await binance_error(resp, (method, path, url.query_string[:200], (body or b"")[:80], headers))
                    else:
                        assert resp.status == 200, (method, path, resp.status)
                        await resp.read()
                sent += 1
            assert sent >= 300, f"only {sent} requests in the time bound"
            assert not any(s >= 500 for s in statuses), statuses
            assert (await victim.balances(), await fuzzer.balances()) == before
            status, doc = await victim.signed("GET", "/api/v3/openOrders", symbol=SYMBOL)
            assert status == 200 and [o["origQty"] for o in doc] == ["0.50000000"], doc
            # no account was created by the fuzz (the one made here is the next id)
            status, accounts_after = await admin(session, node.base, ADMIN_TOKEN, "/admin/v1/accounts")
            assert accounts_after["accountId"] == accounts_before["accountId"] + 1
        log = log_since(node, mark)
        assert "Traceback" not in log and "unexpected error" not in log, log[-3000:]
    run(scenario())


@pytest.mark.parametrize("raw", [
    b"GET /api/v3/ping HTTP/1.1\r\nHost: x\r\nX-Bad: a\x00b\r\n\r\n",
    b"BR(EW /api/v3/ping HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /api/v3/ping HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 20000 + b"\r\n\r\n",
    b"GET /api/v3/ping?" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /api/v3/order HTTP/1.1\r\nHost: x\r\nContent-Encoding: br\r\nContent-Length: 3\r\n\r\nabc",
    b"GET / HTTP/9.9\r\n\r\n",
])
def test_malformed_http_gets_a_binance_error_and_the_node_keeps_serving(node, raw):
    """What aiohttp's parser refuses before the app (NUL in a header, a bad method, an over-long line,
    an unsupported Content-Encoding) is answered in Binance JSON too, on both ports, untraced."""
    import socket

    mark = len(node.log())
    for port in (node.base.rsplit(":", 1)[1], node.ws_port):
        with socket.create_connection(("127.0.0.1", int(port)), timeout=5) as s:
            s.sendall(raw)
            answer = b""
            while chunk := s.recv(65536):  # the connection is closed after the answer
                answer += chunk
        head, _, body = answer.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        assert 400 <= status < 500 and b"application/json" in head, answer[:300]
        doc = json.loads(body)
        assert doc["code"] == -1000 and doc["msg"].startswith("Malformed HTTP request: "), doc
    assert "Traceback" not in log_since(node, mark)

    async def ping():
        async with aiohttp.ClientSession() as session:
            async with session.get(node.base + "/api/v3/ping") as resp:
                assert resp.status == 200
    run(ping())
