"""Push end to end: a real node, real aiohttp WebSocket clients, orders over the REST API. Every stream
type shows exactly what the REST side shows; the local-order-book procedure reproduces /api/v3/depth;
two users' private streams stay apart; a stalled client is dropped while a healthy one keeps
receiving; malformed requests get an error and the connection stays usable."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import time
import urllib.request
from contextlib import asynccontextmanager, contextmanager
from decimal import Decimal as D

import aiohttp

from spot_seda.binance import auth
from tests.node.client import execution_report, funded_client, user_data_stream
from tests.conftest import eventually
from tests.node.conftest import free_port, node_on, wait_http, wait_listening
from tests.push.conftest import ADMIN_TOKEN

SYMBOL = "BTCUSDT"


def run(coro):
    return asyncio.run(coro)


async def random_session(rng: random.Random, clients, n: int) -> None:
    """Limit (GTC/IOC), market and cancel orders around 50,000 from the given clients."""
    placed: list[tuple[object, int]] = []
    for _ in range(n):
        c = rng.choice(clients)
        r = rng.random()
        side = rng.choice(["BUY", "SELL"])
        qty = f"0.{rng.randint(1, 30):03d}"
        if r < 0.65:
            price = str(50_000 + rng.randint(-8, 8))
            status, doc = await c.order(symbol=SYMBOL, side=side, type="LIMIT", timeInForce=rng.choice(["GTC", "GTC", "IOC"]),
                                        quantity=qty, price=price, newOrderRespType="RESULT")
            assert status == 200, doc
            placed.append((c, doc["orderId"]))
        elif r < 0.8:
            status, doc = await c.order(symbol=SYMBOL, side=side, type="MARKET", quantity=qty)
            assert status in (200, 400), doc
        elif placed:
            owner, order_id = placed.pop(rng.randrange(len(placed)))
            await owner.signed("DELETE", "/api/v3/order", symbol=SYMBOL, orderId=order_id)


async def collect(ws, into: list, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            msg = await asyncio.wait_for(ws.receive(), 0.2)
        except asyncio.TimeoutError:
            continue
        if msg.type != aiohttp.WSMsgType.TEXT:
            return
        into.append(json.loads(msg.data))


def book_of(levels) -> dict[D, D]:
    return {D(p): D(q) for p, q in levels}


def test_every_market_stream_shows_what_rest_shows(node):
    streams = ["btcusdt@trade", "btcusdt@aggTrade", "btcusdt@kline_1m", "btcusdt@depth@100ms", "btcusdt@depth",
               "btcusdt@depth5@100ms", "btcusdt@bookTicker", "btcusdt@ticker", "btcusdt@miniTicker",
               "changelog@TradeChangeLog"]

    async def scenario():
        async with aiohttp.ClientSession() as session:
            a = await funded_client(session, node.base, ADMIN_TOKEN, BTC="50", USDT="5000000")
            b = await funded_client(session, node.base, ADMIN_TOKEN, BTC="50", USDT="5000000")
            got: list = []
            raw: list = []
            stop = asyncio.Event()
            async with session.ws_connect(f"{node.ws}/stream?streams={'/'.join(streams)}") as ws, \
                    session.ws_connect(f"{node.ws}/ws/btcusdt@trade") as ws_raw:
                tasks = [asyncio.create_task(collect(ws, got, stop)), asyncio.create_task(collect(ws_raw, raw, stop))]
                # the local order book procedure: buffer diffs, take a snapshot mid-session, apply
                await random_session(random.Random(1), [a, b], 60)
                status, snapshot = await a.public("/api/v3/depth", symbol=SYMBOL, limit=5000)
                assert status == 200
                await random_session(random.Random(2), [a, b], 120)

                async def caught_up():
                    status, depth = await a.public("/api/v3/depth", symbol=SYMBOL, limit=5000)
                    diffs = [m["data"] for m in got if m["stream"] == "btcusdt@depth"]
                    assert diffs and diffs[-1]["u"] == depth["lastUpdateId"], (diffs[-1:], depth["lastUpdateId"])
                    return depth
                depth = await eventually(caught_up)
                await asyncio.sleep(0.3)
                stop.set()
                await asyncio.gather(*tasks)
            by = {}
            for m in got:
                by.setdefault(m["stream"], []).append(m["data"])
            status, trades = await a.public("/api/v3/trades", symbol=SYMBOL, limit=1000)
            assert len(trades) > 20
            # trades: the same ids, prices, quantities, sides and times, raw and combined alike
            as_rest = [{"id": t["t"], "price": t["p"], "qty": t["q"], "time": t["T"], "isBuyerMaker": t["m"]}
                       for t in by["btcusdt@trade"]]
            assert as_rest == [{k: t[k] for k in ("id", "price", "qty", "time", "isBuyerMaker")} for t in trades]
            assert raw == by["btcusdt@trade"]
            # aggregate trades: what REST shows, field for field, and together every trade once
            status, aggs = await a.public("/api/v3/aggTrades", symbol=SYMBOL, limit=1000)
            fields = ("a", "p", "q", "f", "l", "T", "m")
            assert [{k: t[k] for k in fields} for t in by["btcusdt@aggTrade"]] == [{k: t[k] for k in fields} for t in aggs]
            assert [i for t in aggs for i in range(t["f"], t["l"] + 1)] == [t["id"] for t in trades]
            assert len(aggs) < len(trades)  # (the session's takers fill several makers at one price)
            # (the raw change log also carries the Ticks on their way to KLine, entity_type Clock: its
            # sequences have no gaps)
            raw_log = by["changelog@TradeChangeLog"]
            assert [e["sequence"] for e in raw_log] == list(range(raw_log[0]["sequence"], raw_log[0]["sequence"] + len(raw_log)))
            raw_trades = [e for e in raw_log if e["entity_type"] == "SpotTrade"]
            assert {e["entity_type"] for e in raw_log} <= {"SpotTrade", "Clock"}
            assert len(raw_trades) == len(trades)
            assert {e["entity_id"] for e in raw_trades} == {f"{SYMBOL}:{t['id']}" for t in trades}
            # klines: the last event of each candle equals the REST row
            status, rows = await a.public("/api/v3/klines", symbol=SYMBOL, interval="1m")
            last = {}
            for k in by["btcusdt@kline_1m"]:
                last[k["k"]["t"]] = k["k"]
            assert sorted(last) == [r[0] for r in rows]
            for r in rows:
                k = last[r[0]]
                assert [k["t"], k["o"], k["h"], k["l"], k["c"], k["v"], k["T"], k["q"], k["n"], k["V"], k["Q"]] == r[:11]
                assert k["L"] - k["f"] + 1 == k["n"]
            # depth: Binance's procedure from the mid-session snapshot ends on the node's exact book
            for name in ("btcusdt@depth@100ms", "btcusdt@depth"):
                bids, asks = book_of(snapshot["bids"]), book_of(snapshot["asks"])
                last_u = snapshot["lastUpdateId"]
                events = [e for e in by[name] if e["u"] > last_u]
                assert events[0]["U"] <= last_u + 1 <= events[0]["u"]
                for e in events:
                    assert e["U"] == last_u + 1 or e is events[0]
                    last_u = e["u"]
                    for side, levels in ((bids, e["b"]), (asks, e["a"])):
                        for p, q in levels:
                            if D(q):
                                side[D(p)] = D(q)
                            else:
                                side.pop(D(p), None)
                assert last_u == depth["lastUpdateId"]
                assert (bids, asks) == (book_of(depth["bids"]), book_of(depth["asks"]))
            top5 = by["btcusdt@depth5@100ms"][-1]
            assert top5 == {"lastUpdateId": depth["lastUpdateId"], "bids": depth["bids"][:5], "asks": depth["asks"][:5]}
            status, bt = await a.public("/api/v3/ticker/bookTicker", symbol=SYMBOL)
            mine = by["btcusdt@bookTicker"][-1]
            assert (mine["b"], mine["B"], mine["a"], mine["A"]) == (bt["bidPrice"], bt["bidQty"], bt["askPrice"], bt["askQty"])
            status, t24 = await a.public("/api/v3/ticker/24hr", symbol=SYMBOL)
            tk, mini = by["btcusdt@ticker"][-1], by["btcusdt@miniTicker"][-1]
            assert (tk["c"], tk["o"], tk["h"], tk["l"], tk["v"], tk["q"], tk["n"], tk["F"], tk["L"], tk["p"], tk["P"], tk["w"]) == \
                (t24["lastPrice"], t24["openPrice"], t24["highPrice"], t24["lowPrice"], t24["volume"], t24["quoteVolume"],
                 t24["count"], t24["firstId"], t24["lastId"], t24["priceChange"], t24["priceChangePercent"],
                 t24["weightedAvgPrice"])
            assert (mini["c"], mini["v"]) == (t24["lastPrice"], t24["volume"])
    run(scenario())


def test_the_24_hour_tickers_are_pushed_every_second_without_trades(node):
    """Binance pushes <symbol>@ticker and @miniTicker every 1000 ms, also when nothing trades: a
    client that subscribes after the last trade still gets them, each second, with the same numbers."""
    async def scenario():
        async with aiohttp.ClientSession() as session:
            maker = await funded_client(session, node.base, ADMIN_TOKEN, BTC="1")
            taker = await funded_client(session, node.base, ADMIN_TOKEN, USDT="100000")
            status, doc = await maker.order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC",
                                            quantity="0.001", price="50001")
            assert status == 200, doc
            status, doc = await taker.order(symbol=SYMBOL, side="BUY", type="MARKET", quantity="0.001")
            assert status == 200 and doc["status"] == "FILLED", doc
            await asyncio.sleep(0.3)  # (the trade's own ticker has gone out before this client subscribes)
            got: list = []
            stop = asyncio.Event()
            async with session.ws_connect(f"{node.ws}/stream?streams=btcusdt@ticker/btcusdt@miniTicker") as ws:
                task = asyncio.create_task(collect(ws, got, stop))
                await asyncio.sleep(3.5)
                stop.set()
                await task
            for stream in ("btcusdt@ticker", "btcusdt@miniTicker"):
                events = [m["data"] for m in got if m["stream"] == stream]
                assert len(events) >= 2, (stream, got)
                times = [e["E"] for e in events]
                assert times == sorted(times) and times[-1] - times[0] >= 900, times
                assert len({(e["c"], e["n"] if "n" in e else e["v"]) for e in events}) == 1, events  # nothing traded
    run(scenario())


@asynccontextmanager
async def a_trade_watched(session, node, streams: str, price: str):
    """A maker's sell and a taker's market buy of 0.002 at `price`, `streams` collected (a combined
    stream) from before the trade until the block ends; yields (what came so far, the taker's answer,
    the taker)."""
    maker = await funded_client(session, node.base, ADMIN_TOKEN, BTC="1")
    taker = await funded_client(session, node.base, ADMIN_TOKEN, USDT="100000")
    got: list = []
    stop = asyncio.Event()
    async with session.ws_connect(f"{node.ws}/stream?streams={streams}") as ws:
        task = asyncio.create_task(collect(ws, got, stop))
        try:
            await asyncio.sleep(0.2)
            status, doc = await maker.order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC",
                                            quantity="0.002", price=price)
            assert status == 200, doc
            status, doc = await taker.order(symbol=SYMBOL, side="BUY", type="MARKET", quantity="0.002")
            assert status == 200 and doc["status"] == "FILLED", doc
            yield got, doc, taker
        finally:
            stop.set()
            await task


def test_a_trades_candles_go_out_within_a_second_or_two_with_nothing_after_it(node):
    """Candles go out at a cadence in trade time (node.candle_update_ms): after the last trade the
    node journals a Tick within a second, so its candles reach a subscriber with no later trade and
    no REST read; the event's first and last trade ids are the trade's."""
    async def scenario():
        async with aiohttp.ClientSession() as session:
            async with a_trade_watched(session, node, "btcusdt@kline_1m/btcusdt@trade", "50077") as (got, _, _):
                sent = time.monotonic()
                trade = None
                while time.monotonic() - sent < 8:  # (a Tick a second later, and a pipeline trip)
                    trades = [m["data"] for m in got if m["stream"] == "btcusdt@trade" and D(m["data"]["p"]) == 50077]
                    trade = trades[-1]["t"] if trades else None
                    if trade and any(m["stream"] == "btcusdt@kline_1m" and m["data"]["k"]["L"] == trade for m in got):
                        break
                    await asyncio.sleep(0.05)
                waited = time.monotonic() - sent
            candle = [m["data"]["k"] for m in got if m["stream"] == "btcusdt@kline_1m" and m["data"]["k"]["L"] == trade]
            assert trade is not None and candle, got
            assert D(candle[-1]["c"]) == 50077 and candle[-1]["f"] <= trade, (waited, candle)
    run(scenario())


def test_an_open_candle_goes_out_again_every_two_seconds_without_trades(node):
    """web-socket-streams.md: kline streams "push updates to the current klines/candlestick every
    second" at "Update Speed: 1000ms for 1s, 2000ms for the other intervals": with no trade after
    it, the open candle keeps coming, the same candle at a later event time."""
    async def scenario():
        async with aiohttp.ClientSession() as session:
            async with a_trade_watched(session, node, "btcusdt@kline_1h/btcusdt@trade", "50091") as (got, doc, _):
                trade = doc["fills"][-1]["tradeId"]

                def updates() -> list:
                    return [m["data"] for m in got if m["stream"] == "btcusdt@kline_1h" and m["data"]["k"]["L"] == trade]
                deadline = time.monotonic() + 15
                while len(updates()) < 3 and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
            events = updates()
            assert len(events) >= 3, [m for m in got if "kline" in m["stream"]]
            if events[-1]["E"] > events[0]["k"]["T"]:
                return  # (the hour ended meanwhile: its close came instead)
            assert all(e["k"] == events[0]["k"] and not e["k"]["x"] for e in events), events
            gaps = [b["E"] - a["E"] for a, b in zip(events[1:], events[2:])]  # (the first may be a Tick's)
            assert all(1_800 <= g <= 3_500 for g in gaps), gaps
    run(scenario())


def test_a_new_subscriber_gets_the_open_candle_without_a_trade(node):
    """A client that subscribes to a kline stream while its candle is open gets the candle within a
    tick or two (Binance's update speed), trades or not, whether anyone listened before or not."""
    async def scenario():
        async with aiohttp.ClientSession() as session:
            async with a_trade_watched(session, node, "btcusdt@trade", "50097") as (_got, doc, _):
                trade = doc["fills"][-1]["tradeId"]
            await asyncio.sleep(1.5)  # (the candle out of KLine, nobody on its stream)
            async with session.ws_connect(f"{node.ws}/ws/btcusdt@kline_1d") as ws:
                started = time.monotonic()
                event = await ws.receive_json(timeout=5)
                waited = time.monotonic() - started
            k = event["k"]
            assert event["e"] == "kline" and k["i"] == "1d" and not k["x"] and k["L"] >= trade, event
            assert waited < 2.5, waited
    run(scenario())


def test_a_candle_closes_when_its_interval_ends_with_no_trade_after_it(node):
    """Binance closes a candle when its interval ends ("x": true), trades or not: with no trade after
    it, the node journals a Tick once the second is over and the 1s candle goes out closed, on the
    stream and in REST klines alike."""
    async def scenario():
        async with aiohttp.ClientSession() as session:
            async with a_trade_watched(session, node, "btcusdt@kline_1s/btcusdt@trade", "50083") as (got, doc, taker):
                trade = doc["fills"][-1]["tradeId"]  # (the maker's ask, or one an earlier test left below it)

                def closed() -> list:
                    return [m["data"]["k"] for m in got if m["stream"] == "btcusdt@kline_1s"
                            and m["data"]["k"]["x"] and m["data"]["k"]["L"] == trade]
                deadline = time.monotonic() + 10  # (the second's end, a Tick within 250 ms, a pipeline trip)
                while not closed() and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
            candle = closed()
            assert len(candle) == 1 and D(candle[0]["c"]) == D(doc["fills"][-1]["price"]), \
                [m for m in got if "kline" in m["stream"]]
            code, rows = await taker.public("/api/v3/klines", symbol=SYMBOL, interval="1s", startTime=candle[0]["t"],
                                            endTime=candle[0]["T"])
            assert code == 200 and [(r[0], r[4], r[8]) for r in rows] == [(candle[0]["t"], candle[0]["c"], candle[0]["n"])]
    run(scenario())


async def ws_api_subscribe(session, node, client) -> tuple[aiohttp.ClientWebSocketResponse, int]:
    ws = await session.ws_connect(f"{node.ws}/ws-api/v3")
    params = {"apiKey": client.api_key, "timestamp": int(time.time() * 1000), "recvWindow": 5000}
    params["signature"] = auth.sign(client.secret, auth.ws_payload(params))
    await ws.send_json({"id": "sub-1", "method": "userDataStream.subscribe.signature", "params": params})
    reply = await ws.receive_json(timeout=5)
    assert reply["id"] == "sub-1" and reply["status"] == 200, reply
    return ws, reply["result"]["subscriptionId"]


def test_two_users_private_streams_stay_apart_and_match_their_accounts(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            alice = await funded_client(session, node.base, ADMIN_TOKEN, BTC="5", USDT="500000")
            bob = await funded_client(session, node.base, ADMIN_TOKEN, BTC="5", USDT="500000")
            # alice: the WebSocket API; bob: a legacy listenKey
            ws_a, sub = await ws_api_subscribe(session, node, alice)
            status, doc = await listen_key(bob, "POST")
            assert status == 200 and len(doc["listenKey"]) == 64, doc
            key = doc["listenKey"]
            ws_b = await session.ws_connect(f"{node.ws}/ws/{key}")
            got_a: list = []
            got_b: list = []
            stop = asyncio.Event()
            tasks = [asyncio.create_task(collect(ws_a, got_a, stop)), asyncio.create_task(collect(ws_b, got_b, stop))]
            await asyncio.sleep(0.2)
            await random_session(random.Random(7), [alice, bob], 80)
            await admin_deposit(session, node.base, alice.account_id, "USDT", "12.5")

            async def caught_up():
                for client, got in ((alice, got_a), (bob, got_b)):
                    events = [m["event"] if "event" in m else m for m in got]
                    final = {}
                    for e in events:
                        if e["e"] == "outboundAccountPosition":
                            final.update({x["a"]: (D(x["f"]), D(x["l"])) for x in e["B"]})
                    balances = await client.balances()
                    assert final == {a: (D(f), D(l)) for a, (f, l) in balances.items() if a in final}, (final, balances)
                    assert set(final) >= {"BTC", "USDT"}
            await eventually(caught_up)
            stop.set()
            await asyncio.gather(*tasks)
            assert all(m.get("subscriptionId") == sub for m in got_a)
            events_a = [m["event"] for m in got_a]
            assert not any("subscriptionId" in m for m in got_b)
            for client, events in ((alice, events_a), (bob, got_b)):
                status, orders = await client.signed("GET", "/api/v3/allOrders", symbol=SYMBOL)
                mine = {o["orderId"]: o for o in orders}
                reports = [e for e in events if e["e"] == "executionReport"]
                assert reports and {r["i"] for r in reports} <= set(mine)  # never the other user's orders
                last = {}
                for r in reports:
                    last[r["i"]] = r
                for order_id, o in mine.items():
                    if order_id in last:
                        assert (last[order_id]["X"], last[order_id]["z"]) == (o["status"], o["executedQty"])
                status, fills = await client.signed("GET", "/api/v3/myTrades", symbol=SYMBOL)
                assert sorted(r["t"] for r in reports if r["x"] == "TRADE") == sorted(f["id"] for f in fills)
            assert [e for e in events_a if e["e"] == "balanceUpdate"][-1]["d"] == "12.50000000"
            # unsubscribe: no more events for alice on that connection
            await ws_a.send_json({"id": 9, "method": "userDataStream.unsubscribe", "params": {"subscriptionId": sub}})
            ended = await ws_a.receive_json(timeout=5)  # eventStreamTerminated, then the answer
            assert (ended["subscriptionId"], ended["event"]["e"]) == (sub, "eventStreamTerminated"), ended
            assert (await ws_a.receive_json(timeout=5)) == {"id": 9, "status": 200, "result": {}}
            await ws_a.close()
            await ws_b.close()
    run(scenario())


def test_a_refused_order_shows_nothing_on_the_user_data_stream(node):
    """A LIMIT_MAKER that would take and a stop that would trigger are -2010 errors, never orders:
    the user data stream shows neither, nor their balances (Acquiring froze the funds before Match
    refused the order, Settlement released them: on Binance a rejected order touches no balance).
    The next order's NEW report is the first event, its freeze's outboundAccountPosition after it.
    (On ETHUSDT, which the other tests of this module leave alone.)"""

    async def scenario():
        async with aiohttp.ClientSession() as session:
            client = await funded_client(session, node.base, ADMIN_TOKEN, ETH="1")
            other = await funded_client(session, node.base, ADMIN_TOKEN, ETH="1", USDT="1000")
            buyer = await funded_client(session, node.base, ADMIN_TOKEN, USDT="1000")
            eth = {"symbol": "ETHUSDT", "timeInForce": "GTC", "quantity": "0.01"}
            status, doc = await other.order(side="SELL", type="LIMIT", price="2000", **eth)
            assert status == 200, doc
            status, doc = await buyer.order(side="BUY", type="LIMIT", price="2000", **eth)  # the last price: 2000
            assert status == 200 and doc["status"] == "FILLED", doc
            status, bid = await other.order(side="BUY", type="LIMIT", price="1990", **eth)
            assert status == 200, bid
            ws = await user_data_stream(session, node, client)
            try:
                status, doc = await client.order(side="SELL", type="LIMIT_MAKER", price="1990",
                                                  **{k: v for k, v in eth.items() if k != "timeInForce"})
                assert (status, doc) == (400, {"code": -2010, "msg": "Order would immediately match and take."})
                status, doc = await client.order(side="SELL", type="STOP_LOSS_LIMIT", price="2090", stopPrice="2100",
                                                  **eth)
                assert (status, doc) == (400, {"code": -2010, "msg": "Stop price would trigger immediately."})
                status, sentinel = await client.order(side="SELL", type="LIMIT", price="3000", **eth)
                assert status == 200, sentinel
                seen: list = []
                await execution_report(ws, sentinel["orderId"], "NEW", seen)
                assert seen == seen[-1:], seen
                position = json.loads((await asyncio.wait_for(ws.receive(), 10)).data)
                assert position["e"] == "outboundAccountPosition" and position["B"] == [
                    {"a": "ETH", "f": "0.99000000", "l": "0.01000000"}], position
            finally:
                await ws.close()
            for owner, order_id in ((client, sentinel["orderId"]), (other, bid["orderId"])):
                status, doc = await owner.signed("DELETE", "/api/v3/order", symbol="ETHUSDT", orderId=order_id)
                assert status == 200, doc
    run(scenario())


def test_a_taker_gets_one_position_with_what_its_command_left(node):
    """An order that trades as it is placed (a LIMIT that crosses, a MARKET by quoteOrderQty, an IOC
    partly filled, then expired) gets one outboundAccountPosition for its command, after its
    executionReports, with the balances the command left (faqs/market_orders_faq.md: Binance's comes
    after the order's reports, nothing locked), not its freeze first; one that rests gets one showing
    its lock. Every event of a command comes before the next command's first. (On ETHUSDT, whose
    orders the other tests of this module cancel.)"""

    async def scenario():
        async with aiohttp.ClientSession() as session:
            maker = await funded_client(session, node.base, ADMIN_TOKEN, ETH="1")
            taker = await funded_client(session, node.base, ADMIN_TOKEN, USDT="1000")
            status, ask = await maker.order(symbol="ETHUSDT", side="SELL", type="LIMIT", timeInForce="GTC",
                                            price="2000", quantity="0.04")
            assert status == 200 and ask["status"] == "NEW", ask
            ws = await user_data_stream(session, node, taker)
            resting = None
            try:
                for params, reports in (
                        ({"type": "LIMIT", "timeInForce": "GTC", "price": "2000", "quantity": "0.01"},
                         ["NEW", "TRADE"]),
                        ({"type": "MARKET", "quoteOrderQty": "20"}, ["NEW", "TRADE"]),
                        ({"type": "LIMIT", "timeInForce": "IOC", "price": "2000", "quantity": "0.03"},
                         ["NEW", "TRADE", "EXPIRED"]),
                        ({"type": "LIMIT", "timeInForce": "GTC", "price": "1900", "quantity": "0.01"}, ["NEW"])):
                    status, doc = await taker.order(symbol="ETHUSDT", side="BUY", **params)
                    assert status == 200, doc
                    events = []
                    while not events or events[-1]["e"] != "outboundAccountPosition":
                        events.append(json.loads((await asyncio.wait_for(ws.receive(), 10)).data))
                    assert [(e["e"], e.get("i"), e.get("x")) for e in events[:-1]] == [
                        ("executionReport", doc["orderId"], x) for x in reports], (params, events)
                    position = {b["a"]: (b["f"], b["l"]) for b in events[-1]["B"]}

                    async def as_rest_shows():  # (REST's balances follow Settlement's a moment later)
                        balances = await taker.balances()
                        assert position == {a: balances[a] for a in position}, (params, position, balances)
                    await eventually(as_rest_shows)
                    if reports == ["NEW"]:
                        resting = doc["orderId"]
                        assert list(position) == ["USDT"] and D(position["USDT"][1]) == 19, position
                    else:
                        assert set(position) == {"ETH", "USDT"} and D(position["USDT"][1]) == 0, position
            finally:
                await ws.close()
            # (the maker's ask: filled whole by the IOC)
            status, doc = await taker.signed("DELETE", "/api/v3/order", symbol="ETHUSDT", orderId=resting)
            assert status == 200, doc
    run(scenario())


def test_listen_keys_and_ws_api_signatures_are_checked(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            c = await funded_client(session, node.base, ADMIN_TOKEN)
            other = await funded_client(session, node.base, ADMIN_TOKEN)
            status, doc = await listen_key(c, "POST")
            key = doc["listenKey"]
            assert (await listen_key(c, "POST"))[1] == {"listenKey": key}  # the live key again
            assert await listen_key(c, "PUT", key) == (200, {})
            assert (await listen_key(other, "PUT", key))[1]["code"] == -1125  # not yours
            assert (await listen_key(c, "PUT", "x" * 64))[1] == {"code": -1125, "msg": "This listenKey does not exist."}
            assert (await listen_key(c, "PUT"))[1]["code"] == -1102
            async with session.post(node.base + "/api/v3/userDataStream") as resp:
                assert resp.status == 401 and (await resp.json())["code"] in (-2014, -2015)
            async with session.ws_connect(f"{node.ws}/ws/{key}") as ws:
                assert await listen_key(c, "DELETE", key) == (200, {})
                # the open stream's user data stops within a second or so, with no listenKeyExpired
                # (user-data-stream.md: "not pushed when the stream is closed normally")
                await asyncio.sleep(1.5)
                await admin_deposit(session, node.base, c.account_id, "USDT", "3")
                try:
                    message = await ws.receive(timeout=2.0)
                    raise AssertionError(f"a closed listenKey's stream still sent {message.data}")
                except asyncio.TimeoutError:
                    pass
            # a closed or unknown key is refused
            for bad in (key, "A" * 64):
                try:
                    await session.ws_connect(f"{node.ws}/ws/{bad}")
                    raise AssertionError("connected with a dead listenKey")
                except aiohttp.WSServerHandshakeError as exc:
                    assert exc.status == 400
            # WebSocket API: a wrong signature, an unknown key, a stale timestamp
            async with session.ws_connect(f"{node.ws}/ws-api/v3") as ws:
                ts = int(time.time() * 1000)
                for params, code in (({"apiKey": c.api_key, "timestamp": ts, "signature": "0" * 64}, -1022),
                                     ({"apiKey": "nope", "timestamp": ts, "signature": "0" * 64}, -2014),
                                     ({"apiKey": c.api_key, "timestamp": ts - 600_000}, -1021),
                                     ({"timestamp": ts}, -1102)):
                    if code == -1021:
                        params["signature"] = auth.sign(c.secret, auth.ws_payload(params))
                    await ws.send_json({"id": 1, "method": "userDataStream.subscribe.signature", "params": params})
                    reply = await ws.receive_json(timeout=5)
                    assert reply["status"] >= 400 and reply["error"]["code"] in (code, -2015), (params, reply)
                await ws.send_json({"id": 2, "method": "nope", "params": {}})
                assert (await ws.receive_json(timeout=5))["status"] == 400
                await ws.send_json({"id": 3, "method": "ping"})
                assert await ws.receive_json(timeout=5) == {"id": 3, "status": 200, "result": {}}
                for bad in ({"method": "ping"}, {"id": {"a": 1}, "method": "ping"}):  # (`id` is mandatory, a scalar)
                    await ws.send_json(bad)
                    assert await ws.receive_json(timeout=5) == {"id": None, "status": 400, "error": {
                        "code": -1102, "msg": "Mandatory parameter 'id' was not sent, was empty/null, or malformed."}}
    run(scenario())


def test_ws_api_subscription_errors_are_binance_s_on_both_ports(node):
    """errors.md / web-socket-api.md: a second userDataStream.subscribe.signature of one account on a
    connection is -2035 "User Data Stream subscription already active."; userDataStream.unsubscribe
    of an id the connection does not have (never had, or already ended) -2036 "User Data Stream
    subscription not active.": on Push's /ws-api/v3 as on the HTTP port's."""
    async def scenario():
        async with aiohttp.ClientSession() as session:
            c = await funded_client(session, node.base, ADMIN_TOKEN, USDT="100")
            active = {"code": -2035, "msg": "User Data Stream subscription already active."}
            inactive = {"code": -2036, "msg": "User Data Stream subscription not active."}

            async def call(ws, req_id: int, method: str, params: dict) -> dict:
                await ws.send_json({"id": req_id, "method": method, "params": params})
                while True:  # (an eventStreamTerminated may come first)
                    reply = await ws.receive_json(timeout=5)
                    if reply.get("id") == req_id:
                        return reply

            def signed() -> dict:
                params = {"apiKey": c.api_key, "timestamp": int(time.time() * 1000)}
                return params | {"signature": auth.sign(c.secret, auth.ws_payload(params))}

            for url in (f"{node.ws}/ws-api/v3", node.base.replace("http://", "ws://") + "/ws-api/v3"):
                async with session.ws_connect(url) as ws:
                    reply = await call(ws, 1, "userDataStream.subscribe.signature", signed())
                    assert reply["status"] == 200, (url, reply)
                    sub = reply["result"]["subscriptionId"]
                    reply = await call(ws, 2, "userDataStream.subscribe.signature", signed())
                    assert (reply["status"], reply["error"]) == (400, active), (url, reply)
                    reply = await call(ws, 3, "userDataStream.unsubscribe", {"subscriptionId": sub + 100})
                    assert (reply["status"], reply["error"]) == (400, inactive), (url, reply)
                    for junk in ("1x", "-1", "1.0", "", True):  # ("": -1105, was empty, as every parameter)
                        reply = await call(ws, 30, "userDataStream.unsubscribe", {"subscriptionId": junk})
                        code = -1105 if junk == "" else -1100
                        assert (reply["status"], reply["error"]["code"]) == (400, code), (url, junk, reply)
                    reply = await call(ws, 31, "v3/time", {})  # (a method with its version: web-socket-api.md)
                    assert reply["status"] == 200 and reply["result"]["serverTime"] > 0, (url, reply)
                    # a string of digits, as Binance's own SDK (binance-sdk-spot) sends every integer
                    reply = await call(ws, 4, "userDataStream.unsubscribe", {"subscriptionId": str(sub)})
                    assert (reply["status"], reply["result"]) == (200, {}), (url, reply)
                    reply = await call(ws, 5, "userDataStream.unsubscribe", {"subscriptionId": sub})
                    assert (reply["status"], reply["error"]) == (400, inactive), (url, reply)
                    reply = await call(ws, 6, "userDataStream.subscribe.signature", signed())  # ended: may again
                    assert reply["status"] == 200 and reply["result"]["subscriptionId"] != sub, (url, reply)
    run(scenario())


def test_malformed_subscription_messages_get_errors_and_the_connection_stays_usable(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            c = await funded_client(session, node.base, ADMIN_TOKEN, BTC="1", USDT="100000")
            async with session.ws_connect(f"{node.ws}/ws") as ws:
                for bad in ("{not json", "[1,2]", '"x"', '{"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 9223372036854775808}',
                            '{"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": "not alphanumeric"}',
                            '{"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": "%s"}' % ("a" * 37),
                            '{"method": "SUBSCRIB", "params": [], "id": 1}', '{"params": [], "id": 2}',
                            '{"method": "SUBSCRIBE", "params": "btcusdt@trade", "id": 3}',
                            '{"method": "SUBSCRIBE", "params": ["btcusdt@nope"], "id": 4}',
                            '{"method": "SUBSCRIBE", "params": [1], "id": 5}',
                            '{"method": "SUBSCRIBE", "params": [], "id": 6, "extra": true}'):
                    await ws.send_str(bad)
                    reply = await ws.receive_json(timeout=5)
                    assert reply["code"] in (0, 2, 3) and reply["msg"] and "result" not in reply, (bad, reply)
                await ws.send_json({"method": "SUBSCRIBE", "params": ["btcusdt@trade", "BTCUSDT@bookTicker"], "id": 7})
                assert await ws.receive_json(timeout=5) == {"result": None, "id": 7}
                # web-socket-streams.md: "Parameter `id` had to be provided" (null may be sent)
                await ws.send_json({"method": "SUBSCRIBE", "params": ["btcusdt@depth"]})
                assert await ws.receive_json(timeout=5) == {"code": 2, "msg": "Invalid request: request ID must be an "
                                                                               "unsigned integer", "id": None}
                await ws.send_json({"method": "LIST_SUBSCRIPTIONS", "id": None})
                listed = await ws.receive_json(timeout=5)  # (the refused SUBSCRIBE subscribed nothing)
                assert (sorted(listed["result"]), listed["id"]) == (["btcusdt@bookTicker", "btcusdt@trade"], None), listed
                await ws.send_json({"method": "LIST_SUBSCRIPTIONS", "id": -8})  # a signed 64-bit id, as Binance takes
                assert (await ws.receive_json(timeout=5))["id"] == -8
                # a UUID (36 characters, hyphens): what Binance's own SDK, binance-sdk-spot, sends
                await ws.send_json({"method": "LIST_SUBSCRIPTIONS", "id": "0b5e6f0c-3c1d-4d8e-9a47-5b6f2e1c7d90"})
                assert (await ws.receive_json(timeout=5))["id"] == "0b5e6f0c-3c1d-4d8e-9a47-5b6f2e1c7d90"
                await ws.send_json({"method": "LIST_SUBSCRIPTIONS", "id": 8})
                assert sorted((await ws.receive_json(timeout=5))["result"]) == ["btcusdt@bookTicker", "btcusdt@trade"]
                await ws.send_json({"method": "UNSUBSCRIBE", "params": ["btcusdt@bookTicker"], "id": 9})
                assert await ws.receive_json(timeout=5) == {"result": None, "id": 9}
                await c.order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC", quantity="0.01", price="49000",
                              selfTradePreventionMode="NONE")
                await c.order(symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01", price="49000",
                              selfTradePreventionMode="NONE")
                event = await ws.receive_json(timeout=5)
                assert event["e"] == "trade" and event["s"] == SYMBOL
                # the one property, `combined` (web-socket-streams.md): read, set, and the events rewrapped
                for request, reply in (
                        ({"method": "GET_PROPERTY", "params": ["combined"], "id": 10}, {"result": False, "id": 10}),
                        ({"method": "SET_PROPERTY", "params": ["combined", True], "id": 11}, {"result": None, "id": 11}),
                        ({"method": "GET_PROPERTY", "params": ["combined"], "id": 12}, {"result": True, "id": 12}),
                        ({"method": "SET_PROPERTY", "params": ["combined", "yes"], "id": 13},
                         {"code": 1, "msg": "Invalid value type: expected Boolean", "id": 13}),
                        ({"method": "GET_PROPERTY", "params": ["compressed"], "id": 14},
                         {"code": 0, "msg": "Unknown property", "id": 14}),
                        ({"method": "GET_PROPERTY", "params": [7], "id": 15},
                         {"code": 2, "msg": "Invalid request: property name must be a string", "id": 15}),
                        ({"method": "GET_PROPERTY", "params": ["combined", True], "id": 16},
                         {"code": 2, "msg": "Invalid request: too many parameters", "id": 16}),
                        # a field beside id, method and params: "Unnecessary parameters provided in the
                        # data" (web-socket-streams.md's error table), not a property
                        ({"method": "LIST_SUBSCRIPTIONS", "id": 18, "stream": "btcusdt@trade"},
                         {"code": 2, "msg": "Invalid request: too many parameters", "id": 18}),
                        # LIST_SUBSCRIPTIONS takes no params: some are unnecessary (an empty list is not),
                        # and the subscriptions stay as they were
                        ({"method": "LIST_SUBSCRIPTIONS", "params": ["btcusdt@depth"], "id": 19},
                         {"code": 2, "msg": "Invalid request: too many parameters", "id": 19}),
                        ({"method": "LIST_SUBSCRIPTIONS", "params": {"a": 1}, "id": 20},
                         {"code": 2, "msg": "Invalid request: too many parameters", "id": 20}),
                        ({"method": "LIST_SUBSCRIPTIONS", "params": [], "id": 21},
                         {"result": ["btcusdt@trade"], "id": 21})):
                    await ws.send_json(request)
                    assert await reply_to(ws, request["id"]) == reply, request
                await c.order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC", quantity="0.01", price="49000",
                              selfTradePreventionMode="NONE")
                await c.order(symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01", price="49000",
                              selfTradePreventionMode="NONE")
                event = await ws.receive_json(timeout=5)
                while "stream" not in event:  # (raw trades with what earlier tests left, sent before the change)
                    event = await ws.receive_json(timeout=5)
                assert event["stream"] == "btcusdt@trade" and event["data"]["e"] == "trade", event
                await ws.send_json({"method": "SET_PROPERTY", "params": ["combined", False], "id": 17})
                assert await reply_to(ws, 17) == {"result": None, "id": 17}
            async with session.get(f"{node.base.replace('http', 'http')}/api/v3/ping") as resp:
                assert resp.status == 200
            for path, name in (("/ws/btcusdt@nope", "btcusdt@nope"), ("/ws/xxxusdt@trade", "xxxusdt@trade"),
                               ("/stream?streams=btcusdt@nope", "btcusdt@nope")):
                try:  # (refused at the handshake: before, /ws/ took any name and sent nothing, for ever)
                    async with session.ws_connect(f"{node.ws}{path}"):
                        raise AssertionError(f"an unknown stream in {path} was accepted")
                except aiohttp.WSServerHandshakeError as exc:
                    assert exc.status == 400, path
                async with session.get(f"{node.ws.replace('ws://', 'http://')}{path}") as resp:  # (what it says)
                    assert (resp.status, await resp.json()) == (
                        400, {"code": 2, "msg": f"Invalid request: unknown stream '{name}'"}), path
    run(scenario())


async def reply_to(ws, req_id) -> dict:
    """The answer to request `req_id`, past the events that arrive before it."""
    while True:
        doc = await ws.receive_json(timeout=5)
        if doc.get("id") == req_id:
            return doc


def stalled_connection(ws_url: str, path: str, headers: str = "") -> socket.socket:
    """A WebSocket handshake over a socket with a tiny receive buffer that is then never read."""
    host, port = ws_url.removeprefix("ws://").split(":")
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect((host, int(port)))
    s.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" + headers + "\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return s


def test_a_stalled_client_is_dropped_while_a_healthy_one_keeps_receiving(node):
    heavy = ["btcusdt@trade", "changelog@KLineChangeLog", "changelog@OrderChangeLog", "changelog@BalanceChangeLog"] + \
        [f"btcusdt@kline_{i}" for i in ("1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M")]

    async def scenario():
        # the private change logs need the admin token
        stalled = stalled_connection(node.ws, "/stream?streams=" + "/".join(heavy), f"X-Admin-Token: {ADMIN_TOKEN}\r\n")
        try:
            async with aiohttp.ClientSession() as session:
                a = await funded_client(session, node.base, ADMIN_TOKEN, BTC="50", USDT="5000000")
                b = await funded_client(session, node.base, ADMIN_TOKEN, BTC="50", USDT="5000000")
                got: list = []
                stop = asyncio.Event()
                async with session.ws_connect(f"{node.ws}/stream?streams={'/'.join(heavy)}",
                                              headers={"X-Admin-Token": ADMIN_TOKEN}) as ws:
                    task = asyncio.create_task(collect(ws, got, stop))
                    status, before = await a.public("/api/v3/trades", symbol=SYMBOL, limit=1)
                    first = before[0]["id"] + 1 if before else 1
                    # enough traffic to pass the stalled client's buffer several times over
                    # (about 17 kB of events per trade on these streams; the stalled socket is not read
                    # until the end, since reading it would un-stall it)
                    # Rounds of traffic until the server reports the drop (its log, not the socket:
                    # reading the socket would un-stall it); bounded, as kernel buffers absorb MBs.
                    host, port = stalled.getsockname()
                    mine = f"dropping a WebSocket client {host}:{port}:"  # not another test's lingering client
                    for _round in range(10):
                        for _ in range(100):
                            await a.order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC", quantity="0.001", price="50000")
                            await b.order(symbol=SYMBOL, side="BUY", type="MARKET", quantity="0.001")
                        await asyncio.sleep(0.5)
                        if mine in node.log():
                            break
                    status, trades = await a.public("/api/v3/trades", symbol=SYMBOL, limit=1)
                    expected = list(range(first, trades[-1]["id"] + 1))  # trade ids are contiguous per symbol

                    async def healthy_has_all():
                        assert [m["data"]["t"] for m in got if m["stream"] == "btcusdt@trade"] == expected
                    # Push has sent everything once the healthy client has it all; only then look at the
                    # stalled socket (reading it earlier would un-stall it before Push noticed)
                    await eventually(healthy_has_all)
                    assert mine in node.log(), "the stalled client was never dropped"
                    assert dropped(stalled, wait=20.0), "the dropped client's connection was never closed"
                    stop.set()
                    await task
                    assert not ws.closed
        finally:
            stalled.close()
    run(scenario())


def dropped(sock: socket.socket, wait: float = 0.0) -> bool:
    """Whether the server has closed this connection (read what is there: data, a close frame, EOF)."""
    deadline = time.monotonic() + wait
    sock.settimeout(0.2)
    while True:
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except (socket.timeout, BlockingIOError):
            pass
        if time.monotonic() >= deadline:
            return False


async def admin_deposit(session, base: str, account_id: int, asset: str, amount: str) -> None:
    async with session.post(base + "/admin/v1/deposit", json={"accountId": account_id, "asset": asset, "amount": amount},
                            headers={"X-Admin-Token": ADMIN_TOKEN}) as resp:
        assert resp.status == 200, await resp.text()


async def listen_key(client, method: str, key: str | None = None) -> tuple[int, dict]:
    """POST/PUT/DELETE /api/v3/userDataStream: API key header only, listenKey in the query."""
    params = {"listenKey": key} if key is not None else {}
    async with client.session.request(method, client.base + "/api/v3/userDataStream", params=params,
                                      headers={"X-MBX-APIKEY": client.api_key}) as resp:
        return resp.status, await resp.json()


def test_after_a_kill_9_push_carries_on_from_the_recovered_state(tmp_path):
    """Push's views (the order book's update ids, the 24-hour window) come back from the snapshot
    and the journal's replay: after the whole node is killed and started again, the diff stream
    still chains onto REST's lastUpdateId and the ticker counts the trades from before the crash."""

    data, http, ws_port = tmp_path / "data", free_port(), free_port()
    base, ws_url = f"http://127.0.0.1:{http}", f"ws://127.0.0.1:{ws_port}"

    @contextmanager
    def started(name: str):
        with node_on(tmp_path, name, data, http, ws=ws_port) as node:
            wait_http(base, node)
            node.wait_running()
            wait_listening(ws_port, node)
            yield node

    with started("first") as node:
        async def before():
            async with aiohttp.ClientSession() as session:
                a = await funded_client(session, base, ADMIN_TOKEN, BTC="50", USDT="5000000")
                b = await funded_client(session, base, ADMIN_TOKEN, BTC="50", USDT="5000000")
                await random_session(random.Random(3), [a, b], 50)
                return a, b
        a, b = run(before())
        os.killpg(node.proc.pid, signal.SIGKILL)
        node.proc.wait()
    with started("second") as node:
        async def after():
            async with aiohttp.ClientSession() as session:
                a.session = b.session = session
                status, trades_before = await a.public("/api/v3/trades", symbol=SYMBOL, limit=1000)
                assert status == 200 and len(trades_before) > 5
                got: list = []
                stop = asyncio.Event()
                async with session.ws_connect(f"{ws_url}/stream?streams={SYMBOL.lower()}@depth/{SYMBOL.lower()}@ticker") as ws:
                    task = asyncio.create_task(collect(ws, got, stop))
                    await asyncio.sleep(0.2)
                    await random_session(random.Random(4), [a, b], 40)

                    async def caught_up():
                        status, depth = await a.public("/api/v3/depth", symbol=SYMBOL, limit=5000)
                        diffs = [m["data"] for m in got if m["stream"].endswith("@depth")]
                        assert diffs and diffs[-1]["u"] == depth["lastUpdateId"], (diffs[-1:], depth["lastUpdateId"])
                        status, t24 = await a.public("/api/v3/ticker/24hr", symbol=SYMBOL)
                        tickers = [m["data"] for m in got if m["stream"].endswith("@ticker")]
                        assert tickers and (tickers[-1]["n"], tickers[-1]["F"], tickers[-1]["L"], tickers[-1]["v"]) == \
                            (t24["count"], t24["firstId"], t24["lastId"], t24["volume"]), (tickers[-1:], t24)
                        return diffs
                    diffs = await eventually(caught_up)
                    stop.set()
                    await task
                for earlier, later in zip(diffs, diffs[1:]):
                    assert later["U"] == earlier["u"] + 1  # one unbroken chain since connecting
                assert diffs[-1]["u"] > len(trades_before)  # the ids went on from before the crash
        run(after())


def test_push_takes_the_start_replay_beside_it_and_a_client_sees_none_of_it(tmp_path):
    """At a start, Push runs as its own process beside the journal's replay and takes its output
    (runtime/recovery.py), instead of being replayed into in the supervisor. Its port opens only
    once it has applied all of it: a client that connects the moment it opens gets none of the
    replayed trades as if they were new, while REST shows them."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    from recovery import journal_session  # (the recovery bench's seeded session, journaled as Acquiring does)

    from spot_seda.journal import Journal
    from spot_seda.model.commands import ENCODER

    data, http, ws_port = tmp_path / "data", free_port(), free_port()
    journal = Journal(data / "journal", fsync="off")
    for command in journal_session(30_000, seed=5):
        journal.append(ENCODER.encode(command))
    journal.close()
    with node_on(tmp_path, "only", data, http, ws=ws_port) as node:
        wait_listening(ws_port, node, timeout=120)

        async def watch():
            got: list = []
            stop = asyncio.Event()
            streams = "btcusdt@trade/ethusdt@trade"
            async with aiohttp.ClientSession() as session:
                async with session.ws_connect(f"ws://127.0.0.1:{ws_port}/stream?streams={streams}") as ws:
                    task = asyncio.create_task(collect(ws, got, stop))
                    await asyncio.sleep(1.5)
                    stop.set()
                    await task
            return got
        got = run(watch())
        wait_http(f"http://127.0.0.1:{http}", node, timeout=60)
        with urllib.request.urlopen(f"http://127.0.0.1:{http}/api/v3/trades?symbol=BTCUSDT&limit=1000", timeout=10) as resp:
            trades = json.loads(resp.read())
        log = node.log()
    assert got == [], got[:3]  # nothing new happened since it opened
    assert len(trades) == 1000 and trades[-1]["id"] > 1000, trades[-1:]  # the replay made them all
    mine = [line for line in log.splitlines() if "push-0" in line]
    assert any("takes the replay's output beside it" in line for line in mine), log[-3000:]
    applied = next(i for i, line in enumerate(mine) if "has applied the recovery's replay" in line)
    listening = next(i for i, line in enumerate(mine) if "WebSocket on ws://" in line)
    assert applied < listening, mine
