"""Order lists over the WebSocket API: `orderList.place.oco` / `.oto` / `.otoco` (and the deprecated
`orderList.place`), `orderList.status`, `orderList.cancel`, `openOrderLists.status` and
`allOrderLists` run REST's operations (api/orderlists.py): the same answers as REST's in the
WebSocket API's envelope (but allOrderLists' fromId with a time: ignored here, -1128 on REST, as
each one's doc says), each order of a new list counted in `rateLimits`, and a refused request
answered with REST's error, nothing changed."""

from __future__ import annotations

import time

import aiohttp

from tests.node.client import expect_balances, funded_client
from tests.node.test_order_lists import SYMBOL, oto, sell_oco, trade_at
from tests.ws_api.conftest import ADMIN_TOKEN, connect, run


def orders_counted(doc: dict) -> int:
    """The account's count in the 10-second ORDERS window, as the answer's rateLimits show it."""
    return next(l["count"] for l in doc["rateLimits"] if l["rateLimitType"] == "ORDERS" and l["interval"] == "SECOND")


def test_place_query_and_cancel_order_lists_over_the_websocket_api(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            await trade_at(session, node, "20000")
            client = await funded_client(session, node.base, ADMIN_TOKEN, BTC="1", USDT="5000")
            api = await connect(session, node)

            async def call(method, **params):
                return await api.signed(method, client.api_key, client.secret, **params)

            # an OCO: REST's answer, its two orders counted
            doc = await call("orderList.place.oco", listClientOrderId="wsOco", **sell_oco())
            assert doc["status"] == 200, doc
            oco = doc["result"]
            assert (oco["contingencyType"], oco["listStatusType"], oco["listClientOrderId"]) == \
                ("OCO", "EXEC_STARTED", "wsOco"), oco
            assert [r["type"] for r in oco["orderReports"]] == ["STOP_LOSS_LIMIT", "LIMIT_MAKER"], oco
            assert orders_counted(doc) == 2, doc["rateLimits"]
            await expect_balances(client, BTC=("0.5", "0.5"))  # one hold for both legs

            # the queries answer what REST answers
            doc = await call("orderList.status", orderListId=oco["orderListId"])
            status, rest = await client.signed("GET", "/api/v3/orderList", orderListId=oco["orderListId"])
            assert (doc["status"], status) == (200, 200) and doc["result"] == rest, (doc, rest)
            doc = await call("orderList.status", origClientOrderId="wsOco")
            assert doc["result"] == rest, doc
            # with both, origClientOrderId is used and orderListId ignored (web-socket-api.md)
            doc = await call("orderList.status", origClientOrderId="wsOco", orderListId=oco["orderListId"] + 77)
            assert doc["result"] == rest, doc
            doc = await call("orderList.status", origClientOrderId="noSuchList", orderListId=oco["orderListId"])
            assert doc["error"] == {"code": -2013, "msg": "Order list does not exist."}, doc
            doc = await call("openOrderLists.status")
            assert [lst["orderListId"] for lst in doc["result"]] == [oco["orderListId"]], doc
            assert any(l["rateLimitType"] == "REQUEST_WEIGHT" for l in doc["rateLimits"]), doc

            # an OTO and an OTOCO: the working order rests, the pending ones wait
            doc = await call("orderList.place.oto", **oto(workingPrice="15000", pendingPrice="30000"))
            assert doc["status"] == 200, doc
            assert [r["status"] for r in doc["result"]["orderReports"]] == ["NEW", "PENDING_NEW"], doc
            assert orders_counted(doc) == 4, doc["rateLimits"]
            otoco = await call("orderList.place.otoco", symbol=SYMBOL, workingType="LIMIT", workingSide="BUY",
                               workingPrice="15000", workingQuantity="0.1", workingTimeInForce="GTC",
                               pendingSide="SELL", pendingQuantity="0.1", pendingAboveType="LIMIT_MAKER",
                               pendingAbovePrice="23000", pendingBelowType="STOP_LOSS", pendingBelowStopPrice="18000")
            assert otoco["status"] == 200, otoco
            assert [r["status"] for r in otoco["result"]["orderReports"]] == ["NEW", "PENDING_NEW", "PENDING_NEW"]
            assert orders_counted(otoco) == 7, otoco["rateLimits"]
            doc = await call("openOrderLists.status")
            assert len(doc["result"]) == 3, doc

            # orderList.cancel: the whole list, REST's answer shape
            doc = await call("orderList.cancel", symbol=SYMBOL, listClientOrderId="wsOco", newClientOrderId="gone")
            assert doc["status"] == 200, doc
            assert doc["result"]["listOrderStatus"] == "ALL_DONE", doc
            assert [r["status"] for r in doc["result"]["orderReports"]] == ["CANCELED", "CANCELED"], doc
            doc = await call("orderList.cancel", symbol=SYMBOL, orderListId=otoco["result"]["orderListId"])
            assert doc["status"] == 200, doc
            # Binance's deprecated orderList.place: the old-style OCO, as POST /api/v3/order/oco
            doc = await call("orderList.place", symbol=SYMBOL, side="SELL", quantity="0.2", price="25000",
                             stopPrice="15000", listClientOrderId="old-style")
            assert doc["status"] == 200, doc
            assert [o["type"] for o in doc["result"]["orderReports"]] == ["STOP_LOSS", "LIMIT_MAKER"], doc
            doc = await call("orderList.cancel", symbol=SYMBOL, listClientOrderId="old-style")
            assert doc["status"] == 200 and doc["result"]["listStatusType"] == "ALL_DONE", doc
            await expect_balances(client, BTC=("0.9", "0.1"))  # (the OTO's pending sell still holds its own)

            async def listed():
                doc = await call("allOrderLists", limit=10)
                assert doc["status"] == 200, doc
                status, rest = await client.signed("GET", "/api/v3/allOrderList", limit=10)
                assert doc["result"] == rest, (doc, rest)
                return doc["result"]
            lists = await listed()
            assert oco["orderListId"] in [lst["orderListId"] for lst in lists], lists
            # fromId with a time: the WebSocket API ignores fromId (web-socket-api.md), REST refuses -1128
            # (rest-api.md: "If supplied, neither `startTime` or `endTime` can be provided")
            since = int(time.time() * 1000) - 3_600_000
            doc = await call("allOrderLists", fromId=10**9, startTime=since, limit=10)
            status, rest = await client.signed("GET", "/api/v3/allOrderList", startTime=since, limit=10)
            assert doc["status"] == status == 200 and doc["result"] == rest and rest, (doc, rest)
            status, err = await client.signed("GET", "/api/v3/allOrderList", fromId=10**9, startTime=since)
            assert (status, err["code"]) == (400, -1128), err
    run(scenario())


def test_my_trades_show_the_order_list_over_the_websocket_api(node):
    """`myTrades` runs REST's operation: a fill of an OCO leg shows the leg's orderListId."""
    async def scenario():
        async with aiohttp.ClientSession() as session:
            await trade_at(session, node, "20000")
            client = await funded_client(session, node.base, ADMIN_TOKEN, BTC="1")
            api = await connect(session, node)
            doc = await api.signed("orderList.place.oco", client.api_key, client.secret, **sell_oco(quantity="0.1"))
            assert doc["status"] == 200, doc
            oco = doc["result"]
            limit_id = next(r["orderId"] for r in oco["orderReports"] if r["type"] == "LIMIT_MAKER")
            buyer = await funded_client(session, node.base, ADMIN_TOKEN, USDT="100000")
            status, bought = await buyer.order(symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="IOC",
                                               quantity="0.1", price="21000")
            assert status == 200 and bought["status"] == "FILLED", bought
            doc = await api.signed("myTrades", client.api_key, client.secret, symbol=SYMBOL)
            assert doc["status"] == 200 and [(t["orderId"], t["orderListId"]) for t in doc["result"]] == \
                [(limit_id, oco["orderListId"])], doc
    run(scenario())


def test_order_cancel_of_one_leg_cancels_the_list_over_the_websocket_api(node):
    """`order.cancel` naming an OCO leg (by its client id) cancels the list and answers with it, as
    web-socket-api.md's "When an order list is canceled" example shows."""
    async def scenario():
        async with aiohttp.ClientSession() as session:
            await trade_at(session, node, "20000")
            client = await funded_client(session, node.base, ADMIN_TOKEN, BTC="1")
            api = await connect(session, node)
            doc = await api.signed("orderList.place.oco", client.api_key, client.secret,
                                   **sell_oco(quantity="0.1", aboveClientOrderId="wsTp", belowClientOrderId="wsSl"))
            assert doc["status"] == 200, doc
            oco = doc["result"]
            doc = await api.signed("order.cancel", client.api_key, client.secret, symbol=SYMBOL,
                                   origClientOrderId="wsTp", newClientOrderId="wsCancel")
            assert doc["status"] == 200, doc
            listed = doc["result"]
            assert (listed["orderListId"], listed["listStatusType"], listed["listOrderStatus"]) == (
                oco["orderListId"], "ALL_DONE", "ALL_DONE"), listed
            assert {(r["origClientOrderId"], r["status"]) for r in listed["orderReports"]} == {
                ("wsTp", "CANCELED"), ("wsSl", "CANCELED")}, listed
            assert next(r["clientOrderId"] for r in listed["orderReports"] if r["origClientOrderId"] == "wsTp") \
                == "wsCancel", listed
            await expect_balances(client, BTC=("1", "0"))
    run(scenario())


def test_refused_order_list_requests_change_nothing(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            await trade_at(session, node, "20000")
            client = await funded_client(session, node.base, ADMIN_TOKEN, BTC="1")
            api = await connect(session, node)

            async def call(method, **params):
                return await api.signed(method, client.api_key, client.secret, **params)

            for method, bad, path in (
                ("orderList.place.oco", sell_oco(abovePrice="21000.001"), "/api/v3/orderList/oco"),  # -1013
                ("orderList.place.oco", sell_oco(quantity="5"), "/api/v3/orderList/oco"),  # -2010 insufficient
                ("orderList.place.oco", sell_oco(belowStopPrice="20500", belowPrice="20400"),  # -2010: would trigger
                 "/api/v3/orderList/oco"),
                ("orderList.place.oto", {"symbol": SYMBOL}, "/api/v3/orderList/oto"),  # -1102
                ("orderList.place.otoco", {"symbol": SYMBOL}, "/api/v3/orderList/otoco"),  # -1102
            ):
                doc = await call(method, **bad)
                status, rest = await client.signed("POST", path, **bad)
                assert doc["status"] == status == 400 and doc["error"] == rest, (method, bad, doc, rest)
                assert "rateLimits" in doc, doc
            doc = await call("orderList.status", orderListId=99999)
            assert (doc["status"], doc["error"]) == (400, {"code": -2013, "msg": "Order list does not exist."}), doc
            doc = await call("orderList.cancel", symbol=SYMBOL, orderListId=99999)
            assert (doc["status"], doc["error"]) == (400, {"code": -2011, "msg": "Order list does not exist."}), doc
            doc = await call("openOrderLists.status")
            assert (doc["status"], doc["result"]) == (200, []), doc
            await expect_balances(client, BTC=("1", "0"))
    run(scenario())
