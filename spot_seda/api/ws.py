"""The Push stage's WebSocket server: Binance market streams, user data streams and raw change
logs over aiohttp on uvloop (the endpoints and what each may ask for: wsproto.py).

Fan-out: an event is encoded once and framed once per wrapping (a server frame is unmasked, so the
same bytes serve every client); each client's frames of one Bus batch go out in one transport write.
A client whose unsent bytes pass node.ws_send_buffer_bytes is closed (1008, with the reason) at once, so a
slow reader never holds up the stage or the other clients, and memory stays bounded. Shutdown
sends Binance's `serverShutdown` event to every client (raw `{"e": "serverShutdown", "E"}`, combined
under the stream `!serverShutdown`, WebSocket API `{"event": {...}}`; not to Acquiring's internal
relay links), then closes it with 1001 GOING_AWAY; a Push restart drops the connections (clients resync).

Threads: as in api/rest.py, a reader thread blocks on the Bus queue and hands each poll to the
event loop, which owns the stage and every socket.

Kept state (over Kafka; runtime/stageproc.py, KeptState): every `journal.snapshot_interval_s` the
loop pickles the stage's state with the input positions of the last poll it applied (the reader may
be ahead) and a thread writes it to the cluster; a restarted Push loads it and reads on from there.
"""

from __future__ import annotations

import asyncio
import logging
import time
from weakref import WeakKeyDictionary

import msgspec
from aiohttp import web

from .. import accountlog, commandlog
from ..accounts import Accounts
from ..listenkeys import ListenKeys
from ..runtime.busreader import bus_reader
from ..stages.push import PushStage
from ..binance import errors
from ..binance import streams as S
from .acceptor import Acceptor
from .fanout import GOING_AWAY, Client, Hub, text_frame
from .plumbing import json_parser_errors
from .relay import INTERNAL_PATH, serve_relay
from .ratelimit import RateLimiter
from .wsproto import ACCOUNTS, CONNECTS, FOLLOWER, HUB, KEYS, NOTICES, STAGE, combined_stream, raw_stream, ws_api
from .jsonbody import json_answer

log = logging.getLogger("spot_seda.ws")

#: how often Push looks for closed and expired listen keys among its clients' (a closed key's user
#: data stops within this)
LISTEN_KEY_CHECK_S = 1.0

_encode = msgspec.json.Encoder().encode


# ---------------------------------------------------------------------------------- serving


@web.middleware
async def json_errors(request: web.Request, handler):
    """aiohttp's refusals (an unknown path, a bad handshake) in Binance's JSON, as on the REST port."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status == 404:
            err = errors.not_found(request.path)
        elif exc.status == 405:
            err = errors.method_not_allowed(request.method, request.path)
        else:
            err = errors.bad_handshake(exc.status, exc.reason if exc.text is None else exc.text)
        return json_answer(err.body(), status=err.status)


def build_app(stage: PushStage, hub: Hub) -> web.Application:
    """The aiohttp application of one Push stage instance."""

    app = web.Application(middlewares=[json_errors])
    app[STAGE] = stage
    app[HUB] = hub
    app[KEYS] = ListenKeys(stage.ctx.data_dir)
    app[ACCOUNTS] = Accounts(stage.ctx.data_dir)
    app[NOTICES] = WeakKeyDictionary()
    limits = stage.ctx.settings.rate_limits
    if limits.enabled and limits.connections:
        app[CONNECTS] = RateLimiter(limits)
    app.router.add_get("/ws", raw_stream)
    app.router.add_get("/ws/{name}", raw_stream)
    app.router.add_get("/stream", combined_stream)
    app.router.add_get("/ws-api/v3", ws_api)
    app.router.add_get(INTERNAL_PATH, relay_link)
    return app


async def relay_link(request: web.Request) -> web.StreamResponse:
    """The Acquiring processes' link for the WebSocket API's user data (relay.py; node-internal)."""
    return await serve_relay(request, request.app[HUB], request.app[STAGE].ctx.data_dir)


def serve(stage: PushStage, runner, stopping, kept=None, gate=None) -> None:
    """Run the WebSocket server and the Bus reader until `stopping()`; the supervisor calls this.
    `kept`: where the stage keeps its state (stageproc.KeptState), if it does; `gate`: when it is
    fed the recovery's replay (stageproc.ReplayGate), what says it has applied all of it."""
    import uvloop

    uvloop.run(_serve(stage, runner, stopping, kept, gate))


async def _serve(stage: PushStage, runner, stopping, kept, gate=None) -> None:
    runner.start()
    stage = runner.stage  # the state the supervisor's journal replay rebuilt, when there was one
    settings = stage.ctx.settings
    loop = asyncio.get_running_loop()
    hub = Hub(settings.node.ws_send_buffer_bytes)
    stage.sink = hub
    app = build_app(stage, hub)
    follower = None
    if stage.ctx.alone and commandlog.enabled(settings):  # nothing here registers accounts or listen keys
        follower = app[FOLLOWER] = accountlog.Follower(settings, app[ACCOUNTS], app[KEYS])
        count = await loop.run_in_executor(None, follower.catch_up)
        follower.start()
        log.info("🔑 accounts and listen keys from the cluster (%d records), followed from now on", count)
    json_parser_errors()
    web_runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await web_runner.setup()
    reader = bus_reader(runner, loop, after=hub.flush, positions=kept is not None)
    reader.start()
    row = runner.row
    if gate is not None:  # the recovery's replay comes first, with nobody to see it: as when the
        started = time.monotonic()  # supervisor replayed into this stage before forking it
        while not gate.passed(runner.last_seen) and not stopping():
            if row is not None:
                row["heartbeat_ns"] = time.time_ns()
            await asyncio.sleep(0.005)
        if not stopping():
            log.info("📡 %s has applied the recovery's replay (waited %.2fs for it); listening",
                     stage.ctx.producer_name, time.monotonic() - started)
    site = None
    if not stopping():  # (a stop asked for during the recovery: the port is never opened)
        # several Push processes share the port: the kernel spreads connections over them
        site = Acceptor(web_runner.server, settings.node.host, settings.node.ws_port, settings.node.accept_backlog,
                        reuse_port=stage.ctx.instances > 1)
        site.start(loop)
        log.info("WebSocket on ws://%s:%d", settings.node.host, settings.node.ws_port)
    next_slow = next_keys = time.monotonic()
    while not stopping():
        if kept is not None and not kept.writing() and kept.due_now():
            # pickled here, between two applied polls; written from a thread (a round trip to the cluster)
            data = kept.try_capture(runner, reader.applied)
            if data is not None:
                kept.store_in_background(data)
        if row is not None:
            row["heartbeat_ns"] = time.time_ns()
        stage.tick("100ms")
        now = time.monotonic()
        if now >= next_slow:
            stage.tick("1000ms")
            next_slow = now + 1.0
        if now >= next_keys:
            _expire_listen_keys(app, hub)
            next_keys = now + LISTEN_KEY_CHECK_S
        hub.flush()
        await asyncio.sleep(0.1)
    await reader.stop()
    while runner.process(runner.consumer.poll(0)):  # drain: upstream stopped first (a snapshot marker may wait)
        pass
    if kept is not None:
        # the reader has stopped: the consumer's positions are the applied ones (a save still being
        # written is waited for a while: stageproc.KeptState.stop)
        kept.stop(runner)
    await _close_all(hub, app[NOTICES])
    if site is not None:
        site.close()
    await web_runner.cleanup()
    if follower is not None:
        await loop.run_in_executor(None, follower.stop)
    app[KEYS].shutdown()


def _expire_listen_keys(app: web.Application, hub: Hub) -> None:
    """Stop the user data of a closed or expired listen key; tell its clients of an expiry
    (Binance's listenKeyExpired, "not pushed when the stream is closed normally")."""
    keys = app[KEYS]
    now = time.time_ns() // 1_000_000
    live = None
    for client in list(hub.clients):
        for key, stream in list(client.listen_keys.items()):
            if live is None:
                live = keys.live()
            if key not in live:
                del client.listen_keys[key]
                hub.unsubscribe(client, stream)
                if not keys.expired(key):
                    continue  # closed (DELETE /api/v3/userDataStream): nothing to say
                event = _encode(S.listen_key_expired_event(client.ms(now), key))
                if client.combined:
                    event = b'{"stream":"' + key.encode() + b'","data":' + event + b"}"
                client.write(text_frame(event))


async def _close_all(hub: Hub, notices: WeakKeyDictionary) -> None:
    """Tell every client the server is shutting down (Binance's `serverShutdown`, after whatever
    was queued for it), then close it with GOING_AWAY; one that does not answer in a second is cut."""
    hub.flush()
    now = time.time_ns() // 1_000_000
    frames = {}
    for micro in (False, True):
        event = _encode({"e": "serverShutdown", "E": now * 1000 if micro else now})
        frames.update({("raw", micro): text_frame(event),
                       ("combined", micro): text_frame(b'{"stream":"!serverShutdown","data":' + event + b"}"),
                       ("api", micro): text_frame(b'{"event":' + event + b"}")})
    clients = list(hub.clients)
    for client in clients:
        notice = notices.get(client)
        if notice is not None:
            client.write(frames[notice, client.micro])
        hub.remove(client)

    async def close(client: Client) -> None:
        try:
            await asyncio.wait_for(client.ws.close(code=GOING_AWAY, message=b"server shutting down"), 1.0)
        except (asyncio.TimeoutError, ConnectionError, RuntimeError):
            pass
        if client.transport is not None and not client.transport.is_closing():
            client.transport.abort()

    if clients:
        await asyncio.gather(*(close(c) for c in clients), return_exceptions=True)
