"""Real Apache Kafka brokers (KRaft, no ZooKeeper, no Docker) on this box, for tests and by hand:
one node (`KafkaBroker`) or a cluster of several (`KafkaCluster`, e.g. three with replication 3).

The broker runs from the jars of Maven Central: `spot_seda/kafka/pom.xml` (package data, so an
installed package finds it too) names them, and
`ensure_jars()` has Maven copy the runtime classpath once into a cache directory
(`~/.cache/spot_seda/kafka-<version>/lib`, or `$SPOT_SEDA_KAFKA_HOME/lib`). It needs `java`
(17 or later; `$JAVA_HOME/bin/java` if set) and, for the first fetch only, `mvn`.

    with KafkaBroker(tmp_dir) as broker:
        AdminClient({"bootstrap.servers": broker.bootstrap}) ...

`KafkaBroker` picks free 127.0.0.1 ports, writes a KRaft `server.properties` (one node that is
both broker and controller), formats the storage, starts `kafka.Kafka` in its own process group
with its log in `data_dir/broker.log`, and returns once the broker answers a Metadata request
listing itself. On exit it sends SIGTERM, then SIGKILL after 10 s, and waits for the JVM.
Re-opening an already formatted `data_dir` restarts the broker on its data.

`KafkaCluster(data_dir, 3)` runs three such nodes (each broker and controller, one static KRaft
quorum of three voters, one cluster id, `data_dir/broker-<id>` each) with small heaps, started
together (a quorum needs a majority) and stopped together; its `bootstrap` lists all three.
`kill(i)` / `restart(i)` take one down with SIGKILL and bring it back on its data and ports.

By hand: `python -m spot_seda.kafka_broker [--brokers 3] [--data-dir DIR] [--port N]` runs them
until Ctrl-C or SIGTERM, printing the bootstrap list on stdout; nothing is left running after.
`python -m spot_seda.kafka_broker consumer-groups ARGS` is Kafka's kafka-consumer-groups.sh
(e.g. `--bootstrap-server B --describe --all-groups`: every stage's committed offsets and lag).

Standard library only. jars.py fetches and runs the jars, node.py is one broker, cluster.py several,
__main__.py the command line.
"""

from __future__ import annotations

from .cluster import KafkaCluster
from .jars import consumer_groups, ensure_jars, kafka_version
from .node import KafkaBroker

__all__ = ["KafkaBroker", "KafkaCluster", "consumer_groups", "ensure_jars", "kafka_version"]
