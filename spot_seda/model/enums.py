"""Vocabulary shared by every layer: order enums (Binance's names), entity types and topics."""

from __future__ import annotations

from enum import IntEnum


class Side(IntEnum):
    BUY = 0
    SELL = 1


class OrderType(IntEnum):
    LIMIT = 0
    MARKET = 1
    LIMIT_MAKER = 2


class TimeInForce(IntEnum):
    GTC = 0
    IOC = 1
    FOK = 2


class OrderStatus(IntEnum):
    """An order's life (DESIGN.md invariant 5); the last five are final."""

    NEW = 0
    PARTIALLY_FILLED = 1
    FILLED = 2
    CANCELED = 3
    EXPIRED = 4
    EXPIRED_IN_MATCH = 5  # ended by self-trade prevention, as Binance names it
    REJECTED = 6

    @property
    def is_final(self) -> bool:
        return self >= OrderStatus.FILLED


class SelfTradePrevention(IntEnum):
    """Binance's selfTradePreventionMode values."""

    NONE = 0
    EXPIRE_TAKER = 1
    EXPIRE_MAKER = 2
    EXPIRE_BOTH = 3


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
