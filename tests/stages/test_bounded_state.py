"""What a stage keeps in memory per order or per minute stays within its configured cap when far
more than the cap goes through it (issue 13: memory bounded by configuration)."""

from __future__ import annotations

from spot_seda.engine.ledger import BalanceChange
from spot_seda.history import History
from spot_seda.model.enums import Topic
from spot_seda.runtime.inproc import InprocPipeline
from spot_seda.runtime.replay import apply_commands
from spot_seda.model.enums import FINAL_STATUSES as FINAL
from spot_seda.stages import pushuser
from spot_seda.stages.accepting import balance_entries
from spot_seda.stages.pushwindows import DAY_MS, MINUTE_MS, Rolling
from tests.conftest import settings_from
from tests.sessions import T0, commands
from tests.stages.entries import order_report


def test_acquiring_keeps_at_most_keep_finished_orders(tmp_path):
    cap = 20
    settings = settings_from(f'[node]\ndata_dir = "{tmp_path}"\nkeep_finished_orders = {cap}\n'
                             '[bus]\ntransport = "inproc"\n')
    pipeline = InprocPipeline(settings)
    acquiring = pipeline.stage("acquiring-0")
    apply_commands(pipeline, commands(7, 600), journaled=False)
    kept = [o for o in acquiring.orders.values() if o.status.name in FINAL]
    opened = [o for o in acquiring.orders.values() if o.status.name not in FINAL]
    finished = acquiring.next_order_id - 1 - len(opened)
    assert finished > 5 * cap  # far more went through than the cap
    assert len(kept) == len(acquiring.finished) == cap
    assert {o.order_id for o in kept} == set(acquiring.finished)  # the most recent ones
    assert all(o.order_id in acquiring.account(o.account).open_orders for o in opened)  # open ones all stay
    # an order it forgot is the history's: found there, finished
    forgotten = next(i for i in range(1, acquiring.next_order_id) if i not in acquiring.orders)
    with History(tmp_path / "history.sqlite", readonly=True) as history:
        assert history.order(forgotten).status.name in FINAL
    # its depth views answer REST: they keep the levels, not every level change since the start
    assert all(view.changed is None for view in acquiring.depth.values())
    assert any(view.update_id for view in acquiring.depth.values())


def test_push_keeps_a_day_of_minutes_with_nobody_asking():
    rolling = Rolling()
    minutes = DAY_MS // MINUTE_MS
    for i in range(3 * minutes):  # three days of one trade a minute, and no ticker ever asked for
        rolling.add(T0 + i * MINUTE_MS, i + 1, 100 + i, 1, 100 + i)
    assert len(rolling.buckets) <= minutes + 1
    assert rolling.prev_close == 100 + 3 * minutes - minutes - 2  # the close of the minute that left last


def test_push_holds_at_most_max_stalled_reports_of_orders_never_created(tmp_path, monkeypatch):
    """Match's reports of an order whose Created entry has not come wait in Push; a stream that never
    brings it (a corrupt one) must not make them pile up, however they are batched."""
    monkeypatch.setattr(pushuser, "MAX_STALLED", 10)
    pipeline = InprocPipeline(settings_from(f'[node]\ndata_dir = "{tmp_path}"\n[bus]\ntransport = "inproc"\n'))
    stage = pipeline.stage("push-0")
    for batch in range(20):  # 20 batches of 25 reports of orders nobody created
        stage.apply(Topic.ORDER, [order_report(10_000 + 25 * batch + i, "NEW", 0, 0, T0) for i in range(25)])
        assert len(stage.stalled) <= 10


def test_push_holds_the_balance_changes_of_at_most_max_held_orders_never_judged(tmp_path, monkeypatch):
    """An order's freeze waits in Push for Match's verdict on the order (stages/pushuser.py); freezes
    of orders that are never created nor judged (a corrupt stream) must not pile up."""
    monkeypatch.setattr(pushuser, "MAX_HELD", 10)
    pipeline = InprocPipeline(settings_from(f'[node]\ndata_dir = "{tmp_path}"\n[bus]\ntransport = "inproc"\n'))
    stage = pipeline.stage("push-0")
    for batch in range(20):  # 20 batches of 25 freezes of orders nobody created
        freezes = [BalanceChange(1, "USDT", -1, 1, 0, 0, "freeze", 10_000 + 25 * batch + i) for i in range(25)]
        stage.apply(Topic.BALANCE, balance_entries(freezes, T0))
        assert 0 < len(stage.held) <= 10
    assert (stage.balances[1, "USDT"].available, stage.balances[1, "USDT"].frozen) == (-500, 500)


def test_acquiring_restored_from_a_snapshot_whose_depth_kept_changes_keeps_none(tmp_path):
    """A snapshot written when Acquiring's depth views also gathered level changes for nobody: restored,
    they gather none from then on (the levels themselves come back as they were)."""
    settings = settings_from(f'[node]\ndata_dir = "{tmp_path}"\n[bus]\ntransport = "inproc"\n')
    pipeline = InprocPipeline(settings)
    acquiring = pipeline.stage("acquiring-0")
    apply_commands(pipeline, commands(7, 200), journaled=False)
    state = acquiring.snapshot_state()
    for view in state["depth"].values():
        view.changed = {(True, 1): 1}  # as an older node's snapshot has it
    levels = {s: (dict(v.bids), dict(v.asks), v.update_id) for s, v in state["depth"].items()}
    acquiring.restore_state(state)
    assert all(view.changed is None for view in acquiring.depth.values())
    assert {s: (v.bids, v.asks, v.update_id) for s, v in acquiring.depth.items()} == levels
