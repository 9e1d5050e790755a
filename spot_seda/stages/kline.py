"""KLineStage: consumes trades (TradeChangeLog), produces candles (KLineChangeLog, keyed by symbol)
for every Binance interval: the touched open candles once per matching command (the trades of one
taker order), and a closed candle when a later trade starts the next one. An interval with no
trades has no candle (as on Binance).

Updates follow command boundaries, not input batches: how the trades were batched on the way
depends on timing, and the change log must not (a replay reproduces it byte for byte). Match
publishes each command's trades in one message, and the runner never splits a message.
"""

from __future__ import annotations

from typing import NamedTuple

from ..engine.kline import CandleBook
from ..model.changelog import ChangeLogEntry, Created, Updated
from ..model.entities import KLINE_FIELDS, kline_id_of
from ..model.enums import EntityType, Side, Topic
from .base import Publish, Operator


class _Fill(NamedTuple):
    """What CandleBook reads of a trade."""

    price: int
    qty: int
    quote_qty: int
    taker_side: int
    timestamp: int


_KLINE = EntityType.KLINE


def _fields(symbol, interval, open_time, close_time, open_, high, low, close, volume, quote_volume, trades,
            taker_buy_volume, taker_buy_quote_volume, closed) -> dict:
    """A candle row's fields, named as KLINE_FIELDS in its order (a dict display: half the time of
    dict(zip(KLINE_FIELDS, row)), and 16 of them per trading command)."""
    return {"symbol": symbol, "interval": interval, "open_time": open_time, "close_time": close_time, "open": open_,
            "high": high, "low": low, "close": close, "volume": volume, "quote_volume": quote_volume,
            "trades": trades, "taker_buy_volume": taker_buy_volume, "taker_buy_quote_volume": taker_buy_quote_volume,
            "closed": closed}


assert tuple(_fields(*KLINE_FIELDS)) == KLINE_FIELDS  # the order the change log's bytes depend on


class KLineStage(Operator):
    transient = ("ids",)
    consumes = (Topic.TRADE,)
    produces = (Topic.KLINE,)
    sources = {Topic.TRADE: ("match",)}
    keeps_partitions = True

    def start(self) -> None:
        self.books = {symbol: CandleBook(symbol) for symbol in self.ctx.settings.symbol_rules()}
        self.last_open: dict[tuple[str, str], int] = {}  # (symbol, interval) -> open time last published
        self.ids: dict[tuple[str, str], tuple[int, str]] = {}  # (symbol, interval) -> (open time, entity id)

    def replay_end(self, end: dict) -> None:
        for book in self.books.values():
            end["open_candles"] += book.open_rows()

    def handle_events(self, topic: str, entries: list[ChangeLogEntry]) -> list[Publish]:
        out: list[Publish] = []
        group: list[_Fill] = []
        symbol = taker = None
        for e in entries:
            f = e.field_dict()
            if group and (f["taker_order_id"] != taker or f["symbol"] != symbol):
                self._flush(symbol, group, out)
                group = []
            symbol, taker = f["symbol"], f["taker_order_id"]
            group.append(_Fill(f["price"], f["qty"], f["quote_qty"], Side.SELL if f["buyer_is_maker"] else Side.BUY,
                               e.timestamp))
        if group:
            self._flush(symbol, group, out)
        return out

    def _flush(self, symbol: str, fills: list[_Fill], out: list[Publish]) -> None:
        ts = fills[-1].timestamp
        last_open, ids = self.last_open, self.ids
        entries = []
        for row in self.books[symbol].apply_rows(fills):  # (symbol, interval, open_time, ...) as KLINE_FIELDS
            slot = (symbol, interval := row[1])
            open_time = row[2]
            fields = _fields(*row)
            change = Updated(fields) if last_open.get(slot) == open_time else Created(fields)
            last_open[slot] = open_time
            known = ids.get(slot)
            if known is None or known[0] != open_time:
                known = ids[slot] = (open_time, kline_id_of(symbol, interval, open_time))
            entries.append(ChangeLogEntry(known[1], _KLINE, change, ts, 0))
        out.append((Topic.KLINE, symbol, entries))
