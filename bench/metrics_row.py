"""Micro-benchmark: one `row[column] += n` on a stage's counters (runtime/metrics.py), as every stage
step does five to seven times: through a numpy record of the shared table (what the stages used
until the fifteenth session) and through metrics.Row (a memoryview of the same cells).

    python bench/metrics_row.py [--number 300000] [--rounds 4]
"""

from __future__ import annotations

import argparse
import sys
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from spot_seda.runtime.metrics import MetricsTable  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--number", type=int, default=300_000)
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()
    table = MetricsTable.create(["match-0", "persist-0"])
    try:
        ways = {"numpy record": table.array[1], "metrics.Row": table.row("persist-0")}

        def bump(row) -> None:
            row["events_in"] += 5

        results: dict[str, list[float]] = {name: [] for name in ways}
        for r in range(args.rounds):
            for name, row in list(ways.items())[:: 1 if r % 2 == 0 else -1]:
                results[name].append(timeit.timeit(lambda: bump(row), number=args.number) / args.number * 1e6)
        assert table.row("persist-0")["events_in"] == 2 * 5 * args.number * args.rounds  # both wrote the same cell
    finally:
        table.unlink()
    for name, values in results.items():
        print(f"{name}: " + " / ".join(f"{v:.3f}" for v in values) + " µs per +=")


if __name__ == "__main__":
    main()
