"""bench/pipeline.py's own accounting, over every transport but Kafka (tests/kafka has that one):
every injected command is answered or refused, and the fills, orders and final balances the run's
history holds equal an in-process replay of the journal it wrote. Speed is not asserted."""

from __future__ import annotations

import pytest

from .pipeline_check import check_accounting, check_against_replay, run_bench


@pytest.mark.parametrize("transport", ["inproc", "shm", "mpq"])
def test_every_command_is_accounted_for_and_the_history_equals_a_replay(transport, tmp_path):
    # over shm, more subscribers than aiohttp's default connection pool holds (100): the 101st once
    # waited for a free connection for ever, and the bench timed out waiting for its subscribers
    extra = ("--subscribers", "101" if transport == "shm" else "2") if transport != "inproc" else ()
    result = run_bench(tmp_path, transport, *extra)
    check_accounting(result)
    assert all(p["steal_pct"] is None or 0 <= p["steal_pct"] <= 100 for p in result["phases"])
    if extra:
        assert result["frames"] > 0  # the subscribers saw trades
        assert result["phases"][1]["latency_us"]["pushed"]["count"] > 0
    check_against_replay(result, tmp_path)


def test_an_absolute_open_loop_rate_runs_at_that_rate(tmp_path):
    """--rates-per-s: a phase offered that many commands/s, whatever the capacity measured."""
    result = run_bench(tmp_path, "inproc", "--rates-per-s", "400")
    check_accounting(result)
    names = [p["name"] for p in result["phases"]]
    assert names == ["closed loop", "open 50%", "open 400/s"]
    fixed = result["phases"][2]
    assert fixed["offered_per_s"] == 400 and fixed["count"] == 200  # 0.5 s of it
