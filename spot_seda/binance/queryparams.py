"""The queries' parameters: the depth's limits, kline intervals and time zones, the time windows of
the history queries (aggTrades, myTrades), the tickers' type and exchangeInfo's filters, in Binance's
combinations; the primitives are params.py's.

Every bad input becomes an ApiError with Binance's code and text: -1128 for a combination Binance
refuses, -1127 for a window wider than the endpoint allows, -1120 for an unknown interval, -1122 for
an unknown symbolStatus (-1220 for a symbol not in the one asked).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import msgspec

from ..engine.kline import INTERVALS
from ..model.symbols import SymbolRules
from . import errors
from .params import (MICROS_FROM, micros, parse_bool, parse_int, parse_limit, parse_symbols_filter,
                     required_param, text_param, was_sent)

def parse_depth_limit(params: Mapping[str, str]) -> int:
    """GET /api/v3/depth: default 100, any of 1-5000, a larger one taken as 5000 (rest-api.md: "If
    limit > 5000, only 5000 entries will be returned"); 0: -1130."""
    return parse_limit(params, "limit", default=100, maximum=5000)


def parse_interval(params: Mapping[str, str], name: str = "interval") -> str:
    """A kline interval (1s 1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d 1w 1M): -1102 missing, -1120 other."""
    value = required_param(params, name)
    if value not in INTERVALS:
        raise errors.invalid_interval()
    return value


def parse_time_range(params: Mapping[str, str]) -> tuple[int | None, int | None]:
    """startTime and endTime in ms, each sent in ms or µs (params.MICROS_FROM; µs rounded inward: the
    node's times are whole ms); -1128 when startTime is after endTime."""
    start, end = parse_int(params, "startTime"), parse_int(params, "endTime")
    if start is not None and end is not None and micros(start) > micros(end):
        raise errors.bad_combination()
    if start is not None and start >= MICROS_FROM:
        start = -(-start // 1000)
    if end is not None and end >= MICROS_FROM:
        end //= 1000
    return start, end



HOUR_MS = 3_600_000


def parse_agg_trades_window(params: Mapping[str, str]) -> tuple[int | None, int | None, int | None]:
    """GET /api/v3/aggTrades: (fromId, startTime, endTime). fromId pages forward by aggregate id and
    goes with neither time (-1128); startTime and endTime, alone or together, any span apart
    (CHANGELOG 2022-12-05: "the 1 hour limit has been removed"); `limit` bounds the answer."""
    from_id = parse_int(params, "fromId")
    start, end = parse_time_range(params)
    if from_id is not None and (start is not None or end is not None):
        raise errors.bad_combination()
    return from_id, start, end


def parse_my_trades_window(params: Mapping[str, str]) -> tuple[int | None, int | None, int | None, int | None]:
    """GET /api/v3/myTrades: (orderId, fromId, startTime, endTime) in Binance's combinations: symbol
    alone, + orderId, + fromId, + orderId + fromId, + startTime and/or endTime (at most 24 hours
    apart, -1127); a time with orderId or fromId is -1128."""
    order_id, from_id = parse_int(params, "orderId"), parse_int(params, "fromId")
    start, end = parse_day_window(params)
    if (order_id is not None or from_id is not None) and (start is not None or end is not None):
        raise errors.bad_combination()
    return order_id, from_id, start, end


def parse_day_window(params: Mapping[str, str]) -> tuple[int | None, int | None]:
    """startTime and endTime of myTrades and allOrders: at most 24 hours apart (-1127)."""
    start, end = parse_time_range(params)
    if start is not None and end is not None and end - start > 24 * HOUR_MS:
        raise errors.interval_too_big(24)
    return start, end



def parse_time_zone(params: Mapping[str, str]) -> int:
    """klines' `timeZone`, as ms ahead of UTC (0 without one): hours (`8`, `-1`) or hours and minutes
    (`05:45`, `-1:00`, `+08:00`), within [-12:00, +14:00]; anything else -1130."""
    value = params.get("timeZone")
    if value is None:
        return 0
    sign, text = (-1, value[1:]) if value[:1] == "-" else (1, value[1:] if value[:1] == "+" else value)
    hours, colon, minutes = text.partition(":")
    if not text.isascii() or not (hours.isdigit() and len(hours) <= 2 and (not colon or (minutes.isdigit() and len(minutes) == 2))):
        raise errors.invalid_parameter("timeZone")
    offset = sign * (int(hours) * 60 + (int(minutes) if colon else 0))
    if not -12 * 60 <= offset <= 14 * 60 or (colon and int(minutes) >= 60):
        raise errors.invalid_parameter("timeZone")
    return offset * 60_000


TICKER_TYPES = ("FULL", "MINI")


_WINDOW_UNITS = {"m": (59, 60_000), "h": (23, 3_600_000), "d": (7, 86_400_000)}


def parse_window_size(params: Mapping[str, str]) -> int:
    """GET /api/v3/ticker's `windowSize` in ms: 1m-59m, 1h-23h or 1d-7d, one unit (default 1d); -1100
    otherwise."""
    value = text_param(params, "windowSize")
    if not value:
        return 86_400_000
    count, unit = value[:-1], _WINDOW_UNITS.get(value[-1:])
    if unit is None or not (count.isascii() and count.isdigit()) or not 1 <= int(count) <= unit[0] \
            or count.startswith("0"):
        raise errors.illegal_chars("windowSize", "1m-59m, 1h-23h, 1d-7d")
    return int(count) * unit[1]


def parse_symbol_or_symbols(params: Mapping[str, str], rules: Mapping[str, SymbolRules],
                            most: int = 100) -> tuple[list[str], bool]:
    """parse_symbols_filter with one of `symbol` (one object in the answer: True) and `symbols` (an
    array; at most `most`) mandatory (-1102)."""
    if not was_sent(params, "symbol") and "symbols" not in params:
        raise errors.either_missing("symbol", "symbols")
    return parse_symbols_filter(params, rules, most), was_sent(params, "symbol")


def parse_ticker_type(params: Mapping[str, str]) -> str:
    """The tickers' `type`: FULL (the default) or MINI; anything else -1139 "Invalid ticker type."
    (errors.md, INVALID_TICKER_TYPE)."""
    value = text_param(params, "type")
    if not value:
        return "FULL"
    if value not in TICKER_TYPES:
        raise errors.invalid_ticker_type()
    return value


SYMBOL_STATUSES = ("TRADING", "HALT", "BREAK")
_PERMISSION = re.compile(r"SPOT|MARGIN|LEVERAGED|TRD_GRP_\d{3}")


def parse_symbol_status(params: Mapping[str, str]) -> bool:
    """`symbolStatus` (TRADING, HALT or BREAK; -1122 "Invalid symbolStatus." otherwise, errors.md):
    whether the node's symbols, all TRADING, are in it (true when it is not sent)."""
    status = text_param(params, "symbolStatus")
    if not status:
        return True
    if status not in SYMBOL_STATUSES:
        raise errors.invalid_symbol_status()
    return status == "TRADING"


def symbols_of_status(params: Mapping[str, str], symbols: list[str], single: bool) -> list[str]:
    """depth's and the tickers' `symbolStatus` (CHANGELOG 2025-10-28): the symbols asked for that are
    in it; the one symbol asked for (`single`) not in it: -1220 (several: those in it, maybe none)."""
    if parse_symbol_status(params):
        return symbols
    if single:
        raise errors.symbol_status_mismatch()
    return []


def parse_exchange_info_filter(params: Mapping[str, str]) -> tuple[bool, bool]:
    """exchangeInfo's `permissions` (one name or a JSON array of them), `symbolStatus`
    (parse_symbol_status), neither with `symbol` / `symbols` (-1128), and `showPermissionSets` (default true).
    Returns (whether the node's symbols, all SPOT and TRADING, pass the filter, showPermissionSets)."""
    permissions, status = text_param(params, "permissions"), text_param(params, "symbolStatus")
    show = parse_bool(params, "showPermissionSets", default=True)
    if (permissions or status) and (was_sent(params, "symbol") or was_sent(params, "symbols")):
        raise errors.bad_combination()
    passes = True
    if permissions:
        names: list[str] | None = [permissions] if not permissions.startswith("[") else None
        if names is None:
            try:
                names = msgspec.json.decode(permissions, type=list[str])
            except (msgspec.DecodeError, msgspec.ValidationError):
                names = []
        if not names or not all(_PERMISSION.fullmatch(n) for n in names):
            raise errors.illegal_chars("permissions")
        passes = "SPOT" in names
    in_status = parse_symbol_status(params)
    return passes and in_status, show
