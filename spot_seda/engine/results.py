"""Result codes of the engines: expected rejections are values in grouped ranges, never exceptions.

Ranges follow exchange-core's CommandResultCode: 0 success, -2xxx ledger (risk), -3xxx matching
(an order's fit to its symbol's rules is checked before it reaches an engine: binance/orderparams.py). `InvariantError` is the one exception: internal state is corrupt, a bug — stop loudly.
"""

from __future__ import annotations

from enum import IntEnum

from ..model.reasons import Reason


class ResultCode(IntEnum):
    OK = 0

    # -2xxx: ledger
    NSF = -2001  # not sufficient funds
    UNKNOWN_HOLD = -2002  # no funds are frozen under this order id
    DUPLICATE_HOLD = -2003  # funds are already frozen under this order id
    BAD_AMOUNT = -2004  # zero or negative amount
    HOLD_EXCEEDED = -2005  # a trade would take more than the order froze

    # -3xxx: matching
    UNKNOWN_ORDER = -3002  # not open in this book for this account (filled, canceled or never seen)
    DUPLICATE_CLIENT_ORDER_ID = -3004  # an amend's new client order id is another open order's
    AMEND_NOT_REDUCING = -3005  # an amend's new quantity is not below the order's (engine/amend.py)
    AMEND_ORDER_LIST = -3006  # an amend of an OCO's leg (not supported: both legs share one quantity)
    CANCEL_RESTRICTED = -3010  # a cancel whose cancelRestrictions the order does not meet


#: the reason (model/reasons.py) a refusal of the book is reported with: the change log's `reason`
REASONS = {
    ResultCode.UNKNOWN_ORDER: Reason.UNKNOWN_ORDER,
    ResultCode.DUPLICATE_CLIENT_ORDER_ID: Reason.DUPLICATE_CLIENT_ORDER_ID,
    ResultCode.AMEND_NOT_REDUCING: Reason.NOT_REDUCING,
    ResultCode.AMEND_ORDER_LIST: Reason.ORDER_LIST,
    ResultCode.CANCEL_RESTRICTED: Reason.CANCEL_RESTRICTIONS,
}


class InvariantError(RuntimeError):
    """An engine's internal state broke one of its invariants: a bug, never an expected outcome."""
