"""Snapshots: each deterministic stage's state at a clean stop, tagged with the journal position it
reflects, so the next start replays only the journal after it.

At a clean stop every stage drains after its upstream, so when all have exited cleanly each one
reflects every journaled command: the supervisor then writes `manifest.json` naming the journal's
last position. A snapshot stays a valid starting point for ever (state at P + journal after P);
a newer clean stop replaces it. After a crash there is no new snapshot: recovery starts from the
last one and replays the rest of the journal. Delete the directory to force a full replay (e.g.
after changing the symbols in the config).
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

FORMAT = 1


def directory(data_dir: Path) -> Path:
    return data_dir / "snapshots"


def write_stage(data_dir: Path, label: str, runner) -> None:
    """Write one stage instance's state (stage, output sequences, duplicate filter) atomically."""
    path = directory(data_dir) / f"{label}.pkl"
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"stage": runner.stage.snapshot_state(), "next": dict(runner.sequencer.next),
             "last_seen": dict(runner.last_seen)}
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        pickle.dump(state, f, protocol=pickle.HIGHEST_PROTOCOL)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def write_manifest(data_dir: Path, position: int, labels: list[str]) -> None:
    """Declare the stage files a consistent snapshot at journal `position` (after a clean stop)."""
    path = directory(data_dir) / "manifest.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"format": FORMAT, "position": position, "labels": sorted(labels)}))
    tmp.replace(path)


def drop_manifest(data_dir: Path) -> None:
    """Stage files are being rewritten: until a new manifest exists, none of them counts."""
    (directory(data_dir) / "manifest.json").unlink(missing_ok=True)


def load(data_dir: Path) -> tuple[int, dict[str, dict]] | None:
    """(journal position, state per instance label) of the last consistent snapshot, or None."""
    try:
        manifest = json.loads((directory(data_dir) / "manifest.json").read_text())
        if manifest.get("format") != FORMAT:
            return None
        states = {}
        for label in manifest["labels"]:
            with open(directory(data_dir) / f"{label}.pkl", "rb") as f:
                states[label] = pickle.load(f)
        return manifest["position"], states
    except (FileNotFoundError, KeyError, ValueError, pickle.UnpicklingError, EOFError):
        return None
