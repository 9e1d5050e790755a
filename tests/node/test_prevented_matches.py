"""Prevented matches (Binance's faqs/stp_faq.md, rest-api.md "Query Prevented Matches"): a match
self-trade prevention stopped is recorded with an id per symbol from 0; the taker's FULL answer lists
its `preventedMatches`, an order it took quantity off shows `preventedMatchId` (REST and the
executionReport's "v", with "U" the other order), and GET /api/v3/myPreventedMatches (the WebSocket
API's `myPreventedMatches`) finds them by id or by order. A real node over HTTP and WebSockets."""

from __future__ import annotations

import time

import aiohttp
import pytest

from tests.node.client import execution_report, funded_client, user_data_stream
from tests.node.conftest import ADMIN_TOKEN, run, serving_node
from tests.ws_api.conftest import WsApi

SYMBOL = "BTCUSDT"


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    with serving_node(tmp_path_factory.mktemp("prevented")) as proc:
        proc.ws_api = proc.base.replace("http://", "ws://") + "/ws-api/v3"
        yield proc


async def _sell(client, qty: str, price: str = "20000") -> dict:
    status, doc = await client.order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC", quantity=qty,
                                     price=price, newOrderRespType="RESULT")
    assert status == 200 and doc["status"] == "NEW", doc
    return doc


def test_prevented_matches_are_recorded_shown_and_queried(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            client = await funded_client(session, node.base, ADMIN_TOKEN, BTC="5", USDT="100000")
            other = await funded_client(session, node.base, ADMIN_TOKEN, BTC="5")
            ws = await user_data_stream(session, node, client)
            mine = await _sell(client, "1")  # first in line
            theirs = await _sell(other, "0.5")
            # EXPIRE_MAKER: our resting sell goes, the taker trades with the other's and rests the rest
            status, taker = await client.order(symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="GTC",
                                               quantity="2", price="20000", selfTradePreventionMode="EXPIRE_MAKER",
                                               newOrderRespType="FULL")
            assert status == 200 and taker["status"] == "PARTIALLY_FILLED", taker
            assert [f["qty"] for f in taker["fills"]] == ["0.50000000"], taker
            assert taker["preventedMatches"] == [{
                "preventedMatchId": 0, "makerSymbol": SYMBOL, "makerOrderId": mine["orderId"],
                "price": "20000.00000000", "makerPreventedQuantity": "1.00000000"}], taker
            assert "preventedMatchId" not in taker  # (nothing was taken off the taker itself)
            report = await execution_report(ws, mine["orderId"], "TRADE_PREVENTION")
            assert (report["X"], report["v"], report["U"], report["Cs"], report["A"]) == (
                "EXPIRED_IN_MATCH", 0, taker["orderId"], SYMBOL, "1.00000000"), report
            assert list(report).index("v") == list(report).index("t") + 1  # (user-data-stream.md's order)
            status, maker = await client.signed("GET", "/api/v3/order", symbol=SYMBOL, orderId=mine["orderId"])
            assert (maker["status"], maker["preventedMatchId"], maker["preventedQuantity"]) == (
                "EXPIRED_IN_MATCH", 0, "1.00000000"), maker

            # EXPIRE_TAKER: a sell of ours meets our own resting buy and goes itself
            status, gone = await client.order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC",
                                              quantity="0.3", price="20000", selfTradePreventionMode="EXPIRE_TAKER",
                                              newOrderRespType="FULL")
            assert status == 200 and gone["status"] == "EXPIRED_IN_MATCH", gone
            assert gone["preventedMatches"] == [{
                "preventedMatchId": 1, "makerSymbol": SYMBOL, "makerOrderId": taker["orderId"],
                "price": "20000.00000000", "takerPreventedQuantity": "0.30000000"}], gone
            # (a placement answer shows the quantity; its preventedMatches the id, as stp_faq's FULL answers)
            assert gone["preventedQuantity"] == "0.30000000" and "preventedMatchId" not in gone, gone
            status, queried = await client.signed("GET", "/api/v3/order", symbol=SYMBOL, orderId=gone["orderId"])
            assert (queried["preventedMatchId"], queried["preventedQuantity"]) == (1, "0.30000000"), queried

            # myPreventedMatches: by id, by order, from an id on
            before = int(time.time() * 1000)
            status, by_id = await client.signed("GET", "/api/v3/myPreventedMatches", symbol=SYMBOL, preventedMatchId=0)
            assert status == 200 and by_id == [{
                "symbol": SYMBOL, "preventedMatchId": 0, "takerOrderId": taker["orderId"], "makerSymbol": SYMBOL,
                "makerOrderId": mine["orderId"], "tradeGroupId": -1, "selfTradePreventionMode": "EXPIRE_MAKER",
                "price": "20000.00000000", "makerPreventedQuantity": "1.00000000",
                "transactTime": by_id[0]["transactTime"]}], by_id
            assert before - 60_000 < by_id[0]["transactTime"] <= before
            status, of_taker = await client.signed("GET", "/api/v3/myPreventedMatches", symbol=SYMBOL,
                                                   orderId=taker["orderId"])
            assert [m["preventedMatchId"] for m in of_taker] == [0, 1], of_taker
            assert of_taker[1]["takerOrderId"] == gone["orderId"] and "makerPreventedQuantity" not in of_taker[1]
            status, later = await client.signed("GET", "/api/v3/myPreventedMatches", symbol=SYMBOL,
                                                orderId=taker["orderId"], fromPreventedMatchId=1, limit=5)
            assert [m["preventedMatchId"] for m in later] == [1], later
            # another account sees none of them
            assert await other.signed("GET", "/api/v3/myPreventedMatches", symbol=SYMBOL, preventedMatchId=0) == (200, [])
            for bad, code in (({}, -1102), ({"preventedMatchId": 0, "orderId": 1}, -1128),
                              ({"fromPreventedMatchId": 0}, -1102), ({"fromPreventedMatchId": 0, "preventedMatchId": 0}, -1128)):
                status, err = await client.signed("GET", "/api/v3/myPreventedMatches", symbol=SYMBOL, **bad)
                assert (status, err["code"]) == (400, code), (bad, err)

            # the WebSocket API's myPreventedMatches answers as REST
            api = WsApi(await session.ws_connect(node.ws_api))
            doc = await api.signed("myPreventedMatches", client.api_key, client.secret, symbol=SYMBOL,
                                   orderId=taker["orderId"])
            assert doc["status"] == 200 and doc["result"] == of_taker, doc
            await api.ws.close()
            await ws.close()
    run(scenario())
