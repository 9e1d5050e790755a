"""Push's windowed streams against a real node (issue 16): <symbol>@avgPrice and the rolling-window
tickers <symbol>@ticker_<1h|4h|1d> every second also when nothing trades, their numbers those of the
trades made (and of REST's avgPrice and 24-hour ticker); the all-market arrays (!miniTicker@arr,
!ticker@arr, !ticker_<window>@arr) with only the symbols whose statistics changed; and
<symbol>@kline_<interval>@+08:00, whose candles open on the UTC+8 clock, and are those REST klines and
the WebSocket API's answer with `timeZone`."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

import aiohttp

from tests.node.client import funded_client
from tests.push.conftest import ADMIN_TOKEN
from tests.push.test_push_node import SYMBOL, collect, run

DAY = 86_400_000
H8 = 8 * 3_600_000
ROLLING = ("btcusdt@ticker_1h", "btcusdt@ticker_4h", "btcusdt@ticker_1d")
ARRAYS = ("!miniTicker@arr", "!ticker@arr", "!ticker_1h@arr")


async def order(client, **params) -> tuple[int, dict]:
    """An order, sent again while a busy box makes the node shed it (503 -1003: nothing happened)."""
    for _ in range(50):
        status, doc = await client.order(**params)
        if status != 503:
            break
        await asyncio.sleep(0.1)
    return status, doc


async def trade(session, node, price: str, qty: str) -> None:
    """One trade of `qty` BTC at `price` between two fresh accounts."""
    maker = await funded_client(session, node.base, ADMIN_TOKEN, BTC="1")
    taker = await funded_client(session, node.base, ADMIN_TOKEN, USDT="100000")
    status, doc = await order(maker, symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC", quantity=qty,
                              price=price)
    assert status == 200, doc
    status, doc = await order(taker, symbol=SYMBOL, side="BUY", type="MARKET", quantity=qty)
    assert status == 200 and doc["status"] == "FILLED", doc


async def get(session, node, path: str, **params):
    async with session.get(node.base + path, params=params) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


def minute_floor(ms: int) -> int:
    return ms - ms % 60_000


def test_avg_price_rolling_tickers_and_arrays_tick_with_the_traded_numbers(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            await trade(session, node, "50000", "0.001")
            await trade(session, node, "50010", "0.002")
            trades = await get(session, node, "/api/v3/trades", symbol=SYMBOL)
            assert [t["price"] for t in trades] == ["50000.00000000", "50010.00000000"], trades
            rest_avg = await get(session, node, "/api/v3/avgPrice", symbol=SYMBOL)
            rest_24h = await get(session, node, "/api/v3/ticker/24hr", symbol=SYMBOL)
            await asyncio.sleep(0.3)  # (the trades are in before anyone subscribes: what follows is the clock's)
            streams = ["btcusdt@avgPrice", "ethusdt@avgPrice", *ROLLING, *ARRAYS]
            got: list = []
            stop = asyncio.Event()
            async with session.ws_connect(f"{node.ws}/stream?streams={'/'.join(streams)}") as ws:
                task = asyncio.create_task(collect(ws, got, stop))
                await asyncio.sleep(3.5)
                mark = len(got)
                await trade(session, node, "50020", "0.001")  # a change: the arrays show it
                await asyncio.sleep(2.5)
                stop.set()
                await task

            def of(stream, events=got):
                return [m["data"] for m in events if m["stream"] == stream]

            # @avgPrice: every second without trades; REST avgPrice's 5-minute average, rounded (a half up)
            avg = of("btcusdt@avgPrice", got[:mark])
            assert len(avg) >= 2, got
            times = [e["E"] for e in avg]
            assert times == sorted(times) and times[-1] - times[0] >= 900, times
            expected = D("150.02") / D("0.003")  # quote volume / volume
            assert D(avg[0]["w"]) == expected.quantize(D("1e-8"), rounding="ROUND_HALF_UP") == D(rest_avg["price"])
            assert {(e["e"], e["s"], e["i"], e["w"], e["T"]) for e in avg} == \
                {("avgPrice", SYMBOL, "5m", avg[0]["w"], trades[-1]["time"])}
            assert of("ethusdt@avgPrice") == []  # never traded: nothing to average

            # @ticker_<window>: the same two trades in every window, each second, opening on a minute
            for stream, span in zip(ROLLING, (3_600_000, 4 * 3_600_000, DAY)):
                events = of(stream, got[:mark])
                assert len(events) >= 2, (stream, got)
                window = stream.split("_")[1]
                for e in events:
                    assert (e["e"], e["s"], e["C"], e["O"]) == (f"{window}Ticker", SYMBOL, e["E"],
                                                                minute_floor(e["E"] - span)), e
                    assert (e["o"], e["h"], e["l"], e["c"], e["v"], e["q"], e["n"], e["F"], e["L"]) == (
                        "50000.00000000", "50010.00000000", "50000.00000000", "50010.00000000", "0.00300000",
                        "150.02000000", 2, trades[0]["id"], trades[1]["id"]), e
                    assert (e["p"], e["P"], e["w"]) == ("10.00000000", "0.020", avg[0]["w"]), e
                    assert (e["o"], e["h"], e["l"], e["c"], e["v"], e["q"], e["n"]) == (
                        rest_24h["openPrice"], rest_24h["highPrice"], rest_24h["lowPrice"], rest_24h["lastPrice"],
                        rest_24h["volume"], rest_24h["quoteVolume"], rest_24h["count"]), (e, rest_24h)
                assert set(events[0]) == {"e", "E", "s", "p", "P", "o", "h", "l", "c", "w", "v", "q", "O", "C",
                                          "F", "L", "n"}, events[0]

            # the arrays: once with the symbol that changed since (BTCUSDT, not the untraded ETHUSDT),
            # then nothing while nothing changes, then again after the next trade
            for stream, event in zip(ARRAYS, ("24hrMiniTicker", "24hrTicker", "1hTicker")):
                before, after = of(stream, got[:mark]), of(stream, got[mark:])
                assert len(before) == 1 and [i["s"] for i in before[0]] == [SYMBOL], (stream, before)
                item = before[0][0]
                assert (item["e"], item["c"], item["v"]) == (event, "50010.00000000", "0.00300000"), item
                assert len(after) == 1 and [(i["s"], i["c"], i["v"]) for i in after[0]] == \
                    [(SYMBOL, "50020.00000000", "0.00400000")], (stream, after)
            assert set(of("!ticker@arr")[0][0]) >= {"x", "b", "a", "Q", "O", "C", "F", "L", "n"}
    run(scenario())


def test_klines_with_a_time_zone_offset_open_on_the_utc_plus_8_clock(node):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            streams = ["btcusdt@kline_1d@+08:00", "btcusdt@kline_1d", "btcusdt@kline_1h@+08:00", "btcusdt@kline_1h",
                       "btcusdt@kline_1M@+08:00"]
            got: list = []
            stop = asyncio.Event()
            # the same names raw (a path) and by a live SUBSCRIBE
            raw = await session.ws_connect(f"{node.ws}/ws/btcusdt@kline_1d@+08:00")
            live = await session.ws_connect(f"{node.ws}/ws")
            await live.send_json({"method": "SUBSCRIBE", "params": ["btcusdt@kline_12h@+08:00", "!ticker_4h@arr"], "id": 1})
            assert await live.receive_json(timeout=5) == {"result": None, "id": 1}
            await live.send_json({"method": "LIST_SUBSCRIPTIONS", "id": 2})
            listed = await live.receive_json(timeout=5)
            assert sorted(listed["result"]) == ["!ticker_4h@arr", "btcusdt@kline_12h@+08:00"], listed
            async with session.ws_connect(f"{node.ws}/stream?streams={'/'.join(streams)}") as ws:
                task = asyncio.create_task(collect(ws, got, stop))
                await asyncio.sleep(0.2)
                await trade(session, node, "50030", "0.001")
                await asyncio.sleep(1.0)
                stop.set()
                await task
            raw_k = (await raw.receive_json(timeout=5))["k"]
            live_k = next(e for e in [await live.receive_json(timeout=5) for _ in range(2)] if isinstance(e, dict))["k"]
            await raw.close()
            await live.close()
            trades = await get(session, node, "/api/v3/trades", symbol=SYMBOL)
            last = trades[-1]
            candles = {m["stream"]: m["data"]["k"] for m in got}
            assert set(candles) == set(streams), got

            def expect(k: dict, start: int, end: int) -> None:
                inside = [t for t in trades if start <= t["time"] <= end]
                assert (k["t"], k["T"], k["x"]) == (start, end, False), k
                assert (k["f"], k["L"], k["n"]) == (inside[0]["id"], last["id"], len(inside)), (k, inside)
                assert (k["o"], k["c"]) == (inside[0]["price"], last["price"]), k
                assert D(k["v"]) == sum(D(t["qty"]) for t in inside), k
                assert k["h"] == max(inside, key=lambda t: D(t["price"]))["price"], k

            local = last["time"] + H8
            day = local - local % DAY - H8  # the UTC+8 day, told in UTC milliseconds
            expect(candles["btcusdt@kline_1d@+08:00"], day, day + DAY - 1)
            utc_day = last["time"] - last["time"] % DAY
            expect(candles["btcusdt@kline_1d"], utc_day, utc_day + DAY - 1)
            assert candles["btcusdt@kline_1d@+08:00"]["t"] != candles["btcusdt@kline_1d"]["t"]
            assert raw_k == candles["btcusdt@kline_1d@+08:00"]
            assert live_k["i"] == "12h" and (live_k["t"] + H8) % (DAY // 2) == 0 and live_k["t"] <= last["time"], live_k
            # whole hours are the same hours in both: the same candle under both names
            assert candles["btcusdt@kline_1h@+08:00"] == candles["btcusdt@kline_1h"]
            month = candles["btcusdt@kline_1M@+08:00"]
            assert month["i"] == "1M" and (month["t"] + H8) % DAY == 0 and month["t"] <= last["time"] <= month["T"]

            # REST klines and the WebSocket API's with `timeZone`: the same candles as the stream's
            def row(k: dict) -> list:
                return [k["t"], k["o"], k["h"], k["l"], k["c"], k["v"], k["T"], k["q"], k["n"], k["V"], k["Q"], "0"]

            async with session.ws_connect(node.base.replace("http://", "ws://") + "/ws-api/v3") as api:
                for stream, interval, zone in (("btcusdt@kline_1d@+08:00", "1d", "8"),
                                               ("btcusdt@kline_1d@+08:00", "1d", "+08:00"),
                                               ("btcusdt@kline_1M@+08:00", "1M", "08:00"),
                                               ("btcusdt@kline_1h", "1h", "8"),  # an hour is the UTC hour
                                               ("btcusdt@kline_1d", "1d", "0")):
                    rows = await get(session, node, "/api/v3/klines", symbol=SYMBOL, interval=interval, timeZone=zone)
                    assert rows[-1] == row(candles[stream]), (stream, zone, rows[-1], candles[stream])
                    await api.send_json({"id": 1, "method": "klines",
                                         "params": {"symbol": SYMBOL, "interval": interval, "timeZone": zone}})
                    answer = await api.receive_json(timeout=5)
                    assert answer["status"] == 200 and answer["result"] == rows, (zone, answer)
                day_k = candles["btcusdt@kline_1d@+08:00"]
                # startTime / endTime stay UTC: from the candle's own open time it is the first; one
                # millisecond later it is not whole in the range, so it is not there
                rows = await get(session, node, "/api/v3/klines", symbol=SYMBOL, interval="1d", timeZone="8",
                                 startTime=day_k["t"])
                assert rows == [row(day_k)], rows
                assert await get(session, node, "/api/v3/klines", symbol=SYMBOL, interval="1d", timeZone="8",
                                 startTime=day_k["t"] + 1) == []
                for zone in ("15", "-13", "8:5", "x", "14:01"):  # outside [-12:00, +14:00], or not hours[:minutes]
                    async with session.get(node.base + "/api/v3/klines",
                                           params={"symbol": SYMBOL, "interval": "1d", "timeZone": zone}) as resp:
                        assert (resp.status, await resp.json()) == (400, {
                            "code": -1130, "msg": "Data sent for parameter 'timeZone' is not valid."}), zone
                    await api.send_json({"id": 2, "method": "klines",
                                         "params": {"symbol": SYMBOL, "interval": "1d", "timeZone": zone}})
                    assert (await api.receive_json(timeout=5))["error"]["code"] == -1130
    run(scenario())
