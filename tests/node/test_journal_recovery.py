"""The node over its journal: a restart brings back every acknowledged order; a torn or bit-flipped
journal tail is cut and reported; damage in the middle stops the node from starting."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import aiohttp

from spot_seda.history import History
from spot_seda.journal import Journal
from spot_seda.model.commands import DECODER, NewOrder
from spot_seda.runtime.recovery import StartReport
from spot_seda.runtime.snapshots import manifest_position
from tests.conftest import ROOT
from tests.node.client import Client, funded_client
from tests.node.conftest import ADMIN_TOKEN, free_port, node_on, wait_http

ORDER = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.1",
         "newOrderRespType": "RESULT"}


def segments(data: Path) -> list[Path]:
    return sorted((data / "journal").glob("*.seg"))


#: [node] of a test that counts journaled commands or what Persist is sent after a kill -9: no
#: periodic Tick (node.tick_ms), which a busy box can journal between the test's last wait and its kill
NO_TICK = "tick_ms = 0\n"


def records(segment: bytes) -> list[bytes]:
    """A journal segment's records, each whole (a 16-byte header whose first 4 bytes are the
    payload's length, then the payload)."""
    out, offset = [], 0
    while offset < len(segment):
        length = int.from_bytes(segment[offset:offset + 4], "little")
        out.append(segment[offset:offset + 16 + length])
        offset += 16 + length
    return out


async def place_orders(base: str, prices, **extra: str) -> tuple[Client, list[int]]:
    """A funded client that places one resting order per price (with the `extra` parameters);
    returns it and the order ids."""
    async with aiohttp.ClientSession() as session:
        client = await funded_client(session, base, ADMIN_TOKEN, USDT="10000")
        ids = []
        for price in prices:
            status, doc = await client.order(**ORDER, price=str(price), **extra)
            assert status == 200, doc
            ids.append(doc["orderId"])
        return client, ids


async def statuses(client: Client, ids: list[int], *fields: str) -> dict[int, object]:
    """Each order's status as GET /api/v3/order tells it (or the error code), on a new session; with
    `fields`, the status and those of them the order shows."""
    async with aiohttp.ClientSession() as session:
        client.session = session
        out = {}
        for order_id in ids:
            status, doc = await client.signed("GET", "/api/v3/order", symbol="BTCUSDT", orderId=order_id)
            out[order_id] = doc["code"] if status != 200 else \
                (doc["status"], {k: doc[k] for k in fields if k in doc}) if fields else doc["status"]
        return out


async def place_more(client: Client, prices, ids: list[int], **extra: str) -> None:
    """More resting orders from a client of an earlier event loop (on a new session); ids grow."""
    async with aiohttp.ClientSession() as session:
        client.session = session
        for price in prices:
            status, doc = await client.order(**ORDER, price=str(price), **extra)
            assert status == 200, doc
            ids.append(doc["orderId"])


def test_restart_torn_tail_and_middle_damage(tmp_path):
    data, http = tmp_path / "data", free_port()
    base = f"http://127.0.0.1:{http}"
    with node_on(tmp_path, "first", data, http, node_extra=NO_TICK) as node:
        wait_http(base, node)

        client, ids = asyncio.run(place_orders(base, (100, 101, 102, 103, 104), strategyId="5", strategyType="1000005"))

    # a clean stop left a snapshot of every stage: a restart loads it and replays nothing
    assert manifest_position(data) == Journal.verify(data / "journal")  # the stop snapshotted everything
    labelled = {"strategyId": 5, "strategyType": 1000005}  # (kept with the orders: in the snapshot)
    with node_on(tmp_path, "second", data, http, node_extra=NO_TICK) as node:
        wait_http(base, node)
        assert asyncio.run(statuses(client, ids, *labelled)) == {i: ("NEW", labelled) for i in ids}
        start = StartReport.read(data)
        assert (start.snapshot_position, start.replayed_commands) == (Journal.verify(data / "journal"), 0), start
        # more orders, then a kill -9 of the whole node: the snapshot plus the journal after it
        asyncio.run(place_more(client, (105,), ids, strategyId="6"))
        asyncio.run(place_more(client, (106,), ids))
        os.killpg(node.proc.pid, signal.SIGKILL)
        node.proc.wait()
    with node_on(tmp_path, "after-kill", data, http) as node:
        wait_http(base, node)
        # (the replayed commands' strategy ids too: journaled with them)
        assert asyncio.run(statuses(client, ids, *labelled)) == {
            **{i: ("NEW", labelled) for i in ids[:5]}, ids[5]: ("NEW", {"strategyId": 6}), ids[6]: ("NEW", {})}
        start = StartReport.read(data)
        assert start.snapshot_position > 0 and start.replayed_commands == 2, start

    # A crash in the middle of a journal write leaves a partial record of a command nobody was told
    # about (effects go down the pipeline only after the write). Simulate it with a copy of the last
    # record cut short, then with a whole copy with one bit flipped: each is detected, reported and
    # cut, and every acknowledged order is still there.
    last = segments(data)[-1]
    whole = last.read_bytes()
    frames = records(whole)
    assert b"".join(frames) == whole
    torn = frames[-1][:-3]
    flipped = bytearray(frames[-1])
    flipped[-2] ^= 0x01
    for damage in (torn, bytes(flipped)):
        last.write_bytes(whole + damage)
        name = f"damaged{len(damage)}"
        with node_on(tmp_path, name, data, http) as node:
            wait_http(base, node)
            assert asyncio.run(statuses(client, ids)) == {i: "NEW" for i in ids}
        assert last.read_bytes() == whole  # cut at the last whole record
        start = StartReport.read(data)
        assert start.journal_tail_cut is not None and "journal tail cut" in start.journal_tail_cut, start

    # damage in the middle (good records after it): the node refuses to start and says why
    first = segments(data)[0]
    raw = bytearray(first.read_bytes())
    raw[20] ^= 0x01  # inside the first record's payload
    first.write_bytes(bytes(raw))
    done = subprocess.run([sys.executable, "run.py", "--data-dir", str(data), "--http-port", str(http)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 3, done.stderr[-2000:]
    assert "journal" in done.stderr and "damaged" in done.stderr


def test_replay_of_a_command_file(tmp_path):
    commands = tmp_path / "commands.jsonl"
    lines = [
        {"cmd": "deposit", "account": 1, "asset": "BTC", "amount": "1", "timestamp": 1767225600000},
        {"cmd": "deposit", "account": 2, "asset": "USDT", "amount": "100000", "timestamp": 1767225600000},
        {"cmd": "order", "account": 1, "timestamp": 1767225601000, "symbol": "BTCUSDT", "side": "SELL",
         "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.5", "price": "50000"},
        {"cmd": "order", "account": 2, "timestamp": 1767225602000, "symbol": "BTCUSDT", "side": "BUY",
         "type": "MARKET", "quantity": "0.2"},
        {"cmd": "cancel", "account": 1, "timestamp": 1767225603000, "symbol": "BTCUSDT", "orderId": 1},
    ]
    commands.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    outs = []
    for name in ("a", "b"):
        out = tmp_path / f"{name}.jsonl"
        done = subprocess.run([sys.executable, "run.py", "replay", str(commands), "--out", str(out)],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    entries = [json.loads(line) for line in outs[0].decode().splitlines()]
    trades = [e["entry"] for e in entries if e["entry"]["entity_type"] == "SpotTrade"]
    assert len(trades) == 1
    fields = {f["name"]: f["value"] for f in trades[0]["change_type"]["fields"]}
    assert (fields["price"], fields["qty"]) == (5_000_000, 20_000_000)
    statuses = [f["value"] for e in entries if e["entry"]["entity_id"] == "1" and e["entry"]["change_type"]["type"] == "Updated"
                for f in e["entry"]["change_type"]["changed_fields"] if f["name"] == "status"]
    assert statuses[-1] == "CANCELED"
    # a bad line stops the replay with its line number
    commands.write_text(json.dumps(lines[0]) + "\n" + json.dumps(lines[2] | {"price": "NaN"}) + "\n")
    done = subprocess.run([sys.executable, "run.py", "replay", str(commands), "--out", str(tmp_path / "c.jsonl")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and ":2:" in done.stderr, done.stderr


def test_a_clean_stop_rotates_the_journal_and_the_snapshot_carries_on(tmp_path):
    data, http = tmp_path / "data", free_port()
    base = f"http://127.0.0.1:{http}"
    small = "[journal]\nsegment_bytes = 1024\n"
    with node_on(tmp_path, "first", data, http, small) as node:
        wait_http(base, node)

        client, ids = asyncio.run(place_orders(base, range(100, 130)))
        before = segments(data)
        assert len(before) > 3
    after = segments(data)
    assert len(after) < len(before) and "removed" in node.log()
    done = subprocess.run([sys.executable, "run.py", "replay", str(data / "journal"), "--out", str(tmp_path / "r.jsonl")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "rotated away after a snapshot" in done.stderr, done.stderr  # an audit is told
    # the snapshot's sequences were counted with one partition per topic: another layout is refused
    with node_on(tmp_path, "other-layout", data, http, "partitions = 2\n" + small) as node:
        assert node.proc.wait(60) == 3
        assert "cannot start" in node.log() and "partitions=2" in node.log(), node.log()
    with node_on(tmp_path, "second", data, http, small) as node:
        wait_http(base, node)

        async def check() -> None:
            async with aiohttp.ClientSession() as session:
                client.session = session
                for order_id in ids:
                    status, doc = await client.signed("GET", "/api/v3/order", symbol="BTCUSDT", orderId=order_id)
                    assert status == 200 and doc["status"] == "NEW", doc
                status, doc = await client.order(**ORDER, price="99")  # ids carry on after the snapshot
                assert status == 200 and doc["orderId"] == ids[-1] + 1, doc
        asyncio.run(check())


def test_periodic_snapshots_bound_what_a_kill_9_replays(tmp_path):
    """While the node runs, every stage snapshots at one journal position and old journal segments
    go; after a kill -9 of the whole node only the journal after that snapshot is replayed, and
    every acknowledged order is back."""
    data, http = tmp_path / "data", free_port()
    base = f"http://127.0.0.1:{http}"
    extra = "[journal]\nsegment_bytes = 1024\nsnapshot_interval_s = 0.3\n"
    manifest = data / "snapshots" / "manifest.json"
    with node_on(tmp_path, "first", data, http, extra) as node:
        wait_http(base, node)
        client, ids = asyncio.run(place_orders(base, range(100, 140)))
        position = node.wait_for(lambda: json.loads(manifest.read_text())["position"] >= len(ids), what="a snapshot")
        node.wait_for(lambda: "removed" in node.log(), what="journal segments rotated while running")
        asyncio.run(place_more(client, range(140, 150), ids))  # after that snapshot (maybe before the next)
        os.killpg(node.proc.pid, signal.SIGKILL)
        node.proc.wait()
    position = json.loads(manifest.read_text())["position"]
    assert position >= len(ids) - 10  # ... 40 orders and their deposits were in a snapshot
    with node_on(tmp_path, "second", data, http, extra) as node:
        wait_http(base, node)
        assert StartReport.read(data).snapshot_position == position
        assert asyncio.run(statuses(client, ids)) == {i: "NEW" for i in ids}

        async def check() -> None:
            async with aiohttp.ClientSession() as session:
                client.session = session
                status, doc = await client.order(**ORDER, price="99")
                assert status == 200 and doc["orderId"] == max(ids) + 1, doc
                status, doc = await client.signed("GET", "/api/v3/account")
                usdt = next(b for b in doc["balances"] if b["asset"] == "USDT")
                frozen = sum(Decimal(p) * Decimal("0.1") for p in range(100, 150)) + Decimal("9.9")  # exact, never float
                assert (Decimal(usdt["locked"]), Decimal(usdt["free"])) == (frozen, 10000 - frozen), usdt
        asyncio.run(check())


def test_rotate_false_keeps_every_command_for_a_replay(tmp_path):
    data, http = tmp_path / "data", free_port()
    base = f"http://127.0.0.1:{http}"
    with node_on(tmp_path, "only", data, http, "[journal]\nsegment_bytes = 1024\nsnapshot_interval_s = 0.2\nrotate = false\n") as node:
        wait_http(base, node)
        _, ids = asyncio.run(place_orders(base, range(100, 120)))
        node.wait_for(lambda: (data / "snapshots" / "manifest.json").exists(), what="a snapshot")
    assert segments(data)[0].name.startswith("0" * 19 + "1") and "removed" not in node.log()
    out = tmp_path / "r.jsonl"
    done = subprocess.run([sys.executable, "run.py", "replay", str(data / "journal"), "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    created = [json.loads(line) for line in out.read_text().splitlines() if '"Created"' in line and '"SpotOrder"' in line]
    assert sorted(int(e["entry"]["entity_id"]) for e in created) == sorted(ids)


def test_a_journal_the_code_cannot_replay_stops_the_start(tmp_path):
    """A journal whose orders spend money nobody deposited (edited by hand, or from other code) is
    not served from: the node says so and exits 3."""
    from spot_seda.model.commands import ENCODER, Transfer

    data = tmp_path / "data"
    journal = Journal(data / "journal", fsync="off")
    journal.append(ENCODER.encode(Transfer(1, "USDT", 10**8, 1_767_225_600_000, "transfer-1")))
    journal.append(ENCODER.encode(NewOrder(1, "BTCUSDT", "BUY", "LIMIT", "GTC", 5_000_000, 10**8, 0, "a", "NONE",
                                           1_767_225_600_001, 1)))
    journal.close()
    with node_on(tmp_path, "only", data, free_port()) as node:
        assert node.proc.wait(60) == 3
        assert "cannot start: replaying the journal" in node.log() and "left negative" in node.log(), node.log()


def test_after_a_kill_9_the_replay_sends_persist_only_what_its_history_lacks(tmp_path):
    """Persist records how far it wrote each stream; a recovery replays the whole journal (no
    snapshot here) but sends Persist none of it, and what comes next is written. If the history
    holds more than the journal reproduces (commands lost to a power failure), that is reported and
    new orders are still written."""
    import sqlite3

    from spot_seda.runtime.metrics import open_from_manifest

    data, http = tmp_path / "data", free_port()
    base = f"http://127.0.0.1:{http}"
    extra = "[journal]\nsnapshot_interval_s = 0\n"
    history = data / "history.sqlite"

    def orders_in_history() -> int:
        with sqlite3.connect(history) as db:
            return db.execute("SELECT count(*) FROM orders").fetchone()[0]

    def everything_written() -> int:
        """Orders whose Created entry (time), Match report (working_time) and freeze are all in."""
        with sqlite3.connect(history) as db:
            return db.execute("SELECT count(*) FROM orders WHERE time IS NOT NULL AND working_time IS NOT NULL "
                              "AND order_id IN (SELECT CAST(ref AS INTEGER) FROM balance_changes "
                              "WHERE reason = 'freeze')").fetchone()[0]

    def persist_took() -> int:
        return next(r["events_in"] for r in open_from_manifest(data).snapshot() if r["stage"] == "persist-0")

    with node_on(tmp_path, "first", data, http, extra, node_extra=NO_TICK) as node:
        wait_http(base, node)
        client, ids = asyncio.run(place_orders(base, range(100, 130)))
        # every entry of every order written (an order's row appears with its first entry, from
        # Acquiring or Match, so its count alone could let the kill come before the rest)
        node.wait_for(lambda: everything_written() == len(ids), what="Persist to write every order's entries")
        os.killpg(node.proc.pid, signal.SIGKILL)
        node.proc.wait()
    for run, bump in (("second", 0), ("third", 1000)):
        with sqlite3.connect(history) as db:  # third: as if the journal had lost commands the history holds
            db.execute("UPDATE progress SET sequence = sequence + ?", (bump,))
        with node_on(tmp_path, run, data, http, extra, node_extra=NO_TICK) as node:
            wait_http(base, node)
            node.wait_running()
            start = StartReport.read(data)
            assert start.history_written and start.replayed_commands > 0, start
            assert (start.history_rolled_back is not None) == bool(bump), start
            assert persist_took() == 0
            before = orders_in_history()
            asyncio.run(place_more(client, [99], ids))
            node.wait_for(lambda: orders_in_history() == before + 1, what="the new order in the history")
            assert asyncio.run(statuses(client, ids)) == {i: "NEW" for i in ids}
            # before the next kill, all of it written, as above (its row alone may lack Match's report)
            node.wait_for(lambda: everything_written() == len(ids), what="Persist to write the new order's entries")
            os.killpg(node.proc.pid, signal.SIGKILL)
            node.proc.wait()


def test_commands_a_power_failure_took_from_the_journal_leave_the_history_too(tmp_path):
    """With journal.fsync = "batch" a power failure can take the journal's last commands while the
    history already holds their rows. Simulated: the node runs, Persist writes everything, the node
    is killed and the journal loses its last two records (two market buys that traded). After the
    restart the history agrees with the journal: the lost orders do not exist, their trades and
    balance changes are gone, the running balances are the node's, and the ids they had are given
    to new orders, which the history then shows as they are."""
    import sqlite3

    data, http = tmp_path / "data", free_port()
    base = f"http://127.0.0.1:{http}"
    extra = "[journal]\nsnapshot_interval_s = 0\n"
    history = data / "history.sqlite"

    def count(sql: str) -> int:
        with sqlite3.connect(history) as db:
            return db.execute(sql).fetchone()[0]

    async def trade(client_prices) -> tuple[Client, Client, list[int]]:
        async with aiohttp.ClientSession() as session:
            maker = await funded_client(session, base, ADMIN_TOKEN, BTC="1")
            taker = await funded_client(session, base, ADMIN_TOKEN, USDT="100000")
            for price in client_prices:
                status, doc = await maker.order(symbol="BTCUSDT", side="SELL", type="LIMIT", timeInForce="GTC",
                                                quantity="0.01", price=str(price))
                assert status == 200, doc
            ids = []
            for _ in range(3):
                status, doc = await taker.order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01",
                                                newOrderRespType="FULL")
                assert status == 200 and doc["status"] == "FILLED", doc
                ids.append(doc["orderId"])
            return maker, taker, ids

    async def view(client: Client, order_ids: list[int]) -> tuple[dict, dict, int]:
        async with aiohttp.ClientSession() as session:
            client.session = session
            found = {}
            for order_id in order_ids:
                status, doc = await client.signed("GET", "/api/v3/order", symbol="BTCUSDT", orderId=order_id)
                found[order_id] = doc.get("status", doc.get("code"))
            status, trades = await client.signed("GET", "/api/v3/myTrades", symbol="BTCUSDT")
            return found, await client.balances(), len(trades)

    with node_on(tmp_path, "first", data, http, extra) as node:
        wait_http(base, node)
        maker, taker, buys = asyncio.run(trade((1000, 1001, 1002)))
        node.wait_for(lambda: count("SELECT count(*) FROM trades") == 3, what="Persist to write the trades")
        os.killpg(node.proc.pid, signal.SIGKILL)
        node.proc.wait()
    lost = buys[1:]
    # the last two market buys never reached the disk, nor anything after them (a periodic Tick
    # journaled before the kill): the segment is cut at the second buy's record
    last = segments(data)[-1]
    kept = records(last.read_bytes())
    cut = next(i for i, record in enumerate(kept)
               if isinstance(command := DECODER.decode(record[16:]), NewOrder) and command.order_id == lost[0])
    last.write_bytes(b"".join(kept[:cut]))
    assert count("SELECT count(*) FROM orders WHERE order_id IN (%d, %d)" % tuple(lost)) == 2

    with node_on(tmp_path, "after-power-loss", data, http, extra) as node:
        wait_http(base, node)
        node.wait_running()
        rolled = StartReport.read(data).history_rolled_back
        assert rolled and rolled["orders deleted"] >= 2, rolled
        found, balances, trades = asyncio.run(view(taker, buys))
        assert found == {buys[0]: "FILLED", lost[0]: -2013, lost[1]: -2013}
        assert trades == 1 and count("SELECT count(*) FROM trades") == 1
        assert count("SELECT sum(trades) FROM klines WHERE interval = '1m'") == 1  # the candles agree
        with History(history, readonly=True) as h:  # the history's balances are the node's own
            rows = {asset: available for asset, (available, _frozen) in h.balances(taker.account_id).items()}
        assert balances["BTC"][0] == "0.00999000" and rows["BTC"] == 999_000  # one fill less its fee
        assert rows["USDT"] == int(Decimal(balances["USDT"][0]) * 10**8)
        # the lost ids are given to new orders, and the history shows those as they are
        async def again() -> tuple[int, dict]:
            async with aiohttp.ClientSession() as session:
                taker.session = session
                status, doc = await taker.order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                                                quantity="0.01", price="900")
                assert status == 200, doc
                status, got = await taker.signed("GET", "/api/v3/order", symbol="BTCUSDT", orderId=doc["orderId"])
                return doc["orderId"], got
        order_id, got = asyncio.run(again())
        assert order_id == lost[0] and got["status"] == "NEW" and got["price"] == "900.00000000", got
        node.wait_for(lambda: count(f"SELECT count(*) FROM orders WHERE order_id = {order_id} AND price = 90000") == 1,
                      what="the new order in the history")


SOLUSDT = """
[[symbols]]
symbol = "SOLUSDT"
base = "SOL"
quote = "USDT"
price_decimals = 2
tick_size = "0.01"
step_size = "0.001"
min_qty = "0.001"
max_qty = "100000"
min_notional = "5"
maker_fee = "0.001"
taker_fee = "0.001"
"""


def test_a_symbol_added_to_the_configuration_trades_after_a_restart(tmp_path):
    """A clean stop leaves a snapshot of every stage, made with the symbols of then. Started again
    with one more symbol, each stage has its book, candles and views (before, Match, then KLine,
    then Push stopped at its first command, journaled, and the node could never start again)."""
    data, http = tmp_path / "data", free_port()
    base = f"http://127.0.0.1:{http}"
    with node_on(tmp_path, "first", data, http) as node:
        wait_http(base, node)
        asyncio.run(place_orders(base, (100,)))
    assert manifest_position(data) == Journal.verify(data / "journal")

    async def trade_sol(trades: int):
        async with aiohttp.ClientSession() as session:
            seller = await funded_client(session, base, ADMIN_TOKEN, SOL="10")
            buyer = await funded_client(session, base, ADMIN_TOKEN, USDT="1000")
            status, sell = await seller.order(symbol="SOLUSDT", side="SELL", type="LIMIT", timeInForce="GTC",
                                              quantity="1", price="150")
            assert status == 200, sell
            status, buy = await buyer.order(symbol="SOLUSDT", side="BUY", type="MARKET", quantity="1")
            assert status == 200 and buy["status"] == "FILLED", buy
            status, ticker = await buyer.public("/api/v3/ticker/price", symbol="SOLUSDT")
            assert status == 200 and Decimal(ticker["price"]) == 150, ticker
            status, klines = await buyer.public("/api/v3/klines", symbol="SOLUSDT", interval="1m")
            assert status == 200 and sum(k[8] for k in klines) == trades, klines
            status, depth = await buyer.public("/api/v3/depth", symbol="SOLUSDT")
            assert status == 200 and depth["asks"] == [], depth
    for trades, name in enumerate(("second", "third"), 1):  # (and again: what it journaled on SOLUSDT replays)
        with node_on(tmp_path, name, data, http, extra=SOLUSDT) as node:
            wait_http(base, node)
            asyncio.run(trade_sol(trades))
            assert node.proc.poll() is None
