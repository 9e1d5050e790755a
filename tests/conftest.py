"""Shared fixtures: small settings, a repo-root path, a helper that runs `run.py` as a real node, and
a real three-broker Kafka cluster (started once per session, by the first test that asks for it)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from spot_seda.config import Settings, parse_settings

ROOT = Path(__file__).resolve().parent.parent


async def eventually(check, timeout: float = 10.0, pause: float = 0.05):
    """Retry an async check until it passes: what one stage shows follows another's a moment later
    (balances after Settlement, streams after Push)."""
    import asyncio

    deadline = time.monotonic() + timeout
    while True:
        try:
            return await check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(pause)


def settings_from(toml: str) -> Settings:
    """Settings from TOML text, on top of the defaults (symbols from the default config)."""
    base = (ROOT / "configs" / "default.toml").read_text()
    symbols = base[base.index("[[symbols]]"):]
    return parse_settings(toml + "\n" + symbols)


@pytest.fixture
def small_bus_toml() -> str:
    return '[bus]\nqueue_bytes = 4194304\nmax_message_bytes = 65536\nput_timeout_s = 1.0\npartitions = 4\n'


class NodeProcess:
    """A `python run.py` child process with its config and data dir."""

    def __init__(self, proc: subprocess.Popen, data_dir: Path, log_path: Path) -> None:
        self.proc = proc
        self.data_dir = data_dir
        self.log_path = log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def manifest(self) -> dict:
        return json.loads((self.data_dir / "run" / "node.json").read_text())

    def stage_rows(self) -> dict[str, dict]:
        """Each stage instance's row of the metrics table (pid, core, restarts, events in and out...)."""
        from spot_seda.runtime.metrics import open_from_manifest

        return {row["stage"]: row for row in open_from_manifest(self.data_dir).snapshot()}

    def stage_pids(self) -> dict[str, int]:
        return {stage: row["pid"] for stage, row in self.stage_rows().items()}

    def wait_for(self, predicate, timeout: float = 20.0, what: str = "condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                value = predicate()
            except (FileNotFoundError, json.JSONDecodeError, KeyError, ValueError):
                value = None
            if value:
                return value
            if self.proc.poll() is not None:
                raise AssertionError(f"node exited early ({self.proc.returncode}) waiting for {what}:\n{self.log()}")
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}:\n{self.log()[-4000:]}")

    def wait_running(self) -> dict[str, int]:
        return self.wait_for(lambda: (p := self.stage_pids()) and all(p.values()) and p, what="all stages up")

    def terminate(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)


@contextmanager
def run_node(tmp_path: Path, toml: str, *args: str):
    """Start `python run.py --config <toml>` in its own data dir; always stops it (SIGKILL at worst)."""
    data_dir = tmp_path / "data"
    config = tmp_path / "node.toml"
    config.write_text(f'[node]\ndata_dir = "{data_dir}"\n' + toml if "[node]" not in toml else toml)
    log_path = tmp_path / "node.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "run.py"), "--config", str(config), *args],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    node = NodeProcess(proc, data_dir, log_path)
    try:
        yield node
    finally:
        if proc.poll() is None:
            try:
                node.terminate(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


#: the fixtures that mean a test runs on the session's Kafka cluster
KAFKA_FIXTURES = frozenset({"kafka_cluster", "kafka_broker"})
#: test files outside tests/kafka/ that use those fixtures (checked at collection)
KAFKA_FILES = frozenset({"tests/bench/test_idle_bench.py"})


def on_kafka(nodeid: str) -> bool:
    """Whether a test, by its id, runs on Kafka brokers: in tests/kafka/ (some start brokers of their
    own), in KAFKA_FILES, or a test parametrized by transport with its "kafka" case."""
    path, _, rest = nodeid.partition("::")
    return path.startswith("tests/kafka/") or path in KAFKA_FILES or "[kafka" in rest


def pytest_collection_modifyitems(config, items):
    for item in items:
        if not KAFKA_FIXTURES.isdisjoint(item.fixturenames) and not on_kafka(item.nodeid):
            raise pytest.UsageError(f"{item.nodeid} uses the Kafka cluster: add its file to KAFKA_FILES "
                                    "(tests/conftest.py), so the suite runs it on the cluster's worker")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """pyproject.toml's addopts run the suite on two pytest-xdist workers, in groups: a test file's
    tests stay on one worker (a module-scoped node starts once), and every test on Kafka brokers runs
    on one worker, first (the longest group), so one cluster of three brokers starts, not one per
    worker, and no two sets of brokers share the CPUs. (xdist's own `loadgroup` marks cannot do it
    on pytest 9.2, whose node ids xdist can no longer rewrite.)"""
    if config.getvalue("dist") != "load":  # (what -n means unless --dist says otherwise)
        return None
    from xdist.scheduler import LoadScopeScheduling

    class FilesAndKafka(LoadScopeScheduling):
        def add_node_collection(self, node, collection):
            # Schemathesis' cases share one node id on pytest 9.2: numbered apart here, else the
            # scheduler, which keys tests by node id, would run the first of them only
            seen: dict[str, int] = {}
            unique = []
            for nodeid in collection:
                seen[nodeid] = seen.get(nodeid, 0) + 1
                unique.append(nodeid if seen[nodeid] == 1 else f"{nodeid}#{seen[nodeid]}")
            super().add_node_collection(node, unique)

        def _split_scope(self, nodeid):
            return "kafka" if on_kafka(nodeid) else nodeid.partition("::")[0]

        def _assign_work_unit(self, node):
            if "kafka" in self.workqueue:
                self.workqueue.move_to_end("kafka", last=False)
            super()._assign_work_unit(node)

    return FilesAndKafka(config, log)


@pytest.fixture(scope="session")
def kafka_cluster(tmp_path_factory):
    """Three KRaft brokers on this box (spot_seda.kafka_broker), for the session."""
    from spot_seda.kafka_broker import KafkaCluster

    with KafkaCluster(tmp_path_factory.mktemp("kafka"), 3) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def kafka_broker(kafka_cluster):
    """What the Kafka tests connect to (`.bootstrap`): the cluster."""
    return kafka_cluster
