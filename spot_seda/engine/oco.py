"""OCO (one-cancels-the-other) order lists in the book, as Binance's orderList/oco defines them: two
orders of one account on one side, one LIMIT_MAKER / TAKE_PROFIT / TAKE_PROFIT_LIMIT and one
STOP_LOSS / STOP_LOSS_LIMIT, of which the first to work cancels the other. A part of OrderBook
(book.py mixes it in and calls `_cancel_other_leg` from its matching loop, its cancels and its
trigger cascade), so the rule runs inside the command that causes it: journaled, replayed and
snapshotted with the book.

- `place_oco` places both legs or neither: a leg the book would refuse (a LIMIT_MAKER that would
  take, a stop whose price the last trade already reached, a client id in use) makes both REJECTED,
  the other with reason "list_rejected". Neither leg can trade when placed (a LIMIT_MAKER never
  takes, a stop waits), so placing them one after the other is atomic.
- a leg works when it trades (as a maker: a fill; with a taker of its own account: self-trade
  prevention that ends or cuts it) or its stop triggers: the other leg ends right then, EXPIRED
  with reason "oco_trigger" (Binance's OCO_TRIGGER expiry reason: "canceled because the other
  order of the pair started working or the entire OCO expired"; its order queries show such a leg
  EXPIRED), after the command's own order has its report, before the stops its trades triggered
  run; a triggered leg's other leg goes before it runs, even when the same trades triggered both.
- canceling a leg (by id, client id, or all of an account's) cancels the other: CANCELED.
Records: the other leg's report and its level's LevelChange, as a cancel gives them.
"""

from __future__ import annotations

from collections import deque

from ..model.enums import OrderStatus, OrderType, Side, triggers_on_fall
from ..model.reasons import Reason
from .records import OrderReport
from .results import InvariantError

_LIMIT_MAKER = OrderType.LIMIT_MAKER
_FIRST_STOP = OrderType.STOP_LOSS


class OcoMixin:
    """OrderBook.place_oco and the other-leg rule (module doc); uses the book's indexes."""

    def place_oco(self, first: tuple, second: tuple) -> list:
        """Place two legs (each a tuple of place()'s arguments) linked as an OCO. Returns the records."""
        reasons = [self._refusal(*leg) or self._beyond_last(*leg) for leg in (first, second)]
        if any(reasons):
            return [OrderReport(leg[0], leg[1], OrderStatus.REJECTED, 0, 0, 0, reason or Reason.LIST_REJECTED)
                    for leg, reason in zip((first, second), reasons)]
        out = self.place(*first) + self.place(*second)
        self._oco[first[0]] = second[0]
        self._oco[second[0]] = first[0]
        return out

    def _beyond_last(self, order_id: int, account: int, side: int, type: int, time_in_force: int, price: int,
                     *_rest) -> str:
        """An OCO's LIMIT_MAKER leg priced at or through the last trade's price (rest-api.md: a SELL
        OCO's "Limit Price > Last Price > Stop Price", a BUY's "Limit Price < Last Price < Stop
        Price"; the stop leg's half is WOULD_TRIGGER): refused as one that would take ("" if not)."""
        last = self.last_price
        if type == _LIMIT_MAKER and last and (price <= last if side == Side.SELL else price >= last):
            return Reason.WOULD_TAKE
        return ""

    def _refusal(self, order_id: int, account: int, side: int, type: int, time_in_force: int, price: int, qty: int,
                 quote_qty: int = 0, client_order_id: str = "", stp: int = 0, timestamp: int = 0,
                 stop_price: int = 0, trailing_delta: int = 0) -> str:
        """Why place() would reject this order ("" when it would not): the reasons it gives."""
        if order_id in self._orders or order_id in self._stops:
            return Reason.DUPLICATE_ORDER_ID
        if client_order_id and (account, client_order_id) in self._by_client:
            return Reason.DUPLICATE_CLIENT_ORDER_ID
        if type == _LIMIT_MAKER:
            keys = self._keys[1 - side]
            if keys and keys[-1] >= (-price if side == Side.BUY else price):
                return Reason.WOULD_TAKE
        elif type >= _FIRST_STOP:
            last = self.last_price
            if last and stop_price and (last <= stop_price if triggers_on_fall(type, side) else last >= stop_price):
                return Reason.WOULD_TRIGGER
        return ""

    def _cancel_other_leg(self, order_id: int, out: list, queue: deque | None = None, canceled: bool = False) -> None:
        """`order_id`, an OCO leg, works or ended (or was `canceled`): end the other leg (EXPIRED,
        oco_trigger; CANCELED with it) and unlink both. A leg the same trades triggered is already
        off the book, waiting in `queue` to run: it is taken out of it."""
        other = self._oco.pop(order_id, None)
        if other is None:
            return
        del self._oco[other]
        if queue is None:
            queue = self._cascade
        status, reason = (OrderStatus.CANCELED, "") if canceled else (OrderStatus.EXPIRED, Reason.OCO_TRIGGER)
        order = self._orders.get(other) or self._stops.get(other)
        if order is not None:
            self._cancel(order, out, status, reason)
            return
        for stop in queue or ():
            if stop.order_id == other:
                queue.remove(stop)
                out.append(OrderReport(other, stop.account, status, 0, 0, 0, reason))
                return

    def order_lists(self) -> list[tuple[int, int]]:
        """The open OCO pairs as (smaller id, larger id), sorted."""
        return sorted((a, b) for a, b in self._oco.items() if a < b)

    def _validate_oco(self) -> None:
        for a, b in self._oco.items():
            oa, ob = self.order(a), self.order(b)
            if self._oco.get(b) != a or oa is None or ob is None or oa.account != ob.account or oa.side != ob.side:
                raise InvariantError(f"{self.symbol}: OCO legs {a} and {b} are not two open orders of one "
                                     "account and side")

