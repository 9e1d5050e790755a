"""Change-log entries of every entity, built by hand, for the history and Persist tests; and the
whole-database dump that compares two histories."""

from __future__ import annotations

import sqlite3

from spot_seda.model.changelog import BalanceFields, ChangeLogEntry, Created, TradeFields, Updated, created, updated
from spot_seda.model.entities import balance_id_of, kline_id_of, trade_id_of
from spot_seda.model.enums import EntityType
from tests.sessions import T0

_seq = iter(range(1, 10**9))


def order_new(order_id: int, account: int = 1, symbol: str = "BTCUSDT", ts: int = T0, **over) -> ChangeLogEntry:
    fields = dict(symbol=symbol, account=account, client_order_id=f"c{order_id}", side="BUY", type="LIMIT",
                  time_in_force="GTC", price=5_000_000, qty=100_000, quote_qty=0, stp="NONE", frozen_asset="USDT",
                  frozen=5_000_000_000, status="NEW")
    fields.update(over)
    return created(str(order_id), EntityType.ORDER, ts, next(_seq), **fields)


def order_report(order_id: int, status: str, executed: int, cum_quote: int, ts: int, account: int = 1,
                 symbol: str = "BTCUSDT", **extra) -> ChangeLogEntry:
    return updated(str(order_id), EntityType.ORDER, ts, next(_seq), status=status, executed_qty=executed,
                   cum_quote_qty=cum_quote, account=account, symbol=symbol, **extra)


def trade(trade_id: int, buyer: int = 1, seller: int = 2, symbol: str = "BTCUSDT", ts: int = T0,
          price: int = 5_000_000, qty: int = 100_000) -> ChangeLogEntry:
    """A SpotTrade entry as Match makes it (stages/match.py: TradeFields)."""
    return ChangeLogEntry(trade_id_of(symbol, trade_id), EntityType.TRADE, Created(TradeFields(
        symbol, trade_id, price, qty, price * qty // 100, 10 * trade_id, 10 * trade_id + 1, buyer, seller,
        trade_id % 2 == 0, 10 * trade_id, 10 * trade_id + 1)), ts, next(_seq))


def trade_as_map(trade_id: int, **over) -> ChangeLogEntry:
    """The same entry with its fields as a map (one built by hand, or read from an older writer)."""
    e = trade(trade_id, **over)
    return ChangeLogEntry(e.entity_id, e.entity_type, Created(e.field_dict()), e.timestamp, e.sequence)


def clock(symbol: str = "BTCUSDT", ts: int = T0) -> ChangeLogEntry:
    """A Tick on its way to KLine, as Match passes it on (model/commands.py)."""
    return updated(f"tick:{symbol}", EntityType.CLOCK, ts, 0, symbol=symbol)


def kline(open_time: int, trades: int, closed: bool = False, symbol: str = "BTCUSDT", interval: str = "1m",
          change=updated, ts: int | None = None) -> ChangeLogEntry:
    """(`ts`: the entry's time, that of the trades it was made of; default its open time)"""
    return change(kline_id_of(symbol, interval, open_time), EntityType.KLINE, open_time if ts is None else ts,
                  next(_seq), symbol=symbol,
                  interval=interval, open_time=open_time, close_time=open_time + 59_999, open=100 + trades,
                  high=200 + trades, low=50, close=150, volume=10 * trades, quote_volume=1000 * trades, trades=trades,
                  taker_buy_volume=5 * trades, taker_buy_quote_volume=500 * trades, closed=closed)


def balance(account: int, asset: str, available_delta: int, frozen_delta: int = 0, reason: str = "deposit",
            ref="transfer-1", ts: int = T0, sequence: int | None = None) -> ChangeLogEntry:
    """A SpotBalance entry as Acquiring and Settlement make it (stages/accepting.py balance_entries)."""
    return ChangeLogEntry(balance_id_of(account, asset), EntityType.BALANCE,
                          Updated(BalanceFields(account, asset, available_delta, frozen_delta, reason, ref)), ts,
                          next(_seq) if sequence is None else sequence)


def balance_as_map(account: int, asset: str, available_delta: int, frozen_delta: int = 0, reason: str = "deposit",
                   ref="transfer-1", ts: int = T0, sequence: int | None = None) -> ChangeLogEntry:
    """The same entry with its fields as a map (one built by hand, or read from an older writer)."""
    return updated(balance_id_of(account, asset), EntityType.BALANCE, ts, next(_seq) if sequence is None else sequence,
                   account=account, asset=asset, available_delta=available_delta, frozen_delta=frozen_delta,
                   reason=reason, ref=ref)


def dump(path) -> list[str]:
    """The whole database as SQL text: equal dumps mean equal state."""
    db = sqlite3.connect(path)
    try:
        return list(db.iterdump())
    finally:
        db.close()
