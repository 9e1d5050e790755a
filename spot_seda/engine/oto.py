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
  pending orders placed so may fill others' working orders in turn: those come after it.
- the working order ended otherwise (canceled, expired, self-trade prevention, an amend to its
  executed quantity): the pending order is CANCELED with it. Canceling the pending order cancels
  the working one. Once placed, the pending order is an order like any other.
"""

from __future__ import annotations

from ..model.enums import OrderStatus, OrderType

_FIRST_STOP = OrderType.STOP_LOSS


class OtoMixin:
    """OrderBook.place_oto and the pending-order rule (module doc); uses the book's indexes."""

    def _init_oto(self) -> None:
        self._oto: dict[int, tuple] = {}  # working order id -> the pending order's place() arguments
        self._oto_of: dict[int, int] = {}  # pending order id -> its working order's id
        self._activations: list[int] = []  # working orders filled in this command: pending orders to place

    def place_oto(self, working: tuple, pending: tuple) -> list:
        """Place an OTO (each leg a tuple of place()'s arguments). Returns the records."""
        pid, account = pending[0], pending[1]
        reason = self._refusal(*working)
        other = "" if reason else self._pending_refusal(*pending)
        if reason or other:
            return [_book.OrderReport(working[0], working[1], OrderStatus.REJECTED, 0, 0, 0, reason or "list_rejected"),
                    _book.OrderReport(pid, account, OrderStatus.REJECTED, 0, 0, 0, other or "list_rejected")]
        self._oto[working[0]] = pending
        self._oto_of[pid] = working[0]
        out = [_book.OrderReport(pid, account, OrderStatus.PENDING_NEW, 0, 0, pending[6], "")]
        out += self.place(*working)
        self._working_ended(working[0], False, out)  # (one that ended at once unfilled: a FOK's expiry)
        return out

    def _pending_refusal(self, order_id: int, account: int, *_args) -> str:
        client_order_id = _args[6] if len(_args) > 6 else ""
        if order_id in self._orders or order_id in self._stops or order_id in self._oto_of:
            return "duplicate_order_id"
        if client_order_id and (account, client_order_id) in self._by_client:
            return "duplicate_client_order_id"
        return ""

    def _working_ended(self, working_id: int, filled: bool, out: list) -> None:
        """A command touched a working order: if it is no longer open, its pending order is to be
        placed (it FILLED) or is canceled (it ended otherwise)."""
        if working_id not in self._oto or working_id in self._orders:
            return
        if filled:
            if working_id not in self._activations:
                self._activations.append(working_id)
            return
        pending = self._oto.pop(working_id)
        del self._oto_of[pending[0]]
        out.append(_book.OrderReport(pending[0], pending[1], OrderStatus.CANCELED, 0, 0, 0, ""))

    def _cancel_pending(self, order_id: int, account: int) -> list:
        """Cancel an OTO's pending order: it and its working order end CANCELED."""
        working_id = self._oto_of[order_id]
        pending = self._oto[working_id]
        if pending[1] != account:
            return [_book.CancelRejected(order_id, account, "", _results.ResultCode.UNKNOWN_ORDER)]
        del self._oto[working_id]
        del self._oto_of[order_id]
        out = [_book.OrderReport(order_id, account, OrderStatus.CANCELED, 0, 0, 0, "")]
        working = self._orders.get(working_id)
        if working is not None:
            self._cancel(working, out)
        return out

    def _place_pending(self, timestamp: int, out: list) -> None:
        """Place the pending orders whose working orders filled in this command, in that order, at
        the command's time (each place() places those its own trades filled, first)."""
        while self._activations:
            pending = self._oto.pop(self._activations.pop(0))
            del self._oto_of[pending[0]]
            if pending[3] < _FIRST_STOP:
                out.append(_book.Triggered(pending[0], pending[1]))
            out += self.place(*pending[:10], timestamp, *pending[11:])

    def _validate_oto(self) -> None:
        for working_id, pending in self._oto.items():
            if working_id not in self._orders or self._oto_of.get(pending[0]) != working_id \
                    or self.order(pending[0]) is not None:
                raise _results.InvariantError(f"{self.symbol}: OTO {working_id} -> {pending[0]} is not a working "
                                              "order on the book and a pending order off it")
        if len(self._oto_of) != len(self._oto):
            raise _results.InvariantError(f"{self.symbol}: OTO indexes disagree")


from . import book as _book  # noqa: E402 (last: book.py mixes OtoMixin in; its names are read at call time)
from . import results as _results  # noqa: E402
