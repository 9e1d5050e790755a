"""Order amend keep priority (Binance's PUT /api/v3/order/amend/keepPriority): reduce an open order's
quantity in place, keeping its place in its price level's queue. A part of OrderBook (book.py mixes
it in), kept in its own module so the matching core stays readable in one sitting.

Semantics, as Binance's order_amend_keep_priority FAQ defines them:
- the order is named by id and account (another's is unknown); it may rest on the book or be a stop
  waiting for its trigger; `new_qty` is its new total quantity (executed part included) and must be
  below the current one ("not_reducing" otherwise: Binance refuses an increase, and an amend that
  changes nothing);
- when `new_qty` is still above what has executed (and what self-trade prevention took off: its
  prevented quantity), the order keeps its id, price and queue
  position; its open quantity shrinks by the difference: `Amended`, then the level's `LevelChange`
  (a resting order), then its report with the new leaves quantity;
- when nothing would be left open (new_qty at or below the executed quantity) the order ends:
  EXPIRED, reason "amend" (Binance: the order "expires because of the amendment");
- the order may take a new client order id ("" keeps the current one); one another open order of
  the account holds is a duplicate and refuses the amend;
- an OCO's leg: both legs take the new quantity (Binance: the two always have one), each reported
  `Amended` with the hold their shared funds keep (what the dearer leg needs); an OTO's pending
  order, waiting off the book, is not amended (AMEND_ORDER_LIST);
- `Amended.hold` is what the order must still keep frozen after the amend, by the hold rule of the
  ledger (engine/ledger.py order_hold): a buy price x its open quantity, a sell its open quantity, a
  market buy stop its whole quote budget. Settlement releases what its hold has above that.
A refused amend is one `AmendRejected` and changes nothing.
"""

from __future__ import annotations

import msgspec

from ..model.enums import OrderStatus, OrderType, Side
from ..model.reasons import Reason
from .ledger import order_hold
from .records import LevelChange, OrderReport, StopOrder
from .results import ResultCode

NOT_REDUCING = ResultCode.AMEND_NOT_REDUCING


class Amended(msgspec.Struct, array_like=True, gc=False, frozen=True):
    """An order's quantity was reduced in place (its report, with the new leaves, follows)."""

    order_id: int
    account: int
    qty: int  # the new total quantity
    client_order_id: str  # the order's client id from now on
    hold: int  # what it must keep frozen from now on (module doc)


class AmendRejected(msgspec.Struct, array_like=True, gc=False, frozen=True):
    """An amend that changed nothing: UNKNOWN_ORDER, AMEND_NOT_REDUCING or DUPLICATE_CLIENT_ORDER_ID."""

    order_id: int
    account: int
    code: int


class AmendMixin:
    """OrderBook.amend (module doc); uses the book's indexes and its _cancel."""

    def amend(self, order_id: int, account: int, new_qty: int, client_order_id: str = "") -> list:
        """Reduce an open order's quantity to `new_qty` keeping its priority. Returns the records."""
        stop = self._stops.get(order_id)
        order = stop if stop is not None else self._orders.get(order_id)
        if order is None and order_id in self._oto_of and self._oto[self._oto_of[order_id]][0][1] == account:
            return self._amend_pending(order_id, account, new_qty, client_order_id)
        if order is None or order.account != account:
            return [AmendRejected(order_id, account, ResultCode.UNKNOWN_ORDER)]
        qty = order.qty if stop is not None else order.executed + order.leaves + order.prevented
        if new_qty >= qty or new_qty <= 0:
            return [AmendRejected(order_id, account, NOT_REDUCING)]
        cid = client_order_id or order.client_order_id
        if cid != order.client_order_id and (account, cid) in self._by_client:
            return [AmendRejected(order_id, account, ResultCode.DUPLICATE_CLIENT_ORDER_ID)]
        out: list = []
        if stop is None and new_qty <= order.executed + order.prevented:  # nothing would be left open: it ends
            self._cancel(order, out)
            report = out[0]
            out[0] = msgspec.structs.replace(report, status=OrderStatus.EXPIRED, reason=Reason.AMENDED)
            if order_id in self._oto:  # an OTO's working order ended: its pending order goes
                self._working_ended(order_id, False, out)
            return out
        if cid != order.client_order_id:
            if order.client_order_id:
                del self._by_client[(account, order.client_order_id)]
            self._by_client[(account, cid)] = order
            order.client_order_id = cid
        # an OCO's two legs always have one quantity (nothing of either has executed while both are
        # open): amending one amends both, and their one hold keeps what the dearer needs
        legs = [order] if order_id not in self._oco else [order, self.order(self._oco[order_id])]
        parts = [self._reduce(leg, new_qty) for leg in legs]
        hold = max(need for _, need in parts)
        for leg, (records, _) in zip(legs, parts):
            out.append(Amended(leg.order_id, account, new_qty, leg.client_order_id, hold))
            out += records
        return out

    def _amend_pending(self, order_id: int, account: int, new_qty: int, client_order_id: str) -> list:
        """Amend an OTO's pending order, waiting off the book: its quantity (an OTOCO's pair: both, as
        an OCO's) for when it is placed; its funds held from entry shrink to what it then needs."""
        working_id = self._oto_of[order_id]
        pending = list(self._oto[working_id])
        mine = next(p for p in pending if p[0] == order_id)
        if new_qty >= mine[6] or new_qty <= 0:
            return [AmendRejected(order_id, account, NOT_REDUCING)]
        cid = client_order_id or mine[8]
        taken = {p[8] for p in pending if p[0] != order_id} | {c for a, c in self._by_client if a == account}
        if cid != mine[8] and cid in taken:
            return [AmendRejected(order_id, account, ResultCode.DUPLICATE_CLIENT_ORDER_ID)]
        changed = [p for p in pending if p[0] == order_id or len(pending) == 2]  # (a pair: both)
        out: list = []
        needs = []
        for p in changed:
            p2 = (*p[:6], new_qty, *p[7:8], cid if p[0] == order_id else p[8], *p[9:])
            pending[pending.index(p)] = p2
            working = OrderType(p2[3]).working_type
            needs.append(order_hold(self.rules, p2[2], working, p2[5], new_qty, p2[7])[1])
        hold = max(needs)
        self._oto[working_id] = tuple(pending)
        for p in changed:
            p2 = next(x for x in pending if x[0] == p[0])
            out.append(Amended(p2[0], account, new_qty, p2[8], hold))
            out.append(_report(p2[0], account, OrderStatus.PENDING_NEW, 0, 0, new_qty))
        return out

    def _reduce(self, order, new_qty: int) -> tuple[list, int]:
        """Reduce an open order to `new_qty` in place: its records (level change, report) and what it
        must keep frozen from now on (the ledger's hold rule for its open quantity)."""
        if type(order) is StopOrder:
            order.qty = new_qty
            working = OrderType(order.type).working_type
            need = order_hold(self.rules, order.side, working, order.price, new_qty, order.quote_qty)[1]
            return [_report(order.order_id, order.account, OrderStatus.NEW, 0, 0, new_qty)], need
        cut = order.executed + order.leaves + order.prevented - new_qty
        order.leaves -= cut
        side = order.side
        level = self._levels[side][order.price if side == Side.BUY else -order.price]
        level.total -= cut
        need = order_hold(self.rules, side, OrderType.LIMIT, order.price, order.leaves, 0)[1]
        status = OrderStatus.PARTIALLY_FILLED if order.executed else OrderStatus.NEW
        return [LevelChange(side, order.price, level.total),
                _report(order.order_id, order.account, status, order.executed, order.cum_quote, order.leaves)], need


def _report(order_id: int, account: int, status: int, executed: int, cum_quote: int, leaves: int):
    return OrderReport(order_id, account, status, executed, cum_quote, leaves, "")

