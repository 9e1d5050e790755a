"""End to end over HTTP against a real node: two funded accounts trade every order type; balances,
statuses, trades and candles are checked exactly, and money is conserved."""

from __future__ import annotations

import asyncio
import json
import os
import random
from decimal import Decimal as D

import aiohttp

from tests.conftest import eventually
from tests.node.client import expect_balances, funded_client, user_data_stream
from tests.node.conftest import ADMIN_TOKEN, run


def dec(doc: dict, *keys: str) -> tuple[D, ...]:
    return tuple(D(doc[k]) for k in keys)




def test_limit_orders_trade_at_the_makers_price_and_settle_exactly(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            seller = await funded_client(session, node.base, ADMIN_TOKEN, BTC="2")
            buyer = await funded_client(session, node.base, ADMIN_TOKEN, USDT="100000")
            status, sell = await seller.order(symbol="BTCUSDT", side="SELL", type="LIMIT", timeInForce="GTC",
                                              quantity="1", price="50000", newOrderRespType="RESULT")
            assert status == 200, sell
            assert sell["status"] == "NEW" and "code" not in sell
            await expect_balances(seller, BTC=("1", "1"))
            status, buy = await buyer.order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                                            quantity="1.5", price="50100", newOrderRespType="FULL")
            assert status == 200, buy
            assert buy["status"] == "PARTIALLY_FILLED"
            assert dec(buy, "executedQty", "cummulativeQuoteQty", "origQty", "price") == (D(1), D(50000), D("1.5"), D(50100))
            assert len(buy["fills"]) == 1
            fill = buy["fills"][0]
            assert (D(fill["price"]), D(fill["qty"]), D(fill["commission"]), fill["commissionAsset"]) == (D(50000), D(1), D("0.001"), "BTC")
            # seller: 1 BTC sold at 50,000 less 0.1% fee; buyer: 1 BTC less fee, 0.5 BTC x 50,100 still
            # locked (the 100 it saved on the fill free again)
            await expect_balances(seller, BTC=("1", "0"), USDT=("49950", "0"))
            await expect_balances(buyer, BTC=("0.999", "0"), USDT=("24950", "25050"))
            status, order = await seller.signed("GET", "/api/v3/order", symbol="BTCUSDT", orderId=sell["orderId"])
            assert status == 200 and order["status"] == "FILLED", order
            # the rest of the buy is on the book
            status, depth = await buyer.public("/api/v3/depth", symbol="BTCUSDT", limit=5)
            assert status == 200 and [[D(p), D(q)] for p, q in depth["bids"]] == [[D(50100), D("0.5")]] and depth["asks"] == []
            status, canceled = await buyer.signed("DELETE", "/api/v3/order", symbol="BTCUSDT", orderId=buy["orderId"])
            assert status == 200 and canceled["status"] == "CANCELED", canceled
            await expect_balances(buyer, BTC=("0.999", "0"), USDT=("50000", "0"))

            async def history():
                status, trades = await buyer.signed("GET", "/api/v3/myTrades", symbol="BTCUSDT")
                assert status == 200 and len(trades) == 1, trades
                t = trades[0]
                assert t["isBuyer"] is True and t["isMaker"] is False and D(t["commission"]) == D("0.001")
                status, orders = await seller.signed("GET", "/api/v3/allOrders", symbol="BTCUSDT")
                assert status == 200 and [o["status"] for o in orders] == ["FILLED"], orders
                status, rows = await buyer.public("/api/v3/klines", symbol="BTCUSDT", interval="1m")
                assert status == 200 and len(rows) == 1, rows
                assert [D(x) for x in rows[0][1:6]] == [D(50000)] * 4 + [D(1)] and rows[0][8] == 1
            await eventually(history)
    run(scenario())


def test_a_buy_that_fills_below_its_price_frees_the_saving_before_its_answer(node):
    """A LIMIT buy froze price x quantity; a fill below its price leaves the difference frozen for
    nothing. It is free again by the time the client holds the answer (read your own writes): the
    account, the user data stream's outboundAccountPosition, and a second order that needs it."""
    async def scenario():
        async with aiohttp.ClientSession() as session:
            seller = await funded_client(session, node.base, ADMIN_TOKEN, BTC="1")
            buyer = await funded_client(session, node.base, ADMIN_TOKEN, USDT="10000")
            status, sell = await seller.order(symbol="BTCUSDT", side="SELL", type="LIMIT", timeInForce="GTC",
                                              quantity="0.05", price="60000")
            assert status == 200, sell
            async with await user_data_stream(session, node, buyer) as ws:
                status, buy = await buyer.order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                                                quantity="0.1", price="70000", newOrderRespType="FULL")
                assert status == 200 and buy["status"] == "PARTIALLY_FILLED", buy
                assert dec(buy, "executedQty", "cummulativeQuoteQty") == (D("0.05"), D(3000))
                # spent 3,000; the 0.05 left needs 3,500 at 70,000: 3,500 free, not 3,000
                balances = await buyer.balances()
                assert tuple(map(D, balances["USDT"])) == (D(3500), D(3500)), balances
                while True:
                    event = json.loads((await asyncio.wait_for(ws.receive(), 10)).data)
                    if event["e"] == "outboundAccountPosition":
                        break
                usdt = [(D(b["f"]), D(b["l"])) for b in event["B"] if b["a"] == "USDT"]
                assert usdt == [(D(3500), D(3500))], event
            status, second = await buyer.order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                                               quantity="0.05", price="70000")
            assert status == 200 and second["status"] == "NEW", second  # all of the 3,500
            await expect_balances(buyer, USDT=("0", "7000"))
            status, _ = await buyer.signed("DELETE", "/api/v3/openOrders", symbol="BTCUSDT")
            assert status == 200
            await expect_balances(buyer, USDT=("7000", "0"), BTC=("0.04995", "0"))
    run(scenario())


def test_every_order_type(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            maker = await funded_client(session, node.base, ADMIN_TOKEN, ETH="10", USDT="10000")
            taker = await funded_client(session, node.base, ADMIN_TOKEN, ETH="10", USDT="10000")
            for price in ("2000", "2001", "2002"):
                status, doc = await maker.order(symbol="ETHUSDT", side="SELL", type="LIMIT", timeInForce="GTC",
                                                quantity="1", price=price, newOrderRespType="RESULT")
                assert status == 200 and doc["status"] == "NEW", doc
            # LIMIT_MAKER that would take is refused with Binance's error, and nothing stays frozen
            status, doc = await taker.order(symbol="ETHUSDT", side="BUY", type="LIMIT_MAKER", quantity="1", price="2000")
            assert (status, doc) == (400, {"code": -2010, "msg": "Order would immediately match and take."})
            # FOK that cannot fill completely: EXPIRED, no trade
            status, doc = await taker.order(symbol="ETHUSDT", side="BUY", type="LIMIT", timeInForce="FOK",
                                            quantity="4", price="2002", newOrderRespType="FULL")
            assert status == 200 and doc["status"] == "EXPIRED" and doc["fills"] == [], doc
            # IOC takes what it can at its limit, the rest EXPIRES
            status, doc = await taker.order(symbol="ETHUSDT", side="BUY", type="LIMIT", timeInForce="IOC",
                                            quantity="1.5", price="2000", newOrderRespType="FULL")
            assert status == 200 and doc["status"] == "EXPIRED" and D(doc["executedQty"]) == 1, doc
            # MARKET by quote amount: spends at most 1000.5 USDT at 2001 -> 0.5 ETH
            status, doc = await taker.order(symbol="ETHUSDT", side="BUY", type="MARKET", quoteOrderQty="1000.5",
                                            newOrderRespType="FULL")
            assert status == 200 and doc["status"] == "FILLED", doc
            assert dec(doc, "executedQty", "cummulativeQuoteQty") == (D("0.5"), D("1000.5"))
            # MARKET by quantity across two levels (2001 x 0.5, 2002 x 0.5)
            status, doc = await taker.order(symbol="ETHUSDT", side="BUY", type="MARKET", quantity="1", newOrderRespType="FULL")
            assert status == 200 and doc["status"] == "FILLED" and D(doc["cummulativeQuoteQty"]) == D("2001.5"), doc
            assert [D(f["price"]) for f in doc["fills"]] == [D(2001), D(2002)]
            # MARKET takes the last 0.5 at 2002; the rest EXPIRES for want of liquidity
            status, doc = await taker.order(symbol="ETHUSDT", side="BUY", type="MARKET", quantity="1", newOrderRespType="FULL")
            assert status == 200 and doc["status"] == "EXPIRED" and D(doc["executedQty"]) == D("0.5"), doc
            # MARKET on an empty side: EXPIRED, no fill
            status, doc = await taker.order(symbol="ETHUSDT", side="BUY", type="MARKET", quantity="1", newOrderRespType="FULL")
            assert status == 200 and doc["status"] == "EXPIRED" and doc["fills"] == [], doc
            # MARKET sell by quantity into a resting bid
            status, doc = await maker.order(symbol="ETHUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                                            quantity="1", price="1990", newOrderRespType="RESULT")
            assert status == 200 and doc["status"] == "NEW"
            status, doc = await taker.order(symbol="ETHUSDT", side="SELL", type="MARKET", quantity="1", newOrderRespType="FULL")
            assert status == 200 and doc["status"] == "FILLED" and D(doc["cummulativeQuoteQty"]) == D(1990), doc
            # taker: +3 ETH bought (less 0.1% fee = 2.997), -1 ETH sold;
            # USDT -2000 -1000.5 -2001.5 -1001 +1990 -1.99 fee
            await expect_balances(taker, ETH=("11.997", "0"), USDT=("5985.01", "0"))
            # maker: sold 1 @2000, 1 @2001, 1 @2002, bought 1 @1990; fees 0.1% of what it received
            await expect_balances(maker, ETH=("7.999", "0"), USDT=("14006.997", "0"))
    run(scenario())


def test_conservation_after_a_random_session_of_concurrent_clients(node):
    clients_n, orders_each = 4, 600  # 2,400 orders: "thousands", from several concurrent clients
    deposits = {"BTC": D(0), "USDT": D(0)}
    accepted: list[int] = []

    async def trader(client, rng: random.Random):
        for _ in range(orders_each):
            side = rng.choice(["BUY", "SELL"])
            kind = rng.random()
            params = {"symbol": "BTCUSDT", "side": side, "newOrderRespType": rng.choice(["ACK", "RESULT", "FULL"])}
            if kind < 0.75:
                params |= {"type": "LIMIT", "timeInForce": rng.choice(["GTC", "GTC", "IOC", "FOK"]),
                           "price": str(D(rng.randint(49_900, 50_100))), "quantity": str(D(rng.randint(1, 50)) / 1000)}
            elif kind < 0.9:
                params |= {"type": "MARKET", "quantity": str(D(rng.randint(1, 30)) / 1000)}
            else:
                open_status, open_orders = await client.signed("GET", "/api/v3/openOrders", symbol="BTCUSDT")
                if open_orders:
                    await client.signed("DELETE", "/api/v3/order", symbol="BTCUSDT", orderId=rng.choice(open_orders)["orderId"])
                continue
            status, doc = await client.order(**params)
            assert status in (200, 400), doc
            if status == 400:
                assert doc["code"] == -2010, doc  # only insufficient balance may refuse a valid order
            else:
                accepted.append(doc["orderId"])

    async def scenario():
        async with aiohttp.ClientSession() as session:
            clients = []
            for i in range(clients_n):
                clients.append(await funded_client(session, node.base, ADMIN_TOKEN, BTC="5", USDT="250000"))
                deposits["BTC"] += 5
                deposits["USDT"] += 250_000
            await asyncio.gather(*(trader(c, random.Random(i)) for i, c in enumerate(clients)))
            assert len(accepted) > clients_n * orders_each // 2, len(accepted)  # the session really traded
            for c in clients:  # quiesce: nothing open, everything settled
                await c.signed("DELETE", "/api/v3/openOrders", symbol="BTCUSDT")

            async def conserved():
                totals = {"BTC": D(0), "USDT": D(0)}
                fees = {"BTC": D(0), "USDT": D(0)}
                for c in clients:
                    for asset, (free, locked) in (await c.balances()).items():
                        assert D(free) >= 0 and D(locked) == 0, (asset, free, locked)
                        totals[asset] += D(free) + D(locked)
                    from_id = 0
                    while True:
                        status, trades = await c.signed("GET", "/api/v3/myTrades", symbol="BTCUSDT", fromId=from_id, limit=1000)
                        assert status == 200, trades
                        for t in trades:  # a self-trade is two rows (buyer and seller), each with its fee
                            fees[t["commissionAsset"]] += D(t["commission"])
                        if not trades:
                            break
                        from_id = trades[-1]["id"] + 1
                # every unit deposited is in an account or in the fee account (the fees charged)
                assert {a: totals[a] + fees[a] for a in totals} == deposits
            await eventually(conserved, timeout=20)
    run(scenario())


def test_order_entry_answers_at_the_normal_policy_and_everything_behind_it_yields(node):
    """runtime.batch_scheduling's default: Acquiring's event loop thread keeps SCHED_OTHER; its journal
    fsync thread, and every other stage, run under SCHED_BATCH. (Its bus input has a doorbell, read
    on the loop itself: there is no reader thread, bus.doorbells.)"""
    async def scenario():
        async with aiohttp.ClientSession() as session:
            await funded_client(session, node.base, ADMIN_TOKEN, USDT="10")  # journaled: the fsync thread runs

    run(scenario())
    pids = node.stage_pids()
    entry = pids.pop("acquiring-0")
    threads = {int(tid): os.sched_getscheduler(int(tid)) for tid in os.listdir(f"/proc/{entry}/task")}
    assert threads.pop(entry) == os.SCHED_OTHER
    assert list(threads.values()).count(os.SCHED_BATCH) >= 1
    assert {label: os.sched_getscheduler(pid) for label, pid in pids.items()} == dict.fromkeys(pids, os.SCHED_BATCH)


def test_the_stages_off_the_answer_path_run_at_a_lower_priority(node):
    """runtime.nice's default: Persist, KLine and Push (every thread of them) at nice +10 from the
    node's own; Acquiring, Match and Settlement, which answer orders, at the node's."""
    base = os.getpriority(os.PRIO_PROCESS, 0)
    nice = {label.rpartition("-")[0]: {os.getpriority(os.PRIO_PROCESS, int(tid)) for tid in os.listdir(f"/proc/{pid}/task")}
            for label, pid in node.stage_pids().items()}
    assert nice == {"acquiring": {base}, "match": {base}, "settlement": {base},
                    "persist": {min(19, base + 10)}, "kline": {min(19, base + 10)}, "push": {min(19, base + 10)}}


def test_on_shared_cores_the_stages_off_the_answer_path_float_and_the_others_are_pinned(node):
    """runtime.unpinned_when_shared's default: where the six stages outnumber the cores (this 2-core
    box), Persist, KLine and Push may run on any of them; with a core each, all six are pinned."""
    allowed = os.sched_getaffinity(0)
    affinity = {label.rpartition("-")[0]: os.sched_getaffinity(pid) for label, pid in node.stage_pids().items()}
    assert all(len(affinity[name]) == 1 for name in ("acquiring", "match", "settlement"))
    floating = {name: affinity[name] for name in ("persist", "kline", "push")}
    if len(allowed) < len(affinity):
        assert floating == dict.fromkeys(floating, allowed)
    else:
        assert all(len(cores) == 1 for cores in floating.values())
