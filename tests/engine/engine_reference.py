"""A naive, obviously-correct twin of OrderBook: one flat list of open orders, sorted on every match.

No levels, no indexes, no lazy deletion: price-time priority is literally `sorted(key=(price, seq))`.
It reproduces the book's trades and order reports record for record, and its depth by aggregation.
Stop orders: a flat list too; after each match every pending stop is tested against every trade
price of that match with Binance's four conditions written out, and the triggered ones run oldest
order id first, those their trades trigger after them. Trailing stops: the same list; each keeps the
highest (a sell) or lowest (a buy) trade price seen since it started and is walked through every
trade price, as Binance's trailing-stop FAQ tells it.
"""

from __future__ import annotations

import msgspec

from spot_seda.engine.amend import Amended, AmendRejected
from spot_seda.engine.records import CancelRejected, OrderReport, PreventedMatch, Trade, TrailingStarted, Triggered
from spot_seda.engine.results import ResultCode
from spot_seda.model.enums import OrderStatus as S
from spot_seda.model.enums import OrderType, SelfTradePrevention, Side, TimeInForce


class RefOrder:
    def __init__(self, seq, order_id, account, side, price, qty, cid, stp):
        self.seq, self.order_id, self.account, self.side, self.price = seq, order_id, account, side, price
        self.leaves, self.executed, self.cum_quote, self.cid, self.stp = qty, 0, 0, cid, stp
        self.prevented = 0  # taken off by DECREMENT self-trade prevention


class RefStop:
    def __init__(self, order_id, account, side, type, tif, price, qty, quote_qty, cid, stp, stop_price, delta=0):
        self.order_id, self.account, self.side, self.type, self.tif = order_id, account, side, type, tif
        self.price, self.qty, self.quote_qty, self.cid, self.stp, self.stop_price = price, qty, quote_qty, cid, stp, stop_price
        self.delta = delta  # trailingDelta in BIPS (0: an ordinary stop)
        self.started = False  # a trailing stop: tracking prices yet?
        self.best = None  # ... the highest (sell) or lowest (buy) trade price since it started

    def trails_to_trigger(self, price):
        """A trailing stop sees one trade price; True when that price triggers it."""
        if not self.started:
            if self.stop_price and not self.triggered_by(price):
                return False  # not activated yet
            self.started = True
            if self.stop_price:  # the activating trade is the first best price
                self.best = price
                return False
        if self.best is None:
            self.best = price
            return False
        if self.side == Side.SELL:
            if price * 10_000 <= self.best * (10_000 - self.delta):  # fell by delta BIPS from the best
                return True
            self.best = max(self.best, price)
        else:
            if price * 10_000 >= self.best * (10_000 + self.delta):  # rose by delta BIPS from the best
                return True
            self.best = min(self.best, price)
        return False

    def triggered_by(self, price):
        """Binance: STOP_LOSS sells and TAKE_PROFIT buys at or below the stop, the others at or above."""
        loss = self.type in (OrderType.STOP_LOSS, OrderType.STOP_LOSS_LIMIT)
        if (loss and self.side == Side.SELL) or (not loss and self.side == Side.BUY):
            return price <= self.stop_price
        return price >= self.stop_price

    def becomes(self):
        return OrderType.LIMIT if self.type in (OrderType.STOP_LOSS_LIMIT, OrderType.TAKE_PROFIT_LIMIT) else OrderType.MARKET


class ReferenceBook:
    def __init__(self, rules):
        self.rules = rules
        self.open: list[RefOrder] = []
        self.stops: list[RefStop] = []
        self.trade_id = 0
        self.seq = 0
        self.last_price = 0
        self.prevented_matches = -1  # the last prevented match's id
        self.links = {}  # OCO legs: order id -> the other leg's
        self.oto = {}  # OTO: working order id -> the pending order's place() arguments
        self.oto_of = {}  # pending order id -> working order id
        self.activations = []  # working orders filled: their pending orders to place at the end
        self.draining = False
        self.queue = []  # triggered stops waiting to run

    def _report(self, o, status, reason="", prevented=0, hold=-1):
        leaves = o.leaves if status in (S.NEW, S.PARTIALLY_FILLED) else 0
        return OrderReport(o.order_id, o.account, status, o.executed, o.cum_quote, leaves, reason, prevented, hold)

    def place(self, order_id, account, side, type, tif, price, qty, quote_qty=0, client_order_id="", stp=0, timestamp=0,
              stop_price=0, trailing_delta=0):
        everything = self.open + self.stops
        if any(o.order_id == order_id for o in everything):
            return [OrderReport(order_id, account, S.REJECTED, 0, 0, 0, "duplicate_order_id")]
        if client_order_id and any(o.account == account and o.cid == client_order_id for o in everything):
            return [OrderReport(order_id, account, S.REJECTED, 0, 0, 0, "duplicate_client_order_id")]
        if type in (OrderType.STOP_LOSS, OrderType.STOP_LOSS_LIMIT, OrderType.TAKE_PROFIT, OrderType.TAKE_PROFIT_LIMIT):
            stop = RefStop(order_id, account, side, type, tif, price, qty, quote_qty, client_order_id, stp, stop_price,
                           trailing_delta)
            if self.last_price and stop_price and stop.triggered_by(self.last_price):
                return [OrderReport(order_id, account, S.REJECTED, 0, 0, 0, "would_trigger")]
            self.stops.append(stop)
            if trailing_delta and not stop_price:  # it tracks from now on, from the last trade price
                stop.started = True
                stop.best = self.last_price or None
                return [OrderReport(order_id, account, S.NEW, 0, 0, qty, ""), TrailingStarted(order_id, account)]
            return [OrderReport(order_id, account, S.NEW, 0, 0, qty, "")]
        out = self._match(order_id, account, side, type, tif, price, qty, quote_qty, client_order_id, stp, timestamp)
        queue = self.queue = self._triggered(out, out)
        while queue:
            s = queue.pop(0)
            leg = s.order_id in self.links
            if leg:  # an OCO leg works: the other goes first
                out += self._cancel_other(s.order_id)
            out.append(Triggered(s.order_id, s.account))
            records = self._match(s.order_id, s.account, s.side, s.becomes(), s.tif, s.price, s.qty, s.quote_qty, s.cid,
                                  s.stp, timestamp, own_hold=leg)
            out += records
            queue += self._triggered(records, out)
        if self.draining:
            return out  # (the outer place() places the pending orders, first filled first)
        self.draining = True
        try:
            self._drain(timestamp, out)
        finally:
            self.draining = False
        return out

    def _drain(self, timestamp, out):
        while self.activations:  # OTO working orders that filled: their pending orders, in turn
            pending = [(*p[:10], timestamp, *p[11:]) for p in self._unlink_oto(self.activations.pop(0))]
            if len(pending) == 2:  # an OTOCO's pair: an OCO, both or neither
                reasons = [self._refusal(*p) for p in pending]
                if any(reasons):
                    out += [OrderReport(p[0], p[1], S.REJECTED, 0, 0, 0, r or "list_rejected")
                            for p, r in zip(pending, reasons)]
                    continue
                self.links[pending[0][0]], self.links[pending[1][0]] = pending[1][0], pending[0][0]
            for p in pending:
                if p[3] not in (OrderType.STOP_LOSS, OrderType.STOP_LOSS_LIMIT, OrderType.TAKE_PROFIT,
                                OrderType.TAKE_PROFIT_LIMIT):
                    out.append(Triggered(p[0], p[1]))
                out += self.place(*p)

    def _unlink_oto(self, working_id):
        pending = self.oto.pop(working_id)
        for p in pending:
            del self.oto_of[p[0]]
        return pending

    def place_oto(self, working, *pending):
        reason = self._refusal(*working)
        others = []
        for p in pending:
            if any(o.order_id == p[0] for o in self.open + self.stops) or p[0] in self.oto_of:
                others.append("duplicate_order_id")
            elif p[8] and any(o.account == p[1] and o.cid == p[8] for o in self.open + self.stops):
                others.append("duplicate_client_order_id")
            else:
                others.append("")
        if not reason and len(pending) == 2 and pending[0][8] and pending[0][8] == pending[1][8]:
            others[1] = "duplicate_client_order_id"
        if reason or any(others):
            return [OrderReport(working[0], working[1], S.REJECTED, 0, 0, 0, reason or "list_rejected")] + \
                [OrderReport(p[0], p[1], S.REJECTED, 0, 0, 0, (not reason and o) or "list_rejected")
                 for p, o in zip(pending, others)]
        self.oto[working[0]] = pending
        for p in pending:
            self.oto_of[p[0]] = working[0]
        out = [OrderReport(p[0], p[1], S.PENDING_NEW, 0, 0, p[6], "") for p in pending]
        out += self.place(*working)
        out += self._working_ended(working[0], False)
        return out

    def _working_ended(self, working_id, filled, canceled=False):
        """The working order left the book: filled, its pending orders go on; canceled, they are
        canceled with it; ended otherwise, they expire (oto_expired)."""
        if working_id not in self.oto or any(o.order_id == working_id for o in self.open):
            return []
        if filled:
            if working_id not in self.activations:
                self.activations.append(working_id)
            return []
        status, reason = (S.CANCELED, "") if canceled else (S.EXPIRED, "oto_expired")
        return [OrderReport(p[0], p[1], status, 0, 0, 0, reason) for p in self._unlink_oto(working_id)]

    def _triggered(self, records, out):
        """The pending stops any of these trades' prices reach, taken off the list, oldest first; the
        trailing stops walked through the prices one by one (a TrailingStarted to `out` for each
        one that starts)."""
        prices = [r.price for r in records if type(r) is Trade]
        hit, started = [], []
        for s in self.stops:
            if not s.delta:
                if any(s.triggered_by(p) for p in prices):
                    hit.append(s)
                continue
            was = s.started
            for p in prices:
                if s.trails_to_trigger(p):
                    hit.append(s)
                    break
            if s.started and not was:
                started.append(s)
        out += [TrailingStarted(s.order_id, s.account) for s in sorted(started, key=lambda s: s.order_id)]
        self.stops = [s for s in self.stops if s not in hit]
        return sorted(hit, key=lambda s: s.order_id)

    def _match(self, order_id, account, side, type, tif, price, qty, quote_qty, client_order_id, stp, timestamp,
               own_hold=False):
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

        leaves = qty if qty else 10**30
        if market and quote_qty > 0 and (side == Side.SELL or not qty):
            # by quoteOrderQty: within LOT_SIZE and MARKET_LOT_SIZE's maxQty, refused when what it
            # could take, every maker counted as if it traded with it, stays below minQty
            leaves = min(leaves, self.rules.max_qty, self.rules.market_max_qty)
            if not makers:
                return [OrderReport(order_id, account, S.REJECTED, 0, 0, 0, "no_book")]
            if sum(o.leaves for o in makers) < self.rules.min_qty:
                return [OrderReport(order_id, account, S.REJECTED, 0, 0, 0, "book_below_min_qty")]
            got, left = 0, quote_qty
            for o in makers:
                afford = left * self.rules.price_scale // o.price
                fill = min(o.leaves, leaves - got, afford - afford % self.rules.step)
                got += fill
                left -= self.rules.notional(o.price, fill)
                if fill < o.leaves or got >= self.rules.min_qty:
                    break
            if got < self.rules.min_qty:
                return [OrderReport(order_id, account, S.REJECTED, 0, 0, 0, "quote_below_min_qty")]
        taker = RefOrder(0, order_id, account, side, price, leaves, client_order_id, stp)
        budget = quote_qty if quote_qty > 0 else None
        out, stopped = [], ""
        linked = []  # OCO legs this taker made work
        working = []  # OTO working orders this taker ended, and whether they filled
        i = 0
        while i < len(makers) and taker.leaves and not stopped:
            o = makers[i]
            if o.leaves == 0:  # this maker is done (filled or expired): on to the next one
                i += 1
                continue
            if stp in (SelfTradePrevention.DECREMENT, SelfTradePrevention.EXPIRE_MAKER, SelfTradePrevention.EXPIRE_BOTH) \
                    and o.account == account and o.order_id in self.links:
                linked.append(o.order_id)
            if stp in (SelfTradePrevention.DECREMENT, SelfTradePrevention.EXPIRE_MAKER, SelfTradePrevention.EXPIRE_BOTH) \
                    and o.account == account and o.order_id in self.oto:
                working.append((o.order_id, False))
            if stp and o.account == account:  # a prevented match, before the reports it causes
                self.prevented_matches += 1
                if stp == SelfTradePrevention.DECREMENT:
                    cut = min(o.leaves, taker.leaves)
                    out.append(PreventedMatch(self.prevented_matches, order_id, o.order_id, account, stp, o.price,
                                              cut, cut))
                else:
                    out.append(PreventedMatch(self.prevented_matches, order_id, o.order_id, account, stp, o.price,
                                              -1 if stp == SelfTradePrevention.EXPIRE_MAKER or not qty else taker.leaves,
                                              -1 if stp == SelfTradePrevention.EXPIRE_TAKER else o.leaves))
            if stp == SelfTradePrevention.DECREMENT and o.account == account:
                # both lose the overlap, no trade; whichever has nothing left ends
                cut = min(o.leaves, taker.leaves)
                o.leaves -= cut
                o.prevented += cut
                taker.prevented += cut
                if qty:  # (a market order by quote budget alone has no quantity to lose)
                    taker.leaves -= cut
                if o.leaves == 0:
                    self.open.remove(o)
                    out.append(self._report(o, S.EXPIRED_IN_MATCH, "stp", o.prevented))
                else:
                    hold = self.rules.notional(o.price, o.leaves) if o.side == Side.BUY else o.leaves
                    out.append(self._report(o, S.PARTIALLY_FILLED if o.executed else S.NEW, "", o.prevented, hold))
                if taker.leaves == 0:
                    stopped = "stp"
                i += 1
                continue
            if stp and o.account == account:
                if stp in (SelfTradePrevention.EXPIRE_MAKER, SelfTradePrevention.EXPIRE_BOTH):
                    self.open.remove(o)
                    o.prevented += o.leaves  # all it had left
                    out.append(OrderReport(o.order_id, o.account, S.EXPIRED_IN_MATCH, o.executed, o.cum_quote, 0, "stp",
                                           o.prevented))
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
            if o.order_id in self.links:
                linked.append(o.order_id)
            self.trade_id += 1
            self.last_price = o.price
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
                if o.order_id in self.oto:
                    working.append((o.order_id, True))
                self.open.remove(o)
                out.append(self._report(o, S.FILLED))
            else:  # a buy OCO leg keeps from now on what it needs, not the shared hold of both legs
                out.append(self._report(o, S.PARTIALLY_FILLED, hold=self.rules.notional(o.price, o.leaves)
                                        if o.side == Side.BUY and o.order_id in self.links else -1))

        p = taker.prevented
        if stopped == "stp":
            if qty:  # what it had left (none after DECREMENT took the rest; unknown for one by quote alone)
                p += taker.leaves
            out.append(self._report(taker, S.EXPIRED_IN_MATCH, "stp", p))
        elif taker.leaves == 0 or stopped == "budget":
            out.append(self._report(taker, S.FILLED, "", p))
        elif market:
            out.append(self._report(taker, S.EXPIRED, "no_liquidity", p))
        elif tif != TimeInForce.GTC and type != OrderType.LIMIT_MAKER:
            out.append(self._report(taker, S.EXPIRED, "ioc_leftover", p))
        else:
            self.seq += 1
            taker.seq = self.seq
            self.open.append(taker)
            hold = -1  # what it keeps from now on, where its hold has more (book.py)
            if side == Side.BUY:
                if p or own_hold or taker.cum_quote != self.rules.notional(price, taker.executed):
                    hold = self.rules.notional(price, taker.leaves)
            elif p:
                hold = taker.leaves
            out.append(self._report(taker, S.PARTIALLY_FILLED if taker.executed else S.NEW, "", p, hold))
        for leg in linked:
            out += self._cancel_other(leg)
        if order_id in self.oto:
            working.append((order_id, stopped != "stp" and (taker.leaves == 0 or stopped == "budget")))
        for w, filled in working:
            out += self._working_ended(w, filled)
        return out

    def _cancel_other(self, leg, canceled=False):
        """An OCO leg worked or ended: its other leg, open or waiting to run, expires (oco_trigger);
        a leg `canceled` takes the other with it, CANCELED."""
        other = self.links.pop(leg, None)
        if other is None:
            return []
        del self.links[other]
        for o in self.open + self.stops:
            if o.order_id == other:
                out = self.cancel(other, o.account)
                if not canceled:
                    out[0] = msgspec.structs.replace(out[0], status=S.EXPIRED, reason="oco_trigger")
                return out
        for s in self.queue:
            if s.order_id == other:
                self.queue.remove(s)
                return [OrderReport(other, s.account, S.CANCELED if canceled else S.EXPIRED, 0, 0, 0,
                                    "" if canceled else "oco_trigger")]
        return []

    def place_oco(self, first, second):
        """Both legs or neither; linked. A LIMIT_MAKER leg must also be beyond the last price (a sell's
        above it, a buy's below)."""
        def beyond_last(leg):
            side, type, price = leg[2], leg[3], leg[5]
            if type == OrderType.LIMIT_MAKER and self.last_price and (
                    price <= self.last_price if side == Side.SELL else price >= self.last_price):
                return "would_take"
            return ""
        reasons = [self._refusal(*leg) or beyond_last(leg) for leg in (first, second)]
        if any(reasons):
            return [OrderReport(leg[0], leg[1], S.REJECTED, 0, 0, 0, r or "list_rejected")
                    for leg, r in zip((first, second), reasons)]
        out = self.place(*first) + self.place(*second)
        self.links[first[0]], self.links[second[0]] = second[0], first[0]
        return out

    def _refusal(self, order_id, account, side, type, tif, price, qty, quote_qty=0, cid="", stp=0, ts=0, stop_price=0,
                 trailing_delta=0):
        everything = self.open + self.stops
        if any(o.order_id == order_id for o in everything):
            return "duplicate_order_id"
        if cid and any(o.account == account and o.cid == cid for o in everything):
            return "duplicate_client_order_id"
        if type == OrderType.LIMIT_MAKER and any(
                o.side != side and (o.price <= price if side == Side.BUY else o.price >= price) for o in self.open):
            return "would_take"
        if type in (OrderType.STOP_LOSS, OrderType.STOP_LOSS_LIMIT, OrderType.TAKE_PROFIT, OrderType.TAKE_PROFIT_LIMIT):
            probe = RefStop(order_id, account, side, type, tif, price, qty, quote_qty, cid, stp, stop_price)
            if self.last_price and stop_price and probe.triggered_by(self.last_price):
                return "would_trigger"
        return ""

    def cancel(self, order_id, account):
        if order_id in self.oto_of:  # an OTO's pending order: it and its working order go
            working_id = self.oto_of[order_id]
            if self.oto[working_id][0][1] != account:
                return [CancelRejected(order_id, account, "", ResultCode.UNKNOWN_ORDER)]
            pending = self._unlink_oto(working_id)
            out = [OrderReport(order_id, account, S.CANCELED, 0, 0, 0, "")]
            out += [OrderReport(p[0], p[1], S.CANCELED, 0, 0, 0, "") for p in pending if p[0] != order_id]
            for o in self.open:
                if o.order_id == working_id:
                    self.open.remove(o)
                    out.append(self._report(o, S.CANCELED))
                    break
            return out
        for o in self.open:
            if o.order_id == order_id and o.account == account:
                self.open.remove(o)
                return [self._report(o, S.CANCELED)] + self._cancel_other(order_id, canceled=True) + \
                    self._working_ended(order_id, False, canceled=True)
        for s in self.stops:
            if s.order_id == order_id and s.account == account:
                self.stops.remove(s)
                return [OrderReport(order_id, account, S.CANCELED, 0, 0, 0, "")] + self._cancel_other(order_id, canceled=True)
        return [CancelRejected(order_id, account, "", ResultCode.UNKNOWN_ORDER)]

    def cancel_by_client_id(self, account, cid):
        for o in self.open + self.stops:
            if o.account == account and o.cid == cid:
                return self.cancel(o.order_id, account)
        return [CancelRejected(0, account, cid, ResultCode.UNKNOWN_ORDER)]

    def cancel_all(self, account):
        out = []
        for o in sorted((o for o in self.open + self.stops if o.account == account), key=lambda o: o.order_id):
            if o in self.open or o in self.stops:  # (an OCO leg goes with the other)
                out += self.cancel(o.order_id, account)
        return out

    def amend(self, order_id, account, new_qty, cid=""):
        """Reduce an order's total quantity in place (its list position, hence its priority, kept)."""
        found = [o for o in self.open + self.stops if o.order_id == order_id and o.account == account]
        if not found and order_id in self.oto_of and self.oto[self.oto_of[order_id]][0][1] == account:
            # an OTO's pending order (an OTOCO's pair: both): its quantity for when it is placed
            working_id = self.oto_of[order_id]
            pending = list(self.oto[working_id])
            mine = [p for p in pending if p[0] == order_id][0]
            if not 0 < new_qty < mine[6]:
                return [AmendRejected(order_id, account, ResultCode.AMEND_NOT_REDUCING)]
            new_cid = cid or mine[8]
            taken = {p[8] for p in pending if p[0] != order_id} | {o.cid for o in self.open + self.stops
                                                                   if o.account == account and o.cid}
            if new_cid != mine[8] and new_cid in taken:
                return [AmendRejected(order_id, account, ResultCode.DUPLICATE_CLIENT_ORDER_ID)]
            changed = [i for i, p in enumerate(pending) if p[0] == order_id or len(pending) == 2]
            needs = []
            for i in changed:
                p = pending[i]
                pending[i] = p = (*p[:6], new_qty, p[7], new_cid if p[0] == order_id else p[8], *p[9:])
                market = p[3] in (OrderType.MARKET, OrderType.STOP_LOSS, OrderType.TAKE_PROFIT)
                needs.append(p[7] if market and p[2] == Side.BUY else
                             self.rules.notional(p[5], new_qty) if p[2] == Side.BUY else new_qty)
            self.oto[working_id] = tuple(pending)
            out = []
            for i in changed:
                p = pending[i]
                out += [Amended(p[0], account, new_qty, p[8], max(needs)),
                        OrderReport(p[0], account, S.PENDING_NEW, 0, 0, new_qty, "")]
            return out
        if not found:
            return [AmendRejected(order_id, account, ResultCode.UNKNOWN_ORDER)]
        o = found[0]
        stop = o in self.stops
        qty = o.qty if stop else o.executed + o.leaves + o.prevented
        if not 0 < new_qty < qty:
            return [AmendRejected(order_id, account, ResultCode.AMEND_NOT_REDUCING)]
        cid = cid or o.cid
        if cid != o.cid and any(x.account == account and x.cid == cid for x in self.open + self.stops):
            return [AmendRejected(order_id, account, ResultCode.DUPLICATE_CLIENT_ORDER_ID)]
        if not stop and new_qty <= o.executed + o.prevented:
            self.open.remove(o)
            return [self._report(o, S.EXPIRED, "amend")] + self._working_ended(order_id, False)
        o.cid = cid
        legs = [o]
        if order_id in self.links:  # an OCO: both legs take the new quantity, their shared hold the dearer need
            legs += [x for x in self.open + self.stops if x.order_id == self.links[order_id]]
        parts = []
        for leg in legs:
            if leg in self.stops:
                leg.qty = new_qty
                market_buy = leg.becomes() == OrderType.MARKET and leg.side == Side.BUY
                need = leg.quote_qty if market_buy else \
                    self.rules.notional(leg.price, new_qty) if leg.side == Side.BUY else new_qty
                parts.append((leg, OrderReport(leg.order_id, account, S.NEW, 0, 0, new_qty, ""), need))
            else:
                leg.leaves = new_qty - leg.executed - leg.prevented
                need = self.rules.notional(leg.price, leg.leaves) if leg.side == Side.BUY else leg.leaves
                status = S.PARTIALLY_FILLED if leg.executed else S.NEW
                parts.append((leg, self._report(leg, status), need))
        hold = max(need for _, _, need in parts)
        out = []
        for leg, report, _ in parts:
            out += [Amended(leg.order_id, account, new_qty, leg.cid, hold), report]
        return out

    def pending(self):
        """The stops waiting for their trigger as (order_id, stop_price), oldest first."""
        return sorted((s.order_id, s.stop_price) for s in self.stops)

    def trailing(self):
        """The trailing stops as (order_id, best price since started: 0 for none yet), oldest first."""
        return sorted((s.order_id, s.best or 0) for s in self.stops if s.delta)

    def depth(self):
        """{(side, price): total open qty} over every level."""
        levels: dict[tuple[int, int], int] = {}
        for o in self.open:
            levels[(o.side, o.price)] = levels.get((o.side, o.price), 0) + o.leaves
        return levels
