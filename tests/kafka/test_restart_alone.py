"""Stages restarting alone over Kafka (issue 15), under REST traffic. kill -9 of Acquiring: the
supervisor rebuilds it from its snapshot, the journal and the command log in Kafka (reconciled
first), it publishes first what Kafka lacks of its output and reads the change log again, while
Match, KLine, Settlement, Persist and Push run on in the same processes. kill -9 of Persist: it
resumes at the input positions its history recorded with its last rows, not where the pipeline
started. Every acknowledged order is in the history once, the trades are a replay's, money is
conserved."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from tests.conftest import run_node
from tests.kafka.test_node_over_kafka import kafka_extra
from tests.kafka.test_replicated import Traffic, check_history, open_accounts, orders_in_history, settle
from tests.node.client import Client
from tests.node.conftest import free_port, node_toml, wait_http


@pytest.mark.parametrize("label, extra, seed, resumed", [
    # snapshots while orders flow: the restart loads one and replays the journal after it
    ("acquiring-0", "[journal]\nsnapshot_interval_s = 1.0\n", 22, None),
    # where it resumed reading is not in the metrics: the supervisor's word for it
    ("persist-0", "", 26, "persist-0 resumes past what its history holds, at input offsets"),
], ids=["acquiring", "persist"])
def test_a_stage_killed_twice_under_traffic_restarts_alone(tmp_path, kafka_cluster, label, extra, seed, resumed):
    """kill -9 of `label` twice while orders flow, each time after more orders went through, until
    it is back (a new pid, HTTP answering) and more orders went through again."""
    data = tmp_path / "data"
    http = free_port()
    extra = kafka_extra(kafka_cluster) + "restart_backoff_max_s = 0.5\n" + extra
    base = f"http://127.0.0.1:{http}"
    acked: dict[int, int] = {}
    clients: dict[int, Client] = {}
    with run_node(tmp_path, node_toml(data, http, free_port(), extra=extra)) as node:
        wait_http(base, node, timeout=60)
        asyncio.run(open_accounts(base, clients))
        others = {other: pid for other, pid in node.wait_running().items() if other != label}
        with Traffic(clients, acked, seed=seed) as traffic:
            for kill in range(2):
                now = traffic.count()
                node.wait_for(lambda: traffic.count() > now + 60, timeout=60, what=f"orders before kill {kill}")
                victim = node.stage_pids()[label]
                os.kill(victim, signal.SIGKILL)
                node.wait_for(lambda: node.stage_pids().get(label) not in (0, victim, None), timeout=60,
                              what=f"{label} back")
                wait_http(base, node, timeout=60)
                now = traffic.count()
                node.wait_for(lambda: traffic.count() > now + 60, timeout=90, what=f"orders after restart {kill}")
        assert node.stage_rows()[label]["restarts"] == 2
        assert {other: pid for other, pid in node.stage_pids().items() if other != label} == others
        if resumed:
            assert node.log().count(resumed) == 2
        totals = asyncio.run(settle(base, clients, acked))
        history = orders_in_history(data)
        assert all(history.get(order_id) == 1 for order_id in acked), "an acknowledged order missing or twice"
    check_history(data, totals, len(clients))
