"""`python -m spot_seda.kafka_broker`: brokers by hand (the package's docstring)."""

from __future__ import annotations

import argparse
import json
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from .cluster import KafkaCluster
from .jars import consumer_groups, kafka_version
from .node import KafkaBroker

#: how Kafka's consumer-groups tool reports a failure on stderr: "Error: ..." or a Java exception
#: ("java.lang.RuntimeException: ... Failed to find brokers to send ListGroups"), a stack trace's
#: first line; some of them with exit status 0
_TOOL_FAILED = re.compile(r"^(Error: |[\w.$]*(Exception|Error)\b)", re.M)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["consumer-groups"]:  # kafka-consumer-groups.sh, from the Maven Central jars
        done = consumer_groups(argv[1:], stderr=subprocess.PIPE, text=True)
        sys.stderr.write(done.stderr)
        return done.returncode or (1 if _TOOL_FAILED.search(done.stderr) else 0)  # (a script's `&&` stops)
    ap = argparse.ArgumentParser(prog="python -m spot_seda.kafka_broker",
                                 description="Run Kafka brokers (KRaft) on this box until Ctrl-C or SIGTERM; "
                                             "prints the bootstrap list on stdout.",
                                 epilog="python -m spot_seda.kafka_broker consumer-groups ARGS... runs Kafka's "
                                        "kafka-consumer-groups.sh (from the same jars) with ARGS, e.g. "
                                        "--bootstrap-server 127.0.0.1:PORT --describe --all-groups")
    ap.add_argument("--brokers", type=int, default=1, help="how many brokers (default 1; 3 for replication 3)")
    ap.add_argument("--data-dir", type=Path, help="keep the data here (default: a temp dir, removed on exit)")
    ap.add_argument("--port", type=int, help="the first broker's port, the next ones' the ports after it (default: "
                                             "with --data-dir, the ports it had there before, else free ones)")
    ap.add_argument("--heap", help="each JVM's -Xmx (default 512m for one broker, 384m each for several)")
    args = ap.parse_args(argv)
    if args.brokers < 1:
        ap.error("--brokers must be at least 1")
    data_dir = args.data_dir
    tmp = None
    if data_dir is None:
        tmp = tempfile.mkdtemp(prefix="spot_seda-kafka-")
        data_dir = Path(tmp)
    # a cluster restarted on its data keeps its ports, so the nodes' [kafka] bootstrap_servers still
    # reach it (a port taken meanwhile: the broker says so as it starts)
    saved = data_dir / "ports.json"
    ports = [args.port + i for i in range(args.brokers)] if args.port is not None else None
    if ports is None and args.data_dir is not None and saved.exists():
        try:
            ports = [int(p) for p in json.loads(saved.read_text())["ports"]]
        except (ValueError, KeyError, TypeError):
            ports = None
        if ports is not None and len(ports) != args.brokers:
            ports = None  # (another number of brokers than last time)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # unwinds through the with: brokers stopped
    try:
        if args.brokers == 1:
            server = KafkaBroker(data_dir, ports[0] if ports else None, heap=args.heap or "512m")
        else:
            server = KafkaCluster(data_dir, args.brokers, heap=args.heap or "384m", ports=ports)
        with server:
            if args.data_dir is not None:
                saved.write_text(json.dumps({"ports": [int(b.rpartition(":")[2]) for b in server.bootstrap.split(",")]}))
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
