"""What `python run.py` says when the Kafka cluster is not as the configuration needs: one line and
exit status 2, not a traceback (the message itself names what to do)."""

from __future__ import annotations

import subprocess
import sys
import uuid

from confluent_kafka.admin import AdminClient, NewTopic

from spot_seda.bus.kafkaclients import wait_for_leaders
from tests.conftest import ROOT
from tests.node.conftest import free_port, node_toml


def _run(config, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "run.py", "--config", str(config)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def test_a_topic_with_other_partitions_is_one_clear_line(tmp_path, kafka_broker):
    prefix = f"r{uuid.uuid4().hex[:8]}."
    admin = AdminClient({"bootstrap.servers": kafka_broker.bootstrap})
    for future in admin.create_topics([NewTopic(prefix + "OrderChangeLog", 3, 3)]).values():
        future.result(30)
    wait_for_leaders(admin, {prefix + "OrderChangeLog": 3}, 30)
    config = tmp_path / "node.toml"
    config.write_text(node_toml(tmp_path / "data", free_port(), free_port(), extra=(
        f'transport = "kafka"\n[kafka]\nbootstrap_servers = "{kafka_broker.bootstrap}"\n'
        f'topic_prefix = "{prefix}"\n')))
    done = _run(config)
    assert done.returncode == 2, done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"cannot start: Kafka topic {prefix}OrderChangeLog has 3 partitions, expected 1"), last
    assert "Traceback" not in done.stderr


def test_take_over_below_twice_the_snapshot_interval_is_refused(tmp_path, kafka_broker):
    config = tmp_path / "node.toml"
    config.write_text(node_toml(tmp_path / "data", free_port(), free_port(), extra=(
        f'transport = "kafka"\n[kafka]\nbootstrap_servers = "{kafka_broker.bootstrap}"\n'
        f'topic_prefix = "t{uuid.uuid4().hex[:8]}."\n[runtime]\ntake_over_after_s = 5.0\n'
        "[journal]\nsnapshot_interval_s = 10.0\n")))
    done = subprocess.run([sys.executable, "run.py", "--config", str(config), "--stage", "match", "--take-over"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr.strip()) == (2, (
        "error: runtime.take_over_after_s (5 s) is under twice journal.snapshot_interval_s (10 s), how often an "
        "instance keeps its state: live instances would be taken over between two writes"))
    done = subprocess.run([sys.executable, "run.py", "--config", str(config), "--stage", "acquiring",
                           "--take-over"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr.strip()) == (
        2, "error: --take-over is for stages run on a machine without acquiring (it recovers from its own journal)")
