"""Order: one order as Acquiring, Push and the History hold it and the views render it.

Its fields are the SpotOrder fields of model/entities.py, plus what the stages learn from Match's
reports. Enums are the model's IntEnums here; Binance's names (the strings the change log, the
SQLite history and the JSON views carry) only at those edges: `created_fields` writes them,
`from_fields` reads them (model/enums.py *_NAMES and *_OF). A field that an order may lack has the
value that means "none" (-1 for a time or a list id, 0 for an amount, "" for a text), the History's
NULL included, so a reader never asks whether it is there.

Acquiring and Push apply Match's reports each in its own way (Push walks the fills, Acquiring takes
the totals), but what they share is here: the Created entry both sides of the log agree on, an
amend's new quantity and client id, and what an order leaves on the book for the depth views.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from .changelog import Fields
from .entities import ORDER_CREATED
from .enums import (ORDER_STATUS_NAMES, ORDER_STATUS_OF, ORDER_TYPE_NAMES, ORDER_TYPE_OF, SIDE_NAMES, SIDE_OF,
                    STP_NAMES, STP_OF, TIME_IN_FORCE_NAMES, TIME_IN_FORCE_OF, OrderStatus, OrderType,
                    SelfTradePrevention, Side, TimeInForce)

#: by OrderType value: whether an order of that type can rest on the book (not one that works as a
#: MARKET order: MARKET, STOP_LOSS, TAKE_PROFIT)
_RESTS = tuple(t.working_type != OrderType.MARKET for t in OrderType)
_GTC = TimeInForce.GTC
#: what a Created entry may carry beyond ORDER_CREATED, a History row beyond its Created fields and a
#: snapshot's order from when orders were dicts beyond both (a None is a NULL column: the default)
_OPTIONAL = ("executed_qty", "cum_quote_qty", "update_time", "working_time", "reason", "stop_price",
             "trailing_delta", "trailing_time", "prevented_qty", "order_list_id", "list_client_order_id",
             "contingency_type", "last_prevented_qty", "cancel_client_order_id", "replaced_client_order_id",
             "strategy_id", "strategy_type", "prevented_match_id")


class Order(msgspec.Struct, gc=False, kw_only=True, array_like=True):
    """One order (module doc). Mutable: the stages update it as Match's reports come. Never on the
    bus (the change log carries its fields by name); array_like only for `packed` snapshots."""

    #: global, assigned by Acquiring, increasing (the SpotOrder entity_id)
    order_id: int
    symbol: str
    account: int
    #: the client's id for it (auto-<order_id> when none was given); an amend may change it
    client_order_id: str
    side: Side
    type: OrderType
    time_in_force: TimeInForce
    #: price units (model/symbols.py); 0 for a MARKET order
    price: int
    #: base units (10**-8); 0 for a MARKET buy by quote amount; an amend reduces it
    qty: int
    #: the quote budget of a MARKET order (quoteOrderQty, or all free quote for a buy by quantity)
    quote_qty: int
    stp: SelfTradePrevention
    #: the asset and amount Acquiring froze for it (an OCO's second leg: 0, it shares the first's)
    frozen_asset: str
    frozen: int
    status: OrderStatus
    #: when Acquiring accepted it (ms)
    time: int
    #: the time of the last report that changed it (its creation time until then)
    update_time: int
    executed_qty: int = 0
    cum_quote_qty: int = 0
    #: when it started working (Match's report: at once, a stop at its trigger); -1 until then
    working_time: int = -1
    #: why it ended early (model/reasons.py, as Match's report says); "" otherwise
    reason: str = ""
    #: a stop order's trigger price, a trailing stop's activation price (0: none)
    stop_price: int = 0
    #: a trailing stop's trailingDelta (BIPS); 0 for every other order
    trailing_delta: int = 0
    #: when a trailing stop started tracking prices; -1 until then
    trailing_time: int = -1
    #: what DECREMENT self-trade prevention took off it so far (never executed)
    prevented_qty: int = 0
    #: (Push) what the last prevention took off: an executionReport's "B"
    last_prevented_qty: int = 0
    #: (Push) the client id of the cancel that ended it: its CANCELED report's "c"
    cancel_client_order_id: str = ""
    #: (Push) the client id an amend replaced: its REPLACED report's "C"
    replaced_client_order_id: str = ""
    #: the order list it is a leg of (-1: none), the list's client id and kind (OCO, OTO, OTOCO)
    order_list_id: int = -1
    list_client_order_id: str = ""
    contingency_type: str = ""
    #: Binance's strategyId and strategyType, as the client sent them (-1: not sent; a strategyId may
    #: be 0). Last, so that a snapshot pickled before they existed still loads (defaults fill them)
    strategy_id: int = -1
    strategy_type: int = -1
    #: the last prevented match that took quantity off it (Binance's preventedMatchId; -1: none).
    #: After the strategy fields for the same reason
    prevented_match_id: int = -1
    #: (Push) the other order of that prevented match: an executionReport's "U"
    counter_order_id: int = -1

    @classmethod
    def from_fields(cls, f: Mapping, order_id: int, time: int) -> Order:
        """An order from a Created entry's fields or a History row: Binance's names for the enums;
        a missing required field is a KeyError (a bug: never shown as a BUY or a LIMIT)."""
        order = cls(order_id=order_id, symbol=f["symbol"], account=f["account"], client_order_id=f["client_order_id"],
                    side=SIDE_OF[f["side"]], type=ORDER_TYPE_OF[f["type"]],
                    time_in_force=TIME_IN_FORCE_OF[f["time_in_force"]], price=f["price"], qty=f["qty"],
                    quote_qty=f["quote_qty"], stp=STP_OF[f["stp"]], frozen_asset=f["frozen_asset"],
                    frozen=f["frozen"], status=ORDER_STATUS_OF[f["status"]], time=time, update_time=time)
        if len(f) > len(ORDER_CREATED):  # (the usual Created entry has nothing more)
            for name in _OPTIONAL:
                value = f.get(name)
                if value is not None:
                    setattr(order, name, value)
        return order

    def created_fields(self) -> Fields:
        """Its Created entry's fields, in the change log's order: ORDER_CREATED, a stop order's
        stop_price (and a trailing stop's trailing_delta), the strategy_id and strategy_type the
        client sent (each only when sent: an entry without them is as it was before they were kept),
        a list leg's list id, list client id and contingency type (the caller adds the list's own
        fields after them)."""
        fields = {
            "symbol": self.symbol, "account": self.account, "client_order_id": self.client_order_id,
            "side": SIDE_NAMES[self.side], "type": ORDER_TYPE_NAMES[self.type],
            "time_in_force": TIME_IN_FORCE_NAMES[self.time_in_force], "price": self.price, "qty": self.qty,
            "quote_qty": self.quote_qty, "stp": STP_NAMES[self.stp], "frozen_asset": self.frozen_asset,
            "frozen": self.frozen, "status": ORDER_STATUS_NAMES[self.status],
        }
        if self.type.is_stop:
            fields["stop_price"] = self.stop_price
            if self.trailing_delta:
                fields["trailing_delta"] = self.trailing_delta
        if self.strategy_id >= 0:
            fields["strategy_id"] = self.strategy_id
        if self.strategy_type >= 0:
            fields["strategy_type"] = self.strategy_type
        if self.order_list_id >= 0:
            fields["order_list_id"] = self.order_list_id
            fields["list_client_order_id"] = self.list_client_order_id
            fields["contingency_type"] = self.contingency_type
        return fields

    def amend(self, qty: int, client_order_id: str) -> None:
        """Match reduced it in place (engine/amend.py): its new total quantity and client id."""
        self.qty = qty
        self.client_order_id = client_order_id

    def book_leaves(self) -> int:
        """What it leaves on the book, as the depth views count it (engine/depthview.py): the
        unfilled, unprevented quantity of a GTC order that works as a limit order and has started
        working; 0 for any other."""
        if _RESTS[self.type] and self.time_in_force == _GTC and self.working_time >= 0:
            return self.qty - self.executed_qty - self.prevented_qty
        return 0


_PACK = msgspec.msgpack.Encoder()
_UNPACK = msgspec.msgpack.Decoder(list[Order])


class PackedOrders:
    """Orders by id, as a snapshot holds them: one msgpack blob (each order an array of its fields,
    in Order's order), which unpickles straight back to the dict, insertion order kept. The
    snapshot writer pickled 22,000 Orders one object at a time in 120-200 ms of the box's CPU (most
    of Acquiring's and of Push's writer), and loaded them again as slowly; msgspec does both in C
    (BENCHMARKS.md, "Pipeline", thirty-ninth session). An amount beyond msgpack's 64 bits (Python's
    ints have no bound) leaves the orders pickled as they are. The orders must not be shared with
    anything else pickled beside them: pickle's memo cannot see inside the blob (Acquiring stores
    its accounts' open orders as ids for that)."""

    __slots__ = ("blob", "orders")

    def __init__(self, orders: dict[int, Order]) -> None:
        try:
            self.blob, self.orders = _PACK.encode(list(orders.values())), None
        except OverflowError:
            self.blob, self.orders = None, orders

    def __reduce__(self):
        return (unpack_orders, (self.blob,)) if self.blob is not None else (dict, (self.orders,))

    @staticmethod
    def unpacked(orders: PackedOrders | dict[int, Order]) -> dict[int, Order]:
        """The orders of a state restored as it was taken, not pickled in between (a test's, a
        replay's), or as they came back from a pickle."""
        if type(orders) is not PackedOrders:
            return orders
        return unpack_orders(orders.blob) if orders.blob is not None else orders.orders


def unpack_orders(blob: bytes) -> dict[int, Order]:
    """PackedOrders' orders again (what unpickling one gives)."""
    return {o.order_id: o for o in _UNPACK.decode(blob)}


def default_cancel_id(order_id: int) -> str:
    """The client id of a cancel of `order_id` that named none (Binance makes one up; this one is the
    same in a replay): the cancel's answer's clientOrderId and its executionReport's "c"."""
    return f"cancel-{order_id}"


def upgraded(order: Order | dict) -> Order:
    """An order from a snapshot written when orders were dicts (with every field by its change log
    name) as an Order; an Order as it is."""
    return Order.from_fields(order, order["order_id"], order["time"]) if type(order) is dict else order


class Refused(msgspec.Struct, frozen=True, gc=False):
    """Match's answer to a cancel or an amend that changed nothing (its cancel_rejected /
    amend_rejected report): why, a model/reasons.py word ("" for a cancel of an order no longer open)."""

    reason: str = ""
