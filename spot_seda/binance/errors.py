"""Binance-style API errors: `{"code": -1xxx, "msg": "..."}` with a 4xx status (DESIGN.md invariant 8).

Codes and message texts are Binance's own (binance-spot-api-docs, errors.md): clients match on both,
so every text here is copied character for character, `%s` filled with the parameter name.

HTTP status (Binance: 4XX for a malformed request or a rejected action, 5XX for its own failures):
- 400 for every request problem (-11xx, -1013, -1021, -1022, -20xx except the two below);
- 401 for -2014 / -2015 (missing, malformed or unknown API key; bad admin token): what Binance answers;
- 403 for an endpoint switched off by configuration (admin endpoints without a token);
- 404 for an unknown path (-1000 with the path in the text: Binance has no code for it);
- 429 for -1003 and -1015 as a rate limit (Binance: request weight, orders; api/ratelimit.py), 418
  for -1003 to a banned IP; 503 for -1003 as engine backlog (the node's admission
  control, issue 4: "HTTP 503 with a -1003-style error") and for -1007/-1008 (execution status unknown
  or the server is busy);
- 500 for -1000 unknown errors (a bug, never a bad input).

A success body never has a "code" key; only `ApiError.body()` produces one.
"""

from __future__ import annotations

from ..model.reasons import Reason

DECIMAL_RANGE = r"^([0-9]{1,20})(\.[0-9]{1,20})?$"
INT_RANGE = r"^[0-9]{1,20}$"
SYMBOL_RANGE = r"^[A-Z0-9-_.]{1,20}$"
SYMBOLS_RANGE = r'^\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}"){0,}){0,1}\]$'
CLIENT_ORDER_ID_RANGE = r"^[a-zA-Z0-9-_]{1,36}$"

_DEFAULT_STATUS = {
    -1000: 500, -1001: 500, -1003: 429, -1006: 503, -1007: 503, -1008: 503,
    -2014: 401, -2015: 401,
}


class ApiError(Exception):
    """An error answer: Binance `code` and `msg`, the HTTP `status` to send it with, and for the few
    errors that carry more (a cancel-replace's two halves) its `data`."""

    __slots__ = ("code", "msg", "status", "data")

    def __init__(self, code: int, msg: str, status: int | None = None, data: dict | None = None) -> None:
        super().__init__(code, msg)
        self.code = code
        self.msg = msg
        self.status = status if status is not None else _DEFAULT_STATUS.get(code, 400)
        self.data = data

    def body(self) -> dict:
        return {"code": self.code, "msg": self.msg} if self.data is None else \
            {"code": self.code, "msg": self.msg, "data": self.data}

    def __str__(self) -> str:
        return f"{self.code} {self.msg} (HTTP {self.status})"

    def __repr__(self) -> str:
        return f"ApiError({self.code}, {self.msg!r}, status={self.status})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ApiError) and (self.code, self.msg, self.status) == (other.code, other.msg, other.status)

    __hash__ = Exception.__hash__


# ------------------------------------------------------------------ 10xx: server and network


def unknown(msg: str = "An unknown error occurred while processing the request.") -> ApiError:
    """-1000: a bug on our side (HTTP 500)."""
    return ApiError(-1000, msg, 500)


def not_found(path: str) -> ApiError:
    """An unknown path (HTTP 404; Binance answers -1000 style for it too, it has no dedicated code)."""
    return ApiError(-1000, f"Unknown path {path}.", 404)


def method_not_allowed(method: str, path: str) -> ApiError:
    return ApiError(-1000, f"Method {method} not allowed on {path}.", 405)


def malformed_http(status: int, reason: str) -> ApiError:
    """A request the HTTP parser refused before any handler (a bad method or header, an over-long
    line, an unsupported Content-Encoding): the parser's status and reason, Binance's shape."""
    return ApiError(-1000, f"Malformed HTTP request: {reason}", status)


def bad_handshake(status: int, reason: str) -> ApiError:
    """A WebSocket handshake aiohttp refused (no Upgrade header, a bad version or key)."""
    return ApiError(-1000, "Bad WebSocket handshake: " + " ".join(reason.split()), status)


def body_too_large(limit: int) -> ApiError:
    return ApiError(-1000, f"Request body too large; the limit is {limit} bytes.", 413)


def disconnected() -> ApiError:
    """-1001 (HTTP 503): an internal link is down (the WebSocket API's user data relay to Push)."""
    return ApiError(-1001, "Internal error; unable to process your request. Please try again.", 503)


def unauthorized() -> ApiError:
    """-1002 (HTTP 401): a WebSocket API request that needs a logged-on session (or an Ed25519 key
    for `session.logon`) without one."""
    return ApiError(-1002, "You are not authorized to execute this request.", 401)


def rate_limited(limit: int, interval: str) -> ApiError:
    """-1003 as Binance's rate limiter says it (HTTP 429); `interval` as Binance says it: "1 MINUTE"."""
    return ApiError(-1003, f"Too much request weight used; current limit is {limit} request weight per {interval}. "
                           "Please use WebSocket Streams for live updates to avoid polling the API.", 429)


def too_many_requests(limit: int, interval: str) -> ApiError:
    """-1003 (HTTP 429) past RAW_REQUESTS, the count of requests whatever their weight (errors.md
    has no text of its own for it: the weight's, in requests)."""
    return ApiError(-1003, f"Too many requests; current limit is {limit} requests per {interval}. "
                           "Please use WebSocket Streams for live updates to avoid polling the API.", 429)


def too_many_connections(limit: int, interval: str) -> ApiError:
    """-1003 (HTTP 429) past CONNECTIONS, the count of new WebSocket connections (errors.md has no
    text of its own for it: the weight's, in connections)."""
    return ApiError(-1003, f"Too many new connections; current limit is {limit} connections per {interval}.", 429)


def ip_banned(until_ms: int) -> ApiError:
    """-1003 with HTTP 418: an IP that kept going after its 429s is banned until then (ms)."""
    return ApiError(-1003, f"Way too much request weight used; IP banned until {until_ms}. "
                           "Please use WebSocket Streams for live updates to avoid bans.", 418)


def too_many_orders(limit: int, interval: str) -> ApiError:
    """-1015 with HTTP 429: the account's ORDERS limit (`interval` as Binance says it: "10 SECOND")."""
    return ApiError(-1015, f"Too many new orders; current limit is {limit} orders per {interval}.", 429)


def timeout() -> ApiError:
    """-1007: the engine did not answer in time; the order may or may not have been executed (HTTP 503)."""
    return ApiError(-1007, "Timeout waiting for response from backend server. Send status unknown; execution status unknown.", 503)






def unsupported_operation() -> ApiError:
    return ApiError(-1020, "This operation is not supported.")


def timestamp_outside_recv_window() -> ApiError:
    return ApiError(-1021, "Timestamp for this request is outside of the recvWindow.")


def timestamp_ahead() -> ApiError:
    return ApiError(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")


def invalid_signature() -> ApiError:
    return ApiError(-1022, "Signature for this request is not valid.")


# ----------------------------------------------------------------------- 11xx: the request


def illegal_chars(param: str | None = None, legal_range: str | None = None) -> ApiError:
    """-1100: a parameter that is not of its type (a malformed number, a lower-case symbol...)."""
    if param is None:
        return ApiError(-1100, "Illegal characters found in a parameter.")
    if legal_range is None:
        return ApiError(-1100, f"Illegal characters found in parameter '{param}'.")
    return ApiError(-1100, f"Illegal characters found in parameter '{param}'; legal range is '{legal_range}'.")




def too_many_symbols(most: int) -> ApiError:
    """-1101 for a `symbols` list longer than the endpoint takes (CHANGELOG.md 2022-06-20's text)."""
    return ApiError(-1101, f"Too many values sent for parameter 'symbols', maximum allowed up to {most}.")


def max_subscription_ids() -> ApiError:
    """-2042 MAXIMUM_SUBSCRIPTION_IDS: a WebSocket API connection's 1,000 active user data
    subscriptions, or its 65,535 over its lifetime (web-socket-api.md)."""
    return ApiError(-2042, "Maximum subscription ID reached for this connection.")


def invalid_time_unit() -> ApiError:
    """-1194 INVALID_TIME_UNIT: an X-MBX-TIME-UNIT header other than MICROSECOND or MILLISECOND."""
    return ApiError(-1194, "Invalid value for time unit; expected either MICROSECOND or MILLISECOND.")


def invalid_ticker_type() -> ApiError:
    """-1139 INVALID_TICKER_TYPE: a ticker's `type` other than FULL or MINI."""
    return ApiError(-1139, "Invalid ticker type.")


def duplicate_parameter() -> ApiError:
    return ApiError(-1101, "Duplicate values for a parameter detected.")


def mandatory_missing(param: str) -> ApiError:
    return ApiError(-1102, f"Mandatory parameter '{param}' was not sent, was empty/null, or malformed.")


def param_empty(param: str) -> ApiError:
    return ApiError(-1105, f"Parameter '{param}' was empty.")


def either_missing(first: str, second: str) -> ApiError:
    return ApiError(-1102, f"Param '{first}' or '{second}' must be sent, but both were empty/null!")


def unknown_param() -> ApiError:
    return ApiError(-1103, "An unknown parameter was sent.")


def unread_parameters(read: int, sent: int) -> ApiError:
    return ApiError(-1104, f"Not all sent parameters were read; read '{read}' parameter(s) but was sent '{sent}'.")




def not_required(param: str) -> ApiError:
    return ApiError(-1106, f"Parameter '{param}' sent when not required.")


def overflow(param: str) -> ApiError:
    return ApiError(-1108, f"Parameter '{param}' overflowed.")


def too_much_precision(param: str) -> ApiError:
    return ApiError(-1111, f"Parameter '{param}' has too much precision.")






def invalid_tif() -> ApiError:
    return ApiError(-1115, "Invalid timeInForce.")


def invalid_order_type() -> ApiError:
    return ApiError(-1116, "Invalid orderType.")


def invalid_side() -> ApiError:
    return ApiError(-1117, "Invalid side.")


def empty_new_client_order_id() -> ApiError:
    return ApiError(-1118, "New client order ID was empty.")


def empty_orig_client_order_id() -> ApiError:
    return ApiError(-1119, "Original client order ID was empty.")


def invalid_interval() -> ApiError:
    return ApiError(-1120, "Invalid interval.")


def invalid_symbol() -> ApiError:
    return ApiError(-1121, "Invalid symbol.")


def invalid_symbol_status() -> ApiError:
    """-1122 INVALID_SYMBOLSTATUS: a symbolStatus that is not TRADING, HALT or BREAK."""
    return ApiError(-1122, "Invalid symbolStatus.")


def symbol_status_mismatch() -> ApiError:
    """-1220 SYMBOL_DOES_NOT_MATCH_STATUS: the one symbol asked for is not in the symbolStatus asked."""
    return ApiError(-1220, "The symbol's status does not match the requested symbolStatus.")


def invalid_listen_key() -> ApiError:
    return ApiError(-1125, "This listenKey does not exist.")


def interval_too_big(hours: int) -> ApiError:
    """-1127: startTime and endTime further apart than the endpoint allows."""
    return ApiError(-1127, f"More than {hours} hours between startTime and endTime.")


def bad_combination() -> ApiError:
    return ApiError(-1128, "Combination of optional parameters invalid.")


def invalid_parameter(param: str) -> ApiError:
    return ApiError(-1130, f"Data sent for parameter '{param}' is not valid.")


def bad_strategy_type() -> ApiError:
    return ApiError(-1134, "strategyType was less than 1000000.")


def bad_recv_window() -> ApiError:
    """-1131 BAD_RECV_WINDOW (CHANGELOG.md 2019-08-15), with the text Binance's servers answer (as
    clients quote it: binance-java-api#313, python-binance#432, 2019-2023); errors.md no longer
    lists the code, and no current document gives another answer for a recvWindow over 60000."""
    return ApiError(-1131, "'recvWindow' must be less than 60000.")


def invalid_json(param: str | None = None) -> ApiError:
    if param is None:
        return ApiError(-1135, "Invalid JSON Request")
    return ApiError(-1135, f"JSON sent for parameter '{param}' is not valid")


def json_too_deep() -> ApiError:
    """-1135 for JSON nested deeper than the parser goes (a `[` repeated thousands of times)."""
    return ApiError(-1135, "Invalid JSON Request: nested too deeply")


def binary_frame() -> ApiError:
    """-1135 for a binary WebSocket frame where JSON text frames are expected."""
    return ApiError(-1135, "Invalid JSON Request: binary frames are not accepted; send JSON in text frames")


def unreadable_body(encoding: str | None) -> ApiError:
    """-1100 for a body that cannot be read as sent: not what its Content-Encoding says, or cut short."""
    if encoding:
        return ApiError(-1100, f"Illegal characters found in the request body: it is not valid '{encoding}' "
                               "(its Content-Encoding).")
    return ApiError(-1100, "Illegal characters found in the request body: it could not be read.")


def invalid_cancel_restrictions() -> ApiError:
    """-1145 INVALID_CANCEL_RESTRICTIONS with the text rest-api.md and web-socket-api.md show for it
    ("Regarding cancelRestrictions"); errors.md words it "`cancelRestrictions` has to be either
    `ONLY_NEW` or `ONLY_PARTIALLY_FILLED`."."""
    return ApiError(-1145, "Invalid cancelRestrictions")


def duplicate_symbols() -> ApiError:
    return ApiError(-1151, "Symbol is present multiple times in the list.")


# ----------------------------------------------------------------- filters (-1013) and 20xx

PRICE_FILTER = "PRICE_FILTER"
LOT_SIZE = "LOT_SIZE"
NOTIONAL = "NOTIONAL"


def filter_failure(name: str) -> ApiError:
    """-1013 "Filter failure: PRICE_FILTER" / "...: LOT_SIZE" / "...: NOTIONAL"."""
    return ApiError(-1013, f"Filter failure: {name}")


def stp_mode_not_allowed() -> ApiError:
    """-1013 for a selfTradePreventionMode of Binance's that the symbol does not allow (stp_faq.md)."""
    return ApiError(-1013, "This symbol does not allow the specified self-trade prevention mode.")


def price_filter() -> ApiError:
    return filter_failure(PRICE_FILTER)


def lot_size() -> ApiError:
    return filter_failure(LOT_SIZE)


def notional() -> ApiError:
    return filter_failure(NOTIONAL)


def order_does_not_exist() -> ApiError:
    """-2013: a query for an order that is not there (or not this account's)."""
    return ApiError(-2013, "Order does not exist.")


def order_archived() -> ApiError:
    """-2026: a query by orderId of an order the history archived (history.archive_after_days;
    errors.md ORDER_ARCHIVED, Binance's words for its 90 days)."""
    return ApiError(-2026, "Order was canceled or expired with no executed qty over 90 days ago and has been archived.")


def client_order_id_invalid() -> ApiError:
    """-2039: a query naming an order by orderId and origClientOrderId that do not belong together
    (the order with that id has another client id): CHANGELOG.md 2025-04-08, GET /api/v3/order and
    order.status."""
    return ApiError(-2039, "Client order ID is not correct for this order ID.")


def bad_api_key_format() -> ApiError:
    return ApiError(-2014, "API-key format invalid.")


def rejected_api_key() -> ApiError:
    return ApiError(-2015, "Invalid API-key, IP, or permissions for action.")


def admin_disabled() -> ApiError:
    """Admin endpoints without a configured token: switched off (HTTP 403)."""
    return ApiError(-2015, "Invalid API-key, IP, or permissions for action.", 403)


def bad_admin_token() -> ApiError:
    return ApiError(-2015, "Invalid API-key, IP, or permissions for action.", 401)


def subscription_active() -> ApiError:
    """-2035: a WebSocket API connection already has a user data subscription for this account."""
    return ApiError(-2035, "User Data Stream subscription already active.")


def subscription_inactive() -> ApiError:
    """-2036: `userDataStream.unsubscribe` of a subscription the connection does not have."""
    return ApiError(-2036, "User Data Stream subscription not active.")


# ------------------------------------------------- WebSocket stream requests (codes 0-3, Binance's)


def private_stream(name: str) -> ApiError:
    """A raw change log that names accounts (OrderChangeLog, BalanceChangeLog) asked for without the
    admin token: code 2 as any refused stream request, HTTP 401 when refused at the handshake."""
    return ApiError(2, f"Invalid request: stream '{name}' is private; it needs the admin token "
                       "(the X-Admin-Token header of the WebSocket handshake)", 401)


# ------------------------------------------------------------------------------ refusals
# Why a command was refused or an order ended at once (model/reasons.py: Acquiring's CommandError,
# the book's report, an amend the book refused) -> Binance's answer: the one table between the two.

#: kinds of request where Binance answers a reason differently from an order's or a cancel's
AMEND, ORDER_LIST = "amend", "orderList"
_ANY = ""
_LIST_PRICES = "The relationship of the prices for the orders is not correct."
_AMEND_INCREASE = "Order amend (quantity increase) is not supported."

#: (kind of request, reason) -> (code, text, HTTP status)
REFUSALS: dict[tuple[str, Reason], tuple[int, str, int]] = {
    (_ANY, Reason.INSUFFICIENT_BALANCE): (-2010, "Account has insufficient balance for requested action.", 400),
    (_ANY, Reason.DUPLICATE_ORDER): (-2010, "Duplicate order sent.", 400),
    # the same, found by the book (Acquiring checks first: its view of open orders is never smaller)
    (_ANY, Reason.DUPLICATE_CLIENT_ORDER_ID): (-2010, "Duplicate order sent.", 400),
    # a cancel of an order that is not open (or not this account's)
    (_ANY, Reason.UNKNOWN_ORDER): (-2011, "Unknown order sent.", 400),
    # the HTTP stage's backlog (api/admission.py) or the engine's is past its limit; nothing was done
    (_ANY, Reason.OVERLOADED): (-1003, "Too many requests queued.", 503),
    (_ANY, Reason.MAX_NUM_ORDERS): (-1013, "Filter failure: MAX_NUM_ORDERS", 400),
    (_ANY, Reason.MAX_NUM_ALGO_ORDERS): (-1013, "Filter failure: MAX_NUM_ALGO_ORDERS", 400),
    (_ANY, Reason.PERCENT_PRICE_BY_SIDE): (-1013, "Filter failure: PERCENT_PRICE_BY_SIDE", 400),
    (_ANY, Reason.NOTIONAL): (-1013, "Filter failure: NOTIONAL", 400),
    # a LIMIT_MAKER order that would immediately match
    (_ANY, Reason.WOULD_TAKE): (-2010, "Order would immediately match and take.", 400),
    # a stop order whose stop price the last trade price has already reached (reject reason
    # STOP_PRICE_WOULD_TRIGGER_IMMEDIATELY): the text Binance's servers answer and clients match
    # (ccxt, trading bots); errors.md words the same rejection "Order would trigger immediately."
    (_ANY, Reason.WOULD_TRIGGER): (-2010, "Stop price would trigger immediately.", 400),
    # a MARKET order by quoteOrderQty the book cannot fill within LOT_SIZE (errors.md's -2010 texts;
    # one whose budget buys less than minQty would break LOT_SIZE: that filter's failure)
    (_ANY, Reason.NO_BOOK): (-2010, "Order book liquidity is less than symbol minimum quantity.", 400),
    (_ANY, Reason.BOOK_BELOW_MIN_QTY): (-2010, "Order book liquidity is less than `LOT_SIZE` filter minimum quantity.",
                                        400),
    (_ANY, Reason.QUOTE_BELOW_MIN_QTY): (-1013, "Filter failure: LOT_SIZE", 400),
    (_ANY, Reason.CANCEL_RESTRICTIONS): (-2011, "Order was not canceled due to cancel restrictions.", 400),
    # an amend that changed nothing: -2038 ORDER_AMEND_REJECTED with Binance's texts
    (AMEND, Reason.UNKNOWN_ORDER): (-2038, "Unknown order sent.", 400),
    (AMEND, Reason.INCREASE): (-2038, _AMEND_INCREASE, 400),
    (AMEND, Reason.NOT_REDUCING): (-2038, _AMEND_INCREASE, 400),  # the quantity changed under the request
    (AMEND, Reason.NO_CHANGE): (-2038, "The requested action would change no state; rejecting", 400),
    (AMEND, Reason.DUPLICATE_ORDER): (-2038, "Duplicate order sent.", 400),
    (AMEND, Reason.DUPLICATE_CLIENT_ORDER_ID): (-2038, "Duplicate order sent.", 400),
    (AMEND, Reason.ORDER_LIST): (-2038, "Order amend is not supported for this order.", 400),
    # an order list whose leg the book refused
    (ORDER_LIST, Reason.WOULD_TAKE): (-2010, _LIST_PRICES, 400),
    (ORDER_LIST, Reason.WOULD_TRIGGER): (-2010, _LIST_PRICES, 400),
    (ORDER_LIST, Reason.DUPLICATE_CLIENT_ORDER_ID): (-2010, "Duplicate order sent.", 400),
    (ORDER_LIST, Reason.DUPLICATE_ORDER_ID): (-2010, "Order was not accepted.", 400),
}


def refusal(reason: Reason | str, request: str = _ANY) -> ApiError:
    """Binance's error for `reason` (a Reason, or the change log's word for one) in a request of the
    kind `request` (AMEND, ORDER_LIST; default: an order or a cancel). A reason the table does not
    name for that kind is a bug: KeyError."""
    code, text, status = REFUSALS.get((request, reason)) or REFUSALS[(_ANY, reason)]
    return ApiError(code, text, status)
