"""OrderBook.amend (engine/amend.py): reduce an order's quantity keeping its queue position, as
Binance's Order Amend Keep Priority FAQ shows it; every test ends with the book's invariant check
(the random command streams against the naive twin are in test_engine_book_properties.py)."""

from __future__ import annotations

import msgspec
import pytest
from engine_helpers import P, Q, btc

from spot_seda.engine.amend import Amended, AmendRejected
from spot_seda.engine.book import OrderBook
from spot_seda.engine.records import LevelChange, OrderReport, Trade
from spot_seda.engine.results import ResultCode
from spot_seda.model.enums import OrderStatus as S
from spot_seda.model.enums import OrderType as T
from spot_seda.model.enums import Side
from spot_seda.model.enums import TimeInForce as TIF

BUY, SELL = Side.BUY, Side.SELL


@pytest.fixture
def book():
    b = OrderBook(btc())
    yield b
    b.check_invariants()


def limit(book, oid, account, side, price, qty, cid=""):
    return book.place(oid, account, side, T.LIMIT, TIF.GTC, P(price), Q(qty), client_order_id=cid, timestamp=1000 + oid)


def test_the_faq_example_keeps_its_place_in_the_queue(book):
    """User A 1.00, YOU 5.50, User B 4.00 at 87,000: amended to 5.00, YOU still trades before B."""
    limit(book, 10, 1, BUY, "87000", "1")
    limit(book, 15, 2, BUY, "87000", "5.5", cid="mine")
    limit(book, 20, 3, BUY, "87000", "4")
    out = book.amend(15, 2, Q("5"), "mine2")
    hold = btc().notional(P("87000"), Q("5"))
    assert out == [Amended(15, 2, Q("5"), "mine2", hold), LevelChange(BUY, P("87000"), Q("10")),
                   OrderReport(15, 2, S.NEW, 0, 0, Q("5"), "")]
    out = book.place(30, 4, SELL, T.MARKET, TIF.GTC, 0, Q("6"), timestamp=2000)
    assert [(t.maker_order_id, t.qty) for t in out if type(t) is Trade] == [(10, Q("1")), (15, Q("5"))]
    assert book.order(20).leaves == Q("4")


def test_a_partly_filled_order_and_the_ends_of_the_range(book):
    limit(book, 1, 1, SELL, "100", "1")
    book.place(2, 2, BUY, T.LIMIT, TIF.IOC, P("100"), Q("0.4"), timestamp=1002)  # 0.4 of order 1 fills
    assert book.amend(1, 1, Q("1")) == [AmendRejected(1, 1, ResultCode.AMEND_NOT_REDUCING)]  # no change
    assert book.amend(1, 1, Q("2")) == [AmendRejected(1, 1, ResultCode.AMEND_NOT_REDUCING)]  # an increase
    assert book.amend(1, 2, Q("0.5")) == [AmendRejected(1, 2, ResultCode.UNKNOWN_ORDER)]  # another's
    assert book.amend(99, 1, Q("0.5")) == [AmendRejected(99, 1, ResultCode.UNKNOWN_ORDER)]
    out = book.amend(1, 1, Q("0.5"))
    assert out[0] == Amended(1, 1, Q("0.5"), "", Q("0.1"))  # a sell keeps its open quantity frozen
    assert out[-1] == OrderReport(1, 1, S.PARTIALLY_FILLED, Q("0.4"), btc().notional(P("100"), Q("0.4")), Q("0.1"), "")
    # at or below what has executed: nothing would be left, the order ends
    out = book.amend(1, 1, Q("0.4"))
    assert out[0] == OrderReport(1, 1, S.EXPIRED, Q("0.4"), btc().notional(P("100"), Q("0.4")), 0, "amend")
    assert out[1:] == [LevelChange(SELL, P("100"), 0)] and book.order(1) is None and len(book) == 0


def test_client_ids_move_and_duplicates_are_refused(book):
    limit(book, 1, 1, BUY, "100", "1", cid="a")
    limit(book, 2, 1, BUY, "99", "1", cid="b")
    assert book.amend(1, 1, Q("0.5"), "b") == [AmendRejected(1, 1, ResultCode.DUPLICATE_CLIENT_ORDER_ID)]
    assert book.order(1).leaves == Q("1")  # nothing changed
    book.amend(1, 1, Q("0.5"), "c")
    assert book.cancel_by_client_id(1, "a")[0].code == ResultCode.UNKNOWN_ORDER  # "a" is free again
    assert book.cancel_by_client_id(1, "c")[0].order_id == 1
    book.amend(2, 1, Q("0.5"), "b")  # its own id again: allowed
    assert book.order(2).client_order_id == "b"


def test_a_pending_stop_is_amended_and_survives_a_snapshot(book):
    book.place(1, 1, SELL, T.STOP_LOSS_LIMIT, TIF.GTC, P("90"), Q("2"), stop_price=P("95"), timestamp=1001)
    book.place(2, 1, BUY, T.STOP_LOSS, TIF.GTC, 0, Q("2"), quote_qty=Q("500"), stop_price=P("105"), timestamp=1002)
    assert book.amend(1, 1, Q("1.5")) == [Amended(1, 1, Q("1.5"), "", Q("1.5")),
                                          OrderReport(1, 1, S.NEW, 0, 0, Q("1.5"), "")]
    assert book.amend(2, 1, Q("1"))[0].hold == Q("500")  # a market buy keeps its whole budget
    twin = OrderBook.restore(btc(), msgspec.msgpack.decode(msgspec.msgpack.encode(book.snapshot())))
    assert twin.state_hash() == book.state_hash() and twin.order(1).qty == Q("1.5")
    # triggered, it works with the amended quantity
    limit(book, 3, 2, BUY, "94", "5")
    out = book.place(4, 3, SELL, T.LIMIT, TIF.GTC, P("94"), Q("0.1"), timestamp=1004)
    assert [r for r in out if type(r) is OrderReport and r.order_id == 1][-1].executed_qty == Q("1.5")


def test_an_oto_pending_order_is_amended_off_the_book_and_placed_with_its_new_quantity():
    from engine_reference import ReferenceBook

    for b in (OrderBook(btc()), ReferenceBook(btc())):
        working = (1, 1, BUY, T.LIMIT, TIF.GTC, P("100"), Q("1"), 0, "w", 0, 1001)
        pending = (2, 1, SELL, T.LIMIT, TIF.GTC, P("110"), Q("1"), 0, "p", 0, 1001)
        assert b.place_oto(working, pending)[0].status == S.PENDING_NEW
        assert b.amend(2, 1, Q("2")) == [AmendRejected(2, 1, ResultCode.AMEND_NOT_REDUCING)]
        assert b.amend(2, 2, Q("0.5")) == [AmendRejected(2, 2, ResultCode.UNKNOWN_ORDER)]
        assert b.amend(2, 1, Q("0.5"), "p2") == [Amended(2, 1, Q("0.5"), "p2", Q("0.5")),
                                                 OrderReport(2, 1, S.PENDING_NEW, 0, 0, Q("0.5"), "")]
        out = b.place(3, 2, SELL, T.LIMIT, TIF.GTC, P("100"), Q("1"), timestamp=1003)  # fills the working order
        placed = [r for r in out if type(r) is OrderReport and r.order_id == 2]
        assert placed == [OrderReport(2, 1, S.NEW, 0, 0, Q("0.5"), "")]
    # an OTOCO's pair: amending one amends both, their hold the dearer need
    book = OrderBook(btc())
    working = (1, 1, BUY, T.LIMIT, TIF.GTC, P("100"), Q("1"), 0, "", 0, 1001)
    above = (2, 1, SELL, T.LIMIT_MAKER, TIF.GTC, P("120"), Q("1"), 0, "", 0, 1001)
    below = (3, 1, SELL, T.STOP_LOSS_LIMIT, TIF.GTC, P("90"), Q("1"), 0, "", 0, 1001, P("95"))
    book.place_oto(working, above, below)
    out = book.amend(3, 1, Q("0.4"))
    assert [(type(r).__name__, r.order_id) for r in out] == [("Amended", 2), ("OrderReport", 2), ("Amended", 3),
                                                           ("OrderReport", 3)]
    assert {r.hold for r in out if type(r) is Amended} == {Q("0.4")}
    book.check_invariants()
