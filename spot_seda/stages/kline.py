"""KLineStage: consumes trades (TradeChangeLog), produces candles (KLineChangeLog, keyed by symbol)
for every Binance interval: the touched open candle once per batch, and a closed candle when a
later trade starts the next one. An interval with no trades has no candle (as on Binance)."""

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
        by_symbol: dict[str, list[_Fill]] = {}
        for e in entries:
            f = e.field_dict()
            by_symbol.setdefault(f["symbol"], []).append(_Fill(
                f["price"], f["qty"], f["quote_qty"], Side.SELL if f["buyer_is_maker"] else Side.BUY, e.timestamp))
        out: list[Publish] = []
        for symbol, fills in by_symbol.items():
            ts = fills[-1].timestamp
            candles = [self._entry(k, ts) for k in self.books[symbol].apply(fills)]
            out.append((Topic.KLINE, symbol, candles))
        return out

    def _entry(self, k: Kline, ts: int) -> ChangeLogEntry:
        slot = (k.symbol, k.interval)
        fields = [FieldChange(name, getattr(k, name)) for name in KLINE_FIELDS]
        change = Updated(fields) if self.last_open.get(slot) == k.open_time else Created(fields)
        self.last_open[slot] = k.open_time
        return ChangeLogEntry(kline_id_of(k.symbol, k.interval, k.open_time), EntityType.KLINE, change, ts, 0)
