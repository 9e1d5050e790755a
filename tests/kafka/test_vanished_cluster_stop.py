"""A node whose Kafka cluster has gone stops on SIGTERM within a bound, every stage draining and
stopping on its own. A stage's save of its kept state still being written to the cluster is waited
for KEEP_FLUSH_S at most, not until the write gives up (it had taken 41 s: Match, Settlement and
Push each killed after the 10 s of runtime.drain_timeout_s, KLine's write ending after 19 s)."""

from __future__ import annotations

import time
import uuid

from spot_seda.kafka_broker import KafkaBroker
from spot_seda.runtime.stageproc import KEEP_FLUSH_S
from tests.conftest import run_node
from tests.node.conftest import free_port, node_toml, wait_http


def test_a_node_whose_cluster_vanished_stops_on_sigterm_without_a_stage_killed(tmp_path):
    with KafkaBroker(tmp_path / "kafka", heap="384m") as broker:
        http = free_port()
        # every stage beside Acquiring keeps its state every second: saves are on their way when
        # the broker goes, and the ones after hang in their flush (bus.put_timeout_s, 10 s)
        extra = (f'transport = "kafka"\nput_timeout_s = 10.0\n[kafka]\nbootstrap_servers = "{broker.bootstrap}"\n'
                 f'replication_factor = 1\nmin_insync_replicas = 1\ntopic_prefix = "v{uuid.uuid4().hex[:8]}."\n'
                 '[journal]\nsnapshot_interval_s = 1.0\n[runtime]\ndrain_timeout_s = 10.0\n')
        with run_node(tmp_path, node_toml(tmp_path / "data", http, free_port(), extra=extra)) as node:
            wait_http(f"http://127.0.0.1:{http}", node, timeout=60)
            node.wait_for(lambda: sum(1 for row in node.stage_rows().values() if row.get("kept_ns")) >= 3,
                          timeout=30, what="the stages' state kept in the cluster")
            broker.kill()
            time.sleep(3)  # (each stage starts a save a second: the one of now hangs)
            began = time.monotonic()
            code = node.terminate(timeout=120)
            took = time.monotonic() - began
            log = node.log()
    assert code == 0, log[-3000:]
    assert "did not drain within" not in log, log[-3000:]
    waited = log.count("its state was still being written to the cluster")
    assert waited >= 1, log[-3000:]  # the case this is about: a save hung when the stop came
    # each stage that waited waited KEEP_FLUSH_S, one after the other in flow order; before, four
    # stages took the drain timeout each (41 s in all)
    assert took < waited * KEEP_FLUSH_S + 8.0, (took, waited)
