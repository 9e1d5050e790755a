"""run.py's commands: start the node (or one stage), show live stage metrics."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..journal import Journal, JournalError, JournalLocked
from ..config import ConfigError, check_ports, load_settings
from ..topology import sinks

log = logging.getLogger("spot_seda.cli")

if TYPE_CHECKING:
    from .recovery import StartReport

EPILOG = """\
examples:
  python3 run.py                                  # the embedded node on configs/default.toml
  python3 run.py --http-port 9000 --data-dir /tmp/node
  python3 run.py --topology relay --stage tally     # one stage of a topology alone
  python3 run.py status --once
  python3 run.py replay commands.jsonl --out changes.jsonl
  python3 run.py replay data/journal --out changes.jsonl
  python3 run.py replay commands.jsonl --out changes.jsonl --transport shm   # the node's own processes
"""


def _common(defaults) -> argparse.ArgumentParser:
    """The options every command takes, before or after its name. The commands' copies default to
    SUPPRESS, so an option given before the command is not reset by the command's parser."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="FILE", default=defaults, help="TOML settings (default: configs/default.toml)")
    common.add_argument("--topology", metavar="NAME", default=defaults, help="override node.topology (e.g. relay)")
    common.add_argument("--data-dir", metavar="DIR", default=defaults, help="override node.data_dir")
    common.add_argument("--host", metavar="ADDR", default=defaults, help="override node.host")
    common.add_argument("--http-port", type=int, metavar="N", default=defaults, help="override node.http_port")
    common.add_argument("--ws-port", type=int, metavar="N", default=defaults, help="override node.ws_port")
    return common


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run.py", description="spot_seda: a spot exchange node built as a core-pinned SEDA pipeline. "
        "With no command, start the node: every stage of the configured topology, one pinned process each.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter, parents=[_common(None)],
    )
    parser.add_argument("--stage", metavar="NAME[,NAME...]",
                        help="run only these stages of the topology (over Kafka: the rest run elsewhere)")
    parser.add_argument("--instance", metavar="N[,N...]",
                        help="with --stage: run only these instances (runtime.instances) of its stages")
    parser.add_argument("--take-over", action="store_true",
                        help="with --stage over Kafka, no Acquiring here: run any other instance of these stages "
                             "whose kept state stopped being written (runtime.take_over_after_s)")
    commands = parser.add_subparsers(dest="command", metavar="{status,replay,repair-journal}")  # none: the node
    status_parser = commands.add_parser(
        "status", parents=[_common(argparse.SUPPRESS)],
        help="live table of every stage's counters (reads the running node's shared table)")
    status_parser.add_argument("--once", action="store_true",
                               help="print one sample (rates over --interval) and exit")
    status_parser.add_argument("--interval", type=float, default=1.0, help="seconds between samples")
    replay_parser = commands.add_parser(
        "replay", parents=[_common(argparse.SUPPRESS)],
        help="run a journal directory or a JSON-lines command file through the stages offline and write "
             "every resulting ChangeLogEntry as JSON lines")
    replay_parser.add_argument("file", help="a journal directory (data/journal) or a command file")
    replay_parser.add_argument("--out", metavar="FILE", required=True, help="where the change log goes (JSON lines)")
    replay_parser.add_argument("--transport", choices=["inproc", "shm"], default="inproc",
                               help="every stage in this process (inproc, default) or one process per stage over "
                                    "shared-memory queues, as the node runs (shm); both write the same bytes")
    repair_parser = commands.add_parser(
        "repair-journal", parents=[_common(argparse.SUPPRESS)],
        help="a stopped node's journal damaged in the middle (the node refuses to start, exit 3): say where, "
             "and with --yes cut it there, dropping the acknowledged commands after the damage (or, where the "
             "last snapshot holds the damaged commands, start the journal after the snapshot, dropping none)")
    repair_parser.add_argument("--yes", action="store_true", help="cut it (without: only say what would go)")
    return parser


def load(args: argparse.Namespace):
    """Settings from the file, with command-line overrides applied."""
    settings = load_settings(args.config)
    node = settings.node
    for attr, value in (("topology", args.topology), ("data_dir", args.data_dir), ("host", args.host),
                        ("http_port", args.http_port), ("ws_port", args.ws_port)):
        if value is not None:
            setattr(node, attr, value)
    check_ports(node)
    if not node.admin_token:
        node.admin_token = os.environ.get("SPOT_SEDA_ADMIN_TOKEN", "")
    return settings


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load(args)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.runtime.log_level, stream=sys.stderr,
        format="%(asctime)s %(levelname)-7s %(processName)-12s %(message)s",
    )
    if args.command == "status":
        return status(Path(settings.node.data_dir), args.once, args.interval, settings)
    if args.command == "replay":
        return replay(settings, args.file, args.out, args.transport)
    if args.command == "repair-journal":
        return repair_journal(Path(settings.node.data_dir), args.yes)
    from .supervisor import DataDirInUse, Supervisor

    if args.instance and not args.stage:
        print("error: --instance picks instances of the stages --stage names: give --stage too", file=sys.stderr)
        return 2
    if args.take_over and not (args.stage and settings.bus.transport == "kafka"):
        print("error: --take-over is for --stage over Kafka (bus.transport = \"kafka\"), where the stages' other "
              "instances run elsewhere", file=sys.stderr)
        return 2
    if args.take_over:
        from ..topology import ENTRY, stage_specs

        try:
            entry = {spec.name for spec in stage_specs(settings.node.topology) if spec.role == ENTRY}
        except ValueError:  # (an unknown topology: the supervisor says so below)
            entry = set()
        if entry & set(args.stage.split(",")):
            print(f"error: --take-over is for stages run on a machine without {', '.join(sorted(entry))} (it "
                  "recovers from its own journal)", file=sys.stderr)
            return 2
        interval = settings.journal.snapshot_interval_s
        if interval and settings.runtime.take_over_after_s < 2 * interval:
            print(f"error: runtime.take_over_after_s ({settings.runtime.take_over_after_s:g} s) is under twice "
                  f"journal.snapshot_interval_s ({interval:g} s), how often an instance keeps its state: live "
                  "instances would be taken over between two writes", file=sys.stderr)
            return 2
    if args.stage and settings.bus.transport != "kafka":
        log.warning("--stage over bus.transport %r: the stages not named here do not run, so those that read "
                    "their output get nothing", settings.bus.transport)
    try:
        indexes = {int(i) for i in args.instance.split(",")} if args.instance else None
        supervisor = Supervisor(settings, only=args.stage, indexes=indexes, take_over=args.take_over)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from ..bus.base import BusError
    from .replay import InvariantBroken
    from .recovery import HistoryDamaged
    from .symbolrecord import SymbolsChanged
    from .snapshots import SnapshotMismatch

    kafka_errors: tuple[type[BaseException], ...] = ()
    if settings.bus.transport == "kafka":
        from confluent_kafka import KafkaException

        kafka_errors = (KafkaException,)
    try:
        return supervisor.run_forever()
    except BusError as exc:  # (a Kafka topic that cannot be made or is not as configured)
        print(f"cannot start: {exc}", file=sys.stderr)
        return 2
    except kafka_errors as exc:
        print(f"cannot start: the Kafka cluster at {settings.kafka.bootstrap_servers} ([kafka] bootstrap_servers) "
              f"did not answer as needed: {exc}", file=sys.stderr)
        return 2
    except (DataDirInUse, SymbolsChanged) as exc:
        print(f"cannot start: {exc}", file=sys.stderr)
        return 2
    except JournalLocked as exc:  # (a process of another node's, not a damaged journal)
        print(f"cannot start: the journal in {supervisor.data_dir / 'journal'} is open by another process ({exc}): "
              "stop it first", file=sys.stderr)
        return 2
    except JournalError as exc:
        # a damaged journal is never replayed partly: the operator decides (README, "Durability")
        print(f"cannot start: the journal in {supervisor.data_dir / 'journal'} is damaged: {exc}", file=sys.stderr)
        return 3
    except (SnapshotMismatch, HistoryDamaged) as exc:  # (SnapshotDamaged too)
        print(f"cannot start: {exc}", file=sys.stderr)
        return 3
    except InvariantBroken as exc:
        # the journal and this code disagree (a journal from another version, or edited by hand)
        print(f"cannot start: replaying the journal in {supervisor.data_dir / 'journal'} failed: {exc}",
              file=sys.stderr)
        return 3


def status(data_dir: Path, once: bool, interval: float, settings=None) -> int:
    """The local node's stage table; over Kafka also every stage group's lag as the cluster has it
    (which shows the stages running on other machines too, and works with no local node)."""
    from .metrics import open_from_manifest, render_table
    from .recovery import StartReport

    kafka = settings is not None and settings.bus.transport == "kafka"
    try:
        table = open_from_manifest(data_dir)
    except (FileNotFoundError, ValueError) as exc:
        if not kafka:
            why = f"no {exc.filename}" if getattr(exc, "filename", None) else str(exc)
            print(f"no node running on data dir {data_dir} ({why})", file=sys.stderr)
            return 1
        table = None
    previous = None
    started = StartReport.read(data_dir)
    gone = table is not None and not _running(data_dir)
    if gone:  # killed (kill -9, a crash): its table stays until the next start sweeps it away
        print(f"the node on data dir {data_dir} is not running: its supervisor is gone without stopping "
              "(killed?); its stages' last figures:", file=sys.stderr)
        once = True
    stall_s = max(2.0, min(5.0, settings.runtime.stall_timeout_s)) if settings is not None else 5.0
    try:
        if once and not gone and table is not None:  # two samples, so that the rates say something
            previous = table.snapshot()
            time.sleep(interval)
        while True:
            rows = table.snapshot() if table is not None else []
            if not once and sys.stdout.isatty():
                print("\x1b[2J\x1b[H", end="")
            if table is not None:
                print(render_table(rows, previous, interval, stall_s), flush=True)
                phase = "" if gone else _phase(data_dir)
                if phase == "starting":
                    print("the node is starting (its stages start once the journal is replayed)", flush=True)
                elif phase == "restarting":
                    print("the node is restarting its pipeline (a stage died: every stage comes back after its "
                          "back-off)", flush=True)
            if started is not None:
                print(render_start(started), flush=True)
            if kafka:
                print(kafka_lag_table(settings), flush=True)
            if once:
                return 1 if gone else 0
            previous = rows
            time.sleep(interval)
            if table is not None and not table.path.exists():
                print("node stopped", file=sys.stderr)
                return 0
    except KeyboardInterrupt:
        return 0


def repair_journal(data_dir: Path, yes: bool) -> int:
    """run.py repair-journal: the operator's decision the node will not take (README, "Durability"):
    cut a journal damaged in the middle of the segment being written there, dropping the
    acknowledged commands after the damage. Where the snapshot already holds the damaged commands
    (and so commands after the damage: a cut would hand their positions to new commands), the
    journal starts after the snapshot instead, and nothing is lost (_start_after_snapshot); damage
    only in older segments the snapshot wholly holds removes them (_drop_segments_before_snapshot).
    Refused where none of these gives a state to start from: damage in an older segment holding
    commands after the snapshot, or on both sides of the snapshot's position."""
    from ..journal import frames
    from . import snapshots
    from .recovery import journal_dir

    directory = journal_dir(data_dir)
    if not directory.is_dir():
        print(f"repair-journal: no journal in {directory}", file=sys.stderr)
        return 2
    try:
        with Journal.exclusive(directory):
            damage = frames.middle_damage(directory)
            if damage is None:
                try:
                    frames.verify(directory)
                except JournalError as exc:
                    return _drop_segments_before_snapshot(data_dir, directory, exc, yes)
                print(f"repair-journal: the journal in {directory} has no damage in the middle: nothing to do (a "
                      "torn last record is cut at the node's start)", file=sys.stderr)
                return 0
            kept, dropped, where = damage
            snapshot = snapshots.manifest_position(data_dir)
            if snapshot > kept:  # the damage is in commands the snapshot holds: the journal can start after it
                return _start_after_snapshot(data_dir, directory, snapshot, where, yes)
            if not yes:
                print(f"repair-journal: {where}: cutting the journal after position {kept} would drop the {dropped} "
                      "acknowledged commands after the damage; run it again with --yes to do so (keep a copy of "
                      f"{directory} first: what is cut is gone)", file=sys.stderr)
                return 1
        Journal(directory, repair=True).close()  # (a node started meanwhile: JournalLocked)
    except JournalLocked:
        print(f"repair-journal: the journal in {directory} is open by a running node: stop the node first",
              file=sys.stderr)
        return 2
    print(f"repair-journal: cut the journal in {directory} after position {kept}: the {dropped} acknowledged "
          "commands after the damage are gone; the node's next start replays up to it and rolls the history "
          "back to match", file=sys.stderr)
    return 0


def _snapshot_usable(data_dir: Path) -> bool:
    """Whether the data dir's snapshot loads (under the layout it names)."""
    from . import snapshots

    try:
        layout = json.loads((snapshots.directory(data_dir) / "manifest.json").read_text()).get("layout", "")
        return snapshots.load(data_dir, layout) is not None
    except (OSError, ValueError, AttributeError, snapshots.SnapshotMismatch):
        return False


def _drop_segments_before_snapshot(data_dir: Path, directory: Path, damage: JournalError, yes: bool) -> int:
    """repair-journal where the damage lies outside the segment being written: when it is only in
    older segments whose every command the snapshot holds (journal.rotate = false keeps them, or a
    repair that start_after began and a crash cut short), those segments go, as rotation would
    remove them; nothing after the snapshot is lost. Otherwise refused. Under the journal's lock."""
    from ..journal import frames
    from . import snapshots

    snapshot = snapshots.manifest_position(data_dir)
    segments = frames.segment_files(directory)
    older = [path for (_, path), (after, _) in zip(segments, segments[1:]) if after <= snapshot + 1]
    try:
        for _ in frames.read(directory, snapshot + 1):  # (everything the start would replay: it must read)
            pass
        readable = bool(older) and _snapshot_usable(data_dir)
    except JournalError:
        readable = False
    if not readable:
        print(f"repair-journal: {damage}: damage outside the segment being written, which this command does not "
              "cut; restore the journal from a copy", file=sys.stderr)
        return 1
    if not yes:
        print(f"repair-journal: {damage}: in segments holding only commands the snapshot in "
              f"{snapshots.directory(data_dir)} already holds (up to position {snapshot}); run it again with --yes to "
              f"remove those {len(older)} segments, as journal.rotate would (keep a copy of {directory} first)",
              file=sys.stderr)
        return 1
    for path in older:
        path.unlink()
    frames.fsync_dir(directory)
    print(f"repair-journal: removed {len(older)} segments of {directory} holding only commands the snapshot holds; "
          f"the journal now starts at position {frames.first_on_disk(directory)}", file=sys.stderr)
    return 0


def _start_after_snapshot(data_dir: Path, directory: Path, snapshot: int, where: str, yes: bool) -> int:
    """repair-journal where the damage lies at or before the snapshot's position: the commands up to
    it leave the journal (their effects are in the snapshot and the history), and those after it
    stay, so nothing acknowledged is lost. Under the journal's lock (repair_journal holds it)."""
    from ..journal import frames
    from . import snapshots

    folder = snapshots.directory(data_dir)
    if not _snapshot_usable(data_dir):
        print(f"repair-journal: {where}; the snapshot in {folder} that holds the commands up to position {snapshot} "
              "cannot be read either: restore the journal or the snapshots from a copy", file=sys.stderr)
        return 1
    if not yes:
        print(f"repair-journal: {where}, within the commands up to position {snapshot} that the snapshot in {folder} "
              "already holds: the journal can start after it (the commands up to it leave the journal; their effects "
              "stay in the snapshot and the history, and no command after it is lost); run it again with --yes to "
              f"do so (keep a copy of {directory} first)", file=sys.stderr)
        return 1
    try:
        kept, dropped = frames.start_after(directory, snapshot)
    except JournalError as exc:
        print(f"repair-journal: {where}: {exc}; restore the journal from a copy", file=sys.stderr)
        return 1
    print(f"repair-journal: the journal in {directory} now starts at position {snapshot + 1}, after the snapshot: "
          f"{dropped} commands the snapshot holds left it, the damage with them; the {kept} after it are kept",
          file=sys.stderr)
    return 0


def _phase(data_dir: Path) -> str:
    """What the running node's supervisor says it is doing (metrics.MetricsTable.write_manifest)."""
    try:
        return str(json.loads((data_dir / "run" / "node.json").read_text()).get("phase", ""))
    except (OSError, ValueError, AttributeError):
        return ""


def _running(data_dir: Path) -> bool:
    """Whether the supervisor that wrote the data dir's manifest (runtime/metrics.py) still runs."""
    try:
        pid = int(json.loads((data_dir / "run" / "node.json").read_text())["pid"])
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, ValueError, KeyError, TypeError):
        return True  # (not ours to signal, or unreadable: say nothing rather than something wrong)
    return True


def render_start(report: StartReport) -> str:
    """One line on what the node's last start recovered (runtime/recovery.py, StartReport)."""
    snapshot = f"snapshot at journal position {report.snapshot_position}" if report.snapshot_position else "no snapshot"
    parts = [f"last start: {snapshot}, {report.replayed_commands:,} journaled commands replayed"]
    if report.journal_tail_cut:
        parts.append(report.journal_tail_cut)
    if report.history_lacking:
        parts.append("the history lacks what the snapshot reflects (lost or replaced: see the log)")
    if report.history_rolled_back:
        parts.append("history rolled back to the journal: " + ", ".join(
            f"{n} {what}" for what, n in report.history_rolled_back.items()))
    return "; ".join(parts)


def kafka_lag_table(settings) -> str:
    """Every consumer group's committed offsets, end offsets and lag, from the Kafka cluster."""
    from ..bus.kafkastate import group_lag
    from ..topology import wiring_for

    try:
        report = group_lag(wiring_for(settings.node.topology, settings), settings)
    except Exception as exc:  # KafkaException, BusError, a timeout: say so, keep the local table
        return f"Kafka {settings.kafka.bootstrap_servers}: consumer group lag unavailable ({exc})"
    header = f"{'kafka group':<24}{'committed':>14}{'end':>14}{'lag':>10}"
    lines = [f"Kafka {settings.kafka.bootstrap_servers} (groups {settings.kafka.topic_prefix}<stage>)", header,
             "-" * len(header)]
    for group, row in report.items():
        lag = "-" if row["lag"] < 0 else str(row["lag"])
        lines.append(f"{group:<24}{row['committed']:>14}{row['end']:>14}{lag:>10}")
    return "\n".join(lines)


def replay(settings, source: str, out: str, transport: str = "inproc") -> int:
    """run.py replay: commands through the stages, change log to a file (argparse checked both)."""
    import tempfile

    from .inproc import InprocPipeline
    from .recovery import journal_dir, read_journal
    from .replay import InvariantBroken, apply_commands, merge_streams, read_command_file, record_to_files, with_progress

    path = Path(source)
    if not path.exists():
        print(f"replay: no such file or directory: {path}", file=sys.stderr)
        return 2
    if not Path(out).resolve().parent.is_dir():  # (said now, not after the whole replay)
        print(f"replay: --out {out}: no such directory: {Path(out).resolve().parent}", file=sys.stderr)
        return 2
    journaled = path.is_dir()
    data_dir = path.parent if path.name == "journal" else path  # the journal directory, or the data dir holding it
    if journaled:
        first = Journal.first_on_disk(journal_dir(data_dir))
        if first > 1:
            print(f"replay: the journal starts at position {first}: the commands before it were rotated away after "
                  "a snapshot (their effects are in the SQLite history), and a replay starts from an empty exchange. "
                  "Set [journal] rotate = false to keep every command.", file=sys.stderr)
            return 2
        try:  # (read_journal opens it as the node does, cutting a torn last record: not under a node)
            if journal_dir(data_dir).is_dir():
                with Journal.exclusive(journal_dir(data_dir)):
                    pass
        except JournalLocked:
            print(f"replay: the journal in {journal_dir(data_dir)} is open by a running node: stop the node first",
                  file=sys.stderr)
            return 2
    numbers: list[int] = []  # (a command file's: each command's line)
    try:
        if journaled:
            commands = read_journal(data_dir)
        else:
            commands = read_command_file(path, settings.symbol_rules(), numbers)
        if transport == "shm":
            commands = list(commands)  # a bad line is reported before any process starts
        commands = with_progress(commands, lambda line: print(f"replay: {line}", file=sys.stderr, flush=True))
    except ValueError as exc:
        print(f"replay: {exc}", file=sys.stderr)
        return 2
    except JournalError as exc:  # (read ahead for shm)
        print(f"replay: the journal in {journal_dir(data_dir)} is damaged: {exc}", file=sys.stderr)
        return 3
    settings.node.topology = "node"
    started = time.perf_counter()
    refusals: list[tuple[int, int, str]] = []
    try:
        if transport == "shm":
            from .shmreplay import ReplayFailed, replay_shm

            try:
                applied, refused, count = replay_shm(settings, commands, journaled, Path(out), refusals)
            except ReplayFailed as exc:
                print(f"replay: {exc}", file=sys.stderr)
                return 1
        else:
            settings.bus.transport = "inproc"
            with tempfile.TemporaryDirectory(prefix="spot_seda_replay_") as scratch:
                # Persist and Push publish nothing: the history would only go to a scratch directory
                pipeline = InprocPipeline(settings, Path(scratch), direct=True, exclude=sinks(settings.node.topology))
                streams = record_to_files(pipeline, Path(scratch) / "record")
                applied, refused = apply_commands(pipeline, commands, journaled=journaled, final_tick=not journaled,
                                                  refusals=refusals)
                streams.close()
                count = merge_streams(Path(scratch) / "record", Path(out))
    except ValueError as exc:  # a bad line of a command file, read as the replay goes
        print(f"replay: {exc}", file=sys.stderr)
        return 2
    except InvariantBroken as exc:
        print(f"replay: {exc}", file=sys.stderr)
        return 1
    except JournalError as exc:  # (damage, found as the replay opens and reads it)
        print(f"replay: the journal in {journal_dir(data_dir)} is damaged: {exc}", file=sys.stderr)
        return 3
    elapsed = time.perf_counter() - started
    for index, code, text in refusals:  # (as the API would have answered them; they changed nothing)
        print(f"replay: {path}:{numbers[index]}: refused: {code} {text}", file=sys.stderr)
    if refused > len(refusals):
        print(f"replay: ... and {refused - len(refusals):,} more refused", file=sys.stderr)
    print(f"replayed {applied:,} command{'s' * (applied != 1)} ({refused:,} refused) over {transport} in {elapsed:.2f}s: "
          f"{count} change log entries -> {out}", file=sys.stderr)
    return 0
