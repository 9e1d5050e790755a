"""Push on a machine of its own (`run.py --stage push`, an empty data dir, nothing shared with the
node but the Kafka cluster): it learns the accounts and the listen keys from the cluster
(spot_seda/accountlog.py, Follower), so a client of the node with Acquiring gets its user data
stream there: a listen key created on the node a moment ago opens `/ws/<listenKey>` on the Push
machine, whose executionReport and outboundAccountPosition follow the client's orders; Push's
WebSocket API there authenticates the client's signature, also of an account registered on the
node a moment before (it waits for it, as for a listen key); a key closed on the node is closed there
a moment later."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp

from spot_seda.binance import auth
from tests.conftest import run_node
from tests.kafka.test_accounts_in_cluster import ws_api_subscribe
from tests.kafka.test_node_over_kafka import kafka_extra
from tests.node.client import admin, funded_client
from tests.node.conftest import ADMIN_TOKEN, free_port, node_toml, wait_http

NODE_STAGES = "acquiring,match,kline,settlement,persist"


async def user_events(ws, order_id: int) -> tuple[dict, dict]:
    """The order's first executionReport and the first outboundAccountPosition after it was placed
    (Acquiring's freeze and Match's report take separate ways: either may come first)."""
    report = position = None
    while report is None or position is None:
        msg = await asyncio.wait_for(ws.receive(), 20)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        event = json.loads(msg.data)
        if event.get("e") == "executionReport" and event["i"] == order_id and report is None:
            report = event
        elif event.get("e") == "outboundAccountPosition" and position is None:
            position = event
    return report, position


def test_a_push_machine_serves_user_data_of_accounts_and_keys_registered_on_the_node(tmp_path, kafka_cluster):
    extra = kafka_extra(kafka_cluster)
    node_dir, push_dir = tmp_path / "node", tmp_path / "push"
    node_dir.mkdir()
    push_dir.mkdir()
    http, push_ws = free_port(), free_port()
    base, push_base = f"http://127.0.0.1:{http}", f"ws://127.0.0.1:{push_ws}"

    async def scenario() -> None:
        async with aiohttp.ClientSession() as session:
            # an account registered on the node a moment ago: Push's WebSocket API there may not
            # have heard of it yet, and waits for it rather than answering -2015
            status, acct = await admin(session, base, ADMIN_TOKEN, "/admin/v1/accounts")
            assert status == 200, acct
            reply = await ws_api_subscribe(session, push_base, acct["apiKey"],
                                           lambda payload: auth.sign(acct["secretKey"], payload))
            assert reply["status"] == 200, reply
            # registered on the node after the Push machine started: it hears of the account there
            client = await funded_client(session, base, ADMIN_TOKEN, BTC="1", USDT="100000")
            async with session.post(base + "/api/v3/userDataStream", headers={"X-MBX-APIKEY": client.api_key}) as r:
                assert r.status == 200
                key = (await r.json())["listenKey"]
            # at once, on the other machine: the key was committed in the cluster before the answer
            async with session.ws_connect(f"{push_base}/ws/{key}") as ws:
                status, order = await client.order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                                                   price="30000", quantity="0.1", newOrderRespType="RESULT")
                assert status == 200, order
                report, position = await user_events(ws, order["orderId"])
                assert (report["X"], report["x"], report["p"]) == ("NEW", "NEW", "30000.00000000"), report
                usdt = next(b for b in position["B"] if b["a"] == "USDT")
                assert (usdt["f"], usdt["l"]) == ("97000.00000000", "3000.00000000"), position
            # Push's WebSocket API there knows the account's key
            reply = await ws_api_subscribe(session, push_base, client.api_key,
                                           lambda payload: auth.sign(client.secret, payload))
            assert reply["status"] == 200, reply
            # closed on the node: gone on the Push machine too
            async with session.delete(base + "/api/v3/userDataStream", params={"listenKey": key},
                                      headers={"X-MBX-APIKEY": client.api_key}) as r:
                assert r.status == 200, await r.text()
            # (its tombstone reaches that machine a moment later: until then, a connection may still open)
            deadline = time.monotonic() + 10
            while True:
                try:
                    ws = await session.ws_connect(f"{push_base}/ws/{key}")
                except aiohttp.WSServerHandshakeError as refused:  # (after the wait for an unknown key)
                    assert refused.status == 400
                    break
                await ws.close()
                assert time.monotonic() < deadline, "a closed listen key still opens a stream on the Push machine"
                await asyncio.sleep(0.2)

    with run_node(node_dir, node_toml(node_dir / "data", http, free_port(), extra=extra), "--stage", NODE_STAGES) as node:
        wait_http(base, node, timeout=90)
        with run_node(push_dir, node_toml(push_dir / "data", free_port(), push_ws, extra=extra), "--stage", "push") as push:
            push.wait_for(lambda: "followed from now on" in push.log(), timeout=60, what="Push following the registries")
            asyncio.run(scenario())
        assert "followed from now on" not in node.log()  # the node with Acquiring writes them: it follows nothing
