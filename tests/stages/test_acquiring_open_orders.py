"""Acquiring's open-orders views (GET /api/v3/openOrders, /api/v3/openOrderList) leave out an
order Match has not reported on yet (stages/acquiring.py `judged_open_orders`): such an order came
in after the read (api/readbarrier.py), and Match may still refuse it, after which no stream tells a
client that saw it listed. Acquiring's own commands are run here in one process, Match's reports
held back until the pipeline is pumped."""

from __future__ import annotations

from spot_seda.model.commands import NewOrder, NewOto, Transfer
from spot_seda.runtime.inproc import InprocPipeline
from spot_seda.runtime.replay import apply_commands
from tests.conftest import settings_from

T0 = 1_700_000_000_000


def _order(side: str, type: str, tif: str, price: int, cid: str) -> NewOrder:
    return NewOrder(1, "BTCUSDT", side, type, tif, price, 10**7, 0, cid, "NONE", T0)


def _pipeline(tmp_path):
    settings = settings_from(f'[node]\ndata_dir = "{tmp_path}"\n[bus]\ntransport = "inproc"\n')
    pipeline = InprocPipeline(settings)
    apply_commands(pipeline, [Transfer(a, asset, 10**6 * 10**8, T0) for a in (1, 2) for asset in ("BTC", "USDT")],
                   journaled=False)
    return pipeline, pipeline.runners["acquiring-0"]


def _open_ids(acquiring, account: int = 1) -> list[int]:
    return sorted(o.order_id for o in acquiring.judged_open_orders(account))


def test_an_order_is_listed_open_only_once_match_has_reported_on_it(tmp_path):
    pipeline, runner = _pipeline(tmp_path)
    acquiring = runner.stage
    rests, outputs = acquiring.execute(_order("BUY", "LIMIT", "GTC", 4_000_000, "rests"), False)
    runner.publish(outputs)
    # accepted, its funds frozen, sent to Match: not listed until Match has judged it
    assert rests.order_id in acquiring.account(1).open_orders
    assert _open_ids(acquiring) == []
    assert acquiring.in_flight == 1
    pipeline.pump()
    assert _open_ids(acquiring) == [rests.order_id]
    assert acquiring.in_flight == 0

    # one Match refuses (a LIMIT_MAKER that would take the resting bid): never listed
    maker, outputs = acquiring.execute(_order("SELL", "LIMIT_MAKER", "GTC", 3_900_000, "crosses"), False)
    runner.publish(outputs)
    assert maker.order_id in acquiring.account(1).open_orders
    assert _open_ids(acquiring) == [rests.order_id]
    pipeline.pump()
    assert _open_ids(acquiring) == [rests.order_id]
    assert maker.order_id not in acquiring.orders  # refused: an error to its client, no view shows it
    pipeline.stop()


def test_an_order_list_is_listed_open_only_once_match_has_reported_on_its_legs(tmp_path):
    pipeline, runner = _pipeline(tmp_path)
    acquiring = runner.stage
    legs = (_order("BUY", "LIMIT", "GTC", 4_000_000, "working"), _order("SELL", "LIMIT", "GTC", 6_000_000, "pending"))
    oto, outputs = acquiring.execute(NewOto(1, "BTCUSDT", T0, legs, "list"), False)
    runner.publish(outputs)
    assert acquiring.open_order_lists(1) == [] and _open_ids(acquiring) == []
    pipeline.pump()
    assert [lst["order_list_id"] for lst in acquiring.open_order_lists(1)] == [oto.order_list_id]
    assert _open_ids(acquiring) == [leg.order_id for leg in oto.legs]
    pipeline.stop()
