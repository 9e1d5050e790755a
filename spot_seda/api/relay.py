"""User data for the WebSocket API's trading connections, relayed from the Push stage.

A client that trades over the WebSocket API (wsapi.py, served by Acquiring, which owns freeze and
journal) subscribes to its user data on the same connection (`userDataStream.subscribe` after
`session.logon`, or `userDataStream.subscribe.signature`), as Binance's clients do (python-binance's
user socket does exactly that). The events (`executionReport`, `outboundAccountPosition`, ...) are
built by Push from the change log, and only there: Acquiring does not build them a second time.
Instead each Acquiring process keeps one WebSocket connection to a Push process (this module's two
ends) on which it subscribes the accounts its clients asked for; Push sends every event of those
accounts once, as `{"subscriptionId": <account>, "event": {...}}`, and Acquiring hands the event's
bytes to each of its clients of that account under the client's own subscription id (fanout.Hub).

The link is node-internal: Push serves it at INTERNAL_PATH to a handshake carrying the relay token,
a random secret in the data dir (readable by its owner only) that both processes read, so no client
can subscribe another account's events. Protocol: `{"id", "method": "SUBSCRIBE"|"UNSUBSCRIBE",
"params": [account ids]}` answered `{"id", "result": null}`; a SUBSCRIBE answered means every later
event of those accounts comes.

When the link drops (a Push restart), Acquiring reconnects and subscribes again; events in between
are lost, as they are for any client of a restarted Push process. Push and Acquiring must share a
box (the data dir holds the relay token); a Push on another machine serves user data streams by
listen key and its own WebSocket API (accountlog.Follower), not this link.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import secrets
from pathlib import Path

import aiohttp
import msgspec
from aiohttp import WSMsgType, web

from ..binance import errors
from ..stages.pushuser import user_stream
from .fanout import Client, Hub, text_frame
from .jsonbody import json_answer

log = logging.getLogger("spot_seda.ws")

INTERNAL_PATH = "/internal/v1/user-data"
TOKEN_HEADER = "X-Relay-Token"
TOKEN_FILE = "relay.token"
#: how long a subscription waits for the link to Push (reconnecting) before it is refused
SUBSCRIBE_TIMEOUT_S = 5.0
EVENT_PREFIX = b'{"subscriptionId":'
EVENT_INFIX = b',"event":'

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.decode


def relay_token(data_dir: str | Path) -> str:
    """The node's relay secret: made by whichever process asks first (written aside, then linked into
    place, so a reader never sees half a file), read by every later one."""
    path = Path(data_dir) / TOKEN_FILE
    try:
        return path.read_text()
    except FileNotFoundError:
        pass
    tmp = path.with_name(f".{TOKEN_FILE}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32))
    try:
        os.link(tmp, path)  # fails if another process got there first: then its token stands
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_text()


# ------------------------------------------------------------------------------ Push's end


async def serve_relay(request: web.Request, hub: Hub, data_dir: Path) -> web.StreamResponse:
    """INTERNAL_PATH on the Push port: subscribe whole accounts' user data for an Acquiring process."""
    presented = request.headers.get(TOKEN_HEADER, "")
    if not hmac.compare_digest(presented.encode(), relay_token(data_dir).encode()):
        err = errors.rejected_api_key()
        return json_answer(err.body(), status=401)
    ws = web.WebSocketResponse(heartbeat=20.0, compress=False, max_msg_size=1 << 20)
    await ws.prepare(request)
    client = Client(ws, request.transport, combined=False)
    hub.add(client)
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            req = _decode(msg.data)
            for account in req["params"]:
                if req["method"] == "SUBSCRIBE":
                    hub.subscribe(client, user_stream(int(account)), int(account))
                else:
                    hub.unsubscribe(client, user_stream(int(account)))
            client.write(text_frame(_encode({"id": req["id"], "result": None})))
    finally:
        hub.end(client, ws)
    return ws


# ------------------------------------------------------------------------------ Acquiring's end


class UserDataRelay:
    """Acquiring's link to Push: subscribes accounts (counted: one Push subscription per account
    however many clients want it) and feeds their events to `hub` under each client's own id."""

    def __init__(self, url: str, data_dir: Path, hub: Hub) -> None:
        self.url = url
        self.data_dir = data_dir
        self.hub = hub
        self.wanted: dict[int, int] = {}  # account -> clients subscribed
        self.acked: set[int] = set()  # accounts Push has confirmed on the current connection
        self.waiting: dict[int, asyncio.Future] = {}  # request id -> its answer
        self.next_id = 0
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.connected = asyncio.Event()
        self.task: asyncio.Task | None = None
        self.flush_scheduled = False
        self.relayed = 0

    async def subscribe(self, client: Client, account: int, sub_id: int) -> None:
        """Send `client` the account's events from now on, wrapped with `sub_id`; -1001 when Push
        cannot be reached within SUBSCRIBE_TIMEOUT_S."""
        self.wanted[account] = self.wanted.get(account, 0) + 1
        try:
            if account not in self.acked:
                await asyncio.wait_for(self._confirm(account), SUBSCRIBE_TIMEOUT_S)
        except (asyncio.TimeoutError, ConnectionError, aiohttp.ClientError):
            self._release(account)
            raise errors.disconnected() from None
        except BaseException:
            self._release(account)
            raise
        self.hub.subscribe(client, user_stream(account), sub_id)

    def unsubscribe(self, client: Client, account: int) -> None:
        self.hub.unsubscribe(client, user_stream(account))
        self._release(account)

    def _release(self, account: int) -> None:
        left = self.wanted.get(account, 0) - 1
        if left > 0:
            self.wanted[account] = left
            return
        self.wanted.pop(account, None)
        if account in self.acked:
            self.acked.discard(account)
            if self.ws is not None and not self.ws.closed:
                asyncio.ensure_future(self._send_quietly("UNSUBSCRIBE", [account]))

    async def _confirm(self, account: int) -> None:
        while account not in self.acked:
            if self.task is None or self.task.done():
                self.task = asyncio.create_task(self._run())
            await self.connected.wait()
            answer = await self._request("SUBSCRIBE", [account])
            if answer is not None:
                self.acked.add(account)

    async def _request(self, method: str, accounts: list[int]):
        """Push's answer, or None when the link dropped before it came (the caller retries)."""
        ws = self.ws
        if ws is None or ws.closed:
            self.connected.clear()
            return None
        self.next_id += 1
        fut = self.waiting[self.next_id] = asyncio.get_running_loop().create_future()
        await ws.send_str(_encode({"id": self.next_id, "method": method, "params": accounts}).decode())
        return await fut

    async def _send_quietly(self, method: str, accounts: list[int]) -> None:
        try:
            await self._request(method, accounts)
        except (ConnectionError, aiohttp.ClientError, RuntimeError):
            pass

    async def _run(self) -> None:
        """Keep the link up while any account is wanted: connect, subscribe them all, read events."""
        pause = 0.05
        async with aiohttp.ClientSession() as session:
            while self.wanted:
                try:
                    async with session.ws_connect(self.url, headers={TOKEN_HEADER: relay_token(self.data_dir)},
                                                  heartbeat=20.0, max_msg_size=0, compress=0) as ws:
                        self.ws, pause = ws, 0.05
                        self.acked.clear()
                        self.connected.set()
                        reader = asyncio.create_task(self._read(ws))
                        if self.wanted:
                            resubscribe = list(self.wanted)
                            if await self._request("SUBSCRIBE", resubscribe) is not None:
                                self.acked.update(a for a in resubscribe if a in self.wanted)
                        await reader
                except (OSError, aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    log.warning("user data relay: cannot reach Push at %s (%s); retrying", self.url, exc)
                finally:
                    self.connected.clear()
                    self.ws = None
                    self.acked.clear()
                    for fut in self.waiting.values():
                        if not fut.done():
                            fut.set_result(None)
                    self.waiting.clear()
                if self.wanted:
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, 1.0)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        hub = self.hub
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            data = msg.data.encode() if isinstance(msg.data, str) else msg.data
            if data.startswith(EVENT_PREFIX):
                # {"subscriptionId":<account>,"event":<event>}: the event's bytes as Push made them
                cut = data.index(EVENT_INFIX, len(EVENT_PREFIX))
                hub.send(user_stream(int(data[len(EVENT_PREFIX):cut])), data[cut + len(EVENT_INFIX):-1])
                self.relayed += 1
                if not self.flush_scheduled:
                    self.flush_scheduled = True
                    asyncio.get_running_loop().call_soon(self._flush)
                continue
            answer = _decode(data)
            fut = self.waiting.pop(answer.get("id"), None)
            if fut is not None and not fut.done():
                fut.set_result(answer)
        if self.wanted:  # (not when this side closed it: close() clears `wanted` first)
            log.warning("user data relay: Push closed the link (%s)", ws.close_code)

    def _flush(self) -> None:
        self.flush_scheduled = False
        self.hub.flush()

    async def close(self) -> None:
        self.wanted.clear()
        if self.ws is not None:
            await self.ws.close()
        if self.task is not None:
            try:
                await asyncio.wait_for(self.task, 2.0)
            except (asyncio.TimeoutError, Exception):
                self.task.cancel()


def push_url(host: str, ws_port: int) -> str:
    """Where this box's Push listens, for a connection from the same box."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"ws://{host}:{ws_port}{INTERNAL_PATH}"
