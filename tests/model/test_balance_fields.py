"""A balance change's fields travel typed (BalanceFields): more than half of all entries are balance
changes, read by Acquiring, Push and Persist. Its JSON form is still the seed's {name, value} list,
and an entry whose fields are a map (built by hand, or an older writer's msgpack) still reads the
same in every stage."""

from __future__ import annotations

import json
import sqlite3

import msgspec
import pytest

from spot_seda.model.changelog import (JSON, MSGPACK, BalanceFields, Batch, ChangeLogEntry, Created, Updated,
                                       balance_fields_of, balance_of, created, updated)
from spot_seda.model.enums import Topic
from spot_seda.runtime.inproc import InprocPipeline
from tests.conftest import settings_from
from tests.stages.entries import balance, balance_as_map
from spot_seda.model.entities import BALANCE_FIELDS
from spot_seda.stages import accepting, acquiring, settlement
from tests.sessions import commands, run

FIELDS = {"account": 3, "asset": "USDT", "available_delta": -5, "frozen_delta": 5, "reason": "freeze", "ref": 7}


def test_the_typed_fields_are_the_entity_s_fields_in_order():
    assert BalanceFields.__struct_fields__ == BALANCE_FIELDS


def test_a_balance_change_is_an_array_between_stages_and_the_seed_s_names_in_json():
    entry = ChangeLogEntry("3:USDT", "SpotBalance", Updated(BalanceFields(*FIELDS.values())), 1, 2)
    assert entry.field_dict() == FIELDS
    doc = json.loads(JSON.encode_entry(entry))
    assert doc["change_type"] == {"type": "Updated",
                                  "changed_fields": [{"name": k, "value": v} for k, v in FIELDS.items()]}
    batch = Batch("BalanceChangeLog", 0, "acquiring-0", [entry])
    assert msgspec.msgpack.decode(MSGPACK.encode(batch))[3][0]["change_type"]["changed_fields"] == list(FIELDS.values())
    for codec in (JSON, MSGPACK):
        [back] = codec.decode(codec.encode(batch)).entries
        assert back == entry and type(back.change_type.changed_fields) is BalanceFields
    transfer = BalanceFields(3, "USDT", 10, 0, "deposit", "transfer-1")  # (a transfer's ref is text)
    assert MSGPACK.decode(MSGPACK.encode(Batch("b", 0, "p", [ChangeLogEntry("3:USDT", "SpotBalance", Updated(
        transfer), 1, 3)]))).entries[0].change_type.changed_fields == transfer


def test_a_map_still_decodes_as_a_map_and_reads_as_the_same_fields():
    old = updated("3:USDT", "SpotBalance", 1, 2, **FIELDS)
    [back] = MSGPACK.decode(MSGPACK.encode(Batch("BalanceChangeLog", 0, "acquiring-0", [old]))).entries
    assert back.change_type.changed_fields == FIELDS
    assert balance_fields_of(back.change_type.changed_fields) == BalanceFields(*FIELDS.values())
    # a map that is not a balance change's whole fields stays a map in JSON too
    other = updated("3:USDT", "SpotBalance", 1, 2, account=3)
    assert JSON.decode_entry(JSON.encode_entry(other)) == other
    # JSON names every field either way: a map of all six comes back typed (the same fields)
    back = JSON.decode_entry(JSON.encode_entry(old))
    assert type(back.change_type.changed_fields) is BalanceFields and back.field_dict() == FIELDS


@pytest.mark.parametrize("name, value", [("available_delta", True), ("frozen_delta", None), ("account", "3"),
                                         ("asset", 5), ("ref", 1.5)])
def test_json_refuses_the_values_msgpack_refuses(name, value):
    """Kafka's JSON codec checks a balance change's values as msgpack does: loudly, not into a record
    whose delta is a bool."""
    bad = updated("3:USDT", "SpotBalance", 1, 2, **(FIELDS | {name: value}))
    for codec in (JSON, MSGPACK):
        data = codec.encode(Batch("BalanceChangeLog", 0, "acquiring-0", [ChangeLogEntry(
            bad.entity_id, bad.entity_type, Updated(BalanceFields(*bad.field_dict().values())), 1, 2)]))
        with pytest.raises(msgspec.ValidationError):
            codec.decode(data)


def test_every_reader_takes_a_map_as_created_or_updated(tmp_path):
    """An entry built by hand may say Created (Persist has always taken one): Acquiring and Push
    read it as the typed entry."""
    assert balance_of(balance(3, "USDT", 10)) == balance_fields_of(balance_as_map(3, "USDT", 10).field_dict())
    made = created("3:USDT", "SpotBalance", 1, 1, **(FIELDS | {"available_delta": 10, "frozen_delta": 0,
                                                               "reason": "deposit", "ref": "transfer-9"}))
    assert type(made.change_type) is Created
    ledgers = []
    for entry in (made, balance(3, "USDT", 10, ref="transfer-9"), balance_as_map(3, "USDT", 10, ref="transfer-9")):
        pipeline = InprocPipeline(settings_from(f'[node]\ndata_dir = "{tmp_path / str(len(ledgers))}"\n'
                                                '[bus]\ntransport = "inproc"\n'))
        pipeline.stage("acquiring-0").apply(Topic.BALANCE, [entry])
        pipeline.stage("push-0").apply(Topic.BALANCE, [entry])
        ledgers.append((pipeline.stage("acquiring-0").ledger.balance(3, "USDT"),
                        {k: (b.available, b.frozen) for k, b in pipeline.stage("push-0").balances.items()}))
        pipeline.stop()
    assert ledgers[0] == ledgers[1] == ledgers[2] == ((10, 0), {(3, "USDT"): (10, 0)})


def as_maps(entries: list[ChangeLogEntry]) -> list[ChangeLogEntry]:
    return [ChangeLogEntry(e.entity_id, e.entity_type, Updated(e.field_dict()), e.timestamp, e.sequence)
            for e in entries]


def states(pipeline, data_dir) -> tuple:
    ledger = pipeline.stage("acquiring-0").ledger
    push = pipeline.stage("push-0")
    pipeline.stop()  # (Persist commits what it holds)
    with sqlite3.connect(data_dir / "history.sqlite") as db:
        history = db.execute("SELECT account, asset, available_delta, frozen_delta, reason, ref, time, sequence "
                             "FROM balance_changes ORDER BY id").fetchall()
    return (ledger.state_hash(), {k: (b.available, b.frozen) for k, b in push.balances.items()},
            sorted(push.held), history)


def test_every_stage_reads_a_map_as_it_reads_the_typed_fields(tmp_path, monkeypatch):
    """The same session with Acquiring and Settlement writing maps: the same change log, and the
    same balances in Acquiring's ledger, Push's state and Persist's history."""
    cmds = commands(5, 600)
    typed_log, _, pipeline = run(tmp_path, "typed", cmds)
    typed = states(pipeline, tmp_path / "typed")
    maps = lambda changes, ts: as_maps(accepting.balance_entries(changes, ts))  # noqa: E731
    monkeypatch.setattr(acquiring, "balance_entries", maps)
    monkeypatch.setattr(settlement, "balance_entries", maps)
    map_log, _, pipeline = run(tmp_path, "maps", cmds)
    assert map_log == typed_log
    assert typed_log.count(b'"SpotBalance"') > 1000
    assert states(pipeline, tmp_path / "maps") == typed
    assert len(typed[3]) > 1000 and typed[0]
