"""Scheduling policy of a stage's processes and threads (runtime.batch_scheduling)."""

from __future__ import annotations

import logging
import os

log = logging.getLogger("spot_seda.supervisor")


def batch_scheduling() -> None:
    """Run the calling thread (and the threads it starts later) under Linux's SCHED_BATCH: woken,
    it does not preempt what runs on its core, but waits for that to block or use up its slice.
    Where the policy does not exist, it logs and leaves the thread as it was."""
    try:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    except (AttributeError, OSError) as exc:
        log.warning("cannot run under SCHED_BATCH (%s); running as usual", exc)
