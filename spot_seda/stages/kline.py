"""KLineStage: consumes trades (TradeChangeLog), produces candles (KLineChangeLog, keyed by symbol)
for every Binance interval: a closed candle when a later trade starts the next one or a Tick comes
after its interval ended, and the touched
open candles once per `node.candle_update_ms` of trade time and at each Tick (engine/kline.py,
"Cadence"); with 0, once per matching command (the trades of one taker order). An interval with no
trades has no candle (as on Binance).

Ticks are journaled commands (model/commands.py) that Match passes on among the symbol's trades
(entity_type Clock), so they reach this stage at the same place in every replay. Updates follow
trade times, Ticks and command boundaries, never input batches: how the trades were batched on the
way depends on timing, and the change log must not (a replay reproduces it byte for byte). Match
publishes each command's trades in one message, and the runner never splits a message.
"""

from __future__ import annotations

from typing import NamedTuple

from ..engine.kline import CandleBook
from ..model.changelog import ChangeLogEntry, Created, TradeFields, Updated, trade_of
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


_KLINE, _CLOCK = EntityType.KLINE, EntityType.CLOCK
# read once: an enum member read through its class costs ~0.2 µs on Python 3.11 (EnumType.__getattr__)
_BUY, _SELL = Side.BUY, Side.SELL


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
        every = self.ctx.settings.node.candle_update_ms
        self.books = {symbol: CandleBook(symbol, update_ms=every) for symbol in self.ctx.settings.symbol_rules()}
        self.last_open: dict[tuple[str, str], int] = {}  # (symbol, interval) -> open time last published
        self.ids: dict[tuple[str, str], tuple[int, str]] = {}  # (symbol, interval) -> (open time, entity id)

    def restore_state(self, state: dict) -> None:
        super().restore_state(state)
        every = self.ctx.settings.node.candle_update_ms
        for book in self.books.values():  # a snapshot from before the cadence, or under another one
            if book.update_ms != every:
                book.flush_rows()  # (what is pending folded in; what it would give is lost)
                book.update_ms = every

    def replay_end(self, end: dict) -> None:
        for book in self.books.values():
            end["open_candles"] += book.open_rows()

    def handle_events(self, topic: str, entries: list[ChangeLogEntry]) -> list[Publish]:
        out: list[Publish] = []
        group: list[_Fill] = []
        symbol = taker = None
        for e in entries:
            if e.entity_type == _CLOCK:  # a Tick: what the trades before it changed goes out now,
                # and the candles whose interval ended before it close
                if group:
                    self._flush(symbol, group, out)
                    group = []
                symbol, taker = e.field_dict()["symbol"], None
                self._give(symbol, self.books[symbol].tick_rows(e.timestamp), e.timestamp, out)
                continue
            if type(t := getattr(e.change_type, "fields", None)) is not TradeFields:
                t = trade_of(e)
            if group and (t.taker_order_id != taker or t.symbol != symbol):
                self._flush(symbol, group, out)
                group = []
            symbol, taker = t.symbol, t.taker_order_id
            group.append(_Fill(t.price, t.qty, t.quote_qty, _SELL if t.buyer_is_maker else _BUY, e.timestamp))
        if group:
            self._flush(symbol, group, out)
        return out

    def _flush(self, symbol: str, fills: list[_Fill], out: list[Publish]) -> None:
        self._give(symbol, self.books[symbol].apply_rows(fills), fills[-1].timestamp, out)

    def _give(self, symbol: str, rows: list[tuple], ts: int, out: list[Publish]) -> None:
        if not rows:
            return
        last_open, ids = self.last_open, self.ids
        entries = []
        for row in rows:  # (symbol, interval, open_time, ...) as KLINE_FIELDS
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
