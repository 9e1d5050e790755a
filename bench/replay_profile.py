"""Replay profile: how fast journaled commands go through every stage in one process (what recovery
and `run.py replay` do), and where the time goes.

1. Builds N journaled commands. By default `bench/recovery.py`'s session (ten accounts, GTC and IOC
   limits around a mid, markets and cancels on two symbols, 0-20 ms of trading time apart, about
   100 commands a second as a busy venue's journal holds them). `--session tests`: the seeded
   session tests/runtime/test_replay.py replays (three accounts, 0-3 s apart), run through an
   InprocPipeline to keep what Acquiring accepted. The spacing matters: candles go out once per
   `candle_update_ms` of trading time, which the tests' session crosses at nearly every trade.
2. Times `apply_commands(fresh_pipeline, accepted, journaled=True)`, `--repeat` times, each on a
   fresh pipeline and a fresh data directory, the way a recovery replays (runtime/recovery.py's
   `rebuild`): the in-process queues hand Batch objects over unencoded, Persist and Push are left
   out (in the node each runs in its own process beside the replay, fed its output; `--with-push`
   replays into Push too, as recovery did before) and the collector is the recovery's lazy one. `--persist` replays into an in-process Persist over encoded queues instead, as `run.py
   replay` and the tests' sessions do. Each run prints every stage's share of the replay: the time
   in its runner's steps (applying its input), and Acquiring's in executing the commands.
3. With `--profile`, runs it once more under cProfile and prints the top 25 functions by tottime.

    python bench/replay_profile.py [--commands 20000] [--repeat 2] [--session recovery|tests] [--persist] [--with-push] [--profile]
    python bench/replay_profile.py --journal DIR   # also write the journal, for `run.py replay DIR`
    python bench/replay_profile.py --out OUT.jsonl # also write the replay's change log (to cmp)
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import nullcontext
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from recovery import journal_session  # noqa: E402

from spot_seda.model.commands import ENCODER  # noqa: E402
from spot_seda.runtime.inproc import InprocPipeline  # noqa: E402
from spot_seda.runtime.recovery import _lazy_collector  # noqa: E402
from spot_seda.runtime.replay import apply_commands, record, write_jsonl  # noqa: E402
from tests.conftest import settings_from  # noqa: E402
from tests.sessions import commands  # noqa: E402


def pipeline_in(directory: Path, like_recovery: bool = False, push: bool = False) -> InprocPipeline:
    """A fresh pipeline in `directory`: every stage over encoded queues, or (`like_recovery`) as
    recovery builds it: no codec between the stages, no Persist and no Push (each runs as its own
    process beside the replay, fed its output: runtime/recovery.py), unless `push` (replayed into,
    as recovery did before the forty-first session)."""
    settings = settings_from(f'[node]\ndata_dir = "{directory}"\n[bus]\ntransport = "inproc"\n')
    if like_recovery:
        return InprocPipeline(settings, directory, direct=True, exclude=("persist",) if push else ("persist", "push"))
    return InprocPipeline(settings)


def build(n: int, scratch: Path, session: str = "recovery") -> list:
    """N journaled commands of `session` (module docstring); for "tests", the ones Acquiring accepted
    out of about n."""
    if session == "recovery":
        return list(journal_session(n, 1))
    accepted: list = []
    apply_commands(pipeline_in(scratch / "build"), commands(1, n), journaled=False, accepted=accepted)
    return accepted


def timed(pipeline: InprocPipeline) -> dict[str, float]:
    """Seconds spent per stage from now on: each runner's steps under its label, and Acquiring's
    execution of the commands themselves under "acquiring-0 (commands)". Bench-only wrappers on
    this pipeline's objects; about a microsecond a call."""
    spent: dict[str, float] = defaultdict(float)
    clock = time.perf_counter

    def wrap(label, call):
        def timed_call(*args, **kwargs):
            began = clock()
            try:
                return call(*args, **kwargs)
            finally:
                spent[label] += clock() - began
        return timed_call

    for label, runner in pipeline.runners.items():
        runner.step = wrap(label, runner.step)
    acquiring = pipeline.runners["acquiring-0"].stage
    acquiring.execute = wrap("acquiring-0 (commands)", acquiring.execute)
    return spent


def timed_replay(accepted: list, directory: Path, like_recovery: bool, out: Path | None = None,
                 push: bool = False) -> tuple[float, dict]:
    """Seconds to replay `accepted` through a fresh pipeline (pipeline set-up not counted), and the
    seconds per stage (`timed`)."""
    pipeline = pipeline_in(directory, like_recovery, push)
    batches = record(pipeline) if out is not None else None
    spent = timed(pipeline)
    with _lazy_collector() if like_recovery else nullcontext():
        began = time.perf_counter()
        applied, refused = apply_commands(pipeline, accepted, journaled=True)
        elapsed = time.perf_counter() - began
    assert applied == len(accepted) and refused == 0, (applied, refused)
    if out is not None:
        count = write_jsonl(batches, out)
        print(f"# wrote {count:,} change log entries to {out}", flush=True)
    pipeline.stop()
    return elapsed, dict(spent)


def print_split(spent: dict[str, float], elapsed: float, commands: int) -> None:
    """One line per stage: µs per command and share of the replay (the rest: the replay loop's own)."""
    rest = elapsed - sum(spent.values())
    for label, seconds in sorted(spent.items(), key=lambda item: -item[1]) + [("(the replay loop)", rest)]:
        print(f"    {label:24s} {seconds / commands * 1e6:7.1f} µs/command  {100 * seconds / elapsed:5.1f}%", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commands", type=int, default=20_000, help="session length (before refusals)")
    parser.add_argument("--repeat", type=int, default=2, help="timed replays (each on a fresh pipeline)")
    parser.add_argument("--session", choices=("recovery", "tests"), default="recovery",
                        help="whose seeded session to replay (module docstring)")
    parser.add_argument("--persist", action="store_true",
                        help="replay into an in-process Persist over encoded queues (run.py replay), "
                             "not as recovery does")
    parser.add_argument("--with-push", action="store_true",
                        help="as recovery: Push replayed into too, as before it ran beside the replay (a comparison)")
    parser.add_argument("--profile", action="store_true", help="one more replay under cProfile: top 25 by tottime")
    parser.add_argument("--journal", metavar="DIR", help="also write the accepted commands as a journal there")
    parser.add_argument("--out", metavar="FILE", help="also write the change log of one replay (JSON lines)")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="spot_seda_replay_profile_"))
    try:
        print(f"# building {args.commands:,} commands ...", flush=True)
        began = time.perf_counter()
        accepted = build(args.commands, scratch, args.session)
        print(f"# {len(accepted):,} journaled commands ({args.session} session) in "
              f"{time.perf_counter() - began:.1f}s", flush=True)
        if args.journal:
            from spot_seda.journal import Journal

            journal = Journal(Path(args.journal), fsync="off")
            for cmd in accepted:
                journal.append(ENCODER.encode(cmd))
            journal.close()
            print(f"# journal written to {args.journal}", flush=True)
        like_recovery = not args.persist
        print("# replaying " + (("as recovery does (no codec, no Persist" + (")" if args.with_push else
                                  ", no Push: both run beside it)")) if like_recovery else
                                "into an in-process Persist over encoded queues"), flush=True)
        if args.out:
            timed_replay(accepted, scratch / "out", like_recovery, Path(args.out), args.with_push)
        rates = []
        for i in range(args.repeat):
            elapsed, spent = timed_replay(accepted, scratch / f"run{i}", like_recovery, push=args.with_push)
            rates.append(len(accepted) / elapsed)
            print(f"replay {i + 1}/{args.repeat}: {len(accepted):,} commands in {elapsed:.2f}s = "
                  f"{rates[-1]:,.0f} commands/s", flush=True)
            print_split(spent, elapsed, len(accepted))
        if rates:
            print(f"best: {max(rates):,.0f} commands/s", flush=True)
        if args.profile:
            print("# profiling one more replay ...", flush=True)
            profiler = cProfile.Profile()
            pipeline = pipeline_in(scratch / "profile", like_recovery, args.with_push)
            with _lazy_collector() if like_recovery else nullcontext():
                profiler.enable()
                apply_commands(pipeline, accepted, journaled=True)
                profiler.disable()
            text = io.StringIO()
            pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(25)
            print(text.getvalue())
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
