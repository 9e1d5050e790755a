"""SettlementStage: consumes trades (TradeChangeLog) and Match's order updates (OrderChangeLog),
produces balance changes (BalanceChangeLog, keyed by symbol like its input): each side's frozen
funds move to the counterparty, proceeds are credited less the fee (to the fee account), whatever an order still
holds frozen when it ends is released, and what an amended order no longer needs (its report's
`hold`, engine/amend.py) too.

The money moves are the engine's (engine/ledger.py: `settle_trade`, `release`, checked by the
property tests against a naive twin); this stage maps Match's entries to them and their changes to
entries. Its Ledger needs no balances from elsewhere: a trade says everything about the money it
moves (a buyer always pays from frozen quote, a seller from frozen base), and an order's first update
from Match repeats what Acquiring froze for it (`adopt_hold`). It reads a single producer (Match),
whose trades always precede the order updates they cause, so no join across producers is ever
needed. Its changes only move frozen funds out and credit available funds: Acquiring, the one place
that freezes, applies them to its view of the balances and can only ever see less available money
than there is, never more (no double spend).

Its output is keyed by the symbol of the command that caused it, not by account, so what it sends
to partition p follows from its input of partition p alone (the topics are co-partitioned): however
its input partitions interleave (over Kafka, by timing), each (BalanceChangeLog, partition) stream
carries the same entries under the same sequences, byte-identical to a replay, and a re-read sends
exactly what consumers already have. An account's changes from two symbols then travel in two
partitions; nothing needs their relative order (balance deltas commute, and each order's changes
stay in its symbol's partition, in order).
"""

from __future__ import annotations

from ..engine.records import Trade
from ..engine.ledger import BalanceChange, Ledger, net_changes
from ..engine.results import ResultCode
from ..model.changelog import ChangeLogEntry, TradeFields, trade_of
from ..model.enums import FINAL_STATUSES, EntityType, Side, Topic
from ..model.reasons import Reason
from .accepting import balance_entries
from .base import Publish, Operator

FEE_ACCOUNT = 0
#: an order a list's rule ended (an OCO's other leg, an OTO's pending orders): a part of its own,
#: as a cancel's report is
_ENDED_BY_ANOTHER = (Reason.OCO_TRIGGER, Reason.OTO_EXPIRED)
_CLOCK = EntityType.CLOCK
_PREVENTED = EntityType.PREVENTED_MATCH
_OK = ResultCode.OK
# read once: an enum member read through its class costs ~0.2 µs on Python 3.11 (EnumType.__getattr__)
_BUY, _SELL = Side.BUY, Side.SELL


class SettlementStage(Operator):
    consumes = (Topic.TRADE, Topic.ORDER)
    produces = (Topic.BALANCE,)
    sources = {Topic.TRADE: ("match",), Topic.ORDER: ("match",)}
    keeps_partitions = True  # keyed by symbol in and out (module docstring)

    def start(self) -> None:
        self.rules = self.ctx.settings.symbol_rules()
        self.ledger = Ledger(fee_account=FEE_ACCOUNT)  # the open orders' holds, as Match reported them
        # trades waiting for their command's order updates, by taker order id
        self.trades: dict[int, list[ChangeLogEntry]] = {}
        # per symbol, the order updates of a command whose end (the taker's report) has not arrived
        # yet: a command's updates may be cut between two input batches (a large publish is split
        # into several messages, and the runner hands at most bus.batch_max entries to one call),
        # and over Kafka another partition's messages may come in between
        self.partial: dict[str, list[tuple[int, dict, int]]] = {}

    def replay_end(self, end: dict) -> None:
        end["settlement_instances"] = self.ctx.instances  # who wrote which balance change

    def handle_events(self, topic: str, entries: list[ChangeLogEntry]) -> list[Publish]:
        """Settle in Match's command order: a command's trades, then its order updates.

        The two topics reach this stage as separate messages whose interleaving depends on timing;
        to keep the output (and its sequences) a function of the commands alone, trades wait here
        until the order updates of their command arrive. Match publishes a command's trades before
        its updates, and ends a command's updates with the taker's report (or the cancel's or the
        amend's result);
        a stop order the command triggered follows as a part of its own: its trades (taker: the
        stop), ended by the stop's report that carries working_time; a trailing stop the command's
        trades started tracking is a part of its own too: one entry, trailing_time (nothing to settle);
        so is an order a list's rule ended (an OCO's other leg, an OTO's pending orders: EXPIRED, or
        CANCELED with a cancel), whose release follows at once.
        """
        out: list[Publish] = []  # in causal order: the runner keeps it per partition
        if topic == Topic.TRADE:
            waiting = self.trades
            for entry in entries:
                if entry.entity_type == _CLOCK:  # a Tick on its way to KLine
                    continue
                if type(t := getattr(entry.change_type, "fields", None)) is not TradeFields:
                    t = trade_of(entry)
                waiting.setdefault(t.taker_order_id, []).append(entry)
            return out
        partial = self.partial
        for entry in entries:
            if entry.entity_type == _PREVENTED:  # a prevented match: nothing moved
                continue
            fields = entry.field_dict()
            group = partial.setdefault(fields["symbol"], [])
            group.append((int(entry.entity_id), fields, entry.timestamp))
            if ("frozen" in fields or "working_time" in fields or fields.get("status") == "CANCELED"
                    or fields.get("reason") in _ENDED_BY_ANOTHER or "trailing_time" in fields
                    or fields.get("cancel_rejected") or fields.get("amended") or fields.get("amend_rejected")):
                del partial[fields["symbol"]]
                self._command(group[-1][0], group, out)
        return out  # what is left in `partial` comes with a later batch

    def restore_state(self, state: dict) -> None:
        """Carry on from a snapshot; one written before the Ledger kept the holds (a dict `holds`:
        order id -> [account, asset, frozen, spent]) has them adopted."""
        old = state.pop("holds", None)
        if isinstance(state.get("partial"), list):  # a snapshot from before it was kept per symbol
            by_symbol: dict[str, list] = {}
            for item in state["partial"]:
                by_symbol.setdefault(item[1]["symbol"], []).append(item)
            state["partial"] = by_symbol
        super().restore_state(state)
        for order_id, (account, asset, frozen, spent) in sorted((old or {}).items()):
            if frozen is not None:
                self.ledger.adopt_hold(order_id, account, asset, frozen - spent)

    def _command(self, taker: int, updates: list[tuple[int, dict, int]], out: list) -> None:
        """One command of Match's: adopt the holds its first reports repeat, settle its trades, then
        release what its finished orders leave frozen."""
        ledger = self.ledger
        for order_id, fields, _ts in updates:
            if "hold_of" in fields:  # an OCO's second leg's first report: it shares the first leg's hold
                if ledger.share_hold(order_id, fields["hold_of"]) != _OK:
                    raise ValueError(f"order {order_id}: no hold of order {fields['hold_of']} to share: {fields}")
            elif "frozen" in fields:  # the order's first report: what Acquiring froze for it
                if ledger.adopt_hold(order_id, fields["account"], fields["frozen_asset"], fields["frozen"]) != _OK:
                    raise ValueError(f"order {order_id}: a second first report, or a negative hold: {fields}")
        # trades are keyed by their taker, and a stop order is the taker of two parts: its placement
        # (never a trade) and its trigger; only the part with which an order starts working
        # (working_time) has trades, and in a replay a later trigger's trades may already be here
        settled: list[BalanceChange] = []  # the command's trades' changes, published as one net set
        ts = symbol = None
        for trade in self.trades.pop(taker, ()) if "working_time" in updates[-1][1] else ():
            if type(t := getattr(trade.change_type, "fields", None)) is not TradeFields:
                t = trade_of(trade)  # (an entry kept in a snapshot written before trades were typed)
            buyer_is_maker = t.buyer_is_maker
            code, changes = ledger.settle_trade(self.rules[t.symbol], Trade(
                t.trade_id, t.price, t.qty, t.quote_qty, t.maker_order_id, t.taker_order_id,
                t.seller_account if not buyer_is_maker else t.buyer_account,
                t.buyer_account if not buyer_is_maker else t.seller_account,
                _SELL if buyer_is_maker else _BUY, trade.timestamp))
            if code != _OK:
                raise ValueError(f"trade {t.symbol} {t.trade_id} cannot be settled ({code.name}): corrupt stream")
            settled += changes
            ts, symbol = trade.timestamp, t.symbol  # (a command's trades share its time and symbol)
        if settled:
            _publish(net_changes(settled), ts, symbol, out)
        for order_id, fields, ts in updates:
            if "hold" in fields:  # amended, or cut by DECREMENT: what it no longer needs returns to available
                code, changes = ledger.reduce_hold(order_id, fields["hold"])
                if code != _OK:
                    raise ValueError(f"order {order_id} amended before Match reported what it froze")
                _publish(changes, ts, fields["symbol"], out)
            if fields.get("status") in FINAL_STATUSES:
                code, changes = ledger.release(order_id)
                if code != _OK:
                    raise ValueError(f"order {order_id} ended before Match reported what it froze")
                _publish(changes, ts, fields["symbol"], out)


def _publish(changes: list[BalanceChange], ts: int, symbol: str, out: list) -> None:
    """The ledger's changes as SpotBalance entries (as Acquiring's: `balance_entries`), keyed by the
    symbol they were made for."""
    if not changes:
        return
    entries = balance_entries(changes, ts)
    if out and out[-1][1] == symbol:  # the runner merges a key's outputs in order: one list is the same
        out[-1][2].extend(entries)
    else:
        out.append((Topic.BALANCE, symbol, entries))
