"""The OpenAPI description of the order operations of api/orderops.py (order/test, cancelReplace,
amend/keepPriority), merged into openapi.py's document: their paths and the schemas of their answers."""

from __future__ import annotations

from .openapi_schema import CLIENT_ID, array, boolean, dec, integer, json_answer, obj, param, ref, signed_doc, string

#: a stop leg's trailingDelta, as POST /api/v3/order takes it
_TRAILING = "A trailing stop (BIPS; POST /api/v3/order's trailingDelta): with or without a stop price."


def order_ops_schemas() -> dict:
    rates = obj({"maker": dec(), "taker": dec()})
    half_error = ref("Error")
    new_answer = {"oneOf": [ref("OrderAck"), ref("OrderResult"), ref("OrderFull")]}
    halves = obj({
        "cancelResult": string(enum=["SUCCESS", "FAILURE"]),
        "newOrderResult": string(enum=["SUCCESS", "FAILURE", "NOT_ATTEMPTED"]),
        "cancelResponse": {"oneOf": [ref("Cancel"), half_error]},
        "newOrderResponse": {"oneOf": [new_answer, half_error], "nullable": True},
    })
    return {
        "TestOrderCommission": {"type": "object", "description": "{} without computeCommissionRates", "properties": {
            "standardCommissionForOrder": rates, "specialCommissionForOrder": rates, "taxCommissionForOrder": rates,
            "discount": obj({"enabledForAccount": boolean(), "enabledForSymbol": boolean(), "discountAsset": string(),
                              "discount": dec()})}},
        "AccountCommission": obj({"symbol": string(), **{k: obj({side: dec() for side in ("maker", "taker", "buyer", "seller")})
                                                      for k in ("standardCommission", "specialCommission", "taxCommission")},
                                  "discount": obj({"enabledForAccount": boolean(), "enabledForSymbol": boolean(),
                                                   "discountAsset": string(), "discount": dec()})}),
        "CancelReplace": halves,
        "AmendedOrder": obj({
            "transactTime": integer(), "executionId": integer("the \"I\" of the amend's executionReport (REPLACED) on the user data stream"),
            "amendedOrder": obj({**{k: string() for k in ("symbol", "origClientOrderId", "clientOrderId", "status",
                                                       "timeInForce", "type", "side", "selfTradePreventionMode")},
                                  **{k: dec() for k in ("price", "qty", "executedQty", "preventedQty", "quoteOrderQty",
                                                         "cumulativeQuoteQty")},
                                  "orderId": integer(), "orderListId": integer(), "workingTime": integer()},
                                 ["symbol", "orderId", "clientOrderId", "qty", "status"]),
            # only for an order of an order list: the list, its orders' client ids as they are now
            "listStatus": obj({"orderListId": integer(), "contingencyType": string(enum=["OCO", "OTO"]),
                               "listOrderStatus": string(enum=["EXECUTING"]), "listClientOrderId": string(),
                               "symbol": string(),
                               "orders": array(obj({"symbol": string(), "orderId": integer(), "clientOrderId": string()}))})},
            ["transactTime", "executionId", "amendedOrder"]),
        "OrderList": obj({"orderListId": integer(), "contingencyType": string(enum=["OCO", "OTO"]),
                           "listStatusType": string(enum=["EXEC_STARTED", "ALL_DONE"]),
                           "listOrderStatus": string(enum=["EXECUTING", "ALL_DONE", "REJECT"]),
                           "listClientOrderId": string(), "transactionTime": integer(), "symbol": string(),
                           "orders": array(obj({"symbol": string(), "orderId": integer(), "clientOrderId": string()}))}),
        "OrderListPlaced": {"allOf": [ref("OrderList"), obj({"orderReports": array({"type": "object"})})]},
        "CancelReplaceError": obj({"code": integer("-2021 (one half failed, HTTP 409) or -2022 (both, HTTP 400)"),
                                    "msg": string(), "data": ref("CancelReplace")}),
    }


def order_ops_paths(new_order: list[dict]) -> dict:
    """The paths; `new_order` is POST /api/v3/order's parameter list, which both endpoints take."""
    replace_params = new_order + [
        param("cancelReplaceMode", string(enum=["STOP_ON_FAILURE", "ALLOW_FAILURE"]), True,
           "STOP_ON_FAILURE: no new order if the cancel fails; ALLOW_FAILURE: the new order is tried anyway."),
        param("cancelOrderId", integer(), False, "This or cancelOrigClientOrderId (both: they must name the same order)."),
        param("cancelOrigClientOrderId", string(pattern=CLIENT_ID)),
        param("cancelNewClientOrderId", string(pattern=CLIENT_ID), False,
           "The cancel's own client id (default cancel-<orderId>)."),
        param("cancelRestrictions", string(enum=["ONLY_NEW", "ONLY_PARTIALLY_FILLED"])),
        param("orderRateLimitExceededMode", string(enum=["DO_NOTHING", "CANCEL_ONLY"]), False,
           "Past the orders rate limit: DO_NOTHING (default) refuses the whole request (429 -1015); CANCEL_ONLY "
           "still cancels."),
    ]
    replace_errors = {
        "409": json_answer(ref("CancelReplaceError"), "-2021 Order cancel-replace partially failed: data holds both halves"),
    }
    replace = signed_doc(
        "Cancel an existing order and send a new order", json_answer(ref("CancelReplace")), replace_params, body=True,
        description="SIGNED. Every parameter is validated first (a bad one: a plain error, nothing canceled). Then "
                    "the cancel, then the new order, which may use the funds the cancel released. Both succeeded: "
                    "200; one: 409 -2021; none: 400 -2022 \"Order cancel-replace failed.\" with data.")
    replace["responses"].update(replace_errors)
    test = signed_doc(
        "Test new order", json_answer(ref("TestOrderCommission")),
        new_order + [param("computeCommissionRates", boolean(), False, "true: answer the commission rates (weight 20).")],
        body=True, description="SIGNED. Validated as POST /api/v3/order is (same errors); nothing is placed.")
    amend = signed_doc(
        "Order amend keep priority", json_answer(ref("AmendedOrder")),
        [new_order[0], param("orderId", integer()), param("origClientOrderId", string(pattern=CLIENT_ID)),
         param("newClientOrderId", string(pattern=CLIENT_ID), False,
            "The order's client id after the amend (default amend-<orderId>; its current one may be reused)."),
         param("newQty", dec(), True, "The new total quantity: below the order's (-2038 otherwise), on LOT_SIZE.")],
        body=True, description="SIGNED. Reduces an open order's quantity keeping its place in the queue; what it no "
                               "longer needs frozen is released before the answer. Reported REPLACED on the user data "
                               "stream. At or below the executed quantity the order ends EXPIRED. -2038 with Binance's "
                               "text when the order refuses it.")
    list_ref = [param("orderListId", integer()), param("origClientOrderId", string(pattern=CLIENT_ID))]
    leg = []
    for where in ("above", "below"):
        leg += [param(f"{where}Type", string(enum=["LIMIT_MAKER", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT", "STOP_LOSS",
                                              "STOP_LOSS_LIMIT"]), True),
                param(f"{where}ClientOrderId", string(pattern=CLIENT_ID)), param(f"{where}Price", dec()),
                param(f"{where}StopPrice", dec()), param(f"{where}TrailingDelta", integer(), False, _TRAILING),
                param(f"{where}TimeInForce", string(enum=["GTC", "IOC", "FOK"]))]
    oco_params = [new_order[0], param("side", string(enum=["BUY", "SELL"]), True), param("quantity", dec(), True),
                  param("listClientOrderId", string(pattern=CLIENT_ID)), *leg,
                  param("newOrderRespType", string(enum=["ACK", "RESULT", "FULL"])),
                  param("selfTradePreventionMode", string())]
    legacy_params = [new_order[0], param("side", string(enum=["BUY", "SELL"]), True), param("quantity", dec(), True),
                     param("price", dec(), True, "The LIMIT_MAKER leg's price."),
                     param("stopPrice", dec(), True, "The stop leg's stop price."),
                     param("stopLimitPrice", dec(), False, "A STOP_LOSS_LIMIT's price (else a STOP_LOSS)."),
                     param("stopLimitTimeInForce", string(enum=["GTC", "IOC", "FOK"])),
                     param("trailingDelta", integer(), False, _TRAILING),
                     param("listClientOrderId", string(pattern=CLIENT_ID)), param("limitClientOrderId", string()),
                     param("stopClientOrderId", string()), param("newOrderRespType", string(enum=["ACK", "RESULT", "FULL"]))]
    oco_text = ("SIGNED. Two orders of which the first to work (trade, or trigger) cancels the other, decided in "
                "Match with the command that causes it; canceling one leg cancels both. One leg LIMIT_MAKER / "
                "TAKE_PROFIT(_LIMIT), the other STOP_LOSS(_LIMIT) (-2010 'Unsupported order combination'); funds "
                "frozen once. -2010 'The relationship of the prices for the orders is not correct.' where a leg "
                "would take or trigger at once. Counts two orders.")
    oto_params = [new_order[0], param("listClientOrderId", string(pattern=CLIENT_ID)),
                  param("newOrderRespType", string(enum=["ACK", "RESULT", "FULL"])), param("selfTradePreventionMode", string())]
    for leg, types in (("working", ["LIMIT", "LIMIT_MAKER"]),
                       ("pending", ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT",
                                    "TAKE_PROFIT_LIMIT"])):
        oto_params += [param(f"{leg}Type", string(enum=types), True), param(f"{leg}Side", string(enum=["BUY", "SELL"]), True),
                       param(f"{leg}Quantity", dec(), True), param(f"{leg}Price", dec(), leg == "working"),
                       param(f"{leg}ClientOrderId", string(pattern=CLIENT_ID)),
                       param(f"{leg}TimeInForce", string(enum=["GTC", "IOC", "FOK"]))]
    oto_params += [param("pendingStopPrice", dec()), param("pendingTrailingDelta", integer(), False, _TRAILING)]
    oto = signed_doc("New order list OTO", json_answer(ref("OrderListPlaced")), oto_params, body=True,
                  description="SIGNED. A working order (LIMIT / LIMIT_MAKER) and a pending order placed by Match when "
                              "the working one has filled (PENDING_NEW until then); each holds its funds from entry; "
                              "canceling either cancels both. Counts two orders.")
    otoco_params = [p for p in oto_params if not p["name"].startswith("pending")] + [
        param("pendingSide", string(enum=["BUY", "SELL"]), True), param("pendingQuantity", dec(), True)]
    for where in ("Above", "Below"):
        otoco_params += [param(f"pending{where}Type", string(enum=["LIMIT_MAKER", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT",
                                                              "STOP_LOSS", "STOP_LOSS_LIMIT"]), where == "Above"),
                         param(f"pending{where}ClientOrderId", string(pattern=CLIENT_ID)), param(f"pending{where}Price", dec()),
                         param(f"pending{where}StopPrice", dec()),
                         param(f"pending{where}TrailingDelta", integer(), False, _TRAILING),
                         param(f"pending{where}TimeInForce", string(enum=["GTC", "IOC", "FOK"]))]
    refused_otoco = signed_doc("New order list OTOCO", json_answer(ref("OrderListPlaced")), otoco_params, body=True,
                            description="SIGNED. An OTO whose pending orders are an OCO pair (the OCO's rules), placed "
                                        "together when the working order fills. Counts three orders.")
    lists = {
        "/api/v3/orderList/oco": {"post": signed_doc("New order list OCO", json_answer(ref("OrderListPlaced")), oco_params,
                                                  body=True, description=oco_text)},
        "/api/v3/order/oco": {"post": signed_doc("New OCO (deprecated)", json_answer(ref("OrderListPlaced")), legacy_params,
                                              body=True, description=oco_text)},
        "/api/v3/orderList/oto": {"post": oto},
        "/api/v3/orderList/otoco": {"post": refused_otoco},
        "/api/v3/orderList": {
            "get": signed_doc("Query order list", json_answer(ref("OrderList")), list_ref,
                           description="SIGNED. -2013 'Order list does not exist.' for none of the account's."),
            "delete": signed_doc("Cancel order list", json_answer(ref("OrderListPlaced")),
                              [new_order[0], param("orderListId", integer()), param("listClientOrderId", string()),
                               param("newClientOrderId", string(pattern=CLIENT_ID))], body=True,
                              description="SIGNED. Both legs canceled; a list not open: -2011."),
        },
        "/api/v3/allOrderList": {"get": signed_doc("Query all order lists", json_answer(array(ref("OrderList"))),
                                                [param("fromId", integer()), param("startTime", integer()), param("endTime", integer()),
                                                 param("limit", integer(maximum=1000, default=500))])},
        "/api/v3/openOrderList": {"get": signed_doc("Query open order lists", json_answer(array(ref("OrderList"))), [])},
    }
    return lists | {
        "/api/v3/order/test": {"post": test},
        "/api/v3/order/cancelReplace": {"post": replace},
        "/api/v3/order/amend/keepPriority": {"put": amend},
    }

