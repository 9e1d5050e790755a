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
from collections import Counter
from urllib.parse import quote, urlencode

import aiohttp
import pytest
from yarl import URL

from spot_seda.api import rest
from tests.hostile import KEYS, PLAUSIBLE, TEMPLATES, VALUES
from tests.node.client import Client, admin, funded_client, open_orders_and_balances
from tests.node.conftest import ADMIN_TOKEN, serving_node

SYMBOL = "BTCUSDT"
ADMIN = {"X-Admin-Token": ADMIN_TOKEN}


def run(coro):
    return asyncio.run(coro)


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    """A real node shared by this module, its WebSocket port too. Overload is not what it tests: the
    fuzz's concurrent requests on a loaded machine must not be shed for the HTTP stage's loop lag."""
    with serving_node(tmp_path_factory.mktemp("hostile")) as proc:
        yield proc


async def binance_error(resp: aiohttp.ClientResponse, where, data: bool = False) -> dict:
    """The answer is a 4xx with Binance's {"code": -1xxx, "msg": "..."} and nothing else (`data`: or
    with Binance's "data" beside them, as a cancel-replace's refusal has)."""
    text = await resp.text()
    assert 400 <= resp.status < 500, (where, resp.status, text[:300])
    assert resp.content_type == "application/json", (where, resp.content_type, text[:300])
    doc = json.loads(text)
    assert {"code", "msg"} <= set(doc) <= ({"code", "msg", "data"} if data else {"code", "msg"}), (where, doc)
    assert isinstance(doc["code"], int) and doc["code"] < 0, (where, doc)
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
                # a publicKey that is null is no key: refused, not an HMAC account made instead
                ("admin publicKey null", "POST", "/admin/v1/accounts", b'{"publicKey": null}', ADMIN, -1130),
                ("admin publicKey a number", "POST", "/admin/v1/accounts", b'{"publicKey": 1}', ADMIN, -1130),
            ]
            for what, method, path, body, headers, code in cases:
                async with session.request(method, node.base + path, data=body, headers=headers) as resp:
                    doc = await binance_error(resp, what)
                    assert doc["code"] == code, (what, doc)
            # a method the path does not take: 405 in Binance JSON, naming the ones it does (RFC 9110)
            async with session.request("PATCH", node.base + "/api/v3/order") as resp:
                doc = await binance_error(resp, "PATCH /api/v3/order")
                assert resp.status == 405 and doc["code"] == -1000, doc
                assert {"DELETE", "GET", "POST"} <= set(resp.headers["Allow"].split(", ")), resp.headers
                assert "PATCH" not in resp.headers["Allow"], resp.headers
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

#: every REST route the node serves: the API's route table (which its OpenAPI document describes),
#: the web page's, and some it does not serve (a 404 or 405 in Binance JSON)
SERVED = sorted({(method, path) for method, path, _ in rest.ROUTES} | {("GET", "/"), ("GET", "/page/v1/pipeline")})
ROUTES = SERVED + [("GET", "/page/nope.js"), ("PATCH", "/api/v3/order"), ("GET", "/api/v4/nope"),
                   ("POST", "/api/v3/ping"), ("OPTIONS", "/api/v3/order")]
#: JSON values for bodies: every amount here is invalid (a deposit that passed would change a balance)
JSON_VALUES = [None, True, -5, 0, 2**70, -2**70, 1.5e308, "", "-1", "0", "1e400", "NaN", "abc", [], {}, ["USDT"],
               {"a": [1]}, "USDT", "BTC", "BTCUSDT", "\u0000", "x" * 1000]
JSON_KEYS = ["accountId", "asset", "amount", "symbol", "side", "price", "quantity", "clientOrderId", "type", "?"]
REST_CASES = 4000
WORKERS = 16  # concurrent requests, keep-alive connections of one session


def hostile_body(rng: random.Random) -> tuple[bytes | None, dict]:
    kind = rng.randrange(10)
    if kind <= 2:
        return None, {}
    if kind == 3:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))), {}
    if kind == 4:
        depth = rng.choice([10, 999, 1000, 5000, 20000])
        return (rng.choice(["[", '{"a":', "[{"]) * depth).encode(), {"Content-Type": "application/json"}
    if kind == 5:
        doc = {rng.choice(JSON_KEYS): rng.choice(JSON_VALUES) for _ in range(rng.randrange(1, 5))}
        return json.dumps(doc).encode(), {"Content-Type": "application/json"}
    if kind == 6:
        return rng.choice([b"[]", b"null", b"1", b'"x"', b"{", b"{}" * 3, b'{"a":1}{"b":2}']), {}
    if kind == 7:
        return b"junk body", {"Content-Encoding": rng.choice(["gzip", "deflate", "br", "x-nope", "gzip, gzip"])}
    if kind == 8:
        return urlencode({rng.choice(KEYS): rng.choice(VALUES)}).encode(), {"Content-Type": "application/x-www-form-urlencoded"}
    return "ü".encode("latin-1"), {"Content-Type": "application/x-www-form-urlencoded"}


def hostile_pairs(rng: random.Random, path: str) -> list[tuple[str, str]] | str:
    """A case's parameters: the plausible ones the endpoint needs (and a few more) with up to two made
    hostile, random pairs, or raw junk (a str: the query string as it is)."""
    if rng.random() < 0.1:
        return rng.choice(["a=%zz&&=&b", "symbol=BTCUSDT&symbol=ETHUSDT", "=", "&&&", "symbol", "%00=%00", "a=" + "%" * 50])
    if rng.random() < 0.7:
        keys = dict.fromkeys(TEMPLATES.get(path, ("symbol",)) + tuple(rng.sample(list(PLAUSIBLE), rng.randrange(0, 4))))
        pairs = [(k, rng.choice(PLAUSIBLE[k])) for k in keys]
        for _ in range(rng.randrange(0, 3)):
            i = rng.randrange(len(pairs))
            pairs[i] = (pairs[i][0], rng.choice(VALUES))
        if rng.random() < 0.3:
            pairs.append((rng.choice(KEYS), rng.choice(VALUES)))
        return pairs
    pairs = [(rng.choice(KEYS), rng.choice(VALUES)) for _ in range(rng.randrange(0, 6))]
    return [("symbol", SYMBOL)] + pairs if rng.random() < 0.5 else pairs


def signed_query(pairs: list[tuple[str, str]] | str, client: Client | None) -> str:
    """The query string of `pairs`, signed by `client` now (so the request reaches the endpoint's own
    validation: the timestamp is fresh when it is sent)."""
    query = pairs if isinstance(pairs, str) else "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)
    if client is not None and not isinstance(pairs, str):
        query = (query + "&" if query else "") + f"timestamp={int(time.time() * 1000)}"
        query += "&signature=" + hmac.new(client.secret.encode(), query.encode(), hashlib.sha256).hexdigest()
    return query


def fuzz_cases(rng: random.Random, n: int, api_keys: list[str]) -> list[tuple]:
    """(method, path, parameters, signed, headers, body) of `n` seeded cases, every route in turn."""
    cases = []
    for i in range(n):
        method, path = ROUTES[i % len(ROUTES)]
        signed = rng.random() < 0.6
        headers = {}
        if signed or rng.random() < 0.2:
            headers["X-MBX-APIKEY"] = api_keys[0] if signed else rng.choice(api_keys)
        # the admin token only on transfers, whose bodies here never hold a valid amount
        if path in ("/admin/v1/deposit", "/admin/v1/withdraw") and rng.random() < 0.7:
            headers.update(ADMIN)
        # (a body is signed with the query: most signed cases have none, so they pass the signature)
        body, body_headers = hostile_body(rng) if not signed or rng.random() < 0.3 else (None, {})
        headers.update(body_headers)
        cases.append((method, path, hostile_pairs(rng, path), signed, headers, body))
    return cases


def test_seeded_fuzz_of_every_endpoint_no_5xx_only_binance_errors_no_state_change(node):
    """4,000 seeded cases over every route (each route in turn), 16 at a time over one keep-alive
    session, most signed by an account with nothing to spend: 0 x 5xx, every refusal Binance JSON,
    no balance, open order or account changed. A failure names the case (rerun with its seed)."""
    async def scenario():
        mark = len(node.log())
        rng = random.Random(1313)
        connector = aiohttp.TCPConnector(limit=WORKERS)
        async with aiohttp.ClientSession(auto_decompress=False, connector=connector) as session:
            victim = await funded_client(session, node.base, ADMIN_TOKEN, BTC="2", USDT="5000")
            status, doc = await victim.order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC",
                                             quantity="0.5", price="70000", newClientOrderId="keep-me")
            assert status == 200, doc
            fuzzer = await funded_client(session, node.base, ADMIN_TOKEN)  # nothing to spend, nothing to cancel
            before = await open_orders_and_balances(victim, fuzzer)
            status, accounts_before = await admin(session, node.base, ADMIN_TOKEN, "/admin/v1/accounts")
            cases = fuzz_cases(rng, REST_CASES, [fuzzer.api_key, "x" * 64, "", "é", victim.api_key])
            statuses: dict[int, int] = {}
            codes: Counter = Counter()  # (printed: how deep the cases got, e.g. -2010 past every check)
            served: dict[tuple[str, str], int] = {}  # route -> answers that were not 404/405
            began = time.monotonic()

            async def one(case) -> None:
                method, path, pairs, signed, headers, body = case
                url = URL(node.base + path + "?" + signed_query(pairs, fuzzer if signed else None), encoded=True)
                async with session.request(method, url, data=body, headers=headers) as resp:
                    statuses[resp.status] = statuses.get(resp.status, 0) + 1
                    if resp.status not in (404, 405):
                        served[(method, path)] = served.get((method, path), 0) + 1
                    if resp.status >= 400:
                        doc = await binance_error(resp, (method, path, url.query_string[:200], (body or b"")[:80],
                                                         headers), data=path == "/api/v3/order/cancelReplace")
                        codes[doc["code"]] += 1
                    else:
                        assert resp.status == 200, (method, path, resp.status)
                        await resp.read()

            async def worker(mine) -> None:
                for case in mine:
                    await one(case)

            await asyncio.gather(*(worker(cases[w::WORKERS]) for w in range(WORKERS)))
            elapsed = time.monotonic() - began
            print(f"{len(cases)} cases in {elapsed:.1f} s ({len(cases) / elapsed:,.0f}/s): {statuses}; "
                  f"codes {dict(codes.most_common())}")
            assert not any(s >= 500 for s in statuses), statuses
            missing = [route for route in SERVED if not served.get(route)]
            assert not missing, f"routes never served (404/405 every time): {missing}"
            assert await open_orders_and_balances(victim, fuzzer) == before
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
