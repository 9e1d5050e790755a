"""Determinism with amends (keep priority): a session with amends among its orders gives the same
bytes live, again, from its journal, and over inproc and shm; the funds an amend frees come back
through Settlement ("reduce" balance changes) and every balance adds up at the end."""

from __future__ import annotations

import random
import subprocess
import sys

from spot_seda.model.commands import Amend, NewOrder
from tests.conftest import ROOT
from tests.sessions import T0, commands, replay, run, write_journal


def amend_commands(seed: int, n: int) -> list:
    """commands() with an amend after about every fourth command, of a recent order of the amending
    account's (the order may be open, partly filled, gone or another's), to a smaller quantity, or
    one at or below what it executed."""
    rng = random.Random(seed)
    out = []
    placed: list[tuple[int, NewOrder]] = []  # (order id if accepted in order, the order)
    for cmd in commands(seed, n):
        out.append(cmd)
        if type(cmd) is NewOrder:
            placed.append((len(placed) + 1, cmd))
        if placed and rng.random() < 0.25:
            order_id, order = rng.choice(placed[-40:])
            qty = max(order.qty * rng.choice([1, 2, 3, 5]) // 6 // 10_000 * 10_000, 10_000)
            out.append(Amend(order.account, order.symbol, order_id, cmd.timestamp, qty, rng.choice(["", "", "mine"])))
    return out


def test_amends_give_byte_identical_change_logs_live_from_the_journal_and_over_shm(tmp_path):
    cmds = amend_commands(7, 1500)
    first, journal, pipeline = run(tmp_path, "a", cmds)
    second, _, _ = run(tmp_path, "b", cmds)
    assert first == second
    amends = [c for c in journal if type(c) is Amend]
    assert len(amends) > 30, len(amends)  # accepted (the order was open in Acquiring's view)
    assert first.count(b'"amended"') > 20 and first.count(b'"reduce"') > 20  # reduced, funds released
    acquiring = pipeline.stage("acquiring-0")
    acquiring.ledger.check_invariants()
    assert not acquiring.ledger.negative()
    replayed, _, again = run(tmp_path, "replayed", [], journal=journal)
    assert replayed == first
    again.stage("acquiring-0").ledger.check_invariants()

    journal_dir = write_journal(tmp_path / "data" / "journal", journal)
    assert replay(journal_dir, tmp_path / "inproc.jsonl", "inproc") == replay(journal_dir, tmp_path / "shm.jsonl", "shm")


def test_a_command_file_takes_amends_as_the_api_does(tmp_path):
    source = tmp_path / "commands.jsonl"
    source.write_text(
        f'{{"cmd": "deposit", "account": 1, "asset": "USDT", "amount": "100000", "timestamp": {T0}}}\n'
        f'{{"cmd": "order", "account": 1, "timestamp": {T0 + 1}, "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",'
        ' "timeInForce": "GTC", "quantity": "0.5", "price": "50000"}\n'
        f'{{"cmd": "amend", "account": 1, "timestamp": {T0 + 2}, "symbol": "BTCUSDT", "orderId": 1, "newQty": "0.2",'
        ' "newClientOrderId": "smaller"}\n')
    out = replay(source, tmp_path / "out.jsonl", "inproc")
    assert b"smaller" in out
    assert out.count(b'"amended"') == 1
    bad = tmp_path / "bad.jsonl"
    bad.write_text(f'{{"cmd": "amend", "account": 1, "timestamp": {T0}, "symbol": "BTCUSDT", "orderId": 1,'
                   ' "newQty": "0.000001"}\n')
    done = subprocess.run([sys.executable, "run.py", "replay", str(bad), "--out", str(tmp_path / "x.jsonl")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "LOT_SIZE" in done.stderr, done.stderr[-2000:]
