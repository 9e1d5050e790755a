"""Replay profile: how fast journaled commands go through every stage in one process (what recovery
and `run.py replay` do), and where the time goes.

1. Builds N accepted commands (deposits, then a seeded random session of limit, market and cancel
   orders over two symbols, as tests/runtime/test_replay.py makes them) by running them through an
   InprocPipeline and keeping what Acquiring accepted, as a journal would hold them.
2. Times `apply_commands(fresh_pipeline, accepted, journaled=True)` (the recovery path), `--repeat`
   times, each on a fresh pipeline and a fresh data directory.
3. With `--profile`, runs it once more under cProfile and prints the top 25 functions by tottime.

    python bench/replay_profile.py [--commands 20000] [--repeat 2] [--profile]
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from spot_seda.model.commands import ENCODER  # noqa: E402
from spot_seda.runtime.inproc import InprocPipeline  # noqa: E402
from spot_seda.runtime.replay import apply_commands, record, write_jsonl  # noqa: E402
from tests.conftest import settings_from  # noqa: E402
from tests.sessions import commands  # noqa: E402


def pipeline_in(directory: Path) -> InprocPipeline:
    settings = settings_from(f'[node]\ndata_dir = "{directory}"\n[bus]\ntransport = "inproc"\n')
    return InprocPipeline(settings)


def build(n: int, scratch: Path) -> list:
    """The commands Acquiring accepted out of a seeded session of about n, as journaled."""
    accepted: list = []
    apply_commands(pipeline_in(scratch / "build"), commands(1, n), journaled=False, accepted=accepted)
    return accepted


def timed_replay(accepted: list, directory: Path, out: Path | None = None) -> float:
    """Seconds to replay `accepted` through a fresh pipeline (pipeline set-up not counted)."""
    pipeline = pipeline_in(directory)
    batches = record(pipeline) if out is not None else None
    began = time.perf_counter()
    applied, refused = apply_commands(pipeline, accepted, journaled=True)
    elapsed = time.perf_counter() - began
    assert applied == len(accepted) and refused == 0, (applied, refused)
    if out is not None:
        count = write_jsonl(batches, out)
        print(f"# wrote {count:,} change log entries to {out}", flush=True)
    pipeline.stop()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commands", type=int, default=20_000, help="session length (before refusals)")
    parser.add_argument("--repeat", type=int, default=2, help="timed replays (each on a fresh pipeline)")
    parser.add_argument("--profile", action="store_true", help="one more replay under cProfile: top 25 by tottime")
    parser.add_argument("--journal", metavar="DIR", help="also write the accepted commands as a journal there")
    parser.add_argument("--out", metavar="FILE", help="also write the change log of one replay (JSON lines)")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="spot_seda_replay_profile_"))
    try:
        print(f"# building about {args.commands:,} accepted commands ...", flush=True)
        began = time.perf_counter()
        accepted = build(args.commands, scratch)
        print(f"# {len(accepted):,} accepted commands in {time.perf_counter() - began:.1f}s", flush=True)
        if args.journal:
            from spot_seda.journal import Journal

            journal = Journal(Path(args.journal), fsync="off")
            for cmd in accepted:
                journal.append(ENCODER.encode(cmd))
            journal.close()
            print(f"# journal written to {args.journal}", flush=True)
        if args.out:
            timed_replay(accepted, scratch / "out", Path(args.out))
        rates = []
        for i in range(args.repeat):
            elapsed = timed_replay(accepted, scratch / f"run{i}")
            rates.append(len(accepted) / elapsed)
            print(f"replay {i + 1}/{args.repeat}: {len(accepted):,} commands in {elapsed:.2f}s = "
                  f"{rates[-1]:,.0f} commands/s", flush=True)
        if rates:
            print(f"best: {max(rates):,.0f} commands/s", flush=True)
        if args.profile:
            print("# profiling one more replay ...", flush=True)
            profiler = cProfile.Profile()
            pipeline = pipeline_in(scratch / "profile")
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
