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
- `Amended.hold` is what the order must still keep frozen after the amend, by the hold rule of the
  ledger (engine/ledger.py order_hold): a buy price x its open quantity, a sell its open quantity, a
  market buy stop its whole quote budget. Settlement releases what its hold has above that.
A refused amend is one `AmendRejected` and changes nothing.
"""

from __future__ import annotations

import msgspec

from ..model.enums import OrderStatus, OrderType, Side
from .ledger import order_hold
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
            return [AmendRejected(order_id, account, ResultCode.AMEND_ORDER_LIST)]  # (an OTO's pending order)
        if order is None or order.account != account:
            return [AmendRejected(order_id, account, ResultCode.UNKNOWN_ORDER)]
        if order_id in self._oco or order_id in self._oto_of:  # (list legs: not supported)
            return [AmendRejected(order_id, account, ResultCode.AMEND_ORDER_LIST)]
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
            out[0] = msgspec.structs.replace(report, status=OrderStatus.EXPIRED, reason="amend")
            if order_id in self._oto:  # an OTO's working order ended: its pending order goes
                self._working_ended(order_id, False, out)
            return out
        if cid != order.client_order_id:
            if order.client_order_id:
                del self._by_client[(account, order.client_order_id)]
            self._by_client[(account, cid)] = order
            order.client_order_id = cid
        if stop is not None:
            stop.qty = new_qty
            working = OrderType(stop.type).working_type
            hold = order_hold(self.rules, stop.side, working, stop.price, new_qty, stop.quote_qty)[1]
            out.append(Amended(order_id, account, new_qty, cid, hold))
            out.append(_report(order_id, account, OrderStatus.NEW, 0, 0, new_qty))
            return out
        cut = qty - new_qty
        order.leaves -= cut
        side = order.side
        level = self._levels[side][order.price if side == Side.BUY else -order.price]
        level.total -= cut
        hold = order_hold(self.rules, side, OrderType.LIMIT, order.price, order.leaves, 0)[1]
        out.append(Amended(order_id, account, new_qty, cid, hold))
        out.append(_book.LevelChange(side, order.price, level.total))
        status = OrderStatus.PARTIALLY_FILLED if order.executed else OrderStatus.NEW
        out.append(_report(order_id, account, status, order.executed, order.cum_quote, order.leaves))
        return out



def _report(order_id: int, account: int, status: int, executed: int, cum_quote: int, leaves: int):
    return _book.OrderReport(order_id, account, status, executed, cum_quote, leaves, "")


from . import book as _book  # noqa: E402 (last: book.py mixes AmendMixin in; its names are read at call time)
