"""Vocabulary shared by every layer: order enums (Binance's names), entity types and topics."""

from __future__ import annotations

from enum import IntEnum


class Side(IntEnum):
    BUY = 0
    SELL = 1


class OrderType(IntEnum):
    """Binance's order types. The last four are stop orders: they wait, off the book, until the last
    trade price reaches their stop price, then work as their `working_type` (LIMIT or MARKET)."""

    LIMIT = 0
    MARKET = 1
    LIMIT_MAKER = 2
    STOP_LOSS = 3
    STOP_LOSS_LIMIT = 4
    TAKE_PROFIT = 5
    TAKE_PROFIT_LIMIT = 6

    @property
    def is_stop(self) -> bool:
        return self >= _FIRST_STOP

    @property
    def working_type(self) -> OrderType:
        """What the order works as once triggered (itself for the types that work at once)."""
        return _WORKING_TYPE[self]


# is_stop's bound, read once: an enum member read through its class costs ~0.2 µs on Python 3.11
# (EnumType.__getattr__)
_FIRST_STOP = OrderType.STOP_LOSS
_TRIGGERED_AS = {
    OrderType.STOP_LOSS: OrderType.MARKET, OrderType.TAKE_PROFIT: OrderType.MARKET,
    OrderType.STOP_LOSS_LIMIT: OrderType.LIMIT, OrderType.TAKE_PROFIT_LIMIT: OrderType.LIMIT,
}
_WORKING_TYPE = tuple(_TRIGGERED_AS.get(t, t) for t in OrderType)  # (by value: a tuple index is quicker)
#: the stop order types by name (as entities carry them: Match reads them from the change log)
STOP_TYPES = frozenset(t.name for t in OrderType if t.is_stop)


def triggers_on_fall(type: int, side: int) -> bool:
    """Whether a stop order triggers when the last price falls to its stop price (last <= stop:
    a STOP_LOSS sell, a TAKE_PROFIT buy) rather than rises to it (last >= stop: the other two)."""
    return (type in (OrderType.STOP_LOSS, OrderType.STOP_LOSS_LIMIT)) == (side == Side.SELL)


class TimeInForce(IntEnum):
    GTC = 0
    IOC = 1
    FOK = 2


class OrderStatus(IntEnum):
    """An order's life (DESIGN.md invariant 5); FILLED to REJECTED are final."""

    NEW = 0
    PARTIALLY_FILLED = 1
    FILLED = 2
    CANCELED = 3
    EXPIRED = 4
    EXPIRED_IN_MATCH = 5  # ended by self-trade prevention, as Binance names it
    REJECTED = 6
    PENDING_NEW = 7  # an OTO's pending order, waiting for its working order to fill (Binance)

    @property
    def is_final(self) -> bool:
        return _FINAL[self]


_FINAL = tuple(OrderStatus.FILLED <= s <= OrderStatus.REJECTED for s in OrderStatus)
#: the names of the final statuses (FILLED to REJECTED), as the change log carries them (Settlement
#: reads them from it)
FINAL_STATUSES = frozenset(s.name for s in OrderStatus if s.is_final)


class SelfTradePrevention(IntEnum):
    """Binance's selfTradePreventionMode values."""

    NONE = 0
    EXPIRE_TAKER = 1
    EXPIRE_MAKER = 2
    EXPIRE_BOTH = 3
    DECREMENT = 4


# Binance's names of the order enums, for the edges (change log values, SQLite rows, JSON): by value
# (SIDE_NAMES[order.side], a tuple index, no enum .name lookup) and back (SIDE_OF["BUY"], a dict).
SIDE_NAMES = tuple(m.name for m in Side)
ORDER_TYPE_NAMES = tuple(m.name for m in OrderType)
TIME_IN_FORCE_NAMES = tuple(m.name for m in TimeInForce)
ORDER_STATUS_NAMES = tuple(m.name for m in OrderStatus)
STP_NAMES = tuple(m.name for m in SelfTradePrevention)
SIDE_OF = dict(Side.__members__)
ORDER_TYPE_OF = dict(OrderType.__members__)
TIME_IN_FORCE_OF = dict(TimeInForce.__members__)
ORDER_STATUS_OF = dict(OrderStatus.__members__)
STP_OF = dict(SelfTradePrevention.__members__)
assert all(tuple(m.value for m in e) == tuple(range(len(e)))
           for e in (Side, OrderType, TimeInForce, OrderStatus, SelfTradePrevention)), "the name tuples index by value"


class EntityType:
    """The entity_type vocabulary of ChangeLogEntry."""

    ORDER = "SpotOrder"
    TRADE = "SpotTrade"
    KLINE = "SpotKLine"
    BALANCE = "SpotBalance"
    #: a match self-trade prevention stopped (Binance's prevented match), on OrderChangeLog
    PREVENTED_MATCH = "SpotPreventedMatch"
    #: not an entity: a barrier the runners pass along (stages/base.py, "Markers"); never stored
    MARKER = "Marker"
    #: not an entity: a journaled Tick (model/commands.py) on its way from Acquiring through Match
    #: (OrderChangeLog) to KLine (TradeChangeLog), one per symbol; the other stages pass over it
    CLOCK = "Clock"


class Topic:
    """The seed's four topics."""

    ORDER = "OrderChangeLog"
    TRADE = "TradeChangeLog"
    KLINE = "KLineChangeLog"
    BALANCE = "BalanceChangeLog"

    ALL = (ORDER, TRADE, KLINE, BALANCE)
