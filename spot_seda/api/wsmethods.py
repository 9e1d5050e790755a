"""The method table of the WebSocket API (wsapi.py): each Binance method name -> the operation REST
calls for it (market.py, trading.py, orderops.py, orderlists.py), the REST route whose weight it
costs, whether it is signed and how many orders it counts; and the JSON params turned into the
text params those operations read.

Order lists (`orderList.place.oco`, `.oto`, `.otoco`, the deprecated `orderList.place`,
`orderList.status`, `orderList.cancel`, `openOrderLists.status`, `allOrderLists`) run REST's
operations (orderlists.py); the session.* and userDataStream.* methods are the connection's own
(wsapi.py).

Not served here: SBE and other methods: -1020.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import NamedTuple

import msgspec
from aiohttp import web

from ..binance.params import json_text
from . import market, orderlists, orderops, trading
from .knownparams import WS_OWN_MANDATORY, WS_OWN_PARAMS, route_mandatory, ws_route_params

#: params that are the envelope's business, never the operation's
ENVELOPE_PARAMS = frozenset({"apiKey", "signature", "returnRateLimits"})
#: params web-socket-api.md types "ARRAY of STRING" (exchangeInfo's permissions also takes one name)
ARRAY_PARAMS = frozenset({"symbols", "permissions"})

_encode = msgspec.json.Encoder().encode

Public = Callable[[web.Application, dict], Awaitable[object]]
Private = Callable[[web.Application, int, dict, float], Awaitable[object]]


class Method(NamedTuple):
    """A method served by a REST operation: its REST route (for the weight) and kind."""

    operation: Public | Private
    route: tuple[str, str]
    signed: bool = False
    orders: int = 0  # how many orders it counts against the ORDERS limits; one that counts is shed first
    #: its count stays even when the request is refused (cancelReplace's new order counts "attempted
    #: or not", rest-api.md); other orders' counts go back when refused (ratelimit.py). The operation
    #: counts it itself, through the `count` it is handed, once its parameters are good, as REST's
    #: does: so cancelReplace's orderRateLimitExceededMode=CANCEL_ONLY still cancels past a limit
    count_stands: bool = False


METHODS: dict[str, Method] = {
    "ping": Method(market.ping, ("GET", "/api/v3/ping")),
    "time": Method(market.server_time, ("GET", "/api/v3/time")),
    "exchangeInfo": Method(market.ws_exchange_info, ("GET", "/api/v3/exchangeInfo")),
    "depth": Method(market.depth, ("GET", "/api/v3/depth")),
    "trades.recent": Method(market.recent_trades, ("GET", "/api/v3/trades")),
    "trades.historical": Method(market.historical_trades, ("GET", "/api/v3/historicalTrades")),
    "trades.aggregate": Method(market.agg_trades, ("GET", "/api/v3/aggTrades")),
    "klines": Method(market.klines, ("GET", "/api/v3/klines")),
    "uiKlines": Method(market.klines, ("GET", "/api/v3/uiKlines")),
    "avgPrice": Method(market.avg_price, ("GET", "/api/v3/avgPrice")),
    "ticker.24hr": Method(market.ticker_24hr, ("GET", "/api/v3/ticker/24hr")),
    "ticker": Method(market.rolling_ticker, ("GET", "/api/v3/ticker")),
    "ticker.tradingDay": Method(market.trading_day_ticker, ("GET", "/api/v3/ticker/tradingDay")),
    "ticker.price": Method(market.ticker_price, ("GET", "/api/v3/ticker/price")),
    "ticker.book": Method(market.book_ticker, ("GET", "/api/v3/ticker/bookTicker")),
    "order.place": Method(trading.place_order, ("POST", "/api/v3/order"), signed=True, orders=1),
    "order.status": Method(trading.query_order, ("GET", "/api/v3/order"), signed=True),
    "order.cancel": Method(trading.cancel_order, ("DELETE", "/api/v3/order"), signed=True),
    "openOrders.status": Method(trading.open_orders, ("GET", "/api/v3/openOrders"), signed=True),
    "openOrders.cancelAll": Method(trading.cancel_open_orders, ("DELETE", "/api/v3/openOrders"), signed=True),
    "allOrders": Method(trading.all_orders, ("GET", "/api/v3/allOrders"), signed=True),
    "myTrades": Method(trading.my_trades, ("GET", "/api/v3/myTrades"), signed=True),
    "myPreventedMatches": Method(trading.my_prevented_matches, ("GET", "/api/v3/myPreventedMatches"), signed=True),
    "account.status": Method(trading.account_info, ("GET", "/api/v3/account"), signed=True),
    "account.commission": Method(trading.account_commission, ("GET", "/api/v3/account/commission"), signed=True),
    "myFilters": Method(trading.my_filters, ("GET", "/api/v3/myFilters"), signed=True),
    "account.rateLimits.orders": Method(trading.order_rate_limits, ("GET", "/api/v3/rateLimit/order"), signed=True),
    "order.test": Method(orderops.test_order, ("POST", "/api/v3/order/test"), signed=True),
    "order.cancelReplace": Method(orderops.cancel_replace, ("POST", "/api/v3/order/cancelReplace"), signed=True,
                                  orders=1, count_stands=True),
    "order.amend.keepPriority": Method(orderops.amend_keep_priority, ("PUT", "/api/v3/order/amend/keepPriority"),
                                       signed=True),
    "orderList.place.oco": Method(orderlists.new_oco, ("POST", "/api/v3/orderList/oco"), signed=True,
                                  orders=orderlists.ORDERS_COUNTED["OCO"]),
    "orderList.place": Method(orderlists.new_legacy_oco, ("POST", "/api/v3/order/oco"), signed=True,
                              orders=orderlists.ORDERS_COUNTED["legacy"]),
    "orderList.place.oto": Method(orderlists.new_oto, ("POST", "/api/v3/orderList/oto"), signed=True,
                                  orders=orderlists.ORDERS_COUNTED["OTO"]),
    "orderList.place.otoco": Method(orderlists.new_otoco, ("POST", "/api/v3/orderList/otoco"), signed=True,
                                    orders=orderlists.ORDERS_COUNTED["OTOCO"]),
    "orderList.status": Method(orderlists.query_order_list, ("GET", "/api/v3/orderList"), signed=True),
    "orderList.cancel": Method(orderlists.cancel_order_list, ("DELETE", "/api/v3/orderList"), signed=True),
    "openOrderLists.status": Method(orderlists.open_order_lists, ("GET", "/api/v3/openOrderList"), signed=True),
    "allOrderLists": Method(orderlists.ws_all_order_lists, ("GET", "/api/v3/allOrderList"), signed=True),
}

#: every method -> the params it reads (its REST route's and the envelope's; the connection's own
#: methods': knownparams.WS_OWN_PARAMS); any other is -1104 (wsapi.Connection.serve)
PARAMS: dict[str, frozenset[str]] = {name: ws_route_params(m.route) for name, m in METHODS.items()} | WS_OWN_PARAMS
#: every method -> those of its PARAMS it cannot do without (its REST route's); any other sent empty is
#: -1105 (binance/params.check_none_empty)
MANDATORY: dict[str, frozenset[str]] = \
    {name: route_mandatory(m.route) for name, m in METHODS.items()} | WS_OWN_MANDATORY


def text_params(params: dict) -> dict[str, str]:
    """The operation's parameters (name -> text, as REST's query string gives them) from JSON ones:
    numbers as written, booleans `true`/`false`, a `symbols` or `permissions` array of strings as
    REST's `["A","B"]`; an object or another array is -1100 (a null never comes: params.without_nulls).
    The envelope's params (apiKey, signature, returnRateLimits) go."""
    out = {}
    for name, value in params.items():
        if name in ENVELOPE_PARAMS:
            continue
        kind = type(value)
        if kind is str:
            out[name] = value
        elif kind is list and name in ARRAY_PARAMS and all(type(v) is str for v in value):
            out[name] = _encode(value).decode()
        else:
            out[name] = json_text(name, value)
    return out

