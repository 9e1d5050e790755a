"""SQLite history of orders, trades, candles and balances: Persist writes it, the REST API reads it.

history/schema.py holds the tables (and what makes replaying them idempotent), the statements and
the open file; history/writer.py the writing (Persist, recovery's roll-back); history/queries.py the
reading (the REST API, shaped as Binance asks)."""

from __future__ import annotations

from .queries import HistoryQueries
from .schema import MAX_LIMIT, WAL_CHECKPOINT_PAGES, HistoryError, ReplayEnd
from .writer import HistoryWriter

__all__ = ["History", "HistoryError", "ReplayEnd", "MAX_LIMIT", "WAL_CHECKPOINT_PAGES"]


class History(HistoryWriter, HistoryQueries):
    """One SQLite history file: `apply` batches of change-log entries, query them like Binance.

    `History(path, readonly=True)` is a reader beside the writing process (the REST API); the writer
    is Persist's (and recovery's, which rolls it back to the journal)."""
