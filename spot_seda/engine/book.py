"""One symbol's order book: price-time-priority matching, pure and deterministic (the Match stage's core).

Every command comes in with everything decided upstream (order id, account, timestamp: Acquiring
assigns and journals them); the book assigns only trade ids, from its own counter. A command returns
the list of records it caused, in the order they happened (engine/records.py: Trade, OrderReport,
LevelChange, CancelRejected, Triggered, TrailingStarted; engine/amend.py: Amended, AmendRejected).
The queries, snapshot / restore, state hash and invariant check are engine/bookstate.py's.

Semantics (Binance Spot):
- LIMIT GTC rests what it cannot fill; IOC expires the rest ("ioc_leftover"); FOK fills completely or
  expires with no trade at all ("fok_unfilled"). LIMIT_MAKER that would take is REJECTED ("would_take").
- MARKET takes by `qty` (base) and/or by `quote_qty` (quote budget, Binance quoteOrderQty; with both,
  whichever runs out first). A market order stopped by its budget (the next step costs more than is
  left) is FILLED; one stopped by an empty side is EXPIRED ("no_liquidity"). One placed by
  quoteOrderQty (a buy with no `qty`; a sell with a `quote_qty`, its `qty` the free balance) keeps
  within LOT_SIZE as Binance promises: it executes at most MARKET_LOT_SIZE's (and LOT_SIZE's)
  maxQty, and is REJECTED before it takes anything when the other side is empty ("no_book"), holds
  less than minQty ("book_below_min_qty"), or its budget buys less than minQty
  ("quote_below_min_qty").
- Self-trade prevention uses the taker's mode when taker and maker share an account: EXPIRE_TAKER
  ends the taker, EXPIRE_MAKER ends that maker and goes on, EXPIRE_BOTH ends both; all with status
  EXPIRED_IN_MATCH ("stp"). DECREMENT takes the smaller of the two open quantities off both, without
  a trade (their `prevented_qty`, Binance's preventedQuantity): the one left with nothing ends
  EXPIRED_IN_MATCH ("stp"), both if equal; a maker that stays open is reported with its new leaves,
  a taker that stays goes on matching. NONE trades with itself. A FOK counts only liquidity it could
  really take (DECREMENT: an own order in the way means it cannot fill).
- `leaves_qty` is the quantity open on the book (FIX LeavesQty): 0 in every final status; a stop
  order waiting for its trigger reports its whole qty.

Stop orders (STOP_LOSS, STOP_LOSS_LIMIT, TAKE_PROFIT, TAKE_PROFIT_LIMIT), as Binance defines them:
- the trigger is the last trade price of this book: a STOP_LOSS sell or TAKE_PROFIT buy triggers when
  it falls to the stop price (last <= stop), a STOP_LOSS buy or TAKE_PROFIT sell when it rises to it
  (last >= stop). One placed while its condition already holds is REJECTED ("would_trigger",
  Binance's "Stop price would trigger immediately."); before the book's first trade nothing holds.
- a pending stop is open (NEW, cancelable, its client id taken) but not on the book: no level, no
  depth. Every trade price counts, not only a command's last: a taker's prices run one way (it
  walks the other side from its best level), so its first and last trade bound them all.
- a trailing stop (`trailing_delta` > 0, in BIPS: Binance's trailingDelta) tracks the best trade
  price since it started (a sell: the highest, a buy: the lowest) and triggers at the first trade
  price that has moved back from it by the delta (a sell: price <= best x (1 - delta/10000), a buy:
  price >= best x (1 + delta/10000)). Without a stop price it starts at once, from the last trade
  price (or the next trade's, before the first); with one, that is its activation price: it starts
  at the first trade price that meets the stop condition above, which becomes its best, and until
  then it is a stop like the others (one placed past its condition is REJECTED "would_trigger").
  When it starts, a `TrailingStarted` record says so (after its NEW report, or after the records of
  the trades that started it); it is followed through every trade price in order, and its best
  price is part of the book's state (snapshot included).
- once a command has matched, the stops its trades triggered are taken off the pending set and run,
  in order id order (arrival: time priority among orders triggered together), each as the order it
  becomes (LIMIT with its price and time in force, or MARKET with its qty and quote budget), at the
  command's timestamp. Their own trades may trigger more stops, which run after them (first in,
  first out), so a cascade is a pure function of the commands.

Data structures (hot path O(1) or O(log levels)): per side a dict key -> _Level and a sorted list of
keys, where key = price for bids and -price for asks, so the best level of either side is keys[-1]
and a taker crosses while best_key >= its limit key. A level holds a deque of RestingOrder in
arrival order; a cancel marks the order dead (leaves = 0) in O(1) and matching drops dead orders as
it meets them (a level is compacted when dead orders outnumber live ones). order_id -> order,
account -> its open orders, and (account, client_order_id) -> order are dicts (those two also hold
the pending stops). Pending stops: order_id -> StopOrder, and per direction a sorted list of
(stop_price, order_id), so the stops a range of trade prices triggers are one slice of each. Trailing
stops, whose trigger moves with every trade, are in neither list but in order_id -> StopOrder of
their own, which each trading pass walks (O(trailing stops x distinct trade prices of the pass)).
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque

import msgspec

from ..model.enums import OrderStatus, OrderType, SelfTradePrevention, Side, TimeInForce
from ..model.symbols import SymbolRules
from ..model.reasons import Reason
from .amend import AmendMixin
from .bookstate import BookStateMixin
from .oco import OcoMixin
from .oto import OtoMixin
from .stops import StopsMixin
# (RestingOrder and StopOrder lived here: snapshots pickled then find them through this import)
from .records import CancelRejected, LevelChange, OrderReport, PreventedMatch, RestingOrder, StopOrder, Trade
from .results import ResultCode

_BUY = Side.BUY
_SELL = Side.SELL
_NEW = OrderStatus.NEW
_PARTIAL = OrderStatus.PARTIALLY_FILLED
_FILLED = OrderStatus.FILLED
_CANCELED = OrderStatus.CANCELED
_EXPIRED = OrderStatus.EXPIRED
_EXPIRED_IN_MATCH = OrderStatus.EXPIRED_IN_MATCH
_REJECTED = OrderStatus.REJECTED
_BY_STP = Reason.SELF_TRADE_PREVENTED  # (the reason of an order expired by self-trade prevention)
_LIMIT = OrderType.LIMIT
_MARKET = OrderType.MARKET
_LIMIT_MAKER = OrderType.LIMIT_MAKER
_FIRST_STOP = OrderType.STOP_LOSS  # types from here on are stop orders
_GTC = TimeInForce.GTC
_IOC = TimeInForce.IOC
_FOK = TimeInForce.FOK
_STP_NONE = SelfTradePrevention.NONE
_STP_TAKER = SelfTradePrevention.EXPIRE_TAKER
_STP_MAKER = SelfTradePrevention.EXPIRE_MAKER
_STP_DECREMENT = SelfTradePrevention.DECREMENT
_NO_LIQUIDITY, _IOC_LEFTOVER, _UNKNOWN_ORDER = Reason.NO_LIQUIDITY, Reason.IOC_LEFTOVER, ResultCode.UNKNOWN_ORDER

_PACK = msgspec.msgpack.Encoder()
_UNBOUNDED = 1 << 62  # "no limit" for a quantity or a crossing key (prices and qtys stay below 2**63)


class _Level:
    """One price level: open quantity, live order count, and orders in arrival order (dead included)."""

    __slots__ = ("price", "total", "count", "orders")

    def __init__(self, price: int) -> None:
        self.price = price
        self.total = 0
        self.count = 0
        self.orders: deque[RestingOrder] = deque()


class OrderBook(AmendMixin, OcoMixin, OtoMixin, StopsMixin, BookStateMixin):
    """Price-time-priority order book of one symbol. Commands return lists of records (module doc);
    `amend` (reduce an order's quantity keeping its priority) is engine/amend.py's, `place_oco` (two
    orders of which the first to work cancels the other) engine/oco.py's, the filing and triggering
    of stop orders engine/stops.py's."""

    _cascading = False  # running triggered stops (only inside one place())
    _cascade: deque | None = None  # the triggered stops waiting to run, while _cascading
    _placing_pending = False  # placing OTO pending orders (engine/oto.py): the queue is drained there
    #: the last prevented match's id (-1: none yet; ids per book from 0, as Binance's); a class default
    #: for a book pickled before prevented matches were recorded
    last_prevented_match_id = -1

    def __init__(self, rules: SymbolRules) -> None:
        self.rules = rules
        self.symbol = rules.symbol
        self._scale = rules.price_scale
        self._step = rules.step
        self._levels: tuple[dict[int, _Level], dict[int, _Level]] = ({}, {})  # by Side: bids, asks
        self._keys: tuple[list[int], list[int]] = ([], [])  # ascending; best is [-1]
        self._orders: dict[int, RestingOrder] = {}
        self._by_account: dict[int, dict[int, RestingOrder]] = {}
        self._by_client: dict[tuple[int, str], RestingOrder | StopOrder] = {}
        self.last_trade_id = 0
        self._init_stops()
        self._oco: dict[int, int] = {}  # an OCO leg's id -> the other leg's, while both are open
        self._init_oto()

    def _init_stops(self) -> None:
        self.last_price = 0  # the last trade's price: what stop orders trigger on (0: no trade yet)
        self._stops: dict[int, StopOrder] = {}
        self._falls: list[tuple[int, int]] = []  # (stop_price, order_id) of stops triggered by a fall
        self._rises: list[tuple[int, int]] = []  # ... by a rise
        self._trailing: dict[int, StopOrder] = {}  # the trailing stops (in neither list)

    def __getstate__(self) -> dict:
        """Pickle (a Match snapshot): the book as snapshot() gives it, one msgpack blob that restore()
        builds again (the property tests check its future against the reference book), not its
        objects one by one: a snapshot writer's 11-13 ms of CPU for a book of 9,000-10,000 orders
        become 2.5, read back in 21 ms rather than 10 (BENCHMARKS.md, "Pipeline", thirty-ninth
        session). An amount beyond msgpack's 64 bits leaves the objects pickled as they are."""
        try:
            return {"rules": self.rules, "packed": _PACK.encode(self.snapshot())}
        except OverflowError:
            return dict(self.__dict__)

    def __setstate__(self, state: dict) -> None:
        """Unpickle (a Match snapshot); one written before stop orders existed has none pending."""
        if "packed" in state:  # (__getstate__'s)
            self.__dict__.update(type(self).restore(state["rules"], msgspec.msgpack.decode(state["packed"])).__dict__)
            return
        self.__dict__.update(state)
        if "_stops" not in state:
            self._init_stops()
        elif "_trailing" not in state:
            self._trailing = {}
        if "_oco" not in state:
            self._oco = {}
        if "_oto" not in state:
            self._init_oto()

    # ---------------------------------------------------------------- commands

    def place(
        self,
        order_id: int,
        account: int,
        side: int,
        type: int,
        time_in_force: int,
        price: int,
        qty: int,
        quote_qty: int = 0,
        client_order_id: str = "",
        stp: int = 0,
        timestamp: int = 0,
        stop_price: int = 0,
        trailing_delta: int = 0,
        own_hold: bool = False,
    ) -> list:
        """Match a new order and rest what is left (LIMIT GTC / LIMIT_MAKER), or file a stop order
        until its trigger; then run the stops its trades triggered. Returns the records.

        Args: price is ignored for MARKET; qty 0 means "by quote budget only" (MARKET); quote_qty
        caps what a MARKET order may spend (buy) or receive (sell); stp is a SelfTradePrevention;
        stop_price is a stop order's trigger price, or a trailing stop's activation price (0: none),
        trailing_delta a trailing stop's delta in BIPS (module doc); own_hold: a triggered OCO leg,
        whose hold was shared with the leg its trigger ended (its report says what it keeps). Numbers are assumed valid for the
        symbol (binance/orderparams.py checks them); a duplicate order id or a client order id already open for the
        account gives a REJECTED report.
        """
        out: list = []
        known = order_id in self._orders or order_id in self._stops
        if known or (client_order_id and (account, client_order_id) in self._by_client):
            reason = Reason.DUPLICATE_ORDER_ID if known else Reason.DUPLICATE_CLIENT_ORDER_ID
            out.append(OrderReport(order_id, account, _REJECTED, 0, 0, 0, reason))
            return out
        if type >= _FIRST_STOP:
            self._file_stop(StopOrder(order_id, account, side, type, time_in_force, price, qty, quote_qty,
                                      client_order_id, stp, timestamp, stop_price, trailing_delta), out)
            return out
        first_price = last_price = 0  # of its trades: what they may trigger lies between the two
        other = 1 - side
        keys = self._keys[other]
        if type == _MARKET:
            limit_key = -_UNBOUNDED
            remaining = qty if qty > 0 else _UNBOUNDED
            if quote_qty > 0 and (side == _SELL or not qty):  # by quoteOrderQty (module doc)
                rules = self.rules
                cap = rules.market_max_qty if rules.market_max_qty < rules.max_qty else rules.max_qty
                if remaining > cap:
                    remaining = cap
                refusal = self._quote_refusal(keys, other, remaining, quote_qty)
                if refusal:
                    out.append(OrderReport(order_id, account, _REJECTED, 0, 0, 0, refusal))
                    return out
        else:
            limit_key = -price if side == _BUY else price
            remaining = qty
        if type == _LIMIT_MAKER:
            if keys and keys[-1] >= limit_key:
                out.append(OrderReport(order_id, account, _REJECTED, 0, 0, 0, Reason.WOULD_TAKE))
                return out
        elif time_in_force == _FOK and type != _MARKET and not self._fok_fillable(keys, other, limit_key, qty, account, stp):
            out.append(OrderReport(order_id, account, _EXPIRED, 0, 0, 0, Reason.FOK_UNFILLED))
            return out

        executed = 0
        cum_quote = 0
        prevented = 0  # taken off by self-trade prevention (DECREMENT's overlaps; an expiry's remainder)
        oco = self._oco
        linked: list[int] | None = None  # OCO legs this taker touched: their other legs are canceled
        oto = self._oto
        working: list[tuple[int, bool]] | None = None  # OTO working orders it ended (filled?): pending go or come
        stopped = ""  # why matching ended early: "stp" or "budget"
        if keys and keys[-1] >= limit_key:
            # ---- take liquidity: best level first, oldest order first, at the maker's price
            levels = self._levels[other]
            orders = self._orders
            by_account = self._by_account
            by_client = self._by_client
            scale = self._scale
            step = self._step
            quote_left = quote_qty if quote_qty > 0 else 0
            trade_id = self.last_trade_id
            append = out.append
            while keys:
                key = keys[-1]
                if key < limit_key:
                    break
                level = levels[key]
                lp = level.price
                queue = level.orders
                total_before = level.total
                while queue:
                    maker = queue[0]
                    m_leaves = maker.leaves
                    if not m_leaves:  # canceled earlier: drop lazily
                        queue.popleft()
                        continue
                    if stp and maker.account == account:
                        if oco and maker.order_id in oco and stp != _STP_TAKER:
                            linked = (linked or []) + [maker.order_id]
                        if oto and maker.order_id in oto and stp != _STP_TAKER:
                            working = (working or []) + [(maker.order_id, False)]
                        self.last_prevented_match_id += 1
                        if stp == _STP_DECREMENT:  # both lose the overlap; the smaller (or both) ends
                            cut = m_leaves if m_leaves < remaining else remaining
                            # (both lose it: a market order by quote budget alone too, as its prevented
                            # quantity, though its budget stays)
                            append(PreventedMatch(self.last_prevented_match_id, order_id, maker.order_id, account, stp,
                                                  lp, cut, cut))
                            level.total -= cut
                            maker.prevented += cut
                            prevented += cut
                            if qty > 0:  # (a market order by quote budget alone has no quantity to lose)
                                remaining -= cut
                            if cut == m_leaves:
                                queue.popleft()
                                level.count -= 1
                                maker.leaves = 0
                                self._unindex(maker)
                                append(OrderReport(maker.order_id, maker.account, _EXPIRED_IN_MATCH, maker.executed,
                                                   maker.cum_quote, 0, _BY_STP, maker.prevented))
                            else:
                                maker.leaves = m_leaves - cut
                                append(OrderReport(maker.order_id, maker.account, _PARTIAL if maker.executed else _NEW,
                                                   maker.executed, maker.cum_quote, maker.leaves, "", maker.prevented,
                                                   lp * maker.leaves // scale if maker.side == _BUY else maker.leaves))
                            if not remaining:
                                stopped = _BY_STP
                                break
                            continue
                        # (a market order by quote budget alone has no quantity to count)
                        append(PreventedMatch(self.last_prevented_match_id, order_id, maker.order_id, account, stp, lp,
                                              -1 if stp == _STP_MAKER or not qty else remaining,
                                              -1 if stp == _STP_TAKER else m_leaves))
                        if stp != _STP_TAKER:  # EXPIRE_MAKER / EXPIRE_BOTH: the maker goes, all it had left
                            # prevented (Binance's preventedQuantity)
                            queue.popleft()
                            level.total -= m_leaves
                            level.count -= 1
                            maker.leaves = 0
                            maker.prevented += m_leaves
                            self._unindex(maker)
                            append(OrderReport(maker.order_id, maker.account, _EXPIRED_IN_MATCH, maker.executed,
                                               maker.cum_quote, 0, _BY_STP, maker.prevented))
                        if stp != _STP_MAKER:  # EXPIRE_TAKER / EXPIRE_BOTH: the taker stops
                            stopped = _BY_STP
                            break
                        continue
                    fill = m_leaves if m_leaves < remaining else remaining
                    if quote_left:
                        afford = quote_left * scale // lp
                        afford -= afford % step
                        if afford < fill:
                            fill = afford
                            if not fill:
                                stopped = "budget"
                                break
                    notional = lp * fill // scale
                    if oco and maker.order_id in oco:
                        linked = (linked or []) + [maker.order_id]
                    if not executed:
                        first_price = lp
                    last_price = lp
                    trade_id += 1
                    append(Trade(trade_id, lp, fill, notional, maker.order_id, order_id, maker.account, account, side, timestamp))
                    executed += fill
                    cum_quote += notional
                    remaining -= fill
                    if quote_left:
                        quote_left -= notional
                        if not quote_left:
                            stopped = "budget"
                    level.total -= fill
                    m_exec = maker.executed + fill
                    m_quote = maker.cum_quote + notional
                    maker.executed = m_exec
                    maker.cum_quote = m_quote
                    if fill == m_leaves:
                        if oto and maker.order_id in oto:
                            working = (working or []) + [(maker.order_id, True)]
                        maker.leaves = 0
                        queue.popleft()
                        level.count -= 1
                        del orders[maker.order_id]
                        acct = by_account[maker.account]
                        del acct[maker.order_id]
                        if not acct:
                            del by_account[maker.account]
                        if maker.client_order_id:
                            del by_client[(maker.account, maker.client_order_id)]
                        append(OrderReport(maker.order_id, maker.account, _FILLED, m_exec, m_quote, 0, ""))
                    else:
                        maker.leaves = m_leaves - fill
                        # a buy OCO leg's hold was shared with the dearer leg, which this fill ends:
                        # from now on it keeps what it needs (what it has above returns to free)
                        append(OrderReport(maker.order_id, maker.account, _PARTIAL, m_exec, m_quote, m_leaves - fill, "", 0,
                                           lp * maker.leaves // scale if maker.side == _BUY and oco
                                           and maker.order_id in oco else -1))
                    if not remaining or stopped:
                        break
                if level.total != total_before:
                    append(LevelChange(other, lp, level.total))
                if not level.count:
                    keys.pop()
                    del levels[key]
                if not remaining or stopped or level.count:
                    break
            if trade_id != self.last_trade_id:
                self.last_trade_id = trade_id
                self.last_price = last_price

        # ---- the taker's fate
        if stopped == _BY_STP:  # (EXPIRE_TAKER / EXPIRE_BOTH: what it had left is prevented too; a market
            # order by quote alone has no quantity to count, before or after some of it traded)
            if qty > 0:
                prevented += remaining
            out.append(OrderReport(order_id, account, _EXPIRED_IN_MATCH, executed, cum_quote, 0, _BY_STP, prevented))
        elif not remaining or stopped == "budget":
            out.append(OrderReport(order_id, account, _FILLED, executed, cum_quote, 0, "", prevented))
        elif type == _MARKET:
            out.append(OrderReport(order_id, account, _EXPIRED, executed, cum_quote, 0, _NO_LIQUIDITY, prevented))
        elif time_in_force != _GTC and type != _LIMIT_MAKER:
            out.append(OrderReport(order_id, account, _EXPIRED, executed, cum_quote, 0, _IOC_LEFTOVER, prevented))
        else:
            self._rest(RestingOrder(order_id, account, side, price, remaining, executed, cum_quote, client_order_id, stp,
                                    timestamp, prevented), out)
            # what it keeps frozen from now on, where its hold has more: cut by DECREMENT; a buy that
            # traded below its limit price (it froze price x quantity: the saving returns to free
            # now, as "locked" is what open orders need); a buy whose hold was shared with an OCO
            # leg that ended as it triggered (`own_hold`)
            hold = -1
            if side == _BUY:
                if prevented or own_hold or cum_quote != price * executed // self._scale:
                    hold = price * remaining // self._scale
            elif prevented:
                hold = remaining
            out.append(OrderReport(order_id, account, _PARTIAL if executed else _NEW, executed, cum_quote, remaining, "",
                                   prevented, hold))
        if linked:
            for leg in linked:
                self._cancel_other_leg(leg, out)
        if oto:
            if order_id in oto:
                working = (working or []) + [(order_id, stopped != _BY_STP and (not remaining or stopped == "budget"))]
            for order, filled in working or ():
                self._working_ended(order, filled, out)
        if first_price and self._stops and not self._cascading:
            self._run_triggered(first_price, timestamp, out)
        if self._activations and not self._cascading and not self._placing_pending:
            self._place_pending(timestamp, out)
        return out

    def cancel(self, order_id: int, account: int) -> list:
        """Cancel an open order of `account`: [OrderReport CANCELED, LevelChange] or [CancelRejected]."""
        order = self._orders.get(order_id) or self._stops.get(order_id)
        if order is None and order_id in self._oto_of:  # an OTO's pending order: the list goes
            return self._cancel_pending(order_id, account)
        if order is None or order.account != account:  # another's order is "unknown" to you
            return [CancelRejected(order_id, account, "", _UNKNOWN_ORDER)]
        out: list = []
        self._cancel(order, out)
        if self._oto and order_id in self._oto:
            self._working_ended(order_id, False, out, canceled=True)
        if self._oco and order_id in self._oco:
            self._cancel_other_leg(order_id, out, canceled=True)
        return out

    def cancel_by_client_id(self, account: int, client_order_id: str) -> list:
        """Cancel the open order that `account` placed with `client_order_id` (as cancel)."""
        order = self._by_client.get((account, client_order_id))
        if order is None:
            return [CancelRejected(0, account, client_order_id, ResultCode.UNKNOWN_ORDER)]
        return self.cancel(order.order_id, account)

    def cancel_all(self, account: int) -> list:
        """Cancel every open order of `account` in this book (pending stops included), oldest order id first."""
        out: list = []
        orders = self._by_account.get(account, {})
        for order_id in sorted(orders):
            if order_id in orders:  # (an OCO leg goes with the other)
                out += self.cancel(order_id, account)
        return out

    # ---------------------------------------------------------------- internals

    def _rest(self, order: RestingOrder, out: list | None) -> None:
        side = order.side
        price = order.price
        key = price if side == _BUY else -price
        levels = self._levels[side]
        level = levels.get(key)
        if level is None:
            levels[key] = level = _Level(price)
            insort(self._keys[side], key)
        level.orders.append(order)
        level.total += order.leaves
        level.count += 1
        self._orders[order.order_id] = order
        acct = self._by_account.get(order.account)
        if acct is None:
            self._by_account[order.account] = acct = {}
        acct[order.order_id] = order
        if order.client_order_id:
            self._by_client[(order.account, order.client_order_id)] = order
        if out is not None:
            out.append(LevelChange(side, price, level.total))

    def _unindex(self, order: RestingOrder) -> None:
        del self._orders[order.order_id]
        acct = self._by_account[order.account]
        del acct[order.order_id]
        if not acct:
            del self._by_account[order.account]
        if order.client_order_id:
            del self._by_client[(order.account, order.client_order_id)]

    def _cancel(self, order: RestingOrder | StopOrder, out: list, status: int = _CANCELED, reason: str = "") -> None:
        """Take the order off the book: its report (CANCELED, or `status` and `reason`: an OCO leg
        whose other leg works, EXPIRED) and its level's change."""
        if type(order) is StopOrder:
            self._unfile_stop(order)
            out.append(OrderReport(order.order_id, order.account, status, 0, 0, 0, reason))
            return
        side = order.side
        price = order.price
        key = price if side == _BUY else -price
        levels = self._levels[side]
        level = levels[key]
        level.total -= order.leaves
        level.count -= 1
        order.leaves = 0  # dead: matching drops it when it reaches the front
        self._unindex(order)
        out.append(OrderReport(order.order_id, order.account, status, order.executed, order.cum_quote, 0, reason))
        if not level.count:
            del levels[key]
            keys = self._keys[side]
            if keys[-1] == key:
                keys.pop()
            else:
                del keys[bisect_left(keys, key)]
        elif len(level.orders) > 2 * level.count + 8:
            level.orders = deque(o for o in level.orders if o.leaves)
        out.append(LevelChange(side, price, level.total))

    def _quote_refusal(self, keys: list[int], other: int, qty: int, budget: int) -> str:
        """Why a MARKET order by quoteOrderQty is refused before it takes anything (Binance's -2010
        texts for them, errors.md), or "": an empty side (NO_BOOK), less than LOT_SIZE's minQty on it
        (BOOK_BELOW_MIN_QTY), or a budget (or, for a sell, a free balance `qty`) that buys less than
        minQty at its prices (QUOTE_BELOW_MIN_QTY: what it would execute breaks LOT_SIZE). Walks the
        makers as the matching would, each fill rounded down to the step, until it reaches minQty
        (the first maker, most often); self-trade prevention is not looked at."""
        if not keys:
            return Reason.NO_BOOK
        min_qty = self.rules.min_qty
        scale, step = self._scale, self._step
        levels = self._levels[other]
        got = 0
        for key in reversed(keys):
            level = levels[key]
            lp = level.price
            for o in level.orders:
                leaves = o.leaves
                if not leaves:
                    continue
                fill = leaves if leaves < qty - got else qty - got
                afford = budget * scale // lp
                afford -= afford % step
                if afford < fill:
                    fill = afford
                got += fill
                budget -= lp * fill // scale
                if got >= min_qty:
                    return ""
                if fill < leaves:  # the budget, or the quantity, is spent
                    break
            else:
                continue
            break
        # refused: by the book when all of it holds less than minQty, else by what the order can spend
        if sum(levels[key].total for key in keys) < min_qty:
            return Reason.BOOK_BELOW_MIN_QTY
        return Reason.QUOTE_BELOW_MIN_QTY

    def _fok_fillable(self, keys: list[int], other: int, limit_key: int, qty: int, account: int, stp: int) -> bool:
        """Whether a FOK could fill `qty` completely, counting only what STP would let it take."""
        levels = self._levels[other]
        need = qty
        for key in reversed(keys):
            if key < limit_key:
                return False
            level = levels[key]
            if not stp:
                need -= level.total
            else:
                for o in level.orders:
                    if not o.leaves:
                        continue
                    if o.account == account:
                        if stp == _STP_MAKER:
                            continue  # expired on the way, not taken
                        return False  # the taker would stop here (DECREMENT: lose quantity it needs)
                    need -= o.leaves
                    if need <= 0:
                        return True
            if need <= 0:
                return True
        return False
