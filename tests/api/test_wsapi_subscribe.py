"""A WebSocket API connection that closes while its userDataStream.subscribe waits for Push's
confirmation (wsapi.Connection.subscribe): nothing of it may stay on the hub (a closed client kept,
its events framed for nobody, a microsecond subscription counted for ever) and the account is
released at the relay once, not twice (another connection of the account would lose its events).
The relay here is a stand-in that holds the confirmation until the test lets it go: the race needs
that moment, which a real Push answers too fast to catch."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from spot_seda.api.fanout import Hub
from spot_seda.api.wsapi import HUB, RELAY, Connection
from spot_seda.binance.errors import ApiError
from spot_seda.stages.pushuser import user_stream


class HeldRelay:
    """UserDataRelay's subscribe/unsubscribe, its confirmation held until `confirm` is set."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.confirm = asyncio.Event()
        self.wanted: dict[int, int] = {}

    async def subscribe(self, client, account: int, sub_id: int) -> None:
        self.wanted[account] = self.wanted.get(account, 0) + 1
        await self.confirm.wait()
        self.hub.subscribe(client, user_stream(account), sub_id)

    def unsubscribe(self, client, account: int) -> None:
        self.hub.unsubscribe(client, user_stream(account))
        self.wanted[account] -= 1


def test_a_connection_closed_during_its_subscribe_leaves_nothing_behind():
    async def main() -> None:
        hub = Hub()
        relay = HeldRelay(hub)
        app = {HUB: hub, RELAY: relay}
        request = SimpleNamespace(transport=None, remote="127.0.0.1", query={})
        other = Connection(app, None, request, micro=True)  # another connection of the account, live
        relay.confirm.set()
        await other.subscribe(7)
        relay.confirm.clear()
        conn = Connection(app, None, request, micro=True)
        waiting = asyncio.get_running_loop().create_task(conn.subscribe(7))
        await asyncio.sleep(0)  # (it waits for the confirmation now)
        conn.close()  # the socket closed: what serve()'s finally does
        hub.remove(conn.client)
        relay.confirm.set()
        await waiting
        assert list(hub.subs.get(user_stream(7), {})) == [other.client], hub.subs
        assert hub.micro_subs == 1 and relay.wanted == {7: 1}
        other.close()
        assert hub.subs == {} and hub.micro_subs == 0 and relay.wanted == {7: 0}

    asyncio.run(main())


def test_a_connections_subscription_ids_run_out_at_65535():
    """web-socket-api.md: "A single session can handle a maximum of 65,535 total subscriptions over
    its lifetime. If this limit is reached, you will receive an error": -2042, whatever is active."""
    async def main() -> None:
        hub = Hub()
        relay = HeldRelay(hub)
        relay.confirm.set()
        conn = Connection({HUB: hub, RELAY: relay}, None, SimpleNamespace(transport=None, remote="127.0.0.1", query={}))
        conn.next_subscription = 65_534  # (as after that many subscribe / unsubscribe pairs)
        assert await conn.subscribe(7) == 65_534
        conn.unsubscribe(65_534, terminated=False)
        with pytest.raises(ApiError) as refused:
            await conn.subscribe(7)
        assert (refused.value.code, refused.value.msg) == (-2042, "Maximum subscription ID reached for this connection.")
        assert conn.subscriptions == {} and hub.subs == {} and relay.wanted == {7: 0}

    asyncio.run(main())
