"""POST /api/v3/order/test and POST /api/v3/order/cancelReplace against a real node (issue 14): the
test order validates as a real one does and changes nothing; cancel-replace moves an order's money
to a new order, answers Binance's combined shape, its -2021 (409) and -2022 (400) with both halves,
and a bad parameter is a plain error that cancels nothing; an amend (keep priority) reduces an order
in place, keeps its queue position, frees what it no longer needs and reports REPLACED.
python-binance runs the test order and the replace."""

from __future__ import annotations

from decimal import Decimal as D

import aiohttp
import pytest

from tests.conftest import eventually
from tests.node.client import Client, execution_report, expect_balances, funded_client, user_data_stream
from tests.node.conftest import ADMIN_TOKEN, run, serving_node

SYMBOL = "BTCUSDT"
LIMIT = {"symbol": SYMBOL, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01", "price": "20000"}
ETH_LIMIT = LIMIT | {"symbol": "ETHUSDT"}
UNKNOWN = {"code": -2011, "msg": "Unknown order sent."}


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    with serving_node(tmp_path_factory.mktemp("orderops")) as proc:
        yield proc




async def open_ids(client: Client) -> list[int]:
    status, doc = await client.signed("GET", "/api/v3/openOrders", symbol=SYMBOL)
    assert status == 200, doc
    return [o["orderId"] for o in doc]


# ------------------------------------------------------------------------------ order/test


def test_test_order_validates_and_places_nothing(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            client = await funded_client(session, node.base, ADMIN_TOKEN, USDT="1000")
            status, doc = await client.signed("POST", "/api/v3/order/test", **LIMIT)
            assert (status, doc) == (200, {}), doc
            status, doc = await client.signed("POST", "/api/v3/order/test", body=True, computeCommissionRates="true",
                                              **LIMIT)
            assert status == 200, doc
            assert doc["standardCommissionForOrder"] == {"maker": "0.00100000", "taker": "0.00100000"}
            assert doc["taxCommissionForOrder"] == {"maker": "0.00000000", "taker": "0.00000000"}
            assert doc["discount"]["enabledForAccount"] is False
            # not even a balance check: an order far beyond the account's money is only validated
            status, doc = await client.signed("POST", "/api/v3/order/test", **(LIMIT | {"quantity": "100"}))
            assert (status, doc) == (200, {}), doc
            # the same errors as POST /api/v3/order, in the same order
            for bad, error in (
                ({"price": "20000.001"}, {"code": -1013, "msg": "Filter failure: PRICE_FILTER"}),
                ({"quantity": "0.000000001"}, {"code": -1111, "msg": "Parameter 'quantity' has too much precision."}),
                ({"price": "0.01"}, {"code": -1013, "msg": "Filter failure: NOTIONAL"}),
                ({"type": "LIMITED"}, {"code": -1116, "msg": "Invalid orderType."}),
                ({"computeCommissionRates": "yes"}, None),
                ({"bogus": "1"}, {"code": -1104, "msg": "Not all sent parameters were read; read '8' parameter(s) "
                                                       "but was sent '9'."}),  # (signature counts, as Binance's)
            ):
                status, doc = await client.signed("POST", "/api/v3/order/test", **(LIMIT | bad))
                assert status == 400, doc
                if error is not None:
                    assert doc == error
                else:
                    assert doc["code"] == -1100 and "computeCommissionRates" in doc["msg"]
            assert await open_ids(client) == []
            await expect_balances(client, USDT=("1000", "0"))
            status, doc = await client.signed("POST", "/api/v3/order/test", symbol="NOPE", side="BUY", type="MARKET",
                                              quantity="1")
            assert (status, doc["code"]) == (400, -1121), doc
    run(scenario())


# --------------------------------------------------------------------------- cancelReplace


def test_cancel_replace_moves_the_money_to_the_new_order(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            # 300 USDT: the new order (0.01 at 25000 = 250) needs the 200 the old one holds
            client = await funded_client(session, node.base, ADMIN_TOKEN, USDT="300")
            status, old = await client.order(newClientOrderId="old1", **LIMIT)
            assert status == 200, old
            await expect_balances(client, USDT=("100", "200"))
            status, doc = await client.signed(
                "POST", "/api/v3/order/cancelReplace", body=True, cancelReplaceMode="STOP_ON_FAILURE",
                cancelOrderId=old["orderId"], cancelNewClientOrderId="c1", newClientOrderId="new1",
                **(LIMIT | {"price": "25000"}))
            assert status == 200, doc
            assert (doc["cancelResult"], doc["newOrderResult"]) == ("SUCCESS", "SUCCESS")
            cancel, new = doc["cancelResponse"], doc["newOrderResponse"]
            assert (cancel["orderId"], cancel["status"], cancel["clientOrderId"], cancel["origClientOrderId"]) == \
                (old["orderId"], "CANCELED", "c1", "old1")
            assert (new["clientOrderId"], new["status"], new["price"], new["fills"]) == ("new1", "NEW", "25000.00000000", [])
            assert await open_ids(client) == [new["orderId"]]
            await expect_balances(client, USDT=("50", "250"))

            # by client id, with a restriction the order meets
            status, doc = await client.signed(
                "POST", "/api/v3/order/cancelReplace", cancelReplaceMode="ALLOW_FAILURE",
                cancelOrigClientOrderId="new1", cancelRestrictions="ONLY_NEW", newOrderRespType="ACK",
                **(LIMIT | {"price": "21000"}))
            assert status == 200 and doc["newOrderResponse"]["orderId"] > new["orderId"], doc
            assert set(doc["newOrderResponse"]) == {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}
            assert doc["cancelResponse"]["clientOrderId"] == f"cancel-{new['orderId']}"
            assert await open_ids(client) == [doc["newOrderResponse"]["orderId"]]
            await expect_balances(client, USDT=("90", "210"))
    run(scenario())


def test_cancel_replace_failures_answer_both_halves(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            client = await funded_client(session, node.base, ADMIN_TOKEN, USDT="1000")
            seller = await funded_client(session, node.base, ADMIN_TOKEN, BTC="1")
            status, ask = await seller.order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC",
                                             quantity="0.01", price="30000")
            assert status == 200, ask
            status, old = await client.order(**LIMIT)
            assert status == 200, old

            # STOP_ON_FAILURE, the cancel fails: -2022, nothing attempted, nothing changed
            status, doc = await client.signed("POST", "/api/v3/order/cancelReplace", cancelReplaceMode="STOP_ON_FAILURE",
                                              cancelOrderId=999999, **LIMIT)
            assert (status, doc) == (400, {"code": -2022, "msg": "Order cancel-replace failed.", "data": {
                "cancelResult": "FAILURE", "newOrderResult": "NOT_ATTEMPTED", "cancelResponse": UNKNOWN,
                "newOrderResponse": None}}), doc
            # a restriction the order does not meet is a failed cancel too
            status, doc = await client.signed("POST", "/api/v3/order/cancelReplace", cancelReplaceMode="STOP_ON_FAILURE",
                                              cancelOrderId=old["orderId"], cancelRestrictions="ONLY_PARTIALLY_FILLED",
                                              **LIMIT)
            assert status == 400 and doc["data"]["cancelResponse"] == {
                "code": -2011, "msg": "Order was not canceled due to cancel restrictions."}, doc
            assert await open_ids(client) == [old["orderId"]]
            await expect_balances(client, USDT=("800", "200"))

            # the cancel succeeds, the new order fails (a LIMIT_MAKER that would take): -2021, 409
            status, doc = await client.signed("POST", "/api/v3/order/cancelReplace", cancelReplaceMode="STOP_ON_FAILURE",
                                              cancelOrderId=old["orderId"], symbol=SYMBOL, side="BUY",
                                              type="LIMIT_MAKER", quantity="0.01", price="30000")
            assert status == 409 and (doc["code"], doc["msg"]) == (-2021, "Order cancel-replace partially failed."), doc
            data = doc["data"]
            assert (data["cancelResult"], data["newOrderResult"]) == ("SUCCESS", "FAILURE")
            assert data["cancelResponse"]["status"] == "CANCELED"
            assert data["newOrderResponse"] == {"code": -2010, "msg": "Order would immediately match and take."}
            assert await open_ids(client) == []
            await expect_balances(client, USDT=("1000", "0"))

            # ALLOW_FAILURE: the cancel fails, the new order goes in: -2021, 409
            status, doc = await client.signed("POST", "/api/v3/order/cancelReplace", cancelReplaceMode="ALLOW_FAILURE",
                                              cancelOrderId=old["orderId"], newOrderRespType="RESULT", **LIMIT)
            assert status == 409 and doc["code"] == -2021, doc
            assert (doc["data"]["cancelResult"], doc["data"]["newOrderResult"]) == ("FAILURE", "SUCCESS")
            assert doc["data"]["cancelResponse"] == UNKNOWN and doc["data"]["newOrderResponse"]["status"] == "NEW"
            placed = doc["data"]["newOrderResponse"]["orderId"]

            # ALLOW_FAILURE, both fail (no money for the new one): -2022 with both errors
            status, doc = await client.signed("POST", "/api/v3/order/cancelReplace", cancelReplaceMode="ALLOW_FAILURE",
                                              cancelOrigClientOrderId="nope", **(LIMIT | {"quantity": "1"}))
            assert (status, doc["code"]) == (400, -2022), doc
            assert doc["data"]["newOrderResponse"] == {"code": -2010,
                                                       "msg": "Account has insufficient balance for requested action."}
            assert await open_ids(client) == [placed]
            await expect_balances(client, USDT=("800", "200"))
    run(scenario())


def test_cancel_replace_bad_parameters_change_nothing(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            client = await funded_client(session, node.base, ADMIN_TOKEN, USDT="1000")
            status, old = await client.order(**LIMIT)
            assert status == 200, old
            ref = {"cancelOrderId": old["orderId"]}
            for bad, error in (
                ({"cancelReplaceMode": None}, {"code": -1102, "msg": "Mandatory parameter 'cancelReplaceMode' was not "
                                                                    "sent, was empty/null, or malformed."}),
                ({"cancelReplaceMode": "SOMETIMES"}, None),
                ({"cancelOrderId": None}, {"code": -1102, "msg": "Param 'cancelOrigClientOrderId' or 'cancelOrderId' "
                                                                "must be sent, but both were empty/null!"}),
                ({"price": "0.5"}, {"code": -1013, "msg": "Filter failure: NOTIONAL"}),
                ({"quantity": "0.000000001"}, {"code": -1111, "msg": "Parameter 'quantity' has too much precision."}),
                ({"cancelRestrictions": "ALWAYS"}, {"code": -1145, "msg": "Invalid cancelRestrictions"}),
                ({"orderRateLimitExceededMode": "MAYBE"}, None),
                ({"cancelNewClientOrderId": ""}, {"code": -1118, "msg": "New client order ID was empty."}),
                ({"extra": "1"}, {"code": -1104, "msg": "Not all sent parameters were read; read '10' parameter(s) but "
                                                       "was sent '11'."}),
            ):
                sent = {k: v for k, v in ({"cancelReplaceMode": "ALLOW_FAILURE"} | ref | LIMIT | bad).items()
                        if v is not None}
                status, doc = await client.signed("POST", "/api/v3/order/cancelReplace", **sent)
                assert status == 400, (bad, doc)
                if error is None:
                    assert doc["code"] == -1100 and next(iter(bad)) in doc["msg"], (bad, doc)
                else:
                    assert doc == error, (bad, doc)
            assert await open_ids(client) == [old["orderId"]]
            await expect_balances(client, USDT=("800", "200"))
            # a filter on the account's orders or the recent trades, checked before anything is
            # canceled (rest-api.md): a MARKET sell of 0.0001 BTC is worth under 5 USDT at the
            # average price of the last five minutes (a trade at 40000 just now, others lower)
            seller = await funded_client(session, node.base, ADMIN_TOKEN, BTC="1")
            buyer = await funded_client(session, node.base, ADMIN_TOKEN, USDT="1000")
            status, ask = await seller.order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC",
                                             quantity="0.001", price="40000")
            assert status == 200, ask
            status, bought = await buyer.order(symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="IOC",
                                               quantity="0.001", price="40000")
            assert status == 200 and bought["status"] == "FILLED", bought
            status, doc = await client.signed("POST", "/api/v3/order/cancelReplace", cancelReplaceMode="ALLOW_FAILURE",
                                              cancelOrderId=old["orderId"], symbol=SYMBOL, side="SELL", type="MARKET",
                                              quantity="0.0001")
            assert (status, doc) == (400, {"code": -1013, "msg": "Filter failure: NOTIONAL"}), doc
            assert await open_ids(client) == [old["orderId"]]
            await expect_balances(client, USDT=("800", "200"))
    run(scenario())


def test_a_stp_mode_the_symbol_does_not_allow_is_refused_minus_1013_on_every_order_path(node):
    """stp_faq.md: a selfTradePreventionMode the symbol does not allow is -1013 "This symbol does not
    allow the specified self-trade prevention mode.": Binance's TRANSFER (enums.md; trade groups,
    which the node has not, so no symbol allows it) for an order, a test order, a cancel-replace's
    new order and every kind of order list; a word that is no mode stays -1100. Nothing is placed,
    canceled or frozen."""
    async def scenario():
        async with aiohttp.ClientSession() as session:
            client = await funded_client(session, node.base, ADMIN_TOKEN, USDT="1000", BTC="1")
            status, old = await client.order(**LIMIT)
            assert status == 200, old
            not_allowed = {"code": -1013, "msg": "This symbol does not allow the specified self-trade prevention mode."}
            oco = {"symbol": SYMBOL, "side": "SELL", "quantity": "0.5", "aboveType": "LIMIT_MAKER", "abovePrice": "21000",
                   "belowType": "STOP_LOSS", "belowStopPrice": "19000"}
            working = {"symbol": SYMBOL, "workingType": "LIMIT", "workingSide": "BUY", "workingPrice": "20000",
                       "workingQuantity": "0.01", "workingTimeInForce": "GTC"}
            oto = working | {"pendingType": "LIMIT", "pendingSide": "SELL", "pendingPrice": "22000",
                             "pendingQuantity": "0.01", "pendingTimeInForce": "GTC"}
            otoco = working | {"pendingSide": "SELL", "pendingQuantity": "0.01", "pendingAboveType": "LIMIT_MAKER",
                               "pendingAbovePrice": "22000", "pendingBelowType": "STOP_LOSS", "pendingBelowStopPrice": "19000"}
            legacy_oco = {"symbol": SYMBOL, "side": "SELL", "quantity": "0.5", "price": "25000", "stopPrice": "15000"}
            replace = LIMIT | {"cancelReplaceMode": "ALLOW_FAILURE", "cancelOrderId": old["orderId"]}
            for path, params in (("/api/v3/order", LIMIT), ("/api/v3/order/test", LIMIT),
                                 ("/api/v3/order/cancelReplace", replace), ("/api/v3/orderList/oco", oco),
                                 ("/api/v3/order/oco", legacy_oco), ("/api/v3/orderList/oto", oto),
                                 ("/api/v3/orderList/otoco", otoco)):
                for mode in ("TRANSFER", "FOO", "transfer"):
                    status, doc = await client.signed("POST", path, **params, selfTradePreventionMode=mode)
                    assert status == 400, (path, mode, doc)
                    if mode == "TRANSFER":
                        assert doc == not_allowed, (path, doc)
                    else:
                        assert doc["code"] == -1100 and "'selfTradePreventionMode'" in doc["msg"], (path, mode, doc)
            assert await open_ids(client) == [old["orderId"]]
            assert await client.signed("GET", "/api/v3/openOrderList") == (200, [])
            await expect_balances(client, USDT=("800", "200"), BTC=("1", "0"))
    run(scenario())


# ------------------------------------------------------------------------------ python-binance


def test_python_binance_test_order_and_cancel_replace(node):
    from binance.exceptions import BinanceAPIException

    from tests.node.test_api_keys import binance_client

    async def make():
        async with aiohttp.ClientSession() as session:
            client = await funded_client(session, node.base, ADMIN_TOKEN, USDT="1000")
            return client.api_key, client.secret
    key, secret = run(make())
    client = binance_client(node, api_key=key, api_secret=secret)
    assert client.create_test_order(**LIMIT) == {}
    assert client.create_test_order(computeCommissionRates=True, **LIMIT)["standardCommissionForOrder"]["taker"] == \
        "0.00100000"
    order = client.create_order(**LIMIT)
    replaced = client.cancel_replace_order(cancelReplaceMode="STOP_ON_FAILURE", cancelOrderId=order["orderId"],
                                           **(LIMIT | {"price": "19000"}))
    assert replaced["cancelResult"] == "SUCCESS" and replaced["newOrderResponse"]["price"] == "19000.00000000"
    assert [o["orderId"] for o in client.get_open_orders(symbol=SYMBOL)] == [replaced["newOrderResponse"]["orderId"]]
    with pytest.raises(BinanceAPIException) as refused:
        client.cancel_replace_order(cancelReplaceMode="STOP_ON_FAILURE", cancelOrderId=order["orderId"], **LIMIT)
    assert (refused.value.status_code, refused.value.code) == (400, -2022)


# ---------------------------------------------------------------------- amend/keepPriority






def test_an_amends_answer_carries_the_orders_conditional_fields(node):
    """rest-api.md, the amend's answer: "refer to Conditional fields in Order Responses": a stop
    order's stopPrice (and a trailing stop's trailingDelta / trailingTime), strategyId and
    strategyType when the order was placed with them, as GET /api/v3/order shows them."""
    async def scenario():
        async with aiohttp.ClientSession() as session:
            client = await funded_client(session, node.base, ADMIN_TOKEN, BTC="1")
            for placed in ({"type": "STOP_LOSS_LIMIT", "timeInForce": "GTC", "price": "1000", "stopPrice": "1100",
                            "strategyType": "1000001"},
                           {"type": "STOP_LOSS", "trailingDelta": "200", "strategyId": "3"},
                           {"type": "LIMIT", "timeInForce": "GTC", "price": "900000"}):
                status, order = await client.order(symbol=SYMBOL, side="SELL", quantity="0.02", **placed)
                assert status == 200, order
                status, doc = await client.signed("PUT", "/api/v3/order/amend/keepPriority", symbol=SYMBOL,
                                                  orderId=order["orderId"], newQty="0.01")
                assert status == 200, doc
                status, shown = await client.signed("GET", "/api/v3/order", symbol=SYMBOL, orderId=order["orderId"])
                assert status == 200, shown
                conditional = {k: shown[k] for k in ("stopPrice", "trailingDelta", "trailingTime", "strategyId",
                                                     "strategyType") if k in shown and (k != "stopPrice" or "STOP" in shown["type"])}
                amended = doc["amendedOrder"]
                assert {k: amended[k] for k in conditional} == conditional, (amended, shown)
                assert set(amended) - {"workingTime"} == AMENDED_FIELDS | set(conditional), amended
                status, doc = await client.signed("DELETE", "/api/v3/order", symbol=SYMBOL, orderId=order["orderId"])
                assert status == 200, doc
    run(scenario())


AMENDED_FIELDS = {"symbol", "orderId", "orderListId", "origClientOrderId", "clientOrderId", "price", "qty", "executedQty",
                  "preventedQty", "quoteOrderQty", "cumulativeQuoteQty", "status", "timeInForce", "type", "side",
                  "selfTradePreventionMode"}


def test_amend_keeps_priority_frees_funds_and_reports_replaced(node):
    """(On ETHUSDT, where no other test of this module leaves bids above this one's.)"""

    async def scenario():
        async with aiohttp.ClientSession() as session:
            first = await funded_client(session, node.base, ADMIN_TOKEN, USDT="1000")
            second = await funded_client(session, node.base, ADMIN_TOKEN, USDT="1000")
            seller = await funded_client(session, node.base, ADMIN_TOKEN, ETH="1")
            ws = await user_data_stream(session, node, first)
            try:
                status, mine = await first.order(newClientOrderId="keep1", **(ETH_LIMIT | {"price": "10000", "quantity": "0.05"}))
                assert status == 200, mine
                status, later = await second.order(**(ETH_LIMIT | {"price": "10000", "quantity": "0.05"}))
                assert status == 200, later
                await expect_balances(first, USDT=("500", "500"))
                status, doc = await first.signed("PUT", "/api/v3/order/amend/keepPriority", symbol="ETHUSDT",
                                                 orderId=mine["orderId"], newQty="0.02", newClientOrderId="keep2")
                assert status == 200, doc
                amended = doc["amendedOrder"]
                assert (amended["orderId"], amended["origClientOrderId"], amended["clientOrderId"], amended["qty"],
                        amended["status"]) == (mine["orderId"], "keep1", "keep2", "0.02000000", "NEW")
                assert doc["transactTime"] > 0 and amended["orderListId"] == -1
                # answered once the 300 USDT the order no longer needs are free again
                balances = await first.balances()
                assert (D(balances["USDT"][0]), D(balances["USDT"][1])) == (D("800"), D("200"))
                report = await execution_report(ws, mine["orderId"], "REPLACED")
                assert (report["c"], report["C"], report["q"], report["X"]) == ("keep2", "keep1", "0.02000000", "NEW")
                # the answer's executionId is the REPLACED report's "I" (GET /api/v3/order/amendments
                # names an amend by it)
                assert doc["executionId"] == report["I"] > 0, (doc, report)
                status, doc = await first.signed("GET", "/api/v3/order", symbol="ETHUSDT", origClientOrderId="keep2")
                assert status == 200 and doc["origQty"] == "0.02000000", doc

                # still first in the queue at its price: a sell of 0.03 fills it before the later order
                status, sold = await seller.order(symbol="ETHUSDT", side="SELL", type="MARKET", quantity="0.03",
                                                  newOrderRespType="FULL")
                assert status == 200 and sold["status"] == "FILLED", sold
                report = await execution_report(ws, mine["orderId"], "TRADE")
                assert (report["X"], report["l"]) == ("FILLED", "0.02000000")
                status, doc = await second.signed("GET", "/api/v3/order", symbol="ETHUSDT", orderId=later["orderId"])
                assert doc["executedQty"] == "0.01000000", doc
                await expect_balances(first, USDT=("800", "0"))

                # allOrders (the history) shows the amended quantity and client id
                async def history():
                    status, doc = await first.signed("GET", "/api/v3/allOrders", symbol="ETHUSDT")
                    assert status == 200 and [(o["clientOrderId"], o["origQty"]) for o in doc] == [
                        ("keep2", "0.02000000")], doc
                await eventually(history)
            finally:
                await ws.close()
    run(scenario())


def test_amend_refusals_change_nothing(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            client = await funded_client(session, node.base, ADMIN_TOKEN, USDT="1000")
            other = await funded_client(session, node.base, ADMIN_TOKEN, USDT="1000")
            status, a = await client.order(newClientOrderId="a1", **LIMIT)
            status, b = await client.order(newClientOrderId="b1", **LIMIT)
            assert status == 200, b

            async def amend(who=client, **p):
                return await who.signed("PUT", "/api/v3/order/amend/keepPriority", **({"symbol": SYMBOL} | p))
            for (status, doc), error in (
                (await amend(orderId=a["orderId"], newQty="0.01"),
                 (-2038, "The requested action would change no state; rejecting")),
                (await amend(orderId=a["orderId"], newQty="0.02"), (-2038, "Order amend (quantity increase) is not supported.")),
                (await amend(orderId=a["orderId"], newQty="0.005", newClientOrderId="b1"), (-2038, "Duplicate order sent.")),
                (await amend(other, orderId=a["orderId"], newQty="0.005"), (-2038, "Unknown order sent.")),
                (await amend(orderId=a["orderId"], origClientOrderId="b1", newQty="0.005"), (-2038, "Unknown order sent.")),
                (await amend(orderId=a["orderId"], newQty="0.0000001"), (-1013, "Filter failure: LOT_SIZE")),
                (await amend(orderId=a["orderId"], newQty="0"), (-1013, "Filter failure: LOT_SIZE")),
                # 0.0002 x 20000 = 4 USDT, below NOTIONAL's 5: the order it would become fails the filter
                (await amend(orderId=a["orderId"], newQty="0.0002"), (-1013, "Filter failure: NOTIONAL")),
                (await amend(orderId=a["orderId"]), (-1102, "Mandatory parameter 'newQty' was not sent, was empty/null, "
                                                            "or malformed.")),
                (await amend(newQty="0.005"), (-1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both "
                                                      "were empty/null!")),
                (await amend(orderId=a["orderId"], newQty="0.005", newClientOrderId=""), (-1118, "New client order ID was empty.")),
                (await amend(orderId=a["orderId"], newQty="0.005", price="1"),
                 (-1104, "Not all sent parameters were read; read '5' parameter(s) but was sent '6'.")),
            ):
                assert status == 400 and (doc["code"], doc["msg"]) == error, (doc, error)
            status, doc = await client.signed("GET", "/api/v3/openOrders", symbol=SYMBOL)
            assert [(o["clientOrderId"], o["origQty"]) for o in doc] == [("a1", "0.01000000"), ("b1", "0.01000000")]
            await expect_balances(client, USDT=("600", "400"))
            # without newClientOrderId the order gets one of the node's
            status, doc = await amend(origClientOrderId="a1", newQty="0.005")
            assert status == 200 and doc["amendedOrder"]["clientOrderId"] == f"amend-{a['orderId']}", doc
            await expect_balances(client, USDT=("700", "300"))
    run(scenario())


# ---------------------------------------------------------------------- STP DECREMENT


def test_decrement_self_trade_prevention(node):
    """Binance's scenario G on a real node: the taker's 0.02 is prevented in full (EXPIRED_IN_MATCH),
    the maker stays open with 0.03 and preventedQuantity 0.02, and its freed 0.02 ETH is unlocked.
    (ETHUSDT at 50000: no other test of this module has orders near it.)"""
    async def scenario():
        async with aiohttp.ClientSession() as session:
            client = await funded_client(session, node.base, ADMIN_TOKEN, USDT="1000", ETH="0.05")
            ws = await user_data_stream(session, node, client)
            try:
                eth = {"symbol": "ETHUSDT", "type": "LIMIT", "timeInForce": "GTC", "price": "50000"}
                status, maker = await client.order(side="SELL", quantity="0.05", **eth)
                assert status == 200, maker
                status, taker = await client.order(side="BUY", quantity="0.02", selfTradePreventionMode="DECREMENT",
                                                   newOrderRespType="RESULT", **eth)
                assert status == 200, taker
                assert (taker["status"], taker["executedQty"], taker["preventedQuantity"]) == (
                    "EXPIRED_IN_MATCH", "0.00000000", "0.02000000"), taker
                status, doc = await client.signed("GET", "/api/v3/order", symbol="ETHUSDT", orderId=maker["orderId"])
                assert (doc["status"], doc["origQty"], doc["preventedQuantity"]) == ("NEW", "0.05000000", "0.02000000")
                report = await execution_report(ws, maker["orderId"], "TRADE_PREVENTION")
                assert (report["X"], report["A"], report["B"]) == ("NEW", "0.02000000", "0.02000000")
                report = await execution_report(ws, taker["orderId"], "TRADE_PREVENTION")
                assert (report["X"], report["A"]) == ("EXPIRED_IN_MATCH", "0.02000000")
                await expect_balances(client, ETH=("0.02", "0.03"))
                await expect_balances(client, USDT=("1000", "0"))
                async with session.get(node.base + "/api/v3/depth", params={"symbol": "ETHUSDT"}) as resp:
                    depth = await resp.json()
                assert ["50000.00000000", "0.03000000"] in depth["asks"], depth
            finally:
                await ws.close()
    run(scenario())


def test_an_order_without_stp_takes_binances_default_expire_maker(node):
    """The shipped symbols default to EXPIRE_MAKER, as Binance ships its own: an account's taker meeting
    its own resting order expires that maker (EXPIRED_IN_MATCH, funds unlocked, no trade, what it had
    left its preventedQuantity) and trades on with the next; exchangeInfo says so. EXPIRE_TAKER ends
    the taker so instead. (ETHUSDT at 40000: below the asks and above the bids the
    other tests of this module leave.)"""
    async def scenario():
        async with aiohttp.ClientSession() as session:
            client = await funded_client(session, node.base, ADMIN_TOKEN, USDT="2000", ETH="0.01")
            other = await funded_client(session, node.base, ADMIN_TOKEN, ETH="0.01")
            status, info = await client.public("/api/v3/exchangeInfo", symbol="ETHUSDT")
            assert info["symbols"][0]["defaultSelfTradePreventionMode"] == "EXPIRE_MAKER"
            eth = {"symbol": "ETHUSDT", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01"}
            status, mine = await client.order(side="SELL", price="40000", **eth)
            assert status == 200 and mine["selfTradePreventionMode"] == "EXPIRE_MAKER", mine
            status, theirs = await other.order(side="SELL", price="40001", **eth)
            assert status == 200, theirs
            status, buy = await client.order(side="BUY", price="40001", newOrderRespType="FULL", **eth)
            assert status == 200 and buy["status"] == "FILLED" and [f["price"] for f in buy["fills"]] == \
                ["40001.00000000"], buy
            status, doc = await client.signed("GET", "/api/v3/order", symbol="ETHUSDT", orderId=mine["orderId"])
            assert (doc["status"], doc["executedQty"]) == ("EXPIRED_IN_MATCH", "0.00000000"), doc
            assert doc["preventedQuantity"] == "0.01000000", doc  # all it had left (stp_faq: preventedQuantity)
            await expect_balances(client, ETH=("0.01999", "0"))  # its own 0.01 back, 0.01 bought less the 0.1% fee
            # EXPIRE_TAKER: the taker ends with what it had left prevented; the maker stays
            status, rest = await client.order(side="SELL", price="40000", **eth)
            status, taker = await client.order(side="BUY", price="40000", selfTradePreventionMode="EXPIRE_TAKER",
                                               newOrderRespType="RESULT", **eth)
            assert (taker["status"], taker["executedQty"]) == ("EXPIRED_IN_MATCH", "0.00000000"), taker
            status, doc = await client.signed("GET", "/api/v3/order", symbol="ETHUSDT", orderId=taker["orderId"])
            assert doc["preventedQuantity"] == "0.01000000", doc
            status, doc = await client.signed("GET", "/api/v3/order", symbol="ETHUSDT", orderId=rest["orderId"])
            assert doc["status"] == "NEW" and "preventedQuantity" not in doc, doc
            assert (await client.signed("DELETE", "/api/v3/order", symbol="ETHUSDT", orderId=rest["orderId"]))[0] == 200
    run(scenario())


# ------------------------------------------------------------------- client ids the node makes up


def test_a_made_up_client_id_never_takes_another_open_orders(node):
    """An order sent without newClientOrderId is named auto-<orderId> (an amend without one
    amend-<orderId>, an order list's leg auto-<orderId>), but a client may have chosen that very id
    for another open order. The new order is placed all the same (rest-api.md: the id is
    "automatically generated if not sent"), under another id, and each id keeps finding its own
    order. It once got the taken id: the book refused it as a duplicate, the client got 200 with a
    REJECTED order (an ACK: a plain success), and the id then found the refused order, not the live
    one, and a cancel by it answered -2011."""
    async def scenario():
        async with aiohttp.ClientSession() as session:
            client = await funded_client(session, node.base, ADMIN_TOKEN, USDT="10000", BTC="1")
            status, first = await client.order(**LIMIT)
            assert status == 200, first
            assert first["clientOrderId"] == f"auto-{first['orderId']}"
            for resp_type in ("RESULT", "ACK"):
                # the next order but one will be numbered `taken`: a client names an order so first
                status, named = await client.order(**LIMIT, newClientOrderId=f"auto-{first['orderId'] + 2}")
                assert status == 200 and named["status"] == "NEW", named
                taken = named["clientOrderId"]
                status, made_up = await client.order(**LIMIT, newOrderRespType=resp_type)
                assert status == 200, made_up
                assert f"auto-{made_up['orderId']}" == taken and made_up["clientOrderId"] == f"{taken}-1", made_up
                for order in (named, made_up):
                    status, shown = await client.signed("GET", "/api/v3/order", symbol=SYMBOL,
                                                        origClientOrderId=order["clientOrderId"])
                    assert status == 200 and (shown["orderId"], shown["status"]) == (order["orderId"], "NEW"), shown
                first = made_up
            assert len(await open_ids(client)) == 5

            # an amend without newClientOrderId: amend-<orderId>, taken by another open order
            status, named = await client.order(**LIMIT, newClientOrderId=f"amend-{first['orderId']}")
            assert status == 200, named
            status, doc = await client.signed("PUT", "/api/v3/order/amend/keepPriority", symbol=SYMBOL,
                                              orderId=first["orderId"], newQty="0.005")
            assert status == 200 and doc["amendedOrder"]["clientOrderId"] == f"amend-{first['orderId']}-1", doc
            status, shown = await client.signed("GET", "/api/v3/order", symbol=SYMBOL,
                                                origClientOrderId=f"amend-{first['orderId']}")
            assert status == 200 and shown["orderId"] == named["orderId"], shown

            # an order list's legs: the next order id's auto- name taken by an open order
            status, named = await client.order(**LIMIT)
            assert status == 200, named
            status, named = await client.order(**LIMIT, newClientOrderId=f"auto-{named['orderId'] + 2}")
            assert status == 200 and named["clientOrderId"] == f"auto-{named['orderId'] + 1}", named
            status, oco = await client.signed(
                "POST", "/api/v3/orderList/oco", symbol=SYMBOL, side="SELL", quantity="0.3", aboveType="LIMIT_MAKER",
                abovePrice="900000", belowType="STOP_LOSS_LIMIT", belowStopPrice="20", belowPrice="19",
                belowTimeInForce="GTC")
            assert status == 200 and oco["listOrderStatus"] == "EXECUTING", oco
            ids = {o["orderId"]: o["clientOrderId"] for o in oco["orders"]}
            assert ids == {named["orderId"] + 1: f"{named['clientOrderId']}-1",
                           named["orderId"] + 2: f"auto-{named['orderId'] + 2}"}, oco
            # an order list's own id: list-<orderListId>, taken by an open list
            status, oco2 = await client.signed(
                "POST", "/api/v3/orderList/oco", symbol=SYMBOL, side="SELL", quantity="0.3", aboveType="LIMIT_MAKER",
                abovePrice="900000", belowType="STOP_LOSS_LIMIT", belowStopPrice="20", belowPrice="19",
                belowTimeInForce="GTC", listClientOrderId=f"list-{oco['orderListId'] + 2}")
            assert status == 200, oco2
            status, oco3 = await client.signed(
                "POST", "/api/v3/orderList/oco", symbol=SYMBOL, side="SELL", quantity="0.3", aboveType="LIMIT_MAKER",
                abovePrice="900000", belowType="STOP_LOSS_LIMIT", belowStopPrice="20", belowPrice="19",
                belowTimeInForce="GTC")
            assert status == 200 and oco3["orderListId"] == oco["orderListId"] + 2, oco3
            assert oco3["listClientOrderId"] == f"{oco2['listClientOrderId']}-1", oco3
            for lst in (oco2, oco3):
                status, shown = await client.signed("GET", "/api/v3/orderList",
                                                    origClientOrderId=lst["listClientOrderId"])
                assert status == 200 and shown["orderListId"] == lst["orderListId"], shown
            # every open order answers to its own id; a cancel by a taken id cancels its owner
            status, opened = await client.signed("GET", "/api/v3/openOrders", symbol=SYMBOL)
            assert status == 200 and len({o["clientOrderId"] for o in opened}) == len(opened) == 14, opened
            status, canceled = await client.signed("DELETE", "/api/v3/order", symbol=SYMBOL,
                                                   origClientOrderId=named["clientOrderId"])
            assert status == 200 and canceled["orderId"] == named["orderId"], canceled
            status, doc = await client.signed("DELETE", "/api/v3/openOrders", symbol=SYMBOL)
            assert status == 200, doc
    run(scenario())
