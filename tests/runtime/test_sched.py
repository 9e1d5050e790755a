"""What a stage process sets for itself before it starts (runtime/sched.py stage_process_settings):
run in a forked child, as the supervisor's stage processes are, and read back from there."""

from __future__ import annotations

import multiprocessing
import os
import sys

from spot_seda.config import RuntimeSettings


def _child(name: str, runtime: RuntimeSettings, entry: bool, out) -> None:
    from spot_seda.runtime.sched import stage_process_settings

    stage_process_settings(name, runtime, entry)
    out.put((os.sched_getscheduler(0), os.getpriority(os.PRIO_PROCESS, 0), sys.getswitchinterval()))


def _in_child(name: str, runtime: RuntimeSettings, entry: bool = False):
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    child = ctx.Process(target=_child, args=(name, runtime, entry, out))
    child.start()
    try:
        return out.get(timeout=30)
    finally:
        child.join(30)


def test_a_stage_gets_its_policy_nice_value_and_switch_interval_and_others_keep_the_defaults():
    runtime = RuntimeSettings(batch_scheduling=["persist"], nice={"persist": 4}, switch_interval_ms={"persist": 0.25})
    base_nice, base_switch = os.getpriority(os.PRIO_PROCESS, 0), sys.getswitchinterval()
    assert _in_child("persist", runtime) == (os.SCHED_BATCH, min(19, base_nice + 4), 0.00025)
    assert _in_child("match", runtime) == (os.SCHED_OTHER, base_nice, base_switch)


def test_order_entry_keeps_the_normal_policy_on_its_event_loop_and_takes_the_rest():
    runtime = RuntimeSettings(batch_scheduling=["acquiring"], nice={}, switch_interval_ms={"acquiring": 0.5})
    base_nice = os.getpriority(os.PRIO_PROCESS, 0)
    assert _in_child("acquiring", runtime, entry=True) == (os.SCHED_OTHER, base_nice, 0.0005)


def test_the_defaults_speed_up_the_gil_hand_over_in_acquiring_alone():
    runtime = RuntimeSettings()
    assert runtime.switch_interval_ms == {"acquiring": 0.5}
    assert _in_child("acquiring", runtime, entry=True)[2] == 0.0005
    assert _in_child("persist", runtime)[2] == sys.getswitchinterval()
