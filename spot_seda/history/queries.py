"""The history's queries, shaped as the Binance REST API asks them (allOrders, myTrades, trades,
klines, 24-hour windows, balances). Orders come back as model/orders.py's Order (a NULL column: the
field's default), the other rows as dicts of their columns."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from operator import itemgetter
import heapq

from ..engine import kline
from ..model.entities import KLINE_FIELDS
from ..model.orders import Order
from ..model.summary import TradeSummary, aggregate_trades, summarize
from .schema import (BALANCE_COLUMNS, MAX_LIMIT, MINUTE_MS, ORDER_COLUMNS, PREVENTED_COLUMNS, Store, TRADE_COLUMNS)


#: an order row whose creation has been written, of an order the book did not refuse as it was placed
#: (`refused`: an error to its client, never an order). Acquiring's Created entry and Match's first
#: report come from two producers, so an update may be written first: its row is a stub (status and
#: amounts, no side, type, price or client id) until the creation fills it in. The queries never
#: show a stub: a view of it would have to invent the fields it lacks.
CREATED = "side IS NOT NULL AND refused IS NULL"


class HistoryQueries(Store):

    def read_marks(self) -> dict[int, int]:
        """Persist instance -> position of the last "read" marker whose preceding entries it has
        committed (api/readbarrier.py)."""
        return {int(key[5:]): int(value) for key, value in
                self._db.execute("SELECT key, value FROM meta WHERE key LIKE 'read:%'")}

    @contextmanager
    def snapshot(self) -> Iterator[HistoryQueries]:
        """Several queries that see one state: each query alone already sees whole batches, but two
        queries in a row may see a batch committed between them (WAL read transaction)."""
        self._db.execute("BEGIN")
        try:
            yield self
        finally:
            self._db.execute("COMMIT")

    def order(self, order_id: int) -> Order | None:
        """One order by id, or None (also while only a stub of it is here: see CREATED)."""
        rows = self._select("orders", ORDER_COLUMNS, f"order_id = ? AND {CREATED}", (order_id,), "", 1)
        return self._order(rows[0]) if rows else None

    def archived(self, order_id: int) -> tuple[int, str] | None:
        """(account, symbol) of an order archived (HistoryWriter.archive), or None."""
        row = self._db.execute("SELECT account, symbol FROM archived_orders WHERE order_id = ?", (order_id,)).fetchone()
        return (row[0], row[1]) if row else None

    def order_by_client_id(self, account: int, client_order_id: str, symbol: str | None = None) -> Order | None:
        """The newest order of `account` (of `symbol`, if given) with that client order id (ids may be
        reused once closed; a canceled order has its cancel's: RENAME_ORDER, a stub's too)."""
        where, args = f"account = ? AND client_order_id = ? AND {CREATED}", [account, client_order_id]
        if symbol is not None:
            where += " AND symbol = ?"
            args.append(symbol)
        rows = self._select("orders", ORDER_COLUMNS, where, args, "order_id DESC", 1)
        return self._order(rows[0]) if rows else None

    def all_orders(self, account: int, symbol: str, order_id: int | None = None, start_time: int | None = None,
                   end_time: int | None = None, limit: int = 500) -> list[Order]:
        """Binance allOrders: the account's orders of a symbol, ascending by order id.

        With `order_id` (orders >= it) or `start_time`, the first `limit` from there; otherwise the
        most recent `limit` (up to `end_time` if given). Times are the orders' creation times (ms).
        """
        where, args = self._window(f"account = ? AND symbol = ? AND {CREATED}", [account, symbol], "order_id", order_id,
                                   "time", start_time, end_time)
        ascending = order_id is not None or start_time is not None
        return [self._order(row) for row in self._ranged("orders", ORDER_COLUMNS, where, args, "order_id", ascending, limit)]

    def order_list(self, account: int, order_list_id: int | None = None,
                   list_client_order_id: str | None = None) -> list[Order]:
        """The orders of one of the account's order lists, by its id or (the newest with) its client id."""
        if order_list_id is None:
            row = self._db.execute("SELECT order_list_id FROM orders WHERE account = ? AND list_client_order_id = ? "
                                   "AND refused IS NULL ORDER BY order_list_id DESC LIMIT 1",
                                   (account, list_client_order_id)).fetchone()
            if row is None:
                return []
            order_list_id = row[0]
        return [self._order(row) for row in self._select("orders", ORDER_COLUMNS, f"account = ? AND order_list_id = ? AND {CREATED}",
                                                    (account, order_list_id), "order_id", 10)]

    def order_lists(self, account: int, from_id: int | None = None, start_time: int | None = None,
                    end_time: int | None = None, limit: int = 500) -> list[list[Order]]:
        """Binance allOrderList: the account's order lists (each its orders), ascending by list id;
        from `from_id` or `start_time` the first `limit`, otherwise the most recent `limit`. The
        times bound a list's transactionTime, its last change (web-socket-api.md: "filtered by
        transactionTime of the last order list execution status update")."""
        where, args = "account = ? AND order_list_id IS NOT NULL AND refused IS NULL", [account]
        if from_id is not None:
            where, args = where + " AND order_list_id >= ?", args + [from_id]
        having, bounds = [], []
        if start_time is not None:
            having, bounds = having + ["MAX(update_time) >= ?"], bounds + [start_time]
        if end_time is not None:
            having, bounds = having + ["MAX(update_time) <= ?"], bounds + [end_time]
        ascending = from_id is not None or start_time is not None
        ids = [row[0] for row in self._db.execute(
            f"SELECT order_list_id FROM orders WHERE {where} GROUP BY order_list_id "
            f"{'HAVING ' + ' AND '.join(having) if having else ''} ORDER BY order_list_id "
            f"{'ASC' if ascending else 'DESC'} LIMIT {int(limit)}", tuple(args + bounds))]
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
            sides.append(self._ranged("trades", TRADE_COLUMNS, where, args, "trade_id", ascending, limit))
        merged, seen = [], set()
        for row in heapq.merge(*sides, key=itemgetter("trade_id")):
            if row["trade_id"] not in seen:
                seen.add(row["trade_id"])
                merged.append(row)
        return merged[:limit] if ascending else merged[-limit:]

    def order_list_ids(self, order_ids: Iterable[int]) -> dict[int, int]:
        """Order id -> its order list's id, for those of `order_ids` that belong to a list (myTrades
        shows a trade's order's orderListId; the trade rows do not carry it)."""
        ids, out = sorted(set(order_ids)), {}
        for i in range(0, len(ids), 500):  # (older SQLite allows 999 parameters a statement)
            chunk = ids[i:i + 500]
            out.update(self._db.execute(f"SELECT order_id, order_list_id FROM orders WHERE order_id IN "
                                        f"({', '.join('?' * len(chunk))}) AND order_list_id IS NOT NULL", chunk))
        return out

    def trades(self, symbol: str, limit: int = 500) -> list[dict]:
        """The most recent public trades of a symbol, ascending by trade id."""
        return self._ranged("trades", TRADE_COLUMNS, "symbol = ?", [symbol], "trade_id", False, limit)

    def agg_trades(self, symbol: str, from_id: int | None = None, start_time: int | None = None,
                   end_time: int | None = None, limit: int = 500) -> list[list[dict]]:
        """aggTrades: a symbol's aggregate trades (model/summary.py's aggregate_trades: each a list of
        its trades), ascending. An aggregate's id is its first trade's: with `from_id` (aggregates
        with an id >= it) or `start_time` the first `limit` from there; otherwise the most recent
        `limit` (up to `end_time` if given). Times are inclusive; an aggregate's trades share one time,
        so a window never cuts one. Reads trades in pages until `limit` whole aggregates are known:
        the first and last of what a page holds may go on past it."""
        limit = _clamp(limit)
        ascending = from_id is not None or start_time is not None
        where, args = self._window("symbol = ?", [symbol], "trade_id", None, "time", start_time, end_time)
        page = limit + 1
        rows: list[dict] = []
        if ascending:
            # from the trade before from_id: an aggregate that began before it is seen whole, and left out
            cursor = None if from_id is None else from_id - 1
            while True:
                more = self._select("trades", TRADE_COLUMNS, where + ("" if cursor is None else " AND trade_id >= ?"),
                                    args + ([] if cursor is None else [cursor]), "trade_id ASC", page)
                rows += more
                groups = aggregate_trades(rows)
                if from_id is not None and groups and groups[0][0]["trade_id"] < from_id:
                    groups = groups[1:]
                if len(more) < page or len(groups) > limit:  # the end, or `limit` aggregates and the next begun
                    return groups[:limit]
                cursor = rows[-1]["trade_id"] + 1
        cursor = None
        while True:
            more = self._select("trades", TRADE_COLUMNS, where + ("" if cursor is None else " AND trade_id <= ?"),
                                args + ([] if cursor is None else [cursor]), "trade_id DESC", page)
            more.reverse()
            rows[:0] = more
            groups = aggregate_trades(rows)
            if len(more) < page or len(groups) > limit:  # the start, or the oldest `limit` aggregates are whole
                return groups[-limit:]
            cursor = rows[0]["trade_id"] - 1

    def trades_from(self, symbol: str, from_id: int, limit: int = 500) -> list[dict]:
        """historicalTrades: trades of a symbol with trade id >= `from_id`, ascending."""
        return self._ranged("trades", TRADE_COLUMNS, "symbol = ? AND trade_id >= ?", [symbol, from_id],
                            "trade_id", True, limit)

    def trades_since(self, symbol: str, start_time: int) -> list[dict]:
        """Every trade of a symbol at or after `start_time` (ms), ascending (tickers, avgPrice); unbounded."""
        # ordered by the (symbol, time) index so SQLite seeks it (by trade_id it would scan every
        # trade of the symbol), then by id: a clock step back may leave times out of id order
        rows = self._select("trades", TRADE_COLUMNS, "symbol = ? AND time >= ?", (symbol, start_time),
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
        head = self._select("trades", TRADE_COLUMNS, "symbol = ? AND time >= ? AND time < ?",
                            (symbol, start_time, minute), "time, trade_id", -1)  # (by time: the index's order)
        tail = self._select("trades", TRADE_COLUMNS, "symbol = ? AND time >= ?", (symbol, max(covered, minute)),
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

    def klines_in_zone(self, symbol: str, interval: str, offset_ms: int, start_time: int | None = None,
                       end_time: int | None = None, limit: int = 500) -> list[dict]:
        """klines() on a clock `offset_ms` ahead of UTC (Binance's `timeZone`; startTime and endTime
        stay UTC): the `limit` candles from `start_time`, else the last ones (to `end_time`), each
        whole (a candle opened before `start_time` is not one of them). An interval the offset moves
        (a 1d under +08:00) is regrouped from the finer UTC candles that tile it (engine/kline.py);
        one it does not move is the UTC one."""
        if not kline.offset_moves(interval, offset_ms):
            return self.klines(symbol, interval, start_time=start_time, end_time=end_time, limit=limit)
        base = kline.offset_base(interval, offset_ms)
        per_candle = -(-(kline.INTERVALS[interval] or 31 * 86_400_000) // kline.INTERVALS[base])
        # enough finer candles for `limit` whole ones and a partial one (read past MAX_LIMIT, which
        # bounds what is answered, not what it is made from)
        cap = (_clamp(limit) + 1) * per_candle
        base_end = None if end_time is None else kline.bucket(interval, end_time, offset_ms)[1]
        ascending = start_time is not None
        where, args = self._window("symbol = ? AND interval = ?", [symbol, base], "open_time", start_time,
                                   "open_time", None, base_end)
        rows = self._select("klines", KLINE_FIELDS, where, args, f"open_time {'ASC' if ascending else 'DESC'}", cap)
        if not ascending:
            rows.reverse()
        candles = kline.regroup(rows, interval, offset_ms)
        if start_time is not None:
            candles = [c for c in candles if c["open_time"] >= start_time]
            if len(rows) == cap and candles:  # (the newest may lack the rows past the cap)
                candles = candles[:-1]
            return candles[:limit]
        if len(rows) == cap and candles:  # (the oldest may lack the rows before the cap)
            candles = candles[1:]
        if end_time is not None:
            candles = [c for c in candles if c["open_time"] <= end_time]
        return candles[-limit:]

    def balances(self, account: int) -> dict[str, tuple[int, int]]:
        """The account's balances, the sums of its balance changes: {asset: (available, frozen)}."""
        rows = self._db.execute("SELECT asset, sum(available_delta), sum(frozen_delta) FROM balance_changes "
                                "WHERE account = ? GROUP BY asset ORDER BY asset",
                                (account,))
        return {asset: (available, frozen) for asset, available, frozen in rows}

    def balance_changes(self, account: int, limit: int = 500) -> list[dict]:
        """The account's most recent `limit` balance changes, oldest first."""
        return self._ranged("balance_changes", BALANCE_COLUMNS, "account = ?", [account], "id", False, limit)

    def prevented_matches(self, account: int, symbol: str, prevented_match_id: int | None = None,
                          order_id: int | None = None, from_id: int | None = None, limit: int = 500) -> list[dict]:
        """Binance myPreventedMatches: the account's prevented matches of a symbol, by id, or those
        of one order (taker or maker), from `from_id` on, ascending by id."""
        where, args = "symbol = ? AND account = ?", [symbol, account]
        if prevented_match_id is not None:
            where, args = where + " AND prevented_match_id = ?", args + [prevented_match_id]
        if order_id is not None:
            where, args = where + " AND (taker_order_id = ? OR maker_order_id = ?)", args + [order_id, order_id]
        if from_id is not None:
            where, args = where + " AND prevented_match_id >= ?", args + [from_id]
        return self._select("prevented_matches", PREVENTED_COLUMNS, where, args, "prevented_match_id", _clamp(limit))

    # ------------------------------------------------------------------ helpers

    def _order(self, row: dict) -> Order:
        """An order row as an Order (the row's names are the change log's); one self-trade
        prevention took quantity off gets the last prevented match that did (preventedMatchId)."""
        order = Order.from_fields(row, row["order_id"], row["time"])
        if order.prevented_qty:
            found = self._db.execute(
                "SELECT max(prevented_match_id) FROM prevented_matches WHERE symbol = ? AND ((taker_order_id = ? "
                "AND taker_prevented_qty IS NOT NULL) OR (maker_order_id = ? AND maker_prevented_qty IS NOT NULL))",
                (order.symbol, order.order_id, order.order_id)).fetchone()
            if found is not None and found[0] is not None:
                order.prevented_match_id = found[0]
        return order

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
