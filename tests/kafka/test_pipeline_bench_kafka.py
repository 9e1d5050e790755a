"""bench/pipeline.py over the real Kafka broker: every command accounted for, and the history equal
to an in-process replay of the journal (tests/bench has the other transports)."""

from __future__ import annotations

from tests.bench.pipeline_check import check_accounting, check_against_replay, run_bench


def test_pipeline_bench_over_kafka(kafka_broker, tmp_path):
    result = run_bench(tmp_path, "kafka", "--kafka-bootstrap", kafka_broker.bootstrap)
    check_accounting(result)
    check_against_replay(result, tmp_path)


def test_pipeline_bench_over_kafka_with_transactions(kafka_broker, tmp_path):
    """The same with kafka.transactions: each stage commits its outputs with its input's offsets."""
    result = run_bench(tmp_path, "kafka", "--kafka-bootstrap", kafka_broker.bootstrap, "--kafka-transactions")
    check_accounting(result)
    check_against_replay(result, tmp_path)
