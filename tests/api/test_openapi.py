"""The OpenAPI document: valid OpenAPI 3.0 (openapi-spec-validator), built from the app's one route
table (rest.ROUTES), every endpoint of issue 4 described."""

from __future__ import annotations

import json
import re

import pytest
from openapi_spec_validator import validate

from spot_seda.api import openapi
from spot_seda.api.rest import ROUTES


def openapi_document(base_url: str = "/") -> dict:
    return openapi.openapi_document(ROUTES, base_url)

METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}

EXPECTED = {
    ("get", p) for p in ("/api/v3/ping", "/api/v3/time", "/api/v3/exchangeInfo", "/api/v3/depth", "/api/v3/trades",
                         "/api/v3/historicalTrades", "/api/v3/aggTrades", "/api/v3/klines", "/api/v3/ticker/24hr", "/api/v3/ticker/price",
                         "/api/v3/ticker/bookTicker", "/api/v3/avgPrice", "/api/v3/order", "/api/v3/openOrders",
                         "/api/v3/allOrders", "/api/v3/myTrades", "/api/v3/account", "/metrics", "/openapi.json")
} | {
    ("post", "/api/v3/order"), ("delete", "/api/v3/order"), ("delete", "/api/v3/openOrders"),
    ("post", "/api/v3/userDataStream"), ("put", "/api/v3/userDataStream"), ("delete", "/api/v3/userDataStream"),
    ("post", "/api/v3/order/test"), ("post", "/api/v3/order/cancelReplace"), ("put", "/api/v3/order/amend/keepPriority"),
    ("post", "/api/spot/v2/"), ("post", "/admin/v1/accounts"), ("post", "/admin/v1/deposit"), ("post", "/admin/v1/withdraw"),
}


def _walk(node, path=""):
    if isinstance(node, dict):
        for key, value in node.items():
            yield path, key, value
            yield from _walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}/{i}")


def _resolve(doc: dict, ref: str):
    assert ref.startswith("#/"), ref
    node = doc
    for part in ref[2:].split("/"):
        assert part in node, f"unresolved $ref {ref}"
        node = node[part]
    return node


def test_document_structure():
    doc = openapi_document()
    assert re.fullmatch(r"3\.0\.\d+", doc["openapi"])
    assert doc["info"]["title"] and doc["info"]["version"]
    assert json.loads(json.dumps(doc)) == doc  # JSON-ready
    schemes = doc["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {"type": "apiKey", "in": "header", "name": "X-MBX-APIKEY"}
    assert schemes["AdminToken"]["name"] == "X-Admin-Token"
    operation_ids = set()
    for path, item in doc["paths"].items():
        assert path.startswith("/")
        assert item and set(item) <= METHODS, path
        for method, op in item.items():
            assert op["summary"] and op["tags"], (method, path)
            assert op["operationId"] not in operation_ids
            operation_ids.add(op["operationId"])
            assert "200" in op["responses"] and any(code.startswith("4") for code in op["responses"]), (method, path)
            for code, response in op["responses"].items():
                assert re.fullmatch(r"[1-5]\d\d|default", code)
                assert response["description"]
                for media in response.get("content", {}).values():
                    assert "schema" in media
            names = set()
            for param in op["parameters"]:
                assert param["in"] in ("query", "header", "path", "cookie") and param["name"] and "schema" in param
                assert (param["name"], param["in"]) not in names, (method, path, param["name"])
                names.add((param["name"], param["in"]))
            for requirement in op.get("security", []):
                assert set(requirement) <= set(schemes)
            if "requestBody" in op:
                assert op["requestBody"]["content"]
    for _path, key, value in _walk(doc):
        if key == "$ref":
            _resolve(doc, value)
    for name, schema in doc["components"]["schemas"].items():
        if schema.get("type") == "object" and "required" in schema:
            assert set(schema["required"]) <= set(schema["properties"]), name


def test_every_endpoint_of_the_issue_is_described():
    doc = openapi_document()
    described = {(method, path) for path, item in doc["paths"].items() for method in item}
    assert EXPECTED <= described, EXPECTED - described


def test_signed_endpoints_state_their_parameters():
    doc = openapi_document()
    for path, method in (("/api/v3/order", "post"), ("/api/v3/order", "delete"), ("/api/v3/account", "get")):
        op = doc["paths"][path][method]
        names = {p["name"] for p in op["parameters"]}
        assert {"timestamp", "signature", "recvWindow"} <= names
        assert op["security"] == [{"ApiKey": [], "Signature": []}]
    new_order = {p["name"] for p in doc["paths"]["/api/v3/order"]["post"]["parameters"]}
    assert {"symbol", "side", "type", "timeInForce", "quantity", "quoteOrderQty", "price", "newClientOrderId",
            "newOrderRespType", "selfTradePreventionMode"} <= new_order
    assert doc["paths"]["/api/v3/order"]["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]
    assert doc["paths"]["/admin/v1/deposit"]["post"]["security"] == [{"AdminToken": []}]
    assert openapi_document("http://h:1/")["servers"] == [{"url": "http://h:1/"}]


def test_the_document_is_valid_openapi():
    validate(openapi_document())  # raises on the first violation of the OpenAPI 3.0 schema


def test_the_document_has_exactly_the_routes_of_the_table():
    doc = openapi_document()
    described = {(method.upper(), path) for path, item in doc["paths"].items() for method in item}
    assert described == {(method, path) for method, path, _ in ROUTES}
    with pytest.raises(LookupError, match="GET /api/v3/nowhere is served but has no OpenAPI description"):
        openapi.openapi_document([*ROUTES, ("GET", "/api/v3/nowhere", None)])
    with pytest.raises(LookupError, match="described but not served: GET /api/v3/ping"):
        openapi.openapi_document([r for r in ROUTES if r[1] != "/api/v3/ping"])


def test_no_parameter_may_be_sent_empty():
    """The node refuses every parameter sent empty (binance/params.check_none_empty: -1102 for a
    required one, else -1105 or the operation's own code), so the document allows no empty value."""
    doc = openapi_document()
    for path, item in doc["paths"].items():
        for method, op in item.items():
            for p in op["parameters"]:
                assert "allowEmptyValue" not in p, (method, path, p["name"])
