"""WebSocket fan-out shared by the Push stage's server (ws.py) and the Acquiring stage's WebSocket
API (wsapi.py, which relays user data): one Client per connection, a Hub of subscriptions that
encodes an event once, frames it once per wrapping and writes each client's frames of a batch in one
transport write, and drops a client that falls too far behind.

Clients with the same subscriptions (the same streams, wrapped the same way, in the same time unit)
are sent the same bytes, so they share a Group: an event's frame is queued once per group, not once
per client, and a flush joins a group's frames once and writes that one bytes object to each member.
A thousand clients on the same streams then cost the stage one append per event and one write per
client per flush. A client whose subscriptions change moves to its group at the next event, after
what its old group has queued is written (so every client gets its frames in the order they came).

A server frame is unmasked, so the same bytes serve every client. A client that asked for
microseconds (`timeUnit` in its URL: timeunit.py) gets the event's times scaled, encoded once per
event for all such clients. A client whose unsent bytes pass
MAX_SEND_BUFFER is closed (1008, with the reason) at once, so a slow reader never holds up the stage
or the other clients, and memory stays bounded.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct

import msgspec
from aiohttp import WSCloseCode, web

from .timeunit import event_in_microseconds

log = logging.getLogger("spot_seda.ws")

#: unsent bytes a client may have before it is dropped as too slow (env override for tests/benches)
MAX_SEND_BUFFER = 4 * 1024 * 1024  # the default of node.ws_send_buffer_bytes (config.py)
#: the server pings a connection it has heard nothing from for this long (Binance: every 20 s) ...
HEARTBEAT_S = 20.0
#: ... and closes it if no pong comes back within this (web-socket-streams.md, web-socket-api.md:
#: "within a minute"; aiohttp's own wait is half the heartbeat, 10 s)
PONG_WAIT_S = 60.0
GOING_AWAY, POLICY_VIOLATION = 1001, 1008
MICRO = "us"  # (a frame cache key's mark: the microsecond form of a wrapping)
#: a WebSocket API connection's user data subscriptions (web-socket-api.md): at most this many active
#: at once, and this many started over its lifetime ("a maximum of 65,535 total subscriptions"); past
#: either, -2042 (on both ports: wsapi.py, wsproto.py)
MAX_SUBSCRIPTIONS, MAX_SUBSCRIPTION_IDS = 1000, 65_535
_GONE = object()

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.decode


def text_frame(data: bytes) -> bytes:
    """A final, unmasked text frame (what a server sends) carrying `data`."""
    n = len(data)
    if n < 126:
        return bytes((0x81, n)) + data
    if n < 65536:
        return struct.pack("!BBH", 0x81, 126, n) + data
    return struct.pack("!BBQ", 0x81, 127, n) + data


def close_frame(code: int, reason: str) -> bytes:
    payload = struct.pack("!H", code) + reason.encode()[:123]
    return bytes((0x88, len(payload))) + payload


class Client:
    """One WebSocket connection and what it is subscribed to."""

    __slots__ = ("ws", "transport", "streams", "closed", "combined", "next_sub",
                 "listen_keys", "admin", "micro", "group", "__weakref__")

    def __init__(self, ws: web.WebSocketResponse, transport, combined: bool, admin: bool = False,
                 micro: bool = False) -> None:
        self.ws = ws
        self.transport = transport
        #: stream -> wrapping: None raw, str combined under that name, int a WebSocket API subscription
        self.streams: dict[str, object] = {}
        self.closed = False
        self.combined = combined
        self.next_sub = 0
        self.listen_keys: dict[str, str] = {}  # listen key -> its user stream
        self.admin = admin  # the handshake carried the admin token: private raw change logs too
        self.micro = micro  # its URL's timeUnit asked for microseconds (timeunit.py)
        self.group: Group | None = None  # the clients sent what this one is (Hub._regroup)

    def ms(self, ms: int) -> int:
        """A time this client is told, in its unit."""
        return ms * 1000 if self.micro and ms > 0 else ms

    def write(self, data: bytes) -> None:
        if not self.closed and not self.transport.is_closing():
            self.transport.write(data)


class Group:
    """The clients with one set of subscriptions (Hub: the same bytes go to each of them)."""

    __slots__ = ("key", "micro", "members", "chunks")

    def __init__(self, key: tuple, micro: bool) -> None:
        self.key = key
        self.micro = micro
        self.members: dict[Client, None] = {}  # (insertion-ordered: written in the order they joined)
        self.chunks: list[bytes] = []  # frames queued for every member, not written yet


class Hub:
    """Subscriptions of every client of this process; the stage's sink."""

    def __init__(self, max_buffer: int = MAX_SEND_BUFFER) -> None:
        #: stream -> the clients subscribed to it and each one's wrapping (what wants() reads)
        self.subs: dict[str, dict[Client, object]] = {}
        self.clients: set[Client] = set()
        #: subscription key -> its group; stream -> the groups subscribed to it, with their wrapping
        self.groups: dict[tuple, Group] = {}
        self.routes: dict[str, dict[Group, object]] = {}
        self.dirty_groups: list[Group] = []
        #: clients whose subscriptions changed since they were last grouped
        self.stale: dict[Client, None] = {}
        self.max_buffer = max_buffer
        self.sent = 0
        self.dropped = 0
        #: counts changes of what is subscribed: a stage may keep an answer of wants() until it moves
        self.generation = 0
        #: subscriptions of clients that asked for microseconds (a count kept for inspection: send()
        #: reads each group's unit)
        self.micro_subs = 0

    def wants(self, stream: str) -> bool:
        return stream in self.subs

    def wants_any(self, prefix: str) -> bool:
        """Whether any subscribed stream starts with `prefix` (a pass over the subscribed streams:
        ask once per batch, not per entry)."""
        return any(stream.startswith(prefix) for stream in self.subs)

    def send(self, stream: str, payload) -> None:
        if self.stale:
            self._regroup()
        routes = self.routes.get(stream)
        if not routes:
            return
        data = payload if type(payload) is bytes else _encode(payload)
        micro_data = None  # the payload in microseconds, made for the first group that wants it
        frames: dict[object, bytes] = {}
        dirty = self.dirty_groups
        for group, wrap in routes.items():
            micro = group.micro
            key = (MICRO, wrap) if micro else wrap
            frame = frames.get(key)
            if frame is None:
                if micro:
                    if micro_data is None:
                        micro_data = _encode(event_in_microseconds(_decode(data)))
                    data_out = micro_data
                else:
                    data_out = data
                if wrap is None:
                    frame = text_frame(data_out)
                elif type(wrap) is str:
                    frame = text_frame(b'{"stream":"' + wrap.encode() + b'","data":' + data_out + b"}")
                else:
                    frame = text_frame(b'{"subscriptionId":' + str(wrap).encode() + b',"event":' + data_out + b"}")
                frames[key] = frame
            chunks = group.chunks
            if not chunks:
                dirty.append(group)
            chunks.append(frame)

    def queued(self, client: Client) -> list[bytes]:
        """The frames waiting to be written to `client`, in the order it will get them."""
        group = client.group
        return list(group.chunks) if group is not None and client in group.members else []

    def terminated(self, client: Client, sub_id: int, now_ms: int) -> None:
        """A WebSocket API subscription of `client` ended (userDataStream.unsubscribe, session.logout):
        its `eventStreamTerminated` (user-data-stream.md), after the events already queued for it."""
        self.flush()  # (what its group has queued goes first)
        self._write(client, text_frame(b'{"subscriptionId":%d,"event":{"e":"eventStreamTerminated","E":%d}}'
                                       % (sub_id, client.ms(now_ms))), 1)

    def flush(self) -> None:
        """One write per client of everything queued for it; drop the ones that fell too far behind."""
        groups, self.dirty_groups = self.dirty_groups, []
        for group in groups:
            chunks = group.chunks
            if not chunks:
                continue
            data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            count = len(chunks)
            group.chunks = []
            for client in list(group.members):  # (one dropped here stays a member until _regroup; _write passes it by)
                self._write(client, data, count)

    def _write(self, client: Client, data: bytes, count: int) -> None:
        if client.closed:
            return
        transport = client.transport
        if transport.is_closing():  # e.g. aiohttp's heartbeat gave up on it: make sure it ends
            self.drop(client, POLICY_VIOLATION, "closed with events still to send")
            return
        self.sent += count
        transport.write(data)
        if transport.get_write_buffer_size() > self.max_buffer:
            self.drop(client, POLICY_VIOLATION, f"client too slow: more than {self.max_buffer} bytes unsent")

    def _regroup(self) -> None:
        """Put each client whose subscriptions changed in the group of its new ones, after writing
        what the groups have queued (so a client moving on gets it, and nothing sent later)."""
        if self.dirty_groups:
            self.flush()
        stale, self.stale = self.stale, {}
        groups, routes = self.groups, self.routes
        for client in stale:
            old = client.group
            if old is not None:
                client.group = None
                old.members.pop(client, None)
                if not old.members:
                    del groups[old.key]
                    for stream, _wrap in old.key[1]:
                        on = routes[stream]
                        del on[old]
                        if not on:
                            del routes[stream]
            if client.closed or not client.streams:
                continue
            key = (client.micro, frozenset(client.streams.items()))
            group = groups.get(key)
            if group is None:
                group = groups[key] = Group(key, client.micro)
                for stream, wrap in key[1]:
                    routes.setdefault(stream, {})[group] = wrap
            group.members[client] = None
            client.group = group

    def add(self, client: Client) -> None:
        self.clients.add(client)

    def subscribe(self, client: Client, stream: str, wrap: object) -> None:
        if client.micro and stream not in client.streams:
            self.micro_subs += 1
        client.streams[stream] = wrap
        self.subs.setdefault(stream, {})[client] = wrap
        self.stale[client] = None
        self.generation += 1

    def unsubscribe(self, client: Client, stream: str) -> None:
        if client.streams.pop(stream, _GONE) is not _GONE and client.micro:
            self.micro_subs -= 1
        self.generation += 1
        self.stale[client] = None
        subs = self.subs.get(stream)
        if subs is not None:
            subs.pop(client, None)
            if not subs:
                del self.subs[stream]

    def remove(self, client: Client) -> None:
        for stream in list(client.streams):
            self.unsubscribe(client, stream)
        self.clients.discard(client)
        client.closed = True
        self.stale[client] = None

    def end(self, client: Client, ws: web.WebSocketResponse) -> None:
        """A client's session is over. One aiohttp's heartbeat gave up on (no pong) or that leaves
        data unread is dropped: its graceful close would wait for that client for ever. A client that
        closed the session itself is not: aiohttp (3.14 here) answers its close frame without waiting
        for the write (`close(drain=False)`), so that frame may still be in the buffer."""
        transport = client.transport
        if transport is not None and not client.closed and (
                isinstance(ws.exception(), asyncio.TimeoutError)
                or (transport.get_write_buffer_size() > 0 and not _closed_by_client(ws))):
            self.drop(client, POLICY_VIOLATION, "no pong within the heartbeat, or data never read")
        self.remove(client)

    def drop(self, client: Client, code: int, reason: str) -> None:
        """Close a client now, whatever it has unread: the close frame goes after its data, and the
        connection is cut if it does not read that within two seconds."""
        if client.closed:
            return
        self.dropped += 1
        transport = client.transport
        peer = transport.get_extra_info("peername") or ("?", 0)
        log.warning("dropping a WebSocket client %s:%s: %s", peer[0], peer[1], reason)
        self.remove(client)
        if not transport.is_closing():
            transport.write(close_frame(code, reason))
            transport.close()
        # also when it was closing already (aiohttp's heartbeat gave up on a client that does not
        # read): a graceful close waits for the client to read everything, which it may never do
        asyncio.get_running_loop().call_later(2.0, cut, transport)


def _closed_by_client(ws: web.WebSocketResponse) -> bool:
    """Whether the session ended with the client's close frame (aiohttp keeps its code; a heartbeat
    that gave up, or a connection lost, leaves an exception or ABNORMAL_CLOSURE instead)."""
    return ws.exception() is None and ws.close_code not in (None, WSCloseCode.ABNORMAL_CLOSURE)


def cut(transport) -> None:
    """End a connection at once with a reset: after a plain close the kernel would still hold what
    the client never read and wait for it (minutes, for a client that does not read)."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except (OSError, ValueError):  # (closed by now: uvloop's socket object then has no descriptor)
            pass
    transport.abort()


def binance_socket() -> web.WebSocketResponse:
    """The server side of a stream or WebSocket API connection: pings as Binance's do, and a client
    has a minute to answer each. aiohttp takes no argument for the pong's wait (half the heartbeat),
    so its attribute is set here; tests/api/test_ws_ping.py checks it still is the one that counts."""
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S, compress=False, max_msg_size=65536)
    ws._pong_heartbeat = PONG_WAIT_S
    return ws
