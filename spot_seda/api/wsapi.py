"""Binance's WebSocket API with trading (web-socket-api.md), served by the Acquiring stage on its
HTTP port at `/ws-api/v3`.

Why here and not on Push's port: an order must be frozen and journaled before it is acknowledged,
and Acquiring owns the freeze and the journal. So the trading methods call the very operations REST
calls (trading.py, market.py): the same validation, the same AcquiringStage command, the same
journal-then-Outbox commit and Waiter; only the envelope differs. User data on the same connection
(`userDataStream.subscribe` after `session.logon`, `userDataStream.subscribe.signature`) is made by
Push and relayed (relay.py), so an unmodified Binance client places its orders and reads its
executionReports on one connection.

A request is a JSON text frame `{"id", "method", "params"}`; the answer `{"id", "status", "result" |
"error", "rateLimits"}` carries REST's JSON body or REST's `{"code", "msg"}` and REST's HTTP status.
Signed methods take `apiKey`, `timestamp`, `recvWindow` and `signature` among the params (the
payload: every param but `signature`, sorted, `key=value` joined by `&`; the account's kind of key),
or run as the account a `session.logon` (Ed25519 keys only, as Binance) authenticated, with
`timestamp` still required. Requests of one connection run concurrently, each as a task started in
arrival order; answers go back as they are ready (match them by `id`).

Limits, as REST's: each request adds its method's weight (REST's for the same request) to the IP's
REQUEST_WEIGHT, the connection itself 2; the methods that place, cancel or replace orders (those of
ratelimit.FREE_WHEN_DONE's routes: `order.place`, `order.cancel`, `openOrders.cancelAll`,
`order.cancelReplace`, the `orderList.place*` methods, `orderList.cancel`, and
`order.amend.keepPriority` when the amend expired the order) weigh 0 when they succeed (status 200):
charged up front all the same, their weight is given back before the answer's `rateLimits` are
written, and a failed one keeps its charge (Binance's CHANGELOG, 2026-03-27 and 2026-04-02).
`order.place`, `order.cancelReplace` and a new order list (each of its orders) count against the
account's ORDERS (given back when refused, but for cancelReplace's, as REST's: ratelimit.py); past
one: 429 / 418 with
`error.data.retryAfter` (ms). A 418 (the IP is banned) ends the connection after its answer (close
1008), as Binance disconnects a banned IP, and its handshakes are refused 418 until the ban ends. Admission control sheds orders and then everything else exactly as on
the HTTP side (503, -1003). `rateLimits` is in every answer unless `returnRateLimits=false` (the
URL's query or the request's params), as web-socket-api.md says ("included with every response by
default"): the limits the request counted against, so `[]` on a node without limits (Binance's own
SDK, binance-sdk-spot, reads the field from every answer).

The methods and the operations they run: wsmethods.py.
"""

from __future__ import annotations

import asyncio
import logging
import time
from weakref import WeakSet

import msgspec
from aiohttp import WSMsgType, web

from ..model.reasons import Reason
from ..binance import auth, errors
from ..binance.errors import ApiError
from ..binance.params import check_params, subscription_id, without_nulls, ws_request_id_ok
from ..stages.accepting import CommandError
from ..stages.pushuser import user_stream
from .admission import ADMISSION
from .fanout import (GOING_AWAY, MAX_SUBSCRIPTION_IDS, MAX_SUBSCRIPTIONS, POLICY_VIOLATION, Client, Hub,
                     binance_socket, text_frame)
from .plumbing import ACCOUNTS, STAGE, check_read
from .ratelimit import AMEND, FREE_WHEN_DONE, LIMITER, amend_expired, client_key, not_placed, weight_of
from .relay import UserDataRelay
from .wsmethods import MANDATORY, METHODS, PARAMS, text_params
from .jsonbody import json_answer
from .timeunit import WINDOW_CLOSE_METHODS, in_microseconds, micro_wanted

log = logging.getLogger("spot_seda.wsapi")

PATH = "/ws-api/v3"
CONNECT_WEIGHT = 2  # Binance: "Connecting to WebSocket API costs 2 weight."
SESSION_WEIGHT = 2  # session.* and userDataStream.*

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.decode

CONNECTIONS = web.AppKey("wsapi_connections", WeakSet)
HUB = web.AppKey("wsapi_hub", Hub)
RELAY = web.AppKey("wsapi_relay", UserDataRelay)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _flag(value, name: str) -> bool:
    if value is True or value == "true":
        return True
    if value is False or value == "false":
        return False
    raise errors.illegal_chars(name)


class Connection:
    """One WebSocket API connection: its session (the logged-on account), its user data
    subscriptions and its requests in flight."""

    def __init__(self, app: web.Application, ws: web.WebSocketResponse, request: web.Request,
                 micro: bool = False) -> None:
        self.app = app
        self.ws = ws
        self.client = Client(ws, request.transport, combined=False, micro=micro)
        self.ip = client_key(request.remote)
        self.account = None  # accounts.Account after session.logon
        self.authorized_since: int | None = None
        self.connected_since = now_ms()
        self.return_rate_limits = request.query.get("returnRateLimits", "true") != "false"
        self.subscriptions: dict[int, int] = {}  # subscription id -> account
        self.logon_subscription: int | None = None  # the one userDataStream.subscribe made
        self.next_subscription = 0
        self.tasks: set[asyncio.Task] = set()

    # ---------------------------------------------------------------- frames

    def on_frame(self, data: str) -> None:
        """Parse one request and start its task (or answer a malformed one at once)."""
        try:
            req = _decode(data)
        except msgspec.DecodeError:
            return self.answer_error(None, errors.invalid_json())
        except RecursionError:
            return self.answer_error(None, errors.json_too_deep())
        if type(req) is not dict:
            return self.answer_error(None, errors.invalid_json())
        req_id = req.get("id")
        if not ws_request_id_ok(req):
            return self.answer_error(None, errors.mandatory_missing("id"))
        method = req.get("method")
        if type(method) is not str or not method:
            return self.answer_error(req_id, errors.mandatory_missing("method"))
        params = req.get("params")
        if params is None:
            params = {}
        elif type(params) is not dict:
            return self.answer_error(req_id, errors.invalid_json())
        else:
            params = without_nulls(params)
        task = asyncio.get_running_loop().create_task(self.serve(req_id, method.removeprefix("v3/"), params))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def answer(self, req_id, status: int, result=None, error: ApiError | None = None, rate_limits=None,
               data: dict | None = None, method: str = "") -> None:
        """`method`: the request's, for its result's times in microseconds (timeunit.py)."""
        doc: dict = {"id": req_id, "status": status}
        micro = self.client.micro
        if error is None:
            doc["result"] = in_microseconds(_decode(_encode(result)), method in WINDOW_CLOSE_METHODS) \
                if micro and result is not None else result
        else:
            err = error.body() | ({"data": data} if data else {})  # (an ApiError's own data in its body)
            doc["error"] = in_microseconds(err) if micro else err
        if rate_limits is not None:
            doc["rateLimits"] = rate_limits
        client = self.client
        client.write(text_frame(_encode(doc)))
        hub = self.app[HUB]
        if client.transport.get_write_buffer_size() > hub.max_buffer:  # a client that does not read its answers
            hub.drop(client, POLICY_VIOLATION, f"client too slow: more than {hub.max_buffer} bytes unsent")

    def answer_error(self, req_id, err: ApiError) -> None:
        self.answer(req_id, err.status, error=err)

    # ---------------------------------------------------------------- requests

    async def serve(self, req_id, name: str, params: dict) -> None:
        """Run one request and answer it: weigh it, shed it under overload, authenticate it, run it."""
        app = self.app
        limiter = app[LIMITER]
        method = METHODS.get(name)
        try:
            text = text_params(params) if method is not None else {}
        except ApiError as exc:
            text, bad_params = {}, exc
        else:
            bad_params = None
        show = self.return_rate_limits
        if "returnRateLimits" in params:
            try:
                show = _flag(params["returnRateLimits"], "returnRateLimits")
            except ApiError as exc:
                bad_params = bad_params or exc
        weight = weight_of(*method.route, text) if method is not None else SESSION_WEIGHT
        counters = None
        charged_ms = now_ms()
        if limiter.enabled:
            counters, refusal, _retry_s = limiter.charge(self.ip, weight, charged_ms, raw=False)
            if refusal is not None:  # 429, or 418 for a banned IP: retryAfter is when it may go on (ms)
                banned = refusal.status == 418
                # to the millisecond, not Retry-After's whole seconds: the ban's end (the time in its
                # msg) or the end of the window that refused it
                retry_at = counters.ban_until if banned else counters.backoff_until
                self.answer(req_id, refusal.status, error=refusal,
                            data={"serverTime": now_ms(), "retryAfter": retry_at},
                            rate_limits=limiter.weight_usage(counters) if show else None)
                if banned:  # Binance: "an automated IP ban and you will be disconnected"
                    app[HUB].drop(self.client, POLICY_VIOLATION, f"IP banned until {retry_at}")
                return
        gate = app[ADMISSION]
        order = method is not None and method.orders > 0
        why = gate.refusal_of(order)
        if why is not None:
            gate.note_shed(order, why)
            err = errors.refusal(Reason.OVERLOADED)
            return self.answer(req_id, err.status, error=err,
                               rate_limits=limiter.weight_usage(counters) if show else None)
        gate.in_flight += 1
        orders_usage = None
        count_refused = None  # (429 -1015, retryAfter in ms) when the ORDERS limits refused the orders
        try:
            if bad_params is not None:
                raise bad_params
            deadline = asyncio.get_running_loop().time() + gate.timeout_s
            if method is None:
                result = await self.session_method(name, params)
            elif not method.signed:
                check_params(params, PARAMS[name], MANDATORY[name])
                result = await method.operation(app, text)
            else:
                account_id = self.authenticate(params)
                counted = None

                def count() -> None:
                    """Count the method's orders (an order list's all, or none): 429 -1015 past a limit."""
                    nonlocal counted, orders_usage, count_refused
                    at = now_ms()
                    _headers, refusal, _retry_s = limiter.count_order(account_id, at, method.orders)
                    orders_usage = limiter.order_usage(account_id, at)
                    if refusal is not None:  # retryAfter: when its full windows end, to the millisecond
                        count_refused = refusal, limiter.order_retry_at(account_id, method.orders)
                        raise refusal
                    counted = at

                extra = {}
                if order and limiter.order_limits:
                    if method.count_stands:  # the operation counts once its parameters are good (REST's way)
                        extra["count"] = count
                    else:
                        count()
                try:
                    # after the signature; a refused order's count goes back
                    check_params(params, PARAMS[name], MANDATORY[name])
                    result = await method.operation(app, account_id, text, deadline, **extra)
                except BaseException as exc:  # a refused order was not placed: its count goes back (ratelimit.py)
                    if counted is not None and not method.count_stands and not_placed(exc):
                        limiter.uncount_order(account_id, counted, method.orders)
                        orders_usage = limiter.order_usage(account_id, now_ms())
                    raise
        except ApiError as exc:
            retry = {"serverTime": now_ms(), "retryAfter": count_refused[1]} \
                if count_refused is not None and exc is count_refused[0] else None
            self.answer(req_id, exc.status, error=exc, data=retry, rate_limits=self.usage(show, orders_usage, counters))
        except CommandError as exc:
            err = errors.refusal(exc.reason)
            self.answer(req_id, err.status, error=err, rate_limits=self.usage(show, orders_usage, counters))
        except Exception:
            log.exception("unexpected error in WebSocket API method %s", name)
            err = errors.unknown()
            self.answer(req_id, err.status, error=err, rate_limits=self.usage(show, orders_usage, counters))
        else:
            if counters is not None and method is not None and method.route in FREE_WHEN_DONE and \
                    (method.route != AMEND or amend_expired(result)):  # weighs 0 when it succeeds (ratelimit.py)
                limiter.give_back(counters, weight, charged_ms)
            self.answer(req_id, 200, result, rate_limits=self.usage(show, orders_usage, counters), method=name)
        finally:
            gate.in_flight -= 1

    def usage(self, show: bool, orders_usage, counters) -> list | None:
        """`rateLimits`: the account's ORDERS (for an order), then the IP's REQUEST_WEIGHT."""
        if not show:
            return None
        return (orders_usage or []) + self.app[LIMITER].weight_usage(counters)

    def authenticate(self, params: dict) -> int:
        """The account a signed request runs as: its own apiKey + signature (ad hoc, overriding the
        session), else the logged-on session's (the timestamp rule still applies)."""
        if "apiKey" in params or "signature" in params or self.account is None:
            return auth.verify_ws_request(self.app[ACCOUNTS], params, now_ms()).account_id
        auth.ws_timestamp(params, now_ms())
        return self.account.account_id

    # ---------------------------------------------------------------- session and user data

    async def session_method(self, name: str, params: dict):
        """The methods of the session itself; -1020 for any other. A param the method does not read
        is -1104 (for the signed ones, after the signature)."""
        known = PARAMS.get(name)
        if known is None:
            raise errors.unsupported_operation()  # a method this node does not know
        if "signature" not in known:  # (a signed one's after its signature, below)
            check_params(params, known, MANDATORY[name])
        match name:
            case "session.logon":
                account = auth.verify_ws_request(self.app[ACCOUNTS], params, now_ms())
                if account.key_type != auth.ED25519:  # (after the signature: an API key alone tells no one its kind)
                    raise errors.unauthorized()  # Binance: "Only Ed25519 keys are supported for this feature."
                check_params(params, known, MANDATORY[name])
                if self.account is not None and self.account.account_id != account.account_id:
                    self._end_logon_subscription()
                self.account, self.authorized_since = account, now_ms()
                return self.status()
            case "session.status":
                return self.status()
            case "session.logout":
                self._end_logon_subscription()
                self.account = self.authorized_since = None
                return self.status()
            case "session.subscriptions":
                return [{"subscriptionId": s} for s in sorted(self.subscriptions)]
            case "userDataStream.subscribe":
                if self.account is None:
                    raise errors.unauthorized()
                sub_id = await self.subscribe(self.account.account_id)
                self.logon_subscription = sub_id
                return {"subscriptionId": sub_id}
            case "userDataStream.subscribe.signature":
                account = auth.verify_ws_request(self.app[ACCOUNTS], params, now_ms())
                check_params(params, known, MANDATORY[name])
                return {"subscriptionId": await self.subscribe(account.account_id)}
            case "userDataStream.unsubscribe":
                wanted = subscription_id(params.get("subscriptionId"))
                if wanted is not None and wanted not in self.subscriptions:
                    raise errors.subscription_inactive()
                for sub_id in [wanted] if wanted is not None else list(self.subscriptions):
                    self.unsubscribe(sub_id)
                return {}
        raise errors.unsupported_operation()  # a method this node does not know

    def status(self) -> dict:
        return {"apiKey": None if self.account is None else self.account.api_key,
                "authorizedSince": self.authorized_since, "connectedSince": self.connected_since,
                "returnRateLimits": self.return_rate_limits, "serverTime": now_ms(),
                "userDataStream": bool(self.subscriptions)}

    async def subscribe(self, account_id: int) -> int:
        if account_id in self.subscriptions.values():
            raise errors.subscription_active()
        if len(self.subscriptions) >= MAX_SUBSCRIPTIONS or self.next_subscription >= MAX_SUBSCRIPTION_IDS:
            raise errors.max_subscription_ids()
        sub_id = self.next_subscription
        self.next_subscription += 1
        self.subscriptions[sub_id] = account_id  # (before the await: a second subscribe is -2035)
        try:
            await self.app[RELAY].subscribe(self.client, account_id, sub_id)
        except BaseException:
            self.subscriptions.pop(sub_id, None)
            raise
        if sub_id not in self.subscriptions:
            # the connection ended while Push confirmed: close() ended this subscription (and released
            # the account at the relay) before the relay put the client on the hub: take it off again
            self.app[RELAY].hub.unsubscribe(self.client, user_stream(account_id))
        elif self.client.closed:
            self.unsubscribe(sub_id, terminated=False)
        return sub_id

    def unsubscribe(self, sub_id: int, terminated: bool = True) -> None:
        """End a subscription; unless the connection is closing, the client gets its
        eventStreamTerminated (user-data-stream.md)."""
        account_id = self.subscriptions.pop(sub_id, None)
        if account_id is not None:
            relay = self.app[RELAY]
            relay.unsubscribe(self.client, account_id)
            if terminated:
                relay.hub.terminated(self.client, sub_id, now_ms())
        if sub_id == self.logon_subscription:
            self.logon_subscription = None

    def _end_logon_subscription(self) -> None:
        """session.logout (or a logon as another account) ends what userDataStream.subscribe began,
        not the .signature subscriptions (Binance)."""
        if self.logon_subscription is not None:
            self.unsubscribe(self.logon_subscription)

    def close(self) -> None:
        for sub_id in list(self.subscriptions):
            self.unsubscribe(sub_id, terminated=False)


async def serve(request: web.Request) -> web.StreamResponse:
    """`/ws-api/v3`: one connection; its requests are answered until it closes."""
    app = request.app
    limiter = app[LIMITER]
    if limiter.enabled:  # the connection weighs CONNECT_WEIGHT (Binance; a banned IP: 418), then counts
        # toward CONNECTIONS; one refused either way counts toward neither
        key, at = client_key(request.remote), now_ms()
        counters, refusal, retry_s = limiter.charge(key, CONNECT_WEIGHT, at, raw=False)
        if refusal is None:
            refusal, retry_s = limiter.connect(key, at)
            if refusal is not None:
                limiter.give_back(counters, CONNECT_WEIGHT, at)
        if refusal is not None:
            resp = json_answer(refusal.body(), status=refusal.status)
            resp.headers["Retry-After"] = str(retry_s)
            return resp
    check_read(request, request.query)  # (returnRateLimits, timeUnit; knownparams.ROUTE_PARAMS)
    micro = micro_wanted(request.query.get("timeUnit"))  # (-1194 for neither unit)
    ws = binance_socket()
    try:
        await ws.prepare(request)
    except web.HTTPClientError as exc:  # not a WebSocket handshake (no Upgrade header, a bad version or key)
        raise errors.bad_handshake(exc.status, exc.reason if exc.text is None else exc.text) from None
    conn = Connection(app, ws, request, micro)
    app[CONNECTIONS].add(conn)
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                conn.on_frame(msg.data)
            elif msg.type == WSMsgType.BINARY:
                conn.answer_error(None, errors.binary_frame())
    finally:
        conn.close()
        app[HUB].end(conn.client, ws)
    if conn.tasks:  # answers still coming to a closed socket: let the commands finish all the same
        await asyncio.gather(*conn.tasks, return_exceptions=True)
    return ws


def setup(app: web.Application, relay_url: str, data_dir) -> None:
    """The WebSocket API's state on `app` (Acquiring's, which routes PATH to `serve`); user data comes
    from Push at `relay_url`."""
    hub = Hub(app[STAGE].ctx.settings.node.ws_send_buffer_bytes)
    app[HUB] = hub
    app[RELAY] = UserDataRelay(relay_url, data_dir, hub)
    app[CONNECTIONS] = WeakSet()


async def close_all(app: web.Application, grace_s: float = 2.0) -> None:
    """At shutdown: let requests in flight finish (up to `grace_s`), send each connection Binance's
    `serverShutdown` event, close it with 1001 GOING_AWAY, and drop the link to Push."""
    connections = list(app[CONNECTIONS])
    tasks = [t for c in connections for t in c.tasks]
    if tasks:
        await asyncio.wait(tasks, timeout=grace_s)
    now = now_ms()

    async def close(conn: Connection) -> None:
        conn.client.write(text_frame(_encode({"event": {"e": "serverShutdown", "E": conn.client.ms(now)}})))
        try:
            await asyncio.wait_for(conn.ws.close(code=GOING_AWAY, message=b"server shutting down"), 1.0)
        except (asyncio.TimeoutError, ConnectionError, RuntimeError):
            pass
        if conn.client.transport is not None and not conn.client.transport.is_closing():
            conn.client.transport.abort()

    await asyncio.gather(*(close(c) for c in connections), return_exceptions=True)
    await app[RELAY].close()
