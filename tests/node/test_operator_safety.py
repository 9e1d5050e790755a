"""What an operator can do to a node's data dir by mistake, and what the node must then do: a second
node on a data dir in use, a closed terminal (SIGHUP), a damaged history or snapshot, a symbol's
price scale changed or a symbol with open orders taken out of the configuration, a stage that
dies at once every time. Each is refused or said aloud, and changes nothing stored."""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import aiohttp

from spot_seda.journal import Journal
from spot_seda.runtime.metrics import open_from_manifest
from spot_seda.runtime.snapshots import manifest_position, stage_path
from tests.conftest import ROOT, run_node
from tests.node.client import Client, funded_client
from tests.node.conftest import ADMIN_TOKEN, default_symbols, free_port, node_on, node_toml, wait_http


def _run(args: list[str], timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "run.py", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def _config_text(data, symbols: str | None = None, extra: str = "", http: int | None = None) -> str:
    """A node's TOML with `symbols` (default: configs/default.toml's) in place of the symbols."""
    text = node_toml(data, http or free_port(), free_port(), extra)
    return text if symbols is None else symbols + text[len(default_symbols()):]


def _config(tmp_path, data, symbols: str | None = None, extra: str = "") -> str:
    path = tmp_path / f"node-{time.monotonic_ns()}.toml"
    path.write_text(_config_text(data, symbols, extra))
    return str(path)


def _place(base: str, symbol: str = "BTCUSDT", price: str = "100") -> tuple[str, str, int]:
    """A new funded account's resting buy: (its API key, its secret, the order id)."""
    async def go():
        async with aiohttp.ClientSession() as session:
            client = await funded_client(session, base, ADMIN_TOKEN, USDT="10000")
            status, doc = await client.order(symbol=symbol, side="BUY", type="LIMIT", timeInForce="GTC",
                                             quantity="0.1", price=price)
            assert status == 200 and doc["status"] == "NEW", doc
            return client.api_key, client.secret, doc["orderId"]
    return asyncio.run(go())


def _signed(base: str, creds, method: str, path: str, **params) -> tuple[int, object]:
    async def go():
        async with aiohttp.ClientSession() as session:
            return await Client(session, base, creds[0], creds[1]).signed(method, path, **params)
    return asyncio.run(go())


def test_a_second_node_on_a_data_dir_in_use_is_refused_and_the_first_runs_on(tmp_path):
    """Before, the second one said the journal was damaged (exit 3), after starting a Persist on the
    live history and deleting the live node's run/node.json (so `run.py status` lost it)."""
    data, http = tmp_path / "data", free_port()
    base = f"http://127.0.0.1:{http}"
    with node_on(tmp_path, "first", data, http) as node:
        wait_http(base, node)
        manifest = (data / "run" / "node.json").read_text()
        done = _run(["--config", _config(tmp_path, data)], timeout=60)
        assert done.returncode == 2, done.stderr[-3000:]
        assert done.stderr.strip() == (
            f"cannot start: the data dir {data} is in use by another node (pid {node.proc.pid}): stop it first, or "
            "give this one a data dir of its own (--data-dir)")
        assert (data / "run" / "node.json").read_text() == manifest
        status = _run(["--config", str(tmp_path / "first" / "node.toml"), "status", "--once"], timeout=30)
        assert status.returncode == 0 and "acquiring-0" in status.stdout, status.stderr
        _place(base)
        assert node.proc.poll() is None


def test_sighup_stops_the_node_as_sigterm_does(tmp_path):
    """A closed terminal sends SIGHUP to the whole process group: before, the supervisor died of it
    without a word (no last snapshot) and its stages with it."""
    data, http = tmp_path / "data", free_port()
    base = f"http://127.0.0.1:{http}"
    # A node started with SIGHUP ignored keeps it ignored (nohup's contract, supervisor.py), and a
    # child inherits that: so a suite run under nohup starts this node with the default disposition.
    inherited = signal.signal(signal.SIGHUP, signal.SIG_DFL)
    try:
        with node_on(tmp_path, "first", data, http) as node:
            signal.signal(signal.SIGHUP, inherited)
            wait_http(base, node)
            _place(base)
            os.killpg(node.proc.pid, signal.SIGHUP)
            assert node.proc.wait(60) == 0
    finally:
        signal.signal(signal.SIGHUP, inherited)
    log = (tmp_path / "first" / "node.log").read_text()
    assert "received SIGHUP: draining and stopping" in log and "node stopped" in log, log[-3000:]
    assert manifest_position(data) == Journal.verify(data / "journal")  # its last snapshot: all of it
    with node_on(tmp_path, "second", data, http) as node:  # (the data dir is free again)
        wait_http(base, node)


def test_a_node_started_under_nohup_keeps_running_through_sighup(tmp_path):
    """nohup (SIGHUP ignored when run.py starts) is how a node outlives its terminal: kept."""
    data, http = tmp_path / "data", free_port()
    base = f"http://127.0.0.1:{http}"
    config = tmp_path / "node.toml"
    config.write_text(_config_text(data, http=http))
    with open(tmp_path / "node.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "run.py", "--config", str(config)], cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    try:
        wait_http(base, SimpleNamespace(proc=proc, log=(tmp_path / "node.log").read_text))
        os.killpg(proc.pid, signal.SIGHUP)
        time.sleep(1.0)
        _place(base)
        assert proc.poll() is None
    finally:
        proc.terminate()
        assert proc.wait(60) == 0


def test_a_damaged_history_is_refused_before_anything_starts(tmp_path):
    """Before, Persist died on it at once, and the whole pipeline was restarted, twice a second,
    with a traceback each time, while the supervisor ran on."""
    data = tmp_path / "data"
    data.mkdir(mode=0o700)  # (a data dir open to others is tightened with a warning: not this test's)
    (data / "history.sqlite").write_bytes(b"not a database, " * 512)
    done = _run(["--config", _config(tmp_path, data)], timeout=60)
    assert done.returncode == 3, done.stderr[-3000:]
    assert done.stderr.strip() == (
        f"cannot start: the history {data / 'history.sqlite'} is damaged (file is not a database): restore it from "
        "a copy, or move it away to start with one rebuilt from the journal (the commands it still holds)")
    assert sorted(p.name for p in data.iterdir()) == ["history.sqlite", "run"]  # (run/lock)


def test_a_stage_that_died_comes_back_with_the_whole_pipeline_after_its_back_off(tmp_path):
    """Over shared memory a dead stage takes the whole pipeline down (its queues cannot be trusted);
    it comes back after the dead stage's back-off, Persist included (before, Persist was started
    again at once, so one that died at once every time was restarted, with a replay of the journal,
    as fast as it died)."""
    data, http = tmp_path / "data", free_port()
    base = f"http://127.0.0.1:{http}"
    # a back-off long enough for `run.py status` to start and answer within it on a busy box
    extra = "[runtime]\nrestart_backoff_s = 8.0\nrestart_backoff_max_s = 16.0\n"
    with node_on(tmp_path, "first", data, http, extra=extra) as node:
        wait_http(base, node)
        node.wait_running()
        table = open_from_manifest(data)
        pids = {row["stage"]: row["pid"] for row in table.snapshot()}
        os.kill(pids["persist-0"], signal.SIGKILL)
        killed = time.monotonic()
        time.sleep(0.5)
        status = _run(["--config", str(tmp_path / "first" / "node.toml"), "status", "--once", "--interval", "0.1"],
                      timeout=30)
        assert time.monotonic() - killed < 7.0, "too slow to tell"  # (the back-off is 8 s)
        assert "the node is restarting its pipeline" in status.stdout, status.stdout
        while time.monotonic() - killed < 6.5:  # (its back-off is 8 s)
            alive = {row["stage"]: row["pid"] for row in table.snapshot() if row["pid"]}
            assert all(pid == pids[label] for label, pid in alive.items()), alive  # (nothing new started yet)
            time.sleep(0.05)
        wait_http(base, node, timeout=60)
        _place(base)
        rows = {row["stage"]: row for row in table.snapshot()}
        assert rows["persist-0"]["pid"] not in (0, pids["persist-0"]) and rows["persist-0"]["restarts"] == 1
    log = (tmp_path / "first" / "node.log").read_text()
    assert log.count("restarting the whole pipeline") == 1, log[-3000:]


def _symbols_without(symbol: str) -> str:
    text = default_symbols()
    blocks = text.split("[[symbols]]")
    return "[[symbols]]".join(b for b in blocks if f'symbol = "{symbol}"' not in b)


def test_a_symbols_price_scale_changed_under_stored_orders_is_refused(tmp_path):
    """Before, price_decimals 2 -> 3 read every stored price a tenth as big: a bid at 100.00 rested at
    10.000, without a word."""
    data, http = tmp_path / "data", free_port()
    base = f"http://127.0.0.1:{http}"
    with node_on(tmp_path, "first", data, http) as node:
        wait_http(base, node)
        key_and_id = _place(base)
    assert json.loads((data / "symbols.json").read_text())["symbols"]["BTCUSDT"] == {
        "base": "BTC", "quote": "USDT", "price_decimals": 2, "maker_fee_ppm": 1000, "taker_fee_ppm": 1000}
    symbols = default_symbols().replace("price_decimals = 2", "price_decimals = 3", 1)
    assert symbols != default_symbols()
    done = _run(["--config", _config(tmp_path, data, symbols)], timeout=60)
    assert done.returncode == 2, done.stderr[-3000:]
    assert done.stderr.strip() == (
        "cannot start: symbols.BTCUSDT.price_decimals is 3, and this data dir's orders, trades and balances of it "
        f"were stored with 2 ({data / 'symbols.json'}): a symbol's price scale and assets cannot change under its "
        "stored state; put the old values back, or list the new market under a new symbol name")
    with node_on(tmp_path, "second", data, http) as node:  # as it was: the order as placed
        wait_http(base, node)
        status, orders = _signed(base, key_and_id, "GET", "/api/v3/openOrders")
        assert status == 200 and [(o["orderId"], o["price"]) for o in orders] == [(key_and_id[2], "100.00000000")]


def test_a_symbol_with_open_orders_cannot_be_taken_out_until_they_are_gone(tmp_path):
    """Before, the node started, the orders' funds stayed frozen for good, and GET openOrders without
    a symbol answered 500 (KeyError) to their owner."""
    data, http = tmp_path / "data", free_port()
    base = f"http://127.0.0.1:{http}"
    with node_on(tmp_path, "first", data, http) as node:
        wait_http(base, node)
        key_and_id = _place(base, "ETHUSDT")
    without = _config(tmp_path, data, _symbols_without("ETHUSDT"))
    done = _run(["--config", without], timeout=60)
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr and done.stderr.strip().splitlines()[-1] == (
        "cannot start: ETHUSDT (1 open order) no longer in the configuration's symbols, with orders still open on it: "
        "their funds would stay frozen with no book to trade or cancel them; list it again, have its orders "
        "cancelled, then take it out")
    with node_on(tmp_path, "second", data, http) as node:
        wait_http(base, node)
        status, doc = _signed(base, key_and_id, "DELETE", "/api/v3/order", symbol="ETHUSDT", orderId=key_and_id[2])
        assert status == 200 and doc["status"] == "CANCELED", doc
    (tmp_path / "third").mkdir()
    with run_node(tmp_path / "third", _config_text(data, _symbols_without("ETHUSDT"), http=http)) as node:
        wait_http(base, node)
        status, orders = _signed(base, key_and_id, "GET", "/api/v3/openOrders")
        assert (status, orders) == (200, [])
    assert "ETHUSDT" in json.loads((data / "symbols.json").read_text())["symbols"]  # (kept: back only as it was)


def test_a_damaged_snapshot_is_said_and_replaced_by_the_whole_journal_while_it_is_there(tmp_path):
    """Before, a damaged snapshot was skipped without a word; with the journal's first segments
    rotated away the node then failed on a journal 'starting at' some position."""
    data, http = tmp_path / "data", free_port()
    base = f"http://127.0.0.1:{http}"
    with node_on(tmp_path, "first", data, http) as node:
        wait_http(base, node)
        key_and_id = _place(base)
    position = manifest_position(data)
    path = stage_path(data, "acquiring-0", position)
    path.write_bytes(path.read_bytes()[:100])
    with node_on(tmp_path, "second", data, http) as node:
        wait_http(base, node)
        status, orders = _signed(base, key_and_id, "GET", "/api/v3/openOrders")
        assert status == 200 and [o["orderId"] for o in orders] == [key_and_id[2]]
    log = (tmp_path / "second" / "node.log").read_text()
    assert (f"the snapshot at journal position {position} in {data / 'snapshots'} is damaged (acquiring-0-{position}.pkl: "
            in log), log[-3000:]
    assert "replaying the whole journal instead" in log


def test_a_damaged_snapshot_with_the_journal_before_it_rotated_away_is_refused(tmp_path):
    data, http = tmp_path / "data", free_port()
    base = f"http://127.0.0.1:{http}"
    small = "[journal]\nsegment_bytes = 300\n"
    with node_on(tmp_path, "first", data, http, extra=small) as node:
        wait_http(base, node)
        for price in ("100", "101", "102"):
            _place(base, price=price)
    with node_on(tmp_path, "second", data, http, extra=small) as node:  # (rotates what the first one's snapshot covers)
        wait_http(base, node)
    from spot_seda.journal import frames

    first = frames.first_on_disk(data / "journal")
    assert first > 1
    position = manifest_position(data)
    path = stage_path(data, "match-0", position)
    path.write_bytes(pickle.dumps({"not": "a state"})[:5])
    done = _run(["--config", _config(tmp_path, data, extra=small)], timeout=60)
    assert done.returncode == 3, done.stderr[-3000:]
    said = done.stderr.strip().splitlines()[-1]
    assert said.startswith(f"cannot start: the snapshot at journal position {position} in {data / 'snapshots'} is "
                           f"damaged (match-0-{position}.pkl: "), said
    assert said.endswith(f"and the journal's commands before position {first} were rotated away after it "
                         "(journal.rotate): restore the snapshots directory from a copy"), said


def test_a_damaged_snapshot_with_no_journal_to_replay_is_refused_and_the_history_kept(tmp_path):
    """Replaying an absent journal instead would have rolled the history back to nothing."""
    from spot_seda.history import History

    data, http = tmp_path / "data", free_port()
    base = f"http://127.0.0.1:{http}"
    with node_on(tmp_path, "first", data, http) as node:
        wait_http(base, node)
        _place(base)
    position = manifest_position(data)
    path = stage_path(data, "acquiring-0", position)
    path.write_bytes(path.read_bytes()[:100])
    (data / "journal").rename(tmp_path / "journal-elsewhere")
    done = _run(["--config", _config(tmp_path, data)], timeout=60)
    assert done.returncode == 3, done.stderr[-3000:]
    said = done.stderr.strip().splitlines()[-1]
    assert said.startswith(f"cannot start: the snapshot at journal position {position} in {data / 'snapshots'} is "
                           f"damaged (acquiring-0-{position}.pkl: "), said
    assert said.endswith(f"and there is no journal in {data / 'journal'} to replay instead: restore the snapshots "
                         "directory (or the journal) from a copy"), said
    with History(data / "history.sqlite", readonly=True) as history:
        assert history._db.execute("SELECT count(*) FROM orders").fetchone()[0] == 1


def test_a_symbol_taken_out_with_commands_since_the_last_snapshot_is_refused_by_name(tmp_path):
    """After a kill -9 the journal's commands since the last snapshot replay at the start: one on a
    symbol taken out cannot, and the refusal says why rather than blaming the journal."""
    data, http = tmp_path / "data", free_port()
    base = f"http://127.0.0.1:{http}"
    only_at_stop = "[journal]\nsnapshot_interval_s = 0\n"
    with node_on(tmp_path, "first", data, http, extra=only_at_stop) as node:
        wait_http(base, node)
        creds = _place(base, "ETHUSDT")
        status, doc = _signed(base, creds, "DELETE", "/api/v3/order", symbol="ETHUSDT", orderId=creds[2])
        assert status == 200, doc
        os.killpg(node.proc.pid, signal.SIGKILL)
        node.proc.wait()
    done = _run(["--config", _config(tmp_path, data, _symbols_without("ETHUSDT"), extra=only_at_stop)], timeout=60)
    assert done.returncode == 2, done.stderr[-3000:]
    said = done.stderr.strip().splitlines()[-1]
    assert said.startswith("cannot start: ETHUSDT no longer in the configuration's symbols, and the journal's "
                           "commands since the last snapshot cannot be replayed without it ("), said
    assert said.endswith("list it again, start the node and stop it cleanly (its last snapshot then holds them), "
                         "then take it out"), said


def _trade(base: str) -> tuple[tuple, tuple]:
    """One trade of 0.1 BTC at 100: a resting sell (the maker) and a market buy (the taker); the two
    accounts' credentials."""
    async def go():
        async with aiohttp.ClientSession() as session:
            seller = await funded_client(session, base, ADMIN_TOKEN, BTC="1")
            buyer = await funded_client(session, base, ADMIN_TOKEN, USDT="1000")
            status, doc = await seller.order(symbol="BTCUSDT", side="SELL", type="LIMIT", timeInForce="GTC",
                                             quantity="0.1", price="100")
            assert status == 200, doc
            status, doc = await buyer.order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.1",
                                            newOrderRespType="FULL")
            assert status == 200 and doc["status"] == "FILLED", doc
            return (seller.api_key, seller.secret), (buyer.api_key, buyer.secret)
    return asyncio.run(go())


def _commissions(base: str, creds) -> list[str]:
    status, trades = _signed(base, creds, "GET", "/api/v3/myTrades", symbol="BTCUSDT")
    assert status == 200, trades
    return [t["commission"] for t in trades]


def test_changed_fees_apply_from_the_restart_and_leave_past_commissions_as_paid(tmp_path):
    """Before, myTrades computed every past trade's commission at the current rates: after a change,
    the history said each trade had paid what it had not (the balances had paid the old rates)."""
    data, http = tmp_path / "data", free_port()
    base = f"http://127.0.0.1:{http}"
    with node_on(tmp_path, "first", data, http) as node:
        wait_http(base, node)
        seller, buyer = _trade(base)
        assert _commissions(base, seller) == ["0.01000000"] and _commissions(base, buyer) == ["0.00010000"]
    dearer = default_symbols().replace('maker_fee = "0.001"', 'maker_fee = "0.002"', 1).replace(
        'taker_fee = "0.001"', 'taker_fee = "0.003"', 1)
    (tmp_path / "second").mkdir()
    with run_node(tmp_path / "second", _config_text(data, dearer, http=http)) as node:
        wait_http(base, node)
        assert _commissions(base, seller) == ["0.01000000"] and _commissions(base, buyer) == ["0.00010000"]
        seller2, buyer2 = _trade(base)  # (the new rates from now on: the maker 0.2%, the taker 0.3%)
        assert _commissions(base, seller2) == ["0.02000000"] and _commissions(base, buyer2) == ["0.00030000"]


def test_changed_fees_after_a_kill_are_refused_while_trades_wait_to_be_replayed(tmp_path):
    data, http = tmp_path / "data", free_port()
    base = f"http://127.0.0.1:{http}"
    only_at_stop = "[journal]\nsnapshot_interval_s = 0\n"
    with node_on(tmp_path, "first", data, http, extra=only_at_stop) as node:
        wait_http(base, node)
        _trade(base)
        os.killpg(node.proc.pid, signal.SIGKILL)
        node.proc.wait()
    dearer = default_symbols().replace('taker_fee = "0.001"', 'taker_fee = "0.003"', 1)
    done = _run(["--config", _config(tmp_path, data, dearer, extra=only_at_stop)], timeout=60)
    assert done.returncode == 2, done.stderr[-3000:]
    assert done.stderr.strip() == (
        "cannot start: the fees of BTCUSDT changed, and the journal holds commands the last snapshot does not (the "
        "node was not stopped cleanly): replayed now, their trades would pay the new rates where their clients were "
        "told the old ones; start once with the old fees and stop the node cleanly, then change them")
    with node_on(tmp_path, "second", data, http, extra=only_at_stop) as node:  # the old fees: it starts
        wait_http(base, node)


def test_a_stop_asked_for_during_the_start_replay_does_not_open_the_servers(tmp_path):
    """Before, SIGTERM during the journal's replay at the start let the replay finish, started every
    stage, the HTTP and WebSocket servers included, and only then stopped them."""
    from spot_seda.model.commands import ENCODER, Transfer

    data, http = tmp_path / "data", free_port()
    journal = Journal(data / "journal", fsync="off")
    for i in range(300_000):
        journal.append(ENCODER.encode(Transfer(1 + i % 1000, "USDT", 10**8, 1_767_225_600_000 + i, f"t{i}")))
    journal.close()
    with node_on(tmp_path, "first", data, http) as node:
        deadline = time.monotonic() + 30
        while "replaying" not in node.log() and "Replaying" not in node.log():
            assert time.monotonic() < deadline and node.proc.poll() is None, node.log()[-3000:]
            if (data / "run" / "node.json").exists():
                break
            time.sleep(0.02)
        os.killpg(node.proc.pid, signal.SIGTERM)
        assert node.proc.wait(120) == 0
        log = node.log()
    assert "received SIGTERM: draining and stopping (during the start: the stages not started yet will not be)" \
        in log, log[-3000:]
    # (Push runs beside the replay, taking its output, and opens its port only once it has all of it)
    assert "SpotAcquiringStage started" not in log and "WebSocket on ws://" not in log, log[-3000:]
    assert "push-0 takes the replay's output beside it" in log, log[-3000:]
    assert "node stopped" in log
    with node_on(tmp_path, "second", data, http) as node:  # the journal whole: every deposit there
        base = f"http://127.0.0.1:{http}"
        wait_http(base, node, timeout=120)
        status = _run(["--config", str(tmp_path / "second" / "node.toml"), "status", "--once"], timeout=30)
        assert status.returncode == 0 and " up " in status.stdout, status.stdout


def test_status_tells_a_stopped_stage_from_an_idle_one(tmp_path):
    """Before, a stage stopped with SIGSTOP showed as an idle one (no input, no rate), and `--once`
    printed rates of 0 for every stage (one sample)."""
    data, http = tmp_path / "data", free_port()
    with node_on(tmp_path, "first", data, http) as node:
        wait_http(f"http://127.0.0.1:{http}", node)
        node.wait_running()
        config = str(tmp_path / "first" / "node.toml")
        kline = {row["stage"]: row["pid"] for row in open_from_manifest(data).snapshot()}["kline-0"]
        os.kill(kline, signal.SIGSTOP)
        try:
            time.sleep(6.5)  # (stalled past 5 s; the supervisor kills it at runtime.stall_timeout_s, 10 s)
            done = _run(["--config", config, "status", "--once", "--interval", "0.5"], timeout=30)
        finally:
            os.kill(kline, signal.SIGCONT)
        assert done.returncode == 0, done.stderr
        lines = {line.split()[0]: line for line in done.stdout.splitlines() if line.startswith(("kline-0", "match-0"))}
        assert " stalled " in lines["kline-0"] and " up " in lines["match-0"], done.stdout
        assert len(lines["match-0"].split()) == 10, lines  # (in/s and busy% there: two samples, not one)
