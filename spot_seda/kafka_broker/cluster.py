"""Several KafkaBroker nodes as one KRaft cluster (a static quorum of all of them)."""

from __future__ import annotations

import time
from pathlib import Path

from .node import STOP_GRACE, KafkaBroker, free_port, random_cluster_id


class KafkaCluster:
    """`brokers` KafkaBroker nodes forming one KRaft cluster on 127.0.0.1, as a context manager.

    Every node is broker and controller (a static quorum of all of them); internal topics and the
    defaults for new topics are replicated over every node, with min.insync.replicas 2 (when there
    are at least two) and unclean leader election off. Heaps are small (`heap` each): three nodes
    fit a small box beside the node they serve.
    """

    def __init__(self, data_dir: Path | str, brokers: int = 3, *, heap: str = "384m",
                 overrides: dict[str, object] | None = None, start_timeout: float = 90.0,
                 log_level: str = "INFO", ports: list[int] | None = None) -> None:
        """`ports`: the brokers' client ports (default: free ones); the controllers' are free ones."""
        if brokers < 1:
            raise ValueError("a cluster needs at least one broker")
        if ports is not None and len(ports) != brokers:
            raise ValueError(f"{brokers} brokers need {brokers} ports, not {len(ports)}")
        self.data_dir = Path(data_dir).resolve()
        ids = range(1, brokers + 1)
        free = _distinct_ports(2 * brokers)
        if ports is not None:
            free = [p for p in free if p not in ports]
        ports = list(ports) + free[:brokers] if ports is not None else free
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
