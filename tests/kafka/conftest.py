"""A real single-node Kafka broker (KRaft) for the Kafka tests, one per test session.

The first run on a machine fetches the broker's jars with Maven (see spot_seda.kafka_broker);
later runs start from the cache in a few seconds.
"""

from __future__ import annotations

import pytest

from spot_seda.kafka_broker import KafkaBroker


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory):
    with KafkaBroker(tmp_path_factory.mktemp("kafka")) as broker:
        yield broker
