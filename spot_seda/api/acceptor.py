"""The listening socket of the HTTP and WebSocket stages: every connection waiting in the kernel's
accept queue is taken at once, at each readiness of the socket, and handed to the aiohttp server.

Why not aiohttp's TCPSite (loop.create_server): on uvloop, its server took the queue down slowly
while the loop was busy. In a connection storm (bench/overload.py, 1,024 vegeta connections at 2.5x
capacity) up to 900 connections waited in the accept queue (`ss -ltn` Recv-Q) and drained over a
second or two, so clients that connected during the burst got their answer after 1.5-2.5 s, shed
or not, while clients already connected were answered in milliseconds. Taking the whole queue at
each readiness kept it under about 230 and every answer under 0.8 s (BENCHMARKS.md, "Overload",
seventh session). The accepted sockets go to the same loop through loop.connect_accepted_socket,
so the transports stay uvloop's.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket

log = logging.getLogger("spot_seda.api")

#: a process out of file descriptors stops accepting this long (the connections wait in the queue)
PAUSE_WHEN_FULL_S = 0.1


class Acceptor:
    """Listens on (host, port) and feeds every accepted connection to `factory` (an aiohttp Server,
    web.AppRunner.server). `backlog` bounds the kernel's accept queue; `reuse_port` lets several
    processes share the port (the kernel spreads connections over them)."""

    def __init__(self, factory, host: str, port: int, backlog: int, reuse_port: bool = False) -> None:
        self.factory = factory
        family, kind, proto, _name, address = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                                                 flags=socket.AI_PASSIVE)[0]
        self.sock = socket.socket(family, kind, proto)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            self.sock.bind(address)
            self.sock.listen(backlog)
            self.sock.setblocking(False)
        except BaseException:
            self.sock.close()
            raise
        self.loop: asyncio.AbstractEventLoop | None = None
        self.accepted = 0
        self._pending: set[asyncio.Task] = set()

    @property
    def port(self) -> int:
        return self.sock.getsockname()[1]

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        loop.add_reader(self.sock.fileno(), self._accept_all)

    def _accept_all(self) -> None:
        loop = self.loop
        while True:
            try:
                conn, _addr = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return  # the queue is empty
            except ConnectionAbortedError:
                continue  # the client gave up while it waited: take the next one
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    # out of descriptors or memory: leave the rest in the queue for a moment
                    log.warning("accept: %s; pausing %.1f s", exc, PAUSE_WHEN_FULL_S)
                    loop.remove_reader(self.sock.fileno())
                    loop.call_later(PAUSE_WHEN_FULL_S, self._resume)
                    return
                raise
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.accepted += 1
            task = loop.create_task(self._connect(conn))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _connect(self, conn: socket.socket) -> None:
        try:
            await self.loop.connect_accepted_socket(self.factory, conn)
        except OSError:  # reset before its transport was made
            conn.close()

    def _resume(self) -> None:
        if self.sock.fileno() >= 0:
            self.loop.add_reader(self.sock.fileno(), self._accept_all)

    def close(self) -> None:
        """Stop accepting; the connections already accepted stay with the server (its shutdown)."""
        if self.sock.fileno() >= 0:
            if self.loop is not None:
                self.loop.remove_reader(self.sock.fileno())
            self.sock.close()
