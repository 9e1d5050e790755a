"""Determinism with DECREMENT self-trade prevention: a session whose accounts often meet their own
orders gives the same bytes live, again and from its journal; the quantity prevented is reported,
the funds it frees come back ("reduce"), and every balance adds up at the end."""

from __future__ import annotations

import random

import msgspec

from spot_seda.model.commands import NewOrder
from tests.sessions import commands, run


def decrement_commands(seed: int, n: int) -> list:
    """commands() (three accounts trading around one price) with half the orders in DECREMENT."""
    rng = random.Random(seed)
    return [msgspec.structs.replace(c, stp="DECREMENT") if type(c) is NewOrder and rng.random() < 0.5 else c
            for c in commands(seed, n)]


def test_decrement_gives_byte_identical_change_logs_live_and_from_the_journal(tmp_path):
    cmds = decrement_commands(41, 1200)
    first, journal, pipeline = run(tmp_path, "a", cmds)
    second, _, _ = run(tmp_path, "b", cmds)
    assert first == second
    assert first.count(b'"prevented_qty"') > 20 and first.count(b'"reduce"') > 5, "no prevention happened"
    acquiring = pipeline.stage("acquiring-0")
    acquiring.ledger.check_invariants()
    assert not acquiring.ledger.negative()
    replayed, _, again = run(tmp_path, "replayed", [], journal=journal)
    assert replayed == first
    again.stage("acquiring-0").ledger.check_invariants()
