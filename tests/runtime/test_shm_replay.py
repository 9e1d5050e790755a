"""Determinism across transports: a command file (and a journal) replayed through every stage in
one process and through the node's own stage processes over shared-memory queues gives
byte-identical change logs (DESIGN.md invariant 6)."""

from __future__ import annotations

import json

from spot_seda.binance import orderparams
from spot_seda.binance.errors import ApiError
from spot_seda.model.commands import Cancel, NewOrder, Transfer
from spot_seda.model.fixedpoint import ASSET_DECIMALS, to_text
from tests.conftest import settings_from
from tests.sessions import commands, replay, run, write_journal



def as_line(cmd, price_decimals: dict[str, int]) -> dict:
    """A command as a line of a command file (README, "Replay"): the REST API's parameters."""
    head = {"account": cmd.account, "timestamp": cmd.timestamp}
    if type(cmd) is Transfer:
        return head | {"cmd": "deposit" if cmd.amount > 0 else "withdraw", "asset": cmd.asset,
                       "amount": to_text(abs(cmd.amount), ASSET_DECIMALS)}
    if type(cmd) is Cancel:
        return head | {"cmd": "cancel", "symbol": cmd.symbol, "orderId": cmd.order_id}
    assert type(cmd) is NewOrder
    line = head | {"cmd": "order", "symbol": cmd.symbol, "side": cmd.side, "type": cmd.type,
                   "quantity": to_text(cmd.qty, ASSET_DECIMALS), "selfTradePreventionMode": cmd.stp}
    if cmd.type == "LIMIT":
        line |= {"timeInForce": cmd.time_in_force, "price": to_text(cmd.price, price_decimals[cmd.symbol])}
    return line


def valid(line: dict, rules) -> bool:
    """Whether the API would take this order at all (the generator ignores the NOTIONAL filter)."""
    if line["cmd"] != "order":
        return True
    try:
        orderparams.parse_new_order({k: str(v) for k, v in line.items() if k not in ("cmd", "account", "timestamp")}, rules)
        return True
    except ApiError:
        return False


def test_a_command_file_gives_the_same_bytes_over_inproc_and_shm(tmp_path):
    rules = settings_from("").symbol_rules()
    lines = [as_line(c, {s: r.price_decimals for s, r in rules.items()}) for c in commands(5, 500)]
    source = tmp_path / "commands.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines if valid(line, rules)))
    inproc = replay(source, tmp_path / "inproc.jsonl", "inproc")
    shm = replay(source, tmp_path / "shm.jsonl", "shm")
    assert inproc == shm
    assert inproc.count(b"SpotTrade") > 30 and inproc.count(b"cancel_requested") > 0  # it traded and canceled
    assert inproc.count(b"SpotKLine") > 0 and inproc.count(b"SpotBalance") > 0


def test_a_journal_gives_the_same_bytes_over_inproc_and_shm(tmp_path):
    _, accepted, _ = run(tmp_path, "live", commands(9, 1500))
    journal_dir = write_journal(tmp_path / "data" / "journal", accepted)
    inproc = replay(journal_dir, tmp_path / "inproc.jsonl", "inproc")
    shm = replay(journal_dir, tmp_path / "shm.jsonl", "shm")
    assert inproc == shm
    assert inproc.count(b"SpotTrade") > 100
