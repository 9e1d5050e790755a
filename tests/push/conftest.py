"""A real node (`python run.py`, every stage its own process, Push included) on free ports, shared by
a test module; its Push stage drops clients with more than 256 KiB unsent (so a stalled client is
found quickly)."""

from __future__ import annotations

import pytest

from tests.conftest import run_node
from tests.node.conftest import ADMIN_TOKEN, free_port, node_toml, wait_http, wait_listening

__all__ = ["ADMIN_TOKEN"]

SEND_BUFFER = 256 * 1024


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("push")
    http, ws = free_port(), free_port()
    with run_node(tmp, node_toml(tmp / "data", http, ws, node_extra=f"ws_send_buffer_bytes = {SEND_BUFFER}")) as proc:
        proc.base = f"http://127.0.0.1:{http}"
        proc.ws = f"ws://127.0.0.1:{ws}"
        wait_http(proc.base, proc)
        proc.wait_running()
        wait_listening(ws, proc)
        yield proc
