"""The one event model every stage speaks: ChangeLogEntry, its ChangeType union and codecs.

Field names follow the seed (entity_id, entity_type, change_type, timestamp, sequence; Created.fields,
Updated.changed_fields); the seed's FieldChange name/value pairs are the items of an ordered map
(`Fields`), except a balance change's and a trade's, which are typed records (`BalanceFields`,
`TradeFields`). A ring or Kafka
message carries a whole `Batch`, so the per-message cost of a queue is paid once per batch, not once
per entry.
"""

from __future__ import annotations

from typing import Annotated, Union

import msgspec

#: A field value: money and ids are ints (fixed point), enums and symbols are strings.
Value = Union[int, str, bool, None]


#: An entry's fields: each changed field's name and its new value, in the order the producer set them.
#: The seed writes this as a list of FieldChange {name, value}; an ordered map holds the same pairs and
#: is what every consumer wants, so the entries and the msgpack between stages carry a map (BENCHMARKS.md,
#: "Pipeline": 2.9 -> 1.0 µs to build, encode, decode and read one order entry; a balance change's
#: fields: BalanceFields, below), while the JSON form
#: (Codec("json"): clients, Kafka's JSON codec, replay output) stays the seed's list of {name, value}.
#: Consumers must not modify a decoded entry's fields (in one process, stages share them): copy with
#: dict(...) to keep one.
Fields = dict[str, Value]


class BalanceFields(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """A SpotBalance entry's fields (model/entities.py BALANCE_FIELDS, in that order), typed: more than
    half of all entries are balance changes, read by Acquiring, Push and Persist, and a typed record
    decodes in about 60% of a map's time and is read by attribute (BENCHMARKS.md, "Pipeline",
    twenty-sixth session). Between the node's stages (msgpack) it travels as an array; the JSON form
    still names each field ({name, value} pairs, as every other entry's). `ref`: the order id (an
    int) whose hold it concerns, or a transfer id (text)."""

    account: int
    asset: str
    available_delta: int
    frozen_delta: int
    reason: str
    ref: Union[int, str]


class TradeFields(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """A SpotTrade entry's fields (model/entities.py TRADE_CREATED, in that order), typed as a
    balance change's are: every trade has all twelve, Match makes one per fill and five stages read
    it (Acquiring, Settlement, KLine, Push, Persist), and a typed record is built, encoded, decoded
    and read in about half a map's time (BENCHMARKS.md, "Pipeline", twenty-seventh session). An
    array in msgpack between the stages; the JSON form still names each field."""

    symbol: str
    trade_id: int
    price: int
    qty: int
    quote_qty: int
    buyer_order_id: int
    seller_order_id: int
    buyer_account: int
    seller_account: int
    buyer_is_maker: bool
    maker_order_id: int
    taker_order_id: int


def trade_of(entry: ChangeLogEntry) -> TradeFields:
    """A trade entry's fields as TradeFields, whichever form they came in (a map: an entry built by
    hand, or an older writer's msgpack); a missing field is a KeyError. The readers inline the usual
    case, typed."""
    change = entry.change_type
    return trade_fields_of(change.fields if type(change) is Created else entry.field_dict())


def trade_fields_of(fields) -> TradeFields:
    """A trade's fields as TradeFields, whichever form they came in (TradeFields, or a map)."""
    if type(fields) is TradeFields:
        return fields
    return TradeFields(fields["symbol"], fields["trade_id"], fields["price"], fields["qty"], fields["quote_qty"],
                       fields["buyer_order_id"], fields["seller_order_id"], fields["buyer_account"],
                       fields["seller_account"], fields["buyer_is_maker"], fields["maker_order_id"],
                       fields["taker_order_id"])


def balance_fields_of(fields) -> BalanceFields:
    """A balance entry's fields as BalanceFields, whichever form they came in (a map: an entry built
    by hand, or an older writer's msgpack); a missing field is a KeyError."""
    if type(fields) is BalanceFields:
        return fields
    return BalanceFields(fields["account"], fields["asset"], fields["available_delta"], fields["frozen_delta"],
                         fields["reason"], fields["ref"])


def balance_of(entry: ChangeLogEntry) -> BalanceFields:
    """A balance entry's fields as BalanceFields, whatever its change type (a map-form one may come
    as Created too, as Persist has always taken it); the readers inline the usual case, typed."""
    change = entry.change_type
    if type(change) is Updated and type(change.changed_fields) is BalanceFields:
        return change.changed_fields
    return balance_fields_of(entry.field_dict())


class Created(msgspec.Struct, frozen=True, gc=False, tag=True):
    """The entity came into being with these fields: a map, or a trade's TradeFields (msgpack tells
    the two apart as a map and an array)."""

    fields: Union[Fields, TradeFields]


class Updated(msgspec.Struct, frozen=True, gc=False, tag=True):
    """These fields of the entity changed (the others did not): a map, or a balance change's
    BalanceFields (all six, always; msgpack tells the two apart as a map and an array)."""

    changed_fields: Union[Fields, BalanceFields]


class Deleted(msgspec.Struct, frozen=True, gc=False, tag=True):
    """The entity is gone (a candle superseded, a resting order removed from a view)."""


ChangeType = Union[Created, Updated, Deleted]
_NONE: Fields = {}


class ChangeLogEntry(msgspec.Struct, frozen=True, gc=False):
    """One change of one entity; the unit every stage consumes and produces.

    `timestamp` (ms since the epoch) comes from the command that caused the change, never from a
    downstream clock. `sequence` is monotonic per (topic, partition, producer): consumers use it to
    drop duplicates after a replay or a redelivery.
    """

    entity_id: str
    entity_type: str
    change_type: ChangeType
    timestamp: int
    sequence: int

    def field_dict(self) -> Fields:
        """The fields this entry sets, in order (empty for Deleted). Read-only: copy to keep one. A
        balance change's and a trade's come as a new map (the stages that read many read
        BalanceFields and TradeFields instead)."""
        change = self.change_type
        kind = type(change)
        if kind is Updated:
            fields = change.changed_fields
            return fields if type(fields) is not BalanceFields else msgspec.structs.asdict(fields)
        if kind is Created:
            fields = change.fields
            return fields if type(fields) is not TradeFields else msgspec.structs.asdict(fields)
        return _NONE


def created(entity_id: str, entity_type: str, timestamp: int, sequence: int, **fields: Value) -> ChangeLogEntry:
    """Build a Created entry from keyword fields (keeps call sites short and readable)."""
    return ChangeLogEntry(entity_id, entity_type, Created(fields), timestamp, sequence)


def updated(entity_id: str, entity_type: str, timestamp: int, sequence: int, **fields: Value) -> ChangeLogEntry:
    """Build an Updated entry from keyword fields."""
    return ChangeLogEntry(entity_id, entity_type, Updated(fields), timestamp, sequence)


class Batch(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """What one queue or Kafka message carries: entries of one topic partition from one producer.

    `producer` names the stage instance that assigned the sequences, so a partition written by
    several producers (Acquiring and Match both write OrderChangeLog) still has a gap-free,
    duplicate-detectable sequence per producer.
    """

    topic: str
    partition: int
    producer: str
    entries: list[ChangeLogEntry]


#: An integer of the JSON form: a signed 64-bit one, as every amount and id the node makes
#: (fixedpoint.MAX_UNITS) and what SQLite stores. JSON itself has no bound, and a bigger one read from
#: it (Kafka's JSON codec, a raw change log written by another program) would fail only later, where
#: a stage encodes it for the next (msgpack: 64 bits) or Persist binds it for SQLite: refused as it
#: is read, as malformed input is.
_Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
_SeedValue = Union[_Int64, str, bool, None]


class FieldChange(msgspec.Struct, frozen=True, gc=False):
    """One named field and its new value: the seed's pair, as the JSON form writes it."""

    name: str
    value: _SeedValue


class _SeedCreated(msgspec.Struct, frozen=True, gc=False, tag="Created"):
    fields: list[FieldChange]


class _SeedUpdated(msgspec.Struct, frozen=True, gc=False, tag="Updated"):
    changed_fields: list[FieldChange]


class _SeedEntry(msgspec.Struct, frozen=True, gc=False):
    """A ChangeLogEntry in the seed's JSON form: its fields as a list of FieldChange."""

    entity_id: str
    entity_type: str
    change_type: Union[_SeedCreated, _SeedUpdated, Deleted]
    timestamp: _Int64
    sequence: _Int64


class _SeedBatch(msgspec.Struct, frozen=True, gc=False, array_like=True):
    topic: str
    partition: int
    producer: str
    entries: list[_SeedEntry]


def _to_seed(e: ChangeLogEntry) -> _SeedEntry:
    change = e.change_type
    kind = type(change)
    if kind is Created:
        fields = change.fields
        if type(fields) is TradeFields:
            change = _SeedCreated([FieldChange(k, getattr(fields, k)) for k in fields.__struct_fields__])
        else:
            change = _SeedCreated([FieldChange(k, v) for k, v in fields.items()])
    elif kind is Updated:
        fields = change.changed_fields
        if type(fields) is BalanceFields:
            change = _SeedUpdated([FieldChange(k, getattr(fields, k)) for k in fields.__struct_fields__])
        else:
            change = _SeedUpdated([FieldChange(k, v) for k, v in fields.items()])
    return _SeedEntry(e.entity_id, e.entity_type, change, e.timestamp, e.sequence)


_BALANCE = "SpotBalance"  # (model/enums.py EntityType.BALANCE; this module imports nothing of the node's)
_TRADE = "SpotTrade"  # (EntityType.TRADE)


def _from_seed(e: _SeedEntry) -> ChangeLogEntry:
    change = e.change_type
    kind = type(change)
    if kind is _SeedCreated:
        fields = {f.name: f.value for f in change.fields}
        if e.entity_type == _TRADE and tuple(fields) == TradeFields.__struct_fields__:
            # as the stages build and read it, its values checked as msgpack checks them
            change = Created(msgspec.convert(list(fields.values()), TradeFields, strict=True))
        else:
            change = Created(fields)
    elif kind is _SeedUpdated:
        fields = {f.name: f.value for f in change.changed_fields}
        if e.entity_type == _BALANCE and tuple(fields) == BalanceFields.__struct_fields__:
            # as the stages build and read it, its values checked as msgpack checks them (a bool or
            # a null delta is a ValidationError); a map of these six fields comes back typed too
            change = Updated(msgspec.convert(list(fields.values()), BalanceFields, strict=True))
        else:
            change = Updated(fields)
    return ChangeLogEntry(e.entity_id, e.entity_type, change, e.timestamp, e.sequence)


class Codec:
    """Encoder and decoder for batches, built once and reused (msgspec's perf advice)."""

    __slots__ = ("name", "_enc", "_dec", "_entry_dec", "_seed")

    def __init__(self, name: str) -> None:
        if name == "msgpack":
            mod = msgspec.msgpack
        elif name == "json":
            mod = msgspec.json
        else:
            raise ValueError(f"unknown codec {name!r}: expected 'msgpack' or 'json'")
        self.name = name
        #: JSON is what people and other programs read (raw change-log streams, Kafka's default
        #: codec, replay output): the seed's form, fields as a list of {name, value}. msgpack stays
        #: between the node's own stages: fields as one map (a balance change's as BalanceFields, an
        #: array), nothing to convert (module doc).
        self._seed = name == "json"
        self._enc = mod.Encoder()
        self._dec = mod.Decoder(_SeedBatch if self._seed else Batch)
        self._entry_dec = mod.Decoder(_SeedEntry if self._seed else ChangeLogEntry)

    def encode(self, batch: Batch) -> bytes:
        """Encode one batch to bytes."""
        if self._seed:
            return self._enc.encode(_SeedBatch(batch.topic, batch.partition, batch.producer,
                                               [_to_seed(e) for e in batch.entries]))
        return self._enc.encode(batch)

    def decode(self, data: bytes | memoryview) -> Batch:
        """Decode one batch; raises msgspec.ValidationError / DecodeError on malformed input."""
        batch = self._dec.decode(data)
        if self._seed:
            return Batch(batch.topic, batch.partition, batch.producer, [_from_seed(e) for e in batch.entries])
        return batch

    def encode_entry(self, entry: ChangeLogEntry) -> bytes:
        """Encode a single entry (the raw change-log form clients receive)."""
        return self._enc.encode(_to_seed(entry) if self._seed else entry)

    def decode_entry(self, data: bytes | memoryview) -> ChangeLogEntry:
        """Decode a single entry (the raw change-log form clients receive)."""
        entry = self._entry_dec.decode(data)
        return _from_seed(entry) if self._seed else entry


MSGPACK = Codec("msgpack")
JSON = Codec("json")
