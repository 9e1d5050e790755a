"""One contract, every transport: partitions, order, consumer groups, several producers, back-pressure,
size limits. The shm engine runs its producers in real forked processes; Kafka runs on the session's
real three-broker cluster (replication 3), except for back-pressure (a Kafka topic is not a
bounded queue: its producers wait on acknowledgements instead)."""

from __future__ import annotations

import multiprocessing
import time
import uuid

import pytest

from spot_seda.bus import BusFull, EntryTooLarge, Wiring, make_bus, partition_for
from spot_seda.model.changelog import created
from tests.conftest import settings_from

fork = multiprocessing.get_context("fork")
TRANSPORTS = ["shm", "inproc", "kafka"]
BOUNDED = ["shm", "inproc"]  # the transports whose queues push back when full


@pytest.fixture
def make(request):
    """make(transport, wiring, ...) -> a bus of that transport (Kafka: fresh topics on the cluster)."""

    def build(transport: str, wiring: Wiring, queue_bytes: int = 4 << 20, max_message: int = 64 << 10,
              timeout: float = 0.5):
        kafka = ""
        if transport == "kafka":
            broker = request.getfixturevalue("kafka_broker")
            kafka = (f'[kafka]\nbootstrap_servers = "{broker.bootstrap}"\ntopic_prefix = "c{uuid.uuid4().hex[:8]}."\n'
                     f"linger_ms = 0.5\n")
        settings = settings_from(
            f'[bus]\ntransport = "{transport}"\nqueue_bytes = {queue_bytes}\nmax_message_bytes = {max_message}\n'
            f"put_timeout_s = {timeout}\nbatch_max = 100000\n" + kafka
        )
        return make_bus(wiring, settings)

    return build


def entry(n: int, key: str, pad: str = ""):
    return created(f"{key}:{n}", "SpotOrder", n, n, n=n, key=key, pad=pad)


def drain(consumer, expect: int, timeout: float = 10.0) -> list:
    """Poll until `expect` entries arrived (or the timeout); returns the batches."""
    batches, got = [], 0
    deadline = time.monotonic() + timeout
    while got < expect and time.monotonic() < deadline:
        for b in consumer.poll(0.05):
            batches.append(b)
            got += len(b.entries)
    return batches


def produce(bus, name: str, keys: list[str], per_key: int, chunk: int) -> None:
    producer = bus.producer(name)
    for start in range(0, per_key, chunk):
        for key in keys:
            producer.publish("T", key, [entry(n, key) for n in range(start, min(per_key, start + chunk))])


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_order_per_key_and_partition_routing(transport, make):
    bus = make(transport, Wiring({"T": 4}, {"g": (("T",), 1)}))
    keys = [f"sym{i}" for i in range(10)]
    produce(bus, "p0", keys, per_key=300, chunk=7)
    batches = drain(bus.consumer("g", 0), 3000)
    seen: dict[str, list[int]] = {k: [] for k in keys}
    for b in batches:
        assert b.topic == "T" and b.producer == "p0"
        for e in b.entries:
            key = e.field_dict()["key"]
            assert b.partition == partition_for(key, 4)
            seen[key].append(e.field_dict()["n"])
    assert all(seen[k] == list(range(300)) for k in keys)
    bus.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_detached_poll_is_read_later_on_another_thread_in_order(transport, make):
    """runtime/busreader.py's use: one thread polls, another reads what each poll got, later, while
    the first has polled again; a poll's length (batches) is known at once, an empty one's is 0,
    and every entry arrives once, in order."""
    import threading

    bus = make(transport, Wiring({"T": 1}, {"g": (("T",), 1)}))
    consumer = bus.consumer("g", 0)
    assert len(consumer.poll_detached(0)) == 0
    producer = bus.producer("p0")
    polls = []
    for phase in range(2):  # the second phase's polls come before the first's are read
        for start in range(phase * 100, phase * 100 + 100, 10):
            producer.publish("T", "k", [entry(n, "k") for n in range(start, start + 10)])
        producer.flush()
        batches, deadline = 0, time.monotonic() + 10
        while batches < 10 and time.monotonic() < deadline:
            poll = consumer.poll_detached(0.05)
            batches += len(poll)
            polls.append(poll)
        assert batches == 10
    got: list[int] = []
    reader = threading.Thread(target=lambda: got.extend(
        e.field_dict()["n"] for poll in polls for batch in poll for e in batch.entries))
    reader.start()
    reader.join()
    bus.close()
    assert got == list(range(200))


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_fan_out_to_two_groups_and_members_split_partitions(transport, make):
    bus = make(transport, Wiring({"T": 6}, {"a": (("T",), 1), "b": (("T",), 3)}))
    keys = [f"acct{i}" for i in range(40)]
    produce(bus, "p0", keys, per_key=50, chunk=10)
    total = 40 * 50
    whole = [e for b in drain(bus.consumer("a", 0), total) for e in b.entries]
    assert len(whole) == total
    split = 0
    for member in range(3):
        consumer, window = bus.consumer("b", member), 3.0 if transport == "kafka" else 0.3
        for b in drain(consumer, 1, timeout=1.0 + window) + drain(consumer, total, timeout=window):
            assert b.partition % 3 == member  # a member only gets the partitions it owns
            split += len(b.entries)
    assert split == total
    bus.close()


def _producer_process(bus, index: int, count: int) -> None:
    producer = bus.producer(f"p{index}")
    for start in range(0, count, 50):
        producer.publish("T", f"k{index}", [entry(index * 1_000_000 + n, f"k{index}") for n in range(start, start + 50)])


def test_several_producer_processes_into_one_queue_lose_and_duplicate_nothing(make):
    bus = make("shm", Wiring({"T": 1}, {"g": (("T",), 1)}), queue_bytes=1 << 20, timeout=10)
    producers, count = 4, 5000
    procs = [fork.Process(target=_producer_process, args=(bus, i, count)) for i in range(producers)]
    for p in procs:
        p.start()
    batches = drain(bus.consumer("g", 0), producers * count, timeout=60)
    for p in procs:
        p.join(10)
        assert p.exitcode == 0
    numbers = [e.field_dict()["n"] for b in batches for e in b.entries]
    expected = [i * 1_000_000 + n for i in range(producers) for n in range(count)]
    assert len(numbers) == len(expected)
    assert sum(numbers) == sum(expected) and sorted(numbers) == expected  # no loss, no duplicate
    for i in range(producers):  # each producer's entries keep their order through the shared queue
        mine = [n for n in numbers if n // 1_000_000 == i]
        assert mine == sorted(mine)
    bus.close()


@pytest.mark.parametrize("transport", BOUNDED)
def test_full_queue_pushes_back_and_loses_nothing_acknowledged(transport, make):
    bus = make(transport, Wiring({"T": 1}, {"g": (("T",), 1)}), queue_bytes=256 << 10, max_message=32 << 10, timeout=0.3)
    producer = bus.producer("p0")
    published = 0
    started = time.monotonic()
    with pytest.raises(BusFull, match="full"):
        for n in range(100_000):
            producer.publish("T", "k", [entry(n, "k", pad="x" * 100)])
            published += 1
    if transport == "shm":
        assert time.monotonic() - started >= 0.3  # it waited the put timeout before giving up
    assert published > 100
    arrived = [e.field_dict()["n"] for b in drain(bus.consumer("g", 0), published) for e in b.entries]
    assert arrived == list(range(published))  # every accepted publish arrived, the refused one did not
    bus.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_batches_over_the_message_limit_are_split_in_order(transport, make):
    limit = 16 << 10
    bus = make(transport, Wiring({"T": 1}, {"g": (("T",), 1)}), max_message=limit)
    batch = [entry(n, "k", pad="y" * 200) for n in range(1000)]  # ~250 KB in one publish
    bus.producer("p0").publish("T", "k", batch)
    batches = drain(bus.consumer("g", 0), 1000)
    assert len(batches) > 10
    assert [e for b in batches for e in b.entries] == batch
    bus.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_an_entry_near_the_limit_passes_and_one_over_it_is_refused(transport, make):
    limit = 16 << 10
    bus = make(transport, Wiring({"T": 1}, {"g": (("T",), 1)}), max_message=limit)
    producer = bus.producer("p0")
    near = entry(1, "k", pad="z" * (limit - 400))
    producer.publish("T", "k", [near])
    with pytest.raises(EntryTooLarge, match="max_message_bytes"):
        producer.publish("T", "k", [entry(2, "k", pad="z" * limit)])
    consumer = bus.consumer("g", 0)
    batches = drain(consumer, 1)
    assert [e for b in batches for e in b.entries] == [near]
    assert list(consumer.poll(1.0 if transport == "kafka" else 0.1)) == []  # the refused entry went nowhere
    bus.close()


def test_undeclared_topic_and_unknown_member_are_named(make):
    bus = make("inproc", Wiring({"T": 1}, {"g": (("T",), 1)}))
    with pytest.raises(KeyError):
        bus.producer("p").publish("nope", "k", [entry(1, "k")])
    with pytest.raises(ValueError, match="undeclared topic"):
        Wiring({"T": 1}, {"g": (("U",), 1)})


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_group_gets_only_the_producers_it_wants(transport, make):
    """Wiring.sources (the node's stages name them): a group that wants OrderChangeLog from Match
    alone never receives Acquiring's, and a producer's own output does not come back to it."""
    wiring = Wiring({"orders": 1}, {"match": (("orders",), 1), "settlement": (("orders",), 1), "push": (("orders",), 1)},
                    {"match": {"orders": ("acquiring",)}, "settlement": {"orders": ("match",)}})
    bus = make(transport, wiring)
    try:
        bus.producer("acquiring-0").publish_to("orders", 0, [entry(1, "a")])
        bus.producer("match-0").publish_to("orders", 0, [entry(2, "m")])
        # (two producers' messages reach a group in either order: order holds per producer)
        got = {g: sorted((b.producer, [e.sequence for e in b.entries])
                         for b in drain(bus.consumer(g, 0), 2, timeout=3.0 if transport == "kafka" else 0.5))
               for g in ("match", "settlement", "push")}
        assert got == {"match": [("acquiring-0", [1])], "settlement": [("match-0", [2])],
                       "push": [("acquiring-0", [1]), ("match-0", [2])]}
    finally:
        bus.close()


def _rss_kib() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def _map_rings(bus, result) -> None:
    """In a forked stage process: the memory it maps for its consumer's ring and its producer's."""
    before = _rss_kib()
    bus.consumer("in", 0)
    bus.producer("p-0").publish("B", "k", [entry(1, "k")])
    result.put(_rss_kib() - before)


def _map_at_start(bus, result) -> None:
    """In a forked stage process: what producer.pretouch maps, then what a first publish adds."""
    before = _rss_kib()
    producer = bus.producer("p-0")
    producer.pretouch(("B",))
    at_start = _rss_kib()
    producer.publish("B", "k", [entry(1, "k")])
    result.put((at_start - before, _rss_kib() - at_start))


def test_a_stage_maps_the_rings_it_produces_to_before_it_publishes():
    """A stage process pre-touches its output rings when it starts (stageproc.py), not at its first
    publish: after a restart that may be a snapshot marker, with order entry paused until every stage
    has passed it (13 rings of 64 MiB took ~108 ms there)."""
    ring = 16 << 20
    settings = settings_from(f'[bus]\ntransport = "shm"\nqueue_bytes = {ring}\npretouch = true\n')
    bus = make_bus(Wiring({"A": 1, "B": 1}, {"in": (("A",), 1), "out": (("B",), 1)}), settings)
    result = fork.SimpleQueue()
    p = fork.Process(target=_map_at_start, args=(bus, result))
    p.start()
    at_start, at_publish = (kib / 1024 for kib in result.get())
    p.join(10)
    assert p.exitcode == 0
    assert ring / 2**20 <= at_start < 2 * ring / 2**20, at_start  # "out"'s ring, not "in"'s
    assert at_publish < 2, at_publish  # nothing left to map
    bus.close()


@pytest.mark.parametrize("pretouch", [True, False])
def test_a_stage_process_maps_its_rings_at_start_with_pretouch(pretouch):
    """bus.pretouch: a forked process maps every page of the rings it reads (when it makes its
    consumer) and writes (at its first publish to a topic), so its memory is its bound from the
    start, and only those rings; without it, only the pages it used."""
    ring = 16 << 20
    settings = settings_from(f'[bus]\ntransport = "shm"\nqueue_bytes = {ring}\npretouch = {str(pretouch).lower()}\n')
    wiring = Wiring({"A": 1, "B": 1, "C": 1}, {"in": (("A",), 1), "out": (("B",), 1), "other": (("C",), 1)})
    bus = make_bus(wiring, settings)
    result = fork.SimpleQueue()
    p = fork.Process(target=_map_rings, args=(bus, result))
    p.start()
    grew_mib = result.get() / 1024
    p.join(10)
    assert p.exitcode == 0
    if pretouch:  # "in" and "out" (the producer writes B to "out"), not "other"
        assert 2 * ring / 2**20 <= grew_mib < 3 * ring / 2**20, grew_mib
    else:
        assert grew_mib < 4, grew_mib
    bus.close()
