"""`python -m spot_seda.kafka_broker --brokers 3`: three KRaft brokers on this box that replicate a
topic three ways, print their bootstrap list, and leave no process behind when stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import confluent_kafka
from confluent_kafka.admin import AdminClient, NewTopic

from tests.conftest import ROOT


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead too
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _descendants(pid: int) -> set[int]:
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True).stdout
    children: dict[int, list[int]] = {}
    for line in out.splitlines():
        p, pp = map(int, line.split())
        children.setdefault(pp, []).append(p)
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def test_three_brokers_replicate_and_stop_without_leftovers(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "spot_seda.kafka_broker", "--brokers", "3",
                             "--data-dir", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT, env=os.environ | {"PYTHONPATH": str(ROOT)})
    jvms: set[int] = set()
    try:
        bootstrap = proc.stdout.readline().strip()
        assert bootstrap.count(",") == 2, (bootstrap, proc.stderr.read() if proc.poll() is not None else "")
        jvms = {p for p in _descendants(proc.pid) if "kafka.Kafka" in open(f"/proc/{p}/cmdline").read()}
        assert len(jvms) == 3
        admin = AdminClient({"bootstrap.servers": bootstrap})
        assert len(admin.list_topics(timeout=10).brokers) == 3
        topic = f"r3-{uuid.uuid4().hex[:6]}"
        admin.create_topics([NewTopic(topic, 2, 3, config={"min.insync.replicas": "2"})])[topic].result(30)
        deadline = time.monotonic() + 30
        while True:  # creation is asynchronous: until both partitions have three in-sync replicas
            parts = admin.list_topics(topic, timeout=10).topics[topic].partitions
            if len(parts) == 2 and all(len(p.isrs) == 3 and p.leader >= 0 for p in parts.values()):
                break
            assert time.monotonic() < deadline, parts
            time.sleep(0.2)
        producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "acks": "all"})
        errors = []
        for i in range(100):
            producer.produce(topic, str(i).encode(), partition=i % 2,
                             on_delivery=lambda err, _m: err and errors.append(err))
        assert producer.flush(30) == 0 and not errors
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    assert proc.returncode == 0, proc.stderr.read()
    assert not [p for p in jvms if _alive(p)], "a broker JVM outlived its cluster"
