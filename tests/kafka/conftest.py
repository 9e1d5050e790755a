"""A real three-broker Kafka cluster (KRaft, small heaps) for the Kafka tests, one per test session.

Every Kafka test runs against it: the node's topics get replication 3 with min.insync.replicas 2,
as in production. The first run on a machine fetches the brokers' jars with Maven (see
spot_seda.kafka_broker); later runs start from the cache in about ten seconds.
"""

from __future__ import annotations

import pytest

from spot_seda.kafka_broker import KafkaCluster

BROKERS = 3


@pytest.fixture(scope="session")
def kafka_cluster(tmp_path_factory):
    with KafkaCluster(tmp_path_factory.mktemp("kafka"), BROKERS) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def kafka_broker(kafka_cluster):
    """What the tests connect to (`.bootstrap`): the cluster."""
    return kafka_cluster
