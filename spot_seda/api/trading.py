"""The private requests of Binance's API (orders, cancels, account queries) as operations that know
no transport: each takes the Acquiring app, the caller's authenticated account, the request's
parameters (name -> text) and the loop time by which it must be answered, and returns the answer's
JSON document or raises ApiError / CommandError.

REST (rest.py: POST /api/v3/order, ...) and the WebSocket API (wsapi.py: `order.place`, ...) both call
these, so an order is validated (binance/orderparams.py), frozen and journaled (AcquiringStage, commit:
journal then Outbox) and answered (Waiter) by one code path, whichever way it came. Authentication
and the ORDERS rate limit stay with the transport (a header and a query string there, JSON params
and a logged-on session here)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from ..binance import errors, marketviews, orderlists, orderops, orderparams, params, queryparams, views
from ..history.writer import ARCHIVABLE
from ..model.commands import Cancel
from ..model.enums import OrderStatus, OrderType
from ..model.orders import Order, default_cancel_id
from ..model.reasons import REFUSED_AT_PLACEMENT, Reason
from ..stages.accepting import CommandError
from ..stages.acquiring import Answer, Waiter, cancel_client_id
from .admission import ADMISSION
from .intake import Intake
from .plumbing import HISTORY, INTAKE, STAGE, commit, now_ms, read_fresh
from .ratelimit import LIMITER

Params = dict[str, str]

#: what an order archived may have ended as (history/writer.py ARCHIVABLE)
_ARCHIVABLE = frozenset(OrderStatus[name] for name in ARCHIVABLE)
# read once: an enum member read through its class costs ~0.2 µs on Python 3.11 (EnumType.__getattr__)
_LIMIT_MAKER, _REJECTED = OrderType.LIMIT_MAKER, OrderStatus.REJECTED


async def place_order(app: web.Application, account_id: int, p: Params, deadline: float) -> dict:
    """POST /api/v3/order, `order.place`: the ACK, RESULT or FULL answer."""
    stage = app[STAGE]
    cmd = orderparams.parse_new_order(p, stage.rules)  # (an unknown parameter was -1104 before: knownparams.py)
    rules = stage.rules[cmd.symbol]
    resp_type = cmd.resp_type
    answer: asyncio.Future | None = None
    waiter = None
    # a LIMIT_MAKER that would take, a stop that would trigger, a MARKET order by quoteOrderQty the
    # book cannot fill within LOT_SIZE, is an error, not an order: its answer must be awaited even for ACK
    if resp_type != "ACK" or cmd.type == _LIMIT_MAKER or cmd.type.is_stop or cmd.quote_qty:
        answer = asyncio.get_running_loop().create_future()
        waiter = Waiter(lambda order, fills: answer.done() or answer.set_result((order, fills)),
                        fills=[] if resp_type == "FULL" else None)
    intake: Intake = app[INTAKE]
    await intake.admit(deadline)
    order, accepted, outputs = stage.new_order(cmd.command(account_id), waiter)
    try:
        await commit(app, accepted, outputs, deadline)
    except errors.ApiError:  # -1007: accepted, not yet durable; the client finds it by its client id
        forget_waiter(app, order.order_id)
        raise
    if answer is None:
        return views.order_ack(order, rules)
    final, fills = await wait_answer(app, answer, order.order_id, deadline)
    if final.status == _REJECTED and final.reason in REFUSED_AT_PLACEMENT:
        raise errors.refusal(final.reason)
    if resp_type == "ACK":
        return views.order_ack(order, rules)
    if resp_type == "RESULT":
        return views.order_result(final, rules)
    return views.order_full(final, rules, fills, account_id)


async def query_order(app: web.Application, account_id: int, p: Params, deadline: float) -> dict:
    """GET /api/v3/order, `order.status`: the stage's view of the order, else the history's. Both
    orderId and origClientOrderId sent: the order with that id, if its client id is that one
    (-2039 "Client order ID is not correct for this order ID." if it is another; CHANGELOG.md,
    2025-04-08). An order the history archived answers -2026 by its orderId (HistoryWriter.archive);
    by its client id, -2013, as any order's old client id does."""
    stage = app[STAGE]
    symbol, order_id, client_id = orderparams.parse_order_ref(p, stage.rules)
    await read_fresh(app)
    order = stage.find_order(account_id, order_id, client_id)
    if order is not None and order.symbol != symbol and order_id is None:
        order = None  # another symbol's open order took the client id since: this symbol's is in the history
    if order is not None and order_id is not None and order.status in _ARCHIVABLE and not order.executed_qty:
        order = None  # one Acquiring still keeps among its last finished orders may be archived already
    if order is None:
        order = app[HISTORY].order(order_id) if order_id is not None else \
            app[HISTORY].order_by_client_id(account_id, client_id, symbol)
        if order is not None and order.account != account_id:
            order = None
    if order is None and order_id is not None and app[HISTORY].archived(order_id) == (account_id, symbol):
        raise errors.order_archived()
    if order is None or order.symbol != symbol:
        raise errors.order_does_not_exist()
    if not orderparams.order_matches_ref(order, order_id, client_id):
        if order.order_id == order_id:  # found by its id, with another client id: -2039, not -2013
            raise errors.client_order_id_invalid()
        raise errors.order_does_not_exist()
    return views.order_json(order, stage.rules[symbol])


async def cancel_order(app: web.Application, account_id: int, p: Params, deadline: float) -> dict:
    """DELETE /api/v3/order, `order.cancel`: newClientOrderId names the cancel itself (default
    cancel-<orderId>: the answer's clientOrderId and its executionReport's "c") and then replaces
    the canceled order's clientOrderId (web-socket-api.md; stages/acquiring.py); cancelRestrictions
    ONLY_NEW / ONLY_PARTIALLY_FILLED is checked by Match, where the order's state is exact (-2011
    "Order was not canceled due to cancel restrictions." when not met). An order of an order list
    cancels the list and is answered as DELETE /api/v3/orderList answers (web-socket-api.md,
    order.cancel: "If you cancel an order that is a part of an order list, the entire order list is
    canceled", and its "When an order list is canceled" answer)."""
    stage = app[STAGE]
    symbol, order_id, client_id = orderparams.parse_order_ref(p, stage.rules)
    cancel_id = params.parse_client_order_id(p) or ""
    restrictions = orderparams.parse_cancel_restrictions(p)
    order = stage.find_order(account_id, order_id, client_id)
    if order is None or order.symbol != symbol or not orderparams.order_matches_ref(order, order_id, client_id):
        raise errors.refusal(Reason.UNKNOWN_ORDER)
    lst = stage.order_lists.get(order.order_list_id) if order.order_list_id >= 0 else None
    cmd = Cancel(account_id, symbol, order.order_id, 0, cancel_id, restrictions)
    accepted, finals = await cancel_with_list(app, cmd, lst, deadline)
    final = finals[order.order_id]
    if final.reason == Reason.CANCEL_RESTRICTIONS:
        raise errors.refusal(Reason.CANCEL_RESTRICTIONS)
    if not canceled(final):
        raise errors.refusal(Reason.UNKNOWN_ORDER)
    if lst is not None:
        return list_canceled_json(app, lst, accepted, finals)
    return views.cancel_json(final, stage.rules[symbol], cancel_client_id(accepted), accepted.timestamp)


async def cancel_with_list(app: web.Application, cmd: Cancel, lst: dict | None,
                           deadline: float) -> tuple[Cancel, dict[int, Answer]]:
    """Send `cmd`, a cancel of an open order, and wait for Match's answers: to it and, when the order
    is one of the order list `lst`'s, for the list's other open orders, which Match ends with it
    (engine/oco.py, oto.py). Returns the accepted cancel and the answers by order id (only the
    cancel's own when it did not cancel its order). Raises CommandError for an order not open,
    -1007 when the answers do not come by the deadline."""
    accepted, futures = await _send_cancel(app, cmd, lst, deadline)
    return accepted, await _cancel_answers(app, cmd.order_id, futures, deadline)


async def _send_cancel(app: web.Application, cmd: Cancel, lst: dict | None,
                       deadline: float) -> tuple[Cancel, dict[int, asyncio.Future]]:
    """cancel_with_list's first half: the cancel accepted and committed, a future for each answer."""
    stage = app[STAGE]
    open_now = stage.account(cmd.account).open_orders
    others = [i for i in lst["orders"] if i != cmd.order_id and i in open_now] if lst is not None else []
    loop = asyncio.get_running_loop()
    futures = {i: loop.create_future() for i in (cmd.order_id, *others)}
    waiters = {i: Waiter(lambda o, _f, fut=fut: fut.done() or fut.set_result(o)) for i, fut in futures.items()}
    await app[INTAKE].admit(deadline)
    accepted, outputs = stage.cancel(cmd, waiters[cmd.order_id])
    for i in others:  # (Match's reports of the orders it cancels with this one answer these)
        waiters[i].cancel = True
        stage.waiters[i] = waiters[i]
    try:
        await commit(app, accepted, outputs, deadline)
    except errors.ApiError:
        for i in futures:
            forget_waiter(app, i)
        raise
    return accepted, futures


async def _cancel_answers(app: web.Application, order_id: int, futures: dict[int, asyncio.Future],
                          deadline: float) -> dict[int, Answer]:
    """cancel_with_list's second half: the answer for `order_id`, then, if it was canceled, the others'."""
    pending = list(futures)
    try:
        answers = {order_id: await wait_answer(app, futures[order_id], order_id, deadline)}
        pending.remove(order_id)
        if canceled(answers[order_id]):
            for i in list(pending):
                answers[i] = await wait_answer(app, futures[i], i, deadline)
                pending.remove(i)
    finally:
        for i in pending:  # (past the deadline, or nothing was canceled: the others are not waited for)
            forget_waiter(app, i)
    return answers


def list_canceled_json(app: web.Application, lst: dict, accepted: Cancel, answers: dict[int, Answer]) -> dict:
    """DELETE /api/v3/orderList's answer to a list canceled by `accepted`: each of its orders as Match
    answered the cancel, else as this stage's view or the history has it."""
    stage = app[STAGE]
    orders = [answers.get(i) or stage.orders.get(i) or app[HISTORY].order(i) for i in lst["orders"]]
    return orderlists.canceled_json(orders, stage.rules[lst["symbol"]], [cancel_client_id(accepted)] * len(orders),
                                    accepted.timestamp)


async def cancel_open_orders(app: web.Application, account_id: int, p: Params, deadline: float) -> list:
    """DELETE /api/v3/openOrders, `openOrders.cancelAll`: every open order of the symbol; an order
    list's as the list (one cancel of its first order takes the others, as DELETE orderList does),
    answered in DELETE /api/v3/orderList's shape (rest-api.md: "This includes orders that are part
    of an order list"). Every item carries the request's one client id (Binance's example)."""
    stage = app[STAGE]
    symbol = params.parse_symbol(p, stage.rules)
    orders = sorted((o for o in stage.account(account_id).open_orders.values() if o.symbol == symbol),
                    key=lambda o: o.order_id)
    if not orders:
        raise errors.refusal(Reason.UNKNOWN_ORDER)
    # one client id for the whole request, as Binance's answer shows (its "clientOrderId" the same in
    # every item): the first order's default cancel id, journaled with each cancel
    cancel_id = default_cancel_id(orders[0].order_id)
    sent: list[tuple[Cancel, dict | None, dict[int, asyncio.Future]]] = []
    lists: set[int] = set()
    try:  # every cancel sent, then every answer awaited
        for order in orders:
            lst = None
            if order.order_list_id >= 0:
                if order.order_list_id in lists:
                    continue  # (its list's first order's cancel takes it)
                lists.add(order.order_list_id)
                lst = stage.order_lists.get(order.order_list_id)
            try:
                accepted, futures = await _send_cancel(app, Cancel(account_id, symbol, order.order_id, 0, cancel_id), lst,
                                                       deadline)
            except CommandError:
                continue
            sent.append((accepted, lst, futures))
        results = [(accepted, lst, await _cancel_answers(app, accepted.order_id, futures, deadline))
                   for accepted, lst, futures in sent]
    except errors.ApiError:
        for _accepted, _lst, futures in sent:
            for order_id in futures:
                forget_waiter(app, order_id)
        if sent:  # some cancels were accepted: their outcome is unknown to this client
            raise errors.timeout() from None
        raise
    rules = stage.rules[symbol]
    out: list = []
    for accepted, lst, answers in results:
        answer = answers[accepted.order_id]
        if not canceled(answer):
            continue
        if lst is None:
            out.append(views.cancel_json(answer, rules, cancel_client_id(accepted), accepted.timestamp))
        else:
            out.append(list_canceled_json(app, lst, accepted, answers))
    return out


async def wait_answer(app: web.Application, fut: asyncio.Future, order_id: int, deadline: float):
    """Match's answer to a command, or -1007 (execution status unknown) if it has not come by the
    request's deadline (admission.py): the command was accepted and journaled, and goes on."""
    try:
        return await app[ADMISSION].expire_at(fut, deadline)
    except TimeoutError:
        forget_waiter(app, order_id)
        raise errors.timeout() from None


def canceled(answer: Answer) -> bool:
    """Whether Match's answer to a cancel is the order, canceled (not a Refused cancel, nor an order
    that ended otherwise before the cancel came)."""
    return type(answer) is Order and answer.status == OrderStatus.CANCELED


def forget_waiter(app: web.Application, order_id: int) -> None:
    """Nobody waits for this command's answer any more (the client got -1007)."""
    app[STAGE].waiters.pop(order_id, None)
    app[STAGE].settling.pop(order_id, None)


async def open_orders(app: web.Application, account_id: int, p: Params, deadline: float) -> list:
    """GET /api/v3/openOrders, `openOrders.status`."""
    stage = app[STAGE]
    symbol = params.parse_symbol(p, stage.rules, required=False)
    await read_fresh(app)
    orders = sorted((o for o in stage.judged_open_orders(account_id) if symbol in (None, o.symbol)),
                    key=lambda o: o.order_id)
    return [views.order_json(o, stage.rules[o.symbol]) for o in orders]


async def all_orders(app: web.Application, account_id: int, p: Params, deadline: float) -> list:
    """GET /api/v3/allOrders, `allOrders`. With startTime and/or endTime, orderId is checked but
    ignored (web-socket-api.md, allOrders: "If `startTime` and/or `endTime` are specified, `orderId`
    is ignored"; rest-api.md: it "is not required")."""
    stage = app[STAGE]
    symbol = params.parse_symbol(p, stage.rules)
    start, end = queryparams.parse_day_window(p)
    order_id, limit = params.parse_int(p, "orderId"), params.parse_limit(p, "limit", default=500, maximum=1000)
    if start is not None or end is not None:
        order_id = None
    await read_fresh(app)
    rows = app[HISTORY].all_orders(account_id, symbol, order_id=order_id, start_time=start, end_time=end, limit=limit)
    # the history lags the pipeline by a batch: the stage's own view of an order is fresher
    return [views.order_json(stage.orders.get(o.order_id, o), stage.rules[symbol]) for o in rows]


async def my_trades(app: web.Application, account_id: int, p: Params, deadline: float) -> list:
    """GET /api/v3/myTrades, `myTrades`."""
    stage = app[STAGE]
    symbol = params.parse_symbol(p, stage.rules)
    order_id, from_id, start, end = queryparams.parse_my_trades_window(p)
    limit = params.parse_limit(p, "limit", default=500, maximum=1000)
    await read_fresh(app)
    rows = app[HISTORY].my_trades(account_id, symbol, from_id=from_id, start_time=start, end_time=end,
                                  limit=limit, order_id=order_id)
    list_ids = app[HISTORY].order_list_ids(t[side] for t in rows for side in ("buyer_order_id", "seller_order_id"))
    out = views.my_trades_json(rows, account_id, stage.rules[symbol], list_ids)
    if order_id is not None:  # a self-trade: only the side of that order
        out = [t for t in out if t["orderId"] == order_id]
    return out


async def my_prevented_matches(app: web.Application, account_id: int, p: Params, deadline: float) -> list:
    """GET /api/v3/myPreventedMatches, `myPreventedMatches` (rest-api.md): symbol with
    preventedMatchId, or with orderId (and fromPreventedMatchId, limit: default 500, at most 1000);
    neither -1102, both, or fromPreventedMatchId without orderId, -1128."""
    stage = app[STAGE]
    symbol = params.parse_symbol(p, stage.rules)
    match_id, order_id = params.parse_int(p, "preventedMatchId"), params.parse_int(p, "orderId")
    from_id = params.parse_int(p, "fromPreventedMatchId")
    limit = params.parse_limit(p, "limit", default=500, maximum=1000)
    if match_id is None and order_id is None:
        raise errors.either_missing("preventedMatchId", "orderId")
    if (match_id is not None and order_id is not None) or (from_id is not None and order_id is None):
        raise errors.bad_combination()
    await read_fresh(app)
    rows = app[HISTORY].prevented_matches(account_id, symbol, prevented_match_id=match_id, order_id=order_id,
                                          from_id=from_id, limit=limit)
    return [views.prevented_match_json(row, stage.rules[symbol]) for row in rows]


async def account_info(app: web.Application, account_id: int, p: Params, deadline: float) -> dict:
    """GET /api/v3/account, `account.status`."""
    stage = app[STAGE]
    omit_zero = params.parse_bool(p, "omitZeroBalances")
    await read_fresh(app)
    balances = stage.balances(account_id)
    rules = next(iter(stage.rules.values()))
    return views.account_json(account_id, balances, rules, stage.balance_time(account_id), omit_zero_balances=omit_zero)


async def account_commission(app: web.Application, account_id: int, p: Params, deadline: float) -> dict:
    """GET /api/v3/account/commission, `account.commission`: the rates the account pays on a symbol."""
    stage = app[STAGE]
    return orderops.account_commission_json(stage.rules[params.parse_symbol(p, stage.rules)])


async def my_filters(app: web.Application, account_id: int, p: Params, deadline: float) -> dict:
    """GET /api/v3/myFilters, `myFilters`: the filters that hold for the account on a symbol: the
    symbol's, as exchangeInfo lists them (the node has no exchange or asset filters)."""
    stage = app[STAGE]
    rules = stage.rules[params.parse_symbol(p, stage.rules)]
    return {"exchangeFilters": [], "symbolFilters": marketviews.filters_json(rules), "assetFilters": []}


async def order_rate_limits(app: web.Application, account_id: int, p: Params, deadline: float) -> list:
    """GET /api/v3/rateLimit/order, `account.rateLimits.orders`: the account's count in each ORDERS
    window (ratelimit.py)."""
    return app[LIMITER].order_usage(account_id, now_ms())
