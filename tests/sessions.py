"""Seeded command sessions the stage, replay and stream tests share (deposits first, then random
trading over BTCUSDT and ETHUSDT from three accounts), and `run`, which takes commands through the
node's stages in one process and returns the change log they wrote."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

from spot_seda.journal import Journal
from spot_seda.model.commands import ENCODER, Cancel, NewOrder, Transfer
from spot_seda.runtime.inproc import InprocPipeline
from spot_seda.runtime.replay import apply_commands, record, write_jsonl
from tests.conftest import ROOT, settings_from

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def commands(seed: int, n: int) -> list:
    """Deposits, then a random session of limits, markets and cancels over two symbols."""
    rng = random.Random(seed)
    out = []
    ts = T0
    for account in (1, 2, 3):
        for asset, amount in (("BTC", 10 * 10**8), ("ETH", 100 * 10**8), ("USDT", 10**6 * 10**8)):
            out.append(Transfer(account, asset, amount, ts))
    next_id = 1
    for _ in range(n):
        ts += rng.randint(0, 3000)
        symbol, mid = rng.choice([("BTCUSDT", 5_000_000), ("ETHUSDT", 200_000)])
        step = 1000 if symbol == "BTCUSDT" else 10_000
        r = rng.random()
        account = rng.randint(1, 3)
        side = rng.choice(["BUY", "SELL"])
        if r < 0.7:
            out.append(NewOrder(account, symbol, side, "LIMIT", rng.choice(["GTC", "GTC", "IOC", "FOK"]),
                                mid + rng.randint(-50, 50) * 100, rng.randint(1, 100) * step * 10, 0, "", "NONE", ts))
            next_id += 1
        elif r < 0.85:
            out.append(NewOrder(account, symbol, side, "MARKET", "GTC", 0, rng.randint(1, 50) * step * 10, 0, "", "NONE", ts))
            next_id += 1
        else:
            out.append(Cancel(account, symbol, rng.randint(1, max(1, next_id - 1)), ts))
    return out


def session(seed: int, n: int) -> list:
    """Deposits, then random limits, markets and cancels over two symbols from three accounts."""
    rng = random.Random(seed)
    out = [Transfer(a, asset, amount, T0) for a in (1, 2, 3)
           for asset, amount in (("BTC", 10 * 10**8), ("ETH", 100 * 10**8), ("USDT", 10**6 * 10**8))]
    ts = T0
    for i in range(n):
        ts += rng.randint(0, 3000)
        symbol, mid, step = rng.choice([("BTCUSDT", 5_000_000, 1000), ("ETHUSDT", 200_000, 10_000)])
        account, side, r = rng.randint(1, 3), rng.choice(["BUY", "SELL"]), rng.random()
        if r < 0.7:
            out.append(NewOrder(account, symbol, side, "LIMIT", rng.choice(["GTC", "GTC", "IOC", "FOK"]),
                                mid + rng.randint(-50, 50) * 100, rng.randint(1, 100) * step * 10, 0, "", "NONE", ts))
        elif r < 0.85:
            out.append(NewOrder(account, symbol, side, "MARKET", "GTC", 0, rng.randint(1, 50) * step * 10, 0, "",
                                "NONE", ts))
        else:
            out.append(Cancel(account, symbol, rng.randint(1, i + 1), ts))
    return out


STOP_KINDS = ("STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")


def stop_commands(seed: int, n: int, trailing: bool = False) -> list:
    """commands() with stop orders of every kind among them, their stop prices where the trades go,
    so that many trigger (and some trigger others); a stop market buy holds all free quote. With
    `trailing`, about half the stops are trailing stops (a delta of 1-15 BIPS: the trades move about
    10 around the mid), half of those with an activation price."""
    rng = random.Random(seed)
    out = [c for c in commands(seed, 0)]  # the deposits
    ts = T0
    for _ in range(n):
        ts += rng.randint(0, 3000)
        symbol, mid = rng.choice([("BTCUSDT", 5_000_000), ("ETHUSDT", 200_000)])
        step = 1000 if symbol == "BTCUSDT" else 10_000
        r = rng.random()
        account = rng.randint(1, 3)
        side = rng.choice(["BUY", "SELL"])
        qty = rng.randint(1, 100) * step * 10
        if r < 0.55:
            out.append(NewOrder(account, symbol, side, "LIMIT", rng.choice(["GTC", "GTC", "IOC", "FOK"]),
                                mid + rng.randint(-50, 50) * 100, qty, 0, "", "NONE", ts))
        elif r < 0.68:
            out.append(NewOrder(account, symbol, side, "MARKET", "GTC", 0, qty // 2, 0, "", "NONE", ts))
        elif r < 0.9:
            kind = rng.choice(STOP_KINDS if side == "SELL" or rng.random() < 0.2 else STOP_KINDS[1::2])
            stop = mid + rng.randint(-50, 50) * 100
            limit = kind.endswith("_LIMIT")
            delta = rng.randint(1, 15) if trailing and rng.random() < 0.5 else 0
            out.append(NewOrder(account, symbol, side, kind, rng.choice(["GTC", "GTC", "IOC", "FOK"]) if limit else "GTC",
                                stop + rng.randint(-10, 10) * 100 if limit else 0, qty, 0, "", "NONE", ts,
                                stop_price=0 if delta and rng.random() < 0.5 else stop, trailing_delta=delta))
        else:
            out.append(Cancel(account, symbol, rng.randint(1, max(1, len(out) - 9)), ts))
    return out


def run(tmp_path, name: str, cmds, journal=None):
    settings = settings_from(f'[node]\ndata_dir = "{tmp_path / name}"\n[bus]\ntransport = "inproc"\n')
    pipeline = InprocPipeline(settings)
    batches = record(pipeline)
    accepted: list = []
    if journal:
        apply_commands(pipeline, journal, journaled=True)
    apply_commands(pipeline, cmds, journaled=False, accepted=accepted)
    out = tmp_path / f"{name}.jsonl"
    write_jsonl(batches, out)
    return out.read_bytes(), accepted, pipeline


def write_journal(journal_dir: Path, accepted) -> Path:
    """A journal holding these accepted commands (what a node would have written for them)."""
    with Journal(journal_dir) as journal:
        for cmd in accepted:
            journal.append(ENCODER.encode(cmd))
        journal.commit()
    return journal_dir


def replay(source: Path, out: Path, transport: str) -> bytes:
    """`run.py replay` of a journal or command file over `transport`; the change log it wrote."""
    done = subprocess.run([sys.executable, "run.py", "replay", str(source), "--out", str(out), "--transport", transport],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"over {transport}" in done.stderr
    return out.read_bytes()
