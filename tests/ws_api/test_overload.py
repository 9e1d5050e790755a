"""Admission control sheds WebSocket API orders as it sheds HTTP ones (api/admission.py): a burst of
pipelined `order.place` on one connection, against a front door that admits 8 orders in flight, is
partly answered 503/-1003 at once; every request gets an answer, every accepted order is a REST
order found by its client id, and no shed one froze a unit. A real node, a real aiohttp WebSocket."""

from __future__ import annotations

import time
from decimal import Decimal as D

import aiohttp

from tests.conftest import eventually, run_node
from tests.node.client import funded_client
from tests.node.conftest import ADMIN_TOKEN, free_port, node_toml, wait_http
from tests.ws_api.conftest import WsApi, run, sign

ORDER = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01", "price": "50000"}
NOTIONAL = D("500")  # what one ORDER freezes
BURST = 200


def test_pipelined_orders_past_the_bound_are_shed_and_change_nothing(tmp_path):
    http = free_port()
    toml = node_toml(tmp_path / "data", http, free_port(), shed_orders_in_flight=8).replace(
        "result_timeout_s = 10.0\n", "result_timeout_s = 5.0\n")
    with run_node(tmp_path, toml) as proc:
        base = f"http://127.0.0.1:{http}"
        wait_http(base, proc)
        proc.wait_running()

        async def scenario():
            async with aiohttp.ClientSession() as session:
                client = await funded_client(session, base, ADMIN_TOKEN, USDT="1000000")
                frames = []
                for i in range(BURST):  # signed up front, so the burst is only sending
                    params = dict(ORDER, newClientOrderId=f"ws-burst-{i}", newOrderRespType="RESULT",
                                  apiKey=client.api_key, timestamp=int(time.time() * 1000), recvWindow=60000)
                    params["signature"] = sign(client.secret, params)
                    frames.append({"id": i, "method": "order.place", "params": params})
                api = WsApi(await session.ws_connect(base.replace("http://", "ws://") + "/ws-api/v3"))
                for frame in frames:
                    await api.ws.send_json(frame)
                answers = [await api.answer(i, timeout=15) for i in range(BURST)]
                accepted = [i for i, a in enumerate(answers) if a["status"] == 200]
                shed = [i for i, a in enumerate(answers) if a["status"] != 200]
                assert shed and accepted, [a["status"] for a in answers]
                assert all(answers[i]["status"] == 503 and answers[i]["error"] == {
                    "code": -1003, "msg": "Too many requests queued."} for i in shed), answers[shed[0]]
                for i in accepted[:20] + shed[:20]:
                    code, doc = await client.signed("GET", "/api/v3/order", symbol="BTCUSDT",
                                                    origClientOrderId=f"ws-burst-{i}")
                    assert (code == 200) == (i in accepted), (i, code, doc)

                async def frozen_as_accepted():
                    assert (await client.balances())["USDT"] == (
                        f"{D(1000000) - NOTIONAL * len(accepted):.8f}", f"{NOTIONAL * len(accepted):.8f}")
                await eventually(frozen_as_accepted)
                assert (await api.call("ping"))["status"] == 200  # and it serves on
                await api.ws.close()
        run(scenario())
