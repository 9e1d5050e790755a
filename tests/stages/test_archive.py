"""Orders archived as Binance archives them (history.archive_after_days; errors.md -2026): an order
that ended CANCELED, EXPIRED or EXPIRED_IN_MATCH with nothing executed leaves the history's orders
long after its last change, and a query of it by orderId answers -2026 instead of -2013; every other
order stays (filled or partly filled ones, open ones, recent ones, an order list's legs)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from aiohttp import web

from spot_seda.api import trading
from spot_seda.api.plumbing import HISTORY, READS, STAGE
from spot_seda.binance.errors import ApiError
from spot_seda.history import History
from spot_seda.history import writer as writer_module
from spot_seda.stages import persist as persist_module
from spot_seda.stages.base import StageContext
from spot_seda.stages.persist import DAY_MS, PersistStage
from tests.conftest import settings_from
from tests.stages.entries import T0, order_new, order_report

OLD, NOW = T0, T0 + 100 * DAY_MS  # 100 days apart: OLD's orders are over 90 days old at NOW


def session() -> list:
    return [
        order_new(1, ts=OLD), order_report(1, "CANCELED", 0, 0, OLD + 1),  # archived
        order_new(2, ts=OLD), order_report(2, "EXPIRED", 0, 0, OLD + 1),  # archived
        order_new(3, ts=OLD), order_report(3, "EXPIRED_IN_MATCH", 0, 0, OLD + 1),  # archived
        order_new(4, ts=OLD), order_report(4, "CANCELED", 50_000, 2_500_000_000, OLD + 1),  # traded: kept
        order_new(5, ts=OLD), order_report(5, "FILLED", 100_000, 5_000_000_000, OLD + 1),  # kept
        order_new(6, ts=OLD), order_report(6, "NEW", 0, 0, OLD),  # open: kept
        order_new(7, ts=OLD), order_report(7, "CANCELED", 0, 0, NOW - DAY_MS),  # ended recently: kept
        order_new(8, ts=OLD, order_list_id=1, list_client_order_id="l", contingency_type="OCO"),
        order_report(8, "EXPIRED", 0, 0, OLD + 1),  # an order list's leg: kept
        order_new(9, ts=NOW - DAY_MS), order_report(9, "CANCELED", 0, 0, NOW - DAY_MS),  # recent: kept
        order_new(10, ts=NOW), order_report(10, "NEW", 0, 0, NOW),  # the newest entry: NOW
    ]


def test_the_orders_that_ended_with_nothing_executed_long_ago_are_archived(tmp_path):
    with History(tmp_path / "history.sqlite") as history:
        history.apply(session())
        # (archived 1-3; 6 open, 7 ended too recently, 9 made since: the lowest that may be one day, 6)
        assert history.archive(NOW - 90 * DAY_MS) == (3, 0, 6, 10)
        assert [history.order(i) is None for i in range(1, 11)] == [True] * 3 + [False] * 7
        assert [history.archived(i) for i in (1, 2, 3, 4)] == [(1, "BTCUSDT")] * 3 + [None]
        assert history.archive(NOW - 90 * DAY_MS) == (0, 0, 6, 10)  # nothing more
        assert history.archive(NOW)[0] == 2  # later on: 7 and 9 too (their day came)


def test_a_round_looks_at_so_many_orders_and_the_next_goes_on_from_there(tmp_path):
    with History(tmp_path / "history.sqlite") as history:
        history.apply(session())
        assert history.archive(NOW - 90 * DAY_MS, 0, scan=2) == (2, 2, None, 2)
        assert history.archive(NOW - 90 * DAY_MS, 2, scan=2) == (1, 4, None, 4)
        assert history.archive(NOW - 90 * DAY_MS, 4, scan=100) == (0, 0, 6, 10)  # reached order 9, made since


def test_a_replay_of_an_archived_orders_entries_leaves_it_archived(tmp_path):
    """Persist sent everything again (a history it could not read at a start, a new layout): the
    entries of an order archived since write nothing, neither a row nor a stub."""
    with History(tmp_path / "history.sqlite") as history:
        entries = session()
        history.apply(entries)
        history.archive(NOW - 90 * DAY_MS)
        history.apply(entries)
        history.apply([order_report(2, "EXPIRED", 0, 0, OLD + 1)])
        assert [history.order(i) for i in (1, 2, 3)] == [None] * 3
        assert history._db.execute("SELECT count(*) FROM orders WHERE order_id <= 3").fetchone()[0] == 0
        assert history.order(4) is not None and history.order(10) is not None


def test_archived_orders_among_many_others_stay_archived_and_the_others_apply(tmp_path, monkeypatch):
    """The writer looks up only the ids up to the highest archived one, each by key, so many at a
    time: a replay of forty orders, every other one archived, and a new one, leaves the archived
    ones archived (no row, no stub) and applies the rest."""
    monkeypatch.setattr(writer_module, "_IN_MAX", 7)  # (six lookups for these forty ids)
    entries = []
    for oid in range(1, 41):  # odd: canceled with nothing executed long ago; even: traded, kept
        entries += [order_new(oid, ts=OLD), order_report(oid, "CANCELED", 0 if oid % 2 else 1, 0 if oid % 2 else 50,
                                                         OLD + 1)]
    with History(tmp_path / "history.sqlite") as history:
        history.apply(entries)
        assert history.archive(NOW - 90 * DAY_MS)[0] == 20
        history.apply([*entries, order_new(100, ts=NOW), order_report(100, "PARTIALLY_FILLED", 7, 350, NOW)])
        assert all(history.order(oid) is None and history.archived(oid) for oid in range(1, 41, 2))
        assert history._db.execute("SELECT count(*) FROM orders WHERE order_id % 2 = 1").fetchone()[0] == 0
        assert [history.order(oid).executed_qty for oid in range(2, 41, 2)] == [1] * 20
        assert history.order(100).executed_qty == 7


def test_a_pass_starts_at_the_lowest_order_that_may_still_be_archived(tmp_path, monkeypatch):
    """What stays for good (an order that traded) below the oldest open or recent order is not read
    again, pass after pass."""
    clock = [1000.0]
    monkeypatch.setattr(persist_module.time, "monotonic", lambda: clock[0])
    stage = persist_in(tmp_path, 90.0)
    stage.apply("OrderChangeLog", session())
    stage.commit()
    assert stage.archive_after == 5  # (6 is open: the next pass starts there)
    seen = []
    archive = stage.history.archive
    stage.history.archive = lambda before, after, scan: seen.append(after) or archive(before, after, scan)
    clock[0] += persist_module.ARCHIVE_EVERY_S
    stage.apply("OrderChangeLog", [order_report(6, "CANCELED", 0, 0, NOW)])
    stage.commit()
    assert seen == [5]
    stage.stop()


def persist_in(tmp_path, days: float) -> PersistStage:
    settings = settings_from(f'[node]\ndata_dir = "{tmp_path}"\n[history]\narchive_after_days = {days}\n')
    stage = PersistStage(StageContext(settings, "persist", 0, 1, tmp_path))
    stage.start()
    stage.input_progress = {}
    return stage


@pytest.mark.parametrize("days, archived", [(90.0, [1, 2, 3]), (0.0, [])])
def test_persist_archives_as_it_commits_and_at_most_once_a_minute(tmp_path, days, archived, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(persist_module.time, "monotonic", lambda: clock[0])
    stage = persist_in(tmp_path, days)
    stage.apply("OrderChangeLog", session())
    stage.commit()
    assert [i for i in range(1, 11) if stage.history.archived(i)] == archived
    stage.apply("OrderChangeLog", [order_report(7, "CANCELED", 0, 0, NOW - DAY_MS), order_new(11, ts=NOW + 90 * DAY_MS)])
    stage.commit()  # within the minute: no round (7 is archivable now)
    assert stage.history.archived(7) is None
    clock[0] += persist_module.ARCHIVE_EVERY_S
    stage.apply("OrderChangeLog", [order_report(11, "NEW", 0, 0, NOW + 90 * DAY_MS)])
    stage.commit()
    assert (stage.history.archived(7) is not None) == bool(days)
    stage.stop()


def test_the_time_archived_against_is_the_last_commits_not_the_greatest_ever(tmp_path, monkeypatch):
    """A clock that stepped forward and back: its entries' times do not stay the archive's time."""
    clock = [1000.0]
    monkeypatch.setattr(persist_module.time, "monotonic", lambda: clock[0])
    stage = persist_in(tmp_path, 90.0)
    stage.archive_at = 10**9  # (no round yet)
    stage.apply("OrderChangeLog", [order_new(20, ts=NOW + 120 * DAY_MS)])
    stage.commit()
    stage.apply("OrderChangeLog", session())
    stage.commit()
    assert stage.latest == NOW
    stage.archive_at = 0.0
    stage.apply("OrderChangeLog", [order_report(10, "NEW", 0, 0, NOW)])
    stage.commit()
    assert [i for i in range(1, 11) if stage.history.archived(i)] == [1, 2, 3]  # not 7 and 9
    stage.stop()


def query(history: History, account: int, order_id: int | None = None, client_id: str | None = None,
          kept=None) -> dict:
    class NothingToWaitFor:
        async def wait(self, views_only: bool = False) -> None:
            return None

    app = web.Application()
    app[STAGE] = SimpleNamespace(rules=settings_from("").symbol_rules(), find_order=lambda *_: kept)
    app[READS] = NothingToWaitFor()
    app[HISTORY] = history
    p = {"symbol": "BTCUSDT"}
    if order_id is not None:
        p["orderId"] = str(order_id)
    if client_id is not None:
        p["origClientOrderId"] = client_id
    return asyncio.run(trading.query_order(app, account, p, 0.0))


def test_a_query_of_an_archived_order_by_id_answers_2026(tmp_path):
    with History(tmp_path / "history.sqlite") as history:
        history.apply(session())
        assert query(history, 1, 1)["status"] == "CANCELED"  # before: the order itself
        history.archive(NOW - 90 * DAY_MS)
        with pytest.raises(ApiError) as archived:
            query(history, 1, 1)
        assert (archived.value.code, archived.value.msg) == (
            -2026, "Order was canceled or expired with no executed qty over 90 days ago and has been archived.")
        for account, order_id, client_id in ((2, 1, None), (1, None, "c1"), (1, 99, None)):
            with pytest.raises(ApiError) as missing:  # another account's, by client id, none at all
                query(history, account, order_id, client_id)
            assert missing.value.code == -2013
        assert query(history, 1, 4)["status"] == "CANCELED"  # a traded one stays


def test_an_order_acquiring_still_keeps_answers_as_the_history_does(tmp_path):
    """Acquiring keeps its last finished orders in memory, however old on a quiet node: one of them
    the history archived answers -2026 all the same, and one it has not archived is the order."""
    with History(tmp_path / "history.sqlite") as history:
        history.apply(session())
        kept = history.order(1)
        assert query(history, 1, 1, kept=kept)["status"] == "CANCELED"
        history.archive(NOW - 90 * DAY_MS)
        with pytest.raises(ApiError) as archived:
            query(history, 1, 1, kept=kept)
        assert archived.value.code == -2026
        assert query(history, 1, 5, kept=history.order(5))["status"] == "FILLED"
