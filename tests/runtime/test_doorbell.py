"""bus.doorbells: a consumer group read on its stage's event loop, woken by a pipe that every
producer writes a byte to after each put (bus/shm.py; runtime/busreader.py, DoorbellReader), with no
reader thread. Real shared-memory rings and a real producer process: everything written arrives, in
order, whether it was written before the loop watched, while it watched, or faster than the pipe
holds wake-ups."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time

import numpy as np
import pytest
import uvloop

from spot_seda.bus import Wiring, make_bus
from spot_seda.model.changelog import created
from spot_seda.runtime.busreader import BusReader, DoorbellReader, bus_reader
from spot_seda.runtime.metrics import DTYPE
from spot_seda.stages.base import Runner, StageContext
from tests.conftest import settings_from
from tests.runtime.test_linger import Counting  # (keeps what it is handed, and how many calls it took)

fork = multiprocessing.get_context("fork")


def _bus(doorbells: str = '["g"]'):
    settings = settings_from(f'[bus]\ntransport = "shm"\nqueue_bytes = 33554432\ndoorbells = {doorbells}\n')
    return settings, make_bus(Wiring({"T": 1}, {"g": (("T",), 1)}), settings)


def _runner(settings, bus, tmp_path, linger_s: float = 0.0) -> Runner:
    stage = Counting(StageContext(settings, "g", 0, 1, tmp_path))
    row = np.zeros(1, dtype=DTYPE)[0]
    runner = Runner(stage, bus.consumer("g", 0), bus.producer("g-0"), {"T": 1}, row)
    runner.linger_s = linger_s
    runner.start()
    return runner


def _write(bus, first: int, last: int, gap_s: float) -> None:
    producer = bus.producer("p0")
    for n in range(first, last + 1):
        producer.publish_to("T", 0, [created(f"e{n}", "SpotOrder", n, n, n=n)])
        if gap_s:
            time.sleep(gap_s)


async def _read_until(runner, count: int, linger_s: float = 0.0) -> DoorbellReader:
    reader = bus_reader(runner, asyncio.get_running_loop())
    assert isinstance(reader, DoorbellReader)
    reader.start()
    deadline = time.monotonic() + 20
    while len(runner.stage.got) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.005)  # the loop stays free: the reader runs between these
    await reader.stop()
    return reader


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_another_process_s_writes_arrive_in_order_on_the_loop_with_no_thread(tmp_path, loop):
    settings, bus = _bus()
    runner = _runner(settings, bus, tmp_path)
    assert runner.consumer.doorbell is not None
    threads = threading.active_count()

    async def main() -> None:
        writer = fork.Process(target=_write, args=(bus, 1, 300, 0.0005))
        writer.start()
        assert threading.active_count() == threads  # (read on the loop: no reader thread)
        await _read_until(runner, 300)
        writer.join(10)

    (uvloop.run if loop == "uvloop" else asyncio.run)(main())
    assert runner.stage.got == list(range(1, 301))
    bus.close()


def test_writes_before_the_loop_watches_and_beyond_what_the_pipe_holds_all_arrive(tmp_path):
    """70,000 puts ring 70,000 times, more than a pipe's 64 KiB holds: the producer neither blocks
    nor fails on the full pipe, and the reader, started after all of them, reads every one."""
    settings, bus = _bus()
    runner = _runner(settings, bus, tmp_path)
    writer = fork.Process(target=_write, args=(bus, 1, 70_000, 0.0))
    writer.start()
    writer.join(120)
    assert writer.exitcode == 0
    asyncio.run(_read_until(runner, 70_000))
    assert runner.stage.got == list(range(1, 70_001))
    bus.close()


def test_a_lingering_doorbell_reader_takes_trickling_input_in_a_few_polls(tmp_path):
    """runtime.linger_ms as BusReader has it: after a poll that empties the ring the loop stops
    watching for that long, so a trickle (one write every 2 ms for 120 ms) comes in a few polls."""
    settings, bus = _bus()
    runner = _runner(settings, bus, tmp_path, linger_s=0.03)

    async def main() -> None:
        writer = fork.Process(target=_write, args=(bus, 1, 60, 0.002))
        writer.start()
        await _read_until(runner, 60)
        writer.join(10)

    asyncio.run(main())
    assert runner.stage.got == list(range(1, 61))
    assert runner.stage.calls <= 15, runner.stage.calls
    bus.close()


def test_groups_not_named_have_no_doorbell_and_keep_the_reader_thread(tmp_path):
    settings, bus = _bus("[]")
    runner = _runner(settings, bus, tmp_path)
    assert runner.consumer.doorbell is None

    async def main() -> None:
        assert isinstance(bus_reader(runner, asyncio.get_running_loop()), BusReader)

    asyncio.run(main())
    bus.close()


def test_a_closed_bus_rings_no_descriptor_that_was_its_pipe(tmp_path):
    """close() closes the pipes; a file opened next may get one of their numbers. A producer of the
    closed bus must not write its byte into that file."""
    settings, bus = _bus()
    producer = bus.producer("p0")
    numbers = sorted(fd for pipe in bus.doorbells.values() for fd in pipe)
    bus.close()
    path = tmp_path / "unrelated"
    fds = [os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND) for _ in numbers]
    try:
        assert set(fds) & set(numbers)  # (the lowest free numbers: the pipes' own)
        try:
            producer.publish_to("T", 0, [created("e1", "SpotOrder", 1, 1, n=1)])
        except Exception:
            pass  # (a closed ring may refuse the put: either way, nothing rings)
        assert path.read_bytes() == b""
    finally:
        for fd in fds:
            os.close(fd)
