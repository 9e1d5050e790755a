"""The parameters and answers of the order operations beside POST /api/v3/order: the test order
(POST /api/v3/order/test) and cancel-replace (POST /api/v3/order/cancelReplace), as Binance's
rest-api.md defines them. No I/O; every bad input is an ApiError with Binance's code and text.

- order/test takes every POST /api/v3/order parameter plus computeCommissionRates (BOOLEAN); it is
  validated exactly as the order would be (same parser, same errors), and nothing is placed.
- cancelReplace takes the new order's parameters (POST /api/v3/order's names) plus the cancel's
  (cancelOrderId and/or cancelOrigClientOrderId, cancelNewClientOrderId, cancelRestrictions),
  cancelReplaceMode (mandatory: STOP_ON_FAILURE or ALLOW_FAILURE) and orderRateLimitExceededMode
  (DO_NOTHING, the default, or CANCEL_ONLY). Everything is validated before anything is canceled,
  as Binance evaluates filters first: a bad parameter is a plain error and changes nothing.
- amend/keepPriority takes symbol, orderId and/or origClientOrderId, newQty (mandatory, on the
  LOT_SIZE step and within it: -1013 otherwise) and newClientOrderId. Whether newQty is below the
  order's quantity is the order's question (-2038: errors.refusal(..., errors.AMEND)).

Each takes the parameters of its set below (TEST_ORDER_PARAMS, REPLACE_PARAMS, AMEND_PARAMS); any
other is refused -1104 before anything else (api/knownparams.py).
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from ..model.enums import ORDER_STATUS_NAMES, ORDER_TYPE_NAMES, SIDE_NAMES, STP_NAMES, TIME_IN_FORCE_NAMES, OrderType
from ..model.fixedpoint import ASSET_DECIMALS, to_text
from ..model.orders import Order
from ..model.symbols import SymbolRules
from . import errors
from .errors import ApiError
from .orderparams import (NEW_ORDER_PARAMS, OrderRequest, check_qty, parse_cancel_restrictions, parse_new_order,
                          parse_order_ref)
from .params import parse_bool, parse_client_order_id, parse_decimal, parse_id_or_client_id, text_param
from .views import amount_text, conditional_fields, contingency_name, price_text, working_time_of

REPLACE_MODES = ("STOP_ON_FAILURE", "ALLOW_FAILURE")
RATE_LIMIT_MODES = ("DO_NOTHING", "CANCEL_ONLY")
#: cancelReplace's own parameters (beside the new order's)
REPLACE_ONLY_PARAMS = frozenset({"cancelReplaceMode", "cancelNewClientOrderId", "cancelOrigClientOrderId",
                                 "cancelOrderId", "cancelRestrictions", "orderRateLimitExceededMode"})
TEST_ORDER_PARAMS = NEW_ORDER_PARAMS | {"computeCommissionRates"}
REPLACE_PARAMS = NEW_ORDER_PARAMS | REPLACE_ONLY_PARAMS
ZERO = to_text(0, ASSET_DECIMALS)


def _choice(params: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str | None = None) -> str:
    value = text_param(params, name)
    if not value:
        if default is None:
            raise errors.mandatory_missing(name)
        return default
    if value not in allowed:
        raise errors.illegal_chars(name, ", ".join(allowed))
    return value


# ----------------------------------------------------------------------------- order/test


def parse_test_order(params: Mapping[str, str], rules: Mapping[str, SymbolRules]) -> tuple[OrderRequest, bool]:
    """POST /api/v3/order/test: the order as POST /api/v3/order would take it, and computeCommissionRates."""
    order = parse_new_order(params, rules)
    compute = parse_bool(params, "computeCommissionRates")
    return order, compute


def _rate(ppm: int) -> str:
    return to_text(ppm * 100, ASSET_DECIMALS)  # parts per million -> a decimal with 8 places


def commission_rates_json(rules: SymbolRules) -> dict:
    """order/test with computeCommissionRates: the rates the order's trades would pay. The node has
    one maker and one taker rate per symbol (the fee is charged in the asset received, whatever the
    side), no special or tax commission and no discount asset."""
    zero = {"maker": ZERO, "taker": ZERO}
    return {
        "standardCommissionForOrder": {"maker": _rate(rules.maker_fee_ppm), "taker": _rate(rules.taker_fee_ppm)},
        "specialCommissionForOrder": dict(zero),
        "taxCommissionForOrder": dict(zero),
        "discount": {"enabledForAccount": False, "enabledForSymbol": False, "discountAsset": "", "discount": ZERO},
    }


def account_commission_json(rules: SymbolRules) -> dict:
    """GET /api/v3/account/commission: the account's rates on `rules`' symbol, order/test's with a
    buyer's and a seller's rate beside (every account pays the symbol's maker and taker rates; a buyer
    or seller pays no more than that)."""
    rates = commission_rates_json(rules)
    return {"symbol": rules.symbol,
            **{f"{kind}Commission": {**rates[f"{kind}CommissionForOrder"], "buyer": ZERO, "seller": ZERO}
               for kind in ("standard", "special", "tax")},
            "discount": rates["discount"]}


# --------------------------------------------------------------------------- cancelReplace


class CancelReplace(msgspec.Struct, frozen=True, kw_only=True):
    """A validated POST /api/v3/order/cancelReplace."""

    order: OrderRequest  # the new order
    order_params: dict  # its parameters under POST /api/v3/order's names (what places it)
    mode: str  # STOP_ON_FAILURE | ALLOW_FAILURE
    rate_limit_mode: str  # DO_NOTHING | CANCEL_ONLY
    cancel_order_id: int | None
    cancel_orig_client_order_id: str | None
    cancel_client_order_id: str  # "" = the node's cancel-<orderId>
    cancel_restrictions: str  # "" | ONLY_NEW | ONLY_PARTIALLY_FILLED


def parse_cancel_replace(params: Mapping[str, str], rules: Mapping[str, SymbolRules]) -> CancelReplace:
    """POST /api/v3/order/cancelReplace parameters (module docstring); raises ApiError."""
    mode = _choice(params, "cancelReplaceMode", REPLACE_MODES)
    order_params = {k: v for k, v in params.items() if k not in REPLACE_ONLY_PARAMS}
    order = parse_new_order(order_params, rules)
    cancel_id, cancel_cid = parse_id_or_client_id(params, "cancelOrderId", "cancelOrigClientOrderId")
    if text_param(params, "cancelNewClientOrderId") == "":
        raise errors.empty_new_client_order_id()
    cancel_new = parse_client_order_id(params, "cancelNewClientOrderId")
    restrictions = parse_cancel_restrictions(params)
    rate_mode = _choice(params, "orderRateLimitExceededMode", RATE_LIMIT_MODES, "DO_NOTHING")
    return CancelReplace(order=order, order_params=order_params, mode=mode, rate_limit_mode=rate_mode,
                         cancel_order_id=cancel_id, cancel_orig_client_order_id=cancel_cid,
                         cancel_client_order_id=cancel_new or "", cancel_restrictions=restrictions)


def replace_answer(cancel: dict | ApiError, new: dict | ApiError | None, failed_status: int | None = None) -> tuple[int, dict]:
    """The HTTP status and body of a cancel-replace whose two halves ended as given (an answer
    dict, the error it met, or None: not attempted): 200 with both answers when both succeeded;
    otherwise Binance's error with a `data` holding both halves: -2021 "Order cancel-replace
    partially failed." (409) when one of them succeeded, -2022 "Order cancel-replace failed." (400)
    when none did. `failed_status` replaces the status of a failure (429 when the new order was
    refused by the orders rate limit under orderRateLimitExceededMode=CANCEL_ONLY)."""
    cancel_ok = not isinstance(cancel, ApiError)
    new_ok = new is not None and not isinstance(new, ApiError)
    data = {
        "cancelResult": "SUCCESS" if cancel_ok else "FAILURE",
        "newOrderResult": "NOT_ATTEMPTED" if new is None else "SUCCESS" if new_ok else "FAILURE",
        "cancelResponse": cancel if cancel_ok else cancel.body(),
        "newOrderResponse": None if new is None else new if new_ok else new.body(),
    }
    if cancel_ok and new_ok:
        return 200, data
    if cancel_ok or new_ok:
        return failed_status or 409, {"code": -2021, "msg": "Order cancel-replace partially failed.", "data": data}
    return failed_status or 400, {"code": -2022, "msg": "Order cancel-replace failed.", "data": data}



# ------------------------------------------------------------------------ amend/keepPriority

AMEND_PARAMS = frozenset({"symbol", "orderId", "origClientOrderId", "newClientOrderId", "newQty", "recvWindow",
                          "timestamp", "signature"})
AMEND_MANDATORY = frozenset({"symbol", "newQty", "timestamp", "signature"})


class AmendOrder(msgspec.Struct, frozen=True, kw_only=True):
    """A validated PUT /api/v3/order/amend/keepPriority."""

    symbol: str
    order_id: int | None
    orig_client_order_id: str | None
    new_client_order_id: str  # "" = the node names it (amend-<orderId>)
    new_qty: int


def parse_amend(params: Mapping[str, str], rules: Mapping[str, SymbolRules]) -> AmendOrder:
    """PUT /api/v3/order/amend/keepPriority parameters (module docstring); raises ApiError."""
    symbol, order_id, client_id = parse_order_ref(params, rules)
    new_qty = parse_decimal(params, "newQty", too_large=errors.lot_size)
    check_qty(rules[symbol], new_qty)
    if text_param(params, "newClientOrderId") == "":
        raise errors.empty_new_client_order_id()
    new_cid = parse_client_order_id(params) or ""
    return AmendOrder(symbol=symbol, order_id=order_id, orig_client_order_id=client_id, new_client_order_id=new_cid,
                      new_qty=new_qty)


def amend_json(order: Order, rules: SymbolRules, orig_client_order_id: str, transact_time: int,
               list_orders: list[Order] | None = None, *, execution_id: int) -> dict:
    """The answer of an amend: its `executionId` (the "I" of the amend's executionReport on the user
    data stream, binance/streams.py EXECUTION_IDS), the order after it (`amendedOrder`, Binance's
    field names, which differ from the order views': qty, cumulativeQuoteQty, preventedQty), and for
    an order of a list, the list (`listStatus`, web-socket-api.md) with `list_orders`, its orders as
    they are now."""
    amended = {
        "symbol": order.symbol, "orderId": order.order_id,
        "orderListId": order.order_list_id,
        "origClientOrderId": orig_client_order_id, "clientOrderId": order.client_order_id,
        "price": price_text(rules, order.price), "qty": amount_text(order.qty),
        "executedQty": amount_text(order.executed_qty), "preventedQty": amount_text(order.prevented_qty),
        "quoteOrderQty": amount_text(order.quote_qty if order.type == OrderType.MARKET else 0),
        "cumulativeQuoteQty": amount_text(order.cum_quote_qty), "status": ORDER_STATUS_NAMES[order.status],
        "timeInForce": TIME_IN_FORCE_NAMES[order.time_in_force], "type": ORDER_TYPE_NAMES[order.type],
        "side": SIDE_NAMES[order.side],
        # rest-api.md, the amend's answer: "refer to Conditional fields in Order Responses"
        **conditional_fields(order, rules),
    }
    working = working_time_of(order)
    if working >= 0:
        amended["workingTime"] = working
    amended["selfTradePreventionMode"] = STP_NAMES[order.stp]
    answer = {"transactTime": transact_time, "executionId": execution_id, "amendedOrder": amended}
    if list_orders:
        answer["listStatus"] = {
            "orderListId": order.order_list_id, "contingencyType": contingency_name(order.contingency_type),
            "listOrderStatus": "EXECUTING", "listClientOrderId": order.list_client_order_id, "symbol": order.symbol,
            "orders": [{"symbol": o.symbol, "orderId": o.order_id, "clientOrderId": o.client_order_id}
                       for o in list_orders]}
    return answer
