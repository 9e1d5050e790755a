"""Every REST route and every WebSocket API method has its set of known parameters (api/knownparams.py),
so a new endpoint cannot forget one and drop what it does not read; each set holds what the OpenAPI
document says the route takes; -1104 is counted as Binance counts it. Through a real node:
tests/ws_api/test_unread_params.py."""

from __future__ import annotations

import ast
import inspect
import textwrap

import pytest

from spot_seda.api import knownparams, rest, wsapi, wsmethods, wsproto
from spot_seda.api.openapi import openapi_document
from spot_seda.binance import orderparams
from spot_seda.binance.errors import ApiError
from spot_seda.binance.params import SIGNED_PARAMS, check_all_read


def _strings_compared(source: str, kind) -> set[str]:
    """The string constants a function's source matches against: `case "x":` or `== "x"`."""
    tree = ast.parse(textwrap.dedent(source))
    found = set()
    for node in ast.walk(tree):
        if kind == "case" and isinstance(node, ast.match_case) and isinstance(node.pattern, ast.MatchValue):
            found.add(node.pattern.value.value)
        if kind == "==" and isinstance(node, ast.Compare) and isinstance(node.ops[0], ast.Eq) \
                and isinstance(node.comparators[0], ast.Constant) and isinstance(node.left, ast.Name) \
                and node.left.id == "method":
            found.add(node.comparators[0].value)
    return found


def test_every_rest_route_has_its_known_parameters():
    routes = {(method, path) for method, path, _ in rest.ROUTES}
    assert routes - knownparams.ROUTE_PARAMS.keys() == set(), "a route without known parameters"
    assert knownparams.ROUTE_PARAMS.keys() - routes == set(), "known parameters of a route not served"


def test_every_websocket_api_method_has_its_known_parameters():
    own = _strings_compared(inspect.getsource(wsapi.Connection.session_method), "case")
    assert own, "no session method found: the test reads Connection.session_method's cases"
    methods = wsmethods.METHODS.keys() | own
    assert methods - wsmethods.PARAMS.keys() == set(), "a method without known parameters"
    assert wsmethods.PARAMS.keys() - methods == set(), "known parameters of a method not served"
    for name, method in wsmethods.METHODS.items():  # its REST route's, and the envelope's
        assert wsmethods.PARAMS[name] == knownparams.ROUTE_PARAMS[method.route] | knownparams.WS_ENVELOPE, name
    push = _strings_compared(inspect.getsource(wsproto._api_call), "==")  # Push's /ws-api/v3
    assert push and push == wsproto._API_PARAMS.keys(), push
    for name in push:
        assert wsproto._API_PARAMS[name] == wsmethods.PARAMS[name], name


def test_each_route_reads_what_its_openapi_description_lists():
    """A parameter the document offers is never refused -1104 (the order lists' document lists fewer)."""
    document = openapi_document(rest.ROUTES)
    for (method, path), known in knownparams.ROUTE_PARAMS.items():
        listed = {p["name"] for p in document["paths"][path][method.lower()].get("parameters", [])
                  if p["in"] == "query"}
        assert listed <= known, (method, path, sorted(listed - known))


def test_each_routes_mandatory_parameters_are_what_its_openapi_description_requires():
    """The parameters sent empty that the operation answers -1102 (knownparams.ROUTE_MANDATORY; any
    other sent empty is -1105) are the ones the document marks required, and ones the route reads."""
    document = openapi_document(rest.ROUTES)
    for (method, path), known in knownparams.ROUTE_PARAMS.items():
        required = {p["name"] for p in document["paths"][path][method.lower()].get("parameters", [])
                    if p["in"] == "query" and p["required"]}
        if path == "/api/spot/v2/":  # its JSON fields are parameters too (rest.signed_json)
            required |= set(document["components"]["schemas"]["SeedOrder"]["required"])
        assert knownparams.route_mandatory((method, path)) == required, (method, path)
        assert required <= known, (method, path)
    assert knownparams.ROUTE_MANDATORY.keys() <= knownparams.ROUTE_PARAMS.keys()
    for name, mandatory in wsmethods.MANDATORY.items():
        assert mandatory <= wsmethods.PARAMS[name], name
    assert wsmethods.MANDATORY.keys() == wsmethods.PARAMS.keys()


def test_signed_routes_read_the_security_parameters_and_public_ones_do_not():
    for (method, path), known in knownparams.ROUTE_PARAMS.items():
        signed = path.startswith("/api/") and known & SIGNED_PARAMS
        assert not signed or SIGNED_PARAMS <= known, (method, path)
    assert knownparams.ROUTE_PARAMS[("GET", "/api/v3/depth")] == {"symbol", "limit", "symbolStatus"}
    assert knownparams.ROUTE_PARAMS[("DELETE", "/api/v3/order")] == \
        {"symbol", "orderId", "origClientOrderId", "newClientOrderId", "cancelRestrictions"} | SIGNED_PARAMS


@pytest.mark.parametrize("sent, known, error", [
    ({"symbol": "X", "limit": "5"}, {"symbol", "limit"}, None),
    ({}, frozenset(), None),
    # node-binance-api's depth sent `depth` for `limit` (its issue 18): read 1 of 2
    ({"symbol": "X", "depth": "5"}, {"symbol", "limit"}, "read '1' parameter(s) but was sent '2'."),
    # python-binance's get_order(order_id=...) (its issue 793): symbol, order_id, timestamp, signature
    ({"symbol": "X", "order_id": "1", "timestamp": "1", "signature": "ab"},
     knownparams.ROUTE_PARAMS[("GET", "/api/v3/order")], "read '3' parameter(s) but was sent '4'."),
    # a LIMIT order sent `timeInforce` (binance-connector-python's issue 172): -1104, not -1102 for timeInForce
    ({"symbol": "X", "side": "BUY", "type": "LIMIT", "timeInforce": "GTC", "quantity": "1", "price": "1",
      "timestamp": "1", "signature": "ab"}, orderparams.NEW_ORDER_PARAMS, "read '7' parameter(s) but was sent '8'."),
])
def test_unread_parameters_are_counted_as_binance_counts_them(sent, known, error):
    if error is None:
        check_all_read(sent, frozenset(known))
        return
    with pytest.raises(ApiError) as refused:
        check_all_read(sent, frozenset(known))
    assert (refused.value.code, refused.value.status) == (-1104, 400)
    assert refused.value.msg == "Not all sent parameters were read; " + error
