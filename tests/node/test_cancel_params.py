"""DELETE /api/v3/order as Binance defines it (issue 14): newClientOrderId names the cancel (the
answer's clientOrderId, the executionReport's "c"; the order's own id in origClientOrderId and "C")
and becomes the canceled order's clientOrderId,
cancelRestrictions refuses a cancel the order's state does not allow (-2011), and the answer carries
transactTime; the order parameters no view drops (strategyId / strategyType kept with the order).
A real node over HTTP and its user data stream."""

from __future__ import annotations

import time

import aiohttp
import pytest

from tests.node.client import execution_report, funded_client, user_data_stream
from tests.node.conftest import ADMIN_TOKEN, run, serving_node

SYMBOL = "BTCUSDT"
RESTRICTED = {"code": -2011, "msg": "Order was not canceled due to cancel restrictions."}


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    with serving_node(tmp_path_factory.mktemp("cancel")) as proc:
        yield proc






async def _buy(client, price: str = "20000", qty: str = "0.01", cid: str | None = None) -> dict:
    extra = {"newClientOrderId": cid} if cid else {}
    status, doc = await client.order(symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="GTC", quantity=qty,
                                     price=price, newOrderRespType="RESULT", **extra)
    assert status == 200, doc
    return doc


def test_cancel_names_itself_and_answers_as_binance(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            client = await funded_client(session, node.base, ADMIN_TOKEN, USDT="10000")
            ws = await user_data_stream(session, node, client)
            try:
                order = await _buy(client, cid="myOrder1")
                before = int(time.time() * 1000)
                status, doc = await client.signed("DELETE", "/api/v3/order", symbol=SYMBOL, orderId=order["orderId"],
                                                  newClientOrderId="myCancel1")
                assert status == 200, doc
                assert (doc["clientOrderId"], doc["origClientOrderId"], doc["status"]) == ("myCancel1", "myOrder1", "CANCELED")
                assert before - 1000 <= doc["transactTime"] <= int(time.time() * 1000) + 1000
                assert set(doc) >= {"symbol", "orderId", "orderListId", "price", "origQty", "executedQty",
                                    "cummulativeQuoteQty", "timeInForce", "type", "side", "selfTradePreventionMode",
                                    "origQuoteOrderQty"}
                report = await execution_report(ws, order["orderId"], "CANCELED")
                assert (report["c"], report["C"], report["X"]) == ("myCancel1", "myOrder1", "CANCELED")

                # without newClientOrderId the cancel still has an id of its own, the same in both places
                order = await _buy(client, cid="myOrder2")
                status, doc = await client.signed("DELETE", "/api/v3/order", symbol=SYMBOL,
                                                  origClientOrderId="myOrder2")
                assert status == 200 and doc["origClientOrderId"] == "myOrder2", doc
                assert doc["clientOrderId"] == f"cancel-{order['orderId']}"
                report = await execution_report(ws, order["orderId"], "CANCELED")
                assert (report["c"], report["C"]) == (doc["clientOrderId"], "myOrder2")

                # DELETE openOrders: each item is a cancel answer, all of one id (Binance's example: the
                # request's, the same "clientOrderId" in every item), in the reports and the history too
                orders = [await _buy(client, cid=f"all{i}") for i in range(2)]
                status, docs = await client.signed("DELETE", "/api/v3/openOrders", symbol=SYMBOL)
                shared = f"cancel-{orders[0]['orderId']}"
                assert status == 200 and sorted((d["origClientOrderId"], d["clientOrderId"]) for d in docs) == \
                    [("all0", shared), ("all1", shared)], docs
                assert all(isinstance(d["transactTime"], int) and d["status"] == "CANCELED" for d in docs)
                for order in orders:
                    report = await execution_report(ws, order["orderId"], "CANCELED")
                    assert report["c"] == shared, report
                    status, doc = await client.signed("GET", "/api/v3/order", symbol=SYMBOL, orderId=order["orderId"])
                    assert status == 200 and doc["clientOrderId"] == shared, doc

                status, err = await client.signed("DELETE", "/api/v3/order", symbol=SYMBOL, orderId=1,
                                                  newClientOrderId="bad.id")
                assert (status, err["code"]) == (400, -1100)
            finally:
                await ws.close()
    run(scenario())


def test_a_canceled_order_takes_the_cancels_client_id(node):
    """web-socket-api.md, order.cancel: "`newClientOrderId` will replace `clientOrderId` of the
    canceled order, freeing it up for new orders": the canceled order's later queries (order,
    allOrders) show the cancel's id (cancel-<orderId> when none was sent, as its answer and
    executionReport do), it is found by that id and no longer by its old one, which a new order may
    take."""
    async def scenario():
        async with aiohttp.ClientSession() as session:
            client = await funded_client(session, node.base, ADMIN_TOKEN, USDT="10000")
            order = await _buy(client, cid="renameMe")
            status, doc = await client.signed("DELETE", "/api/v3/order", symbol=SYMBOL, origClientOrderId="renameMe",
                                              newClientOrderId="renamed")
            assert status == 200 and (doc["origClientOrderId"], doc["clientOrderId"]) == ("renameMe", "renamed"), doc
            status, doc = await client.signed("GET", "/api/v3/order", symbol=SYMBOL, orderId=order["orderId"])
            assert status == 200 and (doc["clientOrderId"], doc["status"]) == ("renamed", "CANCELED"), doc
            status, doc = await client.signed("GET", "/api/v3/order", symbol=SYMBOL, origClientOrderId="renamed")
            assert status == 200 and doc["orderId"] == order["orderId"], doc
            status, err = await client.signed("GET", "/api/v3/order", symbol=SYMBOL, origClientOrderId="renameMe")
            assert (status, err) == (400, {"code": -2013, "msg": "Order does not exist."}), err
            status, orders = await client.signed("GET", "/api/v3/allOrders", symbol=SYMBOL)
            assert status == 200 and [(o["orderId"], o["clientOrderId"]) for o in orders] == \
                [(order["orderId"], "renamed")], orders
            again = await _buy(client, cid="renameMe")  # the old id is free (it was once the order closed)
            status, doc = await client.signed("DELETE", "/api/v3/order", symbol=SYMBOL, orderId=again["orderId"])
            assert status == 200 and doc["clientOrderId"] == f"cancel-{again['orderId']}", doc
            status, doc = await client.signed("GET", "/api/v3/order", symbol=SYMBOL, orderId=again["orderId"])
            assert status == 200 and doc["clientOrderId"] == f"cancel-{again['orderId']}", doc
    run(scenario())


def test_an_order_id_and_a_client_id_that_do_not_belong_together_are_2039(node):
    """CHANGELOG.md 2025-04-08: GET /api/v3/order with orderId and origClientOrderId naming no order
    together is -2039 "Client order ID is not correct for this order ID." (the order with that id has
    another client id), open or finished; an id no order has is still -2013."""
    async def scenario():
        async with aiohttp.ClientSession() as session:
            client = await funded_client(session, node.base, ADMIN_TOKEN, USDT="10000")
            order = await _buy(client, cid="pairMe")
            mismatch = {"code": -2039, "msg": "Client order ID is not correct for this order ID."}
            unknown = {"code": -2013, "msg": "Order does not exist."}

            async def check(client_id: str) -> None:
                status, doc = await client.signed("GET", "/api/v3/order", symbol=SYMBOL, orderId=order["orderId"],
                                                  origClientOrderId=client_id)
                assert status == 200 and doc["orderId"] == order["orderId"], doc
                status, err = await client.signed("GET", "/api/v3/order", symbol=SYMBOL, orderId=order["orderId"],
                                                  origClientOrderId="someoneElse")
                assert (status, err) == (400, mismatch), err
                status, err = await client.signed("GET", "/api/v3/order", symbol=SYMBOL, orderId=10**12,
                                                  origClientOrderId=client_id)
                assert (status, err) == (400, unknown), err

            await check("pairMe")  # open: Acquiring's view
            status, doc = await client.signed("DELETE", "/api/v3/order", symbol=SYMBOL, orderId=order["orderId"])
            assert status == 200 and doc["status"] == "CANCELED", doc
            await check(doc["clientOrderId"])  # canceled (it took the cancel's client id): the history
    run(scenario())


def test_a_client_id_names_the_symbols_order_when_another_symbols_open_order_reuses_it(node):
    """Client ids are unique among open orders: once a BTCUSDT order "reused" has ended (an IOC
    with nothing to take: EXPIRED; a canceled one would have taken its cancel's id), an ETHUSDT
    order may take the id; GET /api/v3/order with symbol=BTCUSDT and that id still finds the
    BTCUSDT one (in the history), ETHUSDT's the open one."""
    async def scenario():
        async with aiohttp.ClientSession() as session:
            client = await funded_client(session, node.base, ADMIN_TOKEN, USDT="1000")
            status, first = await client.order(symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="IOC",
                                               quantity="0.01", price="1000", newClientOrderId="reused")
            assert status == 200 and first["status"] == "EXPIRED", first
            status, eth = await client.order(symbol="ETHUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                                             quantity="0.01", price="1000", newClientOrderId="reused")
            assert status == 200, eth
            status, doc = await client.signed("GET", "/api/v3/order", symbol=SYMBOL, origClientOrderId="reused")
            assert status == 200 and (doc["orderId"], doc["status"]) == (first["orderId"], "EXPIRED"), doc
            status, doc = await client.signed("GET", "/api/v3/order", symbol="ETHUSDT", origClientOrderId="reused")
            assert status == 200 and (doc["orderId"], doc["status"]) == (eth["orderId"], "NEW"), doc
    run(scenario())


def test_cancel_restrictions(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            client = await funded_client(session, node.base, ADMIN_TOKEN, USDT="10000")
            seller = await funded_client(session, node.base, ADMIN_TOKEN, BTC="1")
            # a NEW order: ONLY_PARTIALLY_FILLED refuses, the order stays open; ONLY_NEW cancels
            order = await _buy(client, price="21000")
            status, err = await client.signed("DELETE", "/api/v3/order", symbol=SYMBOL, orderId=order["orderId"],
                                              cancelRestrictions="ONLY_PARTIALLY_FILLED")
            assert (status, err) == (400, RESTRICTED)
            status, doc = await client.signed("GET", "/api/v3/order", symbol=SYMBOL, orderId=order["orderId"])
            assert status == 200 and doc["status"] == "NEW", doc
            status, doc = await client.signed("DELETE", "/api/v3/order", symbol=SYMBOL, orderId=order["orderId"],
                                              cancelRestrictions="ONLY_NEW")
            assert status == 200 and doc["status"] == "CANCELED", doc

            # a PARTIALLY_FILLED order: ONLY_NEW refuses; ONLY_PARTIALLY_FILLED cancels
            order = await _buy(client, price="21000", qty="0.02")
            status, sold = await seller.order(symbol=SYMBOL, side="SELL", type="MARKET", quantity="0.01")
            assert status == 200 and sold["status"] == "FILLED", sold
            status, err = await client.signed("DELETE", "/api/v3/order", symbol=SYMBOL, orderId=order["orderId"],
                                              cancelRestrictions="ONLY_NEW")
            assert (status, err) == (400, RESTRICTED)
            status, doc = await client.signed("GET", "/api/v3/order", symbol=SYMBOL, orderId=order["orderId"])
            assert status == 200 and doc["status"] == "PARTIALLY_FILLED", doc
            status, doc = await client.signed("DELETE", "/api/v3/order", symbol=SYMBOL, orderId=order["orderId"],
                                              cancelRestrictions="ONLY_PARTIALLY_FILLED")
            assert status == 200 and (doc["status"], doc["executedQty"]) == ("CANCELED", "0.01000000"), doc

            # a value it does not know: rest-api.md "Regarding cancelRestrictions"
            status, err = await client.signed("DELETE", "/api/v3/order", symbol=SYMBOL, orderId=order["orderId"],
                                              cancelRestrictions="ONLY_FILLED")
            assert (status, err) == (400, {"code": -1145, "msg": "Invalid cancelRestrictions"})
            # money is whole: nothing stays locked
            balances = await client.balances()
            assert balances["USDT"][1] == "0.00000000", balances
    run(scenario())


def test_no_order_parameter_is_dropped_silently(node):
    """Pegged orders are refused, not placed as plain limits; strategyId/strategyType come back in
    the answer; a parameter POST /api/v3/order does not know is -1104; nothing is placed or frozen."""
    async def scenario():
        async with aiohttp.ClientSession() as session:
            client = await funded_client(session, node.base, ADMIN_TOKEN, USDT="10000")
            limit = dict(symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01", price="20000")
            for extra in ({"pegPriceType": "PRIMARY_PEG"}, {"pegOffsetValue": "1", "pegOffsetType": "PRICE_LEVEL"}):
                status, err = await client.order(**limit, **extra)
                assert (status, err) == (400, {"code": -2010, "msg": "Pegged orders are not supported for this symbol."})
            status, err = await client.order(**limit, newClientOrderID="typo")
            assert (status, err["code"]) == (400, -1104), err
            status, err = await client.order(**limit, strategyType="12")
            assert (status, err["code"]) == (400, -1134), err  # BAD_STRATEGY_TYPE
            status, opens = await client.signed("GET", "/api/v3/openOrders", symbol=SYMBOL)
            assert status == 200 and opens == []
            assert (await client.balances())["USDT"] == ("10000.00000000", "0.00000000")
            for resp_type in ("ACK", "RESULT", "FULL"):
                status, doc = await client.order(**limit, strategyId="42", strategyType="1000001",
                                                 newOrderRespType=resp_type)
                assert status == 200 and (doc["strategyId"], doc["strategyType"]) == (42, 1000001), doc
            status, doc = await client.order(**limit)
            assert status == 200 and "strategyId" not in doc and "strategyType" not in doc
            status, info = await client.public("/api/v3/exchangeInfo", symbol=SYMBOL)
            assert info["symbols"][0]["pegInstructionsAllowed"] is False
    run(scenario())


#: strategyId / strategyType as an order view shows them, and as an executionReport does ("j", "J")
_LABELS = {"strategyId": "j", "strategyType": "J"}


def _labels(doc: dict) -> dict:
    """The strategyId / strategyType an order view carries (none when the order has none)."""
    return {k: doc[k] for k in _LABELS if k in doc}


def _report_labels(report: dict) -> dict:
    """An executionReport's "j" / "J", by the order views' names."""
    return {name: report[key] for name, key in _LABELS.items() if key in report}


def _placed_as_binance(doc: dict) -> None:
    """strategyId / strategyType where web-socket-api.md's examples put them: just before
    selfTradePreventionMode."""
    names = list(doc)
    labels = [k for k in _LABELS if k in doc]
    at = names.index("selfTradePreventionMode")
    assert names[at - len(labels):at] == labels, names


def test_strategy_ids_are_kept_with_the_order(tmp_path):
    """strategyId / strategyType are the order's, not only its placement answer's (rest-api.md,
    "Conditional fields in Order Responses"; user-data-stream.md's "j" / "J"): GET /api/v3/order,
    openOrders, allOrders, the cancels' answers and every executionReport carry them, each only when
    it was sent (a strategyId of 0 too); an order list's legs take their own (aboveStrategyId,
    workingStrategyType, ...). The node keeps no finished order in memory (keep_finished_orders = 0),
    so a finished order's views come from the history."""
    async def scenario(node):
        async with aiohttp.ClientSession() as session:
            client = await funded_client(session, node.base, ADMIN_TOKEN, USDT="10000")
            ws = await user_data_stream(session, node, client)
            try:
                limit = dict(symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01",
                             price="20000", newOrderRespType="RESULT")
                sent = ({"strategyId": "37463720", "strategyType": "1000000"}, {"strategyId": "0"},
                        {"strategyType": "1000001"}, {})
                ids, expected = [], {}
                for labels in sent:
                    status, doc = await client.order(**limit, **labels)
                    assert status == 200, doc
                    ids.append(doc["orderId"])
                    expected[doc["orderId"]] = {k: int(v) for k, v in labels.items()}
                    assert _labels(doc) == expected[doc["orderId"]], doc
                    _placed_as_binance(doc)
                for order_id in ids:
                    report = await execution_report(ws, order_id, "NEW")
                    assert _report_labels(report) == expected[order_id], report
                for order_id in ids:
                    status, doc = await client.signed("GET", "/api/v3/order", symbol=SYMBOL, orderId=order_id)
                    assert status == 200 and _labels(doc) == expected[order_id], doc
                    _placed_as_binance(doc)
                status, opens = await client.signed("GET", "/api/v3/openOrders", symbol=SYMBOL)
                assert status == 200 and {o["orderId"]: _labels(o) for o in opens} == expected, opens

                for order_id in ids[:2] + ids[3:]:  # DELETE /api/v3/order: its answer, its report
                    status, doc = await client.signed("DELETE", "/api/v3/order", symbol=SYMBOL, orderId=order_id)
                    assert status == 200 and _labels(doc) == expected[order_id], doc
                    _placed_as_binance(doc)
                    report = await execution_report(ws, order_id, "CANCELED")
                    assert _report_labels(report) == expected[order_id], report
                status, canceled = await client.signed("DELETE", "/api/v3/openOrders", symbol=SYMBOL)
                assert status == 200 and [(o["orderId"], _labels(o)) for o in canceled] == \
                    [(ids[2], expected[ids[2]])], canceled
                # finished: from the history
                for order_id in ids:
                    status, doc = await client.signed("GET", "/api/v3/order", symbol=SYMBOL, orderId=order_id)
                    assert status == 200 and doc["status"] == "CANCELED" and _labels(doc) == expected[order_id], doc
                status, every = await client.signed("GET", "/api/v3/allOrders", symbol=SYMBOL)
                assert status == 200 and {o["orderId"]: _labels(o) for o in every} == expected, every

                # order lists: each leg its own
                status, oco = await client.signed(
                    "POST", "/api/v3/orderList/oco", symbol=SYMBOL, side="BUY", quantity="0.01",
                    aboveType="STOP_LOSS_LIMIT", aboveStopPrice="21000", abovePrice="21100", aboveTimeInForce="GTC",
                    aboveStrategyId="11", aboveStrategyType="1000011", belowType="LIMIT_MAKER", belowPrice="19000",
                    belowStrategyId="12", newOrderRespType="RESULT")
                assert status == 200, oco
                legs = {"STOP_LOSS_LIMIT": {"strategyId": 11, "strategyType": 1000011},
                        "LIMIT_MAKER": {"strategyId": 12}}
                assert [_labels(r) for r in oco["orderReports"]] == [legs[r["type"]] for r in oco["orderReports"]], oco
                status, oto = await client.signed(
                    "POST", "/api/v3/orderList/oto", symbol=SYMBOL, workingType="LIMIT", workingSide="BUY",
                    workingPrice="19500", workingQuantity="0.01", workingTimeInForce="GTC",
                    workingStrategyType="1000021", pendingType="LIMIT", pendingSide="BUY", pendingPrice="19400",
                    pendingQuantity="0.01", pendingTimeInForce="GTC", pendingStrategyId="22", newOrderRespType="ACK")
                assert status == 200, oto
                assert [_labels(r) for r in oto["orderReports"]] == [{"strategyType": 1000021}, {"strategyId": 22}], oto
                lists = {o["orderId"]: _labels(r) for doc in (oco, oto)
                         for o, r in zip(doc["orders"], doc["orderReports"])}
                for doc in (oco, oto):
                    status, done = await client.signed("DELETE", "/api/v3/orderList", symbol=SYMBOL,
                                                       orderListId=doc["orderListId"])
                    assert status == 200 and {r["orderId"]: _labels(r) for r in done["orderReports"]} == \
                        {o["orderId"]: lists[o["orderId"]] for o in doc["orders"]}, done
                for order_id, labels in lists.items():
                    status, doc = await client.signed("GET", "/api/v3/order", symbol=SYMBOL, orderId=order_id)
                    assert status == 200 and doc["status"] == "CANCELED" and _labels(doc) == labels, doc
            finally:
                await ws.close()

    with serving_node(tmp_path, node_extra="keep_finished_orders = 0\n") as node:
        run(scenario(node))
