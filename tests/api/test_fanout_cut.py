"""fanout.cut ends a dropped WebSocket client's connection with a reset two seconds after the drop;
by then the connection may have closed on its own, and uvloop's socket object for a closed
transport has no descriptor (setsockopt raises ValueError): cut must pass over it quietly, not log
an exception from a timer callback (the hostile-client fuzz found it)."""

from __future__ import annotations

import asyncio

import uvloop

from spot_seda.api.fanout import cut


def test_cut_of_a_transport_closed_meanwhile_raises_nothing():
    async def scenario():
        server = await asyncio.get_running_loop().create_server(asyncio.Protocol, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transport, _ = await asyncio.get_running_loop().create_connection(asyncio.Protocol, "127.0.0.1", port)
        cut(transport)  # open: reset
        assert transport.is_closing()
        other, _ = await asyncio.get_running_loop().create_connection(asyncio.Protocol, "127.0.0.1", port)
        assert other.get_extra_info("socket") is not None  # (as aiohttp looks at it when a connection opens)
        other.close()
        await asyncio.sleep(0.05)  # closed for good
        cut(other)
        server.close()
        await server.wait_closed()
    uvloop.run(scenario())
