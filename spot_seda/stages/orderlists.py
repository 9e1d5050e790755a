"""Acquiring's part of order lists (OCO, OTO): accepting one (ids, one freeze for both legs, the two
orders Match will link) and its view of the open lists. Mixed into AcquiringStage (acquiring.py),
whose state and helpers it uses; Match links the legs (engine/oco.py), Settlement shares the hold.

An OCO freezes once, what the larger of its two legs needs (a sell: its quantity; a buy: price x
quantity of the dearer leg, or, with a STOP_LOSS buy, all the free quote asset, as a market buy by
quantity holds here); the second leg draws on the first leg's hold (Ledger.share_hold), and the
hold is released when both legs have ended. Its two Created entries carry the list (order_list_id,
list_client_order_id, contingency_type, list_leg 1 or 2; an OCO's second hold_of, the first's id)
and are published together: Match places the legs when the second arrives. An OTO's orders each
freeze what they need (both or neither: the pending order's funds are held from entry, as Binance
holds them; a pending market buy's budget is the quote asset left free after the working order's).
"""

from __future__ import annotations

import msgspec

from ..engine.ledger import order_hold
from ..engine.results import ResultCode
from ..model.changelog import ChangeLogEntry, Created
from ..model.commands import NewOco, NewOto, NewOtoco
from ..model.enums import (ORDER_TYPE_OF, SIDE_OF, STP_OF, TIME_IN_FORCE_OF, EntityType, OrderStatus, OrderType, Side,
                           Topic)
from ..model.orders import Order
from ..model.reasons import Reason
from .accepting import CommandError, made_up_client_id



class OrderListsMixin:
    """AcquiringStage.new_oco and the open lists (module doc)."""

    def new_oco(self, cmd: NewOco, waiters: tuple = (None, None), journaled: bool = False):
        """Accept an OCO: returns its two orders, the accepted command (ids, budget, timestamp: what to
        journal) and the entries to publish. Raises CommandError as new_order does."""
        return self._new_list(cmd, "OCO", waiters, journaled)

    def new_oto(self, cmd: NewOto, waiters: tuple = (None, None), journaled: bool = False):
        """Accept an OTO (working order, pending order): as new_oco, each order frozen for itself."""
        return self._new_list(cmd, "OTO", waiters, journaled)

    def new_otoco(self, cmd: NewOtoco, waiters: tuple = (None, None, None), journaled: bool = False):
        """Accept an OTOCO (working order, pending OCO pair): the working order holds its own funds,
        the pair one hold, shared."""
        return self._new_list(cmd, "OTOCO", waiters, journaled)

    def _new_list(self, cmd, kind: str, waiters: tuple, journaled: bool):
        replay = cmd.order_list_id != 0
        if not replay and self.in_flight >= self.max_in_flight:
            raise CommandError(Reason.OVERLOADED, f"{self.in_flight} commands are waiting for the matching engine")
        rules = self.rules[cmd.symbol]
        account_id = cmd.account
        state = self.account(account_id)
        now = cmd.timestamp or self.clock()
        legs = cmd.legs
        self.since_tick.add(cmd.symbol)
        self.tick_due = True
        if not replay:
            named = [leg.client_order_id for leg in legs if leg.client_order_id]
            if len(set(named)) < len(named) or any(cid in state.client_ids for cid in named):
                raise CommandError(Reason.DUPLICATE_ORDER)  # (two of its own orders with one id, too)
            # the list's orders count together (an OTOCO's 3, rest-api.md), and its stop orders
            # against MAX_NUM_ALGO_ORDERS (an OCO's two stops, an OTOCO pair's)
            stops = sum(1 for leg in legs if ORDER_TYPE_OF[leg.type].is_stop)
            for leg in legs:
                other_stops = stops - (1 if ORDER_TYPE_OF[leg.type].is_stop else 0)
                self.check_filters(leg, now, extra=len(legs) - 1, extra_stops=other_stops)
        needs, budgets = [], []
        for leg in legs:
            type_, side = ORDER_TYPE_OF[leg.type], SIDE_OF[leg.side]
            quote_qty = leg.quote_qty
            if type_.working_type == OrderType.MARKET and side == Side.BUY and not quote_qty:
                # a market buy's budget: the quote asset left free (an OTO's: after its working order's)
                quote_qty = self.ledger.balance(account_id, rules.quote)[0] - sum(
                    n[1] for n in needs[:1] if n[0] == rules.quote) if kind != "OCO" else \
                    self.ledger.balance(account_id, rules.quote)[0]
            budgets.append(quote_qty)
            needs.append(order_hold(rules, side, type_, leg.price, leg.qty, quote_qty))
        first_id = legs[0].order_id or self.next_order_id
        ids = tuple(leg.order_id or first_id + n for n, leg in enumerate(legs))
        second_id = ids[1]
        if kind == "OCO":  # one hold, what the dearer leg needs, shared
            frozen = [(needs[0][0], max(n[1] for n in needs)), (needs[0][0], 0)]
            code, changes = self.ledger.freeze(first_id, account_id, frozen[0][0], frozen[0][1], force=journaled)
            if code != ResultCode.OK:
                raise CommandError(Reason.INSUFFICIENT_BALANCE)
            if self.ledger.share_hold(second_id, first_id) != ResultCode.OK:
                raise ValueError(f"OCO legs {first_id}, {second_id}: the hold cannot be shared")
        else:  # each its own, both or neither (an OTOCO's pair: one, shared)
            if kind == "OTOCO":
                needs = [needs[0], (needs[1][0], max(needs[1][1], needs[2][1]))]
            frozen = needs + [(needs[1][0], 0)] if kind == "OTOCO" else needs
            if not journaled:
                for asset in {n[0] for n in needs}:
                    if min(n[1] for n in needs) <= 0 or \
                            sum(n[1] for n in needs if n[0] == asset) > self.ledger.balance(account_id, asset)[0]:
                        raise CommandError(Reason.INSUFFICIENT_BALANCE)
            changes = []
            for order_id, (asset, amount) in zip(ids, needs):
                code, more = self.ledger.freeze(order_id, account_id, asset, amount, force=journaled)
                if code != ResultCode.OK:
                    raise ValueError(f"OTO order {order_id}: the checked freeze failed ({code.name})")
                changes += more
            if kind == "OTOCO" and self.ledger.share_hold(ids[2], ids[1]) != ResultCode.OK:
                raise ValueError(f"OTOCO orders {ids[1]}, {ids[2]}: the hold cannot be shared")
        list_id = cmd.order_list_id or self.next_order_list_id
        self.next_order_list_id = max(self.next_order_list_id, list_id + 1)
        self.next_order_id = max(self.next_order_id, ids[-1] + 1)
        list_cid = cmd.list_client_order_id or made_up_client_id("list", list_id, {
            lst["list_client_order_id"] for lst in self.order_lists.values() if lst["account"] == account_id})
        accepted_legs, orders, created = [], [], []
        for n, (leg, order_id, quote_qty) in enumerate(zip(legs, ids, budgets), start=1):
            cid = leg.client_order_id or made_up_client_id(
                "auto", order_id, state.client_ids.keys() | {other.client_order_id for other in cmd.legs})
            leg = msgspec.structs.replace(leg, account=account_id, symbol=cmd.symbol, quote_qty=quote_qty,
                                          client_order_id=cid, timestamp=now, order_id=order_id)
            accepted_legs.append(leg)
            type_ = ORDER_TYPE_OF[leg.type]
            stop = type_.is_stop  # (only a stop order carries its stop price and trailing delta)
            order = Order(order_id=order_id, symbol=cmd.symbol, account=account_id, client_order_id=cid,
                          side=SIDE_OF[leg.side], type=type_, time_in_force=TIME_IN_FORCE_OF[leg.time_in_force],
                          price=leg.price, qty=leg.qty, quote_qty=quote_qty, stp=STP_OF[leg.stp],
                          frozen_asset=frozen[n - 1][0], frozen=frozen[n - 1][1],
                          status=OrderStatus.PENDING_NEW if kind != "OCO" and n >= 2 else OrderStatus.NEW,
                          time=now, update_time=now, stop_price=leg.stop_price if stop else 0,
                          trailing_delta=leg.trailing_delta if stop else 0, order_list_id=list_id,
                          list_client_order_id=list_cid, contingency_type=kind, strategy_id=leg.strategy_id,
                          strategy_type=leg.strategy_type)
            fields = order.created_fields()
            fields["list_leg"] = n
            fields["list_legs"] = len(legs)
            if (kind == "OCO" and n == 2) or (kind == "OTOCO" and n == 3):  # (the second of an OCO pair)
                fields["hold_of"] = ids[n - 2]
            self.orders[order_id] = order
            state.open_orders[order_id] = order
            state.client_ids[cid] = order_id
            created.append(ChangeLogEntry(str(order_id), EntityType.ORDER, Created(fields), now, 0))
            orders.append(order)
            if waiters[n - 1] is not None:
                self.waiters[order_id] = waiters[n - 1]
        self.order_lists[list_id] = {"order_list_id": list_id, "list_client_order_id": list_cid, "symbol": cmd.symbol,
                                     "account": account_id, "orders": list(ids), "time": now, "contingency_type": kind}
        self.awaiting_match.update(ids)
        accepted = type(cmd)(account_id, cmd.symbol, now, tuple(accepted_legs), list_cid, list_id)
        return orders, accepted, [(Topic.ORDER, cmd.symbol, created),
                                  (Topic.BALANCE, str(account_id), self.balances_changed(changes, now))]

    def list_leg_ended(self, order: Order) -> None:
        """A leg's final report: the list leaves the open lists once both legs have ended (a leg this
        view no longer holds has: refused as it was placed, or forgotten long after it finished)."""
        lst = self.order_lists.get(order.order_list_id)
        if lst is not None and all(i not in self.orders or self.orders[i].status.is_final for i in lst["orders"]):
            del self.order_lists[order.order_list_id]

    def open_order_lists(self, account_id: int) -> list[dict]:
        """The account's open order lists, oldest first, each with its orders as this view has them;
        not one Match has not reported on yet (Acquiring.judged_open_orders)."""
        return [dict(lst, legs=[self.orders[i] for i in lst["orders"]]) for _, lst in sorted(self.order_lists.items())
                if lst["account"] == account_id and self.awaiting_match.isdisjoint(lst["orders"])]
