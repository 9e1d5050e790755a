"""The command log's writer is fenced (spot_seda/commandlog.py), against the real three-broker cluster:
a second writer (a newer Acquiring, on this machine or another) fences the first off, whose next
commit fails without any of its records reaching the log; the log stays the acknowledged records,
in order, once each, whatever offsets transaction markers take; and the fenced writer's journal,
which holds a record the log does not, is refused rather than merged back."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from spot_seda import commandlog
from spot_seda.journal import Journal, JournalError
from spot_seda.kafkajournal import KafkaJournal
from tests.conftest import settings_from


def log_settings(cluster):
    return settings_from(f'[bus]\ntransport = "kafka"\n[kafka]\nbootstrap_servers = "{cluster.bootstrap}"\n'
                         f'topic_prefix = "c{uuid.uuid4().hex[:8]}."\nreplication_factor = 3\n')


def writer(settings, directory):
    commandlog.reconcile(settings, directory)  # as the supervisor does before the Acquiring starts
    return KafkaJournal(Journal(directory, fsync="off"), settings)


def test_a_newer_writer_fences_the_older_one_off(tmp_path, kafka_cluster):
    settings = log_settings(kafka_cluster)
    old = writer(settings, tmp_path / "old")
    try:
        for i in range(3):
            old.append(b"acknowledged %d" % i)
        assert old.commit() == 3
        for i in range(20):  # many small transactions: as many commit markers between the records
            old.append(b"one at a time %d" % i)
            old.commit()
        new = writer(settings, tmp_path / "new")  # copies the log, then fences the old writer off
        try:
            assert new.last_position == 23

            async def zombie_sync():
                old.append(b"the zombie's")
                await old.sync()
            with pytest.raises(commandlog.CommandLogFenced):
                asyncio.run(zombie_sync())
            with pytest.raises(commandlog.CommandLogFenced):  # and for good
                old.append(b"the zombie's again")
                old.commit()
            new.append(b"the successor's")
            assert new.commit() == 24
        finally:
            new.close()
    finally:
        try:
            old.close()
        except Exception:
            pass
    records, last = commandlog._read(settings, 0)
    assert last == 24 and [p for p, _ in records] == list(range(1, 25))
    assert records[-1][1] == b"the successor's" and not any(b"zombie" in v for _, v in records)
    assert records == list(Journal.read(tmp_path / "new", 1))
    assert commandlog._read(settings, 21) == (records[21:], 24)  # found past markers by offset search
    # the zombie's journal holds a record 24 the log does not: a restart there is refused, not merged
    with pytest.raises(commandlog.CommandLogDiverged):
        commandlog.reconcile(settings, tmp_path / "old")


def test_a_writer_that_finds_the_log_longer_than_its_journal_refuses_to_start(tmp_path, kafka_cluster):
    """Another writer appended between this one's recovery and its start: it must not append at
    positions already taken."""
    settings = log_settings(kafka_cluster)
    first = writer(settings, tmp_path / "a")
    first.append(b"one")
    first.commit()
    first.close()
    commandlog.reconcile(settings, tmp_path / "b")
    first = writer(settings, tmp_path / "a")
    first.append(b"two")
    first.commit()
    first.close()
    with pytest.raises(JournalError, match="ends at 2, the local journal at 1"):
        KafkaJournal(Journal(tmp_path / "b", fsync="off"), settings)


def test_a_stopped_node_replaced_then_resumed_cannot_append_or_answer(tmp_path, kafka_cluster):
    """A node trades, is stopped (SIGSTOP, supervisor and stages) and replaced by a node on another
    machine with an empty data dir, which gets every command back from the log and fences the old
    writer off. Resumed, the old node's Acquiring takes an order: its commit fails, the client gets
    no answer, it exits 75 and its supervisor leaves it stopped. The log is exactly the new node's
    journal, every acknowledged order (on either node) is in the new node's history once, money is
    conserved, and the old node's journal, holding the order the log refused, cannot rejoin it."""
    import os
    import signal

    import aiohttp

    from tests.conftest import run_node
    from tests.kafka.test_node_over_kafka import kafka_extra
    from tests.kafka.test_replicated import (Traffic, check_command_log, check_history, open_accounts,
                                             orders_in_history, settle)
    from tests.node.client import Client
    from tests.node.conftest import free_port, node_toml, wait_http

    extra = kafka_extra(kafka_cluster) + "restart_backoff_max_s = 0.5\n"
    settings = settings_from("[bus]\n" + extra)
    acked: dict[int, int] = {}
    clients: dict[int, Client] = {}
    old_dir, new_dir = tmp_path / "old", tmp_path / "new"
    old_dir.mkdir()
    (new_dir / "data").mkdir(parents=True)
    old_http, new_http = free_port(), free_port()
    old_base, new_base = f"http://127.0.0.1:{old_http}", f"http://127.0.0.1:{new_http}"
    with run_node(old_dir, node_toml(old_dir / "data", old_http, free_port(), extra=extra)) as old:
        wait_http(old_base, old, timeout=60)
        asyncio.run(open_accounts(old_base, clients, 2))
        with Traffic(clients, acked, seed=23) as traffic:
            old.wait_for(lambda: traffic.count() > 60, timeout=60, what="orders on the old node")
        os.killpg(old.proc.pid, signal.SIGSTOP)
        try:
            with run_node(new_dir, node_toml(new_dir / "data", new_http, free_port(), extra=extra)) as new:
                wait_http(new_base, new, timeout=90)
                for c in clients.values():
                    c.base = new_base
                with Traffic(clients, acked, seed=24) as traffic:
                    now = traffic.count()
                    new.wait_for(lambda: traffic.count() > now + 60, timeout=60, what="orders on the new node")
                os.killpg(old.proc.pid, signal.SIGCONT)
                zombie = next(iter(clients.values()))

                async def order_on_the_old_node():
                    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
                        z = Client(session, old_base, zombie.api_key, zombie.secret)
                        try:
                            status, doc = await z.order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                                                        quantity="0.001", price="49000")
                        except (aiohttp.ClientError, asyncio.TimeoutError):
                            return None
                        return status, doc
                answer = asyncio.run(order_on_the_old_node())
                assert answer is None or answer[0] != 200, answer  # never acknowledged
                # it stops: fenced at that order's commit, or failing on the feedback of commands it
                # never took; either way its supervisor sees the log ahead of its journal
                old.wait_for(lambda: "not restarting it here" in old.log(), timeout=60, what="the old Acquiring left stopped")
                with Traffic(clients, acked, seed=25) as traffic:
                    now = traffic.count()
                    new.wait_for(lambda: traffic.count() > now + 40, timeout=60, what="orders after the fencing")
                assert "restarting SpotAcquiringStage" not in old.log()
                assert "fenced off the command log" not in new.log() and "restarting SpotAcquiringStage" not in new.log()
                totals = asyncio.run(settle(new_base, clients, acked))
                history = orders_in_history(new_dir / "data")
                assert all(history.get(order_id) == 1 for order_id in acked)
        finally:
            os.killpg(old.proc.pid, signal.SIGCONT)
    check_command_log(new_dir / "data", settings)
    check_history(new_dir / "data", totals, len(clients))
    # the old node's journal is the log's up to the takeover; what it took after never reached the log,
    # and a restart there refuses to merge it
    logged = dict(commandlog._read(settings, 0)[0])
    mine = list(Journal.read(old_dir / "data" / "journal", 1))
    common = [p for p, v in mine if logged.get(p) == v]
    # (the order; and a Tick (model/commands.py) its clock may have journaled on resuming, refused alike)
    assert common == list(range(1, len(common) + 1)) and len(mine) - len(common) <= 2
    if len(mine) > len(common):
        with pytest.raises(commandlog.CommandLogDiverged):
            commandlog.reconcile(settings, old_dir / "data" / "journal")
