"""Order entry's journal (api/rest.py open_journal), which the node and bench/pipeline_load.py both
open: its fsync thread runs behind the event loop where runtime.batch_scheduling names Acquiring."""

from __future__ import annotations

import os
import time
from types import SimpleNamespace

import pytest

from spot_seda.api.rest import open_journal
from spot_seda.journal import Journal
from tests.conftest import settings_from


def _fsync_thread_policy(tmp_path, runtime_toml: str) -> int:
    settings = settings_from(f'[journal]\nfsync = "batch"\n[runtime]\n{runtime_toml}\n')
    stage = SimpleNamespace(ctx=SimpleNamespace(name="acquiring", settings=settings, data_dir=tmp_path,
                                                producer_name="acquiring-0"))
    journal = open_journal(stage)
    assert type(journal) is Journal
    try:
        journal.append(b"a command")
        journal.commit()  # ("batch": written; its fsync thread starts and syncs within a window)
        deadline = time.monotonic() + 10
        while journal.synced_position < journal.last_position and time.monotonic() < deadline:
            time.sleep(0.005)
        assert journal.synced_position == journal.last_position
        thread = journal._flusher  # (other tests' journals may have fsync threads of their own)
        assert thread is not None and thread.name == "journal-fsync" and thread.is_alive()
        return os.sched_getscheduler(thread.native_id)
    finally:
        journal.close()


@pytest.mark.parametrize("named, policy", [(True, os.SCHED_BATCH), (False, os.SCHED_OTHER)])
def test_the_journal_fsync_thread_runs_under_sched_batch_where_acquiring_is_named(tmp_path, named, policy):
    stages = '["acquiring", "match"]' if named else '["match"]'
    assert _fsync_thread_policy(tmp_path, f"batch_scheduling = {stages}") == policy
