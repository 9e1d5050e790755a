"""Acquiring answers an order once Settlement has freed what it no longer needs (a client reads its
own writes), whichever of Match's report and Settlement's balance changes it applies first: over
Kafka they travel on two topics, and Settlement's may come first. A buy that trades below its limit
price and rests has its saving freed by a "reduce" (book.py's report `hold`); one that ends, by a
release. Real stages in one process; the order of delivery to Acquiring is the test's."""

from __future__ import annotations

import pytest

from spot_seda.model.commands import NewOrder, Transfer
from spot_seda.model.enums import Topic
from spot_seda.runtime.inproc import InprocPipeline
from spot_seda.runtime.replay import apply_commands
from spot_seda.stages.acquiring import Waiter
from tests.conftest import settings_from

T0 = 1_767_225_600_000


@pytest.mark.parametrize("balances_first", [False, True])
@pytest.mark.parametrize("tif", ["GTC", "IOC"])
def test_a_buy_below_its_price_is_answered_with_its_saving_free(tmp_path, tif, balances_first):
    pipeline = InprocPipeline(settings_from(f'[node]\ndata_dir = "{tmp_path}"\n[bus]\ntransport = "inproc"\n'))
    acquiring = pipeline.stage("acquiring-0")
    apply_commands(pipeline, [Transfer(1, "BTC", 10**9, T0), Transfer(2, "USDT", 10**13, T0),
                              NewOrder(1, "BTCUSDT", "SELL", "LIMIT", "GTC", 6_000_000, 5 * 10**6, 0, "", "NONE", T0 + 1)],
                   journaled=False)
    pipeline.pump()
    held: list = []  # Match's reports, held back until Settlement's balance changes are applied
    apply = acquiring.apply

    def reordering(topic, entries):
        if balances_first and topic == Topic.ORDER and any(e.field_dict().get("status") for e in entries):
            held.append(entries)
            return
        apply(topic, entries)
        if topic == Topic.BALANCE:
            for reports in held:
                apply(Topic.ORDER, reports)
            held.clear()
    acquiring.apply = reordering
    answers: list = []
    # a buy of 0.1 at 70,000 against 0.05 offered at 60,000: 3,000 spent, the rest rests (GTC) or ends
    cmd = NewOrder(2, "BTCUSDT", "BUY", "LIMIT", tif, 7_000_000, 10**7, 0, "", "NONE", T0 + 2)
    order, accepted, outputs = acquiring.new_order(cmd, Waiter(lambda answer, fills: answers.append(answer)))
    pipeline.runners["acquiring-0"].publish(outputs)
    for _ in range(5):
        pipeline.pump()
    assert not held
    assert [(a.status.name, a.executed_qty) for a in answers] == [
        ("PARTIALLY_FILLED" if tif == "GTC" else "EXPIRED", 5 * 10**6)]
    assert not acquiring.settling
    usdt = 10**13 - 3000 * 10**8  # (8 decimals) less the 3,000 spent
    need = 3500 * 10**8 if tif == "GTC" else 0  # 0.05 left at 70,000, or nothing
    assert acquiring.ledger.balance(2, "USDT") == (usdt - need, need)
    pipeline.stop()
