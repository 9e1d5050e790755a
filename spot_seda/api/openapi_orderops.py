"""The OpenAPI description of the order operations of api/orderops.py (order/test, cancelReplace,
amend/keepPriority), merged into openapi.py's document: their paths and the schemas of their answers."""

from __future__ import annotations

from .openapi_schema import _array, _bool, _dec, _int, _json, _obj, _p, _ref, _signed, _str

_CLIENT_ID = r"^[a-zA-Z0-9-_]{1,36}$"
#: a stop leg's trailingDelta, as POST /api/v3/order takes it
_TRAILING = "A trailing stop (BIPS; POST /api/v3/order's trailingDelta): with or without a stop price."


def order_ops_schemas() -> dict:
    rates = _obj({"maker": _dec(), "taker": _dec()})
    half_error = _ref("Error")
    new_answer = {"oneOf": [_ref("OrderAck"), _ref("OrderResult"), _ref("OrderFull")]}
    halves = _obj({
        "cancelResult": _str(enum=["SUCCESS", "FAILURE"]),
        "newOrderResult": _str(enum=["SUCCESS", "FAILURE", "NOT_ATTEMPTED"]),
        "cancelResponse": {"oneOf": [_ref("Cancel"), half_error]},
        "newOrderResponse": {"oneOf": [new_answer, half_error], "nullable": True},
    })
    return {
        "TestOrderCommission": {"type": "object", "description": "{} without computeCommissionRates", "properties": {
            "standardCommissionForOrder": rates, "specialCommissionForOrder": rates, "taxCommissionForOrder": rates,
            "discount": _obj({"enabledForAccount": _bool(), "enabledForSymbol": _bool(), "discountAsset": _str(),
                              "discount": _dec()})}},
        "CancelReplace": halves,
        "AmendedOrder": _obj({
            "transactTime": _int(), "executionId": _int("not tracked by the node: -1"),
            "amendedOrder": _obj({**{k: _str() for k in ("symbol", "origClientOrderId", "clientOrderId", "status",
                                                       "timeInForce", "type", "side", "selfTradePreventionMode")},
                                  **{k: _dec() for k in ("price", "qty", "executedQty", "preventedQty", "quoteOrderQty",
                                                         "cumulativeQuoteQty")},
                                  "orderId": _int(), "orderListId": _int(), "workingTime": _int()},
                                 ["symbol", "orderId", "clientOrderId", "qty", "status"])}),
        "OrderList": _obj({"orderListId": _int(), "contingencyType": _str(enum=["OCO", "OTO"]),
                           "listStatusType": _str(enum=["EXEC_STARTED", "ALL_DONE"]),
                           "listOrderStatus": _str(enum=["EXECUTING", "ALL_DONE", "REJECT"]),
                           "listClientOrderId": _str(), "transactionTime": _int(), "symbol": _str(),
                           "orders": _array(_obj({"symbol": _str(), "orderId": _int(), "clientOrderId": _str()}))}),
        "OrderListPlaced": {"allOf": [_ref("OrderList"), _obj({"orderReports": _array({"type": "object"})})]},
        "CancelReplaceError": _obj({"code": _int("-2021 (one half failed, HTTP 409) or -2022 (both, HTTP 400)"),
                                    "msg": _str(), "data": _ref("CancelReplace")}),
    }


def order_ops_paths(new_order: list[dict]) -> dict:
    """The paths; `new_order` is POST /api/v3/order's parameter list, which both endpoints take."""
    replace_params = new_order + [
        _p("cancelReplaceMode", _str(enum=["STOP_ON_FAILURE", "ALLOW_FAILURE"]), True,
           "STOP_ON_FAILURE: no new order if the cancel fails; ALLOW_FAILURE: the new order is tried anyway."),
        _p("cancelOrderId", _int(), False, "This or cancelOrigClientOrderId (both: they must name the same order)."),
        _p("cancelOrigClientOrderId", _str(pattern=_CLIENT_ID)),
        _p("cancelNewClientOrderId", _str(pattern=_CLIENT_ID), False,
           "The cancel's own client id (default cancel-<orderId>)."),
        _p("cancelRestrictions", _str(enum=["ONLY_NEW", "ONLY_PARTIALLY_FILLED"])),
        _p("orderRateLimitExceededMode", _str(enum=["DO_NOTHING", "CANCEL_ONLY"]), False,
           "Past the orders rate limit: DO_NOTHING (default) refuses the whole request (429 -1015); CANCEL_ONLY "
           "still cancels."),
    ]
    replace_errors = {
        "409": _json(_ref("CancelReplaceError"), "-2021 Order cancel-replace partially failed: data holds both halves"),
    }
    replace = _signed(
        "Cancel an existing order and send a new order", _json(_ref("CancelReplace")), replace_params, body=True,
        description="SIGNED. Every parameter is validated first (a bad one: a plain error, nothing canceled). Then "
                    "the cancel, then the new order, which may use the funds the cancel released. Both succeeded: "
                    "200; one: 409 -2021; none: 400 -2022 \"Order cancel-replace failed.\" with data.")
    replace["responses"].update(replace_errors)
    test = _signed(
        "Test new order", _json(_ref("TestOrderCommission")),
        new_order + [_p("computeCommissionRates", _bool(), False, "true: answer the commission rates (weight 20).")],
        body=True, description="SIGNED. Validated as POST /api/v3/order is (same errors); nothing is placed.")
    amend = _signed(
        "Order amend keep priority", _json(_ref("AmendedOrder")),
        [new_order[0], _p("orderId", _int()), _p("origClientOrderId", _str(pattern=_CLIENT_ID)),
         _p("newClientOrderId", _str(pattern=_CLIENT_ID), False,
            "The order's client id after the amend (default amend-<orderId>; its current one may be reused)."),
         _p("newQty", _dec(), True, "The new total quantity: below the order's (-2038 otherwise), on LOT_SIZE.")],
        body=True, description="SIGNED. Reduces an open order's quantity keeping its place in the queue; what it no "
                               "longer needs frozen is released before the answer. Reported REPLACED on the user data "
                               "stream. At or below the executed quantity the order ends EXPIRED. -2038 with Binance's "
                               "text when the order refuses it.")
    list_ref = [_p("orderListId", _int()), _p("origClientOrderId", _str(pattern=_CLIENT_ID))]
    leg = []
    for where in ("above", "below"):
        leg += [_p(f"{where}Type", _str(enum=["LIMIT_MAKER", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT", "STOP_LOSS",
                                              "STOP_LOSS_LIMIT"]), True),
                _p(f"{where}ClientOrderId", _str(pattern=_CLIENT_ID)), _p(f"{where}Price", _dec()),
                _p(f"{where}StopPrice", _dec()), _p(f"{where}TrailingDelta", _int(), False, _TRAILING),
                _p(f"{where}TimeInForce", _str(enum=["GTC", "IOC", "FOK"]))]
    oco_params = [new_order[0], _p("side", _str(enum=["BUY", "SELL"]), True), _p("quantity", _dec(), True),
                  _p("listClientOrderId", _str(pattern=_CLIENT_ID)), *leg,
                  _p("newOrderRespType", _str(enum=["ACK", "RESULT", "FULL"])),
                  _p("selfTradePreventionMode", _str())]
    legacy_params = [new_order[0], _p("side", _str(enum=["BUY", "SELL"]), True), _p("quantity", _dec(), True),
                     _p("price", _dec(), True, "The LIMIT_MAKER leg's price."),
                     _p("stopPrice", _dec(), True, "The stop leg's stop price."),
                     _p("stopLimitPrice", _dec(), False, "A STOP_LOSS_LIMIT's price (else a STOP_LOSS)."),
                     _p("stopLimitTimeInForce", _str(enum=["GTC", "IOC", "FOK"])),
                     _p("trailingDelta", _int(), False, _TRAILING),
                     _p("listClientOrderId", _str(pattern=_CLIENT_ID)), _p("limitClientOrderId", _str()),
                     _p("stopClientOrderId", _str()), _p("newOrderRespType", _str(enum=["ACK", "RESULT", "FULL"]))]
    oco_text = ("SIGNED. Two orders of which the first to work (trade, or trigger) cancels the other, decided in "
                "Match with the command that causes it; canceling one leg cancels both. One leg LIMIT_MAKER / "
                "TAKE_PROFIT(_LIMIT), the other STOP_LOSS(_LIMIT) (-2010 'Unsupported order combination'); funds "
                "frozen once. -2010 'The relationship of the prices for the orders is not correct.' where a leg "
                "would take or trigger at once. Counts two orders.")
    oto_params = [new_order[0], _p("listClientOrderId", _str(pattern=_CLIENT_ID)),
                  _p("newOrderRespType", _str(enum=["ACK", "RESULT", "FULL"])), _p("selfTradePreventionMode", _str())]
    for leg, types in (("working", ["LIMIT", "LIMIT_MAKER"]),
                       ("pending", ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT",
                                    "TAKE_PROFIT_LIMIT"])):
        oto_params += [_p(f"{leg}Type", _str(enum=types), True), _p(f"{leg}Side", _str(enum=["BUY", "SELL"]), True),
                       _p(f"{leg}Quantity", _dec(), True), _p(f"{leg}Price", _dec()),
                       _p(f"{leg}ClientOrderId", _str(pattern=_CLIENT_ID)),
                       _p(f"{leg}TimeInForce", _str(enum=["GTC", "IOC", "FOK"]))]
    oto_params += [_p("pendingStopPrice", _dec()), _p("pendingTrailingDelta", _int(), False, _TRAILING)]
    oto = _signed("New order list OTO", _json(_ref("OrderListPlaced")), oto_params, body=True,
                  description="SIGNED. A working order (LIMIT / LIMIT_MAKER) and a pending order placed by Match when "
                              "the working one has filled (PENDING_NEW until then); each holds its funds from entry; "
                              "canceling either cancels both. Counts two orders.")
    otoco_params = [p for p in oto_params if not p["name"].startswith("pending")] + [
        _p("pendingSide", _str(enum=["BUY", "SELL"]), True), _p("pendingQuantity", _dec(), True)]
    for where in ("Above", "Below"):
        otoco_params += [_p(f"pending{where}Type", _str(enum=["LIMIT_MAKER", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT",
                                                              "STOP_LOSS", "STOP_LOSS_LIMIT"]), where == "Above"),
                         _p(f"pending{where}ClientOrderId", _str(pattern=_CLIENT_ID)), _p(f"pending{where}Price", _dec()),
                         _p(f"pending{where}StopPrice", _dec()),
                         _p(f"pending{where}TrailingDelta", _int(), False, _TRAILING),
                         _p(f"pending{where}TimeInForce", _str(enum=["GTC", "IOC", "FOK"]))]
    refused_otoco = _signed("New order list OTOCO", _json(_ref("OrderListPlaced")), otoco_params, body=True,
                            description="SIGNED. An OTO whose pending orders are an OCO pair (the OCO's rules), placed "
                                        "together when the working order fills. Counts three orders.")
    lists = {
        "/api/v3/orderList/oco": {"post": _signed("New order list OCO", _json(_ref("OrderListPlaced")), oco_params,
                                                  body=True, description=oco_text)},
        "/api/v3/order/oco": {"post": _signed("New OCO (deprecated)", _json(_ref("OrderListPlaced")), legacy_params,
                                              body=True, description=oco_text)},
        "/api/v3/orderList/oto": {"post": oto},
        "/api/v3/orderList/otoco": {"post": refused_otoco},
        "/api/v3/orderList": {
            "get": _signed("Query order list", _json(_ref("OrderList")), list_ref,
                           description="SIGNED. -2013 'Order list does not exist.' for none of the account's."),
            "delete": _signed("Cancel order list", _json(_ref("OrderListPlaced")),
                              [new_order[0], _p("orderListId", _int()), _p("listClientOrderId", _str()),
                               _p("newClientOrderId", _str(pattern=_CLIENT_ID))], body=True,
                              description="SIGNED. Both legs canceled; a list not open: -2011."),
        },
        "/api/v3/allOrderList": {"get": _signed("Query all order lists", _json(_array(_ref("OrderList"))),
                                                [_p("fromId", _int()), _p("startTime", _int()), _p("endTime", _int()),
                                                 _p("limit", _int(maximum=1000, default=500))])},
        "/api/v3/openOrderList": {"get": _signed("Query open order lists", _json(_array(_ref("OrderList"))), [])},
    }
    return lists | {
        "/api/v3/order/test": {"post": test},
        "/api/v3/order/cancelReplace": {"post": replace},
        "/api/v3/order/amend/keepPriority": {"put": amend},
    }

