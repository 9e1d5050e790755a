"""Result codes of the engines: expected rejections are values in grouped ranges, never exceptions.

Ranges follow exchange-core's CommandResultCode: 0 success, -1xxx order validation against symbol
rules (an Acquiring/REST concern, offered by `book.check_order`), -2xxx ledger (risk), -3xxx
matching. `InvariantError` is the one exception: internal state is corrupt, a bug — stop loudly.
"""

from __future__ import annotations

from enum import IntEnum


class ResultCode(IntEnum):
    OK = 0

    # -1xxx: the order does not fit the symbol's rules (REST maps these to Binance -1013 / -1111 etc.)
    PRICE_OFF_TICK = -1001
    QTY_OFF_STEP = -1002
    QTY_OUT_OF_RANGE = -1003
    BELOW_MIN_NOTIONAL = -1004
    BAD_ORDER_SHAPE = -1005  # e.g. MARKET with neither qty nor quote_qty, LIMIT without price

    # -2xxx: ledger
    NSF = -2001  # not sufficient funds
    UNKNOWN_HOLD = -2002  # no funds are frozen under this order id
    DUPLICATE_HOLD = -2003  # funds are already frozen under this order id
    BAD_AMOUNT = -2004  # zero or negative amount
    HOLD_EXCEEDED = -2005  # a trade would take more than the order froze

    # -3xxx: matching
    UNKNOWN_ORDER = -3002  # not open in this book for this account (filled, canceled or never seen)
    DUPLICATE_ORDER_ID = -3003
    DUPLICATE_CLIENT_ORDER_ID = -3004
    AMEND_NOT_REDUCING = -3005  # an amend's new quantity is not below the order's (engine/amend.py)
    AMEND_ORDER_LIST = -3006  # an amend of an OCO's leg (not supported: both legs share one quantity)


class InvariantError(RuntimeError):
    """An engine's internal state broke one of its invariants: a bug, never an expected outcome."""
