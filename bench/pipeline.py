"""Pipeline benchmark: the core-pinned SEDA pipeline on its own, with no HTTP in front of it.

What runs, per transport (`--transports`, side by side in one run):
  inproc  every stage in one process (one pinned core), the inproc Bus
  shm     the product: one process per stage, faster-fifo shared-memory rings
  mpq     the same processes linked by multiprocessing.Queue (bench/mpq.py, bench-only)
  kafka   the same processes over a local Kafka broker the bench starts (KRaft, Maven Central jars);
          `--kafka-brokers 3` for a replicated cluster, `--kafka-transactions` for kafka.transactions

Load (bench/workload.py, seeded): deposits for 1,000 accounts first, then limit orders around a
drifting mid, cancels, market and IOC orders on both configured symbols. A generator in its own
pinned process sends them into Acquiring's command intake, a Unix socket its event loop reads as it
reads HTTP clients' sockets; the driver there (bench/pipeline_load.py) does what the HTTP handler does,
minus HTTP: the API's parameter validation, freeze, journal
(fsync policy from the config: "batch" by default) and publish, and waits for Match's answer.
It takes snapshots as the node's HTTP stage does: every `journal.snapshot_interval_s` (10 s by
default) order entry holds new commands back until the accepted ones are published and its writer is
forked, and every stage forks a writer as the marker reaches it (runtime/snapshots.py); each phase
says when each began and how long it paused commands.
Match, KLine, Settlement, Persist (SQLite history on) and Push run as in production; with
`--subscribers N`, N WebSocket clients in another process watch every symbol's trade stream.

Phases, per transport, on one pipeline (state carries over):
  1. closed loop: `--orders` commands, at most `--window` in flight: the capacity, counted from the
     first command sent until every stage (Persist and Push included) has handled all it caused;
  2. open loop at `--rates` percent of that capacity (default 10,25,50,75,90), each for
     `--open-seconds` (at most `--orders` commands). Latency counts from each command's *scheduled*
     send time (no coordinated omission) to (a) Match's first report on it applied at Acquiring,
     (b) its RESULT answer ready at Acquiring (for a finished order: once Settlement's release of
     its leftover hold came back, the last balance change it causes), (c) the first trade frame of
     it out of Push, with subscribers. New orders only; HDR histograms (the hdrhistogram package);
     `--rates-per-s 8000` adds phases at absolute rates, to compare two versions at one offered rate.
     Each open loop's line is followed by its three slowest 100 ms windows of scheduled sends
     (max and p50 matched) and its snapshots: a tail made by a few stalls shows there;
  3. with `--soak SECONDS`: an open loop at 50% of capacity that long; memory per stage over it
     says whether it stays flat.

Per stage: CPU µs per command (the scheduler's count from /proc), entries and batches in and out,
mean batch, queue depth over time, busy %, memory (private pages: USS, not RSS, which would count
what every stage shares with the bench by fork). Cores: `--cores N` uses the first N cores this process
may use; `--pin stage=core,...` (stages, "load" for the generator, "subs" for the subscribers);
default one stage per core where there are enough, spread by weight otherwise (the report says what
shared a core). `--match-instances 1,2` splits Match by symbol (bus.partitions = instances).

Reference: first, the engines alone (bench/engine.py's full chain: freeze, book, settle, candles, one
core, no queues) time the same closed-loop commands; the table gives each capacity as a multiple of it.

Output: a progress bar; a Markdown table (one row per transport: capacity, p99s, CPU per command)
and the per-stage table; `--json FILE` with every figure; plots under bench/out/ (pipeline_*.png:
throughput over time, latency percentiles per transport, matched latency over each open loop per
100 ms with the snapshots marked (pipeline_timeline.png), CPU per command per stage, queue depth).
Each phase's line ends with the hypervisor's share of the box's CPU time meanwhile ("steal N%",
bench/steal.py): on a shared virtual machine, runs with very different steal do not compare; then
how busy each core the bench uses was ("cores busy 0: 99%, 1: 71%"): where the stages share the
cores, the capacity is the busiest core's.

    python bench/pipeline.py --orders 20000 --transports inproc,shm,mpq --json out.json
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import os
import pickle
import platform
import socket
import sys
import shutil
import tempfile
import time
from pathlib import Path

import msgspec
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from spot_seda.kafka_broker.node import free_port  # noqa: E402 (a port below the ephemeral range)

from pipeline_load import (ANSWERED, DONE, IN_FLIGHT, READY, REASONS, REFUSED, SHED_COUNT, SNAPSHOT_SLOTS,  # noqa: E402
                           SNAPSHOTS, WINDOW, Driver, Shared, Wire, generate, shared_int64, subscribe)
from steal import StealMeter, busy_text  # noqa: E402
from wakeup import brief, brief_text  # noqa: E402
from workload import CANCEL, PLACE, deposits, rest_params, workload  # noqa: E402

from spot_seda.config import load_settings  # noqa: E402

_fork = multiprocessing.get_context("fork")
OUT = ROOT / "bench" / "out"
PERCENTILES = (50, 90, 99, 99.9)
TRANSPORTS = ("inproc", "shm", "mpq", "kafka")
#: the most commands/s a --soak is prepared for (the commands are built before anything starts)
SOAK_MAX_RATE = 10_000
#: how often a phase samples each process's memory
MEMORY_EVERY_S = 2.0
#: a phase in which no command is answered for this long has failed
STALL_S = 30
#: seconds quiesce waits, nothing moving, for Persist and Push to take in the last entries counted out
STUCK_S = 10
#: the window in which Persist's CPU is read for its last commit being done (run_phase)
IDLE_WINDOW_S = 0.2
#: redraw the progress bar in place on a terminal; one line per update in a log
CR = "\r" if sys.stdout.isatty() else ""


# ----------------------------------------------------------------------------------- the load


class Load:
    """The run's commands, built once; every process forked later inherits them, in shared mappings
    (pipeline_load.Wire: not copied by a stage's snapshot fork). `cmds` (the workload's tuples, for
    the engines alone) is dropped before the pipeline starts (`release`)."""

    def __init__(self, rules, orders: int, phases: int, seed: int, extra: int = 0) -> None:
        self.per_phase = orders
        self.cmds = workload(orders * phases + extra, seed, rules)
        self.count = len(self.cmds)
        encode = msgspec.msgpack.encode
        self.wire = Wire([encode({"account": c[2], **rest_params(c, rules)}) for c in self.cmds])
        self.kinds = bytes(ord("C") if c[0] == CANCEL else ord("P") for c in self.cmds)
        self.ids = shared_int64(self.count)
        self.ids[:] = [c[1] for c in self.cmds]
        self.places = np.array([c[0] == PLACE for c in self.cmds])
        self.deposits = deposits(rules)

    def release(self) -> None:
        self.cmds = None  # (Pipeline.start collects and freezes what is left before it forks)


# ------------------------------------------------------------------------------ the processes


def cpu_ns(pid: int) -> int:
    """CPU time of a process so far, all its threads, in ns (0 once it is gone): the scheduler's
    own nanosecond count (/proc/PID/task/*/schedstat), else utime + stime in clock ticks."""
    try:
        return sum(int((task / "schedstat").read_text().split()[0]) for task in Path(f"/proc/{pid}/task").iterdir())
    except (OSError, ValueError, IndexError):
        pass
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0
    return (int(fields[11]) + int(fields[12])) * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def kernel_and_switches(pid: int) -> tuple[int, int, int]:
    """(CPU ticks in the kernel, all ticks, context switches) of a process so far, all its threads:
    how much of a stage's CPU is system calls and wake-ups rather than its Python ((0, 0, 0) once gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except (OSError, ValueError, IndexError):
        return 0, 0, 0
    switches = 0
    for task in tasks:
        try:  # (a thread may end between the listing and this read: its switches are then not counted)
            status = (task / "status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if "ctxt_switches:" in line:
                switches += int(line.split()[1])
    return int(fields[12]), int(fields[11]) + int(fields[12]), switches


def rss_mib(pid: int) -> float:
    """Resident memory (MiB), pages shared with the bench by fork included (see private_mib)."""
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return 0.0


def private_mib(pid: int) -> float:
    """The memory a process holds for itself (private pages, MiB: its USS). Not RSS: every stage is
    forked from this bench and RSS would count the pages it shares with it (the run's commands)."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0.0
    kib = sum(int(line.split()[1]) for line in text.splitlines() if line.startswith(("Private_Clean:", "Private_Dirty:")))
    return kib / 1024


def pin(core: int) -> None:
    if core >= 0:
        try:
            os.sched_setaffinity(0, {core})
        except OSError:
            pass


def _generator_main(core: int, intake, phases, shared) -> None:
    pin(core)
    generate(intake, phases, shared)
    os._exit(0)


def _subscribers_main(core: int, url: str, clients: int, commands, folder: Path) -> None:
    pin(core)
    subscribe(url, clients, commands, folder)


def _inproc_main(core: int, settings, data_dir: Path, driver: Driver, table, stop) -> None:
    """The inproc transport: every stage and the driver in this one process."""
    from spot_seda.runtime.inproc import InprocPipeline

    pin(core)
    pipeline = InprocPipeline(settings, data_dir)
    for label, runner in pipeline.runners.items():
        runner.row = table.row(label)
        runner.row["pid"] = os.getpid()
    acquiring = pipeline.runners["acquiring-0"]
    driver.drive(acquiring.stage, acquiring, stop.is_set, pump=pipeline.pump)
    pipeline.stop()
    os._exit(0)


class Pipeline:
    """One transport's pipeline with its generator (and subscribers) around it."""

    def __init__(self, transport: str, args, load: Load, cores: list[int], match_instances: int) -> None:
        self.transport = transport
        self.args = args
        self.cores = cores
        if args.scratch:
            Path(args.scratch).mkdir(parents=True, exist_ok=True)
        self.scratch = Path(tempfile.mkdtemp(prefix=f"spot_seda_pipeline_{transport}_", dir=args.scratch))
        settings = load_settings(args.config)
        settings.bus.transport = "shm" if transport in ("shm", "mpq", "inproc") else transport
        settings.node.http_port = free_port()
        settings.node.ws_port = free_port()
        settings.node.max_in_flight = max(settings.node.max_in_flight, args.window)
        # the subscribers are one IP's many WebSockets: more than Binance's CONNECTIONS limit allows
        settings.rate_limits.connections = []
        if match_instances > 1:
            settings.bus.partitions = match_instances
            settings.runtime.instances["match"] = match_instances
        self.settings = settings
        self.broker = None
        settings.kafka.transactions = args.kafka_transactions
        if transport == "kafka" and args.kafka_bootstrap:
            settings.kafka.bootstrap_servers = args.kafka_bootstrap
            settings.kafka.topic_prefix = f"bench{os.getpid()}_{time.monotonic_ns()}."  # a fresh set of topics
        elif transport == "kafka":
            from spot_seda.kafka_broker import KafkaBroker, KafkaCluster

            brokers = args.kafka_brokers
            self.broker = KafkaBroker(self.scratch / "kafka") if brokers == 1 else KafkaCluster(self.scratch / "kafka", brokers)
            self.broker.__enter__()
            settings.kafka.bootstrap_servers = self.broker.bootstrap
            settings.kafka.replication_factor = min(3, brokers)
        self.shared = Shared(load.count)
        # the generator's end, then the driver's: a Unix stream socket, read on the driver's event loop
        self.intake = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        for end in self.intake:
            end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
            end.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.driver = Driver(load.wire, load.kinds, load.ids, load.deposits, self.intake, self.shared, self.scratch,
                             track_trades=args.subscribers > 0 and transport != "inproc")
        self.plan = self._plan(cores, match_instances)
        self.supervisor = None
        self.table = None
        self.inproc = None
        self.subs = None

    def broker_pids(self) -> list[int]:
        """The JVMs of the Kafka broker(s) this bench started."""
        if self.broker is None:
            return []
        if hasattr(self.broker, "pids"):
            return self.broker.pids()
        return [self.broker.proc.pid] if self.broker.proc else []

    def _plan(self, cores: list[int], match_instances: int) -> dict[str, int]:
        """Which core each process gets: --pin first; the stages then by the supervisor's own rule
        (one core each where there are enough, spread by weight otherwise: plan_cores); the
        generator and the subscribers on the least loaded cores left."""
        from spot_seda.runtime.supervisor import plan_cores
        from spot_seda.topology import stage_specs

        pin = self.args.pin
        extras = ["load"] + (["subs"] if self.args.subscribers and self.transport != "inproc" else [])
        if self.transport == "inproc":
            names = ["inproc", *extras]
            plan = {name: cores[i % len(cores)] for i, name in enumerate(names)}
            plan.update((name, core) for name, core in pin.items() if name in plan)
            return plan
        stages = ["acquiring-0", *[f"match-{i}" for i in range(match_instances)], "kline-0", "settlement-0",
                  "persist-0", "push-0"]
        weight = {spec.name: spec.weight for spec in stage_specs("node")}
        weights = [weight[x.rpartition("-")[0]] / (match_instances if x.startswith("match-") else 1) for x in stages]
        for name, core in pin.items():
            if name in weight:
                self.settings.runtime.cores[name] = [core]
        plan = dict(zip(stages, plan_cores([(x.rpartition("-")[0], x) for x in stages], self.settings, cores,
                                           weights)))
        for name in {label.rpartition("-")[0] for label in stages}:  # the supervisor follows this plan
            self.settings.runtime.cores[name] = sorted({plan[x] for x in stages if x.rpartition("-")[0] == name})
        load = dict.fromkeys(cores, 0.0)
        for label, w in zip(stages, weights):
            load[plan[label]] = load.get(plan[label], 0.0) + w
        # the generator costs ~1 µs per command, the subscribers' process ~30 (BENCHMARKS.md)
        for name, w in zip(extras, (1.0, 30.0)):
            core = pin.get(name, min(cores, key=lambda c: load[c]))
            plan[name] = core
            load[core] = load.get(core, 0.0) + w
        return plan

    def shared_cores(self) -> str:
        by_core: dict[int, list[str]] = {}
        for name, core in self.plan.items():
            by_core.setdefault(core, []).append(name)
        return "; ".join(f"core {c}: {', '.join(n)}" for c, n in sorted(by_core.items()))

    def start(self) -> None:
        from spot_seda.runtime.metrics import MetricsTable
        from spot_seda.runtime.supervisor import Supervisor

        data = self.scratch / "data"
        # the run's commands are in every child by fork: no collector pass there may touch (and so
        # copy) their pages, or each stage's memory would count them
        gc.collect()
        gc.freeze()
        if self.transport == "inproc":
            self.table = MetricsTable.create(["acquiring-0", "match-0", "kline-0", "settlement-0", "persist-0", "push-0"])
            self.stop_event = _fork.Event()
            self.inproc = _fork.Process(target=_inproc_main, args=(self.plan["inproc"], self.settings, data, self.driver,
                                                                   self.table, self.stop_event), daemon=True)
            self.inproc.start()
        else:
            factory = None
            if self.transport == "mpq":
                from mpq import MpqBus

                def factory(wiring, settings):
                    return MpqBus(wiring, settings.bus)
            self.supervisor = Supervisor(self.settings, data_dir=data, replay=self.driver, bus_factory=factory)
            self.supervisor.start()
            self.table = self.supervisor.table
        self.phases, child_end = _fork.Pipe()
        self.generator = _fork.Process(target=_generator_main, args=(self.plan["load"], self.intake[0], child_end,
                                                                      self.shared), daemon=True)
        self.generator.start()
        self._wait(lambda: self.shared.control[READY] == 1, 120, "the driver's deposits")
        if "subs" in self.plan:
            self._wait(self._ws_listening, 60, "Push's WebSocket port")
            url = (f"ws://127.0.0.1:{self.settings.node.ws_port}/stream?streams="
                   + "/".join(f"{s.lower()}@trade" for s in self.settings.symbol_rules()))
            self.subs_pipe, child_end = _fork.Pipe()
            self.subs = _fork.Process(target=_subscribers_main, args=(self.plan["subs"], url, self.args.subscribers,
                                                                       child_end, self.scratch), daemon=True)
            self.subs.start()
            self._wait(lambda: (self.scratch / "subscribed").exists(), 60, "the subscribers")
        self.quiesce()
        self.idle_ns = self._idle_cpu()

    def _idle_cpu(self) -> dict[str, int]:
        """CPU ns each Persist instance takes in IDLE_WINDOW_S with nothing to do (the least of five
        windows, once the deposits' last commit is done): over Kafka a consumer waiting for input
        polls its brokers (fetch.wait.max.ms) and never goes still; over shm about nothing."""
        if self.inproc is not None:
            return {}
        late = {label: pid for label, pid in self.pids().items() if label.split("-")[0] == "persist"}
        time.sleep(self.settings.history.commit_interval_ms / 1000 + 0.3)
        idle = {label: 1 << 62 for label in late}
        for _ in range(5):
            before = {label: cpu_ns(pid) for label, pid in late.items()}
            time.sleep(IDLE_WINDOW_S)
            idle = {label: min(idle[label], cpu_ns(pid) - before[label]) for label, pid in late.items()}
        return idle

    def _ws_listening(self) -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.settings.node.ws_port)) == 0

    def _wait(self, ready, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if time.monotonic() > deadline:
                raise SystemExit(f"{self.transport}: timed out waiting for {what}")
            self.check_alive()
            time.sleep(0.02)

    def check_alive(self) -> None:
        procs = [self.inproc] if self.inproc is not None else [
            x.process for x in self.supervisor.instances if x.process is not None]
        if self.supervisor is not None and len(procs) < len(self.supervisor.instances):
            raise SystemExit(f"{self.transport}: a stage process is gone")
        for p in procs:
            if p.exitcode is not None:
                raise SystemExit(f"{self.transport}: {p.name} exited with code {p.exitcode} (see the log above)")

    def pids(self) -> dict[str, int]:
        if self.inproc is not None:
            return {"inproc": self.inproc.pid}
        return self.supervisor.pids()

    def rows(self) -> dict[str, dict[str, int]]:
        return {r["stage"]: r for r in self.table.snapshot()}

    def reset_gc_max(self) -> None:
        """Each stage's longest garbage-collector pass counts from now (a phase's own)."""
        for label in self.table.rows:
            self.table.row(label)["gc_max_ns"] = 0

    def quiesce(self, timeout: float = 600) -> float:
        """Until no stage has taken anything in for three samples 20 ms apart, every queue is
        empty and Persist and Push have taken in every entry any stage put out; returns the
        monotonic time of the last movement.

        The last condition matters: a stage updates its row after each batch, so one that took a
        queue's last batch and is still writing it (Persist, a big transaction on a slow moment)
        looks still and empty for longer than 60 ms; without it the run ended that batch early."""
        last = None
        last_change = time.monotonic_ns()
        still = 0
        deadline = time.monotonic() + timeout
        while still < 3:
            rows = self.rows()
            state = tuple((r["events_in"], r["events_out"]) for r in rows.values())
            depth = sum(max(0, r["queue_depth"]) for r in rows.values())
            out = sum(r["events_out"] for r in rows.values())
            # (the two read all four topics from every producer; at least: Kafka may redeliver)
            short = max((out - r["events_in"] for name, r in rows.items() if name.split("-")[0] in ("persist", "push")),
                        default=0)
            behind = short > 0
            if behind and state == last and not depth and time.monotonic_ns() - last_change > STUCK_S * 1e9:
                # nothing moved for that long: an entry counted out that never arrives (a Kafka
                # transaction retried), not a batch still being written
                print(f"\n{self.transport}: Persist or Push {short:,} entries short of what was put out, "
                      f"nothing moving for {STUCK_S}s: taken as settled", flush=True)
                return last_change
            if state != last or depth:
                last, still, last_change = state, 0, time.monotonic_ns()
            elif behind:
                still = 0
            else:
                still += 1
            if time.monotonic() > deadline:
                raise SystemExit(f"{self.transport}: the pipeline did not settle within {timeout}s")
            self.check_alive()
            time.sleep(0.02)
        return last_change

    def stop(self) -> tuple[dict, dict]:
        """Stop everything; returns (trade -> command index, the subscribers' first frames)."""
        self.phases.send(None)
        self.generator.join(10)
        frames = {}
        if self.subs is not None:
            self.subs_pipe.send("stop")
            self.subs.join(30)
            frames = pickle.loads((self.scratch / "frames.pkl").read_bytes())
        if self.inproc is not None:
            self.stop_event.set()
            self.inproc.join(120)
            self.table.unlink()
        else:
            self.supervisor.stop()
        for end in self.intake:
            end.close()
        if self.broker is not None:
            self.broker.__exit__(None, None, None)
        path = self.scratch / "trades.pkl"
        trades = pickle.loads(path.read_bytes()) if path.exists() else {}
        return trades, frames


# --------------------------------------------------------------------------------- one phase


def run_phase(pipe: Pipeline, name: str, start: int, count: int, rate: float, window: int) -> dict:
    """Send commands [start, start + count) at `rate` (0: closed loop with `window` in flight), wait
    until every stage has handled all of it; returns the phase's figures and samples."""
    control = pipe.shared.control
    control[WINDOW] = window
    target = int(control[DONE]) + count
    pids = pipe.pids()
    rows0 = pipe.rows()
    cpu0 = {label: cpu_ns(pid) for label, pid in pids.items()}
    kernel0 = {label: kernel_and_switches(pid) for label, pid in pids.items()}
    aux = {"load": pipe.generator.pid, **({"subs": pipe.subs.pid} if pipe.subs is not None else {}),
           **({f"kafka broker {i + 1}": pid for i, pid in enumerate(pipe.broker_pids())})}
    aux0 = {k: cpu_ns(p) for k, p in aux.items()}
    mem0 = {label: private_mib(pid) for label, pid in pids.items()}
    rss0 = {label: rss_mib(pid) for label, pid in pids.items()}
    steal = StealMeter()
    snapshots0 = int(control[SNAPSHOTS])
    pipe.reset_gc_max()
    t0 = time.monotonic_ns()
    pipe.phases.send((start, start + count, rate))
    samples = []
    moved, last_done, shown, measured = t0, -1, 0, 0
    memory = {}
    while int(control[DONE]) < target:
        time.sleep(0.1)
        pipe.check_alive()
        now = time.monotonic_ns()
        done = int(control[DONE]) - (target - count)
        rows = pipe.rows()
        samples.append({"t": (now - t0) / 1e9, "done": done, "in_flight": int(control[IN_FLIGHT]),
                        "depth": {k: int(r["queue_depth"]) for k, r in rows.items()},
                        "mem_mib": memory})
        if now - measured > MEMORY_EVERY_S * 1e9:  # reading smaps costs the kernel a page-table walk
            memory = {label: private_mib(pid) for label, pid in pids.items()}
            samples[-1]["mem_mib"] = memory
            measured = now
        if done != last_done:
            moved, last_done = now, done
        elif now - moved > STALL_S * 1e9:
            raise SystemExit(f"{pipe.transport}: no command answered for {STALL_S}s ({done:,}/{count:,} answered, "
                             f"{int(control[IN_FLIGHT])} in flight)")
        if now - shown > 0.5e9:
            bar(name, done, count, (now - t0) / 1e9)
            shown = now
    bar(name, count, count, (time.monotonic_ns() - t0) / 1e9)
    drained = pipe.quiesce()
    # (the box's figures over the phase itself, not over the wait for Persist's last commit below)
    steal_pct, core_busy = steal.percent(), steal.busy(pipe.cores)
    if CR:
        print()
    end = start + count
    sched = pipe.shared.scheduled[start:end]
    begin = int(sched.min())
    answered = pipe.shared.answered[start:end]
    status = pipe.shared.status[start:end]
    last_answer = int(answered.max())
    seconds = (drained - begin) / 1e9
    rows1 = pipe.rows()
    # Persist writes what it took in at its next commit: once its oldest row has waited
    # history.commit_interval_ms, or its input has paused that long. Its CPU is read once that
    # commit is done (the others' at once: they have nothing left to do); read at `drained`, up to an
    # interval of its rows would be written after it and left out of its figure.
    late = {label for label in pids if label.split("-")[0] == "persist"} if pipe.transport != "inproc" else set()
    early = {label: (cpu_ns(pid), kernel_and_switches(pid)) for label, pid in pids.items() if label not in late}
    if late:
        time.sleep(pipe.settings.history.commit_interval_ms / 1000 + 0.3)
        settle = time.monotonic() + 30
        while time.monotonic() < settle:  # (a big last commit on a slow moment: until its CPU is idle's)
            before = {label: cpu_ns(pids[label]) for label in late}
            time.sleep(IDLE_WINDOW_S)
            if all(cpu_ns(pids[label]) - before[label] < 2_000_000 + 2 * pipe.idle_ns.get(label, 0) for label in late):
                break
    stages = {}
    for label, pid in pids.items():
        r0, r1 = rows0.get(label, {}), rows1.get(label, {})
        delta = {k: r1.get(k, 0) - r0.get(k, 0) for k in ("events_in", "events_out", "batches_in", "batches_out", "busy_ns")}
        cpu1, counts1 = early[label] if label in early else (cpu_ns(pid), kernel_and_switches(pid))
        kernel, ticks, switches = (b - a for a, b in zip(kernel0[label], counts1))
        stages[label] = {
            "cpu_us_per_command": (cpu1 - cpu0[label]) / 1e3 / count,
            "kernel_pct": 100 * kernel / ticks if ticks > 0 else 0.0,
            "switches_per_1k_commands": 1000 * switches / count,
            **delta,
            "mean_batch_in": delta["events_in"] / delta["batches_in"] if delta["batches_in"] else 0,
            "busy_pct": 100 * delta["busy_ns"] / (drained - t0) if drained > t0 else 0,
            "mem_mib_start": mem0[label], "mem_mib_end": private_mib(pid),
            "rss_mib_start": rss0[label], "rss_mib_end": rss_mib(pid),
            "queue_depth_max": max((s["depth"].get(label, 0) for s in samples), default=0),
            # the cyclic garbage collector's passes (runtime/metrics.py watch_gc): each stops the stage
            "gc_collections": r1.get("gc_collections", 0) - r0.get("gc_collections", 0),
            "gc_ms": (r1.get("gc_ns", 0) - r0.get("gc_ns", 0)) / 1e6, "gc_max_ms": r1.get("gc_max_ns", 0) / 1e6,
        }
    if "inproc" in stages:  # one process: split its CPU by each runner's busy time (handling only)
        total = stages.pop("inproc")
        for label, r1 in rows1.items():
            busy = r1["busy_ns"] - rows0[label]["busy_ns"]
            stages[label] = {"cpu_us_per_command": busy / 1e3 / count,
                             **{k: r1[k] - rows0[label][k] for k in ("events_in", "events_out", "batches_in", "batches_out")},
                             "busy_ns": busy, "busy_pct": 100 * busy / (drained - t0) if drained > t0 else 0,
                             "mem_mib_start": 0, "mem_mib_end": 0, "queue_depth_max": 0}
            stages[label]["mean_batch_in"] = (stages[label]["events_in"] / stages[label]["batches_in"]
                                              if stages[label]["batches_in"] else 0)
        busy_sum = sum(s["cpu_us_per_command"] for s in stages.values())
        stages["inproc (rest)"] = dict(total, cpu_us_per_command=total["cpu_us_per_command"] - busy_sum)
    aux_cpu = {k: (cpu_ns(p) - aux0[k]) / 1e3 / count for k, p in aux.items()}
    return {
        "name": name, "start": start, "count": count, "offered_per_s": rate, "window": window,
        "t0_ns": t0, "snapshots": [  # order entry's (journal.snapshot_interval_s), as the node takes them
            {"t": (int(pipe.shared.snapshot_ns[k % SNAPSHOT_SLOTS]) - t0) / 1e9,
             "paused_ms": int(pipe.shared.snapshot_paused_us[k % SNAPSHOT_SLOTS]) / 1000}
            for k in range(max(snapshots0, int(control[SNAPSHOTS]) - SNAPSHOT_SLOTS), int(control[SNAPSHOTS]))],
        "answered": int((status == ANSWERED).sum()), "refused": int((status == REFUSED).sum()),
        "shed": int(pipe.shared.control[SHED_COUNT]), "seconds": seconds,
        "commands_per_s": count / seconds, "answered_per_s": count / ((last_answer - begin) / 1e9),
        "stages": stages, "aux_cpu_us_per_command": aux_cpu, "samples": samples,
        "steal_pct": steal_pct, "core_busy_pct": core_busy,
    }


def _steal_note(phase: dict) -> str:
    """The hypervisor's share of the box's CPU time during the phase and how busy each core the
    bench uses was (bench/steal.py), as "; steal N%; cores busy 0: N%, 1: N%"."""
    pct = phase.get("steal_pct")
    busy = busy_text(phase.get("core_busy_pct"))
    return ("" if pct is None else f"; steal {pct:.0f}%") + (f"; {busy}" if busy else "")


def bar(name: str, done: int, total: int, seconds: float) -> None:
    width = 30
    filled = width * done // max(total, 1)
    rate = done / seconds if seconds else 0
    print(f"{CR}  {name:<14} [{'#' * filled}{'.' * (width - filled)}] {done:>8,}/{total:,}  {rate:>9,.0f}/s",
          end="" if CR else "\n", flush=True)


def latencies(pipe: Pipeline, load: Load, phase: dict, trades: dict, frames: dict) -> dict:
    """The phase's latency percentiles (µs) from scheduled send time, for new orders answered."""
    from hdrh.histogram import HdrHistogram

    a, b = phase["start"], phase["start"] + phase["count"]
    shared = pipe.shared
    ok = load.places[a:b] & (shared.status[a:b] == ANSWERED)
    sched = shared.scheduled[a:b]
    series = {"matched": shared.matched[a:b], "answered": shared.answered[a:b]}
    if frames:
        first = np.zeros(b - a, dtype=np.int64)
        for key, t in frames["first"].items():
            i = trades.get(key)
            if i is not None and a <= i < b and (not first[i - a] or t < first[i - a]):
                first[i - a] = t
        series["pushed"] = first
    out = {}
    for name, at in series.items():
        valid = ok & (at > 0)
        lat_us = (at[valid] - sched[valid]) // 1000
        if not len(lat_us):
            continue
        h = HdrHistogram(1, 3_600_000_000, 3)
        for v in lat_us:
            h.record_value(max(1, int(v)))
        out[name] = {"count": int(len(lat_us)), **{f"p{p:g}": h.get_value_at_percentile(p) for p in PERCENTILES},
                     "max": h.get_max_value(),
                     "curve": [(p, h.get_value_at_percentile(p)) for p in np.linspace(0, 99.99, 200)]}
    return out


WINDOW_S = 0.1  # the open loop's latency over time: per window of scheduled send times


def timeline(pipe: Pipeline, load: Load, phase: dict) -> dict:
    """The open-loop phase's matched latency per WINDOW_S of scheduled send time (s since the phase
    started): the windows' starts, p50s and maxima (µs). A tail made by a few stalls (a snapshot's
    pause, a slow commit) shows as a few slow windows; one made by load, as many."""
    a, b = phase["start"], phase["start"] + phase["count"]
    shared = pipe.shared
    at = shared.matched[a:b]
    ok = load.places[a:b] & (shared.status[a:b] == ANSWERED) & (at > 0)
    sched = shared.scheduled[a:b][ok]
    lat_us = (at[ok] - sched) // 1000
    window = ((sched - phase["t0_ns"]) // int(WINDOW_S * 1e9)).astype(np.int64)
    out = {"t": [], "p50_us": [], "max_us": []}
    if not len(window):
        return out
    order = np.argsort(window, kind="stable")
    window, lat_us = window[order], lat_us[order]
    cuts = np.flatnonzero(np.diff(window)) + 1
    for w, part in zip(window[np.r_[0, cuts]], np.split(lat_us, cuts)):
        out["t"].append(round(float(w) * WINDOW_S, 3))
        out["p50_us"].append(int(np.median(part)))
        out["max_us"].append(int(part.max()))
    return out


def snapshot_text(phase: dict) -> str:
    """The phase's snapshots (journal.snapshot_interval_s, as the node takes them): when each began
    (s since the phase did) and how long order entry held new commands back for it."""
    if not phase["snapshots"]:
        return "no snapshot"
    return "snapshots at " + ", ".join(f"{s['t']:.1f} s (paused {s['paused_ms']:.1f} ms)" for s in phase["snapshots"])


def slowest_text(phase: dict, n: int = 3) -> str:
    """The phase's `n` slowest windows, and its snapshots, as one line."""
    tl = phase["timeline"]
    worst = sorted(range(len(tl["t"])), key=lambda i: -tl["max_us"][i])[:n]
    parts = [f"{tl['t'][i]:.1f} s (max {tl['max_us'][i] / 1000:.1f}, p50 {tl['p50_us'][i] / 1000:.1f} ms)"
             for i in sorted(worst)]
    return f"slowest {WINDOW_S * 1000:.0f} ms windows: " + ", ".join(parts) + f"; {snapshot_text(phase)}"


def gc_text(phase: dict) -> str:
    """Each stage process's garbage-collector passes in the phase, their time and the longest."""
    parts = [f"{label} {s['gc_collections']} ({s['gc_ms']:.1f} ms, longest {s['gc_max_ms']:.1f})"
             for label, s in phase["stages"].items() if s.get("gc_collections")]
    return "garbage collector passes: " + (", ".join(parts) or "none")


# ------------------------------------------------------------------------------------ a transport


def run_transport(transport: str, args, load: Load, cores: list[int], match_instances: int) -> dict:
    label = transport if match_instances == 1 else f"{transport} match×{match_instances}"
    symbols = len(load_settings(args.config).symbol_rules())
    if match_instances > symbols:
        print(f"  note: {match_instances} Match instances for {symbols} symbols: Match splits by symbol, so "
              f"{match_instances - symbols} of them get no partition with orders", flush=True)
    pipe = Pipeline(transport, args, load, cores, match_instances)
    print(f"\n== {label}: {pipe.shared_cores()}", flush=True)
    pipe.start()
    phases = []
    try:
        closed = run_phase(pipe, "closed loop", 0, args.orders, 0, args.window)
        phases.append(closed)
        capacity = closed["commands_per_s"]
        print(f"  capacity {capacity:,.0f} commands/s (every stage done; answers at "
              f"{closed['answered_per_s']:,.0f}/s){_steal_note(closed)}; {snapshot_text(closed)}", flush=True)
        start = args.orders
        for pct in args.rates:
            rate = capacity * pct / 100
            count = max(1, min(args.orders, int(rate * args.open_seconds)))
            phases.append(run_phase(pipe, f"open {pct:g}%", start, count, rate, 0))
            start += args.orders
        for rate in args.rates_per_s:  # the same offered rate whatever this run's capacity: A/B latency
            count = max(1, min(args.orders, int(rate * args.open_seconds)))
            phases.append(run_phase(pipe, f"open {rate:,.0f}/s", start, count, rate, 0))
            start += args.orders
        if args.soak:
            rate = capacity / 2
            count = min(load.count - start, int(rate * args.soak))
            if count < int(rate * args.soak):
                print(f"  the soak has commands for {count / rate:.0f}s at {rate:,.0f}/s (SOAK_MAX_RATE)")
            phases.append(run_phase(pipe, "soak 50%", start, count, rate, 0))
            soak = phases[-1]
            print(f"  soak: {soak['seconds']:.0f}s at {rate:,.0f}/s; private MiB start -> end: " + ", ".join(
                f"{label} {st['mem_mib_start']:.0f} -> {st['mem_mib_end']:.0f}" for label, st in soak["stages"].items()),
                flush=True)
    finally:
        trades, frames = pipe.stop()
        if not args.scratch:
            shutil.rmtree(pipe.scratch, ignore_errors=True)
    for phase in phases:
        phase["latency_us"] = latencies(pipe, load, phase, trades, frames)
        a, b = phase["start"], phase["start"] + phase["count"]
        reasons = pipe.shared.reason[a:b]
        phase["refused_by_reason"] = {REASONS[k]: int((reasons == k).sum()) for k in range(1, len(REASONS))
                                      if (reasons == k).any()}
        lat = phase["latency_us"]
        print(f"  {phase['name']:<12} refused: {phase['refused_by_reason'] or 'none'}")
        print(f"  {phase['name']:<12} {gc_text(phase)}")
        if phase["offered_per_s"]:
            phase["timeline"] = timeline(pipe, load, phase)
            print(f"  {phase['name']:<12} offered {phase['offered_per_s']:>8,.0f}/s: "
                  + "  ".join(f"{k} p50 {v['p50']:,} p99 {v['p99']:,} p99.9 {v['p99.9']:,} max {v['max']:,} µs"
                              for k, v in lat.items()) + _steal_note(phase), flush=True)
            print(f"  {phase['name']:<12} {slowest_text(phase)}", flush=True)
    return {"transport": transport, "label": label, "match_instances": match_instances, "cores": pipe.plan,
            "shared_cores": pipe.shared_cores(), "capacity_orders_per_s": capacity, "phases": phases,
            "subscribers": args.subscribers if transport != "inproc" else 0, "data_dir": str(pipe.scratch / "data"),
            "frames": frames.get("frames", 0)}


# ------------------------------------------------------------------------------------- report


def summary_rows(results: list[dict], engine_rate: float = 0.0) -> list[str]:
    lines = ["| transport | capacity (commands/s) | x engines alone | p99 matched @50% (µs) | p99 answered @50% (µs) "
             "| p99 pushed @50% (µs) | CPU µs/command (all stages) |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        half = open_phase(r, 50)
        lat = half["latency_us"] if half else {}
        cpu = sum(s["cpu_us_per_command"] for s in r["phases"][0]["stages"].values())
        cell = lambda k: f"{lat[k]['p99']:,}" if k in lat else "–"  # noqa: E731
        ratio = f"{r['capacity_orders_per_s'] / engine_rate:.3f}" if engine_rate else "–"
        lines.append(f"| {r['label']} | {r['capacity_orders_per_s']:,.0f} | {ratio} | {cell('matched')} | {cell('answered')} "
                     f"| {cell('pushed')} | {cpu:,.0f} |")
    return lines


def open_phase(result: dict, pct: float) -> dict | None:
    cap = result["capacity_orders_per_s"]
    for p in result["phases"][1:]:
        if p["offered_per_s"] and abs(p["offered_per_s"] - cap * pct / 100) < 1e-6 * cap + 1e-9:
            return p
    return None


def stage_rows(results: list[dict]) -> list[str]:
    lines = ["| transport | stage | CPU µs/command | in the kernel | switches / 1k commands | entries in | entries out "
             "| mean batch in | busy % | private MiB start → end |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        closed = r["phases"][0]
        for label, s in closed["stages"].items():
            kernel = f"{s['kernel_pct']:.0f}%" if "kernel_pct" in s else ""
            lines.append(f"| {r['label']} | {label} | {s['cpu_us_per_command']:,.1f} | {kernel} | "
                         f"{s.get('switches_per_1k_commands', 0):,.0f} | {s['events_in']:,} | "
                         f"{s['events_out']:,} | {s['mean_batch_in']:,.1f} | {s['busy_pct']:.0f} | "
                         f"{s['mem_mib_start']:.0f} → {s['mem_mib_end']:.0f} |")
        for k, v in closed["aux_cpu_us_per_command"].items():
            lines.append(f"| {r['label']} | ({k}) | {v:,.1f} | | | | | | | |")
    return lines


def latency_rows(results: list[dict]) -> list[str]:
    lines = ["| transport | offered/s | what | p50 | p90 | p99 | p99.9 | max (µs) |", "|---|---:|---|---:|---:|---:|---:|---:|"]
    for r in results:
        for p in r["phases"][1:]:
            for what, v in p["latency_us"].items():
                lines.append(f"| {r['label']} | {p['offered_per_s']:,.0f} ({p['name']}) | {what} | {v['p50']:,} | "
                             f"{v['p90']:,} | {v['p99']:,} | {v['p99.9']:,} | {v['max']:,} |")
    return lines


def plot(results: list[dict], prefix: str) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    OUT.mkdir(parents=True, exist_ok=True)
    paths = []
    fig, ax = plt.subplots(figsize=(8, 4))  # throughput over time, closed loop
    for r in results:
        s = r["phases"][0]["samples"]
        t = np.array([x["t"] for x in s])
        done = np.array([x["done"] for x in s])
        if len(t) > 1:
            ax.plot(t[1:], np.diff(done) / np.diff(t), label=r["label"])
    ax.set_xlabel("s since the closed loop started")
    ax.set_ylabel("commands answered / s")
    ax.set_title("closed loop throughput", fontsize=9)
    ax.legend(fontsize=8)
    paths.append(_save(fig, f"{prefix}_throughput.png"))

    fig, axes = plt.subplots(1, len(results), figsize=(4.5 * len(results), 4), squeeze=False)
    for ax, r in zip(axes[0], results):  # latency percentile curves (answered), one per offered rate
        for p in r["phases"][1:]:
            lat = p["latency_us"].get("answered")
            if lat:
                xs = [100 / (100 - q) for q, _ in lat["curve"]]
                ax.plot(xs, [v for _, v in lat["curve"]], label=p["name"])
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks([1, 2, 10, 100, 1000, 10000], ["0", "50", "90", "99", "99.9", "99.99"])
        ax.set_xlabel("percentile")
        ax.set_ylabel("µs from scheduled send to RESULT")
        ax.set_title(r["label"], fontsize=9)
        ax.legend(fontsize=7)
    paths.append(_save(fig, f"{prefix}_latency.png"))

    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 3.8), squeeze=False)
    for ax, r in zip(axes[0], results):  # matched latency over each open loop, snapshots marked
        for p in r["phases"][1:]:
            tl = p.get("timeline")
            if not tl or not tl["t"]:
                continue
            line, = ax.plot(tl["t"], [v / 1000 for v in tl["max_us"]], label=f"{p['name']}: max")
            ax.plot(tl["t"], [v / 1000 for v in tl["p50_us"]], color=line.get_color(), alpha=0.5, linestyle="--",
                    label=f"{p['name']}: p50")
            for snap in p["snapshots"]:
                ax.axvline(snap["t"], color=line.get_color(), linestyle=":", linewidth=1)
        ax.set_yscale("log")
        ax.set_xlabel(f"s since the open loop started (per {WINDOW_S * 1000:.0f} ms of scheduled sends; "
                      "dotted: a snapshot began)", fontsize=8)
        ax.set_ylabel("ms from scheduled send to matched")
        ax.set_title(r["label"], fontsize=9)
        ax.legend(fontsize=7)
    paths.append(_save(fig, f"{prefix}_timeline.png"))

    fig, ax = plt.subplots(figsize=(8, 4))  # stacked CPU per command per stage
    names = sorted({lab.rpartition("-")[0] or lab for r in results for lab in r["phases"][0]["stages"]})
    bottom = np.zeros(len(results))
    for name in names:
        vals = np.array([sum(s["cpu_us_per_command"] for lab, s in r["phases"][0]["stages"].items()
                             if (lab.rpartition("-")[0] or lab) == name) for r in results])
        ax.bar([r["label"] for r in results], vals, bottom=bottom, label=name)
        bottom += vals
    ax.set_ylabel("CPU µs per command (closed loop)")
    ax.legend(fontsize=8)
    paths.append(_save(fig, f"{prefix}_cpu.png"))

    fig, axes = plt.subplots(1, len(results), figsize=(4.5 * len(results), 3.6), squeeze=False)
    for ax, r in zip(axes[0], results):  # queue depth over time, closed loop
        s = r["phases"][0]["samples"]
        for label in (s[0]["depth"] if s else {}):
            ax.plot([x["t"] for x in s], [x["depth"][label] for x in s], label=label)
        ax.set_title(r["label"], fontsize=9)
        ax.set_xlabel("s")
        ax.set_ylabel("messages waiting")
        ax.legend(fontsize=7)
    paths.append(_save(fig, f"{prefix}_queues.png"))

    soaks = [(r, p) for r in results for p in r["phases"] if p["name"].startswith("soak")]
    if soaks:  # memory over the soak, per stage process
        fig, axes = plt.subplots(1, len(soaks), figsize=(5 * len(soaks), 3.6), squeeze=False)
        for ax, (r, p) in zip(axes[0], soaks):
            s = p["samples"]
            for label in (s[0]["mem_mib"] if s else {}):
                ax.plot([x["t"] for x in s], [x["mem_mib"][label] for x in s], label=label)
            ax.set_title(f"{r['label']}: soak at {p['offered_per_s']:,.0f}/s", fontsize=9)
            ax.set_xlabel("s")
            ax.set_ylabel("private MiB (USS)")
            ax.legend(fontsize=7)
        paths.append(_save(fig, f"{prefix}_soak_memory.png"))
    return paths


def _save(fig, name: str) -> Path:
    fig.tight_layout()
    path = OUT / name
    fig.savefig(path, dpi=110)
    return path


def parse_pins(text: str) -> dict[str, int]:
    pins = {}
    for item in filter(None, text.split(",")):
        name, _, core = item.partition("=")
        pins[name.strip()] = int(core)
    return pins


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=20_000, help="commands in the closed loop (and at most per open-loop rate)")
    parser.add_argument("--transports", default="inproc,shm,mpq", help="comma-separated: " + ", ".join(TRANSPORTS))
    parser.add_argument("--rates", default="10,25,50,75,90", help="open-loop rates, %% of the capacity measured")
    parser.add_argument("--rates-per-s", default="", metavar="RATES",
                        help="also open-loop phases at these absolute rates (commands/s), after --rates: to compare "
                             "latency between two versions at one offered rate, whatever each run's capacity")
    parser.add_argument("--open-seconds", type=float, default=3.0, help="length of each open-loop rate")
    parser.add_argument("--window", type=int, default=1000, help="closed loop: commands in flight at most")
    parser.add_argument("--subscribers", type=int, default=0, help="WebSocket clients on every symbol's trade stream")
    parser.add_argument("--cores", type=int, default=0, help="use the first N cores this process may use (0: all)")
    parser.add_argument("--pin", type=parse_pins, default={}, help="stage=core,... (also load=, subs=)")
    parser.add_argument("--match-instances", default="1", help="comma-separated Match instance counts to run")
    parser.add_argument("--soak", type=float, default=0, help="seconds of open loop at 50%% capacity, memory watched")
    parser.add_argument("--skip-engine", action="store_true",
                        help="do not time the engines alone (bench/engine.py's full chain) on the same commands")
    parser.add_argument("--kafka-bootstrap", help="kafka: use this broker instead of starting one")
    parser.add_argument("--kafka-brokers", type=int, default=1,
                        help="kafka: how many brokers the bench starts (3: replication 3, min.insync.replicas 2)")
    parser.add_argument("--kafka-transactions", action="store_true",
                        help="kafka: transactional stage producers and read_committed consumers (kafka.transactions)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--config", default=str(ROOT / "configs" / "default.toml"))
    parser.add_argument("--json", help="write every figure of the run here")
    parser.add_argument("--scratch", help="keep each pipeline's journal, history and logs in a folder under this "
                                          "one (default: a temporary folder, removed at the end)")
    parser.add_argument("--plots", default="pipeline", help="plot file prefix under bench/out/ ('' for none)")
    args = parser.parse_args(argv)
    args.rates = [float(x) for x in args.rates.split(",") if x]
    args.rates_per_s = [float(x) for x in args.rates_per_s.split(",") if x]
    transports = [t for t in args.transports.split(",") if t]
    for t in transports:
        if t not in TRANSPORTS:
            parser.error(f"--transports: unknown {t!r}; known: {', '.join(TRANSPORTS)}")
    allowed = sorted(os.sched_getaffinity(0))
    cores = allowed[:args.cores] if args.cores else allowed
    rules = load_settings(args.config).symbol_rules()
    t = time.perf_counter()
    # the soak's commands: enough for SOAK_MAX_RATE commands/s (a faster soak ends early, and says so)
    load = Load(rules, args.orders, 1 + len(args.rates) + len(args.rates_per_s), args.seed, int(args.soak * SOAK_MAX_RATE))
    fsync = load_settings(args.config).journal.fsync
    print(f"pipeline bench: {load.count:,} commands generated in {time.perf_counter() - t:.1f}s (seed {args.seed}, "
          f"{len(load.deposits):,} deposits first); {len(cores)} cores {cores}, python {platform.python_version()}, "
          f"journal fsync {fsync}", flush=True)
    wakeup = brief()
    print(brief_text(wakeup), flush=True)
    engine_rate = 0.0
    if not args.skip_engine:  # the engines alone on one core, same commands: what the glue costs
        from engine import run_full

        elapsed, _changes, _info = run_full(load.cmds[:args.orders], rules)
        engine_rate = args.orders / elapsed
        print(f"engines alone (bench/engine.py's full chain, one core, the same {args.orders:,} commands): "
              f"{engine_rate:,.0f} commands/s", flush=True)
    load.release()
    results = []
    for transport in transports:
        for k in (int(x) for x in args.match_instances.split(",")):
            results.append(run_transport(transport, args, load, cores, k))
    print("\n" + "\n".join(summary_rows(results, engine_rate)))
    print("\n" + "\n".join(stage_rows(results)))
    print("\n" + "\n".join(latency_rows(results)))
    if args.plots:
        paths = plot(results, args.plots)
        print("\nplots: " + ", ".join(str(p.relative_to(ROOT)) for p in paths))
    doc = {"command": " ".join(sys.argv), "cores": cores, "nproc": os.cpu_count(), "wakeup": wakeup,
           "python": platform.python_version(),
           "orders": args.orders, "window": args.window, "engine_full_chain_per_s": engine_rate, "rates_pct": args.rates, "rates_per_s": args.rates_per_s, "fsync": fsync, "results": results}
    if args.json:
        Path(args.json).write_text(json.dumps(doc, indent=1))
        print(f"json: {args.json}")
    return doc


if __name__ == "__main__":
    main()
