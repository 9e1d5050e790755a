"""Per-stage counters in a shared-memory numpy table that every process of the node can read.

The supervisor creates the table (one row per stage instance) as a file in /dev/shm and removes it
when the node stops; each stage writes only its own row, so no lock is needed (a reader may see a
row mid-update, which is harmless for counters). `node.json` in the data dir names the file and the
rows, so `run.py status` and `GET /metrics` can find it.
"""

from __future__ import annotations

import gc
import json
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np

COLUMNS = (
    "pid",            # process id of the current incarnation (0 = not running)
    "core",           # the core it is pinned to (-1 = not pinned)
    "started_ns",     # time.time_ns() when this incarnation started
    "heartbeat_ns",   # time.time_ns() at the end of the last loop iteration
    "restarts",       # how often the supervisor restarted it
    "events_in",      # entries received
    "events_out",     # entries published
    "batches_in",     # messages received
    "batches_out",    # publish calls
    "queue_depth",    # messages waiting in its input queue at the last poll
    "busy_ns",        # time spent handling events (excludes waiting for input)
    "errors",         # handled errors (bad input dropped, duplicates skipped are not errors)
    "duplicates",     # entries dropped because their sequence was already applied
    "snapshot_position",  # journal position of the last snapshot marker this instance completed
    "kept_ns",        # time.time_ns() when it last kept its state in the cluster (0 = never; Kafka)
    "restored_ns",    # when the state this incarnation restored was kept (0 = it did not restore kept state)
    "gc_collections",  # passes of Python's cyclic garbage collector in the stage process (watch_gc)
    "gc_ns",          # time those passes took: the stage does nothing else meanwhile
    "gc_max_ns",      # the longest of them
)
DTYPE = np.dtype([(name, np.int64) for name in COLUMNS])
_INDEX = {name: i for i, name in enumerate(COLUMNS)}
SHM_DIR = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path("/tmp")


class MetricsTable:
    """A (rows x COLUMNS) int64 table backed by a shared file mapping."""

    def __init__(self, path: Path, rows: list[str], array: np.ndarray) -> None:
        self.path = path
        self.rows = rows
        self.array = array

    @classmethod
    def create(cls, rows: list[str]) -> "MetricsTable":
        sweep_stale()
        path = SHM_DIR / f"spot_seda-{os.getpid()}-{time.monotonic_ns()}.metrics"
        array = np.memmap(path, dtype=DTYPE, mode="w+", shape=(max(len(rows), 1),))
        array[:] = 0
        return cls(path, rows, array)

    @classmethod
    def open(cls, path: Path, rows: list[str]) -> "MetricsTable":
        return cls(path, rows, np.memmap(path, dtype=DTYPE, mode="r+", shape=(max(len(rows), 1),)))

    def row(self, name: str) -> "Row":
        """The row of one stage instance (a view: writes go straight to shared memory)."""
        i = self.rows.index(name)
        cells = memoryview(self.array).cast("B").cast("q")
        return Row(cells[i * len(COLUMNS):(i + 1) * len(COLUMNS)])

    def snapshot(self) -> list[dict[str, int]]:
        """A copy of every row as dicts, with the instance name."""
        copy = np.array(self.array)
        return [{"stage": name, **{c: int(copy[i][c]) for c in COLUMNS}} for i, name in enumerate(self.rows)]

    def write_manifest(self, data_dir: Path, phase: str = "starting") -> Path:
        """Record where the table is, so other commands (status, /metrics) can open it, and what the
        supervisor is doing (`phase`: starting, running, restarting: `run.py status` says it)."""
        run_dir = data_dir / "run"
        run_dir.mkdir(parents=True, exist_ok=True)
        manifest = run_dir / "node.json"
        temp = manifest.with_suffix(".tmp")
        temp.write_text(json.dumps({"pid": os.getpid(), "metrics": str(self.path), "rows": self.rows, "phase": phase}))
        os.replace(temp, manifest)  # (read at any moment by status)
        return manifest

    def unlink(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


class Row:
    """One stage instance's counters by column name (``row["events_in"] += n``), read and written
    as Python ints through a memoryview of the shared table. Every stage step updates five to
    seven of them: a numpy record's field cost 1.2-1.5 µs a `+=`, this 0.3-0.4
    (bench/metrics_row.py; BENCHMARKS.md, "Node over HTTP", fifteenth session)."""

    __slots__ = ("_cells",)

    def __init__(self, cells: memoryview) -> None:
        self._cells = cells

    def __getitem__(self, column: str) -> int:
        return self._cells[_INDEX[column]]

    def __setitem__(self, column: str, value: int) -> None:
        self._cells[_INDEX[column]] = value


def watch_gc(row: Row) -> Callable[[str, dict], None]:
    """Time every pass of Python's cyclic garbage collector in this process into `row`: how many
    (gc_collections), how long in all (gc_ns) and the longest (gc_max_ns), wall time. A pass stops
    the stage for its whole length, with whatever it holds in flight, so the longest is a latency
    floor; the young generation's threshold (`runtime.gc_thresholds`) sets it (BENCHMARKS.md,
    "Pipeline", fortieth session). Returns the callback (`gc.callbacks.remove` ends the watch).
    A process forked from this one (a snapshot writer) leaves the row alone."""
    owner = os.getpid()
    clock = time.perf_counter_ns
    began = 0

    def timed(phase: str, _info: dict) -> None:
        nonlocal began
        if phase == "start":
            began = clock()
            return
        if not began or os.getpid() != owner:
            return
        spent = clock() - began
        row["gc_collections"] += 1
        row["gc_ns"] += spent
        if spent > row["gc_max_ns"]:
            row["gc_max_ns"] = spent

    gc.callbacks.append(timed)
    return timed


def sweep_stale() -> None:
    """Remove tables left by supervisors that were killed (SIGKILL gives them no chance to clean up)."""
    for path in SHM_DIR.glob("spot_seda-*.metrics"):
        try:
            pid = int(path.name.split("-")[1])
            os.kill(pid, 0)
        except ProcessLookupError:
            path.unlink(missing_ok=True)
        except (ValueError, IndexError, PermissionError):
            continue


def open_from_manifest(data_dir: Path) -> MetricsTable:
    """Open a running node's table; raises FileNotFoundError when no node runs on this data dir."""
    manifest = json.loads((data_dir / "run" / "node.json").read_text())
    path = Path(manifest["metrics"])
    if not path.exists():
        raise FileNotFoundError(f"metrics table {path} is gone (node stopped?)")
    return MetricsTable.open(path, manifest["rows"])


#: column -> (Prometheus name, type, divisor to base units, help): counters end in _total, times
#: are in seconds, as Prometheus' naming conventions ask
PROMETHEUS = {
    "heartbeat_ns": ("spot_seda_stage_heartbeat_timestamp_seconds", "gauge", 1e9,
                     "When the stage instance last finished a loop iteration (Unix time)."),
    "restarts": ("spot_seda_stage_restarts_total", "counter", 1, "Times the supervisor restarted the instance."),
    "events_in": ("spot_seda_stage_events_in_total", "counter", 1, "Change-log entries received."),
    "events_out": ("spot_seda_stage_events_out_total", "counter", 1, "Change-log entries published."),
    "batches_in": ("spot_seda_stage_batches_in_total", "counter", 1, "Queue messages (batches) received."),
    "batches_out": ("spot_seda_stage_batches_out_total", "counter", 1, "Publish calls (one per partition per batch)."),
    "queue_depth": ("spot_seda_stage_queue_depth", "gauge", 1, "Messages waiting in the input queue at the last poll."),
    "busy_ns": ("spot_seda_stage_busy_seconds_total", "counter", 1e9,
                "Time spent handling input (waiting for it excluded)."),
    "errors": ("spot_seda_stage_errors_total", "counter", 1, "Handled errors."),
    "duplicates": ("spot_seda_stage_duplicates_total", "counter", 1,
                   "Entries dropped because their sequence was already applied."),
    "snapshot_position": ("spot_seda_stage_snapshot_position", "gauge", 1,
                          "Journal position of the last snapshot marker the instance completed."),
    "kept_ns": ("spot_seda_stage_kept_timestamp_seconds", "gauge", 1e9,
                "When the instance last kept its state in the cluster (Unix time; 0: never)."),
    "restored_ns": ("spot_seda_stage_restored_timestamp_seconds", "gauge", 1e9,
                    "When the state this incarnation started from was kept in the cluster (0: not from kept state)."),
    "gc_collections": ("spot_seda_stage_gc_collections_total", "counter", 1,
                       "Passes of Python's cyclic garbage collector in the instance's process."),
    "gc_ns": ("spot_seda_stage_gc_seconds_total", "counter", 1e9,
              "Time the garbage collector's passes took (the stage does nothing else meanwhile)."),
    "gc_max_ns": ("spot_seda_stage_gc_pause_max_seconds", "gauge", 1e9,
                  "The longest garbage collector pass since the process started."),
}


def render_prometheus(table: MetricsTable) -> str:
    """Prometheus text exposition of every stage's counters, with HELP and TYPE lines."""
    rows = table.snapshot()
    lines = []
    for column in COLUMNS[3:]:
        metric, kind, scale, text = PROMETHEUS[column]
        lines += [f"# HELP {metric} {text}", f"# TYPE {metric} {kind}"]
        for row in rows:
            stage, _, instance = row["stage"].rpartition("-")
            value = row[column] if scale == 1 else row[column] / scale
            lines.append(f'{metric}{{stage="{stage}",instance="{instance}"}} {value}')
    return "\n".join(lines) + "\n"


def stage_state(row: dict[str, int], now_ns: int, stall_s: float) -> str:
    """"up", "down" (no process: starting, or restarting) or "stalled Ns" (its loop has not beaten
    for N s: stopped, wedged, or in a long step; an idle stage still beats)."""
    if not row["pid"]:
        return "down"
    age = (now_ns - row["heartbeat_ns"]) / 1e9
    return f"stalled {age:.0f}s" if row["heartbeat_ns"] and age >= stall_s else "up"


def render_table(rows: list[dict[str, int]], previous: list[dict[str, int]] | None, interval: float,
                 stall_s: float = 5.0) -> str:
    """A human table: per instance pid, core, state, totals and rates since the previous sample
    (blank without one)."""
    header = (f"{'stage':<16}{'pid':>8}{'core':>5}{'state':>13}{'restarts':>9}{'in':>12}{'out':>12}{'in/s':>11}"
              f"{'depth':>7}{'busy%':>7}")
    lines = [header, "-" * len(header)]
    now = time.time_ns()
    for i, row in enumerate(rows):
        rate = busy = ""
        if previous is not None and interval > 0:
            rate = f"{(row['events_in'] - previous[i]['events_in']) / interval:.0f}"
            busy = f"{100.0 * (row['busy_ns'] - previous[i]['busy_ns']) / (interval * 1e9):.1f}"
        lines.append(
            f"{row['stage']:<16}{row['pid']:>8}{row['core']:>5}{stage_state(row, now, stall_s):>13}{row['restarts']:>9}"
            f"{row['events_in']:>12}{row['events_out']:>12}{rate:>11}{row['queue_depth']:>7}{busy:>7}"
        )
    return "\n".join(lines)
