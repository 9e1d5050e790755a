"""librdkafka's own log lines go through Python's logging (`spot_seda.kafka.client`), each repeated
line at most once per REPEAT_S, not straight to stderr 20 times a second while a broker is away
(bus/kafkaclients.py, client_config). No broker needed: a client pointed at a closed port is what
a node meets while its cluster is down."""

from __future__ import annotations

import logging
import subprocess
import sys
import time

import pytest

from spot_seda.bus import kafkaclients
from spot_seda.bus.kafkaclients import client_config, kafka_lib
from tests.conftest import ROOT
from tests.node.conftest import free_port, node_toml


def _refused(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "spot_seda.kafka.client" and "Connection refused" in r.getMessage()]


def _poll(consumer, seconds: float) -> None:
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        consumer.poll(0.1)


def test_a_lost_broker_is_one_logged_line_not_a_stream_on_stderr(caplog, capfd):
    caplog.set_level(logging.INFO, logger="spot_seda.kafka.client")
    consumer = kafka_lib().Consumer(client_config(f"127.0.0.1:{free_port()}", **{"group.id": "log-test"}))
    try:
        _poll(consumer, 1.5)  # librdkafka retries the connection every 50-100 ms meanwhile
    finally:
        consumer.close()
    assert len(_refused(caplog)) == 1, [r.getMessage() for r in caplog.records]
    assert _refused(caplog)[0].levelno == logging.ERROR  # (librdkafka's level 3)
    assert "%3|" not in capfd.readouterr().err  # librdkafka's own format on stderr: none


def test_lines_that_differ_only_in_how_long_something_took_are_the_same_line(caplog):
    """librdkafka says how long a failed connect took ("after 0ms", on a loaded box "after 1ms"):
    the repeat is still left out (the full suite once let it through as a new line)."""
    caplog.set_level(logging.INFO, logger="spot_seda.kafka.client")
    line = ("FAIL [rdkafka#consumer-9] [thrd:127.0.0.1:1/bootstrap]: 127.0.0.1:1/bootstrap: Connect to "
            "ipv4#127.0.0.1:1 failed: Connection refused (after {}ms in state CONNECT)")
    for ms in (0, 1, 0, 12):
        kafkaclients.CLIENT_LOG.error(line.format(ms))
    kafkaclients.CLIENT_LOG.error(line.format(0).replace("Connection refused", "Connection reset"))
    lines = [r.getMessage() for r in caplog.records if r.name == "spot_seda.kafka.client"]
    assert lines == [line.format(0), line.format(0).replace("Connection refused", "Connection reset")], lines


def test_a_line_repeated_past_the_interval_says_how_many_were_left_out(caplog, monkeypatch):
    monkeypatch.setattr(kafkaclients, "REPEAT_S", 0.5)
    caplog.set_level(logging.INFO, logger="spot_seda.kafka.client")
    consumer = kafka_lib().Consumer(client_config(f"127.0.0.1:{free_port()}", **{"group.id": "log-test"}))
    try:
        _poll(consumer, 2.0)
    finally:
        consumer.close()
    lines = [r.getMessage() for r in _refused(caplog)]
    assert 2 <= len(lines) <= 5, lines
    assert "more like it" not in lines[0]
    assert all("more like it in" in line for line in lines[1:]), lines


@pytest.mark.timeout(120)
def test_a_node_whose_cluster_does_not_answer_says_one_line(tmp_path):
    config = tmp_path / "node.toml"
    config.write_text(node_toml(tmp_path / "data", free_port(), free_port(), extra=(
        f'transport = "kafka"\n[kafka]\nbootstrap_servers = "127.0.0.1:{free_port()}"\n'
        'request_timeout_s = 3.0\n')))  # (30 s by default)
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, "run.py", "--config", str(config)], cwd=ROOT, capture_output=True,
                          text=True, timeout=100)
    assert done.returncode == 2
    assert time.monotonic() - t0 < 25, "kafka.request_timeout_s not applied"
    lines = [line for line in done.stderr.splitlines() + done.stdout.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("cannot start: the Kafka cluster at 127.0.0.1:"), lines
