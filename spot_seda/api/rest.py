"""The HTTP face of the Acquiring stage: Binance Spot REST v3, the seed's /api/spot/v2/, admin and
metrics endpoints, as an aiohttp app on uvloop. This module holds the orders, account, admin and
listen-key handlers and the app; market.py the public market data; plumbing.py what they share.

Threads: the event loop owns the stage's state. A reader thread blocks on the stage's Bus queue
(faster-fifo waits without the GIL), decodes what arrives and hands it to the loop, waiting until
the loop has applied it (so memory stays bounded when the loop is busy). Commands run on the loop;
what they produce goes straight to the runner, which stamps sequences and publishes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from urllib.parse import parse_qsl

from aiohttp import web

from ..listenkeys import ListenKeys
from ..accounts import Accounts
from ..history import History
from ..journal import Journal
from ..model.commands import Cancel, NewOrder, Transfer
from ..model.enums import OrderType
from ..runtime.busreader import BusReader
from ..runtime.metrics import open_from_manifest, render_prometheus
from ..stages.acquiring import AcquiringStage, CommandError, Waiter, cancel_client_id
from ..binance import auth, errors, params, views
from .admission import ADMISSION, Admission, admission_middleware, deadline_of
from .intake import Intake
from .market import (agg_trades, avg_price, book_ticker, depth, exchange_info, historical_trades, klines, ping,
                     recent_trades, server_time, ticker_24hr, ticker_price)
from .openapi import openapi_document
from . import orderops  # (as a module: it uses place_order from here)
from .page import add_page_routes
from .plumbing import (ACCOUNTS, HISTORY, INTAKE, JOURNAL, OUTBOX, PENDING, READS, Outbox, RUNNER, STAGE, authenticate_key,
                       commit, errors_middleware, json_body, json_parser_errors, now_ms, read_body, read_fresh,
                       request_params, settle_body, signed, stage_of)
from .ratelimit import LIMITER, RateLimiter, count_order, ratelimit_middleware
from .readbarrier import ReadBarrier

log = logging.getLogger("spot_seda.api")

# ------------------------------------------------------------------------------ private


async def place_order(request: web.Request, account_id: int, p: dict[str, str]) -> web.Response:
    stage = stage_of(request)
    cmd = params.parse_new_order(p, stage.rules)
    params.check_new_order_params(p)
    rules = stage.rules[cmd.symbol]
    resp_type = cmd.resp_type
    loop = asyncio.get_running_loop()
    answer: asyncio.Future | None = None
    waiter = None
    # a LIMIT_MAKER that would take, a stop that would trigger, is an error, not an order: its answer
    # must be awaited even for ACK
    if resp_type != "ACK" or cmd.type == OrderType.LIMIT_MAKER or cmd.type.is_stop:
        answer = loop.create_future()
        waiter = Waiter(lambda order, fills: answer.done() or answer.set_result((order, fills)),
                        fills=[] if resp_type == "FULL" else None)
    tif = cmd.time_in_force.name
    deadline = deadline_of(request)
    await request.app[INTAKE].admit(deadline)
    order, accepted, outputs = stage.new_order(NewOrder(
        account_id, cmd.symbol, cmd.side.name, cmd.type.name, tif, cmd.price, cmd.qty, cmd.quote_qty,
        cmd.client_order_id or "", cmd.stp.name, 0, stop_price=cmd.stop_price), waiter)
    try:
        await commit(request, accepted, outputs, deadline)
    except errors.ApiError:  # -1007: accepted, not yet durable; the client finds it by its client id
        _forget_waiter(request, order["order_id"])
        raise
    strategy = {k: v for k, v in (("strategyId", cmd.strategy_id), ("strategyType", cmd.strategy_type)) if v is not None}
    if answer is None:
        return web.json_response(views.order_ack(order, rules) | strategy)
    final, fills = await _wait(request, answer, order["order_id"], deadline)
    if final.get("status") == "REJECTED" and final.get("reason") == "would_take":
        raise errors.would_take()
    if final.get("status") == "REJECTED" and final.get("reason") == "would_trigger":
        raise errors.would_trigger()
    if resp_type == "ACK":
        return web.json_response(views.order_ack(order, rules) | strategy)
    if resp_type == "RESULT":
        return web.json_response(views.order_result(final, rules) | strategy)
    return web.json_response(views.order_full(final, rules, fills, account_id) | strategy)


async def new_order(request: web.Request) -> web.Response:
    account_id, p = await signed(request)
    count_order(request, account_id)  # ORDERS per account (ratelimit.py): 429 / -1015 past a limit
    return await place_order(request, account_id, p)


async def seed_order(request: web.Request) -> web.Response:
    """The seed's POST /api/spot/v2/: a JSON body {"symbol","side","price","quantity",...}, signed like v3
    (the signature covers the query string; the JSON body's fields become order parameters)."""
    account_id, p = await signed_json(request)
    count_order(request, account_id)
    return await place_order(request, account_id, p)


#: the seed endpoint's JSON fields (v3 parameter names; clientOrderId as the seed spells it)
SEED_FIELDS = frozenset({"symbol", "side", "type", "price", "quantity", "quoteOrderQty", "stopPrice", "timeInForce",
                         "clientOrderId", "newClientOrderId", "newOrderRespType"})
SEED_ALIASES = {"clientOrderId": "newClientOrderId"}


async def signed_json(request: web.Request) -> tuple[int, dict[str, str]]:
    """Authenticate the seed endpoint: signature over the raw query string + the raw JSON body."""
    query = request.rel_url.raw_query_string
    body, doc = json_body(await read_body(request))
    account = authenticate_key(request)
    p = dict(parse_qsl(query, keep_blank_values=True))
    unsigned_query, _, signature = auth.split_signature(query, "")
    p.pop("signature", None)
    auth.verify_account_signature(account, unsigned_query, body, signature)
    auth.check_timestamp(p.get("timestamp"), p.get("recvWindow"), now_ms())
    for key, value in doc.items():
        if key not in SEED_FIELDS:
            raise errors.unknown_param()
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise errors.illegal_chars(key)
        # numbers are taken as the client wrote them (a float's repr is its shortest exact decimal)
        p[SEED_ALIASES.get(key, key)] = repr(value) if isinstance(value, float) else str(value)
    p.setdefault("type", "LIMIT" if "price" in p else "MARKET")
    if p["type"] == "LIMIT":
        p.setdefault("timeInForce", "GTC")
    return account.account_id, p


async def query_order(request: web.Request) -> web.Response:
    account_id, p = await signed(request)
    stage = stage_of(request)
    symbol, order_id, client_id = params.parse_order_ref(p, stage.rules)
    await read_fresh(request)
    order = stage.find_order(account_id, order_id, client_id)
    if order is None:
        order = request.app[HISTORY].order(order_id) if order_id is not None else \
            request.app[HISTORY].order_by_client_id(account_id, client_id)
        if order is not None and order["account"] != account_id:
            order = None
    if order is None or order["symbol"] != symbol or not params.order_matches_ref(order, order_id, client_id):
        raise errors.order_does_not_exist()
    return web.json_response(views.order_json(order, stage.rules[symbol]))


async def cancel_order(request: web.Request) -> web.Response:
    """DELETE /api/v3/order: newClientOrderId names the cancel itself (default cancel-<orderId>: the
    answer's clientOrderId and its executionReport's "c"); cancelRestrictions ONLY_NEW /
    ONLY_PARTIALLY_FILLED is checked by Match, where the order's state is exact (-2011 "Order was
    not canceled due to cancel restrictions." when not met)."""
    account_id, p = await signed(request)
    stage = stage_of(request)
    symbol, order_id, client_id = params.parse_order_ref(p, stage.rules)
    cancel_id = params.parse_client_order_id(p) or ""
    restrictions = params.parse_cancel_restrictions(p)
    order = stage.find_order(account_id, order_id, client_id)
    if order is None or order["symbol"] != symbol or not params.order_matches_ref(order, order_id, client_id):
        raise errors.unknown_order()
    answer = asyncio.get_running_loop().create_future()
    waiter = Waiter(lambda o, _f: answer.done() or answer.set_result(o))
    deadline = deadline_of(request)
    await request.app[INTAKE].admit(deadline)
    accepted, outputs = stage.cancel(Cancel(account_id, symbol, order["order_id"], 0, cancel_id, restrictions), waiter)
    try:
        await commit(request, accepted, outputs, deadline)
    except errors.ApiError:
        _forget_waiter(request, order["order_id"])
        raise
    final = await _wait(request, answer, order["order_id"], deadline)
    if final.get("reason") == "cancel_restrictions":
        raise errors.cancel_restricted()
    if not final or final.get("status") != "CANCELED":
        raise errors.unknown_order()
    return web.json_response(views.cancel_json(final, stage.rules[symbol], cancel_client_id(accepted), accepted.timestamp))


async def _wait(request: web.Request, fut: asyncio.Future, order_id: int, deadline: float):
    """Match's answer to a command, or -1007 (execution status unknown) if it has not come by the
    request's deadline (admission.py): the command was accepted and journaled, and goes on."""
    try:
        return await asyncio.wait_for(fut, max(0.0, deadline - asyncio.get_running_loop().time()))
    except asyncio.TimeoutError:
        _forget_waiter(request, order_id)
        raise errors.timeout() from None


def _forget_waiter(request: web.Request, order_id: int) -> None:
    """Nobody waits for this command's answer any more (the client got -1007)."""
    request.app[STAGE].waiters.pop(order_id, None)
    request.app[STAGE].settling.pop(order_id, None)


async def cancel_open_orders(request: web.Request) -> web.Response:
    account_id, p = await signed(request)
    stage = stage_of(request)
    symbol = params.parse_symbol(p, stage.rules)
    orders = [o for o in stage.account(account_id).open_orders.values() if o["symbol"] == symbol]
    if not orders:
        raise errors.unknown_order()
    loop = asyncio.get_running_loop()
    futures = []
    deadline = deadline_of(request)
    try:
        for order in sorted(orders, key=lambda o: o["order_id"]):
            fut = loop.create_future()
            waiter = Waiter(lambda o, _f, fut=fut: fut.done() or fut.set_result(o))
            await request.app[INTAKE].admit(deadline)
            try:
                accepted, outputs = stage.cancel(Cancel(account_id, symbol, order["order_id"], 0), waiter)
            except CommandError:
                continue
            futures.append((order["order_id"], fut, accepted))
            await commit(request, accepted, outputs, deadline)
        results = [(await _wait(request, fut, oid, deadline), accepted) for oid, fut, accepted in futures]
    except errors.ApiError:
        for oid, _fut, _accepted in futures:
            _forget_waiter(request, oid)
        if futures:  # some cancels were accepted: their outcome is unknown to this client
            raise errors.timeout() from None
        raise
    rules = stage.rules[symbol]
    return web.json_response([views.cancel_json(o, rules, cancel_client_id(accepted), accepted.timestamp)
                              for o, accepted in results if o and o.get("status") == "CANCELED"])


async def open_orders(request: web.Request) -> web.Response:
    account_id, p = await signed(request)
    stage = stage_of(request)
    symbol = params.parse_symbol(p, stage.rules, required=False)
    await read_fresh(request)
    orders = sorted((o for o in stage.account(account_id).open_orders.values() if symbol in (None, o["symbol"])),
                    key=lambda o: o["order_id"])
    return web.json_response([views.order_json(o, stage.rules[o["symbol"]]) for o in orders])


async def all_orders(request: web.Request) -> web.Response:
    account_id, p = await signed(request)
    stage = stage_of(request)
    symbol = params.parse_symbol(p, stage.rules)
    start, end = params.parse_time_range(p)
    order_id, limit = params.parse_int(p, "orderId"), params.parse_limit(p, "limit", default=500, maximum=1000)
    await read_fresh(request)
    rows = request.app[HISTORY].all_orders(account_id, symbol, order_id=order_id, start_time=start, end_time=end,
                                           limit=limit)
    # the history lags the pipeline by a batch: the stage's own view of an order is fresher
    return web.json_response([views.order_json(stage.orders.get(o["order_id"], o), stage.rules[symbol]) for o in rows])


async def my_trades(request: web.Request) -> web.Response:
    account_id, p = await signed(request)
    stage = stage_of(request)
    symbol = params.parse_symbol(p, stage.rules)
    order_id, from_id, start, end = params.parse_my_trades_window(p)
    limit = params.parse_limit(p, "limit", default=500, maximum=1000)
    await read_fresh(request)
    rows = request.app[HISTORY].my_trades(account_id, symbol, from_id=from_id, start_time=start, end_time=end,
                                          limit=limit, order_id=order_id)
    out = views.my_trades_json(rows, account_id, stage.rules[symbol])
    if order_id is not None:  # a self-trade: only the side of that order
        out = [t for t in out if t["orderId"] == order_id]
    return web.json_response(out)


async def account_info(request: web.Request) -> web.Response:
    account_id, p = await signed(request)
    stage = stage_of(request)
    omit_zero = params.parse_bool(p, "omitZeroBalances")
    await read_fresh(request)
    balances = stage.balances(account_id)
    rules = next(iter(stage.rules.values()))
    return web.json_response(views.account_json(account_id, balances, rules, now_ms(), omit_zero_balances=omit_zero))


async def order_rate_limits(request: web.Request) -> web.Response:
    """GET /api/v3/rateLimit/order: the account's count in each ORDERS window (ratelimit.py)."""
    account_id, _p = await signed(request)
    return web.json_response(request.app[LIMITER].order_usage(account_id, now_ms()))


# -------------------------------------------------------------------------------- admin


async def admin_guard(request: web.Request) -> dict:
    auth.check_admin_token(request.app[STAGE].ctx.settings.node.admin_token, request.headers.get("X-Admin-Token"))
    if request.method == "POST" and request.can_read_body:
        return json_body(await read_body(request) or b"{}")[1]
    return {}


async def admin_create_account(request: web.Request) -> web.Response:
    """A new account: with an HMAC secret key made here (an empty body), or with the Ed25519 or RSA
    public key of the body's "publicKey" (PEM; the client keeps the private key)."""
    doc = await admin_guard(request)
    if set(doc) - {"publicKey"}:
        raise errors.unknown_param()
    public_key = doc.get("publicKey")
    if public_key is not None and not isinstance(public_key, str):
        raise errors.invalid_parameter("publicKey")
    account = request.app[ACCOUNTS].create(public_key)
    answer = {"accountId": account.account_id, "apiKey": account.api_key}
    if account.key_type == auth.HMAC:
        answer["secretKey"] = account.secret_key
    return web.json_response(answer | {"keyType": account.key_type})


async def admin_transfer(request: web.Request, deposit: bool) -> web.Response:
    doc = await admin_guard(request)
    stage = stage_of(request)
    account_id = doc.get("accountId")
    if isinstance(account_id, bool) or not isinstance(account_id, int) or request.app[ACCOUNTS].get(account_id) is None:
        raise errors.invalid_parameter("accountId")
    asset = doc.get("asset")
    assets = {r.base for r in stage.rules.values()} | {r.quote for r in stage.rules.values()}
    if not isinstance(asset, str) or asset not in assets:  # a list or an object is not hashable
        raise errors.invalid_parameter("asset")
    amount_text = doc.get("amount")
    if not isinstance(amount_text, str):
        raise errors.illegal_chars("amount", errors.DECIMAL_RANGE)
    amount = params.decimal_units(amount_text, "amount")
    if amount <= 0:
        raise errors.invalid_parameter("amount")
    deadline = deadline_of(request)
    await request.app[INTAKE].admit(deadline)
    accepted, outputs = stage.transfer(Transfer(account_id, asset, amount if deposit else -amount, 0))
    await commit(request, accepted, outputs, deadline)
    available, frozen = stage.ledger.balance(account_id, asset)
    return web.json_response(views.balance_json(asset, available, frozen))


async def admin_deposit(request: web.Request) -> web.Response:
    return await admin_transfer(request, True)


async def admin_withdraw(request: web.Request) -> web.Response:
    return await admin_transfer(request, False)


async def metrics(request: web.Request) -> web.Response:
    stage = stage_of(request)
    table = open_from_manifest(stage.ctx.data_dir)
    return web.Response(text=render_prometheus(table) + request.app[ADMISSION].prometheus()
                        + request.app[LIMITER].prometheus(), content_type="text/plain")


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document())


# ------------------------------------------------------- user data stream listen keys (Push)
# POST/PUT/DELETE /api/v3/userDataStream: API key header, no signature (Binance's USER_STREAM); the
# keys live in the data dir (spot_seda/listenkeys.py), where the Push processes resolve /ws/<listenKey>.

_LISTEN_KEYS: dict[str, object] = {}


def _listen_keys(request: web.Request):

    data_dir = str(stage_of(request).ctx.data_dir)
    keys = _LISTEN_KEYS.get(data_dir)
    if keys is None:
        keys = _LISTEN_KEYS[data_dir] = ListenKeys(data_dir)
    return keys


async def _own_listen_key(request: web.Request) -> str:
    """The listenKey parameter of a PUT/DELETE, which must be a live key of the caller's account."""
    p, _, _ = await request_params(request)
    account = authenticate_key(request)
    key = p.get("listenKey")
    if not key:
        raise errors.mandatory_missing("listenKey")
    if _listen_keys(request).account_of(key) != account.account_id:
        raise errors.invalid_listen_key()
    return key


async def create_listen_key(request: web.Request) -> web.Response:
    account = authenticate_key(request)
    return web.json_response(views.listen_key_json(_listen_keys(request).create(account.account_id)))


async def keepalive_listen_key(request: web.Request) -> web.Response:
    if not _listen_keys(request).keepalive(await _own_listen_key(request)):
        raise errors.invalid_listen_key()
    return web.json_response({})


async def close_listen_key(request: web.Request) -> web.Response:
    _listen_keys(request).close(await _own_listen_key(request))
    return web.json_response({})


# ---------------------------------------------------------------------------------- app


def build_app(stage: AcquiringStage, runner, journal: Journal) -> web.Application:
    """The aiohttp application of one Acquiring stage instance."""
    settings = stage.ctx.settings
    node = settings.node
    limiter = RateLimiter(settings.rate_limits)
    # outermost the rate limits (a client past its share: 429/418), then the shedding of overload (503)
    middlewares = [admission_middleware(settle_body), errors_middleware]
    if limiter.enabled:
        middlewares.insert(0, ratelimit_middleware(settle_body))
    app = web.Application(middlewares=middlewares, client_max_size=node.max_body_bytes)
    app[LIMITER] = limiter
    app[ADMISSION] = Admission(node.shed_orders_in_flight, node.shed_all_in_flight, node.shed_loop_lag_ms,
                               node.result_timeout_s)
    app[STAGE] = stage
    app[RUNNER] = runner
    app[ACCOUNTS] = Accounts(stage.ctx.data_dir)
    app[HISTORY] = History(stage.ctx.data_dir / "history.sqlite", readonly=True)
    app[JOURNAL] = journal
    app[PENDING] = deque()
    app[OUTBOX] = Outbox(runner, app[PENDING])
    app[INTAKE] = Intake(runner, journal, app[PENDING], stage.ctx.data_dir, settings.journal.rotate)
    # (after Intake: both take over the runner's on_marker, each passing on the kinds not its own)
    app[READS] = ReadBarrier(runner, app[OUTBOX], app[HISTORY], settings.runtime.instances.get("persist", 1),
                             settings.node.result_timeout_s)
    r = app.router
    for path, handler in (("/ping", ping), ("/time", server_time), ("/exchangeInfo", exchange_info), ("/depth", depth),
                          ("/trades", recent_trades), ("/historicalTrades", historical_trades), ("/aggTrades", agg_trades), ("/klines", klines),
                          ("/ticker/24hr", ticker_24hr), ("/ticker/price", ticker_price),
                          ("/ticker/bookTicker", book_ticker), ("/avgPrice", avg_price)):
        r.add_get("/api/v3" + path, handler)
    r.add_post("/api/v3/order", new_order)
    r.add_get("/api/v3/order", query_order)
    r.add_delete("/api/v3/order", cancel_order)
    orderops.add_routes(app)  # order/test, order/cancelReplace (api/orderops.py)
    r.add_get("/api/v3/openOrders", open_orders)
    r.add_delete("/api/v3/openOrders", cancel_open_orders)
    r.add_get("/api/v3/allOrders", all_orders)
    r.add_get("/api/v3/myTrades", my_trades)
    r.add_get("/api/v3/account", account_info)
    r.add_get("/api/v3/rateLimit/order", order_rate_limits)
    r.add_post("/api/v3/userDataStream", create_listen_key)
    r.add_put("/api/v3/userDataStream", keepalive_listen_key)
    r.add_delete("/api/v3/userDataStream", close_listen_key)
    r.add_post("/api/spot/v2/", seed_order)
    r.add_post("/admin/v1/accounts", admin_create_account)
    r.add_post("/admin/v1/deposit", admin_deposit)
    r.add_post("/admin/v1/withdraw", admin_withdraw)
    r.add_get("/metrics", metrics)
    r.add_get("/openapi.json", openapi)
    add_page_routes(app)  # the node's web page (api/page.py, issue 17)
    return app


def serve(stage: AcquiringStage, runner, stopping) -> None:
    """Run the HTTP server and the Bus reader until `stopping()`; the supervisor calls this."""
    import uvloop

    uvloop.run(_serve(stage, runner, stopping))


async def _serve(stage: AcquiringStage, runner, stopping) -> None:
    runner.start()
    settings = stage.ctx.settings
    loop = asyncio.get_running_loop()
    journal = Journal(stage.ctx.data_dir / "journal", fsync=settings.journal.fsync,
                      batch_window_ms=settings.journal.batch_window_ms, segment_bytes=settings.journal.segment_bytes)
    app = build_app(stage, runner, journal)
    json_parser_errors()
    web_runner = web.AppRunner(app, access_log=None)
    await web_runner.setup()
    site = web.TCPSite(web_runner, settings.node.host, settings.node.http_port, reuse_address=True,
                       backlog=settings.node.accept_backlog)
    await site.start()
    app[ADMISSION].start(loop)
    log.info("HTTP on http://%s:%d", settings.node.host, settings.node.http_port)
    reader = BusReader(runner, loop)
    reader.start()
    row = runner.row
    intake, interval = app[INTAKE], settings.journal.snapshot_interval_s
    next_snapshot = time.monotonic() + interval
    cycle: asyncio.Task | None = None
    while not stopping():
        if row is not None:
            row["heartbeat_ns"] = time.time_ns()
        if interval and time.monotonic() >= next_snapshot and (cycle is None or cycle.done()):
            cycle = asyncio.create_task(intake.snapshot())
            next_snapshot = time.monotonic() + interval
        await asyncio.sleep(0.05)
    await site.stop()  # no new commands; what is in flight still gets its answer from the reader
    await asyncio.sleep(0.1)
    if cycle is not None:
        await cycle
    await intake.snapshot()  # the next start replays nothing
    await reader.stop()
    app[ADMISSION].stop()
    await web_runner.cleanup()
    journal.close()
    runner.producer.flush()
