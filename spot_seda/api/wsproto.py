"""The protocol of the Push stage's WebSocket connections: which streams a connection may have and
how it asks for them; ws.py serves it (the app, the Bus reader, shutdown) and fanout.py's Hub sends
the events.

Endpoints (binance-spot-api-docs web-socket-streams.md, web-socket-api.md, user-data-stream.md):
- `/ws/<stream>`, `/ws` (no stream yet), `/stream?streams=<a>/<b>` (combined: `{"stream", "data"}`),
  and live `SUBSCRIBE` / `UNSUBSCRIBE` / `LIST_SUBSCRIPTIONS` requests on any of them;
- `/ws/<listenKey>` (legacy user data stream; the key comes from REST /api/v3/userDataStream);
- `/ws-api/v3` with `userDataStream.subscribe.signature` / `userDataStream.unsubscribe`: events
  arrive as `{"subscriptionId": N, "event": {...}}`. (The WebSocket API with trading is Acquiring's,
  on the HTTP port: wsapi.py; its user data comes from here through relay.py's internal link.)

Raw change logs (`changelog@<Topic>`, stages/push.py): a connection whose handshake carries the
node's admin token (`X-Admin-Token`, as the REST admin endpoints) gets whole entries of every topic;
any other gets the public topics only (KLineChangeLog, and TradeChangeLog without account and order
ids), and asking for OrderChangeLog or BalanceChangeLog is refused (code 2; HTTP 401 at the
handshake). A wrong token is refused at the handshake (401, -2015).

Each connection is read only in its handler task (aiohttp's rule); a bad request is answered with
Binance's code and the connection kept.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from urllib.parse import unquote
from weakref import WeakKeyDictionary

import msgspec
from aiohttp import WSMsgType, web

from ..accounts import key_format_ok
from ..listenkeys import ListenKeys, looks_like_key
from ..stages.push import PRIVATE_TOPICS, PushStage, changelog_stream
from ..stages.pushuser import user_stream
from ..binance import auth, errors
from ..binance import streams as S
from ..binance.errors import ApiError
from ..binance.params import check_params, subscription_id, without_nulls, ws_request_id_ok
from .fanout import MAX_SUBSCRIPTION_IDS, MAX_SUBSCRIPTIONS, Client, Hub, binance_socket, text_frame
from .jsonbody import json_answer
from .knownparams import ROUTE_PARAMS, WS_OWN_MANDATORY, WS_OWN_PARAMS, route_mandatory, ws_route_params
from .ratelimit import RateLimiter, client_key
from .timeunit import micro_wanted

log = logging.getLogger("spot_seda.ws")

MAX_STREAMS = 1024  # per connection, as Binance

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.decode


# ------------------------------------------------------------------------------------ app

STAGE = web.AppKey("stage", PushStage)
HUB = web.AppKey("hub", Hub)
KEYS = web.AppKey("listen_keys", ListenKeys)
ACCOUNTS = web.AppKey("accounts", object)
#: client -> how it is told of a shutdown: "raw", "combined" or "api" (the relay links are not told)
NOTICES = web.AppKey("shutdown_notices", WeakKeyDictionary)
#: on a machine without Acquiring: what fills KEYS and ACCOUNTS from the cluster (accountlog.Follower)
FOLLOWER = web.AppKey("registry_follower", object)
#: the CONNECTIONS limit of this port's new connections (ratelimit.py; `rate_limits` off: none counted)
CONNECTS = web.AppKey("connection_limit", RateLimiter)
#: how long a handshake there waits for a listen key it has not heard of yet, and a WebSocket API
#: request for an API key: one created on the node with Acquiring a moment ago is committed in the
#: cluster, but may still be on its way here
KEY_WAIT_S = 3.0


def _stream_request_id(req_id: str) -> bool:
    """Whether a string is a stream request's id: ASCII letters, digits and hyphens, at most 36."""
    return len(req_id) <= 36 and req_id.isascii() and all(c.isalnum() or c == "-" for c in req_id)


def _stream_request_error(code: int, msg: str, req_id=None) -> bytes:
    return _encode({"code": code, "msg": msg, "id": req_id})


def _is_admin(request: web.Request) -> bool:
    """Whether the handshake carries the admin token; a wrong one raises (-2015, 401): an operator
    who sent one wants to know it is wrong, not to get the public streams silently."""
    presented = request.headers.get("X-Admin-Token")
    if presented is None:
        return False
    auth.check_admin_token(request.app[STAGE].ctx.settings.node.admin_token, presented)
    return True


def _resolve(app: web.Application, name: str, admin: bool) -> tuple[str, str] | None:
    """(internal stream, display name) of a market stream or a live listen key; None otherwise.
    Raises ApiError for a private change log asked for without the admin token."""
    stage = app[STAGE]
    try:
        stream = S.parse_stream(name, stage.rules)
    except S.StreamError:
        pass
    else:
        if stream.kind != "changelog":
            return stream.name, stream.name
        if not admin and stream.arg in PRIVATE_TOPICS:
            raise errors.private_stream(stream.name)
        return changelog_stream(stream.arg, admin), stream.name
    if looks_like_key(name):
        account = app[KEYS].account_of(name)
        if account is not None:
            return user_stream(account), name
    return None


def _time_unit(request: web.Request) -> bool:
    """Whether the connection's URL asks for microseconds (`timeUnit`, timeunit.py); -1194 for a
    value that is neither unit."""
    return micro_wanted(request.query.get("timeUnit"))


async def _open(request: web.Request, combined: bool, admin: bool = False,
                api: bool = False, micro: bool = False) -> tuple[web.WebSocketResponse, Client]:
    ws = binance_socket()
    await ws.prepare(request)
    client = Client(ws, request.transport, combined, admin, micro)
    request.app[HUB].add(client)
    request.app[NOTICES][client] = "api" if api else "combined" if combined else "raw"
    return ws, client


async def _heard_of(app: web.Application, names: list[str]) -> None:
    """On a machine that learns listen keys from the cluster: wait up to KEY_WAIT_S for those among
    `names` it does not know yet (a client connects right after the node with Acquiring answered)."""
    if app.get(FOLLOWER) is None:
        return
    keys = app[KEYS]
    waiting = [n for n in names if looks_like_key(n) and keys.account_of(n) is None]
    if waiting:
        await _until(lambda: all(keys.account_of(n) is not None for n in waiting))


async def _until(heard: Callable[[], bool]) -> None:
    """Wait up to KEY_WAIT_S, looking every 50 ms, for `heard()` (the registry follower's thread
    fills the registries this machine reads)."""
    deadline = time.monotonic() + KEY_WAIT_S
    while not heard() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


async def _api_key_heard_of(app: web.Application, text: str) -> None:
    """The same wait for a WebSocket API request's apiKey (an account registered on the node with
    Acquiring a moment ago), so that a client that subscribes there right after the node answered
    its registration is not told -2015. A request it cannot read goes on at once (_api_call says
    what is wrong with it)."""
    try:
        req = _decode(text)
    except (msgspec.DecodeError, RecursionError):
        return
    params = req.get("params") if isinstance(req, dict) else None
    key = params.get("apiKey") if isinstance(params, dict) else None
    if not key_format_ok(key):
        return
    accounts = app[ACCOUNTS]
    await _until(lambda: accounts.by_api_key(key) is not None)


def _connection_refused(request: web.Request) -> web.Response | None:
    """429 -1003 with Retry-After for a new connection past its IP's CONNECTIONS limit (ratelimit.py),
    else None (it is counted)."""
    limiter = request.app.get(CONNECTS)
    if limiter is None:
        return None
    refusal, retry_s = limiter.connect(client_key(request.remote), time.time_ns() // 1_000_000)
    if refusal is None:
        return None
    resp = json_answer(refusal.body(), status=refusal.status)
    resp.headers["Retry-After"] = str(retry_s)
    return resp


async def raw_stream(request: web.Request) -> web.StreamResponse:
    """`/ws` and `/ws/<stream or listenKey>`: raw payloads."""
    if (refused := _connection_refused(request)) is not None:
        return refused
    name = request.match_info.get("name", "")
    initial = []
    await _heard_of(request.app, [name])
    try:
        micro = _time_unit(request)
        admin = _is_admin(request)
        found = _resolve(request.app, name, admin) if name else None
    except ApiError as exc:
        return json_answer(exc.body(), status=exc.status)
    if name:
        if found is None and looks_like_key(name):
            return json_answer({"code": -1125, "msg": "This listenKey does not exist."}, status=400)
        if found is None:  # (as /stream and SUBSCRIBE refuse it: before, a typo got a silent connection)
            return json_answer({"code": 2, "msg": f"Invalid request: unknown stream '{name}'"}, status=400)
        initial.append((found[0], name))
    return await _session(request, initial, combined=False, admin=admin, micro=micro)


def _query_streams(request: web.Request) -> list[str]:
    """The names in a combined stream's `streams=`, a `+` kept as written (the time zone of
    `@kline_1d@+08:00`), not read as a form's space."""
    for part in request.rel_url.raw_query_string.split("&"):
        key, _, value = part.partition("=")
        if key == "streams":
            return [n for n in unquote(value).split("/") if n]
    return []


async def combined_stream(request: web.Request) -> web.StreamResponse:
    """`/stream?streams=a/b/c`: every event wrapped as {"stream": name, "data": payload}."""
    if (refused := _connection_refused(request)) is not None:
        return refused
    names = _query_streams(request)
    initial = []
    await _heard_of(request.app, names[:MAX_STREAMS])
    try:
        micro = _time_unit(request)
        admin = _is_admin(request)
        resolved = [(name, _resolve(request.app, name, admin)) for name in names[:MAX_STREAMS]]
    except ApiError as exc:
        return json_answer(exc.body(), status=exc.status)
    for name, found in resolved:
        if found is None:
            if looks_like_key(name):
                return json_answer({"code": -1125, "msg": "This listenKey does not exist."}, status=400)
            return json_answer({"code": 2, "msg": f"Invalid request: unknown stream '{name}'"}, status=400)
        initial.append((found[0], found[1]))
    return await _session(request, initial, combined=True, admin=admin, micro=micro)


async def _session(request: web.Request, initial: list[tuple[str, str]], combined: bool,
                   admin: bool = False, micro: bool = False) -> web.StreamResponse:
    hub = request.app[HUB]
    ws, client = await _open(request, combined, admin, micro=micro)
    for stream, display in initial:
        hub.subscribe(client, stream, display if combined else None)
        if looks_like_key(display):
            client.listen_keys[display] = stream
    return await _answer(request, ws, client, _stream_control, "a stream request",
                         _stream_request_error(-1000, "An unknown error occurred while processing the request."),
                         _stream_request_error(3, "Invalid JSON: binary frames are not accepted"))


async def _answer(request: web.Request, ws, client: Client, answer, what: str, on_bug: bytes,
                  on_binary: bytes) -> web.StreamResponse:
    """Answer each text frame of a connection with `answer(app, client, text)` until it closes, then
    take the client off the hub. A bug is answered `on_bug` (as REST answers -1000) and logged, the
    connection kept; a binary frame is answered `on_binary`."""
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                try:
                    reply = answer(request.app, client, msg.data)
                    if not isinstance(reply, bytes):  # (an answer that may wait first: a coroutine)
                        reply = await reply
                except Exception:
                    log.exception("unexpected error on %s", what)
                    reply = on_bug
                client.write(text_frame(reply))
            elif msg.type == WSMsgType.BINARY:
                client.write(text_frame(on_binary))
    finally:
        request.app[HUB].end(client, ws)
    return ws


def _stream_control(app: web.Application, client: Client, text: str) -> bytes:
    """Answer one SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS request (Binance's replies and codes)."""
    try:
        req = _decode(text)
    except msgspec.DecodeError as exc:
        return _stream_request_error(3, f"Invalid JSON: {exc}")
    except RecursionError:  # e.g. `[` ten thousand times
        return _stream_request_error(3, "Invalid JSON: nested too deeply")
    if not isinstance(req, dict):
        return _stream_request_error(2, "Invalid request: expected a JSON object")
    req_id = req.get("id")
    if "id" not in req:  # web-socket-streams.md: "Parameter `id` had to be provided" (null may be sent)
        return _stream_request_error(2, "Invalid request: request ID must be an unsigned integer", None)
    # web-socket-streams.md: a 64-bit signed integer, an alphanumeric string of at most 36, or null;
    # hyphens taken too: 36 is a UUID's length, and Binance's own SDK (binance-sdk-spot) sends
    # `str(uuid.uuid4())` as the id of every SUBSCRIBE, UNSUBSCRIBE and LIST_SUBSCRIPTIONS
    if req_id is not None and (isinstance(req_id, bool) or not isinstance(req_id, (int, str)) or
                               (isinstance(req_id, int) and not -2**63 <= req_id < 2**63) or
                               (isinstance(req_id, str) and not _stream_request_id(req_id))):
        return _stream_request_error(2, "Invalid request: request ID must be an unsigned integer", None)
    if req.keys() - {"id", "method", "params"}:  # web-socket-streams.md: "Unnecessary parameters
        # provided in the data" (code 0 "Unknown property" is SET_PROPERTY's and GET_PROPERTY's)
        return _stream_request_error(2, "Invalid request: too many parameters", req_id)
    method = req.get("method")
    if method not in _STREAM_METHODS:
        if method is None:
            return _stream_request_error(2, "Invalid request: missing field `method`", req_id)
        return _stream_request_error(
            2, f"Invalid request: unknown variant `{method}`, expected one of "
               + ", ".join(f"`{m}`" for m in _STREAM_METHODS), req_id)
    hub = app[HUB]
    if method == "LIST_SUBSCRIPTIONS":
        if req.get("params") not in (None, []):  # it takes none: "Unnecessary parameters provided" (an
            # empty list, which a client that always sends `params` sends, is nothing unnecessary)
            return _stream_request_error(2, "Invalid request: too many parameters", req_id)
        names = [_shown(client, stream, wrap) for stream, wrap in client.streams.items() if type(wrap) is not int]
        return _encode({"result": names, "id": req_id})
    params = req.get("params")
    if method in ("SET_PROPERTY", "GET_PROPERTY"):
        return _property(hub, client, method, params, req_id)
    if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
        return _stream_request_error(2, "Invalid request: `params` must be a list of stream names", req_id)
    resolved = []
    for name in params:
        try:
            found = _resolve(app, name, client.admin)
        except ApiError as exc:
            return _stream_request_error(exc.code, exc.msg, req_id)
        if found is None:
            return _stream_request_error(2, f"Invalid request: unknown stream '{name}'", req_id)
        resolved.append(found)
    if method == "SUBSCRIBE":
        if len(set(client.streams) | {s for s, _ in resolved}) > MAX_STREAMS:
            return _stream_request_error(2, f"Invalid request: too many streams (at most {MAX_STREAMS})", req_id)
        for stream, display in resolved:
            hub.subscribe(client, stream, display if client.combined else None)
            if looks_like_key(display):
                client.listen_keys[display] = stream
    else:
        for stream, display in resolved:
            hub.unsubscribe(client, stream)
            client.listen_keys.pop(display, None)
    return _encode({"result": None, "id": req_id})


_STREAM_METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")


def _shown(client: Client, stream: str, wrap: object) -> str:
    """A subscription's name as the client gave it (a listen key, not the account's stream)."""
    if type(wrap) is str:
        return wrap
    return next((key for key, sub in client.listen_keys.items() if sub == stream), stream.removeprefix("admin:"))


def _property(hub, client: Client, method: str, params, req_id) -> bytes:
    """SET_PROPERTY ["combined", bool] / GET_PROPERTY ["combined"] (web-socket-streams.md): whether
    events come wrapped as {"stream", "data"}; setting it re-wraps the connection's subscriptions."""
    if not isinstance(params, list) or not params or not isinstance(params[0], str):
        return _stream_request_error(2, "Invalid request: property name must be a string", req_id)
    if len(params) > (2 if method == "SET_PROPERTY" else 1):
        return _stream_request_error(2, "Invalid request: too many parameters", req_id)
    if params[0] != "combined":
        return _stream_request_error(0, "Unknown property", req_id)
    if method == "GET_PROPERTY":
        return _encode({"result": client.combined, "id": req_id})
    if len(params) < 2 or type(params[1]) is not bool:
        return _stream_request_error(1, "Invalid value type: expected Boolean", req_id)
    client.combined = params[1]
    for stream, wrap in list(client.streams.items()):
        if type(wrap) is not int:  # (a WebSocket API subscription keeps its own wrapping)
            hub.subscribe(client, stream, _shown(client, stream, wrap) if client.combined else None)
    return _encode({"result": None, "id": req_id})


# ------------------------------------------------------------------------ WebSocket API


#: the methods served here -> the params each reads (knownparams.py); any other param is -1104, as on
#: Acquiring's WebSocket API
_API_PARAMS = {"ping": ws_route_params(("GET", "/api/v3/ping")), "time": ws_route_params(("GET", "/api/v3/time")),
               **{name: WS_OWN_PARAMS[name] for name in ("userDataStream.subscribe.signature",
                                                         "userDataStream.unsubscribe")}}
_API_MANDATORY = {name: WS_OWN_MANDATORY.get(name, frozenset()) for name in _API_PARAMS}
_HANDSHAKE = ("GET", "/ws-api/v3")  # (its query string's parameters: the HTTP port's handshake's)


def _api_reply(req_id, status: int, result=None, error: tuple[int, str] | None = None) -> bytes:
    if error is not None:
        return _encode({"id": req_id, "status": status, "error": {"code": error[0], "msg": error[1]}})
    return _encode({"id": req_id, "status": status, "result": result})


async def ws_api(request: web.Request) -> web.StreamResponse:
    """`/ws-api/v3`: the user data stream methods of Binance's WebSocket API. Its handshake's query
    string is checked as the HTTP port's is (-1104, -1105; its answers carry no rate limits)."""
    if (refused := _connection_refused(request)) is not None:
        return refused
    try:
        check_params(request.query, ROUTE_PARAMS[_HANDSHAKE], route_mandatory(_HANDSHAKE))
        micro = _time_unit(request)
    except ApiError as exc:
        return json_answer(exc.body(), status=exc.status)
    ws, client = await _open(request, combined=False, api=True, micro=micro)
    bug, binary = errors.unknown(), errors.binary_frame()
    answer = _api_call if request.app.get(FOLLOWER) is None else _api_call_when_heard_of
    return await _answer(request, ws, client, answer, "a WebSocket API request",
                         _api_reply(None, bug.status, error=(bug.code, bug.msg)),
                         _api_reply(None, binary.status, error=(binary.code, binary.msg)))


async def _api_call_when_heard_of(app: web.Application, client: Client, text: str) -> bytes:
    """_api_call on a machine that learns the accounts from the cluster (_api_key_heard_of)."""
    await _api_key_heard_of(app, text)
    return _api_call(app, client, text)


def _api_call(app: web.Application, client: Client, text: str) -> bytes:
    try:
        req = _decode(text)
    except msgspec.DecodeError:
        return _api_reply(None, 400, error=(-1135, "Invalid JSON Request"))
    except RecursionError:  # e.g. `[` ten thousand times
        err = errors.json_too_deep()
        return _api_reply(None, err.status, error=(err.code, err.msg))
    if not isinstance(req, dict):
        return _api_reply(None, 400, error=(-1135, "Invalid JSON Request"))
    req_id = req.get("id")
    if not ws_request_id_ok(req):  # (as Acquiring's)
        err = errors.mandatory_missing("id")
        return _api_reply(None, err.status, error=(err.code, err.msg))
    method = req.get("method")
    if isinstance(method, str):  # (a method name may carry its version: "v3/ping", web-socket-api.md)
        method = method.removeprefix("v3/")
    params = req.get("params", {})
    if not isinstance(params, dict):
        return _api_reply(req_id, 400, error=(-1135, "Invalid JSON Request"))
    params = without_nulls(params)
    hub = app[HUB]
    try:
        known = _API_PARAMS.get(method) if isinstance(method, str) else None
        if known is not None and "signature" not in known:  # (a signed one's after its signature)
            check_params(params, known, _API_MANDATORY[method])
        if method == "ping":
            return _api_reply(req_id, 200, {})
        if method == "time":
            return _api_reply(req_id, 200, {"serverTime": client.ms(time.time_ns() // 1_000_000)})
        if method == "userDataStream.subscribe.signature":
            account_id = _authenticate(app, params)
            # (after the signature, as Acquiring's)
            check_params(params, known, _API_MANDATORY[method])
            stream = user_stream(account_id)
            if isinstance(client.streams.get(stream), int):  # one per account and connection (wsapi.py's too)
                raise errors.subscription_active()
            if client.next_sub >= MAX_SUBSCRIPTION_IDS or \
                    sum(type(w) is int for w in client.streams.values()) >= MAX_SUBSCRIPTIONS:
                raise errors.max_subscription_ids()  # (as on Acquiring's WebSocket API: wsapi.py)
            sub_id = client.next_sub
            client.next_sub += 1
            hub.subscribe(client, stream, sub_id)
            return _api_reply(req_id, 200, {"subscriptionId": sub_id})
        if method == "userDataStream.unsubscribe":
            wanted = subscription_id(params.get("subscriptionId"))
            mine = [(s, w) for s, w in client.streams.items() if isinstance(w, int) and wanted in (None, w)]
            if wanted is not None and not mine:
                raise errors.subscription_inactive()
            for stream, sub_id in mine:
                hub.unsubscribe(client, stream)
                hub.terminated(client, sub_id, time.time_ns() // 1_000_000)
            return _api_reply(req_id, 200, {})
        if not isinstance(method, str) or not method:
            raise ApiError(-1102, "Mandatory parameter 'method' was not sent, was empty/null, or malformed.")
        raise ApiError(-1020, "This operation is not supported.")
    except ApiError as exc:
        return _api_reply(req_id, exc.status if 400 <= exc.status < 500 else 400, error=(exc.code, exc.msg))


def _authenticate(app: web.Application, params: dict) -> int:
    """The account of a signed WebSocket API request (apiKey, timestamp, recvWindow, signature)."""
    return auth.verify_ws_request(app[ACCOUNTS], params, time.time_ns() // 1_000_000).account_id

