"""`X-MBX-TIME-UNIT` (rest-api.md, General API Information): "All time and timestamp related fields
in the JSON responses are in milliseconds by default. To receive the information in microseconds,
please add the header `X-MBX-TIME-UNIT:MICROSECOND` or `X-MBX-TIME-UNIT:microsecond`."

The node keeps milliseconds, so a microsecond answer is the same instant times 1,000: each time
field of an /api/ answer (TIME_KEYS, and a kline row's open and close times, its items 0 and 6) is
scaled when it is positive (-1, "not yet", as `workingTime` of an order not working, stays -1). The
end of a window (a kline's close time, a trading day's `closeTime`), its last millisecond, becomes
that millisecond's last microsecond (times 1,000, plus 999), as the window's end is in microseconds.
An error answer's times too: cancelReplace's -2021 carries the half that succeeded. MILLISECOND (or
`millisecond`) is the default said out loud; any other value is -1194 "Invalid value for time unit;
expected either MICROSECOND or MILLISECOND." (errors.md), before the request does anything. Only
requests that send the header pay for it (their answer is decoded, scaled and encoded again).
"""

from __future__ import annotations

import msgspec
from aiohttp import web

from ..binance import errors
from ..binance.errors import ApiError
from .jsonbody import json_answer

HEADER = "X-MBX-TIME-UNIT"
MICROSECOND = frozenset({"MICROSECOND", "microsecond"})
UNITS = MICROSECOND | {"MILLISECOND", "millisecond"}
#: the time fields of the REST answers (binance/views.py, binance/marketviews.py); "T": aggTrades'
TIME_KEYS = frozenset({"serverTime", "time", "updateTime", "transactTime", "workingTime", "openTime", "closeTime",
                       "transactionTime", "trailingTime", "T"})
#: a kline row's open time and close time (GET /api/v3/klines, uiKlines)
KLINE_OPEN, KLINE_CLOSE = 0, 6
#: the answers whose `closeTime` ends a window (its last millisecond): ticker/tradingDay's
WINDOW_CLOSE_PATHS = frozenset({"/api/v3/ticker/tradingDay"})


def _us(ms: int) -> int:
    return ms * 1000


def _us_end(ms: int) -> int:
    """A window's last millisecond as its last microsecond."""
    return ms * 1000 + 999


def in_microseconds(doc, window_close: bool = False):
    """`doc` (an answer's decoded JSON) with every time field in microseconds; `window_close`: its
    `closeTime`s end windows (_us_end)."""
    if type(doc) is dict:
        return {k: (_us_end(v) if window_close and k == "closeTime" else _us(v))
                if k in TIME_KEYS and type(v) is int and v > 0 else in_microseconds(v, window_close)
                for k, v in doc.items()}
    if type(doc) is list:
        if doc and all(type(row) is list and row and type(row[0]) is int for row in doc):  # kline rows
            return [[_us(v) if i == KLINE_OPEN else _us_end(v) if i == KLINE_CLOSE else v
                     for i, v in enumerate(row)] for row in doc]
        return [in_microseconds(item, window_close) for item in doc]
    return doc


@web.middleware
async def time_unit_middleware(request: web.Request, handler):
    unit = request.headers.get(HEADER)
    if unit is None or not request.path.startswith("/api/"):
        return await handler(request)
    if unit not in UNITS:
        raise errors.invalid_time_unit()
    try:
        resp = await handler(request)
    except ApiError as exc:  # (its data: cancelReplace's -2021 holds the half that succeeded)
        if unit not in MICROSECOND or exc.data is None:
            raise
        resp = json_answer(exc.body(), status=exc.status)
    if unit in MICROSECOND and isinstance(resp, web.Response) and resp.content_type == "application/json" \
            and resp.body:
        resp.body = msgspec.json.encode(in_microseconds(msgspec.json.decode(resp.body),
                                                        request.path in WINDOW_CLOSE_PATHS))
    return resp
