"""Determinism with order lists: a session with OCOs and OTOs among its orders gives the same bytes
live, again, from its journal, and over inproc and shm; OCO legs work and cancel each other, their
shared hold is released once; OTO pending orders are placed when their working orders fill; every
balance adds up at the end."""

from __future__ import annotations

import random

from spot_seda.model.commands import NewOco, NewOrder, NewOto, NewOtoco
from tests.sessions import commands, replay, run, write_journal


def oco_commands(seed: int, n: int) -> list:
    """commands() with an OCO after about every sixth command: a LIMIT_MAKER on one side of the
    price the session trades around and a STOP_LOSS(_LIMIT) on the other, close enough to work."""
    rng = random.Random(seed)
    out = []
    for cmd in commands(seed, n):
        out.append(cmd)
        if rng.random() < 0.17:
            symbol, mid = rng.choice([("BTCUSDT", 5_000_000), ("ETHUSDT", 200_000)])
            step = 1000 if symbol == "BTCUSDT" else 10_000
            side = rng.choice(["BUY", "SELL"])
            sign = 1 if side == "SELL" else -1  # a sell's limit above the price, its stop below
            limit = mid + sign * rng.randint(0, 40) * 100
            stop = mid - sign * rng.randint(0, 40) * 100
            qty = rng.randint(1, 30) * step * 10
            stop_type = rng.choice(["STOP_LOSS", "STOP_LOSS_LIMIT"])
            legs = (NewOrder(cmd.account, symbol, side, "LIMIT_MAKER", "GTC", limit, qty, 0, "", "NONE", 0),
                    NewOrder(cmd.account, symbol, side, stop_type, "GTC", stop - sign * 100 if stop_type.endswith("LIMIT")
                             else 0, qty, 0, "", "NONE", 0, stop_price=stop))
            out.append(NewOco(cmd.account, symbol, cmd.timestamp, legs))
        elif rng.random() < 0.2:  # an OTO: buy (sell) near the price, then sell (buy) it back higher (lower)
            symbol, mid = rng.choice([("BTCUSDT", 5_000_000), ("ETHUSDT", 200_000)])
            step = 1000 if symbol == "BTCUSDT" else 10_000
            side, back = rng.choice([("BUY", "SELL"), ("SELL", "BUY")])
            sign = 1 if side == "BUY" else -1
            qty = rng.randint(1, 30) * step * 10
            pending_type = rng.choice(["LIMIT", "LIMIT", "MARKET", "TAKE_PROFIT_LIMIT"])
            target = mid + sign * rng.randint(0, 40) * 100
            legs = (NewOrder(cmd.account, symbol, side, "LIMIT", "GTC", mid + sign * rng.randint(-20, 20) * 100, qty, 0, "",
                             "NONE", 0),
                    NewOrder(cmd.account, symbol, back, pending_type, "GTC", 0 if pending_type == "MARKET" else target,
                             qty, 0, "", "NONE", 0, stop_price=target if pending_type == "TAKE_PROFIT_LIMIT" else 0))
            if rng.random() < 0.4:  # an OTOCO: the pending order with a stop below (above) it
                stop = mid - sign * rng.randint(0, 40) * 100
                legs = (legs[0], NewOrder(cmd.account, symbol, back, "LIMIT_MAKER", "GTC", target, qty, 0, "", "NONE", 0),
                        NewOrder(cmd.account, symbol, back, "STOP_LOSS", "GTC", 0, qty, 0, "", "NONE", 0,
                                 stop_price=stop))
                out.append(NewOtoco(cmd.account, symbol, cmd.timestamp, legs))
            else:
                out.append(NewOto(cmd.account, symbol, cmd.timestamp, legs))
    return out


def test_ocos_give_byte_identical_change_logs_live_from_the_journal_and_over_shm(tmp_path):
    cmds = oco_commands(51, 1200)
    first, journal, pipeline = run(tmp_path, "a", cmds)
    second, _, _ = run(tmp_path, "b", cmds)
    assert first == second
    assert sum(type(c) is NewOco for c in journal) > 100
    assert first.count(b'"hold_of"') > 100 and first.count(b'"list_rejected"') > 5  # placed, and refused whole
    acquiring = pipeline.stage("acquiring-0")
    acquiring.ledger.check_invariants()
    assert not acquiring.ledger.negative()
    legs_done = [o for o in acquiring.orders.values() if o.order_list_id >= 0 and o.status.name in ("FILLED", "CANCELED")]
    assert sum(o.status.name == "FILLED" for o in legs_done) > 5 and sum(o.status.name == "CANCELED" for o in legs_done) > 5
    # a leg whose other leg worked: EXPIRED (oco_trigger), its part of the shared hold released at once
    triggered = [o for o in acquiring.orders.values() if o.order_list_id >= 0 and o.reason == "oco_trigger"]
    assert len(triggered) > 5 and all(o.status.name == "EXPIRED" for o in triggered)
    assert not any(acquiring.ledger.hold(o.order_id) for o in acquiring.orders.values() if o.status.is_final)
    assert sum(type(c) is NewOto for c in journal) > 20 and sum(type(c) is NewOtoco for c in journal) > 10
    otoco_pairs = [(acquiring.orders[c.legs[1].order_id], acquiring.orders[c.legs[2].order_id]) for c in journal
                   if type(c) is NewOtoco]
    assert any(a.working_time >= 0 for a, _ in otoco_pairs)  # pairs placed when their working orders filled
    pending = [acquiring.orders[c.legs[1].order_id] for c in journal if type(c) is NewOto]
    placed = [o for o in pending if o.working_time >= 0 or o.type.name == "TAKE_PROFIT_LIMIT" and o.status.name == "NEW"]
    canceled = [o for o in pending if o.status.name == "CANCELED" and o.working_time < 0]
    assert len(placed) > 10 and canceled, (len(placed), len(canceled))  # placed, and gone with their working order
    replayed, _, again = run(tmp_path, "replayed", [], journal=journal)
    assert replayed == first
    again.stage("acquiring-0").ledger.check_invariants()

    journal_dir = write_journal(tmp_path / "data" / "journal", journal)
    assert replay(journal_dir, tmp_path / "inproc.jsonl", "inproc") == replay(journal_dir, tmp_path / "shm.jsonl", "shm")
