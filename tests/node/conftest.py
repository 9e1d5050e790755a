"""A real node (`python run.py`, every stage its own process) on free ports, shared by a test module."""

from __future__ import annotations

import asyncio
import socket
import time
import urllib.request
from contextlib import contextmanager

import pytest

from spot_seda.kafka_broker.node import free_port  # noqa: F401 (the tests import it from here)
from tests.conftest import ROOT, run_node

ADMIN_TOKEN = "test-admin-token"


def default_symbols() -> str:
    text = (ROOT / "configs" / "default.toml").read_text()
    return text[text.index("[[symbols]]"):]


def node_toml(data_dir, http_port: int, ws_port: int, extra: str = "", node_extra: str = "",
              shed_loop_lag_ms: float = 0.0, shed_orders_in_flight: int = 256) -> str:
    """A node's configuration: `node_extra` goes into its [node] table, `extra` after it (tables).
    Shedding by event-loop lag is off unless asked for, and the bound on orders in flight is above
    what a functional test sends at once (the default's 64 is not): on a busy test machine a
    functional test's order would otherwise get 503 / -1003 at random (the overload tests set both)."""
    return default_symbols() + f"""
[node]
data_dir = "{data_dir}"
http_port = {http_port}
ws_port = {ws_port}
admin_token = "{ADMIN_TOKEN}"
shed_loop_lag_ms = {shed_loop_lag_ms}
shed_orders_in_flight = {shed_orders_in_flight}
result_timeout_s = 10.0
{node_extra}
[bus]
queue_bytes = 8388608
max_message_bytes = 262144
{extra}
"""


def wait_http(base: str, node, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/api/v3/ping", timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        if node.proc.poll() is not None:
            raise AssertionError(f"node exited:\n{node.log()}")
        time.sleep(0.1)
    raise AssertionError(f"node did not answer:\n{node.log()[-3000:]}")


def wait_listening(port: int, node, timeout: float = 30.0) -> None:
    """Until something accepts TCP connections on 127.0.0.1:`port` (Push binds its WebSocket port
    after its process has started, so a started stage is not yet a listening one)."""
    def accepting() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False
    node.wait_for(accepting, timeout, what=f"a listener on port {port}")


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("node")
    http, ws = free_port(), free_port()
    with run_node(tmp, node_toml(tmp / "data", http, ws)) as proc:
        base = f"http://127.0.0.1:{http}"
        wait_http(base, proc)
        proc.base = base
        proc.ws, proc.ws_port = f"ws://127.0.0.1:{ws}", ws
        wait_listening(ws, proc)
        yield proc


@contextmanager
def node_on(tmp_path, name: str, data, http: int, extra: str = "", *, ws: int | None = None, node_extra: str = ""):
    """A node on the data directory `data` and HTTP port `http` (a fresh WebSocket port unless
    given), run from its own directory `tmp_path/name`, stopped when the block ends: a test that
    stops and restarts a node on the same data opens one of these per run."""
    run_dir = tmp_path / name
    run_dir.mkdir()
    with run_node(run_dir, node_toml(data, http, free_port() if ws is None else ws, extra, node_extra)) as node:
        node.data_dir = data
        yield node


@contextmanager
def serving_node(tmp, extra: str = "", node_extra: str = ""):
    """A node on free ports with its HTTP and WebSocket ports listening and every stage running;
    `.base` and `.ws` are its URLs, `.ws_port` the WebSocket port (`extra`, `node_extra`: node_toml's)."""
    http, ws = free_port(), free_port()
    with run_node(tmp, node_toml(tmp / "data", http, ws, extra, node_extra)) as proc:
        proc.base = f"http://127.0.0.1:{http}"
        proc.ws, proc.ws_port = f"ws://127.0.0.1:{ws}", ws
        wait_http(proc.base, proc)
        proc.wait_running()
        wait_listening(ws, proc)
        yield proc


def run(coro):
    return asyncio.run(coro)
