"""OTO (one-triggers-the-other) order lists in the book, as Binance's orderList/oto defines them: a
working order (LIMIT or LIMIT_MAKER) on the book, and a pending order (any type but a MARKET by
quote amount) that is placed only when the working order is fully filled. A part of OrderBook
(book.py mixes it in and calls it from its matching loop, its cancels and the end of place()), so
the rule runs inside the command that causes it: journaled, replayed and snapshotted with the book.

- `place_oto` reports the pending order PENDING_NEW first, then places the working order; a working
  order the book would refuse, or a client id in use, makes both REJECTED (the other with reason
  "list_rejected").
- the working order FILLED (at its placement, or later as a maker, in a cascade too): the pending
  order is placed at the end of that command, after the stops its trades triggered have run, as
  a new order at that command's time (a `Triggered` record first, as for a stop that starts
  working, unless it is a stop order itself, which is then filed and waits for its own trigger);
  pending orders placed so may fill others' working orders in turn: theirs are placed after all
  those already waiting (first filled, first placed).
- the working order ended otherwise (canceled, expired, self-trade prevention, an amend to its
  executed quantity): the pending order is CANCELED with it. Canceling the pending order cancels
  the working one. Once placed, the pending order is an order like any other.
- an OTOCO has two pending orders, an OCO pair: placed together when the working order fills, both
  or neither (a LIMIT_MAKER that would take, a stop that would trigger: both REJECTED), and from
  then on linked as an OCO (engine/oco.py). Canceling either before cancels the whole list.
"""

from __future__ import annotations

from ..model.enums import OrderStatus, OrderType
from ..model.reasons import Reason
from .records import CancelRejected, OrderReport, Triggered
from .results import InvariantError, ResultCode

_FIRST_STOP = OrderType.STOP_LOSS


class OtoMixin:
    """OrderBook.place_oto and the pending-order rule (module doc); uses the book's indexes."""

    def _init_oto(self) -> None:
        self._oto: dict[int, tuple] = {}  # working order id -> its pending orders' place() arguments (1 or 2)
        self._oto_of: dict[int, int] = {}  # pending order id -> its working order's id
        self._activations: list[int] = []  # working orders filled in this command: pending orders to place

    def place_oto(self, working: tuple, *pending: tuple) -> list:
        """Place an OTO, or with two pending orders an OTOCO (their pair an OCO once placed); each
        order a tuple of place()'s arguments. Returns the records."""
        reason = self._refusal(*working)
        others = [self._pending_refusal(*p) for p in pending]
        if not reason and len(pending) == 2 and pending[0][8] and pending[0][8] == pending[1][8]:
            others[1] = Reason.DUPLICATE_CLIENT_ORDER_ID
        if reason or any(others):
            return [OrderReport(working[0], working[1], OrderStatus.REJECTED, 0, 0, 0, reason or Reason.LIST_REJECTED)] + \
                [OrderReport(p[0], p[1], OrderStatus.REJECTED, 0, 0, 0, (not reason and o) or Reason.LIST_REJECTED)
                 for p, o in zip(pending, others)]
        self._oto[working[0]] = pending
        for p in pending:
            self._oto_of[p[0]] = working[0]
        out = [OrderReport(p[0], p[1], OrderStatus.PENDING_NEW, 0, 0, p[6], "") for p in pending]
        out += self.place(*working)
        self._working_ended(working[0], False, out)  # (one that ended at once unfilled: a FOK's expiry)
        return out

    def _pending_refusal(self, order_id: int, account: int, *_args) -> str:
        client_order_id = _args[6] if len(_args) > 6 else ""
        if order_id in self._orders or order_id in self._stops or order_id in self._oto_of:
            return Reason.DUPLICATE_ORDER_ID
        if client_order_id and (account, client_order_id) in self._by_client:
            return Reason.DUPLICATE_CLIENT_ORDER_ID
        return ""

    def _working_ended(self, working_id: int, filled: bool, out: list, canceled: bool = False) -> None:
        """A command touched a working order: if it is no longer open, its pending orders are to be
        placed (it FILLED), are canceled with it (`canceled`), or expire (it expired: an IOC's or a
        FOK's end, self-trade prevention, an amend to nothing; Binance's OTO_PHASE_ONE_EXPIRED)."""
        if working_id not in self._oto or working_id in self._orders:
            return
        if filled:
            if working_id not in self._activations:
                self._activations.append(working_id)
            return
        status, reason = (OrderStatus.CANCELED, "") if canceled else (OrderStatus.EXPIRED, Reason.OTO_EXPIRED)
        for p in self._unlink_oto(working_id):
            out.append(OrderReport(p[0], p[1], status, 0, 0, 0, reason))

    def _unlink_oto(self, working_id: int) -> tuple:
        pending = self._oto.pop(working_id)
        for p in pending:
            del self._oto_of[p[0]]
        return pending

    def _cancel_pending(self, order_id: int, account: int) -> list:
        """Cancel an OTO's pending order: the list ends CANCELED (its working order too)."""
        working_id = self._oto_of[order_id]
        if self._oto[working_id][0][1] != account:
            return [CancelRejected(order_id, account, "", ResultCode.UNKNOWN_ORDER)]
        pending = self._unlink_oto(working_id)
        out = [OrderReport(order_id, account, OrderStatus.CANCELED, 0, 0, 0, "")]
        out += [OrderReport(p[0], p[1], OrderStatus.CANCELED, 0, 0, 0, "") for p in pending if p[0] != order_id]
        working = self._orders.get(working_id)
        if working is not None:
            self._cancel(working, out)
        return out

    def _place_pending(self, timestamp: int, out: list) -> None:
        """Place the pending orders whose working orders filled in this command, first filled first,
        at the command's time; those their own trades fill join the end of the queue (so an OTOCO's
        two are placed together, both or neither, and linked as an OCO, before anything else)."""
        self._placing_pending = True
        try:
            self._place_pending_queue(timestamp, out)
        finally:
            self._placing_pending = False

    def _place_pending_queue(self, timestamp: int, out: list) -> None:
        while self._activations:
            pending = [(*p[:10], timestamp, *p[11:]) for p in self._unlink_oto(self._activations.pop(0))]
            if len(pending) == 2:
                reasons = [self._refusal(*p) for p in pending]
                if any(reasons):
                    out += [OrderReport(p[0], p[1], OrderStatus.REJECTED, 0, 0, 0, r or Reason.LIST_REJECTED)
                            for p, r in zip(pending, reasons)]
                    continue
                self._oco[pending[0][0]], self._oco[pending[1][0]] = pending[1][0], pending[0][0]
            for p in pending:
                if p[3] < _FIRST_STOP:
                    out.append(Triggered(p[0], p[1]))
                out += self.place(*p)

    def _validate_oto(self) -> None:
        for working_id, pending in self._oto.items():
            if working_id not in self._orders or any(self._oto_of.get(p[0]) != working_id or self.order(p[0]) is not None
                                                     for p in pending):
                raise InvariantError(f"{self.symbol}: OTO {working_id} is not a working order on the book "
                                     "with pending orders off it")
        if len(self._oto_of) != sum(len(p) for p in self._oto.values()):
            raise InvariantError(f"{self.symbol}: OTO indexes disagree")

