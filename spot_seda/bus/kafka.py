"""The Kafka transport: the same Bus semantics over an Apache Kafka cluster (confluent-kafka).

Topics: each logical topic is a Kafka topic of its own, named as the seed names it with the
configured prefix (`<kafka.topic_prefix>OrderChangeLog`, ...TradeChangeLog, ...KLineChangeLog,
...BalanceChangeLog), with the wiring's partitions (`bus.partitions`; configs/kafka.toml: 10) and
`kafka.replication_factor` replicas (3), `min.insync.replicas` = `kafka.min_insync_replicas` (2)
and unclean leader election off. Producers are idempotent with acks=all: a message counts as sent
once the in-sync replicas have it, and retries neither reorder nor duplicate a partition. A message
is one encoded Batch (msgpack or JSON, `kafka.codec`); its header `p` names the producer instance,
so a consumer drops the producers its group does not read (Wiring.sources) without decoding them.
The Bus picks partitions itself (crc32 of the key), so Kafka's partitioner never decides, and every
topic of a key has the same partition number: the topics are co-partitioned.

Order across topics. Kafka orders messages only within a partition, and some stages rely on a
producer's order across two topics: Match publishes a command's trades (TradeChangeLog) before the
order updates they cause (OrderChangeLog), and Settlement, Acquiring and Push need the fills first.
A producer whose stage declares its outputs ordered (Wiring.ordered; Stage.ordered_outputs) keeps
that order per partition number: before it sends to topic T partition p it waits until its earlier
messages to its other topics' partition p are acknowledged, and stamps the message with header `d`,
their offsets ("TradeChangeLog=1234"). A consumer that reads one of those other topics holds the
message (and what follows it in its partition) until it has consumed that partition past the offset.
Offsets are absolute, so this holds wherever a consumer starts; the price is one acknowledgement
round trip per batch that writes two topics, paid only by Match. Order across partition numbers
(Acquiring's freeze keyed by account and its order keyed by symbol) is not kept, and nothing relies
on it: Push waits for an order's Created entry itself, and balance deltas commute.

Consumers: a group member is assigned its partitions of every topic (`p % members`) directly, no
rebalancing, and starts at the offsets read when the bus was built, before the supervisor forked
the stages: the end of every partition. That is the shm transport's "fresh queues" at every
(re)start: what a stage's state must reflect comes from the journal and snapshots
(runtime/recovery.py), and everything the new incarnation publishes lies after those offsets. A
consumer made again later (a stage restarted alone) starts there too and re-reads what its group
was sent since (`rereads_from_start`), or where the state its stage kept since says; a supervisor with no journal beside it starts its consumers
at the beginning (`start_from_beginning`), or where a stage's kept state says (bus/kafkastate.py).
The offsets of what each member has processed are committed to its consumer group
(`<prefix><stage>`), so `kafka-consumer-groups.sh --describe` and `run.py status` show every
stage's lag.

The producer and the consumer are bus/kafkaclients.py; this module is the bus: topics, their
creation and configuration, and the clients it hands out.

Fork safety: librdkafka clients own threads and must not cross a fork, so the bus builds its
producers and consumers lazily in the process that asks for them; the parent only uses
short-lived admin and metadata clients.
"""

from __future__ import annotations

from ..model.changelog import Codec
from .base import Bus, BusError, Wiring
from .kafkaclients import (KafkaConsumer, KafkaProducer, client_config, create_topics, kafka_lib, read_range, topic_configs,
                           wait_for_leaders, watermarks)
from .kafkastate import KafkaBlobs


class KafkaBus(Bus):
    """Producers and consumers on one Kafka cluster for a wiring."""

    # a member killed by SIGKILL leaves no lock behind, but its stage's state must still come back
    # from the journal with everyone else's (the same recovery as shm): see the module docstring
    survives_member_death = False
    # the start offsets are the bus's, read once in the supervisor: a consumer made again in a
    # restarted stage process reads every message since the pipeline started once more
    rereads_from_start = True

    def __init__(self, wiring: Wiring, settings) -> None:
        self.wiring = wiring
        self.settings = settings.bus
        self.kafka = settings.kafka
        self.codec = Codec(self.kafka.codec)
        self.prefix = self.kafka.topic_prefix
        self.common = client_config(self.kafka.bootstrap_servers)
        self._clients: list = []
        self.ensure_topics()
        #: (Kafka topic, partition) -> the offset consumers of this bus start at
        self.start_offsets = self.end_offsets()

    def kafka_topic(self, topic: str) -> str:
        """The Kafka topic a logical topic travels on."""
        return self.prefix + topic

    def ensure_topics(self) -> None:
        """Create the wiring's topics (or check existing ones have the wiring's partitions)."""
        ck = kafka_lib()
        admin = ck.admin.AdminClient(self.common)
        existing = admin.list_topics(timeout=self.kafka.request_timeout_s).topics
        new = [ck.admin.NewTopic(self.kafka_topic(t), num_partitions=n, replication_factor=self.kafka.replication_factor,
                                 config=topic_configs(self.kafka))
               for t, n in self.wiring.topics.items() if self.kafka_topic(t) not in existing]
        if new:
            create_topics(admin, new)
        wait_for_leaders(admin, {self.kafka_topic(t): n for t, n in self.wiring.topics.items()})

    def end_offsets(self) -> dict[tuple[str, int], int]:
        """The current end offset of every partition of every topic."""
        ck = kafka_lib()
        probe = ck.Consumer(self.common | {"group.id": self.prefix + "probe", "enable.auto.commit": False})
        wait = self.kafka.request_timeout_s
        try:
            offsets = {}
            for topic, partitions in self.wiring.topics.items():
                name = self.kafka_topic(topic)
                for p in range(partitions):
                    try:  # (asked again meanwhile: e.g. a new partition's leader still being elected)
                        offsets[name, p] = watermarks(probe, ck.TopicPartition(name, p), timeout=wait, pause=0.1)[1]
                    except ck.KafkaException as exc:
                        raise BusError(f"cannot read the end of {name}[{p}]: {exc}") from None
            return offsets
        finally:
            probe.close()

    def start_from_beginning(self) -> None:
        """Consumers made from now on start at the first offset Kafka holds of every partition (a
        stage with no journal beside it rebuilds its state from all of its input)."""
        self.start_offsets.update(self.begin_offsets())

    def begin_offsets(self) -> dict[tuple[str, int], int]:
        """The first offset Kafka holds of every partition of every topic."""
        ck = kafka_lib()
        probe = ck.Consumer(self.common | {"group.id": self.prefix + "probe", "enable.auto.commit": False})
        try:
            wait = self.kafka.request_timeout_s
            return {(name, p): probe.get_watermark_offsets(ck.TopicPartition(name, p), timeout=wait)[0]
                    for name, p in self.start_offsets}
        finally:
            probe.close()

    def probe(self):
        """A consumer for reading partitions at given offsets (last_sequences); close it after."""
        return kafka_lib().Consumer(self.common | {"group.id": self.prefix + "probe", "enable.auto.commit": False,
                                                   "enable.partition.eof": True,
                                                   "fetch.wait.max.ms": 10})  # it seeks: no fetch left waiting

    def last_sequences(self, producer: str, window: int = 512, topics=None,
                       partition: int | None = None, probe=None) -> dict[tuple[str, int], int]:
        """(topic, partition) -> the sequence of the last entry `producer` has in Kafka there, for
        every partition (or `partition` only) of every topic (of `topics`, if given) that holds
        some of its entries. Reads each partition backwards, `window` messages at a time, until it
        meets one of that producer's batches (all of a partition it never wrote). `probe`: a
        consumer of `probe()` to use (and leave open)."""
        ck = kafka_lib()
        found: dict[tuple[str, int], int] = {}
        own = probe is None
        probe = self.probe() if own else probe
        wanted = producer.encode()
        try:
            for topic, partitions in self.wiring.topics.items():
                if topics is not None and topic not in topics:
                    continue
                name = self.kafka_topic(topic)
                for p in range(partitions) if partition is None else (partition,):
                    low, high = probe.get_watermark_offsets(ck.TopicPartition(name, p),
                                                            timeout=self.kafka.request_timeout_s)
                    end = high
                    while end > low and (topic, p) not in found:
                        start = max(low, end - window)
                        last = None
                        for m in read_range(probe, ck.TopicPartition(name, p, start), end):
                            headers = m.headers() or []
                            if headers and headers[0] == ("p", wanted):
                                batch = self.codec.decode(m.value())
                                if batch.entries and batch.entries[-1].sequence:  # markers carry none
                                    last = batch.entries[-1].sequence
                        if last is not None:
                            found[topic, p] = last
                        end = start
            return found
        finally:
            if own:
                probe.close()

    def producer(self, name: str) -> "KafkaProducer":
        producer = KafkaProducer(self, name)
        self._clients.append(producer)
        return producer

    def consumer(self, group: str, member: int, start: dict[tuple[str, int], int] | None = None) -> "KafkaConsumer":
        """`start`: (Kafka topic, partition) -> offset to start at instead of the bus's (a stage
        restored from a snapshot that names its input positions)."""
        try:
            topics, members = self.wiring.groups[group]
        except KeyError:
            raise KeyError(f"no consumer group member {group}[{member}] in this wiring") from None
        consumer = KafkaConsumer(self, group, member, topics, members, start or {})
        self._clients.append(consumer)
        return consumer

    def blobs(self):
        blobs = KafkaBlobs(self)
        self._clients.append(blobs)
        return blobs

    def close(self) -> None:
        for client in self._clients:
            client.close()
        self._clients.clear()
