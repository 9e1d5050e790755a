"""Pure trading engines (no I/O, no queues, no processes): order book, ledger, candles.

Stages wrap them: Match wraps `OrderBook`, Acquiring and Settlement each wrap a `Ledger`, KLine wraps
`CandleBook`. Expected rejections are `ResultCode`s; `InvariantError` means corrupt state (a bug).
"""

from .book import CancelRejected, LevelChange, OrderBook, OrderReport, RestingOrder, Trade, check_order
from .results import InvariantError, ResultCode

__all__ = [
    "CancelRejected", "InvariantError", "LevelChange", "OrderBook", "OrderReport", "RestingOrder", "ResultCode",
    "Trade", "check_order",
]
