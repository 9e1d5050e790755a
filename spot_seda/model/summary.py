"""What trades add up to: a window's numbers (the 24-hour ticker's), and Binance's aggregate trades,
from trade rows (mappings with the change log's trade fields: trade_id, price, qty, taker_order_id...)."""

from __future__ import annotations

from operator import itemgetter

import msgspec


class TradeSummary(msgspec.Struct, frozen=True):
    """What a window of a symbol's trades adds up to (24-hour tickers): prices and amounts in units."""

    open: int
    high: int
    low: int
    close: int
    volume: int
    quote_volume: int
    count: int
    first_id: int
    last_id: int
    last_qty: int


def summarize(trades) -> TradeSummary | None:
    """The summary of some trade rows (any order), or None for none."""
    rows = sorted(trades, key=itemgetter("trade_id"))
    if not rows:
        return None
    first, last = rows[0], rows[-1]
    prices = [t["price"] for t in rows]
    return TradeSummary(first["price"], max(prices), min(prices), last["price"], sum(t["qty"] for t in rows),
                        sum(t["quote_qty"] for t in rows), len(rows), first["trade_id"], last["trade_id"], last["qty"])


def joins_aggregate(before, trade) -> bool:
    """Whether `trade` belongs to the aggregate trade `before` is in (Binance's aggTrades: "trades that
    fill at the time, from the same taker order, with the same price"): the next trade of the symbol,
    by the same taker, at the same price. One command's trades are consecutive and share its time; a
    stop it triggers takes as another taker, so its fills start their own aggregate."""
    return (trade["trade_id"] == before["trade_id"] + 1 and trade["taker_order_id"] == before["taker_order_id"]
            and trade["price"] == before["price"])


def aggregate_trades(trades) -> list[list]:
    """Trade rows (ascending by trade id) grouped into Binance's aggregate trades, each a list of its
    trades in order. An aggregate is numbered by its first trade's id (REST aggTrades and the
    aggTrade stream alike): the ids rise with the trades, and fromId pages by them."""
    groups: list[list] = []
    last = None
    for trade in trades:
        if last is not None and joins_aggregate(last, trade):
            groups[-1].append(trade)
        else:
            groups.append([trade])
        last = trade
    return groups
