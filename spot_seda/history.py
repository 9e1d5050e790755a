"""SQLite history of orders, trades, candles and balances: Persist writes it, the REST API reads it.

Schema (STRICT tables; every amount, id and time is an INTEGER column — money is never REAL; STRICT
rejects 1.5 but stores a lossless 10.0 or "10" as 10, so balance deltas are also type-checked as ints):
- orders(order_id PK, the SpotOrder Created fields, executed_qty, cum_quote_qty, time, update_time,
  working_time, reason, stop_price (stop orders; NULL for the others, and added to a file written
  before stop orders existed), prevented_qty (DECREMENT self-trade prevention; likewise added));
  index (account, symbol, order_id) and (account, client_order_id). An amend's entry sets qty and
  client_order_id (quantities only go down).
- trades(symbol, trade_id) PK, the SpotTrade fields and time; indexes per (symbol, buyer_account) and
  (symbol, seller_account).
- klines(symbol, interval, open_time) PK, the SpotKLine fields.
- balance_changes(id, the SpotBalance fields, time, sequence); a trigger adds each inserted row's
  deltas to balances(account, asset) PK (available, frozen).
- progress(topic, partition, producer) PK, sequence: the last entry written from each input stream,
  committed with the rows; meta('layout') says under which partitions and instances it was counted.
Idempotence: replaying any entry changes nothing (recovery replays the journal through Persist,
leaving out what `progress` says is written).
Orders and trades are keyed by their ids; an order update applies only if it is not older than the
row — (update_time, executed_qty, final status) never goes back — and a candle update only if
(trades, closed) does not. A balance change is UNIQUE(account, asset, reason, ref, time, sequence):
content alone is not unique (a taker filled by two makers at one price gets two identical legs, same
ref, same time), so the entry's `sequence` tells legs apart; it is stable because the node's stages
are deterministic and restart their sequences at 1 (stages/base.py), and reason + ref keep two
producers' sequences apart (Acquiring: deposit/withdraw/freeze; Settlement: trade/fee/release).
"""

from __future__ import annotations

import heapq
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from operator import itemgetter
from pathlib import Path

import msgspec

from .model.changelog import ChangeLogEntry, Created, Updated
from .model.entities import BALANCE_FIELDS, KLINE_FIELDS, ORDER_CREATED, TRADE_CREATED
from .model.enums import EntityType
from .model.summary import TradeSummary, summarize

#: pages of write-ahead log after which the writer copies it into the database (SQLite: 1,000)
WAL_CHECKPOINT_PAGES = 10_000
#: Most rows any query returns (Binance's maximum for allOrders, myTrades, trades and klines).
MAX_LIMIT = 1000
MINUTE_MS = 60_000
FINAL_STATUSES = ("FILLED", "CANCELED", "EXPIRED", "EXPIRED_IN_MATCH", "REJECTED")

_FINAL = "({} IN ('FILLED', 'CANCELED', 'EXPIRED', 'EXPIRED_IN_MATCH', 'REJECTED'))"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    order_id INTEGER PRIMARY KEY,
    symbol TEXT, account INTEGER, client_order_id TEXT, side TEXT, type TEXT, time_in_force TEXT,
    price INTEGER, qty INTEGER, quote_qty INTEGER, stp TEXT, frozen_asset TEXT, frozen INTEGER,
    status TEXT NOT NULL, executed_qty INTEGER NOT NULL, cum_quote_qty INTEGER NOT NULL,
    time INTEGER, update_time INTEGER NOT NULL, working_time INTEGER, reason TEXT, stop_price INTEGER,
    prevented_qty INTEGER, order_list_id INTEGER, list_client_order_id TEXT, contingency_type TEXT
) STRICT;
CREATE INDEX IF NOT EXISTS orders_by_account ON orders (account, symbol, order_id);
CREATE INDEX IF NOT EXISTS orders_by_client_id ON orders (account, client_order_id, order_id);
CREATE TABLE IF NOT EXISTS trades (
    symbol TEXT NOT NULL, trade_id INTEGER NOT NULL, price INTEGER NOT NULL, qty INTEGER NOT NULL,
    quote_qty INTEGER NOT NULL, buyer_order_id INTEGER NOT NULL, seller_order_id INTEGER NOT NULL,
    buyer_account INTEGER NOT NULL, seller_account INTEGER NOT NULL, buyer_is_maker INTEGER NOT NULL,
    maker_order_id INTEGER NOT NULL, taker_order_id INTEGER NOT NULL, time INTEGER NOT NULL,
    PRIMARY KEY (symbol, trade_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS trades_by_buyer ON trades (symbol, buyer_account, trade_id);
CREATE INDEX IF NOT EXISTS trades_by_seller ON trades (symbol, seller_account, trade_id);
CREATE INDEX IF NOT EXISTS trades_by_time ON trades (symbol, time);
CREATE TABLE IF NOT EXISTS klines (
    symbol TEXT NOT NULL, interval TEXT NOT NULL, open_time INTEGER NOT NULL, close_time INTEGER NOT NULL,
    open INTEGER NOT NULL, high INTEGER NOT NULL, low INTEGER NOT NULL, close INTEGER NOT NULL,
    volume INTEGER NOT NULL, quote_volume INTEGER NOT NULL, trades INTEGER NOT NULL,
    taker_buy_volume INTEGER NOT NULL, taker_buy_quote_volume INTEGER NOT NULL, closed INTEGER NOT NULL,
    PRIMARY KEY (symbol, interval, open_time)
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS balance_changes (
    id INTEGER PRIMARY KEY,
    account INTEGER NOT NULL, asset TEXT NOT NULL, available_delta INTEGER NOT NULL,
    frozen_delta INTEGER NOT NULL, reason TEXT NOT NULL, ref TEXT NOT NULL, time INTEGER NOT NULL,
    sequence INTEGER NOT NULL,
    UNIQUE (account, asset, reason, ref, time, sequence)
) STRICT;
CREATE INDEX IF NOT EXISTS balance_changes_by_account ON balance_changes (account, id);
CREATE TABLE IF NOT EXISTS balances (
    account INTEGER NOT NULL, asset TEXT NOT NULL, available INTEGER NOT NULL, frozen INTEGER NOT NULL,
    PRIMARY KEY (account, asset)
) STRICT, WITHOUT ROWID;
-- how far Persist has written each input stream (topic, partition, producer): the last sequence,
-- committed with the rows, so a recovery need not send what is already here again
CREATE TABLE IF NOT EXISTS progress (
    topic TEXT NOT NULL, partition INTEGER NOT NULL, producer TEXT NOT NULL, sequence INTEGER NOT NULL,
    PRIMARY KEY (topic, partition, producer)
) STRICT, WITHOUT ROWID;
-- the pipeline layout (partitions, instances) the progress sequences were counted under
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
-- fires only for rows really inserted, so a replayed (ignored) change never moves a balance
CREATE TRIGGER IF NOT EXISTS balance_running AFTER INSERT ON balance_changes BEGIN
    INSERT INTO balances (account, asset, available, frozen)
    VALUES (NEW.account, NEW.asset, NEW.available_delta, NEW.frozen_delta)
    ON CONFLICT (account, asset) DO UPDATE
    SET available = available + excluded.available, frozen = frozen + excluded.frozen;
END;
"""

_ORDER_COLUMNS = (
    "order_id", *ORDER_CREATED, "executed_qty", "cum_quote_qty", "time", "update_time", "working_time", "reason",
    "stop_price", "prevented_qty", "order_list_id", "list_client_order_id", "contingency_type",
)
_TRADE_COLUMNS = (*TRADE_CREATED, "time")
_BALANCE_COLUMNS = (*BALANCE_FIELDS, "time", "sequence")
_CREATED_SET = ", ".join(f"{c} = excluded.{c}" for c in ORDER_CREATED if c != "status")

# Created: a new row; or it completes a stub an update made when it arrived first (Acquiring and
# Match write OrderChangeLog as two producers, so their order is not guaranteed); else nothing.
_INSERT_ORDER = f"""
INSERT INTO orders ({", ".join(ORDER_CREATED)}, order_id, executed_qty, cum_quote_qty, time, update_time, stop_price,
                    order_list_id, list_client_order_id, contingency_type)
VALUES ({", ".join("?" * len(ORDER_CREATED))}, ?, 0, 0, ?, ?, ?, ?, ?, ?)
ON CONFLICT (order_id) DO UPDATE SET {_CREATED_SET}, time = excluded.time, stop_price = excluded.stop_price,
    order_list_id = excluded.order_list_id, list_client_order_id = excluded.list_client_order_id,
    contingency_type = excluded.contingency_type
WHERE orders.time IS NULL
"""
# Updated: applies only when not older than the row, so a late or replayed update never undoes one.
_UPDATE_ORDER = f"""
INSERT INTO orders (order_id, symbol, account, status, executed_qty, cum_quote_qty, update_time, working_time, reason,
                    prevented_qty)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (order_id) DO UPDATE SET
    status = excluded.status, executed_qty = excluded.executed_qty, cum_quote_qty = excluded.cum_quote_qty,
    update_time = excluded.update_time, working_time = coalesce(orders.working_time, excluded.working_time),
    reason = coalesce(excluded.reason, orders.reason),
    prevented_qty = max(coalesce(orders.prevented_qty, 0), coalesce(excluded.prevented_qty, 0)),
    symbol = coalesce(orders.symbol, excluded.symbol), account = coalesce(orders.account, excluded.account)
WHERE (excluded.update_time, excluded.executed_qty, {_FINAL.format("excluded.status")})
   >= (orders.update_time, orders.executed_qty, {_FINAL.format("orders.status")})
"""
# an amend (engine/amend.py): the order's new quantity and client id; quantities only go down, so a
# replayed older amend never undoes a later one
_AMEND_ORDER = "UPDATE orders SET qty = ?, client_order_id = ? WHERE order_id = ? AND qty > ?"
_INSERT_TRADE = f"""
INSERT INTO trades ({", ".join(_TRADE_COLUMNS)}) VALUES ({", ".join("?" * len(_TRADE_COLUMNS))})
ON CONFLICT DO NOTHING
"""
_UPSERT_KLINE = f"""
INSERT INTO klines ({", ".join(KLINE_FIELDS)}) VALUES ({", ".join("?" * len(KLINE_FIELDS))})
ON CONFLICT (symbol, interval, open_time) DO UPDATE SET
    {", ".join(f"{c} = excluded.{c}" for c in KLINE_FIELDS[3:])}
WHERE (excluded.trades, excluded.closed) >= (klines.trades, klines.closed)
"""
_INSERT_BALANCE = f"""
INSERT INTO balance_changes ({", ".join(_BALANCE_COLUMNS)}) VALUES ({", ".join("?" * len(_BALANCE_COLUMNS))})
ON CONFLICT DO NOTHING
"""

_UPSERT_PROGRESS = """
INSERT INTO progress (topic, partition, producer, sequence) VALUES (?, ?, ?, ?)
ON CONFLICT (topic, partition, producer) DO UPDATE SET sequence = max(sequence, excluded.sequence)
"""

_order_created = itemgetter(*ORDER_CREATED)
_trade_created = itemgetter(*TRADE_CREATED)
_kline_fields = itemgetter(*KLINE_FIELDS)
_balance_fields = itemgetter(*BALANCE_FIELDS)


_KLINE_NAMES = list(KLINE_FIELDS)
_BALANCE_NAMES = list(BALANCE_FIELDS)
_TRADE_NAMES = list(TRADE_CREATED)
#: KLINE_FIELDS positions: the primary key, then the candle's (trades, closed) that _UPSERT_KLINE compares
_K_TRADES, _K_CLOSED = KLINE_FIELDS.index("trades"), KLINE_FIELDS.index("closed")
#: the types of a row that cannot fail STRICT: text keys, int values, closed an int or a bool
_K_TYPES = frozenset(
    tuple(str if name in ("symbol", "interval") else closed if name == "closed" else int for name in KLINE_FIELDS)
    for closed in (int, bool)
)


def _latest_klines(rows: list[tuple]) -> list[tuple]:
    """The rows of a batch's candle upserts that change what the table ends up holding.

    Executed one after another, the upserts of one candle (same symbol, interval, open_time) leave
    the last row among those with the greatest (trades, closed) if that is not below the stored
    one, else the stored row: exactly what upserting that one row alone leaves. So each candle
    keeps that row, at the place of its candle's first row (candles are independent rows; no
    trigger reads them). Only when every value has the type the table stores as is (ints, bools,
    text keys): then no row can fail STRICT, so leaving some out cannot hide an error (the one
    exception: an int beyond 64 bits, which sqlite3 refuses to bind; no candle gets near). Otherwise
    the rows are returned unchanged.
    """
    latest: dict[tuple, tuple] = {}
    for row in rows:
        if tuple(map(type, row)) not in _K_TYPES:
            return rows
        key = row[:3]
        kept = latest.get(key)
        if kept is None or (row[_K_TRADES], row[_K_CLOSED]) >= (kept[_K_TRADES], kept[_K_CLOSED]):
            latest[key] = row  # a dict keeps the first insertion's place
    return list(latest.values()) if len(latest) < len(rows) else rows


class HistoryError(ValueError):
    """An entry that cannot be written (a missing field, a value of the wrong type): nothing was."""


class ReplayEnd(msgspec.Struct, kw_only=True):
    """What the journal reproduces, as the recovery's replay left the stages: the history holds
    nothing beyond it once `History.roll_back_to` has run (runtime/supervisor.py)."""

    #: the first order id the journal has not assigned (Acquiring's next)
    next_order_id: int
    #: (order id, status, executed_qty, cum_quote_qty, update_time) of every order Acquiring's view
    #: holds: the open ones and the recently finished (only those can a lost command have changed)
    orders: list[tuple[int, str, int, int, int]]
    #: symbol -> the last trade id the journal's commands made
    last_trade_ids: dict[str, int]
    #: the candle in progress of every (symbol, interval) with trades, as KLINE_FIELDS rows
    open_candles: list[tuple]
    #: (topic, partition, producer) -> the last sequence the replay's stages published
    sequences: dict[tuple[str, int, str], int]
    #: the BalanceChangeLog partitions and the Settlement instances sharing them (which producer
    #: wrote a balance change follows from its account and its reason)
    partitions: int = 1
    settlement_instances: int = 1


#: balance changes Acquiring writes; the other reasons are Settlement's
_ACQUIRING_REASONS = ("deposit", "withdraw", "freeze")


class History:
    """One SQLite history file: `apply` batches of change-log entries, query them like Binance."""

    def __init__(self, path: str | Path, *, readonly: bool = False, busy_timeout_ms: int = 10_000) -> None:
        """Open (and create if missing) the file; `readonly` for a reader beside the writing process.

        A reader still creates the schema if nobody has yet, so the API may start before Persist.
        Raises RuntimeError when the linked SQLite is older than 3.37 (STRICT tables).
        """
        if sqlite3.sqlite_version_info < (3, 37):
            raise RuntimeError(f"history needs SQLite >= 3.37 (STRICT tables), found {sqlite3.sqlite_version}")
        self.path = Path(path)
        self.readonly = readonly
        self._layout: str | None = None  # the layout this writer has checked meta against
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE ... COMMIT), one per batch
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=busy_timeout_ms / 1000)
        db = self._db
        db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        deadline = time.monotonic() + busy_timeout_ms / 1000
        while True:
            try:
                self._prepare()
                break
            except sqlite3.OperationalError as exc:
                # another process opening the file at the same moment (or recovering its WAL after a
                # crash) can make these statements fail at once, the busy handler not consulted
                if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        if readonly:
            db.execute("PRAGMA query_only = ON")
        else:
            # the writer checkpoints the write-ahead log every WAL_CHECKPOINT_PAGES pages instead of
            # SQLite's 1,000: the hot pages (running balances, index tails, open candles) rewritten by
            # every commit are then copied into the database once per checkpoint, not every few
            # commits (Persist's CPU per command -7%, BENCHMARKS "Pipeline"); the WAL grows to ~40 MB
            db.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")

    def _prepare(self) -> None:
        db = self._db
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        try:  # one transaction, so two processes opening a new file at once cannot half-create it
            db.executescript(f"BEGIN IMMEDIATE;\n{_SCHEMA}")
            columns = {row[1] for row in db.execute("PRAGMA table_info(orders)")}
            if "stop_price" not in columns:
                db.execute("ALTER TABLE orders ADD COLUMN stop_price INTEGER")  # a file from before stop orders
            if "prevented_qty" not in columns:  # ... from before DECREMENT self-trade prevention
                db.execute("ALTER TABLE orders ADD COLUMN prevented_qty INTEGER")
            for name, kind in (("order_list_id", "INTEGER"), ("list_client_order_id", "TEXT"),
                               ("contingency_type", "TEXT")):
                if name not in columns:  # ... from before order lists
                    db.execute(f"ALTER TABLE orders ADD COLUMN {name} {kind}")
            db.execute("CREATE INDEX IF NOT EXISTS orders_by_list ON orders (account, order_list_id) "
                       "WHERE order_list_id IS NOT NULL")
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def make_durable(self) -> None:
        """Make every committed transaction survive power loss too. With synchronous = NORMAL a
        commit survives a crash of the process but may roll back on power loss until the WAL is
        synced, so Persist calls this when a snapshot marker passes (recovery will not replay the
        journal before that snapshot). It fsyncs the write-ahead log and the database file from
        outside SQLite: a file's fsync covers every write to it."""
        for path in (self.path.with_name(self.path.name + "-wal"), self.path):
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def close(self) -> None:
        """Close the connection (the writer's last transaction is already committed)."""
        self._db.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ writing

    def progress(self, layout: str) -> dict[tuple[str, int, str], int]:
        """The last sequence written per (topic, partition, producer), counted under `layout` (the
        pipeline's partitions and instances: sequences mean nothing under another); empty when
        nothing was recorded or the layout changed since."""
        row = self._db.execute("SELECT value FROM meta WHERE key = 'layout'").fetchone()
        if row is None or row[0] != layout:
            return {}
        return {(t, p, producer): seq for t, p, producer, seq in self._db.execute("SELECT * FROM progress")}

    def apply(self, entries: list[ChangeLogEntry], progress: dict[tuple[str, int, str], int] | None = None,
              layout: str = "", read_mark: tuple[int, int] | None = None) -> None:
        """Write a batch of entries of any topics in ONE transaction: all of it or, on error, none.
        `progress` (topic, partition, producer) -> last sequence is recorded in that transaction too,
        under `layout` (a new layout drops the progress recorded under the old one). `read_mark`
        (Persist instance, position of a "read" marker that has reached it) is recorded in it too:
        everything before that marker is then in the history (api/readbarrier.py).

        Order updates without a status (cancel requests, rejected cancels) and Deleted entries are
        not state changes and are skipped. Raises HistoryError (after rolling back) for an entry that
        lacks a required field or carries a value of the wrong type.

        Speed (the same rows as one statement per entry would leave): trades, candles and balance
        changes written by the node's stages carry their fields in the documented order
        (model/entities.py), so their rows are read by position once the names are checked (any
        other layout goes through a dict). Of several updates of one candle in a batch only the one
        the upsert would keep is written (_latest_klines).
        """
        orders_new: list[tuple] = []
        orders_upd: list[tuple] = []
        orders_amend: list[tuple] = []
        trades: list[tuple] = []
        klines: list[tuple] = []
        balances: list[tuple] = []
        order_t, trade_t, kline_t, balance_t = EntityType.ORDER, EntityType.TRADE, EntityType.KLINE, EntityType.BALANCE
        entry = None
        try:
            for entry in entries:
                change = entry.change_type
                kind = type(change)
                if kind is Created:
                    fields = change.fields
                elif kind is Updated:
                    fields = change.changed_fields
                else:
                    continue  # Deleted
                etype = entry.entity_type
                if etype == kline_t:
                    if [fc.name for fc in fields] == _KLINE_NAMES:
                        klines.append(tuple([fc.value for fc in fields]))
                    else:
                        klines.append(_kline_fields({fc.name: fc.value for fc in fields}))
                elif etype == balance_t:
                    if [fc.name for fc in fields] == _BALANCE_NAMES:
                        row = tuple([fc.value for fc in fields])
                    else:
                        row = _balance_fields({fc.name: fc.value for fc in fields})
                    if type(row[2]) is not int or type(row[3]) is not int:
                        # STRICT would store 10.0 or "10" as 10; a balance delta must already be an int
                        raise TypeError(f"balance deltas must be ints, got {row[2]!r}, {row[3]!r}")
                    ref = row[-1]
                    if type(ref) is not str:  # Settlement's refs are order ids (ints), Acquiring's may be text
                        row = (*row[:-1], str(ref))
                    balances.append((*row, entry.timestamp, entry.sequence))
                elif etype == trade_t:
                    if kind is Created and [fc.name for fc in fields] == _TRADE_NAMES:
                        trades.append((*[fc.value for fc in fields], entry.timestamp))
                    else:
                        trades.append((*_trade_created({fc.name: fc.value for fc in fields}), entry.timestamp))
                elif etype == order_t:
                    f = {fc.name: fc.value for fc in fields}
                    if kind is Created:
                        orders_new.append((*_order_created(f), int(entry.entity_id), entry.timestamp, entry.timestamp,
                                           f.get("stop_price"), f.get("order_list_id"), f.get("list_client_order_id"),
                                           f.get("contingency_type")))
                    elif "status" in f:
                        if "qty" in f:
                            orders_amend.append((f["qty"], f["client_order_id"], int(entry.entity_id), f["qty"]))
                        orders_upd.append((
                            int(entry.entity_id), f.get("symbol"), f.get("account"), f["status"], f["executed_qty"],
                            f["cum_quote_qty"], entry.timestamp, f.get("working_time"), f.get("reason"),
                            f.get("prevented_qty"),
                        ))
        except (KeyError, ValueError, TypeError) as exc:
            raise HistoryError(f"{entry.entity_type} {entry.entity_id}: missing or bad field {exc}") from None
        if len(klines) > 1:
            klines = _latest_klines(klines)
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            if orders_new:
                db.executemany(_INSERT_ORDER, orders_new)
            if orders_upd:
                db.executemany(_UPDATE_ORDER, orders_upd)
            if orders_amend:
                db.executemany(_AMEND_ORDER, orders_amend)
            if trades:
                db.executemany(_INSERT_TRADE, trades)
            if klines:
                db.executemany(_UPSERT_KLINE, klines)
            if balances:
                db.executemany(_INSERT_BALANCE, balances)
            if progress:
                if layout != self._layout:
                    self._set_layout(layout)
                db.executemany(_UPSERT_PROGRESS, [(*channel, seq) for channel, seq in progress.items()])
            if read_mark is not None:
                db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                           (f"read:{read_mark[0]}", str(read_mark[1])))
        except sqlite3.IntegrityError as exc:  # STRICT type check or NOT NULL: the batch is bad
            db.execute("ROLLBACK")
            raise HistoryError(f"batch rejected, nothing written: {exc}") from None
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        if progress:
            self._layout = layout

    def roll_back_to(self, end: ReplayEnd) -> dict[str, int]:
        """Remove what the journal does not reproduce (commands a power failure took from the journal
        after their rows had reached this file): later orders, trades, candles and balance changes
        go, orders and candles a lost command changed get back the state the replay rebuilt, running
        balances are summed again, and `progress` comes back to the replay's sequences, so the
        commands that reuse those ids and sequences are written afresh. One transaction; returns
        how many rows of each kind changed."""
        from .bus.base import partition_for
        from .model.enums import Topic

        db = self._db
        counts: dict[str, int] = {}
        db.execute("BEGIN IMMEDIATE")
        try:
            counts["orders deleted"] = db.execute("DELETE FROM orders WHERE order_id >= ?", (end.next_order_id,)).rowcount
            counts["orders restored"] = sum(db.execute(
                "UPDATE orders SET status = ?, executed_qty = ?, cum_quote_qty = ?, update_time = ? WHERE order_id = ? "
                "AND (status, executed_qty, cum_quote_qty, update_time) IS NOT (?, ?, ?, ?)",
                (status, executed, quote, ts, order_id, status, executed, quote, ts)).rowcount
                for order_id, status, executed, quote, ts in end.orders)
            counts["trades deleted"] = sum(
                db.execute("DELETE FROM trades WHERE symbol = ? AND trade_id > ?", (symbol, last)).rowcount
                for symbol, last in end.last_trade_ids.items())
            kept = {(row[0], row[1]): row for row in end.open_candles}
            deleted = 0
            for symbol, interval in db.execute("SELECT DISTINCT symbol, interval FROM klines").fetchall():
                row = kept.get((symbol, interval))
                deleted += db.execute("DELETE FROM klines WHERE symbol = ? AND interval = ? AND open_time > ?",
                                      (symbol, interval, row[2] if row else -1)).rowcount
            counts["candles deleted"] = deleted
            db.executemany(f"INSERT OR REPLACE INTO klines ({', '.join(KLINE_FIELDS)}) "
                           f"VALUES ({', '.join('?' * len(KLINE_FIELDS))})", end.open_candles)
            ends = {(partition, producer): seq for (topic, partition, producer), seq in end.sequences.items()
                    if topic == Topic.BALANCE}
            lowest = min(ends.values(), default=0)
            lost, touched = [], set()
            for row_id, account, asset, reason, seq in db.execute(
                    "SELECT id, account, asset, reason, sequence FROM balance_changes WHERE sequence > ?", (lowest,)):
                partition = partition_for(str(account), end.partitions)
                producer = "acquiring-0" if reason in _ACQUIRING_REASONS else \
                    f"settlement-{partition % end.settlement_instances}"
                if seq > ends.get((partition, producer), 0):
                    lost.append((row_id,))
                    touched.add((account, asset))
            db.executemany("DELETE FROM balance_changes WHERE id = ?", lost)
            counts["balance changes deleted"] = len(lost)
            db.executemany(
                "UPDATE balances SET available = (SELECT coalesce(sum(available_delta), 0) FROM balance_changes b "
                "WHERE b.account = balances.account AND b.asset = balances.asset), frozen = (SELECT "
                "coalesce(sum(frozen_delta), 0) FROM balance_changes b WHERE b.account = balances.account AND "
                "b.asset = balances.asset) WHERE account = ? AND asset = ?", sorted(touched))
            db.executemany("UPDATE progress SET sequence = ? WHERE topic = ? AND partition = ? AND producer = ? "
                           "AND sequence > ?", [(seq, t, p, who, seq) for (t, p, who), seq in end.sequences.items()])
            db.executemany("DELETE FROM progress WHERE topic = ? AND partition = ? AND producer = ?", [
                channel for channel in db.execute("SELECT topic, partition, producer FROM progress").fetchall()
                if channel not in end.sequences])  # a stream the replay's stages did not write at all
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return counts

    def _set_layout(self, layout: str) -> None:
        db = self._db
        row = db.execute("SELECT value FROM meta WHERE key = 'layout'").fetchone()
        if row is None or row[0] != layout:
            db.execute("DELETE FROM progress")
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('layout', ?)", (layout,))

    # ------------------------------------------------------------------ reading

    def read_marks(self) -> dict[int, int]:
        """Persist instance -> position of the last "read" marker whose preceding entries it has
        committed (api/readbarrier.py)."""
        return {int(key[5:]): int(value) for key, value in
                self._db.execute("SELECT key, value FROM meta WHERE key LIKE 'read:%'")}

    @contextmanager
    def snapshot(self) -> Iterator[History]:
        """Several queries that see one state: each query alone already sees whole batches, but two
        queries in a row may see a batch committed between them (WAL read transaction)."""
        self._db.execute("BEGIN")
        try:
            yield self
        finally:
            self._db.execute("COMMIT")

    def order(self, order_id: int) -> dict | None:
        """One order by id, or None."""
        rows = self._select("orders", _ORDER_COLUMNS, "order_id = ?", (order_id,), "", 1)
        return rows[0] if rows else None

    def order_by_client_id(self, account: int, client_order_id: str) -> dict | None:
        """The newest order of `account` with that client order id (ids may be reused once closed)."""
        rows = self._select("orders", _ORDER_COLUMNS, "account = ? AND client_order_id = ?",
                            (account, client_order_id), "order_id DESC", 1)
        return rows[0] if rows else None

    def all_orders(self, account: int, symbol: str, order_id: int | None = None, start_time: int | None = None,
                   end_time: int | None = None, limit: int = 500) -> list[dict]:
        """Binance allOrders: the account's orders of a symbol, ascending by order id.

        With `order_id` (orders >= it) or `start_time`, the first `limit` from there; otherwise the
        most recent `limit` (up to `end_time` if given). Times are the orders' creation times (ms).
        """
        where, args = self._window("account = ? AND symbol = ?", [account, symbol], "order_id", order_id,
                                   "time", start_time, end_time)
        ascending = order_id is not None or start_time is not None
        return self._ranged("orders", _ORDER_COLUMNS, where, args, "order_id", ascending, limit)

    def order_list(self, account: int, order_list_id: int | None = None,
                   list_client_order_id: str | None = None) -> list[dict]:
        """The orders of one of the account's order lists, by its id or (the newest with) its client id."""
        if order_list_id is None:
            row = self._db.execute("SELECT order_list_id FROM orders WHERE account = ? AND list_client_order_id = ? "
                                   "ORDER BY order_list_id DESC LIMIT 1", (account, list_client_order_id)).fetchone()
            if row is None:
                return []
            order_list_id = row[0]
        return self._select("orders", _ORDER_COLUMNS, "account = ? AND order_list_id = ?", (account, order_list_id),
                            "order_id", 10)

    def order_lists(self, account: int, from_id: int | None = None, start_time: int | None = None,
                    end_time: int | None = None, limit: int = 500) -> list[list[dict]]:
        """Binance allOrderList: the account's order lists (each its orders), ascending by list id;
        from `from_id` or `start_time` the first `limit`, otherwise the most recent `limit`."""
        where, args = "account = ? AND order_list_id IS NOT NULL", [account]
        if from_id is not None:
            where, args = where + " AND order_list_id >= ?", args + [from_id]
        if start_time is not None:
            where, args = where + " AND time >= ?", args + [start_time]
        if end_time is not None:
            where, args = where + " AND time <= ?", args + [end_time]
        ascending = from_id is not None or start_time is not None
        ids = [row[0] for row in self._db.execute(
            f"SELECT DISTINCT order_list_id FROM orders WHERE {where} ORDER BY order_list_id "
            f"{'ASC' if ascending else 'DESC'} LIMIT {int(limit)}", tuple(args))]
        return [self.order_list(account, list_id) for list_id in sorted(ids)]

    def my_trades(self, account: int, symbol: str, from_id: int | None = None, start_time: int | None = None,
                  end_time: int | None = None, limit: int = 500, order_id: int | None = None) -> list[dict]:
        """Binance myTrades: trades of a symbol where `account` bought or sold, ascending by trade id.

        Same window rule as all_orders (`from_id` = trade ids >= it). With `order_id`, only the trades
        of that order of the account. A self-trade appears once; the caller tells the sides apart by
        buyer_account / seller_account (and, with `order_id`, by buyer_order_id / seller_order_id).
        """
        limit = _clamp(limit)
        ascending = from_id is not None or start_time is not None
        sides = []
        for column, order_column in (("buyer_account", "buyer_order_id"), ("seller_account", "seller_order_id")):
            where, args = f"symbol = ? AND {column} = ?", [symbol, account]
            if order_id is not None:
                where += f" AND {order_column} = ?"
                args.append(order_id)
            where, args = self._window(where, args, "trade_id", from_id, "time", start_time, end_time)
            sides.append(self._ranged("trades", _TRADE_COLUMNS, where, args, "trade_id", ascending, limit))
        merged, seen = [], set()
        for row in heapq.merge(*sides, key=itemgetter("trade_id")):
            if row["trade_id"] not in seen:
                seen.add(row["trade_id"])
                merged.append(row)
        return merged[:limit] if ascending else merged[-limit:]

    def trades(self, symbol: str, limit: int = 500) -> list[dict]:
        """The most recent public trades of a symbol, ascending by trade id."""
        return self._ranged("trades", _TRADE_COLUMNS, "symbol = ?", [symbol], "trade_id", False, limit)

    def trades_window(self, symbol: str, from_id: int | None = None, start_time: int | None = None,
                      end_time: int | None = None, limit: int = 500) -> list[dict]:
        """aggTrades and historicalTrades: trades of a symbol, ascending by trade id. With `from_id`
        (trade ids >= it) or `start_time` the first `limit` from there; otherwise the most recent
        `limit` (up to `end_time` if given). Times are inclusive."""
        where, args = self._window("symbol = ?", [symbol], "trade_id", from_id, "time", start_time, end_time)
        return self._ranged("trades", _TRADE_COLUMNS, where, args, "trade_id",
                            from_id is not None or start_time is not None, limit)

    def trades_from(self, symbol: str, from_id: int, limit: int = 500) -> list[dict]:
        """historicalTrades: trades of a symbol with trade id >= `from_id`, ascending."""
        return self._ranged("trades", _TRADE_COLUMNS, "symbol = ? AND trade_id >= ?", [symbol, from_id],
                            "trade_id", True, limit)

    def trades_since(self, symbol: str, start_time: int) -> list[dict]:
        """Every trade of a symbol at or after `start_time` (ms), ascending (tickers, avgPrice); unbounded."""
        # ordered by the (symbol, time) index so SQLite seeks it (by trade_id it would scan every
        # trade of the symbol), then by id: a clock step back may leave times out of id order
        rows = self._select("trades", _TRADE_COLUMNS, "symbol = ? AND time >= ?", (symbol, start_time),
                            "time, trade_id", -1)
        rows.sort(key=itemgetter("trade_id"))
        return rows

    def trade_window(self, symbol: str, start_time: int) -> tuple[TradeSummary | None, int | None]:
        """(summary of the symbol's trades at or after `start_time`, price of the last trade before
        it or None): what a 24-hour ticker shows, exactly as summarize(trades_since(...)) would,
        without reading a day of trades.

        Whole minutes come from the closed 1m candles (one row a minute; a candle is closed once a
        later trade has come, so only the newest is open); the part of a minute at the window's
        start and everything since the last closed candle come from the trades themselves.

        Exact while trade times do not go back (they are the commands' timestamps, from one clock).
        After a clock step back, KLine counts an older trade in the newest candle (engine/kline.py)
        while its row keeps its time, so a trade near the window's start may be counted by both
        ways or by the wrong one, until the window has moved past it."""
        minute = -(-start_time // MINUTE_MS) * MINUTE_MS  # the first whole minute inside the window
        db = self._db
        candles = db.execute(
            "SELECT open_time, open, high, low, close, volume, quote_volume, trades FROM klines "
            "WHERE symbol = ? AND interval = '1m' AND closed = 1 AND open_time >= ? ORDER BY open_time",
            (symbol, minute)).fetchall()
        covered = candles[-1][0] + MINUTE_MS if candles else minute  # the candles hold [minute, covered)
        # two range queries, not one with OR: each seeks the (symbol, time) index
        head = self._select("trades", _TRADE_COLUMNS, "symbol = ? AND time >= ? AND time < ?",
                            (symbol, start_time, minute), "time, trade_id", -1)  # (by time: the index's order)
        tail = self._select("trades", _TRADE_COLUMNS, "symbol = ? AND time >= ?", (symbol, max(covered, minute)),
                            "time, trade_id", -1)
        before = db.execute("SELECT price FROM trades WHERE symbol = ? AND time < ? ORDER BY time DESC, trade_id DESC "
                            "LIMIT 1", (symbol, start_time)).fetchone()
        prev_close = before[0] if before else None
        if not candles:
            return summarize(head + tail), prev_close
        first = db.execute("SELECT trade_id, price FROM trades WHERE symbol = ? AND time >= ? ORDER BY time, trade_id "
                           "LIMIT 1", (symbol, start_time)).fetchone()
        last = db.execute("SELECT trade_id, price, qty FROM trades WHERE symbol = ? ORDER BY trade_id DESC LIMIT 1",
                          (symbol,)).fetchone()
        if first is None or last is None:  # (a candle written before its trades: Persist has two producers)
            return summarize(head + tail), prev_close
        parts = [x for x in (summarize(head), summarize(tail)) if x is not None]
        return TradeSummary(
            open=first[1], close=last[1], last_qty=last[2], first_id=first[0], last_id=last[0],
            high=max([c[2] for c in candles] + [x.high for x in parts]),
            low=min([c[3] for c in candles] + [x.low for x in parts]),
            volume=sum(c[5] for c in candles) + sum(x.volume for x in parts),
            quote_volume=sum(c[6] for c in candles) + sum(x.quote_volume for x in parts),
            count=sum(c[7] for c in candles) + sum(x.count for x in parts),
        ), prev_close

    def klines(self, symbol: str, interval: str, start_time: int | None = None, end_time: int | None = None,
               limit: int = 500) -> list[dict]:
        """Binance klines: candles with open_time in [start_time, end_time], ascending by open_time.

        With `start_time` the first `limit` from there; otherwise the most recent `limit`.
        """
        where, args = self._window("symbol = ? AND interval = ?", [symbol, interval], "open_time", start_time,
                                   "open_time", None, end_time)
        return self._ranged("klines", KLINE_FIELDS, where, args, "open_time", start_time is not None, limit)

    def balances(self, account: int) -> dict[str, tuple[int, int]]:
        """The account's running balances: {asset: (available, frozen)}."""
        rows = self._db.execute("SELECT asset, available, frozen FROM balances WHERE account = ? ORDER BY asset",
                                (account,))
        return {asset: (available, frozen) for asset, available, frozen in rows}

    def balance_changes(self, account: int, limit: int = 500) -> list[dict]:
        """The account's most recent `limit` balance changes, oldest first."""
        return self._ranged("balance_changes", _BALANCE_COLUMNS, "account = ?", [account], "id", False, limit)

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _window(where: str, args: list, id_column: str, from_id: int | None, time_column: str,
                start_time: int | None, end_time: int | None) -> tuple[str, list]:
        for column, op, value in ((id_column, ">=", from_id), (time_column, ">=", start_time),
                                  (time_column, "<=", end_time)):
            if value is not None:
                where += f" AND {column} {op} ?"
                args.append(value)
        return where, args

    def _ranged(self, table: str, columns: tuple[str, ...], where: str, args: list, order: str, ascending: bool,
                limit: int) -> list[dict]:
        """The first (ascending) or last `limit` rows by `order`, always returned ascending."""
        rows = self._select(table, columns, where, args, f"{order} {'ASC' if ascending else 'DESC'}", _clamp(limit))
        if not ascending:
            rows.reverse()
        return rows

    def _select(self, table: str, columns: tuple[str, ...], where: str, args, order: str, limit: int) -> list[dict]:
        sql = f"SELECT {', '.join(columns)} FROM {table} WHERE {where}"
        if order:
            sql += f" ORDER BY {order}"
        rows = self._db.execute(f"{sql} LIMIT {int(limit)}", tuple(args)).fetchall()
        out = [dict(zip(columns, row)) for row in rows]
        for name in ("buyer_is_maker", "closed"):  # SQLite has no bool: give back what was written
            if out and name in out[0]:
                for d in out:
                    d[name] = bool(d[name])
        return out


def _clamp(limit: int) -> int:
    """Binance's limit rule: at most MAX_LIMIT; a limit below 1 is the caller's bug."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    return min(int(limit), MAX_LIMIT)
