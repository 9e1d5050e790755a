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
from ..binance.marketviews import ORDER_TYPES, STP_MODES
from ..binance.orderparams import RESP_TYPES
from ..binance.queryparams import DEPTH_LIMITS
from .openapi_orderops import order_ops_paths, order_ops_schemas
from .openapi_schema import (ADMIN_SECURITY, ERRORS, KEY_SECURITY, SIGNED_PARAMS, SIGNED_SECURITY, SYMBOL, SYMBOL_OPT,
                             SYMBOLS, _array, _bool, _dec, _int, _json, _limit, _obj, _op, _p, _ref, _signed, _str)
from .ratelimit import ORDER_ROUTES

INTERVALS = list(_INTERVALS)
ORDER_STATUSES = ["NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED", "EXPIRED", "EXPIRED_IN_MATCH", "REJECTED",
                  "PENDING_NEW"]

#: the answers of the rate limits (api/ratelimit.py), on every /api/ operation
RATE_LIMIT_ERRORS = {
    "429": {**_json(_ref("Error"), "-1003 past the IP's request weight, -1015 past the account's orders limit: wait "
                                   "Retry-After seconds (the window's end); keep going and the IP is banned (418)"),
            "headers": {"Retry-After": {"$ref": "#/components/headers/Retry-After"}}},
    "418": {**_json(_ref("Error"), "-1003 \"Way too much request weight used; IP banned until <ms>.\": the IP went on "
                                   "after its 429s; banned for Retry-After seconds"),
            "headers": {"Retry-After": {"$ref": "#/components/headers/Retry-After"}}},
}
#: the headers of every /api/ answer, and of an order's
WEIGHT_HEADERS = {"X-MBX-USED-WEIGHT-1M": {"$ref": "#/components/headers/X-MBX-USED-WEIGHT-1M"}}
ORDER_COUNT_HEADERS = {"X-MBX-ORDER-COUNT-10S": {"$ref": "#/components/headers/X-MBX-ORDER-COUNT-10S"},
                       "X-MBX-ORDER-COUNT-1D": {"$ref": "#/components/headers/X-MBX-ORDER-COUNT-1D"}}



def _schemas() -> dict:
    ack = {"symbol": _str(), "orderId": _int(), "orderListId": _int(), "clientOrderId": _str(), "transactTime": _int()}
    result = {**ack, "price": _dec(), "origQty": _dec(), "executedQty": _dec(), "origQuoteOrderQty": _dec(),
              "cummulativeQuoteQty": _dec(), "status": _str(enum=ORDER_STATUSES), "timeInForce": _str(enum=["GTC", "IOC", "FOK"]),
              "type": _str(enum=ORDER_TYPES), "side": _str(enum=["BUY", "SELL"]), "workingTime": _int(),
              "selfTradePreventionMode": _str(enum=STP_MODES)}
    cancel = {"origClientOrderId": _str(), **{k: v for k, v in result.items() if k != "workingTime"}}
    order = {k: v for k, v in result.items() if k != "transactTime"}
    order.update({"stopPrice": _dec(), "icebergQty": _dec(), "time": _int(), "updateTime": _int(), "isWorking": _bool()})
    # Binance's conditional fields: a trailing stop's delta (BIPS) and when it started tracking prices
    # (-1 until then); in the answers to a new order or a cancel, a stop order's stopPrice
    trailing = {"trailingDelta": _int(), "trailingTime": _int()}
    stop = {"stopPrice": _dec(), **trailing}
    balance = {"asset": _str(), "free": _dec(), "locked": _dec()}
    filt = {"type": "object", "properties": {
        "filterType": _str(enum=["PRICE_FILTER", "LOT_SIZE", "MARKET_LOT_SIZE", "NOTIONAL", "MAX_NUM_ORDERS",
                                 "MAX_NUM_ALGO_ORDERS", "TRAILING_DELTA", "PERCENT_PRICE_BY_SIDE"]), "minPrice": _dec(),
        "maxPrice": _dec(),
        "tickSize": _dec(), "minQty": _dec(), "maxQty": _dec(), "stepSize": _dec(), "minNotional": _dec(),
        "applyMinToMarket": _bool(), "maxNotional": _dec(), "applyMaxToMarket": _bool(), "avgPriceMins": _int(),
        "maxNumOrders": _int(), "maxNumAlgoOrders": _int(), "bidMultiplierUp": _dec(), "bidMultiplierDown": _dec(),
        "askMultiplierUp": _dec(), "askMultiplierDown": _dec(), "minTrailingAboveDelta": _int(),
        "maxTrailingAboveDelta": _int(), "minTrailingBelowDelta": _int(), "maxTrailingBelowDelta": _int()},
        "required": ["filterType"]}
    symbol_info = _obj({
        "symbol": _str(), "status": _str(enum=["TRADING"]), "baseAsset": _str(), "baseAssetPrecision": _int(),
        "quoteAsset": _str(), "quotePrecision": _int(), "quoteAssetPrecision": _int(), "baseCommissionPrecision": _int(),
        "quoteCommissionPrecision": _int(), "orderTypes": _array(_str(enum=ORDER_TYPES)), "icebergAllowed": _bool(),
        "pegInstructionsAllowed": _bool(), "ocoAllowed": _bool(), "otoAllowed": _bool(), "quoteOrderQtyMarketAllowed": _bool(), "allowTrailingStop": _bool(),
        "cancelReplaceAllowed": _bool(), "amendAllowed": _bool(), "isSpotTradingAllowed": _bool(), "isMarginTradingAllowed": _bool(),
        "filters": _array(_ref("Filter")), "permissions": _array(_str()), "permissionSets": _array(_array(_str())),
        "defaultSelfTradePreventionMode": _str(enum=STP_MODES),
        "allowedSelfTradePreventionModes": _array(_str(enum=STP_MODES))})
    ticker = {k: _dec() for k in ("priceChange", "weightedAvgPrice", "prevClosePrice", "lastPrice", "lastQty", "bidPrice",
                                  "bidQty", "askPrice", "askQty", "openPrice", "highPrice", "lowPrice", "volume", "quoteVolume")}
    ticker.update({"symbol": _str(), "priceChangePercent": _str(), "openTime": _int(), "closeTime": _int(),
                   "firstId": _int(), "lastId": _int(), "count": _int()})
    return {
        "Error": _obj({"code": _int("Binance error code, e.g. -1121"), "msg": _str("Binance error message")}),
        "Empty": {"type": "object", "properties": {}, "additionalProperties": False},
        "ServerTime": _obj({"serverTime": _int()}),
        "Filter": filt,
        "SymbolInfo": symbol_info,
        "ExchangeInfo": _obj({"timezone": _str(), "serverTime": _int(), "rateLimits": _array(_ref("RateLimit")),
                              "exchangeFilters": _array({"type": "object"}), "symbols": _array(_ref("SymbolInfo"))}),
        "Depth": _obj({"lastUpdateId": _int(), "bids": _array(_array(_str())), "asks": _array(_array(_str()))}),
        "Trade": _obj({"id": _int(), "price": _dec(), "qty": _dec(), "quoteQty": _dec(), "time": _int(),
                       "isBuyerMaker": _bool(), "isBestMatch": _bool()}),
        "AggTrade": _obj({"a": _int(), "p": _dec(), "q": _dec(), "f": _int(), "l": _int(), "T": _int(), "m": _bool(), "M": _bool()}),
        "Kline": {"type": "array", "minItems": 12, "maxItems": 12,
                  "items": {"oneOf": [_int(), _str()]},
                  "description": "[open time, open, high, low, close, volume, close time, quote volume, trades, "
                                 "taker buy base volume, taker buy quote volume, \"0\"]"},
        "Ticker24hr": _obj(ticker),
        "TickerPrice": _obj({"symbol": _str(), "price": _dec()}),
        "BookTicker": _obj({"symbol": _str(), "bidPrice": _dec(), "bidQty": _dec(), "askPrice": _dec(), "askQty": _dec()}),
        "AvgPrice": _obj({"mins": _int(), "price": _dec(), "closeTime": _int()}),
        "OrderAck": _obj(ack),
        "OrderResult": _obj({**result, **stop}, list(result)),
        "Fill": _obj({"price": _dec(), "qty": _dec(), "commission": _dec(), "commissionAsset": _str(), "tradeId": _int()}),
        "OrderFull": _obj({**result, **stop, "fills": _array(_ref("Fill"))}, [*result, "fills"]),
        "Cancel": _obj({**cancel, **stop}, list(cancel)),
        "Order": _obj({**order, **trailing}, list(order)),
        "MyTrade": _obj({"symbol": _str(), "id": _int(), "orderId": _int(), "orderListId": _int(), "price": _dec(),
                         "qty": _dec(), "quoteQty": _dec(), "commission": _dec(), "commissionAsset": _str(),
                         "time": _int(), "isBuyer": _bool(), "isMaker": _bool(), "isBestMatch": _bool()}),
        "RateLimit": _obj({"rateLimitType": _str(enum=["REQUEST_WEIGHT", "ORDERS"]),
                           "interval": _str(enum=["SECOND", "MINUTE", "HOUR", "DAY"]), "intervalNum": _int(),
                           "limit": _int()}),
        "OrderRateLimit": _obj({"rateLimitType": _str(enum=["ORDERS"]),
                                "interval": _str(enum=["SECOND", "MINUTE", "HOUR", "DAY"]), "intervalNum": _int(),
                                "limit": _int(), "count": _int("this account's orders in the current window")}),
        "Balance": _obj(balance),
        "Account": _obj({"makerCommission": _int(), "takerCommission": _int(), "buyerCommission": _int(),
                         "sellerCommission": _int(), "commissionRates": {"type": "object"}, "canTrade": _bool(),
                         "canWithdraw": _bool(), "canDeposit": _bool(), "brokered": _bool(),
                         "requireSelfTradePrevention": _bool(), "preventSor": _bool(), "updateTime": _int(),
                         "accountType": _str(), "balances": _array(_ref("Balance")), "permissions": _array(_str()),
                         "uid": _int()}),
        "ListenKey": _obj({"listenKey": _str()}),
        "NewAccount": _obj({"accountId": _int(), "apiKey": _str(),
                            "secretKey": _str("HMAC accounts only: the secret the requests are signed with"),
                            "keyType": _str(enum=["HMAC", "ED25519", "RSA"])},
                           ["accountId", "apiKey", "keyType"]),
        "NewAccountRequest": {"type": "object", "additionalProperties": False, "properties": {
            "publicKey": _str("An Ed25519 or RSA (2048 bits or more) public key, PEM: the account signs with its "
                              "private key; without it the account gets an HMAC secret key")}},
        "Transfer": _obj({"accountId": _int(minimum=1), "asset": _str(), "amount": _dec("a positive decimal string")}),
        "SeedOrder": _obj({"symbol": _str(), "side": _str(enum=["BUY", "SELL"]), "price": _dec(), "quantity": _dec(),
                           "type": _str(enum=ORDER_TYPES), "timeInForce": _str(enum=["GTC", "IOC", "FOK"]),
                           "clientOrderId": _str(maxLength=36), "quoteOrderQty": _dec(), "stopPrice": _dec(),
                           "trailingDelta": _int(), "newOrderRespType": _str(enum=list(RESP_TYPES))},
                          ["symbol", "side"]),
    }


def _headers() -> dict:
    def header(description: str) -> dict:
        return {"description": description, "schema": _int(minimum=0)}

    return {
        "X-MBX-USED-WEIGHT-1M": header(
            "The client IP's request weight used in the current minute (one such header per REQUEST_WEIGHT limit "
            "of exchangeInfo's rateLimits: X-MBX-USED-WEIGHT-<intervalNum><S|M|H|D>)"),
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
    return {"oneOf": [_ref(name), _array(_ref(name))]}


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
    order_ref = [SYMBOL, _p("orderId", _int()), _p("origClientOrderId", _str(maxLength=36))]
    new_order = [
        SYMBOL,
        _p("side", _str(enum=["BUY", "SELL"]), True),
        _p("type", _str(enum=ORDER_TYPES), True),
        _p("timeInForce", _str(enum=["GTC", "IOC", "FOK"]), False,
           "LIMIT, STOP_LOSS_LIMIT and TAKE_PROFIT_LIMIT only (mandatory there)."),
        _p("quantity", _dec(), False, "Every type but MARKET (mandatory there); MARKET: this or quoteOrderQty."),
        _p("quoteOrderQty", _dec(), False, "MARKET only: quote amount to spend (BUY) or receive (SELL)."),
        _p("price", _dec(), False, "LIMIT, LIMIT_MAKER, STOP_LOSS_LIMIT and TAKE_PROFIT_LIMIT."),
        _p("stopPrice", _dec(), False,
           "STOP_LOSS, STOP_LOSS_LIMIT, TAKE_PROFIT, TAKE_PROFIT_LIMIT (this or trailingDelta mandatory there): the "
           "last trade price that triggers the order (STOP_LOSS SELL and TAKE_PROFIT BUY at or below it, the others "
           "at or above); with trailingDelta, the price at which the trailing starts; -2010 'Stop price would trigger "
           "immediately.' when it already has."),
        _p("trailingDelta", _int(), False,
           "The four stop types: a trailing stop. It tracks the highest (SELL) or lowest (BUY) trade price since it "
           "started, from its placement (no stopPrice) or from the first trade that reaches stopPrice, and triggers "
           "at a trade this many BIPS (0.01%) below (SELL) or above (BUY) it. Within the symbol's TRAILING_DELTA "
           "filter (above range: STOP_LOSS BUY, TAKE_PROFIT SELL; below range: the others), else -1013 'Filter "
           "failure: TRAILING_DELTA'."),
        _p("newClientOrderId", _str(pattern="^[a-zA-Z0-9-_]{1,36}$")),
        _p("newOrderRespType", _str(enum=list(RESP_TYPES)), False, "Default FULL for LIMIT and MARKET, ACK otherwise."),
        _p("selfTradePreventionMode", _str(enum=STP_MODES), False, "Default: the symbol's."),
        _p("strategyId", _int(), False, "Echoed in the answer (not kept)."),
        _p("strategyType", _int(minimum=1000000), False, "At least 1000000 (-1130); echoed in the answer (not kept)."),
        _p("icebergQty", _dec(), False, "Only 0: iceberg orders are refused (-2010)."),
        _p("pegPriceType", _str(), False, "Pegged orders are refused (-2010), never placed as plain ones."),
        _p("pegOffsetValue", _int(), False, "Refused (-2010), as pegPriceType."),
        _p("pegOffsetType", _str(), False, "Refused (-2010), as pegPriceType."),
    ]
    history = [SYMBOL, _p("startTime", _int()), _p("endTime", _int()), _limit(500, 1000)]
    listen_key = [_p("listenKey", _str(), True)]
    public, market = "Public", "Market data"
    paths = {
        "/api/v3/ping": {"get": _op("Test connectivity", _json(_ref("Empty")), tag=public)},
        "/api/v3/time": {"get": _op("Server time", _json(_ref("ServerTime")), tag=public)},
        "/api/v3/exchangeInfo": {"get": _op("Exchange information", _json(_ref("ExchangeInfo")),
                                            [SYMBOL_OPT, SYMBOLS], tag=public)},
        "/api/v3/depth": {"get": _op("Order book", _json(_ref("Depth")), [SYMBOL, _limit(100, 5000, DEPTH_LIMITS)], tag=market)},
        "/api/v3/trades": {"get": _op("Recent trades", _json(_array(_ref("Trade"))), [SYMBOL, _limit(500, 1000)], tag=market)},
        "/api/v3/historicalTrades": {"get": _op(
            "Older trades", _json(_array(_ref("Trade"))),
            [SYMBOL, _p("fromId", _int(), False, "Trade id to start from (inclusive); default: the most recent trades."),
             _limit(500, 1000)], tag=market)},
        "/api/v3/aggTrades": {"get": _op(
            "Aggregate trades", _json(_array(_ref("AggTrade"))),
            [SYMBOL, _p("fromId", _int(), False, "Aggregate id to start from (inclusive); not with startTime/endTime "
                                                 "(-1128)."),
             _p("startTime", _int(), False, "ms, inclusive; with endTime at most one hour apart (-1127)."),
             _p("endTime", _int(), False, "ms, inclusive."), _limit(500, 1000)], tag=market,
            description="Each trade is its own aggregate (a = f = l = the trade id), numbered as the aggTrade "
                        "stream numbers them. Without fromId and startTime: the most recent.")},
        "/api/v3/klines": {"get": _op("Klines", _json(_array(_ref("Kline"))),
                                      [SYMBOL, _p("interval", _str(enum=INTERVALS), True), _p("startTime", _int()),
                                       _p("endTime", _int()), _limit(500, 1000)], tag=market)},
        "/api/v3/ticker/24hr": {"get": _op("24hr ticker", _json(_one_or_many("Ticker24hr")), [SYMBOL_OPT, SYMBOLS], tag=market)},
        "/api/v3/ticker/price": {"get": _op("Price ticker", _json(_one_or_many("TickerPrice")), [SYMBOL_OPT, SYMBOLS], tag=market)},
        "/api/v3/ticker/bookTicker": {"get": _op("Book ticker", _json(_one_or_many("BookTicker")), [SYMBOL_OPT, SYMBOLS], tag=market)},
        "/api/v3/avgPrice": {"get": _op("Average price", _json(_ref("AvgPrice")), [SYMBOL], tag=market)},
        "/api/v3/order": {
            "post": _signed("New order", _json({"oneOf": [_ref("OrderAck"), _ref("OrderResult"), _ref("OrderFull")]}),
                            new_order, body=True,
                            description="SIGNED. A parameter not listed here is refused with -1104 (never dropped)."),
            "get": _signed("Query order", _json(_ref("Order")), order_ref),
            "delete": _signed("Cancel order", _json(_ref("Cancel")), order_ref + [
                _p("newClientOrderId", _str(pattern="^[a-zA-Z0-9-_]{1,36}$"), False,
                   "The cancel's own client id: the answer's clientOrderId and the executionReport's c "
                   "(default cancel-<orderId>); origClientOrderId and C are the order's."),
                _p("cancelRestrictions", _str(enum=["ONLY_NEW", "ONLY_PARTIALLY_FILLED"]), False,
                   "Cancel only if the order is NEW (nothing filled) / PARTIALLY_FILLED; otherwise -2011 "
                   "\"Order was not canceled due to cancel restrictions.\"")], body=True),
        },
        "/api/v3/openOrders": {
            "get": _signed("Open orders", _json(_array(_ref("Order"))), [SYMBOL_OPT]),
            "delete": _signed("Cancel all open orders on a symbol", _json(_array(_ref("Cancel"))), [SYMBOL], body=True),
        },
        "/api/v3/allOrders": {"get": _signed("All orders", _json(_array(_ref("Order"))),
                                             [SYMBOL, _p("orderId", _int())] + history[1:])},
        "/api/v3/myTrades": {"get": _signed("Account trade list", _json(_array(_ref("MyTrade"))),
                                            [SYMBOL, _p("orderId", _int(), False, "Only this order's trades."),
                                             _p("fromId", _int(), False, "Trade id to start from (inclusive).")]
                                            + history[1:],
                                            description="startTime and endTime at most 24 hours apart (-1127); "
                                                        "orderId or fromId with a time: -1128.")},
        "/api/v3/account": {"get": _signed("Account information", _json(_ref("Account")),
                                           [_p("omitZeroBalances", _bool(), False,
                                               "true: leave out assets with nothing free or locked.")], tag="Account")},
        "/api/v3/rateLimit/order": {"get": _signed(
            "Query unfilled order count", _json(_array(_ref("OrderRateLimit"))), [], tag="Account",
            description="SIGNED. The account's count of orders in the current window of each ORDERS limit "
                        "(empty when the node has no rate limits).")},
        "/api/v3/userDataStream": {
            "post": _op("Start user data stream", _json(_ref("ListenKey")), tag="User data stream",
                        security=KEY_SECURITY, errors=ERRORS),
            "put": _op("Keep alive user data stream", _json(_ref("Empty")), listen_key, tag="User data stream",
                       security=KEY_SECURITY, errors=ERRORS),
            "delete": _op("Close user data stream", _json(_ref("Empty")), listen_key, tag="User data stream",
                          security=KEY_SECURITY, errors=ERRORS),
        },
        "/api/spot/v2/": {"post": _op(
            "Seed order endpoint", _json({"oneOf": [_ref("OrderAck"), _ref("OrderResult"), _ref("OrderFull")]}),
            SIGNED_PARAMS, tag="Trading", security=SIGNED_SECURITY, errors=ERRORS,
            body={"required": True, "content": {"application/json": {"schema": _ref("SeedOrder")}}},
            description="The seed's order entry: a JSON body; the signature covers the query string followed by "
                        "the raw body. type defaults to LIMIT with a price (timeInForce GTC), else MARKET.")},
        "/admin/v1/accounts": {"post": _op("Create account", _json(_ref("NewAccount")), tag="Admin",
                                           security=ADMIN_SECURITY, errors=ERRORS,
                                           body={"required": False, "content": {
                                               "application/json": {"schema": _ref("NewAccountRequest")}}},
                                           description="An empty body: an HMAC account (its secretKey in the "
                                                       "answer, once). publicKey: an Ed25519 or RSA account.")},
        "/admin/v1/deposit": {"post": _op("Deposit", _json(_ref("Balance")), tag="Admin", security=ADMIN_SECURITY,
                                          errors=ERRORS, body={"required": True, "content": {
                                              "application/json": {"schema": _ref("Transfer")}}})},
        "/admin/v1/withdraw": {"post": _op("Withdraw", _json(_ref("Balance")), tag="Admin", security=ADMIN_SECURITY,
                                           errors=ERRORS, body={"required": True, "content": {
                                               "application/json": {"schema": _ref("Transfer")}}})},
        "/metrics": {"get": _op("Prometheus metrics", {"description": "Prometheus text exposition",
                                                        "content": {"text/plain": {"schema": _str()}}}, tag="Operations")},
        "/openapi.json": {"get": _op("This document", _json({"type": "object"}), tag="Operations")},
        "/ws-api/v3": {"get": _op(
            "Binance's WebSocket API (a WebSocket upgrade)",
            {"description": "not answered: the connection is upgraded (101) to a WebSocket"},
            tag="WebSocket API",
            description="JSON text frames {id, method, params} answered {id, status, result|error, rateLimits}: "
                        "order.place, order.status, order.cancel, openOrders.status, openOrders.cancelAll, "
                        "allOrders, myTrades, account.status, account.rateLimits.orders, depth, trades.recent, "
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
                           '{"code": <Binance code>, "msg": <Binance text>} with a 4xx status.',
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
