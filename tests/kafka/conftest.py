"""The Kafka tests run against the session's real three-broker cluster (KRaft, small heaps): the
`kafka_cluster` / `kafka_broker` fixtures of tests/conftest.py, which the bus contract shares. The
node's topics get replication 3 with min.insync.replicas 2, as in production. The first run on a
machine fetches the brokers' jars with Maven (see spot_seda.kafka_broker); later runs start from the
cache in about ten seconds.
"""
