"""One Kafka node (broker and controller, KRaft) on 127.0.0.1 in its own JVM, and the Metadata probe
that says it serves."""

from __future__ import annotations

import atexit
import base64
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
import uuid
from pathlib import Path

from .jars import ensure_jars, java_bin, tail

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



_HANDED_OUT: set[int] = set()
_PICK = random.Random()  # its own generator: a test that seeds the module's cannot make two processes pick alike


def free_port() -> int:
    """A port on 127.0.0.1 nothing listens on now, and not one this process handed out before.

    Picked at random below Linux's ephemeral range (32768-60999 by default), not by binding port 0:
    the kernel hands ports in that range to outgoing connections, and one took a restarted broker's
    (or node's) port as its own local port while the server was down, so it could not listen again.
    Binding port 0 twice in a row may also give the same port twice."""
    while True:
        port = _PICK.randrange(20000, 32768)
        if port in _HANDED_OUT:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port


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
                               f"{' '.join(cmd)}\n{tail(res.stdout)}")

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
            return tail(self.log_path.read_text(errors="replace"), lines)
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
