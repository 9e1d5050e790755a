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
        return self >= OrderType.STOP_LOSS

    @property
    def working_type(self) -> OrderType:
        """What the order works as once triggered (itself for the types that work at once)."""
        return _WORKING_TYPE.get(self, self)


_WORKING_TYPE = {
    OrderType.STOP_LOSS: OrderType.MARKET, OrderType.TAKE_PROFIT: OrderType.MARKET,
    OrderType.STOP_LOSS_LIMIT: OrderType.LIMIT, OrderType.TAKE_PROFIT_LIMIT: OrderType.LIMIT,
}
#: the stop order types by name (as entities carry them)
STOP_TYPES = frozenset(t.name for t in _WORKING_TYPE)
#: the types, by name, that work as a MARKET order: they never rest on the book
MARKET_TYPES = frozenset({"MARKET", "STOP_LOSS", "TAKE_PROFIT"})


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
        return OrderStatus.FILLED <= self <= OrderStatus.REJECTED


#: the names of the final statuses (FILLED to REJECTED), as the change log and the history carry them
FINAL_STATUSES = frozenset(s.name for s in OrderStatus if s.is_final)


class SelfTradePrevention(IntEnum):
    """Binance's selfTradePreventionMode values."""

    NONE = 0
    EXPIRE_TAKER = 1
    EXPIRE_MAKER = 2
    EXPIRE_BOTH = 3
    DECREMENT = 4


class EntityType:
    """The entity_type vocabulary of ChangeLogEntry."""

    ORDER = "SpotOrder"
    TRADE = "SpotTrade"
    KLINE = "SpotKLine"
    BALANCE = "SpotBalance"
    #: not an entity: a barrier the runners pass along (stages/base.py, "Markers"); never stored
    MARKER = "Marker"


class Topic:
    """The seed's four topics."""

    ORDER = "OrderChangeLog"
    TRADE = "TradeChangeLog"
    KLINE = "KLineChangeLog"
    BALANCE = "BalanceChangeLog"

    ALL = (ORDER, TRADE, KLINE, BALANCE)
