"""Transport benchmark: ChangeLogEntry throughput and latency between two pinned processes.

Three ways of moving the same entries from a producer process (core A) to a consumer (core B),
measured in one run so the ratios are fair on a shared, noisy machine:
  bus       the shm Bus: one msgpack message per batch of entries (what the stages use)
  fifo-1    faster-fifo, one msgpack-encoded entry per message
  mpq-1     multiprocessing.Queue, one msgpack-encoded entry per message
Both sides pay encoding and decoding, as stages do.

Throughput: the producer sends N entries as fast as the transport takes them; rate = N / (time from
the first send to the last receipt). Latency: the producer sends every millisecond a chunk worth
`--rate` entries/s; latency = receipt - send time of each chunk (CLOCK_MONOTONIC is shared by
processes), reported as p50/p99/p99.9. Figures print as they come; a plot goes to bench/out/.

    python bench/transport.py [--entries 1000000] [--rate 100000] [--seconds 5] [--kafka]

`--kafka` adds the Kafka Bus (`kafka`), on a single-node broker (KRaft) started for the run on the
same machine: the same producer and consumer processes, the broker in between.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import queue
import sys
import time
from pathlib import Path

import numpy as np
from faster_fifo import Queue as FifoQueue

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spot_seda.bus import Wiring, make_bus  # noqa: E402
from spot_seda.config import parse_settings  # noqa: E402
from spot_seda.model.changelog import MSGPACK, ChangeLogEntry, created  # noqa: E402

fork = mp.get_context("fork")
CHUNK = 512
DONE = -1


def sample_entries(n: int) -> list[ChangeLogEntry]:
    """Order-sized entries like Acquiring publishes (8 fields)."""
    return [
        created(str(1_000_000 + i), "SpotOrder", 1_700_000_000_000 + i, 0, symbol="BTCUSDT", side="BUY",
                type="LIMIT", price=5_000_000 + i % 100, qty=100_000, account=i % 1000, status="NEW", tif="GTC")
        for i in range(n)
    ]


def pin(core: int) -> None:
    try:
        os.sched_setaffinity(0, {core})
    except OSError:
        pass


def stamped(chunk: list[ChangeLogEntry], stamp: int) -> list[ChangeLogEntry]:
    """The chunk with its first entry carrying the send time (sequence 1 marks it)."""
    first = chunk[0]
    chunk[0] = ChangeLogEntry(first.entity_id, first.entity_type, first.change_type, stamp, 1)
    return chunk


# -- the three transports, each as (make, send(chunk, t), receive() -> list[(count, t_sent)]) ---------

class BusLink:
    name = "bus"

    def __init__(self) -> None:
        settings = parse_settings(b'[bus]\ntransport = "shm"\nqueue_bytes = 67108864\n')
        self.bus = make_bus(Wiring({"T": 1}, {"g": (("T",), 1)}), settings)

    def sender(self):
        producer = self.bus.producer("bench")

        def send(chunk, stamp):
            producer.publish("T", "k", stamped(chunk, stamp))
        return send

    def receiver(self):
        consumer = self.bus.consumer("g", 0)

        def receive():
            out = []
            for b in consumer.poll(0.5):
                first = b.entries[0]
                out.append((len(b.entries), first.timestamp if first.sequence == 1 else 0))
            return out
        return receive


class FifoLink:
    name = "fifo-1"

    def __init__(self) -> None:
        self.q = FifoQueue(max_size_bytes=64 << 20, dumps=bytes, loads=bytes)

    def sender(self):
        encode, q = MSGPACK.encode_entry, self.q

        def send(chunk, stamp):
            for e in stamped(chunk, stamp):
                q.put(encode(e), timeout=30)
        return send

    def receiver(self):
        decode, q = MSGPACK.decode_entry, self.q

        def receive():
            try:
                msgs = q.get_many(timeout=0.5, max_messages_to_get=4096)
            except queue.Empty:
                return []
            return [(1, e.timestamp if e.sequence == 1 else 0) for e in map(decode, msgs)]
        return receive


class MpQueueLink:
    name = "mpq-1"

    def __init__(self) -> None:
        self.q = fork.Queue(maxsize=100_000)

    def sender(self):
        encode, q = MSGPACK.encode_entry, self.q

        def send(chunk, stamp):
            for e in stamped(chunk, stamp):
                q.put(encode(e))
        return send

    def receiver(self):
        decode, q = MSGPACK.decode_entry, self.q

        def receive():
            try:
                data = q.get(timeout=0.5)
            except queue.Empty:
                return []
            e = decode(data)
            return [(1, e.timestamp if e.sequence == 1 else 0)]
        return receive


class KafkaLink(BusLink):
    """The Kafka Bus (one broker, KRaft, started for the run by --kafka): the same Batch messages."""

    name = "kafka"
    bootstrap = ""

    def __init__(self) -> None:
        import uuid

        settings = parse_settings(
            f'[bus]\ntransport = "kafka"\n[kafka]\nbootstrap_servers = "{self.bootstrap}"\n'
            f'topic_prefix = "bench-{uuid.uuid4().hex[:8]}."\ncodec = "msgpack"\n'.encode())
        # "W" is read by nobody: the warm-up message below goes there
        self.bus = make_bus(Wiring({"T": 1, "W": 1}, {"g": (("T",), 1)}), settings)

    def sender(self):
        self.producer = self.bus.producer("bench")
        # warm up: the idempotent producer's id comes from the broker on the first send (seconds on a
        # broker that has just started); the consumer skips "W" by key
        self.producer.publish("W", "k", sample_entries(1))
        self.producer.flush(60)

        def send(chunk, stamp):
            self.producer.publish("T", "k", stamped(chunk, stamp))
        return send

    def finish(self) -> None:
        self.producer.flush(60)


LINKS = [BusLink, FifoLink, MpQueueLink]


def producer_main(link, core: int, total: int, rate: int, chunk_size: int) -> None:
    pin(core)
    send = link.sender()
    template = sample_entries(chunk_size)
    sent = 0
    began = time.perf_counter_ns()
    while sent < total:
        n = min(chunk_size, total - sent)
        if rate:
            due = began + (sent * 1_000_000_000) // rate
            while time.perf_counter_ns() < due:
                pass  # spin: sleeping would add the scheduler's latency to the figures we measure
        send(template[:n], time.perf_counter_ns())
        sent += n
    if hasattr(link, "finish"):
        link.finish()  # a client that buffers (Kafka) must hand everything over before the process ends


def consumer_main(link, core: int, total: int, results) -> None:
    pin(core)
    receive = link.receiver()
    got = 0
    first = last = 0
    lat = []
    while got < total:
        for count, sent_ns in receive():
            now = time.perf_counter_ns()
            got += count
            last = now
            if sent_ns:  # the first entry of a chunk carries its send time
                first = first or sent_ns
                lat.append(now - sent_ns)
    results.put((got, first, last, lat))


def run_one(link_cls, total: int, rate: int, chunk: int, cores: tuple[int, int]):
    link = link_cls()
    results = fork.Queue()
    consumer = fork.Process(target=consumer_main, args=(link, cores[1], total, results))
    consumer.start()
    time.sleep(0.2)
    producer = fork.Process(target=producer_main, args=(link, cores[0], total, rate, chunk))
    producer.start()
    got, first, last, lat = results.get(timeout=600)
    producer.join()
    consumer.join()
    return got / ((last - first) / 1e9), np.array(lat) / 1000.0  # entries/s, latencies in us


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=1_000_000, help="entries per throughput run")
    parser.add_argument("--rate", type=int, default=100_000, help="entries/s offered in the latency runs")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each latency run")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "out"), help="where the plot goes")
    parser.add_argument("--kafka", action="store_true", help="also the Kafka Bus, on a local broker started for the run")
    args = parser.parse_args()
    if args.kafka:
        import tempfile

        from spot_seda.kafka_broker import KafkaBroker

        with KafkaBroker(Path(tempfile.mkdtemp(prefix="spot_seda_bench_kafka_"))) as broker:
            KafkaLink.bootstrap = broker.bootstrap
            return run_all(args, [*LINKS, KafkaLink])
    return run_all(args, LINKS)


def run_all(args, links) -> int:
    allowed = sorted(os.sched_getaffinity(0))
    cores = (allowed[0], allowed[-1])
    print(f"# {len(allowed)} cores allowed; producer pinned to core {cores[0]}, consumer to core {cores[1]}")
    results = {}
    for link_cls in links:
        # per-entry transports get fewer entries: they are an order of magnitude slower
        total = args.entries if issubclass(link_cls, BusLink) else args.entries // 5
        print(f"{link_cls.name:>7}: throughput run, {total:,} entries ...", flush=True)
        tput, _ = run_one(link_cls, total, 0, CHUNK, cores)
        per_tick = max(1, args.rate // 1000)
        lat_total = int(args.rate * args.seconds)
        print(f"{link_cls.name:>7}: {tput:,.0f} entries/s; latency run at {args.rate:,}/s in chunks of {per_tick} ...", flush=True)
        _, lat = run_one(link_cls, lat_total, args.rate, per_tick, cores)
        p50, p99, p999 = np.percentile(lat, [50, 99, 99.9])
        results[link_cls.name] = (tput, lat)
        print(f"{link_cls.name:>7}: latency p50 {p50:,.0f} us  p99 {p99:,.0f} us  p99.9 {p999:,.0f} us", flush=True)
    bus = results["bus"][0]
    print("\n| transport | entries/s | x mp.Queue | p50 us | p99 us |")
    print("|---|---:|---:|---:|---:|")
    for name, (tput, lat) in results.items():
        p50, p99 = np.percentile(lat, [50, 99])
        print(f"| {name} | {tput:,.0f} | {tput / results['mpq-1'][0]:.1f} | {p50:,.0f} | {p99:,.0f} |")
    print(f"\nshm Bus vs multiprocessing.Queue: {bus / results['mpq-1'][0]:.1f}x")
    plot(results, Path(args.out), args.rate)
    return 0


def plot(results, out: Path, rate: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    names = list(results)
    left.bar(names, [results[n][0] for n in names], color=["tab:green", "tab:blue", "tab:gray"])
    left.set_ylabel("entries/s")
    left.set_title("throughput, two pinned processes")
    for name in names:
        lat = np.sort(results[name][1])
        right.plot(lat, np.linspace(0, 1, len(lat)), label=name)
    right.set_xscale("log")
    right.set_xlabel("latency (us)")
    right.set_ylabel("fraction of chunks")
    right.set_title(f"latency CDF at {rate:,} entries/s")
    right.legend()
    fig.tight_layout()
    path = out / "transport.png"
    fig.savefig(path, dpi=110)
    print(f"plot: {path}")


if __name__ == "__main__":
    sys.exit(main())
