"""PersistStage: batches in, history out; and a whole trading session through the node's stages, whose
history must agree with the stages' own state — also after a recovery replays the journal over it."""

from __future__ import annotations

import gc
import random

import pytest

from spot_seda import topology
from spot_seda.history import History
from spot_seda.model.commands import NewOrder
from spot_seda.model.enums import Topic
from spot_seda.runtime.inproc import InprocPipeline
from spot_seda.runtime.replay import apply_commands, record
from spot_seda.stages.base import StageContext
from spot_seda.stages.persist import PersistStage
from tests.conftest import settings_from
from tests.sessions import session
from tests.stages.entries import T0, balance, dump, kline, order_new, order_report, trade


def test_the_stage_writes_every_topic_and_publishes_nothing(tmp_path):
    ctx = StageContext(settings_from(""), "persist", 0, 1, tmp_path / "data")
    stage = PersistStage(ctx)
    assert set(stage.consumes) == set(Topic.ALL) and stage.produces == ()
    stage.start()
    assert stage.handle_events(Topic.ORDER, [order_new(1), order_report(1, "FILLED", 100_000, 7, T0 + 1)]) == []
    assert stage.handle_events(Topic.TRADE, [trade(1)]) == []
    assert stage.handle_events(Topic.KLINE, [kline(T0, 1)]) == []
    assert stage.handle_events(Topic.BALANCE, [balance(1, "BTC", 5)]) == []
    stage.stop()
    stage.stop()  # recovery stops it before the fork, the pipeline may stop it again
    with History(tmp_path / "data" / "history.sqlite", readonly=True) as h:
        assert h.order(1).status.name == "FILLED"
        assert len(h.trades("BTCUSDT")) == 1 and len(h.klines("BTCUSDT", "1m")) == 1
        assert h.balances(1) == {"BTC": (5, 0)}


def test_a_commit_builds_its_rows_without_a_collector_pass(tmp_path):
    """The rows of a commit (a tuple each, alive until the statements ran) are never walked by the
    cyclic collector, however low its threshold; it is on again after the commit, also after one
    that failed, and a process that had it off keeps it off."""
    ctx = StageContext(settings_from(""), "persist", 0, 1, tmp_path / "data")
    stage = PersistStage(ctx)
    stage.start()
    passes, during = [], []
    thresholds = gc.get_threshold()
    write = stage.history.apply

    def count(phase, _info):
        if phase == "start":
            passes.append(1)

    def watched(*args):
        before = len(passes)
        try:
            return write(*args)
        finally:
            during.append(len(passes) - before)

    stage.history.apply = watched
    gc.callbacks.append(count)
    gc.set_threshold(10)
    try:
        stage.pending = [balance(1, "BTC", 5) for _ in range(3_000)]
        stage.commit()
        assert during == [0] and gc.isenabled()
        assert passes  # (the threshold is low enough: building the entries above took passes)
        assert History(tmp_path / "data" / "history.sqlite", readonly=True).balances(1) == {"BTC": (15_000, 0)}
        stage.pending = [balance(1, "BTC", "five")]  # (a commit that fails)
        with pytest.raises(Exception):
            stage.commit()
        assert gc.isenabled()
        gc.disable()
        stage.pending = [balance(1, "BTC", 5)]
        stage.commit()
        assert not gc.isenabled()
    finally:
        gc.enable()
        gc.set_threshold(*thresholds)
        gc.callbacks.remove(count)
        stage.stop()


@pytest.fixture
def node_with_persist(monkeypatch):
    """The node topology with Persist in it (whether or not topology.py lists it yet)."""
    specs = topology.TOPOLOGIES["node"]
    if not any(s.name == "persist" for s in specs):
        monkeypatch.setitem(topology.TOPOLOGIES, "node",
                            (*specs, topology.StageSpec("persist", "spot_seda.stages.persist:PersistStage")))


def test_a_session_history_agrees_with_the_stages_and_survives_a_replay(tmp_path, node_with_persist):
    data = tmp_path / "data"
    settings = settings_from(f'[node]\ndata_dir = "{data}"\n[bus]\ntransport = "inproc"\n')
    pipeline = InprocPipeline(settings)
    log = record(pipeline)
    journal: list = []
    apply_commands(pipeline, session(3, 800), journaled=False, accepted=journal, final_tick=True)  # (candles out)
    pipeline.pump()

    entries = [e for b in log for e in b.entries]
    trades = [e.field_dict() for e in entries if e.entity_type == "SpotTrade"]
    assert len(trades) > 100  # the session really traded
    acquiring = pipeline.stage("acquiring-0")
    path = data / "history.sqlite"
    with History(path, readonly=True) as h:
        # balances: the sum of every delta equals the ledger the node trades on, fee account included
        for account in (0, 1, 2, 3):
            ledger = {a: b for a, b in acquiring.ledger.balances(account).items() if b != (0, 0)}
            assert {a: b for a, b in h.balances(account).items() if b != (0, 0)} == ledger
        # orders: every accepted order, in the state Acquiring's view holds
        orders = {o.order_id: o for s in ("BTCUSDT", "ETHUSDT") for a in (1, 2, 3)
                  for o in h.all_orders(a, s, order_id=0, limit=1000)}
        assert len(orders) == sum(type(c) is NewOrder for c in journal)
        for order_id, view in acquiring.orders.items():
            row = orders[order_id]
            assert (row.status, row.executed_qty, row.cum_quote_qty) == \
                (view.status, view.executed_qty, view.cum_quote_qty)
        # trades and candles: all of them, and the 1m volumes add up to the traded quantity
        for symbol in ("BTCUSDT", "ETHUSDT"):
            mine = [t for t in trades if t["symbol"] == symbol]
            stored = h.trades_from(symbol, 0, limit=1000)
            assert [t["trade_id"] for t in stored] == [t["trade_id"] for t in mine]
            candles = h.klines(symbol, "1m", start_time=0, limit=1000)
            assert sum(k["volume"] for k in candles) == sum(t["qty"] for t in mine)
            assert sum(k["trades"] for k in candles) == len(mine)
    pipeline.stop()
    before = dump(path)

    # recovery: fresh stages replay the journal, and Persist writes the same history over itself
    again = InprocPipeline(settings)
    apply_commands(again, journal, journaled=True)
    again.stop()
    assert dump(path) == before


def test_persist_records_the_last_sequence_of_every_stream_it_wrote(tmp_path, node_with_persist):
    """History.progress is what recovery trusts to leave out: after a session it must name exactly
    the last sequence of every (topic, partition, producer) stream Persist was sent."""
    from spot_seda.stages.base import sequence_layout

    settings = settings_from(f'[node]\ndata_dir = "{tmp_path}"\n[bus]\ntransport = "inproc"\n')
    pipeline = InprocPipeline(settings)
    log = record(pipeline)
    apply_commands(pipeline, session(5, 400), journaled=False)
    pipeline.stop()
    last = {}
    for b in log:
        last[(b.topic, b.partition, b.producer)] = b.entries[-1].sequence
    assert len(last) >= 6
    with History(tmp_path / "history.sqlite", readonly=True) as h:
        assert h.progress(sequence_layout(settings)) == last


def test_a_24_hour_window_from_candles_and_trades_equals_one_from_every_trade(tmp_path, node_with_persist):
    """History.trade_window reads whole minutes from the closed 1m candles and only the edges from
    the trades: at any window start (on a minute or inside one, before the first trade or after
    the last) it must say exactly what summing every trade in the window says."""
    from spot_seda.model.summary import summarize

    settings = settings_from(f'[node]\ndata_dir = "{tmp_path}"\n[bus]\ntransport = "inproc"\n')
    pipeline = InprocPipeline(settings)
    apply_commands(pipeline, session(9, 1500), journaled=False)
    pipeline.stop()
    rng = random.Random(4)
    with History(tmp_path / "history.sqlite", readonly=True) as h:
        for symbol in ("BTCUSDT", "ETHUSDT"):
            every = h.trades_since(symbol, 0)
            assert len(every) > 200 and len(h.klines(symbol, "1m", start_time=0, limit=1000)) > 20
            first, last = every[0]["time"], every[-1]["time"]
            starts = [0, first, first + 1, last, last + 1, first - first % 60_000, (first // 60_000 + 3) * 60_000]
            starts += [rng.randint(first, last) for _ in range(40)]
            for start in starts:
                inside = [t for t in every if t["time"] >= start]
                before = [t for t in every if t["time"] < start]
                summary, prev_close = h.trade_window(symbol, start)
                assert summary == summarize(inside), start
                assert prev_close == (before[-1]["price"] if before else None), start


def test_the_layout_names_only_what_changes_sequences():
    from spot_seda.stages.base import sequence_layout

    default = sequence_layout(settings_from(""))
    assert sequence_layout(settings_from("[runtime.instances]\nmatch = 1\n")) == default  # 1 is the default
    assert sequence_layout(settings_from("[runtime.instances]\nkline = 2\n")) != default
    assert sequence_layout(settings_from("[bus]\npartitions = 2\n")) != default
