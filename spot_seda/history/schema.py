"""The SQLite history's schema, its statements and the open file (history/writer.py writes it,
history/queries.py reads it).

Schema (STRICT tables; every amount, id and time is an INTEGER column — money is never REAL; STRICT
rejects 1.5 but stores a lossless 10.0 or "10" as 10, so balance deltas are also type-checked as ints):
- orders(order_id PK, the SpotOrder Created fields, executed_qty, cum_quote_qty, time, update_time,
  working_time, reason, stop_price (stop orders; NULL for the others, and added to a file written
  before stop orders existed), prevented_qty (DECREMENT self-trade prevention; likewise added),
  trailing_delta and trailing_time (trailing stops; likewise), strategy_id and strategy_type
  (Binance's strategyId / strategyType, NULL when the client sent none; likewise));
  index (account, symbol, order_id) and (account, client_order_id). An amend's entry sets qty and
  client_order_id (quantities only go down); a CANCELED report sets client_order_id to the cancel's.
  `refused` is 1 for an order the book refused as it was placed (model/reasons.refused_report: an
  error to its client, never an order, so the queries do not show it), NULL otherwise.
- trades(symbol, trade_id) PK, the SpotTrade fields, time, and the commission each side paid at the
  rates of then (buyer_fee, seller_fee: the writer's `fee_rates`; NULL where it had none, and in
  files from before); indexes per (symbol, buyer_account) and (symbol, seller_account).
- klines(symbol, interval, open_time) PK, the SpotKLine fields.
- balance_changes(id, the SpotBalance fields, time, sequence); an account's balances are the sums of
  its rows' deltas, summed when asked (no running table: a trigger on every insert cost Persist
  more than any query of balances, which no API serves, saves). No index by account either: every
  insert put a row at a random account's page of it (3.2 of Persist's 29 µs per command at 60,000
  commands, and more as the table grows; BENCHMARKS.md, "Pipeline", eleventh session), for queries
  no API makes (the node's balances are Acquiring's ledger). An operator who wants an account's
  balance history often can add one: CREATE INDEX ... ON balance_changes (account, id); a file that
  has the old one loses it when it is opened for writing.
- archived_orders(order_id PK, account, symbol): the orders archived as Binance archives them
  (HistoryWriter.archive, history.archive_after_days: ended with nothing executed, long ago), whose
  rows left `orders`: a query of one by id answers -2026.
- progress(topic, partition, producer) PK, sequence: the last entry written from each input stream,
  committed with the rows; meta('layout') says under which partitions and instances it was counted.
Idempotence: replaying any entry changes nothing (recovery replays the journal through Persist,
leaving out what `progress` says is written); an archived order's entries write nothing again.
Orders and trades are keyed by their ids; an order update applies only if it is not older than the
row — (update_time, executed_qty, final status) never goes back — and a candle update only if
(trades, closed) does not. A balance change is UNIQUE(sequence, account, asset, reason, ref, time):
content alone is not unique (a taker filled by two makers at one price gets two identical legs, same
ref, same time), so the entry's `sequence` tells legs apart; it is stable because the node's stages
are deterministic and restart their sequences at 1 (stages/base.py), and reason + ref keep two
producers' sequences apart (Acquiring: deposit/withdraw/freeze; Settlement: trade/fee/release).
Its index leads with `sequence`, which grows with every producer's output, so each insert lands at
the index's right edge rather than at a random account's page (2.5 instead of 4.0 µs per row at
120,000 rows, and the gap grows with the table; BENCHMARKS.md, "Pipeline", seventh session). A file
made before keeps its account-first index: the same constraint, the old cost.
"""

from __future__ import annotations

import os
import sqlite3
import time
from itertools import chain
from operator import itemgetter
from pathlib import Path

import msgspec

from ..model.entities import BALANCE_FIELDS, KLINE_FIELDS, ORDER_CREATED, PREVENTED_MATCH_FIELDS, TRADE_CREATED
from ..model.enums import OrderStatus

#: pages of write-ahead log after which the writer copies it into the database (SQLite: 1,000)
WAL_CHECKPOINT_PAGES = 10_000
#: Most rows any query returns (Binance's maximum for allOrders, myTrades, trades and klines).
MAX_LIMIT = 1000
MINUTE_MS = 60_000

# Binding None or a bool costs CPython 3.11's sqlite3 about 0.5 µs: as neither is an exact int, float,
# str or bytearray, it asks the adaptation registry, then the protocol object, whose failed attribute
# lookup raises and clears an AttributeError, and binds the value as it is after all. A registered
# adapter answers from the registry at once (0.75 -> 0.39 µs per parameter bound in a micro-bench,
# BENCHMARKS.md "Pipeline", twentieth session); an order row binds about eight NULLs. The value
# bound is the same: NULL for None, the integer for a bool (sqlite3 binds a bool as an int).
sqlite3.register_adapter(type(None), lambda _: None)
sqlite3.register_adapter(bool, int)


class RowsInsert:
    """An INSERT of many rows `per` at a time, in one statement with `per` VALUES tuples (plus one
    statement per row for the rest): SQLite steps one statement instead of `per`, and the sqlite3
    module loops over `per` times fewer parameter sets (a balance change 3.6 -> 2.2 µs a row,
    BENCHMARKS.md "Pipeline", twentieth session). Every row is inserted, in order, as by one
    executemany of the single-row statement: an ON CONFLICT clause applies to each row.

    The statements are INSERT OR FAIL: a row that breaks a constraint (NOT NULL, a STRICT type, a
    key) stops its statement and leaves the rows before it, where a plain INSERT (ABORT) would undo
    the whole statement. The writer rolls the whole transaction back on any such error (HistoryError)
    anyway, and a statement that cannot abort needs no statement journal: a multi-row INSERT that
    can keeps the first version of every page it changes (the orders' two indexes by account: a
    hundred random pages a statement) to undo itself (BENCHMARKS.md, "Pipeline", twenty-eighth
    session)."""

    def __init__(self, head: str, width: int, tail: str = "", per: int = 50) -> None:
        """`head`: "INSERT INTO table (columns)" (made INSERT OR FAIL), `tail`: an ON CONFLICT clause."""
        if not head.startswith("INSERT INTO "):
            raise ValueError(f"RowsInsert takes an INSERT INTO statement, got {head[:30]!r}")
        head = "INSERT OR FAIL INTO " + head[len("INSERT INTO "):]
        one = "(" + ", ".join("?" * width) + ")"
        self.width, self.per = width, per
        self.sql = f"{head} VALUES {one} {tail}"  # the single-row statement
        self.many = f"{head} VALUES {', '.join([one] * per)} {tail}"

    def run(self, db: sqlite3.Connection, rows: list[tuple]) -> None:
        full = len(rows) - len(rows) % self.per
        if full and set(map(len, rows)) != {self.width}:  # (rows spliced together would bind shifted
            full = 0  # values): the single-row statement refuses the row of the wrong width
        if full:
            flat = list(chain.from_iterable(rows[:full]))
            step = self.per * self.width
            db.executemany(self.many, [flat[i:i + step] for i in range(0, len(flat), step)])
        if full < len(rows):
            db.executemany(self.sql, rows[full:])


_FINAL = "({} IN (" + ", ".join(f"'{s.name}'" for s in OrderStatus if s.is_final) + "))"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    order_id INTEGER PRIMARY KEY,
    symbol TEXT, account INTEGER, client_order_id TEXT, side TEXT, type TEXT, time_in_force TEXT,
    price INTEGER, qty INTEGER, quote_qty INTEGER, stp TEXT, frozen_asset TEXT, frozen INTEGER,
    status TEXT NOT NULL, executed_qty INTEGER NOT NULL, cum_quote_qty INTEGER NOT NULL,
    time INTEGER, update_time INTEGER NOT NULL, working_time INTEGER, reason TEXT, stop_price INTEGER,
    prevented_qty INTEGER, order_list_id INTEGER, list_client_order_id TEXT, contingency_type TEXT,
    trailing_delta INTEGER, trailing_time INTEGER, strategy_id INTEGER, strategy_type INTEGER, refused INTEGER
) STRICT;
CREATE INDEX IF NOT EXISTS orders_by_account ON orders (account, symbol, order_id);
CREATE INDEX IF NOT EXISTS orders_by_client_id ON orders (account, client_order_id, order_id);
CREATE TABLE IF NOT EXISTS trades (
    symbol TEXT NOT NULL, trade_id INTEGER NOT NULL, price INTEGER NOT NULL, qty INTEGER NOT NULL,
    quote_qty INTEGER NOT NULL, buyer_order_id INTEGER NOT NULL, seller_order_id INTEGER NOT NULL,
    buyer_account INTEGER NOT NULL, seller_account INTEGER NOT NULL, buyer_is_maker INTEGER NOT NULL,
    maker_order_id INTEGER NOT NULL, taker_order_id INTEGER NOT NULL, time INTEGER NOT NULL,
    buyer_fee INTEGER, seller_fee INTEGER,
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
    UNIQUE (sequence, account, asset, reason, ref, time)
) STRICT;
-- the matches self-trade prevention stopped (myPreventedMatches; few: only between one account's orders)
CREATE TABLE IF NOT EXISTS prevented_matches (
    symbol TEXT NOT NULL, prevented_match_id INTEGER NOT NULL, taker_order_id INTEGER NOT NULL,
    maker_order_id INTEGER NOT NULL, account INTEGER NOT NULL, stp TEXT NOT NULL, price INTEGER NOT NULL,
    taker_prevented_qty INTEGER, maker_prevented_qty INTEGER, time INTEGER NOT NULL,
    PRIMARY KEY (symbol, prevented_match_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS prevented_by_taker ON prevented_matches (symbol, taker_order_id);
CREATE INDEX IF NOT EXISTS prevented_by_maker ON prevented_matches (symbol, maker_order_id);
-- (no index by account: see the module docstring; a file made before loses its old one)
DROP INDEX IF EXISTS balance_changes_by_account;
-- orders archived (HistoryWriter.archive): a query of one by id answers -2026, not -2013
CREATE TABLE IF NOT EXISTS archived_orders (
    order_id INTEGER PRIMARY KEY, account INTEGER NOT NULL, symbol TEXT NOT NULL
) STRICT;
-- how far Persist has written each input stream (topic, partition, producer): the last sequence,
-- committed with the rows, so a recovery need not send what is already here again
CREATE TABLE IF NOT EXISTS progress (
    topic TEXT NOT NULL, partition INTEGER NOT NULL, producer TEXT NOT NULL, sequence INTEGER NOT NULL,
    PRIMARY KEY (topic, partition, producer)
) STRICT, WITHOUT ROWID;
-- the pipeline layout (partitions, instances) the progress sequences were counted under
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
-- files from before balances were summed when asked: their running totals cost every insert a trigger
DROP TRIGGER IF EXISTS balance_running;
DROP TABLE IF EXISTS balances;
"""

ORDER_COLUMNS = (
    "order_id", *ORDER_CREATED, "executed_qty", "cum_quote_qty", "time", "update_time", "working_time", "reason",
    "stop_price", "prevented_qty", "order_list_id", "list_client_order_id", "contingency_type", "trailing_delta",
    "trailing_time", "strategy_id", "strategy_type",
)
#: buyer_fee, seller_fee: the commission each side paid, at the rates of when it traded (NULL in
#: rows written before they were kept: the current rates then)
TRADE_COLUMNS = (*TRADE_CREATED, "time", "buyer_fee", "seller_fee")
BALANCE_COLUMNS = (*BALANCE_FIELDS, "time", "sequence")
# (a stub's client id is NULL unless a cancel that came first renamed the order: RENAME_ORDER)
_CREATED_SET = ", ".join(f"{c} = coalesce(orders.{c}, excluded.{c})" if c == "client_order_id" else
                         f"{c} = excluded.{c}" for c in ORDER_CREATED if c != "status")

# Created: a new row; or it completes a stub an update made when it arrived first (Acquiring and
# Match write OrderChangeLog as two producers, so their order is not guaranteed); else nothing.
# prevented_qty starts at 0 on either path, so the row does not depend on which came first.
INSERT_ORDER = f"""
INSERT INTO orders ({", ".join(ORDER_CREATED)}, order_id, executed_qty, cum_quote_qty, time, update_time, stop_price,
                    order_list_id, list_client_order_id, contingency_type, trailing_delta, strategy_id, strategy_type,
                    prevented_qty)
VALUES ({", ".join("?" * len(ORDER_CREATED))}, ?, 0, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)
ON CONFLICT (order_id) DO UPDATE SET {_CREATED_SET}, time = excluded.time, stop_price = excluded.stop_price,
    order_list_id = excluded.order_list_id, list_client_order_id = excluded.list_client_order_id,
    contingency_type = excluded.contingency_type, trailing_delta = excluded.trailing_delta,
    strategy_id = excluded.strategy_id, strategy_type = excluded.strategy_type
WHERE orders.time IS NULL
"""
# A new order whose reports came in the same batch, and no row yet: one row, as INSERT_ORDER and then
# each UPDATE_ORDER would leave it (writer.py, HistoryWriter._fewer_order_rows)
INSERT_ORDER_STATE = RowsInsert(
    f"INSERT INTO orders ({', '.join(ORDER_CREATED)}, order_id, executed_qty, cum_quote_qty, time, update_time, "
    "stop_price, order_list_id, list_client_order_id, contingency_type, trailing_delta, strategy_id, strategy_type, "
    "prevented_qty, working_time, reason)", len(ORDER_CREATED) + 15)

# Updated: applies only when not older than the row, so a late or replayed update never undoes one.
# It sets no indexed column (symbol, account, client_order_id): SQLite rewrites the entries of every
# index whose columns an UPDATE sets, changed or not, which doubled its cost (24 -> 11 µs per row,
# BENCHMARKS "Pipeline", seventh session). An order's symbol and account never change; a row that
# lacks them (a stub made by an update that did not carry them) gets them from FILL_ORDER_KEYS.
UPDATE_ORDER = f"""
INSERT INTO orders (order_id, symbol, account, status, executed_qty, cum_quote_qty, update_time, working_time, reason,
                    prevented_qty)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, coalesce(?, 0))
ON CONFLICT (order_id) DO UPDATE SET
    status = excluded.status, executed_qty = excluded.executed_qty, cum_quote_qty = excluded.cum_quote_qty,
    update_time = excluded.update_time, working_time = coalesce(orders.working_time, excluded.working_time),
    reason = coalesce(excluded.reason, orders.reason),
    prevented_qty = max(coalesce(orders.prevented_qty, 0), coalesce(excluded.prevented_qty, 0))
WHERE (excluded.update_time, excluded.executed_qty, {_FINAL.format("excluded.status")})
   >= (orders.update_time, orders.executed_qty, {_FINAL.format("orders.status")})
"""
# a row without its symbol or account takes an update's (only such a row's indexes are touched)
FILL_ORDER_KEYS = """
UPDATE orders SET symbol = coalesce(symbol, ?), account = coalesce(account, ?)
WHERE order_id = ? AND (symbol IS NULL OR account IS NULL)
"""
# an amend (engine/amend.py): the order's new quantity and client id; quantities only go down, so a
# replayed older amend never undoes a later one
AMEND_ORDER = "UPDATE orders SET qty = ?, client_order_id = ? WHERE order_id = ? AND qty > ?"
# a canceled order takes its cancel's client id (web-socket-api.md, order.cancel: newClientOrderId "will
# replace clientOrderId of the canceled order"); a stub too, which its Created then does not undo
RENAME_ORDER = "UPDATE orders SET client_order_id = ? WHERE order_id = ?"
REFUSE_ORDER = "UPDATE orders SET refused = 1 WHERE order_id = ?"
# a trailing stop started tracking prices: once (a replayed entry changes nothing)
TRAIL_ORDER = "UPDATE orders SET trailing_time = ? WHERE order_id = ? AND trailing_time IS NULL"
INSERT_TRADE = f"""
INSERT INTO trades ({", ".join(TRADE_COLUMNS)}) VALUES ({", ".join("?" * len(TRADE_COLUMNS))})
ON CONFLICT DO NOTHING
"""
UPSERT_KLINE = f"""
INSERT INTO klines ({", ".join(KLINE_FIELDS)}) VALUES ({", ".join("?" * len(KLINE_FIELDS))})
ON CONFLICT (symbol, interval, open_time) DO UPDATE SET
    {", ".join(f"{c} = excluded.{c}" for c in KLINE_FIELDS[3:])}
WHERE (excluded.trades, excluded.closed) >= (klines.trades, klines.closed)
"""
PREVENTED_COLUMNS = (*PREVENTED_MATCH_FIELDS, "time")
INSERT_PREVENTED = f"""
INSERT INTO prevented_matches ({", ".join(PREVENTED_COLUMNS)}) VALUES ({", ".join("?" * len(PREVENTED_COLUMNS))})
ON CONFLICT DO NOTHING
"""
INSERT_BALANCE = RowsInsert(f"INSERT INTO balance_changes ({', '.join(BALANCE_COLUMNS)})", len(BALANCE_COLUMNS),
                            "ON CONFLICT DO NOTHING")

UPSERT_PROGRESS = """
INSERT INTO progress (topic, partition, producer, sequence) VALUES (?, ?, ?, ?)
ON CONFLICT (topic, partition, producer) DO UPDATE SET sequence = max(sequence, excluded.sequence)
"""

order_created = itemgetter(*ORDER_CREATED)
trade_created = itemgetter(*TRADE_CREATED)
kline_fields = itemgetter(*KLINE_FIELDS)


#: KLINE_FIELDS positions: the primary key, then the candle's (trades, closed) that UPSERT_KLINE compares
_K_TRADES, _K_CLOSED = KLINE_FIELDS.index("trades"), KLINE_FIELDS.index("closed")
#: the types of a row that cannot fail STRICT: text keys, int values, closed an int or a bool
_K_TYPES = frozenset(
    tuple(str if name in ("symbol", "interval") else closed if name == "closed" else int for name in KLINE_FIELDS)
    for closed in (int, bool)
)


def latest_klines(rows: list[tuple]) -> list[tuple]:
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
    #: (order id, status, executed_qty, cum_quote_qty, update_time, qty, client_order_id) of every
    #: order Acquiring's view holds: the open ones and the recently finished (only those can a lost
    #: command have changed: a cancel renames an order, an amend cuts its quantity and may rename it)
    orders: list[tuple[int, str, int, int, int, int, str]]
    #: symbol -> the last trade id the journal's commands made
    last_trade_ids: dict[str, int]
    #: the candle in progress of every (symbol, interval) with trades, as KLINE_FIELDS rows
    open_candles: list[tuple]
    #: (topic, partition, producer) -> the last sequence the replay's stages published
    sequences: dict[tuple[str, int, str], int]
    #: the BalanceChangeLog partitions and the Settlement instances sharing them (which stream a
    #: balance change is in follows from its reason and its account, for Acquiring's, or the
    #: symbol of its order, for Settlement's)
    partitions: int = 1
    settlement_instances: int = 1
    #: symbol -> the last prevented match id the journal's commands made (none: -1)
    last_prevented_match_ids: dict[str, int] = {}


#: balance changes Acquiring writes; the other reasons are Settlement's
ACQUIRING_REASONS = ("deposit", "withdraw", "freeze")


class Store:
    """An open SQLite history file: the connection, the schema, closing (History is one)."""

    def __init__(self, path: str | Path, *, readonly: bool = False, busy_timeout_ms: int = 10_000,
                 cache_kib: int = 2000) -> None:
        """Open (and create if missing) the file; `readonly` for a reader beside the writing process;
        `cache_kib`: the connection's page cache (history.cache_kib; SQLite's own default is 2000).

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
        db.execute(f"PRAGMA cache_size = -{int(cache_kib)}")  # negative: KiB, not pages
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
            # A statement that writes many rows inside the writer's transaction and may abort keeps
            # a statement journal, the first version of each page it changes, to undo that statement
            # alone if a row breaks a constraint; past 64 KiB SQLite spills it to a temporary file:
            # six writes in seven Persist made went there, not to the WAL, when the 50-row INSERTs
            # were plain INSERTs (now INSERT OR FAIL, which need none: RowsInsert). Whatever statement
            # still needs one, it never outlives the statement and nothing reads it after a crash, so
            # it stays in memory (BENCHMARKS.md, "Pipeline", twenty-eighth session).
            db.execute("PRAGMA temp_store = MEMORY")

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
                               ("contingency_type", "TEXT"), ("trailing_delta", "INTEGER"),
                               ("trailing_time", "INTEGER"), ("strategy_id", "INTEGER"),
                               ("strategy_type", "INTEGER"), ("refused", "INTEGER")):
                if name not in columns:  # ... from before order lists, trailing stops, kept strategy ids, or
                    # refused orders marked
                    db.execute(f"ALTER TABLE orders ADD COLUMN {name} {kind}")
            trade_columns = {row[1] for row in db.execute("PRAGMA table_info(trades)")}
            for name in ("buyer_fee", "seller_fee"):
                if name not in trade_columns:  # a file from before each trade's commission was kept
                    db.execute(f"ALTER TABLE trades ADD COLUMN {name} INTEGER")
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

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

