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
        if "no node running" in done.stderr:
            # any node's start sweeps away the tables of killed ones (metrics.sweep_stale): with the
            # suite on two workers, the other worker's may have started meanwhile
            assert f"no node running on data dir {tmp_path / 'data'}" in done.stderr
        else:
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
    assert done.returncode == 1 and "bad crc at position 121" in done.stderr, done.stderr
    assert "cutting the journal after position 120 would drop the" in done.stderr
    assert "run it again with --yes" in done.stderr
    assert seg.read_bytes() == before  # nothing cut
    done = _run(["repair-journal", "--yes", *args], timeout=30)
    assert done.returncode == 0, done.stderr
    assert f"cut the journal in {journal} after position 120: the " in done.stderr
    assert [position for position, _ in records(journal)] == list(range(1, 121))
    done = _run(["repair-journal", *args], timeout=30)
    assert done.returncode == 0 and "has no damage in the middle: nothing to do" in done.stderr


def test_repair_journal_refuses_what_it_cannot_make_whole(tmp_path):
    """Damage in an older segment is not reported as a whole journal; and a snapshot that holds
    commands after the damage is not left to meet new commands under the same positions."""
    from tests.journal.test_journal import HEADER_BYTES, fill, flip, frame_offsets, segment_name

    older = tmp_path / "older" / "journal"
    fill(older, 600, fsync="off", segment_bytes=2048).close()
    segs = sorted(older.glob("*.seg"))
    assert len(segs) > 2
    flip(segs[0], frame_offsets(segs[0])[0] + HEADER_BYTES + 1, 1)  # (the first record: met before any decoding)
    for args in ([], ["--yes"]):
        done = _run(["repair-journal", *args, "--data-dir", str(older.parent)], timeout=30)
        assert done.returncode == 1, done.stderr
        assert "damage outside the segment being written" in done.stderr
    done = _run(["replay", str(older), "--out", str(tmp_path / "r.jsonl")], timeout=60)
    assert done.returncode == 3 and f"replay: the journal in {older} is damaged: " in done.stderr, done.stderr
    assert "Traceback" not in done.stderr

    data = tmp_path / "snapshotted"
    journal = data / "journal"
    fill(journal, 200, fsync="off").close()
    seg = journal / segment_name(1)
    flip(seg, frame_offsets(seg)[120] + HEADER_BYTES + 1, 1)
    flip(seg, frame_offsets(seg)[160] + HEADER_BYTES + 1, 1)  # (and one after the snapshot too)
    before = seg.read_bytes()
    (data / "snapshots").mkdir()
    (data / "snapshots" / "manifest.json").write_text(
        '{"format": %d, "position": 150, "labels": [], "layout": ""}' % __import__(
            "spot_seda.runtime.snapshots", fromlist=["FORMAT"]).FORMAT)
    done = _run(["repair-journal", "--yes", "--data-dir", str(data)], timeout=30)
    assert done.returncode == 1 and f"the records after position 150 in {seg} are damaged too" in done.stderr, \
        done.stderr
    assert seg.read_bytes() == before


def test_damage_the_snapshot_already_holds_is_repaired_without_losing_a_command(tmp_path):
    """One bad byte in a journaled command the last snapshot already holds: the node refuses to start
    (damage in the middle), and before, repair-journal refused too (the snapshot holds commands after
    it), so the node could not start at all. Now repair-journal lets the journal start after the
    snapshot: nothing acknowledged goes, and the node trades on."""
    import asyncio

    from spot_seda.journal import frames
    from spot_seda.runtime.snapshots import manifest_position
    from tests.journal.test_journal import HEADER_BYTES, flip, frame_offsets, segment_name
    from tests.node.conftest import node_on, wait_http
    from tests.node.test_operator_safety import _place, _signed

    data, http = tmp_path / "data", free_port()
    base = f"http://127.0.0.1:{http}"
    with node_on(tmp_path, "first", data, http) as node:
        wait_http(base, node)
        placed = [_place(base, price=str(100 + i)) for i in range(3)]
    snapshot = manifest_position(data)
    seg = data / "journal" / segment_name(1)
    assert frames.verify(data / "journal") == snapshot  # (a clean stop: the snapshot holds every command)
    flip(seg, frame_offsets(seg)[1] + HEADER_BYTES + 1, 1)  # the second command
    config = str(tmp_path / "first" / "node.toml")
    done = _run(["--config", config], timeout=60)
    assert done.returncode == 3 and "journal damaged in the middle" in done.stderr, done.stderr[-2000:]
    done = _run(["repair-journal", "--config", config], timeout=30)
    assert done.returncode == 1, done.stderr
    assert f"within the commands up to position {snapshot} that the snapshot in {data / 'snapshots'} already holds: " \
           "the journal can start after it" in done.stderr, done.stderr
    done = _run(["repair-journal", "--yes", "--config", config], timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == (
        f"repair-journal: the journal in {data / 'journal'} now starts at position {snapshot + 1}, after the snapshot: "
        f"{snapshot} commands the snapshot holds left it, the damage with them; the 0 after it are kept")
    assert frames.first_on_disk(data / "journal") == snapshot + 1
    with node_on(tmp_path, "second", data, http) as node:
        wait_http(base, node)
        for creds in placed:
            status, orders = _signed(base, creds, "GET", "/api/v3/openOrders")
            assert status == 200 and [o["orderId"] for o in orders] == [creds[2]], orders
        _place(base, price="99")
    assert frames.verify(data / "journal") > snapshot  # (journaled after the snapshot's position)


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


def test_a_port_held_for_a_moment_after_a_restart_is_waited_out(tmp_path):
    """Only a first start's port is fatal: a stage restarted later whose port is still held (a
    snapshot writer forked by the process it replaces may hold it a while) is retried until it is
    free, and the node serves again."""
    import os
    import signal
    import time

    from tests.conftest import run_node
    from tests.node.conftest import wait_http

    http, ws = free_port(), free_port()
    with run_node(tmp_path, node_toml(tmp_path / "data", http, ws)) as node:
        wait_http(f"http://127.0.0.1:{http}", node)
        os.kill(node.stage_pids()["push-0"], signal.SIGKILL)
        holder, deadline = socket.socket(), time.monotonic() + 10
        while True:  # the port, as soon as the killed Push has let it go
            try:
                holder.bind(("127.0.0.1", ws))
                holder.listen()
                break
            except OSError:
                assert time.monotonic() < deadline, "the killed Push's port never came free"
                time.sleep(0.01)
        try:
            deadline = time.monotonic() + 60
            while f"cannot listen on 127.0.0.1:{ws}" not in node.log():
                assert node.proc.poll() is None and time.monotonic() < deadline, node.log()[-3000:]
                time.sleep(0.1)
        finally:
            holder.close()
        deadline = time.monotonic() + 60
        while True:  # Push back on its port
            try:
                with socket.create_connection(("127.0.0.1", ws), timeout=1):
                    break
            except OSError:
                assert node.proc.poll() is None and time.monotonic() < deadline, node.log()[-3000:]
                time.sleep(0.2)
        wait_http(f"http://127.0.0.1:{http}", node, timeout=60)  # (the whole pipeline restarted)
        assert "stopping the node" not in node.log() and node.proc.poll() is None


@pytest.mark.parametrize("transport", ["inproc", "shm"])
def test_replay_of_a_command_file_names_each_refused_line_and_why(tmp_path, transport):
    """The node refuses a command file's command as the API would have (it changes nothing); before,
    the replay only counted them, and finding which lines of a long file were refused, and why, was
    left to the reader."""
    commands = tmp_path / "cmds.jsonl"
    lines = [
        '{"cmd": "deposit", "account": 1, "asset": "USDT", "amount": "100", "timestamp": 1767225600000}',
        '{"cmd": "order", "account": 1, "timestamp": 1767225601000, "symbol": "BTCUSDT", "side": "BUY", '
        '"type": "LIMIT", "timeInForce": "GTC", "quantity": "0.5", "price": "50000"}',
        "",
        '{"cmd": "cancel", "account": 1, "timestamp": 1767225602000, "symbol": "BTCUSDT", "orderId": 7}',
        '{"cmd": "order", "account": 1, "timestamp": 1767225603000, "symbol": "BTCUSDT", "side": "BUY", '
        '"type": "LIMIT", "timeInForce": "GTC", "quantity": "0.001", "price": "50000"}',
    ]
    commands.write_text("\n".join(lines) + "\n")
    done = _run(["replay", str(commands), "--out", str(tmp_path / "out.jsonl"), "--transport", transport,
                 "--data-dir", str(tmp_path / "data")], timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    said = [line for line in done.stderr.splitlines() if ": refused: " in line]
    assert said == [f"replay: {commands}:2: refused: -2010 Account has insufficient balance for requested action.",
                    f"replay: {commands}:4: refused: -2011 Unknown order sent."], done.stderr
    assert f"replayed 2 commands (2 refused) over {transport}" in done.stderr


def test_repair_journal_removes_damaged_segments_the_snapshot_wholly_holds(tmp_path):
    """Damage in an older segment (journal.rotate = false keeps them) whose every command the
    snapshot holds: those segments can go, as rotation would remove them; and a repair that a crash
    cut short between writing its new segment and removing the old is finished the same way."""
    from spot_seda.journal import Journal, frames
    from spot_seda.runtime.snapshots import FORMAT
    from tests.journal.test_journal import HEADER_BYTES, fill, flip, frame_offsets, segment_name

    def snapshot_at(data, position: int) -> None:
        (data / "snapshots").mkdir(exist_ok=True)
        (data / "snapshots" / "manifest.json").write_text(
            '{"format": %d, "position": %d, "labels": [], "layout": ""}' % (FORMAT, position))

    data = tmp_path / "rotated-off"
    journal = data / "journal"
    fill(journal, 600, fsync="off", segment_bytes=2048).close()
    segs = sorted(journal.glob("*.seg"))
    third = int(segs[2].name[:20])
    flip(segs[0], frame_offsets(segs[0])[0] + HEADER_BYTES + 1, 1)
    snapshot_at(data, third - 1)
    done = _run(["repair-journal", "--data-dir", str(data)], timeout=30)
    assert done.returncode == 1 and "run it again with --yes to remove those 2 segments" in done.stderr, done.stderr
    assert sorted(journal.glob("*.seg")) == segs
    done = _run(["repair-journal", "--yes", "--data-dir", str(data)], timeout=30)
    assert done.returncode == 0, done.stderr
    assert f"the journal now starts at position {third}" in done.stderr
    assert frames.first_on_disk(journal) == third and frames.verify(journal) == 600

    data = tmp_path / "cut-short"
    journal = data / "journal"
    fill(journal, 200, fsync="off").close()
    seg = journal / segment_name(1)
    flip(seg, frame_offsets(seg)[120] + HEADER_BYTES + 1, 1)
    damaged = seg.read_bytes()
    assert frames.start_after(journal, 150) == (50, 150)
    seg.write_bytes(damaged)  # (as if the crash came before the old segment was removed)
    snapshot_at(data, 150)
    done = _run(["repair-journal", "--yes", "--data-dir", str(data)], timeout=30)
    assert done.returncode == 0, done.stderr
    assert [p.name for p in sorted(journal.glob("*.seg"))] == [segment_name(151)]
    j = Journal(journal, fsync="off")
    assert j.next_position == 201
    j.close()


def test_what_the_node_writes_is_its_owners_alone(tmp_path):
    """The data dir holds every account's orders, trades and balances, and the live listenKeys, which
    are all a user data stream asks for: no other local user may read any of it. A data dir open to
    others is made 0700 (with a warning); every file the node creates is 0600 (a review found
    listenkeys.sqlite and history.sqlite at 0644)."""
    import json
    import stat
    import urllib.request

    from tests.conftest import run_node
    from tests.node.conftest import ADMIN_TOKEN, wait_http

    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    http, ws = free_port(), free_port()
    with run_node(tmp_path, node_toml(data, http, ws)) as node:
        base = f"http://127.0.0.1:{http}"
        wait_http(base, node)
        node.wait_running()
        request = urllib.request.Request(base + "/admin/v1/accounts", data=b"{}", method="POST",
                                         headers={"X-Admin-Token": ADMIN_TOKEN})
        with urllib.request.urlopen(request, timeout=30) as resp:
            key = json.load(resp)["apiKey"]
        request = urllib.request.Request(base + "/api/v3/userDataStream", method="POST", headers={"X-MBX-APIKEY": key})
        with urllib.request.urlopen(request, timeout=30) as resp:
            assert json.load(resp)["listenKey"]
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        assert "was open to other users (mode 755): made 0700" in node.log()
        made = [p for p in data.rglob("*") if p.is_file()]
        names = {p.name for p in made}
        assert {"accounts.sqlite", "listenkeys.sqlite", "history.sqlite"} <= names, sorted(names)
        assert any(p.parent.name == "journal" for p in made), sorted(names)
        open_to_others = {str(p.relative_to(data)): oct(stat.S_IMODE(p.stat().st_mode)) for p in made + [
            p for p in data.rglob("*") if p.is_dir()] if p.stat().st_mode & 0o077}
        assert open_to_others == {}
