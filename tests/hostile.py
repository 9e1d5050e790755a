"""The vocabulary of the seeded fuzz tests (tests/api/test_hostile.py over REST,
tests/push/test_hostile_ws.py over both WebSocket ports): parameters as an endpoint expects them and
hostile values to put in their place."""

from __future__ import annotations

#: a plausible value for each parameter any endpoint takes, so that a case with a few of them mutated
#: gets past the first check and into the endpoint's own validation
PLAUSIBLE = {
    "symbol": ["BTCUSDT", "ETHUSDT"], "symbols": ['["BTCUSDT","ETHUSDT"]'], "side": ["BUY", "SELL"],
    "type": ["LIMIT", "MARKET", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT"], "timeInForce": ["GTC", "IOC", "FOK"],
    "quantity": ["0.01", "1"], "quoteOrderQty": ["100"], "price": ["50000", "70000.01"], "stopPrice": ["40000"],
    "newClientOrderId": ["fuzz-1"], "origClientOrderId": ["keep-me", "fuzz-1"], "orderId": ["1", "2", "99999"],
    "newOrderRespType": ["ACK", "RESULT", "FULL"], "selfTradePreventionMode": ["NONE", "EXPIRE_TAKER", "DECREMENT"],
    "limit": ["5", "1000"], "interval": ["1m", "1d"], "startTime": ["0"], "endTime": ["4102444800000"],
    "fromId": ["0"], "omitZeroBalances": ["true"], "cancelRestrictions": ["ONLY_NEW"], "strategyId": ["1"],
    "strategyType": ["1000000"], "listenKey": ["x" * 60], "newQty": ["0.005"], "cancelReplaceMode": ["STOP_ON_FAILURE",
    "ALLOW_FAILURE"], "cancelOrderId": ["1"], "cancelOrigClientOrderId": ["keep-me"], "orderListId": ["1"],
    "listClientOrderId": ["fuzz-list"], "aboveType": ["LIMIT_MAKER"], "belowType": ["STOP_LOSS_LIMIT"],
    "abovePrice": ["80000"], "belowPrice": ["30000"], "belowStopPrice": ["31000"], "belowTimeInForce": ["GTC"],
    "workingType": ["LIMIT"], "workingSide": ["BUY"], "workingPrice": ["40000"], "workingQuantity": ["0.01"],
    "pendingType": ["LIMIT", "MARKET"], "pendingSide": ["SELL"], "pendingQuantity": ["0.01"], "pendingPrice": ["60000"],
    "pendingAboveType": ["LIMIT_MAKER"], "pendingBelowType": ["STOP_LOSS"], "stopLimitPrice": ["29000"],
    "computeCommissionRates": ["true"], "orderRateLimitExceededMode": ["DO_NOTHING"], "recvWindow": ["5000", "60000"],
}
_ORDER = ("symbol", "side", "type", "timeInForce", "quantity", "price")
#: the parameters each endpoint needs (the rest: a random few of PLAUSIBLE's), so a case gets deep
TEMPLATES = {
    "/api/v3/order": _ORDER + ("orderId", "origClientOrderId"), "/api/spot/v2/": _ORDER, "/api/v3/order/test": _ORDER,
    "/api/v3/order/cancelReplace": _ORDER + ("cancelReplaceMode", "cancelOrderId"),
    "/api/v3/order/amend/keepPriority": ("symbol", "orderId", "newQty"),
    "/api/v3/orderList/oco": ("symbol", "side", "quantity", "aboveType", "belowType", "abovePrice", "belowPrice",
                              "belowStopPrice", "belowTimeInForce"),
    "/api/v3/order/oco": ("symbol", "side", "quantity", "price", "stopPrice", "stopLimitPrice"),
    "/api/v3/orderList/oto": ("symbol", "workingType", "workingSide", "workingPrice", "workingQuantity", "pendingType",
                              "pendingSide", "pendingQuantity", "pendingPrice"),
    "/api/v3/orderList/otoco": ("symbol", "workingType", "workingSide", "workingPrice", "workingQuantity",
                                "pendingSide", "pendingQuantity", "pendingAboveType", "pendingBelowType"),
    "/api/v3/orderList": ("orderListId",), "/api/v3/klines": ("symbol", "interval"),
    "/api/v3/userDataStream": ("listenKey",),
}
KEYS = list(PLAUSIBLE) + ["", "x" * 300, "sym bol", "é", "[]", "timestamp", "signature", "icebergQty", "pegPriceType"]
VALUES = ["", "-1", "0", "1e400", "NaN", "inf", "-0.0", "9" * 40, "0x10", "1.0.0", "1,5", " 1", "<script>", "'; DROP TABLE x",
          "\x00", "é€", "%", "%zz", "[" * 200, '["BTCUSDT"', '["BTCUSDT","BTCUSDT"]', "BTCUSDT", "btcusdt", "BUY", "LIMIT",
          "FOK", "1m", "x" * 1200, "null", "true", "-9223372036854775809", "18446744073709551616", "0.000000001",
          "50000.001", "0.0000001", "99999999999", "MARKET", "SELL", "STOP_LOSS", "OCO", "1000", "-2**63"]
