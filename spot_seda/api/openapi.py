"""The OpenAPI 3.0 description of the node's REST API, served at GET /openapi.json.

Built from small helpers (openapi_schema.py) so that every endpoint states its parameters, its
answer's shape and the Binance-style error body; the order operations' part is openapi_orderops.py's.
Private endpoints take their parameters in the query string or a form-encoded body (DELETE
included), signed as auth.py describes. Every /api/ operation states the
rate-limit headers of its answers and the 429 / 418 answers (api/ratelimit.py), when the node's
[rate_limits] are on.
"""

from __future__ import annotations

from ..engine.kline import INTERVALS as _INTERVALS
from ..binance.marketviews import MINI_TICKER_FIELDS, ORDER_TYPES, STP_MODES, WINDOW_TICKER_FIELDS
from ..binance.orderparams import RESP_TYPES
from .openapi_orderops import order_ops_paths, order_ops_schemas
from .openapi_schema import (ADMIN_SECURITY, CLIENT_ID, ERRORS, KEY_SECURITY, SIGNED_PARAMS, SIGNED_SECURITY, SYMBOL, SYMBOL_OPT,
                             SYMBOLS, array, boolean, dec, integer, json_answer, limit_param, obj, operation_doc, param,
                             ref, signed_doc, string)
from .ratelimit import ORDER_ROUTES

INTERVALS = list(_INTERVALS)
ORDER_STATUSES = ["NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED", "EXPIRED", "EXPIRED_IN_MATCH", "REJECTED",
                  "PENDING_NEW"]

#: the answers of the rate limits (api/ratelimit.py), on every /api/ operation
RATE_LIMIT_ERRORS = {
    "429": {**json_answer(ref("Error"), "-1003 past the IP's request weight, -1015 past the account's orders limit: wait "
                                   "Retry-After seconds (the window's end); keep going and the IP is banned (418)"),
            "headers": {"Retry-After": {"$ref": "#/components/headers/Retry-After"}}},
    "418": {**json_answer(ref("Error"), "-1003 \"Way too much request weight used; IP banned until <ms>.\": the IP went on "
                                   "after its 429s; banned for Retry-After seconds"),
            "headers": {"Retry-After": {"$ref": "#/components/headers/Retry-After"}}},
}
#: the headers of every /api/ answer, and of an order's
WEIGHT_HEADERS = {"X-MBX-USED-WEIGHT-1M": {"$ref": "#/components/headers/X-MBX-USED-WEIGHT-1M"}}
ORDER_COUNT_HEADERS = {"X-MBX-ORDER-COUNT-10S": {"$ref": "#/components/headers/X-MBX-ORDER-COUNT-10S"},
                       "X-MBX-ORDER-COUNT-1D": {"$ref": "#/components/headers/X-MBX-ORDER-COUNT-1D"}}



def _schemas() -> dict:
    ack = {"symbol": string(), "orderId": integer(), "orderListId": integer(), "clientOrderId": string(), "transactTime": integer()}
    result = {**ack, "price": dec(), "origQty": dec(), "executedQty": dec(), "origQuoteOrderQty": dec(),
              "cummulativeQuoteQty": dec(), "status": string(enum=ORDER_STATUSES), "timeInForce": string(enum=["GTC", "IOC", "FOK"]),
              "type": string(enum=ORDER_TYPES), "side": string(enum=["BUY", "SELL"]), "workingTime": integer(),
              "selfTradePreventionMode": string(enum=STP_MODES)}
    cancel = {"origClientOrderId": string(), **{k: v for k, v in result.items() if k != "workingTime"}}
    order = {k: v for k, v in result.items() if k != "transactTime"}
    order.update({"stopPrice": dec(), "icebergQty": dec(), "time": integer(), "updateTime": integer(), "isWorking": boolean()})
    # Binance's conditional fields: a trailing stop's delta (BIPS) and when it started tracking prices
    # (-1 until then); in the answers to a new order or a cancel, a stop order's stopPrice
    trailing = {"trailingDelta": integer(), "trailingTime": integer()}
    stop = {"stopPrice": dec(), **trailing}
    # ... and the strategyId / strategyType the order was placed with, in every view of it (only when sent)
    strategy = {"strategyId": integer(), "strategyType": integer()}
    prevented_qty = {"preventedQuantity": dec()}  # (an order self-trade prevention took quantity off)
    balance = {"asset": string(), "free": dec(), "locked": dec()}
    filt = {"type": "object", "properties": {
        "filterType": string(enum=["PRICE_FILTER", "LOT_SIZE", "MARKET_LOT_SIZE", "NOTIONAL", "MAX_NUM_ORDERS",
                                 "MAX_NUM_ALGO_ORDERS", "TRAILING_DELTA", "PERCENT_PRICE_BY_SIDE"]), "minPrice": dec(),
        "maxPrice": dec(),
        "tickSize": dec(), "minQty": dec(), "maxQty": dec(), "stepSize": dec(), "minNotional": dec(),
        "applyMinToMarket": boolean(), "maxNotional": dec(), "applyMaxToMarket": boolean(), "avgPriceMins": integer(),
        "maxNumOrders": integer(), "maxNumAlgoOrders": integer(), "bidMultiplierUp": dec(), "bidMultiplierDown": dec(),
        "askMultiplierUp": dec(), "askMultiplierDown": dec(), "minTrailingAboveDelta": integer(),
        "maxTrailingAboveDelta": integer(), "minTrailingBelowDelta": integer(), "maxTrailingBelowDelta": integer()},
        "required": ["filterType"]}
    symbol_info = obj({
        "symbol": string(), "status": string(enum=["TRADING"]), "baseAsset": string(), "baseAssetPrecision": integer(),
        "quoteAsset": string(), "quotePrecision": integer(), "quoteAssetPrecision": integer(), "baseCommissionPrecision": integer(),
        "quoteCommissionPrecision": integer(), "orderTypes": array(string(enum=ORDER_TYPES)), "icebergAllowed": boolean(),
        "pegInstructionsAllowed": boolean(), "ocoAllowed": boolean(), "otoAllowed": boolean(), "opoAllowed": boolean(), "quoteOrderQtyMarketAllowed": boolean(), "allowTrailingStop": boolean(),
        "cancelReplaceAllowed": boolean(), "amendAllowed": boolean(), "isSpotTradingAllowed": boolean(), "isMarginTradingAllowed": boolean(),
        "filters": array(ref("Filter")), "permissions": array(string()), "permissionSets": array(array(string())),
        "defaultSelfTradePreventionMode": string(enum=STP_MODES),
        "allowedSelfTradePreventionModes": array(string(enum=STP_MODES))})
    ticker = {k: dec() for k in ("priceChange", "weightedAvgPrice", "prevClosePrice", "lastPrice", "lastQty", "bidPrice",
                                  "bidQty", "askPrice", "askQty", "openPrice", "highPrice", "lowPrice", "volume", "quoteVolume")}
    ticker.update({"symbol": string(), "priceChangePercent": string(), "openTime": integer(), "closeTime": integer(),
                   "firstId": integer(), "lastId": integer(), "count": integer()})
    return {
        "Error": obj({"code": integer("Binance error code, e.g. -1121"), "msg": string("Binance error message")}),
        "Empty": {"type": "object", "properties": {}, "additionalProperties": False},
        "ServerTime": obj({"serverTime": integer()}),
        "Filter": filt,
        "SymbolInfo": symbol_info,
        "ExchangeInfo": obj({"timezone": string(), "serverTime": integer(), "rateLimits": array(ref("RateLimit")),
                              "exchangeFilters": array({"type": "object"}), "symbols": array(ref("SymbolInfo"))}),
        "Depth": obj({"lastUpdateId": integer(), "bids": array(array(string())), "asks": array(array(string()))}),
        "Trade": obj({"id": integer(), "price": dec(), "qty": dec(), "quoteQty": dec(), "time": integer(),
                       "isBuyerMaker": boolean(), "isBestMatch": boolean()}),
        "AggTrade": obj({"a": integer(), "p": dec(), "q": dec(), "f": integer(), "l": integer(), "T": integer(), "m": boolean(), "M": boolean()}),
        "Kline": {"type": "array", "minItems": 12, "maxItems": 12,
                  "items": {"oneOf": [integer(), string()]},
                  "description": "[open time, open, high, low, close, volume, close time, quote volume, trades, "
                                 "taker buy base volume, taker buy quote volume, \"0\"]"},
        "Ticker24hr": obj(ticker, required=list(MINI_TICKER_FIELDS)),  # (type=MINI: only those)
        "WindowTicker": obj({k: v for k, v in ticker.items() if k in WINDOW_TICKER_FIELDS},
                            required=list(MINI_TICKER_FIELDS)),  # (type=MINI: only those)
        "TickerPrice": obj({"symbol": string(), "price": dec()}),
        "BookTicker": obj({"symbol": string(), "bidPrice": dec(), "bidQty": dec(), "askPrice": dec(), "askQty": dec()}),
        "AvgPrice": obj({"mins": integer(), "price": dec(), "closeTime": integer()}),
        "OrderAck": obj({**ack, **strategy}, list(ack)),
        "OrderResult": obj({**result, **stop, **strategy, **prevented_qty}, list(result)),
        "Fill": obj({"price": dec(), "qty": dec(), "commission": dec(), "commissionAsset": string(), "tradeId": integer()}),
        "OrderFull": obj({**result, **stop, **strategy, **prevented_qty, "fills": array(ref("Fill")),
                          "preventedMatches": array(obj({"preventedMatchId": integer(), "makerSymbol": string(),
                                                         "makerOrderId": integer(), "price": dec(),
                                                         "takerPreventedQuantity": dec(),
                                                         "makerPreventedQuantity": dec()},
                                                        ["preventedMatchId", "makerSymbol", "makerOrderId", "price"]))},
                         [*result, "fills"]),
        "Cancel": obj({**cancel, **stop, **strategy}, list(cancel)),
        "Order": obj({**order, **trailing, **strategy, **prevented_qty, "preventedMatchId": integer()}, list(order)),
        "MyTrade": obj({"symbol": string(), "id": integer(), "orderId": integer(), "orderListId": integer(), "price": dec(),
                         "qty": dec(), "quoteQty": dec(), "commission": dec(), "commissionAsset": string(),
                         "time": integer(), "isBuyer": boolean(), "isMaker": boolean(), "isBestMatch": boolean()}),
        "PreventedMatch": obj({"symbol": string(), "preventedMatchId": integer(), "takerOrderId": integer(),
                                "makerSymbol": string(), "makerOrderId": integer(), "tradeGroupId": integer(),
                                "selfTradePreventionMode": string(), "price": dec(),
                                "takerPreventedQuantity": dec(), "makerPreventedQuantity": dec(),
                                "transactTime": integer()},
                               ["symbol", "preventedMatchId", "takerOrderId", "makerSymbol", "makerOrderId",
                                "tradeGroupId", "selfTradePreventionMode", "price", "transactTime"]),
        "RateLimit": obj({"rateLimitType": string(enum=["REQUEST_WEIGHT", "ORDERS", "RAW_REQUESTS", "CONNECTIONS"]),
                           "interval": string(enum=["SECOND", "MINUTE", "HOUR", "DAY"]), "intervalNum": integer(),
                           "limit": integer()}),
        "OrderRateLimit": obj({"rateLimitType": string(enum=["ORDERS"]),
                                "interval": string(enum=["SECOND", "MINUTE", "HOUR", "DAY"]), "intervalNum": integer(),
                                "limit": integer(), "count": integer("this account's orders in the current window")}),
        "Balance": obj(balance),
        "Account": obj({"makerCommission": integer(), "takerCommission": integer(), "buyerCommission": integer(),
                         "sellerCommission": integer(), "commissionRates": {"type": "object"}, "canTrade": boolean(),
                         "canWithdraw": boolean(), "canDeposit": boolean(), "brokered": boolean(),
                         "requireSelfTradePrevention": boolean(), "preventSor": boolean(),
                         "updateTime": integer("the time of the account's last balance change (0: none yet)"),
                         "accountType": string(), "balances": array(ref("Balance")), "permissions": array(string()),
                         "uid": integer()}),
        "ListenKey": obj({"listenKey": string()}),
        "NewAccount": obj({"accountId": integer(), "apiKey": string(),
                            "secretKey": string("HMAC accounts only: the secret the requests are signed with"),
                            "keyType": string(enum=["HMAC", "ED25519", "RSA"])},
                           ["accountId", "apiKey", "keyType"]),
        "NewAccountRequest": {"type": "object", "additionalProperties": False, "properties": {
            "publicKey": string("An Ed25519 or RSA (2048 bits or more) public key, PEM: the account signs with its "
                              "private key; without it the account gets an HMAC secret key")}},
        "Transfer": obj({"accountId": integer(minimum=1), "asset": string(), "amount": dec("a positive decimal string")}),
        "SeedOrder": obj({"symbol": string(), "side": string(enum=["BUY", "SELL"]), "price": dec(), "quantity": dec(),
                           "type": string(enum=ORDER_TYPES), "timeInForce": string(enum=["GTC", "IOC", "FOK"]),
                           "clientOrderId": string(maxLength=36), "quoteOrderQty": dec(), "stopPrice": dec(),
                           "trailingDelta": integer(), "newOrderRespType": string(enum=list(RESP_TYPES))},
                          ["symbol", "side"]),
    }


def _headers() -> dict:
    def header(description: str) -> dict:
        return {"description": description, "schema": integer(minimum=0)}

    return {
        "X-MBX-USED-WEIGHT-1M": header(
            "The client IP's request weight used in the current minute (one such header per REQUEST_WEIGHT limit "
            "of exchangeInfo's rateLimits: X-MBX-USED-WEIGHT-<intervalNum><S|M|H|D>). A successful request that "
            "places, cancels or replaces orders (an amend: one that expires the order) weighs 0, as Binance's "
            "since 2026-04-02: its answer shows the count without it; a failed one is charged its weight"),
        "X-MBX-ORDER-COUNT-10S": header("The account's orders in the current 10 seconds (one header per ORDERS limit)"),
        "X-MBX-ORDER-COUNT-1D": header("The account's orders today (UTC)"),
        "Retry-After": header("Seconds to wait: to the end of the window (429), to the end of the ban (418)"),
    }


def _rate_limited(op: dict, counts_orders: bool) -> None:
    """An /api/ operation's answers carry the weight headers (an order's, the order counts too) and
    may be 429 or 418."""
    headers = WEIGHT_HEADERS | (ORDER_COUNT_HEADERS if counts_orders else {})
    op["responses"] = {code: {**response, "headers": dict(headers)} for code, response in op["responses"].items()}
    for code, response in RATE_LIMIT_ERRORS.items():
        op["responses"][code] = {**response, "headers": headers | response["headers"]}


def _one_or_many(name: str) -> dict:
    return {"oneOf": [ref(name), array(ref(name))]}


def _described(routes, descriptions: dict) -> dict:
    """The paths of `routes` with their operations from `descriptions` (path -> method -> operation)."""
    paths: dict = {}
    for method, path, _handler in routes:
        operation = descriptions.get(path, {}).get(method.lower())
        if operation is None:
            raise LookupError(f"{method} {path} is served but has no OpenAPI description")
        paths.setdefault(path, {})[method.lower()] = operation
    unserved = [f"{m.upper()} {p}" for p, item in descriptions.items() for m in item if m not in paths.get(p, {})]
    if unserved:
        raise LookupError(f"described but not served: {', '.join(unserved)}")
    return paths


def openapi_document(routes, base_url: str = "/") -> dict:
    """The whole description of `routes` ((method, path, handler) as rest.ROUTES lists them) as a
    JSON-ready dict. Every route must have its description below and every description its route
    (LookupError otherwise), so the document cannot drift from what the app serves."""
    order_ref = [SYMBOL, param("orderId", integer()), param("origClientOrderId", string(maxLength=36))]
    new_order = [
        SYMBOL,
        param("side", string(enum=["BUY", "SELL"]), True),
        param("type", string(enum=ORDER_TYPES), True),
        param("timeInForce", string(enum=["GTC", "IOC", "FOK"]), False,
           "LIMIT, STOP_LOSS_LIMIT and TAKE_PROFIT_LIMIT only (mandatory there)."),
        param("quantity", dec(), False, "Every type but MARKET (mandatory there); MARKET: this or quoteOrderQty."),
        param("quoteOrderQty", dec(), False, "MARKET only: quote amount to spend (BUY) or receive (SELL)."),
        param("price", dec(), False, "LIMIT, LIMIT_MAKER, STOP_LOSS_LIMIT and TAKE_PROFIT_LIMIT."),
        param("stopPrice", dec(), False,
           "STOP_LOSS, STOP_LOSS_LIMIT, TAKE_PROFIT, TAKE_PROFIT_LIMIT (this or trailingDelta mandatory there): the "
           "last trade price that triggers the order (STOP_LOSS SELL and TAKE_PROFIT BUY at or below it, the others "
           "at or above); with trailingDelta, the price at which the trailing starts; -2010 'Stop price would trigger "
           "immediately.' when it already has."),
        param("trailingDelta", integer(), False,
           "The four stop types: a trailing stop. It tracks the highest (SELL) or lowest (BUY) trade price since it "
           "started, from its placement (no stopPrice) or from the first trade that reaches stopPrice, and triggers "
           "at a trade this many BIPS (0.01%) below (SELL) or above (BUY) it. Within the symbol's TRAILING_DELTA "
           "filter (above range: STOP_LOSS BUY, TAKE_PROFIT SELL; below range: the others), else -1013 'Filter "
           "failure: TRAILING_DELTA'."),
        param("newClientOrderId", string(pattern=CLIENT_ID)),
        param("newOrderRespType", string(enum=list(RESP_TYPES)), False, "Default FULL for LIMIT and MARKET, ACK otherwise."),
        param("selfTradePreventionMode", string(enum=STP_MODES), False, "Default: the symbol's."),
        param("strategyId", integer(), False,
              "Kept with the order: shown by every view of it and its executionReports (\"j\")."),
        param("strategyType", integer(minimum=1000000), False,
              "At least 1000000 (-1134); kept with the order: shown by every view of it and its executionReports "
              "(\"J\")."),
        param("icebergQty", dec(), False, "Only 0: iceberg orders are refused (-2010)."),
        param("pegPriceType", string(), False, "Pegged orders are refused (-2010), never placed as plain ones."),
        param("pegOffsetValue", integer(), False, "Refused (-2010), as pegPriceType."),
        param("pegOffsetType", string(), False, "Refused (-2010), as pegPriceType."),
    ]
    history = [SYMBOL, param("startTime", integer()), param("endTime", integer()), limit_param(500, 1000)]
    symbol_status = param("symbolStatus", string(enum=["TRADING", "HALT", "BREAK"]), False,
                          "Only symbols in this status (all are TRADING here): one symbol not in it is -1220, of "
                          "several only those in it (maybe []); another value -1122.")
    ticker_type = param("type", string(enum=["FULL", "MINI"]), False,
                        "MINI: symbol, prices, volumes, times, trade ids and count only. Default FULL.")
    kline_params = [SYMBOL, param("interval", string(enum=INTERVALS), True), param("startTime", integer()),
                    param("endTime", integer()),
                    param("timeZone", string(), False, "The intervals' clock: hours (8, -1) or hours:minutes (05:45, "
                          "+08:00) from UTC, -12:00 to +14:00 (-1130 else); default 0. startTime and endTime stay UTC."),
                    limit_param(500, 1000)]
    listen_key = [param("listenKey", string(), True)]
    public, market = "Public", "Market data"
    paths = {
        "/api/v3/ping": {"get": operation_doc("Test connectivity", json_answer(ref("Empty")), tag=public)},
        "/api/v3/time": {"get": operation_doc("Server time", json_answer(ref("ServerTime")), tag=public)},
        "/api/v3/exchangeInfo": {"get": operation_doc("Exchange information", json_answer(ref("ExchangeInfo")),
                                            [SYMBOL_OPT, SYMBOLS,
                                             param("permissions", string(example="SPOT"), False,
                                                   "SPOT, MARGIN, LEVERAGED or TRD_GRP_nnn, or a JSON array of them; "
                                                   "not with symbol(s) (-1128). Every symbol here is SPOT only."),
                                             param("showPermissionSets", string(enum=["true", "false"]), False,
                                                   "false: each permissionSets is empty. Default true."),
                                             param("symbolStatus", string(enum=["TRADING", "HALT", "BREAK"]), False,
                                                   "Only symbols in this status (all are TRADING here); not with "
                                                   "symbol(s) (-1128); another value -1122.")], tag=public)},
        "/api/v3/depth": {"get": operation_doc("Order book", json_answer(ref("Depth")), [SYMBOL, limit_param(100, 5000), symbol_status], tag=market)},
        "/api/v3/trades": {"get": operation_doc("Recent trades", json_answer(array(ref("Trade"))), [SYMBOL, limit_param(500, 1000)], tag=market)},
        "/api/v3/historicalTrades": {"get": operation_doc(
            "Older trades", json_answer(array(ref("Trade"))),
            [SYMBOL, param("fromId", integer(), False, "Trade id to start from (inclusive); default: the most recent trades."),
             limit_param(500, 1000)], tag=market)},
        "/api/v3/aggTrades": {"get": operation_doc(
            "Aggregate trades", json_answer(array(ref("AggTrade"))),
            [SYMBOL, param("fromId", integer(), False, "Aggregate id to start from (inclusive); not with startTime/endTime "
                                                 "(-1128)."),
             param("startTime", integer(), False, "ms, inclusive; any span with endTime."),
             param("endTime", integer(), False, "ms, inclusive."), limit_param(500, 1000)], tag=market,
            description="A taker's consecutive fills at one price are one aggregate, numbered by its first trade's "
                        "id (a = f), as the aggTrade stream numbers them. Without fromId and startTime: the most "
                        "recent.")},
        "/api/v3/klines": {"get": operation_doc("Klines", json_answer(array(ref("Kline"))),
                                      kline_params, tag=market)},
        "/api/v3/uiKlines": {"get": operation_doc("UI klines", json_answer(array(ref("Kline"))),
                                      kline_params, tag=market,
            description="The same as klines: the node's candles need no change for charts.")},
        "/api/v3/ticker/24hr": {"get": operation_doc("24hr ticker", json_answer(_one_or_many("Ticker24hr")), [
            SYMBOL_OPT, SYMBOLS, ticker_type, symbol_status], tag=market)},
        "/api/v3/ticker": {"get": operation_doc("Rolling window ticker", json_answer(_one_or_many("WindowTicker")), [
            SYMBOL_OPT, SYMBOLS, param("windowSize", string(), False, "1m-59m, 1h-23h or 1d-7d (default 1d); the "
                                       "window opens on the minute, up to 59,999 ms wider."), ticker_type, symbol_status],
            tag=market, description="symbol or symbols (at most 100) is mandatory.")},
        "/api/v3/ticker/tradingDay": {"get": operation_doc("Trading day ticker", json_answer(_one_or_many("WindowTicker")), [
            SYMBOL_OPT, SYMBOLS, param("timeZone", string(), False, "The day's clock: hours (8, -1) or hours:minutes "
                                       "(05:45, +08:00) from UTC, -12:00 to +14:00; default 0."), ticker_type,
            symbol_status],
            tag=market, description="The trades since the day began on the timeZone's clock; symbol or symbols "
                                    "(at most 100) is mandatory.")},
        "/api/v3/ticker/price": {"get": operation_doc("Price ticker", json_answer(_one_or_many("TickerPrice")), [SYMBOL_OPT, SYMBOLS, symbol_status], tag=market)},
        "/api/v3/ticker/bookTicker": {"get": operation_doc("Book ticker", json_answer(_one_or_many("BookTicker")), [SYMBOL_OPT, SYMBOLS, symbol_status], tag=market)},
        "/api/v3/avgPrice": {"get": operation_doc("Average price", json_answer(ref("AvgPrice")), [SYMBOL], tag=market)},
        "/api/v3/order": {
            "post": signed_doc("New order", json_answer({"oneOf": [ref("OrderAck"), ref("OrderResult"), ref("OrderFull")]}),
                            new_order, body=True,
                            description="SIGNED. A parameter not listed here is refused with -1104 (never dropped)."),
            "get": signed_doc("Query order", json_answer(ref("Order")), order_ref,
                              description="SIGNED. -2013 \"Order does not exist.\" for none of the account's; "
                                          "-2026 for one archived (canceled or expired with nothing executed, "
                                          "history.archive_after_days ago: Binance's 90 days)."),
            "delete": signed_doc("Cancel order", json_answer({"oneOf": [ref("Cancel"), ref("OrderListPlaced")]}),
                                 order_ref + [
                param("newClientOrderId", string(pattern=CLIENT_ID), False,
                   "The cancel's own client id: the answer's clientOrderId and the executionReport's c "
                   "(default cancel-<orderId>); origClientOrderId and C are the order's. It replaces the canceled "
                   "order's clientOrderId."),
                param("cancelRestrictions", string(enum=["ONLY_NEW", "ONLY_PARTIALLY_FILLED"]), False,
                   "Cancel only if the order is NEW (nothing filled) / PARTIALLY_FILLED; otherwise -2011 "
                   "\"Order was not canceled due to cancel restrictions.\"")], body=True,
                description="SIGNED. An order of an order list cancels the whole list, answered as DELETE "
                            "/api/v3/orderList answers (the list and each order's cancel report)."),
        },
        "/api/v3/openOrders": {
            "get": signed_doc("Open orders", json_answer(array(ref("Order"))), [SYMBOL_OPT]),
            "delete": signed_doc("Cancel all open orders on a symbol", json_answer(array(ref("Cancel"))), [SYMBOL], body=True),
        },
        "/api/v3/allOrders": {"get": signed_doc("All orders", json_answer(array(ref("Order"))),
                                             [SYMBOL, param("orderId", integer())] + history[1:])},
        "/api/v3/myTrades": {"get": signed_doc("Account trade list", json_answer(array(ref("MyTrade"))),
                                            [SYMBOL, param("orderId", integer(), False, "Only this order's trades."),
                                             param("fromId", integer(), False, "Trade id to start from (inclusive).")]
                                            + history[1:],
                                            description="startTime and endTime at most 24 hours apart (-1127); "
                                                        "orderId or fromId with a time: -1128.")},
        "/api/v3/myPreventedMatches": {"get": signed_doc(
            "Prevented matches", json_answer(array(ref("PreventedMatch"))),
            [SYMBOL, param("preventedMatchId", integer(), False), param("orderId", integer(), False),
             param("fromPreventedMatchId", integer(), False, "With orderId: prevented match id to start from."),
             param("limit", integer(), False, "Default 500, at most 1000.")],
            description="The matches self-trade prevention stopped: by preventedMatchId, or an order's by orderId "
                        "(with fromPreventedMatchId); neither -1102, both -1128.")},
        "/api/v3/account": {"get": signed_doc("Account information", json_answer(ref("Account")),
                                           [param("omitZeroBalances", boolean(), False,
                                               "true: leave out assets with nothing free or locked.")], tag="Account")},
        "/api/v3/account/commission": {"get": signed_doc(
            "Query commission rates", json_answer(ref("AccountCommission")), [SYMBOL], tag="Account",
            description="SIGNED. The symbol's maker and taker rates (every account pays them); no special or tax "
                        "commission, no discount asset.")},
        "/api/v3/myFilters": {"get": signed_doc(
            "Query relevant filters", json_answer(obj({"exchangeFilters": array({"type": "object"}),
                                                       "symbolFilters": array(ref("Filter")),
                                                       "assetFilters": array({"type": "object"})})),
            [SYMBOL], tag="Account", description="SIGNED. The symbol's filters, as exchangeInfo lists them; the "
                                                 "node has no exchange or asset filters.")},
        "/api/v3/rateLimit/order": {"get": signed_doc(
            "Query unfilled order count", json_answer(array(ref("OrderRateLimit"))), [], tag="Account",
            description="SIGNED. The account's count of orders in the current window of each ORDERS limit "
                        "(empty when the node has no rate limits).")},
        "/api/v3/userDataStream": {
            "post": operation_doc("Start user data stream", json_answer(ref("ListenKey")), tag="User data stream",
                        security=KEY_SECURITY, errors=ERRORS),
            "put": operation_doc("Keep alive user data stream", json_answer(ref("Empty")), listen_key, tag="User data stream",
                       security=KEY_SECURITY, errors=ERRORS),
            "delete": operation_doc("Close user data stream", json_answer(ref("Empty")), listen_key, tag="User data stream",
                          security=KEY_SECURITY, errors=ERRORS),
        },
        "/api/spot/v2/": {"post": operation_doc(
            "Seed order endpoint", json_answer({"oneOf": [ref("OrderAck"), ref("OrderResult"), ref("OrderFull")]}),
            SIGNED_PARAMS, tag="Trading", security=SIGNED_SECURITY, errors=ERRORS,
            body={"required": True, "content": {"application/json": {"schema": ref("SeedOrder")}}},
            description="The seed's order entry: a JSON body; the signature covers the query string followed by "
                        "the raw body. type defaults to LIMIT with a price (timeInForce GTC), else MARKET.")},
        "/admin/v1/accounts": {"post": operation_doc("Create account", json_answer(ref("NewAccount")), tag="Admin",
                                           security=ADMIN_SECURITY, errors=ERRORS,
                                           body={"required": False, "content": {
                                               "application/json": {"schema": ref("NewAccountRequest")}}},
                                           description="An empty body: an HMAC account (its secretKey in the "
                                                       "answer, once). publicKey: an Ed25519 or RSA account. Over "
                                                       "Kafka with the command log, answered once the cluster has "
                                                       "it (else -1007 after result_timeout_s).")},
        "/admin/v1/deposit": {"post": operation_doc("Deposit", json_answer(ref("Balance")), tag="Admin", security=ADMIN_SECURITY,
                                          errors=ERRORS, body={"required": True, "content": {
                                              "application/json": {"schema": ref("Transfer")}}})},
        "/admin/v1/withdraw": {"post": operation_doc("Withdraw", json_answer(ref("Balance")), tag="Admin", security=ADMIN_SECURITY,
                                           errors=ERRORS, body={"required": True, "content": {
                                               "application/json": {"schema": ref("Transfer")}}})},
        "/metrics": {"get": operation_doc("Prometheus metrics", {"description": "Prometheus text exposition",
                                                        "content": {"text/plain": {"schema": string()}}}, tag="Operations")},
        "/openapi.json": {"get": operation_doc("This document", json_answer({"type": "object"}), tag="Operations")},
        "/ws-api/v3": {"get": operation_doc(
            "Binance's WebSocket API (a WebSocket upgrade)",
            {"description": "not answered: the connection is upgraded (101) to a WebSocket"},
            tag="WebSocket API",
            description="JSON text frames {id, method, params} answered {id, status, result|error, rateLimits}: "
                        "order.place, order.status, order.cancel, openOrders.status, openOrders.cancelAll, "
                        "allOrders, myTrades, myPreventedMatches, account.status, account.rateLimits.orders, depth, trades.recent, "
                        "klines, ticker.price, ticker.book and more with REST's answers and errors; session.logon "
                        "(Ed25519), userDataStream.subscribe(.signature) with the user data on the same connection. "
                        "See README, web-socket-api.md.")},
    }
    paths = _described(routes, paths | order_ops_paths(new_order))
    for path, item in paths.items():
        if path.startswith("/api/"):
            for method, op in item.items():
                _rate_limited(op, (method.upper(), path) in ORDER_ROUTES)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "spot_seda",
            "version": "1.0.0",
            "description": "A spot exchange node speaking the Binance Spot REST API v3. Errors are "
                           '{"code": <Binance code>, "msg": <Binance text>} with a 4xx status. A parameter '
                           "an endpoint does not read is refused with -1104 (never dropped; admin: -1103).",
        },
        "servers": [{"url": base_url}],
        "tags": [{"name": t} for t in ("Public", "Market data", "Trading", "Account", "User data stream", "WebSocket API", "Admin", "Operations")],
        "paths": paths,
        "components": {
            "schemas": _schemas() | order_ops_schemas(),
            "headers": _headers(),
            "securitySchemes": {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "X-MBX-APIKEY"},
                "Signature": {"type": "apiKey", "in": "query", "name": "signature",
                              "description": "Of the query string followed by the form body (the signature "
                                             "parameter left out): hex HMAC-SHA256 keyed by the secret key "
                                             "(HMAC accounts), base64 Ed25519 or base64 RSASSA-PKCS1-v1_5 "
                                             "SHA-256 (accounts with a registered public key; URL-encoded in a "
                                             "query string)"},
                "AdminToken": {"type": "apiKey", "in": "header", "name": "X-Admin-Token"},
            },
        },
    }
