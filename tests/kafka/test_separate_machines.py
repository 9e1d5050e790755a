"""The node split over two "machines" (separate supervisors, separate data dirs, nothing shared but the
Kafka cluster): Match alone on one, every other stage on the other. Under steady REST traffic the
Match machine is killed -9 and comes back on an *empty* data dir: it loads the state it kept in Kafka
and reads on from the input offsets that state names, the other machine goes on, and nothing
acknowledged is lost; then the other machine's Acquiring dies and what it had not published yet
reaches Match all the same. A Match machine stopped, replaced and resumed changes nothing (with
Kafka transactions, it is fenced off and stops). And with
two machines of Match, or of Settlement, one killed, the other takes its instance over."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time

import pytest

from tests.conftest import run_node
from tests.kafka.test_node_over_kafka import kafka_extra
from tests.kafka.test_replicated import Traffic, check_history, open_accounts, orders_in_history, settle
from tests.node.client import Client
from tests.node.conftest import free_port, node_toml, wait_http

OTHERS = "acquiring,kline,settlement,persist,push"


def kept_since(cluster, extra: str, label: str = "match-0") -> int:
    """When `label` last kept its state in Kafka (ns; 0: never)."""
    from types import SimpleNamespace

    from spot_seda.bus.kafkastate import kept_heads

    prefix = next(line.split('"')[1] for line in extra.splitlines() if line.startswith("topic_prefix"))
    heads, _ = kept_heads(SimpleNamespace(prefix=prefix, common={"bootstrap.servers": cluster.bootstrap}))
    return heads.get(label, 0)


def published(machine) -> int:
    """Entries the machine's Match instance has published (its metrics table)."""
    from spot_seda.runtime.metrics import open_from_manifest

    return sum(int(row["events_out"]) for row in open_from_manifest(machine.data_dir).snapshot())


def test_split_node_match_alone_killed_and_rebuilt_from_kafka(tmp_path, kafka_cluster):
    # the Match machine keeps its state in Kafka every second: the empty one that replaces it loads it
    extra = kafka_extra(kafka_cluster) + "restart_backoff_max_s = 0.5\n[journal]\nsnapshot_interval_s = 1.0\n"
    http = free_port()
    base = f"http://127.0.0.1:{http}"
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    acked: dict[int, int] = {}
    clients: dict[int, Client] = {}

    def match_machine():
        return run_node(b, node_toml(b / "data", free_port(), free_port(), extra=extra), "--stage", "match")

    with run_node(a, node_toml(a / "data", http, free_port(), extra=extra), "--stage", OTHERS) as others:
        wait_http(base, others, timeout=60)
        match = match_machine()
        node_b = match.__enter__()
        try:
            node_b.wait_running()
            asyncio.run(open_accounts(base, clients))
            with Traffic(clients, acked, seed=18) as traffic:
                others.wait_for(lambda: traffic.count() > 80, timeout=60, what="orders before the kill")
                kept = kept_since(kafka_cluster, extra)
                others.wait_for(lambda: kept_since(kafka_cluster, extra) > kept, timeout=30,
                                what="Match keeping its state since those orders")
                os.killpg(node_b.proc.pid, signal.SIGKILL)  # the Match machine is gone, disk and all
                node_b.proc.wait()
                match.__exit__(None, None, None)
                shutil.rmtree(b / "data")
                time.sleep(1.0)
                match = match_machine()
                node_b = match.__enter__()
                node_b.wait_running()
                now = traffic.count()
                others.wait_for(lambda: traffic.count() > now + 80, timeout=90, what="orders after Match came back")
                # the other machine's Acquiring dies: its pipeline restarts from its journal, and what
                # it had not published yet goes to Kafka before anything new
                victim = others.stage_pids()["acquiring-0"]
                os.kill(victim, signal.SIGKILL)
                others.wait_for(lambda: others.stage_pids().get("acquiring-0") not in (0, victim, None),
                                what="acquiring back")
                wait_http(base, others, timeout=60)
                now = traffic.count()
                others.wait_for(lambda: traffic.count() > now + 80, timeout=90, what="orders after Acquiring came back")
            assert "match-0 restored from its kept state at input offsets" in node_b.log()
            totals = asyncio.run(settle(base, clients, acked))
            history = orders_in_history(a / "data")
            assert all(history.get(order_id) == 1 for order_id in acked)
        finally:
            others.terminate(60)  # first: its Acquiring's last marker passes through Match as it stops
            match.__exit__(None, None, None)
    check_history(a / "data", totals, len(clients))


def test_a_stopped_match_machine_replaced_then_resumed_changes_nothing(tmp_path, kafka_cluster):
    """SIGSTOP the Match machine long enough to start a replacement on another (empty) one, then
    SIGCONT it: two Matches of the same name now publish. They are not fenced: both are the same
    deterministic function of the same partitions, so they send the same entries under the same
    sequences, and every consumer keeps the first copy and drops the other. Nothing is applied twice."""
    extra = kafka_extra(kafka_cluster) + "restart_backoff_max_s = 0.5\n"
    http = free_port()
    base = f"http://127.0.0.1:{http}"
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for d in (a, b, c):
        d.mkdir()
    acked: dict[int, int] = {}
    clients: dict[int, Client] = {}

    def match_machine(where):
        return run_node(where, node_toml(where / "data", free_port(), free_port(), extra=extra), "--stage", "match")

    with run_node(a, node_toml(a / "data", http, free_port(), extra=extra), "--stage", OTHERS) as others, \
            match_machine(b) as old:
        wait_http(base, others, timeout=60)
        old.wait_running()
        replacement = None
        try:
            asyncio.run(open_accounts(base, clients))
            with Traffic(clients, acked, seed=19) as traffic:
                others.wait_for(lambda: traffic.count() > 60, timeout=60, what="orders before the stop")
                os.killpg(old.proc.pid, signal.SIGSTOP)  # supervisor and Match, frozen mid-flight
                replacement = match_machine(c)
                new = replacement.__enter__()
                new.wait_running()
                now = traffic.count()
                others.wait_for(lambda: traffic.count() > now + 60, timeout=90, what="orders with the replacement")
                sent = published(old)
                os.killpg(old.proc.pid, signal.SIGCONT)  # the zombie wakes up and publishes again
                now = traffic.count()
                others.wait_for(lambda: traffic.count() > now + 60, timeout=90, what="orders with both")
                old.wait_for(lambda: published(old) > sent + 100, timeout=60, what="the zombie publishing")
            totals = asyncio.run(settle(base, clients, acked))
            history = orders_in_history(a / "data")
            assert all(history.get(order_id) == 1 for order_id in acked)
        finally:
            others.terminate(60)
            if replacement is not None:
                replacement.__exit__(None, None, None)
    check_history(a / "data", totals, len(clients))


def test_with_transactions_a_resumed_match_machine_is_fenced_off(tmp_path, kafka_cluster):
    """The same with kafka.transactions: the replacement's producer (the same transactional.id)
    fenced the stopped Match off, so once resumed it fails at its next send or commit, stops
    without writing, and its supervisor does not start it again; the pipeline goes on with the
    replacement, nothing lost, nothing applied twice."""
    extra = kafka_extra(kafka_cluster).replace("[runtime]", "transactions = true\n[runtime]")  # (in [kafka])
    extra += "restart_backoff_max_s = 0.5\n"
    http = free_port()
    base = f"http://127.0.0.1:{http}"
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for d in (a, b, c):
        d.mkdir()
    acked: dict[int, int] = {}
    clients: dict[int, Client] = {}

    def match_machine(where):
        return run_node(where, node_toml(where / "data", free_port(), free_port(), extra=extra), "--stage", "match")

    with run_node(a, node_toml(a / "data", http, free_port(), extra=extra), "--stage", OTHERS) as others, \
            match_machine(b) as old:
        wait_http(base, others, timeout=60)
        old.wait_running()
        replacement = None
        try:
            asyncio.run(open_accounts(base, clients))
            with Traffic(clients, acked, seed=21) as traffic:
                others.wait_for(lambda: traffic.count() > 60, timeout=60, what="orders before the stop")
                os.killpg(old.proc.pid, signal.SIGSTOP)
                replacement = match_machine(c)
                new = replacement.__enter__()
                new.wait_running()
                now = traffic.count()
                others.wait_for(lambda: traffic.count() > now + 60, timeout=90, what="orders with the replacement")
                os.killpg(old.proc.pid, signal.SIGCONT)  # the zombie wakes up: its next send or commit fails
                old.wait_for(lambda: "was fenced off by a newer incarnation" in old.log(), timeout=60,
                             what="the zombie fenced off")
                now = traffic.count()
                others.wait_for(lambda: traffic.count() > now + 60, timeout=90, what="orders after the fencing")
            log = old.log()  # (on failure: what the old machine said before it restarted its Match, once
            # seen in a full run under load and not since: the first incarnation's end is the clue)
            assert "restarting SpotMatchStage match-0" not in log, log[max(0, log.find("restarting SpotMatchStage")
                                                                             - 6000):][:8000]
            totals = asyncio.run(settle(base, clients, acked))
            history = orders_in_history(a / "data")
            assert all(history.get(order_id) == 1 for order_id in acked)
        finally:
            others.terminate(60)
            if replacement is not None:
                replacement.__exit__(None, None, None)
    check_history(a / "data", totals, len(clients))


@pytest.mark.parametrize("stage", ["match", "settlement"])
def test_two_machines_of_a_stage_one_killed_the_other_takes_its_partitions_over(tmp_path, kafka_cluster, stage):
    """Failover: Match (or Settlement) runs as two instances (two partitions) on two machines, each
    watching the other (`--take-over`). kill -9 the one that owns BTCUSDT's partition while orders
    flow: within a few seconds the other runs that instance too, from the state it kept in Kafka, and
    trading goes on; nothing acknowledged is lost, nothing is applied twice."""
    from spot_seda.bus.base import partition_for

    extra = ("partitions = 2\n" + kafka_extra(kafka_cluster) + "restart_backoff_max_s = 0.5\n"
             f"take_over_after_s = 3.0\n[runtime.instances]\n{stage} = 2\n[journal]\nsnapshot_interval_s = 0.5\n")
    others_here = ",".join(s for s in ("acquiring", "match", "kline", "settlement", "persist", "push") if s != stage)
    http = free_port()
    base = f"http://127.0.0.1:{http}"
    a, m0, m1 = tmp_path / "a", tmp_path / "m0", tmp_path / "m1"
    for d in (a, m0, m1):
        d.mkdir()
    acked: dict[int, int] = {}
    clients: dict[int, Client] = {}
    victim_index = partition_for("BTCUSDT", 2) % 2  # the instance that owns BTCUSDT (trade_until's symbol)

    def stage_machine(where, index):
        return run_node(where, node_toml(where / "data", free_port(), free_port(), extra=extra),
                        "--stage", stage, "--instance", str(index), "--take-over")

    with run_node(a, node_toml(a / "data", http, free_port(), extra=extra), "--stage", others_here) as others, \
            stage_machine(m0, 0) as first, stage_machine(m1, 1) as second:
        machines = {0: first, 1: second}
        victim, survivor = machines[victim_index], machines[1 - victim_index]
        label = f"{stage}-{victim_index}"
        try:
            wait_http(base, others, timeout=60)
            for index, machine in machines.items():
                machine.wait_for(lambda m=machine, i=index: m.stage_pids().get(f"{stage}-{i}"), what=f"{stage} up")
            asyncio.run(open_accounts(base, clients))
            with Traffic(clients, acked, seed=20) as traffic:
                others.wait_for(lambda: traffic.count() > 60, timeout=60, what="orders before the kill")
                kept = kept_since(kafka_cluster, extra, label)
                others.wait_for(lambda: kept_since(kafka_cluster, extra, label) > kept, timeout=30,
                                what=f"{label} keeping its state since those orders")
                killed_at = time.monotonic()
                os.killpg(victim.proc.pid, signal.SIGKILL)
                victim.proc.wait()
                survivor.wait_for(lambda: survivor.stage_pids().get(label), timeout=30, what=f"{label} taken over")
                failover_s = time.monotonic() - killed_at
                now = traffic.count()
                others.wait_for(lambda: traffic.count() > now + 80, timeout=90, what="orders after the failover")
            assert f"{label} kept no state" in survivor.log() and "restored from its kept state" in survivor.log()
            assert failover_s < 10, failover_s
            totals = asyncio.run(settle(base, clients, acked))
            history = orders_in_history(a / "data")
            assert all(history.get(order_id) == 1 for order_id in acked)
        finally:
            others.terminate(60)
    check_history(a / "data", totals, len(clients))
    print(f"failover: {label} running on the other machine {failover_s:.1f} s after the kill")
