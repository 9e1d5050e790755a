"""What a window of a symbol's trades adds up to: the 24-hour ticker's numbers, from trade rows."""

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
