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

from ..runtime.stageproc import CannotListen

log = logging.getLogger("spot_seda.api")

#: a process out of file descriptors stops accepting this long (the connections wait in the queue)
PAUSE_WHEN_FULL_S = 0.1


class Acceptor:
    """Listens on (host, port) and feeds every accepted connection to `factory` (an aiohttp Server,
    web.AppRunner.server). Like loop.create_server, it listens on every address `host` resolves to
    ("localhost": 127.0.0.1 and ::1). `backlog` bounds the kernel's accept queue; `reuse_port` lets
    several processes share the port (the kernel spreads connections over them)."""

    def __init__(self, factory, host: str, port: int, backlog: int, reuse_port: bool = False) -> None:
        self.factory = factory
        self.loop: asyncio.AbstractEventLoop | None = None
        self.socks: list[socket.socket] = []
        try:
            for family, kind, proto, _name, address in dict.fromkeys(socket.getaddrinfo(
                    host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)):
                sock = socket.socket(family, kind, proto)
                self.socks.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if reuse_port:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                if family == socket.AF_INET6:  # (its IPv4 twin, if any, has a socket of its own)
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                if not port and len(self.socks) > 1:  # an ephemeral port: the first socket's, on every address
                    address = (address[0], self.port, *address[2:])
                sock.bind(address)
                sock.listen(backlog)
                sock.setblocking(False)
        except OSError as exc:  # (a port taken or not permitted, a host that does not resolve)
            self.close()
            raise CannotListen(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        except BaseException:
            self.close()
            raise
        self.accepted = 0
        self._pending: set[asyncio.Task] = set()

    @property
    def port(self) -> int:
        return self.socks[0].getsockname()[1]

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        for sock in self.socks:
            loop.add_reader(sock.fileno(), self._accept_all, sock)

    def _accept_all(self, sock: socket.socket) -> None:
        loop = self.loop
        while True:
            try:
                conn, _addr = sock.accept()
            except (BlockingIOError, InterruptedError):
                return  # the queue is empty
            except ConnectionAbortedError:
                continue  # the client gave up while it waited: take the next one
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    # out of descriptors or memory: leave the rest in the queue for a moment
                    log.warning("accept: %s; pausing %.1f s", exc, PAUSE_WHEN_FULL_S)
                    loop.remove_reader(sock.fileno())
                    loop.call_later(PAUSE_WHEN_FULL_S, self._resume, sock)
                    return
                raise
            conn.setblocking(False)
            if conn.family in (socket.AF_INET, socket.AF_INET6):
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

    def _resume(self, sock: socket.socket) -> None:
        if sock.fileno() >= 0:
            self.loop.add_reader(sock.fileno(), self._accept_all, sock)

    def close(self) -> None:
        """Stop accepting; the connections already accepted stay with the server (its shutdown)."""
        for sock in self.socks:
            if sock.fileno() >= 0:
                if self.loop is not None:
                    self.loop.remove_reader(sock.fileno())
                sock.close()
