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
from spot_seda.journal import Journal
from tests.conftest import settings_from


def log_settings(cluster):
    return settings_from(f'[bus]\ntransport = "kafka"\n[kafka]\nbootstrap_servers = "{cluster.bootstrap}"\n'
                         f'topic_prefix = "c{uuid.uuid4().hex[:8]}."\nreplication_factor = 3\n')


def writer(settings, directory):
    commandlog.reconcile(settings, directory)  # as the supervisor does before the Acquiring starts
    return commandlog.KafkaJournal(Journal(directory, fsync="off"), settings)


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
    with pytest.raises(commandlog.JournalError, match="ends at 2, the local journal at 1"):
        commandlog.KafkaJournal(Journal(tmp_path / "b", fsync="off"), settings)
