"""What a stage keeps in memory per order or per minute stays within its configured cap when far
more than the cap goes through it (issue 13: memory bounded by configuration)."""

from __future__ import annotations

from spot_seda.history import History
from spot_seda.runtime.inproc import InprocPipeline
from spot_seda.runtime.replay import apply_commands
from spot_seda.stages.acquiring import FINAL
from spot_seda.stages.push import DAY_MS, MINUTE_MS, _Rolling
from tests.conftest import settings_from
from tests.sessions import T0, commands


def test_acquiring_keeps_at_most_keep_finished_orders(tmp_path):
    cap = 20
    settings = settings_from(f'[node]\ndata_dir = "{tmp_path}"\nkeep_finished_orders = {cap}\n'
                             '[bus]\ntransport = "inproc"\n')
    pipeline = InprocPipeline(settings)
    acquiring = pipeline.stage("acquiring-0")
    apply_commands(pipeline, commands(7, 600), journaled=False)
    kept = [o for o in acquiring.orders.values() if o["status"] in FINAL]
    opened = [o for o in acquiring.orders.values() if o["status"] not in FINAL]
    finished = acquiring.next_order_id - 1 - len(opened)
    assert finished > 5 * cap  # far more went through than the cap
    assert len(kept) == len(acquiring.finished) == cap
    assert {o["order_id"] for o in kept} == set(acquiring.finished)  # the most recent ones
    assert all(o["order_id"] in acquiring.account(o["account"]).open_orders for o in opened)  # open ones all stay
    # an order it forgot is the history's: found there, finished
    forgotten = next(i for i in range(1, acquiring.next_order_id) if i not in acquiring.orders)
    with History(tmp_path / "history.sqlite", readonly=True) as history:
        assert history.order(forgotten)["status"] in FINAL


def test_push_keeps_a_day_of_minutes_with_nobody_asking():
    rolling = _Rolling()
    minutes = DAY_MS // MINUTE_MS
    for i in range(3 * minutes):  # three days of one trade a minute, and no ticker ever asked for
        rolling.add(T0 + i * MINUTE_MS, i + 1, 100 + i, 1, 100 + i)
    assert len(rolling.buckets) <= minutes + 1
    assert rolling.prev_close == 100 + 3 * minutes - minutes - 2  # the close of the minute that left last
