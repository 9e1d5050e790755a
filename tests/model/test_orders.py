"""Order (model/orders.py): its Created entry in the change log's names and order, read back from
those names, kept by a pickled snapshot (one pickled before a field existed too), and what it
leaves on the book."""

from __future__ import annotations

import pickle

import msgspec
import pytest

from spot_seda.model.entities import ORDER_CREATED
from spot_seda.model.enums import OrderStatus, OrderType, SelfTradePrevention, Side, TimeInForce
from spot_seda.model.orders import Order, Refused, upgraded


def limit(**over) -> Order:
    fields = dict(order_id=7, symbol="BTCUSDT", account=1, client_order_id="c7", side=Side.BUY, type=OrderType.LIMIT,
                  time_in_force=TimeInForce.GTC, price=3_000_000, qty=150_000, quote_qty=0,
                  stp=SelfTradePrevention.NONE, frozen_asset="USDT", frozen=4_500_000_000, status=OrderStatus.NEW,
                  time=1000, update_time=1000)
    return Order(**(fields | over))


def test_its_created_fields_are_binances_names_in_the_change_logs_order():
    fields = limit().created_fields()
    assert list(fields) == list(ORDER_CREATED)
    values = fields
    assert (values["side"], values["type"], values["time_in_force"], values["stp"], values["status"]) == \
        ("BUY", "LIMIT", "GTC", "NONE", "NEW")
    assert all(type(v) in (str, int) for v in fields.values())  # never an IntEnum: it would encode as a number
    assert b"\xa4side\xa3BUY" in msgspec.msgpack.encode(fields)  # "side": "BUY" as two msgpack strings
    stop = limit(type=OrderType.STOP_LOSS_LIMIT, stop_price=2_900_000, trailing_delta=100, order_list_id=3,
                 list_client_order_id="l3", contingency_type="OCO")
    assert list(stop.created_fields())[len(ORDER_CREATED):] == [
        "stop_price", "trailing_delta", "order_list_id", "list_client_order_id", "contingency_type"]
    # a stop without a trailing delta carries its stop price alone (even 0); other types carry neither
    assert list(limit(type=OrderType.TAKE_PROFIT).created_fields())[len(ORDER_CREATED):] == ["stop_price"]
    assert len(limit(stop_price=5).created_fields()) == len(ORDER_CREATED)


def test_its_strategy_ids_are_in_its_created_entry_only_when_sent():
    """Binance's strategyId (any integer from 0) and strategyType: each in the Created entry only when
    the client sent it (-1: not sent), so an order without them has the entry it had before."""
    assert list(limit(strategy_id=37, strategy_type=1_000_000).created_fields())[len(ORDER_CREATED):] == \
        ["strategy_id", "strategy_type"]
    assert limit(strategy_id=0).created_fields()["strategy_id"] == 0
    assert list(limit(strategy_type=1_000_001).created_fields())[len(ORDER_CREATED):] == ["strategy_type"]
    assert limit().created_fields() == limit(strategy_id=-1, strategy_type=-1).created_fields()
    leg = limit(type=OrderType.STOP_LOSS, stop_price=2_900_000, strategy_id=5, order_list_id=3,
                list_client_order_id="l3", contingency_type="OCO")
    assert list(leg.created_fields())[len(ORDER_CREATED):] == [
        "stop_price", "strategy_id", "order_list_id", "list_client_order_id", "contingency_type"]
    assert Order.from_fields(leg.created_fields(), 7, 1000) == leg
    row = limit().created_fields() | {"strategy_id": None, "strategy_type": None}  # a History row's NULLs
    assert (Order.from_fields(row, 7, 1000).strategy_id, Order.from_fields(row, 7, 1000).strategy_type) == (-1, -1)


def test_it_reads_back_from_its_created_fields_and_a_history_row():
    stop = limit(type=OrderType.STOP_LOSS_LIMIT, stop_price=2_900_000, trailing_delta=100, order_list_id=3,
                 list_client_order_id="l3", contingency_type="OTO", status=OrderStatus.PENDING_NEW)
    fields = stop.created_fields()
    assert Order.from_fields(fields, 7, 1000) == stop
    row = fields | {"order_id": 7, "time": 1000, "update_time": 1005, "executed_qty": 0, "cum_quote_qty": 0,
                    "working_time": None, "reason": None, "prevented_qty": 0, "trailing_time": None}
    assert Order.from_fields(row, 7, 1000) == msgspec.structs.replace(stop, update_time=1005)
    with pytest.raises(KeyError):  # an order without its side is a bug, never a BUY
        Order.from_fields({k: v for k, v in fields.items() if k != "side"}, 7, 1000)


def test_a_snapshot_keeps_it_and_one_from_when_orders_were_dicts_becomes_one():
    order = limit(executed_qty=50_000, working_time=1001, status=OrderStatus.PARTIALLY_FILLED)
    state = {"orders": {7: order}, "open": {7: order}}
    back = pickle.loads(pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL))
    assert back["orders"][7] == order and back["orders"][7] is back["open"][7]  # one object, as in the stage
    assert type(back["orders"][7].status) is OrderStatus
    old = order.created_fields() | {
        "order_id": 7, "executed_qty": 50_000, "cum_quote_qty": 0, "time": 1000, "update_time": 1000,
        "working_time": 1001}
    assert upgraded(old) == order and upgraded(order) is order
    # an Order pickled before it had its strategy ids (msgspec pickles a struct as its fields by
    # name) loads with none
    labelled = limit(strategy_id=9, strategy_type=1_000_009)
    rebuild, (cls, fields) = labelled.__reduce__()
    assert rebuild(cls, {k: v for k, v in fields.items() if not k.startswith("strategy_")}) == \
        msgspec.structs.replace(labelled, strategy_id=-1, strategy_type=-1)


def test_what_it_leaves_on_the_book():
    assert limit().book_leaves() == 0  # not working yet (Match has not reported it)
    assert limit(working_time=1001, executed_qty=50_000, prevented_qty=10_000).book_leaves() == 90_000
    assert limit(working_time=1001, time_in_force=TimeInForce.IOC).book_leaves() == 0
    assert limit(working_time=1001, type=OrderType.STOP_LOSS).book_leaves() == 0  # works as a MARKET order
    assert limit(working_time=1001, type=OrderType.TAKE_PROFIT_LIMIT).book_leaves() == 150_000
    assert Refused().reason == "" and Refused("cancel_restrictions").reason == "cancel_restrictions"
