"""PushStage: consumes all four topics (OrderChangeLog from Acquiring and Match, TradeChangeLog,
KLineChangeLog, BalanceChangeLog), produces nothing on the Bus: it turns entries into Binance
WebSocket stream events (binance/streams.py) and hands them to a sink, the WebSocket server of its
process (api/ws.py). Every Push instance receives every entry (`broadcast`), so any number of
processes can serve clients.

State it derives from the change log alone, like the other stages (so the supervisor's journal
replay rebuilds it after a restart):
- per symbol a DepthView fed exactly as Acquiring feeds its own (engine/depthview.py): the order's
  quantity, type and time in force from Acquiring's Created entry, every state change from Match, in
  Match's order. The `update_id` counter therefore equals REST `lastUpdateId` at the same point,
  and the diff events' `U`/`u` chain onto a REST snapshot exactly.
  Acquiring's Created entry and Match's first report reach this queue from two producers; if a
  report overtakes its Created entry, Match's reports wait (all of them, in order) until it comes.
- per order what executionReport needs; fills wait for the order update that follows them (Match
  publishes a command's trades before its order updates);
- per (account, asset) the balance, as the sum of the SpotBalance deltas (as Persist does); per
  order whose funds Acquiring froze, until Match has judged it, its hold's changes, unshown
  (stages/pushuser.py: a refused order's balances are never shown), and a taker's until
  Settlement's changes for its command are here (one outboundAccountPosition for the command);
- per symbol a 24-hour window in one-minute buckets for @ticker / @miniTicker and the rolling
  windows (@ticker_1h/4h/1d: a window opens on a minute, as Binance's, so one-minute buckets give
  it exactly), at most 1,440 buckets;
- per symbol the last 5 minutes' trades in one-second buckets for @avgPrice (at most 301; the
  window is REST avgPrice's, widened to whole seconds at its old end);
- per symbol the open candles of the intervals whose boundaries a time-zone offset moves (6h, 12h,
  1d, 3d, 1w, 1M under +08:00), from the trades (engine/kline.py, offset_ms), for
  @kline_<interval>@+08:00; the other intervals' candles are the KLine stage's, sent under both names.

Payloads are built only for streams someone subscribed to (`sink.wants`); state is kept always. The
1000 ms tick sends @avgPrice and the rolling-window tickers of each subscribed symbol whose window
holds a trade, and the all-market arrays (!miniTicker@arr, !ticker@arr, !ticker_<window>@arr) with
the symbols whose statistics changed since the array last went out (a trade came in or one left the
window: its first or last trade id moved), as Binance says; nothing when none did. With nobody
subscribed a tick costs a few dict look-ups per symbol.

Raw change logs (`changelog@<Topic>`): the admin's streams carry every entry whole; OrderChangeLog
and BalanceChangeLog are the admin's only (every account's orders and balances), and the public
TradeChangeLog drops account and order ids (`public_entry`), as Binance's public trade streams do.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import NamedTuple

import msgspec

from ..binance import streams as S
from ..engine.depthview import DepthView
from ..engine.kline import INTERVALS, CandleBook
from ..engine.ledger import Balance
from ..model.changelog import JSON, ChangeLogEntry, Created, TradeFields, Updated, trade_fields_of, trade_of
from ..model.entities import KLINE_FIELDS, TRADE_PUBLIC
from ..model.enums import ORDER_STATUS_OF, EntityType, Side, Topic
from ..model.orders import Order, PackedOrders, upgraded
from ..model.summary import joins_aggregate
from .base import Endpoint
from .pushuser import MAX_STALLED, HeldFunds, UserDataMixin
from .pushwindows import DAY_MS, AvgPriceWindow, Rolling

#: time zone (stream suffix) -> (offset ms, the intervals whose boundaries it moves: Push builds those)
OFFSET_BOOKS = {tz: (offset, tuple(i for i, size in INTERVALS.items() if size is None or offset % size))
                for tz, offset in S.KLINE_OFFSETS.items()}
#: interval -> the time-zone suffixes under which the KLine stage's (UTC) candle is the same candle
SAME_CANDLE = {interval: tuple(f"@{tz}" for tz, (_, moved) in OFFSET_BOOKS.items() if interval not in moved)
               for interval in INTERVALS}

log = logging.getLogger("spot_seda.push")
_CLOCK = EntityType.CLOCK
#: trade timestamps kept per symbol to find a new candle's first trade (first_trade_since)
FIRSTS_KEPT = 4096



#: every account's user data stream begins so
#: raw change logs only the admin credential opens: they name every account's orders and balances
PRIVATE_TOPICS = frozenset({Topic.ORDER, Topic.BALANCE})


def changelog_stream(topic: str, admin: bool) -> str:
    """The internal stream name of a raw change log: the admin's (whole entries) or the public one
    (a public topic, account and order ids left out); both show the client `changelog@<topic>`."""
    return f"admin:changelog@{topic}" if admin else f"changelog@{topic}"


def public_entry(e: ChangeLogEntry) -> ChangeLogEntry:
    """A TradeChangeLog entry as anyone may see it: the fields in TRADE_PUBLIC only."""
    change = e.change_type
    if type(change) is Created:
        change = Created({k: v for k, v in e.field_dict().items() if k in TRADE_PUBLIC})
    elif type(change) is Updated:
        change = Updated({k: v for k, v in change.changed_fields.items() if k in TRADE_PUBLIC})
    return ChangeLogEntry(e.entity_id, e.entity_type, change, e.timestamp, e.sequence)


def first_trade_since(firsts: dict[int, int], since: int) -> int:
    """The id of the first trade at or after `since` in `firsts` (timestamp -> the first trade id
    at it, the recent ones; times never go back there, as in KLine's candles), or -1 when it is
    older than they go back."""
    first = -1
    for ts in reversed(firsts):
        if ts < since:
            return first
        first = firsts[ts]
    return first if len(firsts) < FIRSTS_KEPT else -1


class NullSink:
    """Where events go when nobody listens (the replay pipeline, tests of the state alone)."""

    def wants(self, stream: str) -> bool:
        return False

    def wants_any(self, prefix: str) -> bool:
        return False

    def send(self, stream: str, payload) -> None:
        pass


class _Fill(NamedTuple):
    """A trade as engine/kline.py's CandleBook reads it."""

    price: int
    qty: int
    quote_qty: int
    taker_side: Side
    timestamp: int


class _DepthFeed:
    """Changed levels of one symbol since the last diff event of one speed."""

    __slots__ = ("changes", "last_u")

    def __init__(self, update_id: int) -> None:
        self.changes: dict[tuple[bool, int], int] = {}
        self.last_u = update_id


#: a kline stream's update speed but for `1s` (web-socket-streams.md: "2000ms for the other
#: intervals"), and how much early the 1000 ms tick may come and still count as on time
KLINE_UPDATE_MS, KLINE_SLACK_MS = 2000, 100


class PushStage(UserDataMixin, Endpoint):
    transient = ("encode", "sink", "users", "ticked", "arrays_sent", "second_streams", "kline_heard",
                 "kline_generation", "judged", "awaiting", "unfrozen",
                 "tickers_due", "kline_open", "kline_last")
    consumes = Topic.ALL
    produces = ()
    broadcast = True
    sources: dict = {}  # every producer: OrderChangeLog from Acquiring (Created) and Match (reports)

    def start(self) -> None:
        self.rules = self.ctx.settings.symbol_rules()
        self.sink = NullSink()
        self.users = False  # anyone on a user data stream, as _orders last found
        self.depth = {s: DepthView() for s in self.rules}
        self.feeds = {s: {"100ms": _DepthFeed(0), "1000ms": _DepthFeed(0)} for s in self.rules}
        self.depth_dirty: set[str] = set()  # symbols whose levels changed since the last tick
        self.best = {s: (None, None) for s in self.rules}
        self.depth_ts = {s: 0 for s in self.rules}
        self.orders: dict[int, Order] = {}  # open orders (and created ones Match has not reported yet)
        self.order_lists: dict[int, dict] = {}  # open OCOs: list id -> its legs' statuses (listStatus)
        self.list_updates: dict[int, tuple] = {}  # within a batch: lists a command changed (pushuser.py)
        self.list_updates_ts = 0
        self.fills: dict[int, list[tuple[TradeFields, int]]] = {}  # order id -> (trade, ts) awaiting its update
        #: symbol -> (time, trades) of the aggregate trade being built for @aggTrade: sent when a trade
        #: does not join it, or when Match reports on the symbol (a command's reports follow all its
        #: trades, however many messages those took)
        self.aggregates: dict[str, tuple[int, list[dict]]] = {}
        self.stalled: deque[ChangeLogEntry] = deque()  # Match reports waiting for their Created entry
        self.balances: dict[tuple[int, str], Balance] = {}  # (account, asset) -> the sum of its deltas
        # order id -> the changes of its hold waiting for Match's verdict on it (pushuser.py module doc)
        self.held: dict[int, HeldFunds] = {}
        #: the highest order id whose Created entry has come (None: none yet, or a snapshot from
        #: before it was kept): a balance change naming a higher one came before its order (pushuser.py)
        self.last_created: int | None = None
        self.judged: dict[tuple[int, int], dict[str, None]] = {}  # (during _orders: what verdicts showed)
        self.awaiting: dict[tuple[int, int], int] = {}  # (during _orders: verdicts that wait for Settlement)
        self.unfrozen: list[tuple[int, int, int]] = []  # (during _orders: verdicts that wait for a freeze)
        self.rolling = {s: Rolling() for s in self.rules}
        self.avg_prices = {s: AvgPriceWindow() for s in self.rules}
        # (symbol, time zone) -> the candles of the intervals the zone's offset moves
        self.offset_candles = {(s, tz): CandleBook(s, intervals, offset)
                               for s in self.rules for tz, (offset, intervals) in OFFSET_BOOKS.items()}
        self.offset_first: dict[tuple[str, str, str], tuple[int, int]] = {}  # (symbol, tz, interval) -> (open, first id)
        self.first_trade_at: dict[str, dict[int, int]] = {s: {} for s in self.rules}  # ts -> first trade id
        self.candle_first: dict[tuple[str, str], tuple[int, int]] = {}  # (symbol, interval) -> (open_time, first id)
        self.trade_ts = {s: -1 for s in self.rules}  # the latest trade's timestamp seen per symbol
        # candles that came before the trades they were made of (two queues: nothing orders them)
        self.klines_stalled: deque[ChangeLogEntry] = deque()
        # (symbol, interval) -> the streams a KLine stage candle goes to, built once rather than per entry
        self.kline_streams = {(symbol, interval): (name, *(name + tz for tz in SAME_CANDLE[interval]))
                              for symbol in self.rules for interval in INTERVALS
                              for name in (f"{symbol.lower()}@kline_{interval}",)}
        self.encode = msgspec.json.Encoder().encode
        self.kline_heard: frozenset[str] = frozenset()  # _kline_listeners' last answer ...
        self.kline_generation = None  # ... and the sink's generation it holds for (None: ask again)
        self.ticked: set[str] = set()  # symbols whose tickers went out since the last 1000 ms tick
        #: kline stream -> its open candle's last event (its "E" when it went out): sent again at the
        #: stream's update speed while the candle is open (_kline_updates)
        self.kline_open: dict[str, dict] = {}
        #: (symbol, interval) -> the KLine stage's latest candle (its fields), listened to or not,
        #: kept while anyone may listen (not in a replay): a stream subscribed to while its candle
        #: is open gets it at the next tick (_kline_updates)
        self.kline_last: dict[tuple[str, str], dict] = {}
        #: symbol -> the time of its trades whose tickers wait for Match's report on it: a ticker
        #: names the best bid and ask, and the book those trades changed is in the report, which
        #: Match sends after them (pushuser.py _orders sends them once it is applied)
        self.tickers_due: dict[str, int] = {}
        # all-market stream -> symbol -> its window's (first, last) trade id when the array last had it
        self.arrays_sent: dict[str, dict[str, tuple[int, int] | None]] = {name: {} for name in S.ALL_MARKET}
        # per symbol the names the 1000 ms tick asks about, built once rather than every second
        self.second_streams = [(symbol, rules, symbol.lower() + "@avgPrice",
                                tuple((window, span, f"{symbol.lower()}@ticker_{window}")
                                      for window, span in S.ROLLING_WINDOWS.items()))
                               for symbol, rules in self.rules.items()]

    def snapshot_state(self) -> dict:
        """The orders as one PackedOrders (model/orders.py): nothing else here holds them."""
        state = super().snapshot_state()
        state["orders"] = PackedOrders(self.orders)
        return state

    def restore_state(self, state: dict) -> None:
        """(A snapshot written before Balance keeps balances as [free, locked] lists; one written when
        orders were dicts, its orders and its lists' leg statuses by name.)"""
        super().restore_state(state)
        self.balances = {key: Balance(*b) if type(b) is list else b for key, b in self.balances.items()}
        self.orders = {oid: upgraded(o) for oid, o in PackedOrders.unpacked(self.orders).items()}
        for lst in self.order_lists.values():
            lst["legs"] = {i: ORDER_STATUS_OF[s] if type(s) is str else s for i, s in lst["legs"].items()}
        # (one written before trades were typed keeps each fill's fields as a map)
        self.fills = {oid: [(trade_fields_of(f), ts) for f, ts in waiting] for oid, waiting in self.fills.items()}

    # ------------------------------------------------------------------ dispatch

    def apply(self, topic: str, entries: list[ChangeLogEntry]) -> None:
        sink = self.sink
        if type(sink) is not NullSink:
            encode = JSON.encode_entry  # the seed's JSON form (model/changelog.py)
            # (Ticks too, entity_type Clock: a raw stream's sequences have no gaps)
            raw = changelog_stream(topic, admin=True)
            if sink.wants(raw):
                for e in entries:
                    sink.send(raw, encode(e))
            raw = changelog_stream(topic, admin=False)
            if topic not in PRIVATE_TOPICS and sink.wants(raw):
                strip = public_entry if topic == Topic.TRADE else None
                for e in entries:
                    sink.send(raw, encode(strip(e) if strip else e))
        if topic == Topic.TRADE:
            self._trades(entries)
        elif topic == Topic.ORDER:
            self._orders(entries)
        elif topic == Topic.BALANCE:
            self._balances(entries)
        elif topic == Topic.KLINE:
            self._klines(entries)

    # ------------------------------------------------------------------ trades

    def _aggregate_done(self, symbol: str) -> None:
        """The aggregate trade being built on `symbol` is whole (a trade that does not join it came,
        or Match reported on the symbol): send it."""
        ts, trades = self.aggregates.pop(symbol)
        name = symbol.lower() + "@aggTrade"
        if self.sink.wants(name):
            self.sink.send(name, S.agg_trade_event(self.rules[symbol], trades, ts))

    def _trades(self, entries: list[ChangeLogEntry]) -> None:
        sink = self.sink
        touched: dict[str, int] = {}
        candle_fills: dict[str, list[_Fill]] = {}
        last_ids: dict[str, int] = {}
        fills = self.fills
        clocks: dict[str, int] = {}
        for e in entries:
            if e.entity_type == _CLOCK:  # a Tick on its way to KLine: the symbol's trades before it are here
                symbol = e.change_type.changed_fields["symbol"]
                touched[symbol] = max(touched.get(symbol, 0), e.timestamp)
                clocks[symbol] = e.timestamp
                continue
            if type(t := getattr(e.change_type, "fields", None)) is not TradeFields:
                t = trade_of(e)
            symbol, ts = t.symbol, e.timestamp
            rules = self.rules[symbol]
            lower = symbol.lower()
            price, qty, quote, trade_id = t.price, t.qty, t.quote_qty, t.trade_id
            self.rolling[symbol].add(ts, trade_id, price, qty, quote)
            self.avg_prices[symbol].add(ts, price, qty, quote)
            candle_fills.setdefault(symbol, []).append(
                _Fill(price, qty, quote, Side.SELL if t.buyer_is_maker else Side.BUY, ts))
            last_ids[symbol] = trade_id
            firsts = self.first_trade_at[symbol]
            # (a trade older than the newest counts at the newest time, as in KLine's candles: that
            # time is there already)
            if ts not in firsts and not (firsts and ts < next(reversed(firsts))):
                firsts[ts] = trade_id
                if len(firsts) > FIRSTS_KEPT:  # only the candles being built need it: keep the recent ones
                    del firsts[next(iter(firsts))]
            touched[symbol] = ts
            fills.setdefault(t.buyer_order_id, []).append((t, ts))
            fills.setdefault(t.seller_order_id, []).append((t, ts))
            name = lower + "@trade"
            f = None  # (its fields as a map, made for a subscriber only)
            if sink.wants(name):
                f = msgspec.structs.asdict(t)
                sink.send(name, S.trade_event(rules, f, ts))
            name = lower + "@aggTrade"
            if sink.wants(name):  # an aggregate goes out whole (self.aggregates)
                if f is None:
                    f = msgspec.structs.asdict(t)
                held = self.aggregates.get(symbol)
                if held is not None and joins_aggregate(held[1][-1], f):
                    held[1].append(f)
                else:
                    if held is not None:
                        self._aggregate_done(symbol)
                    self.aggregates[symbol] = (ts, [f])
        trade_ts = self.trade_ts
        for symbol, ts in touched.items():  # (a symbol's trades come in time order: its last is its latest)
            trade_ts[symbol] = max(trade_ts[symbol], ts)
            if symbol not in candle_fills:  # only a Tick
                continue
            lower = symbol.lower()
            if sink.wants(lower + "@ticker") or sink.wants(lower + "@miniTicker"):  # (as _tickers asks)
                self.tickers_due[symbol] = ts
            self._offset_klines(symbol, candle_fills[symbol], last_ids[symbol], ts)
        for symbol, ts in clocks.items():  # a Tick closes the time-zone candles that ended before it, as
            # KLine closes the UTC ones (a later trade of the batch has closed what it is past already)
            for tz in OFFSET_BOOKS:
                self._offset_rows(symbol, tz, self.offset_candles[symbol, tz].tick_rows(ts), -1, ts)
        if self.klines_stalled:  # candles that waited for these trades
            self._klines([])

    def _kline_listeners(self) -> frozenset[str]:
        """The symbols with a subscriber to one of their kline streams (UTC candles, any name)."""
        sink = self.sink
        generation = getattr(sink, "generation", None)
        key = None if generation is None else (id(sink), generation)  # (a sink replaced: asked again)
        if key is None or key != self.kline_generation:
            wants, streams = sink.wants, self.kline_streams
            self.kline_heard = frozenset(symbol for symbol in self.rules
                                         if any(wants(n) for interval in INTERVALS for n in streams[symbol, interval]))
            self.kline_generation = key
        return self.kline_heard

    def _offset_klines(self, symbol: str, fills: list[_Fill], last_id: int, ts: int) -> None:
        """Fold a batch's trades of a symbol into its time-zone candles; send the ones subscribed to.
        A symbol's trade ids are consecutive, so an open candle's first trade is last_id - trades + 1."""
        for tz in OFFSET_BOOKS:
            self._offset_rows(symbol, tz, self.offset_candles[symbol, tz].apply_rows(fills), last_id, ts)

    def _offset_rows(self, symbol: str, tz: str, rows: list[tuple], last_id: int, ts: int) -> None:
        """Send a time-zone book's candle rows to their subscribers (a closed one's first trade id as
        its open state had it; last_id: the symbol's latest trade id)."""
        sink = self.sink
        lower = symbol.lower()
        for row in rows:
            interval, opened, trades, closed = row[1], row[2], row[10], row[13]
            key = (symbol, tz, interval)
            if closed:
                known = self.offset_first.get(key)
                first = known[1] if known is not None and known[0] == opened else -1
            else:
                first = last_id - trades + 1
                self.offset_first[key] = (opened, first)
            name = f"{lower}@kline_{interval}@{tz}"
            if sink.wants(name):
                last = first + trades - 1 if first >= 0 else -1
                event = S.kline_event(self.rules[symbol], dict(zip(KLINE_FIELDS, row)), ts, first, last)
                sink.send(name, event)
                self._kline_sent(name, event)
            elif self.kline_open:
                self.kline_open.pop(name, None)  # (its candle changed unsent)

    def _tickers(self, symbol: str, ts: int) -> None:
        """The 24-hour ticker and mini ticker of a symbol as of `ts`, to whoever subscribed."""
        sink = self.sink
        lower = symbol.lower()
        full, mini = sink.wants(lower + "@ticker"), sink.wants(lower + "@miniTicker")
        if not (full or mini):
            return
        window = self.rolling[symbol].window(ts)
        if window is None:
            return
        self.ticked.add(symbol)
        rules = self.rules[symbol]
        if full:
            sink.send(lower + "@ticker", S.ticker_event(rules, ts, window, *self.depth[symbol].best()))
        if mini:
            sink.send(lower + "@miniTicker", S.mini_ticker_event(rules, ts, window))

    # ------------------------------------------------------------------ orders

    def _depth_changed(self) -> None:
        """Fold level changes into the diff feeds; send bookTicker where the best level moved."""
        for symbol in self.depth_dirty:
            view = self.depth[symbol]
            changes = view.take_changes()
            for feed in self.feeds[symbol].values():
                feed.changes.update(changes)
            best = view.best()
            if best != self.best[symbol]:
                self.best[symbol] = best
                name = symbol.lower() + "@bookTicker"
                if self.sink.wants(name):
                    self.sink.send(name, S.book_ticker_event(self.rules[symbol], view.update_id, *best))
        self.depth_dirty.clear()

    def tick(self, speed: str) -> None:
        """Send the diff and partial depth events of one update speed ("100ms" or "1000ms"); the
        WebSocket server calls this on its timers."""
        sink = self.sink
        suffix = "@100ms" if speed == "100ms" else ""
        if speed == "1000ms":  # the 24-hour tickers every second, as Binance pushes them, trades or not
            now = time.time_ns() // 1_000_000
            for symbol in self.rules:
                if symbol not in self.ticked:  # (a symbol that traded this second has just been sent)
                    self._tickers(symbol, max(now, self.rolling[symbol].last_minute()))
            self.ticked.clear()
            self._every_second(now)
        for symbol, feeds in self.feeds.items():
            view = self.depth[symbol]
            rules = self.rules[symbol]
            lower = symbol.lower()
            # the partial books at every tick, changed or not: Binance pushes them every second (or
            # 100 ms), so a quiet book reaches a new subscriber within one tick
            for levels in S.PARTIAL_LEVELS:
                name = f"{lower}@depth{levels}{suffix}"
                if sink.wants(name):
                    sink.send(name, S.partial_depth_event(rules, view.update_id, *view.top(levels)))
            feed = feeds[speed]
            if view.update_id == feed.last_u:
                continue  # the diff stream: only what changed
            name = f"{lower}@depth{suffix}"
            if sink.wants(name):
                bids = sorted(((p, q) for (is_bid, p), q in feed.changes.items() if is_bid), reverse=True)
                asks = sorted((p, q) for (is_bid, p), q in feed.changes.items() if not is_bid)
                sink.send(name, S.depth_update_event(rules, self.depth_ts[symbol], feed.last_u + 1, view.update_id,
                                                     bids, asks))
            feed.changes = {}
            feed.last_u = view.update_id

    def _kline_sent(self, name: str, event: dict) -> None:
        """A candle went out on stream `name`: while it is open, _kline_updates sends it again."""
        if event["k"]["x"]:
            self.kline_open.pop(name, None)
        else:
            self.kline_open[name] = event

    def _kline_subscribed(self, now: int) -> None:
        """Each subscribed stream of an open KLine stage candle that has not been sent it: its
        current state, at `now` (_kline_updates)."""
        sink, kline_open, kline_streams = self.sink, self.kline_open, self.kline_streams
        for slot, f in self.kline_last.items():
            if f["closed"] or not f["open_time"] <= now <= f["close_time"]:
                continue
            event = None
            for name in kline_streams[slot]:
                if name in kline_open or not sink.wants(name):
                    continue
                if event is None:
                    symbol = slot[0]
                    known = self.candle_first.get(slot)
                    first = known[1] if known is not None and known[0] == f["open_time"] else \
                        first_trade_since(self.first_trade_at[symbol], f["open_time"])
                    last = first + f["trades"] - 1 if first >= 0 else -1
                    event = S.kline_event(self.rules[symbol], f, now, first, last)
                sink.send(name, event)
                kline_open[name] = event

    def _kline_unsent(self, prefix: str) -> None:
        """A candle of the streams named `prefix`... changed and was not sent (nobody listened): a
        stream subscribed again since must not get its old state again (_kline_updates)."""
        for name in [n for n in self.kline_open if n.startswith(prefix)]:
            del self.kline_open[name]

    def _kline_updates(self, now: int) -> None:
        """Binance pushes the current candle at each kline stream's update speed (web-socket-streams.md:
        1000 ms for `1s`, 2000 ms for the others), trades or not: an open candle sent on a stream
        that is still subscribed goes out again, as it is, with the event time `now`, until its
        interval ends (its close, which KLine makes at the next Tick, goes out as it comes); a
        stream subscribed to since its candle last went out (or that was not sent its last change)
        gets the KLine stage's open candle as it is now (`kline_last`). (Push's own time-zone
        candles, `@+08:00` of 6h and longer, reach a new subscriber at their next change.)"""
        self._kline_subscribed(now)
        sink, kline_open = self.sink, self.kline_open
        for name, event in list(kline_open.items()):
            k = event["k"]
            if not sink.wants(name) or now > k["T"]:
                del kline_open[name]
            elif now - event["E"] >= (1000 if k["i"] == "1s" else KLINE_UPDATE_MS) - KLINE_SLACK_MS:
                # (the 1000 ms tick comes a little early or late)
                event = kline_open[name] = event | {"E": now}
                sink.send(name, event)

    def _every_second(self, now: int) -> None:
        """@avgPrice and the rolling-window tickers of every subscribed symbol, the open candles'
        updates, then the all-market arrays (module doc)."""
        self._kline_updates(now)
        sink = self.sink
        for symbol, rules, avg_name, rolling_names in self.second_streams:
            if sink.wants(avg_name):
                avg = self.avg_prices[symbol]
                if avg.last_time:
                    sink.send(avg_name, S.avg_price_event(rules, now, *avg.sums(now), avg.last_price, avg.last_time))
            for window, span, name in rolling_names:
                if sink.wants(name):
                    w = self.rolling[symbol].window(now, span)
                    if w is not None:
                        sink.send(name, S.rolling_ticker_event(rules, now, window, w))
        for name, (kind, window) in S.ALL_MARKET.items():
            if not sink.wants(name):
                continue
            span = S.ROLLING_WINDOWS[window] if window else DAY_MS
            sent = self.arrays_sent[name]
            items = []
            for symbol, rolling in self.rolling.items():
                ids = rolling.ids(now, span)
                if ids == sent.get(symbol):
                    continue
                sent[symbol] = ids
                if ids is None:  # (its last trade left the window: nothing to show)
                    continue
                rules, w = self.rules[symbol], rolling.window(now, span)
                if kind == "allMiniTicker":
                    items.append(S.mini_ticker_event(rules, now, w))
                elif kind == "allTicker":
                    items.append(S.ticker_event(rules, now, w, *self.depth[symbol].best()))
                else:
                    items.append(S.rolling_ticker_event(rules, now, window, w))
            if items:
                sink.send(name, items)

    # ------------------------------------------------------------------ candles

    def _klines(self, entries: list[ChangeLogEntry]) -> None:
        """KLine's candles to their streams. A candle is made of trades at or before its entry's
        time; one that reaches Push before those trades (they come on another queue) waits for them,
        with every candle after it, so its first and last trade ids are known (`f`, `L`)."""
        stalled = self.klines_stalled
        if stalled:
            stalled.extend(entries)
            entries, self.klines_stalled = list(stalled), deque()
        sink = self.sink
        quiet = type(sink) is NullSink  # nobody can listen: only the state is kept
        candle_first, first_trade_at, trade_ts = self.candle_first, self.first_trade_at, self.trade_ts
        kline_streams, wants = self.kline_streams, sink.wants
        # The symbols whose candles someone listens to. For the others only a candle's first entry
        # (Created: KLine opens every candle so) changes the state kept (its first trade id), and
        # the updates after it are passed over before their fields are read. Asked again only when
        # the subscriptions changed (the sink's generation; a sink without one: every batch).
        heard = self._kline_listeners() if not quiet else frozenset()
        kline_open, kline_last = self.kline_open, self.kline_last
        for at, e in enumerate(entries):
            if type(e.change_type) is Updated and (not heard or e.change_type.changed_fields["symbol"] not in heard):
                if not quiet:  # the candle as it is now, for whoever subscribes next (_kline_updates)
                    f = e.change_type.changed_fields
                    kline_last[f["symbol"], f["interval"]] = f
                if kline_open:  # a candle changed unsent: what a stream last sent of it must not go out again
                    self._kline_unsent(e.change_type.changed_fields["symbol"].lower() + "@kline_")
                continue
            f = e.field_dict()
            symbol, interval, open_time = f["symbol"], f["interval"], f["open_time"]
            if trade_ts[symbol] < e.timestamp and len(entries) - at <= MAX_STALLED:
                self.klines_stalled.extend(entries[at:])  # its trades are not here yet
                return
            slot = (symbol, interval)
            known = candle_first.get(slot)
            if known is None or known[0] != open_time:
                # a new candle starts with the symbol's first trade at or after its open time (KLine
                # gives it up to a second or a Tick later)
                known = candle_first[slot] = (open_time, first_trade_since(first_trade_at[symbol], open_time))
            if not quiet:
                kline_last[slot] = f
            if symbol not in heard:  # (nobody listens to this symbol's candles)
                if kline_open:
                    self._kline_unsent(symbol.lower() + "@kline_")
                continue
            wanted = [n for n in kline_streams[slot] if wants(n)]
            if kline_open and len(wanted) < len(kline_streams[slot]):
                for n in kline_streams[slot]:
                    if n not in wanted:  # (its candle changed unsent)
                        kline_open.pop(n, None)
            if wanted:
                first = known[1]
                last = first + f["trades"] - 1 if first >= 0 else -1
                event = S.kline_event(self.rules[symbol], f, e.timestamp, first, last)
                encoded = self.encode(event)
                for n in wanted:
                    sink.send(n, encoded)
                    self._kline_sent(n, event)
