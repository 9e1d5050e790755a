"""bench/idle.py runs end to end on the embedded default and over the session's Kafka cluster: it finds
the node's processes (the supervisor and its six stages at least) and the brokers', reads their CPU,
and leaves no process behind. Speed is not asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_idle(tmp_path: Path, *extra: str) -> dict:
    out = tmp_path / "idle.json"
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "idle.py"), "--seconds", "1", "--warm", "0.5",
                          "--json", str(out), *extra], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "idle node (" in run.stdout
    left = subprocess.run(["pgrep", "-f", "run.py --config .*/idle-"], capture_output=True, text=True).stdout
    assert not left, f"node processes left running: {left}"
    return json.loads(out.read_text())


def test_the_idle_bench_reads_an_idle_node(tmp_path):
    doc = run_idle(tmp_path)
    assert doc["transport"] == "shm" and doc["node_processes"] >= 7
    assert doc["node_pct_of_a_core"] >= 0
    assert "brokers_pct_alone" not in doc


def test_the_idle_bench_reads_a_node_over_kafka_and_its_brokers(tmp_path, kafka_cluster):
    doc = run_idle(tmp_path, "--transport", "kafka", "--kafka-bootstrap", kafka_cluster.bootstrap)
    assert doc["transport"] == "kafka" and doc["node_processes"] >= 7
    # (the brokers answer the node's fetches: some CPU, whatever the setting)
    assert doc["brokers_pct_with_the_node"] > 0 and doc["brokers_pct_alone"] >= 0
