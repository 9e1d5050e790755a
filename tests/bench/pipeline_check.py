"""What the pipeline bench's tests check of a run: every command accounted for, and the history the
run wrote equal to an in-process replay of the journal it wrote."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import pipeline  # noqa: E402

from spot_seda.config import load_settings  # noqa: E402
from spot_seda.journal import Journal  # noqa: E402
from spot_seda.model.commands import Command  # noqa: E402
from spot_seda.runtime.inproc import InprocPipeline  # noqa: E402
from spot_seda.runtime.replay import apply_commands  # noqa: E402

#: what a run leaves in its history that must not depend on the transport or the timing
TABLES = {
    "trades": "SELECT * FROM trades ORDER BY symbol, trade_id",
    "balances": "SELECT account, asset, sum(available_delta), sum(frozen_delta) FROM balance_changes GROUP BY 1, 2 ORDER BY 1, 2",
    "orders": "SELECT * FROM orders ORDER BY order_id",
    "prevented matches": "SELECT * FROM prevented_matches ORDER BY symbol, prevented_match_id",
}


def run_bench(tmp_path: Path, transport: str, *extra: str) -> dict:
    doc = pipeline.main(["--orders", "600", "--transports", transport, "--rates", "50", "--open-seconds", "0.5",
                         "--scratch", str(tmp_path), "--plots", "", "--skip-engine", *extra])
    return doc["results"][0]


def check_accounting(result: dict) -> None:
    """Every command of every phase was answered or refused, each refusal for a reason the node
    gives live: a cancel of an order that had finished, or an order of an account whose market buy
    by quantity still held all its free quote (api docs: such an order holds it until it is done);
    none for its parameters (the workload is valid) and none shed."""
    assert result["capacity_orders_per_s"] > 0
    for phase in result["phases"]:
        assert phase["answered"] + phase["refused"] == phase["count"], phase["name"]
        assert set(phase["refused_by_reason"]) <= {"unknown order", "insufficient balance"}, phase["refused_by_reason"]
        assert phase["shed"] == 0
        assert phase["answered"] > phase["count"] // 2
        assert phase["latency_us"]["answered"]["count"] > 0


def history(path: Path) -> dict[str, list[tuple]]:
    with sqlite3.connect(path) as db:
        return {name: db.execute(sql).fetchall() for name, sql in TABLES.items()}


def replayed_history(data_dir: Path, scratch: Path) -> dict[str, list[tuple]]:
    """The history an in-process replay of the run's journal writes."""
    settings = load_settings()
    settings.bus.transport = "inproc"
    inproc = InprocPipeline(settings, scratch)
    commands = (cmd for _pos, cmd in Journal.read_structs(data_dir / "journal", Command))
    apply_commands(inproc, commands, journaled=True)
    inproc.stop()
    return history(scratch / "history.sqlite")


def check_against_replay(result: dict, tmp_path: Path) -> None:
    data_dir = Path(result["data_dir"])
    live = history(data_dir / "history.sqlite")
    again = replayed_history(data_dir, tmp_path / "replay")
    assert len(live["trades"]) > 100 and len(live["balances"]) >= 3000
    for name in TABLES:
        assert live[name] == again[name], name
