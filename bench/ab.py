"""A/B of the pipeline bench in one sitting: the code of a base commit (A) against the working tree
(B), runs alternating A-B, B-A, ... so that the box's slow and fast moments fall on both sides.

Each run is `bench/pipeline.py --orders N --transports shm --rates "" --skip-engine --plots ""` (the
closed loop: capacity and each stage's CPU per command), A from a git worktree of the base commit
(made under the scratch folder, removed at the end), B from this checkout, each with PYTHONPATH at
its own tree. The summary gives, per stage, the means of A and B, how many pairs read lower in B,
(for capacity, lower is worse) and each stage's figure over a reference stage's in the same run (`--per`, default Match): this
box's speed moves every stage of a run alike (the same code read 13,000 and 18,000 commands/s forty
minutes apart, BENCHMARKS.md), so a stage the change does not touch cancels it out.

    python bench/ab.py --base 3a29f97 [--pairs 8] [--orders 40000] [--per match]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CAPACITY = re.compile(r"capacity ([0-9,]+) commands/s")
STAGE = re.compile(r"^\| shm \| ([a-z]+)-0 \| ([0-9.]+) ", re.M)


def parse(output: str) -> dict[str, float]:
    """One pipeline run's figures: each stage's CPU µs per command, their total, and the capacity."""
    found = CAPACITY.search(output)
    stages = {m.group(1): float(m.group(2)) for m in STAGE.finditer(output)}
    if found is None or not stages:
        raise ValueError("not a pipeline bench's output:\n" + output[-2000:])
    return {**stages, "total": round(sum(stages.values()), 1), "capacity": float(found.group(1).replace(",", ""))}


def summarize(a: list[dict[str, float]], b: list[dict[str, float]], per: str) -> list[str]:
    """The table's lines: per figure, A's and B's means, B over A, the same over `per`'s figure of
    each run, and in how many pairs B read lower."""
    lines = [f"| figure | A mean | B mean | B/A | B/A over {per} | B lower in (of {len(a)}) |",
             "|---|---:|---:|---:|---:|---:|"]
    for key in a[0]:
        mean_a, mean_b = statistics.mean(r[key] for r in a), statistics.mean(r[key] for r in b)
        rel_a = statistics.mean(r[key] / r[per] for r in a)
        rel_b = statistics.mean(r[key] / r[per] for r in b)
        lower = sum(rb[key] < ra[key] for ra, rb in zip(a, b))
        lines.append(f"| {key} | {mean_a:,.1f} | {mean_b:,.1f} | {mean_b / mean_a:.3f} | {rel_b / rel_a:.3f} | {lower} |")
    return lines


def run(tree: Path, orders: int) -> dict[str, float]:
    done = subprocess.run([sys.executable, "bench/pipeline.py", "--orders", str(orders), "--transports", "shm",
                           "--rates", "", "--skip-engine", "--plots", ""], cwd=tree, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(tree)}, timeout=900)
    return parse(done.stdout + done.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="the commit A runs (B is this checkout's working tree)")
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--orders", type=int, default=40_000)
    parser.add_argument("--per", default="match", help="the stage each figure is also read over (one the change "
                                                         "does not touch)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="spot_seda_ab_") as scratch:
        base = Path(scratch) / "base"
        subprocess.run(["git", "worktree", "add", "--detach", "-f", str(base), args.base], cwd=ROOT, check=True,
                       capture_output=True)
        try:
            results: dict[str, list[dict[str, float]]] = {"A": [], "B": []}
            for i in range(args.pairs):
                for side in ("AB" if i % 2 == 0 else "BA"):
                    figures = run(base if side == "A" else ROOT, args.orders)
                    results[side].append(figures)
                    print(f"{time.strftime('%H:%M:%S')} pair {i + 1}/{args.pairs} {side}: "
                          + " ".join(f"{k}={v:,.1f}" for k, v in figures.items()), flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=ROOT, capture_output=True)
    print("\n".join(summarize(results["A"], results["B"], args.per)))


if __name__ == "__main__":
    main()
