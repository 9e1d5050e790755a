"""Trailing stops in the book, scenario by scenario as Binance's trailing-stop FAQ tells them (its
prices and deltas, A to E): when the tracking starts, which price is the best so far, and the first
trade that triggers; and a trailing stop's state through a snapshot."""

from __future__ import annotations

import msgspec
import pytest
from engine_helpers import P, Q, btc

from spot_seda.engine.book import OrderBook
from spot_seda.engine.records import OrderReport, TrailingStarted, Triggered
from spot_seda.model.enums import OrderStatus as S
from spot_seda.model.enums import OrderType as T
from spot_seda.model.enums import Side
from spot_seda.model.enums import TimeInForce as TIF

STOP_ID = 1_000  # the trailing stop's order id (account 3); the trades' orders count from 1


class Tape:
    """A book whose last price a test moves one trade at a time (accounts 1 and 2 trade 0.001 BTC)."""

    def __init__(self, first: str) -> None:
        self.book = OrderBook(btc())
        self.next_id = 0
        self.trade(first)

    def trade(self, price: str) -> list:
        """One trade at `price`: a resting sell, an IOC buy that takes it. Returns the buy's records."""
        self.next_id += 2
        book, oid, ts = self.book, self.next_id, 1_000 + self.next_id
        assert book.place(oid - 1, 1, Side.SELL, T.LIMIT, TIF.GTC, P(price), Q("0.001"), timestamp=ts)
        return book.place(oid, 2, Side.BUY, T.LIMIT, TIF.IOC, P(price), Q("0.001"), timestamp=ts)

    def walk(self, *prices: str) -> str | None:
        """Trade at each price in turn; the first at which the trailing stop triggered, else None."""
        for price in prices:
            if any(type(r) is Triggered and r.order_id == STOP_ID for r in self.trade(price)):
                return price
        return None

    def tracking(self) -> bool:
        stop = self.book.order(STOP_ID)
        return bool(stop.trail or not stop.stop_price)


def place(tape: Tape, side: Side, type_: T, delta: int, stop: str | None, price: str = "0") -> list:
    limit = type_ in (T.STOP_LOSS_LIMIT, T.TAKE_PROFIT_LIMIT)
    return tape.book.place(STOP_ID, 3, side, type_, TIF.GTC, P(price) if limit else 0, Q("0.01"), 0, "", 0, 5,
                           P(stop) if stop else 0, delta)


def test_a_trailing_stop_loss_limit_buy_with_an_activation_price():
    """Scenario A: BUY STOP_LOSS_LIMIT, stopPrice 44,000, delta 500 (5%), last price 40,000."""
    tape = Tape("40000")
    assert [type(r) for r in place(tape, Side.BUY, T.STOP_LOSS_LIMIT, 500, "44000", "45000")] == [OrderReport]
    assert tape.walk("39000", "38000", "37000") is None and not tape.tracking()  # 7.5% down: not started yet
    out = tape.trade("44000")  # the stop price: it starts, 44,000 its lowest
    assert TrailingStarted(STOP_ID, 3) in out and tape.book.order(STOP_ID).trail == P("44000")
    assert tape.walk("45000", "46000") is None  # +454 BIPS
    assert tape.walk("44000", "42000") is None and tape.book.order(STOP_ID).trail == P("42000")  # a new low
    assert tape.walk("44099.99") is None
    assert tape.walk("44100") == "44100"  # 42,000 x 1.05
    assert tape.book.order(STOP_ID).price == P("45000")  # working: a LIMIT buy at 45,000, resting


def test_a_trailing_stop_loss_limit_sell_with_an_activation_price():
    """Scenario B: SELL STOP_LOSS_LIMIT, stopPrice 39,000, delta 1000 (10%), last price 40,000."""
    tape = Tape("40000")
    place(tape, Side.SELL, T.STOP_LOSS_LIMIT, 1000, "39000", "38000")
    assert tape.walk("41500") is None and not tape.tracking()
    assert tape.walk("40000", "39000") is None and tape.book.order(STOP_ID).trail == P("39000")
    assert tape.walk("37000") is None  # -512 BIPS
    assert tape.walk("41000", "36900.01") is None and tape.book.order(STOP_ID).trail == P("41000")
    assert tape.walk("36900") == "36900"  # 41,000 x 0.90


def test_a_trailing_take_profit_limit_buy_with_an_activation_price():
    """Scenario C: BUY TAKE_PROFIT_LIMIT, stopPrice 38,000, delta 850, last price 40,000."""
    tape = Tape("40000")
    place(tape, Side.BUY, T.TAKE_PROFIT_LIMIT, 850, "38000", "38500")
    assert tape.walk("42000", "38000", "37000", "39000", "38000") is None  # 38,000 starts it; 37,000 the low
    assert tape.book.order(STOP_ID).trail == P("37000")
    assert tape.walk("40144.99") is None
    assert tape.walk("40145") == "40145"  # 37,000 x 1.085


def test_a_trailing_take_profit_limit_sell_with_an_activation_price():
    """Scenario D: SELL TAKE_PROFIT_LIMIT, stopPrice 42,000, delta 750, last price 40,000."""
    tape = Tape("40000")
    place(tape, Side.SELL, T.TAKE_PROFIT_LIMIT, 750, "42000", "41000")
    assert tape.walk("41500", "39000") is None and not tape.tracking()  # below its activation price
    assert tape.walk("42000", "45000", "44000", "46500") is None and tape.book.order(STOP_ID).trail == P("46500")
    assert tape.walk("43012.51") is None
    assert tape.walk("43012.50") == "43012.50"  # 46,500 x 0.925


def test_a_trailing_stop_without_a_stop_price_tracks_from_the_last_price():
    """Scenario E: SELL STOP_LOSS_LIMIT, no stopPrice, delta 700, last price 40,000: it starts at once."""
    tape = Tape("40000")
    out = place(tape, Side.SELL, T.STOP_LOSS_LIMIT, 700, None, "39000")
    assert out == [OrderReport(STOP_ID, 3, S.NEW, 0, 0, Q("0.01"), ""), TrailingStarted(STOP_ID, 3)]
    assert tape.book.order(STOP_ID).trail == P("40000")
    assert tape.walk("42000", "39500", "45500") is None  # -595 BIPS from 42,000, then a new high
    assert tape.walk("42315.01") is None
    assert tape.walk("42315") == "42315"  # 45,500 x 0.93


def test_one_takers_trades_are_followed_one_by_one():
    """A taker that walks the book from 39,000 down to 35,000 starts a stop whose activation price is
    39,000 and, within the same command, triggers it 10% below that."""
    tape = Tape("40000")
    place(tape, Side.SELL, T.STOP_LOSS, 1000, "39000")
    for n, price in enumerate(("39000", "37000", "35000"), start=1):
        tape.book.place(500 + n, 1, Side.BUY, T.LIMIT, TIF.GTC, P(price), Q("0.001"), timestamp=9)
    out = tape.book.place(600, 2, Side.SELL, T.MARKET, TIF.GTC, 0, Q("0.003"), timestamp=9)
    assert [type(r).__name__ for r in out if type(r) in (TrailingStarted, Triggered)] == ["TrailingStarted", "Triggered"]
    assert tape.book.order(STOP_ID) is None


@pytest.mark.parametrize("stop,prices,best,below,at", [
    ("44000", ("44000", "42000"), "42000", "44099.99", "44100"),  # started at 44,000, 42,000 since
    (None, ("39000", "40000"), "39000", "40949.99", "40950"),  # from 40,000 at once, 39,000 since
])
def test_a_trailing_stop_and_its_best_price_come_back_from_a_snapshot(stop, prices, best, below, at):
    tape = Tape("40000")
    place(tape, Side.BUY, T.STOP_LOSS, 500, stop)
    assert tape.walk(*prices) is None
    snapshot = msgspec.msgpack.decode(msgspec.msgpack.encode(tape.book.snapshot()))
    twin = OrderBook.restore(btc(), snapshot)
    assert twin.state_hash() == tape.book.state_hash() and twin.order(STOP_ID).trail == P(best)
    tape.book = twin
    assert tape.walk(below) is None and tape.walk(at) == at


def test_a_trailing_stop_with_a_stop_price_already_reached_is_rejected():
    tape = Tape("40000")
    out = place(tape, Side.SELL, T.TAKE_PROFIT, 100, "39000")  # a TAKE_PROFIT sell starts at or above 39,000
    assert out == [OrderReport(STOP_ID, 3, S.REJECTED, 0, 0, 0, "would_trigger")]
    tape.book.check_invariants()
