"""What an order book (book.py) holds and returns: the orders it keeps, resting or waiting for their
trigger, and the records a command returns, in the order they happened:

- `Trade`        one fill; price is always the maker's price.
- `OrderReport`  one state change of one order: each maker touched (PARTIALLY_FILLED, FILLED,
                 EXPIRED_IN_MATCH), then the taker's state once, at the end of the command (NEW,
                 PARTIALLY_FILLED, FILLED, EXPIRED, EXPIRED_IN_MATCH, REJECTED) — a stage that
                 wants Binance's NEW-then-TRADE executionReports derives them from these.
- `LevelChange`  the new total quantity of a price level this command touched (0 = level gone),
                 one record per level per command: the depth diff stream.
- `CancelRejected` a cancel named an order that is not open for that account (UNKNOWN_ORDER).
- `Triggered`    a stop order's stop price was reached: the records of its first pass as the order
                 it becomes follow (its trades, the makers it touched, its own report last).
- `Amended` / `AmendRejected`  an amend's outcome (engine/amend.py).
- `TrailingStarted` a trailing stop started tracking the trade price.
- `PreventedMatch` self-trade prevention stopped a match (before the reports of the orders it
                 took quantity off).

All are msgspec Structs without GC tracking; the records are frozen and array-like (Match encodes
them by the thousand), the orders mutable and owned by the book.
"""

from __future__ import annotations

import msgspec

from ..model.enums import Side, triggers_on_fall

_SELL = Side.SELL


class Trade(msgspec.Struct, array_like=True, gc=False, frozen=True):
    """One fill. `taker_side` BUY means the buyer took (Binance isBuyerMaker = taker_side == SELL)."""

    trade_id: int
    price: int
    qty: int
    quote_qty: int
    maker_order_id: int
    taker_order_id: int
    maker_account: int
    taker_account: int
    taker_side: int
    timestamp: int

    @property
    def buyer_is_maker(self) -> bool:
        return self.taker_side == _SELL


class OrderReport(msgspec.Struct, array_like=True, gc=False, frozen=True):
    """An order's state after a change; `reason` is "" or one of entities.py's reason words."""

    order_id: int
    account: int
    status: int
    executed_qty: int
    cum_quote_qty: int
    leaves_qty: int
    reason: str
    #: quantity DECREMENT self-trade prevention took off the order so far (Binance preventedQuantity);
    #: carried by the reports of a prevention and by the taker's own report, 0 on the others
    prevented_qty: int = 0
    #: after a prevention, what the order, still open, must keep frozen (the ledger's hold rule for
    #: its open quantity: Settlement releases the rest); -1 on every other report
    hold: int = -1


class LevelChange(msgspec.Struct, array_like=True, gc=False, frozen=True):
    """A price level's new total open quantity on `side` (BUY = bids); 0 means the level is gone."""

    side: int
    price: int
    qty: int


class CancelRejected(msgspec.Struct, array_like=True, gc=False, frozen=True):
    """A cancel that found nothing to cancel (order_id is 0 when the cancel named a client order id)."""

    order_id: int
    account: int
    client_order_id: str
    code: int


class Triggered(msgspec.Struct, array_like=True, gc=False, frozen=True):
    """A pending stop order reached its stop price and starts working (Binance: isWorking true)."""

    order_id: int
    account: int


class TrailingStarted(msgspec.Struct, array_like=True, gc=False, frozen=True):
    """A trailing stop order started tracking the trade price (Binance: trailingTime)."""

    order_id: int
    account: int


class PreventedMatch(msgspec.Struct, array_like=True, gc=False, frozen=True):
    """Self-trade prevention stopped a match of the taker with a maker of the same account (Binance's
    prevented match, faqs/stp_faq.md): ids per book from 0, in the order they happen; each comes
    before the reports of the orders it took quantity off. `mode` is the taker's; `price` the
    maker's; a prevented quantity is what it took off that order (the remainder for an expiry, the
    overlap for DECREMENT), -1 for an order it left alone (EXPIRE_MAKER: the taker's; EXPIRE_TAKER:
    the maker's)."""

    prevented_match_id: int
    taker_order_id: int
    maker_order_id: int
    account: int
    mode: int
    price: int
    taker_prevented_qty: int
    maker_prevented_qty: int


class RestingOrder(msgspec.Struct, gc=False):
    """An order open on the book (mutable; owned by the book — treat as read-only outside it)."""

    order_id: int
    account: int
    side: int
    price: int
    leaves: int
    executed: int
    cum_quote: int
    client_order_id: str
    stp: int
    timestamp: int
    prevented: int = 0  # taken off by DECREMENT self-trade prevention (open = qty - executed - prevented)


class StopOrder(msgspec.Struct, gc=False):
    """A stop order waiting for its trigger, off the book (owned by the book; read-only outside it).

    `type` is the stop type as placed; `leaves`, `executed` and `cum_quote` read like a resting
    order's (nothing of it has traded yet)."""

    order_id: int
    account: int
    side: int
    type: int
    time_in_force: int
    price: int
    qty: int
    quote_qty: int
    client_order_id: str
    stp: int
    timestamp: int
    stop_price: int
    #: a trailing stop's delta in BIPS (0: not a trailing stop; module doc)
    trailing_delta: int = 0
    #: a trailing stop's best trade price since it started tracking (0: none yet; one with a stop
    #: price has not started until it is set)
    trail: int = 0

    @property
    def leaves(self) -> int:
        return self.qty

    @property
    def executed(self) -> int:
        return 0

    @property
    def cum_quote(self) -> int:
        return 0

    @property
    def falls(self) -> bool:
        """Triggers when the last price falls to the stop price (else when it rises to it)."""
        return triggers_on_fall(self.type, self.side)
