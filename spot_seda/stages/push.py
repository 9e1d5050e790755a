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
- per (account, asset) the balance, as the sum of the SpotBalance deltas (as Persist does);
- per symbol a 24-hour window in one-minute buckets for @ticker / @miniTicker.

Payloads are built only for streams someone subscribed to (`sink.wants`); state is kept always.

Raw change logs (`changelog@<Topic>`): the admin's streams carry every entry whole; OrderChangeLog
and BalanceChangeLog are the admin's only (every account's orders and balances), and the public
TradeChangeLog drops account and order ids (`public_entry`), as Binance's public trade streams do.
"""

from __future__ import annotations

import logging
import time
from collections import deque

import msgspec

from ..binance import streams as S
from ..engine.depthview import DepthView
from ..model.changelog import ChangeLogEntry, Created, Updated
from ..model.entities import BALANCE_FIELDS, KLINE_FIELDS, TRADE_PUBLIC
from ..model.enums import MARKET_TYPES, Topic
from ..model.symbols import fee_on
from .base import Endpoint

FINAL = frozenset({"FILLED", "CANCELED", "EXPIRED", "EXPIRED_IN_MATCH", "REJECTED"})
#: Match reports held back waiting for their Created entry before we give up on it (a corrupt stream)
MAX_STALLED = 100_000
DAY_MS = 86_400_000
MINUTE_MS = 60_000

log = logging.getLogger("spot_seda.push")

_KLINE_NAMES = list(KLINE_FIELDS)
_BALANCE_NAMES = list(BALANCE_FIELDS)
_K_CLOSED = KLINE_FIELDS.index("closed")


#: every account's user data stream begins so
USER_PREFIX = "user:"


def user_stream(account: int) -> str:
    """The internal stream name of an account's user data."""
    return f"{USER_PREFIX}{account}"


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
        change = Created([f for f in change.fields if f.name in TRADE_PUBLIC])
    elif type(change) is Updated:
        change = Updated([f for f in change.changed_fields if f.name in TRADE_PUBLIC])
    return ChangeLogEntry(e.entity_id, e.entity_type, change, e.timestamp, e.sequence)


class NullSink:
    """Where events go when nobody listens (the replay pipeline, tests of the state alone)."""

    def wants(self, stream: str) -> bool:
        return False

    def wants_any(self, prefix: str) -> bool:
        return False

    def send(self, stream: str, payload) -> None:
        pass


class _Rolling:
    """24-hour rolling trade statistics of one symbol in one-minute buckets (bounded memory)."""

    __slots__ = ("buckets", "prev_close")

    def __init__(self) -> None:
        # [minute, open, high, low, close, last_qty, volume, quote_volume, first_id, last_id, count]
        self.buckets: deque[list[int]] = deque()
        self.prev_close = 0

    def add(self, ts: int, trade_id: int, price: int, qty: int, quote: int) -> None:
        minute = ts - ts % MINUTE_MS
        b = self.buckets[-1] if self.buckets else None
        if b is None or minute > b[0]:
            self.buckets.append([minute, price, price, price, price, qty, qty, quote, trade_id, trade_id, 1])
            self._expire(ts)  # (also with nobody asking for the window: at most a day of minutes)
            return
        if price > b[2]:
            b[2] = price
        if price < b[3]:
            b[3] = price
        b[4], b[5] = price, qty
        b[6] += qty
        b[7] += quote
        b[9] = trade_id
        b[10] += 1

    def last_minute(self) -> int:
        """The start of the newest minute with trades (0: none)."""
        return self.buckets[-1][0] if self.buckets else 0

    def _expire(self, now: int) -> None:
        """Drop the minutes that left the 24-hour window, keeping the last one's close."""
        buckets = self.buckets
        while buckets and buckets[0][0] + MINUTE_MS <= now - DAY_MS:
            self.prev_close = buckets.popleft()[4]

    def window(self, now: int) -> S.Window | None:
        self._expire(now)
        buckets = self.buckets
        if not buckets:
            return None
        first, last = buckets[0], buckets[-1]
        return S.Window(first[1], max(b[2] for b in buckets), min(b[3] for b in buckets), last[4], last[5],
                        sum(b[6] for b in buckets), sum(b[7] for b in buckets), first[8], last[9],
                        sum(b[10] for b in buckets), self.prev_close or first[1])


class _DepthFeed:
    """Changed levels of one symbol since the last diff event of one speed."""

    __slots__ = ("changes", "last_u")

    def __init__(self, update_id: int) -> None:
        self.changes: dict[tuple[bool, int], int] = {}
        self.last_u = update_id


class PushStage(Endpoint):
    transient = ("encode", "sink", "users", "ticked")
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
        self.orders: dict[int, dict] = {}  # open orders (and created ones Match has not reported yet)
        self.order_lists: dict[int, dict] = {}  # open OCOs: list id -> its legs' statuses (listStatus)
        self.fills: dict[int, list[tuple[dict, int]]] = {}  # order id -> (trade fields, ts) awaiting its update
        self.stalled: deque[ChangeLogEntry] = deque()  # Match reports waiting for their Created entry
        self.balances: dict[tuple[int, str], list[int]] = {}  # (account, asset) -> [free, locked]
        self.rolling = {s: _Rolling() for s in self.rules}
        self.first_trade_at: dict[str, dict[int, int]] = {s: {} for s in self.rules}  # ts -> first trade id
        self.candle_first: dict[tuple[str, str], tuple[int, int]] = {}  # (symbol, interval) -> (open_time, first id)
        self.encode = msgspec.json.Encoder().encode
        self.ticked: set[str] = set()  # symbols whose tickers went out since the last 1000 ms tick

    # ------------------------------------------------------------------ dispatch

    def apply(self, topic: str, entries: list[ChangeLogEntry]) -> None:
        sink = self.sink
        if type(sink) is not NullSink:
            encode = self.encode
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

    def _trades(self, entries: list[ChangeLogEntry]) -> None:
        sink = self.sink
        touched: dict[str, int] = {}
        fills = self.fills
        for e in entries:
            f = e.field_dict()
            symbol, ts = f["symbol"], e.timestamp
            rules = self.rules[symbol]
            lower = symbol.lower()
            self.rolling[symbol].add(ts, f["trade_id"], f["price"], f["qty"], f["quote_qty"])
            firsts = self.first_trade_at[symbol]
            if ts not in firsts:
                firsts[ts] = f["trade_id"]
                if len(firsts) > 4096:  # only the candles being built need it: keep the recent ones
                    del firsts[next(iter(firsts))]
            touched[symbol] = ts
            fills.setdefault(f["buyer_order_id"], []).append((f, ts))
            fills.setdefault(f["seller_order_id"], []).append((f, ts))
            name = lower + "@trade"
            if sink.wants(name):
                sink.send(name, S.trade_event(rules, f, ts))
            name = lower + "@aggTrade"
            if sink.wants(name):
                sink.send(name, S.agg_trade_event(rules, f, ts))
        for symbol, ts in touched.items():
            self._tickers(symbol, ts)

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

    def _orders(self, entries: list[ChangeLogEntry]) -> None:
        orders, stalled = self.orders, self.stalled
        self.users = self.sink.wants_any(USER_PREFIX)  # (for _report: anyone on a user data stream?)
        for e in entries:
            change = e.change_type
            if type(change) is Created:  # Acquiring: a new order
                order = e.field_dict()  # a new dict: the order's own
                order.update(order_id=int(e.entity_id), time=e.timestamp, executed_qty=0, cum_quote_qty=0,
                             working_time=-1)
                orders[order["order_id"]] = order
                if "order_list_id" in order:
                    lst = self.order_lists.setdefault(order["order_list_id"], {"legs": {}, "cids": {}, "started": False})
                    lst["legs"][order["order_id"]] = None  # (no report from Match yet)
                    lst["cids"][order["order_id"]] = order["client_order_id"]
                continue
            f = e.field_dict()
            if "cancel_requested" in f or f.get("cancel_rejected") or "amend_requested" in f or f.get("amend_rejected"):
                continue  # a request (Acquiring) or a no-op answer (Match): nothing changed
            if stalled or int(e.entity_id) not in orders:
                stalled.append(e)
                continue
            self._report(int(e.entity_id), f, e.timestamp, e.sequence)
        while stalled and int(stalled[0].entity_id) in orders:
            e = stalled.popleft()
            self._report(int(e.entity_id), e.field_dict(), e.timestamp, e.sequence)
        if len(stalled) > MAX_STALLED:  # their Created entries are not coming: a stream we cannot follow
            dropped = [stalled.popleft().entity_id for _ in range(len(stalled) - MAX_STALLED)]
            log.error("orders %s were reported by Match but never created; dropping %d reports",
                      ", ".join(sorted(set(dropped))[:10]), len(dropped))
        self._depth_changed()

    def _report(self, order_id: int, f: dict, ts: int, seq: int) -> None:
        """Apply one Match report of an order: executionReports, then the depth view."""
        order = self.orders[order_id]
        symbol = order["symbol"]
        rules = self.rules[symbol]
        sink = self.sink
        if not self.users:  # nobody listens to any user data stream
            stream, wanted = "", False
        else:
            stream = user_stream(order["account"])
            wanted = sink.wants(stream)
        first = "frozen" in f  # Match's first report of an order repeats what it was created with
        starts = "working_time" in f  # it starts working: at once, or a stop order at its trigger
        if starts:
            order["working_time"] = f["working_time"]
        status = f["status"]
        # a LIMIT_MAKER that would take, a stop that would trigger: answered as an error, never live
        silent = status == "REJECTED" and f.get("reason") in ("would_take", "would_trigger")
        if wanted and (first or starts) and not silent:
            # a stop order reports NEW twice: placed, then triggered ("w" false, then true if it rests);
            # an OTO's pending order is PENDING_NEW, then NEW when placed
            order["status"] = "PENDING_NEW" if status == "PENDING_NEW" else "NEW"
            self.sink.send(stream, S.execution_report(rules, order, "NEW", ts, seq))
        # The fills this report accounts for, up to its executed_qty: an order may be reported twice in
        # one command (a maker, or the taker, touched again by a stop the command triggered), and
        # in a replay a later command's fills may already be here (a pending stop's, for its trigger)
        pending = self.fills.get(order_id)
        used = 0
        for trade, trade_ts in pending or ():
            if order["executed_qty"] >= f["executed_qty"]:
                break
            used += 1
            qty, quote = trade["qty"], trade["quote_qty"]
            order["executed_qty"] += qty
            order["cum_quote_qty"] += quote
            if not wanted:
                continue
            is_buyer = trade["buyer_order_id"] == order_id
            maker = trade["maker_order_id"] == order_id
            if is_buyer:
                fee = fee_on(qty, rules.maker_fee_ppm if maker else rules.taker_fee_ppm)
                asset = rules.base
            else:
                fee = fee_on(quote, rules.maker_fee_ppm if maker else rules.taker_fee_ppm)
                asset = rules.quote
            done = order["executed_qty"] == f["executed_qty"] and status == "FILLED"
            order["status"] = "FILLED" if done else "PARTIALLY_FILLED"
            fill = S.Fill(trade["trade_id"], qty, trade["price"], quote, fee, asset, maker)
            self.sink.send(stream, S.execution_report(rules, order, "TRADE", trade_ts, seq, fill))
        if used:
            if used == len(pending):
                del self.fills[order_id]
            else:
                del pending[:used]
        order["status"] = status
        order["executed_qty"] = f["executed_qty"]
        order["cum_quote_qty"] = f["cum_quote_qty"]
        if f.get("prevented_qty", 0) > order.get("prevented_qty", 0):  # DECREMENT self-trade prevention
            order["last_prevented_qty"] = f["prevented_qty"] - order.get("prevented_qty", 0)
            order["prevented_qty"] = f["prevented_qty"]
            if wanted and status not in S.END_EXECUTION:  # it stays open: its prevention reported alone
                self.sink.send(stream, S.execution_report(rules, order, "TRADE_PREVENTION", ts, seq))
        if "cancel_client_order_id" in f:  # Match's CANCELED report names the cancel: its report's "c"
            order["cancel_client_order_id"] = f["cancel_client_order_id"]
        if "qty" in f:  # amended in place (engine/amend.py): Binance's REPLACED, "C" the id it had
            order["replaced_client_order_id"] = order["client_order_id"]
            order["qty"], order["client_order_id"] = f["qty"], f["client_order_id"]
            if wanted:
                self.sink.send(stream, S.execution_report(rules, order, "REPLACED", ts, seq))
        if wanted and not silent and status in S.END_EXECUTION:
            self.sink.send(stream, S.execution_report(rules, order, S.END_EXECUTION[status], ts, seq))
        # the depth view, exactly as Acquiring keeps it (stages/acquiring.py _order_update)
        resting = order["type"] not in MARKET_TYPES and order["time_in_force"] == "GTC" and order["working_time"] >= 0
        leaves = order["qty"] - order["executed_qty"] - order.get("prevented_qty", 0) if resting else 0
        view = self.depth[symbol]
        before = view.update_id
        view.apply(order_id, order["side"] == "BUY", order["price"], leaves, status)
        if view.update_id != before:
            self.depth_dirty.add(symbol)
            self.depth_ts[symbol] = ts
        if "order_list_id" in order:
            self._list_status(order, status, ts, stream if wanted else "")
        if status in FINAL:
            del self.orders[order_id]

    def _list_status(self, order: dict, status: str, ts: int, stream: str) -> None:
        """listStatus when an OCO's legs have both been placed (or refused) and when both have ended."""
        lst = self.order_lists.get(order["order_list_id"])
        if lst is None:
            return
        legs = lst["legs"]
        legs[order["order_id"]] = status
        if None in legs.values():
            return
        ended = all(s in FINAL for s in legs.values())
        if lst["started"] and not ended:
            return
        if stream:
            if not lst["started"]:
                kind = ("ALL_DONE", "REJECT") if all(s == "REJECTED" for s in legs.values()) else ("EXEC_STARTED",
                                                                                                   "EXECUTING")
            else:
                kind = ("ALL_DONE", "ALL_DONE")
            ids = [(i, lst["cids"][i]) for i in sorted(legs)]
            self.sink.send(stream, S.list_status_event(order["symbol"], order["order_list_id"],
                                                       order.get("list_client_order_id", ""), *kind, ts, ids,
                                                       order.get("contingency_type", "OCO")))
        lst["started"] = True
        if ended:
            del self.order_lists[order["order_list_id"]]

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
        for symbol, feeds in self.feeds.items():
            feed = feeds[speed]
            view = self.depth[symbol]
            if view.update_id == feed.last_u:
                continue
            rules = self.rules[symbol]
            lower = symbol.lower()
            name = f"{lower}@depth{suffix}"
            if sink.wants(name):
                bids = sorted(((p, q) for (is_bid, p), q in feed.changes.items() if is_bid), reverse=True)
                asks = sorted((p, q) for (is_bid, p), q in feed.changes.items() if not is_bid)
                sink.send(name, S.depth_update_event(rules, self.depth_ts[symbol], feed.last_u + 1, view.update_id,
                                                     feed.last_u, bids, asks))
            for levels in S.PARTIAL_LEVELS:
                name = f"{lower}@depth{levels}{suffix}"
                if sink.wants(name):
                    sink.send(name, S.partial_depth_event(rules, view.update_id, *view.top(levels)))
            feed.changes = {}
            feed.last_u = view.update_id

    # ------------------------------------------------------------------ balances

    def _balances(self, entries: list[ChangeLogEntry]) -> None:
        """Sum the deltas; one outboundAccountPosition per run of one account's changes of one cause
        (a freeze, a trade side, a release), balanceUpdate for deposits and withdrawals."""
        sink = self.sink
        quiet = not sink.wants_any(USER_PREFIX)  # nobody listens to user data: only the state is kept
        balances = self.balances
        group_key = None
        group: dict[str, None] = {}
        ts = 0
        for e in entries:
            fields = e.fields()
            if [fc.name for fc in fields] == _BALANCE_NAMES:  # as the node's stages write them
                account, asset, available_delta, frozen_delta, reason, ref = [fc.value for fc in fields]
            else:
                f = e.field_dict()
                account, asset, available_delta, frozen_delta, reason, ref = (
                    f["account"], f["asset"], f["available_delta"], f["frozen_delta"], f["reason"], f["ref"])
            if quiet:
                b = balances.get((account, asset))
                if b is None:
                    b = balances[account, asset] = [0, 0]
                b[0] += available_delta
                b[1] += frozen_delta
                continue
            key = (account, ref, e.timestamp)
            if key != group_key and group:
                self._position(group_key[0], group, ts)
                group = {}
            group_key, ts = key, e.timestamp
            b = balances.get((account, asset))
            if b is None:
                b = balances[account, asset] = [0, 0]
            b[0] += available_delta
            b[1] += frozen_delta
            group[asset] = None
            if reason in ("deposit", "withdraw"):
                stream = user_stream(account)
                if sink.wants(stream):
                    sink.send(stream, S.balance_update_event(ts, asset, available_delta))
        if group:
            self._position(group_key[0], group, ts)

    def _position(self, account: int, assets: dict[str, None], ts: int) -> None:
        stream = user_stream(account)
        if self.sink.wants(stream):
            balances = self.balances
            self.sink.send(stream, S.account_position_event(
                ts, [(a, *balances[account, a]) for a in assets]))

    # ------------------------------------------------------------------ candles

    def _klines(self, entries: list[ChangeLogEntry]) -> None:
        sink = self.sink
        quiet = type(sink) is NullSink  # nobody can listen: only the state is kept
        candle_first, first_trade_at = self.candle_first, self.first_trade_at
        for e in entries:
            fields = e.fields()
            if [fc.name for fc in fields] == _KLINE_NAMES:  # as the KLine stage writes them
                symbol, interval, open_time = fields[0].value, fields[1].value, fields[2].value
                f = None
            else:
                f = e.field_dict()
                symbol, interval, open_time = f["symbol"], f["interval"], f["open_time"]
            slot = (symbol, interval)
            known = candle_first.get(slot)
            if known is None or known[0] != open_time:
                # a new candle starts with the first trade of the command that opened it (all of a
                # command's trades share its timestamp)
                closed = fields[_K_CLOSED].value if f is None else f["closed"]
                first = first_trade_at[symbol].get(e.timestamp, -1) if not closed else -1
                known = candle_first[slot] = (open_time, first)
            if quiet:
                continue
            name = f"{symbol.lower()}@kline_{interval}"
            if sink.wants(name):
                if f is None:
                    f = {fc.name: fc.value for fc in fields}
                first = known[1]
                last = first + f["trades"] - 1 if first >= 0 else -1
                sink.send(name, S.kline_event(self.rules[symbol], f, e.timestamp, first, last))
