"""The order book's state seen whole: queries (best prices, depth, open orders), snapshot and
restore, state hash and the invariant check. Mixed into OrderBook (book.py, whose module doc
describes the structures these read); none of it runs inside a command.
"""

from __future__ import annotations

import hashlib
from typing import Self

import msgspec

from ..model.enums import OrderType, Side
from ..model.symbols import SymbolRules
from .records import RestingOrder, StopOrder
from .results import InvariantError

_BUY = Side.BUY
_SELL = Side.SELL
_FIRST_STOP = OrderType.STOP_LOSS  # types from here on are stop orders


class BookStateMixin:
    """Read-only views of an OrderBook, and its snapshot, restore, hash and invariants."""

    # ---------------------------------------------------------------- queries

    def best_bid(self) -> int:
        """Best bid price, 0 when there are no bids."""
        keys = self._keys[_BUY]
        return keys[-1] if keys else 0

    def best_ask(self) -> int:
        """Best ask price, 0 when there are no asks."""
        keys = self._keys[_SELL]
        return -keys[-1] if keys else 0

    def top(self) -> tuple[int, int, int, int]:
        """(bid price, bid qty, ask price, ask qty) of the best levels, zeros for an empty side (bookTicker)."""
        bk, ak = self._keys
        bid = self._levels[_BUY][bk[-1]] if bk else None
        ask = self._levels[_SELL][ak[-1]] if ak else None
        return (bid.price if bid else 0, bid.total if bid else 0, ask.price if ask else 0, ask.total if ask else 0)

    def depth(self, n: int = 20) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Top `n` aggregated levels: (bids best first, asks best first) as (price, qty) pairs; O(n)."""
        result = []
        for side in (_BUY, _SELL):
            keys, levels = self._keys[side], self._levels[side]
            result.append([(levels[k].price, levels[k].total) for k in keys[: -n - 1 : -1]] if n > 0 else [])
        return result[0], result[1]

    def order(self, order_id: int) -> RestingOrder | StopOrder | None:
        """The open order with this id (resting, or a stop waiting for its trigger), or None."""
        return self._orders.get(order_id) or self._stops.get(order_id)

    def open_orders(self, account: int) -> list[RestingOrder | StopOrder]:
        """`account`'s open orders in this book (pending stops included), oldest order id first."""
        return [o for _, o in sorted(self._by_account.get(account, {}).items())]

    def stops(self) -> list[StopOrder]:
        """The stop orders waiting for their trigger, oldest order id first."""
        return [o for _, o in sorted(self._stops.items())]

    def __len__(self) -> int:
        return len(self._orders)

    # ---------------------------------------------------------------- state

    def snapshot(self) -> dict:
        """Plain, msgspec-encodable state: trade counter, last price, open orders in priority order
        per side and pending stops in order id order (a trailing stop's row ends with its delta and
        best price)."""
        sides = []
        for side in (_BUY, _SELL):
            levels = self._levels[side]
            rows = []
            for key in reversed(self._keys[side]):
                for o in levels[key].orders:
                    if o.leaves:
                        rows.append([o.order_id, o.account, o.price, o.leaves, o.executed, o.cum_quote, o.client_order_id, o.stp,
                                     o.timestamp, o.prevented])
            sides.append(rows)
        stops = [[o.order_id, o.account, o.side, o.type, o.time_in_force, o.price, o.qty, o.quote_qty,
                  o.client_order_id, o.stp, o.timestamp, o.stop_price,
                  *((o.trailing_delta, o.trail) if o.trailing_delta else ())] for o in self.stops()]
        state = {"symbol": self.symbol, "last_trade_id": self.last_trade_id, "bids": sides[0], "asks": sides[1],
                 "last_price": self.last_price, "stops": stops, "oco": [list(pair) for pair in self.order_lists()],
                 "oto": [[w, *[list(x) for x in p]] for w, p in sorted(self._oto.items())]}
        if self.last_prevented_match_id >= 0:  # (a book that never prevented a match: as it was before)
            state["last_prevented_match_id"] = self.last_prevented_match_id
        return state

    @classmethod
    def restore(cls, rules: SymbolRules, snapshot: dict) -> Self:
        """A book in exactly the state `snapshot()` captured (same priorities, same next trade id)."""
        if snapshot["symbol"] != rules.symbol:
            raise ValueError(f"snapshot of {snapshot['symbol']} given to a {rules.symbol} book")
        book = cls(rules)
        book.last_trade_id = snapshot["last_trade_id"]
        book.last_prevented_match_id = snapshot.get("last_prevented_match_id", -1)
        for side, rows in ((_BUY, snapshot["bids"]), (_SELL, snapshot["asks"])):
            for oid, account, price, leaves, executed, cum_quote, cid, stp, ts, *prevented in rows:
                book._rest(RestingOrder(oid, account, side, price, leaves, executed, cum_quote, cid, stp, ts, *prevented),
                           None)
        book.last_price = snapshot.get("last_price", 0)
        for row in snapshot.get("stops", ()):
            book._file_stop(StopOrder(*row), None)
        for a, b in snapshot.get("oco", ()):
            book._oco[a], book._oco[b] = b, a
        for working, *pending in snapshot.get("oto", ()):
            book._oto[working] = tuple(tuple(p) for p in pending)
            for p in pending:
                book._oto_of[p[0]] = working
        book.check_invariants()
        return book

    def state_hash(self) -> str:
        """Digest of snapshot(): equal hashes mean equal books (for determinism tests)."""
        return hashlib.blake2b(msgspec.msgpack.encode(self.snapshot()), digest_size=16).hexdigest()

    def check_invariants(self) -> None:
        """Check every internal invariant; raise InvariantError on the first broken one."""
        seen: dict[int, RestingOrder] = {}
        for side in (_BUY, _SELL):
            keys, levels = self._keys[side], self._levels[side]
            if keys != sorted(set(keys)) or set(keys) != set(levels):
                raise InvariantError(f"{self.symbol}: price keys of side {side} unsorted or out of step with levels")
            for key, level in levels.items():
                live = [o for o in level.orders if o.leaves]
                if not live or level.count != len(live) or level.total != sum(o.leaves for o in live):
                    raise InvariantError(f"{self.symbol}: level {level.price} totals/count disagree with its orders")
                if key != (level.price if side == _BUY else -level.price):
                    raise InvariantError(f"{self.symbol}: level {level.price} filed under key {key}")
                for o in live:
                    if o.side != side or o.price != level.price or o.leaves < 0 or o.order_id in seen:
                        raise InvariantError(f"{self.symbol}: order {o.order_id} misfiled")
                    seen[o.order_id] = o
        bid, ask = self.best_bid(), self.best_ask()
        if bid and ask and bid >= ask:
            raise InvariantError(f"{self.symbol}: crossed book at rest: bid {bid} >= ask {ask}")
        if seen.keys() != self._orders.keys() or any(self._orders[i] is not o for i, o in seen.items()):
            raise InvariantError(f"{self.symbol}: order index disagrees with the levels")
        last = self.last_price
        falls, rises = [], []
        trailing = {}
        for oid, o in self._stops.items():
            if oid != o.order_id or oid in seen or o.type < _FIRST_STOP:
                raise InvariantError(f"{self.symbol}: stop order {oid} misfiled")
            reached = last and (last <= o.stop_price if o.falls else last >= o.stop_price)
            if o.trailing_delta:
                trailing[oid] = o
                if o.stop_price and not o.trail and reached:
                    raise InvariantError(f"{self.symbol}: trailing stop {oid} not started past its activation "
                                         f"at {last}")
                continue
            if reached:
                raise InvariantError(f"{self.symbol}: stop order {oid} pending past its trigger at {last}")
            (falls if o.falls else rises).append((o.stop_price, oid))
        if sorted(falls) != self._falls or sorted(rises) != self._rises:
            raise InvariantError(f"{self.symbol}: stop trigger lists disagree with the pending stops")
        if trailing.keys() != self._trailing.keys() or any(self._trailing[i] is not o for i, o in trailing.items()):
            raise InvariantError(f"{self.symbol}: trailing stop index disagrees with the pending stops")
        every = [*seen.values(), *self._stops.values()]
        by_account = {a: set(d) for a, d in self._by_account.items()}
        expected: dict[int, set[int]] = {}
        for o in every:
            expected.setdefault(o.account, set()).add(o.order_id)
        if by_account != expected or any(d[i] is not self.order(i) for d in self._by_account.values() for i in d):
            raise InvariantError(f"{self.symbol}: account index disagrees with the open orders")
        clients = {(o.account, o.client_order_id): o for o in every if o.client_order_id}
        if clients != self._by_client:
            raise InvariantError(f"{self.symbol}: client order id index disagrees with the open orders")
        self._validate_oco()
        self._validate_oto()
