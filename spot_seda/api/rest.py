"""The HTTP face of the Acquiring stage: Binance Spot REST v3, the seed's /api/spot/v2/, admin and
metrics endpoints, and the WebSocket API's path (wsapi.py), as an aiohttp app on uvloop. This module
holds the HTTP handlers and the app; the requests' bodies are market.py (public market data) and
trading.py (orders and account queries), which the WebSocket API calls too; plumbing.py what they share.

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

from aiohttp import web

from ..listenkeys import ListenKeys
from ..accounts import Accounts
from ..history import History
from .. import accountlog, commandlog
from ..kafkajournal import KafkaJournal
from ..journal import Journal
from ..model.commands import Transfer
from ..runtime.busreader import bus_reader
from ..runtime.metrics import open_from_manifest, render_prometheus
from ..runtime.sched import batch_scheduling
from ..stages.acquiring import AcquiringStage
from .. import topology
from ..binance import auth, errors, params, views
from . import market, trading, wsapi
from .acceptor import Acceptor
from .admission import ADMISSION, Admission, admission_middleware, deadline_of
from .intake import Intake
from .jsonbody import json_answer
from .knownparams import ROUTE_PARAMS
from .openapi import openapi_document
from . import orderops
from .page import add_page_routes
from .plumbing import (ACCOUNTS, HISTORY, INTAKE, JOURNAL, OUTBOX, PENDING, READS, Outbox, RUNNER, STAGE, authenticate_key,
                       check_read, commit, commit_beside, errors_middleware, json_body, json_parser_errors, now_ms,
                       read_body, request_params, settle_body, signed, stage_of, tick, TICKING, unique_pairs)
from .ratelimit import LIMITER, RateLimiter, orders_placed, ratelimit_middleware
from .timeunit import time_unit_middleware
from .readbarrier import ReadBarrier
from .relay import push_url

log = logging.getLogger("spot_seda.api")

# ------------------------------------------------------------------------------ private
# The bodies of the public and private requests are transport-neutral operations (market.py,
# trading.py) that the WebSocket API (wsapi.py) calls too; here they get their HTTP parts:
# parameters from the query string and form body, the API key header, the signature over both.


def public(operation):
    """A GET handler for a market-data operation (market.py): query parameters in, JSON out."""

    async def handler(request: web.Request) -> web.Response:
        p, _, _ = await request_params(request)
        check_read(request, p)
        return json_answer(await operation(request.app, p))

    handler.__name__ = handler.__qualname__ = operation.__name__
    return handler


def private(operation, order: bool = False):
    """A handler for an account's operation (trading.py): a signed request (API key header, HMAC,
    Ed25519 or RSA signature, timestamp); an `order` counts against the ORDERS limits first, unless
    it is refused."""

    async def handler(request: web.Request) -> web.Response:
        account_id, p = await signed(request)
        if not order:
            check_read(request, p, signed=True)
            return json_answer(await operation(request.app, account_id, p, deadline_of(request)))
        with orders_placed(request, account_id):  # ORDERS per account (ratelimit.py): 429 / -1015 past a limit
            check_read(request, p, signed=True)  # (a refused order's count goes back)
            return json_answer(await operation(request.app, account_id, p, deadline_of(request)))

    handler.__name__ = handler.__qualname__ = operation.__name__
    return handler


async def seed_order(request: web.Request) -> web.Response:
    """The seed's POST /api/spot/v2/: a JSON body {"symbol","side","price","quantity",...}, signed like v3
    (the signature covers the query string; the JSON body's fields become order parameters)."""
    account_id, p = await signed_json(request)
    with orders_placed(request, account_id):
        check_read(request, p, signed=True)  # the query string's and the JSON fields' names, as v3's
        p.setdefault("type", "LIMIT" if "price" in p else "MARKET")  # (the seed's defaults: not sent)
        if p["type"] == "LIMIT":
            p.setdefault("timeInForce", "GTC")
        return json_answer(await trading.place_order(request.app, account_id, p, deadline_of(request)))


#: the seed endpoint's JSON fields (v3 parameter names; clientOrderId as the seed spells it)
SEED_FIELDS = frozenset({"symbol", "side", "type", "price", "quantity", "quoteOrderQty", "stopPrice", "trailingDelta",
                         "timeInForce", "clientOrderId", "newClientOrderId", "newOrderRespType"})
SEED_ALIASES = {"clientOrderId": "newClientOrderId"}


async def signed_json(request: web.Request) -> tuple[int, dict[str, str]]:
    """Authenticate the seed endpoint: signature over the raw query string + the raw JSON body."""
    query = request.rel_url.raw_query_string
    body, doc = json_body(await read_body(request))
    account = authenticate_key(request)
    p = unique_pairs(query)  # a name twice is -1101, as on v3 (never one silently kept)
    unsigned_query, _, signature = auth.split_signature(query, "")
    p.pop("signature", None)
    auth.verify_rest_signature(account, unsigned_query, body, signature)
    auth.check_timestamp(p.get("timestamp"), p.get("recvWindow"), now_ms())
    for key, value in doc.items():
        if key not in SEED_FIELDS:
            raise errors.unknown_param()
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise errors.illegal_chars(key)
        name = SEED_ALIASES.get(key, key)
        if name in p:  # in the query string too, or clientOrderId beside newClientOrderId: -1101, not
            raise errors.duplicate_parameter()  # one of them (an empty one, say) silently dropped
        # numbers are taken as the client wrote them (a float's repr is its shortest exact decimal)
        p[name] = repr(value) if isinstance(value, float) else str(value)
    return account.account_id, p


# -------------------------------------------------------------------------------- admin


async def admin_guard(request: web.Request) -> dict:
    """The admin token, then the JSON body: a field the endpoint does not read (knownparams), or a
    query string parameter (it reads none), is -1103."""
    auth.check_admin_token(request.app[STAGE].ctx.settings.node.admin_token, request.headers.get("X-Admin-Token"))
    doc = {}
    if request.method == "POST" and request.can_read_body:
        doc = json_body(await read_body(request) or b"{}")[1]
    route = request.match_info.route
    if request.query or not ROUTE_PARAMS[(route.method, route.resource.canonical)].issuperset(doc):
        raise errors.unknown_param()
    return doc


async def admin_create_account(request: web.Request) -> web.Response:
    """A new account: with an HMAC secret key made here (an empty body), or with the Ed25519 or RSA
    public key of the body's "publicKey" (PEM; the client keeps the private key). Over the command
    log, answered once the cluster has it too (spot_seda/accountlog.py)."""
    doc = await admin_guard(request)
    public_key = doc.get("publicKey")
    if "publicKey" in doc and not isinstance(public_key, str):  # null too: no silent HMAC account
        raise errors.invalid_parameter("publicKey")
    accounts = request.app[ACCOUNTS]
    account = accounts.create(public_key)
    if isinstance(request.app[JOURNAL], KafkaJournal):  # the cluster is the registry's source of truth
        settings = stage_of(request).ctx.settings
        await commit_beside(request.app, accountlog.record(settings, accounts.records(account.account_id)[0]),
                            deadline_of(request))
    answer = {"accountId": account.account_id, "apiKey": account.api_key}
    if account.key_type == auth.HMAC:
        answer["secretKey"] = account.secret_key
    return json_answer(answer | {"keyType": account.key_type})


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
    await commit(request.app, accepted, outputs, deadline)
    available, frozen = stage.ledger.balance(account_id, asset)
    return json_answer(views.balance_json(asset, available, frozen))


async def admin_deposit(request: web.Request) -> web.Response:
    return await admin_transfer(request, True)


async def admin_withdraw(request: web.Request) -> web.Response:
    return await admin_transfer(request, False)


async def metrics(request: web.Request) -> web.Response:
    check_read(request, request.query)
    stage = stage_of(request)
    table = open_from_manifest(stage.ctx.data_dir)
    return web.Response(text=render_prometheus(table) + request.app[ADMISSION].prometheus()
                        + request.app[LIMITER].prometheus(), content_type="text/plain")


async def openapi(request: web.Request) -> web.Response:
    check_read(request, request.query)
    return json_answer(openapi_document(ROUTES))


# ------------------------------------------------------- user data stream listen keys (Push)
# POST/PUT/DELETE /api/v3/userDataStream: API key header, no signature (Binance's USER_STREAM); the
# keys live in the data dir (spot_seda/listenkeys.py), where the Push processes resolve /ws/<listenKey>,
# and over the command log in the cluster too (spot_seda/accountlog.py), for Push on other machines.

LISTEN_KEYS = web.AppKey("listen_keys", ListenKeys)


def _listen_keys(request: web.Request) -> ListenKeys:
    return request.app[LISTEN_KEYS]


async def _own_listen_key(request: web.Request) -> str:
    """The listenKey parameter of a PUT/DELETE, which must be a live key of the caller's account."""
    p, _, _ = await request_params(request)
    account = authenticate_key(request)
    check_read(request, p)
    key = p.get("listenKey")
    if not key:
        raise errors.mandatory_missing("listenKey")
    if _listen_keys(request).account_of(key) != account.account_id:
        raise errors.invalid_listen_key()
    return key


async def _tell_cluster(request: web.Request, key: str) -> None:
    """Over the command log: the key as it now is, committed in the cluster before the answer, so
    a Push on a machine without Acquiring knows it (accountlog.Follower)."""
    if isinstance(request.app[JOURNAL], KafkaJournal):
        record = accountlog.listen_key_record(stage_of(request).ctx.settings, key, _listen_keys(request).entry(key))
        await commit_beside(request.app, record, deadline_of(request))


async def create_listen_key(request: web.Request) -> web.Response:
    p, _, _ = await request_params(request)
    account = authenticate_key(request)
    check_read(request, p)
    key = _listen_keys(request).create(account.account_id)
    await _tell_cluster(request, key)
    return json_answer(views.listen_key_json(key))


async def keepalive_listen_key(request: web.Request) -> web.Response:
    key = await _own_listen_key(request)
    if not _listen_keys(request).keepalive(key):
        raise errors.invalid_listen_key()
    await _tell_cluster(request, key)
    return json_answer({})


async def close_listen_key(request: web.Request) -> web.Response:
    key = await _own_listen_key(request)
    _listen_keys(request).close(key)
    await _tell_cluster(request, key)
    return json_answer({})


# ------------------------------------------------------------------------------- routes

#: The API's one route table, (method, path, handler): build_app serves exactly these and the OpenAPI
#: document (openapi.py) describes exactly these; a route without a description, or a description
#: without a route, fails the document's build. Each route reads the parameters knownparams.ROUTE_PARAMS
#: gives it and refuses any other (-1104; check_read). (The web page's routes are page.py's.)
ROUTES: list[tuple[str, str, object]] = [
    *(("GET", "/api/v3" + path, public(operation)) for path, operation in (
        ("/ping", market.ping), ("/time", market.server_time), ("/exchangeInfo", market.exchange_info),
        ("/depth", market.depth), ("/trades", market.recent_trades), ("/historicalTrades", market.historical_trades),
        ("/aggTrades", market.agg_trades), ("/klines", market.klines), ("/uiKlines", market.klines),
        ("/ticker/24hr", market.ticker_24hr), ("/ticker", market.rolling_ticker),
        ("/ticker/tradingDay", market.trading_day_ticker),
        ("/ticker/price", market.ticker_price), ("/ticker/bookTicker", market.book_ticker),
        ("/avgPrice", market.avg_price))),
    ("POST", "/api/v3/order", private(trading.place_order, order=True)),
    ("GET", "/api/v3/order", private(trading.query_order)),
    ("DELETE", "/api/v3/order", private(trading.cancel_order)),
    *orderops.ROUTES,  # order/test, order/cancelReplace, amend, order lists (api/orderops.py, orderlists.py)
    ("GET", "/api/v3/openOrders", private(trading.open_orders)),
    ("DELETE", "/api/v3/openOrders", private(trading.cancel_open_orders)),
    ("GET", "/api/v3/allOrders", private(trading.all_orders)),
    ("GET", "/api/v3/myTrades", private(trading.my_trades)),
    ("GET", "/api/v3/myPreventedMatches", private(trading.my_prevented_matches)),
    ("GET", "/api/v3/account", private(trading.account_info)),
    ("GET", "/api/v3/account/commission", private(trading.account_commission)),
    ("GET", "/api/v3/myFilters", private(trading.my_filters)),
    ("GET", "/api/v3/rateLimit/order", private(trading.order_rate_limits)),
    ("POST", "/api/v3/userDataStream", create_listen_key),
    ("PUT", "/api/v3/userDataStream", keepalive_listen_key),
    ("DELETE", "/api/v3/userDataStream", close_listen_key),
    ("POST", "/api/spot/v2/", seed_order),
    ("POST", "/admin/v1/accounts", admin_create_account),
    ("POST", "/admin/v1/deposit", admin_deposit),
    ("POST", "/admin/v1/withdraw", admin_withdraw),
    ("GET", "/metrics", metrics),
    ("GET", "/openapi.json", openapi),
    ("GET", wsapi.PATH, wsapi.serve),  # Binance's WebSocket API with trading (wsapi.py)
]


# ---------------------------------------------------------------------------------- app


def history_instances(settings) -> int:
    """How many instances write the history (a read waits for each): the topology's HISTORY stage's."""
    spec = topology.with_role(topology.stage_specs(settings.node.topology), topology.HISTORY)
    return topology.instances_of(spec.name, settings) if spec is not None else 1


def build_app(stage: AcquiringStage, runner, journal: Journal) -> web.Application:
    """The aiohttp application of one Acquiring stage instance."""
    settings = stage.ctx.settings
    node = settings.node
    limiter = RateLimiter(settings.rate_limits)
    # outermost the rate limits (a client past its share: 429/418), then the shedding of overload (503)
    middlewares = [admission_middleware(settle_body), time_unit_middleware(settle_body), errors_middleware]
    if limiter.enabled:
        middlewares.insert(0, ratelimit_middleware(settle_body))
    app = web.Application(middlewares=middlewares, client_max_size=node.max_body_bytes)
    app[LIMITER] = limiter
    if limiter.order_limits:  # an order's first fill takes it off the account's unfilled order count
        stage.on_first_fill = lambda order: limiter.order_filled(order.account, now_ms())
    app[ADMISSION] = Admission(node.shed_orders_in_flight, node.shed_all_in_flight, node.shed_loop_lag_ms,
                               node.result_timeout_s)
    app[STAGE] = stage
    app[RUNNER] = runner
    app[ACCOUNTS] = Accounts(stage.ctx.data_dir)
    app[HISTORY] = History(stage.ctx.data_dir / "history.sqlite", readonly=True, cache_kib=settings.history.cache_kib)
    app[JOURNAL] = journal
    app[PENDING] = deque()
    app[OUTBOX] = Outbox(runner, app[PENDING])
    app[TICKING] = asyncio.Lock()  # one Tick at a time (plumbing.tick)
    app[INTAKE] = Intake(runner, journal, app[PENDING], stage.ctx.data_dir, settings.journal.rotate,
                         settings.journal.snapshot_interval_s)
    # (after Intake: both take over the runner's on_marker, each passing on the kinds not its own)
    app[LISTEN_KEYS] = ListenKeys(stage.ctx.data_dir)
    app[READS] = ReadBarrier(runner, app[OUTBOX], app[HISTORY], history_instances(settings),
                             settings.node.result_timeout_s, app[ADMISSION])
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)
    add_page_routes(app)  # the node's web page (api/page.py, issue 17)
    # Binance's WebSocket API with trading (wsapi.py); its user data relayed from Push (relay.py)
    wsapi.setup(app, push_url(node.host, node.ws_port), stage.ctx.data_dir)
    return app


def serve(stage: AcquiringStage, runner, stopping) -> None:
    """Run the HTTP server and the Bus reader until `stopping()`; the supervisor calls this."""
    import uvloop

    uvloop.run(_serve(stage, runner, stopping))


def helper_setup(stage: AcquiringStage):
    """What order entry's helper threads run first: named in runtime.batch_scheduling, they take
    SCHED_BATCH (the event loop, which answers the clients, keeps the normal policy), so that the
    journal's fsync (and, without a doorbell on Acquiring's group, Match's answers) wake them
    without preempting the loop mid-iteration; else nothing (None)."""
    return batch_scheduling if stage.ctx.name in stage.ctx.settings.runtime.batch_scheduling else None


def open_journal(stage: AcquiringStage) -> Journal | KafkaJournal:
    """Order entry's journal as the settings ask (its fsync thread set up by `helper_setup`); over
    Kafka with the command log on, one that acknowledges a command once the cluster has it too.
    bench/pipeline_load.py opens it here as well, so that the bench journals as the node does."""
    settings = stage.ctx.settings
    journal = Journal(stage.ctx.data_dir / "journal", fsync=settings.journal.fsync,
                      batch_window_ms=settings.journal.batch_window_ms, segment_bytes=settings.journal.segment_bytes,
                      thread_setup=helper_setup(stage))
    if commandlog.enabled(settings):
        return KafkaJournal(journal, settings, stage.ctx.producer_name)
    return journal


async def _serve(stage: AcquiringStage, runner, stopping) -> None:
    runner.start()
    settings = stage.ctx.settings
    loop = asyncio.get_running_loop()
    if commandlog.enabled(settings):  # over Kafka: where new accounts and listen keys go (the reconcile made them already)
        accountlog.ensure_topic(settings)
    helpers = helper_setup(stage)
    journal = open_journal(stage)
    app = build_app(stage, runner, journal)
    json_parser_errors()
    web_runner = web.AppRunner(app, access_log=None)
    await web_runner.setup()
    site = Acceptor(web_runner.server, settings.node.host, settings.node.http_port, settings.node.accept_backlog)
    site.start(loop)
    app[ADMISSION].start(loop)
    log.info("HTTP on http://%s:%d", settings.node.host, settings.node.http_port)
    if not settings.node.admin_token:  # (every /admin/ call is -2015 then: say why once, here)
        log.info("admin endpoints off: no node.admin_token (or SPOT_SEDA_ADMIN_TOKEN) set")
    reader = bus_reader(runner, loop, thread_setup=helpers)
    reader.start()
    row = runner.row
    intake = app[INTAKE]
    every = settings.node.tick_ms / 1000 if settings.node.candle_update_ms else 0  # (plumbing.tick)
    next_tick = time.monotonic() + every
    ticking: asyncio.Task | None = None
    while not stopping():
        if row is not None:
            row["heartbeat_ns"] = time.time_ns()
        intake.snapshot_when_due()
        if every and time.monotonic() >= next_tick and (ticking is None or ticking.done()):
            ticking = asyncio.create_task(tick(app))
            next_tick = time.monotonic() + every
        await asyncio.sleep(0.05)
    site.close()  # no new commands; what is in flight still gets its answer from the reader
    await asyncio.sleep(0.1)
    await wsapi.close_all(app)  # WebSocket API connections: their answers, serverShutdown, 1001
    if intake.cycle is not None:
        await intake.cycle
    if ticking is not None:
        await ticking
    await intake.snapshot()  # the next start replays nothing
    await reader.stop()
    await web_runner.cleanup()  # (the gate's timer still fails the waits of handlers left at their deadlines)
    app[ADMISSION].stop()
    journal.close()
    runner.producer.flush()
