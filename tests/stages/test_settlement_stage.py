"""SettlementStage in memory: Match's output in, balance changes out, whatever the batching.

A command's order updates may reach Settlement cut between two batches (a large publish is split
into several queue messages, and the runner hands at most bus.batch_max entries to one call); the
balance changes must be the same as when each command arrives whole."""

from __future__ import annotations

import random

import pytest

from spot_seda.model.entities import BALANCE_FIELDS, KLINE_FIELDS, TRADE_CREATED
from spot_seda.model.enums import EntityType, Topic
from spot_seda.runtime.inproc import InprocPipeline
from spot_seda.runtime.replay import apply_commands, record
from spot_seda.stages.base import StageContext
from spot_seda.stages.settlement import SettlementStage
from tests.conftest import settings_from
from tests.sessions import session, stop_commands


def match_output(tmp_path, make=session) -> list:
    """Match's batches (TradeChangeLog and OrderChangeLog) for a random session, in the order published."""
    pipeline = InprocPipeline(settings_from(""), tmp_path / "run")
    sink = record(pipeline)
    apply_commands(pipeline, make(7, 400), journaled=False)
    pipeline.stop()
    return [b for b in sink if b.producer == "match-0"]


def settle(tmp_path, batches, cut) -> list:
    """Feed the batches to a fresh Settlement, each cut by `cut(n)` into pieces; its balance changes."""
    stage = SettlementStage(StageContext(settings_from(""), "settlement", 0, 1, tmp_path / "s"))
    stage.start()
    out = []
    for b in batches:
        entries = b.entries
        start = 0
        for end in [*cut(len(entries)), len(entries)]:
            if end > start:
                out += [e for _t, _k, es in stage.handle_events(b.topic, entries[start:end]) for e in es]
                start = end
    assert stage.partial == {} and stage.trades == {}  # every command ended, every trade settled
    return [(e.entity_id, e.field_dict()) for e in out]


@pytest.mark.parametrize("make", [session, stop_commands], ids=["plain", "with_stops"])
def test_a_command_cut_between_batches_settles_as_a_whole_one(tmp_path, make):
    """(with stops: a command's records go on with the stops it triggered, each part ended by the
    stop's report with working_time)"""
    batches = match_output(tmp_path, make)
    orders = sum(len(b.entries) for b in batches if b.topic == Topic.ORDER)
    assert orders > 300 and any(b.topic == Topic.TRADE for b in batches)
    whole = settle(tmp_path, batches, lambda n: [])
    assert len(whole) > 200
    rng = random.Random(1)
    assert settle(tmp_path, batches, lambda n: sorted(rng.sample(range(1, n), min(n - 1, 3))) if n > 1 else []) == whole
    assert settle(tmp_path, batches, lambda n: list(range(1, n))) == whole  # one entry per call


def test_trades_that_arrive_long_before_their_orders_settle_the_same(tmp_path):
    """The two topics are separate queues: in a replay Settlement may read every trade first. A stop
    order is the taker of its placement (no trade) and of its trigger, so the trigger's trades must
    wait for the trigger's report, not go with the placement's."""
    batches = match_output(tmp_path, stop_commands)
    in_order = settle(tmp_path, batches, lambda n: [])
    trades_first = [b for b in batches if b.topic == Topic.TRADE] + [b for b in batches if b.topic != Topic.TRADE]
    assert settle(tmp_path, trades_first, lambda n: []) == in_order
    triggers = sum("working_time" in e.field_dict() and e.field_dict().get("type") is None
                   for b in batches if b.topic == Topic.ORDER for e in b.entries)
    assert triggers > 5  # the session triggered stops (a trigger's report: working_time, not a first report)


def test_commands_of_two_symbols_interleaved_mid_command_settle_the_same(tmp_path):
    """Over Kafka with several partitions, a command cut between messages may have another
    partition's (symbol's) updates come in between its pieces: each symbol's command is still
    settled whole (the same changes; only their order across symbols may differ)."""
    batches = match_output(tmp_path)
    whole = settle(tmp_path, batches, lambda n: [])
    assert len({f["asset"] for _id, f in whole}) > 2  # both symbols traded
    stage = SettlementStage(StageContext(settings_from(""), "settlement", 0, 1, tmp_path / "s"))
    stage.start()
    rng = random.Random(2)
    out = []
    for b in batches:
        if b.topic != Topic.ORDER:
            out += [e for _t, _k, es in stage.handle_events(b.topic, b.entries) for e in es]
            continue
        queues: dict[str, list] = {}
        for e in b.entries:
            queues.setdefault(e.field_dict()["symbol"], []).append(e)
        while queues:  # one entry at a time, the symbols' streams mixed at random, each in its order
            symbol = rng.choice(sorted(queues))
            out += [e for _t, _k, es in stage.handle_events(b.topic, [queues[symbol].pop(0)]) for e in es]
            if not queues[symbol]:
                del queues[symbol]
    assert stage.partial == {} and stage.trades == {}
    key = lambda item: repr(item)  # noqa: E731
    assert sorted(((e.entity_id, e.field_dict()) for e in out), key=key) == sorted(whole, key=key)


def test_every_stage_writes_an_entity_kinds_fields_in_the_documented_order(tmp_path):
    """Trades, candles and balance changes carry the fields model/entities.py lists, in that order,
    whichever stage wrote them (Acquiring's and Settlement's balance changes alike): the JSON form
    shows them so, and a row of the history is them in that order."""
    pipeline = InprocPipeline(settings_from(""), tmp_path / "run")
    sink = record(pipeline)
    apply_commands(pipeline, session(11, 300), journaled=False)
    pipeline.stop()
    layouts: dict[tuple[str, str], set] = {}
    for b in sink:
        for e in b.entries:
            if b.topic in (Topic.TRADE, Topic.KLINE, Topic.BALANCE) and e.entity_type != EntityType.CLOCK:  # (Ticks)
                layouts.setdefault((b.topic, b.producer.rpartition("-")[0]), set()).add(tuple(e.field_dict()))
    assert layouts == {
        (Topic.TRADE, "match"): {TRADE_CREATED}, (Topic.KLINE, "kline"): {KLINE_FIELDS},
        (Topic.BALANCE, "acquiring"): {BALANCE_FIELDS}, (Topic.BALANCE, "settlement"): {BALANCE_FIELDS},
    }


def test_a_takers_fills_in_one_command_make_one_pay_and_one_receive(tmp_path):
    """Settlement nets a command's balance changes (engine/ledger.py net_changes): an order that took
    several makers in one command and never rested pays once and receives once."""
    batches = match_output(tmp_path)
    trades = [e.field_dict() for b in batches if b.topic == Topic.TRADE for e in b.entries
              if e.entity_type == EntityType.TRADE]
    fills: dict[int, int] = {}
    for t in trades:
        fills[t["taker_order_id"]] = fills.get(t["taker_order_id"], 0) + 1
    makers = {t["maker_order_id"] for t in trades}
    several = {order for order, n in fills.items() if n > 1 and order not in makers}
    assert len(several) > 10  # the session has such takers
    changes = settle(tmp_path, batches, lambda n: [])
    per_taker: dict[int, int] = {}
    for _id, f in changes:
        if f["reason"] == "trade" and f["ref"] in several:
            per_taker[f["ref"]] = per_taker.get(f["ref"], 0) + 1
    assert per_taker == {order: 2 for order in several}
