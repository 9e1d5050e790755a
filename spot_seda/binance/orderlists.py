"""Order lists on the wire: the parameters of POST /api/v3/orderList/oco (and of the deprecated
POST /api/v3/order/oco) as two validated orders, and the list status answers. No I/O; every bad
input is an ApiError with Binance's code and text.

An OCO's legs are validated exactly as POST /api/v3/order validates an order (same filters, same
errors, the parameter named as the OCO names it: 'abovePrice', 'belowStopPrice', ...). One leg must
be a LIMIT_MAKER, TAKE_PROFIT or TAKE_PROFIT_LIMIT and the other a STOP_LOSS or STOP_LOSS_LIMIT, each
in its slot for the side (a SELL's stop loss below, a BUY's above: check_oco_slots, Binance's
-1158, -1165, -1166, -1168, -1196 to -1199; -2010 "Unsupported order combination" for what those
leave); both have the list's side and quantity. Whether
their prices stand on the right sides of the last price is the book's question (a LIMIT_MAKER that
would take, a stop that would trigger: -2010 "The relationship of the prices for the orders is
not correct.").
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from ..model.enums import ORDER_TYPE_OF, OrderStatus
from ..model.orders import Order
from ..model.symbols import SymbolRules
from ..model.reasons import Reason
from . import errors
from .errors import ApiError
from .orderparams import RESP_TYPES, OrderRequest, parse_new_order
from .params import CLIENT_ORDER_ID, parse_id_or_client_id, parse_symbol, text_param
from .views import cancel_json, contingency_name, order_ack, order_full, order_result

WORKS_FIRST = frozenset({"LIMIT_MAKER", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"})
STOPS = frozenset({"STOP_LOSS", "STOP_LOSS_LIMIT"})
_TAKE_PROFITS = frozenset({"TAKE_PROFIT", "TAKE_PROFIT_LIMIT"})
#: (side, the slot a leg is in, its type's kind) -> Binance's refusal of the leg in the wrong slot
#: (rest-api.md "New Order list - OCO": a SELL's LIMIT_MAKER / TAKE_PROFIT above and its stop loss
#: below, a BUY's the other way round; errors.md -1165, -1166, -1196 to -1199)
_WRONG_SLOT = {
    ("SELL", "above", "STOP_LOSS"): (-1197, "A stop loss order in a sell OCO must be below."),
    ("SELL", "below", "LIMIT_MAKER"): (-1166, "A limit order in a sell OCO must be above."),
    ("SELL", "below", "TAKE_PROFIT"): (-1199, "A take profit order in a sell OCO must be above."),
    ("BUY", "above", "LIMIT_MAKER"): (-1165, "A limit order in a buy OCO must be below."),
    ("BUY", "above", "TAKE_PROFIT"): (-1198, "A take profit order in a buy OCO must be below."),
    ("BUY", "below", "STOP_LOSS"): (-1196, "A stop loss order in a buy OCO must be above."),
}
#: a leg's own parameters (after its above/below prefix) -> POST /api/v3/order's names
_LEG_PARAMS = {"Type": "type", "ClientOrderId": "newClientOrderId", "IcebergQty": "icebergQty", "Price": "price",
               "StopPrice": "stopPrice", "TrailingDelta": "trailingDelta", "TimeInForce": "timeInForce",
               "StrategyId": "strategyId", "StrategyType": "strategyType", "PegPriceType": "pegPriceType",
               "PegOffsetType": "pegOffsetType", "PegOffsetValue": "pegOffsetValue"}
_SHARED = ("symbol", "side", "quantity", "selfTradePreventionMode")
OCO_PARAMS = frozenset({*_SHARED, "listClientOrderId", "newOrderRespType", "recvWindow", "timestamp", "signature",
                        *(f"{where}{name}" for where in ("above", "below") for name in _LEG_PARAMS)})
#: the deprecated POST /api/v3/order/oco's names -> (leg, POST /api/v3/order's name)
_LEGACY = {"limitClientOrderId": ("limit", "newClientOrderId"), "price": ("limit", "price"),
           "limitIcebergQty": ("limit", "icebergQty"), "limitStrategyId": ("limit", "strategyId"),
           "limitStrategyType": ("limit", "strategyType"), "stopClientOrderId": ("stop", "newClientOrderId"),
           "stopPrice": ("stop", "stopPrice"), "stopLimitPrice": ("stop", "price"),
           "stopIcebergQty": ("stop", "icebergQty"), "stopLimitTimeInForce": ("stop", "timeInForce"),
           "stopStrategyId": ("stop", "strategyId"), "stopStrategyType": ("stop", "strategyType"),
           "trailingDelta": ("stop", "trailingDelta")}
LEGACY_PARAMS = frozenset({*_SHARED, "listClientOrderId", "newOrderRespType", "recvWindow", "timestamp", "signature",
                           *_LEGACY})
#: an OTO order's own parameters (after its working/pending prefix) -> POST /api/v3/order's names
_OTO_LEG = {**_LEG_PARAMS, "Side": "side", "Quantity": "quantity"}
OTO_PARAMS = frozenset({"symbol", "listClientOrderId", "newOrderRespType", "selfTradePreventionMode", "recvWindow",
                        "timestamp", "signature", *(f"{leg}{name}" for leg in ("working", "pending") for name in _OTO_LEG)})


#: LEG_ORDER: an OCO pair's orders are placed (ids given, answers and list views ordered) stop leg
#: (STOP_LOSS / STOP_LOSS_LIMIT) first, then the other (LIMIT_MAKER / TAKE_PROFIT...), whichever is
#: above: so every OCO, OTOCO and OPOCO example of rest-api.md and web-socket-api.md lists them
#: (a SELL's below leg first, a BUY's above leg first; the stop leg with the lower orderId).


class Oco(msgspec.Struct, frozen=True, kw_only=True):
    """A validated list: an OCO's stop leg, then the leg that works on its own (LIMIT_MAKER /
    TAKE_PROFIT...; LEG_ORDER); an OTO's working and pending orders; an OTOCO's working order and
    its pair, as an OCO's."""

    symbol: str
    legs: tuple[OrderRequest, ...]
    list_client_order_id: str | None
    resp_type: str


def _leg(params: Mapping[str, str], leg: dict[str, str], names: dict[str, str], rules) -> OrderRequest:
    """One leg through POST /api/v3/order's parser; an error names the OCO's parameter."""
    p = {k: params[k] for k in _SHARED if k in params} | leg
    p["newOrderRespType"] = "ACK"  # (the list's answer type is the list's)
    try:
        return parse_new_order(p, rules)
    except ApiError as exc:
        msg = exc.msg
        for ours, theirs in names.items():
            msg = msg.replace(f"'{theirs}'", f"'{ours}'")
        raise ApiError(exc.code, msg, exc.status) from None


def parse_oco(params: Mapping[str, str], rules: Mapping[str, SymbolRules]) -> Oco:
    """POST /api/v3/orderList/oco (module doc)."""
    symbol = parse_symbol(params, rules)
    for name in ("side", "quantity", "aboveType", "belowType"):
        if not text_param(params, name):
            raise errors.mandatory_missing(name)
    legs = {}
    for where in ("above", "below"):
        names = {f"{where}{k}": v for k, v in _LEG_PARAMS.items()}
        leg = {v: params[k] for k, v in names.items() if k in params}
        legs[where] = (leg, names)
    check_oco_slots(params["side"], params["aboveType"], params["belowType"])
    return _oco(params, rules, symbol, legs["above"], legs["below"])


def parse_legacy_oco(params: Mapping[str, str], rules: Mapping[str, SymbolRules]) -> Oco:
    """The deprecated POST /api/v3/order/oco: a LIMIT_MAKER at `price` and a STOP_LOSS at
    `stopPrice`, a STOP_LOSS_LIMIT with `stopLimitPrice` (and `stopLimitTimeInForce`)."""
    symbol = parse_symbol(params, rules)
    for name in ("side", "quantity", "price", "stopPrice"):
        if not text_param(params, name):
            raise errors.mandatory_missing(name)
    legs: dict[str, tuple[dict, dict]] = {"limit": ({"type": "LIMIT_MAKER"}, {}), "stop": ({}, {})}
    for ours, (leg, theirs) in _LEGACY.items():
        legs[leg][1][ours] = theirs  # (an error names this endpoint's parameter, one not sent too)
        if ours in params:
            legs[leg][0][theirs] = params[ours]
    legs["stop"][0]["type"] = "STOP_LOSS_LIMIT" if text_param(params, "stopLimitPrice") else "STOP_LOSS"
    return _oco(params, rules, symbol, legs["limit"], legs["stop"])


def check_oco_slots(side: str, above: str | None, below: str | None) -> None:
    """An OCO pair's types in its above and below slots, as Binance checks them before the legs:
    -1158 for an order type an OCO does not take (LIMIT, MARKET), -1168 for two LIMIT_MAKERs, then a
    leg on the wrong side of the pair for `side` (_WRONG_SLOT). An unknown type, an unknown side or
    a type not sent is left to the leg's own check."""
    for kind in (above, below):
        if kind in ORDER_TYPE_OF and kind not in WORKS_FIRST | STOPS:
            raise ApiError(-1158, "Order type not supported in OCO.")
    if above == below == "LIMIT_MAKER":
        raise ApiError(-1168, "At least one OCO order must be contingent.")
    for where, kind in (("above", above), ("below", below)):
        group = "STOP_LOSS" if kind in STOPS else "TAKE_PROFIT" if kind in _TAKE_PROFITS else kind
        wrong = _WRONG_SLOT.get((side, where, group))
        if wrong is not None:
            raise ApiError(*wrong)


def _oco(params, rules, symbol: str, one: tuple[dict, dict], other: tuple[dict, dict]) -> Oco:
    types = (one[0].get("type"), other[0].get("type"))
    if not ((types[0] in WORKS_FIRST and types[1] in STOPS) or (types[1] in WORKS_FIRST and types[0] in STOPS)):
        if all(t in WORKS_FIRST | STOPS for t in types):
            raise ApiError(-2010, "Unsupported order combination")
        raise errors.invalid_order_type()
    first, stop = (one, other) if types[0] in WORKS_FIRST else (other, one)
    first_leg, stop_leg = _leg(params, *first, rules), _leg(params, *stop, rules)
    return _order_list(params, symbol, (stop_leg, first_leg))  # (LEG_ORDER)


def _order_list(params, symbol: str, legs: tuple) -> Oco:
    """What every order list checks after its legs: no client order id twice, the list's own client
    id, the answer's type. (A parameter it does not know, one not in OCO_PARAMS, LEGACY_PARAMS,
    OTO_PARAMS or OTOCO_PARAMS, was refused -1104 before: api/knownparams.py.)"""
    cids = [leg.client_order_id for leg in legs if leg.client_order_id]
    if len(set(cids)) != len(cids):
        raise errors.refusal(Reason.DUPLICATE_ORDER)
    list_cid = text_param(params, "listClientOrderId")
    if list_cid == "":
        raise errors.empty_new_client_order_id()
    if list_cid is not None and not CLIENT_ORDER_ID.fullmatch(list_cid):
        raise errors.illegal_chars("listClientOrderId", errors.CLIENT_ORDER_ID_RANGE)
    resp = text_param(params, "newOrderRespType") or "FULL"
    if resp not in RESP_TYPES:
        raise errors.illegal_chars("newOrderRespType", ", ".join(RESP_TYPES))
    return Oco(symbol=symbol, legs=legs, list_client_order_id=list_cid, resp_type=resp)


def _prefixed_leg(params, prefix: str, symbol: str, rules) -> OrderRequest:
    """An OTO's working or pending order, from its `prefix`ed parameters (workingType, ...)."""
    names = {f"{prefix}{k}": v for k, v in _OTO_LEG.items()}
    p = {v: params[k] for k, v in names.items() if k in params} | {"symbol": symbol}
    if "selfTradePreventionMode" in params:
        p["selfTradePreventionMode"] = params["selfTradePreventionMode"]
    return _leg({}, p, names, rules)


def parse_oto(params: Mapping[str, str], rules: Mapping[str, SymbolRules]) -> Oco:
    """POST /api/v3/orderList/oto: a working order (LIMIT or LIMIT_MAKER; -1116 otherwise) and a
    pending order of any type but a MARKET by quote amount, each validated as POST /api/v3/order
    validates an order (an error names the OTO's parameter)."""
    symbol = parse_symbol(params, rules)
    for name in ("workingType", "workingSide", "workingPrice", "workingQuantity", "pendingType", "pendingSide",
                 "pendingQuantity"):
        if not text_param(params, name):
            raise errors.mandatory_missing(name)
    if params["workingType"] not in ("LIMIT", "LIMIT_MAKER"):
        raise errors.invalid_order_type()
    legs = (_prefixed_leg(params, "working", symbol, rules), _prefixed_leg(params, "pending", symbol, rules))
    return _order_list(params, symbol, legs)


OTOCO_PARAMS = frozenset({"symbol", "listClientOrderId", "newOrderRespType", "selfTradePreventionMode", "recvWindow",
                          "timestamp", "signature", "pendingSide", "pendingQuantity",
                          *(f"working{name}" for name in _OTO_LEG),
                          *(f"pending{where}{name}" for where in ("Above", "Below") for name in _LEG_PARAMS)})


def parse_otoco(params: Mapping[str, str], rules: Mapping[str, SymbolRules]) -> Oco:
    """POST /api/v3/orderList/otoco: an OTO's working order and a pending OCO pair (pendingAbove* and
    pendingBelow*, on pendingSide for pendingQuantity), the pair under the OCO's rules."""
    symbol = parse_symbol(params, rules)
    for name in ("workingType", "workingSide", "workingPrice", "workingQuantity", "pendingSide", "pendingQuantity",
                 "pendingAboveType"):
        if not text_param(params, name):
            raise errors.mandatory_missing(name)
    if params["workingType"] not in ("LIMIT", "LIMIT_MAKER"):
        raise errors.invalid_order_type()
    working = _prefixed_leg(params, "working", symbol, rules)
    shared = {"symbol": symbol, "side": params["pendingSide"], "quantity": params["pendingQuantity"]}
    if "selfTradePreventionMode" in params:
        shared["selfTradePreventionMode"] = params["selfTradePreventionMode"]
    pair = {}
    for where in ("Above", "Below"):
        names = {f"pending{where}{k}": v for k, v in _LEG_PARAMS.items()}
        pair[where] = ({v: params[k] for k, v in names.items() if k in params}, names)
    types = (pair["Above"][0].get("type"), pair["Below"][0].get("type"))
    check_oco_slots(params["pendingSide"], *types)
    if not ((types[0] in WORKS_FIRST and types[1] in STOPS) or (types[1] in WORKS_FIRST and types[0] in STOPS)):
        raise ApiError(-2010, "Unsupported order combination")
    first, stop = (pair["Above"], pair["Below"]) if types[0] in WORKS_FIRST else (pair["Below"], pair["Above"])
    first_leg, stop_leg = _leg(shared, *first, rules), _leg(shared, *stop, rules)
    return _order_list(params, symbol, (working, stop_leg, first_leg))  # (LEG_ORDER)


def parse_list_ref(params: Mapping[str, str], id_name: str, cid_name: str) -> tuple[int | None, str | None]:
    """orderListId and/or a list client id (GET: origClientOrderId, DELETE: listClientOrderId)."""
    return parse_id_or_client_id(params, id_name, cid_name, id_first=True)


# ------------------------------------------------------------------------------------ answers


def list_status(orders: list[Order]) -> tuple[str, str]:
    """(listStatusType, listOrderStatus) of a list from its orders' statuses."""
    statuses = [o.status for o in orders]
    if all(s == OrderStatus.REJECTED for s in statuses):
        return "ALL_DONE", "REJECT"
    if not all(s.is_final for s in statuses):  # (NEW, PARTIALLY_FILLED, PENDING_NEW)
        return "EXEC_STARTED", "EXECUTING"
    return "ALL_DONE", "ALL_DONE"


def list_json(orders: list[Order], transaction_time: int | None = None) -> dict:
    """An order list as GET /api/v3/orderList, allOrderList and openOrderList give it."""
    status_type, order_status = list_status(orders)
    first = orders[0]
    return {
        "orderListId": first.order_list_id,
        "contingencyType": contingency_name(first.contingency_type),
        "listStatusType": status_type,
        "listOrderStatus": order_status, "listClientOrderId": first.list_client_order_id,
        "transactionTime": transaction_time if transaction_time is not None else max(o.update_time for o in orders),
        "symbol": first.symbol,
        "orders": [{"symbol": o.symbol, "orderId": o.order_id, "clientOrderId": o.client_order_id} for o in orders],
    }


def placed_json(orders: list[Order], rules: SymbolRules, resp_type: str, fills: list[list], account: int,
                transaction_time: int) -> dict:
    """The answer of a new OCO: the list and each order in the list's newOrderRespType."""
    if resp_type == "ACK":
        reports = [order_ack(o) for o in orders]
    elif resp_type == "RESULT":
        reports = [order_result(o, rules) for o in orders]
    else:
        reports = [order_full(o, rules, f, account) for o, f in zip(orders, fills)]
    return list_json(orders, transaction_time) | {"orderReports": reports}


def canceled_json(orders: list[Order], rules: SymbolRules, cancel_ids: list[str], transaction_time: int) -> dict:
    """The answer of DELETE /api/v3/orderList: the list, ended, and each order's cancel answer."""
    return list_json(orders, transaction_time) | {
        "listStatusType": "ALL_DONE", "listOrderStatus": "ALL_DONE",
        "orderReports": [cancel_json(o, rules, cid, transaction_time) for o, cid in zip(orders, cancel_ids)]}

