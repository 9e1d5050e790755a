"""Read your own writes (DESIGN.md invariant 10, issue 14): once a client holds an order's answer, or
a fill on its user data stream, every REST read it makes (myTrades, allOrders, order, trades,
aggTrades, klines, tickers, account) reflects that order, with no retry and no sleep. A real node
whose Persist gathers 200 ms of input per transaction, so a read served from the history as it
happens to be would miss the trade."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
from decimal import Decimal as D

import aiohttp
import pytest

from tests.node.client import funded_client
from tests.node.conftest import ADMIN_TOKEN, run, serving_node

SYMBOL = "BTCUSDT"
ROUNDS = 40


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    with serving_node(tmp_path_factory.mktemp("ryw"), "[history]\ncommit_interval_ms = 200.0\n") as proc:
        yield proc


async def _reads_after_fill(maker, taker, fill: dict, order_id: int, rounds_done: int, price: str, qty: str) -> None:
    """Every read, right away, shows the trade `fill` of the taker's order `order_id`."""
    trade_id = fill["tradeId"]
    status, mine = await taker.signed("GET", "/api/v3/myTrades", symbol=SYMBOL)
    assert status == 200 and trade_id in [t["id"] for t in mine], (trade_id, mine[-3:])
    status, theirs = await maker.signed("GET", "/api/v3/myTrades", symbol=SYMBOL)
    assert status == 200 and trade_id in [t["id"] for t in theirs], (trade_id, theirs[-3:])
    status, orders = await taker.signed("GET", "/api/v3/allOrders", symbol=SYMBOL)
    assert status == 200 and {"orderId": order_id, "status": "FILLED"} in \
        [{"orderId": o["orderId"], "status": o["status"]} for o in orders], orders[-3:]
    status, order = await taker.signed("GET", "/api/v3/order", symbol=SYMBOL, orderId=order_id)
    assert status == 200 and order["status"] == "FILLED", order
    status, trades = await taker.public("/api/v3/trades", symbol=SYMBOL)
    assert status == 200 and trades[-1]["id"] == trade_id, (trade_id, trades[-3:])
    status, aggs = await taker.public("/api/v3/aggTrades", symbol=SYMBOL)
    assert status == 200 and aggs[-1]["l"] == trade_id, (trade_id, aggs[-3:])
    status, klines = await taker.public("/api/v3/klines", symbol=SYMBOL, interval="1m")
    assert status == 200 and sum(k[8] for k in klines) == rounds_done, (rounds_done, klines)
    status, ticker = await taker.public("/api/v3/ticker/24hr", symbol=SYMBOL)
    assert status == 200 and ticker["lastId"] == trade_id and ticker["count"] == rounds_done, ticker
    status, last = await taker.public("/api/v3/ticker/price", symbol=SYMBOL)
    assert status == 200 and D(last["price"]) == D(price), last
    balances = await taker.balances()
    assert D(balances["BTC"][0]) > 0 and D(balances["BTC"][1]) == 0, balances


def test_every_read_right_after_a_market_order_shows_it(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            maker = await funded_client(session, node.base, ADMIN_TOKEN, BTC="10")
            taker = await funded_client(session, node.base, ADMIN_TOKEN, USDT="1000000")
            for i in range(ROUNDS):
                price = str(50000 + i)
                status, sell = await maker.order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC",
                                                  quantity="0.01", price=price, newOrderRespType="RESULT")
                assert status == 200 and sell["status"] == "NEW", sell
                status, buy = await taker.order(symbol=SYMBOL, side="BUY", type="MARKET", quantity="0.01")
                assert status == 200 and buy["status"] == "FILLED" and len(buy["fills"]) == 1, buy
                await _reads_after_fill(maker, taker, buy["fills"][0], buy["orderId"], i + 1, price, "0.01")
    run(scenario())


def test_reads_right_after_a_fill_on_the_user_data_stream_show_it(node):
    """The maker learns of its fill from its user data stream (Push), not from an answer, and reads
    at once: Acquiring's views and the history may not have the fill yet when Push shows it."""
    async def scenario():
        async with aiohttp.ClientSession() as session:
            maker = await funded_client(session, node.base, ADMIN_TOKEN, BTC="10")
            taker = await funded_client(session, node.base, ADMIN_TOKEN, USDT="1000000")
            async with session.post(node.base + "/api/v3/userDataStream", headers={"X-MBX-APIKEY": maker.api_key}) as r:
                listen_key = (await r.json())["listenKey"]
            async with session.ws_connect(f"{node.ws}/ws/{listen_key}") as ws:
                for i in range(ROUNDS // 2):
                    status, sell = await maker.order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC",
                                                      quantity="0.02", price="40000", newOrderRespType="RESULT")
                    assert status == 200, sell
                    status, buy = await taker.order(symbol=SYMBOL, side="BUY", type="MARKET", quantity="0.02",
                                                    newOrderRespType="ACK")  # the taker does not wait
                    assert status == 200, buy
                    while True:
                        event = json.loads((await asyncio.wait_for(ws.receive(), 10)).data)
                        if event.get("e") == "executionReport" and event["i"] == sell["orderId"] and event["X"] == "FILLED":
                            break
                    trade_id = event["t"]
                    status, mine = await maker.signed("GET", "/api/v3/myTrades", symbol=SYMBOL)
                    assert status == 200 and trade_id in [t["id"] for t in mine], (trade_id, mine[-3:])
                    status, order = await maker.signed("GET", "/api/v3/order", symbol=SYMBOL, orderId=sell["orderId"])
                    assert status == 200 and order["status"] == "FILLED", order
                    status, opens = await maker.signed("GET", "/api/v3/openOrders", symbol=SYMBOL)
                    assert status == 200 and opens == [], opens
                    status, trades = await maker.public("/api/v3/trades", symbol=SYMBOL)
                    assert status == 200 and trade_id in [t["id"] for t in trades], (trade_id, trades[-3:])
                    status, orders = await maker.signed("GET", "/api/v3/allOrders", symbol=SYMBOL)
                    assert status == 200 and {"orderId": sell["orderId"], "status": "FILLED"} in \
                        [{"orderId": o["orderId"], "status": o["status"]} for o in orders], orders[-3:]
                    status, aggs = await maker.public("/api/v3/aggTrades", symbol=SYMBOL, fromId=trade_id)
                    assert status == 200 and [a["l"] for a in aggs][:1] == [trade_id], (trade_id, aggs)
                    status, ticker = await maker.public("/api/v3/ticker/24hr", symbol=SYMBOL)
                    assert status == 200 and ticker["lastId"] >= trade_id, (trade_id, ticker)
                    status, klines = await maker.public("/api/v3/klines", symbol=SYMBOL, interval="1m")
                    counted.append(sum(k[8] for k in klines))
                    assert status == 200 and counted[-1] >= base_count + i + 1, (i, counted, klines)
    counted: list[int] = []
    base_count = 0

    async def trades_so_far() -> int:
        async with aiohttp.ClientSession() as session:
            async with session.get(node.base + "/api/v3/ticker/24hr", params={"symbol": SYMBOL}) as resp:
                return (await resp.json())["count"]
    base_count = run(trades_so_far())
    run(scenario())


def test_depth_and_book_ticker_right_after_an_ack_show_the_order(node):
    """The book's views are Acquiring's, kept from Match's reports, which come after the ACK: without
    the barrier depth and bookTicker showed the book one order behind (a review found it so on every
    round)."""
    async def scenario():
        async with aiohttp.ClientSession() as session:
            client = await funded_client(session, node.base, ADMIN_TOKEN, USDT="100000")
            match = node.stage_pids()["match-0"]
            for i in range(ROUNDS):
                price = f"{2000 + i}.00"
                # every other round Match is held until after the ACK (an ACK waits for the journal
                # only), so its report comes later for certain; else as it happens
                held = i % 2 == 0
                if held:
                    os.kill(match, signal.SIGSTOP)
                try:
                    status, ack = await client.order(symbol="ETHUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                                                     quantity="0.01", price=price, newOrderRespType="ACK")
                finally:
                    if held:
                        threading.Timer(0.2, os.kill, (match, signal.SIGCONT)).start()  # (whatever fails)
                assert status == 200 and set(ack) == {"symbol", "orderId", "orderListId", "clientOrderId",
                                                      "transactTime"}, ack
                status, depth = await client.public("/api/v3/depth", symbol="ETHUSDT", limit=1)
                assert status == 200 and depth["bids"] == [[f"{price}000000", "0.01000000"]], (price, depth)
                status, best = await client.public("/api/v3/ticker/bookTicker", symbol="ETHUSDT")
                assert status == 200 and best["bidPrice"] == f"{price}000000", (price, best)
            status, doc = await client.signed("DELETE", "/api/v3/openOrders", symbol="ETHUSDT")
            assert status == 200 and len(doc) == ROUNDS, doc
    run(scenario())


def test_reads_of_an_idle_node_do_not_wait(node):
    """Nothing written since the last completed barrier: reads go ahead at once (no marker)."""
    async def scenario():
        async with aiohttp.ClientSession() as session:
            client = await funded_client(session, node.base, ADMIN_TOKEN, USDT="10")
            await client.signed("GET", "/api/v3/myTrades", symbol=SYMBOL)  # the barrier after the deposit
            loop = asyncio.get_running_loop()
            started = loop.time()
            for _ in range(50):
                status, _doc = await client.public("/api/v3/trades", symbol=SYMBOL, limit=1)
                assert status == 200
            assert (loop.time() - started) / 50 < 0.05  # no 200 ms commit interval per read
    run(scenario())
