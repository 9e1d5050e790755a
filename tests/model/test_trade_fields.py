"""A trade's fields travel typed (TradeFields), as a balance change's do: Match makes one per fill and
five stages read it. Its JSON form is still the seed's {name, value} list, and an entry whose fields
are a map (built by hand, an older writer's msgpack, a snapshot written before) still reads the same
in every stage."""

from __future__ import annotations

import json
import pickle
import sqlite3

import msgspec
import pytest

from spot_seda.model.changelog import (JSON, MSGPACK, Batch, ChangeLogEntry, Created, TradeFields, Updated,
                                       trade_fields_of, trade_of)
from spot_seda.model.entities import TRADE_CREATED
from spot_seda.model.enums import Topic
from spot_seda.runtime.inproc import InprocPipeline
from spot_seda.stages import match
from tests.conftest import settings_from
from tests.sessions import commands, run
from tests.stages.entries import order_new, order_report, trade, trade_as_map

FIELDS = {"symbol": "BTCUSDT", "trade_id": 7, "price": 5_000_000, "qty": 100_000, "quote_qty": 5_000_000_000,
          "buyer_order_id": 70, "seller_order_id": 71, "buyer_account": 1, "seller_account": 2,
          "buyer_is_maker": False, "maker_order_id": 70, "taker_order_id": 71}


def test_the_typed_fields_are_the_entity_s_fields_in_order():
    assert TradeFields.__struct_fields__ == TRADE_CREATED == tuple(FIELDS)


def test_a_trade_is_an_array_between_stages_and_the_seed_s_names_in_json():
    entry = ChangeLogEntry("BTCUSDT:7", "SpotTrade", Created(TradeFields(*FIELDS.values())), 1, 2)
    assert entry.field_dict() == FIELDS
    doc = json.loads(JSON.encode_entry(entry))
    assert doc["change_type"] == {"type": "Created", "fields": [{"name": k, "value": v} for k, v in FIELDS.items()]}
    as_map = ChangeLogEntry("BTCUSDT:7", "SpotTrade", Created(dict(FIELDS)), 1, 2)
    assert JSON.encode_entry(as_map) == JSON.encode_entry(entry)  # byte for byte what it always was
    batch = Batch("TradeChangeLog", 0, "match-0", [entry])
    assert msgspec.msgpack.decode(MSGPACK.encode(batch))[3][0]["change_type"]["fields"] == list(FIELDS.values())
    for codec in (JSON, MSGPACK):
        [back] = codec.decode(codec.encode(batch)).entries
        assert back == entry and type(back.change_type.fields) is TradeFields


def test_a_map_still_decodes_as_a_map_and_reads_as_the_same_fields():
    old = trade_as_map(7)
    assert type(old.change_type.fields) is dict
    [back] = MSGPACK.decode(MSGPACK.encode(Batch("TradeChangeLog", 0, "match-0", [old]))).entries
    assert back.change_type.fields == old.field_dict()
    assert trade_of(back) == trade_of(trade(7)) == trade_fields_of(old.field_dict())
    assert trade_of(ChangeLogEntry(old.entity_id, old.entity_type, Updated(old.field_dict()), 1, 2)) == trade_of(old)
    other = ChangeLogEntry("BTCUSDT:7", "SpotTrade", Created({"symbol": "BTCUSDT"}), 1, 2)  # not a whole trade
    assert JSON.decode_entry(JSON.encode_entry(other)) == other
    with pytest.raises(KeyError):
        trade_of(other)


@pytest.mark.parametrize("name, value", [("price", True), ("qty", None), ("trade_id", "7"), ("symbol", 5),
                                         ("buyer_is_maker", 1), ("quote_qty", 1.5)])
def test_json_refuses_the_values_msgpack_refuses(name, value):
    """Kafka's JSON codec checks a trade's values as msgpack does: loudly, not into a record whose
    price is a bool."""
    bad = TradeFields(*(FIELDS | {name: value}).values())
    for codec in (JSON, MSGPACK):
        data = codec.encode(Batch("TradeChangeLog", 0, "match-0", [ChangeLogEntry("BTCUSDT:7", "SpotTrade",
                                                                                  Created(bad), 1, 2)]))
        with pytest.raises(msgspec.ValidationError):
            codec.decode(data)


def maps(*values):  # Match writing a trade's fields as a map, as before they were typed
    return dict(zip(TRADE_CREATED, values))


def test_every_stage_reads_a_map_as_it_reads_the_typed_fields(tmp_path, monkeypatch):
    """The same session with Match writing maps: the same change log, and the same state in
    Acquiring, Settlement, KLine and Push, the same trades in Persist's history."""
    cmds = commands(6, 600)

    def outcome(name):
        log, _, pipeline = run(tmp_path, name, cmds)
        acquiring, push = pipeline.stage("acquiring-0"), pipeline.stage("push-0")
        state = (acquiring.ledger.state_hash(), acquiring.traded_at,
                 {s: (a.qty, a.quote, list(a.times), list(a.quotes), list(a.qtys), a.last_price)
                  for s, a in acquiring.market_avgs.items()},
                 pipeline.stage("settlement-0").ledger.state_hash(),
                 pickle.dumps(pipeline.stage("kline-0").snapshot_state()), pickle.dumps(push.snapshot_state()))
        pipeline.stop()  # (Persist commits what it holds)
        with sqlite3.connect(tmp_path / name / "history.sqlite") as db:
            trades = db.execute("SELECT * FROM trades ORDER BY symbol, trade_id").fetchall()
        return log, state, trades

    typed = outcome("typed")
    monkeypatch.setattr(match, "TradeFields", maps)
    mapped = outcome("maps")
    assert typed[0].count(b'"SpotTrade"') > 200
    assert len(typed[2]) > 200 and typed[1][1]
    assert mapped == typed


def test_push_and_settlement_carry_on_from_a_snapshot_that_kept_maps(tmp_path):
    """Trades waiting in a snapshot written before they were typed: Push's fills (maps) are read as
    TradeFields after the restore, Settlement's waiting entries settle as the typed ones do."""
    settings = settings_from(f'[node]\ndata_dir = "{tmp_path}"\n[bus]\ntransport = "inproc"\n')
    pipeline = InprocPipeline(settings)
    push, settlement = pipeline.stage("push-0"), pipeline.stage("settlement-0")
    push.apply(Topic.ORDER, [order_new(20, account=1), order_new(21, account=2, side="SELL", frozen_asset="BTC",
                                                                   frozen=100_000)])
    old = trade_as_map(2)  # buyer order 20 (the maker), seller order 21 (tests/stages/entries.py)
    state = push.snapshot_state()
    state["fills"] = {20: [(old.field_dict(), old.timestamp)], 21: [(old.field_dict(), old.timestamp)]}
    push.restore_state(state)
    assert push.fills == {20: [(trade_of(old), old.timestamp)], 21: [(trade_of(old), old.timestamp)]}
    push.apply(Topic.ORDER, [order_report(20, "FILLED", 100_000, 5_000_000_000, old.timestamp, account=1)])
    assert push.orders.get(20) is None and 20 not in push.fills  # the fill was read: the order ended filled
    sstate = settlement.snapshot_state()
    sstate["trades"] = {21: [old]}  # waiting for its command's reports
    settlement.restore_state(sstate)
    settlement.ledger.adopt_hold(20, 1, "USDT", 5_000_000_000)
    settlement.ledger.adopt_hold(21, 2, "BTC", 100_000)
    out = settlement.handle_events(Topic.ORDER, [
        order_report(20, "FILLED", 100_000, 5_000_000_000, old.timestamp, account=1),
        order_report(21, "FILLED", 100_000, 5_000_000_000, old.timestamp, account=2, working_time=old.timestamp)])
    assert any(e.field_dict()["reason"] == "trade" for _t, _k, entries in out for e in entries)
    pipeline.stop()
