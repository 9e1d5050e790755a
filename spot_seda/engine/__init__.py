"""Pure trading engines (no I/O, no queues, no processes): order book, ledger, candles.

Stages wrap them: Match wraps `OrderBook`, Acquiring and Settlement each wrap a `Ledger`, KLine wraps
`CandleBook`. Expected rejections are `ResultCode`s; `InvariantError` means corrupt state (a bug).
"""

from .book import OrderBook
from .kline import INTERVALS, CandleBook, Kline, bucket
from .ledger import BalanceChange, Ledger, order_hold
from .records import CancelRejected, LevelChange, OrderReport, RestingOrder, StopOrder, Trade, Triggered
from .results import InvariantError, ResultCode

__all__ = [
    "INTERVALS", "BalanceChange", "CancelRejected", "CandleBook", "InvariantError", "Kline", "Ledger", "LevelChange",
    "OrderBook", "OrderReport", "RestingOrder", "ResultCode", "StopOrder", "Trade", "Triggered", "bucket",
    "order_hold",
]
