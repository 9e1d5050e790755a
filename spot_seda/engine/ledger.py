"""Balances per (account, asset): available and frozen integers, holds per order, fees — pure and exact.

Every operation returns `(code, changes)`: a ResultCode (expected failures change nothing) and the
list of `BalanceChange` records it made, each carrying both the deltas and the writer's resulting
view (the SpotBalance fields of model/entities.py). `ref` is the order id for freeze, trade, fee
and release changes (so a replica can keep holds per order), the transfer id for deposit/withdraw.

Money rules: amounts are integers (10**-8 units); fee rates are ppm of what a side receives, in the
asset it receives (Binance), rounded down (in the user's favour); the fee goes to `fee_account`.
Conservation holds exactly after every operation: per asset, the sum of available + frozen over all
accounts (fee account included) equals deposits − withdrawals; nothing is ever negative; an
account's frozen amount of an asset equals the sum of its open holds.

How two processes share balances without a lock and without double spending
---------------------------------------------------------------------------
Acquiring owns the only Ledger of the live node, and Settlement owns the moves of frozen money:

- Acquiring is the single writer that DEcreases `available`: `freeze` (an order's hold, before the
  order is journaled and sent to Match) and `withdraw`; deposits too, since it is the API edge. It
  checks and freezes in one step on one thread, and publishes its changes on BalanceChangeLog.
- Settlement (stages/settlement.py) reads only Match's ordered stream: trades, then the order
  updates they cause, an order's first update repeating what Acquiring froze for it. Its own Ledger
  holds only those holds (`adopt_hold`) and what has moved through them, and `settle_trade` /
  `release` make its changes — frozen funds move to the counterparty, proceeds are credited less the
  fee, leftovers are released (`reduce_hold`: the part an open order no longer needs), `ref`
  naming the order whose hold is drawn on: it only INcreases
  available and only DEcreases frozen, and only within the hold an order was given.
- Acquiring applies Settlement's changes with `apply(changes)` (deltas, not absolutes).

Acquiring sees Settlement's credits late, never early, so its view of available is at most the
truth: a freeze it accepts is covered by funds that really exist (no double spend, invariant 3).
Frozen funds are only ever touched by Settlement inside a hold, and a hold is created only by
Acquiring before the order reaches Match, so neither side can spend the other's money. The same
class also runs whole (`settle_trade`, `release`) in the engine benchmark and the property tests,
where it checks the rules Settlement follows; the fee account is credited by deltas that consumers
sum (the absolute fields are only the writer's view).
"""

from __future__ import annotations

import hashlib

import msgspec

from ..model.enums import OrderType, Side
from ..model.symbols import SymbolRules, fee_on
from .results import InvariantError, ResultCode

_OK = ResultCode.OK
# read once: an enum member read through its class costs ~0.2 µs on Python 3.11 (EnumType.__getattr__)
_BUY, _SELL, _MARKET, _FIRST_STOP = Side.BUY, Side.SELL, OrderType.MARKET, OrderType.STOP_LOSS


class Balance(msgspec.Struct, gc=False, array_like=True):
    """One account's amount of one asset: what it may spend, and what its open orders hold."""

    available: int = 0
    frozen: int = 0


class Hold(msgspec.Struct, gc=False, array_like=True):
    """What an order froze when it was accepted, less what its trades have taken from it since (the
    two legs of an OCO share one)."""

    account: int
    asset: str
    amount: int


class BalanceChange(msgspec.Struct, array_like=True, gc=False, frozen=True):
    """One balance's change: deltas, then the writer's view after it, why, and the order/transfer id."""

    account: int
    asset: str
    available_delta: int
    frozen_delta: int
    available: int
    frozen: int
    reason: str  # deposit | withdraw | freeze | trade | fee | release | reduce
    ref: int


def net_changes(changes: list[BalanceChange]) -> list[BalanceChange]:
    """Several changes of one command as one per (account, asset, reason, ref): deltas summed, the
    writer's view the last one's, in the order of each key's first change. A taker that fills
    against three makers pays, receives and is charged its fee three times; its account sees one
    change of each (Binance's outboundAccountPosition likewise reports a command's net balances).
    Every balance ends the same, so funds are conserved; only how many entries carry it changes."""
    if len(changes) < 2:
        return changes
    merged: dict[tuple, BalanceChange] = {}
    for c in changes:
        key = (c.account, c.asset, c.reason, c.ref)
        seen = merged.get(key)
        merged[key] = c if seen is None else BalanceChange(
            c.account, c.asset, seen.available_delta + c.available_delta, seen.frozen_delta + c.frozen_delta,
            c.available, c.frozen, c.reason, c.ref)
    return list(merged.values()) if len(merged) < len(changes) else changes


def order_hold(rules: SymbolRules, side: int, type: int, price: int, qty: int, quote_qty: int) -> tuple[str, int]:
    """(asset, amount) an order must freeze: limit buy price x qty in quote; market buy its quote
    budget; sell its qty in base. Amount 0 means the order lacks the cap it needs (a market buy
    without quote_qty, a sell without qty): Acquiring must give it one (e.g. a market buy by qty gets
    a quote budget), since the book never spends beyond its caps. A stop order freezes, from its
    entry, what the order it becomes would (Binance: a STOP_LOSS_LIMIT buy holds price x qty).
    """
    if type >= _FIRST_STOP:
        type = OrderType(type).working_type
    if side == _BUY:
        if type == _MARKET:
            return rules.quote, quote_qty
        return rules.quote, rules.notional(price, qty)
    return rules.base, qty


_PACK = msgspec.msgpack.Encoder()
_UNPACK_BALANCES = msgspec.msgpack.Decoder(dict[int, dict[str, Balance]])
_UNPACK_HOLDS = msgspec.msgpack.Decoder(dict[int, Hold])


class Ledger:
    """Balances, holds per order, and net deposits per asset (for the conservation check)."""

    def __init__(self, fee_account: int = 0) -> None:
        self.fee_account = fee_account
        self._balances: dict[int, dict[str, Balance]] = {}  # account -> asset -> its balance
        self._holds: dict[int, Hold] = {}  # order id -> what it has frozen still
        self._net: dict[str, int] = {}  # asset -> deposits - withdrawals
        # the two legs of an OCO share one hold (the same Hold object under both ids) while both
        # are open: order id -> the other leg's id (share_hold)
        self._links: dict[int, int] = {}

    def __getstate__(self) -> dict:
        """Pickle (a stage snapshot): the balances and the holds, one object per account's asset and
        per open order, each as one msgpack blob (as model/orders.py PackedOrders: a writer pickled
        them one object at a time, 10-30 ms of CPU for 19,000-22,000 holds); an amount beyond msgpack's
        64 bits leaves them as objects."""
        try:
            balances = _PACK.encode(self._balances)
            holds = _PACK.encode(self._holds)  # (an OCO's shared hold under both ids: linked again)
        except OverflowError:  # an amount beyond msgpack's 64 bits (ints have no bound): pickled as they are
            return dict(self.__dict__)
        return {**self.__dict__, "_balances": balances, "_holds": holds}

    def __setstate__(self, state: dict) -> None:
        """Unpickle (a stage snapshot); one written before OCOs has no shared holds, one written
        before Balance and Hold has lists ([available, frozen], [account, asset, amount])."""
        self.__dict__.update(state)
        self.__dict__.setdefault("_links", {})
        if type(self._balances) is bytes:  # (__getstate__'s)
            self._balances = _UNPACK_BALANCES.decode(self._balances)
            holds = self._holds = _UNPACK_HOLDS.decode(self._holds)
            for order_id, other in self._links.items():
                if order_id > other:  # (the two legs of an OCO: one object again, as restore() links them)
                    holds[order_id] = holds[other]
            return
        for assets in self._balances.values():
            for asset, b in assets.items():
                if type(b) is list:
                    assets[asset] = Balance(*b)
        shared: dict[int, Hold] = {}  # (an OCO's legs keep sharing one object)
        for order_id, h in self._holds.items():
            if type(h) is list:
                self._holds[order_id] = shared.setdefault(id(h), Hold(*h))

    # ---------------------------------------------------------------- queries

    def balance(self, account: int, asset: str) -> tuple[int, int]:
        """(available, frozen) of one account's asset; zeros if never seen."""
        b = self._balances.get(account, {}).get(asset)
        return (b.available, b.frozen) if b else (0, 0)

    def balances(self, account: int) -> dict[str, tuple[int, int]]:
        """Every asset of an account: asset -> (available, frozen)."""
        return {asset: (b.available, b.frozen) for asset, b in sorted(self._balances.get(account, {}).items())}

    def still_overdrawn(self) -> list[tuple[int, str, int]]:
        """(account, asset, available) of the balances a forced freeze or withdrawal took below zero
        that are below zero still (and forget the others): cheap enough to ask after every settle."""
        marked = self._overdrawn()
        out = []
        for account, asset in sorted(marked):
            available = self.balance(account, asset)[0]
            if available < 0:
                out.append((account, asset, available))
            else:
                marked.discard((account, asset))
        return out

    def _overdrawn(self) -> set[tuple[int, str]]:
        try:
            return self.__dict__["overdrawn"]
        except KeyError:  # (a ledger restored from a snapshot older than this set)
            self.__dict__["overdrawn"] = marked = set()
            return marked

    def negative(self) -> list[tuple[int, str, int, int]]:
        """(account, asset, available, frozen) of every balance below zero (none, in a sound ledger)."""
        return [(account, asset, b.available, b.frozen) for account, assets in sorted(self._balances.items())
                for asset, b in sorted(assets.items()) if b.available < 0 or b.frozen < 0]

    def hold(self, order_id: int) -> tuple[int, str, int] | None:
        """(account, asset, amount still frozen) for an order, or None."""
        h = self._holds.get(order_id)
        return (h.account, h.asset, h.amount) if h else None

    # ---------------------------------------------------------------- Acquiring's operations

    def deposit(self, account: int, asset: str, amount: int, ref: int = 0) -> tuple[ResultCode, list[BalanceChange]]:
        """Credit `amount` to available."""
        if amount <= 0:
            return ResultCode.BAD_AMOUNT, []
        self._net[asset] = self._net.get(asset, 0) + amount
        return _OK, [self._move(account, asset, amount, 0, "deposit", ref)]

    def withdraw(self, account: int, asset: str, amount: int, ref: int = 0,
                 force: bool = False) -> tuple[ResultCode, list[BalanceChange]]:
        """Debit `amount` from available; NSF (and nothing changes) if not that much is available.
        `force` skips that check (see freeze)."""
        if amount <= 0:
            return ResultCode.BAD_AMOUNT, []
        if not force and self.balance(account, asset)[0] < amount:
            return ResultCode.NSF, []
        self._net[asset] -= amount
        change = self._move(account, asset, -amount, 0, "withdraw", ref)
        if change.available < 0:
            self._overdrawn().add((account, asset))
        return _OK, [change]

    def freeze(self, order_id: int, account: int, asset: str, amount: int,
               force: bool = False) -> tuple[ResultCode, list[BalanceChange]]:
        """Move `amount` from available to frozen under a new hold for `order_id`.

        `force` skips the check that `amount` is available: for a journaled command, which passed
        it once, replayed into a view whose credits (from Settlement) may still be on their way.
        Available may go negative for a while; `negative()` tells whether it stayed so."""
        if amount <= 0:
            return ResultCode.BAD_AMOUNT, []
        if order_id in self._holds:
            return ResultCode.DUPLICATE_HOLD, []
        b = self._balances.get(account, {}).get(asset)
        if not force and (b is None or b.available < amount):
            return ResultCode.NSF, []
        self._holds[order_id] = Hold(account, asset, amount)
        change = self._move(account, asset, -amount, amount, "freeze", order_id)
        if change.available < 0:
            self._overdrawn().add((account, asset))
        return _OK, [change]

    # ---------------------------------------------------------------- Settlement's operations

    def settle_trade(self, rules: SymbolRules, trade, buyer: bool = True, seller: bool = True) -> tuple[ResultCode, list[BalanceChange]]:
        """Settle one trade (a book.Trade or anything with its fields) from the two orders' holds.

        The buyer pays quote_qty from its hold and receives qty base minus its fee; the seller pays
        qty base from its hold and receives quote_qty minus its fee; fees (maker or taker rate by
        role, rounded down) go to the fee account. `buyer`/`seller` False skips that side, for a
        Settlement instance that owns only one side's account. All or nothing: UNKNOWN_HOLD or
        HOLD_EXCEEDED change nothing.
        """
        buyer_is_maker = trade.taker_side == _SELL
        if buyer_is_maker:
            b_order, b_account, s_order, s_account = trade.maker_order_id, trade.maker_account, trade.taker_order_id, trade.taker_account
            b_fee, s_fee = rules.maker_fee_ppm, rules.taker_fee_ppm
        else:
            b_order, b_account, s_order, s_account = trade.taker_order_id, trade.taker_account, trade.maker_order_id, trade.maker_account
            b_fee, s_fee = rules.taker_fee_ppm, rules.maker_fee_ppm
        qty, quote = trade.qty, trade.quote_qty
        legs = []  # (order, account, pay asset, pay amount, receive asset, receive amount, fee ppm)
        if buyer:
            legs.append((b_order, b_account, rules.quote, quote, rules.base, qty, b_fee))
        if seller:
            legs.append((s_order, s_account, rules.base, qty, rules.quote, quote, s_fee))
        for order_id, account, pay_asset, pay, _, _, _ in legs:  # check every leg before changing any
            h = self._holds.get(order_id)
            if h is None or h.account != account or h.asset != pay_asset:
                return ResultCode.UNKNOWN_HOLD, []
            if h.amount < pay:
                return ResultCode.HOLD_EXCEEDED, []
        changes = []
        fees = []  # (after both sides' trade changes: the order the change log has always had)
        for order_id, account, pay_asset, pay, get_asset, get, fee_ppm in legs:
            self._holds[order_id].amount -= pay
            fee = fee_on(get, fee_ppm)
            changes.append(self._move(account, pay_asset, 0, -pay, "trade", order_id))
            changes.append(self._move(account, get_asset, get - fee, 0, "trade", order_id))
            if fee:
                fees.append((get_asset, fee, order_id))
        for asset, fee, order_id in fees:
            changes.append(self._move(self.fee_account, asset, fee, 0, "fee", order_id))
        return _OK, changes

    def adopt_hold(self, order_id: int, account: int, asset: str, amount: int) -> ResultCode:
        """Take over a hold another writer made, as Settlement does: Match's first report of an order
        repeats what Acquiring froze for it. Nothing is published; the amount enters this ledger's
        frozen funds (and its net inflow, so conservation holds for a ledger that sees only holds)."""
        if amount < 0:
            return ResultCode.BAD_AMOUNT
        if order_id in self._holds:
            return ResultCode.DUPLICATE_HOLD
        self._holds[order_id] = Hold(account, asset, amount)
        self._slot(account, asset).frozen += amount
        self._net[asset] = self._net.get(asset, 0) + amount
        return _OK

    def share_hold(self, order_id: int, with_order_id: int) -> ResultCode:
        """An OCO's second leg draws on its first leg's hold (Binance freezes an OCO's funds once:
        only one leg can ever trade). Nothing moves; the hold is released once both legs ended."""
        h = self._holds.get(with_order_id)
        if h is None or with_order_id in self._links:
            return ResultCode.UNKNOWN_HOLD
        if order_id in self._holds:
            return ResultCode.DUPLICATE_HOLD
        self._holds[order_id] = h
        self._links[order_id] = with_order_id
        self._links[with_order_id] = order_id
        return _OK

    def release(self, order_id: int) -> tuple[ResultCode, list[BalanceChange]]:
        """End an order's hold: whatever it still has frozen returns to available; an OCO leg whose
        other leg is still open leaves the shared hold to it (nothing moves).

        Always one change, zero deltas included, so that replicas drop the hold too.
        """
        h = self._holds.pop(order_id, None)
        if h is None:
            return ResultCode.UNKNOWN_HOLD, []
        account, asset, amount = h.account, h.asset, h.amount
        if self._unlink(order_id):
            return _OK, [self._move(account, asset, 0, 0, "release", order_id)]
        return _OK, [self._move(account, asset, amount, -amount, "release", order_id)]

    def _unlink(self, order_id: int) -> bool:
        other = self._links.pop(order_id, None)
        if other is None:
            return False
        del self._links[other]
        return True

    def reduce_hold(self, order_id: int, keep: int) -> tuple[ResultCode, list[BalanceChange]]:
        """An open order needs only `keep` frozen from now on (amended, engine/amend.py, or cut by
        DECREMENT self-trade prevention): what its hold has above that returns to available (reason
        "reduce"; always one change, zero deltas included,
        so that a replica waiting for it hears of it)."""
        h = self._holds.get(order_id)
        if h is None:
            return ResultCode.UNKNOWN_HOLD, []
        if keep < 0:
            return ResultCode.BAD_AMOUNT, []
        freed = max(0, h.amount - keep)
        h.amount -= freed
        return _OK, [self._move(h.account, h.asset, freed, -freed, "reduce", order_id)]

    # ---------------------------------------------------------------- replication and state

    def apply(self, changes) -> None:
        """Apply another writer's published changes (their deltas) to this replica, holds included.

        Raises InvariantError if a change would make a balance or hold negative: the two writers'
        streams disagree, which the ownership rules above make impossible unless something is broken.
        """
        self.apply_rows([(c.account, c.asset, c.available_delta, c.frozen_delta, c.reason, c.ref) for c in changes])

    def apply_rows(self, rows) -> None:
        """`apply` for changes as (account, asset, available_delta, frozen_delta, reason, ref) rows:
        what Acquiring reads from the change log, picked from each entry's fields in one C call."""
        balances = self._balances
        for account, asset, da, df, reason, ref in rows:
            if reason == "freeze":
                if ref in self._holds:
                    raise InvariantError(f"replicated freeze for order {ref} which already has a hold")
                self._holds[ref] = Hold(account, asset, df)
            elif reason == "trade" and df:
                h = self._holds.get(ref)
                if h is None or h.amount + df < 0:
                    raise InvariantError(f"replicated trade for order {ref} exceeds its hold")
                h.amount += df
            elif reason == "reduce":
                h = self._holds.get(ref)
                if h is None or h.amount + df < 0:
                    raise InvariantError(f"replicated amend of order {ref} exceeds its hold")
                h.amount += df
            elif reason == "release":
                self._unlink(ref)  # (an OCO leg: its zero change leaves the hold to the other leg)
                if self._holds.pop(ref, None) is None:
                    raise InvariantError(f"replicated release of order {ref} which has no hold")
            elif reason in ("deposit", "withdraw"):
                self._net[asset] = self._net.get(asset, 0) + da
            assets = balances.get(account)  # _slot inlined, as in _move: a row per balance change read
            b = assets.get(asset) if assets is not None else None
            if b is None:
                b = self._slot(account, asset)
            if (da < 0 and b.available + da < 0) or (df < 0 and b.frozen + df < 0):  # (a forced freeze
                # may have left available below zero for a while: a credit is no error then)
                raise InvariantError(f"replicated change makes {account}:{asset} negative: "
                                     f"{(account, asset, da, df, reason, ref)}")
            b.available += da
            b.frozen += df

    def check_invariants(self) -> None:
        """Conservation per asset, nothing negative, frozen == sum of holds; raise InvariantError if not."""
        totals: dict[str, int] = {}
        held: dict[tuple[int, str], int] = {}
        shared = set()
        for order_id, other in self._links.items():
            if self._links.get(other) != order_id or self._holds.get(order_id) is not self._holds.get(other) \
                    or order_id not in self._holds:
                raise InvariantError(f"OCO legs {order_id} and {other} do not share one hold")
            if order_id > other:
                shared.add(order_id)  # counted once, under the smaller id
        for order_id, h in self._holds.items():
            if order_id in shared:
                continue
            if h.amount < 0:
                raise InvariantError(f"hold of order {order_id} is negative: {h.amount}")
            held[(h.account, h.asset)] = held.get((h.account, h.asset), 0) + h.amount
        for account, assets in self._balances.items():
            for asset, b in assets.items():
                available, frozen = b.available, b.frozen
                if available < 0 or frozen < 0:
                    raise InvariantError(f"negative balance {account}:{asset}: {available}, {frozen}")
                if frozen != held.pop((account, asset), 0):
                    raise InvariantError(f"frozen {account}:{asset} = {frozen} differs from its holds")
                totals[asset] = totals.get(asset, 0) + available + frozen
        if any(held.values()):
            raise InvariantError(f"holds without frozen balance: {held}")
        for asset in set(totals) | set(self._net):
            if totals.get(asset, 0) != self._net.get(asset, 0):
                raise InvariantError(f"{asset} not conserved: balances {totals.get(asset, 0)} != deposits - withdrawals {self._net.get(asset, 0)}")

    def snapshot(self) -> dict:
        """Plain, msgspec-encodable state (sorted, so equal ledgers give equal bytes)."""
        return {
            "fee_account": self.fee_account,
            "balances": [[a, s, b.available, b.frozen] for a, assets in sorted(self._balances.items())
                         for s, b in sorted(assets.items())],
            "holds": [[o, h.account, h.asset, h.amount] for o, h in sorted(self._holds.items())],
            "net": sorted(self._net.items()),
            "links": sorted(self._links.items()),
        }

    @classmethod
    def restore(cls, snapshot: dict) -> Ledger:
        """A ledger in exactly the state `snapshot()` captured."""
        ledger = cls(snapshot["fee_account"])
        for account, asset, available, frozen in snapshot["balances"]:
            ledger._balances.setdefault(account, {})[asset] = Balance(available, frozen)
        ledger._holds = {o: Hold(a, s, amount) for o, a, s, amount in snapshot["holds"]}
        ledger._net = dict((asset, n) for asset, n in snapshot["net"])
        for order_id, other in snapshot.get("links", ()):
            ledger._links[order_id] = other
            if order_id > other:
                ledger._holds[order_id] = ledger._holds[other]
        ledger.check_invariants()
        return ledger

    def state_hash(self) -> str:
        """Digest of snapshot(): equal hashes mean equal ledgers."""
        return hashlib.blake2b(msgspec.msgpack.encode(self.snapshot()), digest_size=16).hexdigest()

    # ---------------------------------------------------------------- internals

    def _slot(self, account: int, asset: str) -> Balance:
        assets = self._balances.get(account)
        if assets is None:
            self._balances[account] = assets = {}
        b = assets.get(asset)
        if b is None:
            assets[asset] = b = Balance()
        return b

    def _move(self, account: int, asset: str, d_available: int, d_frozen: int, reason: str, ref: int) -> BalanceChange:
        assets = self._balances.get(account)  # _slot inlined: this runs several times per trade
        b = assets.get(asset) if assets is not None else None
        if b is None:
            b = self._slot(account, asset)
        b.available += d_available
        b.frozen += d_frozen
        return BalanceChange(account, asset, d_available, d_frozen, b.available, b.frozen, reason, ref)
