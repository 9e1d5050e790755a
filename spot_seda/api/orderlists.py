"""Order lists over HTTP: OCO placed (POST /api/v3/orderList/oco and the deprecated POST
/api/v3/order/oco), canceled (DELETE /api/v3/orderList) and queried (GET /api/v3/orderList,
allOrderList, openOrderList). The one-cancels-the-other rule is Match's (engine/oco.py), the shared
hold Acquiring's and Settlement's (stages/orderlists.py); these handlers only take and answer.

OTO and OTOCO lists (POST /api/v3/orderList/oto, /otoco) likewise: the pending order (an OTOCO's
pending OCO pair) is placed by Match when the working order has filled (engine/oto.py), its funds
held from entry.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from ..binance import errors, orderlists, params
from ..binance.errors import ApiError
from ..model.commands import Cancel, NewOco, NewOrder, NewOto, NewOtoco
from ..stages.acquiring import CommandError, Waiter, cancel_client_id
from .admission import deadline_of
from . import trading
from .plumbing import HISTORY, INTAKE, commit, read_fresh, signed, stage_of
from .ratelimit import count_order

#: why the book refused a leg -> Binance's answer to the list
_REFUSALS = {
    "would_take": "The relationship of the prices for the orders is not correct.",
    "would_trigger": "The relationship of the prices for the orders is not correct.",
    "duplicate_client_order_id": "Duplicate order sent.",
}


async def _wait_all(request: web.Request, futures: list[tuple[int, asyncio.Future]], deadline: float) -> list:
    """Match's answers for these orders, or -1007 by the request's deadline (the commands go on)."""
    try:
        return [await trading.wait_answer(request.app, f, order_id, deadline) for order_id, f in futures]
    except ApiError:
        for order_id, _ in futures:
            trading.forget_waiter(request.app, order_id)
        raise


def _waiter(loop, fills: bool) -> tuple[Waiter, asyncio.Future]:
    fut = loop.create_future()
    return Waiter(lambda o, f: fut.done() or fut.set_result((o, f)), fills=[] if fills else None), fut


async def _new_list(request: web.Request, kind: str) -> web.Response:
    account_id, p = await signed(request)
    for _ in range(3 if kind == "OTOCO" else 2):  # each order of the list counts (Binance's unfilled order count)
        count_order(request, account_id)
    stage = stage_of(request)
    parse = {"OCO": orderlists.parse_oco, "legacy": orderlists.parse_legacy_oco, "OTO": orderlists.parse_oto,
             "OTOCO": orderlists.parse_otoco}[kind]
    oco = parse(p, stage.rules)
    cid = oco.list_client_order_id
    if cid and any(lst["account"] == account_id and lst["list_client_order_id"] == cid
                   for lst in stage.order_lists.values()):
        raise errors.duplicate_order()
    loop = asyncio.get_running_loop()
    waiters = [_waiter(loop, oco.resp_type == "FULL") for _ in oco.legs]
    legs = tuple(NewOrder(account_id, oco.symbol, leg.side.name, leg.type.name, leg.time_in_force.name, leg.price,
                          leg.qty, leg.quote_qty, leg.client_order_id or "", leg.stp.name, 0, stop_price=leg.stop_price,
                          trailing_delta=leg.trailing_delta)
                 for leg in oco.legs)
    deadline = deadline_of(request)
    await request.app[INTAKE].admit(deadline)
    command = {"OTO": NewOto, "OTOCO": NewOtoco}.get(kind, NewOco)(account_id, oco.symbol, 0, legs, cid or "")
    new = {"OTO": stage.new_oto, "OTOCO": stage.new_otoco}.get(kind, stage.new_oco)
    orders, accepted, outputs = new(command, tuple(w[0] for w in waiters))
    ids = [o["order_id"] for o in orders]
    try:
        await commit(request.app, accepted, outputs, deadline)
    except ApiError:
        for order_id in ids:
            trading.forget_waiter(request.app, order_id)
        raise
    answers = await _wait_all(request, list(zip(ids, (w[1] for w in waiters))), deadline)
    finals = [o for o, _ in answers]
    for final in finals:
        if final.get("status") == "REJECTED" and final.get("reason") != "list_rejected":
            if kind in ("OTO", "OTOCO") and final is finals[0] and final.get("reason") == "would_take":
                raise errors.would_take()
            raise ApiError(-2010, _REFUSALS.get(final.get("reason"), "Order was not accepted."))
    return web.json_response(orderlists.placed_json(finals, stage.rules[oco.symbol], oco.resp_type,
                                                    [f for _, f in answers], account_id, accepted.timestamp))


async def new_oco(request: web.Request) -> web.Response:
    """POST /api/v3/orderList/oco."""
    return await _new_list(request, "OCO")


async def new_legacy_oco(request: web.Request) -> web.Response:
    """POST /api/v3/order/oco (deprecated by Binance; the same list)."""
    return await _new_list(request, "legacy")


async def new_oto(request: web.Request) -> web.Response:
    """POST /api/v3/orderList/oto."""
    return await _new_list(request, "OTO")


async def new_otoco(request: web.Request) -> web.Response:
    """POST /api/v3/orderList/otoco."""
    return await _new_list(request, "OTOCO")


def _open_list(request: web.Request, account_id: int, list_id: int | None, cid: str | None) -> dict | None:
    for lst in stage_of(request).order_lists.values():
        if lst["account"] == account_id and (list_id is None or lst["order_list_id"] == list_id) and \
                (cid is None or lst["list_client_order_id"] == cid):
            return lst
    return None


async def cancel_order_list(request: web.Request) -> web.Response:
    """DELETE /api/v3/orderList: symbol, orderListId or listClientOrderId, newClientOrderId (the
    cancel's own id). Both legs end CANCELED; a list not open: -2011."""
    account_id, p = await signed(request)
    stage = stage_of(request)
    symbol = params.parse_symbol(p, stage.rules)
    list_id, cid = orderlists.parse_list_ref(p, "orderListId", "listClientOrderId")
    cancel_id = params.parse_client_order_id(p) or ""
    lst = _open_list(request, account_id, list_id, cid)
    if lst is None or lst["symbol"] != symbol:
        raise ApiError(-2011, "Order list does not exist.")
    loop = asyncio.get_running_loop()
    open_now = stage.account(account_id).open_orders
    ids = lst["orders"]
    first = next((i for i in ids if i in open_now), ids[0])  # (an OTO whose working order filled: a pending one)
    others = [i for i in ids if i != first and i in open_now]
    waiters = [_waiter(loop, False) for _ in ids]
    deadline = deadline_of(request)
    await request.app[INTAKE].admit(deadline)
    try:  # canceling one order of a list cancels the other (engine/oco.py, oto.py): one command
        accepted, outputs = stage.cancel(Cancel(account_id, symbol, first, 0, cancel_id), waiters[0][0])
    except CommandError:
        raise ApiError(-2011, "Order list does not exist.") from None
    for other, (waiter, _f) in zip(others, waiters[1:]):
        waiter.cancel = True
        stage.waiters[other] = waiter
    try:
        await commit(request.app, accepted, outputs, deadline)
    except ApiError:
        for i in [first, *others]:
            trading.forget_waiter(request.app, i)
        raise
    futures = [(first, waiters[0][1])] + [(i, w[1]) for i, w in zip(others, waiters[1:])]
    finals = [o for o, _ in await _wait_all(request, futures, deadline)]
    if any(f.get("status") != "CANCELED" for f in finals):
        raise ApiError(-2011, "Order list does not exist.")  # (it ended before the cancel came)
    order_of = {f["order_id"]: f for f in finals}
    finals = [order_of.get(i) or stage.orders.get(i) or request.app[HISTORY].order(i) for i in ids]
    return web.json_response(orderlists.canceled_json(finals, stage.rules[symbol],
                                                      [cancel_client_id(accepted) if o["order_id"] == first
                                                       else f"cancel-{o['order_id']}" for o in finals],
                                                      accepted.timestamp))


async def query_order_list(request: web.Request) -> web.Response:
    """GET /api/v3/orderList: orderListId or origClientOrderId; -2013 when the account has none such."""
    account_id, p = await signed(request)
    stage = stage_of(request)
    list_id, cid = orderlists.parse_list_ref(p, "orderListId", "origClientOrderId")
    await read_fresh(request.app)
    lst = _open_list(request, account_id, list_id, cid)
    if lst is not None:
        orders = [stage.orders[i] for i in lst["orders"]]
    else:
        orders = request.app[HISTORY].order_list(account_id, list_id, cid)
        orders = [stage.orders.get(o["order_id"], o) for o in orders]  # (the stage's view is fresher)
        if cid is not None and list_id is not None:
            orders = [o for o in orders if o.get("list_client_order_id") == cid]
    if not orders:
        raise ApiError(-2013, "Order list does not exist.")
    return web.json_response(orderlists.list_json(orders))


async def all_order_lists(request: web.Request) -> web.Response:
    """GET /api/v3/allOrderList: fromId, or startTime/endTime, limit (default 500, at most 1000)."""
    account_id, p = await signed(request)
    stage = stage_of(request)
    from_id = params.parse_int(p, "fromId")
    start, end = params.parse_time_range(p)
    if from_id is not None and (start is not None or end is not None):
        raise errors.bad_combination()
    limit = params.parse_limit(p, "limit", default=500, maximum=1000)
    await read_fresh(request.app)
    lists = request.app[HISTORY].order_lists(account_id, from_id, start, end, limit)
    return web.json_response([orderlists.list_json([stage.orders.get(o["order_id"], o) for o in orders])
                              for orders in lists])


async def open_order_lists(request: web.Request) -> web.Response:
    """GET /api/v3/openOrderList: the account's open lists, oldest first."""
    account_id, _p = await signed(request)
    await read_fresh(request.app)
    return web.json_response([orderlists.list_json(lst["legs"]) for lst in stage_of(request).open_order_lists(account_id)])


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/v3/orderList/oco", new_oco)
    r.add_post("/api/v3/order/oco", new_legacy_oco)
    r.add_post("/api/v3/orderList/oto", new_oto)
    r.add_post("/api/v3/orderList/otoco", new_otoco)
    r.add_get("/api/v3/orderList", query_order_list)
    r.add_delete("/api/v3/orderList", cancel_order_list)
    r.add_get("/api/v3/allOrderList", all_order_lists)
    r.add_get("/api/v3/openOrderList", open_order_lists)

