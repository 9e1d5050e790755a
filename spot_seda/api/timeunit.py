"""`X-MBX-TIME-UNIT` (rest-api.md, General API Information): "All time and timestamp related fields
in the JSON responses are in milliseconds by default. To receive the information in microseconds,
please add the header `X-MBX-TIME-UNIT:MICROSECOND` or `X-MBX-TIME-UNIT:microsecond`."

The node keeps milliseconds, so a microsecond answer is the same instant times 1,000: each time
field of an /api/ answer (TIME_KEYS, and a kline row's open and close times, its items 0 and 6) is
scaled when it is positive (-1, "not yet", as `workingTime` of an order not working, stays -1). The
end of a window (a kline's close time, a trading day's `closeTime`), its last millisecond, becomes
that millisecond's last microsecond (times 1,000, plus 999), as the window's end is in microseconds.
An error answer's times too (cancelReplace's -2021 carries the half that succeeded): the middleware
sits outside errors_middleware, where every answer is made. MILLISECOND (or `millisecond`) is the
default said out loud; any other value is -1194 "Invalid value for time unit; expected either
MICROSECOND or MILLISECOND." (errors.md), before the request does anything. Only requests that send
the header pay for it (their answer is decoded, scaled and encoded again).

The WebSocket API, the market streams and the user data streams take the same choice as `timeUnit`
in the connection's URL (web-socket-api.md, web-socket-streams.md; CHANGELOG 2024-12-17), values as
the header's; another value refuses the handshake with the same -1194 (400). The WebSocket API's
answers are REST's bodies, scaled by REST's rule (in_microseconds; `session.status`'s
`authorizedSince` and `connectedSince`, a 429's `retryAfter`, are times too). An event's time fields
depend on its type ("t" is a kline's open time but a trade's id, "u" an account update's time but a
depth update's id): event_in_microseconds knows each event's (EVENT_TIME_KEYS). The raw change logs
(`changelog@<Topic>`) are the seed's entries, whose `timestamp` stays in milliseconds. fanout.Hub
frames an event once more for the connections that asked for microseconds, once per event whatever
their number; the others' frames are as before.
"""

from __future__ import annotations

import msgspec
from aiohttp import web

from ..binance import errors
from .jsonbody import json_answer

HEADER = "X-MBX-TIME-UNIT"
MICROSECOND = frozenset({"MICROSECOND", "microsecond"})
UNITS = MICROSECOND | {"MILLISECOND", "millisecond"}
#: the time fields of the REST answers (binance/views.py, binance/marketviews.py); "T": aggTrades'
TIME_KEYS = frozenset({"serverTime", "time", "updateTime", "transactTime", "workingTime", "openTime", "closeTime",
                       "transactionTime", "trailingTime", "T",
                       # the WebSocket API's: session.status, a 429's or 418's error data
                       "authorizedSince", "connectedSince", "retryAfter"})
#: a kline row's open time and close time (GET /api/v3/klines, uiKlines)
KLINE_OPEN, KLINE_CLOSE = 0, 6
#: the answers whose `closeTime` ends a window (its last millisecond): ticker/tradingDay's
WINDOW_CLOSE_PATHS = frozenset({"/api/v3/ticker/tradingDay"})
WINDOW_CLOSE_METHODS = frozenset({"ticker.tradingDay"})  # (the WebSocket API's)


def in_microseconds(doc, window_close: bool = False):
    """`doc` (an answer's decoded JSON) with every time field in microseconds; `window_close`: its
    `closeTime`s end windows (their last millisecond's last microsecond)."""
    if type(doc) is dict:
        return {k: v * 1000 + (999 if window_close and k == "closeTime" else 0)
                if k in TIME_KEYS and type(v) is int and v > 0 else in_microseconds(v, window_close)
                for k, v in doc.items()}
    if type(doc) is list:
        if doc and all(type(row) is list and row and type(row[0]) is int for row in doc):  # kline rows
            return [[v * 1000 if i == KLINE_OPEN else v * 1000 + 999 if i == KLINE_CLOSE else v
                     for i, v in enumerate(row)] for row in doc]
        return [in_microseconds(item, window_close) for item in doc]
    return doc


def micro_wanted(unit: str | None) -> bool:
    """Whether a connection's `timeUnit` (None: not sent) asks for microseconds; ApiError -1194 for a
    value that is neither unit."""
    if unit is None:
        return False
    if unit not in UNITS:
        raise errors.invalid_time_unit()
    return unit in MICROSECOND


#: a stream event's time fields besides "E", by its type "e" (web-socket-streams.md,
#: user-data-stream.md); a kline's are in its "k" (its "t" and "T"); any other field is left alone
EVENT_TIME_KEYS = {
    "trade": ("T",), "aggTrade": ("T",), "avgPrice": ("T",),
    "24hrTicker": ("O", "C"), "1hTicker": ("O", "C"), "4hTicker": ("O", "C"), "1dTicker": ("O", "C"),
    "executionReport": ("T", "O", "W", "D"), "listStatus": ("T",), "outboundAccountPosition": ("u",),
    "balanceUpdate": ("T",), "externalLockUpdate": ("T",),
}


def _us(v, end: bool = False):
    """A millisecond time in microseconds (its last one for a window's `end`); -1 and others as they are."""
    return v * 1000 + (999 if end else 0) if type(v) is int and v > 0 else v


def event_in_microseconds(doc):
    """A stream event (or an array stream's list of them) with its time fields in microseconds, a
    kline's close time its last microsecond; other payloads (partial depth, bookTicker, the raw
    change logs) as they are."""
    if type(doc) is list:
        return [event_in_microseconds(item) for item in doc]
    if type(doc) is not dict:
        return doc
    kind = doc.get("e")
    if kind is None:
        return doc
    out = dict(doc)
    for key in ("E", *EVENT_TIME_KEYS.get(kind, ())):
        if key in doc:
            out[key] = _us(doc[key])
    if kind == "kline" and type(doc.get("k")) is dict:
        k = out["k"] = dict(doc["k"])
        k["t"], k["T"] = _us(k.get("t")), _us(k.get("T"), end=True)
    return out


def time_unit_middleware(settle_body):
    """Outside errors_middleware, so it sees every answer as it goes out, an error's too.
    `settle_body(request, response)` deals with a body left unread (plumbing.py)."""

    @web.middleware
    async def time_unit(request: web.Request, handler):
        unit = request.headers.get(HEADER)
        if unit is None or not request.path.startswith("/api/"):
            return await handler(request)
        if unit not in UNITS:
            err = errors.invalid_time_unit()
            resp = json_answer(err.body(), status=err.status)
            await settle_body(request, resp)
            return resp
        resp = await handler(request)
        if unit in MICROSECOND and isinstance(resp, web.Response) and resp.content_type == "application/json" \
                and resp.body:
            resp.body = msgspec.json.encode(in_microseconds(msgspec.json.decode(resp.body),
                                                            request.path in WINDOW_CLOSE_PATHS))
        return resp

    return time_unit
