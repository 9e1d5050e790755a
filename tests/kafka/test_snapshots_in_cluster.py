"""The node's snapshot set in the cluster (spot_seda/runtime/clustersnapshots.py), against the real
three-broker cluster: a node whose box is gone (kill -9, a new machine with an empty data dir) starts
from the last snapshot its predecessor sent to the cluster and replays only the command log after
it, with every acknowledged order once in its history, the same balances, and money conserved; an
upload torn before its completion record (chunks without their head), or one whose checksum fails,
is never used."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from decimal import Decimal as D

import aiohttp

from spot_seda import commandlog
from spot_seda.bus.kafkastate import KafkaBlobs
from spot_seda.runtime import clustersnapshots, snapshots
from spot_seda.runtime.recovery import StartReport
from tests.conftest import run_node, settings_from
from tests.kafka.test_commandlog_fencing import log_settings, writer
from tests.kafka.test_node_over_kafka import kafka_extra
from tests.kafka.test_replicated import Traffic, check_history, open_accounts, orders_in_history, settle
from tests.node.client import Client
from tests.node.conftest import free_port, node_toml, wait_http


async def balances(base: str, clients: dict[int, Client]) -> dict[int, dict[str, tuple[str, str]]]:
    async with aiohttp.ClientSession() as session:
        for c in clients.values():
            c.session = session
        return {account: await c.balances() for account, c in sorted(clients.items())}


def torn_upload(settings) -> None:
    """What a writer killed between its chunks and its completion record (the head) leaves: chunks
    of a newer value under a fresh id, and no head naming them."""
    blobs = KafkaBlobs.from_settings(settings, clustersnapshots.TOPIC)
    ident = time.time_ns()
    for i in range(3):
        blobs._produce(f"{clustersnapshots.KEY}#{ident}#{i}", b"\xff" * 1000)
    blobs._flush()
    blobs.close()


def test_a_node_on_an_empty_data_dir_starts_from_the_cluster_s_snapshot(tmp_path, kafka_cluster):
    extra = kafka_extra(kafka_cluster) + "[journal]\nsnapshot_interval_s = 0.5\n"
    settings = settings_from("[bus]\n" + extra)
    acked: dict[int, int] = {}
    clients: dict[int, Client] = {}
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    http = free_port()
    base = f"http://127.0.0.1:{http}"
    with run_node(first, node_toml(first / "data", http, free_port(), extra=extra)) as node:
        wait_http(base, node, timeout=60)
        asyncio.run(open_accounts(base, clients, 2))
        with Traffic(clients, acked, seed=21) as traffic:
            node.wait_for(lambda: traffic.count() > 100, timeout=60, what="orders")
            node.wait_for(lambda: (clustersnapshots.read(settings) or {}).get("manifest", {}).get("position", 0) > 50,
                          timeout=60, what="a snapshot in the cluster")
            sent = clustersnapshots.read(settings)["manifest"]["position"]
            after = traffic.count()
            node.wait_for(lambda: traffic.count() > after + 100, timeout=60, what="orders after the upload")
        time.sleep(1.0)  # the last fills settled
        answered = asyncio.run(balances(base, clients))  # what A answered last
        os.killpg(node.proc.pid, signal.SIGKILL)  # the box is gone
        node.proc.wait()
    assert "sent to the cluster" in node.log()
    cluster = clustersnapshots.read(settings)["manifest"]["position"]
    assert sent <= cluster
    torn_upload(settings)  # a later upload torn before its head: never read
    assert clustersnapshots.read(settings)["manifest"]["position"] == cluster

    (second / "data").mkdir()  # a new machine: nothing of the old data dir
    with run_node(second, node_toml(second / "data", http, free_port(), extra=extra)) as node:
        wait_http(base, node, timeout=90)
        report = StartReport.read(second / "data")
        assert report.snapshot_from_cluster == cluster and report.snapshot_position >= cluster, report
        assert report.history_from_kafka
        # it replayed the log after the snapshot only: far fewer commands than the log holds (read
        # now: a commit of A's may have become visible only after its kill)
        log_end = commandlog.last_position(settings)
        assert report.replayed_commands == log_end - cluster < log_end - 50, (report, log_end)
        assert "installed the cluster's snapshot" in node.log()
        assert asyncio.run(balances(base, clients)) == answered
        totals = asyncio.run(settle(base, clients, acked))  # every acknowledged order is there
        history = orders_in_history(second / "data")
        assert all(history.get(order_id) == 1 for order_id in acked)
        assert len(acked) > 200
    check_history(second / "data", totals, len(clients))


def test_only_a_whole_set_the_log_holds_is_installed(tmp_path, kafka_cluster):
    """The cluster's set is installed only when it is newer than the data dir's, whole (checksum), and
    taken at a position whose record in the log is the one the uploader saw."""
    settings = log_settings(kafka_cluster)
    journal = writer(settings, tmp_path / "a" / "journal")
    for i in range(5):
        journal.append(b"command %d" % i)
    journal.commit()
    journal.close()
    layout = "test-layout"
    (tmp_path / "a" / "snapshots").mkdir(parents=True)
    (tmp_path / "a" / "snapshots" / "acquiring-0-4.pkl").write_bytes(b"state at 4")
    snapshots.write_manifest(tmp_path / "a", 4, ["acquiring-0"], layout)
    assert clustersnapshots.upload(settings, tmp_path / "a") == 4
    assert clustersnapshots.upload(settings, tmp_path / "a") == 0  # sent already
    # a snapshot past the log's end is never sent
    (tmp_path / "a" / "snapshots" / "acquiring-0-9.pkl").write_bytes(b"state at 9")
    snapshots.write_manifest(tmp_path / "a", 9, ["acquiring-0"], layout)
    assert clustersnapshots.upload(settings, tmp_path / "a") == 0
    assert clustersnapshots.read(settings)["manifest"]["position"] == 4

    def fresh(name: str):
        data = tmp_path / name
        commandlog.reconcile(settings, data / "journal")  # as recovery does first
        return data

    b = fresh("b")
    assert clustersnapshots.fetch(settings, b, "another layout") == 0  # taken under another layout
    assert clustersnapshots.fetch(settings, b, layout) == 4
    assert (b / "snapshots" / "acquiring-0-4.pkl").read_bytes() == b"state at 4"
    assert snapshots.manifest_position(b) == 4
    assert clustersnapshots.fetch(settings, b, layout) == 0  # not newer than the local one

    torn_upload(settings)  # chunks without a head: the last whole value still stands
    assert clustersnapshots.fetch(settings, fresh("c"), layout) == 4

    blobs = KafkaBlobs.from_settings(settings, clustersnapshots.TOPIC)
    good = blobs.get(clustersnapshots.KEY)
    blobs.put(clustersnapshots.KEY, good[:-1] + bytes([good[-1] ^ 1]))  # whole, but its checksum fails
    blobs.close()
    assert clustersnapshots.read(settings) is None
    assert clustersnapshots.fetch(settings, fresh("d"), layout) == 0
    assert not (tmp_path / "d" / "snapshots" / "manifest.json").exists()

    # a set whose record at its position is not the log's (another log under this prefix): not installed
    blobs = KafkaBlobs.from_settings(settings, clustersnapshots.TOPIC)
    blobs.put(clustersnapshots.KEY, clustersnapshots.encode(
        json.loads((tmp_path / "a" / "snapshots" / "manifest.json").read_text()) | {"position": 4},
        {"acquiring-0-4.pkl": b"state at 4"}, b"another command"))
    blobs.close()
    assert clustersnapshots.read(settings)["manifest"]["position"] == 4
    assert clustersnapshots.fetch(settings, fresh("e"), layout) == 0
