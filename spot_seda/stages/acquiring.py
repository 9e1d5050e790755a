"""AcquiringStage: order entry. Takes commands from the HTTP API (new order, cancel, amend,
deposit, withdraw), validates them, freezes funds, assigns ids and timestamps, and produces OrderChangeLog
(commands for Match, keyed by symbol) and BalanceChangeLog (freezes and transfers, keyed by account).
Consumes Match's order updates and trades (to answer RESULT/FULL and keep its open-order and depth
views) and Settlement's balance changes (to keep its view of free funds current).

Funds: Acquiring is the only place that makes money unavailable (freeze, withdraw), and it checks
and freezes in one step on one thread, so nothing is spent twice. Settlement only releases and
credits; its changes reach this view later, so the view can show less free money than there is,
never more.

Stop orders freeze at entry, as Binance does, what the order they become needs (engine/ledger.py
order_hold): a sell its quantity, a STOP_LOSS_LIMIT / TAKE_PROFIT_LIMIT buy price x quantity. A
STOP_LOSS / TAKE_PROFIT buy (a market buy once triggered) follows this node's rule for a MARKET buy
by quantity: its cost is unknown until it matches, so its budget is all the quote asset free at
entry, frozen until the order ends (what it does not spend is released then). Match may trigger it
at any later time and Acquiring cannot freeze then (the trigger's time depends on other orders), so
the money must be held from the start; a client that wants less held sends a STOP_LOSS_LIMIT.

Orders are model/orders.py's Order (enums as IntEnums); the change log gets Binance's names from it.

The HTTP layer (api/rest.py) calls the command methods on the event loop thread; they return the
result and the entries to publish, and the layer hands those to the runner. Inbound entries are
applied by `apply` on the same thread, so no lock is needed; what the layer wants to hear of them
comes back to it the same way, as calls on that thread: a Waiter's callback (a command's answer),
`on_first_fill` (an order's first fill, for its unfilled order count).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec

from ..binance.streams import EXECUTION_IDS, KLINE_OFFSETS
from ..engine.avgprice import AvgPrice
from ..engine.depthview import DepthView
from ..engine.kline import INTERVALS, bucket, offset_moves
from ..engine.ledger import BalanceChange, Ledger, order_hold
from ..engine.results import ResultCode
from ..model.changelog import BalanceFields, ChangeLogEntry, Created, TradeFields, Updated, balance_of, trade_of
from ..model.commands import Amend, Cancel, Command, NewOco, NewOrder, NewOto, NewOtoco, Tick, Transfer
from ..model.enums import (ORDER_STATUS_NAMES, ORDER_STATUS_OF, ORDER_TYPE_OF, SIDE_OF, STP_OF, TIME_IN_FORCE_OF,
                           EntityType, OrderStatus, OrderType, Side, Topic)
from ..model.orders import Order, PackedOrders, Refused, default_cancel_id, upgraded
from ..model.reasons import Reason, refused_report
from ..model.symbols import AVG_PRICE_MINS
from .accepting import CommandError, balance_entries, made_up_client_id
from .base import Endpoint, Publish
from .orderlists import OrderListsMixin

#: (interval, offset from UTC in ms) of every candle a Tick may close: UTC's (KLine), and those the kline
#: streams' time zones move (Push's +08:00 6h, 12h, 1d, ...)
_CANDLE_CLOCKS = tuple((interval, 0) for interval in INTERVALS) + tuple(
    (interval, offset) for offset in KLINE_OFFSETS.values() for interval in INTERVALS if offset_moves(interval, offset))

_MARKET_AVG_MS = AVG_PRICE_MINS * 60_000

FEE_ACCOUNT = 0

_LIST_KINDS = {NewOco: "OCO", NewOto: "OTO", NewOtoco: "OTOCO"}
_NEW, _CANCELED, _BUY, _SELL, _MARKET = OrderStatus.NEW, OrderStatus.CANCELED, Side.BUY, Side.SELL, OrderType.MARKET
_CLOCK = EntityType.CLOCK
_PREVENTED = EntityType.PREVENTED_MATCH
_OK = ResultCode.OK

#: a SpotBalance entry's fields as Ledger.apply_rows takes them (BalanceFields is that order)
_BALANCE_ROW = msgspec.structs.astuple
#: Match's answer to a waiting caller: the order as of the answer, or why nothing changed
Answer = Order | Refused


@dataclass
class Waiter:
    """Someone (an HTTP request) waiting for Match's answer to a command."""

    callback: Callable[[Answer, list[dict]], None]
    #: the trades the order took as taker, when the caller wants them (FULL), and its prevented matches
    fills: list[dict] | None = None
    cancel: bool = False
    amend: bool = False
    #: an amend's: the "I" of the executionReport Push sends for Match's report of it (REPLACED, or
    #: EXPIRED for an amend that ended the order), the first of that report's entry
    execution_id: int = -1


@dataclass
class AccountState:
    open_orders: dict[int, Order] = field(default_factory=dict)  # order id -> order
    client_ids: dict[str, int] = field(default_factory=dict)  # open client order id -> order id


class AcquiringStage(OrderListsMixin, Endpoint):
    # callers waiting now are not part of a snapshot; the symbol rules and the bounds are the
    # configuration's at every start
    transient = ("clock", "waiters", "settling", "rules", "max_in_flight", "keep_finished", "since_tick", "tick_due",
                 "on_first_fill")
    consumes = (Topic.ORDER, Topic.TRADE, Topic.BALANCE)
    produces = (Topic.ORDER, Topic.BALANCE)
    sources = {Topic.ORDER: ("match",), Topic.TRADE: ("match",), Topic.BALANCE: ("settlement",)}
    recovers_from_input = False  # the commands it accepted are in the journal, not in its input

    def start(self) -> None:
        self.rules = self.ctx.settings.symbol_rules()
        self.ledger = Ledger(fee_account=FEE_ACCOUNT)  # Acquiring's replica: it freezes, Settlement's changes follow
        #: account -> the time of its last balance change (its own freeze or transfer, or one of
        #: Settlement's): GET /api/v3/account's updateTime
        self.balance_times: dict[int, int] = {}
        self.accounts: dict[int, AccountState] = {}
        self.orders: dict[int, Order] = {}  # open orders and the most recently finished ones, by id
        self.finished: deque[int] = deque()  # finished order ids, oldest first (History keeps them, but what it archives)
        self.keep_finished = self.ctx.settings.node.keep_finished_orders
        self.depth = {symbol: DepthView(track_changes=False) for symbol in self.rules}  # (REST reads its levels)
        #: recent trades of the symbols with a PERCENT_PRICE_BY_SIDE filter (engine/avgprice.py)
        self.avg_prices = {symbol: AvgPrice(r.percent_price[1]) for symbol, r in self.rules.items() if r.percent_price}
        #: every symbol's trades of the last AVG_PRICE_MINS (NOTIONAL's avgPriceMins, exchangeInfo):
        #: a MARKET order by quantity is valued at their average (applyMinToMarket)
        self.market_avgs = {symbol: AvgPrice(_MARKET_AVG_MS) for symbol in self.rules}
        self.waiters: dict[int, Waiter] = {}
        self.settling: dict[int, tuple[Waiter, Answer]] = {}  # answered by Match, waiting for the release
        self.next_order_id = 1
        self.next_order_list_id = 1
        self.order_lists: dict[int, dict] = {}  # open order lists (stages/orderlists.py)
        self.next_transfer_id = 1
        #: new orders sent to Match and not reported yet: admission control counts them, and the
        #: open-orders views leave them out (a read answered while another client's order waits for
        #: Match would show an order Match may yet refuse, of which no stream would tell)
        self.awaiting_match: set[int] = set()
        self.pending_cancels: set[int] = set()  # orders with a cancel sent to Match and not answered
        self.max_in_flight = self.ctx.settings.node.max_in_flight
        self.clock: Callable[[], int] = lambda: time.time_ns() // 1_000_000
        #: called with an order Match reports filled for the first time (partly or fully, as taker
        #: or maker), once per order, as its report is applied: the API's unfilled order count
        #: (api/ratelimit.py) takes it off; None: nobody asks (a replay)
        self.on_first_fill: Callable[[Order], None] | None = None
        #: symbols whose open candles a Tick would give: those new orders came in for since the last
        #: one, and every symbol at a start (a restored KLine may hold some); `tick_due`: a new order
        #: came in since (the periodic Tick waits for one: an idle node journals none)
        self.since_tick: set[str] = set(self.rules)
        self.tick_due = False
        #: per symbol, the time of its last trade and of its last Tick: between them, when an open
        #: candle's interval ends, a Tick closes it (candles_due) also on a market gone quiet
        self.traded_at: dict[str, int] = {}
        self.ticked_at: dict[str, int] = {}

    def replay_end(self, end: dict) -> None:
        end["next_order_id"] = max(end["next_order_id"], self.next_order_id)
        end["orders"] += [(oid, ORDER_STATUS_NAMES[o.status], o.executed_qty, o.cum_quote_qty, o.update_time, o.qty,
                           o.client_order_id) for oid, o in self.orders.items()]

    def snapshot_state(self) -> dict:
        """Without the finished orders kept for queries (History has them, but what it archives): they are most of
        the state, and the snapshot is smaller and quicker to load without them. The open orders
        go as one PackedOrders (model/orders.py), and each account's open orders as their ids, which
        restore_state finds among them again (one object, as live)."""
        state = super().snapshot_state()
        kept = {oid: o for oid, o in self.orders.items() if not o.status.is_final}
        for acc in self.accounts.values():
            for oid, o in acc.open_orders.items():
                if oid not in kept:  # (never, as every open order is in `orders`: but none may be lost)
                    kept[oid] = o
        state["orders"] = PackedOrders(kept)
        state["accounts"] = {account: (list(acc.open_orders), acc.client_ids) for account, acc in self.accounts.items()}
        state["finished"] = deque()
        return state

    def restore_state(self, state: dict) -> None:
        """(A snapshot written before the rules and the bounds were transient carries them: the
        config's win. One written when orders were dicts has them as Orders from now on.)"""
        for name in self.transient:
            state.pop(name, None)
        state.pop("new_in_flight", None)  # (written when the orders awaiting Match were only counted)
        super().restore_state(state)
        self.orders = orders = PackedOrders.unpacked(self.orders)
        if any(type(acc) is tuple for acc in self.accounts.values()):  # (snapshot_state's: open order ids)
            self.accounts = {account: AccountState({oid: orders[oid] for oid in ids}, client_ids)
                             for account, (ids, client_ids) in self.accounts.items()}
        if any(type(o) is dict for o in self.orders.values()):  # (written when orders were dicts)
            self.orders = {oid: upgraded(o) for oid, o in self.orders.items()}
            for acc in self.accounts.values():
                acc.open_orders = {oid: self.orders.get(oid) or upgraded(o) for oid, o in acc.open_orders.items()}
        for view in self.depth.values():  # (written when this view also kept its level changes for nobody)
            view.changed = None

    # ------------------------------------------------------------------ views

    @property
    def in_flight(self) -> int:
        """Commands Match has not answered yet: the backlog admission control looks at."""
        return len(self.awaiting_match) + len(self.pending_cancels)

    def judged_open_orders(self, account_id: int) -> list[Order]:
        """The account's open orders that Match has reported on (openOrders): one it has not judged
        yet came in after the read did (api/readbarrier.py: a read waits for every command published
        before it), and Match may still refuse it."""
        awaiting = self.awaiting_match
        return [o for oid, o in self.account(account_id).open_orders.items() if oid not in awaiting]

    def account(self, account_id: int) -> AccountState:
        state = self.accounts.get(account_id)
        if state is None:
            state = self.accounts[account_id] = AccountState()
        return state

    def balances(self, account_id: int) -> dict[str, tuple[int, int]]:
        """asset -> (available, frozen) in this stage's view."""
        return self.ledger.balances(account_id)

    def balance_time(self, account_id: int) -> int:
        """The time of the account's last balance change in this stage's view (0: none yet)."""
        return self.balance_times.get(account_id, 0)

    def balances_changed(self, changes: list[BalanceChange], ts: int) -> list[ChangeLogEntry]:
        """This stage's own changes (freezes, transfers) as the entries to publish; their accounts
        last changed at `ts`."""
        times = self.balance_times
        for c in changes:
            if times.get(c.account, 0) < ts:
                times[c.account] = ts
        return balance_entries(changes, ts)

    def find_order(self, account_id: int, order_id: int | None = None,
                   client_order_id: str | None = None) -> Order | None:
        """An order of this account by id, or an OPEN order by client id (finished ones: see History).
        Another account's order is not found."""
        if order_id is not None:
            order = self.orders.get(order_id)
        else:
            oid = self.account(account_id).client_ids.get(client_order_id or "")
            order = self.orders.get(oid) if oid is not None else None
        if order is None or order.account != account_id:
            return None
        return order

    # --------------------------------------------------------------- commands

    def new_order(self, cmd: NewOrder, waiter: Waiter | None = None,
                  journaled: bool = False) -> tuple[Order, NewOrder, list[Publish]]:
        """Freeze the order's funds and send it to Match; returns the order, the accepted command (ids,
        budget and timestamp filled in: what to journal) and the entries to publish. Raises CommandError.

        A command from the journal already carries its order id, timestamp and budget: it is applied
        exactly as it was first accepted (no admission control, same ids). A `journaled` one is also
        frozen without checking this view's free funds: it passed that check once, and the credits
        it relied on may not have come back from Settlement yet in a replay (replay.py checks that no
        balance stays negative).
        """
        replay = cmd.order_id != 0
        if not replay and self.in_flight >= self.max_in_flight:
            raise CommandError(Reason.OVERLOADED, f"{self.in_flight} commands are waiting for the matching engine")
        rules = self.rules[cmd.symbol]
        account_id = cmd.account
        state = self.account(account_id)
        if not replay and cmd.client_order_id and cmd.client_order_id in state.client_ids:
            # (a journaled order passed this check once; the finish of an earlier order with its
            # client id may simply not have reached this view yet in a replay)
            raise CommandError(Reason.DUPLICATE_ORDER)
        side, type = SIDE_OF[cmd.side], ORDER_TYPE_OF[cmd.type]
        now = cmd.timestamp or self.clock()
        if not replay:
            self.check_filters(cmd, now)
        qty, quote_qty = cmd.qty, cmd.quote_qty
        market = type.working_type == _MARKET
        if market and side == _BUY and not quote_qty:
            # a market buy by quantity holds all free quote as its budget until it completes
            # (microseconds; a stop: from entry until it has triggered and matched, module doc):
            # its cost is unknown until it has matched
            quote_qty = self.ledger.balance(account_id, rules.quote)[0]
        elif market and side == _SELL and not qty:
            qty = self.ledger.balance(account_id, rules.base)[0]  # likewise: sell up to all free base
        asset, amount = order_hold(rules, side, type, cmd.price, qty, quote_qty)
        order_id = cmd.order_id or self.next_order_id
        code, changes = self.ledger.freeze(order_id, account_id, asset, amount, force=journaled)
        if code != _OK:
            raise CommandError(Reason.INSUFFICIENT_BALANCE)
        self.next_order_id = max(self.next_order_id, order_id + 1)
        cmd = msgspec.structs.replace(cmd, qty=qty, quote_qty=quote_qty, timestamp=now, order_id=order_id,
                                      client_order_id=cmd.client_order_id
                                      or made_up_client_id("auto", order_id, state.client_ids))
        stop = type.is_stop  # (only a stop order carries its stop price and trailing delta)
        order = Order(order_id=order_id, symbol=cmd.symbol, account=account_id, client_order_id=cmd.client_order_id,
                      side=side, type=type, time_in_force=TIME_IN_FORCE_OF[cmd.time_in_force], price=cmd.price,
                      qty=qty, quote_qty=quote_qty, stp=STP_OF[cmd.stp], frozen_asset=asset, frozen=amount,
                      status=_NEW, time=now, update_time=now, stop_price=cmd.stop_price if stop else 0,
                      trailing_delta=cmd.trailing_delta if stop else 0, strategy_id=cmd.strategy_id,
                      strategy_type=cmd.strategy_type)
        self.orders[order_id] = order
        state.open_orders[order_id] = order
        state.client_ids[cmd.client_order_id] = order_id
        created = ChangeLogEntry(str(order_id), EntityType.ORDER, Created(order.created_fields()), now, 0)
        if waiter is not None:
            self.waiters[order_id] = waiter
        self.awaiting_match.add(order_id)
        self.since_tick.add(cmd.symbol)
        self.tick_due = True
        return order, cmd, [(Topic.ORDER, cmd.symbol, [created]),
                            (Topic.BALANCE, str(account_id), self.balances_changed(changes, now))]

    def check_filters(self, cmd: NewOrder, now: int, extra: int = 0, extra_stops: int = 0) -> None:
        """The filters that depend on this view (raises CommandError): MAX_NUM_ORDERS and
        MAX_NUM_ALGO_ORDERS (the account's open orders; `extra`, `extra_stops`: the other orders, and
        stop orders, the same command adds), PERCENT_PRICE_BY_SIDE (recent trades). Also what
        POST /api/v3/order/test checks beside the parameters; changes nothing."""
        rules = self.rules[cmd.symbol]
        type = ORDER_TYPE_OF[cmd.type]
        _check_open_order_limits(self.account(cmd.account), rules, cmd.symbol, type.is_stop, extra, extra_stops)
        if rules.percent_price and type.working_type != _MARKET:
            avg = self.avg_prices.get(cmd.symbol)
            if avg is not None and not avg.price_ok(cmd.side == "BUY", cmd.price, rules.price_scale,
                                                    rules.percent_price[0], now):
                raise CommandError(Reason.PERCENT_PRICE_BY_SIDE)
        if cmd.type == "MARKET" and not cmd.quote_qty:  # by quantity: its price is the average's
            amount = self.market_avgs[cmd.symbol].amount_of(cmd.qty, rules.notional, now)
            if amount is not None and amount < rules.min_notional:
                raise CommandError(Reason.NOTIONAL)

    def cancel(self, cmd: Cancel, waiter: Waiter | None = None, journaled: bool = False) -> tuple[Cancel, list[Publish]]:
        """Ask Match to cancel an open order of this account. Raises CommandError(Reason.UNKNOWN_ORDER).

        A journaled cancel was accepted once and goes to Match as it is: whether this view still
        shows the order open depends on how far Match's reports have come, which a replay does not
        reproduce (Match answers a cancel of a finished order with cancel_rejected)."""
        if not journaled:
            order = self.orders.get(cmd.order_id)
            if order is None or order.account != cmd.account or cmd.order_id not in self.account(cmd.account).open_orders:
                raise CommandError(Reason.UNKNOWN_ORDER)
            cmd = Cancel(cmd.account, order.symbol, cmd.order_id, cmd.timestamp or self.clock(),
                         cmd.client_order_id, cmd.restrictions)
        now = cmd.timestamp
        fields = {"cancel_requested": True, "account": cmd.account, "symbol": cmd.symbol,
                  "cancel_client_order_id": cancel_client_id(cmd)}
        if cmd.restrictions:
            fields["cancel_restrictions"] = cmd.restrictions
        request = ChangeLogEntry(str(cmd.order_id), EntityType.ORDER, Updated(fields), now, 0)
        if waiter is not None:
            waiter.cancel = True
            self.waiters[cmd.order_id] = waiter
        self.pending_cancels.add(cmd.order_id)
        return cmd, [(Topic.ORDER, cmd.symbol, [request])]

    def amend(self, cmd: Amend, waiter: Waiter | None = None, journaled: bool = False) -> tuple[Amend, list[Publish]]:
        """Ask Match to reduce an open order's quantity keeping its priority (engine/amend.py).
        Raises CommandError(Reason.UNKNOWN_ORDER) for an order not open for this account, DUPLICATE for a
        new client id another open order holds. Without a client id the order is named
        amend-<order_id> (Binance makes one up; this one is the same in a replay). A journaled amend
        goes to Match as it is (see cancel)."""
        if not journaled:
            order = self.orders.get(cmd.order_id)
            state = self.account(cmd.account)
            if order is None or order.account != cmd.account or cmd.order_id not in state.open_orders:
                raise CommandError(Reason.UNKNOWN_ORDER)
            cid = cmd.client_order_id or f"amend-{cmd.order_id}"
            if not cmd.client_order_id and state.client_ids.get(cid, cmd.order_id) != cmd.order_id:
                cid = made_up_client_id("amend", cmd.order_id, state.client_ids)  # (another order's)
            if state.client_ids.get(cid, cmd.order_id) != cmd.order_id:
                raise CommandError(Reason.DUPLICATE_ORDER)
            cmd = Amend(cmd.account, order.symbol, cmd.order_id, cmd.timestamp or self.clock(), cmd.qty, cid)
        fields = {"amend_requested": True, "account": cmd.account, "symbol": cmd.symbol, "new_qty": cmd.qty,
                  "amend_client_order_id": cmd.client_order_id or f"amend-{cmd.order_id}"}
        request = ChangeLogEntry(str(cmd.order_id), EntityType.ORDER, Updated(fields), cmd.timestamp, 0)
        if waiter is not None:
            waiter.amend = True
            self.waiters[cmd.order_id] = waiter
        return cmd, [(Topic.ORDER, cmd.symbol, [request])]

    def transfer(self, cmd: Transfer, journaled: bool = False) -> tuple[Transfer, list[Publish]]:
        """Deposit (amount > 0) or withdraw (amount < 0) free funds. Raises CommandError(Reason.INSUFFICIENT_BALANCE) (not
        for a `journaled` withdrawal: see new_order)."""
        ref = cmd.ref or f"transfer-{self.next_transfer_id}"
        if cmd.amount > 0:
            code, changes = self.ledger.deposit(cmd.account, cmd.asset, cmd.amount, ref)
        else:
            code, changes = self.ledger.withdraw(cmd.account, cmd.asset, -cmd.amount, ref, force=journaled)
        if code != ResultCode.OK:
            raise CommandError(Reason.INSUFFICIENT_BALANCE)
        self.next_transfer_id += 1
        now = cmd.timestamp or self.clock()
        cmd = Transfer(cmd.account, cmd.asset, cmd.amount, now, ref)
        return cmd, [(Topic.BALANCE, str(cmd.account), self.balances_changed(changes, now))]

    def candles_due(self, now: int) -> list[str]:
        """The symbols with an open candle whose interval ended before `now`: their last trade's
        candle that no Tick since has closed (KLine closes it at the Tick: engine/kline.py), on UTC's
        clock or on a time zone's that the kline streams offer (Push's +08:00 candles: a 1d candle
        there ends at 16:00 UTC)."""
        due = []
        for symbol, traded in self.traded_at.items():
            ticked = self.ticked_at.get(symbol, 0)
            # a Tick at T closed what ended before T: due, a candle that ended at or after the last
            # Tick and before now
            if any(ticked <= bucket(interval, traded, offset)[1] < now for interval, offset in _CANDLE_CLOCKS):
                due.append(symbol)
        return due

    def wants_tick(self) -> bool:
        """Whether the periodic Tick has anything to do: a new order since the last one, or a candle
        whose interval has ended."""
        return self.tick_due or bool(self.traded_at and self.candles_due(self.clock()))

    def tick(self, cmd: Tick | None = None) -> tuple[Tick, list[Publish]]:
        """A Tick (model/commands.py): a clock entry to Match for each of its symbols, which Match
        passes on to KLine among the symbol's trades. Without `cmd` (live): now, for the symbols new
        orders came in for since the last one and those with a candle to close (none: nothing to
        journal or publish)."""
        if cmd is None:
            now = self.clock()
            cmd = Tick(now, tuple(sorted(self.since_tick.union(self.candles_due(now)))))
        self.since_tick.difference_update(cmd.symbols)
        self.tick_due = False
        ticked_at = self.ticked_at
        for symbol in cmd.symbols:
            if cmd.timestamp > ticked_at.get(symbol, 0):
                ticked_at[symbol] = cmd.timestamp
        now, clock, rules = cmd.timestamp, EntityType.CLOCK, self.rules
        return cmd, [(Topic.ORDER, symbol, [ChangeLogEntry(f"tick:{symbol}", clock, Updated({"symbol": symbol}), now, 0)])
                     for symbol in cmd.symbols if symbol in rules]  # (a journal's Tick may name a symbol since removed)

    def execute(self, cmd: Command, journaled: bool = False) -> tuple[Command, list[Publish]]:
        """Apply a command without a waiter (replay): the same path as live commands. Returns the
        accepted command (what a journal holds) and the entries to publish."""
        if type(cmd) is NewOrder:
            _order, accepted, outputs = self.new_order(cmd, journaled=journaled)
            return accepted, outputs
        if type(cmd) is Cancel:
            return self.cancel(cmd, journaled=journaled)
        if type(cmd) is Amend:
            return self.amend(cmd, journaled=journaled)
        if type(cmd) is Tick:
            return self.tick(cmd)
        kind = _LIST_KINDS.get(type(cmd))
        if kind is not None:
            _orders, accepted, outputs = self._new_list(cmd, kind, (None,) * len(cmd.legs), journaled)
            return accepted, outputs
        return self.transfer(cmd, journaled=journaled)

    # ---------------------------------------------------------- inbound events

    def apply(self, topic: str, entries: list[ChangeLogEntry]) -> None:
        if topic == Topic.BALANCE:
            rows = [_BALANCE_ROW(f) if type(f := getattr(e.change_type, "changed_fields", None)) is BalanceFields
                    else _BALANCE_ROW(balance_of(e)) for e in entries]  # (account, asset, deltas, reason, ref)
            self.ledger.apply_rows(rows)
            times = self.balance_times
            for row, e in zip(rows, entries):
                if (row[2] or row[3]) and times.get(row[0], 0) < e.timestamp:  # (a release of nothing: no change)
                    times[row[0]] = e.timestamp
            if self.settling:
                for row in rows:
                    if row[4] in ("release", "reduce") and row[5] in self.settling:
                        waiter, order = self.settling.pop(row[5])
                        waiter.callback(order, waiter.fills or [])
        elif topic == Topic.TRADE:
            waiters = self.waiters
            avg_prices, market_avgs = self.avg_prices, self.market_avgs
            traded_at = self.traded_at
            for e in entries:
                if e.entity_type == _CLOCK:  # a Tick on its way to KLine
                    continue
                if type(t := getattr(e.change_type, "fields", None)) is not TradeFields:
                    t = trade_of(e)
                symbol = t.symbol
                traded_at[symbol] = e.timestamp
                market_avgs[symbol].add(e.timestamp, t.price, t.qty, t.quote_qty)
                if avg_prices:
                    avg = avg_prices.get(symbol)
                    if avg is not None:
                        avg.add(e.timestamp, t.price, t.qty, t.quote_qty)
                waiter = waiters.get(t.taker_order_id)
                if waiter is not None and waiter.fills is not None:  # (a FULL answer's fills: maps)
                    waiter.fills.append(msgspec.structs.asdict(t) | {"time": e.timestamp})
        else:
            answered: list[tuple[int, Answer, int | None]] = []
            refused: list[int] = []
            for e in entries:
                f = e.field_dict()
                if e.entity_type == _PREVENTED:  # a prevented match: the taker's FULL answer lists it
                    waiter = self.waiters.get(f["taker_order_id"])
                    if waiter is not None and waiter.fills is not None:
                        waiter.fills.append(f)
                    continue
                self._order_update(int(e.entity_id), f, e.timestamp, e.sequence, answered)
                if f.get("status") == "REJECTED" and refused_report(f):
                    refused.append(int(e.entity_id))
            for order_id in refused:  # an error to its client, never an order: no view shows it
                self.orders.pop(order_id, None)  # (its answer, below, is a copy)
            for order_id, answer, keep in answered:  # after the whole batch: every fill has been seen
                waiter = self.waiters.pop(order_id, None)
                if waiter is None:
                    continue
                hold = self.ledger.hold(order_id) if keep is not None else None
                # (a hold already at what the order keeps: Settlement's reduce came first, as over
                # Kafka it may, on another topic than Match's report)
                if hold is not None and (keep < 0 or hold[2] > keep):
                    # answer once Settlement has returned what the order leaves frozen, so the
                    # client's next order sees the money (a market order holds all it may spend;
                    # an amended order what it no longer needs)
                    self.settling[order_id] = (waiter, answer)
                else:
                    waiter.callback(answer, waiter.fills or [])

    def _order_update(self, order_id: int, f: dict, ts: int, seq: int,
                      answered: list[tuple[int, Answer, int | None]]) -> None:
        """Apply one of Match's reports (or answers), entry sequence `seq`, to the order; `answered`
        collects (order id, answer, what it waits for from Settlement: None nothing, -1 its release,
        else its hold reduced to that much) for the callers waiting on it."""
        waiter = self.waiters.get(order_id)
        if f.get("cancel_rejected"):  # (also for an order this view has forgotten: it finished long ago)
            self.pending_cancels.discard(order_id)
            if waiter is not None and waiter.cancel:
                answered.append((order_id, Refused(f.get("reason", "")), None))  # nothing was canceled
            return
        if f.get("amend_rejected"):  # an amend that changed nothing
            if waiter is not None and waiter.amend:
                answered.append((order_id, Refused(f["reason"]), None))
            return
        order = self.orders.get(order_id)
        if order is None:
            return  # an order of an earlier incarnation (recovery is the journal's business)
        if "trailing_time" in f:  # a trailing stop started tracking prices
            order.trailing_time = f["trailing_time"]
            if "status" not in f:  # (a trade activated it: nothing else changed)
                return
        if "qty" in f:  # amended in place: its new quantity and client id
            state = self.account(order.account)
            if state.client_ids.get(order.client_order_id) == order_id:
                del state.client_ids[order.client_order_id]
            order.amend(f["qty"], f["client_order_id"])
            if not order.status.is_final:
                state.client_ids[order.client_order_id] = order_id
        first = "frozen" in f  # Match's first report of an order repeats what it froze
        status = order.status = ORDER_STATUS_OF[f["status"]]
        final = status.is_final
        first_fill = not order.executed_qty and f["executed_qty"]
        order.executed_qty = f["executed_qty"]
        order.cum_quote_qty = f["cum_quote_qty"]
        order.update_time = ts
        if "reason" in f:
            order.reason = f["reason"]
        if "working_time" in f:  # it starts working (a stop: at its trigger)
            order.working_time = f["working_time"]
        if "prevented_qty" in f:  # self-trade prevention took this much off (no longer open, never executed)
            order.prevented_qty = f["prevented_qty"]
        if "prevented_match_id" in f:  # ... in that prevented match (Binance's preventedMatchId)
            order.prevented_match_id = f["prevented_match_id"]
        if first:
            self.awaiting_match.discard(order_id)
        if first_fill and self.on_first_fill is not None:
            self.on_first_fill(order)
        if final:
            self.pending_cancels.discard(order_id)  # canceled, or filled before the cancel got there
        if waiter is not None:
            if first or (waiter.cancel and final):  # the state as of this command's answer
                # (answered once Settlement has freed what it leaves frozen: all of it, ended; what
                # its hold has above its new need, still open: "hold", book.py)
                answered.append((order_id, msgspec.structs.replace(order),
                                 -1 if final else f["hold"] if "hold" in f else None))
            elif waiter.amend and f.get("amended"):
                # (the report's place among its entry's: the first, pushuser.py _report, as nothing
                # starts or fills in an amend)
                waiter.execution_id = seq * EXECUTION_IDS
                answered.append((order_id, msgspec.structs.replace(order), -1 if final or "hold" not in f else f["hold"]))
        self.depth[order.symbol].apply(order_id, order.side == _BUY, order.price, order.book_leaves(), status)
        if final:
            if order.order_list_id >= 0:
                self.list_leg_ended(order)
            state = self.account(order.account)
            state.open_orders.pop(order_id, None)
            if state.client_ids.get(order.client_order_id) == order_id:
                del state.client_ids[order.client_order_id]
            if status == _CANCELED:  # web-socket-api.md, order.cancel: the cancel's newClientOrderId "will
                # replace clientOrderId of the canceled order" (a waiter's answer above keeps the old one)
                order.client_order_id = f.get("cancel_client_order_id") or default_cancel_id(order_id)
            self.finished.append(order_id)
            while len(self.finished) > self.keep_finished:  # memory stays bounded; older ones: History
                self.orders.pop(self.finished.popleft(), None)


def _check_open_order_limits(state: AccountState, rules, symbol: str, stop: bool, extra: int = 0,
                             extra_stops: int = 0) -> None:
    """Binance's MAX_NUM_ORDERS and MAX_NUM_ALGO_ORDERS filters: the account's open orders on the
    symbol (pending stops included), and its open stop orders, below the symbol's limits. Counted
    only when they could matter (an account with fewer open orders in all than the limit is far
    from it; only a stop counts stops), so the usual order pays one comparison. This view of what is
    open lags Match a little (a filled order counts until its report is here): never too lenient.
    `extra`, `extra_stops`: the other orders, and stop orders, the same command adds (a list's
    other legs)."""
    orders = state.open_orders
    limit = rules.max_num_orders - extra
    if len(orders) >= limit and sum(1 for o in orders.values() if o.symbol == symbol) >= limit:
        raise CommandError(Reason.MAX_NUM_ORDERS)
    if stop and sum(1 for o in orders.values() if o.symbol == symbol and o.type.is_stop and o.working_time < 0) \
            >= rules.max_num_algo_orders - extra_stops:
        raise CommandError(Reason.MAX_NUM_ALGO_ORDERS)


def cancel_client_id(cmd: Cancel) -> str:
    """The client id a cancel is known by: the one it was sent with, else one derived from the order
    id (Binance makes one up; this one is the same in a replay)."""
    return cmd.client_order_id or default_cancel_id(cmd.order_id)
