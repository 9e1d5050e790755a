"""Recovery benchmark: how long a node takes to come back, replaying its whole journal or starting
from a snapshot, and the replay rate.

1. Builds a journal of N accepted commands (deposits, then a seeded random session of limit, market
   and cancel orders over two symbols, as tests/runtime/test_replay.py makes them), by running them
   through the stages in this process and journaling what Acquiring accepted.
2. Starts the node on it with no snapshot (everything is replayed), time until HTTP answers.
3. Stops it cleanly (the stages snapshot), starts it again: time until HTTP answers.

    python bench/recovery.py [--commands 50000]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from spot_seda.journal import Journal  # noqa: E402
from spot_seda.model.commands import ENCODER  # noqa: E402
from spot_seda.runtime.inproc import InprocPipeline  # noqa: E402
from spot_seda.runtime.replay import apply_commands  # noqa: E402
from tests.conftest import settings_from  # noqa: E402
from tests.runtime.test_replay import commands  # noqa: E402


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_and_time(data: Path) -> tuple[float, str, subprocess.Popen]:
    port = free_port()
    log = data.parent / f"node-{time.monotonic_ns()}.log"
    began = time.perf_counter()
    node = subprocess.Popen([sys.executable, str(ROOT / "run.py"), "--data-dir", str(data), "--http-port", str(port),
                             "--ws-port", str(free_port())], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=open(log, "wb"), start_new_session=True)
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v3/ping", timeout=1).read()
            break
        except OSError:
            if node.poll() is not None:
                raise SystemExit(log.read_text())
            time.sleep(0.02)
    return time.perf_counter() - began, log.read_text(), node


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commands", type=int, default=50_000)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="spot_seda_recovery_"))
    data = scratch / "data"
    print(f"# building a journal of about {args.commands:,} accepted commands ...", flush=True)
    settings = settings_from(f'[node]\ndata_dir = "{scratch / "build"}"\n[bus]\ntransport = "inproc"\n')
    pipeline = InprocPipeline(settings)
    accepted: list = []
    apply_commands(pipeline, commands(1, args.commands), journaled=False, accepted=accepted)
    journal = Journal(data / "journal", fsync="off")
    for cmd in accepted:
        journal.append(ENCODER.encode(cmd))
    journal.close()
    print(f"# journal: {len(accepted):,} commands", flush=True)

    elapsed, log, node = start_and_time(data)
    replayed = re.search(r"replayed (\d+) journaled commands in ([\d.]+)s", log)
    print(f"restart, no snapshot: HTTP answers after {elapsed:.2f}s; {replayed.group(0) if replayed else log[-500:]}", flush=True)
    if replayed:
        print(f"  replay rate: {int(replayed.group(1)) / float(replayed.group(2)):,.0f} commands/s", flush=True)
    os.killpg(node.pid, signal.SIGTERM)
    node.wait(120)
    elapsed, log, node = start_and_time(data)
    print(f"restart from the snapshot taken at the clean stop: HTTP answers after {elapsed:.2f}s "
          f"({'snapshot loaded' if 'loaded the snapshot' in log else 'NO SNAPSHOT'})", flush=True)
    os.killpg(node.pid, signal.SIGTERM)
    node.wait(120)
    return 0


if __name__ == "__main__":
    sys.exit(main())
