"""Order lists against a real node (issue 14): an OCO placed with one freeze for both legs, one leg
working cancels the other (a fill of the LIMIT_MAKER, a trigger of the stop), a list canceled as a
whole, the list queries, Binance's refusals changing nothing, the user data stream's reports with
the list id; an OTO whose pending order is placed when its working order fills; python-binance's
OCO and OTO calls; a list's orders, and its stop orders, counted together against the symbol's
MAX_NUM_ORDERS and MAX_NUM_ALGO_ORDERS."""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal as D

import aiohttp
import pytest

from tests.conftest import eventually, run_node
from tests.node.client import Client, execution_report, expect_balances, funded_client, user_data_stream
from tests.node.conftest import ADMIN_TOKEN, free_port, node_toml, run, serving_node, wait_http

SYMBOL = "BTCUSDT"


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    with serving_node(tmp_path_factory.mktemp("orderlists")) as proc:
        yield proc




async def trade_at(session, node, price: str, qty: str = "0.01") -> None:
    """One trade at `price` between two fresh accounts: the last price becomes `price`."""
    seller = await funded_client(session, node.base, ADMIN_TOKEN, BTC="1")
    buyer = await funded_client(session, node.base, ADMIN_TOKEN, USDT="100000")
    status, doc = await seller.order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC", quantity=qty, price=price)
    assert status == 200, doc
    status, doc = await buyer.order(symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="IOC", quantity=qty, price=price)
    assert status == 200 and doc["status"] == "FILLED", doc


def sell_oco(**over) -> dict:
    return {"symbol": SYMBOL, "side": "SELL", "quantity": "0.5", "aboveType": "LIMIT_MAKER", "abovePrice": "21000",
            "belowType": "STOP_LOSS_LIMIT", "belowStopPrice": "19000", "belowPrice": "18900",
            "belowTimeInForce": "GTC", **over}






async def _list_status(ws, seen: list, order_list_id: int, status_type: str) -> dict:
    """The listStatus event of this list with this listStatusType (read now or already seen)."""
    def match(event):
        return event.get("e") == "listStatus" and event["g"] == order_list_id and event["l"] == status_type
    for event in seen:
        if match(event):
            return event
    while True:
        event = json.loads((await asyncio.wait_for(ws.receive(), 10)).data)
        if match(event):
            return event


def test_a_fill_of_the_limit_leg_cancels_the_stop_and_the_funds_are_frozen_once(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            await trade_at(session, node, "20000")
            client = await funded_client(session, node.base, ADMIN_TOKEN, BTC="1")
            ws = await user_data_stream(session, node, client)
            try:
                status, doc = await client.signed("POST", "/api/v3/orderList/oco", body=True,
                                                  **sell_oco(listClientOrderId="myList", aboveClientOrderId="tp",
                                                             belowClientOrderId="sl", newOrderRespType="RESULT"))
                assert status == 200, doc
                assert (doc["contingencyType"], doc["listStatusType"], doc["listOrderStatus"], doc["listClientOrderId"]) \
                    == ("OCO", "EXEC_STARTED", "EXECUTING", "myList")
                stop, limit = doc["orderReports"]  # (the stop leg first, as in every docs example)
                seen: list = []
                assert (limit["type"], limit["status"], limit["clientOrderId"]) == ("LIMIT_MAKER", "NEW", "tp")
                assert (stop["type"], stop["status"], stop["clientOrderId"]) == ("STOP_LOSS_LIMIT", "NEW", "sl")
                assert limit["orderListId"] == stop["orderListId"] == doc["orderListId"]
                await expect_balances(client, BTC=("0.5", "0.5"))  # frozen once, for both legs
                status, lists = await client.signed("GET", "/api/v3/openOrderList")
                assert status == 200 and [lst["orderListId"] for lst in lists] == [doc["orderListId"]], lists

                buyer = await funded_client(session, node.base, ADMIN_TOKEN, USDT="100000")
                status, bought = await buyer.order(symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="IOC",
                                                   quantity="0.2", price="21000")
                assert status == 200 and bought["status"] == "FILLED", bought
                # the other leg goes at once: EXPIRED, Binance's OCO_TRIGGER
                report = await execution_report(ws, stop["orderId"], "EXPIRED", seen)
                assert (report["g"], report["X"], report["eR"], report["C"]) == (doc["orderListId"], "EXPIRED",
                                                                                 "OCO_TRIGGER", ""), report
                started = await _list_status(ws, seen, doc["orderListId"], "EXEC_STARTED")
                assert (started["L"], started["C"], [o["c"] for o in started["O"]]) == ("EXECUTING", "myList",
                                                                                      ["sl", "tp"])
                # the list changed (its stop leg ended, the limit leg goes on): a listStatus says so
                # with the executionReports (user-data-stream.md), still EXEC_STARTED / EXECUTING
                update = await _list_status(ws, [], doc["orderListId"], "EXEC_STARTED")
                assert (update["L"], update["T"]) == ("EXECUTING", report["E"]), update
                await expect_balances(client, BTC=("0.5", "0.3"))  # 0.2 sold, 0.3 still frozen for the limit leg
                status, lst = await client.signed("GET", "/api/v3/orderList", orderListId=doc["orderListId"])
                assert (status, lst["listStatusType"]) == (200, "EXEC_STARTED"), lst
                status, bought = await buyer.order(symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="IOC",
                                                   quantity="0.3", price="21000")
                assert status == 200 and bought["status"] == "FILLED", bought
                await expect_balances(client, BTC=("0.5", "0"))
                await expect_balances(client, USDT=(str(D("10500") - D("10.5")), "0"))  # less the 0.1% fee
                done_event = await _list_status(ws, seen, doc["orderListId"], "ALL_DONE")
                assert done_event["L"] == "ALL_DONE"

                async def done():
                    status, lst = await client.signed("GET", "/api/v3/orderList", origClientOrderId="myList")
                    assert (status, lst["listStatusType"], lst["listOrderStatus"]) == (200, "ALL_DONE", "ALL_DONE"), lst
                    # with both, the client id is used, the list id ignored (web-socket-api.md), from the history
                    assert await client.signed("GET", "/api/v3/orderList", origClientOrderId="myList",
                                               orderListId=lst["orderListId"] + 77) == (200, lst)
                    status, lists = await client.signed("GET", "/api/v3/allOrderList")
                    assert [x["orderListId"] for x in lists] == [doc["orderListId"]], lists
                    assert await client.signed("GET", "/api/v3/openOrderList") == (200, [])
                await eventually(done)
                status, order = await client.signed("GET", "/api/v3/order", symbol=SYMBOL, orderId=stop["orderId"])
                assert (order["status"], order["orderListId"], order["expiryReason"]) == (
                    "EXPIRED", doc["orderListId"], "OCO_TRIGGER"), order
            finally:
                await ws.close()
    run(scenario())


def test_a_triggered_stop_cancels_the_limit_leg_and_a_list_is_canceled_whole(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            await trade_at(session, node, "20000")
            client = await funded_client(session, node.base, ADMIN_TOKEN, BTC="1")
            ws = await user_data_stream(session, node, client)
            status, doc = await client.signed("POST", "/api/v3/orderList/oco", **sell_oco(newOrderRespType="ACK"))
            assert status == 200, doc
            stop_id, limit_id = (o["orderId"] for o in doc["orders"])
            list_id, stop_cid = doc["orderListId"], doc["orders"][0]["clientOrderId"]
            # amending one leg amends both (an OCO's legs have one quantity), and unlocks what they no longer need
            status, amended = await client.signed("PUT", "/api/v3/order/amend/keepPriority", symbol=SYMBOL,
                                                  orderId=limit_id, newQty="0.3")
            assert status == 200 and amended["amendedOrder"]["qty"] == "0.30000000", amended
            # the leg took a new client id (amend-<id>): the answer shows the list, the stream says UPDATED
            renamed = [{"symbol": SYMBOL, "orderId": stop_id, "clientOrderId": stop_cid},
                       {"symbol": SYMBOL, "orderId": limit_id, "clientOrderId": f"amend-{limit_id}"}]
            assert amended["amendedOrder"]["clientOrderId"] == f"amend-{limit_id}", amended
            assert amended["listStatus"] == {"orderListId": list_id, "contingencyType": "OCO",
                                             "listOrderStatus": "EXECUTING", "listClientOrderId": doc["listClientOrderId"],
                                             "symbol": SYMBOL, "orders": renamed}, amended
            updated = await _list_status(ws, [], list_id, "UPDATED")
            assert (updated["L"], updated["O"]) == ("EXECUTING", [{"s": o["symbol"], "i": o["orderId"], "c": o["clientOrderId"]}
                                                                  for o in renamed]), updated
            await ws.close()
            status, other = await client.signed("GET", "/api/v3/order", symbol=SYMBOL, orderId=stop_id)
            assert other["origQty"] == "0.30000000", other
            await expect_balances(client, BTC=("0.7", "0.3"))
            # 0.00025 is 5.25 USDT at the limit leg's 21000 but 4.725 at the stop leg's 18900: refused
            # for the leg it would leave under NOTIONAL's 5, whichever leg is named, and nothing changes
            for named in (limit_id, stop_id):
                status, doc = await client.signed("PUT", "/api/v3/order/amend/keepPriority", symbol=SYMBOL,
                                                  orderId=named, newQty="0.00025")
                assert (status, doc) == (400, {"code": -1013, "msg": "Filter failure: NOTIONAL"}), doc
            status, other = await client.signed("GET", "/api/v3/order", symbol=SYMBOL, orderId=stop_id)
            assert other["origQty"] == "0.30000000", other
            await trade_at(session, node, "19000")  # the stop triggers: the limit leg expires

            async def triggered():
                status, order = await client.signed("GET", "/api/v3/order", symbol=SYMBOL, orderId=limit_id)
                assert (order["status"], order["expiryReason"]) == ("EXPIRED", "OCO_TRIGGER"), order
                status, order = await client.signed("GET", "/api/v3/order", symbol=SYMBOL, orderId=stop_id)
                assert order["isWorking"] and order["status"] == "NEW", order  # resting at 18900
            await eventually(triggered)
            await expect_balances(client, BTC=("0.7", "0.3"))
            status, doc = await client.signed("DELETE", "/api/v3/order", symbol=SYMBOL, orderId=stop_id)
            assert status == 200, doc  # (the other tests want no ask below theirs)
            await expect_balances(client, BTC=("1", "0"))

            # a second list, canceled as a whole: both legs, every unit released
            status, doc = await client.signed("POST", "/api/v3/order/oco", symbol=SYMBOL, side="SELL", quantity="0.5",
                                              price="25000", stopPrice="15000", listClientOrderId="old-style")
            assert status == 200 and [o["type"] for o in doc["orderReports"]] == ["STOP_LOSS", "LIMIT_MAKER"], doc
            await expect_balances(client, BTC=("0.5", "0.5"))
            status, canceled = await client.signed("DELETE", "/api/v3/orderList", symbol=SYMBOL,
                                                   listClientOrderId="old-style")
            assert status == 200, canceled
            assert canceled["listStatusType"] == "ALL_DONE"
            assert [r["status"] for r in canceled["orderReports"]] == ["CANCELED", "CANCELED"]
            await expect_balances(client, BTC=("1", "0"))
            status, doc = await client.signed("DELETE", "/api/v3/orderList", symbol=SYMBOL, orderListId=doc["orderListId"])
            assert (status, doc) == (400, {"code": -2011, "msg": "Order list does not exist."})
            # rest-api.md: "If [stopLimitPrice is] provided, stopLimitTimeInForce is required": named so
            status, doc = await client.signed("POST", "/api/v3/order/oco", symbol=SYMBOL, side="SELL", quantity="0.5",
                                              price="25000", stopPrice="15000", stopLimitPrice="14900")
            assert (status, doc) == (400, {"code": -1102, "msg": "Mandatory parameter 'stopLimitTimeInForce' was not "
                                                                 "sent, was empty/null, or malformed."}), doc
            # an OTOCO's pending pair under the OCO's rules: each leg in its slot
            status, doc = await client.signed("POST", "/api/v3/orderList/otoco", **_sent(otoco(
                pendingAboveType="STOP_LOSS", pendingAboveStopPrice="18000", pendingAbovePrice=None,
                pendingBelowType="LIMIT_MAKER", pendingBelowPrice="23000", pendingBelowStopPrice=None)))
            assert (status, doc) == (400, {"code": -1197, "msg": "A stop loss order in a sell OCO must be below."}), doc
            await expect_balances(client, BTC=("1", "0"))
    run(scenario())


def test_an_ocos_stop_leg_comes_first_on_either_side(node):
    """Every OCO example of rest-api.md and web-socket-api.md lists the stop leg first, with the lower
    orderId, then the LIMIT_MAKER: a SELL's below leg (rest-api.md's orderList/oco, the deprecated
    order/oco), a BUY's above leg (web-socket-api.md's orderList.place.oco); so do the answers here,
    and the list queries."""
    async def scenario():
        async with aiohttp.ClientSession() as session:
            await trade_at(session, node, "20000")
            client = await funded_client(session, node.base, ADMIN_TOKEN, BTC="1", USDT="10000")
            buy = {"symbol": SYMBOL, "side": "BUY", "quantity": "0.1", "aboveType": "STOP_LOSS_LIMIT",
                   "aboveStopPrice": "21000", "abovePrice": "21100", "aboveTimeInForce": "GTC",
                   "belowType": "LIMIT_MAKER", "belowPrice": "19000"}
            for params in (sell_oco(quantity="0.1"), buy):
                status, doc = await client.signed("POST", "/api/v3/orderList/oco", newOrderRespType="RESULT", **params)
                assert status == 200, doc
                assert [r["type"] for r in doc["orderReports"]] == ["STOP_LOSS_LIMIT", "LIMIT_MAKER"], doc
                ids = [o["orderId"] for o in doc["orders"]]
                assert ids == [r["orderId"] for r in doc["orderReports"]] and ids[0] < ids[1], doc
                status, lst = await client.signed("GET", "/api/v3/orderList", orderListId=doc["orderListId"])
                assert status == 200 and [o["orderId"] for o in lst["orders"]] == ids, lst
                status, canceled = await client.signed("DELETE", "/api/v3/orderList", symbol=SYMBOL,
                                                       orderListId=doc["orderListId"])
                assert status == 200 and [r["orderId"] for r in canceled["orderReports"]] == ids, canceled
            await expect_balances(client, BTC=("1", "0"))
            await expect_balances(client, USDT=("10000", "0"))
    run(scenario())


def test_my_trades_show_the_order_list_of_a_lists_order(node):
    """myTrades' orderListId is the order's list (rest-api.md, the order answers' "Unless it's part
    of an order list, value will be -1"): a fill of an OCO leg shows its list, the plain order on
    the other side of the trade -1."""
    async def scenario():
        async with aiohttp.ClientSession() as session:
            await trade_at(session, node, "20000")
            client = await funded_client(session, node.base, ADMIN_TOKEN, BTC="1")
            status, oco = await client.signed("POST", "/api/v3/orderList/oco", **sell_oco(quantity="0.1"))
            assert status == 200, oco
            limit_id = next(r["orderId"] for r in oco["orderReports"] if r["type"] == "LIMIT_MAKER")
            buyer = await funded_client(session, node.base, ADMIN_TOKEN, USDT="100000")
            status, bought = await buyer.order(symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="IOC",
                                               quantity="0.1", price="21000")
            assert status == 200 and bought["status"] == "FILLED", bought
            for query in ({}, {"orderId": limit_id}):
                status, trades = await client.signed("GET", "/api/v3/myTrades", symbol=SYMBOL, **query)
                assert status == 200 and [(t["orderId"], t["orderListId"]) for t in trades] == \
                    [(limit_id, oco["orderListId"])], trades
            status, trades = await buyer.signed("GET", "/api/v3/myTrades", symbol=SYMBOL)
            assert status == 200 and [(t["orderId"], t["orderListId"]) for t in trades] == \
                [(bought["orderId"], -1)], trades
    run(scenario())


def test_canceling_one_order_of_a_list_cancels_the_list_and_answers_as_the_list(node):
    """DELETE /api/v3/order naming one leg of an OCO cancels the whole list and answers as DELETE
    /api/v3/orderList does (web-socket-api.md, order.cancel: "If you cancel an order that is a part
    of an order list, the entire order list is canceled", answered "When an order list is
    canceled" with the list and each order's cancel report); the named leg's report carries the
    cancel's newClientOrderId. A cancelRestrictions the leg does not meet cancels nothing."""
    async def scenario():
        async with aiohttp.ClientSession() as session:
            await trade_at(session, node, "20000")
            client = await funded_client(session, node.base, ADMIN_TOKEN, BTC="1")
            status, oco = await client.signed("POST", "/api/v3/orderList/oco", **sell_oco(
                quantity="0.1", listClientOrderId="legList", aboveClientOrderId="legTp", belowClientOrderId="legSl"))
            assert status == 200, oco
            ids = {r["clientOrderId"]: r["orderId"] for r in oco["orderReports"]}
            status, err = await client.signed("DELETE", "/api/v3/order", symbol=SYMBOL, orderId=ids["legSl"],
                                              cancelRestrictions="ONLY_PARTIALLY_FILLED")
            assert (status, err) == (400, {"code": -2011, "msg": "Order was not canceled due to cancel restrictions."})
            status, lists = await client.signed("GET", "/api/v3/openOrderList")
            assert status == 200 and [x["orderListId"] for x in lists] == [oco["orderListId"]], lists

            status, doc = await client.signed("DELETE", "/api/v3/order", symbol=SYMBOL, orderId=ids["legSl"],
                                              newClientOrderId="legCancel")
            assert status == 200, doc
            assert list(doc) == ["orderListId", "contingencyType", "listStatusType", "listOrderStatus",
                                 "listClientOrderId", "transactionTime", "symbol", "orders", "orderReports"], doc
            assert (doc["orderListId"], doc["contingencyType"], doc["listStatusType"], doc["listOrderStatus"],
                    doc["listClientOrderId"], doc["symbol"]) == (oco["orderListId"], "OCO", "ALL_DONE", "ALL_DONE",
                                                                 "legList", SYMBOL), doc
            assert doc["orders"] == oco["orders"], doc
            reports = {r["orderId"]: r for r in doc["orderReports"]}
            assert [r["orderId"] for r in doc["orderReports"]] == [o["orderId"] for o in oco["orders"]], doc
            assert {(r["origClientOrderId"], r["clientOrderId"], r["status"], r["orderListId"])
                    for r in reports.values()} == {("legSl", "legCancel", "CANCELED", oco["orderListId"]),
                    ("legTp", "legCancel", "CANCELED", oco["orderListId"])}, doc  # (Binance's: one id, the cancel's)
            status, leg = await client.signed("GET", "/api/v3/order", symbol=SYMBOL, orderId=ids["legTp"])
            assert status == 200 and leg["clientOrderId"] == "legCancel", leg
            assert all(r["transactTime"] == doc["transactionTime"] for r in reports.values()), doc
            await expect_balances(client, BTC=("1", "0"))
            assert await client.signed("GET", "/api/v3/openOrderList") == (200, [])
            # (the list's answer, as DELETE /api/v3/orderList's: canceling it again is refused as an order)
            status, err = await client.signed("DELETE", "/api/v3/order", symbol=SYMBOL, orderId=ids["legTp"])
            assert (status, err) == (400, {"code": -2011, "msg": "Unknown order sent."}), err
    run(scenario())


def test_refusals_change_nothing(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            await trade_at(session, node, "20000")
            client = await funded_client(session, node.base, ADMIN_TOKEN, BTC="1")
            bidder = await funded_client(session, node.base, ADMIN_TOKEN, USDT="1000")
            status, bid = await bidder.order(symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01",
                                             price="20000")
            assert status == 200, bid
            ws = await user_data_stream(session, node, client)
            relationship = {"code": -2010, "msg": "The relationship of the prices for the orders is not correct."}
            for bad, error in (
                ({"abovePrice": "19500"}, relationship),  # the LIMIT_MAKER would take (a bid is at 20000)
                ({"belowStopPrice": "20500", "belowPrice": "20400"}, relationship),  # the stop would trigger
                ({"belowType": "LIMIT_MAKER", "belowPrice": "22000", "belowStopPrice": None, "belowTimeInForce": None},
                 {"code": -1168, "msg": "At least one OCO order must be contingent."}),
                # each leg in its slot (rest-api.md: a SELL's LIMIT_MAKER / TAKE_PROFIT above, its stop
                # loss below; a BUY's the other way round), and only an OCO's types (errors.md)
                ({"aboveType": "STOP_LOSS", "aboveStopPrice": "21000", "abovePrice": None, "belowType": "LIMIT_MAKER",
                  "belowPrice": "19000", "belowStopPrice": None, "belowTimeInForce": None},
                 {"code": -1197, "msg": "A stop loss order in a sell OCO must be below."}),
                ({"belowType": "TAKE_PROFIT", "belowPrice": None, "belowTimeInForce": None},
                 {"code": -1199, "msg": "A take profit order in a sell OCO must be above."}),
                ({"side": "BUY"}, {"code": -1165, "msg": "A limit order in a buy OCO must be below."}),
                ({"side": "BUY", "aboveType": "TAKE_PROFIT", "aboveStopPrice": "21000", "abovePrice": None},
                 {"code": -1198, "msg": "A take profit order in a buy OCO must be below."}),
                ({"side": "BUY", "aboveType": "STOP_LOSS", "aboveStopPrice": "21000", "abovePrice": None},
                 {"code": -1196, "msg": "A stop loss order in a buy OCO must be above."}),
                ({"aboveType": "LIMIT", "aboveTimeInForce": "GTC"}, {"code": -1158, "msg": "Order type not supported in OCO."}),
                ({"belowType": "MARKET"}, {"code": -1158, "msg": "Order type not supported in OCO."}),
                ({"quantity": "5"}, {"code": -2010, "msg": "Account has insufficient balance for requested action."}),
                ({"abovePrice": "21000.001"}, {"code": -1013, "msg": "Filter failure: PRICE_FILTER"}),
                ({"belowTimeInForce": None}, {"code": -1102, "msg": "Mandatory parameter 'belowTimeInForce' was not "
                                                                   "sent, was empty/null, or malformed."}),
                ({"aboveClientOrderId": "same", "belowClientOrderId": "same"},
                 {"code": -2010, "msg": "Duplicate order sent."}),
                ({"extra": "1"}, None),
            ):
                sent = {k: v for k, v in sell_oco(**bad).items() if v is not None}
                status, doc = await client.signed("POST", "/api/v3/orderList/oco", **sent)
                assert status == 400, (bad, doc)
                assert doc == error if error else doc["code"] == -1104, (bad, doc)
            assert await client.signed("GET", "/api/v3/openOrderList") == (200, [])
            await expect_balances(client, BTC=("1", "0"))
            # a refused list never went live: no report or listStatus of its orders on the user data
            # stream (Match refuses a LIMIT_MAKER that would take, or a stop that would trigger, after
            # Acquiring gave the orders ids), nor the balances it froze and released; the next
            # order's NEW report comes first
            status, sentinel = await client.order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC",
                                                  quantity="0.01", price="90000")
            assert status == 200, sentinel
            seen: list = []
            await execution_report(ws, sentinel["orderId"], "NEW", seen)
            assert seen == seen[-1:], seen
            await ws.close()
            status, doc = await client.signed("DELETE", "/api/v3/order", symbol=SYMBOL, orderId=sentinel["orderId"])
            assert status == 200, doc
            status, doc = await bidder.signed("DELETE", "/api/v3/order", symbol=SYMBOL, orderId=bid["orderId"])
            assert status == 200, doc
            # no bid to take now, but a SELL OCO's limit must be above the last price (20000) all the
            # same: "Limit Price > Last Price > Stop Price" (rest-api.md)
            status, doc = await client.signed("POST", "/api/v3/orderList/oco", **sell_oco(abovePrice="19800"))
            assert (status, doc) == (400, relationship), doc
            await expect_balances(client, BTC=("1", "0"))
            status, doc = await client.signed("POST", "/api/v3/orderList/otoco", symbol=SYMBOL)
            assert (status, doc["code"]) == (400, -1102), doc  # (workingType, the first it needs)
            status, doc = await client.signed("GET", "/api/v3/orderList", orderListId=99999)
            assert (status, doc) == (400, {"code": -2013, "msg": "Order list does not exist."})
            # nor is a refused list, or any of its orders, in a query: Binance answered the client an
            # error, not an order (ids: the refused lists' orders came between the bid and the sentinel)
            status, lists = await client.signed("GET", "/api/v3/allOrderList")
            assert (status, lists) == (200, []), lists
            status, orders = await client.signed("GET", "/api/v3/allOrders", symbol=SYMBOL)
            assert status == 200 and [o["orderId"] for o in orders] == [sentinel["orderId"]], orders
            refused = range(bid["orderId"] + 1, sentinel["orderId"])
            assert len(refused) >= 4  # (the two lists Match refused: two orders each)
            for order_id in refused:
                status, doc = await client.signed("GET", "/api/v3/order", symbol=SYMBOL, orderId=order_id)
                assert (status, doc["code"]) == (400, -2013), (order_id, doc)
    run(scenario())


def test_python_binance_places_queries_and_cancels_an_oco(node):
    from tests.node.test_api_keys import binance_client

    async def make():
        async with aiohttp.ClientSession() as session:
            await trade_at(session, node, "20000")
            client = await funded_client(session, node.base, ADMIN_TOKEN, BTC="1")
            return client.api_key, client.secret
    key, secret = run(make())
    client = binance_client(node, api_key=key, api_secret=secret)
    assert next(s for s in client.get_exchange_info()["symbols"] if s["symbol"] == SYMBOL)["ocoAllowed"] is True
    placed = client.create_oco_order(**sell_oco())
    assert placed["listOrderStatus"] == "EXECUTING" and placed["listClientOrderId"].startswith("x-")
    assert [lst["orderListId"] for lst in client.get_open_oco_orders()] == [placed["orderListId"]]
    assert client.v3_get_order_list(orderListId=placed["orderListId"])["listStatusType"] == "EXEC_STARTED"
    canceled = client.v3_delete_order_list(symbol=SYMBOL, orderListId=placed["orderListId"])
    assert [r["status"] for r in canceled["orderReports"]] == ["CANCELED", "CANCELED"]
    assert client.get_open_oco_orders() == []


def oto(**over) -> dict:
    """Buy 0.1 at 20000, then sell it at 22000."""
    return {"symbol": SYMBOL, "workingType": "LIMIT", "workingSide": "BUY", "workingPrice": "20000",
            "workingQuantity": "0.1", "workingTimeInForce": "GTC", "pendingType": "LIMIT", "pendingSide": "SELL",
            "pendingPrice": "22000", "pendingQuantity": "0.1", "pendingTimeInForce": "GTC", **over}


def _sent(params: dict) -> dict:
    return {k: v for k, v in params.items() if v is not None}


def test_an_oto_places_its_pending_order_when_the_working_order_fills(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            client = await funded_client(session, node.base, ADMIN_TOKEN, USDT="5000", BTC="0.1")
            ws = await user_data_stream(session, node, client)
            try:
                status, doc = await client.signed("POST", "/api/v3/orderList/oto", body=True,
                                                  **oto(newOrderRespType="RESULT", pendingClientOrderId="tp1"))
                assert status == 200, doc
                assert (doc["contingencyType"], doc["listStatusType"], doc["listOrderStatus"]) == ("OTO", "EXEC_STARTED",
                                                                                                  "EXECUTING")
                working, pending = doc["orderReports"]
                assert (working["status"], pending["status"], pending["clientOrderId"]) == ("NEW", "PENDING_NEW", "tp1")
                await expect_balances(client, USDT=("3000", "2000"))  # each order's funds held from entry
                await expect_balances(client, BTC=("0", "0.1"))
                status, order = await client.signed("GET", "/api/v3/order", symbol=SYMBOL, orderId=pending["orderId"])
                assert (order["status"], order["isWorking"], order["orderListId"]) == ("PENDING_NEW", False,
                                                                                      doc["orderListId"])
                seller = await funded_client(session, node.base, ADMIN_TOKEN, BTC="1")
                status, sold = await seller.order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="IOC",
                                                  quantity="0.1", price="20000")
                assert status == 200 and sold["status"] == "FILLED", sold
                report = await execution_report(ws, pending["orderId"], "NEW")
                assert (report["X"], report["w"]) == ("PENDING_NEW", False)  # at the list's placement
                report = await execution_report(ws, pending["orderId"], "NEW")  # placed once the working order filled
                assert (report["X"], report["w"], report["g"]) == ("NEW", True, doc["orderListId"])

                async def placed():
                    status, order = await client.signed("GET", "/api/v3/order", symbol=SYMBOL, orderId=pending["orderId"])
                    assert (order["status"], order["isWorking"]) == ("NEW", True), order
                await eventually(placed)
                async with session.get(node.base + "/api/v3/depth", params={"symbol": SYMBOL}) as resp:
                    assert ["22000.00000000", "0.10000000"] in (await resp.json())["asks"]
                # the list, open while its pending order is: canceling it cancels that order
                status, canceled = await client.signed("DELETE", "/api/v3/orderList", symbol=SYMBOL,
                                                       orderListId=doc["orderListId"])
                assert status == 200, canceled
                assert [r["status"] for r in canceled["orderReports"]] == ["FILLED", "CANCELED"]
                await expect_balances(client, BTC=(str(D("0.2") - D("0.0001")), "0"))  # bought 0.1 less the fee
                await expect_balances(client, USDT=("3000", "0"))
            finally:
                await ws.close()
    run(scenario())


def test_an_otos_pending_stop_order_reports_new_when_it_is_placed(node):
    """A pending STOP_LOSS_LIMIT is filed, not working, once its working order fills: its
    executionReport NEW ("w" false) says so, as a pending limit order's does."""
    async def scenario():
        async with aiohttp.ClientSession() as session:
            client = await funded_client(session, node.base, ADMIN_TOKEN, USDT="5000", BTC="0.1")
            ws = await user_data_stream(session, node, client)
            try:
                status, doc = await client.signed("POST", "/api/v3/orderList/oto", **oto(
                    pendingType="STOP_LOSS_LIMIT", pendingStopPrice="19000", pendingPrice="18900"))
                assert status == 200, doc
                pending = doc["orders"][1]["orderId"]
                seller = await funded_client(session, node.base, ADMIN_TOKEN, BTC="1")
                status, sold = await seller.order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="IOC",
                                                  quantity="0.1", price="20000")
                assert status == 200 and sold["status"] == "FILLED", sold
                report = await execution_report(ws, pending, "NEW")
                assert report["X"] == "PENDING_NEW", report  # at the list's placement
                report = await execution_report(ws, pending, "NEW")  # filed once the working order filled
                assert (report["X"], report["w"], report["P"]) == ("NEW", False, "19000.00000000"), report
                status, doc = await client.signed("DELETE", "/api/v3/order", symbol=SYMBOL, orderId=pending)
                assert status == 200, doc
            finally:
                await ws.close()
    run(scenario())


def test_an_otos_pending_order_expires_with_its_working_order(node):
    """An OTO whose working order expires (an IOC with nothing to trade against) expires its pending
    order too: EXPIRED, expiryReason OTO_PHASE_ONE_EXPIRED (user-data-stream.md); its funds come back."""
    async def scenario():
        async with aiohttp.ClientSession() as session:
            client = await funded_client(session, node.base, ADMIN_TOKEN, USDT="5000", BTC="0.1")
            status, doc = await client.signed("POST", "/api/v3/orderList/oto", newOrderRespType="RESULT",
                                              **oto(workingPrice="1000", workingTimeInForce="IOC"))
            assert status == 200, doc
            working, pending = doc["orderReports"]
            assert working["status"] == "EXPIRED", doc

            async def expired():
                status, order = await client.signed("GET", "/api/v3/order", symbol=SYMBOL, orderId=pending["orderId"])
                assert (order["status"], order.get("expiryReason")) == ("EXPIRED", "OTO_PHASE_ONE_EXPIRED"), order
            await eventually(expired)
            await expect_balances(client, USDT=("5000", "0"))
            await expect_balances(client, BTC=("0.1", "0"))
    run(scenario())


def test_an_oto_canceled_before_its_working_order_fills(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            client = await funded_client(session, node.base, ADMIN_TOKEN, USDT="5000", BTC="0.1")
            status, doc = await client.signed("POST", "/api/v3/orderList/oto", **oto(workingPrice="15000"))
            assert status == 200, doc
            working, pending = (o["orderId"] for o in doc["orders"])
            status, amended = await client.signed("PUT", "/api/v3/order/amend/keepPriority", symbol=SYMBOL,
                                                  orderId=pending, newQty="0.05")  # waiting, it is amended too
            assert status == 200 and (amended["amendedOrder"]["status"], amended["amendedOrder"]["qty"]) == (
                "PENDING_NEW", "0.05000000"), amended
            await expect_balances(client, BTC=("0.05", "0.05"))
            status, canceled = await client.signed("DELETE", "/api/v3/order", symbol=SYMBOL, orderId=pending)
            assert status == 200, canceled  # the pending order: the list goes, answered as the list
            assert (canceled["contingencyType"], canceled["listOrderStatus"]) == ("OTO", "ALL_DONE"), canceled
            assert [(r["orderId"], r["status"]) for r in canceled["orderReports"]] == [
                (working, "CANCELED"), (pending, "CANCELED")], canceled

            async def gone():
                status, order = await client.signed("GET", "/api/v3/order", symbol=SYMBOL, orderId=working)
                assert order["status"] == "CANCELED", order
            await eventually(gone)
            await expect_balances(client, USDT=("5000", "0"))
            await expect_balances(client, BTC=("0.1", "0"))
            status, doc = await client.signed("POST", "/api/v3/orderList/oto", **oto(pendingQuantity="0.2"))
            assert (status, doc) == (400, {"code": -2010, "msg": "Account has insufficient balance for requested "
                                                                 "action."})  # the pending order's 0.2 BTC
            status, doc = await client.signed("POST", "/api/v3/orderList/oto", **oto(workingType="MARKET"))
            assert (status, doc["code"]) == (400, -1116)
            status, doc = await client.signed("POST", "/api/v3/orderList/oto", **oto(pendingPrice="22000.001"))
            assert (status, doc) == (400, {"code": -1013, "msg": "Filter failure: PRICE_FILTER"})
            status, doc = await client.signed("POST", "/api/v3/orderList/oto", **_sent(oto(pendingTimeInForce=None)))
            assert (status, doc["code"]) == (400, -1102) and "pendingTimeInForce" in doc["msg"], doc
    run(scenario())


def test_python_binance_places_an_oto(node):
    from tests.node.test_api_keys import binance_client

    async def make():
        async with aiohttp.ClientSession() as session:
            client = await funded_client(session, node.base, ADMIN_TOKEN, USDT="5000", BTC="0.1")
            return client.api_key, client.secret
    key, secret = run(make())
    client = binance_client(node, api_key=key, api_secret=secret)
    placed = client.v3_post_order_list_oto(**oto(workingPrice="15000"))
    assert placed["contingencyType"] == "OTO" and [r["status"] for r in placed["orderReports"]] == ["NEW", "PENDING_NEW"]
    canceled = client.v3_delete_order_list(symbol=SYMBOL, orderListId=placed["orderListId"])
    assert [r["status"] for r in canceled["orderReports"]] == ["CANCELED", "CANCELED"]


def test_an_otoco_places_its_pair_when_the_working_order_fills(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            await trade_at(session, node, "20000")
            client = await funded_client(session, node.base, ADMIN_TOKEN, USDT="5000", BTC="0.1")
            params = {"symbol": SYMBOL, "workingType": "LIMIT", "workingSide": "BUY", "workingPrice": "20000",
                      "workingQuantity": "0.1", "workingTimeInForce": "GTC", "pendingSide": "SELL",
                      "pendingQuantity": "0.1", "pendingAboveType": "LIMIT_MAKER", "pendingAbovePrice": "23000",
                      "pendingBelowType": "STOP_LOSS", "pendingBelowStopPrice": "18000"}
            status, doc = await client.signed("POST", "/api/v3/orderList/otoco", **params)
            assert status == 200, doc
            assert [r["status"] for r in doc["orderReports"]] == ["NEW", "PENDING_NEW", "PENDING_NEW"]
            working, below, above = (o["orderId"] for o in doc["orders"])  # (the pair: its stop leg first)
            await expect_balances(client, BTC=("0", "0.1"))  # the pair holds its 0.1 BTC once
            seller = await funded_client(session, node.base, ADMIN_TOKEN, BTC="1")
            status, sold = await seller.order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="IOC",
                                              quantity="0.1", price="20000")
            assert status == 200 and sold["status"] == "FILLED", sold

            async def placed():
                status, a = await client.signed("GET", "/api/v3/order", symbol=SYMBOL, orderId=above)
                status, b = await client.signed("GET", "/api/v3/order", symbol=SYMBOL, orderId=below)
                assert (a["status"], a["isWorking"], b["status"], b["isWorking"]) == ("NEW", True, "NEW", False), (a, b)
            await eventually(placed)
            # the pair is an OCO now: canceling the list cancels both
            status, canceled = await client.signed("DELETE", "/api/v3/orderList", symbol=SYMBOL,
                                                   orderListId=doc["orderListId"])
            assert status == 200, canceled
            assert [r["status"] for r in canceled["orderReports"]] == ["FILLED", "CANCELED", "CANCELED"]
            await expect_balances(client, BTC=(str(D("0.2") - D("0.0001")), "0"))
            assert await client.signed("GET", "/api/v3/openOrderList") == (200, [])
    run(scenario())


def test_lists_survive_a_clean_restart_and_a_kill_9(tmp_path):
    """An open OCO and OTO live in Match's books, Acquiring's and Settlement's ledgers (the shared
    hold) and come back from the snapshots (clean stop) and the journal (kill -9): after both
    restarts one OCO leg still cancels the other, the OTO's pending order is placed when its working
    order fills, and every unit frozen comes back once."""
    import os
    import signal

    from tests.conftest import run_node
    from tests.node.conftest import free_port, node_toml, wait_http

    data, http, ws = tmp_path / "data", free_port(), free_port()
    base = f"http://127.0.0.1:{http}"
    clients: dict[str, Client] = {}
    ids: dict[str, int] = {}

    def start(name: str):
        run_dir = tmp_path / name
        run_dir.mkdir()
        ctx = run_node(run_dir, node_toml(data, http, ws))
        proc = ctx.__enter__()
        wait_http(base, proc)
        return ctx, proc

    async def with_session(body):
        async with aiohttp.ClientSession() as session:
            for client in clients.values():
                client.session = session
            return await body(session)

    class Node:  # (trade_at wants .base)
        pass
    there = Node()
    there.base = base

    async def first(session):
        await trade_at(session, there, "20000")
        clients["owner"] = await funded_client(session, base, ADMIN_TOKEN, BTC="1", USDT="5000")
        owner = clients["owner"]
        status, doc = await owner.signed("POST", "/api/v3/orderList/oco", **sell_oco())
        assert status == 200, doc
        ids["stop"], ids["limit"] = (o["orderId"] for o in doc["orders"])
        status, doc = await owner.signed("POST", "/api/v3/orderList/oto", **oto(workingPrice="19500",
                                                                                pendingQuantity="0.1"))
        assert status == 200, doc
        ids["working"], ids["pending"] = (o["orderId"] for o in doc["orders"])
        await expect_balances(owner, BTC=("0.4", "0.6"))  # 0.5 for the OCO (once), 0.1 for the pending sell
        await expect_balances(owner, USDT=("3050", "1950"))

    async def still_open(session):
        owner = clients["owner"]
        status, lists = await owner.signed("GET", "/api/v3/openOrderList")
        assert status == 200 and len(lists) == 2, lists
        await expect_balances(owner, BTC=("0.4", "0.6"))

    ctx, proc = start("first")
    try:
        run(with_session(first))
    finally:
        ctx.__exit__(None, None, None)
    ctx, proc = start("second")
    try:
        run(with_session(still_open))
        os.killpg(proc.proc.pid, signal.SIGKILL)
        proc.proc.wait(30)
    finally:
        ctx.__exit__(None, None, None)
    ctx, proc = start("third")
    try:
        run(with_session(still_open))

        async def work(session):
            owner = clients["owner"]
            seller = await funded_client(session, base, ADMIN_TOKEN, BTC="1")
            status, sold = await seller.order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="IOC",
                                              quantity="0.1", price="19500")
            assert status == 200 and sold["status"] == "FILLED", sold  # the OTO's working order: filled
            await trade_at(session, there, "19000")  # the OCO's stop triggers: its limit leg goes

            async def done():
                status, limit = await owner.signed("GET", "/api/v3/order", symbol=SYMBOL, orderId=ids["limit"])
                status, pending = await owner.signed("GET", "/api/v3/order", symbol=SYMBOL, orderId=ids["pending"])
                assert limit["status"] == "EXPIRED" and pending["isWorking"], (limit, pending)
            await eventually(done)
            # the OCO's 0.5 still held once (for its stop, now a limit sell), the pending sell's 0.1; the
            # 0.1 bought less its fee; the working order's 1950 USDT spent
            await expect_balances(owner, BTC=("0.4999", "0.6"))
            await expect_balances(owner, USDT=("3050", "0"))
        run(with_session(work))
    finally:
        ctx.__exit__(None, None, None)


def test_python_binance_oco_fill_of_one_leg_cancels_the_other(node):
    """python-binance's create_oco_order, then a buyer fills its LIMIT_MAKER leg: the stop leg is
    canceled by the node in the same command, the list is ALL_DONE, the hold released to the last unit."""
    from tests.node.test_api_keys import binance_client

    async def make():
        async with aiohttp.ClientSession() as session:
            await trade_at(session, node, "20000")
            return [await funded_client(session, node.base, ADMIN_TOKEN, **funds)
                    for funds in ({"BTC": "1"}, {"USDT": "100000"})]
    owner, buyer = [binance_client(node, api_key=c.api_key, api_secret=c.secret) for c in run(make())]
    assert owner.get_order_book(symbol=SYMBOL)["asks"] == []  # the buyer below can only meet the OCO's leg
    placed = owner.create_oco_order(**sell_oco(abovePrice="21300"))
    limit_leg, stop_leg = sorted(placed["orderReports"], key=lambda r: r["type"] != "LIMIT_MAKER")
    assert (limit_leg["type"], stop_leg["type"]) == ("LIMIT_MAKER", "STOP_LOSS_LIMIT")
    bought = buyer.create_order(symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="IOC", quantity="0.5",
                                price="21300")
    assert bought["status"] == "FILLED" and [f["price"] for f in bought["fills"]] == ["21300.00000000"], bought

    async def done():
        assert owner.get_order(symbol=SYMBOL, orderId=limit_leg["orderId"])["status"] == "FILLED"
        assert owner.get_order(symbol=SYMBOL, orderId=stop_leg["orderId"])["status"] == "EXPIRED"
        lst = owner.v3_get_order_list(orderListId=placed["orderListId"])
        assert (lst["listStatusType"], lst["listOrderStatus"]) == ("ALL_DONE", "ALL_DONE"), lst
    run(eventually(done))
    assert owner.get_open_oco_orders() == [] and owner.get_open_orders(symbol=SYMBOL) == []
    btc = owner.get_asset_balance(asset="BTC")
    assert (btc["free"], btc["locked"]) == ("0.50000000", "0.00000000")


def test_an_oco_with_a_trailing_stop_leg(node):
    """Binance's trailing-stop FAQ: an OCO's stop leg may trail (belowTrailingDelta, here without a
    stopPrice: it tracks from the last price); when it triggers, the LIMIT_MAKER leg is canceled."""
    async def scenario():
        async with aiohttp.ClientSession() as session:
            await trade_at(session, node, "20000")
            client = await funded_client(session, node.base, ADMIN_TOKEN, BTC="1")
            status, doc = await client.signed("POST", "/api/v3/orderList/oco", body=True, **_sent(sell_oco(
                belowStopPrice=None, belowTrailingDelta="9")))
            assert (status, doc) == (400, {"code": -1013, "msg": "Filter failure: TRAILING_DELTA"})
            status, placed = await client.signed("POST", "/api/v3/orderList/oco", body=True, **_sent(sell_oco(
                belowStopPrice=None, belowTrailingDelta="100", newOrderRespType="RESULT")))
            assert status == 200, placed
            limit_leg, stop_leg = sorted(placed["orderReports"], key=lambda r: r["type"] != "LIMIT_MAKER")
            assert (stop_leg["type"], stop_leg["trailingDelta"], stop_leg["stopPrice"]) == (
                "STOP_LOSS_LIMIT", 100, "0.00000000"), stop_leg
            await expect_balances(client, BTC=("0.5", "0.5"))  # one hold for both legs
            await trade_at(session, node, "20500")  # the highest: 1% below it is 20,295
            await trade_at(session, node, "20300")
            status, doc = await client.signed("GET", "/api/v3/order", symbol=SYMBOL, orderId=stop_leg["orderId"])
            assert (doc["isWorking"], doc["status"]) == (False, "NEW"), doc
            await trade_at(session, node, "20290")  # it triggers: a LIMIT sell at 18,900, with no bid left to take

            async def triggered():
                status, doc = await client.signed("GET", "/api/v3/order", symbol=SYMBOL, orderId=stop_leg["orderId"])
                assert (doc["isWorking"], doc["status"]) == (True, "NEW") and doc["trailingTime"] > 0, doc
                status, doc = await client.signed("GET", "/api/v3/order", symbol=SYMBOL, orderId=limit_leg["orderId"])
                assert doc["status"] == "EXPIRED", doc
            await eventually(triggered)
            status, doc = await client.signed("DELETE", "/api/v3/order", symbol=SYMBOL, orderId=stop_leg["orderId"])
            assert status == 200, doc
            await expect_balances(client, BTC=("1", "0"))
    run(scenario())


def test_canceling_all_open_orders_answers_a_list_as_the_list(node):
    """DELETE /api/v3/openOrders cancels an OCO with the account's other orders and answers it in
    DELETE /api/v3/orderList's shape, once (rest-api.md: "This includes orders that are part of an
    order list"), beside the plain order's cancel answer."""
    async def scenario():
        async with aiohttp.ClientSession() as session:
            await trade_at(session, node, "20000")
            client = await funded_client(session, node.base, ADMIN_TOKEN, BTC="1")
            status, plain = await client.order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC",
                                               quantity="0.01", price="30000")
            assert status == 200, plain
            status, oco = await client.signed("POST", "/api/v3/orderList/oco", **sell_oco(quantity="0.2"))
            assert status == 200, oco
            status, answers = await client.signed("DELETE", "/api/v3/openOrders", symbol=SYMBOL)
            assert status == 200 and len(answers) == 2, answers
            assert (answers[0]["orderId"], answers[0]["status"]) == (plain["orderId"], "CANCELED"), answers
            listed = answers[1]
            assert (listed["orderListId"], listed["contingencyType"], listed["listStatusType"],
                    listed["listOrderStatus"]) == (oco["orderListId"], "OCO", "ALL_DONE", "ALL_DONE"), listed
            assert listed["orders"] == oco["orders"], listed  # (their client ids as they were)
            assert [(r["orderId"], r["status"], r["clientOrderId"], r["origClientOrderId"])
                    for r in listed["orderReports"]] == \
                [(o["orderId"], "CANCELED", f"cancel-{plain['orderId']}", o["clientOrderId"]) for o in oco["orders"]], listed
            assert answers[0]["clientOrderId"] == f"cancel-{plain['orderId']}", answers  # (one id: the request's)
            assert await client.signed("GET", "/api/v3/openOrders", symbol=SYMBOL) == (200, [])
            await expect_balances(client, BTC=("1", "0"))
    run(scenario())


def test_all_order_lists_window_bounds_each_lists_last_change(node):
    """GET /api/v3/allOrderList's startTime and endTime bound a list's transactionTime, its last
    change (web-socket-api.md), and span at most 24 hours (-1127, as allOrders)."""
    async def scenario():
        async with aiohttp.ClientSession() as session:
            await trade_at(session, node, "20000")
            client = await funded_client(session, node.base, ADMIN_TOKEN, BTC="1")
            status, doc = await client.signed("POST", "/api/v3/orderList/oco", **sell_oco(quantity="0.1"))
            assert status == 200, doc
            await asyncio.sleep(0.05)
            between = int(time.time() * 1000)
            await asyncio.sleep(0.05)
            status, canceled = await client.signed("DELETE", "/api/v3/orderList", symbol=SYMBOL,
                                                   orderListId=doc["orderListId"])
            assert status == 200 and canceled["transactionTime"] > between, canceled
            status, lists = await client.signed("GET", "/api/v3/allOrderList", startTime=between)
            assert status == 200 and [x["orderListId"] for x in lists] == [doc["orderListId"]], lists
            status, lists = await client.signed("GET", "/api/v3/allOrderList", endTime=between)
            assert status == 200 and lists == [], lists  # its last change came after
            status, err = await client.signed("GET", "/api/v3/allOrderList", startTime=between - 3 * 86_400_000,
                                              endTime=between)
            assert (status, err["code"]) == (400, -1127), err
    run(scenario())


@pytest.fixture(scope="module")
def limited_node(tmp_path_factory):
    """A node whose BTCUSDT (the first symbol) lets an account have at most 4 open orders, 2 of them stops."""
    tmp = tmp_path_factory.mktemp("orderlists-limited")
    http, ws = free_port(), free_port()
    stp = 'default_stp = "EXPIRE_MAKER"'
    toml = node_toml(tmp / "data", http, ws).replace(stp, f"{stp}\nmax_num_orders = 4\nmax_num_algo_orders = 2", 1)
    with run_node(tmp, toml) as proc:
        proc.base = f"http://127.0.0.1:{http}"
        proc.ws_api = f"ws://127.0.0.1:{http}/ws-api/v3"
        wait_http(proc.base, proc)
        proc.wait_running()
        yield proc


def otoco(**over) -> dict:
    """Buy 0.01 at 19000, then sell it at 23000 or on a fall to 18000."""
    return {"symbol": SYMBOL, "workingType": "LIMIT", "workingSide": "BUY", "workingPrice": "19000",
            "workingQuantity": "0.01", "workingTimeInForce": "GTC", "pendingSide": "SELL", "pendingQuantity": "0.01",
            "pendingAboveType": "LIMIT_MAKER", "pendingAbovePrice": "23000", "pendingBelowType": "STOP_LOSS",
            "pendingBelowStopPrice": "18000", **over}


async def open_counts(client: Client) -> tuple[int, int]:
    """The account's open orders on SYMBOL and its open order lists."""
    status, orders = await client.signed("GET", "/api/v3/openOrders", symbol=SYMBOL)
    assert status == 200, orders
    status, lists = await client.signed("GET", "/api/v3/openOrderList")
    assert status == 200, lists
    return len(orders), len(lists)


def test_a_lists_orders_count_together_against_max_num_orders(limited_node):
    """rest-api.md: an OTOCO adds 3 orders to MAX_NUM_ORDERS, an OCO and an OTO 2: with 2 open orders
    of 4 an OTOCO is refused, changing nothing, and an OTO taken; with 1 an OTOCO is taken."""
    node = limited_node
    max_orders = {"code": -1013, "msg": "Filter failure: MAX_NUM_ORDERS"}

    async def scenario():
        async with aiohttp.ClientSession() as session:
            await trade_at(session, node, "20000")
            client = await funded_client(session, node.base, ADMIN_TOKEN, USDT="10000", BTC="1")
            limits = []
            for _ in range(2):
                status, doc = await client.order(symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="GTC",
                                                 quantity="0.01", price="15000")
                assert status == 200, doc
                limits.append(doc["orderId"])
            status, doc = await client.signed("POST", "/api/v3/orderList/otoco", **otoco())
            assert (status, doc) == (400, max_orders)
            assert await open_counts(client) == (2, 0)
            await expect_balances(client, USDT=("9700", "300"), BTC=("1", "0"))  # nothing held for it
            status, oto_list = await client.signed("POST", "/api/v3/orderList/oto",
                                                   **oto(workingPrice="19000", workingQuantity="0.01",
                                                         pendingPrice="23000", pendingQuantity="0.01"))
            assert status == 200, oto_list  # 2 + 2: at the limit
            assert await open_counts(client) == (4, 1)
            status, doc = await client.signed("POST", "/api/v3/orderList/oco", **sell_oco(quantity="0.01"))
            assert (status, doc) == (400, max_orders)
            for path, params in (("/api/v3/orderList", {"orderListId": oto_list["orderListId"]}),
                                 ("/api/v3/order", {"orderId": limits[0]})):
                status, doc = await client.signed("DELETE", path, symbol=SYMBOL, **params)
                assert status == 200, doc
            status, doc = await client.signed("POST", "/api/v3/orderList/otoco", **otoco())
            assert status == 200, doc  # 1 + 3: at the limit
            assert await open_counts(client) == (4, 1)
            status, doc = await client.signed("DELETE", "/api/v3/openOrders", symbol=SYMBOL)
            assert status == 200, doc
            await expect_balances(client, USDT=("10000", "0"), BTC=("1", "0"))
    run(scenario())


def test_a_lists_stop_orders_count_together_against_max_num_algo_orders(limited_node):
    """filters.md: MAX_NUM_ALGO_ORDERS bounds the account's open STOP_LOSS(_LIMIT) and
    TAKE_PROFIT(_LIMIT) orders on the symbol. With 1 open stop of 2, an OCO of two stops and an
    OTOCO whose pending pair is two stops are refused (REST and the WebSocket API alike), changing
    nothing; an OCO with one stop is taken."""
    from tests.ws_api.conftest import connect

    node = limited_node
    max_algo = {"code": -1013, "msg": "Filter failure: MAX_NUM_ALGO_ORDERS"}
    take_profit = {"aboveType": "TAKE_PROFIT_LIMIT", "aboveStopPrice": "21000", "abovePrice": "21000",
                   "aboveTimeInForce": "GTC"}

    async def scenario():
        async with aiohttp.ClientSession() as session:
            await trade_at(session, node, "20000")
            client = await funded_client(session, node.base, ADMIN_TOKEN, USDT="10000", BTC="1")
            status, doc = await client.order(symbol=SYMBOL, side="SELL", type="STOP_LOSS", quantity="0.01",
                                             stopPrice="17000")
            assert status == 200, doc
            status, doc = await client.signed("POST", "/api/v3/orderList/oco", **sell_oco(quantity="0.01", **take_profit))
            assert (status, doc) == (400, max_algo)
            api = await connect(session, node)
            doc = await api.signed("orderList.place.oco", client.api_key, client.secret,
                                   **sell_oco(quantity="0.01", **take_profit))
            assert (doc["status"], doc["error"]) == (400, max_algo), doc
            status, doc = await client.signed("POST", "/api/v3/orderList/otoco", **_sent(otoco(
                pendingAboveType="TAKE_PROFIT", pendingAbovePrice=None, pendingAboveStopPrice="23000")))
            assert (status, doc) == (400, max_algo)  # (its 3 orders and the stop: 4, as many as allowed)
            assert await open_counts(client) == (1, 0)
            await expect_balances(client, USDT=("10000", "0"), BTC=("0.99", "0.01"))
            status, doc = await client.signed("POST", "/api/v3/orderList/oco", **sell_oco(quantity="0.01"))
            assert status == 200, doc  # a LIMIT_MAKER and a stop: 1 + 1
            assert await open_counts(client) == (3, 1)
            status, doc = await client.signed("DELETE", "/api/v3/openOrders", symbol=SYMBOL)
            assert status == 200, doc
            await expect_balances(client, USDT=("10000", "0"), BTC=("1", "0"))
    run(scenario())
