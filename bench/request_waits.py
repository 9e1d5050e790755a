"""Micro-benchmark: the asyncio machinery around one order's two waits in Acquiring (its journal
group commit, then Match's answer), each bounded by the request's deadline.

  timers  what the node did until the fifteenth session: `asyncio.timeout_at` around a shielded
          group commit, `asyncio.wait_for` on the answer (a timer handle, a Timeout or a wait_for
          frame, and a shield's outer future per order)
  sweep   what it does now: the journal gives each caller a future of its own
          (Journal.sync_future) and Admission.expire_at lists it, with the answer's future, for
          the lag timer's sweep (api/admission.py)

and a read's wait for the history (api/readbarrier.py: readers share one marker's future), with
`wait_for` around a `shield` against a future of its own chained to it and listed for the sweep.

16 requests at a time on uvloop, the journal at fsync "off" (so the figure is the machinery, not
the disk); CPU µs per request (process time), rounds alternating.

    python bench/request_waits.py [--requests 20000] [--rounds 4]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import uvloop

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from spot_seda.api.admission import Admission  # noqa: E402
from spot_seda.journal import Journal  # noqa: E402

CONCURRENT = 16


async def _timers(journal: Journal, gate: Admission, loop, deadline: float) -> None:
    async with asyncio.timeout_at(deadline):
        await asyncio.shield(journal.sync_future())
    answer = loop.create_future()
    loop.call_soon(answer.set_result, None)
    await asyncio.wait_for(answer, deadline - loop.time())


async def _sweep(journal: Journal, gate: Admission, loop, deadline: float) -> None:
    await gate.expire_at(journal.sync_future(), deadline)
    answer = loop.create_future()
    loop.call_soon(answer.set_result, None)
    await gate.expire_at(answer, deadline)


async def _read_timers(shared: asyncio.Future, gate: Admission, loop) -> None:
    await asyncio.wait_for(asyncio.shield(shared), 10.0)


async def _read_sweep(shared: asyncio.Future, gate: Admission, loop) -> None:
    mine = loop.create_future()
    shared.add_done_callback(lambda _f: mine.done() or mine.set_result(None))
    await gate.expire_at(mine, loop.time() + 10.0)


async def _main(requests: int, rounds: int) -> None:
    loop = asyncio.get_running_loop()
    gate = Admission(64, 128, 0, 10.0)
    gate.start()
    with tempfile.TemporaryDirectory() as tmp, Journal(tmp, fsync="off") as journal:
        async def one(wait) -> None:
            journal.append(b"x" * 60)
            await wait(journal, gate, loop, loop.time() + 10.0)

        results: dict[str, list[float]] = {"timers": [], "sweep": []}
        for r in range(rounds):
            for name, wait in (("timers", _timers), ("sweep", _sweep))[:: 1 if r % 2 == 0 else -1]:
                started = time.process_time()
                for _ in range(requests // CONCURRENT):
                    await asyncio.gather(*(one(wait) for _ in range(CONCURRENT)))
                results[name].append((time.process_time() - started) / requests * 1e6)
            print(f"round {r + 1}/{rounds}: timers {results['timers'][-1]:.2f}, sweep {results['sweep'][-1]:.2f} "
                  "µs per request", flush=True)
        # a read's wait for the history (api/readbarrier.py): 16 readers on one shared marker future
        for r in range(rounds):
            for name, wait in (("read timers", _read_timers), ("read sweep", _read_sweep))[:: 1 if r % 2 == 0 else -1]:
                started = time.process_time()
                for _ in range(requests // CONCURRENT):
                    shared = loop.create_future()
                    loop.call_soon(shared.set_result, None)
                    await asyncio.gather(*(wait(shared, gate, loop) for _ in range(CONCURRENT)))
                results.setdefault(name, []).append((time.process_time() - started) / requests * 1e6)
            print(f"round {r + 1}/{rounds}: read timers {results['read timers'][-1]:.2f}, read sweep "
                  f"{results['read sweep'][-1]:.2f} µs per read", flush=True)
    gate.stop()
    for name, values in results.items():
        print(f"{name}: " + " / ".join(f"{v:.2f}" for v in values) + f" µs each (min {min(values):.2f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()
    uvloop.run(_main(args.requests, args.rounds))


if __name__ == "__main__":
    main()
