"""The building blocks of the OpenAPI document (openapi.py) and of its order operations' part
(openapi_orderops.py): schema shorthands, the shared parameters (symbol, the signed trio), the error
answers, and an operation's skeleton, signed or not. Both import them from here, at the top.
"""

from __future__ import annotations


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def string(description: str = "", **extra) -> dict:
    return {"type": "string", **({"description": description} if description else {}), **extra}


def dec(description: str = "") -> dict:
    return string(description or "decimal string", pattern=r"^[0-9]+(\.[0-9]+)?$", example="0.00100000")


def integer(description: str = "", **extra) -> dict:
    return {"type": "integer", "format": "int64", **({"description": description} if description else {}), **extra}


def boolean() -> dict:
    return {"type": "boolean"}


def obj(props: dict, required: list[str] | None = None) -> dict:
    return {"type": "object", "properties": props, "required": required if required is not None else list(props)}


def array(items: dict) -> dict:
    return {"type": "array", "items": items}


#: a client order id's pattern (Binance's)
CLIENT_ID = r"^[a-zA-Z0-9-_]{1,36}$"


def param(name: str, schema: dict, required: bool = False, description: str = "", where: str = "query") -> dict:
    """A parameter. None may be sent empty (no allowEmptyValue): the node refuses an empty one, -1102
    if `required`, else -1105 or the operation's own code (binance/params.check_none_empty)."""
    out = {"name": name, "in": where, "required": required, "schema": schema}
    if description:
        out["description"] = description
    return out


SYMBOL = param("symbol", string(pattern=r"^[A-Z0-9-_.]{1,20}$", example="BTCUSDT"), True)
SYMBOL_OPT = param("symbol", string(pattern=r"^[A-Z0-9-_.]{1,20}$"), False, "One symbol; the answer is an object.")
SYMBOLS = param("symbols", string(example='["BTCUSDT","ETHUSDT"]'), False,
             "URL-encoded JSON array of symbols; the answer is an array (also when neither is sent).")
TIMESTAMP = param("timestamp", integer("ms since the epoch; must be < serverTime + 1000 and within recvWindow"), True)
RECV_WINDOW = param("recvWindow", integer("ms, default 5000, at most 60000", maximum=60000), False)
SIGNATURE = param("signature", string(
    "Of the query string followed by the form body, by the account's kind of API key: hex HMAC-SHA256 "
    "(HMAC), base64 Ed25519 (ED25519) or base64 RSASSA-PKCS1-v1_5 SHA-256 (RSA); base64 URL-encoded in a "
    "query string"), True)
SIGNED_PARAMS = [RECV_WINDOW, TIMESTAMP, SIGNATURE]


def limit_param(default: int, maximum: int, allowed: tuple[int, ...] | None = None) -> dict:
    schema = integer(minimum=1, maximum=maximum, default=default)
    if allowed:
        schema["enum"] = list(allowed)
    return param("limit", schema, False, f"Default {default}; max {maximum}.")


def json_answer(schema: dict, description: str = "OK") -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERRORS = {
    "400": json_answer(ref("Error"), "Bad request: a Binance error code and message"),
    "401": json_answer(ref("Error"), "-2014 / -2015: missing, malformed or unknown API key"),
    "503": json_answer(ref("Error"), "-1003 overloaded: shed by admission control before any work (retry); -1007 execution status unknown (find the order by origClientOrderId)"),
}
PUBLIC_ERRORS = {"400": ERRORS["400"]}


def operation_doc(summary: str, ok: dict, params: list[dict] | None = None, *, tag: str, security: list | None = None,
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


def form_body(params: list[dict]) -> dict:
    """The same parameters as a form body (Binance accepts either; the signature covers both)."""
    props = {p["name"]: p["schema"] for p in params}
    return {"required": False, "content": {"application/x-www-form-urlencoded": {
        "schema": {"type": "object", "properties": props}}}}


def signed_doc(summary: str, ok: dict, params: list[dict], *, tag: str = "Trading", description: str = "",
            body: bool = False) -> dict:
    all_params = params + SIGNED_PARAMS
    return operation_doc(summary, ok, all_params, tag=tag, security=SIGNED_SECURITY, errors=ERRORS,
               body=form_body(all_params) if body else None,
               description=description or "SIGNED: X-MBX-APIKEY header and signature; parameters in the query "
                                          "string or a form-encoded body.")
