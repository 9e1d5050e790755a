"""order.test, order.cancelReplace and order.amend.keepPriority over the WebSocket API: the REST
operations (api/orderops.py) in the WebSocket API's envelope, the same answers and the same errors,
a cancel-replace's failed halves in `error.data` as Binance sends them."""

from __future__ import annotations

import aiohttp

from tests.node.client import funded_client
from tests.ws_api.conftest import ADMIN_TOKEN, connect, run

SYMBOL = "BTCUSDT"
BID = {"symbol": SYMBOL, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01", "price": "20000"}


def test_order_test_cancel_replace_and_amend_over_the_websocket_api(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            client = await funded_client(session, node.base, ADMIN_TOKEN, USDT="300")
            api = await connect(session, node)

            async def call(method, **params):
                return await api.signed(method, client.api_key, client.secret, **params)

            # order.test: validated as REST validates it, nothing placed
            doc = await call("order.test", **BID)
            assert (doc["status"], doc["result"]) == (200, {}), doc
            status, rest = await client.signed("POST", "/api/v3/order/test", computeCommissionRates="true", **BID)
            doc = await call("order.test", computeCommissionRates="true", **BID)
            assert status == 200 and doc["result"] == rest, (doc, rest)
            doc = await call("order.test", **(BID | {"quantity": "0.000001"}))
            assert doc["status"] == 400 and doc["error"]["code"] == -1013, doc
            status, opened = await client.signed("GET", "/api/v3/openOrders", symbol=SYMBOL)
            assert opened == []

            placed = await call("order.place", newClientOrderId="old1", **BID)
            assert placed["status"] == 200, placed
            old = placed["result"]["orderId"]

            # order.cancelReplace: both halves; the money the old order held goes to the new one
            doc = await call("order.cancelReplace", cancelReplaceMode="STOP_ON_FAILURE", cancelOrderId=old,
                             newClientOrderId="new1", **(BID | {"price": "25000"}))
            assert doc["status"] == 200, doc
            result = doc["result"]
            assert (result["cancelResult"], result["newOrderResult"]) == ("SUCCESS", "SUCCESS")
            assert (result["cancelResponse"]["orderId"], result["newOrderResponse"]["clientOrderId"]) == (old, "new1")
            new = result["newOrderResponse"]["orderId"]
            status, opened = await client.signed("GET", "/api/v3/openOrders", symbol=SYMBOL)
            assert [o["orderId"] for o in opened] == [new]

            # a failed cancel under STOP_ON_FAILURE: -2022 with both halves in error.data, nothing changed
            doc = await call("order.cancelReplace", cancelReplaceMode="STOP_ON_FAILURE", cancelOrderId=999_999, **BID)
            assert doc["status"] == 400 and doc["error"]["code"] == -2022, doc
            assert (doc["error"]["data"]["cancelResult"], doc["error"]["data"]["newOrderResult"]) == \
                ("FAILURE", "NOT_ATTEMPTED"), doc
            status, rest = await client.signed("POST", "/api/v3/order/cancelReplace", cancelReplaceMode="STOP_ON_FAILURE",
                                               cancelOrderId=999_999, **BID)
            assert (status, rest) == (400, doc["error"]), rest

            # a cancelRestrictions it does not know: -1145 (web-socket-api.md), for order.cancel and
            # order.cancelReplace alike; nothing canceled
            invalid = {"code": -1145, "msg": "Invalid cancelRestrictions"}
            doc = await call("order.cancel", symbol=SYMBOL, orderId=new, cancelRestrictions="ONLY_FILLED")
            assert (doc["status"], doc["error"]) == (400, invalid), doc
            doc = await call("order.cancelReplace", cancelReplaceMode="ALLOW_FAILURE", cancelOrderId=new,
                             cancelRestrictions="ALWAYS", **BID)
            assert (doc["status"], doc["error"]) == (400, invalid), doc
            status, opened = await client.signed("GET", "/api/v3/openOrders", symbol=SYMBOL)
            assert [o["orderId"] for o in opened] == [new]

            # a selfTradePreventionMode of Binance's the symbol does not allow (stp_faq.md): -1013, as on
            # REST, for an order, a test order, a cancel-replace and an order list; nothing placed
            not_allowed = {"code": -1013, "msg": "This symbol does not allow the specified self-trade prevention mode."}
            oco = {"symbol": SYMBOL, "side": "BUY", "quantity": "0.001", "aboveType": "STOP_LOSS",
                   "aboveStopPrice": "30000", "belowType": "LIMIT_MAKER", "belowPrice": "10000"}
            for method, params in (("order.place", BID), ("order.test", BID), ("orderList.place.oco", oco),
                                   ("order.cancelReplace", BID | {"cancelReplaceMode": "ALLOW_FAILURE", "cancelOrderId": new})):
                doc = await call(method, selfTradePreventionMode="TRANSFER", **params)
                assert (doc["status"], doc["error"]) == (400, not_allowed), (method, doc)
            status, opened = await client.signed("GET", "/api/v3/openOrders", symbol=SYMBOL)
            assert [o["orderId"] for o in opened] == [new]

            # order.amend.keepPriority: the open order's quantity goes down in place
            doc = await call("order.amend.keepPriority", symbol=SYMBOL, orderId=new, newQty="0.004")
            assert doc["status"] == 200 and doc["result"]["executionId"] > 0, doc  # (its REPLACED report's "I")
            status, order = await client.signed("GET", "/api/v3/order", symbol=SYMBOL, orderId=new)
            assert (order["status"], order["origQty"]) == ("NEW", "0.00400000"), order
            doc = await call("order.amend.keepPriority", symbol=SYMBOL, orderId=new, newQty="0.005")
            assert doc["status"] == 400 and doc["error"]["code"] == -2038, doc
    run(scenario())
