"""Snapshots: every deterministic stage's state at one journal position, so a restart replays only
the journal after it.

How a consistent snapshot is taken while the node runs (DESIGN.md section 7):

1. Acquiring holds new commands back only until every accepted command is durable and published,
   forks the child that will write its own state, as it is at the journal's last position P, sends
   a "snapshot" marker tagged with P down every partition it produces (stages/base.py, "Markers"),
   and lets commands in again: the pause is that wait and a fork.
2. Each stage instance, once the marker has reached it on every input channel, has applied
   everything the commands up to P caused. It forwards the marker and forks a child that writes
   `<label>-<P>.pkl` (its state, output sequences and duplicate filter) from the copy-on-write
   image of that moment, while the stage carries on; once the child has written and synced the
   file, the stage reports P in the shared metrics table. Persist writes no file: it fsyncs its
   SQLite history and reports.
3. Acquiring's state at P lacks the feedback (Match's reports and trades, Settlement's balance
   changes) of the commands up to P that was still on its way when it forked. That is the channel
   state of a Chandy-Lamport snapshot: Acquiring records what it receives on each input channel
   until the marker comes back on it (Runner.record_channel), then hands the record to its
   writer, which pickles it after the state in the same file (`channel`). Recovery applies it to
   the restored state as it was applied live (`restore`), which gives the state Acquiring had when
   the marker was back on every channel: what the earlier protocol captured by holding order entry
   for the round trip.
4. The supervisor sees every instance report P and writes `manifest.json` naming P: only then does
   the snapshot count. Older files are deleted; Acquiring deletes the journal segments the manifest
   no longer needs at its next snapshot.

A stage that takes newer input before the slowest one has snapshotted (Push and Persist read from
several producers) holds a little more than P: on recovery its duplicate filter drops those entries
when the replay of the journal after P produces them again, with the same sequences.

A snapshot is taken every `journal.snapshot_interval_s` and at a clean stop. Delete the directory
to force a full replay (e.g. after changing the symbols in the config; the whole journal must still
be on disk: `journal.rotate = false`).

The manifest names the layout the output sequences were counted under (bus.partitions and stage
instances, stages/base.py `sequence_layout`): a snapshot restored under another one would continue
sequences that mean something else, so the node refuses to start from it (SnapshotMismatch).
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import re
from collections.abc import Callable
from pathlib import Path

FORMAT = 2
log = logging.getLogger("spot_seda.snapshots")
_FILE = re.compile(r"^(?P<label>.+)-(?P<position>\d+)\.pkl$")
_CHANNEL = re.compile(r"^(?P<label>.+)-(?P<position>\d+)\.channel$")  # (one a writer never took: its stage died)


class SnapshotMismatch(Exception):
    """The snapshot was taken under another pipeline layout than the configuration's."""


def directory(data_dir: Path) -> Path:
    return data_dir / "snapshots"


def stage_path(data_dir: Path, label: str, position: int) -> Path:
    return directory(data_dir) / f"{label}-{position}.pkl"


def channel_path(data_dir: Path, label: str, position: int) -> Path:
    """Where the origin leaves its channel state for its writer (stageproc.py PendingWrite)."""
    return directory(data_dir) / f"{label}-{position}.channel"


def write_stage(data_dir: Path, label: str, position: int, runner,
                channel: Callable[[], list[bytes]] | None = None) -> None:
    """Write one stage instance's state (stage, output sequences, duplicate filter) atomically. At
    the origin, `channel()` then gives the channel state recorded after it (waiting for the
    marker's return meanwhile, while the state is being pickled), pickled after it in the same
    file; an exception from it leaves no file."""
    path = stage_path(data_dir, label, position)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"stage": runner.stage.snapshot_state(), "next": dict(runner.sequencer.next),
             "last_seen": dict(runner.last_seen)}
    tmp = path.with_suffix(".tmp")
    try:
        with open(tmp, "wb") as f:
            pickle.dump(state, f, protocol=pickle.HIGHEST_PROTOCOL)
            if channel is not None:
                pickle.dump(channel(), f, protocol=pickle.HIGHEST_PROTOCOL)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(path)


def restore(runner, state: dict) -> None:
    """Carry a runner on from one stage instance's file: its state, output sequences, duplicate
    filter, then (the origin's) the channel state recorded after it, applied as it came live."""
    runner.stage.restore_state(state["stage"])
    runner.sequencer.next = state["next"]
    runner.last_seen = state["last_seen"]
    runner.take_channel(state.get("channel", ()))


def manifest_position(data_dir: Path) -> int:
    """The journal position of the current snapshot (0 when there is none)."""
    try:
        manifest = json.loads((directory(data_dir) / "manifest.json").read_text())
        return int(manifest["position"]) if manifest.get("format") == FORMAT else 0
    except (FileNotFoundError, KeyError, ValueError, TypeError):
        return 0


def write_manifest(data_dir: Path, position: int, labels: list[str], layout: str) -> None:
    """Declare the stage files at `position` one consistent snapshot, then delete older files."""
    folder = directory(data_dir)
    missing = [label for label in labels if not stage_path(data_dir, label, position).exists()]
    if missing:
        raise FileNotFoundError(f"snapshot at {position} lacks the files of {', '.join(missing)}")
    path = folder / "manifest.json"
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as f:
        f.write(json.dumps({"format": FORMAT, "position": position, "labels": sorted(labels), "layout": layout}))
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
    for old in folder.iterdir():
        m = _FILE.match(old.name) or _CHANNEL.match(old.name)
        if m and int(m["position"]) < position:
            old.unlink(missing_ok=True)


def load(data_dir: Path, layout: str) -> tuple[int, dict[str, dict]] | None:
    """(journal position, state per instance label) of the last consistent snapshot, or None.
    Raises SnapshotMismatch when it was taken under another `layout`. A damaged one (a file of it
    missing, cut short or unreadable) is said aloud: while the whole journal is still on disk the
    node replays it instead; once its first segments were rotated away (journal.rotate) there is
    nothing to start from, and SnapshotDamaged says so."""
    try:
        manifest = json.loads((directory(data_dir) / "manifest.json").read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        return _damaged(data_dir, "?", f"its manifest.json: {exc}")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        return None  # (an older format's: the journal is replayed whole)
    position = manifest.get("position", "?")
    if manifest.get("layout", layout) != layout:
        raise SnapshotMismatch(
            f"the snapshot at journal position {position} in {directory(data_dir)} was taken with "
            f"{manifest['layout']}, and the configuration now gives {layout}: start with the old "
            "bus.partitions and runtime.instances; or move the snapshots and history.sqlite away (the "
            "history's rows are keyed by those sequences too) to replay the whole journal, which must "
            "then still start at position 1")
    states = {}
    try:
        for label in manifest["labels"]:
            path = stage_path(data_dir, label, position)
            try:
                with open(path, "rb") as f:
                    state = pickle.load(f)
                    if not (isinstance(state, dict) and {"stage", "next", "last_seen"} <= state.keys()):
                        raise ValueError("not a stage's state")
                    if f.peek(1):  # the origin's channel state (write_stage)
                        state["channel"] = pickle.load(f)
                states[label] = state
            except (OSError, EOFError, pickle.UnpicklingError, ValueError, AttributeError, ImportError,
                    IndexError, TypeError, KeyError, MemoryError) as exc:
                return _damaged(data_dir, position, f"{path.name}: {type(exc).__name__}: {exc}")
    except (KeyError, TypeError) as exc:
        return _damaged(data_dir, position, f"its manifest.json names no stages ({exc})")
    return position, states


class SnapshotDamaged(SnapshotMismatch):
    """The snapshot is damaged and the journal no longer holds what it would replace."""


def _damaged(data_dir: Path, position, why: str) -> None:
    from ..journal import frames

    first = frames.first_on_disk(data_dir / "journal")
    if first == 1:
        log.error("⚠️  the snapshot at journal position %s in %s is damaged (%s): replaying the whole journal "
                  "instead", position, directory(data_dir), why)
        return None
    if first == 0:  # (replaying nothing would roll the history back to nothing)
        raise SnapshotDamaged(
            f"the snapshot at journal position {position} in {directory(data_dir)} is damaged ({why}), and there is "
            f"no journal in {data_dir / 'journal'} to replay instead: restore the snapshots directory (or the "
            "journal) from a copy")
    raise SnapshotDamaged(
        f"the snapshot at journal position {position} in {directory(data_dir)} is damaged ({why}), and the "
        f"journal's commands before position {first} were rotated away after it (journal.rotate): restore the "
        "snapshots directory from a copy")


def read_set(data_dir: Path) -> tuple[dict, dict[str, bytes]] | None:
    """The current snapshot as it lies on disk: (its manifest, file name -> bytes of each stage's
    file), or None when there is none (or it was replaced while being read: its files are deleted
    once a newer manifest is written)."""
    folder = directory(data_dir)
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
        if manifest.get("format") != FORMAT:
            return None
        position = int(manifest["position"])
        files = {}
        for label in manifest["labels"]:
            path = stage_path(data_dir, label, position)
            files[path.name] = path.read_bytes()
        return manifest, files
    except (FileNotFoundError, KeyError, ValueError, TypeError):
        return None


def install(data_dir: Path, manifest: dict, files: dict[str, bytes]) -> None:
    """Make (manifest, files), as read_set gave them on another machine, the current snapshot here:
    each file written and synced, then the manifest (which is what makes them count), then older
    files deleted."""
    folder = directory(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    position = int(manifest["position"])
    for name, data in files.items():
        m = _FILE.match(name)
        if m is None or int(m["position"]) != position or "/" in name:
            raise ValueError(f"{name!r} is not a stage file of the snapshot at {position}")
        path = folder / name
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
    write_manifest(data_dir, position, list(manifest["labels"]), manifest.get("layout", ""))
