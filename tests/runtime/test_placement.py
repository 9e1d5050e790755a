"""Where the supervisor pins each stage (plan_cores): one core each where there are enough, the
configured cores where listed, and where stages outnumber the cores, spread by weight so no core
carries much more than its share. Hypothesis against the bound greedy placement guarantees."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from spot_seda.config import Settings
from spot_seda.runtime.supervisor import plan_cores
from spot_seda.topology import stage_specs


def _settings(floating: tuple[str, ...] = (), **cores) -> Settings:
    s = Settings()
    s.runtime.cores.update(cores)
    s.runtime.unpinned_when_shared = list(floating)
    return s


def _loads(cores, weights):
    load: dict[int, float] = {}
    for core, w in zip(cores, weights):
        load[core] = load.get(core, 0.0) + w
    return load


def test_the_node_on_two_cores_is_split_by_weight_not_round_robin():
    specs = stage_specs("node")
    labels = [(s.name, f"{s.name}-0") for s in specs]
    cores = plan_cores(labels, _settings(), [0, 1], [s.weight for s in specs])
    placed = {label: core for (_, label), core in zip(labels, cores)}
    # round-robin put acquiring, kline and persist (85 of 126 weight) on core 0; the two heaviest,
    # acquiring and persist, now sit on different cores and the cores' loads differ by a few units
    assert placed["acquiring-0"] != placed["persist-0"]
    load = _loads(cores, [s.weight for s in specs])
    assert abs(load[0] - load[1]) <= min(s.weight for s in specs)


def test_on_shared_cores_the_stages_named_float_and_the_others_keep_the_cores_their_weights_gave():
    specs = stage_specs("node")
    labels = [(s.name, f"{s.name}-0") for s in specs]
    weights = [s.weight for s in specs]
    pinned = dict(zip((label for _, label in labels), plan_cores(labels, _settings(), [0, 1], weights)))
    floating = ("persist", "kline", "push")
    cores = dict(zip((label for _, label in labels), plan_cores(labels, _settings(floating), [0, 1], weights)))
    assert {label: core for label, core in cores.items() if core == -1} == \
        {f"{name}-0": -1 for name in floating}
    assert {label: core for label, core in cores.items() if core != -1} == \
        {label: core for label, core in pinned.items() if label.rpartition("-")[0] not in floating}
    # the default names the same three
    assert plan_cores(labels, Settings(), [0, 1], weights) == list(cores.values())
    # a core each: every stage pinned, the named ones too; a stage listed in runtime.cores keeps its core
    assert -1 not in plan_cores(labels, _settings(floating), list(range(8)), weights)
    listed = dict(zip((label for _, label in labels), plan_cores(labels, _settings(floating, push=[1]), [0, 1], weights)))
    assert listed["push-0"] == 1 and listed["persist-0"] == listed["kline-0"] == -1


def test_enough_cores_give_one_each_in_order_and_listed_stages_keep_theirs():
    labels = [("a", "a-0"), ("b", "b-0"), ("c", "c-0")]
    assert plan_cores(labels, _settings(), [4, 5, 6, 7], [1, 9, 5]) == [4, 5, 6]
    assert plan_cores(labels, _settings(b=[4]), [4, 5, 6], [1, 9, 5]) == [5, 4, 6]
    s = _settings()
    s.runtime.pinning = False
    assert plan_cores(labels, s, [0, 1], [1, 9, 5]) == [-1, -1, -1]


def test_equal_weights_alternate_like_round_robin():
    labels = [(n, f"{n}-0") for n in "abcde"]
    assert plan_cores(labels, _settings(), [0, 1]) == [0, 1, 0, 1, 0]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(0.1, 100), min_size=1, max_size=12), st.integers(1, 4),
       st.lists(st.integers(0, 3), max_size=3))
def test_no_core_carries_more_than_its_share_plus_one_stage(weights, ncores, listed):
    allowed = list(range(ncores))
    labels = [(f"s{i}", f"s{i}-0") for i in range(len(weights))]
    fixed = {f"s{i}": [c % ncores] for i, c in enumerate(listed) if i < len(weights)}
    cores = plan_cores(labels, _settings(**fixed), allowed, weights)
    assert all(c in allowed for c in cores)
    for name, (core,) in fixed.items():
        assert cores[int(name[1:])] == core
    if len(weights) - len(fixed) <= ncores - len({c for (c,) in fixed.values()}):
        free = [c for i, c in enumerate(cores) if f"s{i}" not in fixed]
        assert len(set(free)) == len(free)  # one core each, none shared with a listed stage
        return
    # greedy onto the least loaded core: a core's load beyond the even share is at most the
    # heaviest free stage (the last one placed on it went where the load was lowest)
    load = _loads(cores, weights)
    free_max = max(w for i, w in enumerate(weights) if f"s{i}" not in fixed)
    fixed_load = _loads([c for i, c in enumerate(cores) if f"s{i}" in fixed],
                        [w for i, w in enumerate(weights) if f"s{i}" in fixed])
    share = sum(weights) / ncores
    for core in allowed:
        assert load.get(core, 0.0) <= max(share, fixed_load.get(core, 0.0)) + free_max + 1e-9
