"""Journal benchmark: append throughput and commit latency per fsync policy, and replay (read) rate.

Payloads are real journal records: msgpack-encoded NewOrder commands (~150 bytes), as Acquiring
writes them. The journal lives in a temporary directory under bench/out/ (the disk /work is on).

  sync-1     append 1 command, commit(): one write (+ fsync for "always") per command
  sync-64    append 64 commands, commit() once: the blocking API's group commit
  async-64   64 asyncio clients, each: append 1, await sync(), repeat: the server's group commit
             ("always": the fsync runs in the executor while the next group gathers)
  append     appends only (no commit): the per-record framing cost
  read       Journal.read over 1,000,000 records (crc checked), and read + msgspec decode to Command

Latency is per group (append + commit of one group, or append + await sync for one client), p50/p99.
Figures print as they come; a plot goes to bench/out/journal.png.

    python bench/journal.py [--seconds 2] [--records 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spot_seda.journal import Journal  # noqa: E402
from spot_seda.model.commands import DECODER, ENCODER, NewOrder  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
POLICIES = ("always", "batch", "off")


def commands(n: int) -> list[bytes]:
    return [ENCODER.encode(NewOrder(1000 + i % 1000, "BTCUSDT", "BUY" if i % 2 else "SELL", "LIMIT", "GTC",
                                    3_000_000 + i % 500, 100_000 + i % 77, 0, f"cli-{i}", "NONE",
                                    1_700_000_000_000 + i, order_id=i + 1)) for i in range(n)]


def pct(lat: list[float]) -> tuple[float, float]:
    a = np.asarray(lat) * 1e6
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


def run_sync(directory: Path, policy: str, group: int, seconds: float, payloads: list[bytes]) -> dict:
    j = Journal(directory, fsync=policy)
    lat = []
    n = 0
    m = len(payloads)
    clock = time.perf_counter
    start = clock()
    end = start + seconds
    while True:
        t = clock()
        for k in range(group):
            j.append(payloads[(n + k) % m])
        j.commit()
        lat.append(clock() - t)
        n += group
        if t > end:
            break
    elapsed = clock() - start
    j.close()
    return {"records": n, "rate": n / elapsed, "lat": lat, "fsyncs": j.fsyncs, "writes": j.writes}


def run_async(directory: Path, policy: str, clients: int, seconds: float, payloads: list[bytes]) -> dict:
    j = Journal(directory, fsync=policy)
    lat: list[float] = []
    clock = time.perf_counter
    m = len(payloads)
    count = [0]

    async def client(end: float) -> None:
        while clock() < end:
            t = clock()
            j.append(payloads[j.next_position % m])
            await j.sync()
            lat.append(clock() - t)
            count[0] += 1
            await asyncio.sleep(0)  # a real server would read the next request here

    async def main() -> float:
        start = clock()
        await asyncio.gather(*(client(start + seconds) for _ in range(clients)))
        return clock() - start

    elapsed = asyncio.run(main())
    j.close()
    return {"records": count[0], "rate": count[0] / elapsed, "lat": lat, "fsyncs": j.fsyncs, "writes": j.writes}


def run_append_only(directory: Path, n: int, payloads: list[bytes]) -> float:
    j = Journal(directory, fsync="off")
    m = len(payloads)
    t = time.perf_counter()
    append = j.append
    for i in range(n):
        append(payloads[i % m])
    dt = time.perf_counter() - t
    j.close()
    return dt / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=2.0, help="per append scenario")
    ap.add_argument("--records", type=int, default=1_000_000, help="journal size for the read benchmark")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    payloads = commands(10_000)
    size = sum(map(len, payloads)) / len(payloads)
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, payload ~{size:.0f} B "
          f"(msgpack NewOrder), journal dir under {OUT}", flush=True)

    work = Path(tempfile.mkdtemp(prefix="journal-", dir=OUT))
    results: dict[tuple[str, str], dict] = {}
    try:
        for policy in POLICIES:
            for name, fn in [("sync-1", lambda d: run_sync(d, policy, 1, args.seconds, payloads)),
                             ("sync-64", lambda d: run_sync(d, policy, 64, args.seconds, payloads)),
                             ("async-64", lambda d: run_async(d, policy, 64, args.seconds, payloads))]:
                d = work / f"{policy}-{name}"
                r = fn(d)
                shutil.rmtree(d)
                p50, p99 = pct(r["lat"])
                r["p50"], r["p99"] = p50, p99
                results[(policy, name)] = r
                r["period_ms"] = args.seconds * 1e3 / max(r["fsyncs"], 1)
                period = f", one per {r['period_ms']:.1f} ms" if policy == "batch" else ""
                print(f"{policy:>6} {name:>8}: {r['rate']:>12,.0f} records/s   p50 {p50:>9,.1f} us   p99 "
                      f"{p99:>9,.1f} us   ({r['writes']:,} writes, {r['fsyncs']:,} fsyncs{period})", flush=True)

        per_append = run_append_only(work / "append", args.records, payloads)
        shutil.rmtree(work / "append")
        print(f"append only: {per_append * 1e6:.2f} us/record ({1 / per_append:,.0f} records/s)", flush=True)

        d = work / "read"
        print(f"writing {args.records:,} records for the read benchmark ...", flush=True)
        with Journal(d, fsync="off") as j:
            for i in range(0, args.records, 1000):
                j.append_many(payloads[k % len(payloads)] for k in range(i, min(i + 1000, args.records)))
                j.commit()
        total = sum(p.stat().st_size for p in d.glob("*.seg"))
        print(f"  {total / 2**20:.0f} MiB in {len(list(d.glob('*.seg')))} segments", flush=True)
        reads = []
        for _ in range(3):
            t = time.perf_counter()
            c = 0
            for _pos, _payload in Journal.read(d):
                c += 1
            reads.append(c / (time.perf_counter() - t))
        read_rate = max(reads)
        print(f"read (crc checked): {read_rate:,.0f} records/s (best of 3: {', '.join(f'{r:,.0f}' for r in reads)})",
              flush=True)
        decode = DECODER.decode
        t = time.perf_counter()
        for _pos, payload in Journal.read(d):
            decode(payload)
        decode_rate = args.records / (time.perf_counter() - t)
        print(f"read + decode to Command: {decode_rate:,.0f} records/s", flush=True)
        t = time.perf_counter()
        Journal(d).close()
        print(f"open (scan the last segment): {(time.perf_counter() - t) * 1e3:.1f} ms", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2, a3) = plt.subplots(1, 3, figsize=(15, 4.5))
    names = ["sync-1", "sync-64", "async-64"]
    x = np.arange(len(names))
    for i, policy in enumerate(POLICIES):
        at, color = x + (i - 1) * 0.27, f"C{i}"
        a1.bar(at, [results[(policy, n)]["rate"] for n in names], 0.27, label=policy, color=color)
        a2.bar(at, [results[(policy, n)]["p99"] for n in names], 0.27, color=color, alpha=0.35)
        a2.bar(at, [results[(policy, n)]["p50"] for n in names], 0.27, label=policy, color=color)
    for ax, title in [(a1, "append + commit, records/s"), (a2, "latency per group, us (p50 solid, p99 light)")]:
        ax.set_xticks(x, names)
        ax.set_yscale("log")
        ax.set_title(title)
        ax.legend(fontsize=7)
    a3.bar(["read", "read+decode", "DESIGN goal"], [read_rate, decode_rate, 200_000], color=["C0", "C1", "grey"])
    a3.set_title(f"replay of {args.records:,} records, records/s")
    fig.tight_layout()
    fig.savefig(OUT / "journal.png", dpi=110)
    print(f"plot: {OUT / 'journal.png'}")


if __name__ == "__main__":
    main()
