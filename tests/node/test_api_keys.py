"""Binance's three kinds of API key through a real node over HTTP (issue 16): an account registered
with an Ed25519 or an RSA public key (POST /admin/v1/accounts {"publicKey": PEM}) signs with its
private key; the base64 signature is accepted URL-encoded (as Binance requires in a query string),
twice URL-encoded (what python-binance sends in a form body) and raw; a wrong one is -1022 and changes
nothing. Then python-binance itself, pointed at the node: HMAC, Ed25519 and RSA order flows.

This node has no [rate_limits] section: no limits, no weight headers, no rateLimits listed."""

from __future__ import annotations

import asyncio
import base64
import time
from urllib.parse import quote, urlencode

import aiohttp
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from spot_seda.binance import auth
from tests.node.client import Client, admin
from tests.node.conftest import ADMIN_TOKEN, serving_node

SYMBOL = "BTCUSDT"


def run(coro):
    return asyncio.run(coro)


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    with serving_node(tmp_path_factory.mktemp("keys")) as proc:
        yield proc


def public_pem(private_key) -> str:
    return private_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def private_pem(private_key) -> str:
    return private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()).decode()


def sign_with(private_key, payload: str) -> str:
    """What a Binance client sends: base64 of the Ed25519 signature, or of RSASSA-PKCS1-v1_5 SHA-256."""
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        raw = private_key.sign(payload.encode())
    else:
        raw = private_key.sign(payload.encode(), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(raw).decode()


class KeyClient(Client):
    """A client of an Ed25519 or RSA account; `encoding` says how it puts the signature in:
    "query" URL-encoded in the query string (Binance's rule), "query-raw" as is, "body" form-encoded
    in a form body, "body-twice" encoded and then form-encoded (python-binance); a GET's go in its
    query string whatever the encoding (rest-api.md: a GET's parameters are its query string's)."""

    def __init__(self, session, base, api_key, private_key, encoding="query") -> None:
        super().__init__(session, base, api_key, "")
        self.private_key = private_key
        self.encoding = encoding

    async def signed(self, method: str, path: str, body: bool = False, **params) -> tuple[int, object]:
        params.setdefault("timestamp", int(time.time() * 1000))
        payload = urlencode(params)
        signature = sign_with(self.private_key, payload)
        headers = {"X-MBX-APIKEY": self.api_key}
        if self.encoding.startswith("body") and method != "GET":  # (a GET's parameters are its query's alone)
            value = quote(signature, safe="") if self.encoding == "body-twice" else signature
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            data = payload + "&" + urlencode({"signature": value})
            async with self.session.request(method, self.base + path, data=data, headers=headers) as resp:
                return resp.status, await resp.json()
        value = signature if self.encoding == "query-raw" else quote(signature, safe="")
        url = aiohttp.client.URL(f"{self.base}{path}?{payload}&signature={value}", encoded=True)
        async with self.session.request(method, url, headers=headers) as resp:
            return resp.status, await resp.json()


async def key_account(session, base: str, private_key, **deposits: str) -> dict:
    status, acct = await admin(session, base, ADMIN_TOKEN, "/admin/v1/accounts", {"publicKey": public_pem(private_key)})
    assert status == 200, acct
    for asset, amount in deposits.items():
        status, doc = await admin(session, base, ADMIN_TOKEN, "/admin/v1/deposit",
                                  {"accountId": acct["accountId"], "asset": asset, "amount": amount})
        assert status == 200, doc
    return acct


@pytest.mark.parametrize("kind", ["ED25519", "RSA"])
def test_a_key_account_places_queries_and_cancels_orders_in_every_encoding(node, kind):
    async def scenario():
        private_key = ed25519.Ed25519PrivateKey.generate() if kind == "ED25519" else \
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
        async with aiohttp.ClientSession() as session:
            acct = await key_account(session, node.base, private_key, USDT="100000")
            assert acct["keyType"] == kind and "secretKey" not in acct and len(acct["apiKey"]) == 64
            for encoding in ("query", "query-raw", "body", "body-twice"):
                client = KeyClient(session, node.base, acct["apiKey"], private_key, encoding)
                status, order = await client.order(symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="GTC",
                                                   quantity="0.01", price="20000", newClientOrderId=f"k-{encoding}")
                assert status == 200 and order["status"] == "NEW", (encoding, order)
                status, found = await client.signed("GET", "/api/v3/order", symbol=SYMBOL, orderId=order["orderId"])
                assert status == 200 and found["clientOrderId"] == f"k-{encoding}", (encoding, found)
                balances = await client.balances()
                assert balances["USDT"] == ("99800.00000000", "200.00000000"), (encoding, balances)
                status, canceled = await client.signed("DELETE", "/api/v3/order", symbol=SYMBOL,
                                                       orderId=order["orderId"])
                assert status == 200 and canceled["status"] == "CANCELED", (encoding, canceled)
                assert (await client.balances())["USDT"] == ("100000.00000000", "0.00000000")
    run(scenario())


@pytest.mark.parametrize("kind", ["ED25519", "RSA"])
def test_a_wrong_signature_is_1022_and_changes_nothing(node, kind):
    async def scenario():
        make = (lambda: ed25519.Ed25519PrivateKey.generate()) if kind == "ED25519" else \
            (lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048))
        private_key, other_key = make(), make()
        async with aiohttp.ClientSession() as session:
            acct = await key_account(session, node.base, private_key, USDT="1000")
            good = KeyClient(session, node.base, acct["apiKey"], private_key)
            order = {"symbol": SYMBOL, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01",
                     "price": "20000", "timestamp": int(time.time() * 1000)}
            payload = urlencode(order)
            tampered = payload.replace("price=20000", "price=20001")
            another_kind = ed25519.Ed25519PrivateKey.generate() if kind == "RSA" else \
                rsa.generate_private_key(public_exponent=65537, key_size=2048)
            for why, signature in (
                    ("another key", sign_with(other_key, payload)),
                    ("another payload", sign_with(private_key, tampered)),
                    ("another kind of key", sign_with(another_kind, payload)),
                    ("an HMAC hex signature", auth.sign("x" * 64, payload)),
                    ("not base64", "not*base64"),
                    ("a broken escape", "%E0%A4%A"),
                    ("cut short", sign_with(private_key, payload)[:-8])):
                async with session.post(f"{node.base}/api/v3/order?{payload}&signature={quote(signature, safe='')}",
                                        headers={"X-MBX-APIKEY": acct["apiKey"]}) as resp:
                    assert resp.status == 400, why
                    assert await resp.json() == {"code": -1022, "msg": "Signature for this request is not valid."}, why
            async with session.post(f"{node.base}/api/v3/order?{payload}", headers={"X-MBX-APIKEY": acct["apiKey"]}) as resp:
                assert (await resp.json())["code"] == -1102  # no signature at all
            assert (await good.balances())["USDT"] == ("1000.00000000", "0.00000000")
            status, open_orders = await good.signed("GET", "/api/v3/openOrders")
            assert status == 200 and open_orders == []
    run(scenario())


def test_the_admin_endpoint_refuses_what_is_not_an_ed25519_or_rsa_public_key(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            ed = ed25519.Ed25519PrivateKey.generate()
            for why, doc, code in (
                    ("not PEM", {"publicKey": "hello"}, -1130),
                    ("a private key", {"publicKey": private_pem(ed)}, -1130),
                    ("an EC key", {"publicKey": public_pem(ec.generate_private_key(ec.SECP256R1()))}, -1130),
                    ("RSA-1024", {"publicKey": public_pem(rsa.generate_private_key(public_exponent=65537,
                                                                                   key_size=1024))}, -1130),
                    ("a number", {"publicKey": 7}, -1130),
                    ("an unknown field", {"secretKey": "mine"}, -1103)):
                status, answer = await admin(session, node.base, ADMIN_TOKEN, "/admin/v1/accounts", doc)
                assert status == 400 and answer["code"] == code, (why, answer)
            status, hmac_acct = await admin(session, node.base, ADMIN_TOKEN, "/admin/v1/accounts")
            assert status == 200 and hmac_acct["keyType"] == "HMAC" and len(hmac_acct["secretKey"]) == 64
            # an HMAC account is not signed with somebody's Ed25519 key
            client = KeyClient(session, node.base, hmac_acct["apiKey"], ed)
            status, doc = await client.signed("GET", "/api/v3/account")
            assert (status, doc["code"]) == (400, -1022)
    run(scenario())


def test_without_rate_limits_no_headers_and_none_listed(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            async with session.get(node.base + "/api/v3/exchangeInfo") as resp:
                assert (await resp.json())["rateLimits"] == []
                assert not [h for h in resp.headers if h.upper().startswith("X-MBX-")]
            status, acct = await admin(session, node.base, ADMIN_TOKEN, "/admin/v1/accounts")
            client = Client(session, node.base, acct["apiKey"], acct["secretKey"])
            assert await client.signed("GET", "/api/v3/rateLimit/order") == (200, [])
    run(scenario())


def test_ed25519_subscribes_to_its_user_data_over_the_websocket_api(node):
    """userDataStream.subscribe.signature (Push's /ws-api/v3) checks the account's kind of key too:
    the WebSocket API's payload (sorted key=value) signed with Ed25519, base64, in JSON."""
    async def scenario():
        private_key = ed25519.Ed25519PrivateKey.generate()
        async with aiohttp.ClientSession() as session:
            acct = await key_account(session, node.base, private_key, USDT="1000")
            ws = await session.ws_connect(f"{node.ws}/ws-api/v3")
            try:
                params = {"apiKey": acct["apiKey"], "timestamp": int(time.time() * 1000)}
                wrong = params | {"signature": sign_with(private_key, auth.ws_payload(params | {"recvWindow": 1}))}
                await ws.send_json({"id": 1, "method": "userDataStream.subscribe.signature", "params": wrong})
                reply = await ws.receive_json(timeout=5)
                assert reply["status"] == 400 and reply["error"]["code"] == -1022, reply
                params["signature"] = sign_with(private_key, auth.ws_payload(params))
                await ws.send_json({"id": 2, "method": "userDataStream.subscribe.signature", "params": params})
                reply = await ws.receive_json(timeout=5)
                assert reply["status"] == 200 and "subscriptionId" in reply["result"], reply
                client = KeyClient(session, node.base, acct["apiKey"], private_key)
                status, order = await client.order(symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="GTC",
                                                   quantity="0.01", price="20000")
                assert status == 200, order
                while True:
                    event = (await ws.receive_json(timeout=5))["event"]
                    if event["e"] == "executionReport":
                        assert (event["i"], event["X"]) == (order["orderId"], "NEW")
                        break
            finally:
                await ws.close()
    run(scenario())


# ------------------------------------------------------------------------------ python-binance


def binance_client(node, **keys):
    """python-binance's Client pointed at the node (its REST API root is <base>/api)."""
    import binance  # python-binance, a dev dependency: missing, the test fails rather than skips
    client = binance.Client(ping=False, **keys)
    client.API_URL = node.base + "/api"
    return client


def order_flow(client) -> None:
    """A signed order flow as a bot runs it: place, query, list, cancel, balances."""
    from binance.exceptions import BinanceAPIException

    assert client.get_exchange_info()["symbols"][0]["symbol"] == SYMBOL
    order = client.create_order(symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01",
                                price="20000")
    assert order["status"] == "NEW" and order["clientOrderId"].startswith("x-")
    assert client.get_order(symbol=SYMBOL, orderId=order["orderId"])["status"] == "NEW"
    assert [o["orderId"] for o in client.get_open_orders(symbol=SYMBOL)] == [order["orderId"]]
    usdt = next(b for b in client.get_account()["balances"] if b["asset"] == "USDT")
    assert (usdt["free"], usdt["locked"]) == ("800.00000000", "200.00000000")
    canceled = client.cancel_order(symbol=SYMBOL, orderId=order["orderId"])
    assert canceled["status"] == "CANCELED"
    assert client.get_open_orders(symbol=SYMBOL) == []
    with pytest.raises(BinanceAPIException) as refused:
        client.cancel_order(symbol=SYMBOL, orderId=order["orderId"])
    assert refused.value.code == -2011
    market = client.order_market_buy(symbol=SYMBOL, quantity="0.001")  # nothing to buy from: expired
    assert market["status"] == "EXPIRED"


def test_python_binance_hmac(node):
    async def make():
        async with aiohttp.ClientSession() as session:
            status, acct = await admin(session, node.base, ADMIN_TOKEN, "/admin/v1/accounts")
            await admin(session, node.base, ADMIN_TOKEN, "/admin/v1/deposit",
                        {"accountId": acct["accountId"], "asset": "USDT", "amount": "1000"})
            return acct
    acct = run(make())
    order_flow(binance_client(node, api_key=acct["apiKey"], api_secret=acct["secretKey"]))


@pytest.mark.parametrize("kind", ["ED25519", "RSA"])
def test_python_binance_with_a_private_key(node, kind):
    private_key = ed25519.Ed25519PrivateKey.generate() if kind == "ED25519" else \
        rsa.generate_private_key(public_exponent=65537, key_size=2048)

    async def make():
        async with aiohttp.ClientSession() as session:
            return await key_account(session, node.base, private_key, USDT="1000")
    acct = run(make())
    client = binance_client(node, api_key=acct["apiKey"], private_key=private_pem(private_key))
    order_flow(client)
    from binance.exceptions import BinanceAPIException

    impostor = binance_client(node, api_key=acct["apiKey"], private_key=private_pem(
        ed25519.Ed25519PrivateKey.generate() if kind == "ED25519" else
        rsa.generate_private_key(public_exponent=65537, key_size=2048)))
    with pytest.raises(BinanceAPIException) as refused:
        impostor.get_account()
    assert (refused.value.status_code, refused.value.code) == (400, -1022)
