"""Acquiring's and Push's orders go into a snapshot as one msgpack blob (model/orders.py PackedOrders),
not one pickled object each: read back, they are the same orders in the same order, Acquiring's
accounts point at those very objects again, the stages carry on exactly as the live ones do, and a
snapshot written before (every order pickled on its own) still loads."""

from __future__ import annotations

import pickle

import msgspec

from spot_seda.model.orders import Order, PackedOrders
from spot_seda.runtime.inproc import InprocPipeline
from spot_seda.runtime.replay import apply_commands
from spot_seda.stages.acquiring import AccountState
from tests.conftest import settings_from
from tests.runtime.test_channel_snapshot import canonical
from tests.sessions import commands, stop_commands


def _pipeline(tmp_path, name: str) -> InprocPipeline:
    return InprocPipeline(settings_from(f'[node]\ndata_dir = "{tmp_path / name}"\n[bus]\ntransport = "inproc"\n'))


def _read_back(state: dict) -> dict:
    """As a snapshot file gives it back (runtime/snapshots.py: pickled by the writer)."""
    return pickle.loads(pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL))


def test_packed_orders_read_back_as_the_same_orders_in_the_same_order(tmp_path):
    pipe = _pipeline(tmp_path, "p")
    apply_commands(pipe, commands(11, 400) + stop_commands(12, 200, trailing=True), journaled=False)
    orders = pipe.stage("acquiring-0").orders  # (open ones and recently finished ones: a mix worth checking)
    assert len(orders) > 200 and any(o.stop_price for o in orders.values())
    assert len({o.status for o in orders.values()}) >= 4 and any(o.executed_qty for o in orders.values())
    back = _read_back({"orders": PackedOrders(orders)})["orders"]
    assert list(back) == list(orders) and back == orders
    assert all(type(o) is Order and type(o.side) is type(orders[oid].side) for oid, o in back.items())
    # what a state restored without pickling in between hands over (a test's, a replay's)
    assert PackedOrders.unpacked(PackedOrders(orders)) == orders and PackedOrders.unpacked(orders) is orders


def test_acquiring_restored_from_packed_orders_shares_each_order_with_its_account(tmp_path):
    live = _pipeline(tmp_path, "live")
    cmds = commands(13, 700)
    apply_commands(live, cmds[:500], journaled=False)
    state = live.stage("acquiring-0").snapshot_state()
    assert type(state["orders"]) is PackedOrders and all(type(a) is tuple for a in state["accounts"].values())

    restored = _pipeline(tmp_path, "restored")
    acquiring = restored.stage("acquiring-0")
    acquiring.restore_state(_read_back(state))
    opened = {oid: o for oid, o in live.stage("acquiring-0").orders.items() if not o.status.is_final}
    assert acquiring.orders == opened
    for account, acc in live.stage("acquiring-0").accounts.items():
        mine = acquiring.accounts[account]
        assert type(mine) is AccountState and mine.client_ids == acc.client_ids
        assert list(mine.open_orders) == list(acc.open_orders)
        # one object, as live: a report applied to the order shows in the account's view too
        assert all(o is acquiring.orders[oid] for oid, o in mine.open_orders.items())


def test_acquiring_snapshot_written_before_packing_still_loads(tmp_path):
    pipe = _pipeline(tmp_path, "p")
    apply_commands(pipe, commands(14, 400), journaled=False)
    acquiring = pipe.stage("acquiring-0")
    state = acquiring.snapshot_state()
    # as the writer pickled it before: every open order an object, the accounts' the same ones
    old = dict(state, orders={oid: o for oid, o in acquiring.orders.items() if not o.status.is_final},
               accounts=acquiring.accounts)
    fresh = _pipeline(tmp_path, "fresh").stage("acquiring-0")
    fresh.restore_state(_read_back(old))
    again = _pipeline(tmp_path, "again").stage("acquiring-0")
    again.restore_state(_read_back(state))
    assert fresh.orders == again.orders and fresh.accounts == again.accounts
    assert canonical(_read_back(fresh.snapshot_state())) == canonical(_read_back(again.snapshot_state()))


def test_stages_restored_from_packed_orders_carry_on_as_the_live_ones(tmp_path):
    """Two pipelines run the same session; half-way, the second's Acquiring and Push are restored in
    place from their own snapshots as a file gives them back. After the rest of the session their
    states are the first one's, and so are their outputs."""
    cmds = commands(15, 800)
    live, resumed = _pipeline(tmp_path, "live"), _pipeline(tmp_path, "resumed")
    apply_commands(live, cmds[:400], journaled=False)
    apply_commands(resumed, cmds[:400], journaled=False)
    for label in ("acquiring-0", "push-0"):
        stage = resumed.stage(label)
        stage.restore_state(_read_back(stage.snapshot_state()))
    assert resumed.stage("acquiring-0").orders != live.stage("acquiring-0").orders  # (the finished ones are gone)
    out_live = apply_commands(live, cmds[400:], journaled=False)
    out_resumed = apply_commands(resumed, cmds[400:], journaled=False)
    assert out_resumed == out_live
    for label in ("acquiring-0", "push-0"):
        assert canonical(_read_back(resumed.stage(label).snapshot_state())) == \
            canonical(_read_back(live.stage(label).snapshot_state()))


def test_orders_with_amounts_beyond_64_bits_are_pickled_as_they_are(tmp_path):
    """msgpack's ints stop at 64 bits, Python's do not (a whale's market buy by quantity holds all its
    quote): PackedOrders then pickles the orders one by one, and they read back the same."""
    pipe = _pipeline(tmp_path, "p")
    apply_commands(pipe, commands(16, 200), journaled=False)
    orders = dict(pipe.stage("acquiring-0").orders)
    whale = next(iter(orders.values()))
    orders[whale.order_id] = msgspec.structs.replace(whale, quote_qty=2**70)
    packed = PackedOrders(orders)
    assert packed.blob is None  # (the test can fail: packed, it would raise)
    back = _read_back({"orders": packed})["orders"]
    assert back == orders and list(back) == list(orders)
    assert PackedOrders.unpacked(packed) is orders
