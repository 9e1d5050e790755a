"""Idle benchmark: the CPU a node takes with nothing to do, on the embedded default (shm) or over a
Kafka cluster, and the cluster's own share.

A node that waits for orders should cost next to nothing. Over Kafka each stage's consumer keeps a
fetch waiting at every broker it reads from, and how long a broker may hold an empty one
(`fetch.wait.max.ms`, bus/kafkaclients.py) sets how many requests an idle node sends it.

What runs: `run.py` with configs/default.toml (`--transport shm`, the default) or configs/kafka.toml
(`--transport kafka`, a fresh topic prefix; `--kafka-bootstrap B` uses a running cluster, else a
three-broker KRaft cluster is started on this box for the run: spot_seda.kafka_broker). Once the node
answers ping and has been up `--warm` s, the CPU time (/proc, as bench/pipeline.py reads it) of the
node's processes and of the brokers' is read over `--seconds` s; over Kafka the brokers' is read
once more with the node stopped, over the same time.

Output: one line per reading, as % of one core:

    python bench/idle.py [--transport kafka] [--seconds 10] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from node import stop_node, wait_up  # noqa: E402
from nodeconfig import with_keys  # noqa: E402
from pipeline import cpu_ns  # noqa: E402
from spot_seda.kafka_broker.node import free_port  # noqa: E402


def group_pids(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[2]) == pgid:
                    pids.append(int(entry.name))
            except (FileNotFoundError, ProcessLookupError, IndexError):
                pass
    return pids


def shares(groups: list[list[int]], seconds: float) -> list[float]:
    """% of one core each group of processes took over the same `seconds` from now."""
    before = [sum(map(cpu_ns, pids)) for pids in groups]
    time.sleep(seconds)
    return [100 * (sum(map(cpu_ns, pids)) - b) / 1e9 / seconds for pids, b in zip(groups, before)]


def config(transport: str, data: Path, http: int, ws: int, bootstrap: str) -> str:
    if transport == "shm":
        text = (ROOT / "configs" / "default.toml").read_text()
    else:
        text = (ROOT / "configs" / "kafka.toml").read_text()
        replicas = min(3, len(bootstrap.split(",")))
        text = with_keys(text, "kafka", {"bootstrap_servers": bootstrap, "topic_prefix": f"idle{uuid.uuid4().hex[:8]}.",
                                         "replication_factor": replicas, "min_insync_replicas": min(2, replicas)})
    return with_keys(text, "node", {"data_dir": str(data), "http_port": http, "ws_port": ws})


def measure(args, bootstrap: str, broker_pids: list[int], scratch: Path) -> dict:
    http, ws = free_port(), free_port()
    path = scratch / "node.toml"
    path.write_text(config(args.transport, scratch / "data", http, ws, bootstrap))
    log = open(scratch / "node.log", "wb")
    node = subprocess.Popen([sys.executable, str(ROOT / "run.py"), "--config", str(path)], cwd=ROOT, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        try:
            wait_up(f"http://127.0.0.1:{http}/api/v3/ping", timeout=120)
        except SystemExit:
            raise SystemExit(f"the node did not start: see {scratch / 'node.log'}") from None
        print(f"node up; {args.warm:g} s to settle, then {args.seconds:g} s idle", flush=True)
        time.sleep(args.warm)
        pids = group_pids(node.pid)
        node_pct, brokers_pct = shares([pids, broker_pids], args.seconds)
    finally:
        stop_node(node, 60)
        log.close()
    result = {"transport": args.transport, "seconds": args.seconds, "node_processes": len(pids),
              "node_pct_of_a_core": round(node_pct, 1)}
    print(f"idle node ({len(pids)} processes): {node_pct:.1f}% of a core", flush=True)
    if broker_pids:
        time.sleep(2)
        alone, = shares([broker_pids], args.seconds)
        result |= {"brokers_pct_with_the_node": round(brokers_pct, 1), "brokers_pct_alone": round(alone, 1)}
        print(f"its brokers: {brokers_pct:.1f}% of a core with the idle node, {alone:.1f}% without it", flush=True)
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transport", choices=("shm", "kafka"), default="shm")
    parser.add_argument("--kafka-bootstrap", default="", help="a running cluster (default: start three brokers)")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long the idle node is watched")
    parser.add_argument("--warm", type=float, default=5.0, help="seconds after the node answers before watching")
    parser.add_argument("--json", default="", help="write the figures here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="idle-") as tmp:
        scratch = Path(tmp)
        if args.transport == "kafka" and not args.kafka_bootstrap:
            from spot_seda.kafka_broker import KafkaCluster

            print("starting three Kafka brokers...", flush=True)
            with KafkaCluster(scratch / "kafka", 3) as cluster:
                brokers = cluster.pids()
                result = measure(args, cluster.bootstrap, brokers, scratch)
        else:
            brokers = []
            if args.kafka_bootstrap:  # (the Kafka brokers running on this box: a local cluster is assumed)
                brokers = [int(p) for p in subprocess.run(["pgrep", "-f", "kafka.Kafka"], capture_output=True,
                                                          text=True).stdout.split()]
            result = measure(args, args.kafka_bootstrap, brokers, scratch)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
