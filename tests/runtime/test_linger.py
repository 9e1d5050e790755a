"""runtime.linger_ms: a stage that has emptied its queue sleeps before it reads again, so input that
trickles in from another process reaches it in a few larger polls instead of one wake-up per write;
nothing is lost or reordered on the way. Real shared-memory rings, a real producer process."""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
import time

import numpy as np

from spot_seda.bus import Wiring, make_bus
from spot_seda.model.changelog import created
from spot_seda.runtime.busreader import BusReader
from spot_seda.runtime.metrics import DTYPE
from spot_seda.stages.base import Endpoint, Runner, StageContext
from tests.conftest import settings_from

fork = multiprocessing.get_context("fork")
WRITES, GAP_S, LINGER_S = 60, 0.002, 0.03  # 120 ms of input, one entry every 2 ms


class Counting(Endpoint):
    """Keeps what it is handed, and how many calls it took."""

    consumes = ("T",)

    def start(self) -> None:
        self.calls = 0
        self.got: list[int] = []

    def apply(self, topic, entries) -> None:
        self.calls += 1
        self.got += [e.sequence for e in entries]


def _trickle(bus) -> None:
    producer = bus.producer("p0")
    for n in range(1, WRITES + 1):
        producer.publish_to("T", 0, [created(f"e{n}", "SpotOrder", n, n, n=n)])
        time.sleep(GAP_S)


def _runner(tmp_path):
    settings = settings_from('[bus]\ntransport = "shm"\nqueue_bytes = 4194304\n')
    bus = make_bus(Wiring({"T": 1}, {"g": (("T",), 1)}), settings)
    stage = Counting(StageContext(settings, "g", 0, 1, tmp_path))
    row = np.zeros(1, dtype=DTYPE)[0]  # a metrics row, as a stage process has (the queue depth is read into it)
    runner = Runner(stage, bus.consumer("g", 0), bus.producer("g-0"), {"T": 1}, row)
    runner.linger_s = LINGER_S
    return bus, runner


def _all_of(stage) -> None:
    deadline = time.monotonic() + 10
    while len(stage.got) < WRITES and time.monotonic() < deadline:
        time.sleep(0.01)


def test_a_lingering_stage_takes_trickling_input_in_a_few_polls(tmp_path):
    bus, runner = _runner(tmp_path)
    stopping = threading.Event()
    thread = threading.Thread(target=runner.run, args=(stopping.is_set,), daemon=True)
    thread.start()
    writer = fork.Process(target=_trickle, args=(bus,))
    writer.start()
    writer.join(10)
    _all_of(runner.stage)
    stopping.set()
    thread.join(10)
    assert runner.stage.got == list(range(1, WRITES + 1))  # all of it, in order
    # one wake-up per 30 ms of a 120 ms trickle: about 5 calls (60 without the linger, on an idle box)
    assert runner.stage.calls <= 15, runner.stage.calls
    bus.close()


def test_a_lingering_bus_reader_hands_trickling_input_over_in_a_few_polls(tmp_path):
    """The same for a stage with an event loop (Push): its reader thread sleeps, not the loop."""
    bus, runner = _runner(tmp_path)
    runner.start()

    async def main() -> None:
        reader = BusReader(runner, asyncio.get_running_loop())
        reader.start()
        writer = fork.Process(target=_trickle, args=(bus,))
        writer.start()
        ticks = 0
        while len(runner.stage.got) < WRITES and ticks < 1000:  # the loop stays free meanwhile
            await asyncio.sleep(0.01)
            ticks += 1
        await reader.stop()
        writer.join(10)

    asyncio.run(main())
    assert runner.stage.got == list(range(1, WRITES + 1))
    assert runner.stage.calls <= 15, runner.stage.calls
    bus.close()
