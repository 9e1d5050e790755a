"""The body of a stage process the supervisor forks: pin it, announce it, run its stage until asked
to stop (STOP_SIGNAL), and write its snapshots from a forked child when a snapshot marker has
passed it (the supervisor's side of all this is runtime/supervisor.py)."""

from __future__ import annotations

import gc
import logging
import os
import pickle
import signal
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ..bus.base import FENCED_EXIT, BusError, Fenced
from ..stages.base import Runner, StageContext, sequence_layout
from ..topology import ENTRY, consumer_slot, input_channels, instances_of
from .metrics import watch_gc
from .sched import background, stage_process_settings

if TYPE_CHECKING:
    from .supervisor import Instance, Supervisor

log = logging.getLogger("spot_seda.supervisor")

#: how the supervisor asks a stage process to drain and stop (SIGTERM and SIGINT are the supervisor's)
STOP_SIGNAL = signal.SIGUSR1
#: the exit status of a stage process that could not listen on its port (taken, not permitted, an
#: unknown host): at the node's start the supervisor stops the node rather than retry it for ever
LISTEN_EXIT = 78  # (sysexits' EX_CONFIG)
#: a snapshot writer whose marker never came back (SnapshotWriter.begin) exits so, writing nothing
ABANDONED_EXIT = 3


def close_inherited_fds(keep: int = -1) -> None:
    """In a child forked to write a snapshot: close every file descriptor but stdin, stdout and
    stderr (and `keep`, its own pipe from the stage). It needs none of its parent's, and holding
    them would outlive the parent: its listening socket (a restarted stage could not listen), and
    the pipe whose end tells the supervisor that the stage process died (a stage killed
    mid-snapshot went unnoticed until the child had written). Locks and shared memory stay the
    parent's: an flock lives while any copy of its file is open, and a mapping needs no descriptor."""
    top = os.sysconf("SC_OPEN_MAX")
    if keep < 3:
        os.closerange(3, top)
    else:
        os.closerange(3, keep)
        os.closerange(keep + 1, top)


class ReplayGate:
    """Holds a stage that was fed the recovery's replay (recovery.py: Push, on a core of its own)
    back from opening its port until it has applied all of it: a client that connects then sees
    only what happens from then on, as when the replay ran in the supervisor. The supervisor
    creates it before forking the stage, and once the replay is over sends, down a pipe, the last
    sequence the replay published on each of the stage's input channels (`release`)."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        self._data = b""
        self.ends: dict[tuple[str, int, str], int] | None = None

    # the supervisor's side
    def release(self, ends: dict[tuple[str, int, str], int]) -> None:
        """The replay is over and published up to these sequences; the pipe is then closed here."""
        blob = pickle.dumps(ends)
        os.write(self._write, len(blob).to_bytes(4, "little") + blob)  # (small: one write, the pipe holds it)
        self.close()

    def close(self) -> None:
        for fd in (self._read, self._write):
            try:
                os.close(fd)
            except OSError:
                pass
        self._read = self._write = -1

    # the stage process's side
    def adopt(self) -> None:
        """In the forked stage: only the read end is its own (non-blocking)."""
        os.close(self._write)
        self._write = -1
        os.set_blocking(self._read, False)

    def passed(self, last_seen: dict[tuple[str, int, str], int]) -> bool:
        """Whether the replay is over and every sequence it published here has been applied
        (`last_seen`: the runner's duplicate filter)."""
        if self.ends is None:
            try:
                self._data += os.read(self._read, 65536)
            except BlockingIOError:
                return False
            size = int.from_bytes(self._data[:4], "little") if len(self._data) >= 4 else -1
            if size < 0 or len(self._data) < 4 + size:
                return False
            self.ends = pickle.loads(self._data[4:4 + size])
            os.close(self._read)
            self._read = -1
        return all(last_seen.get(channel, 0) >= seq for channel, seq in self.ends.items())


class CannotListen(OSError):
    """A server stage could not open its listening socket (api/acceptor.py)."""


def pin_to(core: int) -> None:
    """Pin the calling process; a core that vanished (cgroup change) is logged, not fatal."""
    if core < 0:
        return
    try:
        os.sched_setaffinity(0, {core})
    except OSError as exc:
        log.warning("cannot pin to core %d (%s); running unpinned", core, exc)


def die_with(parent_pid: int) -> None:
    """Have the kernel kill this process when its parent dies (Linux PR_SET_PDEATHSIG): a stage
    must not outlive a supervisor killed with -9, holding ports and queues the next start needs.
    Elsewhere it is a no-op (the stage then notices nothing; stop the process group instead)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(1, signal.SIGKILL, 0, 0, 0) != 0:  # 1 = PR_SET_PDEATHSIG
            return
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)


def stage_main(sup: "Supervisor", inst: "Instance") -> None:
    """Body of a stage process: pin, announce, run the stage until asked to stop."""
    die_with(sup.pid)
    stopping = False

    def request_stop(_signum, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(STOP_SIGNAL, request_stop)
    # Ctrl-C, SIGTERM or SIGHUP to the whole process group (systemd, killpg), reaches every stage: the
    # supervisor decides, and stops them in flow order so the last snapshot can pass through
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # (a closed terminal sends it to the whole group too)
    pin_to(inst.core)
    stage_process_settings(inst.spec.name, sup.settings.runtime, inst.spec.role == ENTRY)  # (before any thread)
    gc.set_threshold(*sup.settings.runtime.gc_thresholds)  # (config.py: allocations, not time)
    row = sup.table.row(inst.label)
    row["pid"] = os.getpid()
    row["core"] = inst.core
    row["started_ns"] = time.time_ns()
    row["restored_ns"] = 0
    row["gc_collections"] = row["gc_ns"] = row["gc_max_ns"] = 0  # (this incarnation's)
    watch_gc(row)
    ctx = StageContext(sup.settings, inst.spec.name, inst.index, instances_of(inst.spec.name, sup.settings), sup.data_dir,
                       alone=sup.from_log)
    stage = inst.cls(ctx)
    serve = inst.spec.load_serve()
    kept = KeptState(sup, inst, row) if sup.keeps_state(inst) else None
    saved = kept.load() if kept is not None else None
    slot = consumer_slot(inst.cls, inst.spec.name, inst.index)
    if saved is not None:
        consumer = sup.bus.consumer(*slot, start=saved["positions"])
    elif sup.bus.rereads_from_start and inst.cls.tracks_input and sup.replay is None:
        consumer = sup.bus.consumer(*slot, start=resume_after_store(sup, inst))
    else:
        consumer = sup.bus.consumer(*slot) if inst.cls.consumes else None
    producer = sup.bus.producer(ctx.producer_name)
    producer.pretouch(stage.produces)  # now, not at the first publish (a snapshot marker, order entry paused)
    runner = Runner(stage, consumer, producer, sup.wiring.topics, row)
    runner.channels = input_channels(sup.settings.node.topology, sup.settings, inst.spec.name, inst.index)
    runner.linger_s = sup.settings.runtime.linger_ms.get(inst.spec.name, 0.0) / 1000
    writer = None
    if sup.replay is not None:
        runner.producer = sup.replay.recorder(runner.producer, inst.label)
    if sup.snapshots:
        runner.on_marker = writer = SnapshotWriter(sup, inst, runner, row)
    if inst.cls.inherits_state and inst.label in sup.recovered:
        runner.adopt(sup.recovered[inst.label])
    gate = inst.gate
    if gate is not None:
        gate.adopt()
    if saved is not None:
        kept.restore(runner, saved)
    for (topic, partition), entries in sup.republish.get(inst.label, {}).items():  # before anything new
        runner.producer.publish_to(topic, partition, entries)
    if sup.republish.get(inst.label):
        runner.producer.flush()
    log.info("✅ %s started (%s, pid %d, core %s)", inst.cls.display_name(), inst.label, os.getpid(),
             inst.core if inst.core >= 0 else "any")
    if sup.replay is not None:  # Acquiring reads the commands; without network the others just run
        serve = sup.replay.drive if inst.spec.role == ENTRY else \
            serve if getattr(sup.replay, "network", False) else None
    profiled = os.environ.get("SPOT_SEDA_PROFILE", "") in (inst.spec.name, inst.label)
    if profiled:  # a developer's tool: cProfile of one stage, written at its clean stop
        import cProfile

        profiler = cProfile.Profile(time.thread_time)  # CPU time: six stages share the cores
        profiler.enable()
    traced = {inst.spec.name, inst.label} & set(os.environ.get("SPOT_SEDA_TRACEMALLOC", "").split(","))
    if traced:  # likewise: where the stage's memory is, as tracemalloc sees it at its clean stop
        import tracemalloc

        tracemalloc.start(int(os.environ.get("SPOT_SEDA_TRACEMALLOC_FRAMES", "1")))
    try:
        if serve is not None:  # stages with their own event loop (HTTP, WebSocket)
            # the adopted stage, when recovery rebuilt one; Push keeps its state from its own loop
            extra = {"kept": kept} if kept is not None else {}
            if gate is not None:  # fed the recovery's replay: its port opens once all of it is applied
                extra["gate"] = gate
            serve(runner.stage, runner, lambda: stopping, **extra)
        elif kept is not None:
            runner.run(lambda: kept.tick(runner) or stopping)
            kept.stop(runner)
        elif writer is not None:  # (its children reaped here, between steps: SnapshotWriter.polled)
            writer.polled = True
            runner.run(lambda: writer.poll() or stopping)
        else:
            runner.run(lambda: stopping)
    except Fenced as exc:  # another incarnation runs this instance now (kafka.transactions)
        log.critical("⛔ %s: %s; stopping without writing more", inst.label, exc)
        os._exit(FENCED_EXIT)
    except CannotListen as exc:
        log.critical("⛔ %s: %s", inst.label, exc)
        os._exit(LISTEN_EXIT)
    if profiled:
        profiler.disable()
        profiler.dump_stats(str(sup.data_dir / f"profile-{inst.label}.pstats"))
        log.info("profile of %s written to %s", inst.label, sup.data_dir / f"profile-{inst.label}.pstats")
    if traced:
        tracemalloc.take_snapshot().dump(str(sup.data_dir / f"tracemalloc-{inst.label}.snap"))
        tracemalloc.stop()
        log.info("memory of %s written to %s", inst.label, sup.data_dir / f"tracemalloc-{inst.label}.snap")
    if writer is not None:
        writer.wait(sup.settings.runtime.drain_timeout_s / 2)
    log.info("%s %s drained and stopped", inst.cls.display_name(), inst.label)


def resume_after_store(sup: "Supervisor", inst: "Instance") -> dict[tuple[str, int], int]:
    """Over Kafka, where a stage whose state is a store of its own (Persist: the history, which
    records the input positions past what it wrote with the rows) resumes reading: there, unless
    the bus starts later (a whole node's start: the replay of the journal wrote everything before),
    instead of everything since the pipeline started, or, with no Acquiring here, since the topics
    began. When the recovery found the history lacking what its snapshot reflects (a new machine:
    `Supervisor.history_floor`), there or else where the topics begin: the replay wrote nothing."""
    from ..history import History

    path = sup.data_dir / "history.sqlite"
    floor = sup.history_floor  # the history lacks what the replay did not write: read it from Kafka
    if not path.exists():
        return dict(floor or {})
    with History(path, readonly=True) as history:
        kept = history.input_positions(inst.label)
    if floor is not None:
        return {slot: max(kept.get(slot, offset), offset) for slot, offset in floor.items()}
    start = {slot: offset for slot, offset in kept.items() if offset > sup.bus.start_offsets.get(slot, offset)}
    if start:
        log.info("📚 %s resumes past what its history holds, at input offsets %s", inst.label,
                 ", ".join(f"{t}[{p}]:{o}" for (t, p), o in sorted(start.items())))
    return start


class SnapshotWriter:
    """What a stage process does when a snapshot marker has reached it on every input: fork a
    child that writes the state as it was at the marker (copy-on-write, as Redis's BGSAVE does)
    and carry on at once; the position is reported once the child has written and synced it.
    Pickling a deep book or a big ledger takes seconds, and the stage (Acquiring: order entry)
    would otherwise wait for it.

    The child leaves its stage's core and runs behind the live stages (`background`): pinned where
    its parent was and at its priority, it took 20-60 ms of that core's CPU from the stage (Acquiring:
    order entry) at every snapshot, the node's worst latency spike (BENCHMARKS.md, "Node over HTTP",
    thirty-fifth session)."""

    def __init__(self, sup: "Supervisor", inst: "Instance", runner: Runner, row) -> None:
        self.sup, self.inst, self.runner, self.row = sup, inst, runner, row
        self.lock = threading.Lock()
        self.reapers: list[threading.Thread] = []
        #: the stage's own loop calls `poll` (Runner.run's stages: Match, Settlement, KLine): its
        #: children are reaped there, not by a thread whose start held the stage 0.4-8 ms on a busy
        #: core, in the order path (BENCHMARKS.md, "Pipeline", thirty-ninth session)
        self.polled = False
        self.children: list[tuple[int, int, float]] = []  # (pid, position, when forked), when polled

    def __call__(self, kind: str, position: int) -> None:
        if kind != "snapshot":
            return
        if not self.inst.cls.inherits_state:  # nothing of its own to write (Persist: SQLite is synced)
            self._report(position)
            return
        pid, started = self._fork(position)
        if self.polled:
            self.children.append((pid, position, started))
        else:
            self._start_reaper(pid, position, started)

    def poll(self) -> None:
        """Reap the children that have finished (without waiting) and report their positions."""
        if not self.children:
            return
        waiting = []
        for pid, position, started in self.children:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                self._reaped(status, position, started)
            else:
                waiting.append((pid, position, started))
        self.children = waiting

    def begin(self, position: int) -> "PendingWrite":
        """At the origin of the marker (Acquiring), right before it sends the marker: fork the
        child now, at the journal position itself, and let it write once `finish` gives it the
        channel state (the input that was on its way meanwhile: Runner.record_channel). Order
        entry waits for the fork only, not for the marker's round trip through Match and
        Settlement."""
        from .snapshots import directory

        directory(self.sup.data_dir).mkdir(parents=True, exist_ok=True)  # (the first one: `finish` writes there)
        read_end, write_end = os.pipe()
        pid, started = self._fork(position, read_end)
        os.close(read_end)
        return PendingWrite(self.sup.data_dir, self.inst.label, position, write_end,
                            lambda: self._start_reaper(pid, position, started))

    def _fork(self, position: int, pipe: int = -1) -> tuple[int, float]:
        """Fork the child that writes this stage's file at `position`; returns (its pid, when).
        With `pipe` (begin's), the child asks for the channel state once the state is pickled
        (the marker travels meanwhile), and leaves without writing if the pipe closes without it."""
        started = time.perf_counter()
        pid = os.fork()
        if pid == 0:  # the child: write, then leave without running any of the parent's clean-up
            code = 1
            try:
                close_inherited_fds(keep=pipe)  # (begin's write end too: only the stage holds it)
                background(self.sup.allowed_cores)
                from .snapshots import channel_path, write_stage

                def channel() -> list[bytes]:
                    if os.read(pipe, 1) != b"1":  # the stage closed the pipe without it: abandoned
                        raise SnapshotAbandoned
                    path = channel_path(self.sup.data_dir, self.inst.label, position)
                    batches = pickle.loads(path.read_bytes())
                    path.unlink()
                    return batches

                channel_arg = (channel,) if pipe >= 0 else ()
                write_stage(self.sup.data_dir, self.inst.label, position, self.runner, *channel_arg)
                code = 0
            except SnapshotAbandoned:
                code = ABANDONED_EXIT
            finally:
                os._exit(code)
        return pid, started

    def _start_reaper(self, pid: int, position: int, started: float) -> None:
        reaper = threading.Thread(target=self._reap, args=(pid, position, started), name="snapshot", daemon=True)
        self.reapers = [t for t in self.reapers if t.is_alive()] + [reaper]
        reaper.start()

    def _reap(self, pid: int, position: int, started: float) -> None:
        _pid, status = os.waitpid(pid, 0)
        self._reaped(status, position, started)

    def _reaped(self, status: int, position: int, started: float) -> None:
        if os.waitstatus_to_exitcode(status) == ABANDONED_EXIT:
            log.warning("%s left its snapshot at %d unwritten: the marker did not come back", self.inst.label, position)
            return
        if os.waitstatus_to_exitcode(status) != 0:
            log.error("%s could not write its snapshot at %d (exit status %s)", self.inst.label, position,
                      os.waitstatus_to_exitcode(status))
            return
        log.debug("%s wrote its snapshot at %d in %.1f ms", self.inst.label, position,
                  (time.perf_counter() - started) * 1e3)
        self._report(position)

    def _report(self, position: int) -> None:
        with self.lock:  # children may finish out of order: the reported position only grows
            if position > self.row["snapshot_position"]:
                self.row["snapshot_position"] = position

    def wait(self, timeout: float) -> None:
        """Before the process exits: let the snapshot being written finish (the clean stop's)."""
        deadline = time.monotonic() + timeout
        for reaper in self.reapers:
            reaper.join(max(0.0, deadline - time.monotonic()))
        while self.children and time.monotonic() < deadline:
            self.poll()
            if self.children:
                time.sleep(0.005)


class SnapshotAbandoned(Exception):
    """The marker did not come back: the writer leaves without writing."""


class PendingWrite:
    """A snapshot writer forked at the marker's start (SnapshotWriter.begin), waiting for the
    channel state: `finish` hands it over (a file beside the snapshot, then a byte down the pipe;
    the pipe alone could block the stage on a child that runs behind it), `abandon` lets the child
    go without writing."""

    def __init__(self, data_dir: Path, label: str, position: int, pipe: int, reap: Callable[[], None]) -> None:
        self.data_dir, self.label, self.position, self.pipe = data_dir, label, position, pipe
        #: starts the thread that waits for the child and reports the position: here, not at the
        #: fork, where starting a thread (its first turn on a busy core) held order entry 0.5-12 ms
        self.reap = reap

    def finish(self, batches: list[bytes]) -> None:
        from .snapshots import channel_path

        path = channel_path(self.data_dir, self.label, self.position)
        path.write_bytes(pickle.dumps(batches, protocol=pickle.HIGHEST_PROTOCOL))  # (page cache: the child syncs)
        os.write(self.pipe, b"1")
        self._close()

    def abandon(self) -> None:
        if self.pipe >= 0:
            self._close()

    def _close(self) -> None:
        os.close(self.pipe)
        self.pipe = -1
        self.reap()


#: how long a stage waits for its outputs' acknowledgement before keeping its state: past it (a
#: broker failing over) this save is skipped, and the next interval tries again
KEEP_FLUSH_S = 2.0


class KeptState:
    """The state of a stage instance kept where any machine can read it (Bus.blobs: a compacted
    Kafka topic): its stage state, output sequences, duplicate filter, and the input positions that
    state reflects. Saved every `journal.snapshot_interval_s` (after every output before it is
    acknowledged, so a restart from it re-sends nothing that was lost); a restarted instance loads
    it and reads on from those positions instead of from further back. Written in the stage's
    process, between two polls (Push: on its event loop, sent from a thread): the stage waits while
    its state is pickled (Match's books: milliseconds for thousands of orders), and at most
    KEEP_FLUSH_S for its outputs' acknowledgement; the write to the cluster runs on a thread. Keeping
    state only shortens a later restart: a save that fails (a broker down) is logged and skipped,
    never a reason to stop the stage or hold its heartbeat.

    Without Acquiring on the machine (`from_log`) it is all the state there is: saved at a clean
    stop too, and loaded by the instance on this machine or another, with an empty data dir. Beside
    Acquiring it only shortens a restart alone: it is tagged with the pipeline (Supervisor.pipeline)
    whose journal replay the instance started from, and loaded only in that one, so a whole node's
    start still begins from the replay, and state kept before it (perhaps past what the journal
    holds, with its sequences) is never mixed with it."""

    def __init__(self, sup: "Supervisor", inst: "Instance", row=None) -> None:
        self.bus = sup.bus
        self._blobs = None  # made on first use: a start that loads nothing needs no client
        self.key = f"{inst.label}"
        self.layout = sequence_layout(sup.settings)
        self.interval = sup.settings.journal.snapshot_interval_s
        self.due = time.monotonic() + self.interval
        #: None: state kept under any pipeline serves (no journal here); else this pipeline's only
        self.pipeline = None if sup.from_log else sup.pipeline
        #: beside Acquiring, the first start in a pipeline has nothing of it to load
        self.loads = sup.from_log or inst.again
        self.row = row
        self._storing: threading.Thread | None = None  # the write to the cluster under way

    @property
    def blobs(self):
        if self._blobs is None:
            self._blobs = self.bus.blobs()
        return self._blobs

    def load(self) -> dict | None:
        import pickle

        if not self.loads:
            return None
        data = self.blobs.get(self.key)
        if data is None:
            return None
        saved = pickle.loads(data)
        if saved.get("layout") != self.layout:
            log.warning("%s: the kept state was counted under %s, not %s: reading all of the input instead",
                        self.key, saved.get("layout"), self.layout)
            return None
        if self.pipeline is not None and saved.get("pipeline") != self.pipeline:
            return None  # kept before this pipeline started: the journal's replay is the state to start from
        return saved

    def restore(self, runner: Runner, saved: dict) -> None:
        runner.start()
        runner.stage.restore_state(saved["stage"])
        runner.sequencer.next = saved["next"]
        runner.last_seen = saved["last_seen"]
        runner._completed = saved["completed"]
        if self.row is not None:
            self.row["restored_ns"] = saved.get("kept_ns", 1)
        log.info("📦 %s restored from its kept state at input offsets %s", self.key,
                 ", ".join(f"{t}[{p}]:{o}" for (t, p), o in sorted(saved["positions"].items())))

    def due_now(self) -> bool:
        """Whether a save is due; if so, the next one is due an interval from now."""
        if not self.interval or time.monotonic() < self.due:
            return False
        self.due = time.monotonic() + self.interval
        return True

    def tick(self, runner: Runner) -> bool:
        """Save when due (called between polls), the write on a thread; never asks the runner to
        stop."""
        if not self.writing() and self.due_now():
            data = self.try_capture(runner)
            if data is not None:
                self.store_in_background(data)
        return False

    def writing(self) -> bool:
        """Whether a save is still being written to the cluster."""
        return self._storing is not None and self._storing.is_alive()

    def store_in_background(self, data: bytes) -> None:
        """try_store() on a thread of its own: a daemon, which a stopping process waits for no longer
        than stop() does (an executor's thread would hold up the event loop's end until it is done)."""
        self._storing = threading.Thread(target=self.try_store, args=(data,), name="kept-state", daemon=True)
        self._storing.start()

    def stop(self, runner: Runner, positions: dict | None = None) -> None:
        """At a clean stop: without Acquiring here, save (the next start re-reads nothing); beside
        it, not (a node's next start replays the journal, under a pipeline of its own). A save still
        being written (the last interval's) is waited for KEEP_FLUSH_S at most: past that the cluster
        is not answering, and neither would the last save; the state kept before stands, as after a
        kill (a node whose cluster had gone took 41 s to stop, each stage killed after its 10 s of
        drain_timeout_s or ending its write after 19 s)."""
        if self._storing is not None:
            self._storing.join(KEEP_FLUSH_S)
            if self._storing.is_alive():
                log.warning("%s: its state was still being written to the cluster after %.0fs; stopping "
                            "without it (the state kept before stands)", self.key, KEEP_FLUSH_S)
                return
        if self.pipeline is None:
            data = self.capture(runner, positions, flush_timeout=None)
            if data is not None:
                self.store(data)

    def try_capture(self, runner: Runner, positions: dict | None = None) -> bytes | None:
        """capture(), or None (logged) when the outputs are not acknowledged within KEEP_FLUSH_S."""
        try:
            return self.capture(runner, positions)
        except BusError as exc:
            log.warning("%s: state not kept this time (%s); the next interval tries again", self.key, exc)
            return None

    def try_store(self, data: bytes) -> None:
        """store(), logging a failure: the stage goes on, and the next interval writes again."""
        try:
            self.store(data)
        except Exception as exc:  # noqa: BLE001 (a thread's end: nothing above it would report it)
            log.warning("%s: could not keep its state in the cluster (%s); the next interval tries again",
                        self.key, exc)

    def capture(self, runner: Runner, positions: dict | None = None,
                flush_timeout: float | None = KEEP_FLUSH_S) -> bytes | None:
        """The state to keep, pickled now. `positions`: the input positions the stage's state
        reflects, when its consumer has been read past them (Push's reader thread); else the
        consumer's own. Raises BusError when the outputs are not acknowledged within
        `flush_timeout` (None: the bus's own timeout)."""
        import pickle

        if runner.sequencer is None:
            return None
        runner.producer.flush(flush_timeout)  # every output before these positions is acknowledged
        state = {"stage": runner.stage.snapshot_state(), "next": dict(runner.sequencer.next),
                 "last_seen": dict(runner.last_seen), "completed": dict(runner._completed),
                 "positions": runner.consumer.positions() if positions is None else dict(positions),
                 "layout": self.layout, "pipeline": self.pipeline, "kept_ns": time.time_ns()}
        return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)

    def store(self, data: bytes) -> None:
        """Write what capture() made to the cluster (may run on another thread than the stage's)."""
        self.blobs.put(self.key, data)
        if self.row is not None:
            self.row["kept_ns"] = time.time_ns()
