"""The HTTP and WebSocket stages' listening socket (api/acceptor.py): the whole accept queue is
taken at each readiness, the connections are served by aiohttp on uvloop, and close stops
accepting."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest
import uvloop
from aiohttp import web

from spot_seda.api.acceptor import Acceptor
from spot_seda.runtime.stageproc import CannotListen


async def _app_runner() -> web.AppRunner:
    async def hello(request):
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/", hello)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    return runner


def test_every_waiting_connection_is_taken_at_the_first_readiness():
    waiting = 300

    async def main():
        runner = await _app_runner()
        acceptor = Acceptor(runner.server, "127.0.0.1", 0, backlog=1024)
        clients = []
        for _ in range(waiting):  # the kernel completes each handshake: they wait in the accept queue
            c = socket.create_connection(("127.0.0.1", acceptor.port))
            clients.append(c)
        seen = []
        take = acceptor._accept_all

        def counted(sock):
            take(sock)
            seen.append(acceptor.accepted)

        acceptor._accept_all = counted
        acceptor.start(asyncio.get_running_loop())
        while not seen:
            await asyncio.sleep(0)
        acceptor.close()
        for c in clients:
            c.close()
        await runner.cleanup()
        return seen

    seen = uvloop.run(main())
    assert seen[0] == waiting  # all of them at the first call, not one per loop iteration


def test_connections_are_served_by_aiohttp_and_close_stops_accepting():
    async def main():
        runner = await _app_runner()
        acceptor = Acceptor(runner.server, "127.0.0.1", 0, backlog=128)
        acceptor.start(asyncio.get_running_loop())
        port = acceptor.port
        url = f"http://127.0.0.1:{port}/"
        async with aiohttp.ClientSession() as session:
            answers = await asyncio.gather(*(session.get(url) for _ in range(50)))
            bodies = [await a.json() for a in answers]
        acceptor.close()
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        await runner.cleanup()
        return bodies, acceptor.accepted

    bodies, accepted = uvloop.run(main())
    assert bodies == [{"ok": True}] * 50
    assert 1 <= accepted <= 50


def test_every_address_of_the_host_listens_on_one_port():
    """"localhost" names 127.0.0.1 and (where the box has IPv6) ::1: both answer, as with
    loop.create_server, on the one port the first bind picked."""
    addresses = {info[4][0] for info in socket.getaddrinfo("localhost", 0, type=socket.SOCK_STREAM)}

    async def main():
        runner = await _app_runner()
        acceptor = Acceptor(runner.server, "localhost", 0, backlog=16)
        acceptor.start(asyncio.get_running_loop())
        port = acceptor.port
        bodies = []
        async with aiohttp.ClientSession() as session:
            for address in sorted(addresses):
                host = f"[{address}]" if ":" in address else address
                async with session.get(f"http://{host}:{port}/") as answer:
                    bodies.append(await answer.json())
        acceptor.close()
        await runner.cleanup()
        return bodies

    bodies = uvloop.run(main())
    assert "127.0.0.1" in addresses
    assert bodies == [{"ok": True}] * len(addresses)


def test_a_port_in_use_is_refused_and_leaves_no_socket():
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    try:
        port = holder.getsockname()[1]
        with pytest.raises(CannotListen, match=f"cannot listen on 127.0.0.1:{port}: Address already in use"):
            Acceptor(object(), "127.0.0.1", port, backlog=16)
    finally:
        holder.close()
