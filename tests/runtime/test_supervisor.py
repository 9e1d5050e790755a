"""The runtime for real: `python run.py` on the relay topology, as separate pinned processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_node

RELAY = """
[node]
topology = "relay"
data_dir = "{data}"
[bus]
queue_bytes = 4194304
max_message_bytes = 65536
partitions = 4
[relay]
count = {count}
rate = {rate}
keys = 16
chunk = 256
report_every = 1000
[runtime]
restart_backoff_s = 0.1
drain_timeout_s = 20
[runtime.instances]
source = {sources}
relay = 2
"""


def relay_toml(tmp_path: Path, count: int = 0, rate: int = 2000, sources: int = 1) -> str:
    return RELAY.format(data=tmp_path / "data", count=count, rate=rate, sources=sources)


def tally(data_dir: Path, label: str) -> dict:
    return json.loads((data_dir / f"tally-{label}.json").read_text())


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); it is gone for our purposes once its parent reaped it
    try:
        return Path(f"/proc/{pid}/status").read_text().find("State:\tZ") < 0
    except FileNotFoundError:
        return False


def test_entries_cross_processes_complete_and_in_order_to_both_groups(tmp_path):
    count = 20_000
    with run_node(tmp_path, relay_toml(tmp_path, count=count, rate=0, sources=2)) as node:
        node.wait_running()
        expected = 2 * count
        for label in ("tally-0", "audit-0"):
            node.wait_for(lambda: tally(node.data_dir, label)["count"] >= expected, timeout=60, what=f"{label} count")
        assert node.terminate() == 0
    checksum = 2 * (count * (count - 1) // 2)
    for label in ("tally-0", "audit-0"):
        t = tally(node.data_dir, label)
        assert (t["count"], t["checksum"], t["violations"]) == (expected, checksum, 0), label
    assert "sequence gap" not in node.log()


def test_stages_are_pinned_as_planned_as_proc_reports(tmp_path):
    from spot_seda.config import load_settings
    from spot_seda.runtime.supervisor import plan_cores
    from spot_seda.topology import instances_of, stage_specs

    allowed = sorted(os.sched_getaffinity(0))
    (tmp_path / "relay.toml").write_text(relay_toml(tmp_path))
    settings = load_settings(tmp_path / "relay.toml")
    specs = [(s, i) for s in stage_specs("relay") for i in range(instances_of(s.name, settings))]
    planned = dict(zip([f"{s.name}-{i}" for s, i in specs],
                       plan_cores([(s.name, f"{s.name}-{i}") for s, i in specs], settings, allowed,
                                  [s.weight / instances_of(s.name, settings) for s, _ in specs])))
    with run_node(tmp_path, relay_toml(tmp_path)) as node:
        pids = node.wait_running()
        table = {row["stage"]: row for row in __import__("spot_seda.runtime.metrics", fromlist=["x"]).open_from_manifest(node.data_dir).snapshot()}
        assert set(pids) == set(planned)
        for label, pid in pids.items():
            status = Path(f"/proc/{pid}/status").read_text()
            cpus = next(line.split(":")[1].strip() for line in status.splitlines() if line.startswith("Cpus_allowed_list"))
            assert cpus == str(planned[label]) == str(table[label]["core"]), (label, cpus)
        if len(allowed) > 1:  # the stages are spread, not all on one core
            assert len(set(planned.values())) == min(len(allowed), len(planned))


def test_pinning_can_be_turned_off(tmp_path):
    with run_node(tmp_path, relay_toml(tmp_path).replace("[runtime]", "[runtime]\npinning = false")) as node:
        pids = node.wait_running()
        for pid in pids.values():
            assert os.sched_getaffinity(pid) == os.sched_getaffinity(0)


def test_a_killed_stage_is_restarted_and_the_pipeline_flows_again(tmp_path):
    with run_node(tmp_path, relay_toml(tmp_path)) as node:
        pids = node.wait_running()
        victim = pids["relay-1"]
        os.kill(victim, signal.SIGKILL)
        new = node.wait_for(lambda: (p := node.stage_pids()["relay-1"]) not in (0, victim) and p, what="restart")
        assert alive(new)
        before = tally(node.data_dir, "tally-0")["count"] if (node.data_dir / "tally-tally-0.json").exists() else 0
        node.wait_for(lambda: tally(node.data_dir, "tally-0")["count"] > before + 2000, timeout=30, what="flow after restart")
        from spot_seda.runtime.metrics import open_from_manifest

        row = next(r for r in open_from_manifest(node.data_dir).snapshot() if r["stage"] == "relay-1")
        assert row["restarts"] == 1
        # shm queues cannot outlive a killed member safely: the whole pipeline restarts on fresh queues
        assert not {label for label, pid in node.stage_pids().items() if pid == pids[label]}


def test_stages_do_not_outlive_a_killed_supervisor(tmp_path):
    with run_node(tmp_path, relay_toml(tmp_path)) as node:
        pids = node.wait_running()
        os.kill(node.proc.pid, signal.SIGKILL)  # the supervisor alone, not its process group
        node.proc.wait()
        import time

        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in pids.values()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [label for label, pid in pids.items() if alive(pid)]  # no orphan holds a port or a queue


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_drains_and_leaves_no_process_and_no_shared_memory(tmp_path, signum):
    with run_node(tmp_path, relay_toml(tmp_path, rate=20_000)) as node:
        pids = node.wait_running()
        shm_file = Path(node.manifest()["metrics"])
        assert shm_file.exists()
        node.wait_for(lambda: tally(node.data_dir, "tally-0")["count"] > 5000, what="traffic")
        node.proc.send_signal(signum)
        assert node.proc.wait(30) == 0
    assert not any(alive(pid) for pid in [*pids.values(), node.proc.pid])
    assert not shm_file.exists()
    assert not (node.data_dir / "run" / "node.json").exists()
    # drained: both groups got every entry the source sent, none lost in the queues at shutdown
    a, b = tally(node.data_dir, "tally-0"), tally(node.data_dir, "audit-0")
    assert a["count"] == b["count"] and a["checksum"] == b["checksum"] == a["count"] * (a["count"] - 1) // 2
    assert a["violations"] == b["violations"] == 0


def test_status_prints_a_table_of_every_stage(tmp_path):
    with run_node(tmp_path, relay_toml(tmp_path)) as node:
        node.wait_running()
        out = subprocess.run([sys.executable, "run.py", "status", "--once", "--data-dir", str(node.data_dir)],
                             cwd=ROOT, capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        for label in ("source-0", "relay-0", "relay-1", "tally-0", "audit-0"):
            assert label in out.stdout
    out = subprocess.run([sys.executable, "run.py", "status", "--once", "--data-dir", str(tmp_path / "none")],
                         cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert out.returncode == 1 and "no node running on data dir" in out.stderr and "node.json)" in out.stderr


def test_one_stage_alone(tmp_path):
    with run_node(tmp_path, relay_toml(tmp_path), "--stage", "tally") as node:
        pids = node.wait_running()
        assert list(pids) == ["tally-0"]


@pytest.mark.parametrize("text, named", [
    ("[bus]\nbatch_max = 'lots'\n", "$.bus.batch_max"),
    ("[runtime]\npinning = 3\n", "$.runtime.pinning"),
    ("[bus]\ntransport = 'carrier-pigeon'\n", "$.bus.transport"),
    ("[node]\ncolour = 'blue'\n", "colour"),
    ("[[symbols]]\nsymbol = 'BTCUSDT'\nbase = 'BTC'\nquote = 'USDT'\ntick_size = '0'\n", "tick_size"),
    ("[[symbols]]\nsymbol = 'BTCUSDT'\nbase = 'BTC'\nquote = 'USDT'\ndefault_stp = 'SOMETIMES'\n", "default_stp"),
    ("[node\n", "line 1"),
])
def test_a_bad_config_fails_at_start_naming_the_key(tmp_path, text, named):
    config = tmp_path / "bad.toml"
    config.write_text(text)
    out = subprocess.run([sys.executable, "run.py", "--config", str(config)], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert out.returncode == 2
    assert named in out.stderr, out.stderr


def test_help_explains_the_commands():
    out = subprocess.run([sys.executable, "run.py", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0
    for word in ("status", "--stage", "--config", "--http-port", "--data-dir"):
        assert word in out.stdout


def test_the_kafka_config_is_the_default_over_kafka():
    """configs/kafka.toml (DESIGN: `run.py --stage match --config configs/kafka.toml`) must not drift
    from the default: the same settings but the transport and the seed's Kafka deployment (10
    partitions, 3 replicas), and admission bounds sized for its commit latency (README, "Admission
    control")."""
    import msgspec

    from spot_seda.config import load_settings

    default, kafka = load_settings(ROOT / "configs" / "default.toml"), load_settings(ROOT / "configs" / "kafka.toml")
    assert kafka.bus.transport == "kafka"
    assert (kafka.bus.partitions, kafka.kafka.replication_factor, kafka.kafka.min_insync_replicas) == (10, 3, 2)
    assert (kafka.node.shed_orders_in_flight, kafka.node.shed_loop_lag_ms) == (256, 100.0)
    node = msgspec.structs.replace(kafka.node, shed_orders_in_flight=default.node.shed_orders_in_flight,
                                   shed_loop_lag_ms=default.node.shed_loop_lag_ms)
    assert msgspec.structs.replace(kafka, node=node,
                                   bus=msgspec.structs.replace(kafka.bus, transport="shm", partitions=1),
                                   kafka=msgspec.structs.replace(kafka.kafka, replication_factor=1)) == default


def test_a_lone_stage_over_kafka_that_mixes_several_partitions_is_refused():
    """Without Acquiring beside it a stage resumes from kept state and re-reads: a stage mixing two
    partitions into its output would not send the same sequences again (README, "Kafka mode")."""
    import pytest

    from spot_seda.runtime.supervisor import Supervisor
    from tests.conftest import settings_from

    settings = settings_from('[bus]\ntransport = "kafka"\npartitions = 2\n')
    Supervisor(settings, only="match,kline,settlement")  # keyed by symbol in and out: fine
    settings.node.topology = "relay"
    with pytest.raises(ValueError, match="relay-0 mixes several input partitions"):
        Supervisor(settings, only="relay")  # its keys in, other keys out
    settings.runtime.instances["relay"] = 2
    Supervisor(settings, only="relay")  # one partition each: fine


def test_stages_named_in_batch_scheduling_run_under_sched_batch_and_the_others_do_not(tmp_path):
    toml = relay_toml(tmp_path).replace("[runtime]", '[runtime]\nbatch_scheduling = ["tally", "audit"]')
    with run_node(tmp_path, toml) as node:
        pids = node.wait_running()
        policies = {label: os.sched_getscheduler(pid) for label, pid in pids.items()}
        assert policies["tally-0"] == policies["audit-0"] == os.SCHED_BATCH
        assert {policies[x] for x in pids if x.partition("-")[0] in ("source", "relay")} == {os.SCHED_OTHER}


def test_stages_named_in_nice_run_at_a_raised_nice_value_threads_included(tmp_path):
    toml = relay_toml(tmp_path).replace("[runtime]", '[runtime]\nnice = { tally = 7, audit = 19, nosuch = 3 }')
    base = os.getpriority(os.PRIO_PROCESS, 0)
    with run_node(tmp_path, toml) as node:
        pids = node.wait_running()

        def nice_of(pid: int) -> set[int]:  # every thread's (Linux keeps one per thread)
            return {os.getpriority(os.PRIO_PROCESS, int(tid)) for tid in os.listdir(f"/proc/{pid}/task")}

        assert nice_of(pids["tally-0"]) == {min(19, base + 7)}
        assert nice_of(pids["audit-0"]) == {19}
        assert {label: nice_of(pid) for label, pid in pids.items() if label.partition("-")[0] in ("source", "relay")} \
            == {label: {base} for label in pids if label.partition("-")[0] in ("source", "relay")}


def test_a_snapshot_writer_child_holds_none_of_its_parents_descriptors():
    """The stage process's end of the pipe the supervisor watches for its death, and its listening
    socket, must not outlive it in the child it forked to write a snapshot."""
    import os
    import select
    import socket
    import time

    from spot_seda.runtime.stageproc import close_inherited_fds

    r, w = os.pipe()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    pid = os.fork()
    if pid == 0:
        close_inherited_fds()
        time.sleep(3)  # (a long snapshot)
        os._exit(0)
    try:
        os.close(w)  # the stage process's end, as if it died now
        listener.close()
        ready, _, _ = select.select([r], [], [], 1.0)
        assert ready and os.read(r, 1) == b""  # EOF at once, not when the child is done
        with socket.socket() as again:  # and its port is free for the stage's next process
            again.bind(("127.0.0.1", port))
    finally:
        os.close(r)
        os.waitpid(pid, 0)
