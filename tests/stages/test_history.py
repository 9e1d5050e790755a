"""History (SQLite): every entity written and read back exactly, atomic batches, idempotent replays,
Binance query semantics, a reader beside the writer, and balances equal to the plain sum of deltas."""

from __future__ import annotations

import os
import random
import sqlite3
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spot_seda.history import History, HistoryError, ReplayEnd
from spot_seda.model.changelog import ChangeLogEntry, Deleted, created, updated
from spot_seda.model.entities import KLINE_FIELDS, TRADE_CREATED, balance_id_of
from spot_seda.model.enums import EntityType
from spot_seda.model.orders import Order
from tests.stages.entries import T0, balance, dump, kline, order_new, order_report, trade

def as_order(row: dict) -> Order:
    """An order row (by the change log's names, None for NULL) as the queries give it back."""
    return Order.from_fields(row, row["order_id"], row["time"])


@pytest.fixture
def history(tmp_path):
    h = History(tmp_path / "history.sqlite")
    yield h
    h.close()


# ---------------------------------------------------------------------------------------------- writing


@pytest.mark.parametrize("buyer_is_maker", [False, True])
def test_each_trade_keeps_the_commission_its_sides_paid_at_the_rates_of_then(history, buyer_is_maker):
    """The Ledger's rule (each side's fee on what it receives, at the maker or taker rate of its
    order), fixed in the row: fee_rates changed afterwards leave it as it was."""
    history.fee_rates = {"BTCUSDT": (1_000, 3_000)}  # maker 0.1%, taker 0.3%
    first = 2 if buyer_is_maker else 1  # (entries.trade: an even trade id's buyer is the maker)
    t = trade(first, buyer=3, seller=4, ts=T0 + 5)
    assert t.field_dict()["buyer_is_maker"] is buyer_is_maker
    history.apply([t])
    history.fee_rates = {"BTCUSDT": (9_000, 9_000)}
    history.apply([trade(first + 2, buyer=3, seller=4, ts=T0 + 6)])
    f = t.field_dict()
    buyer_rate, seller_rate = (1_000, 3_000) if buyer_is_maker else (3_000, 1_000)
    rows = history.trades("BTCUSDT")
    assert (rows[0]["buyer_fee"], rows[0]["seller_fee"]) == (f["qty"] * buyer_rate // 10**6,
                                                             f["quote_qty"] * seller_rate // 10**6)
    assert (rows[1]["buyer_fee"], rows[1]["seller_fee"]) == (f["qty"] * 9_000 // 10**6, f["quote_qty"] * 9_000 // 10**6)


def test_every_entity_is_read_back_exactly(history):
    new = order_new(7, account=3, ts=T0)
    t = trade(1, buyer=3, seller=4, ts=T0 + 5)
    k = kline(T0, 1, change=created)
    history.apply([new, t, k, balance(3, "USDT", 10**12), balance(3, "USDT", -5_000_000_000, 5_000_000_000,
                                                                       "freeze", 7, ts=T0 + 1)])
    history.apply([order_report(7, "FILLED", 100_000, 5_000_000_000, T0 + 5, account=3, working_time=T0 + 5)])

    expected_order = as_order(new.field_dict() | {"order_id": 7, "executed_qty": 100_000, "cum_quote_qty": 5_000_000_000,
                                         "time": T0, "update_time": T0 + 5, "working_time": T0 + 5,
                                         "status": "FILLED", "reason": None, "stop_price": None,
                                         "prevented_qty": 0, "order_list_id": None, "list_client_order_id": None,
                                         "contingency_type": None, "trailing_delta": None, "trailing_time": None})
    assert history.order(7) == expected_order
    assert history.order_by_client_id(3, "c7") == expected_order
    assert history.order(8) is None and history.order_by_client_id(4, "c7") is None
    unpriced = {"time": T0 + 5, "buyer_fee": None, "seller_fee": None}  # (a writer with no fee rates)
    assert history.trades("BTCUSDT") == [t.field_dict() | unpriced]
    assert history.my_trades(4, "BTCUSDT") == [t.field_dict() | unpriced]
    assert history.klines("BTCUSDT", "1m") == [k.field_dict()]
    assert type(history.klines("BTCUSDT", "1m")[0]["closed"]) is bool
    assert history.balances(3) == {"USDT": (10**12 - 5_000_000_000, 5_000_000_000)}
    changes = history.balance_changes(3)
    assert [c["reason"] for c in changes] == ["deposit", "freeze"]
    assert changes[1] == {"account": 3, "asset": "USDT", "available_delta": -5_000_000_000,
                          "frozen_delta": 5_000_000_000, "reason": "freeze", "ref": "7", "time": T0 + 1,
                          "sequence": changes[1]["sequence"]}
    assert [c["reason"] for c in history.balance_changes(3, limit=1)] == ["freeze"]


def test_a_stop_order_keeps_its_stop_price_and_starts_working_at_its_trigger(history):
    history.apply([order_new(9, type="STOP_LOSS_LIMIT", stop_price=4_900_000, ts=T0),
                   order_report(9, "NEW", 0, 0, T0)])  # placed: no working_time yet
    assert (history.order(9).stop_price, history.order(9).working_time) == (4_900_000, -1)  # (NULL: none)
    history.apply([order_report(9, "NEW", 0, 0, T0 + 7, working_time=T0 + 7)])  # triggered
    assert (history.order(9).stop_price, history.order(9).working_time) == (4_900_000, T0 + 7)


def test_a_trailing_stop_keeps_its_delta_and_when_it_started_tracking(history):
    history.apply([order_new(9, type="STOP_LOSS", stop_price=4_900_000, trailing_delta=100, ts=T0),
                   order_report(9, "NEW", 0, 0, T0)])  # placed with an activation price: not tracking yet
    assert (history.order(9).trailing_delta, history.order(9).trailing_time) == (100, -1)
    started = updated("9", EntityType.ORDER, T0 + 3, 99, trailing_time=T0 + 3, account=1, symbol="BTCUSDT")
    history.apply([started])  # a trade reached the activation price: an entry of its own, no status
    history.apply([started, updated("9", EntityType.ORDER, T0 + 9, 100, trailing_time=T0 + 9, account=1,
                                    symbol="BTCUSDT")])  # replayed, and a later one: the first time stays
    row = history.order(9)
    assert (row.status.name, row.trailing_delta, row.trailing_time, row.working_time) == ("NEW", 100, T0 + 3, -1)
    # one without an activation price tracks from its first report on
    history.apply([order_new(10, type="TAKE_PROFIT", stop_price=0, trailing_delta=50, ts=T0),
                   order_report(10, "NEW", 0, 0, T0, trailing_time=T0)])
    assert (history.order(10).trailing_delta, history.order(10).trailing_time) == (50, T0)


def test_prevented_matches_are_kept_once_and_orders_read_back_their_last(history):
    """A prevented match (Match's SpotPreventedMatch entry) is a row of its own, written once however
    often it comes; an order it took quantity off reads back its id (preventedMatchId) from the
    history as well, not one it left alone."""
    def prevented(match_id, taker, maker, taker_qty=None, maker_qty=None, ts=T0 + 5):
        fields = dict(symbol="BTCUSDT", prevented_match_id=match_id, taker_order_id=taker, maker_order_id=maker,
                      account=1, stp="EXPIRE_MAKER", price=5_000_000)
        fields |= {"taker_prevented_qty": taker_qty} if taker_qty is not None else {}
        fields |= {"maker_prevented_qty": maker_qty} if maker_qty is not None else {}
        return created(f"BTCUSDT:{match_id}", EntityType.PREVENTED_MATCH, ts, 0, **fields)

    first, second = prevented(0, 8, 7, maker_qty=100_000), prevented(1, 9, 8, taker_qty=50_000, ts=T0 + 6)
    history.apply([order_new(7, ts=T0), order_new(8, ts=T0 + 5), order_new(9, ts=T0 + 6), first,
                   order_report(7, "EXPIRED_IN_MATCH", 0, 0, T0 + 5, reason="stp", prevented_qty=100_000),
                   order_report(8, "NEW", 0, 0, T0 + 5), second, first])  # (a redelivered one: still one row)
    history.apply([order_report(9, "EXPIRED_IN_MATCH", 0, 0, T0 + 6, reason="stp", prevented_qty=50_000), second])
    assert [m["prevented_match_id"] for m in history.prevented_matches(1, "BTCUSDT", order_id=8)] == [0, 1]
    assert history.prevented_matches(1, "BTCUSDT", prevented_match_id=0) == [
        {"symbol": "BTCUSDT", "prevented_match_id": 0, "taker_order_id": 8, "maker_order_id": 7, "account": 1,
         "stp": "EXPIRE_MAKER", "price": 5_000_000, "taker_prevented_qty": None, "maker_prevented_qty": 100_000,
         "time": T0 + 5}]
    assert history.prevented_matches(1, "BTCUSDT", order_id=8, from_id=1, limit=1)[0]["prevented_match_id"] == 1
    assert history.prevented_matches(2, "BTCUSDT", prevented_match_id=0) == []  # another account's
    assert (history.order(7).prevented_match_id, history.order(9).prevented_match_id) == (0, 1)
    assert history.order(8).prevented_match_id == -1  # (in both, but nothing taken off it)
    # a roll back to the journal (History.roll_back_to) keeps what its replay made, per symbol
    counts = history.roll_back_to(ReplayEnd(next_order_id=10, orders=[], last_trade_ids={"BTCUSDT": 0, "ETHUSDT": 0},
                                            open_candles=[], sequences={},
                                            last_prevented_match_ids={"BTCUSDT": 0, "ETHUSDT": -1}))
    assert counts["prevented matches deleted"] == 1
    assert [m["prevented_match_id"] for m in history.prevented_matches(1, "BTCUSDT", order_id=8)] == [0]


def test_the_writer_keeps_statement_journals_in_memory_and_a_failed_statement_still_undoes_alone(tmp_path):
    """The writer's statement journals (a statement's undo record) stay in memory: spilled to a
    temporary file they were most of Persist's writes (BENCHMARKS.md, "Pipeline", twenty-eighth
    session). A statement that fails halfway is still undone alone, the transaction going on; a
    reader beside it keeps SQLite's default."""
    path = tmp_path / "history.sqlite"
    with History(path) as writer, History(path, readonly=True) as reader:
        assert writer._db.execute("PRAGMA temp_store").fetchone()[0] == 2  # MEMORY
        assert reader._db.execute("PRAGMA temp_store").fetchone()[0] == 0  # DEFAULT
        db = writer._db
        db.execute("CREATE TEMP TABLE t (k INTEGER PRIMARY KEY, v BLOB NOT NULL)")
        db.execute("BEGIN")
        db.executemany("INSERT INTO t VALUES (?, ?)", [(k, bytes(3000)) for k in range(200)])
        with pytest.raises(sqlite3.IntegrityError):  # rows 200..399 go in, then 0 again: the whole statement undone
            db.execute("INSERT INTO t SELECT k + 200, v FROM t UNION ALL SELECT 0, x'00'")
        db.execute("COMMIT")
        assert db.execute("SELECT count(*), max(k) FROM t").fetchone() == (200, 199)


def test_a_file_with_running_balance_totals_loses_them_and_still_sums(tmp_path):
    """Files written before balances were summed on demand kept a running table and a trigger:
    opening one drops both, and its balances are the same sums."""
    path = tmp_path / "old.sqlite"
    with History(path) as h:
        h.apply([balance(1, "BTC", 100), balance(1, "BTC", -30, 30, reason="freeze", ref="7")])
    db = sqlite3.connect(path)
    db.executescript("CREATE TABLE balances (account INTEGER, asset TEXT, available INTEGER, frozen INTEGER);"
                     "CREATE TRIGGER balance_running AFTER INSERT ON balance_changes BEGIN "
                     "INSERT INTO balances VALUES (NEW.account, NEW.asset, 0, 0); END;")
    db.close()
    with History(path) as h:
        h.apply([balance(1, "USDT", 5)])
        assert h.balances(1) == {"BTC": (70, 30), "USDT": (5, 0)}
    db = sqlite3.connect(path)
    names = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
    db.close()
    assert "balances" not in names and "balance_running" not in names


def test_a_file_with_the_balance_index_by_account_loses_it_and_still_sums(tmp_path):
    """The index by account cost Persist a random page per balance row for queries no API makes:
    a file made with it loses it when opened for writing; an account's balances are the same sums."""
    path = tmp_path / "old.sqlite"
    with History(path) as h:
        h.apply([balance(1, "BTC", 100), balance(2, "BTC", 7), balance(1, "BTC", -30, 30, reason="freeze", ref="7")])
    db = sqlite3.connect(path)
    db.execute("CREATE INDEX balance_changes_by_account ON balance_changes (account, id)")
    db.close()
    with History(path) as h:
        h.apply([balance(1, "USDT", 5)])
        assert h.balances(1) == {"BTC": (70, 30), "USDT": (5, 0)} and h.balances(2) == {"BTC": (7, 0)}
    db = sqlite3.connect(path)
    indexes = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    db.close()
    assert "balance_changes_by_account" not in indexes


def test_an_order_row_does_not_depend_on_whether_its_report_came_before_its_creation(tmp_path):
    """Acquiring's Created entry and Match's report are two producers' entries: Persist may see either
    first (seen once as a live history differing from its replay in prevented_qty, NULL against 0)."""
    first, second = History(tmp_path / "a.sqlite"), History(tmp_path / "b.sqlite")
    created, report = order_new(3), order_report(3, "PARTIALLY_FILLED", 50_000, 7, T0 + 1)
    first.apply([created]), first.apply([report])
    second.apply([report]), second.apply([created])
    assert first.order(3) == second.order(3) and first.order(3).prevented_qty == 0
    row = "SELECT * FROM orders WHERE order_id = 3"  # (the Order reads a NULL as 0: the rows themselves)
    assert first._db.execute(row).fetchall() == second._db.execute(row).fetchall()
    first.close(), second.close()


def test_amends_and_prevented_quantities_are_kept(history):
    """An amend's new qty and client id (never back up, so a replayed older amend changes nothing),
    and DECREMENT's prevented quantity (only ever growing)."""
    history.apply([order_new(5, qty=500_000), order_report(5, "NEW", 0, 0, T0)])
    history.apply([order_report(5, "NEW", 0, 0, T0 + 1, amended=True, qty=300_000, client_order_id="smaller", hold=1)])
    history.apply([order_report(5, "NEW", 0, 0, T0 + 2, amended=True, qty=400_000, client_order_id="older", hold=1)])
    assert (history.order(5).qty, history.order(5).client_order_id) == (300_000, "smaller")
    history.apply([order_report(5, "NEW", 0, 0, T0 + 3, prevented_qty=100_000)])
    history.apply([order_report(5, "FILLED", 200_000, 1, T0 + 4)])  # a report without it keeps it
    assert (history.order(5).prevented_qty, history.order(5).status.name) == (100_000, "FILLED")


def test_a_file_from_before_stop_orders_gets_the_stop_price_column(tmp_path):
    path = tmp_path / "old.sqlite"
    h = History(path)
    h.apply([order_new(1)])
    h.close()
    db = sqlite3.connect(path)
    db.execute("ALTER TABLE orders DROP COLUMN stop_price")  # as a file written before stop orders
    db.commit()
    db.close()
    h = History(path)
    h.apply([order_new(2, type="TAKE_PROFIT", stop_price=5_100_000)])
    assert (h.order(1).stop_price, h.order(2).stop_price) == (0, 5_100_000)  # (NULL: none)
    h.close()


def test_an_orders_strategy_ids_are_kept_on_every_path_and_a_file_from_before_gets_their_columns(tmp_path):
    """strategy_id / strategy_type (Binance's strategyId / strategyType, each only when sent) as the
    Created entry carries them: a row of its own, a row with its reports of the same batch, a stub a
    report made first; a file from before they were kept gets their columns (NULL: none)."""
    path = tmp_path / "old.sqlite"
    h = History(path)
    h.apply([order_new(1)])
    h.close()
    db = sqlite3.connect(path)
    for column in ("strategy_id", "strategy_type"):  # as a file written before they were kept
        db.execute(f"ALTER TABLE orders DROP COLUMN {column}")
    db.commit()
    db.close()
    h = History(path)
    h.apply([order_new(2, strategy_id=0, strategy_type=1_000_000)])  # alone
    h.apply([order_new(3, strategy_id=37), order_report(3, "NEW", 0, 0, T0, working_time=T0)])  # with its report
    h.apply([order_report(4, "NEW", 0, 0, T0, working_time=T0)])  # a stub, then its creation
    h.apply([order_new(4, strategy_type=1_000_004)])
    assert {i: (h.order(i).strategy_id, h.order(i).strategy_type) for i in (1, 2, 3, 4)} == \
        {1: (-1, -1), 2: (0, 1_000_000), 3: (37, -1), 4: (-1, 1_000_004)}
    assert [(o.order_id, o.strategy_id) for o in h.all_orders(1, "BTCUSDT")] == [(1, -1), (2, 0), (3, 37), (4, -1)]
    h.close()


def test_an_update_before_its_order_makes_a_stub_that_the_creation_completes(history):
    # Acquiring and Match are two producers on OrderChangeLog: Match's report can arrive first
    history.apply([order_report(5, "PARTIALLY_FILLED", 10, 500, T0 + 1, working_time=T0 + 1)])
    # the stub is kept, and shown by no query: its side, type and price are not known yet
    assert history._db.execute("SELECT status, time FROM orders WHERE order_id = 5").fetchone() == ("PARTIALLY_FILLED", None)
    assert history.order(5) is None and history.all_orders(1, "BTCUSDT") == []
    history.apply([order_new(5, ts=T0)])
    row = history.order(5)
    assert (row.status.name, row.executed_qty, row.time, row.update_time, row.client_order_id) == \
        ("PARTIALLY_FILLED", 10, T0, T0 + 1, "c5")
    assert history.all_orders(1, "BTCUSDT") == [row]


def test_a_stub_without_its_symbol_and_account_takes_them_from_a_later_update(history):
    # an update that carried neither (no producer of the node sends one, but the history takes it)
    history.apply([updated("6", EntityType.ORDER, T0 + 1, 1, status="NEW", executed_qty=0, cum_quote_qty=0)])
    assert history._db.execute("SELECT symbol, account FROM orders WHERE order_id = 6").fetchone() == (None, None)
    # a later one does: its symbol and account fill the stub, and they stay once set
    history.apply([order_report(6, "PARTIALLY_FILLED", 10, 500, T0 + 2, account=4, symbol="ETHUSDT")])
    history.apply([order_report(6, "FILLED", 20, 1000, T0 + 3, account=9, symbol="BTCUSDT")])
    assert history._db.execute("SELECT symbol, account, status FROM orders WHERE order_id = 6").fetchone() == \
        ("ETHUSDT", 4, "FILLED")
    # an order's status updates leave its indexed columns as they were (UPDATE_ORDER sets none)
    history.apply([order_new(7, account=3)])
    history.apply([order_report(7, "FILLED", 5, 50, T0 + 4, account=3)])
    assert [r.order_id for r in history.all_orders(3, "BTCUSDT")] == [7]


def test_cancel_requests_rejections_and_deletions_are_not_state_changes(history):
    history.apply([order_new(1)])
    before = history.order(1)
    history.apply([
        updated("1", EntityType.ORDER, T0 + 9, 1, cancel_requested=True, account=1, symbol="BTCUSDT"),
        updated("1", EntityType.ORDER, T0 + 9, 2, cancel_rejected=True, account=1, symbol="BTCUSDT"),
        ChangeLogEntry("1", EntityType.ORDER, Deleted(), T0 + 9, 3),
    ])
    assert history.order(1) == before


def test_a_late_or_replayed_order_update_never_goes_back(history):
    history.apply([order_new(1), order_report(1, "NEW", 0, 0, T0, working_time=T0)])
    partial = order_report(1, "PARTIALLY_FILLED", 40, 2000, T0 + 1)
    filled = order_report(1, "FILLED", 100, 5000, T0 + 2)
    history.apply([partial, filled])
    history.apply([partial])  # redelivered late
    assert (history.order(1).status.name, history.order(1).executed_qty) == ("FILLED", 100)
    # same command, same time, nothing filled: the final status wins whatever the order of arrival
    history.apply([order_new(2), order_report(2, "EXPIRED", 0, 0, T0, reason="ioc_leftover", working_time=T0)])
    history.apply([order_report(2, "NEW", 0, 0, T0)])
    assert (history.order(2).status.name, history.order(2).reason, history.order(2).working_time) == \
        ("EXPIRED", "ioc_leftover", T0)


def test_a_candle_is_upserted_and_never_goes_back(history):
    history.apply([kline(T0, 1, change=created), kline(T0, 3)])
    history.apply([kline(T0, 2)])  # older state, redelivered
    assert history.klines("BTCUSDT", "1m")[0]["trades"] == 3
    history.apply([kline(T0, 3, closed=True), kline(T0, 3, closed=False)])
    [row] = history.klines("BTCUSDT", "1m")
    assert (row["trades"], row["closed"]) == (3, True)


@pytest.mark.parametrize("bad", [
    pytest.param(lambda: trade(9, price=5_000_000.5), id="float-price"),
    pytest.param(lambda: balance(1, "BTC", 1.5), id="float-delta"),
    pytest.param(lambda: balance(1, "BTC", "10"), id="text-delta"),
    pytest.param(lambda: balance(1, "BTC", 0, 10.0), id="whole-float-delta"),
    pytest.param(lambda: order_report(1, "FILLED", "a lot", 1, T0 + 2), id="text-qty"),
    pytest.param(lambda: created("9", EntityType.ORDER, T0, 1, symbol="BTCUSDT", account=1), id="missing-fields"),
    pytest.param(lambda: updated(balance_id_of(1, "BTC"), EntityType.BALANCE, T0, 1, account=1, asset="BTC",
                                 available_delta=None, frozen_delta=0, reason="deposit", ref="x"), id="null-delta"),
    # an array where a map belongs (msgpack decodes any Created's array as a trade's record)
    pytest.param(lambda: ChangeLogEntry("BTCUSDT:1", EntityType.PREVENTED_MATCH, trade(5).change_type, T0, 1),
                 id="prevented-match-as-a-trade-record"),
    pytest.param(lambda: ChangeLogEntry("9", EntityType.ORDER, trade(6).change_type, T0, 1), id="order-as-a-trade-record"),
])
def test_a_bad_entry_rejects_the_whole_batch(history, tmp_path, bad):
    history.apply([order_new(1), balance(1, "BTC", 100)])
    before = dump(tmp_path / "history.sqlite")
    batch = [order_new(2), order_report(1, "FILLED", 100_000, 1, T0 + 1), trade(1), kline(T0, 1),
             balance(1, "BTC", 50), bad()]
    with pytest.raises(HistoryError):
        history.apply(batch)
    assert dump(tmp_path / "history.sqlite") == before
    history.apply(batch[:-1])  # the connection is usable again, and the good part applies
    assert history.balances(1) == {"BTC": (150, 0)}


@pytest.mark.parametrize("kind", ["balances", "new-orders"])
def test_a_row_sqlite_refuses_inside_a_many_row_insert_leaves_nothing_of_its_statement(history, tmp_path, kind):
    """The many-row INSERTs (RowsInsert: balance changes, new orders reported in the same batch) are
    INSERT OR FAIL, which leaves the rows before a refused one in place: the transaction's rollback
    must take them too."""
    history.apply([balance(1, "BTC", 100)])
    before = dump(tmp_path / "history.sqlite")
    if kind == "balances":  # the 61st of 120: inside the second 50-row statement
        batch = [balance(1 + i, "BTC", 1, reason="deposit", ref=f"d{i}") for i in range(120)]
        batch[60] = balance(61, None, 1, reason="deposit", ref="d60")  # asset NOT NULL
    else:  # a new order and its report: whole rows; the 61st's status NULL
        batch = [e for oid in range(1, 121) for e in (order_new(oid, status="NEW" if oid != 61 else None),
                                                         order_report(oid, "NEW", 0, 0, T0 + 1))]
        batch[121] = order_report(61, None, 0, 0, T0 + 1)
    with pytest.raises(HistoryError):
        history.apply(batch)
    assert dump(tmp_path / "history.sqlite") == before
    assert not history._db.in_transaction


def test_a_many_row_insert_stops_at_a_refused_row_keeping_those_before_it(history):
    """RowsInsert's statements are INSERT OR FAIL (no statement journal to keep): inside a transaction
    the rows before a refused one stay until the writer's rollback, which the test above checks."""
    from spot_seda.history.schema import INSERT_BALANCE
    rows = [(1 + i, "BTC", 1, 0, "deposit", f"d{i}", T0, i) for i in range(120)]
    rows[60] = (61, None, 1, 0, "deposit", "d60", T0, 60)
    db = history._db
    db.execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlite3.IntegrityError):
        INSERT_BALANCE.run(db, rows)
    assert db.execute("SELECT count(*) FROM balance_changes").fetchone()[0] == 60  # the first 60 rows
    db.execute("ROLLBACK")
    assert db.execute("SELECT count(*) FROM balance_changes").fetchone()[0] == 0


def test_a_failure_inside_the_transaction_rolls_everything_back(history, tmp_path, monkeypatch):
    history.apply([balance(1, "BTC", 100)])
    before = dump(tmp_path / "history.sqlite")
    # make the last statement of the batch fail after the others have run
    history._db.execute("CREATE TRIGGER boom BEFORE INSERT ON klines BEGIN SELECT RAISE(ABORT, 'boom'); END")
    with pytest.raises(HistoryError, match="boom"):
        history.apply([order_new(1), trade(1), balance(1, "BTC", 5), kline(T0, 1)])
    history._db.execute("DROP TRIGGER boom")
    assert dump(tmp_path / "history.sqlite") == before
    assert not history._db.in_transaction


def test_progress_is_committed_with_the_rows_and_only_under_its_layout(history, tmp_path):
    history.apply([balance(1, "BTC", 100)], {("balance", 0, "acquiring-0"): 1}, "partitions=1")
    history.apply([trade(1)], {("trade", 0, "match-0"): 4}, "partitions=1")
    assert history.progress("partitions=1") == {("balance", 0, "acquiring-0"): 1, ("trade", 0, "match-0"): 4}
    assert history.progress("partitions=4") == {}  # sequences counted under another layout mean nothing
    with pytest.raises(HistoryError):  # a rejected batch leaves its progress unrecorded too
        history.apply([trade(2), balance(1, "BTC", "10")], {("trade", 0, "match-0"): 9}, "partitions=1")
    assert history.progress("partitions=1")[("trade", 0, "match-0")] == 4
    # written under a new layout, the old one's progress is dropped, in the same transaction
    history.apply([trade(3)], {("trade", 1, "match-0"): 2}, "partitions=4")
    assert history.progress("partitions=4") == {("trade", 1, "match-0"): 2}
    assert history.progress("partitions=1") == {}
    with History(tmp_path / "history.sqlite", readonly=True) as reader:
        assert reader.progress("partitions=4") == {("trade", 1, "match-0"): 2}


def mixed_session(seed: int, n: int) -> list[list[ChangeLogEntry]]:
    """Batches of every entity kind, as a node would write them."""
    rng = random.Random(seed)
    batches, batch = [], []
    for i in range(1, n + 1):
        ts = T0 + i
        acct = rng.randint(1, 4)
        batch += [order_new(i, account=acct, ts=ts), balance(acct, "USDT", -500, 500, "freeze", i, ts=ts)]
        if rng.random() < 0.5:
            batch += [trade(i, buyer=acct, seller=rng.randint(1, 4), ts=ts),
                      order_report(i, "FILLED", 100_000, 500, ts, account=acct),
                      balance(acct, "USDT", 0, -500, "trade", i, ts=ts), balance(acct, "BTC", 7, 0, "trade", i, ts=ts),
                      kline(T0 + 60_000 * (i // 10), i % 10 + 1)]
        if rng.random() < 0.2:
            batches.append(batch)
            batch = []
    return batches + [batch]


def test_replaying_everything_changes_nothing(tmp_path):
    path = tmp_path / "history.sqlite"
    batches = mixed_session(1, 300)
    with History(path) as h:
        for b in batches:
            h.apply(b)
        balances = {a: h.balances(a) for a in range(1, 5)}
    once = dump(path)
    with History(path) as h:  # a restart replays the same change log (recovery)
        for b in batches:
            h.apply(b)
        # and a redelivery in another split and order of batches
        flat = [e for b in batches for e in b]
        random.Random(2).shuffle(flat)
        for i in range(0, len(flat), 37):
            h.apply(flat[i:i + 37])
        assert {a: h.balances(a) for a in range(1, 5)} == balances
    assert dump(path) == once
    assert sum(v[0] for b in balances.values() for v in b.values()) != 0


def test_identical_legs_of_one_command_both_count(history):
    # a taker filled by two makers at one price: two equal changes, same ref and time, told apart by sequence
    legs = [balance(1, "USDT", 0, -500, "trade", 42, ts=T0, sequence=s) for s in (8, 9)]
    history.apply(legs)
    history.apply(legs)
    assert history.balances(1) == {"USDT": (0, -1000)}


# --------------------------------------------------------------------------------------------- querying


def test_all_orders_follows_binance(history):
    entries = []
    for i in range(1, 31):
        entries.append(order_new(i, account=1 if i % 3 else 2, symbol="BTCUSDT" if i % 5 else "ETHUSDT", ts=T0 + i * 10))
    history.apply(entries)
    mine = [i for i in range(1, 31) if i % 3 and i % 5]
    ids = lambda rows: [r.order_id for r in rows]
    assert ids(history.all_orders(1, "BTCUSDT")) == mine
    assert ids(history.all_orders(1, "BTCUSDT", limit=3)) == mine[-3:]  # the most recent, ascending
    assert ids(history.all_orders(1, "BTCUSDT", order_id=10, limit=3)) == [11, 13, 14]  # >= orderId
    assert ids(history.all_orders(1, "BTCUSDT", start_time=T0 + 100, limit=2)) == [11, 13]
    assert ids(history.all_orders(1, "BTCUSDT", end_time=T0 + 100, limit=2)) == [7, 8]
    assert ids(history.all_orders(1, "BTCUSDT", start_time=T0 + 40, end_time=T0 + 80)) == [4, 7, 8]
    # one account never sees another's orders, even by id or client id
    assert all(r.account == 2 for r in history.all_orders(2, "BTCUSDT"))
    assert history.order_by_client_id(2, "c1") is None
    assert history.all_orders(1, "BNBUSDT") == []


def test_a_canceled_order_takes_its_cancels_client_id(history):
    """web-socket-api.md, order.cancel: newClientOrderId "will replace clientOrderId of the canceled
    order": a CANCELED report renames the order (cancel-<orderId> when the cancel named none, or
    for an order a list's cancel took with it), also when it comes before the order's creation."""
    history.apply([order_new(1, client_order_id="mine"), order_new(2, client_order_id="other"),
                   order_report(1, "CANCELED", 0, 0, T0 + 1, cancel_client_order_id="myCancel"),
                   order_report(2, "CANCELED", 0, 0, T0 + 1)])
    assert (history.order(1).client_order_id, history.order(2).client_order_id) == ("myCancel", "cancel-2")
    assert history.order_by_client_id(1, "myCancel").order_id == 1 and history.order_by_client_id(1, "mine") is None
    history.apply([order_report(3, "CANCELED", 0, 0, T0 + 1, cancel_client_order_id="early")])  # a stub first
    assert history.order_by_client_id(1, "early") is None  # (a stub is never shown)
    history.apply([order_new(3, client_order_id="late")])
    assert history.order(3).client_order_id == "early" and history.order_by_client_id(1, "late") is None


def test_order_by_client_id_finds_the_newest_use(history):
    history.apply([order_new(1, client_order_id="same"), order_new(2, client_order_id="same")])
    assert history.order_by_client_id(1, "same").order_id == 2


def test_my_trades_sees_both_sides_and_only_its_own(history):
    entries = []
    for i in range(1, 41):
        buyer, seller = [(1, 2), (2, 1), (3, 2), (1, 1)][i % 4]
        entries.append(trade(i, buyer=buyer, seller=seller, ts=T0 + i * 10))
    entries.append(trade(1, buyer=1, seller=2, symbol="ETHUSDT"))
    history.apply(entries)
    mine = [i for i in range(1, 41) if i % 4 != 2]  # buyer or seller (self-trades once)
    ids = lambda rows: [r["trade_id"] for r in rows]
    assert ids(history.my_trades(1, "BTCUSDT")) == mine
    assert ids(history.my_trades(1, "BTCUSDT", limit=4)) == mine[-4:]
    assert ids(history.my_trades(1, "BTCUSDT", from_id=10, limit=4)) == [11, 12, 13, 15]
    assert ids(history.my_trades(1, "BTCUSDT", start_time=T0 + 200, limit=3)) == [20, 21, 23]
    assert ids(history.my_trades(1, "BTCUSDT", end_time=T0 + 200, limit=3)) == [17, 19, 20]
    assert ids(history.my_trades(1, "BTCUSDT", start_time=T0 + 50, end_time=T0 + 90)) == [5, 7, 8, 9]
    assert all(3 in (r["buyer_account"], r["seller_account"]) for r in history.my_trades(3, "BTCUSDT"))
    assert ids(history.my_trades(3, "BTCUSDT")) == list(range(2, 41, 4))
    assert history.my_trades(4, "BTCUSDT") == [] and ids(history.my_trades(1, "ETHUSDT")) == [1]


def test_order_list_ids_name_the_lists_of_the_orders_in_one(history):
    """myTrades' orderListId: the list of each order that has one, in batches past SQLite's 999
    parameters a statement."""
    history.apply([order_new(1), order_new(2, order_list_id=7, list_client_order_id="l7", contingency_type="OCO"),
                   order_new(1500, order_list_id=8, list_client_order_id="l8", contingency_type="OTO")])
    assert history.order_list_ids([1, 2, 2, 99]) == {2: 7}
    assert history.order_list_ids(range(1, 2000)) == {2: 7, 1500: 8}
    assert history.order_list_ids([]) == {}


def test_public_trades_recent_from_an_id_and_since_a_time(history):
    history.apply([trade(i, ts=T0 + i) for i in range(1, 1101)] + [trade(1, symbol="ETHUSDT")])
    ids = lambda rows: [r["trade_id"] for r in rows]
    assert ids(history.trades("BTCUSDT", limit=3)) == [1098, 1099, 1100]
    assert len(history.trades("BTCUSDT", limit=5000)) == 1000  # Binance's maximum
    assert ids(history.trades("BTCUSDT"))[0] == 601  # default 500
    assert ids(history.trades_from("BTCUSDT", 5, limit=3)) == [5, 6, 7]
    assert ids(history.trades_since("BTCUSDT", T0 + 1090)) == list(range(1090, 1101))
    with pytest.raises(ValueError):
        history.trades("BTCUSDT", limit=0)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.lists(st.integers(0, 2), min_size=1, max_size=7), st.integers(0, 2)),
                min_size=1, max_size=25),
       st.integers(1, 6), st.data())
def test_agg_trades_are_whole_aggregates_in_every_window(tmp_path_factory, commands, limit, data):
    """aggTrades reads trades in pages of limit + 1 and must still return whole aggregates (a taker's
    consecutive fills at one price, model/summary.py), the same ones a plain grouping of every trade
    gives, for fromId (also one inside an aggregate), a time window, endTime alone and none."""
    from spot_seda.model.summary import aggregate_trades
    rows, entries, trade_id, ts = [], [], 0, T0
    for taker, (steps, gap) in enumerate(commands):  # one command: its fills, prices that only go up
        ts += gap  # (a gap of 0: two commands in one millisecond)
        price = 5_000_000
        for step in steps:
            trade_id += 1
            price += step
            e = trade(trade_id, ts=ts, price=price)
            f = e.field_dict() | {"taker_order_id": taker, "maker_order_id": 1000 + trade_id}
            entries.append(created(e.entity_id, e.entity_type, ts, e.sequence, **f))
            rows.append(f | {"time": ts})
    h = History(tmp_path_factory.mktemp("agg") / "history.sqlite")
    try:
        h.apply(entries)
        model = aggregate_trades(rows)
        span = lambda groups: [(g[0]["trade_id"], g[-1]["trade_id"]) for g in groups]
        assert span(h.agg_trades("BTCUSDT", limit=limit)) == span(model[-limit:])
        from_id = data.draw(st.integers(1, trade_id + 1))
        assert span(h.agg_trades("BTCUSDT", from_id=from_id, limit=limit)) == \
            span([g for g in model if g[0]["trade_id"] >= from_id][:limit])
        start, end = sorted(data.draw(st.lists(st.integers(T0, ts), min_size=2, max_size=2)))
        inside = [g for g in model if start <= g[0]["time"] <= end]
        assert span(h.agg_trades("BTCUSDT", start_time=start, end_time=end, limit=limit)) == span(inside[:limit])
        assert span(h.agg_trades("BTCUSDT", end_time=end, limit=limit)) == \
            span([g for g in model if g[0]["time"] <= end][-limit:])
        assert all(len({t["time"] for t in g}) == 1 for g in model)  # (a window never cuts one)
    finally:
        h.close()


def test_klines_follow_binance(history):
    minute = 60_000
    history.apply([kline(T0 + i * minute, i + 1) for i in range(20)] + [kline(T0, 1, interval="5m")])
    opens = lambda rows: [(r["open_time"] - T0) // minute for r in rows]
    assert opens(history.klines("BTCUSDT", "1m")) == list(range(20))
    assert opens(history.klines("BTCUSDT", "1m", limit=3)) == [17, 18, 19]
    assert opens(history.klines("BTCUSDT", "1m", start_time=T0 + 5 * minute, limit=3)) == [5, 6, 7]
    assert opens(history.klines("BTCUSDT", "1m", start_time=T0 + 5 * minute - 1, limit=2)) == [5, 6]
    assert opens(history.klines("BTCUSDT", "1m", end_time=T0 + 5 * minute, limit=2)) == [4, 5]
    assert opens(history.klines("BTCUSDT", "1m", start_time=T0 + 2 * minute, end_time=T0 + 4 * minute)) == [2, 3, 4]
    assert len(history.klines("BTCUSDT", "5m")) == 1 and history.klines("ETHUSDT", "1m") == []
    assert set(history.klines("BTCUSDT", "5m")[0]) == set(KLINE_FIELDS)


def test_trade_dicts_use_the_entity_vocabulary(history):
    history.apply([trade(1)])
    assert set(history.trades("BTCUSDT")[0]) == {*TRADE_CREATED, "time", "buyer_fee", "seller_fee"}


# ------------------------------------------------------------------------------------------ concurrency


def test_a_reader_sees_whole_batches_while_the_writer_writes(tmp_path):
    """Each batch moves funds between two accounts: a reader that saw half a batch would see the total move."""
    path = tmp_path / "history.sqlite"
    with History(path) as setup:
        setup.apply([balance(1, "USDT", 10**6, ref="t1"), balance(2, "USDT", 10**6, ref="t2")])
    reader = History(path, readonly=True)
    done = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        writer = History(path)  # its own connection, as the Persist process has
        try:
            for i in range(400):
                amount = (i % 7) + 1
                writer.apply([balance(1, "USDT", -amount, reason="trade", ref=i, ts=T0 + i),
                              order_new(i + 1, ts=T0 + i),
                              balance(2, "USDT", amount, reason="trade", ref=i, ts=T0 + i)])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            writer.close()
            done.set()

    thread = threading.Thread(target=write)
    thread.start()
    reads = 0
    while not done.is_set() or reads < 10:
        with reader.snapshot():
            total = sum(reader.balances(a)["USDT"][0] for a in (1, 2))
            changes = len(reader.balance_changes(1, limit=1000)) + len(reader.balance_changes(2, limit=1000))
        assert total == 2 * 10**6 and changes % 2 == 0
        assert len(reader.all_orders(1, "BTCUSDT", limit=1000)) <= 400
        reads += 1
    thread.join()
    assert not errors
    assert len(reader.all_orders(1, "BTCUSDT", limit=1000)) == 400
    with pytest.raises(sqlite3.OperationalError):  # the reader cannot write
        reader._db.execute("DELETE FROM balance_changes")
    reader.close()


# ------------------------------------------------------------------------------------------- properties


deltas = st.lists(st.tuples(st.integers(1, 3), st.sampled_from(["BTC", "USDT"]),
                            st.integers(-10**15, 10**15), st.integers(-10**15, 10**15)), max_size=60)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=deltas, cuts=st.lists(st.integers(0, 60), max_size=8), replay=st.booleans())
def test_balances_are_the_plain_sum_of_deltas_in_any_batch_split(tmp_path_factory, changes, cuts, replay):
    path = tmp_path_factory.mktemp("h") / "history.sqlite"
    entries = [balance(a, asset, da, df, "trade", ref=i, ts=T0 + i, sequence=i)
               for i, (a, asset, da, df) in enumerate(changes)]
    bounds = sorted({0, len(entries), *(c for c in cuts if c <= len(entries))})
    with History(path) as h:
        for lo, hi in zip(bounds, bounds[1:]):
            h.apply(entries[lo:hi])
        if replay:
            h.apply(entries)
        for account in (1, 2, 3):
            expected: dict[str, tuple[int, int]] = {}
            for a, asset, da, df in changes:
                if a == account:
                    av, fr = expected.get(asset, (0, 0))
                    expected[asset] = (av + da, fr + df)
            assert h.balances(account) == expected


@pytest.mark.parametrize("seed", range(5))
def test_a_batch_leaves_what_its_entries_one_by_one_leave(tmp_path, seed):
    """Apply writes only the last update of a candle that wins: the state must be exactly that of
    applying every entry in its own batch, stale and equal updates, closes and stored rows included."""
    rng = random.Random(seed)
    entries = []
    for _ in range(300):
        open_time = T0 + 60_000 * rng.randint(0, 3)
        entries.append(kline(open_time, rng.randint(1, 6), rng.random() < 0.2, rng.choice(["BTCUSDT", "ETHUSDT"]),
                             rng.choice(["1m", "1h"])))
        if rng.random() < 0.3:
            entries.append(balance(rng.randint(1, 3), "BTC", rng.randint(0, 9), reason="trade", ref=rng.randint(1, 9)))
        if rng.random() < 0.1:
            entries.append(trade(rng.randint(1, 50)))
    one, batched = History(tmp_path / "one.sqlite"), History(tmp_path / "batched.sqlite")
    try:
        first = rng.randint(0, len(entries))
        for e in entries[:first]:  # some candles are stored before the batch
            one.apply([e])
            batched.apply([e])
        for e in entries[first:]:
            one.apply([e])
        batched.apply(entries[first:])
    finally:
        one.close()
        batched.close()
    assert dump(tmp_path / "one.sqlite") == dump(tmp_path / "batched.sqlite")


def _order_entries(rng: random.Random, count: int) -> list[ChangeLogEntry]:
    """Random order entries of a few orders, as Persist may be sent them: creations (some twice,
    some after their reports), reports in and out of order, stale, repeated and equal-keyed ones,
    with and without working_time, reason, prevented_qty, symbol and account; amends and trailing
    starts. As the two producers can interleave: a report is never older than its order's creation,
    an amend (a later command) comes after the creation, a trailing start after a report, and
    nothing of Match's comes after a CANCELED report (its last: it renames the order) but its
    creation, from the other producer."""
    out = []
    canceled = set()
    rising = rng.random() < 0.5  # (half the sessions: each order's reports go forward, as Match sends them)
    last: dict[int, tuple[int, int]] = {}
    reported = set()  # (a trailing start follows the order's first report in Match's stream)
    made = set()  # (an amend is a later command's: its order's creation has come)
    for _ in range(count):
        oid = rng.randint(1, 6)
        ts = T0 + rng.randint(0, 6)
        r = rng.random()
        if r < 0.2 and oid < 6:  # (order 6's creation never comes: its rows stay stubs)
            out.append(order_new(oid, ts=T0, account=1 + oid % 2))  # (reports are never older than it)
            made.add(oid)
        elif oid in canceled:
            continue
        elif r < 0.27 and oid in reported:
            out.append(updated(str(oid), EntityType.ORDER, ts, 0, trailing_time=ts, account=1 + oid % 2,
                               symbol="BTCUSDT"))
        else:
            extra = {}
            if rng.random() < 0.3:
                extra["working_time"] = T0 + rng.randint(0, 3)
            if rng.random() < 0.3:
                extra["reason"] = rng.choice(["canceled", "ioc_leftover", "stp"])
            if rng.random() < 0.2:
                extra["prevented_qty"] = rng.randint(0, 3) * 1000
            if rng.random() < 0.1 and oid in made:
                extra.update(amended=True, qty=rng.randint(1, 5) * 10_000, client_order_id=f"a{rng.randint(0, 9)}")
            keys = {} if rng.random() < 0.15 else {"account": 1 + oid % 2, "symbol": "BTCUSDT"}
            reported.add(oid)
            executed = rng.randint(0, 4) * 1000
            if rising:
                ts, executed = last[oid] = (max(ts, last.get(oid, (T0, 0))[0]), max(executed, last.get(oid, (T0, 0))[1]))
            status = rng.choice(["NEW", "PARTIALLY_FILLED", "PARTIALLY_FILLED", "FILLED", "CANCELED", "EXPIRED"])
            if status == "CANCELED":
                canceled.add(oid)
            out.append(updated(str(oid), EntityType.ORDER, ts, 0, status=status,
                               executed_qty=executed, cum_quote_qty=executed * 7, **keys, **extra))
    return out


@pytest.mark.parametrize("seed", range(150))
def test_order_rows_from_a_batch_are_those_of_its_entries_one_by_one(tmp_path, seed):
    """Persist writes an order's creation and its reports of one batch as few rows as it can (one
    insert, or one update): the rows must be exactly those that applying every entry in its own
    batch leaves, whatever came before (rows already stored, stubs, newer states)."""
    rng = random.Random(seed)
    entries = _order_entries(rng, rng.randint(5, 60))
    one, batched = History(tmp_path / "one.sqlite"), History(tmp_path / "batched.sqlite")
    try:
        first = rng.randint(0, len(entries) // 2)
        for e in entries[:first]:  # stored before
            one.apply([e])
            batched.apply([e])
        rest = entries[first:]
        for e in rest:
            one.apply([e])
        cuts = sorted(rng.sample(range(len(rest) + 1), min(len(rest) + 1, rng.randint(1, 3))))
        for a, b in zip([0, *cuts], [*cuts, len(rest)]):
            batched.apply(rest[a:b])
    finally:
        one.close()
        batched.close()
    assert dump(tmp_path / "one.sqlite") == dump(tmp_path / "batched.sqlite")


@pytest.mark.parametrize("count", [49, 50, 51, 137])
def test_many_new_rows_in_one_batch_are_those_of_its_entries_one_by_one(tmp_path, count):
    """Persist inserts a batch's new orders and balance changes 50 rows to a statement
    (schema.RowsInsert): the rows, their ids and their order must be those that one statement per
    entry leaves, with a stop order's and a list's optional fields, NULLs, a replayed part of the batch
    and two identical legs among them."""
    entries = []
    for i in range(count):
        extra = {"stop_price": 4_900_000 + i, "order_list_id": i} if i % 7 == 3 else {}
        entries.append(order_new(1000 + i, account=i % 5, ts=T0 + i, **extra))
        leg = balance(i % 5, "USDT", -i, i, "freeze", ref=str(1000 + i), ts=T0 + i, sequence=i + 1)
        entries += [leg, leg] if i % 11 == 0 else [leg]
    entries += entries[: count // 2]  # redelivered: inserted once
    one, batched = History(tmp_path / "one.sqlite"), History(tmp_path / "batched.sqlite")
    try:
        for e in entries:
            one.apply([e])
        batched.apply(entries)
        assert batched.balances(0)["USDT"] == one.balances(0)["USDT"] != (0, 0)
    finally:
        one.close()
        batched.close()
    assert dump(tmp_path / "one.sqlite") == dump(tmp_path / "batched.sqlite")


def test_a_row_of_the_wrong_width_is_refused_not_spliced(tmp_path):
    """RowsInsert binds 50 rows' values as one list: a short row beside a long one must not shift the
    others' values into the wrong columns; the batch is refused as the single-row statement refuses it."""
    from spot_seda.history.schema import RowsInsert
    db = sqlite3.connect(tmp_path / "t.sqlite", isolation_level=None)
    db.execute("CREATE TABLE t (a INTEGER, b INTEGER, c INTEGER) STRICT")
    insert = RowsInsert("INSERT INTO t (a, b, c)", 3, per=2)
    insert.run(db, [(1, None, True), (2, 3, False), (4, 5, 6)])
    assert db.execute("SELECT a, b, c, typeof(b) FROM t").fetchall() == [
        (1, None, 1, "null"), (2, 3, 0, "integer"), (4, 5, 6, "integer")]
    with pytest.raises(sqlite3.ProgrammingError):
        insert.run(db, [(7, 8), (9, 10, 11, 12)])
    assert db.execute("SELECT count(*) FROM t").fetchone() == (3,)
    db.close()


def test_reports_merged_into_one_row_keep_the_symbol_and_account_an_earlier_one_carried(tmp_path):
    """A stub made from a batch's reports of an order not created yet: its symbol and account come
    from whichever report carried them, as when each report is written on its own."""
    first = updated("6", EntityType.ORDER, T0, 0, status="NEW", executed_qty=0, cum_quote_qty=0, account=1,
                    symbol="BTCUSDT")
    later = updated("6", EntityType.ORDER, T0 + 1, 0, status="PARTIALLY_FILLED", executed_qty=1000, cum_quote_qty=7000)
    one, batched = History(tmp_path / "one.sqlite"), History(tmp_path / "batched.sqlite")
    one.apply([first])
    one.apply([later])
    batched.apply([first, later])
    one.close()
    batched.close()
    assert dump(tmp_path / "one.sqlite") == dump(tmp_path / "batched.sqlite")


def test_persist_makes_its_history_durable_when_a_snapshot_marker_passes(tmp_path, monkeypatch):
    from spot_seda.runtime.inproc import InprocPipeline
    from spot_seda.runtime.replay import apply_commands
    from tests.conftest import settings_from
    from tests.sessions import commands

    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(os.readlink(f"/proc/self/fd/{fd}")) or real_fsync(fd))
    pipeline = InprocPipeline(settings_from(f'[node]\ndata_dir = "{tmp_path}"\n[bus]\ntransport = "inproc"\n'))
    apply_commands(pipeline, commands(2, 50), journaled=False)
    assert not [p for p in synced if "history" in p]
    pipeline.runners["acquiring-0"].emit_marker("sync", 1)
    pipeline.pump()
    assert not [p for p in synced if "history" in p]  # only a snapshot marker asks for it
    pipeline.runners["acquiring-0"].emit_marker("snapshot", 2)
    pipeline.pump()
    assert sorted(p.rpartition("/")[2] for p in synced if "history" in p) == ["history.sqlite", "history.sqlite-wal"]


def test_opening_retries_while_another_process_holds_the_file(tmp_path, monkeypatch):
    """Two processes opening one file at once (Persist and the supervisor or the API after a crash)
    may get 'database is locked' from the set-up statements at once, without the busy handler."""
    failures = iter([sqlite3.OperationalError("database is locked")] * 2)
    prepare = History._prepare

    def flaky(self):
        error = next(failures, None)
        if error is not None:
            raise error
        prepare(self)
    monkeypatch.setattr(History, "_prepare", flaky)
    with History(tmp_path / "h.sqlite", readonly=True) as h:
        assert h.progress("any") == {}
    assert next(failures, None) is None  # both failures were met and retried
    monkeypatch.setattr(History, "_prepare", lambda self: (_ for _ in ()).throw(sqlite3.OperationalError("disk I/O error")))
    with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
        History(tmp_path / "h.sqlite")  # anything else is not waited out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 150_000), st.integers(1, 10**6), st.integers(1, 10**6), st.booleans()),
                min_size=1, max_size=60),
       st.lists(st.integers(-200_000, 200_000), min_size=1, max_size=8))
def test_a_window_from_candles_and_edges_sums_as_every_trade_does(tmp_path_factory, fills, offsets):
    """History.trade_window against summarize(trades_since(...)), on trades at any pace (several in a
    millisecond, minutes apart) with the candles the real KLine stage makes of them, at window starts
    before, inside and after the trading."""
    from spot_seda.model.summary import summarize
    from spot_seda.stages.base import StageContext
    from spot_seda.stages.kline import KLineStage
    from tests.conftest import settings_from

    stage = KLineStage(StageContext(settings_from(""), "kline", 0, 1, tmp_path_factory.mktemp("k")))
    stage.start()
    ts, trades = T0, []
    for i, (gap, price, qty, same_taker) in enumerate(fills, 1):
        ts += gap if not (same_taker and trades) else 0  # a taker's fills share its command's time
        entry = trade(i, ts=ts, price=price, qty=qty)
        if same_taker and trades:  # one command sweeping several makers: same taker order
            entry = created(entry.entity_id, EntityType.TRADE, ts, entry.sequence,
                            **(entry.field_dict() | {"taker_order_id": trades[-1].field_dict()["taker_order_id"]}))
        trades.append(entry)
    candles = [e for _topic, _key, out in stage.handle_events("TradeChangeLog", trades) for e in out]
    with History(tmp_path_factory.mktemp("h") / "h.sqlite") as h:
        h.apply(trades + candles)
        every = h.trades_since("BTCUSDT", 0)
        for offset in offsets:
            start = (trades[0].timestamp if offset < 0 else trades[-1].timestamp) + offset
            summary, prev = h.trade_window("BTCUSDT", start)
            assert summary == summarize([t for t in every if t["time"] >= start]), start
            before = [t for t in every if t["time"] < start]
            assert prev == (before[-1]["price"] if before else None)


_H, _D = 3_600_000, 86_400_000


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.one_of(st.integers(0, 20 * 60_000), st.integers(0, 4 * _H), st.integers(0, 3 * _D)),
                          st.integers(1, 10**6), st.integers(1, 10**6)), min_size=1, max_size=60),
       st.sampled_from([8 * _H, 5 * _H + 45 * 60_000, -_H, -12 * _H, 14 * _H, 30 * 60_000]),
       st.sampled_from(["3m", "30m", "1h", "4h", "12h", "1d", "3d", "1w", "1M"]),
       st.integers(1, 6), st.sampled_from(["latest", "start", "end", "both"]), st.integers(0, 39), st.integers(0, 39))
def test_klines_in_a_time_zone_are_the_zones_buckets_of_every_trade(tmp_path_factory, fills, zone, interval, limit,
                                                                     window, i, j):
    """History.klines_in_zone (Binance's klines timeZone) against a naive model: every trade put in
    its bucket on the zone's clock, on the UTC candles the real KLine stage stores, with the page's
    limit and startTime / endTime (UTC, bounding the candles' open times) in Binance's combinations."""
    from spot_seda.engine.kline import bucket
    from spot_seda.stages.base import StageContext
    from spot_seda.stages.kline import KLineStage
    from tests.conftest import settings_from

    stage = KLineStage(StageContext(settings_from(""), "kline", 0, 1, tmp_path_factory.mktemp("k")))
    stage.start()
    ts, trades = T0, []
    for n, (gap, price, qty) in enumerate(fills, 1):
        ts += gap
        trades.append(trade(n, ts=ts, price=price, qty=qty))
    from tests.stages.entries import clock

    ticked = trades + [clock(ts=ts)]  # the candles out as they are at the end (a Tick)
    candles = [e for _topic, _key, out in stage.handle_events("TradeChangeLog", ticked) for e in out]
    want: dict[int, dict] = {}  # open time -> the candle of every trade in that bucket
    for e in trades:
        t = e.field_dict()
        open_time, close_time = bucket(interval, e.timestamp, zone)
        c = want.setdefault(open_time, {"open_time": open_time, "close_time": close_time, "open": t["price"],
                                        "high": t["price"], "low": t["price"], "volume": 0, "quote_volume": 0,
                                        "trades": 0, "taker_buy_volume": 0, "taker_buy_quote_volume": 0})
        c["high"], c["low"], c["close"] = max(c["high"], t["price"]), min(c["low"], t["price"]), t["price"]
        c["volume"] += t["qty"]
        c["quote_volume"] += t["quote_qty"]
        c["trades"] += 1
        if not t["buyer_is_maker"]:
            c["taker_buy_volume"] += t["qty"]
            c["taker_buy_quote_volume"] += t["quote_qty"]
    times = [e.timestamp for e in trades]
    start = times[min(i, len(times) - 1)] if window in ("start", "both") else None
    end = times[min(j, len(times) - 1)] if window in ("end", "both") else None
    if start is not None and end is not None and start > end:
        start, end = end, start
    expected = [c for _, c in sorted(want.items())
                if (start is None or c["open_time"] >= start) and (end is None or c["open_time"] <= end)]
    expected = expected[:limit] if start is not None else expected[-limit:]
    with History(tmp_path_factory.mktemp("h") / "h.sqlite") as h:
        h.apply(trades + candles)
        got = h.klines_in_zone("BTCUSDT", interval, zone, start_time=start, end_time=end, limit=limit)
    assert [{k: c[k] for k in expected[0]} for c in got] == expected if expected else got == []
    assert all(c["interval"] == interval for c in got)


def test_klines_in_a_time_zone_read_as_many_finer_candles_as_their_limit_needs(tmp_path):
    """A 1d candle at +08:00 is six 4h UTC candles: a page of 500 needs 3,000 of them, past the
    1,000 rows a page may hold. Every candle of the page whole, none missing: 200 days of one trade
    every 4 hours, the latest 500 (all 200 days) and 150 from a start time."""
    from spot_seda.engine.kline import bucket
    from spot_seda.stages.base import StageContext
    from spot_seda.stages.kline import KLineStage
    from tests.conftest import settings_from
    from tests.stages.entries import clock

    stage = KLineStage(StageContext(settings_from(""), "kline", 0, 1, tmp_path / "k"))
    stage.start()
    first = T0 // _D * _D + 3 * _H + 5  # not on a +08:00 day's start
    trades = [trade(n, ts=first + (n - 1) * 4 * _H, price=1_000_000 + n, qty=100_000) for n in range(1, 1201)]
    candles = [e for _topic, _key, out in stage.handle_events("TradeChangeLog", trades + [clock(ts=trades[-1].timestamp + 1)])
               for e in out]
    days: dict[int, list[int]] = {}  # +08:00 day's open time -> its trades' prices
    for e in trades:
        days.setdefault(bucket("1d", e.timestamp, 8 * _H)[0], []).append(e.field_dict()["price"])
    expected = [(day, prices[0], prices[-1], len(prices)) for day, prices in sorted(days.items())]
    with History(tmp_path / "h.sqlite") as h:
        h.apply(trades + candles)
        latest = h.klines_in_zone("BTCUSDT", "1d", 8 * _H, limit=500)
        paged = h.klines_in_zone("BTCUSDT", "1d", 8 * _H, start_time=expected[10][0], limit=150)
    assert [(c["open_time"], c["open"], c["close"], c["trades"]) for c in latest] == expected
    assert [(c["open_time"], c["open"], c["close"], c["trades"]) for c in paged] == expected[10:160]


def test_rolling_back_a_lost_cancel_or_amend_restores_the_orders_name_and_quantity(history):
    """A power failure took from the journal a cancel (which had renamed the order to the cancel's
    client id) and an amend (which had cut another order and renamed it): rolled back to what the
    replay rebuilt, both orders are open again under their own names and quantities, found by them."""
    from spot_seda.history import ReplayEnd
    a, b = order_new(1, client_order_id="mine"), order_new(2, client_order_id="other")
    qty = b.field_dict()["qty"]
    history.apply([a, b, order_report(1, "NEW", 0, 0, T0, working_time=T0),
                   order_report(2, "NEW", 0, 0, T0, working_time=T0)])
    history.apply([order_report(1, "CANCELED", 0, 0, T0 + 5, cancel_client_order_id="myCancel"),
                   order_report(2, "NEW", 0, 0, T0 + 6, qty=qty // 2, client_order_id="cut", amended=True)])
    assert (history.order(1).client_order_id, history.order(2).client_order_id) == ("myCancel", "cut")
    counts = history.roll_back_to(ReplayEnd(next_order_id=3, orders=[(1, "NEW", 0, 0, T0, a.field_dict()["qty"], "mine"),
                                                                     (2, "NEW", 0, 0, T0, qty, "other")],
                                            last_trade_ids={}, open_candles=[], sequences={}))
    assert counts["orders restored"] == 2
    for order_id, name, want in ((1, "mine", a.field_dict()["qty"]), (2, "other", qty)):
        order = history.order(order_id)
        assert (order.status.name, order.client_order_id, order.qty) == ("NEW", name, want)
        assert history.order_by_client_id(1, name) == order
