"""Stop orders in the book: filing one until its trigger, taking off those a range of trade prices
triggers, following trailing stops through each trade price, and running them (with those their own
trades trigger) as the orders they become. A part of OrderBook (book.py mixes it in; its module doc
states the rules), kept in its own module so the matching core stays readable in one sitting."""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections import deque

from ..model.enums import OrderStatus, OrderType, Side
from ..model.reasons import Reason
from .records import OrderReport, Trade, TrailingStarted, Triggered

_NEW = OrderStatus.NEW
_REJECTED = OrderStatus.REJECTED
_SELL = Side.SELL
_UNBOUNDED = 1 << 62  # as book.py's
_BIPS = 10_000  # a trailing delta's unit: 1/10,000 of the best price


class StopsMixin:
    """OrderBook's stop-order internals (see book.py)."""

    def _file_stop(self, stop, out: list | None) -> None:
        """File a new stop order until its trigger, or reject it if its condition already holds (a
        trailing stop's: its activation price's; one without starts tracking from the last price)."""
        last = self.last_price
        falls = stop.falls
        if out is not None and last and stop.stop_price and (last <= stop.stop_price if falls else
                                                             last >= stop.stop_price):
            out.append(OrderReport(stop.order_id, stop.account, _REJECTED, 0, 0, 0, Reason.WOULD_TRIGGER))
            return
        self._stops[stop.order_id] = stop
        if stop.trailing_delta:
            self._trailing[stop.order_id] = stop
            if out is not None and not stop.stop_price:
                stop.trail = last
        else:
            insort(self._falls if falls else self._rises, (stop.stop_price, stop.order_id))
        acct = self._by_account.get(stop.account)
        if acct is None:
            self._by_account[stop.account] = acct = {}
        acct[stop.order_id] = stop
        if stop.client_order_id:
            self._by_client[(stop.account, stop.client_order_id)] = stop
        if out is not None:
            out.append(OrderReport(stop.order_id, stop.account, _NEW, 0, 0, stop.qty, ""))
            if stop.trailing_delta and not stop.stop_price:
                out.append(TrailingStarted(stop.order_id, stop.account))

    def _unfile_stop(self, stop) -> None:
        del self._stops[stop.order_id]
        if stop.trailing_delta:
            del self._trailing[stop.order_id]
        else:
            keys = self._falls if stop.falls else self._rises
            del keys[bisect_left(keys, (stop.stop_price, stop.order_id))]
        acct = self._by_account[stop.account]
        del acct[stop.order_id]
        if not acct:
            del self._by_account[stop.account]
        if stop.client_order_id:
            del self._by_client[(stop.account, stop.client_order_id)]

    def _take_triggered(self, low: int, high: int) -> list:
        """Unfile and return, oldest order id first, the stops that trade prices in [low, high] trigger."""
        falls, rises = self._falls, self._rises
        i = bisect_left(falls, (low, 0))  # stop >= low: a fall to `low` reached them
        j = bisect_right(rises, (high, _UNBOUNDED))  # stop <= high: a rise to `high` reached them
        if i == len(falls) and not j:
            return []
        hits = falls[i:] + rises[:j]
        del falls[i:]
        del rises[:j]
        stops = self._stops
        by_account = self._by_account
        taken = []
        for oid in sorted(oid for _, oid in hits):
            stop = stops.pop(oid)
            acct = by_account[stop.account]
            del acct[oid]
            if not acct:
                del by_account[stop.account]
            if stop.client_order_id:
                del self._by_client[(stop.account, stop.client_order_id)]
            taken.append(stop)
        return taken

    def _take_trailed(self, prices: list[int], out: list) -> list:
        """Follow every trailing stop through one pass's trade prices, in trade order: start the ones
        a price activates (it becomes their best), move each one's best, and unfile and return, oldest
        order id first, those a price has moved back from their best by their delta. Appends a
        TrailingStarted for each one started, oldest order id first."""
        started = []
        hits = []
        for stop in self._trailing.values():
            best = stop.trail
            tracking = best or not stop.stop_price
            sells = stop.side == _SELL
            keep = _BIPS - stop.trailing_delta if sells else _BIPS + stop.trailing_delta
            for price in prices:
                if not tracking:  # waiting for its activation price, as a stop waits for its stop price
                    if price <= stop.stop_price if stop.falls else price >= stop.stop_price:
                        tracking = True
                        best = price
                        started.append(stop)
                    continue
                if sells:  # the highest price since it started, and a fall from it
                    if price > best:
                        best = price
                    elif price * _BIPS <= best * keep:
                        hits.append(stop)
                        break
                elif not best or price < best:  # a buy: the lowest price, and a rise from it
                    best = price
                elif price * _BIPS >= best * keep:
                    hits.append(stop)
                    break
            stop.trail = best
        for stop in sorted(started, key=_order_id):
            out.append(TrailingStarted(stop.order_id, stop.account))
        for stop in hits:
            self._unfile_stop(stop)
        return sorted(hits, key=_order_id)

    def _take_reached(self, first: int, last: int, records: list, out: list) -> list:
        """Unfile and return, oldest order id first, the stops one pass's trades triggered: `first`
        and `last` are its first and last trade prices (which bound the others), `records` its
        records (the trailing stops follow each of its trade prices)."""
        hits = self._take_triggered(min(first, last), max(first, last))
        if self._trailing:
            prices = []
            for r in records:
                if type(r) is Trade and (not prices or prices[-1] != r.price):
                    prices.append(r.price)
            trailed = self._take_trailed(prices, out)
            if trailed:
                hits = sorted(hits + trailed, key=_order_id) if hits else trailed
        return hits

    def _run_triggered(self, first_price: int, timestamp: int, out: list) -> None:
        """Run the stops a command's trades triggered, and those their own trades trigger, in turn
        (each through place() as the order it becomes; _cascading keeps place() from starting a
        cascade of its own inside this one)."""
        queue = deque(self._take_reached(first_price, self.last_price, out, out))
        self._cascading = True
        self._cascade = queue
        try:
            while queue:
                stop = queue.popleft()
                leg = bool(self._oco) and stop.order_id in self._oco
                if leg:  # an OCO leg works: the other leg goes
                    self._cancel_other_leg(stop.order_id, out, queue)
                out.append(Triggered(stop.order_id, stop.account))
                records = self.place(stop.order_id, stop.account, stop.side, OrderType(stop.type).working_type,
                                     stop.time_in_force, stop.price, stop.qty, stop.quote_qty, stop.client_order_id,
                                     stop.stp, timestamp, own_hold=leg)
                out += records
                first = next((r.price for r in records if type(r) is Trade), 0)
                if first and self._stops:
                    queue.extend(self._take_reached(first, self.last_price, records, out))
        finally:
            self._cascading = False
            self._cascade = None


def _order_id(stop) -> int:
    return stop.order_id

