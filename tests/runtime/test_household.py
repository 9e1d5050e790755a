"""Stages sharing one process (runtime.colocate, runtime/household.py): the same entries, in the
same order, under the same sequences as one process per stage, with fewer processes."""

from __future__ import annotations

import json
import os
import signal

import pytest

from spot_seda.topology import households, wiring_for
from tests.conftest import ROOT, run_node, settings_from
from tests.runtime.test_shm_replay import as_line, valid
from tests.runtime.test_supervisor import relay_toml, tally
from tests.sessions import commands, replay

NODE_HOUSEHOLD = '[runtime]\ncolocate = [["persist", "match", "settlement", "kline"]]\n'


def relay_household(tmp_path, count: int) -> str:
    toml = relay_toml(tmp_path, count=count, rate=0, sources=2).replace("relay = 2", "relay = 1")
    return toml.replace("[runtime]", '[runtime]\ncolocate = [["relay", "tally", "audit"]]')


def test_a_household_shares_one_queue_in_flow_order():
    settings = settings_from(NODE_HOUSEHOLD)
    assert households("node", settings) == [("match", "kline", "settlement", "persist")]
    wiring = wiring_for("node", settings)
    assert wiring.shared == (("match", "kline", "settlement", "persist"),)
    from spot_seda.bus.shm import ShmBus

    bus = ShmBus(wiring, settings.bus)
    try:
        shared = bus.queues["match", 0]
        assert all(bus.queues[g, 0] is shared for g in ("kline", "settlement", "persist"))
        assert bus.queues["push-0", 0] is not shared
        # Acquiring's order entries go once to the household and once to Push, not once per stage
        routes = bus.producer("acquiring-0")._routes["OrderChangeLog"]
        assert sum(members[0] is shared for members in routes) == 1
        assert len(routes) == len({id(m[0]) for m in routes})
        # a household's stage sends over shm only what leaves the household
        outside = tuple(g for g in wiring.groups if g not in ("match", "kline", "settlement", "persist"))
        trades = bus.producer("match-0", outside)._routes["TradeChangeLog"]
        assert shared not in [m[0] for m in trades] and trades
    finally:
        bus.close()
    assert households("node", settings_from('[bus]\ntransport = "inproc"\n' + NODE_HOUSEHOLD)) == []


@pytest.mark.parametrize("colocate, named", [
    ('[["acquiring", "match"]]', "acquiring"),
    ('[["push", "persist"]]', "push"),
    ('[["match", "nothing"]]', "nothing"),
    ('[["match", "kline"], ["kline", "persist"]]', "kline"),
])
def test_a_household_that_cannot_be_is_refused_naming_the_stage(colocate, named):
    with pytest.raises(ValueError, match=f"runtime.colocate.*{named}"):
        households("node", settings_from(f"[runtime]\ncolocate = {colocate}\n"))
    with pytest.raises(ValueError, match="runtime.colocate.*match"):
        households("node", settings_from('[runtime]\ncolocate = [["match", "kline"]]\n[runtime.instances]\nmatch = 2\n'))


def test_a_household_delivers_everything_in_order_to_each_of_its_stages(tmp_path):
    count = 20_000
    with run_node(tmp_path, relay_household(tmp_path, count)) as node:
        pids = node.wait_running()
        assert pids["relay-0"] == pids["tally-0"] == pids["audit-0"] != pids["source-0"]
        for label in ("tally-0", "audit-0"):
            node.wait_for(lambda: tally(node.data_dir, label)["count"] >= 2 * count, timeout=60, what=f"{label} count")
        assert node.terminate() == 0
    checksum = 2 * (count * (count - 1) // 2)
    for label in ("tally-0", "audit-0"):
        t = tally(node.data_dir, label)
        assert (t["count"], t["checksum"], t["violations"]) == (2 * count, checksum, 0), label
    assert "sequence gap" not in node.log()


def test_a_killed_household_comes_back_whole_and_flows_again(tmp_path):
    with run_node(tmp_path, relay_household(tmp_path, 0).replace("rate = 0", "rate = 2000")) as node:
        pids = node.wait_running()
        os.kill(pids["tally-0"], signal.SIGKILL)
        new = node.wait_for(lambda: (p := node.stage_pids())["relay-0"] not in (0, pids["relay-0"]) and p,
                            timeout=30, what="restart")
        assert new["relay-0"] == new["tally-0"] == new["audit-0"]
        before = tally(node.data_dir, "audit-0")["count"] if (node.data_dir / "tally-audit-0.json").exists() else 0
        node.wait_for(lambda: tally(node.data_dir, "audit-0")["count"] > before + 2000, timeout=30, what="flow")
        assert node.terminate() == 0


def test_a_household_gives_the_same_bytes_as_one_process_per_stage(tmp_path):
    rules = settings_from("").symbol_rules()
    lines = [as_line(c, {s: r.price_decimals for s, r in rules.items()}) for c in commands(5, 500)]
    source = tmp_path / "commands.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines if valid(line, rules)))
    config = tmp_path / "household.toml"
    text = (ROOT / "configs" / "default.toml").read_text()
    config.write_text(text.replace("colocate = []", 'colocate = [["match", "kline", "settlement", "persist"]]'))
    assert config.read_text() != text
    alone = replay(source, tmp_path / "alone.jsonl", "shm")
    together = replay(source, tmp_path / "together.jsonl", "shm", config)
    assert together == alone
    assert together.count(b"SpotTrade") > 30 and together.count(b"SpotKLine") > 0
