"""Binance signed requests: the signatures of Binance's three kinds of API key, and the timestamp /
recvWindow rule.

REST (binance-spot-api-docs, "SIGNED endpoint security"): the payload is `totalParams` = the query
string followed by the request body, concatenated WITHOUT a separator, exactly as sent (still
percent-encoded), with the `signature` parameter itself left out. Note for the HTTP layer:
aiohttp's `request.query_string` is partly DECODED (yarl); the bytes the client signed are
`request.raw_query_string`. The signature over that payload, by the account's kind of key:

- HMAC: the hex HMAC-SHA256 keyed by the secret key (hex is not case sensitive);
- Ed25519 (what Binance recommends): base64 of the Ed25519 signature;
- RSA: base64 of the RSASSA-PKCS1-v1_5 signature with SHA-256.

Base64 has `+`, `/` and `=`, so Binance requires a client to URL-encode such a signature in a query
string; clients do, some twice in a form body (python-binance encodes it and then form-encodes the
result). Either way the value arrives percent-encoded once or twice, or raw: `decode_signature`
takes up to two layers off (`unquote`, never `unquote_plus`: a raw `+` is base64's own).
The Ed25519 and RSA checks are `cryptography`'s (OpenSSL).

WebSocket API: the payload is every parameter except `signature`, sorted by name, as `key=value`
joined by `&` (`ws_payload`).

Timing: a request is accepted when `timestamp < now + 1000` and `now - timestamp <= recvWindow`
(default 5000 ms, at most 60000; Binance accepts up to three decimals, i.e. microseconds), with
`timestamp` in milliseconds or microseconds (params.MICROS_FROM). Answers give times in milliseconds,
or in microseconds with the X-MBX-TIME-UNIT header (api/timeunit.py).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import quote, unquote

from . import errors
from .params import micros

#: the kinds of API key (accounts.py `key_type`)
HMAC, ED25519, RSA = "HMAC", "ED25519", "RSA"
#: Binance accepts RSA keys of 2048 and 4096 bits; fewer bits are refused here
MIN_RSA_BITS = 2048
#: the longest base64 signature worth decoding (RSA-8192 is 1368 characters, twice percent-encoded less)
MAX_SIGNATURE_CHARS = 4096

DEFAULT_RECV_WINDOW_MS = 5000
MAX_RECV_WINDOW_MS = 60000
#: how far ahead of the server's clock a client's timestamp may be
MAX_AHEAD_MS = 1000

_HEX = frozenset("0123456789abcdefABCDEF")


def sign(secret: str, payload: str) -> str:
    """Hex HMAC-SHA256 of `payload` keyed by `secret` (what a Binance client sends as `signature`)."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def verify_signature(secret: str, query: str, body: str, signature: str | None) -> None:
    """Check a REST signature over `query + body` (both raw, without the signature parameter).

    Raises ApiError -1102 when no signature was sent, -1022 when it does not match (constant-time).
    """
    if not signature:
        raise errors.mandatory_missing("signature")
    if len(signature) != 64 or not _HEX.issuperset(signature):
        raise errors.invalid_signature()
    expected = sign(secret, query + body)
    if not hmac.compare_digest(expected, signature.lower()):
        raise errors.invalid_signature()


def load_public_key(pem: str) -> tuple[str, object]:
    """(key type, loaded key) of a PEM public key ("-----BEGIN PUBLIC KEY-----", SubjectPublicKeyInfo,
    or an RSA "BEGIN RSA PUBLIC KEY"): Ed25519, or RSA of at least 2048 bits. Anything else (not PEM,
    another algorithm, a short RSA key) is -1130 for `publicKey`."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    if not isinstance(pem, str) or not pem.strip() or len(pem) > 16384:
        raise errors.invalid_parameter("publicKey")
    try:
        key = load_pem_public_key(pem.encode())
    except (ValueError, TypeError, UnsupportedAlgorithm, UnicodeEncodeError):
        raise errors.invalid_parameter("publicKey") from None
    if isinstance(key, ed25519.Ed25519PublicKey):
        return ED25519, key
    if isinstance(key, rsa.RSAPublicKey) and key.key_size >= MIN_RSA_BITS:
        return RSA, key
    raise errors.invalid_parameter("publicKey")


def decode_signature(signature: str) -> bytes:
    """The bytes of a base64 signature sent raw or percent-encoded once or twice; -1022 otherwise."""
    text = signature
    for _ in range(2):
        if "%" not in text:
            break
        text = unquote(text, errors="strict")
    if len(text) > MAX_SIGNATURE_CHARS:
        raise errors.invalid_signature()
    try:
        return base64.b64decode(text.replace(" ", "+"), validate=True)
    except (binascii.Error, ValueError):
        raise errors.invalid_signature() from None


def verify_key_signature(key_type: str, key, payload: str, signature: str | None) -> None:
    """Check an Ed25519 or RSA signature (base64, maybe percent-encoded) over `payload`:
    -1102 when none was sent, -1022 when it is not the key's signature of the payload."""
    if not signature:
        raise errors.mandatory_missing("signature")
    from cryptography.exceptions import InvalidSignature

    try:
        raw = decode_signature(signature)
    except UnicodeDecodeError:
        raise errors.invalid_signature() from None
    try:
        if key_type == ED25519:
            key.verify(raw, payload.encode())
        elif key_type == RSA:
            from cryptography.hazmat.primitives import hashes
            from cryptography.hazmat.primitives.asymmetric import padding

            key.verify(raw, payload.encode(), padding.PKCS1v15(), hashes.SHA256())
        else:
            raise errors.invalid_signature()
    except InvalidSignature:
        raise errors.invalid_signature() from None


def signing_payload(raw: str) -> str:
    """A REST request's query string or body as its signature covers it: rest-api.md, "Any non-ASCII
    character must be percent-encoded before signing" (UTF-8, uppercase hex, as its example:
    `symbol=%EF%BC%91...`); ASCII, whether a client percent-encoded it or not, as it came. Not the
    WebSocket API's: web-socket-api.md signs the raw UTF-8 (`symbol=１２３４５６`)."""
    if raw.isascii():
        return raw
    return "".join(c if c.isascii() else quote(c, safe="") for c in raw)


def verify_rest_signature(account, query: str, body: str, signature: str | None) -> None:
    """A REST request's signature: over its query string and body as sent, non-ASCII percent-encoded
    (signing_payload), with the account's key (verify_account_signature)."""
    verify_account_signature(account, signing_payload(query), signing_payload(body), signature)


def verify_account_signature(account, query: str, body: str, signature: str | None) -> None:
    """Check a signature over `query + body` with the account's key (accounts.Account: HMAC,
    Ed25519 or RSA): -1102 when none was sent, -1022 when it does not match. (REST checks through
    verify_rest_signature; the WebSocket API signs raw UTF-8.)"""
    if account.key_type == HMAC:
        verify_signature(account.secret_key, query, body, signature)
    else:
        verify_key_signature(account.key_type, account.verifier, query + body, signature)


def split_signature(query: str, body: str) -> tuple[str, str, str]:
    """Take the `signature` parameter out of a raw query string and form body.

    Returns (unsigned query, unsigned body, signature): the strings the signature covers are the
    others' parts in their original order and encoding. Raises -1102 when no signature was sent and
    -1101 when it was sent more than once.
    """
    found: list[str] = []

    def strip(raw: str) -> str:
        if "signature=" not in raw:
            return raw
        start = raw.find("signature=")
        if (start == 0 or raw[start - 1] == "&") and raw.find("signature=", start + 10) < 0:
            # the usual case, one signature parameter: cut it out with C string calls (the same
            # string as the loop below gives; tests/api/test_errors_auth.py)
            end = raw.find("&", start)
            found.append(raw[start + 10:end if end >= 0 else len(raw)])
            return raw[:start] + raw[end + 1:] if end >= 0 else raw[:max(start - 1, 0)]
        kept = []
        for part in raw.split("&"):
            if part.startswith("signature="):
                found.append(part[len("signature="):])
            else:
                kept.append(part)
        return "&".join(kept)

    unsigned_query, unsigned_body = strip(query), strip(body)
    if len(found) > 1:
        raise errors.duplicate_parameter()
    if not found or not found[0]:
        raise errors.mandatory_missing("signature")
    return unsigned_query, unsigned_body, found[0]


def _int_param(name: str, text: str) -> int:
    if not text.isdigit() or not text.isascii() or len(text) > 20:
        raise errors.illegal_chars(name, errors.INT_RANGE)
    value = int(text)
    if value >= 2**63:
        raise errors.overflow(name)
    return value


def parse_recv_window_us(recv_window: str | None) -> int:
    """recvWindow in microseconds (default 5000 ms); up to three decimals, at most 60000 ms."""
    if recv_window is None:
        return DEFAULT_RECV_WINDOW_MS * 1000
    if recv_window == "":  # (optional, so not -1102: params.check_none_empty's rule)
        raise errors.param_empty("recvWindow")
    whole, dot, frac = recv_window.partition(".")
    if not whole.isdigit() or not whole.isascii() or len(whole) > 20 or \
            (dot and (not frac or len(frac) > 3 or not frac.isdigit() or not frac.isascii())):
        raise errors.illegal_chars("recvWindow", r"^[0-9]{1,20}(\.[0-9]{1,3})?$")
    micros = int(whole) * 1000 + (int(frac.ljust(3, "0")) if frac else 0)
    if micros > MAX_RECV_WINDOW_MS * 1000:
        raise errors.bad_recv_window()
    return micros


def check_timestamp(timestamp: str | None, recv_window: str | None, now_ms: int) -> int:
    """Apply Binance's timing rule; returns the request's timestamp (ms).

    -1102 when `timestamp` is missing or empty, -1105 when `recvWindow` is empty, -1100 when either is
    not a number,
    -1131 when recvWindow exceeds 60000, -1021 when the request is too old or 1000 ms or more ahead.
    """
    if timestamp is None or timestamp == "":
        raise errors.mandatory_missing("timestamp")
    ts = _int_param("timestamp", timestamp)
    ts_us = micros(ts)  # sent in milliseconds or microseconds (rest-api.md)
    window_us = parse_recv_window_us(recv_window)
    if ts_us >= (now_ms + MAX_AHEAD_MS) * 1000:
        raise errors.timestamp_ahead()
    if now_ms * 1000 - ts_us > window_us:
        raise errors.timestamp_outside_recv_window()
    return ts_us // 1000


# ------------------------------------------------------------------------------ admin


def check_admin_token(configured: str, presented: str | None) -> None:
    """The node's admin credential (`X-Admin-Token`, REST admin endpoints and private raw streams):
    -2015 with HTTP 403 when no token is configured (admin switched off), 401 when it does not match
    (constant-time)."""
    if not configured:
        raise errors.admin_disabled()
    if not hmac.compare_digest((presented or "").encode(), configured.encode()):
        raise errors.bad_admin_token()


# ------------------------------------------------------------------------------ WebSocket API


def _ws_value(value: object) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def ws_payload(params: Mapping[str, object]) -> str:
    """The WebSocket API's signature payload: `key=value` pairs sorted by key, `signature` left out
    (a null was left out before: params.without_nulls)."""
    return "&".join(f"{key}={_ws_value(params[key])}" for key in sorted(params) if key != "signature")


def verify_ws_signature(key, params: Mapping[str, object]) -> None:
    """Check a WebSocket API request's `signature` parameter (-1102 missing, -1022 wrong) with an
    HMAC secret key (a str) or an account's key (accounts.Account: HMAC, Ed25519 or RSA)."""
    signature = params.get("signature")
    signature = signature if isinstance(signature, str) else None
    if isinstance(key, str):
        verify_signature(key, ws_payload(params), "", signature)
    else:
        verify_account_signature(key, ws_payload(params), "", signature)


def ws_timestamp(params: Mapping[str, object], now_ms: int) -> int:
    """Binance's timing rule for a WebSocket API request's `timestamp` / `recvWindow` (JSON numbers
    or strings)."""
    stamp, recv = params.get("timestamp"), params.get("recvWindow")
    if isinstance(stamp, bool) or isinstance(recv, bool):
        raise errors.illegal_chars("timestamp" if isinstance(stamp, bool) else "recvWindow")
    return check_timestamp(None if stamp is None else str(stamp), None if recv is None else str(recv), now_ms)


def verify_ws_request(accounts, params: Mapping[str, object], now_ms: int):
    """The account (accounts.Account) of a signed WebSocket API request: `apiKey` (-1102 missing,
    -2014 / -2015 unknown, by `accounts.authenticate`), `signature` by the account's kind of key
    (-1022), then `timestamp` / `recvWindow`. A parameter that is an object or an array is -1100
    before anything else: the signature payload is `key=value` text. A null is a parameter not sent
    (errors.md -1102: "was not sent, was empty/null"): the API leaves it out of the request before
    this (params.without_nulls)."""
    api_key = params.get("apiKey")
    if not isinstance(api_key, str) or not api_key:
        raise errors.mandatory_missing("apiKey")
    for name, value in params.items():
        if isinstance(value, (dict, list)):
            raise errors.illegal_chars(name)
    account = accounts.authenticate(api_key)
    verify_ws_signature(account, params)  # HMAC, Ed25519 or RSA: the account's kind of key
    ws_timestamp(params, now_ms)
    return account
