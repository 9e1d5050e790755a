"""The order operations beside POST /api/v3/order, as operations of the Acquiring stage that REST and
the WebSocket API share (as trading.py's): POST /api/v3/order/test (validate only; order.test), POST
/api/v3/order/cancelReplace (order.cancelReplace) and PUT /api/v3/order/amend/keepPriority
(order.amend.keepPriority). They reuse trading.py's order operation rather than copy it.
add_routes gives them, and orderlists.py's operations, their REST routes.

cancelReplace runs as two journaled commands, the cancel and then the new order, each exactly as
DELETE and POST /api/v3/order run them (so each replays as it ran). The new order is sent once the
cancel's answer has come back, and that answer waits for Settlement to have returned the canceled
order's frozen funds (stages/acquiring.py), so the new order may use them: the usual reason to
replace an order is to move the same money to another price. Other commands of the account may
come between the two; the cancel is never undone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web

from ..binance import errors, orderops, orderparams, views
from ..binance.errors import ApiError
from ..model.commands import Amend, Cancel
from ..model.orders import Refused
from ..model.reasons import Reason
from ..stages.accepting import CommandError
from ..stages.acquiring import Waiter, cancel_client_id
from .admission import deadline_of
from . import orderlists, trading
from .plumbing import INTAKE, STAGE, check_read, commit, now_ms, signed
from .ratelimit import count_order, orders_placed
from .jsonbody import json_answer

# ------------------------------------------------------------------------------ order/test


async def test_order(app: web.Application, account_id: int, p: dict, deadline: float) -> dict:
    """POST /api/v3/order/test: the order validated as POST /api/v3/order validates it (same errors,
    the filters on open orders and recent prices included; not the balance); nothing is journaled
    or placed and no order is counted. {} or, with computeCommissionRates,
    the commission rates its trades would pay."""
    stage = app[STAGE]
    order, compute = orderops.parse_test_order(p, stage.rules)
    try:  # the filters that depend on the account's open orders and the recent trades, too
        stage.check_filters(order.command(account_id), now_ms())
    except CommandError as exc:
        raise errors.refusal(exc.reason) from None
    return orderops.commission_rates_json(stage.rules[order.symbol]) if compute else {}


# --------------------------------------------------------------------------- cancelReplace


async def cancel_replace(app: web.Application, account_id: int, p: dict, deadline: float,
                         count: Callable[[], None] | None = None) -> dict:
    """POST /api/v3/order/cancelReplace (module docstring; binance/orderops.py for the answers): both
    halves' answers, or raises Binance's -2021 / -2022 with both in its `data`. `count` counts the
    new order against the ORDERS limits once the parameters are known to be good (REST and the
    WebSocket API alike; the WebSocket API of a node without ORDERS limits passes none)."""
    stage = app[STAGE]
    cmd = orderops.parse_cancel_replace(p, stage.rules)
    # the filters, MAX_NUM_ORDERS among them, before anything is canceled (rest-api.md: "Filters and
    # Order Count are evaluated before the processing of the cancellation and order placement"); the
    # order being replaced does not count against the new one (a pending stop: nor against
    # MAX_NUM_ALGO_ORDERS)
    target = stage.find_order(account_id, cmd.cancel_order_id, cmd.cancel_orig_client_order_id)
    replaced = target is not None and target.symbol == cmd.order.symbol and \
        target.order_id in stage.account(account_id).open_orders
    stop = replaced and target.type.is_stop and target.working_time < 0
    try:
        stage.check_filters(cmd.order.command(account_id), now_ms(), -1 if replaced else 0, -1 if stop else 0)
    except CommandError as exc:
        raise errors.refusal(exc.reason) from None
    refused: ApiError | None = None
    if count is not None:
        try:
            count()  # the new order counts, attempted or not (Binance)
        except ApiError as exc:
            if cmd.rate_limit_mode != "CANCEL_ONLY":
                raise  # DO_NOTHING: nothing is canceled either
            refused = exc
    cancel = await _cancel(app, account_id, cmd, deadline)
    failed = isinstance(cancel, ApiError)
    new: dict | ApiError | None
    if refused is not None:
        new = None if failed and cmd.mode == "STOP_ON_FAILURE" else refused
        return _replaced(*orderops.replace_answer(cancel, new, 429 if cmd.mode == "STOP_ON_FAILURE" else None))
    if failed and cmd.mode == "STOP_ON_FAILURE":
        new = None
    else:
        new = await _place(app, account_id, cmd.order_params, deadline)
    return _replaced(*orderops.replace_answer(cancel, new))


def _replaced(status: int, body: dict) -> dict:
    if status == 200:
        return body
    raise ApiError(body["code"], body["msg"], status, data=body["data"])


async def _cancel(app: web.Application, account_id: int, cmd: orderops.CancelReplace, deadline: float) -> dict | ApiError:
    """The cancel half: its answer (DELETE /api/v3/order's), or the -2011 it met. A -1007 (no answer
    from Match in time) is raised: the request's outcome is then unknown."""
    stage = app[STAGE]
    symbol = cmd.order.symbol
    order = stage.find_order(account_id, cmd.cancel_order_id, cmd.cancel_orig_client_order_id)
    if order is None or order.symbol != symbol or \
            not orderparams.order_matches_ref(order, cmd.cancel_order_id, cmd.cancel_orig_client_order_id):
        return errors.refusal(Reason.UNKNOWN_ORDER)
    try:
        accepted, answers = await trading.cancel_with_list(
            app, Cancel(account_id, symbol, order.order_id, 0, cmd.cancel_client_order_id, cmd.cancel_restrictions),
            None, deadline)
    except CommandError:
        return errors.refusal(Reason.UNKNOWN_ORDER)
    final = answers[order.order_id]
    if final.reason == Reason.CANCEL_RESTRICTIONS:
        return errors.refusal(Reason.CANCEL_RESTRICTIONS)
    if not trading.canceled(final):
        return errors.refusal(Reason.UNKNOWN_ORDER)
    return views.cancel_json(final, stage.rules[symbol], cancel_client_id(accepted), accepted.timestamp)


async def _place(app: web.Application, account_id: int, order_params: dict, deadline: float) -> dict | ApiError:
    """The new-order half: POST /api/v3/order's answer, or the error it met (-2010 and the like).
    A -1007 is raised, as for the cancel."""
    try:
        return await trading.place_order(app, account_id, order_params, deadline)
    except CommandError as exc:
        return errors.refusal(exc.reason)
    except ApiError as exc:
        if exc.code == -1007:
            raise
        return exc


# ---------------------------------------------------------------------- amend/keepPriority


async def amend_keep_priority(app: web.Application, account_id: int, p: dict, deadline: float) -> dict:
    """PUT /api/v3/order/amend/keepPriority: reduce an open order's quantity in place (engine/amend.py),
    journaled and run by Match like a cancel; answered once Settlement has returned the funds the
    order no longer needs. -2038 with Binance's text when the order refuses it."""
    stage = app[STAGE]
    cmd = orderops.parse_amend(p, stage.rules)
    order = stage.find_order(account_id, cmd.order_id, cmd.orig_client_order_id)
    if order is None or order.symbol != cmd.symbol or \
            not orderparams.order_matches_ref(order, cmd.order_id, cmd.orig_client_order_id) or \
            order.order_id not in stage.account(account_id).open_orders:
        raise errors.refusal(Reason.UNKNOWN_ORDER, errors.AMEND)
    if cmd.new_qty >= order.qty:  # (Match decides again on the order's exact state)
        raise errors.refusal(Reason.NO_CHANGE if cmd.new_qty == order.qty else Reason.INCREASE, errors.AMEND)
    for leg in _amended_with(stage, order):  # the filters hold for the orders it leaves (LOT_SIZE in
        # parse_amend): NOTIONAL at the price each was checked at when placed, an OCO's other leg too
        if price := leg.price or leg.stop_price:
            orderparams.check_notional(stage.rules[cmd.symbol], price, cmd.new_qty)
    order_id, orig_client_id = order.order_id, order.client_order_id
    answer = asyncio.get_running_loop().create_future()
    waiter = Waiter(lambda o, _f: answer.done() or answer.set_result(o))
    await app[INTAKE].admit(deadline)
    try:
        accepted, outputs = stage.amend(Amend(account_id, cmd.symbol, order_id, 0, cmd.new_qty,
                                              cmd.new_client_order_id), waiter)
    except CommandError as exc:
        raise errors.refusal(exc.reason, errors.AMEND) from None
    try:
        await commit(app, accepted, outputs, deadline)
    except ApiError:
        trading.forget_waiter(app, order_id)
        raise errors.timeout() from None
    final = await trading.wait_answer(app, answer, order_id, deadline)
    if type(final) is Refused:
        raise errors.refusal(final.reason, errors.AMEND)
    lst = stage.order_lists.get(final.order_list_id) if final.order_list_id >= 0 else None
    legs = None
    if lst is not None:  # (the amended order as answered; the others as this view has them)
        legs = [final if i == order_id else stage.orders.get(i) for i in lst["orders"]]
        legs = [o for o in legs if o is not None]
    return orderops.amend_json(final, stage.rules[cmd.symbol], orig_client_id, accepted.timestamp, legs,
                               execution_id=waiter.execution_id)


def _amended_with(stage, order) -> list:
    """The open orders an amend of `order` gives its new quantity: itself, and an OCO's other leg
    (an OTOCO's pair, placed or pending; engine/amend.py), which amending either leg changes too."""
    lst = stage.order_lists.get(order.order_list_id) if order.order_list_id >= 0 else None
    if lst is None:
        return [order]
    ids = lst["orders"]
    pair = ids if lst["contingency_type"] == "OCO" else ids[1:] if lst["contingency_type"] == "OTOCO" else ()
    if order.order_id not in pair:
        return [order]
    others = (stage.orders.get(i) for i in pair if i != order.order_id)
    return [order, *(o for o in others if o is not None and not o.status.is_final)]


def _rest(operation, counts: bool = False, orders: int = 0):
    """The REST handler of an operation: a signed request in, its JSON (or Binance error) out. It
    counts `orders` orders against the ORDERS limits before the operation runs (given back if it is
    refused: ratelimit.orders_placed), or (`counts`) hands the operation a `count` to call once its
    parameters are known to be good (a count that stands, attempted or not). A parameter the route
    does not read is -1104 first (knownparams.py)."""

    async def handler(request: web.Request) -> web.Response:
        account_id, p = await signed(request)
        if orders:
            with orders_placed(request, account_id, orders):
                check_read(request, p, signed=True)  # (a refused list's count goes back)
                return json_answer(await operation(request.app, account_id, p, deadline_of(request)))
        check_read(request, p, signed=True)
        extra = {"count": lambda: count_order(request, account_id)} if counts else {}
        return json_answer(await operation(request.app, account_id, p, deadline_of(request), **extra))

    handler.__name__ = handler.__qualname__ = operation.__name__
    return handler


#: the routes of these operations and of the order lists (rest.ROUTES takes them in); each order of
#: a new list counts against ORDERS
ROUTES = [
    ("POST", "/api/v3/order/test", _rest(test_order)),
    ("POST", "/api/v3/order/cancelReplace", _rest(cancel_replace, counts=True)),
    ("PUT", "/api/v3/order/amend/keepPriority", _rest(amend_keep_priority)),
    ("POST", "/api/v3/orderList/oco", _rest(orderlists.new_oco, orders=orderlists.ORDERS_COUNTED["OCO"])),
    ("POST", "/api/v3/order/oco", _rest(orderlists.new_legacy_oco, orders=orderlists.ORDERS_COUNTED["legacy"])),
    ("POST", "/api/v3/orderList/oto", _rest(orderlists.new_oto, orders=orderlists.ORDERS_COUNTED["OTO"])),
    ("POST", "/api/v3/orderList/otoco", _rest(orderlists.new_otoco, orders=orderlists.ORDERS_COUNTED["OTOCO"])),
    ("GET", "/api/v3/orderList", _rest(orderlists.query_order_list)),
    ("DELETE", "/api/v3/orderList", _rest(orderlists.cancel_order_list)),
    ("GET", "/api/v3/allOrderList", _rest(orderlists.all_order_lists)),
    ("GET", "/api/v3/openOrderList", _rest(orderlists.open_order_lists)),
]
