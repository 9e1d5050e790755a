"""ChangeLogEntry codecs: JSON and msgpack round-trips, the seed's field names, batches."""

from __future__ import annotations

import json

import msgspec
import pytest
from hypothesis import given, settings, strategies as st

from spot_seda.model.changelog import (
    JSON, MSGPACK, BalanceFields, Batch, ChangeLogEntry, Codec, Created, Deleted, TradeFields, Updated, created,
)
from spot_seda.model.entities import BALANCE_REASONS

values = st.one_of(st.integers(min_value=-(2**63), max_value=2**63 - 1), st.text(max_size=40), st.booleans(), st.none())
fields = st.dictionaries(st.text(min_size=1, max_size=20), values, max_size=8)
change_types = st.one_of(st.builds(Created, fields), st.builds(Updated, fields), st.just(Deleted()))
entries = st.builds(
    ChangeLogEntry,
    entity_id=st.text(min_size=1, max_size=36),
    entity_type=st.sampled_from(["SpotOrder", "SpotTrade", "SpotKLine", "SpotBalance"]),
    change_type=change_types,
    timestamp=st.integers(min_value=0, max_value=2**63 - 1),
    sequence=st.integers(min_value=0, max_value=2**63 - 1),
)
money = st.integers(min_value=-(2**63), max_value=2**63 - 1)
balance_changes = st.builds(  # (typed fields: model/changelog.py BalanceFields)
    ChangeLogEntry,
    entity_id=st.text(min_size=1, max_size=36),
    entity_type=st.just("SpotBalance"),
    change_type=st.builds(Updated, st.builds(BalanceFields, st.integers(0, 2**63 - 1), st.text(max_size=8), money,
                                             money, st.sampled_from(BALANCE_REASONS),
                                             st.one_of(st.integers(0, 2**63 - 1), st.text(max_size=20)))),
    timestamp=st.integers(min_value=0, max_value=2**63 - 1),
    sequence=st.integers(min_value=0, max_value=2**63 - 1),
)

ids = st.integers(0, 2**63 - 1)
trades = st.builds(  # (typed fields: model/changelog.py TradeFields)
    ChangeLogEntry,
    entity_id=st.text(min_size=1, max_size=36),
    entity_type=st.just("SpotTrade"),
    change_type=st.builds(Created, st.builds(TradeFields, st.text(max_size=12), ids, money, money, money, ids, ids,
                                             ids, ids, st.booleans(), ids, ids)),
    timestamp=st.integers(min_value=0, max_value=2**63 - 1),
    sequence=st.integers(min_value=0, max_value=2**63 - 1),
)


@pytest.fixture(params=["json", "msgpack"])
def codec(request) -> Codec:
    return Codec(request.param)


@settings(max_examples=300, deadline=None)
@given(batch=st.builds(Batch, st.text(min_size=1, max_size=20), st.integers(0, 1000), st.text(max_size=20),
                       st.lists(st.one_of(entries, balance_changes, trades), max_size=20)))
def test_batch_round_trip_in_both_codecs(batch):
    for codec in (JSON, MSGPACK):
        assert codec.decode(codec.encode(batch)) == batch


def test_json_uses_the_seed_field_names():
    """Clients, Kafka's JSON codec and replay output see the seed's form: fields as a list of
    {name, value}, in the order they were set; msgpack between stages carries them as one map."""
    entry = created("42", "SpotOrder", 1700000000000, 7, symbol="BTCUSDT", price=5000000)
    doc = json.loads(JSON.encode_entry(entry))
    assert doc == {
        "entity_id": "42", "entity_type": "SpotOrder", "timestamp": 1700000000000, "sequence": 7,
        "change_type": {"type": "Created", "fields": [{"name": "symbol", "value": "BTCUSDT"},
                                                      {"name": "price", "value": 5000000}]},
    }
    upd = json.loads(JSON.encode_entry(ChangeLogEntry("1", "SpotOrder", Updated({"status": "FILLED"}), 1, 2)))
    assert upd["change_type"] == {"type": "Updated", "changed_fields": [{"name": "status", "value": "FILLED"}]}
    assert json.loads(JSON.encode_entry(ChangeLogEntry("1", "SpotOrder", Deleted(), 1, 3)))["change_type"] == {"type": "Deleted"}
    batch = Batch("OrderChangeLog", 0, "acquiring-0", [entry])
    assert json.loads(JSON.encode(batch))[3][0] == doc
    assert msgspec.msgpack.decode(MSGPACK.encode(batch))[3][0]["change_type"]["fields"] == {"symbol": "BTCUSDT",
                                                                                         "price": 5000000}


def test_decode_entry_reads_the_json_clients_receive(codec):
    entry = created("9", "SpotTrade", 5, 6, qty=3, maker=True)
    assert codec.decode_entry(codec.encode_entry(entry)) == entry


@pytest.mark.parametrize("bad", [b"", b"{}", b"[1,2]", b'{"entity_id": 1}', b"\xff\x00"])
def test_malformed_input_is_rejected_loudly(bad):
    with pytest.raises((msgspec.ValidationError, msgspec.DecodeError)):
        JSON.decode_entry(bad)


@pytest.mark.parametrize("big", [2**63, 2**64, 10**30, -(2**63) - 1])
def test_json_refuses_an_integer_beyond_64_bits_as_it_reads_it(big):
    """JSON has no bound on an integer, msgpack between the stages and SQLite do: one beyond a signed
    64-bit integer, in a field or in a timestamp or sequence, is malformed input where it is read,
    not a failure later in the stage that encodes it for the next or the Persist that stores it."""
    good = created("1", "SpotOrder", 5, 6, price=2**63 - 1, qty=-(2**63))
    assert JSON.decode_entry(JSON.encode_entry(good)) == good
    for entry in (created("1", "SpotOrder", 5, 6, price=big), created("1", "SpotTrade", big, 6, qty=1),
                  ChangeLogEntry("1", "SpotOrder", Updated({"qty": big}), 5, 6),
                  ChangeLogEntry("1", "SpotOrder", Deleted(), 5, big)):
        with pytest.raises(msgspec.ValidationError, match="Expected `int`"):
            JSON.decode_entry(JSON.encode_entry(entry))
        with pytest.raises(msgspec.ValidationError, match="Expected `int`"):
            JSON.decode(JSON.encode(Batch("OrderChangeLog", 0, "acquiring-0", [good, entry])))


def test_unknown_codec_is_named():
    with pytest.raises(ValueError, match="unknown codec 'xml'"):
        Codec("xml")


def test_field_dict():
    assert created("1", "SpotOrder", 0, 0, a=1, b="x").field_dict() == {"a": 1, "b": "x"}
    assert ChangeLogEntry("1", "SpotOrder", Deleted(), 0, 0).field_dict() == {}
