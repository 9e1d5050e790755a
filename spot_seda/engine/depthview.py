"""Aggregated depth derived from order events alone: the REST and WebSocket sides' view of a book.

Match owns the book; every other process rebuilds the aggregated levels from the SpotOrder entries on
OrderChangeLog: an order rests with its leaves quantity once Match has reported it (status NEW or
PARTIALLY_FILLED) and leaves the book when it is final. The same events in the same order give the
same levels and the same `update_id` in every process, so REST `lastUpdateId` and WebSocket depth
diffs (`U`/`u`) chain exactly.
"""

from __future__ import annotations

from ..model.enums import OrderStatus

#: the statuses of an order that may rest on the book (PENDING_NEW: not placed yet)
RESTING = frozenset({OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED})


class DepthView:
    """Price levels of one symbol: price -> total resting quantity, per side."""

    __slots__ = ("bids", "asks", "update_id", "resting", "changed", "_best_bid", "_best_ask")

    def __init__(self, track_changes: bool = True) -> None:
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.update_id = 0
        self.resting: dict[int, tuple[bool, int, int]] = {}  # order id -> (is_bid, price, leaves)
        #: (is_bid, price) -> new total, since the last take_changes; None where nobody takes them
        #: (a view that only answers queries: else every level ever touched stays in it for good)
        self.changed: dict[tuple[bool, int], int] | None = {} if track_changes else None
        #: the best bid's and ask's prices as far as known (None: not known, found again by best()).
        #: Push asks for them after every batch that moved a level; a max() over every level each
        #: time cost it about a fifth of its CPU at 500 commands/s (BENCHMARKS.md, "Pipeline",
        #: thirtieth session). Kept while levels come and go; only the best level's leaving makes
        #: it unknown.
        self._best_bid: int | None = None
        self._best_ask: int | None = None

    def __getstate__(self) -> dict:  # (pickled in snapshots: the levels, not the known best)
        return {"bids": self.bids, "asks": self.asks, "update_id": self.update_id, "resting": self.resting,
                "changed": self.changed}

    def __setstate__(self, state) -> None:
        if isinstance(state, tuple):  # (None, slots): a snapshot written before __getstate__
            state = state[1]
        for name, value in state.items():
            setattr(self, name, value)
        self._best_bid = self._best_ask = None

    def apply(self, order_id: int, is_bid: bool, price: int, leaves: int, status: OrderStatus) -> None:
        """Record an order's new state after Match reported it (leaves = qty - executed)."""
        old = self.resting.pop(order_id, None)
        if old is not None:
            self._add(old[0], old[1], -old[2])
        if status in RESTING and leaves > 0 and price > 0:
            self.resting[order_id] = (is_bid, price, leaves)
            self._add(is_bid, price, leaves)
        if old is not None or order_id in self.resting:
            self.update_id += 1

    def _add(self, is_bid: bool, price: int, qty: int) -> None:
        side = self.bids if is_bid else self.asks
        total = side.get(price, 0) + qty
        if total:
            side[price] = total
            if is_bid:
                if self._best_bid is not None and price > self._best_bid:
                    self._best_bid = price
            elif self._best_ask is not None and price < self._best_ask:
                self._best_ask = price
        else:
            side.pop(price, None)
            if is_bid:
                if price == self._best_bid:
                    self._best_bid = None
            elif price == self._best_ask:
                self._best_ask = None
        if self.changed is not None:
            self.changed[is_bid, price] = total

    def top(self, n: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """The best n bid and ask levels as (price, qty), best first."""
        bids = sorted(self.bids.items(), reverse=True)[:n]
        asks = sorted(self.asks.items())[:n]
        return bids, asks

    def best(self) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
        """The best bid and ask levels as (price, qty), None for an empty side."""
        bids, asks = self.bids, self.asks
        bid = ask = None
        if bids:
            price = self._best_bid
            if price is None:
                price = self._best_bid = max(bids)
            bid = (price, bids[price])
        if asks:
            price = self._best_ask
            if price is None:
                price = self._best_ask = min(asks)
            ask = (price, asks[price])
        return bid, ask

    def take_changes(self) -> dict[tuple[bool, int], int]:
        """Level changes since the last call (for depth diff streams; a view made with
        track_changes=False has none)."""
        changed = self.changed
        if changed is None:
            return {}
        self.changed = {}
        return changed
