"""AcquiringStage.on_first_fill (stages/acquiring.py): Match's reports of a seeded session, run
through the stages in one process, call it once for each order that traded, taker or maker, partly
or fully filled, as its first fill is applied, and never for one that did not trade. (What the API
does with it, the unfilled order count: tests/node/test_rate_limits.py.)"""

from __future__ import annotations

from collections import Counter

from spot_seda.model.enums import EntityType, Topic
from spot_seda.runtime.inproc import InprocPipeline
from spot_seda.runtime.replay import apply_commands, record
from tests.conftest import settings_from
from tests.sessions import commands


def test_each_order_that_trades_is_reported_once_at_its_first_fill(tmp_path):
    settings = settings_from(f'[node]\ndata_dir = "{tmp_path}"\n[bus]\ntransport = "inproc"\n')
    pipeline = InprocPipeline(settings)
    batches = record(pipeline)
    acquiring = pipeline.stage("acquiring-0")
    reported: list[tuple[int, int]] = []  # (order id, its executed quantity when reported)
    acquiring.on_first_fill = lambda order: reported.append((order.order_id, order.executed_qty))
    apply_commands(pipeline, commands(7, 600), journaled=False)
    pipeline.stop()

    traded = set()
    for batch in batches:
        if batch.topic == Topic.TRADE:
            for e in batch.entries:
                if e.entity_type == EntityType.TRADE:
                    f = e.field_dict()
                    traded.update((f["maker_order_id"], f["taker_order_id"]))
    times = Counter(order_id for order_id, _ in reported)
    assert times and max(times.values()) == 1, times.most_common(3)  # once per order
    assert set(times) == traded  # every order that traded, and only those
    assert all(executed > 0 for _, executed in reported)
