"""Scheduling policy, priority and GIL switch interval of a stage's processes and threads
(runtime.batch_scheduling, runtime.nice, runtime.switch_interval_ms), and of its snapshot writers."""

from __future__ import annotations

import logging
import os
import sys

log = logging.getLogger("spot_seda.supervisor")


def batch_scheduling() -> None:
    """Run the calling thread (and the threads it starts later) under Linux's SCHED_BATCH: woken,
    it does not preempt what runs on its core, but waits for that to block or use up its slice.
    Where the policy does not exist, it logs and leaves the thread as it was."""
    try:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    except (AttributeError, OSError) as exc:
        log.warning("cannot run under SCHED_BATCH (%s); running as usual", exc)


def lower_priority(increment: int) -> None:
    """Raise the calling thread's nice value by `increment` (up to 19), and so that of the threads it
    starts later (Linux keeps a nice value per thread; a new one inherits its creator's). Contended,
    the thread then gets a smaller share of its core: at 10, about a tenth of a nice-0 neighbour's.
    An error (no such call) is logged and the thread left as it was."""
    if increment <= 0:
        return
    try:
        os.nice(increment)
    except (AttributeError, OSError) as exc:
        log.warning("cannot lower this stage's priority (%s); running as usual", exc)


def background(cores: set[int]) -> None:
    """Let the calling process (a snapshot writer) run on any of `cores` and only where the live
    stages leave room: SCHED_BATCH at nice 19 (contended, about a seventieth of a nice-0 stage's
    share; it still finishes under full load, where SCHED_IDLE could wait for ever). What cannot be
    set is left as it was: the writer then competes as its stage did."""
    try:
        os.sched_setaffinity(0, cores)
    except OSError:
        pass
    batch_scheduling()
    lower_priority(19)


def stage_process_settings(name: str, runtime, entry: bool) -> None:
    """What `runtime` (config.RuntimeSettings) asks for the calling stage process, named `name`,
    before it starts any thread: SCHED_BATCH (not for order entry's event loop, `entry`: its helper
    threads take it themselves, api/rest.py), a raised nice value, the interpreter's switch
    interval."""
    if name in runtime.batch_scheduling and not entry:
        batch_scheduling()
    lower_priority(runtime.nice.get(name, 0))
    if name in runtime.switch_interval_ms:
        sys.setswitchinterval(runtime.switch_interval_ms[name] / 1000)
