"""SettlementStage: consumes trades (TradeChangeLog) and Match's order updates (OrderChangeLog),
produces balance changes (BalanceChangeLog, keyed by account): each side's frozen funds move to the
counterparty, proceeds are credited less the fee (to the fee account), and whatever an order still
holds frozen when it ends is released.

It needs no balances of its own. A trade says everything about the money it moves (a buyer always
pays from frozen quote, a seller from frozen base), and an order's first update from Match repeats
what Acquiring froze for it; so Settlement keeps only, per open order, what was frozen and what its
fills have spent. It reads a single producer (Match), whose trades always precede the order updates
they cause, so no join across producers is ever needed. Its changes only move frozen funds out and
credit available funds: Acquiring, the one place that freezes, applies them to its view of the
balances and can only ever see less available money than there is, never more (no double spend).
"""

from __future__ import annotations

from ..model.changelog import ChangeLogEntry, FieldChange, Updated
from ..model.entities import balance_id_of
from ..model.enums import EntityType, Topic
from ..model.symbols import FEE_SCALE
from .base import Publish, Stage

FEE_ACCOUNT = 0
FINAL = frozenset({"FILLED", "CANCELED", "EXPIRED", "EXPIRED_IN_MATCH", "REJECTED"})


def trade_fee(amount: int, fee_ppm: int) -> int:
    """Fee on a received amount, rounded down (in the user's favour; conservation is exact anyway)."""
    return amount * fee_ppm // FEE_SCALE


class SettlementStage(Stage):
    consumes = (Topic.TRADE, Topic.ORDER)
    produces = (Topic.BALANCE,)
    sources = {Topic.TRADE: ("match",), Topic.ORDER: ("match",)}

    def start(self) -> None:
        self.rules = self.ctx.settings.symbol_rules()
        # order id -> [account, frozen asset, frozen amount (None until Match's first report), spent]
        self.holds: dict[int, list] = {}
        # trades waiting for their command's order updates, by taker order id
        self.trades: dict[int, list[ChangeLogEntry]] = {}
        # the order updates of a command whose end (the taker's report) has not arrived yet: a
        # command's updates may be cut between two input batches (a large publish is split into
        # several messages, and the runner hands at most bus.batch_max entries to one call)
        self.partial: list[tuple[int, dict, int]] = []

    def handle_events(self, topic: str, entries: list[ChangeLogEntry]) -> list[Publish]:
        """Settle in Match's command order: a command's trades, then its order updates.

        The two topics reach this stage as separate messages whose interleaving depends on timing;
        to keep the output (and its sequences) a function of the commands alone, trades wait here
        until the order updates of their command arrive. Match publishes a command's trades before
        its updates, and ends a command's updates with the taker's report (or the cancel's result).
        """
        out: list[Publish] = []  # in causal order: the runner keeps it per partition
        if topic == Topic.TRADE:
            waiting = self.trades
            for entry in entries:
                taker = entry.field_dict()["taker_order_id"]
                waiting.setdefault(taker, []).append(entry)
            return out
        group = self.partial
        for entry in entries:
            fields = entry.field_dict()
            group.append((int(entry.entity_id), fields, entry.timestamp))
            if "frozen" in fields or fields.get("status") == "CANCELED" or fields.get("cancel_rejected"):
                self._command(group[-1][0], group, out)
                group = []
        self.partial = group  # the rest of this command comes with the next batch
        return out

    def _command(self, taker: int, updates: list[tuple[int, dict, int]], out: list) -> None:
        for trade in self.trades.pop(taker, ()):
            self._settle(trade.field_dict(), trade.timestamp, out)
        for order_id, fields, ts in updates:
            if "status" in fields:
                self._order_update(order_id, fields, ts, out)

    def _hold(self, order_id: int, account: int) -> list:
        hold = self.holds.get(order_id)
        if hold is None:
            hold = self.holds[order_id] = [account, None, None, 0]
        return hold

    def _settle(self, t: dict, ts: int, out: list) -> None:
        rules = self.rules[t["symbol"]]
        qty, quote = t["qty"], t["quote_qty"]
        buyer, seller = t["buyer_account"], t["seller_account"]
        maker_is_buyer = t["buyer_is_maker"]
        buyer_fee = trade_fee(qty, rules.maker_fee_ppm if maker_is_buyer else rules.taker_fee_ppm)
        seller_fee = trade_fee(quote, rules.taker_fee_ppm if maker_is_buyer else rules.maker_fee_ppm)
        # ref is the order whose hold a change draws on (Ledger.apply keeps holds per order id)
        buy_id, sell_id = t["buyer_order_id"], t["seller_order_id"]
        self._hold(buy_id, buyer)[3] += quote
        self._hold(sell_id, seller)[3] += qty
        change = _change
        change(out, buyer, rules.quote, 0, -quote, "trade", buy_id, ts)
        change(out, buyer, rules.base, qty - buyer_fee, 0, "trade", buy_id, ts)
        change(out, seller, rules.base, 0, -qty, "trade", sell_id, ts)
        change(out, seller, rules.quote, quote - seller_fee, 0, "trade", sell_id, ts)
        if buyer_fee:
            change(out, FEE_ACCOUNT, rules.base, buyer_fee, 0, "fee", buy_id, ts)
        if seller_fee:
            change(out, FEE_ACCOUNT, rules.quote, seller_fee, 0, "fee", sell_id, ts)

    def _order_update(self, order_id: int, f: dict, ts: int, out: list) -> None:
        hold = self._hold(order_id, f["account"])
        if "frozen" in f:  # the order's first report repeats what Acquiring froze for it
            hold[1], hold[2] = f["frozen_asset"], f["frozen"]
        if f["status"] not in FINAL:
            return
        del self.holds[order_id]
        account, asset, frozen, spent = hold
        if frozen is None:
            raise ValueError(f"order {order_id} ended before Match reported what it froze")
        left = frozen - spent
        if left < 0:
            raise ValueError(f"order {order_id} spent {spent} but froze only {frozen}: corrupt stream")
        # always published, even when nothing is left: replicas drop the order's hold on it
        _change(out, account, asset, left, -left, "release", order_id, ts)


def _change(out: list, account: int, asset: str, available_delta: int, frozen_delta: int, reason: str,
            ref: int, ts: int) -> None:
    entry = ChangeLogEntry(balance_id_of(account, asset), EntityType.BALANCE, Updated([
        FieldChange("account", account), FieldChange("asset", asset), FieldChange("available_delta", available_delta),
        FieldChange("frozen_delta", frozen_delta), FieldChange("reason", reason), FieldChange("ref", ref),
    ]), ts, 0)
    key = str(account)
    if out and out[-1][1] == key:  # the runner merges a key's outputs in order: one list is the same
        out[-1][2].append(entry)
    else:
        out.append((Topic.BALANCE, key, [entry]))
