"""DepthView against a naive twin: the levels are the sums of what rests, update_id counts the
reports that changed what rests, take_changes names every level that moved, with its total, and
best() is the highest bid and the lowest ask, however its known best was kept or pickled."""

from __future__ import annotations

import pickle

from hypothesis import given, settings, strategies as st

from spot_seda.engine.depthview import DepthView
from spot_seda.model.enums import OrderStatus

STATUSES = [OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED, OrderStatus.CANCELED,
            OrderStatus.PENDING_NEW, OrderStatus.EXPIRED]

reports = st.lists(st.tuples(st.integers(1, 12), st.booleans(), st.sampled_from([0, 100, 101, 102]),
                             st.integers(0, 5), st.sampled_from(STATUSES)), max_size=60)


def naive_levels(resting: dict) -> tuple[dict, dict]:
    bids: dict[int, int] = {}
    asks: dict[int, int] = {}
    for is_bid, price, leaves in resting.values():
        side = bids if is_bid else asks
        side[price] = side.get(price, 0) + leaves
    return bids, asks


@settings(max_examples=300, deadline=None)
@given(reports, st.integers(1, 10))
def test_levels_update_id_and_changes_follow_what_rests(stream, every):
    tracked, quiet = DepthView(), DepthView(track_changes=False)
    resting: dict[int, tuple[bool, int, int]] = {}
    update_id = 0
    last_bids: dict[int, int] = {}
    last_asks: dict[int, int] = {}
    for i, (order_id, is_bid, price, leaves, status) in enumerate(stream):
        was = resting.pop(order_id, None)
        if status in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED) and leaves > 0 and price > 0:
            resting[order_id] = (is_bid, price, leaves)
        update_id += was is not None or order_id in resting
        for view in (tracked, quiet):
            view.apply(order_id, is_bid, price, leaves, status)
        bids, asks = naive_levels(resting)
        for view in (tracked, quiet):
            assert (view.bids, view.asks, view.update_id) == (bids, asks, update_id)
        if i % every == 0:  # what changed since the last take: every level whose total moved
            changes = tracked.take_changes()
            moved = {(True, p): bids.get(p, 0) for p in bids.keys() | last_bids.keys()
                     if bids.get(p, 0) != last_bids.get(p, 0)}
            moved |= {(False, p): asks.get(p, 0) for p in asks.keys() | last_asks.keys()
                      if asks.get(p, 0) != last_asks.get(p, 0)}
            assert all(v == (bids if is_bid else asks).get(p, 0) for (is_bid, p), v in changes.items())  # its total now
            assert moved.keys() <= changes.keys()  # (a level touched and back where it was may be named too)
            last_bids, last_asks = bids, asks
        assert quiet.take_changes() == {} and quiet.changed is None  # a query-only view keeps none


def test_a_query_only_view_keeps_no_level_changes():
    view = DepthView(track_changes=False)
    for order_id in range(1, 1001):  # a thousand levels touched, and nobody takes changes
        view.apply(order_id, True, 1000 + order_id, 1, OrderStatus.NEW)
        view.apply(order_id, True, 1000 + order_id, 0, OrderStatus.CANCELED)
    assert view.changed is None and view.bids == {} and view.update_id == 2000


def naive_best(bids: dict, asks: dict) -> tuple:
    return (max(bids.items()) if bids else None, min(asks.items()) if asks else None)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 12), st.booleans(), st.integers(1, 9), st.integers(0, 5),
                          st.sampled_from(STATUSES), st.sampled_from(["", "best", "pickle"])), max_size=80))
def test_best_is_the_highest_bid_and_lowest_ask_whenever_asked(stream):
    view = DepthView()
    resting: dict[int, tuple[bool, int, int]] = {}
    for order_id, is_bid, price, leaves, status, then in stream:
        resting.pop(order_id, None)
        if status in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED) and leaves > 0:
            resting[order_id] = (is_bid, price, leaves)
        view.apply(order_id, is_bid, price, leaves, status)
        if then == "best":  # (asked between reports, so that what it knows is kept across them)
            assert view.best() == naive_best(*naive_levels(resting))
        elif then == "pickle":  # a snapshot, restored: the levels come back, the best found again
            view = pickle.loads(pickle.dumps(view))
    assert view.best() == naive_best(*naive_levels(resting))


def test_a_view_pickled_before_it_kept_its_best_restores():
    view = DepthView()
    view.apply(1, True, 100, 3, OrderStatus.NEW)
    view.apply(2, False, 105, 2, OrderStatus.NEW)
    # what pickle wrote for a view with these slots and no __getstate__ of its own: (None, slots)
    old = {name: getattr(view, name) for name in ("bids", "asks", "update_id", "resting", "changed")}
    restored = DepthView.__new__(DepthView)
    restored.__setstate__((None, old))
    assert restored.best() == ((100, 3), (105, 2)) and restored.update_id == 2
    restored.apply(3, True, 101, 1, OrderStatus.NEW)
    assert restored.best() == ((101, 1), (105, 2))
