"""Stop orders against a real node over HTTP and WebSocket (issue 14, "Orders that protect
positions"): a STOP_LOSS_LIMIT waits off the book with its funds frozen, is refused where it would
trigger at once, triggers when a trade reaches its stop price and works as a LIMIT order, and its
user data stream tells each step; a trailing stop sell triggers when the price falls back from its
highest by its trailingDelta, and one outside TRAILING_DELTA changes nothing; a pending stop, and a
trailing stop's best price, survive a clean restart (snapshots) and a kill -9 (journal replay)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import signal
import time
from decimal import Decimal as D
from urllib.parse import urlencode

import aiohttp
import pytest

from tests.conftest import eventually
from tests.node.client import Client, execution_report, expect_balances, funded_client, user_data_stream
from tests.node.conftest import ADMIN_TOKEN, free_port, node_on, serving_node, wait_http

SYMBOL = "BTCUSDT"
STOP = {"symbol": SYMBOL, "side": "SELL", "type": "STOP_LOSS_LIMIT", "timeInForce": "GTC", "quantity": "0.5",
        "price": "48900"}


def run(coro):
    return asyncio.run(coro)


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    with serving_node(tmp_path_factory.mktemp("stops")) as proc:
        yield proc




async def trade_at(seller: Client, buyer: Client, price: str, qty: str = "0.01") -> None:
    """One trade at `price`: the symbol's last price becomes `price`."""
    status, doc = await seller.order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC", quantity=qty, price=price)
    assert status == 200, doc
    status, doc = await buyer.order(symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="IOC", quantity=qty, price=price)
    assert status == 200 and doc["status"] == "FILLED", doc


async def query_order(client: Client, order_id: int) -> dict:
    status, doc = await client.signed("GET", "/api/v3/order", symbol=SYMBOL, orderId=order_id)
    assert status == 200, doc
    return doc


def test_a_stop_loss_limit_waits_then_triggers_when_a_trade_crosses_its_stop(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            maker = await funded_client(session, node.base, ADMIN_TOKEN, BTC="1")
            taker = await funded_client(session, node.base, ADMIN_TOKEN, USDT="100000")
            owner = await funded_client(session, node.base, ADMIN_TOKEN, BTC="1")
            bidder = await funded_client(session, node.base, ADMIN_TOKEN, USDT="100000")
            async with session.post(node.base + "/api/v3/userDataStream", headers={"X-MBX-APIKEY": owner.api_key}) as resp:
                key = (await resp.json())["listenKey"]
            ws = await session.ws_connect(f"{node.ws}/ws/{key}")
            await trade_at(maker, taker, "50000")  # the last price: 50,000

            # a stop the last price has already reached is an error, and freezes nothing
            status, doc = await owner.order(**STOP, stopPrice="50000")
            assert (status, doc) == (400, {"code": -2010, "msg": "Stop price would trigger immediately."})
            await expect_balances(owner, BTC=("1", "0"))

            # placed: NEW and not working, its quantity frozen, nothing on the book (Binance answers ACK)
            status, placed = await owner.order(**STOP, stopPrice="49000", newClientOrderId="protect")
            assert status == 200 and list(placed) == ["symbol", "orderId", "orderListId", "clientOrderId", "transactTime"]
            order_id = placed["orderId"]
            await expect_balances(owner, BTC=("0.5", "0.5"))
            doc = await query_order(owner, order_id)
            assert (doc["status"], doc["type"], doc["isWorking"], doc["workingTime"], doc["clientOrderId"]) == (
                "NEW", "STOP_LOSS_LIMIT", False, -1, "protect")
            assert (D(doc["stopPrice"]), D(doc["price"]), D(doc["origQty"])) == (D(49000), D(48900), D("0.5"))
            status, open_orders = await owner.signed("GET", "/api/v3/openOrders", symbol=SYMBOL)
            assert status == 200 and [o["orderId"] for o in open_orders] == [order_id]
            status, depth = await owner.public("/api/v3/depth", symbol=SYMBOL)
            assert status == 200 and depth["asks"] == [], depth

            # a bid at 49,000 and a trade there: the stop triggers, sells into the rest of that bid as a
            # LIMIT at 48,900 and rests with what is left
            status, bid = await bidder.order(symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="GTC",
                                             quantity="0.2", price="49000")
            assert status == 200, bid
            assert (await query_order(owner, order_id))["isWorking"] is False  # 49,000 bid alone moves no price
            status, sold = await maker.order(symbol=SYMBOL, side="SELL", type="MARKET", quantity="0.1")
            assert status == 200 and sold["status"] == "FILLED" and D(sold["fills"][0]["price"]) == D(49000), sold

            async def triggered():
                doc = await query_order(owner, order_id)
                assert (doc["status"], D(doc["executedQty"]), doc["isWorking"]) == ("PARTIALLY_FILLED", D("0.1"), True), doc
                assert doc["workingTime"] >= placed["transactTime"] and D(doc["cummulativeQuoteQty"]) == D(4900)
            await eventually(triggered)
            await expect_balances(owner, BTC=("0.5", "0.4"), USDT=("4895.1", "0"))  # 4,900 less 0.1%
            await expect_balances(bidder, BTC=("0.1998", "0"), USDT=("90200", "0"))
            status, depth = await owner.public("/api/v3/depth", symbol=SYMBOL)
            assert [[D(p), D(q)] for p, q in depth["asks"]] == [[D(48900), D("0.4")]] and depth["bids"] == [], depth
            status, trades = await owner.signed("GET", "/api/v3/myTrades", symbol=SYMBOL, orderId=order_id)
            assert status == 200 and [(D(t["price"]), D(t["qty"]), t["isMaker"]) for t in trades] == [
                (D(49000), D("0.1"), False)], trades

            # the user data stream: NEW (not working, "P" the stop), NEW again at the trigger, the fill
            reports = []
            while len(reports) < 3:
                msg = await asyncio.wait_for(ws.receive(), 10)
                event = json.loads(msg.data)
                if event["e"] == "executionReport" and event["i"] == order_id:
                    reports.append(event)
            assert [(r["x"], r["X"], r["w"], "W" in r, r["o"], D(r["P"])) for r in reports] == [
                ("NEW", "NEW", False, False, "STOP_LOSS_LIMIT", D(49000)),
                ("NEW", "NEW", True, True, "STOP_LOSS_LIMIT", D(49000)),
                ("TRADE", "PARTIALLY_FILLED", True, True, "STOP_LOSS_LIMIT", D(49000)),
            ]
            assert reports[1]["W"] == (await query_order(owner, order_id))["workingTime"]
            assert (D(reports[2]["l"]), D(reports[2]["L"]), reports[2]["c"]) == (D("0.1"), D(49000), "protect")
            await ws.close()

            status, canceled = await owner.signed("DELETE", "/api/v3/order", symbol=SYMBOL, orderId=order_id)
            assert status == 200 and canceled["status"] == "CANCELED" and D(canceled["stopPrice"]) == D(49000), canceled
            await expect_balances(owner, BTC=("0.9", "0"))

            # a TAKE_PROFIT buy (a market buy by quantity once triggered) holds all free quote until it ends
            status, tp = await bidder.order(symbol=SYMBOL, side="BUY", type="TAKE_PROFIT", quantity="0.01",
                                            stopPrice="40000", newOrderRespType="RESULT")
            assert status == 200 and (tp["status"], tp["workingTime"], D(tp["stopPrice"])) == ("NEW", -1, D(40000)), tp
            await expect_balances(bidder, USDT=("0", "90200"))
            status, doc = await bidder.signed("DELETE", "/api/v3/order", symbol=SYMBOL, orderId=tp["orderId"])
            assert status == 200 and doc["status"] == "CANCELED", doc
            await expect_balances(bidder, USDT=("90200", "0"))
            status, info = await owner.public("/api/v3/exchangeInfo", symbol=SYMBOL)
            assert {"STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"} <= set(info["symbols"][0]["orderTypes"])
    run(scenario())


def test_python_binance_places_a_stop_loss_limit_and_sees_it_trigger(node):
    """The flow of issue 14's Tests section with a widely used client library, as a bot writes it."""
    import binance  # python-binance, a dev dependency: missing, the test fails rather than skips
    from binance.exceptions import BinanceAPIException

    async def accounts():
        async with aiohttp.ClientSession() as session:
            return [await funded_client(session, node.base, ADMIN_TOKEN, **funds)
                    for funds in ({"BTC": "1"}, {"USDT": "100000"}, {"BTC": "1"})]
    maker, taker, owner = run(accounts())

    def client(c: Client):
        bc = binance.Client(ping=False, api_key=c.api_key, api_secret=c.secret)
        bc.API_URL = node.base + "/api"
        return bc
    maker, taker, owner = client(maker), client(taker), client(owner)
    maker.order_limit_sell(symbol=SYMBOL, quantity="0.01", price="30000")
    taker.order_limit_buy(symbol=SYMBOL, quantity="0.01", price="30000", timeInForce="IOC")  # last price 30,000
    with pytest.raises(BinanceAPIException) as refused:
        owner.create_order(symbol=SYMBOL, side="SELL", type="STOP_LOSS_LIMIT", timeInForce="GTC", quantity="0.1",
                           price="29000", stopPrice="30000")
    assert (refused.value.code, refused.value.message) == (-2010, "Stop price would trigger immediately.")
    placed = owner.create_order(symbol=SYMBOL, side="SELL", type="STOP_LOSS_LIMIT", timeInForce="GTC",
                                quantity="0.1", price="29000", stopPrice="29500")
    order = owner.get_order(symbol=SYMBOL, orderId=placed["orderId"])
    assert (order["status"], order["isWorking"], order["stopPrice"]) == ("NEW", False, "29500.00000000")
    assert next(b for b in owner.get_account()["balances"] if b["asset"] == "BTC")["locked"] == "0.10000000"
    taker.order_limit_buy(symbol=SYMBOL, quantity="0.2", price="29500")
    maker.order_market_sell(symbol=SYMBOL, quantity="0.05")  # a trade at 29,500: the stop triggers

    async def triggered():
        order = owner.get_order(symbol=SYMBOL, orderId=placed["orderId"])
        assert (order["status"], order["isWorking"], order["executedQty"]) == ("FILLED", True, "0.10000000"), order
    run(eventually(triggered))
    trades = owner.get_my_trades(symbol=SYMBOL, orderId=placed["orderId"])
    assert [(t["price"], t["qty"]) for t in trades] == [("29500.00000000", "0.10000000")]


def test_python_binance_places_a_trailing_take_profit_that_activates_then_triggers(node):
    """A TAKE_PROFIT sell with an activation price (stopPrice 41,000) and trailingDelta 200 (2%), as
    python-binance sends it: nothing until a trade reaches 41,000, then it tracks the highest price
    (42,000) and sells at market at the first trade 2% below it (41,160)."""
    from tests.node.test_api_keys import binance_client

    async def accounts():
        async with aiohttp.ClientSession() as session:
            return [await funded_client(session, node.base, ADMIN_TOKEN, **funds)
                    for funds in ({"BTC": "1"}, {"USDT": "100000"}, {"BTC": "1"})]
    maker, taker, owner = [binance_client(node, api_key=c.api_key, api_secret=c.secret) for c in run(accounts())]

    def trade_at(price: str) -> None:
        maker.order_limit_sell(symbol=SYMBOL, quantity="0.01", price=price)
        assert taker.order_limit_buy(symbol=SYMBOL, quantity="0.01", price=price, timeInForce="IOC")["status"] == "FILLED"
    trade_at("40000")
    placed = owner.create_order(symbol=SYMBOL, side="SELL", type="TAKE_PROFIT", quantity="0.1", stopPrice="41000",
                                trailingDelta=200)
    order = owner.get_order(symbol=SYMBOL, orderId=placed["orderId"])
    assert (order["status"], order["isWorking"], order["trailingDelta"], order["trailingTime"], order["stopPrice"]) == (
        "NEW", False, 200, -1, "41000.00000000"), order
    trade_at("41000")  # its activation price: it starts tracking, 41,000 its highest

    async def tracking():
        order = owner.get_order(symbol=SYMBOL, orderId=placed["orderId"])
        assert order["trailingTime"] >= placed["transactTime"] and order["isWorking"] is False, order
        return order["trailingTime"]
    started = run(eventually(tracking))
    trade_at("42000")  # its highest: 2% below is 41,160
    trade_at("41200")
    assert owner.get_order(symbol=SYMBOL, orderId=placed["orderId"])["isWorking"] is False
    taker.order_limit_buy(symbol=SYMBOL, quantity="0.2", price="41160")
    maker.order_market_sell(symbol=SYMBOL, quantity="0.01")  # a trade at 41,160: it triggers

    async def triggered():
        order = owner.get_order(symbol=SYMBOL, orderId=placed["orderId"])
        assert (order["status"], order["isWorking"], order["executedQty"], order["trailingTime"]) == (
            "FILLED", True, "0.10000000", started), order
    run(eventually(triggered))
    trades = owner.get_my_trades(symbol=SYMBOL, orderId=placed["orderId"])
    assert [(t["price"], t["qty"], t["isMaker"]) for t in trades] == [("41160.00000000", "0.10000000", False)]
    taker.cancel_order(symbol=SYMBOL, orderId=taker.get_open_orders(symbol=SYMBOL)[0]["orderId"])


def test_a_trailing_stop_sell_triggers_when_the_price_falls_back_by_its_delta(node):
    """Binance's trailing-stop FAQ, scenario E: a STOP_LOSS_LIMIT sell with trailingDelta 100 (1%)
    and no stopPrice tracks the highest trade price from its placement on; a rise moves it up, a
    fall of less than 1% from it does nothing, a fall of 1% triggers it."""
    async def scenario():
        async with aiohttp.ClientSession() as session:
            maker = await funded_client(session, node.base, ADMIN_TOKEN, BTC="1")
            taker = await funded_client(session, node.base, ADMIN_TOKEN, USDT="100000")
            owner = await funded_client(session, node.base, ADMIN_TOKEN, BTC="1")
            bidder = await funded_client(session, node.base, ADMIN_TOKEN, USDT="100000")
            await trade_at(maker, taker, "50000")
            status, info = await owner.public("/api/v3/exchangeInfo", symbol=SYMBOL)
            symbol = info["symbols"][0]
            assert symbol["allowTrailingStop"] is True
            assert {"filterType": "TRAILING_DELTA", "minTrailingAboveDelta": 10, "maxTrailingAboveDelta": 2000,
                    "minTrailingBelowDelta": 10, "maxTrailingBelowDelta": 2000} in symbol["filters"]

            # outside TRAILING_DELTA (10..2000 BIPS): Binance's filter failure, nothing frozen or open
            for delta in ("9", "2001"):
                status, doc = await owner.order(**STOP, trailingDelta=delta)
                assert (status, doc) == (400, {"code": -1013, "msg": "Filter failure: TRAILING_DELTA"})
            await expect_balances(owner, BTC=("1", "0"))
            status, open_orders = await owner.signed("GET", "/api/v3/openOrders", symbol=SYMBOL)
            assert (status, open_orders) == (200, [])

            ws = await user_data_stream(session, node, owner)
            status, placed = await owner.order(**STOP, trailingDelta="100", newOrderRespType="RESULT")
            assert status == 200 and (placed["status"], placed["trailingDelta"], placed["stopPrice"]) == (
                "NEW", 100, "0.00000000"), placed
            order_id = placed["orderId"]
            await expect_balances(owner, BTC=("0.5", "0.5"))  # frozen as any stop sell: its quantity
            new = await execution_report(ws, order_id, "NEW")
            assert (new["o"], new["w"], new["d"]) == ("STOP_LOSS_LIMIT", False, 100), new

            async def tracking():  # no stopPrice: it tracks prices from its placement on
                doc = await query_order(owner, order_id)
                assert (doc["status"], doc["isWorking"], doc["workingTime"], doc["trailingDelta"]) == (
                    "NEW", False, -1, 100), doc
                assert doc["trailingTime"] >= placed["transactTime"], doc
                return doc
            started = (await eventually(tracking))["trailingTime"]
            await trade_at(maker, taker, "50500")  # the highest: 1% below it is 49,995
            await trade_at(maker, taker, "50000")  # 0.99% below: nothing
            assert (await query_order(owner, order_id))["isWorking"] is False

            # a bid, and a trade at 49,990 (1% below 50,500 and more): it triggers and sells into the bid
            status, bid = await bidder.order(symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="GTC",
                                             quantity="1", price="49990")
            assert status == 200, bid
            status, sold = await maker.order(symbol=SYMBOL, side="SELL", type="MARKET", quantity="0.01")
            assert status == 200 and D(sold["fills"][0]["price"]) == D(49990), sold

            async def triggered():
                doc = await query_order(owner, order_id)
                assert (doc["status"], D(doc["executedQty"]), doc["isWorking"]) == ("FILLED", D("0.5"), True), doc
                assert (doc["trailingDelta"], doc["trailingTime"]) == (100, started), doc
            await eventually(triggered)
            await expect_balances(owner, BTC=("0.5", "0"), USDT=("24970.005", "0"))  # 0.5 x 49,990 less 0.1%
            working = await execution_report(ws, order_id, "NEW")  # the trigger: working, "D" when it started
            trade = await execution_report(ws, order_id, "TRADE")
            assert (working["w"], working["d"], working["D"]) == (True, 100, started), working
            assert (trade["X"], D(trade["L"]), trade["d"], trade["D"]) == ("FILLED", D(49990), 100, started), trade
            await ws.close()
            status, doc = await bidder.signed("DELETE", "/api/v3/openOrders", symbol=SYMBOL)
            assert status == 200, doc
    run(scenario())


def test_the_seed_endpoint_takes_a_stop_order_too(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            client = await funded_client(session, node.base, ADMIN_TOKEN, BTC="1")

            async def seed_order(**fields) -> dict:
                body = json.dumps({"symbol": SYMBOL, "side": "SELL", "type": "STOP_LOSS_LIMIT", "timeInForce": "GTC",
                                   "price": "10000", "quantity": "0.01", **fields}).encode()
                query = urlencode({"timestamp": int(time.time() * 1000)})
                sig = hmac.new(client.secret.encode(), (query + body.decode()).encode(), hashlib.sha256).hexdigest()
                async with session.post(f"{node.base}/api/spot/v2/?{query}&signature={sig}", data=body,
                                        headers={"X-MBX-APIKEY": client.api_key,
                                                 "Content-Type": "application/json"}) as resp:
                    doc = await resp.json()
                    assert resp.status == 200, doc
                return await query_order(client, doc["orderId"])
            doc = await seed_order(stopPrice="10100")
            assert (doc["type"], doc["status"], doc["isWorking"], D(doc["stopPrice"])) == ("STOP_LOSS_LIMIT", "NEW", False, D(10100))
            doc = await seed_order(stopPrice="10050", trailingDelta=150)  # a trailing one, with an activation price
            assert (doc["status"], doc["isWorking"], doc["trailingDelta"], doc["trailingTime"]) == ("NEW", False, 150, -1)
    run(scenario())


def test_a_pending_stop_survives_a_clean_restart_and_a_kill_9(tmp_path):
    """The pending stop and the last price it compares with live in Match's snapshot (clean stop) and
    come back from the journal (kill -9): after each restart it is still pending, still refuses to be
    placed where it would trigger, and triggers on the first trade that reaches it. A trailing stop
    sell (5%) keeps the highest price it saw the same way: 52,000 before the clean restart, a lower
    high (51,000) after it, then a kill -9; it triggers at 49,400 (5% below 52,000), which it would
    not do had it lost its best price (5% below 51,000 is 48,450)."""
    data, http, ws = tmp_path / "data", free_port(), free_port()
    base = f"http://127.0.0.1:{http}"
    clients: dict[str, Client] = {}

    async def with_session(body):
        async with aiohttp.ClientSession() as session:
            for client in clients.values():
                client.session = session
            return await body(session)

    async def first(session):
        clients["maker"] = await funded_client(session, base, ADMIN_TOKEN, BTC="1")
        clients["taker"] = await funded_client(session, base, ADMIN_TOKEN, USDT="100000")
        clients["owner"] = await funded_client(session, base, ADMIN_TOKEN, BTC="1")
        await trade_at(clients["maker"], clients["taker"], "50000")
        status, doc = await clients["owner"].order(**STOP, stopPrice="49000")
        assert status == 200, doc
        clients["trailer"] = await funded_client(session, base, ADMIN_TOKEN, BTC="1")
        status, trailing = await clients["trailer"].order(symbol=SYMBOL, side="SELL", type="STOP_LOSS", quantity="0.01",
                                                          trailingDelta="500")
        assert status == 200, trailing
        await trade_at(clients["maker"], clients["taker"], "52000")  # its best price
        await trade_at(clients["maker"], clients["taker"], "50000")  # (3.8% below: nothing)
        return doc["orderId"], trailing["orderId"]

    async def still_trailing(session):
        doc = await query_order(clients["trailer"], trailing_id)
        assert (doc["status"], doc["isWorking"], doc["trailingDelta"], doc["trailingTime"]) == (
            "NEW", False, 500, trailing_time), doc
        await expect_balances(clients["trailer"], BTC=("0.99", "0.01"))

    async def still_pending(session):
        owner = clients["owner"]
        doc = await query_order(owner, order_id)
        assert (doc["status"], doc["isWorking"], doc["workingTime"], D(doc["stopPrice"])) == ("NEW", False, -1, D(49000))
        await expect_balances(owner, BTC=("0.5", "0.5"))
        status, doc = await owner.order(**(STOP | {"quantity": "0.1"}), stopPrice="50000")  # the last price came back
        assert (status, doc.get("code")) == (400, -2010), doc

    with node_on(tmp_path, "first", data, http, ws=ws) as node:
        wait_http(base, node)
        order_id, trailing_id = run(with_session(first))
        trailing_time = run(with_session(lambda _: query_order(clients["trailer"], trailing_id)))["trailingTime"]
        assert trailing_time > 0
    with node_on(tmp_path, "second", data, http, ws=ws) as node:
        wait_http(base, node)
        run(with_session(still_pending))
        run(with_session(still_trailing))

        async def lower_high(session):
            await trade_at(clients["maker"], clients["taker"], "51000")
            await trade_at(clients["maker"], clients["taker"], "50000")
        run(with_session(lower_high))
        os.killpg(node.proc.pid, signal.SIGKILL)  # nothing written at the end: the journal replays it
        node.proc.wait(30)
    with node_on(tmp_path, "third", data, http, ws=ws) as node:
        wait_http(base, node)
        run(with_session(still_pending))
        run(with_session(still_trailing))

        async def trail(session):
            await trade_at(clients["maker"], clients["taker"], "49400")  # 5% below 52,000

            async def done():  # a market sell with no bid to take: it triggered and expired
                doc = await query_order(clients["trailer"], trailing_id)
                assert (doc["status"], doc["isWorking"], doc["trailingTime"]) == ("EXPIRED", True, trailing_time), doc
            await eventually(done)
            await expect_balances(clients["trailer"], BTC=("1", "0"))
        run(with_session(trail))

        async def trigger(session):
            await trade_at(clients["maker"], clients["taker"], "49000")

            async def done():
                doc = await query_order(clients["owner"], order_id)
                assert doc["isWorking"] is True and doc["status"] == "NEW" and doc["workingTime"] > 0, doc
            await eventually(done)
            status, depth = await clients["owner"].public("/api/v3/depth", symbol=SYMBOL)
            assert [[D(p), D(q)] for p, q in depth["asks"]] == [[D(48900), D("0.5")]], depth
        run(with_session(trigger))
