"""The shared metrics table as Prometheus text: valid for Prometheus' own parser, with its naming
conventions (counters end in _total, times in seconds, HELP and TYPE for every metric)."""

from __future__ import annotations

import gc
import os

from prometheus_client.parser import text_string_to_metric_families

from spot_seda.runtime.metrics import COLUMNS, MetricsTable, render_prometheus, watch_gc


def test_the_stage_counters_read_as_prometheus_metrics():
    table = MetricsTable.create(["match-0", "persist-1"])
    try:
        row = table.row("match-0")
        row["events_in"] = 7
        row["busy_ns"] = 1_500_000_000
        row["queue_depth"] = 3
        families = {f.name: f for f in text_string_to_metric_families(render_prometheus(table))}
    finally:
        table.unlink()
    assert len(families) == len(COLUMNS) - 3  # pid, core and started_ns are labels of the process, not metrics
    for family in families.values():
        assert family.documentation and family.type in ("counter", "gauge")
    # the parser names a counter family without its _total suffix
    busy = {s.labels["stage"]: s.value for s in families["spot_seda_stage_busy_seconds"].samples}
    assert busy == {"match": 1.5, "persist": 0.0}
    events = families["spot_seda_stage_events_in"]
    assert events.type == "counter"
    assert {(s.name, s.labels["instance"], s.value) for s in events.samples} == {
        ("spot_seda_stage_events_in_total", "0", 7.0), ("spot_seda_stage_events_in_total", "1", 0.0)}
    depth = families["spot_seda_stage_queue_depth"]
    assert depth.type == "gauge" and [s.value for s in depth.samples] == [3.0, 0.0]


def test_the_garbage_collectors_passes_are_counted_timed_and_the_longest_kept():
    table = MetricsTable.create(["acquiring-0"])
    row = table.row("acquiring-0")
    watch = watch_gc(row)
    try:
        cycles = []
        for _ in range(20_000):  # garbage only the cyclic collector frees
            node: list = []
            node.append(node)
            cycles.append(node)
        del cycles, node
        gc.collect()
        gc.collect(0)
        assert row["gc_collections"] >= 2
        assert 0 < row["gc_max_ns"] <= row["gc_ns"]
        counted = row["gc_collections"]
        pid = os.fork()
        if pid == 0:  # a forked child (a snapshot writer) collects: the stage's row stays as it was
            gc.collect()
            os._exit(0)
        assert os.waitpid(pid, 0)[1] == 0
        assert row["gc_collections"] == counted
        families = {f.name: f for f in text_string_to_metric_families(render_prometheus(table))}
    finally:
        gc.callbacks.remove(watch)
        table.unlink()
    assert families["spot_seda_stage_gc_collections"].samples[0].value == counted
    assert families["spot_seda_stage_gc_seconds"].samples[0].value == row["gc_ns"] / 1e9
    assert families["spot_seda_stage_gc_pause_max_seconds"].type == "gauge"
