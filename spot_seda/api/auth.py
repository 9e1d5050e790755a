"""Binance signed requests: HMAC-SHA256 signatures and the timestamp / recvWindow rule.

REST (binance-spot-api-docs, "SIGNED endpoint security"): the signature is the hex HMAC-SHA256, keyed
by the secret key, of `totalParams` = the query string followed by the request body, concatenated
WITHOUT a separator, exactly as sent (still percent-encoded), with the `signature` parameter itself
left out. Hex is not case sensitive. Note for the HTTP layer: aiohttp's `request.query_string` is
partly DECODED (yarl); the bytes the client signed are `request.raw_query_string`.

WebSocket API: the payload is every parameter except `signature`, sorted by name, as `key=value`
joined by `&` (`ws_payload`).

Timing: a request is accepted when `timestamp < now + 1000` and `now - timestamp <= recvWindow`
(default 5000 ms, at most 60000; Binance accepts up to three decimals, i.e. microseconds).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from . import errors

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
    if recv_window == "":
        raise errors.mandatory_missing("recvWindow")
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

    -1102 when `timestamp` is missing or empty, -1100 when it or `recvWindow` is not a number,
    -1131 when recvWindow exceeds 60000, -1021 when the request is too old or 1000 ms or more ahead.
    """
    if timestamp is None or timestamp == "":
        raise errors.mandatory_missing("timestamp")
    ts = _int_param("timestamp", timestamp)
    window_us = parse_recv_window_us(recv_window)
    if ts >= now_ms + MAX_AHEAD_MS:
        raise errors.timestamp_ahead()
    if (now_ms - ts) * 1000 > window_us:
        raise errors.timestamp_outside_recv_window()
    return ts


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
    """The WebSocket API's signature payload: `key=value` pairs sorted by key, `signature` left out."""
    return "&".join(f"{key}={_ws_value(params[key])}" for key in sorted(params) if key != "signature")


def verify_ws_signature(secret: str, params: Mapping[str, object]) -> None:
    """Check a WebSocket API request's `signature` parameter (-1102 missing, -1022 wrong)."""
    signature = params.get("signature")
    verify_signature(secret, ws_payload(params), "", signature if isinstance(signature, str) else None)
