"""The supervisor: one OS process per stage instance, pinned to a core, restarted when it dies.

Start: build the transport (its queues must exist before the fork so every child inherits them),
the shared metrics table, then fork the stages in topology order, pinning each one
(`os.sched_setaffinity`): explicit cores from `runtime.cores`, otherwise one core each where there
are enough, and where there are not, spread by their weight (plan_cores) — on 2 cores six stages share
two, evenly loaded, but for those that no answer waits for, which then run where there is room
(`runtime.unpinned_when_shared`); on 64 each gets its own.
Run: wait on the children; a child that exits while the node runs is restarted with exponential
back-off (reset once it has stayed up for a while), and the restart is logged and counted.
Stop (SIGINT/SIGTERM/SIGHUP to the supervisor or its process group): ask the stages (SIGUSR1) to stop in
topology order, each draining its input before it exits, so
nothing published upstream is dropped; kill whatever overruns `drain_timeout_s`; then release the
queues and the metrics table (no orphan process, no leaked /dev/shm file).
Elsewhere: what runs inside each stage process (runtime/stageproc.py), and how the journal rebuilds
the stages before the fork (runtime/recovery.py).
"""

from __future__ import annotations

import fcntl
import gc
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import commandlog
from ..bus import make_bus
from ..bus.base import FENCED_EXIT
from ..stages.base import Runner, StageContext, sequence_layout
from ..topology import ENTRY, StageSpec, input_channels, instances_of, stage_specs, wiring_for, with_role
from .metrics import MetricsTable
from . import clustersnapshots, symbolrecord
from .recovery import StartReport, check_history_file, journal_dir, published, recover_node, rotate_journal
from .snapshots import manifest_position, restore, write_manifest
from .replay import InvariantBroken
from .stageproc import LISTEN_EXIT, STOP_SIGNAL, ReplayGate, stage_main

log = logging.getLogger("spot_seda.supervisor")
_fork = multiprocessing.get_context("fork")

#: a stage that stayed up this long is healthy again: its next crash starts the back-off afresh
HEALTHY_AFTER_S = 30.0


class DataDirInUse(RuntimeError):
    """Another node (its supervisor or one of its stages) runs on this data dir."""


def lock_data_dir(data_dir: Path) -> int:
    """Take the data dir's exclusive lock (`run/lock`, an flock) and write this pid in it; returns
    its fd. The stages inherit it with the fork (the snapshot writers they fork close it), so it is
    held until the last stage process of the node is gone (one left dying by a killed supervisor
    included). Raises DataDirInUse, naming the holder's pid, when another node has it: two nodes on
    one data dir would share its history, snapshots and manifest (the journal has a lock of its own,
    found later and reported as damage)."""
    run = data_dir / "run"
    run.mkdir(parents=True, exist_ok=True)
    fd = os.open(run / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
        os.close(fd)
        raise DataDirInUse(f"the data dir {data_dir} is in use by another node (pid {holder}): stop it first, or "
                           "give this one a data dir of its own (--data-dir)") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


@dataclass
class Instance:
    spec: StageSpec
    cls: type
    index: int
    core: int
    process: multiprocessing.process.BaseProcess | None = None
    started: float = 0.0
    backoff: float = 0.0
    restart_at: float | None = None
    restarts: int = 0
    extra: dict = field(default_factory=dict)
    #: the pipeline (Supervisor.pipeline) it was last started in, and whether it had been started
    #: in that one before (a restart alone: state it kept in the cluster since may be newer)
    pipeline: str = ""
    again: bool = False
    #: processes started for it so far (a port it cannot listen on is fatal at its first start only)
    spawns: int = 0
    #: a stage that carries state, fed the recovery's replay as its own process (Supervisor._start_fed):
    #: what holds its port closed until it has applied the replay's output (stageproc.ReplayGate)
    gate: ReplayGate | None = None

    @property
    def label(self) -> str:
        return f"{self.spec.name}-{self.index}"


def plan_cores(labels: list[tuple[str, str]], settings, allowed: list[int],
               weights: list[float] | None = None) -> list[int]:
    """The core of each (stage name, instance label); -1 = unpinned.

    A stage listed in `runtime.cores` gets those cores (its instances round-robin over them). The
    others: one core each, in order, where there are enough; where they outnumber the cores, each
    goes, heaviest first, to the core with the least weight on it so far (`weights`, one per label,
    e.g. StageSpec.weight over its instances; the listed stages' weight counts on their cores).
    Round-robin instead would put whatever falls together on one core: on 2 cores Acquiring, KLine
    and Persist (85 of 126 µs per command) shared one core while the other had 45, and the
    pipeline's capacity was the busier core's (BENCHMARKS.md, "Pipeline", seventh session).
    There, the stages named in `runtime.unpinned_when_shared` (and not in `runtime.cores`) are then
    left unpinned: their weight still keeps the others' cores as placed, and they run on whichever
    core has room (BENCHMARKS.md, "Node over HTTP", fourteenth session)."""
    if not settings.runtime.pinning or not allowed:
        return [-1] * len(labels)
    weights = weights or [1.0] * len(labels)
    cores: list[int | None] = []
    load = dict.fromkeys(allowed, 0.0)
    for i, (name, _label) in enumerate(labels):
        wanted = settings.runtime.cores.get(name)
        usable = [c for c in wanted or () if c in allowed]
        if wanted and not usable:
            log.warning("runtime.cores.%s = %s: none of these cores is allowed here %s; placing it by weight",
                        name, wanted, allowed)
        core = usable[i % len(usable)] if usable else None
        if core is not None:
            load[core] += weights[i]
        cores.append(core)
    free = [i for i, core in enumerate(cores) if core is None]
    unused = [c for c in allowed if c not in cores]
    if len(free) <= len(unused):  # one core each
        for n, i in enumerate(free):
            cores[i] = unused[n]
        return cores
    for i in sorted(free, key=lambda i: -weights[i]):  # (a stable sort: equal weights keep their order)
        core = min(allowed, key=lambda c: load[c])  # (the first of equally loaded cores)
        load[core] += weights[i]
        cores[i] = core
    floating = settings.runtime.unpinned_when_shared
    return [-1 if i in free and labels[i][0] in floating else core for i, core in enumerate(cores)]


def keep_private(data_dir: Path) -> None:
    """What the node writes is its owner's alone: the data dir (0700, tightened with a warning if it
    was open to others) and every file the supervisor and its stages create (umask 077). It holds
    every account's orders, trades and balances (journal, history, snapshots) and the live
    listenKeys, which are all a user data stream asks for: readable by any local user before (a
    review found listenkeys.sqlite and history.sqlite at 0644). PostgreSQL keeps its data dir so."""
    os.umask(0o077)
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if data_dir.stat().st_mode & 0o077:
        log.warning("data dir %s was open to other users (mode %o): made 0700", data_dir,
                    data_dir.stat().st_mode & 0o777)
        data_dir.chmod(0o700)


class Supervisor:
    """Runs a topology's stages as pinned child processes."""

    def __init__(self, settings, only: str | None = None, data_dir: Path | None = None, replay=None,
                 bus_factory=None, indexes: set[int] | None = None, take_over: bool = False) -> None:
        if settings.bus.transport == "inproc":  # one process by design (tests, replay)
            raise ValueError("bus.transport = 'inproc': the multi-process node runs on 'shm' or 'kafka'")
        self.settings = settings
        self.only = only
        self.data_dir = Path(data_dir or settings.node.data_dir)
        topology = settings.node.topology
        self.specs = stage_specs(topology, only)
        self.wiring = wiring_for(topology, settings)
        self.instances: list[Instance] = []
        for spec in self.specs:
            cls = spec.load()
            for i in range(instances_of(spec.name, settings)):
                self.instances.append(Instance(spec, cls, i, -1))
        #: instances of these stages that run elsewhere (--instance): taken over here when theirs
        #: stop keeping state (--take-over)
        self.standby = [x for x in self.instances if indexes is not None and x.index not in indexes]
        self.instances = [x for x in self.instances if x not in self.standby]
        if not self.instances:
            raise ValueError(f"--instance {sorted(indexes or ())}: no such instance of {only}")
        self.take_over = take_over
        self._watched_at = 0.0
        self._polled_at = time.monotonic()  # the last stall check (_kill_stalled)
        self._heads_offset = 0
        allowed = sorted(os.sched_getaffinity(0))
        #: every core this node may use: where a stage's snapshot writer runs (stageproc.SnapshotWriter)
        self.allowed_cores = set(allowed)
        everyone = self.instances + self.standby
        cores = plan_cores([(x.spec.name, x.label) for x in everyone], settings, allowed,
                           [x.spec.weight / instances_of(x.spec.name, settings) for x in everyone])
        for inst, core in zip(everyone, cores):
            inst.core = core
        self.bus = None
        #: builds the transport from (wiring, settings); bench/pipeline.py passes a bench-only one
        self.make_bus = bus_factory or make_bus
        self.table: MetricsTable | None = None
        self._stopping = False
        self.exit_status = 0  # run_forever's: LISTEN_EXIT when a server stage could not listen
        self.generation = 0
        #: runs Acquiring from a command file instead of HTTP (runtime/shmreplay.py, bench/pipeline.py);
        #: with no network unless it says `network = True` (then the other stages serve as usual)
        self.replay = replay
        #: Acquiring runs here: this supervisor's journal is the source of truth
        self.runs_acquiring = with_role(self.specs, ENTRY) is not None
        #: the node takes snapshots (runtime/snapshots.py) when that journal is the source of truth;
        #: a replay that drives order entry as the node does may ask for them (`snapshots = True`:
        #: bench/pipeline_load.py, so that the bench pays for them as the node does)
        self.snapshots = (replay is None or getattr(replay, "snapshots", False)) and only is None and self.runs_acquiring
        if settings.bus.transport == "kafka" and not self.runs_acquiring and replay is None:
            # no journal here: its stages resume from kept state and re-read, which must send the
            # same entries under the same sequences as the first time
            mixed = [x.label for x in self.instances + self.standby if x.cls.consumes and not self._replays_identically(x)]
            if mixed:
                raise ValueError(f"--stage: {', '.join(mixed)} mixes several input partitions into its output: on a "
                                 "machine without Acquiring it needs one partition per instance "
                                 "(runtime.instances = bus.partitions), or runs beside Acquiring")
        self.recovered: dict[str, Runner] = {}
        #: stages run here without Acquiring, over a bus that keeps their input (Kafka): no journal
        #: here to rebuild them from, so they start from the state they kept in the cluster
        #: (stageproc.py, KeptState), else afresh reading all of their input (the other machines'
        #: stages run on; see README, "Kafka mode")
        self.from_log = False
        #: instance label -> (topic, partition) -> entries the recovery's replay of that instance
        #: produced that Kafka does not hold (a split node's Acquiring died before publishing them):
        #: the new instance publishes them first (stageproc.py)
        self.republish: dict[str, dict[tuple[str, int], list]] = {}
        self.snapshot_position = 0
        #: over Kafka, the snapshots also go to the cluster (clustersnapshots.py), from a short-lived
        #: process of this one's: the one under way, the position it sends, when the next may start
        self.uploads = self.snapshots and clustersnapshots.enabled(settings)
        self._uploader: multiprocessing.process.BaseProcess | None = None
        self._upload_after = 0.0
        self._upload_tried = 0
        #: (Kafka topic, partition) -> where Persist reads from when the recovery found its history
        #: lacking what the snapshot reflects (StartReport.history_from_kafka); None: as usual
        self.history_floor: dict[tuple[str, int], int] | None = None
        self.pid = os.getpid()
        #: names this incarnation of the pipeline (new with every bus): state a stage instance kept
        #: in the cluster under another one does not follow from this one's journal replay
        self.pipeline = ""
        #: the data dir's lock (lock_data_dir), held from start() to the end of stop()
        self._lock_fd: int | None = None
        #: when a whole-pipeline restart (_restart_pipeline) brings the stages back: its back-off
        self._pipeline_at: float | None = None
        self._starting = False  # run_forever's start() under way (the recovery's replay)

    # -- life cycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Create the queues and the metrics table, then fork every stage instance."""
        keep_private(self.data_dir)
        self._lock_fd = lock_data_dir(self.data_dir)
        if self.replay is None and self.runs_acquiring:
            try:
                check_history_file(self.data_dir)  # (before Persist opens it, and before anything is made)
                symbolrecord.check_settings(self.settings, self.data_dir, fees=self.snapshots)
            except BaseException:
                os.close(self._lock_fd)
                self._lock_fd = None
                raise
        if self.snapshots:
            self.snapshot_position = manifest_position(self.data_dir)
        self._new_bus()
        self.table = MetricsTable.create([x.label for x in self.instances + self.standby])
        self.table.write_manifest(self.data_dir)
        if self.replay is None:
            for inst in self._fed():  # first: they take the replay's output while it runs (and those
                if not inst.cls.inherits_state:  # that carry state, from the snapshot: _start_fed)
                    self._spawn(inst)
            try:
                self.recover()
            except BaseException:  # e.g. a damaged journal: nothing may be left running
                self.snapshots = False  # and the journal is not touched
                self.stop()
                raise
        if self._stopping:  # asked to stop during the recovery: the others need not start at all
            return
        for inst in self.instances:
            if inst.process is None:
                self._spawn(inst)
        self.table.write_manifest(self.data_dir, "running")

    def _new_bus(self) -> None:
        self.bus = self.make_bus(self.wiring, self.settings)
        self.pipeline = f"{self.pid}-{time.time_ns()}"
        self.from_log = self.bus.rereads_from_start and not self.runs_acquiring
        if self.from_log:
            self.bus.start_from_beginning()

    def _fed(self) -> list[Instance]:
        """Stage instances that only consume (Persist, Push): during recovery they run as their own
        processes, on the cores the replay leaves them, and are fed its output instead of being
        replayed into (recovery.py). Nothing of the replay waits for them."""
        if not self.runs_acquiring or not self.bus.can_target_groups:
            return []
        return [x for x in self.instances if not x.cls.produces and x.cls.consumes]

    def _start_fed(self, snapshot: tuple[int, dict[str, dict]] | None) -> None:
        """Start each fed instance that carries state (Push) from the snapshot the recovery's replay
        starts from (recover_node calls this before the replay), with a gate that keeps its port
        closed until it has applied what the replay publishes (_release_fed)."""
        for inst in self._fed():
            if not inst.cls.inherits_state:
                continue
            ctx = StageContext(self.settings, inst.spec.name, inst.index, instances_of(inst.spec.name, self.settings),
                               self.data_dir)
            runner = Runner(inst.cls(ctx), None, None, self.wiring.topics)
            runner.start()
            state = snapshot[1].get(inst.label) if snapshot is not None else None
            if state is not None:
                restore(runner, state)
            self.recovered[inst.label] = runner  # (adopted by the process, as the replay's runners are)
            inst.gate = ReplayGate()
            # (as recover_node does for the children forked after it: what the process inherits, the
            # others' snapshot state included, is never walked there by its collector, so never copied)
            gc.freeze()
            self._spawn(inst)
            gc.unfreeze()
            log.info("📡 %s takes the replay's output beside it, from the snapshot's state", inst.label)

    def _release_fed(self, fed: list[Instance], ok: bool) -> None:
        """The replay is over: tell each gated instance the last sequence the replay published on
        each of its input channels (`ok`), or just close the gates (it failed, or a stop was asked
        for meanwhile: the node stops)."""
        topology = self.settings.node.topology
        ends = published(self.recovered)
        for inst in fed:
            gate, inst.gate = inst.gate, None
            if gate is None:
                continue
            if not ok or self._stopping:  # (a stop asked for during it: the stage never opens its port)
                gate.close()
                continue
            channels = input_channels(topology, self.settings, inst.spec.name, inst.index)
            gate.release({channel: seq for channel, seq in ends.items() if seq > 0 and channel in channels})

    def recover(self) -> None:
        """Rebuild every deterministic stage's state from the journal, in this process, before the
        fork (recovery.recover_node): the children inherit it (copy-on-write), so each carries on
        exactly where the acknowledged commands left it, output sequences included."""
        self.recovered, self.republish = {}, {}
        if with_role(stage_specs(self.settings.node.topology), ENTRY) is None:  # replay enters there
            return
        if self.from_log:
            log.info("📜 no Acquiring here: %s start from the state they kept in Kafka, else afresh, and read "
                     "their input from Kafka", ", ".join(x.label for x in self.instances))
            return
        # over Kafka, what the stages started here published must have no gap: each publishes first
        # what Kafka lacks of what the replay says it sent (else a zombie copy of it, resumed, would
        # fill the gap with entries of its own, and consumers keep the first copy)
        mine = [x.label for x in self.instances if x.cls.produces] if self.bus.rereads_from_start else None
        report = StartReport()
        fed = self._fed()
        ok = False
        try:
            self.recovered, self.republish = recover_node(self.settings, self.data_dir, self.bus, fed, mine,
                                                          report=report, start_fed=self._start_fed)
            ok = True
        except InvariantBroken as exc:  # a journaled command on a symbol taken out of the configuration?
            gone = symbolrecord.removed(self.settings, self.data_dir) if self.runs_acquiring else []
            if gone:
                raise symbolrecord.SymbolsChanged(
                    f"{', '.join(gone)} no longer in the configuration's symbols, and the journal's commands since the "
                    f"last snapshot cannot be replayed without it ({exc}): list it again, start the node and stop it "
                    "cleanly (its last snapshot then holds them), then take it out") from exc
            raise
        finally:
            self._release_fed(fed, ok)
        self.history_floor = self.bus.begin_offsets() if report.history_from_kafka else None
        if self.snapshots:  # the cluster's may have been installed
            self.snapshot_position = max(self.snapshot_position, manifest_position(self.data_dir))
        if self.runs_acquiring and self.replay is None:  # (as start() checked them)
            name = with_role(stage_specs(self.settings.node.topology), ENTRY).name
            entry = [runner.stage for label, runner in self.recovered.items() if label.rpartition("-")[0] == name]
            symbolrecord.check_open_orders(self.settings, (o for stage in entry for o in stage.orders.values()
                                                           if not o.status.is_final))
            symbolrecord.write(self.settings, self.data_dir)

    def _spawn(self, inst: Instance) -> None:
        row = self.table.row(inst.label)
        row["restarts"] = inst.restarts
        inst.again, inst.pipeline = inst.pipeline == self.pipeline, self.pipeline
        _collect_before_fork()
        proc = _fork.Process(target=stage_main, args=(self, inst), name=inst.label, daemon=False)
        proc.start()
        inst.process = proc
        inst.spawns += 1
        inst.started = time.monotonic()
        inst.restart_at = None

    def poll(self, timeout: float = 0.2) -> None:
        """Wait up to `timeout` for a child to exit; restart the dead ones whose back-off is over."""
        live = {x.process.sentinel: x for x in self.instances if x.process is not None}
        ready = multiprocessing.connection.wait(list(live), timeout) if live else time.sleep(timeout)
        now = time.monotonic()
        for sentinel in ready or ():
            inst = live[sentinel]
            if inst.process is None:  # reaped below by a whole-pipeline restart
                continue
            proc = inst.process
            self._reap(inst)  # first: a SIGKILLed child closes its sentinel before it can be waited for
            code, pid = proc.exitcode, proc.pid
            if self._stopping:
                continue
            if code == LISTEN_EXIT and inst.spawns == 1:
                # at the node's start, a port taken (or not permitted, or a host that does not
                # resolve) is a mistake to report, not to retry for ever; after a restart it may be
                # held for a moment (a snapshot writer forked by the process it replaces): retried
                log.critical("⛔ %s %s could not listen on its port (above): stopping the node",
                             inst.cls.display_name(), inst.label)
                self._stopping = True
                self.exit_status = LISTEN_EXIT
                continue
            if code == FENCED_EXIT:
                log.error("⛔ %s %s (pid %s) was fenced off by a newer incarnation elsewhere: not restarting it here",
                          inst.cls.display_name(), inst.label, pid)
                continue
            uptime = now - inst.started
            base = self.settings.runtime.restart_backoff_s
            inst.backoff = base if uptime > HEALTHY_AFTER_S or not inst.backoff else min(
                inst.backoff * 2, self.settings.runtime.restart_backoff_max_s)
            log.error("❌ %s %s (pid %s) exited with code %s after %.1fs; restarting in %.2fs",
                      inst.cls.display_name(), inst.label, pid, code, uptime, inst.backoff)
            if self.bus.survives_member_death or self._rebuilds_alone(inst):
                inst.restart_at = now + inst.backoff
            elif self._entry_restarts_alone(inst):
                inst.restart_at = now + inst.backoff
                inst.extra["recover"] = True  # from the journal, the command log and the change log
            else:
                self._restart_pipeline(now + inst.backoff)
        self._kill_stalled(now)
        self._watch(now)
        self._check_snapshot()
        self._upload(now)
        if self._pipeline_at is not None and now >= self._pipeline_at and not self._stopping:
            self._rebuild_pipeline()
        for inst in self.instances:
            if inst.process is None and inst.restart_at is not None and now >= inst.restart_at and not self._stopping:
                if inst.extra.pop("recover", False):
                    try:
                        if not self._recover_entry(inst):
                            inst.restart_at = None  # another Acquiring took over: left stopped
                            continue
                    except Exception:  # e.g. the cluster unreachable for now: try again after a back-off
                        log.exception("cannot recover %s now", inst.label)
                        inst.extra["recover"] = True
                        inst.restart_at = time.monotonic() + self.settings.runtime.restart_backoff_max_s
                        continue
                inst.restarts += 1
                log.warning("🔄 restarting %s %s (restart #%d)", inst.cls.display_name(), inst.label, inst.restarts)
                self._spawn(inst)

    def _watch(self, now: float) -> None:
        """--take-over: once a second, read which instances kept their state lately; run here any
        instance of these stages run elsewhere whose kept state is older than take_over_after_s.
        Taking over one that is only slow, not dead, does no harm: two copies of a deterministic
        instance send the same entries under the same sequences, and consumers keep the first."""
        if not (self.take_over and self.from_log and self.standby) or now - self._watched_at < 1.0:
            return
        self._watched_at = now
        from ..bus.kafkastate import kept_heads

        heads, self._heads_offset = kept_heads(self.bus, self._heads_offset)
        self._heads = getattr(self, "_heads", {}) | heads
        limit = self.settings.runtime.take_over_after_s
        wall = time.time_ns()
        for inst in list(self.standby):
            kept = self._heads.get(inst.label)
            if kept is None or (wall - kept) / 1e9 <= limit:
                continue  # never seen running anywhere, or alive
            log.warning("🛟 %s %s kept no state for %.1fs: taking it over here", inst.cls.display_name(),
                        inst.label, (wall - kept) / 1e9)
            self.standby.remove(inst)
            self.instances.append(inst)
            self._spawn(inst)

    def _rebuilds_alone(self, inst: Instance) -> bool:
        """Whether a dead instance can come back on its own while the others go on: over a bus that
        lets it read its input since the pipeline started again (Kafka), a stage whose state follows
        from that input restarts from the state it had then (the recovery's, which this process
        still holds) or afresh, and catches up; what it sends again, consumers drop by sequence."""
        cls = inst.cls
        if not (self.bus.rereads_from_start and cls.consumes and cls.recovers_from_input):
            return False
        if cls.inherits_state and inst.label not in self.recovered and not self.from_log:
            return False
        return self._replays_identically(inst)

    def keeps_state(self, inst: Instance) -> bool:
        """Whether an instance keeps its state in the cluster (stageproc.py, KeptState): over a bus
        that keeps its input (Kafka), every instance that comes back from its state and what it
        re-reads, so that a restart re-reads only since that state was kept. Without Acquiring here
        it is all the state there is; beside Acquiring, the state of a stage that restarts alone
        (_rebuilds_alone), kept for this pipeline only: the journal's replay rebuilds the next."""
        cls = inst.cls
        if not (self.bus.rereads_from_start and self.replay is None and cls.consumes and cls.inherits_state
                and cls.recovers_from_input):
            return False
        return self.from_log or self._rebuilds_alone(inst)

    def _entry_restarts_alone(self, inst: Instance) -> bool:
        """Whether a dead Acquiring can come back alone while the other stages run on: over Kafka,
        where they read what it published from the cluster, and where what it has not published yet
        can be found (the journal and the command log: _recover_entry)."""
        return (inst.spec.role == ENTRY and self.bus.rereads_from_start and self.runs_acquiring
                and self.replay is None)

    def _recover_entry(self, inst: Instance) -> bool:
        """Rebuild a dead Acquiring's state as a start would (the command log and the journal agreed,
        the snapshot loaded, the journal after it replayed through Acquiring and the stages whose
        feedback it keeps: Match, Settlement, KLine), keeping what Kafka lacks of its output to
        publish first; the live stages drop by sequence what it sends again. Its consumer re-reads
        their output since the pipeline started, and drops what the replay already gave it.
        Returns False, recovering nothing, when another Acquiring has written the command log
        since this one died (this node was stopped and replaced, then resumed): taking the log back
        would fence the newer one off."""
        if commandlog.enabled(self.settings):
            ahead = commandlog.superseded(self.settings, journal_dir(self.data_dir))
            if ahead is not None:
                log.error("⛔ %s %s: the command log in Kafka ends at %d, past this node's journal (%d): another "
                          "Acquiring took over elsewhere; not restarting it here", inst.cls.display_name(),
                          inst.label, *ahead)
                return False
        leave_out = tuple(s.name for s in stage_specs(self.settings.node.topology) if not s.load().produces)
        started = time.monotonic()
        recovered, republish = recover_node(self.settings, self.data_dir, self.bus, [], [inst.label], leave_out)
        self.recovered[inst.label] = recovered[inst.label]
        self.republish[inst.label] = republish.get(inst.label, {})
        log.info("♻️  %s recovered alone in %.2fs; the other stages ran on", inst.label, time.monotonic() - started)
        return True

    def _replays_identically(self, inst: Instance) -> bool:
        """Whether re-reading an instance's input sends out the same entries under the same sequences
        as the first time, so consumers drop exactly the repeats: its partitions do not mix in its
        output (Match, KLine), it publishes nothing, or it reads a single partition."""
        cls = inst.cls
        members = 1 if cls.broadcast else instances_of(inst.spec.name, self.settings)
        mine = [p for p in range(self.settings.bus.partitions) if cls.broadcast or p % members == inst.index]
        return cls.keeps_partitions or not cls.produces or len(mine) == 1

    def _reap(self, inst: Instance) -> None:
        inst.process.join()
        inst.process = None
        self.table.row(inst.label)["pid"] = 0

    def _restart_pipeline(self, when: float) -> None:
        """Replace every stage and every queue: a member that died inside a queue operation may have
        left that queue's process-shared lock or condition variable held for ever (faster-fifo's are
        not robust), so no queue a dead member touched can be trusted. State that must survive comes
        back from the journal and snapshots, not from the queues. Every stage stops now; the
        pipeline comes back at `when` (the dead member's back-off: _rebuild_pipeline), so a stage
        that dies at once every time (a damaged history file under Persist) is not restarted, with
        the whole journal's replay, as fast as it dies."""
        log.error("♻️  restarting the whole pipeline on fresh queues (a member died: every stage comes back from the journal and snapshots)")
        for inst in self.instances:
            if inst.process is not None:
                inst.process.kill()
                self._reap(inst)
            inst.restart_at = None
        self._pipeline_at = when
        self.table.write_manifest(self.data_dir, "restarting")

    def _rebuild_pipeline(self) -> None:
        """The second half of _restart_pipeline, once its back-off is over."""
        self._pipeline_at = None
        self._new_bus()
        self.generation += 1
        for inst in self._fed():
            inst.restarts += 1
            if not inst.cls.inherits_state:  # (those that do start from the snapshot: _start_fed)
                self._spawn(inst)
        self.recover()  # the dead stage's state is gone: everyone restarts from the journal
        for inst in self.instances:
            if inst.process is None:
                inst.restart_at = 0.0  # (due: started in this same poll)
        self.table.write_manifest(self.data_dir, "running")

    def _check_snapshot(self) -> None:
        """Once every instance reported the same snapshot marker, declare that snapshot complete."""
        if not self.snapshots or self.table is None:
            return
        position = min(int(self.table.row(x.label)["snapshot_position"]) for x in self.instances)
        if position <= self.snapshot_position:
            return
        try:
            write_manifest(self.data_dir, position, [x.label for x in self.instances if x.cls.inherits_state],
                           sequence_layout(self.settings))
        except OSError as exc:  # the previous snapshot still stands; supervising must go on
            log.error("cannot declare the snapshot at %d complete: %s", position, exc)
            return
        self.snapshot_position = position
        log.info("📦 snapshot of every stage at journal position %d", position)

    def _upload(self, now: float, wait: float | None = None) -> None:
        """Send the last complete snapshot to the cluster (clustersnapshots.upload) from a process of
        its own, one at a time, off the stages' way; one that failed is tried again after
        journal.snapshot_interval_s (or with the next snapshot). `wait`: join it (a clean stop)."""
        if not self.uploads:
            return
        proc = self._uploader
        if proc is not None:
            if wait is not None:
                proc.join(wait)
                if proc.is_alive():
                    log.warning("the snapshot's upload to the cluster overran %.0fs: stopped", wait)
                    proc.kill()
                    proc.join()
            if proc.exitcode is None:
                return
            proc.join()
            self._uploader = None
            if proc.exitcode != 0:  # the same snapshot again after a while, unless a newer one comes
                self._upload_tried = 0
                self._upload_after = now + max(1.0, self.settings.journal.snapshot_interval_s)
                return
        if now < self._upload_after or self.snapshot_position <= self._upload_tried:
            return
        self._upload_tried = self.snapshot_position  # (one it skipped, its position not in the log: not again)
        if self.snapshot_position <= clustersnapshots.uploaded(self.data_dir).get("position", 0):
            return
        _collect_before_fork()
        self._uploader = _fork.Process(target=clustersnapshots.upload_main, name="snapshot-upload",
                                       args=(self.settings, self.data_dir, self.pid), daemon=False)
        self._uploader.start()
        if wait is not None:
            self._upload(now, wait)

    def _kill_stalled(self, now: float) -> None:
        """A stage whose heartbeat stopped (wedged, or stuck in a loop) is killed, then restarted."""
        limit = self.settings.runtime.stall_timeout_s
        wall = time.time_ns()
        frozen, self._polled_at = now - self._polled_at > limit / 2, now
        if frozen:  # this supervisor was stopped (SIGSTOP) with its stages: they get time to beat first
            for inst in self.instances:
                inst.started = max(inst.started, now)
            return
        for inst in self.instances:
            if inst.process is None or now - inst.started < limit:
                continue
            beat = int(self.table.row(inst.label)["heartbeat_ns"])
            if beat and (wall - beat) / 1e9 > limit:
                log.error("⏱️  %s %s sent no heartbeat for %.1fs: killing it", inst.cls.display_name(),
                          inst.label, (wall - beat) / 1e9)
                inst.process.kill()

    def run_forever(self) -> int:
        """Start, supervise until SIGINT/SIGTERM/SIGHUP, then drain and stop; returns the exit status."""
        def request_stop(signum, _frame):
            if not self._stopping:
                log.info("received %s: draining and stopping%s", signal.Signals(signum).name,
                         " (during the start: the stages not started yet will not be)" if self._starting else "")
            self._stopping = True

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        self._starting = True
        if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:  # (under nohup it stays ignored)
            signal.signal(signal.SIGHUP, request_stop)  # its terminal closed: stop as cleanly, not die unheard
        try:
            self.start()
        finally:
            self._starting = False
        try:
            while not self._stopping:
                self.poll(0.2)
        finally:
            self.stop()
        return self.exit_status

    def stop(self) -> None:
        """Stop every stage in topology order, each after its upstream, then free shared resources."""
        self._stopping = True
        timeout = self.settings.runtime.drain_timeout_s
        for spec in self.specs:
            group = [x for x in self.instances if x.spec is spec and x.process is not None]
            for inst in group:
                if inst.process.is_alive():
                    os.kill(inst.process.pid, STOP_SIGNAL)
            deadline = time.monotonic() + timeout
            for inst in group:
                inst.process.join(max(0.0, deadline - time.monotonic()))
                if inst.process.is_alive():
                    log.error("%s did not drain within %.1fs: killing it", inst.label, timeout)
                    inst.process.kill()
                    inst.process.join()
                self.table.row(inst.label)["pid"] = 0
                inst.process = None
        if self.bus is not None:
            self.bus.close()
        if self.snapshots:  # Acquiring took a last snapshot as it stopped (api/rest.py)
            self._check_snapshot()
            self._upload(time.monotonic(), wait=self.settings.runtime.drain_timeout_s)
            if self.settings.journal.rotate:
                rotate_journal(self.data_dir, self.snapshot_position)
        if self.table is not None:
            self.table.unlink()
            try:
                (self.data_dir / "run" / "node.json").unlink()
            except FileNotFoundError:
                pass
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # (released once the stages' inherited copies are gone too: they are)
            self._lock_fd = None
        log.info("🛑 node stopped")

    def pids(self) -> dict[str, int]:
        return {x.label: x.process.pid for x in self.instances if x.process is not None and x.process.is_alive()}


def _collect_before_fork() -> None:
    """Free this process's cyclic garbage before a fork: a child that inherits garbage holding a
    librdkafka handle (a Kafka client of the supervisor's, in a reference cycle) frees it in its own
    collector, and librdkafka then waits forever for a thread that fork does not copy. What the
    recovery froze (gc.freeze) is not walked: this is cheap."""
    gc.collect()
