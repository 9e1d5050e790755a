"""The parameters each REST route (rest.ROUTES) and each WebSocket API method (wsmethods.METHODS and
the connection's own methods) reads: one table, so that no parameter is dropped without a word.
Any other is refused -1104 "Not all sent parameters were read; read '%s' parameter(s) but was sent
'%s'." (errors.md UNREAD_PARAMETERS; binance/params.check_all_read), counted as Binance counts:
every parameter sent (`signature`, and on the WebSocket API `apiKey`, included) and of those the
ones the endpoint reads. Binance answers so on public endpoints too (a `depth` sent `depth=` for
`limit`: "read '1' parameter(s) but was sent '2'").

Where the check runs, so that a refused request has done nothing: after the request weight (the
rate limits' middleware, or the WebSocket API's charge) and after the signature, before the
operation; an order's count against ORDERS comes first and goes back when it is refused (as for
any refused order: ratelimit.orders_placed), cancelReplace's comes after (its `count`). And before
the operation reads a single parameter: a misspelt mandatory one is -1104, not -1102 (Binance
answers a LIMIT order sent `timeInforce` so).

A route's set is Binance's list for the endpoint (rest-api.md), which is what the node reads, with
the node's own where it has them: the seed's POST /api/spot/v2/ reads POST /api/v3/order's names
(its JSON fields, SEED_FIELDS, become those; one not among them is -1103 there), the admin
endpoints their JSON fields (any other -1103, as ever), /ws-api/v3's handshake `returnRateLimits` and `timeUnit`.
A new route without a set fails tests/api/test_known_params.py.
"""

from __future__ import annotations

from ..binance.orderlists import LEGACY_PARAMS, OCO_PARAMS, OTO_PARAMS, OTOCO_PARAMS
from ..binance.orderops import AMEND_MANDATORY, AMEND_PARAMS, REPLACE_PARAMS, TEST_ORDER_PARAMS
from ..binance.orderparams import NEW_ORDER_MANDATORY, NEW_ORDER_PARAMS
from ..binance.params import SIGNED_PARAMS


_SIGNING = ("timestamp", "signature")  # (a signed request's mandatory ones; recvWindow is not)


def _signed(*names: str) -> frozenset[str]:
    return frozenset(names) | SIGNED_PARAMS


_TICKER = ("symbol", "symbols", "symbolStatus")
_KLINES = frozenset({"symbol", "interval", "startTime", "endTime", "timeZone", "limit"})

#: (method, path) -> the parameters the route reads, from the query string and a form body (the seed's
#: and the admin endpoints': their JSON body's fields)
ROUTE_PARAMS: dict[tuple[str, str], frozenset[str]] = {
    # public market data
    ("GET", "/api/v3/ping"): frozenset(),
    ("GET", "/api/v3/time"): frozenset(),
    ("GET", "/api/v3/exchangeInfo"): frozenset({"symbol", "symbols", "permissions", "showPermissionSets",
                                                "symbolStatus"}),
    ("GET", "/api/v3/depth"): frozenset({"symbol", "limit", "symbolStatus"}),
    ("GET", "/api/v3/trades"): frozenset({"symbol", "limit"}),
    ("GET", "/api/v3/historicalTrades"): frozenset({"symbol", "limit", "fromId"}),
    ("GET", "/api/v3/aggTrades"): frozenset({"symbol", "fromId", "startTime", "endTime", "limit"}),
    ("GET", "/api/v3/klines"): _KLINES,
    ("GET", "/api/v3/uiKlines"): _KLINES,
    ("GET", "/api/v3/ticker/24hr"): frozenset({*_TICKER, "type"}),
    ("GET", "/api/v3/ticker"): frozenset({*_TICKER, "windowSize", "type"}),
    ("GET", "/api/v3/ticker/tradingDay"): frozenset({*_TICKER, "timeZone", "type"}),
    ("GET", "/api/v3/ticker/price"): frozenset(_TICKER),
    ("GET", "/api/v3/ticker/bookTicker"): frozenset(_TICKER),
    ("GET", "/api/v3/avgPrice"): frozenset({"symbol"}),
    # orders
    ("POST", "/api/v3/order"): NEW_ORDER_PARAMS,
    ("GET", "/api/v3/order"): _signed("symbol", "orderId", "origClientOrderId"),
    ("DELETE", "/api/v3/order"): _signed("symbol", "orderId", "origClientOrderId", "newClientOrderId",
                                         "cancelRestrictions"),
    ("POST", "/api/v3/order/test"): TEST_ORDER_PARAMS,
    ("POST", "/api/v3/order/cancelReplace"): REPLACE_PARAMS,
    ("PUT", "/api/v3/order/amend/keepPriority"): AMEND_PARAMS,
    ("GET", "/api/v3/openOrders"): _signed("symbol"),
    ("DELETE", "/api/v3/openOrders"): _signed("symbol"),
    ("GET", "/api/v3/allOrders"): _signed("symbol", "orderId", "startTime", "endTime", "limit"),
    # order lists
    ("POST", "/api/v3/orderList/oco"): OCO_PARAMS,
    ("POST", "/api/v3/order/oco"): LEGACY_PARAMS,
    ("POST", "/api/v3/orderList/oto"): OTO_PARAMS,
    ("POST", "/api/v3/orderList/otoco"): OTOCO_PARAMS,
    ("GET", "/api/v3/orderList"): _signed("orderListId", "origClientOrderId"),
    ("DELETE", "/api/v3/orderList"): _signed("symbol", "orderListId", "listClientOrderId", "newClientOrderId"),
    ("GET", "/api/v3/allOrderList"): _signed("fromId", "startTime", "endTime", "limit"),
    ("GET", "/api/v3/openOrderList"): _signed(),
    # the account
    ("GET", "/api/v3/myTrades"): _signed("symbol", "orderId", "startTime", "endTime", "fromId", "limit"),
    ("GET", "/api/v3/myPreventedMatches"): _signed("symbol", "preventedMatchId", "orderId", "fromPreventedMatchId",
                                                   "limit"),
    ("GET", "/api/v3/account"): _signed("omitZeroBalances"),
    ("GET", "/api/v3/account/commission"): _signed("symbol"),
    ("GET", "/api/v3/myFilters"): _signed("symbol"),
    ("GET", "/api/v3/rateLimit/order"): _signed(),
    # listen keys (API key header, no signature)
    ("POST", "/api/v3/userDataStream"): frozenset(),
    ("PUT", "/api/v3/userDataStream"): frozenset({"listenKey"}),
    ("DELETE", "/api/v3/userDataStream"): frozenset({"listenKey"}),
    # the node's own
    ("POST", "/api/spot/v2/"): NEW_ORDER_PARAMS,  # the query string's and the JSON fields' (as v3 names)
    ("POST", "/admin/v1/accounts"): frozenset({"publicKey"}),
    ("POST", "/admin/v1/deposit"): frozenset({"accountId", "asset", "amount"}),
    ("POST", "/admin/v1/withdraw"): frozenset({"accountId", "asset", "amount"}),
    ("GET", "/metrics"): frozenset(),
    ("GET", "/openapi.json"): frozenset(),
    ("GET", "/ws-api/v3"): frozenset({"returnRateLimits", "timeUnit"}),  # the handshake's query (the methods': below)
}

#: (method, path) -> those of the route's parameters it cannot do without (Binance's "Mandatory: YES",
#: rest-api.md; the OpenAPI document's `required`, tests/api/test_known_params.py). One sent empty is
#: the operation's -1102 "Mandatory parameter '%s' was not sent, was empty/null, or malformed."; any
#: other sent empty is -1105 (binance/params.check_none_empty), never taken as not sent.
ROUTE_MANDATORY: dict[tuple[str, str], frozenset[str]] = {route: frozenset(names) for route, names in {
    ("GET", "/api/v3/depth"): ("symbol",),
    ("GET", "/api/v3/trades"): ("symbol",),
    ("GET", "/api/v3/historicalTrades"): ("symbol",),
    ("GET", "/api/v3/aggTrades"): ("symbol",),
    ("GET", "/api/v3/klines"): ("symbol", "interval"),
    ("GET", "/api/v3/uiKlines"): ("symbol", "interval"),
    ("GET", "/api/v3/avgPrice"): ("symbol",),
    ("POST", "/api/v3/order"): NEW_ORDER_MANDATORY,
    ("GET", "/api/v3/order"): ("symbol", *_SIGNING),
    ("DELETE", "/api/v3/order"): ("symbol", *_SIGNING),
    ("POST", "/api/v3/order/test"): NEW_ORDER_MANDATORY,
    ("POST", "/api/v3/order/cancelReplace"): (*NEW_ORDER_MANDATORY, "cancelReplaceMode"),
    ("PUT", "/api/v3/order/amend/keepPriority"): AMEND_MANDATORY,
    ("GET", "/api/v3/openOrders"): _SIGNING,
    ("DELETE", "/api/v3/openOrders"): ("symbol", *_SIGNING),
    ("GET", "/api/v3/allOrders"): ("symbol", *_SIGNING),
    ("POST", "/api/v3/orderList/oco"): ("symbol", "side", "quantity", "aboveType", "belowType", *_SIGNING),
    ("POST", "/api/v3/order/oco"): ("symbol", "side", "quantity", "price", "stopPrice", *_SIGNING),
    ("POST", "/api/v3/orderList/oto"): ("symbol", "workingType", "workingSide", "workingPrice", "workingQuantity",
                                        "pendingType", "pendingSide", "pendingQuantity", *_SIGNING),
    ("POST", "/api/v3/orderList/otoco"): ("symbol", "workingType", "workingSide", "workingPrice",
                                          "workingQuantity", "pendingSide", "pendingQuantity",
                                          "pendingAboveType", *_SIGNING),
    ("GET", "/api/v3/orderList"): _SIGNING,
    ("DELETE", "/api/v3/orderList"): ("symbol", *_SIGNING),
    ("GET", "/api/v3/allOrderList"): _SIGNING,
    ("GET", "/api/v3/openOrderList"): _SIGNING,
    ("GET", "/api/v3/myTrades"): ("symbol", *_SIGNING),
    ("GET", "/api/v3/myPreventedMatches"): ("symbol", *_SIGNING),
    ("GET", "/api/v3/account"): _SIGNING,
    ("GET", "/api/v3/account/commission"): ("symbol", *_SIGNING),
    ("GET", "/api/v3/myFilters"): ("symbol", *_SIGNING),
    ("GET", "/api/v3/rateLimit/order"): _SIGNING,
    ("PUT", "/api/v3/userDataStream"): ("listenKey",),
    ("DELETE", "/api/v3/userDataStream"): ("listenKey",),
    # (its JSON body's required fields, SeedOrder's; the others have defaults: rest.seed_order)
    ("POST", "/api/spot/v2/"): ("symbol", "side", *_SIGNING),
}.items()}

#: what every WebSocket API request may carry beside its method's own parameters (a signed one its
#: `signature` too): the envelope's business (wsmethods.ENVELOPE_PARAMS). Binance reads `apiKey`
#: even where it does nothing ("no longer necessary and is now ignored": trades.historical).
WS_ENVELOPE = frozenset({"apiKey", "returnRateLimits"})

#: the WebSocket API connection's own methods (wsapi.Connection.session_method; Push's /ws-api/v3
#: serves the user data ones too: wsproto.py) -> their parameters; a method that runs a REST
#: operation reads its REST route's (wsmethods.PARAMS)
WS_OWN_PARAMS: dict[str, frozenset[str]] = {name: names | WS_ENVELOPE for name, names in {
    "session.logon": frozenset({"apiKey", "signature", "timestamp", "recvWindow"}),
    "session.status": frozenset(),
    "session.logout": frozenset(),
    "session.subscriptions": frozenset(),
    "userDataStream.subscribe": frozenset(),
    "userDataStream.subscribe.signature": frozenset({"apiKey", "signature", "timestamp", "recvWindow"}),
    "userDataStream.unsubscribe": frozenset({"subscriptionId"}),
}.items()}


#: the mandatory ones of WS_OWN_PARAMS (web-socket-api.md)
WS_OWN_MANDATORY: dict[str, frozenset[str]] = {name: frozenset() for name in WS_OWN_PARAMS} | {
    name: frozenset({"apiKey", *_SIGNING}) for name in ("session.logon", "userDataStream.subscribe.signature")}


def ws_route_params(route: tuple[str, str]) -> frozenset[str]:
    """The parameters of a WebSocket API method that runs REST `route`'s operation."""
    return ROUTE_PARAMS[route] | WS_ENVELOPE


def route_mandatory(route: tuple[str, str]) -> frozenset[str]:
    """ROUTE_MANDATORY's set of `route` (none for most public routes); a WebSocket API method that
    runs the route's operation has the same."""
    return ROUTE_MANDATORY.get(route, frozenset())
