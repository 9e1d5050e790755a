"""Order lists as operations of the Acquiring stage that REST and the WebSocket API share (as
trading.py's): OCO placed (POST /api/v3/orderList/oco, the deprecated POST /api/v3/order/oco;
`orderList.place.oco`, `orderList.place`), canceled (DELETE /api/v3/orderList; `orderList.cancel`)
and queried (GET /api/v3/orderList, allOrderList, openOrderList; `orderList.status`,
`allOrderLists`, `openOrderLists.status`). The one-cancels-the-other rule is Match's
(engine/oco.py), the shared hold Acquiring's and Settlement's (stages/orderlists.py); these
operations only take and answer. Routes: orderops.add_routes; WebSocket methods: wsmethods.METHODS.

OTO and OTOCO lists (POST /api/v3/orderList/oto, /otoco; `orderList.place.oto`, `.otoco`)
likewise: the pending order (an OTOCO's pending OCO pair) is placed by Match when the working order
has filled (engine/oto.py), its funds held from entry.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from ..binance import errors, orderlists, params, queryparams
from ..binance.errors import ApiError
from ..model.commands import Cancel, NewOco, NewOto, NewOtoco
from ..model.enums import OrderStatus
from ..model.reasons import Reason
from ..stages.accepting import CommandError
from ..stages.acquiring import Waiter
from . import trading
from .plumbing import HISTORY, INTAKE, STAGE, commit, read_fresh

Params = dict[str, str]
#: orders each kind of list counts against the ORDERS limits (Binance's unfilled order count)
ORDERS_COUNTED = {"OCO": 2, "legacy": 2, "OTO": 2, "OTOCO": 3}



async def _wait_all(app: web.Application, futures: list[tuple[int, asyncio.Future]], deadline: float) -> list:
    """Match's answers for these orders, or -1007 by the request's deadline (the commands go on)."""
    try:
        return [await trading.wait_answer(app, f, order_id, deadline) for order_id, f in futures]
    except ApiError:
        for order_id, _ in futures:
            trading.forget_waiter(app, order_id)
        raise


def _waiter(loop, fills: bool) -> tuple[Waiter, asyncio.Future]:
    fut = loop.create_future()
    return Waiter(lambda o, f: fut.done() or fut.set_result((o, f)), fills=[] if fills else None), fut


async def _new_list(app: web.Application, account_id: int, p: Params, deadline: float, kind: str) -> dict:
    """Place a list of `kind` (the transport has counted its ORDERS_COUNTED orders)."""
    stage = app[STAGE]
    parse = {"OCO": orderlists.parse_oco, "legacy": orderlists.parse_legacy_oco, "OTO": orderlists.parse_oto,
             "OTOCO": orderlists.parse_otoco}[kind]
    oco = parse(p, stage.rules)
    cid = oco.list_client_order_id
    if cid and any(lst["account"] == account_id and lst["list_client_order_id"] == cid
                   for lst in stage.order_lists.values()):
        raise errors.refusal(Reason.DUPLICATE_ORDER)
    loop = asyncio.get_running_loop()
    waiters = [_waiter(loop, oco.resp_type == "FULL") for _ in oco.legs]
    legs = tuple(leg.command(account_id) for leg in oco.legs)
    await app[INTAKE].admit(deadline)
    command = {"OTO": NewOto, "OTOCO": NewOtoco}.get(kind, NewOco)(account_id, oco.symbol, 0, legs, cid or "")
    new = {"OTO": stage.new_oto, "OTOCO": stage.new_otoco}.get(kind, stage.new_oco)
    orders, accepted, outputs = new(command, tuple(w[0] for w in waiters))
    ids = [o.order_id for o in orders]
    try:
        await commit(app, accepted, outputs, deadline)
    except ApiError:
        for order_id in ids:
            trading.forget_waiter(app, order_id)
        raise
    answers = await _wait_all(app, list(zip(ids, (w[1] for w in waiters))), deadline)
    finals = [o for o, _ in answers]
    for final in finals:
        if final.status == OrderStatus.REJECTED and final.reason != Reason.LIST_REJECTED:
            if kind in ("OTO", "OTOCO") and final is finals[0] and final.reason == Reason.WOULD_TAKE:
                raise errors.refusal(Reason.WOULD_TAKE)  # the working order alone: an order's answer
            raise errors.refusal(final.reason, errors.ORDER_LIST)
    return orderlists.placed_json(finals, stage.rules[oco.symbol], oco.resp_type, [f for _, f in answers], account_id,
                                  accepted.timestamp)


async def new_oco(app: web.Application, account_id: int, p: Params, deadline: float) -> dict:
    """POST /api/v3/orderList/oco, `orderList.place.oco`."""
    return await _new_list(app, account_id, p, deadline, "OCO")


async def new_legacy_oco(app: web.Application, account_id: int, p: Params, deadline: float) -> dict:
    """POST /api/v3/order/oco, `orderList.place` (deprecated by Binance; the same list)."""
    return await _new_list(app, account_id, p, deadline, "legacy")


async def new_oto(app: web.Application, account_id: int, p: Params, deadline: float) -> dict:
    """POST /api/v3/orderList/oto, `orderList.place.oto`."""
    return await _new_list(app, account_id, p, deadline, "OTO")


async def new_otoco(app: web.Application, account_id: int, p: Params, deadline: float) -> dict:
    """POST /api/v3/orderList/otoco, `orderList.place.otoco`."""
    return await _new_list(app, account_id, p, deadline, "OTOCO")


def _open_list(app: web.Application, account_id: int, list_id: int | None, cid: str | None) -> dict | None:
    for lst in app[STAGE].order_lists.values():
        if lst["account"] == account_id and (list_id is None or lst["order_list_id"] == list_id) and \
                (cid is None or lst["list_client_order_id"] == cid):
            return lst
    return None


async def cancel_order_list(app: web.Application, account_id: int, p: Params, deadline: float) -> dict:
    """DELETE /api/v3/orderList, `orderList.cancel`: symbol, orderListId or listClientOrderId,
    newClientOrderId (the cancel's own id). Both legs end CANCELED; a list not open: -2011."""
    stage = app[STAGE]
    symbol = params.parse_symbol(p, stage.rules)
    list_id, cid = orderlists.parse_list_ref(p, "orderListId", "listClientOrderId")
    cancel_id = params.parse_client_order_id(p) or ""
    lst = _open_list(app, account_id, list_id, cid)
    if lst is None or lst["symbol"] != symbol:
        raise ApiError(-2011, "Order list does not exist.")
    open_now = stage.account(account_id).open_orders
    ids = lst["orders"]
    first = next((i for i in ids if i in open_now), ids[0])  # (an OTO whose working order filled: a pending one)
    try:  # canceling one order of a list cancels the other (engine/oco.py, oto.py): one command
        accepted, answers = await trading.cancel_with_list(app, Cancel(account_id, symbol, first, 0, cancel_id), lst,
                                                           deadline)
    except CommandError:
        raise ApiError(-2011, "Order list does not exist.") from None
    if not all(trading.canceled(a) for a in answers.values()):
        raise ApiError(-2011, "Order list does not exist.")  # (it ended before the cancel came)
    return trading.list_canceled_json(app, lst, accepted, answers)


async def query_order_list(app: web.Application, account_id: int, p: Params, deadline: float) -> dict:
    """GET /api/v3/orderList, `orderList.status`: orderListId or origClientOrderId; -2013 when the
    account has none such. With both, origClientOrderId is used and orderListId ignored
    (web-socket-api.md, Query Order list; rest-api.md does not say: the same there)."""
    stage = app[STAGE]
    list_id, cid = orderlists.parse_list_ref(p, "orderListId", "origClientOrderId")
    if cid is not None:
        list_id = None
    await read_fresh(app)
    lst = _open_list(app, account_id, list_id, cid)
    if lst is not None:
        orders = [stage.orders[i] for i in lst["orders"]]
    else:
        orders = app[HISTORY].order_list(account_id, list_id, cid)
        orders = [stage.orders.get(o.order_id, o) for o in orders]  # (the stage's view is fresher)
    if not orders:
        raise ApiError(-2013, "Order list does not exist.")
    return orderlists.list_json(orders)


async def all_order_lists(app: web.Application, account_id: int, p: Params, deadline: float,
                          websocket: bool = False) -> list:
    """GET /api/v3/allOrderList, `allOrderLists`: fromId, or startTime/endTime (at most 24 hours
    apart, -1127, as allOrders), limit (default 500, at most 1000). fromId with a time: REST -1128
    (rest-api.md: "If supplied, neither `startTime` or `endTime` can be provided"), the WebSocket
    API ignores fromId (web-socket-api.md: "If `startTime` and/or `endTime` are specified, `fromId`
    is ignored")."""
    stage = app[STAGE]
    from_id = params.parse_int(p, "fromId")
    start, end = queryparams.parse_day_window(p)
    if from_id is not None and (start is not None or end is not None):
        if not websocket:
            raise errors.bad_combination()
        from_id = None
    limit = params.parse_limit(p, "limit", default=500, maximum=1000)
    await read_fresh(app)
    lists = app[HISTORY].order_lists(account_id, from_id, start, end, limit)
    return [orderlists.list_json([stage.orders.get(o.order_id, o) for o in orders]) for orders in lists]


async def ws_all_order_lists(app: web.Application, account_id: int, p: Params, deadline: float) -> list:
    return await all_order_lists(app, account_id, p, deadline, websocket=True)


async def open_order_lists(app: web.Application, account_id: int, p: Params, deadline: float) -> list:
    """GET /api/v3/openOrderList, `openOrderLists.status`: the account's open lists, oldest first."""
    await read_fresh(app)
    return [orderlists.list_json(lst["legs"]) for lst in app[STAGE].open_order_lists(account_id)]

