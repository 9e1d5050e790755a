"""Real Apache Kafka brokers (KRaft, no ZooKeeper, no Docker) on this box, for tests and by hand:
one node (`KafkaBroker`) or a cluster of several (`KafkaCluster`, e.g. three with replication 3).

The broker runs from the jars of Maven Central: `spot_seda/kafka/pom.xml` (package data, so an
installed package finds it too) names them, and
`ensure_jars()` has Maven copy the runtime classpath once into a cache directory
(`~/.cache/spot_seda/kafka-<version>/lib`, or `$SPOT_SEDA_KAFKA_HOME/lib`). It needs `java`
(17 or later; `$JAVA_HOME/bin/java` if set) and, for the first fetch only, `mvn`.

    with KafkaBroker(tmp_dir) as broker:
        AdminClient({"bootstrap.servers": broker.bootstrap}) ...

`KafkaBroker` picks free 127.0.0.1 ports, writes a KRaft `server.properties` (one node that is
both broker and controller), formats the storage, starts `kafka.Kafka` in its own process group
with its log in `data_dir/broker.log`, and returns once the broker answers a Metadata request
listing itself. On exit it sends SIGTERM, then SIGKILL after 10 s, and waits for the JVM.
Re-opening an already formatted `data_dir` restarts the broker on its data.

`KafkaCluster(data_dir, 3)` runs three such nodes (each broker and controller, one static KRaft
quorum of three voters, one cluster id, `data_dir/broker-<id>` each) with small heaps, started
together (a quorum needs a majority) and stopped together; its `bootstrap` lists all three.
`kill(i)` / `restart(i)` take one down with SIGKILL and bring it back on its data and ports.

By hand: `python -m spot_seda.kafka_broker [--brokers 3] [--data-dir DIR] [--port N]` runs them
until Ctrl-C or SIGTERM, printing the bootstrap list on stdout; nothing is left running after.
`python -m spot_seda.kafka_broker consumer-groups ARGS` is Kafka's kafka-consumer-groups.sh
(e.g. `--bootstrap-server B --describe --all-groups`: every stage's committed offsets and lag).

Standard library only.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import fcntl
import hashlib
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

POM = Path(__file__).resolve().parent / "kafka" / "pom.xml"
TOOLS_POM = POM.with_name("tools-pom.xml")  # Kafka's command-line tools (kafka-consumer-groups ...)
DEFAULT_KAFKA_VERSION = "4.4.0"  # the pom's <kafka.version>; read from it when it is there
HOME_ENV = "SPOT_SEDA_KAFKA_HOME"
STAMP = ".spot_seda-complete"  # in lib/: the sha256 of the pom the jars were fetched with
START_TIMEOUT = 60.0
STOP_GRACE = 10.0
STARTED_LINE = "Kafka Server started"

# Log4j 2 configuration for the JVMs we start: everything to stdout, which goes to broker.log.
# The config dumps (thousands of lines per start) and the request log are kept quiet.
LOG4J2 = """\
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = {level}
rootLogger.appenderRef.out.ref = OUT
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
"""


# ---------------------------------------------------------------------------------------------
# The jars


def kafka_version(pom: Path = POM) -> str:
    """The Kafka version the pom asks for (the default when the pom is not there)."""
    try:
        m = re.search(r"<kafka\.version>\s*([^<\s]+)\s*</kafka\.version>", pom.read_text())
    except OSError:
        return DEFAULT_KAFKA_VERSION
    return m.group(1) if m else DEFAULT_KAFKA_VERSION


def kafka_home() -> Path:
    """Where the jars are cached: $SPOT_SEDA_KAFKA_HOME, else ~/.cache/spot_seda/kafka-<version>."""
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "spot_seda" / f"kafka-{kafka_version()}"


def _pom_digest(pom: Path) -> str:
    return hashlib.sha256(pom.read_bytes()).hexdigest()


def _complete(lib: Path, digest: str | None) -> bool:
    """lib/ holds a finished fetch (of this pom, when its digest is known)."""
    try:
        stamp = (lib / STAMP).read_text().strip()
    except OSError:
        return False
    return digest is None or stamp == digest


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def ensure_tools() -> Path:
    """Fetch the classpath of Kafka's command-line tools once (into <home>/tools) and return it."""
    return ensure_jars(TOOLS_POM, "tools")


def ensure_jars(pom: Path = POM, into: str = "lib") -> Path:
    """Fetch the broker's runtime classpath once and return the directory holding the jars.

    Idempotent and safe across processes: the fetch runs under an exclusive lock on
    `<home>/.lock`, into a temporary directory that is renamed to `<home>/lib` only once
    complete. A changed pom fetches again. Raises RuntimeError (with the command and the tail of
    Maven's output) when Maven is missing or fails.
    """
    home = kafka_home()
    lib = home / into
    digest = _pom_digest(pom) if pom.is_file() else None
    if _complete(lib, digest):
        return lib
    if digest is None:
        raise RuntimeError(f"no Kafka jars in {lib} and no {pom} to fetch them with")
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second process waits here, then finds lib/ done
        if _complete(lib, digest):
            return lib
        tmp = Path(tempfile.mkdtemp(prefix="lib.tmp-", dir=home))
        try:
            _fetch(pom, tmp)
            (tmp / STAMP).write_text(digest + "\n")
            if lib.exists():  # a fetch for another pom: move it aside, then drop it
                old = Path(tempfile.mkdtemp(prefix="lib.old-", dir=home))
                os.rename(lib, old / into)
                shutil.rmtree(old, ignore_errors=True)
            os.rename(tmp, lib)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return lib


def _fetch(pom: Path, out: Path) -> None:
    mvn = shutil.which("mvn")
    cmd = [
        mvn or "mvn", "-B", "-ntp", "-Dstyle.color=never", "-f", str(pom),
        "dependency:copy-dependencies", f"-DoutputDirectory={out}", "-DincludeScope=runtime",
    ]
    shown = " ".join(cmd)
    if mvn is None:
        raise RuntimeError(f"cannot fetch the Kafka jars: `mvn` is not on PATH (command: {shown})")
    print(f"spot_seda: fetching the Kafka {kafka_version(pom)} jars of {pom.name} from Maven Central into "
          f"{out.parent} (once) ...", file=sys.stderr, flush=True)
    try:
        res = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, timeout=900)
    except subprocess.TimeoutExpired as exc:
        out_text = exc.stdout if isinstance(exc.stdout, str) else (exc.stdout or b"").decode()
        raise RuntimeError(f"Maven timed out fetching the Kafka jars: {shown}\n{_tail(out_text)}")
    if res.returncode != 0 or not any(out.glob("kafka*.jar")):
        raise RuntimeError(f"Maven failed to fetch the Kafka jars (exit {res.returncode}): "
                           f"{shown}\n{_tail(res.stdout)}")


# ---------------------------------------------------------------------------------------------
# The broker


def java_bin() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    java = shutil.which("java")
    if java is None:
        raise RuntimeError("the Kafka broker needs Java 17 or later: no `java` on PATH or in JAVA_HOME")
    return java


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def random_cluster_id() -> str:
    """A Kafka Uuid as `kafka-storage random-uuid` prints it (base64url, 22 characters)."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not text.startswith("-"):  # Kafka avoids these too: they read as an option
            return text


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed mid-response")
        buf += chunk
    return bytes(buf)


def metadata_brokers(host: str, port: int, timeout: float = 2.0) -> list[tuple[int, str, int]]:
    """(node id, host, port) of the brokers a Kafka Metadata request (v4, no topics) returns."""
    client = b"spot_seda-probe"
    req = struct.pack(">hhih", 3, 4, 1, len(client)) + client + struct.pack(">ib", 0, 0)
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.settimeout(timeout)
        s.sendall(struct.pack(">i", len(req)) + req)
        (size,) = struct.unpack(">i", _recv_exact(s, 4))
        data = _recv_exact(s, size)
    _corr, _throttle, count = struct.unpack_from(">iii", data, 0)
    off = 12
    brokers = []
    for _ in range(count):
        node, hlen = struct.unpack_from(">ih", data, off)
        off += 6
        bhost = data[off:off + hlen].decode()
        off += hlen
        bport, rlen = struct.unpack_from(">ih", data, off)
        off += 6 + max(rlen, 0)
        brokers.append((node, bhost, bport))
    return brokers


_live: set["KafkaBroker"] = set()


@atexit.register
def _stop_all() -> None:
    for broker in list(_live):
        broker.stop()


class KafkaBroker:
    """One Kafka node (broker + controller, KRaft) on 127.0.0.1, as a context manager.

    `overrides` adds to or replaces lines of server.properties; `heap` is the JVM's -Xmx. A node
    of a cluster gets its `node_id`, the quorum's `voters` ("1@host:port,2@..."), the shared
    `cluster_id` and the cluster's size `brokers` (internal topics are replicated over them all).
    """

    def __init__(self, data_dir: Path | str, port: int | None = None, *,
                 overrides: dict[str, object] | None = None, heap: str = "512m",
                 start_timeout: float = START_TIMEOUT, log_level: str = "INFO",
                 node_id: int = 1, controller_port: int | None = None, voters: str | None = None,
                 cluster_id: str | None = None, brokers: int = 1) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port or free_port()
        self.controller_port = controller_port or free_port()
        while self.controller_port == self.port:
            self.controller_port = free_port()
        self.node_id = node_id
        self.voters = voters or f"{node_id}@127.0.0.1:{self.controller_port}"
        self.cluster_id = cluster_id
        self.brokers = brokers
        self.overrides = dict(overrides or {})
        self.heap = heap
        self.start_timeout = start_timeout
        self.log_level = log_level
        self.log_path = self.data_dir / "broker.log"
        self.props_path = self.data_dir / "server.properties"
        self.log4j_path = self.data_dir / "log4j2.properties"
        self.log_dir = self.data_dir / "kraft-logs"
        self.proc: subprocess.Popen | None = None
        self.startup_s: float | None = None
        self._t0 = 0.0
        self._log_start = 0

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    # -- configuration

    def properties(self) -> dict[str, object]:
        n = self.brokers
        isr = min(2, n)  # acks=all then survives one broker down of three, never an unreplicated write
        props: dict[str, object] = {
            "process.roles": "broker,controller",
            "node.id": self.node_id,
            # A static quorum: restarting on the same data with other controller ports works.
            "controller.quorum.voters": self.voters,
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.log_dir),
            "num.partitions": 1,
            "default.replication.factor": n,
            "min.insync.replicas": isr,
            "unclean.leader.election.enable": "false",
            "auto.create.topics.enable": "false",
            "offsets.topic.replication.factor": n,
            "offsets.topic.num.partitions": 1,  # the default 50 slow down the first group join
            "transaction.state.log.replication.factor": n,
            "transaction.state.log.min.isr": isr,
            "transaction.state.log.num.partitions": 1,
            "share.coordinator.state.topic.replication.factor": n,
            "share.coordinator.state.topic.min.isr": isr,
            "group.initial.rebalance.delay.ms": 0,
            # A restart after a kill -9 waits for the old incarnation's session to expire
            # (DUPLICATE_BROKER_REGISTRATION until then): 4 s rather than 9 (6 s in a cluster,
            # whose three JVMs share the cores with the node: a late heartbeat must not fence one).
            "broker.heartbeat.interval.ms": 1000,
            "broker.session.timeout.ms": 4000 if n == 1 else 6000,
            # Sized for tests on a small machine.
            "num.network.threads": 2,
            "num.io.threads": 4 if n == 1 else 2,
            "num.replica.fetchers": 1,
            "num.recovery.threads.per.data.dir": 1,
            "log.segment.bytes": 16 * 1024 * 1024,
            "log.retention.ms": 60 * 60 * 1000,
            "log.retention.check.interval.ms": 60 * 1000,
            "offsets.retention.minutes": 60,
        }
        props.update(self.overrides)
        return props

    def _write_config(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        lines = [f"{k}={v}" for k, v in self.properties().items()]
        self.props_path.write_text("# written by spot_seda.kafka_broker\n" + "\n".join(lines) + "\n")
        self.log4j_path.write_text(LOG4J2.format(level=self.log_level))

    def _java(self, lib: Path, heap: str, *args: str) -> list[str]:
        return [java_bin(), f"-Xmx{heap}", "-Djava.awt.headless=true",
                f"-Dlog4j2.configurationFile={self.log4j_path}", "-cp", f"{lib}/*", *args]

    def _format(self, lib: Path) -> None:
        if (self.log_dir / "meta.properties").exists():
            return  # formatted before: restart on its data
        cmd = self._java(lib, "256m", "kafka.tools.StorageTool", "format",
                         "-t", self.cluster_id or random_cluster_id(), "-c", str(self.props_path))
        res = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, timeout=120)
        with open(self.log_path, "a") as log:
            log.write(res.stdout)
        if res.returncode != 0:
            raise RuntimeError(f"formatting the Kafka storage failed (exit {res.returncode}): "
                               f"{' '.join(cmd)}\n{_tail(res.stdout)}")

    # -- life cycle

    def start(self) -> "KafkaBroker":
        self.launch()
        self.wait_ready()
        return self

    def launch(self) -> None:
        """Start the JVM without waiting for it (a cluster launches all its nodes, then waits)."""
        if self.proc is not None:
            raise RuntimeError("broker already started")
        self._t0 = time.monotonic()
        lib = ensure_jars()
        self._write_config()
        self._format(lib)
        cmd = self._java(lib, self.heap, "kafka.Kafka", str(self.props_path))
        # The JVM dies with us if we are killed (-9 included): PR_SET_PDEATHSIG through
        # setpriv. The signal follows the thread that started it, so only from the main thread.
        setpriv = shutil.which("setpriv")
        if setpriv and threading.current_thread() is threading.main_thread():
            cmd = [setpriv, "--pdeathsig", "KILL", "--", *cmd]
        self._log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         cwd=self.data_dir)
        finally:
            log.close()
        _live.add(self)

    def wait_ready(self) -> None:
        """Return once the launched broker answers a Metadata request listing itself."""
        try:
            self._wait_ready(self._t0)
        except BaseException:
            self.stop()
            raise
        self.startup_s = time.monotonic() - self._t0

    def _log_tail(self, lines: int = 40) -> str:
        try:
            return _tail(self.log_path.read_text(errors="replace"), lines)
        except OSError:
            return "(no log)"

    def _wait_ready(self, t0: float) -> None:
        deadline = t0 + self.start_timeout
        pos, started, last_err = self._log_start, False, None  # this start's lines, not an earlier one's
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"the Kafka broker exited with {self.proc.returncode} while "
                                   f"starting; {self.log_path} ends:\n{self._log_tail()}")
            if not started:
                with open(self.log_path, "rb") as f:
                    f.seek(max(pos - len(STARTED_LINE), 0))
                    chunk = f.read()
                    pos = f.tell()
                started = STARTED_LINE.encode() in chunk
            if started:
                try:
                    if any(port == self.port for _n, _h, port in metadata_brokers("127.0.0.1", self.port)):
                        return
                    last_err = "the broker does not list itself yet"
                except (OSError, struct.error, UnicodeDecodeError) as exc:
                    last_err = repr(exc)
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the Kafka broker was not ready within {self.start_timeout:.0f} s "
                    f"(log says started: {started}; last probe: {last_err}); "
                    f"{self.log_path} ends:\n{self._log_tail()}")
            time.sleep(0.1)

    def stop(self, grace: float = STOP_GRACE) -> None:
        """SIGTERM the broker's process group, SIGKILL it after `grace` s; wait for the JVM."""
        self.terminate()
        self.reap(grace)

    def terminate(self) -> None:
        """Ask the broker to stop (SIGTERM), without waiting."""
        if self.proc is not None and self.proc.poll() is None:
            self._signal(self.proc, signal.SIGTERM)

    def reap(self, grace: float = STOP_GRACE) -> None:
        """Wait up to `grace` s for a terminated broker, then SIGKILL what is left of its group."""
        proc, self.proc = self.proc, None
        _live.discard(self)
        if proc is None:
            return
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
        self._signal(proc, signal.SIGKILL)  # also anything left in its group
        proc.wait()

    def kill(self) -> None:
        """kill -9 the broker (a crash, for tests); start() brings it back on its data."""
        if self.proc is not None:
            self._signal(self.proc, signal.SIGKILL)
        self.reap(0)

    @staticmethod
    def _signal(proc: subprocess.Popen, sig: int) -> None:
        try:
            os.killpg(proc.pid, sig)  # its own session: pgid == pid
        except ProcessLookupError:
            pass
        except PermissionError:
            proc.send_signal(sig)

    def __enter__(self) -> "KafkaBroker":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class KafkaCluster:
    """`brokers` KafkaBroker nodes forming one KRaft cluster on 127.0.0.1, as a context manager.

    Every node is broker and controller (a static quorum of all of them); internal topics and the
    defaults for new topics are replicated over every node, with min.insync.replicas 2 (when there
    are at least two) and unclean leader election off. Heaps are small (`heap` each): three nodes
    fit a small box beside the node they serve.
    """

    def __init__(self, data_dir: Path | str, brokers: int = 3, *, heap: str = "384m",
                 overrides: dict[str, object] | None = None, start_timeout: float = 90.0,
                 log_level: str = "INFO") -> None:
        if brokers < 1:
            raise ValueError("a cluster needs at least one broker")
        self.data_dir = Path(data_dir).resolve()
        ids = range(1, brokers + 1)
        ports = _distinct_ports(2 * brokers)
        controllers = dict(zip(ids, ports[brokers:]))
        voters = ",".join(f"{i}@127.0.0.1:{controllers[i]}" for i in ids)
        cluster_id = self._cluster_id()
        self.nodes = [
            KafkaBroker(self.data_dir / f"broker-{i}", ports[i - 1], overrides=overrides, heap=heap,
                        start_timeout=start_timeout, log_level=log_level, node_id=i,
                        controller_port=controllers[i], voters=voters, cluster_id=cluster_id, brokers=brokers)
            for i in ids
        ]
        self.startup_s: float | None = None

    def _cluster_id(self) -> str:
        """The cluster id the data dir was formatted with (a restart on it), else a new one."""
        path = self.data_dir / "cluster.id"
        try:
            return path.read_text().strip()
        except OSError:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            cid = random_cluster_id()
            path.write_text(cid + "\n")
            return cid

    @property
    def bootstrap(self) -> str:
        return ",".join(n.bootstrap for n in self.nodes)

    def start(self) -> "KafkaCluster":
        t0 = time.monotonic()
        try:
            for node in self.nodes:  # all at once: the controller quorum needs a majority to elect
                node.launch()
            for node in self.nodes:
                node.wait_ready()
        except BaseException:
            self.stop()
            raise
        self.startup_s = time.monotonic() - t0
        return self

    def stop(self, grace: float = STOP_GRACE) -> None:
        """SIGTERM every node at once (one by one, the last ones would wait for a lost quorum),
        SIGKILL what is left after `grace` s; returns with no JVM of the cluster running."""
        for node in self.nodes:
            node.terminate()
        for node in self.nodes:
            node.reap(grace)

    def kill(self, index: int) -> None:
        """kill -9 node `index` (0-based)."""
        self.nodes[index].kill()

    def restart(self, index: int) -> None:
        """Start node `index` again on its data and ports, and wait until it serves."""
        self.nodes[index].start()

    def pids(self) -> list[int]:
        return [n.proc.pid for n in self.nodes if n.proc is not None]

    def __enter__(self) -> "KafkaCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _distinct_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


# ---------------------------------------------------------------------------------------------
# By hand


def consumer_groups(args: list[str], **run) -> subprocess.CompletedProcess:
    """Kafka's own kafka-consumer-groups (ConsumerGroupCommand) with `args`, e.g.
    ["--bootstrap-server", B, "--describe", "--group", G]: what kafka-consumer-groups.sh runs."""
    cmd = [java_bin(), "-Xmx256m", "-Dlog4j2.level=WARN", "-cp", f"{ensure_tools()}/*",
           "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand", *args]
    return subprocess.run(cmd, stdin=subprocess.DEVNULL, **run)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["consumer-groups"]:  # kafka-consumer-groups.sh, from the Maven Central jars
        return consumer_groups(argv[1:]).returncode
    ap = argparse.ArgumentParser(prog="python -m spot_seda.kafka_broker",
                                 description="Run Kafka brokers (KRaft) on this box until Ctrl-C or SIGTERM; "
                                             "prints the bootstrap list on stdout.")
    ap.add_argument("--brokers", type=int, default=1, help="how many brokers (default 1; 3 for replication 3)")
    ap.add_argument("--data-dir", type=Path, help="keep the data here (default: a temp dir, removed on exit)")
    ap.add_argument("--port", type=int, help="the broker's port (one broker only; default: a free one)")
    ap.add_argument("--heap", help="each JVM's -Xmx (default 512m for one broker, 384m each for several)")
    args = ap.parse_args(argv)
    if args.brokers < 1:
        ap.error("--brokers must be at least 1")
    if args.port is not None and args.brokers != 1:
        ap.error("--port goes with one broker only")

    data_dir = args.data_dir
    tmp = None
    if data_dir is None:
        tmp = tempfile.mkdtemp(prefix="spot_seda-kafka-")
        data_dir = Path(tmp)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # unwinds through the with: brokers stopped
    try:
        if args.brokers == 1:
            server = KafkaBroker(data_dir, args.port, heap=args.heap or "512m")
        else:
            server = KafkaCluster(data_dir, args.brokers, heap=args.heap or "384m")
        with server:
            print(f"Kafka {kafka_version()}: {args.brokers} broker(s) ready in {server.startup_s:.1f} s; "
                  f"bootstrap: {server.bootstrap}; data: {data_dir}", file=sys.stderr)
            print(server.bootstrap, flush=True)
            try:
                while True:
                    signal.pause()
            except KeyboardInterrupt:
                print("stopping", file=sys.stderr)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
