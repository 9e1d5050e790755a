"""The building blocks of the OpenAPI document (openapi.py) and of its order operations' part
(openapi_orderops.py): schema shorthands, the shared parameters (symbol, the signed trio), the error
answers, and an operation's skeleton, signed or not. Both import them from here, at the top.
"""

from __future__ import annotations


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _str(description: str = "", **extra) -> dict:
    return {"type": "string", **({"description": description} if description else {}), **extra}


def _dec(description: str = "") -> dict:
    return _str(description or "decimal string", pattern=r"^[0-9]+(\.[0-9]+)?$", example="0.00100000")


def _int(description: str = "", **extra) -> dict:
    return {"type": "integer", "format": "int64", **({"description": description} if description else {}), **extra}


def _bool() -> dict:
    return {"type": "boolean"}


def _obj(props: dict, required: list[str] | None = None) -> dict:
    return {"type": "object", "properties": props, "required": required if required is not None else list(props)}


def _array(items: dict) -> dict:
    return {"type": "array", "items": items}


def _p(name: str, schema: dict, required: bool = False, description: str = "", where: str = "query") -> dict:
    out = {"name": name, "in": where, "required": required, "schema": schema}
    if description:
        out["description"] = description
    return out


SYMBOL = _p("symbol", _str(pattern=r"^[A-Z0-9-_.]{1,20}$", example="BTCUSDT"), True)
SYMBOL_OPT = _p("symbol", _str(pattern=r"^[A-Z0-9-_.]{1,20}$"), False, "One symbol; the answer is an object.")
SYMBOLS = _p("symbols", _str(example='["BTCUSDT","ETHUSDT"]'), False,
             "URL-encoded JSON array of symbols; the answer is an array (also when neither is sent).")
TIMESTAMP = _p("timestamp", _int("ms since the epoch; must be < serverTime + 1000 and within recvWindow"), True)
RECV_WINDOW = _p("recvWindow", _int("ms, default 5000, at most 60000", maximum=60000), False)
SIGNATURE = _p("signature", _str(
    "Of the query string followed by the form body, by the account's kind of API key: hex HMAC-SHA256 "
    "(HMAC), base64 Ed25519 (ED25519) or base64 RSASSA-PKCS1-v1_5 SHA-256 (RSA); base64 URL-encoded in a "
    "query string"), True)
SIGNED_PARAMS = [RECV_WINDOW, TIMESTAMP, SIGNATURE]


def _limit(default: int, maximum: int, allowed: tuple[int, ...] | None = None) -> dict:
    schema = _int(minimum=1, maximum=maximum, default=default)
    if allowed:
        schema["enum"] = list(allowed)
    return _p("limit", schema, False, f"Default {default}; max {maximum}.")


def _json(schema: dict, description: str = "OK") -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERRORS = {
    "400": _json(_ref("Error"), "Bad request: a Binance error code and message"),
    "401": _json(_ref("Error"), "-2014 / -2015: missing, malformed or unknown API key"),
    "503": _json(_ref("Error"), "-1003 overloaded: shed by admission control before any work (retry); -1007 execution status unknown (find the order by origClientOrderId)"),
}
PUBLIC_ERRORS = {"400": ERRORS["400"]}


def _op(summary: str, ok: dict, params: list[dict] | None = None, *, tag: str, security: list | None = None,
        errors: dict | None = None, body: dict | None = None, description: str = "") -> dict:
    op: dict = {"summary": summary, "tags": [tag], "parameters": params or [],
                "responses": {"200": ok, **(errors if errors is not None else PUBLIC_ERRORS)}}
    if description:
        op["description"] = description
    if security is not None:
        op["security"] = security
    if body is not None:
        op["requestBody"] = body
    op["operationId"] = summary.replace(" ", "_").replace("/", "_").lower()
    return op


SIGNED_SECURITY = [{"ApiKey": [], "Signature": []}]
KEY_SECURITY = [{"ApiKey": []}]
ADMIN_SECURITY = [{"AdminToken": []}]


def _form_body(params: list[dict]) -> dict:
    """The same parameters as a form body (Binance accepts either; the signature covers both)."""
    props = {p["name"]: p["schema"] for p in params}
    return {"required": False, "content": {"application/x-www-form-urlencoded": {
        "schema": {"type": "object", "properties": props}}}}


def _signed(summary: str, ok: dict, params: list[dict], *, tag: str = "Trading", description: str = "",
            body: bool = False) -> dict:
    all_params = params + SIGNED_PARAMS
    return _op(summary, ok, all_params, tag=tag, security=SIGNED_SECURITY, errors=ERRORS,
               body=_form_body(all_params) if body else None,
               description=description or "SIGNED: X-MBX-APIKEY header and signature; parameters in the query "
                                          "string or a form-encoded body.")
