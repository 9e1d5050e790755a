"""`X-MBX-TIME-UNIT` (rest-api.md, General API Information): "All time and timestamp related fields
in the JSON responses are in milliseconds by default. To receive the information in microseconds,
please add the header `X-MBX-TIME-UNIT:MICROSECOND` or `X-MBX-TIME-UNIT:microsecond`."

The node keeps milliseconds, so a microsecond answer is the same instant times 1,000: each time
field of a successful /api/ answer (TIME_KEYS, and a kline's open and close times, a kline row's
items 0 and 6) is scaled when it is positive (-1, "not yet", as `workingTime` of an order not working,
stays -1). MILLISECOND (or `millisecond`) is the default said out loud; any other value is -1194
"Invalid value for time unit; expected either MICROSECOND or MILLISECOND." (errors.md), before the
request does anything. Error answers carry no times. Only requests that send the header pay for
it (their answer is decoded, scaled and encoded again).
"""

from __future__ import annotations

import msgspec
from aiohttp import web

from ..binance import errors

HEADER = "X-MBX-TIME-UNIT"
MICROSECOND = frozenset({"MICROSECOND", "microsecond"})
UNITS = MICROSECOND | {"MILLISECOND", "millisecond"}
#: the time fields of the REST answers (binance/views.py, binance/marketviews.py); "T": aggTrades'
TIME_KEYS = frozenset({"serverTime", "time", "updateTime", "transactTime", "workingTime", "openTime", "closeTime",
                       "transactionTime", "trailingTime", "T"})
#: a kline row's open time and close time (GET /api/v3/klines, uiKlines)
KLINE_TIMES = (0, 6)


def in_microseconds(doc):
    """`doc` (an answer's decoded JSON) with every time field in microseconds."""
    if type(doc) is dict:
        return {k: v * 1000 if k in TIME_KEYS and type(v) is int and v > 0 else in_microseconds(v)
                for k, v in doc.items()}
    if type(doc) is list:
        if doc and all(type(row) is list and row and type(row[0]) is int for row in doc):  # kline rows
            return [[v * 1000 if i in KLINE_TIMES and type(v) is int and v > 0 else v for i, v in enumerate(row)]
                    for row in doc]
        return [in_microseconds(item) for item in doc]
    return doc


@web.middleware
async def time_unit_middleware(request: web.Request, handler):
    unit = request.headers.get(HEADER)
    if unit is None or not request.path.startswith("/api/"):
        return await handler(request)
    if unit not in UNITS:
        raise errors.invalid_time_unit()
    resp = await handler(request)
    if unit in MICROSECOND and resp.status == 200 and isinstance(resp, web.Response) and \
            resp.content_type == "application/json" and resp.body:
        resp.body = msgspec.json.encode(in_microseconds(msgspec.json.decode(resp.body)))
    return resp
