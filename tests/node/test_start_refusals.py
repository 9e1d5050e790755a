"""What `python run.py` says when it cannot start as asked: a port taken, a port out of range or
shared by both servers, a symbol's bad setting. One line naming the problem and a non-zero exit
status, not a node restarting the failing stage for ever."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from spot_seda.runtime.stageproc import LISTEN_EXIT
from tests.conftest import ROOT
from tests.node.conftest import free_port, node_toml


def _run(args: list[str], timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "run.py", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("taken", ["http", "ws"])
def test_a_port_taken_stops_the_node_with_one_clear_error(tmp_path, taken):
    http, ws = free_port(), free_port()
    holder = socket.socket()
    holder.bind(("127.0.0.1", http if taken == "http" else ws))
    holder.listen()
    try:
        config = tmp_path / "node.toml"
        config.write_text(node_toml(tmp_path / "data", http, ws))
        done = _run(["--config", str(config)])
    finally:
        holder.close()
    port = http if taken == "http" else ws
    assert done.returncode == LISTEN_EXIT, done.stderr[-3000:]
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in done.stderr
    assert "stopping the node" in done.stderr
    assert "restarting" not in done.stderr  # (it was restarted every few seconds, for ever)
    assert "node stopped" in done.stderr


@pytest.mark.parametrize("args, said", [
    (["--http-port", "70000"], "node.http_port: a port is 1..65535, not 70000"),
    (["--ws-port", "0"], "node.ws_port: a port is 1..65535, not 0"),
    (["--http-port", "18555", "--ws-port", "18555"], "node.http_port and node.ws_port are both 18555"),
])
def test_a_port_out_of_range_or_shared_is_refused_before_anything_starts(tmp_path, args, said):
    done = _run([*args, "--data-dir", str(tmp_path / "data")], timeout=30)
    assert done.returncode == 2
    assert done.stderr.strip() == f"config error: {said}" + (
        ": the HTTP and WebSocket servers need a port each" if "both" in said else "")
    assert not (tmp_path / "data").exists()  # nothing started, nothing written


@pytest.mark.parametrize("setting, bad, said", [
    ('tick_size = "0.01"', 'tick_size = "abc"', "symbols.BTCUSDT.tick_size: not a decimal number: 'abc'"),
    ('price_decimals = 2', 'price_decimals = 1',
     "symbols.BTCUSDT.tick_size: more than 1 decimal places: '0.01' (price_decimals is 1)"),
    ('maker_fee = "0.001"', 'maker_fee = "x"', "symbols.BTCUSDT.maker_fee: not a decimal number: 'x'"),
])
def test_a_symbols_bad_setting_is_named(tmp_path, setting, bad, said):
    text = (ROOT / "configs" / "default.toml").read_text()
    assert setting in text
    config = tmp_path / "node.toml"
    config.write_text(text.replace(setting, bad, 1))
    done = _run(["--config", str(config), "status", "--once"], timeout=30)
    assert done.returncode == 2
    assert done.stderr.strip() == f"config error: {said}"


def test_status_says_a_killed_node_is_not_running(tmp_path):
    """After a kill -9 of the supervisor its metrics table stays (the next start sweeps it away):
    `run.py status` must not show it as a running node."""
    import os
    import signal
    import time

    from tests.conftest import run_node
    from tests.node.conftest import wait_http

    http, ws = free_port(), free_port()
    with run_node(tmp_path, node_toml(tmp_path / "data", http, ws)) as node:
        wait_http(f"http://127.0.0.1:{http}", node)
        alive = _run(["--config", str(tmp_path / "node.toml"), "status", "--once"], timeout=30)
        assert alive.returncode == 0 and "acquiring-0" in alive.stdout
        assert "not running" not in alive.stderr
        os.kill(node.proc.pid, signal.SIGKILL)
        node.proc.wait()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # (its stages follow it: they watch their parent)
            done = _run(["--config", str(tmp_path / "node.toml"), "status", "--once"], timeout=30)
            if done.returncode == 1:
                break
            time.sleep(0.5)
        assert done.returncode == 1, done.stderr
        assert f"the node on data dir {tmp_path / 'data'} is not running" in done.stderr
        assert "acquiring-0" in done.stdout  # (its last figures)


def test_replay_says_plainly_what_stops_it(tmp_path):
    """`run.py replay`: a running node's journal, an --out in no directory, a line without its
    timestamp: one line each, no traceback, and nothing replayed."""
    from tests.conftest import run_node
    from tests.node.conftest import wait_http

    commands = tmp_path / "cmds.jsonl"
    commands.write_text('{"cmd": "deposit", "account": 1, "timestamp": 1, "asset": "USDT", "amount": "10"}\n'
                        '{"cmd": "deposit", "account": 1, "asset": "USDT", "amount": "10"}\n')
    done = _run(["replay", str(commands), "--out", str(tmp_path / "no" / "such" / "out.jsonl")], timeout=30)
    assert (done.returncode, done.stderr.strip()) == (
        2, f"replay: --out {tmp_path / 'no' / 'such' / 'out.jsonl'}: no such directory: {tmp_path / 'no' / 'such'}")
    done = _run(["replay", str(commands), "--out", str(tmp_path / "out.jsonl")], timeout=60)
    assert done.returncode == 2 and done.stderr.strip().endswith(f"replay: {commands}:2: missing 'timestamp'"), \
        done.stderr
    assert "Traceback" not in done.stderr

    http, ws = free_port(), free_port()
    with run_node(tmp_path, node_toml(tmp_path / "data", http, ws)) as node:
        wait_http(f"http://127.0.0.1:{http}", node)
        done = _run(["replay", str(tmp_path / "data" / "journal"), "--out", str(tmp_path / "r.jsonl")], timeout=60)
    assert (done.returncode, done.stderr.strip()) == (
        2, f"replay: the journal in {tmp_path / 'data' / 'journal'} is open by a running node: stop the node first")
    assert not (tmp_path / "r.jsonl").exists()


def test_repair_journal_says_what_it_would_cut_and_cuts_only_when_told(tmp_path):
    """A journal damaged in the middle stops the node (exit 3) and names `run.py repair-journal`;
    that says where and how much would go, and cuts it only with --yes."""
    from tests.journal.test_journal import HEADER_BYTES, fill, flip, frame_offsets, records, segment_name

    journal = tmp_path / "data" / "journal"
    fill(journal, 200, fsync="off").close()
    seg = journal / segment_name(1)
    flip(seg, frame_offsets(seg)[120] + HEADER_BYTES + 1, 1)
    before = seg.read_bytes()
    args = ["--data-dir", str(tmp_path / "data")]
    done = _run(["repair-journal", *args], timeout=30)
    assert done.returncode == 1 and "damaged in the middle" in done.stderr and "position 121" in done.stderr
    assert "run it again with --yes" in done.stderr
    assert seg.read_bytes() == before  # nothing cut
    done = _run(["repair-journal", "--yes", *args], timeout=30)
    assert done.returncode == 0, done.stderr
    assert f"cut the journal in {journal} after position 120: " in done.stderr
    assert [position for position, _ in records(journal)] == list(range(1, 121))
    done = _run(["repair-journal", *args], timeout=30)
    assert done.returncode == 0 and "is whole: nothing to do" in done.stderr


@pytest.mark.parametrize("args, said", [
    (["--instance", "1"], "error: --instance picks instances of the stages --stage names: give --stage too"),
    (["--take-over"], 'error: --take-over is for --stage over Kafka (bus.transport = "kafka"), where the stages\' '
                      "other instances run elsewhere"),
    (["--stage", "match", "--take-over"], 'error: --take-over is for --stage over Kafka (bus.transport = "kafka"), '
                                          "where the stages' other instances run elsewhere"),
])
def test_flags_that_need_another_are_refused_not_ignored(tmp_path, args, said):
    done = _run([*args, "--data-dir", str(tmp_path / "data")], timeout=30)
    assert (done.returncode, done.stderr.strip()) == (2, said)
    assert not (tmp_path / "data").exists()
