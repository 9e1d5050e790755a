"""Order book unit tests: every order type and edge, each ending with the book's invariant check."""

from __future__ import annotations

import msgspec
import pytest
from engine_helpers import P, Q, btc, eth, last_report, split

from spot_seda.engine.book import OrderBook
from spot_seda.engine.records import CancelRejected, LevelChange, OrderReport, PreventedMatch, Trade, Triggered
from spot_seda.engine.results import InvariantError, ResultCode
from spot_seda.model.enums import OrderStatus as S
from spot_seda.model.enums import OrderType as T
from spot_seda.model.enums import SelfTradePrevention as STP
from spot_seda.model.enums import Side
from spot_seda.model.enums import TimeInForce as TIF

BUY, SELL = Side.BUY, Side.SELL


@pytest.fixture
def book():
    b = OrderBook(btc())
    yield b
    b.check_invariants()  # every test ends with the invariant check


def limit(book, oid, account, side, price, qty, tif=TIF.GTC, **kw):
    return book.place(oid, account, side, T.LIMIT, tif, P(price), Q(qty), timestamp=1000 + oid, **kw)


def market(book, oid, account, side, qty="0", quote="0", **kw):
    return book.place(oid, account, side, T.MARKET, TIF.GTC, 0, Q(qty), quote_qty=Q(quote), timestamp=1000 + oid, **kw)


def test_limit_rests_as_new_and_reports_its_level(book):
    out = limit(book, 1, 7, BUY, "100.00", "0.5")
    trades, reports, levels, _ = split(out)
    assert trades == [] and levels == [LevelChange(BUY, P("100.00"), Q("0.5"))]
    assert (reports[0].status, reports[0].leaves_qty) == (S.NEW, Q("0.5"))
    assert book.best_bid() == P("100.00") and book.best_ask() == 0
    assert book.top() == (P("100.00"), Q("0.5"), 0, 0)


def test_price_time_priority_and_maker_price(book):
    limit(book, 1, 1, SELL, "101.00", "1")
    limit(book, 2, 2, SELL, "100.00", "1")  # better price, later
    limit(book, 3, 3, SELL, "100.00", "1")  # same price, later still
    out = limit(book, 4, 9, BUY, "102.00", "2.5")
    trades, reports, levels, _ = split(out)
    assert [(t.maker_order_id, t.price, t.qty) for t in trades] == [
        (2, P("100.00"), Q("1")), (3, P("100.00"), Q("1")), (1, P("101.00"), Q("0.5"))]
    assert [t.trade_id for t in trades] == [1, 2, 3]
    assert all(t.taker_order_id == 4 and t.taker_side == BUY and not t.buyer_is_maker for t in trades)
    assert trades[2].quote_qty == btc().notional(P("101.00"), Q("0.5")) == Q("50.5")
    assert [(r.order_id, r.status) for r in reports] == [(2, S.FILLED), (3, S.FILLED), (1, S.PARTIALLY_FILLED), (4, S.FILLED)]
    assert reports[-1].executed_qty == Q("2.5") and reports[-1].cum_quote_qty == Q("250.5")
    assert levels == [LevelChange(SELL, P("100.00"), 0), LevelChange(SELL, P("101.00"), Q("0.5"))]
    assert book.depth(5) == ([], [(P("101.00"), Q("0.5"))])


def test_partial_fill_across_many_levels_then_rest(book):
    for i in range(10):
        limit(book, i + 1, 1, SELL, f"{100 + i}.00", "0.1")
    out = limit(book, 99, 2, BUY, "104.50", "1")
    trades, reports, levels, _ = split(out)
    assert len(trades) == 5 and [t.price for t in trades] == [P(f"{100 + i}.00") for i in range(5)]
    taker = reports[-1]
    assert (taker.status, taker.executed_qty, taker.leaves_qty) == (S.PARTIALLY_FILLED, Q("0.5"), Q("0.5"))
    assert levels[-1] == LevelChange(BUY, P("104.50"), Q("0.5"))  # the rest is a new bid
    assert book.best_bid() == P("104.50") and book.best_ask() == P("105.00")
    assert book.depth(2) == ([(P("104.50"), Q("0.5"))], [(P("105.00"), Q("0.1")), (P("106.00"), Q("0.1"))])


def test_ioc_expires_leftover(book):
    limit(book, 1, 1, SELL, "100.00", "0.3")
    out = limit(book, 2, 2, BUY, "100.00", "1", tif=TIF.IOC)
    r = last_report(out, 2)
    assert (r.status, r.executed_qty, r.reason) == (S.EXPIRED, Q("0.3"), "ioc_leftover")
    assert len(book) == 0


def test_fok_that_cannot_fill_completely_expires_without_trades(book):
    limit(book, 1, 1, SELL, "100.00", "0.3")
    limit(book, 2, 1, SELL, "101.00", "0.3")
    out = limit(book, 3, 2, BUY, "100.50", "0.5", tif=TIF.FOK)  # 0.3 within the limit, not 0.5
    assert out == [last_report(out, 3)] and (out[0].status, out[0].reason) == (S.EXPIRED, "fok_unfilled")
    assert book.depth(5)[1] == [(P("100.00"), Q("0.3")), (P("101.00"), Q("0.3"))]
    out = limit(book, 4, 2, BUY, "101.00", "0.6", tif=TIF.FOK)  # exactly all of it
    assert last_report(out, 4).status == S.FILLED and len(book) == 0


def test_market_on_empty_side_expires(book):
    out = market(book, 1, 1, BUY, qty="1")
    assert out == [last_report(out, 1)] and (out[0].status, out[0].reason) == (S.EXPIRED, "no_liquidity")
    # by quoteOrderQty: refused on an empty side (errors.md: "cannot be placed when there are no
    # orders on the book"), a buy as a sell
    for oid, side in ((2, SELL), (3, BUY)):
        out = market(book, oid, 1, side, quote="100")
        assert out == [last_report(out, oid)] and (out[0].status, out[0].reason) == (S.REJECTED, "no_book")


def test_market_by_qty_sweeps_and_expires_remainder(book):
    limit(book, 1, 1, BUY, "99.00", "0.2")
    limit(book, 2, 1, BUY, "98.00", "0.2")
    out = market(book, 3, 2, SELL, qty="0.5")
    trades, reports, _, _ = split(out)
    assert [t.price for t in trades] == [P("99.00"), P("98.00")] and trades[0].buyer_is_maker
    assert (reports[-1].status, reports[-1].executed_qty, reports[-1].reason) == (S.EXPIRED, Q("0.4"), "no_liquidity")


def test_market_by_quote_amount_stops_at_budget(book):
    limit(book, 1, 1, SELL, "100.00", "1")
    limit(book, 2, 1, SELL, "200.00", "1")
    out = market(book, 3, 2, BUY, quote="150.0001")  # 100 at 100, then 0.25 at 200 = 50; 0.0001 buys no step
    trades, reports, _, _ = split(out)
    assert [(t.price, t.qty, t.quote_qty) for t in trades] == [(P("100.00"), Q("1"), Q("100")), (P("200.00"), Q("0.25"), Q("50"))]
    taker = reports[-1]
    assert (taker.status, taker.executed_qty, taker.cum_quote_qty) == (S.FILLED, Q("1.25"), Q("150"))
    assert taker.cum_quote_qty <= Q("150.0001")
    assert book.depth(1)[1] == [(P("200.00"), Q("0.75"))]


def test_market_by_quote_exact_budget_and_by_both_caps(book):
    limit(book, 1, 1, SELL, "100.00", "2")
    out = market(book, 2, 2, BUY, quote="50")
    assert last_report(out, 2).status == S.FILLED and last_report(out, 2).executed_qty == Q("0.5")
    out = market(book, 3, 2, BUY, qty="1", quote="500")  # qty runs out first
    assert (last_report(out, 3).executed_qty, last_report(out, 3).cum_quote_qty) == (Q("1"), Q("100"))
    out = market(book, 4, 2, SELL, quote="10")  # market sell by quote amount received
    assert (last_report(out, 4).status, last_report(out, 4).reason) == (S.REJECTED, "no_book")  # no bids


def test_market_by_quote_keeps_within_lot_size():
    """Binance: "MARKET orders using quoteOrderQty will not break LOT_SIZE filter rules": at most
    MARKET_LOT_SIZE's maxQty, and refused (nothing taken) when less than minQty is on the book or
    when its budget buys less than minQty."""
    from spot_seda.model.symbols import SymbolRules, SymbolSpec
    book = OrderBook(SymbolRules(SymbolSpec(symbol="XYZUSDT", base="XYZ", quote="USDT", tick_size="0.01",
                                            step_size="0.01", min_qty="0.1", max_qty="10", market_max_qty="1",
                                            min_notional="1")))
    limit(book, 1, 1, SELL, "100.00", "0.05")
    out = market(book, 2, 2, BUY, quote="1000")  # 0.05 on the book, minQty 0.1
    assert out == [last_report(out, 2)] and (out[0].status, out[0].reason) == (S.REJECTED, "book_below_min_qty")
    limit(book, 3, 1, SELL, "100.00", "5")
    out = market(book, 4, 2, BUY, quote="9")  # buys 0.09 < 0.1
    assert out == [last_report(out, 4)] and (out[0].status, out[0].reason) == (S.REJECTED, "quote_below_min_qty")
    out = market(book, 5, 2, BUY, quote="10")  # 0.05 at the first maker and 0.05 at the next: minQty exactly
    assert (last_report(out, 5).status, last_report(out, 5).executed_qty) == (S.FILLED, Q("0.1"))
    out = market(book, 6, 2, BUY, quote="400")  # 4 affordable, MARKET_LOT_SIZE maxQty 1
    assert (last_report(out, 6).status, last_report(out, 6).executed_qty, last_report(out, 6).cum_quote_qty) == (
        S.FILLED, Q("1"), Q("100"))
    limit(book, 7, 3, BUY, "90.00", "5")
    out = market(book, 8, 2, SELL, "50", quote="900")  # a sell by quote, its qty the free balance
    assert (last_report(out, 8).status, last_report(out, 8).executed_qty) == (S.FILLED, Q("1"))
    out = market(book, 9, 2, SELL, "0.05", quote="900")  # a free balance below minQty
    assert (last_report(out, 9).status, last_report(out, 9).reason) == (S.REJECTED, "quote_below_min_qty")
    out = market(book, 10, 2, BUY, qty="3")  # by quantity: as before (the API checks MARKET_LOT_SIZE)
    assert last_report(out, 10).executed_qty == Q("3")
    book.check_invariants()


def test_limit_maker_rejected_when_it_would_take(book):
    limit(book, 1, 1, SELL, "100.00", "1")
    out = book.place(2, 2, BUY, T.LIMIT_MAKER, TIF.GTC, P("100.00"), Q("1"))
    assert out == [last_report(out, 2)] and (out[0].status, out[0].reason) == (S.REJECTED, "would_take")
    out = book.place(3, 2, BUY, T.LIMIT_MAKER, TIF.GTC, P("99.99"), Q("1"))
    assert last_report(out, 3).status == S.NEW and book.best_bid() == P("99.99")


def test_cancel_open_filled_and_foreign_orders(book):
    limit(book, 1, 1, SELL, "100.00", "1")
    limit(book, 2, 1, SELL, "100.00", "1")
    limit(book, 3, 2, BUY, "100.00", "1")  # fills order 1
    out = book.cancel(1, 1)  # filled -> unknown
    assert len(out) == 1 and out[0].code == ResultCode.UNKNOWN_ORDER
    out = book.cancel(2, 99)  # not yours -> unknown, nothing changes
    assert out[0].code == ResultCode.UNKNOWN_ORDER and book.order(2) is not None
    out = book.cancel(2, 1)
    _, reports, levels, _ = split(out)
    assert reports[0].status == S.CANCELED and levels == [LevelChange(SELL, P("100.00"), 0)]
    assert book.cancel(2, 1)[0].code == ResultCode.UNKNOWN_ORDER and len(book) == 0


def test_cancel_by_client_id_and_duplicates(book):
    limit(book, 1, 5, BUY, "90.00", "1", client_order_id="abc")
    out = limit(book, 2, 5, BUY, "91.00", "1", client_order_id="abc")
    assert (out[0].status, out[0].reason) == (S.REJECTED, "duplicate_client_order_id")
    assert limit(book, 1, 6, BUY, "91.00", "1")[0].reason == "duplicate_order_id"
    limit(book, 3, 6, BUY, "90.00", "1", client_order_id="abc")  # another account may reuse it
    assert book.cancel_by_client_id(7, "abc")[0].code == ResultCode.UNKNOWN_ORDER
    out = book.cancel_by_client_id(5, "abc")
    assert out[0].order_id == 1 and out[0].status == S.CANCELED
    assert out[1] == LevelChange(BUY, P("90.00"), Q("1"))
    limit(book, 4, 5, BUY, "90.00", "1", client_order_id="abc")  # free again once closed


def test_cancel_all_only_touches_that_account(book):
    for oid, account, price in [(1, 1, "90.00"), (2, 2, "91.00"), (3, 1, "92.00"), (4, 1, "110.00")]:
        limit(book, oid, account, BUY if price < "100" else SELL, price, "1")
    out = book.cancel_all(1)
    assert [r.order_id for r in split(out)[1]] == [1, 3, 4]
    assert [o.order_id for o in book.open_orders(2)] == [2] and book.open_orders(1) == []
    assert book.cancel_all(1) == []


@pytest.mark.parametrize("mode", [STP.EXPIRE_TAKER, STP.EXPIRE_MAKER, STP.EXPIRE_BOTH, STP.NONE])
def test_self_trade_prevention_modes(book, mode):
    limit(book, 1, 2, SELL, "100.00", "1")  # someone else, first in line
    limit(book, 2, 1, SELL, "100.00", "1")  # our own resting order
    limit(book, 3, 2, SELL, "100.00", "1")
    out = limit(book, 4, 1, BUY, "100.00", "3", stp=mode)
    trades, reports, _, _ = split(out)
    status = {r.order_id: r.status for r in reports}
    if mode == STP.NONE:
        assert [t.maker_order_id for t in trades] == [1, 2, 3] and status[4] == S.FILLED
    elif mode == STP.EXPIRE_TAKER:
        assert [t.maker_order_id for t in trades] == [1] and status[4] == S.EXPIRED_IN_MATCH
        assert book.order(2) is not None and book.order(3) is not None
    elif mode == STP.EXPIRE_MAKER:
        assert [t.maker_order_id for t in trades] == [1, 3] and status[2] == S.EXPIRED_IN_MATCH
        assert status[4] == S.PARTIALLY_FILLED and book.best_bid() == P("100.00")
    else:
        assert [t.maker_order_id for t in trades] == [1] and status[2] == status[4] == S.EXPIRED_IN_MATCH
        assert book.order(2) is None and book.order(3) is not None
    assert last_report(out, 4).executed_qty == Q("1") * len(trades)
    # the prevented match (faqs/stp_faq.md), before the reports it causes: the taker's mode, the
    # maker's price, what it took off each order it touched (-1: one it left alone)
    prevented = [r for r in out if type(r) is PreventedMatch]
    taker_qty, maker_qty = {STP.EXPIRE_TAKER: (Q("2"), -1), STP.EXPIRE_MAKER: (-1, Q("1")),
                            STP.EXPIRE_BOTH: (Q("2"), Q("1")), STP.DECREMENT: (Q("1"), Q("1"))}.get(mode, (None, None))
    if mode == STP.NONE:
        assert prevented == []
    else:
        assert prevented == [PreventedMatch(0, 4, 2, 1, mode, P("100.00"), taker_qty, maker_qty)], prevented
        first_report = next(i for i, r in enumerate(out) if type(r) is OrderReport and r.order_id in (2, 4)
                            and r.status == S.EXPIRED_IN_MATCH)
        assert out.index(prevented[0]) < first_report
        # the next one on this book is 1 (ids per book, from 0), and a snapshot keeps the count
        again = OrderBook.restore(book.rules, book.snapshot())
        limit(again, 5, 1, SELL, "101.00", "1")
        out = limit(again, 6, 1, BUY, "101.00", "2", stp=mode)
        assert [r.prevented_match_id for r in out if type(r) is PreventedMatch] == [1], out


def test_fok_counts_only_liquidity_stp_lets_it_take(book):
    limit(book, 1, 1, SELL, "100.00", "1")  # own
    limit(book, 2, 2, SELL, "100.00", "1")
    out = limit(book, 3, 1, BUY, "100.00", "1", tif=TIF.FOK, stp=STP.EXPIRE_TAKER)
    assert out[0].reason == "fok_unfilled" and len(book) == 2
    out = limit(book, 4, 1, BUY, "100.00", "1", tif=TIF.FOK, stp=STP.EXPIRE_MAKER)
    assert last_report(out, 4).status == S.FILLED and last_report(out, 1).status == S.EXPIRED_IN_MATCH


def test_lazy_cancel_compaction_keeps_priority(book):
    for i in range(1, 101):
        limit(book, i, i, SELL, "100.00", "0.01")
    for i in range(1, 101):
        if i % 10:
            book.cancel(i, i)
    level = book._levels[SELL][-P("100.00")]
    assert level.count == 10 and len(level.orders) < 40  # dead entries were compacted away
    out = limit(book, 1000, 1000, BUY, "100.00", "0.03")
    assert [t.maker_order_id for t in split(out)[0]] == [10, 20, 30]


def test_snapshot_restore_round_trip_and_same_future(book):
    limit(book, 1, 1, SELL, "100.00", "1", client_order_id="x")
    limit(book, 2, 2, SELL, "100.00", "1")
    limit(book, 3, 3, BUY, "99.00", "1", stp=STP.EXPIRE_BOTH)
    limit(book, 4, 3, BUY, "100.00", "0.5")
    raw = msgspec.msgpack.encode(book.snapshot())
    twin = OrderBook.restore(btc(), msgspec.msgpack.decode(raw))
    assert twin.state_hash() == book.state_hash()
    assert limit(twin, 5, 4, BUY, "101.00", "2") == limit(book, 5, 4, BUY, "101.00", "2")
    assert twin.state_hash() == book.state_hash()
    twin.check_invariants()
    with pytest.raises(ValueError):
        OrderBook.restore(eth(), book.snapshot())


def test_validate_detects_corruption(book):
    limit(book, 1, 1, SELL, "100.00", "1")
    book.order(1).leaves += 1  # the level total no longer matches
    with pytest.raises(InvariantError):
        book.check_invariants()
    book.order(1).leaves -= 1


def stop(book, oid, account, side, type_, stop_price, qty, price="0", tif=TIF.GTC, **kw):
    return book.place(oid, account, side, type_, tif, P(price), Q(qty), timestamp=1000 + oid,
                      stop_price=P(stop_price), **kw)


def trade_at(book, oid, price, qty="0.01"):
    """One trade at `price` between accounts 90 (maker sell) and 91 (taker buy): sets the last price."""
    limit(book, oid, 90, SELL, price, qty)
    return limit(book, oid + 1, 91, BUY, price, qty)


@pytest.mark.parametrize("type_,side,above,below", [
    (T.STOP_LOSS, SELL, True, False), (T.STOP_LOSS_LIMIT, SELL, True, False),
    (T.STOP_LOSS, BUY, False, True), (T.STOP_LOSS_LIMIT, BUY, False, True),
    (T.TAKE_PROFIT, SELL, False, True), (T.TAKE_PROFIT_LIMIT, SELL, False, True),
    (T.TAKE_PROFIT, BUY, True, False), (T.TAKE_PROFIT_LIMIT, BUY, True, False),
])
def test_a_stop_placed_where_it_would_trigger_is_rejected(book, type_, side, above, below):
    """Binance: STOP_LOSS sells / TAKE_PROFIT buys trigger at last <= stop, the others at last >= stop,
    so a STOP_LOSS sell goes below the market, a STOP_LOSS buy above it, a TAKE_PROFIT the other way;
    placed with its condition already true (equality included) a stop is rejected."""
    price = "100.00" if type_.working_type == T.LIMIT else "0"
    assert last_report(stop(book, 1, 7, side, type_, "100.00", "0.1", price), 1).status == S.NEW  # no last price yet
    trade_at(book, 10, "100.00")
    assert book.last_price == P("100.00")
    at = stop(book, 2, 7, side, type_, "100.00", "0.1", price)
    assert at == [OrderReport(2, 7, S.REJECTED, 0, 0, 0, "would_trigger")]
    for oid, stop_price, would in ((3, "101.00", above), (4, "99.00", below)):
        report = last_report(stop(book, oid, 7, side, type_, stop_price, "0.1", price), oid)
        assert (report.status, report.reason) == ((S.REJECTED, "would_trigger") if would else (S.NEW, ""))


def test_a_pending_stop_is_open_but_off_the_book_until_a_trade_reaches_it(book):
    trade_at(book, 1, "100.00")
    out = stop(book, 5, 7, SELL, T.STOP_LOSS_LIMIT, "95.00", "0.5", price="94.00", stp=STP.NONE)
    assert out == [OrderReport(5, 7, S.NEW, 0, 0, Q("0.5"), "")]  # no LevelChange: not on the book
    assert book.depth(5) == ([], []) and [o.order_id for o in book.open_orders(7)] == [5] and book.order(5).executed == 0
    limit(book, 20, 8, BUY, "94.00", "1")
    trade_at(book, 30, "96.00")  # not yet
    assert book.stops()[0].order_id == 5
    out = trade_at(book, 40, "95.00")  # reached: it sells into the bid at 94.00 as a LIMIT at 94.00
    i = out.index(Triggered(5, 7))
    trades, reports, levels, _ = split(out[i + 1:])
    assert [(t.price, t.qty, t.taker_order_id, t.maker_order_id, t.timestamp) for t in trades] == [
        (P("94.00"), Q("0.5"), 5, 20, 1041)]  # at the triggering command's time
    assert reports[-1] == OrderReport(5, 7, S.FILLED, Q("0.5"), Q("47"), 0, "")
    assert book.stops() == [] and book.last_price == P("94.00")


def test_a_triggered_stop_limit_rests_with_its_time_in_force_and_price(book):
    trade_at(book, 1, "100.00")
    stop(book, 5, 7, BUY, T.STOP_LOSS_LIMIT, "101.00", "0.5", price="102.00")
    stop(book, 6, 7, BUY, T.TAKE_PROFIT_LIMIT, "99.00", "0.5", price="98.00", tif=TIF.IOC)
    out = trade_at(book, 10, "101.00")
    assert out[-2:] == [LevelChange(BUY, P("102.00"), Q("0.5")), OrderReport(5, 7, S.NEW, 0, 0, Q("0.5"), "")]
    assert book.best_bid() == P("102.00") and [o.order_id for o in book.stops()] == [6]
    out = limit(book, 20, 8, SELL, "99.00", "0.2")  # takes 0.2 of the 102.00 bid: the last price is 102.00
    assert Triggered(6, 7) not in out
    out = market(book, 21, 8, SELL, qty="0.5")  # 0.3 at 102.00; then nothing: the book is empty
    assert Triggered(6, 7) not in out and book.last_price == P("102.00")
    limit(book, 22, 9, BUY, "98.50", "1")
    out = market(book, 23, 8, SELL, qty="0.1")  # a trade at 98.50 <= 99.00: the IOC at 98.00 cannot buy
    assert out[-2:] == [Triggered(6, 7), OrderReport(6, 7, S.EXPIRED, 0, 0, 0, "ioc_leftover")]


def test_triggered_stops_run_oldest_first_and_their_trades_trigger_more(book):
    trade_at(book, 1, "100.00")
    for oid, price in ((10, "99.00"), (11, "98.00"), (12, "97.00"), (13, "96.00")):
        limit(book, oid, 8, BUY, price, "0.1")
    stop(book, 21, 7, SELL, T.STOP_LOSS, "97.00", "0.1")  # reached only by 20's trades
    stop(book, 20, 6, SELL, T.STOP_LOSS, "99.00", "0.2")
    stop(book, 22, 5, SELL, T.STOP_LOSS, "99.50", "0.1")
    out = market(book, 30, 9, SELL, qty="0.1")  # a trade at 99.00: reaches 20 and 22, not 21
    assert [r.order_id for r in out if type(r) is Triggered] == [20, 22, 21]
    trades = [(t.taker_order_id, t.price) for t in out if type(t) is Trade]
    assert trades == [(30, P("99.00")), (20, P("98.00")), (20, P("97.00")), (22, P("96.00"))]
    assert last_report(out, 21) == OrderReport(21, 7, S.EXPIRED, 0, 0, 0, "no_liquidity")
    assert book.stops() == [] and book.last_price == P("96.00")


def test_pending_stops_cancel_by_id_client_id_and_all_and_hold_their_client_id(book):
    stop(book, 1, 7, SELL, T.STOP_LOSS, "90.00", "0.1", client_order_id="x")
    stop(book, 2, 7, BUY, T.TAKE_PROFIT_LIMIT, "90.00", "0.1", price="90.00")
    stop(book, 3, 8, BUY, T.STOP_LOSS, "110.00", "0.1")
    assert last_report(limit(book, 4, 7, BUY, "50.00", "0.1", client_order_id="x"), 4).reason == "duplicate_client_order_id"
    assert last_report(stop(book, 3, 9, SELL, T.STOP_LOSS, "90.00", "0.1"), 3).reason == "duplicate_order_id"
    assert book.cancel(3, 7) == [CancelRejected(3, 7, "", ResultCode.UNKNOWN_ORDER)]  # not yours
    assert book.cancel_by_client_id(7, "x") == [OrderReport(1, 7, S.CANCELED, 0, 0, 0, "")]
    limit(book, 5, 7, SELL, "200.00", "0.1")
    assert [r.order_id for r in book.cancel_all(7) if type(r) is OrderReport] == [2, 5]
    assert book.cancel(3, 8) == [OrderReport(3, 8, S.CANCELED, 0, 0, 0, "")]
    assert book.stops() == [] and book.open_orders(7) == []


def test_snapshot_restore_keeps_pending_stops_and_the_last_price(book):
    trade_at(book, 1, "100.00")
    stop(book, 5, 7, SELL, T.STOP_LOSS_LIMIT, "95.00", "0.5", price="94.00", client_order_id="s")
    stop(book, 6, 8, BUY, T.TAKE_PROFIT, "90.00", "0.5", quote_qty=Q("50"))
    twin = OrderBook.restore(btc(), msgspec.msgpack.decode(msgspec.msgpack.encode(book.snapshot())))
    assert twin.state_hash() == book.state_hash() and twin.last_price == P("100.00")
    assert stop(twin, 7, 7, SELL, T.STOP_LOSS, "100.00", "0.1")[0].reason == "would_trigger"
    for b in (book, twin):
        limit(b, 20, 9, BUY, "89.00", "2")
        out = trade_at(b, 30, "90.00")
        assert [r.order_id for r in out if type(r) is Triggered] == [5, 6]
    assert twin.state_hash() == book.state_hash()
    twin.check_invariants()


def test_a_book_pickled_before_stop_orders_unpickles_with_none_pending(book):
    import pickle

    limit(book, 1, 7, BUY, "100.00", "0.5")
    # (pickled then as every book was before OrderBook.__getstate__: its attributes, objects and all)
    old = {k: v for k, v in book.__dict__.items() if k not in ("last_price", "_stops", "_falls", "_rises")}
    again = OrderBook.__new__(OrderBook)
    again.__setstate__(pickle.loads(pickle.dumps(old)))
    assert again.stops() == [] and again.last_price == 0 and again.order(1).leaves == Q("0.5")
    again.check_invariants()


def test_a_book_holding_more_than_64_bits_pickles_as_objects(book):
    """Match's snapshot pickles a book as its snapshot() in msgpack (OrderBook.__getstate__), whose ints
    stop at 64 bits; Python's do not, so such a book is pickled as its objects, and reads back the same."""
    import pickle

    limit(book, 1, 7, BUY, "100.00", "0.5")
    limit(book, 2, 8, BUY, "99.00", "0.25")
    book.order(1).cum_quote = 2**70  # (no real order reaches it: the bound is msgpack's, not the book's)
    state = book.__getstate__()
    assert "packed" not in state  # (the test can fail: packed, msgpack would have raised)
    again = pickle.loads(pickle.dumps(book))
    assert again.snapshot() == book.snapshot() and again.order(1).cum_quote == 2**70
    again.check_invariants()
