"""MatchStage: consumes new-order, cancel and amend commands (OrderChangeLog from Acquiring), runs each
symbol's price-time order book, produces trades (TradeChangeLog) and order state changes
(OrderChangeLog), keyed by symbol.

Per command it publishes the trades first, then one update per order the command touched (makers in
the order they were hit, the taker last), so a consumer that sees an order's update has already seen
its fills. An order's first update (the taker report) repeats what it was created with (account,
symbol, side, type, price, frozen_asset, frozen): Settlement learns every order from this single,
ordered stream and never has to join two producers' outputs.

Stop orders: the book files them until the last trade price reaches their stop price and runs the
ones a command's trades trigger right after that command (engine/book.py), so a trigger is part of
the command that caused it and replays with it. A pending stop's first report has no working_time;
the report that ends its trigger's records carries it (the order starts working then), which is
also how Settlement knows where that part of the command ends. A trailing stop that starts tracking
prices says so with trailing_time: on the report that places it when it starts at once (no
activation price), else in an entry of its own (no status) after the records of the trades that started it,
which Settlement takes as a part of its own (with nothing to settle).

Order lists (engine/oco.py, engine/oto.py): Acquiring publishes a list's two orders together
(list_leg 1 and 2); the first waits here (`pending_oco`) until the second comes, then both are
placed, or neither. An OCO's second leg's first report carries hold_of (the first leg's id) when
they were placed, so Settlement shares the hold; an OTO's pending order is first reported
PENDING_NEW, without working_time, which it gets when it is placed (a `Triggered` record first).

Amends (engine/amend.py): the amended order's report carries amended=True and, when it was reduced,
its new qty, client_order_id and the hold it keeps; an amend that changed nothing is one entry
with amend_rejected=True and a reason word. Either ends the command's updates for Settlement.
"""

from __future__ import annotations

from ..engine.amend import Amended, AmendRejected
from ..engine.book import OrderBook
from ..engine.records import CancelRejected, OrderReport, PreventedMatch, Trade, TrailingStarted, Triggered
from ..engine.results import REASONS, ResultCode
from ..model.changelog import ChangeLogEntry, Created, TradeFields, Updated
from ..model.entities import trade_id_of
from ..model.enums import (ORDER_TYPE_OF, SIDE_OF, STOP_TYPES, STP_NAMES, STP_OF, TIME_IN_FORCE_OF, EntityType,
                           OrderStatus, Side, Topic)
from ..model.reasons import Reason
from .base import Publish, Operator

STATUS = [s.name for s in OrderStatus]
ORDER, TRADE, CLOCK = EntityType.ORDER, EntityType.TRADE, EntityType.CLOCK
PREVENTED = EntityType.PREVENTED_MATCH
# read once: an enum member read through its class costs ~0.2 µs on Python 3.11 (EnumType.__getattr__)
_BUY, _PENDING_NEW, _AMENDED = Side.BUY, OrderStatus.PENDING_NEW, Reason.AMENDED
_CANCELED, _CANCEL_RESTRICTED = OrderStatus.CANCELED, ResultCode.CANCEL_RESTRICTED


def _place_args(order_id: int, fields: dict, ts: int) -> tuple:
    """A new order's Created fields as OrderBook.place()'s arguments."""
    return (order_id, fields["account"], SIDE_OF[fields["side"]], ORDER_TYPE_OF[fields["type"]],
            TIME_IN_FORCE_OF[fields["time_in_force"]], fields["price"], fields["qty"], fields["quote_qty"],
            fields["client_order_id"], STP_OF[fields["stp"]], ts, fields.get("stop_price", 0),
            fields.get("trailing_delta", 0))  # (the enums' own Enum[name] is a Python-level call each)


def _restriction_met(order, restriction: str) -> bool:
    """ONLY_NEW: nothing of the order is filled yet; ONLY_PARTIALLY_FILLED: some of it is (an order
    not open is left to book.cancel, which rejects it as unknown)."""
    if order is None:
        return True
    return (order.executed == 0) if restriction == "ONLY_NEW" else (order.executed > 0)


class MatchStage(Operator):
    consumes = (Topic.ORDER,)
    produces = (Topic.TRADE, Topic.ORDER)
    sources = {Topic.ORDER: ("acquiring",)}
    keeps_partitions = True
    ordered_outputs = True  # Settlement, Acquiring and Push need a command's fills before its updates

    def start(self) -> None:
        self.rules = self.ctx.settings.symbol_rules()
        self.books = {symbol: OrderBook(rules) for symbol, rules in self.rules.items()}
        self.pending_oco: list[tuple[int, dict]] | None = None  # an order list's first orders, until its last

    def replay_end(self, end: dict) -> None:
        ids, prevented = end["last_trade_ids"], end["last_prevented_match_ids"]
        for symbol, book in self.books.items():
            ids[symbol] = max(ids.get(symbol, 0), book.last_trade_id)
            prevented[symbol] = max(prevented.get(symbol, -1), book.last_prevented_match_id)

    def handle_events(self, topic: str, entries: list[ChangeLogEntry]) -> list[Publish]:
        result: list[Publish] = []  # per command, in command order: the runner keeps it per partition
        for entry in entries:
            change = entry.change_type
            fields = entry.field_dict()
            symbol = fields.get("symbol")
            book = self.books.get(symbol)  # type: ignore[arg-type]
            if book is None:  # Acquiring validates symbols: this is a corrupt command stream
                raise ValueError(f"command for unknown symbol {symbol!r}: {entry}")
            if entry.entity_type == CLOCK:  # a Tick: to KLine, after the trades of the commands before it
                result.append((Topic.TRADE, symbol, [entry]))
                continue
            order_id = int(entry.entity_id)
            firsts: dict[int, dict] = {}  # the new orders of this command: their first reports repeat these
            if type(change) is Created:
                leg = fields.get("list_leg")
                if leg is not None and leg < fields["list_legs"]:  # an order list's: placed with its last
                    self.pending_oco = (self.pending_oco or []) + [(order_id, fields)]
                    continue
                if leg is not None:
                    legs = self.pending_oco + [(order_id, fields)]
                    self.pending_oco = None
                    args = [_place_args(i, f, entry.timestamp) for i, f in legs]
                    if fields["contingency_type"] == "OCO":
                        records = book.place_oco(*args)
                    else:
                        records = book.place_oto(*args)
                    if all(type(r) is OrderReport and r.status == OrderStatus.REJECTED for r in records):
                        # none placed: nothing is shared
                        legs[-1] = (order_id, {k: v for k, v in fields.items() if k != "hold_of"})
                    firsts = dict(legs)
                else:
                    records = book.place(*_place_args(order_id, fields, entry.timestamp))
                    firsts = {order_id: fields}
                cancel_id = None
            elif fields.get("cancel_requested"):
                restriction = fields.get("cancel_restrictions")
                if restriction and not _restriction_met(book.order(order_id), restriction):
                    # Binance's cancelRestrictions, checked here where the order's state is exact
                    records = [CancelRejected(order_id, fields["account"], "", ResultCode.CANCEL_RESTRICTED)]
                else:
                    records = book.cancel(order_id, fields["account"])
                cancel_id = fields.get("cancel_client_order_id")
            elif fields.get("amend_requested"):
                records = book.amend(order_id, fields["account"], fields["new_qty"], fields["amend_client_order_id"])
                cancel_id = None
            else:
                continue
            trades: list[ChangeLogEntry] = []
            orders: list[ChangeLogEntry] = []
            self._convert(records, entry.timestamp, symbol, order_id, firsts, trades, orders, cancel_id)
            if trades:
                result.append((Topic.TRADE, symbol, trades))
            result.append((Topic.ORDER, symbol, orders))
        return result

    @staticmethod
    def _convert(records, ts: int, symbol: str, command_order: int, firsts: dict[int, dict],
                 trades: list[ChangeLogEntry], orders: list[ChangeLogEntry], cancel_id: str | None = None) -> None:
        """`cancel_id`: a cancel command's own client id, which the CANCELED reports of the orders it
        ends carry (Push puts it in the executionReport's "c")."""
        triggered = None  # the stop whose trigger's records these are: its own report ends them
        report: tuple[int, dict] | None = None  # the last order report's (order id, changed fields)

        prevented: dict[int, tuple[int, int]] | None = None  # order id -> (prevented match id, counter order id)
        amended = False  # an amend's answer: its reports say so (module doc); an OCO's two legs both change
        amends: dict[int, Amended] = {}
        if records and type(records[0]) in (Amended, AmendRejected) or (
                records and type(records[0]) is OrderReport and records[0].reason == _AMENDED):
            amended = True
            amends = {r.order_id: r for r in records if type(r) is Amended}
        for rec in records:
            kind = type(rec)
            if kind is Trade:
                buy_taker = rec.taker_side == _BUY
                buyer, seller = (rec.taker_order_id, rec.maker_order_id) if buy_taker else (rec.maker_order_id, rec.taker_order_id)
                buyer_acct, seller_acct = (rec.taker_account, rec.maker_account) if buy_taker else (rec.maker_account, rec.taker_account)
                trades.append(ChangeLogEntry(trade_id_of(symbol, rec.trade_id), TRADE, Created(TradeFields(
                    symbol, rec.trade_id, rec.price, rec.qty, rec.quote_qty, buyer, seller, buyer_acct, seller_acct,
                    not buy_taker, rec.maker_order_id, rec.taker_order_id)), ts, 0))
            elif kind is OrderReport:
                changed = {
                    "status": STATUS[rec.status], "executed_qty": rec.executed_qty,
                    "cum_quote_qty": rec.cum_quote_qty, "account": rec.account, "symbol": symbol,
                }
                if rec.reason:
                    changed["reason"] = rec.reason
                if rec.prevented_qty:  # self-trade prevention took this much off so far
                    changed["prevented_qty"] = rec.prevented_qty
                if rec.hold >= 0:  # ... and the order, still open, needs only this much frozen
                    changed["hold"] = rec.hold
                if prevented and rec.order_id in prevented:  # the last prevented match that took some off it
                    changed["prevented_match_id"], changed["counter_order_id"] = prevented.pop(rec.order_id)
                if amended and (rec.order_id == command_order or rec.order_id in amends):
                    changed["amended"] = True
                    a = amends.get(rec.order_id)
                    if a is not None:
                        changed["qty"] = a.qty
                        changed["client_order_id"] = a.client_order_id
                        changed["hold"] = a.hold
                if cancel_id is not None and (rec.order_id == command_order or rec.status == _CANCELED):
                    # the cancel's own client id, on every order it ends (an order list's other legs
                    # too): Binance's DELETE orderList and openOrders answer each with the one id
                    changed["cancel_client_order_id"] = cancel_id
                first = firsts.pop(rec.order_id, None) if firsts else None
                if first is not None:  # a new order's first report (its later ones: as a maker)
                    # a stop starts working at its trigger, an OTO's pending order when it is placed
                    if first["type"] not in STOP_TYPES and rec.status != _PENDING_NEW:
                        changed["working_time"] = ts
                    for name in ("side", "type", "price", "frozen_asset", "frozen"):
                        changed[name] = first[name]
                    if "hold_of" in first:  # an OCO's second leg: it draws on the first leg's hold
                        changed["hold_of"] = first["hold_of"]
                elif rec.order_id == triggered:
                    changed["working_time"] = ts
                    triggered = None
                orders.append(ChangeLogEntry(str(rec.order_id), ORDER, Updated(changed), ts, 0))
                report = (rec.order_id, changed)
            elif kind is PreventedMatch:
                pm = {"symbol": symbol, "prevented_match_id": rec.prevented_match_id, "taker_order_id": rec.taker_order_id,
                      "maker_order_id": rec.maker_order_id, "account": rec.account, "stp": STP_NAMES[rec.mode],
                      "price": rec.price}
                prevented = prevented if prevented is not None else {}
                if rec.taker_prevented_qty >= 0:
                    pm["taker_prevented_qty"] = rec.taker_prevented_qty
                    prevented[rec.taker_order_id] = (rec.prevented_match_id, rec.maker_order_id)
                if rec.maker_prevented_qty >= 0:
                    pm["maker_prevented_qty"] = rec.maker_prevented_qty
                    prevented[rec.maker_order_id] = (rec.prevented_match_id, rec.taker_order_id)
                orders.append(ChangeLogEntry(f"{symbol}:{rec.prevented_match_id}", PREVENTED, Created(pm), ts, 0))
            elif kind is Triggered:
                triggered = rec.order_id
            elif kind is TrailingStarted:
                if report is not None and report[0] == rec.order_id:  # placed, and tracking at once
                    report[1]["trailing_time"] = ts
                else:  # activated by this command's trades
                    orders.append(ChangeLogEntry(str(rec.order_id), ORDER, Updated({
                        "trailing_time": ts, "account": rec.account, "symbol": symbol}), ts, 0))
            elif kind is CancelRejected:
                rejected = {"cancel_rejected": True, "account": rec.account, "symbol": symbol}
                if rec.code == _CANCEL_RESTRICTED:
                    rejected["reason"] = REASONS[rec.code]
                orders.append(ChangeLogEntry(str(rec.order_id or command_order), ORDER, Updated(rejected), ts, 0))
            elif kind is AmendRejected:
                orders.append(ChangeLogEntry(str(command_order), ORDER, Updated({
                    "amend_rejected": True, "account": rec.account, "symbol": symbol, "reason": REASONS[rec.code],
                }), ts, 0))
            # LevelChange: depth is derived from order updates downstream (engine/depthview.py);
            # Amended: carried by the amended order's report, which follows it
