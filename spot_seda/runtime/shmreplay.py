"""Replay over the shm transport: the node's own stage processes and queues, with Acquiring driven
from a list of commands instead of HTTP, and every stage recording what it publishes.

`run.py replay FILE --transport shm` uses it to show that the multi-process pipeline produces
exactly the change log the one-process replay does (DESIGN.md invariant 6). Acquiring's decisions
for a command file depend on how much of Match's and Settlement's feedback it has applied (free
funds, open orders), so before each command it sends a "sync" marker and waits until it comes back
through Match and Settlement: the same "quiescent first" rule the one-process replay applies by
pumping. Journaled commands carry their ids and budgets and need no wait.

Each stage process writes what it publishes to its own stream files in a scratch folder
(replay.StreamFiles); the parent puts them together in the deterministic order (merge_streams).
"""

from __future__ import annotations

import json
import multiprocessing.connection
import tempfile
from pathlib import Path

from ..bus.base import Producer
from ..model.commands import Command
from ..topology import ENTRY
from .replay import InvariantBroken, RecordingProducer, StreamFiles, execute_commands, merge_streams
from .supervisor import Supervisor

#: a pipeline round trip may take this long before the replay gives up
SYNC_TIMEOUT_S = 60.0


class ReplayFailed(RuntimeError):
    """A stage process of the replay died, or Acquiring refused a journaled command."""


class FileRecorder(RecordingProducer):
    """Publishes through `inner` and writes every non-marker batch to this producer's stream
    files (replay.StreamFiles: each process writes only its own streams)."""

    def __init__(self, inner: Producer, name: str, folder: Path) -> None:
        super().__init__(inner, name, StreamFiles(folder), inner.partitions)

    def flush(self, timeout: float | None = None) -> None:
        super().flush(timeout)
        self.sink.flush()


class ShmReplay:
    """What the supervisor runs in place of the HTTP server (`drive`) and around each producer."""

    def __init__(self, commands: list[Command], journaled: bool, folder: Path) -> None:
        self.commands = commands
        self.journaled = journaled
        self.folder = folder

    def recorder(self, inner: Producer, label: str) -> Producer:
        return FileRecorder(inner, label, self.folder)

    def drive(self, _stage, runner, stopping) -> None:
        """Acquiring's process: execute every command, publish its effects, report the counts."""
        runner.start()
        completed: set[int] = set()
        runner.on_marker = lambda _kind, position: completed.add(position)
        sent = 0

        def sync() -> None:  # until Match's and Settlement's feedback of every command so far is applied
            nonlocal sent
            sent += 1
            runner.emit_marker("sync", sent)
            waited = 0.0
            while sent not in completed:
                if stopping() or waited > SYNC_TIMEOUT_S:
                    raise ReplayFailed(f"the pipeline did not return marker {sent} within {waited:.0f}s")
                if not runner.step(0.05):
                    waited += 0.05

        summary: dict = {}
        refusals: list[tuple[int, int, str]] = []
        try:
            applied, refused = execute_commands(
                runner.stage, runner.publish, self.commands, self.journaled, settle=sync,
                tick=lambda: runner.step(0), tick_every=64,  # the tick keeps the feedback queue drained
                final_tick=not self.journaled, refusals=refusals)
            summary = {"applied": applied, "refused": refused, "refusals": refusals}
        except (InvariantBroken, ReplayFailed) as exc:
            summary = {"error": str(exc)}
        runner.producer.flush()
        (self.folder / "summary.json").write_text(json.dumps(summary))


def replay_shm(settings, commands: list[Command], journaled: bool, out: Path,
               refusals: list[tuple[int, int, str]] | None = None) -> tuple[int, int, int]:
    """Run commands through the node's stage processes over shm; returns (applied, refused, entries
    written to `out`); `refusals` gets the first refused commands (replay.refusal_of). Raises
    ReplayFailed."""
    settings.bus.transport = "shm"
    settings.node.topology = "node"
    with tempfile.TemporaryDirectory(prefix="spot_seda_replay_") as scratch:
        folder = Path(scratch) / "record"
        folder.mkdir()
        supervisor = Supervisor(settings, data_dir=Path(scratch) / "data", replay=ShmReplay(commands, journaled, folder))
        supervisor.start()
        try:
            _wait_for_driver(supervisor)
        finally:
            supervisor.stop()
        summary = json.loads((folder / "summary.json").read_text())
        if "error" in summary:
            raise ReplayFailed(summary["error"])
        count = merge_streams(folder, out)
    if refusals is not None:
        refusals.extend(tuple(r) for r in summary["refusals"])
    return summary["applied"], summary["refused"], count


def _wait_for_driver(supervisor) -> None:
    """Until Acquiring's driver has finished; any other stage process exiting first is a failure."""
    while True:
        live = {x.process.sentinel: x for x in supervisor.instances if x.process is not None}
        for sentinel in multiprocessing.connection.wait(list(live), 1.0):
            inst = live[sentinel]
            inst.process.join(5)  # the sentinel can be ready a moment before the exit status is
            code = inst.process.exitcode
            if inst.spec.role == ENTRY and code == 0:
                return
            raise ReplayFailed(f"{inst.label} exited with code {code} during the replay")
