"""Persist's side of the history: batches of change-log entries written in one transaction each,
with how far each input stream got; the roll-back that makes the history agree with the journal
after a recovery."""

from __future__ import annotations

import json
import sqlite3

from msgspec.structs import astuple

from ..bus.base import partition_for
from ..model.changelog import BalanceFields, ChangeLogEntry, Created, TradeFields, Updated, balance_fields_of
from ..model.entities import KLINE_FIELDS, ORDER_CREATED, PREVENTED_MATCH_FIELDS
from ..model.enums import FINAL_STATUSES, EntityType, Topic
from ..model.orders import default_cancel_id
from ..model.reasons import refused_report
from ..model.symbols import fee_on
from .schema import (ACQUIRING_REASONS, AMEND_ORDER, FILL_ORDER_KEYS, HistoryError, INSERT_BALANCE,
                     INSERT_ORDER, INSERT_ORDER_STATE, INSERT_PREVENTED, INSERT_TRADE, kline_fields, latest_klines, order_created,
                     REFUSE_ORDER, RENAME_ORDER, ReplayEnd, RowsInsert, Store, trade_created, TRAIL_ORDER, UPDATE_ORDER,
                     UPSERT_KLINE, UPSERT_PROGRESS)


_PREVENTED = EntityType.PREVENTED_MATCH
#: how an order that executed nothing may have ended to be archived (Binance: CANCELED or EXPIRED,
#: and EXPIRED_IN_MATCH, CHANGELOG.md)
ARCHIVABLE = frozenset({"CANCELED", "EXPIRED", "EXPIRED_IN_MATCH"})
#: positions in an INSERT_ORDER row (apply): the Created fields (status last), then these
_NEW_STATUS = len(ORDER_CREATED) - 1
_NEW_ID, _NEW_TIME = len(ORDER_CREATED), len(ORDER_CREATED) + 1
#: ids one `IN (...)` lists (SQLite allows 32,766 parameters a statement since 3.32)
_IN_MAX = 500


def _rising(reports, floor: tuple | None = None) -> bool:
    """Whether each UPDATE_ORDER row's key (update_time, executed_qty, final) is at least the one
    before (and at least `floor`): then each applies over the last, and which of them apply over a
    stored row is a suffix."""
    before = floor
    for r in reports:
        key = (r[6], r[4], r[3] in FINAL_STATUSES)
        if before is not None and key < before:
            return False
        before = key
    return True


class HistoryWriter(Store):
    #: symbol -> (maker, taker) fee rates in ppm: each trade's row keeps the commission its sides
    #: paid (Persist sets the configuration's), so a later change of rates does not rewrite what
    #: myTrades says was paid; without (tests, tools) the rows leave it NULL
    fee_rates: dict[str, tuple[int, int]] = {}

    def archive(self, before_ms: int, after_id: int = 0, scan: int = 20_000) -> tuple[int, int, int | None, int]:
        """Archive, as Binance does 90 days on (CHANGELOG.md; errors.md -2026), the orders that ended
        with nothing executed (ARCHIVABLE) and last changed before `before_ms`: each one's row leaves
        `orders` for `archived_orders` (id, account, symbol), so that a query of it still says what
        became of it. Looks at up to `scan` orders with ids above `after_id`, in id order (an order's
        creation time grows with its id); an order list's legs stay (the list's answers list every
        leg). The rows are read, then moved in one transaction. Returns (orders archived, the id the
        next round of this pass starts after: 0 once it reached an order created at or after
        `before_ms` or the last one, the lowest id it saw that may still be archived one day: open,
        ended too recently, a stub, or the order it stopped at; None if none, the last id it read):
        a pass need not read again what stays for good (an order that traded) below that lowest id."""
        db = self._db
        rows = db.execute("SELECT order_id, account, symbol, status, executed_qty, time, update_time, order_list_id "
                          "FROM orders WHERE order_id > ? ORDER BY order_id LIMIT ?", (after_id, scan)).fetchall()
        following = rows[-1][0] if len(rows) == scan else 0
        last = rows[-1][0] if rows else after_id
        low: int | None = None
        gone: list[tuple[int, int, str]] = []
        for order_id, account, symbol, status, executed, created, changed, list_id in rows:
            if created is None:  # a stub (a report before its order's creation): not an order yet
                low = order_id if low is None else low
                continue
            if created >= before_ms:  # and every order after it: this pass is over
                following = 0
                low = order_id if low is None else low
                break
            if status not in FINAL_STATUSES:  # open: it may end with nothing executed yet
                low = order_id if low is None else low
            elif status in ARCHIVABLE and not executed and list_id is None:
                if changed < before_ms:
                    gone.append((order_id, account, symbol))
                else:  # ended too recently
                    low = order_id if low is None else low
        if gone:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany("INSERT OR REPLACE INTO archived_orders (order_id, account, symbol) VALUES (?, ?, ?)",
                               gone)
                db.executemany("DELETE FROM orders WHERE order_id = ?", [(order_id,) for order_id, _, _ in gone])
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        return len(gone), following, low, last

    def progress(self, layout: str) -> dict[tuple[str, int, str], int]:
        """The last sequence written per (topic, partition, producer), counted under `layout` (the
        pipeline's partitions and instances: sequences mean nothing under another); empty when
        nothing was recorded or the layout changed since."""
        row = self._db.execute("SELECT value FROM meta WHERE key = 'layout'").fetchone()
        if row is None or row[0] != layout:
            return {}
        return {(t, p, producer): seq for t, p, producer, seq in self._db.execute("SELECT * FROM progress")}

    def input_positions(self, label: str) -> dict[tuple[str, int], int]:
        """The input positions (Kafka topic, partition) -> offset past what `label` had written when
        it last recorded them with its rows (apply's `positions`); empty when it never did."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (f"input:{label}",)).fetchone()
        return {} if row is None else {(t, p): o for t, p, o in json.loads(row[0])}

    def apply(self, entries: list[ChangeLogEntry], progress: dict[tuple[str, int, str], int] | None = None,
              layout: str = "", read_mark: tuple[int, int] | None = None,
              positions: tuple[str, dict[tuple[str, int], int]] | None = None) -> None:
        """Write a batch of entries of any topics in ONE transaction: all of it or, on error, none.
        `progress` (topic, partition, producer) -> last sequence is recorded in that transaction too,
        under `layout` (a new layout drops the progress recorded under the old one). `read_mark`
        (Persist instance, position of a "read" marker that has reached it) is recorded in it too:
        everything before that marker is then in the history (api/readbarrier.py). `positions`
        (Persist instance, input positions past these entries) too: where it resumes reading.

        Order updates without a status (cancel requests, rejected cancels) and Deleted entries are
        not state changes and are skipped. Raises HistoryError (after rolling back) for an entry that
        lacks a required field or carries a value of the wrong type.

        Speed (the same rows as one statement per entry would leave): a row is its entry's fields
        picked by one itemgetter (in C) from the entry's field map (a balance change's: astuple of its
        BalanceFields). Of several updates of one candle
        in a batch only the one the upsert would keep is written (latest_klines).
        """
        orders_new: list[tuple] = []
        orders_upd: list[tuple] = []
        orders_amend: list[tuple] = []
        orders_rename: list[tuple] = []
        orders_trail: list[tuple] = []
        orders_refused: list[tuple] = []
        trades: list[tuple] = []
        klines: list[tuple] = []
        balances: list[tuple] = []
        prevented: list[tuple] = []
        order_t, trade_t, kline_t, balance_t = EntityType.ORDER, EntityType.TRADE, EntityType.KLINE, EntityType.BALANCE
        fee_rates = self.fee_rates
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
                    klines.append(kline_fields(fields))
                elif etype == balance_t:
                    row = astuple(fields if type(fields) is BalanceFields else balance_fields_of(fields))
                    if type(row[2]) is not int or type(row[3]) is not int:
                        # STRICT would store 10.0 or "10" as 10; a balance delta must already be an int
                        raise TypeError(f"balance deltas must be ints, got {row[2]!r}, {row[3]!r}")
                    ref = row[-1]
                    if type(ref) is not str:  # Settlement's refs are order ids (ints), Acquiring's may be text
                        row = (*row[:-1], str(ref))
                    balances.append((*row, entry.timestamp, entry.sequence))
                elif etype == trade_t:
                    row = astuple(fields) if type(fields) is TradeFields else trade_created(fields)
                    rates = fee_rates.get(row[0])
                    if rates is None:
                        trades.append((*row, entry.timestamp, None, None))
                    else:  # the Ledger's rule (engine/ledger.py trade): each side's fee on what it receives
                        buyer, seller = rates if row[9] else rates[::-1]  # (buyer_is_maker)
                        trades.append((*row, entry.timestamp, fee_on(row[3], buyer), fee_on(row[4], seller)))
                elif etype == order_t:
                    f = fields
                    if kind is Created:
                        orders_new.append((*order_created(f), int(entry.entity_id), entry.timestamp, entry.timestamp,
                                           f.get("stop_price"), f.get("order_list_id"), f.get("list_client_order_id"),
                                           f.get("contingency_type"), f.get("trailing_delta"), f.get("strategy_id"),
                                           f.get("strategy_type")))
                    elif "trailing_time" in f:  # a trailing stop started tracking prices (Match's
                        # stream: its row exists by then, made by the order's first report)
                        orders_trail.append((f["trailing_time"], int(entry.entity_id)))
                    if kind is not Created and "status" in f:
                        if f["status"] == "REJECTED" and refused_report(f):  # (never an order: not shown)
                            orders_refused.append((int(entry.entity_id),))
                        if "qty" in f:
                            orders_amend.append((f["qty"], f["client_order_id"], int(entry.entity_id), f["qty"]))
                        if f["status"] == "CANCELED":  # (the cancel's client id: RENAME_ORDER)
                            order_id = int(entry.entity_id)
                            orders_rename.append((f.get("cancel_client_order_id") or default_cancel_id(order_id),
                                                  order_id))
                        orders_upd.append((
                            int(entry.entity_id), f.get("symbol"), f.get("account"), f["status"], f["executed_qty"],
                            f["cum_quote_qty"], entry.timestamp, f.get("working_time"), f.get("reason"),
                            f.get("prevented_qty"),
                        ))
                elif etype == _PREVENTED:
                    prevented.append((*(fields.get(name) for name in PREVENTED_MATCH_FIELDS), entry.timestamp))
        except (KeyError, ValueError, TypeError, AttributeError) as exc:  # (a typed record where a map belongs)
            raise HistoryError(f"{entry.entity_type} {entry.entity_id}: missing or bad field {exc}") from None
        if len(klines) > 1:
            klines = latest_klines(klines)
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            ids = [row[_NEW_ID] for row in orders_new] + [row[0] for row in orders_upd] + \
                [row[1] for row in orders_trail]
            gone = self._archived(ids) if ids else ()
            if gone:  # entries of orders archived since (a replay sent everything again): they stay so
                orders_new = [row for row in orders_new if row[_NEW_ID] not in gone]
                orders_upd = [row for row in orders_upd if row[0] not in gone]
                orders_amend = [row for row in orders_amend if row[2] not in gone]
                orders_rename = [row for row in orders_rename if row[1] not in gone]
                orders_trail = [row for row in orders_trail if row[1] not in gone]
                orders_refused = [row for row in orders_refused if row[0] not in gone]
            orders_whole: list[tuple] = []
            if orders_new or len(orders_upd) > 1:
                orders_whole, orders_new, orders_upd = self._fewer_order_rows(orders_new, orders_upd)
            orders_keys = [(row[1], row[2], row[0]) for row in orders_upd]
            for sql, rows in ((INSERT_ORDER_STATE, orders_whole), (INSERT_ORDER, orders_new), (UPDATE_ORDER, orders_upd),
                              (FILL_ORDER_KEYS, orders_keys),
                              (AMEND_ORDER, orders_amend), (RENAME_ORDER, orders_rename), (TRAIL_ORDER, orders_trail),
                              (REFUSE_ORDER, orders_refused), (INSERT_TRADE, trades),
                              (UPSERT_KLINE, klines), (INSERT_BALANCE, balances), (INSERT_PREVENTED, prevented)):
                if rows:
                    if type(sql) is RowsInsert:
                        sql.run(db, rows)
                    else:
                        db.executemany(sql, rows)
            if progress:
                if layout != self._layout:
                    self._set_layout(layout)
                db.executemany(UPSERT_PROGRESS, [(*channel, seq) for channel, seq in progress.items()])
            if read_mark is not None:
                db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                           (f"read:{read_mark[0]}", str(read_mark[1])))
            if positions:
                db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                           (f"input:{positions[0]}", json.dumps([[*k, o] for k, o in sorted(positions[1].items())])))
        except sqlite3.IntegrityError as exc:  # STRICT type check or NOT NULL: the batch is bad
            db.execute("ROLLBACK")
            raise HistoryError(f"batch rejected, nothing written: {exc}") from None
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        if progress:
            self._layout = layout

    def _archived(self, ids: list[int]) -> set[int]:
        """Which of these order ids were archived. Only an id at most the highest archived one can
        be (one index step), and each such id is looked up by key: a range from the lowest id to the
        highest read every archived order between them, and a report of one order resting since
        before the archive's horizon made that the whole archive at each commit (+0.5 s a commit
        with a million archived orders; BENCHMARKS.md, "Pipeline", twenty-eighth session)."""
        db = self._db
        top = db.execute("SELECT max(order_id) FROM archived_orders").fetchone()[0]
        if top is None:
            return set()
        maybe = sorted({oid for oid in ids if oid <= top})
        gone: set[int] = set()
        for i in range(0, len(maybe), _IN_MAX):
            chunk = maybe[i:i + _IN_MAX]
            gone.update(oid for (oid,) in db.execute(
                f"SELECT order_id FROM archived_orders WHERE order_id IN ({', '.join('?' * len(chunk))})", chunk))
        return gone

    def _fewer_order_rows(self, new: list[tuple], updates: list[tuple]) -> tuple[list[tuple], list[tuple], list[tuple]]:
        """The batch's order rows as fewer statements that leave the same rows (inside apply's
        transaction): (whole new rows, the INSERT_ORDER rows left, the UPDATE_ORDER rows left).

        A batch often holds an order's creation and its first reports, or several reports of one
        maker: each was an insert or an upsert of a wide row with two indexes (4-5 µs a row).
        - An order created in this batch, with no row yet (a report that came first leaves a stub)
          and reports that each apply over the one before, becomes one row (INSERT_ORDER_STATE) with
          what INSERT_ORDER and then every UPDATE_ORDER would have left: the last report's state,
          the first working_time, the last reason, the largest prevented_qty.
        - An order's several reports become its last one (with the first symbol and account any of
          them carries) where the result cannot depend on the row already stored: keys
          (update_time, executed_qty, final) that never go down, so the reports that apply are always
          a suffix of them, and a working_time, reason and prevented_qty that every suffix gives alike
          (those of the last report). Any other order keeps its rows as they were.
        tests/stages/test_history.py checks the rows against applying every entry on its own."""
        by_order: dict[int, list[tuple]] = {}
        for row in updates:
            by_order.setdefault(row[0], []).append(row)
        whole: list[tuple] = []
        kept_new: list[tuple] = new
        if new:
            ids = [row[_NEW_ID] for row in new]
            stored = {oid for (oid,) in self._db.execute("SELECT order_id FROM orders WHERE order_id BETWEEN ? AND ?",
                                                         (min(ids), max(ids)))}
            if len(set(ids)) != len(ids):  # an order created twice in one batch (redelivered): as it was
                stored.update(oid for oid in ids if ids.count(oid) > 1)
            kept_new = []
            for row in new:
                oid = row[_NEW_ID]
                reports = by_order.get(oid, ())
                if oid in stored or not _rising(reports, (row[_NEW_TIME], 0, row[_NEW_STATUS] in FINAL_STATUSES)):
                    kept_new.append(row)
                    continue
                by_order.pop(oid, None)
                if not reports:
                    whole.append((*row[:_NEW_ID + 1], 0, 0, *row[_NEW_ID + 1:], 0, None, None))
                    continue
                last = reports[-1]
                working_time = next((r[7] for r in reports if r[7] is not None), None)
                reason = next((r[8] for r in reversed(reports) if r[8] is not None), None)
                prevented = max(r[9] or 0 for r in reports)
                whole.append((*row[:_NEW_STATUS], last[3], oid, last[4], last[5], row[_NEW_TIME], last[6],
                              *row[_NEW_TIME + 2:], prevented, working_time, reason))
        if len(by_order) == len(updates):  # one report per order: nothing to merge
            return whole, kept_new, updates if not whole else [r for rows in by_order.values() for r in rows]
        merged: list[tuple] = []
        for rows in by_order.values():
            if len(rows) == 1:
                merged.append(rows[0])
                continue
            last = rows[-1]
            wt, reason, prevented = last[7], last[8], last[9] or 0
            if (_rising(rows) and all(r[7] is None or r[7] == wt for r in rows)
                    and (reason is not None or all(r[8] is None for r in rows))
                    and all((r[9] or 0) <= prevented for r in rows)):
                symbol = next((r[1] for r in rows if r[1] is not None), None)
                account = next((r[2] for r in rows if r[2] is not None), None)
                merged.append((last[0], symbol, account, *last[3:]))
            else:
                merged.extend(rows)
        return whole, kept_new, merged

    def roll_back_to(self, end: ReplayEnd) -> dict[str, int]:
        """Remove what the journal does not reproduce (commands a power failure took from the journal
        after their rows had reached this file): later orders, trades, candles and balance changes
        go, orders and candles a lost command changed get back the state the replay rebuilt, and
        `progress` comes back to the replay's sequences, so the
        commands that reuse those ids and sequences are written afresh. One transaction; returns
        how many rows of each kind changed."""

        db = self._db
        counts: dict[str, int] = {}
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("DELETE FROM meta WHERE key LIKE 'input:%'")  # past what is left: Persist re-reads
            counts["orders deleted"] = db.execute("DELETE FROM orders WHERE order_id >= ?", (end.next_order_id,)).rowcount
            counts["orders restored"] = sum(db.execute(
                "UPDATE orders SET status = ?, executed_qty = ?, cum_quote_qty = ?, update_time = ?, qty = ?, "
                "client_order_id = ? WHERE order_id = ? AND (status, executed_qty, cum_quote_qty, update_time, qty, "
                "client_order_id) IS NOT (?, ?, ?, ?, ?, ?)",
                (*row[1:], row[0], *row[1:])).rowcount for row in end.orders)
            counts["trades deleted"] = sum(
                db.execute("DELETE FROM trades WHERE symbol = ? AND trade_id > ?", (symbol, last)).rowcount
                for symbol, last in end.last_trade_ids.items())
            counts["prevented matches deleted"] = sum(
                db.execute("DELETE FROM prevented_matches WHERE symbol = ? AND prevented_match_id > ?",
                           (symbol, end.last_prevented_match_ids.get(symbol, -1))).rowcount
                for symbol in end.last_trade_ids)
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
            lost = []
            # Acquiring keys its changes by account, Settlement by the symbol of the order (`ref`)
            # they were made for; an order deleted above was never assigned: its changes go too
            for row_id, account, reason, ref, seq, symbol in db.execute(
                    "SELECT b.id, b.account, b.reason, b.ref, b.sequence, o.symbol FROM balance_changes b "
                    "LEFT JOIN orders o ON o.order_id = CAST(b.ref AS INTEGER) WHERE b.sequence > ?", (lowest,)):
                if reason in ACQUIRING_REASONS:
                    partition, producer = partition_for(str(account), end.partitions), "acquiring-0"
                elif symbol is None:
                    if int(ref) >= end.next_order_id:
                        lost.append((row_id,))
                    continue
                else:
                    partition = partition_for(symbol, end.partitions)
                    producer = f"settlement-{partition % end.settlement_instances}"
                if seq > ends.get((partition, producer), 0):
                    lost.append((row_id,))
            db.executemany("DELETE FROM balance_changes WHERE id = ?", lost)
            counts["balance changes deleted"] = len(lost)
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

