"""Push's user data: executionReport and listStatus from the order updates (Acquiring's Created
entries, Match's reports, in Match's order; a report that overtakes its order's Created entry waits
for it), outboundAccountPosition and balanceUpdate from the balance changes, each on its account's
stream. PushStage (stages/push.py) mixes this in; the state it keeps (orders, model/orders.py's
Order, order lists, fills, balances, held funds) is the stage's, rebuilt from the change log like the rest.

An order Match refuses (a LIMIT_MAKER that would take, a stop that would trigger, an order list one
of whose legs is refused as it is placed) is an error to its client, never an order (api/trading.py,
api/orderlists.py): Binance shows it nowhere, its balances included. Its funds were frozen all the
same (Acquiring's freeze, before Match judged it) and released (Settlement's release, after), two
changes that cancel out. So the balance changes of an order's hold wait (`held`: order id ->
HeldFunds) from its Created entry until Match's first report judges it: an accepted order that
rests as it was placed has its freeze shown then, after its NEW report, as Binance sends it; a
refused order's wait for its freeze and its release, which then go unshown.

An order that trades or ends as it is placed (a taker: a LIMIT that crosses, IOC, FOK, MARKET) gets
one outboundAccountPosition for its command, after its executionReports, with the balances the
command left, as Binance's (faqs/market_orders_faq.md), not its freeze first (locked funds gone by
the time a client reads it) and Settlement's changes after. Its first report says what of
Settlement's that command brings for it (HeldFunds.awaits), whose last change ends the wait: its
release (ended: Settlement releases a finished order's hold always, a release of nothing included),
else its reduce (cut by DECREMENT self-trade prevention), else its two trade changes (what it paid,
what it got). Until then its hold's changes (freeze, trades, fees, release) are kept, and shown as
one event per account, at the last one's time, naming every asset they moved; so is the freeze of
another order of that command judged in the same batch (an OTO's pending order, placed as its
working order fills: `taker`). A maker's fills come from Settlement alone, one command's in one
batch: one event already. The freeze, the report and the release come from three
producers, in any order: whichever order they come in after the order's Created entry (which
precedes Match's report here, and Acquiring's freeze on the queues), the same changes are shown; a
freeze before it (over Kafka: another topic) is held all the same, and so is a release or a trade
naming an order id above every one created so far (Acquiring wrote Match's queue, and Match and
Settlement ran, before it wrote Push's; order ids rise); over Kafka a release may still come before
a Created entry of a lower id that another partition holds back, and is then shown as it comes
(and so is the rest of that order's: nothing of it is held, none is left waiting). The balances
themselves are applied as they come, always, and what is held is kept whether anyone listens or not
(at most MAX_HELD orders' worth: a wait for what never comes ends so).
"""

from __future__ import annotations

import logging

from ..binance import streams as S
from ..engine.ledger import Balance
from ..model.changelog import BalanceFields, ChangeLogEntry, Created, Updated, balance_of
from ..model.enums import ORDER_STATUS_OF, EntityType, OrderStatus, Side
from ..model.orders import Order
from ..model.reasons import REFUSED_AT_PLACEMENT
from ..model.symbols import fee_on

log = logging.getLogger("spot_seda.push")

#: Match reports held back waiting for their Created entry before we give up on it (a corrupt stream)
MAX_STALLED = 100_000
#: orders whose hold's changes wait for a verdict, a freeze or a release before we give up on the
#: oldest: far more than the bus's rings hold in flight (a 64 MiB ring: some 250,000 Created entries)
MAX_HELD = 1_000_000
_CLOCK = EntityType.CLOCK
_PREVENTED = EntityType.PREVENTED_MATCH

USER_PREFIX = "user:"
_NEW, _PENDING_NEW, _FILLED, _PARTIALLY_FILLED = (OrderStatus.NEW, OrderStatus.PENDING_NEW, OrderStatus.FILLED,
                                                  OrderStatus.PARTIALLY_FILLED)
_REJECTED, _BUY = OrderStatus.REJECTED, Side.BUY


class HeldFunds:
    """The balance changes naming one order's hold (its freeze first of all) while Match has not
    judged the order (verdict None), and afterwards what the verdict still waits for: an accepted
    order (True) its freeze, to show it, and when it traded or ended as it was placed (`awaits`) the
    last of Settlement's changes for it in that command too, to show them all as one; a refused one
    (False) its freeze and its release."""

    __slots__ = ("verdict", "froze", "released", "changes", "awaits", "trades", "reduced", "taker")

    def __init__(self) -> None:
        self.verdict: bool | None = None
        self.froze = self.released = self.reduced = False
        self.changes: list[tuple[int, int, str, int, int]] = []  # (account, ts, asset, available, frozen deltas)
        #: what of Settlement's an accepted order's verdict says is coming (module doc): "release" (it
        #: ended as it was placed), "reduce" (cut by DECREMENT, still open), "trades" (it traded, still
        #: open: its two trade changes, what it paid and what it got), None (nothing: it rests)
        self.awaits: str | None = None
        self.trades = 0  # the trade changes that named it
        #: an accepted resting order whose freeze has not come, of a command whose taker's hold waits
        #: for Settlement (an OTO's pending order): that taker's order id, whose event shows its freeze
        self.taker = -1

    def __getstate__(self):  # (pickled in Push's snapshot)
        return (self.verdict, self.froze, self.released, self.changes, self.awaits, self.trades, self.reduced,
                self.taker)

    def __setstate__(self, state) -> None:
        if len(state) == 4:  # (a snapshot from before `awaits`)
            state = (*state, None, 0, False, -1)
        (self.verdict, self.froze, self.released, self.changes, self.awaits, self.trades, self.reduced,
         self.taker) = state

    def settled(self) -> bool:
        """Settlement's changes that an accepted order's verdict said were coming are all here."""
        awaits = self.awaits
        return (awaits is None or (awaits == "release" and self.released) or (awaits == "reduce" and self.reduced)
                or (awaits == "trades" and self.trades >= 2))

    def touched(self, ts: int) -> list[tuple[int, int, str]]:
        """(account, ts, asset) of each asset its changes name, all at `ts` (the last change's: the
        command's, as one outboundAccountPosition per account; its release of nothing names the
        asset its freeze moved, an OTO's pending order's freeze kept with it moved its own)."""
        return [(account, ts, asset) for account, asset in
                {(account, asset): None for account, _ts, asset, _available, _frozen in self.changes}]

    def net(self) -> list[tuple[int, int, str]]:
        """(account, ts, asset) of each asset whose changes do not cancel out (a refused order's
        always do: nothing traded)."""
        sums: dict[tuple[int, str], list[int]] = {}
        for account, ts, asset, available, frozen in self.changes:
            s = sums.setdefault((account, asset), [ts, 0, 0])
            s[1] += available
            s[2] += frozen
        return [(account, s[0], asset) for (account, asset), s in sums.items() if s[1] or s[2]]


def user_stream(account: int) -> str:
    """The internal stream name of an account's user data."""
    return f"{USER_PREFIX}{account}"


class UserDataMixin:
    """The user data streams of PushStage (module doc)."""

    def _orders(self, entries: list[ChangeLogEntry]) -> None:
        orders, stalled = self.orders, self.stalled
        self.judged = {}  # (account, ts) -> the assets of accepted orders' held changes, shown at the end
        self.awaiting = {}  # (account, ts) -> an order of that command whose verdict waits for Settlement
        self.unfrozen = []  # (account, ts, order id): accepted resting orders whose freeze has not come
        self.users = self.sink.wants_any(USER_PREFIX)  # (for _report: anyone on a user data stream?)
        self.list_updates = {}  # list id -> (order, ts, stream): a list changed and goes on (_list_status)
        due, reported = self.tickers_due, set()
        for e in entries:
            if self.list_updates and e.timestamp != self.list_updates_ts:
                self._list_updated()  # (the command that changed them is over)
            change = e.change_type
            if e.entity_type == _PREVENTED:  # a prevented match: its orders' reports carry its id
                continue
            if type(change) is Created:  # Acquiring: a new order
                order_id = int(e.entity_id)
                order = orders[order_id] = Order.from_fields(e.field_dict(), order_id, e.timestamp)
                fresh = self.last_created is None or order_id > self.last_created
                if fresh:
                    self.last_created = order_id
                if order.frozen > 0 and (fresh or order_id in self.held):
                    # its hold's changes wait for Match's verdict (module doc; its freeze may have come
                    # first); not an order whose Created entry a higher one's overtook (over Kafka,
                    # another partition): its changes that came before were not held, so are shown
                    self.held.setdefault(order_id, HeldFunds())
                if order.order_list_id >= 0:
                    lst = self.order_lists.setdefault(order.order_list_id, {"legs": {}, "cids": {}, "started": False})
                    lst["legs"][order_id] = None  # (no report from Match yet)
                    lst["cids"][order_id] = order.client_order_id
                continue
            if e.entity_type == _CLOCK:  # a Tick on its way to Match and KLine
                continue
            f = e.field_dict()
            if (self.aggregates or due) and "cancel_requested" not in f and "amend_requested" not in f:
                symbol = f.get("symbol")  # Match's report: the trades before it are all here
                if symbol in self.aggregates:
                    self._aggregate_done(symbol)
                if symbol in due:
                    reported.add(symbol)
            if "cancel_requested" in f or f.get("cancel_rejected") or "amend_requested" in f or f.get("amend_rejected"):
                continue  # a request (Acquiring) or a no-op answer (Match): nothing changed
            if stalled or int(e.entity_id) not in orders:
                stalled.append(e)
                continue
            self._report(int(e.entity_id), f, e.timestamp, e.sequence)
        while stalled and int(stalled[0].entity_id) in orders:
            e = stalled.popleft()
            self._report(int(e.entity_id), e.field_dict(), e.timestamp, e.sequence)
        if self.list_updates:
            self._list_updated()
        if len(stalled) > MAX_STALLED:  # their Created entries are not coming: a stream we cannot follow
            dropped = [stalled.popleft().entity_id for _ in range(len(stalled) - MAX_STALLED)]
            log.error("orders %s were reported by Match but never created; dropping %d reports",
                      ", ".join(sorted(set(dropped))[:10]), len(dropped))
        self._bound_held()
        held, awaiting = self.held, self.awaiting
        for account, ts, order_id in self.unfrozen if awaiting else ():
            taker = awaiting.get((account, ts))
            if taker in held and order_id in held:  # its freeze, when it comes, goes with the taker's
                held[order_id].taker = taker
        for (account, ts), assets in self.judged.items():
            h = held.get(awaiting.get((account, ts)))
            if h is not None:  # another order of a command whose taker waits for Settlement (an OTO's
                # pending order): its freeze is shown with the taker's, as one
                h.changes.extend((account, ts, asset, 0, 0) for asset in assets)
            elif self.users:
                self._position(account, assets, ts)
        self._depth_changed()
        for symbol in reported:  # the book as the trades left it: their tickers (push.py _trades)
            self._tickers(symbol, due.pop(symbol))

    def _report(self, order_id: int, f: dict, ts: int, seq: int) -> None:
        """Apply one Match report of an order: executionReports, then the depth view."""
        order = self.orders[order_id]
        if "trailing_time" in f:  # a trailing stop started tracking prices (Binance: no event of its own)
            order.trailing_time = f["trailing_time"]
            if "status" not in f:  # (a trade activated it: nothing else changed)
                return
        symbol = order.symbol
        rules = self.rules[symbol]
        sink = self.sink
        if not self.users:  # nobody listens to any user data stream
            stream, wanted = "", False
        else:
            stream = user_stream(order.account)
            wanted = sink.wants(stream)
        # each executionReport of this entry its own "I" (Binance's execution id, unique): the entry's
        # sequence times EXECUTION_IDS plus its place among them, the same in every replay (an
        # amend's report is the first of its entry: Acquiring answers the amend with its id)
        execution_id = seq * S.EXECUTION_IDS
        first = "frozen" in f  # Match's first report of an order repeats what it was created with
        # it starts working (at once, or a stop order at its trigger), or an OTO's pending order is
        # placed (a stop one files, not working yet: no working_time)
        starts = "working_time" in f or (order.status == _PENDING_NEW and f["status"] == "NEW")
        if "working_time" in f:
            order.working_time = f["working_time"]
        status = ORDER_STATUS_OF[f["status"]]
        # an order the book refused as it was placed (a LIMIT_MAKER that would take, a stop that would
        # trigger...), any leg of an order list one of whose legs was refused as it was placed:
        # answered as an error (api/trading.py, api/orderlists.py), never live, so no report (nor
        # listStatus) of it
        silent = status == _REJECTED and (f.get("reason") in REFUSED_AT_PLACEMENT
                                          or (first and order.order_list_id >= 0))
        if first and order_id in self.held:
            # what of Settlement's this command still brings for it: the last of its changes (module doc)
            self._verdict(order_id, not silent, "release" if status.is_final else "reduce" if "hold" in f
                          else "trades" if f["executed_qty"] else None, order.account, ts)
        if wanted and (first or starts) and not silent:
            # a stop order reports NEW twice: placed, then triggered ("w" false, then true if it rests);
            # an OTO's pending order is PENDING_NEW, then NEW when placed
            order.status = _PENDING_NEW if status == _PENDING_NEW else _NEW
            self.sink.send(stream, S.execution_report(rules, order, "NEW", ts, execution_id))
            execution_id += 1
        # The fills this report accounts for, up to its executed_qty: an order may be reported twice in
        # one command (a maker, or the taker, touched again by a stop the command triggered), and
        # in a replay a later command's fills may already be here (a pending stop's, for its trigger)
        pending = self.fills.get(order_id)
        used = 0
        executed = f["executed_qty"]
        for trade, trade_ts in pending or ():  # (TradeFields: push.py _trades)
            if order.executed_qty >= executed:
                break
            used += 1
            qty, quote = trade.qty, trade.quote_qty
            order.executed_qty += qty
            order.cum_quote_qty += quote
            if not wanted:
                continue
            is_buyer = trade.buyer_order_id == order_id
            maker = trade.maker_order_id == order_id
            if is_buyer:
                fee = fee_on(qty, rules.maker_fee_ppm if maker else rules.taker_fee_ppm)
                asset = rules.base
            else:
                fee = fee_on(quote, rules.maker_fee_ppm if maker else rules.taker_fee_ppm)
                asset = rules.quote
            done = order.executed_qty == executed and status == _FILLED
            order.status = _FILLED if done else _PARTIALLY_FILLED
            fill = S.Fill(trade.trade_id, qty, trade.price, quote, fee, asset, maker)
            self.sink.send(stream, S.execution_report(rules, order, "TRADE", trade_ts, execution_id, fill))
            execution_id += 1
        if used:
            if used == len(pending):
                del self.fills[order_id]
            else:
                del pending[:used]
        order.status = status
        order.executed_qty = executed
        order.cum_quote_qty = f["cum_quote_qty"]
        end = S.END_EXECUTION[status]  # (None for a status that does not end the order)
        if "prevented_match_id" in f:  # a prevented match took quantity off it: "v", "U"
            order.prevented_match_id, order.counter_order_id = f["prevented_match_id"], f["counter_order_id"]
        if f.get("prevented_qty", 0) > order.prevented_qty:  # self-trade prevention (DECREMENT, or an expiry)
            order.last_prevented_qty = f["prevented_qty"] - order.prevented_qty
            order.prevented_qty = f["prevented_qty"]
            if wanted and end is None:  # it stays open: its prevention reported alone
                self.sink.send(stream, S.execution_report(rules, order, "TRADE_PREVENTION", ts, execution_id))
                execution_id += 1
        if "cancel_client_order_id" in f:  # Match's CANCELED report names the cancel: its report's "c"
            order.cancel_client_order_id = f["cancel_client_order_id"]
        if "reason" in f:  # why it ended early: an expired one's "eR"
            order.reason = f["reason"]
        if "qty" in f:  # amended in place (engine/amend.py): Binance's REPLACED, "C" the id it had
            order.replaced_client_order_id = order.client_order_id
            order.amend(f["qty"], f["client_order_id"])
            if wanted:
                self.sink.send(stream, S.execution_report(rules, order, "REPLACED", ts, execution_id))
                execution_id += 1
            if order.order_list_id >= 0 and order.client_order_id != order.replaced_client_order_id:
                self._list_renamed(order, ts, stream if wanted else "")
        if wanted and not silent and end is not None:
            self.sink.send(stream, S.execution_report(rules, order, end, ts, execution_id))
        # the depth view, exactly as Acquiring keeps it (stages/acquiring.py _order_update)
        view = self.depth[symbol]
        before = view.update_id
        view.apply(order_id, order.side == _BUY, order.price, order.book_leaves(), status)
        if view.update_id != before:
            self.depth_dirty.add(symbol)
            self.depth_ts[symbol] = ts
        if order.order_list_id >= 0:
            self._list_status(order, status, ts, stream if wanted and not silent else "")
        if status.is_final:
            del self.orders[order_id]

    def _list_updated(self) -> None:
        """listStatus EXEC_STARTED / EXECUTING for the lists a command changed and left going on."""
        for list_id, (order, ts, stream) in self.list_updates.items():
            lst = self.order_lists.get(list_id)
            if lst is not None and stream:
                self._send_list_status(stream, order, lst, "EXEC_STARTED", "EXECUTING", ts)
        self.list_updates = {}

    def _send_list_status(self, stream: str, order: Order, lst: dict, status_type: str, order_status: str,
                          ts: int) -> None:
        ids = [(i, lst["cids"][i]) for i in sorted(lst["cids"])]
        self.sink.send(stream, S.list_status_event(order.symbol, order.order_list_id, order.list_client_order_id,
                                                   status_type, order_status, ts, ids, order.contingency_type))

    def _list_renamed(self, order: Order, ts: int, stream: str) -> None:
        """An order of a list took a new client id (an amend's): the list's listStatus UPDATED
        (order_amend_keep_priority.md), and its later ones name the new id."""
        lst = self.order_lists.get(order.order_list_id)
        if lst is None:
            return
        lst["cids"][order.order_id] = order.client_order_id
        if stream:
            self._send_list_status(stream, order, lst, "UPDATED", "EXECUTING", ts)

    def _list_status(self, order: Order, status: OrderStatus, ts: int, stream: str) -> None:
        """listStatus when a list's orders have all been placed (or refused), when one of them ends
        while another goes on (enums.md's EXEC_STARTED: "there is an update to the order list
        status"; e.g. an OCO leg partly filled, the other leg expired), and when all have ended."""
        lst = self.order_lists.get(order.order_list_id)
        if lst is None:
            return
        legs = lst["legs"]
        was = legs.get(order.order_id)
        legs[order.order_id] = status
        if None in legs.values():
            return
        ended = all(s.is_final for s in legs.values())
        if lst["started"] and not ended:
            if status.is_final and not (was is not None and was.is_final):
                # one of its orders ended, another goes on so far: said once the command is over, and
                # only if the list still goes on then (its other orders often end in the same command)
                self.list_updates[order.order_list_id] = (order, ts, stream)
                self.list_updates_ts = ts
            return
        self.list_updates.pop(order.order_list_id, None)
        if stream:
            if not lst["started"]:
                kind = ("ALL_DONE", "REJECT") if all(s == _REJECTED for s in legs.values()) else ("EXEC_STARTED",
                                                                                                  "EXECUTING")
            else:
                kind = ("ALL_DONE", "ALL_DONE")
            self._send_list_status(stream, order, lst, *kind, ts)
        lst["started"] = True
        if ended:
            del self.order_lists[order.order_list_id]

    def _verdict(self, order_id: int, accepted: bool, awaits: str | None, account: int, ts: int) -> None:
        """Match judged an order whose hold's changes are held: a resting one's are shown (with this
        batch's reports); one that traded or ended as it was placed keeps them until Settlement's
        for it in that command are here too (`awaits`), to show them all as one, and so does any other
        order of that command the batch judged (_orders); a refused one's wait for the rest of its
        freeze and release."""
        h = self.held[order_id]
        h.verdict = accepted
        if accepted:
            h.awaits = awaits
            if awaits is not None:
                if h.froze and h.settled():  # (all of it came before the verdict)
                    del self.held[order_id]
                    self._judged(h.touched(h.changes[-1][1]))
                else:
                    self.awaiting[account, ts] = order_id
                return
            self._judged((owner, at, asset) for owner, at, asset, available, frozen in h.changes
                         if available or frozen)
            h.changes = []
            if h.froze:
                del self.held[order_id]
            else:
                self.unfrozen.append((account, ts, order_id))
        elif h.froze and h.released:
            del self.held[order_id]
            self._judged(h.net())

    def _judged(self, shown) -> None:
        """(account, ts, asset)s a verdict shows, after this batch's reports (_orders)."""
        judged = self.judged
        for account, ts, asset in shown:
            judged.setdefault((account, ts), {})[asset] = None

    def _bound_held(self) -> None:
        """Verdicts, freezes or releases that are not coming (a corrupt stream) must not pile up."""
        held = self.held
        if len(held) > MAX_HELD:
            log.error("dropping the held balance changes of %d orders never judged, frozen or released",
                      len(held) - MAX_HELD)
            while len(held) > MAX_HELD:  # the oldest first
                del held[next(iter(held))]

    def _held_change(self, h: HeldFunds, ref: int, account: int, ts: int, asset: str, available: int, frozen: int,
                     reason: str) -> list[tuple[int, int, str]]:
        """A balance change naming a held order's hold; returns (account, ts, asset) to show now."""
        if h.verdict and h.awaits is None:  # accepted, resting: shown as any change (it waited for its freeze)
            if reason == "freeze":
                del self.held[ref]
                taker = self.held.get(h.taker)
                if taker is not None:  # shown with its command's taker's changes
                    taker.changes.append((account, ts, asset, available, frozen))
                    return []
            return [(account, ts, asset)] if available or frozen else []
        h.changes.append((account, ts, asset, available, frozen))
        h.froze = h.froze or reason == "freeze"
        h.released = h.released or reason == "release"
        h.reduced = h.reduced or reason == "reduce"
        if reason == "trade":
            h.trades += 1
        if h.verdict and h.froze and h.settled():  # traded or ended as it was placed: the command's net, as one
            del self.held[ref]
            return h.touched(ts)
        if h.verdict is False and h.froze and h.released:  # refused, and all its changes are here
            del self.held[ref]
            return h.net()
        return []

    # ------------------------------------------------------------------ balances

    def _balances(self, entries: list[ChangeLogEntry]) -> None:
        """Sum the deltas; one outboundAccountPosition per account and command (its timestamp) in a
        batch, naming the assets that changed (a command's trades and releases come in one batch
        from Settlement; the freeze of an order at entry, from Acquiring, earlier), and none for a
        change of nothing (the release of an order that had nothing left); balanceUpdate for
        deposits and withdrawals. The changes of an order's hold wait for Match's verdict on it,
        and a taker's for the last of Settlement's changes for it in its command (module doc)."""
        sink = self.sink
        quiet = not sink.wants_any(USER_PREFIX)  # nobody listens to user data: only the state is kept
        balances, held_funds = self.balances, self.held
        groups: dict[int, tuple[int, dict[str, None]]] = {}  # account -> (timestamp, assets changed)
        for e in entries:
            change = e.change_type
            f = change.changed_fields if type(change) is Updated else None
            if type(f) is not BalanceFields:
                f = balance_of(e)
            account, asset, available_delta, frozen_delta, reason, ref = (
                f.account, f.asset, f.available_delta, f.frozen_delta, f.reason, f.ref)
            if not quiet:
                held = groups.get(account)
                if held is not None and held[0] != e.timestamp:  # another command of this account:
                    self._position(account, held[1], held[0])  # the last one's balances, before this
                    del groups[account]
            b = balances.get((account, asset))
            if b is None:
                b = balances[account, asset] = Balance()
            b.available += available_delta
            b.frozen += frozen_delta
            h = held_funds.get(ref)  # (a transfer's ref is a string: never held)
            if h is None and type(ref) is int and (available_delta or frozen_delta) and (
                    ref > self.last_created if self.last_created is not None else reason == "freeze"):
                # before its order's Created entry (another producer's): its freeze, or Settlement's
                # release or trade, naming an order id above every one created so far (a release of
                # nothing, an order list's leg that shares another's hold, shows nothing)
                h = held_funds[ref] = HeldFunds()
            if h is not None:  # kept whether anyone listens or not: the same state either way
                shown = self._held_change(h, ref, account, e.timestamp, asset, available_delta, frozen_delta, reason)
                if quiet:
                    continue
                for owner, at, name in shown:  # (the order's account's, at its command's time)
                    held = groups.get(owner)
                    if held is None or held[0] != at:
                        if held is not None:
                            self._position(owner, held[1], held[0])
                        held = groups[owner] = (at, {})
                    held[1][name] = None
                continue
            if quiet:
                continue
            if reason in ("deposit", "withdraw"):
                stream = user_stream(account)
                if sink.wants(stream):
                    sink.send(stream, S.balance_update_event(e.timestamp, asset, available_delta))
            if available_delta or frozen_delta:
                held = groups.get(account)
                if held is None:
                    held = groups[account] = (e.timestamp, {})
                held[1][asset] = None
        self._bound_held()
        for account, (ts, assets) in groups.items():
            self._position(account, assets, ts)

    def _position(self, account: int, assets: dict[str, None], ts: int) -> None:
        stream = user_stream(account)
        if self.sink.wants(stream):
            balances = self.balances
            self.sink.send(stream, S.account_position_event(
                ts, [(a, balances[account, a].available, balances[account, a].frozen) for a in assets]))
