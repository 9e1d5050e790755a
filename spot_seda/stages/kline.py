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

from ..engine.kline import CandleBook, Kline
from ..model.changelog import ChangeLogEntry, Created, FieldChange, Updated
from ..model.entities import KLINE_FIELDS, kline_id_of
from ..model.enums import EntityType, Side, Topic
from .base import Publish, Stage


class _Fill(NamedTuple):
    """What CandleBook reads of a trade."""

    price: int
    qty: int
    quote_qty: int
    taker_side: int
    timestamp: int


class KLineStage(Stage):
    consumes = (Topic.TRADE,)
    produces = (Topic.KLINE,)
    sources = {Topic.TRADE: ("match",)}

    def start(self) -> None:
        self.books = {symbol: CandleBook(symbol) for symbol in self.ctx.settings.symbol_rules()}
        self.last_open: dict[tuple[str, str], int] = {}  # (symbol, interval) -> open time last published

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
        out.append((Topic.KLINE, symbol, [self._entry(k, ts) for k in self.books[symbol].apply(fills)]))

    def _entry(self, k: Kline, ts: int) -> ChangeLogEntry:
        slot = (k.symbol, k.interval)
        fields = [FieldChange(name, getattr(k, name)) for name in KLINE_FIELDS]
        change = Updated(fields) if self.last_open.get(slot) == k.open_time else Created(fields)
        self.last_open[slot] = k.open_time
        return ChangeLogEntry(kline_id_of(k.symbol, k.interval, k.open_time), EntityType.KLINE, change, ts, 0)
