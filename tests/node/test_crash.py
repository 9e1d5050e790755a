"""Nothing acknowledged is lost: under continuous order traffic, kill -9 a random stage, or the whole
node, again and again; after each recovery every order a client got an id for exists with a
consistent status, and at the end the trades equal a replay of the journal and money is conserved."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from decimal import Decimal as D

import aiohttp

from tests.conftest import ROOT, run_node
from tests.node.client import Client, admin
from tests.node.conftest import ADMIN_TOKEN, free_port, node_toml, wait_http

STAGE_KILLS, NODE_KILLS = 12, 8
FINAL = {"FILLED", "CANCELED", "EXPIRED", "EXPIRED_IN_MATCH", "REJECTED"}


async def trade_until(stop: asyncio.Event, client: Client, rng: random.Random, acked: dict[int, int]) -> None:
    """Place orders around one price until told to stop; remember every acknowledged order id."""
    while not stop.is_set():
        params = {"symbol": "BTCUSDT", "side": rng.choice(["BUY", "SELL"]), "type": "LIMIT",
                  "timeInForce": rng.choice(["GTC", "IOC"]), "quantity": str(D(rng.randint(1, 20)) / 1000),
                  "price": str(50_000 + rng.randint(-20, 20)), "newOrderRespType": rng.choice(["ACK", "RESULT"])}
        try:
            status, doc = await client.order(**params)
        except (aiohttp.ClientError, asyncio.TimeoutError, json.JSONDecodeError):
            await asyncio.sleep(0.05)  # the node is restarting: not acknowledged, try again
            continue
        if status == 200:
            acked[doc["orderId"]] = client.account_id
        else:
            assert doc["code"] in (-2010, -1003, -1007, -1013), doc  # (-1013: at MAX_NUM_ORDERS)
            await asyncio.sleep(0.01)


def check_order(doc: dict) -> None:
    executed, orig = D(doc["executedQty"]), D(doc["origQty"])
    assert doc["status"] in FINAL | {"NEW", "PARTIALLY_FILLED"}, doc
    assert executed <= orig and (doc["status"] != "FILLED" or executed == orig), doc
    assert doc["status"] != "NEW" or executed == 0, doc


async def check_acknowledged(clients: dict[int, Client], acked: dict[int, int], checked: set[int]) -> None:
    """Every acknowledged order is in its account's allOrders with a consistent status, and each one
    acknowledged since the last check is also read alone (GET /api/v3/order). (One read per order at
    every check made the test's checks grow with the square of its orders: two minutes in all.)"""
    for order_id in sorted(set(acked) - checked):
        status, doc = await clients[acked[order_id]].signed("GET", "/api/v3/order", symbol="BTCUSDT", orderId=order_id)
        assert status == 200, (order_id, doc)
        check_order(doc)
        checked.add(order_id)
    for account, client in clients.items():
        mine = {order_id for order_id, owner in acked.items() if owner == account}
        listed: dict[int, dict] = {}
        start = 0
        while True:  # allOrders pages by orderId, at most 1,000 an answer
            status, page = await client.signed("GET", "/api/v3/allOrders", symbol="BTCUSDT", orderId=start, limit=1000)
            assert status == 200, page
            listed.update((doc["orderId"], doc) for doc in page)
            if len(page) < 1000:
                break
            start = page[-1]["orderId"] + 1
        assert mine <= set(listed), sorted(mine - set(listed))[:10]
        for order_id in mine:
            check_order(listed[order_id])


def test_kill_9_stages_and_the_node_loses_nothing_acknowledged(tmp_path):
    data = tmp_path / "data"
    http, ws = free_port(), free_port()
    toml = node_toml(data, http, ws, extra="[runtime]\nrestart_backoff_s = 0.05\nrestart_backoff_max_s = 0.2\n"
                     "[journal]\nsnapshot_interval_s = 0.4\n")  # snapshots race with the kills
    base = f"http://127.0.0.1:{http}"
    rng = random.Random(20261124)
    acked: dict[int, int] = {}
    clients: dict[int, Client] = {}
    kills = [("stage", i) for i in range(STAGE_KILLS)] + [("node", i) for i in range(NODE_KILLS)]
    rng.shuffle(kills)

    async def traffic_for(seconds: float) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            for c in clients.values():
                c.session = session
            stop = asyncio.Event()
            tasks = [asyncio.create_task(trade_until(stop, c, random.Random(rng.random()), acked)) for c in clients.values()]
            await asyncio.sleep(seconds)
            stop.set()
            await asyncio.gather(*tasks)

    async def setup() -> None:
        async with aiohttp.ClientSession() as session:
            for _ in range(3):
                status, acct = await admin(session, base, ADMIN_TOKEN, "/admin/v1/accounts")
                for asset, amount in (("BTC", "100"), ("USDT", "5000000")):
                    await admin(session, base, ADMIN_TOKEN, "/admin/v1/deposit",
                                {"accountId": acct["accountId"], "asset": asset, "amount": amount})
                clients[acct["accountId"]] = Client(session, base, acct["apiKey"], acct["secretKey"])
                clients[acct["accountId"]].account_id = acct["accountId"]

    checked: set[int] = set()

    async def verify() -> None:
        async with aiohttp.ClientSession() as session:
            for c in clients.values():
                c.session = session
            await check_acknowledged(clients, acked, checked)

    def start(incarnation: int):
        run_dir = tmp_path / f"run{incarnation}"
        run_dir.mkdir()
        ctx = run_node(run_dir, toml)
        proc = ctx.__enter__()
        proc.data_dir = data  # every incarnation shares the data dir: that is the point
        return ctx, proc

    incarnation = 0
    node_ctx, node = start(incarnation)
    try:
        wait_http(base, node)
        asyncio.run(setup())
        for kind, _ in kills:
            asyncio.run(traffic_for(rng.uniform(0.3, 1.0)))
            if kind == "stage":
                pids = {k: v for k, v in node.stage_pids().items() if v}
                victim = rng.choice(sorted(pids))
                os.kill(pids[victim], signal.SIGKILL)
            else:
                os.killpg(node.proc.pid, signal.SIGKILL)
                node.proc.wait()
                node_ctx.__exit__(None, None, None)
                incarnation += 1
                node_ctx, node = start(incarnation)
            time.sleep(0.3)
            wait_http(base, node)
            asyncio.run(verify())
        assert len(acked) > 200, len(acked)
        # quiesce: cancel what is open, then money is conserved and no order is left half-way
        async def finish() -> None:
            async with aiohttp.ClientSession() as session:
                for c in clients.values():
                    c.session = session
                    await c.signed("DELETE", "/api/v3/openOrders", symbol="BTCUSDT")
                deadline = time.monotonic() + 20
                while True:
                    totals = {"BTC": D(0), "USDT": D(0)}
                    locked = D(0)
                    for c in clients.values():
                        for asset, (free, lock) in (await c.balances()).items():
                            totals[asset] += D(free) + D(lock)
                            locked += D(lock)
                    if locked == 0 or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.1)
                assert locked == 0
                return totals
        totals = asyncio.run(finish())
    finally:
        node_ctx.__exit__(None, None, None)
    assert "replayed" in (tmp_path / f"run{incarnation}" / "node.log").read_text() or incarnation == 0
    # the trades in the history are exactly those a replay of the journal produces
    out = tmp_path / "replay.jsonl"
    done = subprocess.run([sys.executable, "run.py", "replay", str(data / "journal"), "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    replayed = sorted(json.loads(line)["entry"]["entity_id"] for line in out.read_text().splitlines()
                      if '"SpotTrade"' in line)
    import sqlite3

    from spot_seda.history import History

    with History(data / "history.sqlite", readonly=True) as history:
        fee = history.balances(0)
    fee_btc, fee_usdt = fee.get("BTC", (0, 0))[0], fee.get("USDT", (0, 0))[0]
    db = sqlite3.connect(f"file:{data / 'history.sqlite'}?mode=ro", uri=True)
    stored = sorted(f"{symbol}:{trade_id}" for symbol, trade_id in db.execute("SELECT symbol, trade_id FROM trades"))
    db.close()
    assert stored == replayed and len(stored) > 50
    # conservation: what the clients hold plus the fee account equals what was deposited
    assert totals["BTC"] + D(fee_btc) / 10**8 == 300 and totals["USDT"] + D(fee_usdt) / 10**8 == 15_000_000
