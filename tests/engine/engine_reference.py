"""A naive, obviously-correct twin of OrderBook: one flat list of open orders, sorted on every match.

No levels, no indexes, no lazy deletion: price-time priority is literally `sorted(key=(price, seq))`.
It reproduces the book's trades and order reports record for record, and its depth by aggregation.
"""

from __future__ import annotations

from spot_seda.engine.book import CancelRejected, OrderReport, Trade
from spot_seda.engine.results import ResultCode
from spot_seda.model.enums import OrderStatus as S
from spot_seda.model.enums import OrderType, SelfTradePrevention, Side, TimeInForce


class RefOrder:
    def __init__(self, seq, order_id, account, side, price, qty, cid, stp):
        self.seq, self.order_id, self.account, self.side, self.price = seq, order_id, account, side, price
        self.leaves, self.executed, self.cum_quote, self.cid, self.stp = qty, 0, 0, cid, stp


class ReferenceBook:
    def __init__(self, rules):
        self.rules = rules
        self.open: list[RefOrder] = []
        self.trade_id = 0
        self.seq = 0

    def _report(self, o, status, reason=""):
        leaves = o.leaves if status in (S.NEW, S.PARTIALLY_FILLED) else 0
        return OrderReport(o.order_id, o.account, status, o.executed, o.cum_quote, leaves, reason)

    def place(self, order_id, account, side, type, tif, price, qty, quote_qty=0, client_order_id="", stp=0, timestamp=0):
        if any(o.order_id == order_id for o in self.open):
            return [OrderReport(order_id, account, S.REJECTED, 0, 0, 0, "duplicate_order_id")]
        if client_order_id and any(o.account == account and o.cid == client_order_id for o in self.open):
            return [OrderReport(order_id, account, S.REJECTED, 0, 0, 0, "duplicate_client_order_id")]
        market = type == OrderType.MARKET

        def crosses(o):
            if o.side == side:
                return False
            if market:
                return True
            return o.price <= price if side == Side.BUY else o.price >= price

        # better price first (lowest ask for a buyer, highest bid for a seller), then arrival
        makers = sorted((o for o in self.open if crosses(o)), key=lambda o: (o.price if side == Side.BUY else -o.price, o.seq))
        if type == OrderType.LIMIT_MAKER and makers:
            return [OrderReport(order_id, account, S.REJECTED, 0, 0, 0, "would_take")]
        if tif == TimeInForce.FOK and type == OrderType.LIMIT:
            takeable = 0
            for o in makers:
                if stp and o.account == account:
                    if stp == SelfTradePrevention.EXPIRE_MAKER:
                        continue
                    break
                takeable += o.leaves
            if takeable < qty:
                return [OrderReport(order_id, account, S.EXPIRED, 0, 0, 0, "fok_unfilled")]

        taker = RefOrder(0, order_id, account, side, price, qty if qty else 10**30, client_order_id, stp)
        budget = quote_qty if quote_qty > 0 else None
        out, stopped = [], ""
        i = 0
        while i < len(makers) and taker.leaves and not stopped:
            o = makers[i]
            if o.leaves == 0:  # this maker is done (filled or expired): on to the next one
                i += 1
                continue
            if stp and o.account == account:
                if stp in (SelfTradePrevention.EXPIRE_MAKER, SelfTradePrevention.EXPIRE_BOTH):
                    self.open.remove(o)
                    out.append(OrderReport(o.order_id, o.account, S.EXPIRED_IN_MATCH, o.executed, o.cum_quote, 0, "stp"))
                if stp in (SelfTradePrevention.EXPIRE_TAKER, SelfTradePrevention.EXPIRE_BOTH):
                    stopped = "stp"
                i += 1
                continue
            fill = min(o.leaves, taker.leaves)
            if budget is not None:
                afford = budget * self.rules.price_scale // o.price
                afford -= afford % self.rules.step
                if afford == 0:
                    stopped = "budget"
                    break
                fill = min(fill, afford)
            quote = self.rules.notional(o.price, fill)
            self.trade_id += 1
            out.append(Trade(self.trade_id, o.price, fill, quote, o.order_id, order_id, o.account, account, side, timestamp))
            for x in (o, taker):
                x.leaves -= fill
                x.executed += fill
                x.cum_quote += quote
            if budget is not None:
                budget -= quote
                if budget == 0:
                    stopped = "budget"
            if o.leaves == 0:
                self.open.remove(o)
                out.append(self._report(o, S.FILLED))
            else:
                out.append(self._report(o, S.PARTIALLY_FILLED))

        if stopped == "stp":
            out.append(self._report(taker, S.EXPIRED_IN_MATCH, "stp"))
        elif taker.leaves == 0 or stopped == "budget":
            out.append(self._report(taker, S.FILLED))
        elif market:
            out.append(self._report(taker, S.EXPIRED, "no_liquidity"))
        elif tif != TimeInForce.GTC and type != OrderType.LIMIT_MAKER:
            out.append(self._report(taker, S.EXPIRED, "ioc_leftover"))
        else:
            self.seq += 1
            taker.seq = self.seq
            self.open.append(taker)
            out.append(self._report(taker, S.PARTIALLY_FILLED if taker.executed else S.NEW))
        return out

    def cancel(self, order_id, account):
        for o in self.open:
            if o.order_id == order_id and o.account == account:
                self.open.remove(o)
                return [self._report(o, S.CANCELED)]
        return [CancelRejected(order_id, account, "", ResultCode.UNKNOWN_ORDER)]

    def cancel_by_client_id(self, account, cid):
        for o in self.open:
            if o.account == account and o.cid == cid:
                return self.cancel(o.order_id, account)
        return [CancelRejected(0, account, cid, ResultCode.UNKNOWN_ORDER)]

    def cancel_all(self, account):
        out = []
        for o in sorted((o for o in self.open if o.account == account), key=lambda o: o.order_id):
            out += self.cancel(o.order_id, account)
        return out

    def depth(self):
        """{(side, price): total open qty} over every level."""
        levels: dict[tuple[int, int], int] = {}
        for o in self.open:
            levels[(o.side, o.price)] = levels.get((o.side, o.price), 0) + o.leaves
        return levels
