"""The server's ping and the pong it waits for (api/fanout.py `binance_socket`), with a real aiohttp
server and client: Binance pings every 20 s and closes a connection that sends no pong back "within
a minute" (web-socket-streams.md, web-socket-api.md). aiohttp's own wait is half its heartbeat,
which closed a client after 10 s. Here the periods are scaled down: ping after 0.2 s of silence,
the pong awaited 1.2 s."""

from __future__ import annotations

import asyncio
import time

import aiohttp
from aiohttp import WSMsgType, web

from spot_seda.api import fanout


def test_a_client_has_the_pong_wait_to_answer_a_ping_not_half_the_heartbeat(monkeypatch):
    monkeypatch.setattr(fanout, "HEARTBEAT_S", 0.2)
    monkeypatch.setattr(fanout, "PONG_WAIT_S", 1.2)

    async def handler(request):
        ws = fanout.binance_socket()
        await ws.prepare(request)
        async for _msg in ws:
            pass
        return ws

    async def main():
        app = web.Application()
        app.router.add_get("/ws", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        try:
            async with aiohttp.ClientSession() as session:
                # a client that never answers pings (autoping off, and it reads no frame to answer)
                async with session.ws_connect(f"http://127.0.0.1:{port}/ws", autoping=False) as ws:
                    started = time.monotonic()
                    first = await ws.receive(timeout=5)
                    assert first.type == WSMsgType.PING, first
                    pinged = time.monotonic() - started
                    msg = await ws.receive(timeout=10)
                    closed = time.monotonic() - started
                    assert msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING), msg
            # closed a pong wait after the ping, not half a heartbeat (0.1 s) after it
            assert 1.0 <= closed - pinged <= 8.0, (pinged, closed)
        finally:
            await runner.cleanup()

    asyncio.run(main())


def test_aiohttp_still_keeps_the_pong_wait_where_binance_socket_sets_it():
    """A newer aiohttp that renamed the attribute would leave it at half the heartbeat, silently."""
    ws = web.WebSocketResponse(heartbeat=20.0)
    assert ws._pong_heartbeat == 10.0
    assert fanout.binance_socket()._pong_heartbeat == fanout.PONG_WAIT_S == 60.0
