"""Schemathesis against a real node: every operation of the node's OpenAPI document fuzzed with the
requests Schemathesis generates from it, positive and negative, each answer checked against the
document and the node's invariants (README: a bad input gets a 4xx Binance error, never a 5xx and
never a changed balance; the document describes what the node answers).

The schema: the document the node serves at GET /openapi.json. Schemathesis makes its tests when
pytest collects this module, before the module's node runs, so the schema is loaded from
`openapi.openapi_document(rest.ROUTES)`, the function that serves /openapi.json, and the first test
checks that the running node serves exactly that document. (Loading it from the node at run time,
`schemathesis.pytest.from_fixture`, fails on pytest 9.2: schemathesis 4.32 sets `Function._nodeid`,
which pytest 9.2 no longer has.)

Signing: the auth hook (NodeAuth) puts placeholders in a case (the X-MBX-APIKEY header, a
`signature` in the query) where the operation's security asks for them, and the admin token on
/admin/; SigningSession, the requests session every case is sent with, replaces them as the
request leaves, over the exact query string and form body sent: the fuzzing account's key, a fresh
`timestamp` (unless the case's own is not an integer or is missing: a negative case), an HMAC-SHA256
`signature` over query + body, as Binance signs. Schemathesis's own auth probes (ignored_auth) send
no placeholder and so stay unsigned.

Checks: not_a_server_error; binance_error (every error is a 4xx with {"code": <0, "msg": str}); the
document's response schemas, status codes, content types and headers (response_schema_conformance,
status_code_conformance, content_type_conformance, response_headers_conformance);
negative_data_rejection (a request the document calls invalid is refused); ignored_auth;
unsupported_method (an undeclared method: 405 with Allow). Left out: positive_data_acceptance, which
wants every schema-valid request accepted: a request can match the document and still be refused by
what the document cannot say (an unknown symbol, no such order, too little balance, a filter), and
the node rightly answers those 400.

Generation: both modes (positive and negative), Schemathesis's deterministic coverage phase (its
boundary and missing-parameter cases, sent once each) then its fuzzing phase, MAX_EXAMPLES cases per
operation, derandomized, no example database (database=None): the same requests every run.

After the fuzz: the node logged no traceback, and the fuzzing account and the maker (whose key the
fuzz never has) hold what they held, unless the fuzz placed an order or moved money with the admin
token; then what they hold together, plus the commissions their trades paid (to the node's fee
account), equals what they held plus what the fuzz deposited less what it withdrew: nothing made or
lost."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections import Counter
from decimal import Decimal as D
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (content_type_conformance, ignored_auth, negative_data_rejection,
                                               response_headers_conformance, response_schema_conformance,
                                               status_code_conformance, unsupported_method)

from spot_seda.api import openapi
from spot_seda.api.rest import ROUTES
from tests.node.client import Client, funded_client
from tests.node.conftest import ADMIN_TOKEN, serving_node

MAX_EXAMPLES = 10  # fuzzing-phase cases per operation (the coverage phase's come first)
SYMBOL = "BTCUSDT"
KEY_PLACEHOLDER = "FUZZ-KEY"  # the auth hook's API key: the session sends the fuzzing account's
SIGNATURE_PLACEHOLDER = "SIGN-ME"  # the auth hook's signature: the session signs the request as sent
#: routes whose 200 means an order was placed or changed (then balances may change)
ORDER_ROUTES = {("POST", "/api/v3/order"), ("POST", "/api/v3/order/cancelReplace"), ("POST", "/api/spot/v2/"),
                ("PUT", "/api/v3/order/amend/keepPriority"), ("POST", "/api/v3/order/oco"),
                ("POST", "/api/v3/orderList/oco"), ("POST", "/api/v3/orderList/oto"),
                ("POST", "/api/v3/orderList/otoco")}

DOCUMENT = openapi.openapi_document(ROUTES)
schema = schemathesis.openapi.from_dict(DOCUMENT, config=SchemathesisConfig.from_dict({
    "phases": {"coverage": {"unexpected-methods": ["PATCH", "TRACE"], "generation": {"mode": "negative"}}}}))


class SigningSession(requests.Session):
    """A requests session that signs a case's request as it leaves (module docstring), and keeps
    what the checks after the fuzz need: answers per (method, path, status), the transfers made."""

    def __init__(self) -> None:
        super().__init__()
        self.api_key = ""
        self.secret = ""
        self.answers: Counter = Counter()
        self.transfers: list[tuple[str, dict]] = []  # (path, body) of each admin transfer answered 200

    def send(self, request: requests.PreparedRequest, **kwargs):
        if request.headers.get("X-MBX-APIKEY") == KEY_PLACEHOLDER:
            request.headers["X-MBX-APIKEY"] = self.api_key
        parts = urlsplit(request.url)
        pairs = parts.query.split("&") if parts.query else []
        placeholder = f"signature={SIGNATURE_PLACEHOLDER}"
        if placeholder in pairs:
            kept = [p for p in pairs if p != placeholder]
            stamps = [p for p in kept if p.startswith("timestamp=")]
            if len(stamps) == 1 and stamps[0][len("timestamp="):].lstrip("-").isdigit():
                kept = [p for p in kept if not p.startswith("timestamp=")] + [f"timestamp={int(time.time() * 1000)}"]
            query = "&".join(kept)
            body = request.body or b""
            payload = (query.encode() + (body if isinstance(body, bytes) else body.encode()))
            signature = hmac.new(self.secret.encode(), payload, hashlib.sha256).hexdigest()
            request.url = urlunsplit(parts._replace(query=(query + "&" if query else "") + f"signature={signature}"))
        response = super().send(request, **kwargs)
        path = urlsplit(request.url).path
        self.answers[(request.method, path, response.status_code)] += 1
        if path in ("/admin/v1/deposit", "/admin/v1/withdraw") and response.status_code == 200:
            self.transfers.append((path, json.loads(request.body)))
        return response


SESSION = SigningSession()


@schema.auth()
class NodeAuth:
    """Placeholders where the operation's security asks for a key, a signature or the admin token
    (made when the case is generated, at collection for the coverage phase: the session fills them)."""

    def get(self, case, ctx):
        return KEY_PLACEHOLDER

    def set(self, case, data, ctx):
        names = {name for requirement in case.operation.definition.raw.get("security") or [] for name in requirement}
        if "ApiKey" in names:
            case.headers = {**(case.headers or {}), "X-MBX-APIKEY": data}
        if "Signature" in names:
            case.query = {**(case.query or {}), "signature": SIGNATURE_PLACEHOLDER}
            if isinstance(case.body, dict):  # one timestamp and one signature: the session's, in the query
                case.body = {k: v for k, v in case.body.items() if k not in ("signature", "timestamp")}
        if "AdminToken" in names:
            case.headers = {**(case.headers or {}), "X-Admin-Token": ADMIN_TOKEN}


def binance_error(ctx, response, case):
    """An error answer is a 4xx whose body is Binance's {"code": <negative int>, "msg": <text>}
    (a cancel-replace's refusal has its halves in "data" beside them)."""
    if response.status_code < 400:
        return None
    assert 400 <= response.status_code < 500, f"status {response.status_code}"
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type.startswith("application/json"), content_type
    doc = json.loads(response.content)
    assert isinstance(doc, dict) and isinstance(doc.get("code"), int) and doc["code"] < 0, doc
    assert isinstance(doc.get("msg"), str) and doc["msg"], doc
    assert set(doc) <= {"code", "msg", "data"}, doc
    return None


CHECKS = [not_a_server_error, binance_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance, negative_data_rejection, ignored_auth,
          unsupported_method]


def run(coro):
    return asyncio.run(coro)


async def holdings(client: Client) -> dict[str, D]:
    """free + locked per asset."""
    return {asset: D(free) + D(locked) for asset, (free, locked) in (await client.balances()).items()}


async def commissions(client: Client) -> Counter:
    out: Counter = Counter()
    status, trades = await client.signed("GET", "/api/v3/myTrades", symbol=SYMBOL)
    assert status == 200, trades
    for t in trades:
        out[t["commissionAsset"]] += D(t["commission"])
    return out


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    with serving_node(tmp_path_factory.mktemp("openapi_fuzz")) as proc:
        yield proc


@pytest.fixture(scope="module")
def accounts(node):
    """(fuzzer, maker): the fuzz signs as the fuzzer, which has money to trade with; the maker has
    an order resting on the book and a key the fuzz never has. Their holdings before the fuzz."""
    async def make():
        async with aiohttp.ClientSession() as session:
            fuzzer = await funded_client(session, node.base, ADMIN_TOKEN, BTC="1", USDT="1000")
            maker = await funded_client(session, node.base, ADMIN_TOKEN, BTC="1", USDT="1000")
            status, doc = await maker.order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC",
                                            quantity="0.01", price="60000")
            assert status == 200, doc
            return fuzzer, maker, [await holdings(c) for c in (fuzzer, maker)]
    fuzzer, maker, before = run(make())
    SESSION.api_key, SESSION.secret = fuzzer.api_key, fuzzer.secret
    return fuzzer, maker, before, len(node.log())


def test_the_node_serves_the_fuzzed_document(node):
    got = requests.get(node.base + "/openapi.json", timeout=10).json()
    assert got == DOCUMENT


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, derandomize=True, database=None, deadline=None,
          suppress_health_check=list(HealthCheck))
def test_every_operation(case, node, accounts):
    case.call_and_validate(base_url=node.base, session=SESSION, checks=CHECKS)


def test_after_the_fuzz_nothing_made_or_lost_and_no_traceback(node, accounts):
    fuzzer_, maker_, before, mark = accounts
    answers = SESSION.answers
    print(f"{sum(answers.values())} requests; statuses {dict(Counter(s for (_, _, s) in answers.elements()))}; "
          f"200s {sorted((m, p, n) for (m, p, s), n in answers.items() if s == 200)}")
    assert not any(s >= 500 for (_, _, s) in answers), answers
    log = node.log()[mark:]
    assert "Traceback" not in log and "unexpected error" not in log, log[-3000:]

    async def after():
        async with aiohttp.ClientSession() as session:
            clients = [Client(session, node.base, c.api_key, c.secret) for c in (fuzzer_, maker_)]
            return [await holdings(c) for c in clients], [await commissions(c) for c in clients]
    held, paid = run(after())
    placed = sum(n for (m, p, s), n in answers.items() if s == 200 and (m, p) in ORDER_ROUTES)
    if not placed and not SESSION.transfers:
        assert held == before  # nothing the fuzz did could move money: nothing moved
        return
    moved: Counter = Counter()
    ids = {fuzzer_.account_id, maker_.account_id}
    for path, body in SESSION.transfers:
        if body["accountId"] in ids:
            moved[body["asset"]] += D(body["amount"]) * (1 if path.endswith("deposit") else -1)
    assets = set().union(*before, *held, moved)
    total = {a: sum(h.get(a, D(0)) for h in held) + sum(p[a] for p in paid) for a in assets}
    expected = {a: sum(b.get(a, D(0)) for b in before) + moved[a] for a in assets}
    assert total == expected, (placed, SESSION.transfers)
