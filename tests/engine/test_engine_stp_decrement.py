"""Self-trade prevention DECREMENT (Binance's stp_faq): both orders lose the overlap without a trade,
the smaller ends EXPIRED_IN_MATCH (both when equal), the other goes on; each test ends with the
book's invariant check (random streams against the naive twin: test_engine_book_properties.py)."""

from __future__ import annotations

import pytest
from engine_helpers import P, Q, btc

from spot_seda.engine.book import OrderBook
from spot_seda.engine.records import LevelChange, OrderReport, PreventedMatch, Trade
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
    b.check_invariants()


def limit(book, oid, account, side, price, qty, tif=TIF.GTC, stp=STP.NONE):
    return book.place(oid, account, side, T.LIMIT, tif, P(price), Q(qty), stp=stp, timestamp=1000 + oid)


def test_scenario_g_the_smaller_taker_expires_and_the_maker_stays_smaller(book):
    limit(book, 23, 1, BUY, "2", "6")
    out = limit(book, 24, 1, SELL, "2", "2", stp=STP.DECREMENT)
    hold = btc().notional(P("2"), Q("4"))  # the maker's open 4 at 2: what it still needs frozen
    # the prevented match first (its id 0: the book's first), what it took off each: the overlap
    assert out == [PreventedMatch(0, 24, 23, 1, STP.DECREMENT, P("2"), Q("2"), Q("2")),
                   OrderReport(23, 1, S.NEW, 0, 0, Q("4"), "", Q("2"), hold), LevelChange(BUY, P("2"), Q("4")),
                   OrderReport(24, 1, S.EXPIRED_IN_MATCH, 0, 0, 0, "stp", Q("2"))]
    assert book.order(23).leaves == Q("4") and book.order(23).prevented == Q("2")


def test_a_smaller_maker_expires_and_the_taker_trades_on_and_rests(book):
    limit(book, 1, 1, SELL, "100", "0.3")  # own
    limit(book, 2, 2, SELL, "100", "0.5")  # another's, behind it
    out = limit(book, 3, 1, BUY, "100", "1", stp=STP.DECREMENT)
    reports = [r for r in out if type(r) is OrderReport]
    assert reports[0] == OrderReport(1, 1, S.EXPIRED_IN_MATCH, 0, 0, 0, "stp", Q("0.3"))
    assert [(t.maker_order_id, t.qty) for t in out if type(t) is Trade] == [(2, Q("0.5"))]
    # 1 - 0.3 prevented - 0.5 executed = 0.2 rests; its hold: 0.2 at 100
    assert reports[-1] == OrderReport(3, 1, S.PARTIALLY_FILLED, Q("0.5"), btc().notional(P("100"), Q("0.5")), Q("0.2"),
                                      "", Q("0.3"), btc().notional(P("100"), Q("0.2")))
    assert book.best_bid() == P("100") and book.order(3).leaves == Q("0.2")


def test_equal_quantities_both_expire(book):
    limit(book, 1, 1, SELL, "100", "0.5")
    out = limit(book, 2, 1, BUY, "101", "0.5", stp=STP.DECREMENT)
    assert [(r.order_id, r.status) for r in out if type(r) is OrderReport] == [(1, S.EXPIRED_IN_MATCH),
                                                                               (2, S.EXPIRED_IN_MATCH)]
    assert len(book) == 0


def test_a_market_order_by_quote_budget_loses_no_budget_and_a_fok_expires(book):
    limit(book, 1, 1, SELL, "100", "0.3")
    limit(book, 2, 2, SELL, "100", "0.5")
    assert [r.status for r in limit(book, 3, 1, BUY, "100", "0.8", tif=TIF.FOK, stp=STP.DECREMENT)] == [S.EXPIRED]
    out = book.place(4, 1, BUY, T.MARKET, TIF.GTC, 0, 0, quote_qty=Q("20"), stp=STP.DECREMENT, timestamp=1004)
    # (the overlap counts as the taker's prevented quantity too, as its report says, its budget intact)
    assert out[:2] == [PreventedMatch(0, 4, 1, 1, STP.DECREMENT, P("100"), Q("0.3"), Q("0.3")),
                       OrderReport(1, 1, S.EXPIRED_IN_MATCH, 0, 0, 0, "stp", Q("0.3"))]
    assert [(t.maker_order_id, t.qty) for t in out if type(t) is Trade] == [(2, Q("0.2"))]  # 20 USDT at 100
