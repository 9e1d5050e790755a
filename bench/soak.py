"""Memory soak benchmark (issue 13): the real node at capacity for minutes, then a burst, then
capacity again; is the memory of its processes flat?

In one run, on the real node (`python run.py`, the default configuration but the rate limits):
  1. capacity: `--clients` keep-alive clients loop request -> answer (signed POST /api/v3/order,
     RESULT; bench/overload.py's orders: buys and sells that fill each other) for 3 s;
  2. the soak: the same closed loop for `--minutes`, the node's memory sampled every `--sample-s`
     (`--resting`: that share of the orders placed far from the price, so open orders pile up to
     their bound, `max_num_orders` per account and symbol);
  3. a burst of `--factor` x capacity for `--burst-seconds`, open loop, by `--burst-clients`
     (bench/overload.py's burst: most of it shed), then the closed loop again for `--after-seconds`;
     `--bursts` times (does each burst leave more behind, or is the first one's peak reused?).
Memory per process, from /proc/<pid>/smaps_rollup: RSS (what the issue's figures summed; but a page
shared by several processes counts once in each: the Bus's rings, mapped by every stage and touched
by more of them as they wrap, and the pages a stage shares with the supervisor it was forked from)
and PSS (each shared page divided among its sharers, so the sum over the processes is the node's
real footprint), split into its private-heap (Anon) and ring (Shmem) parts. PSS also counts the
short-lived forks that write stage snapshots (while one lives it shares its stage's pages); the RSS
sum is of the supervisor and the stages only. Growth is counted from the first sample after
`--warmup-s` of the soak (the caps fill and the allocators settle in it; the first sample of all is
reported too) to the soak's last sample, its peak, and the last sample after the burst.

    python bench/soak.py [--minutes 5] [--json out.json] [--plot bench/results/soak_memory.png]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from nodeconfig import default_config  # noqa: E402
from overload import Orders, burst, closed_loop, funded_node  # noqa: E402


def node_processes(data: Path, supervisor: int) -> list[tuple[str, int]]:
    """(name, pid) of the supervisor, every stage process and every other process under them (a
    stage's snapshot writer, a fork that shares its pages while it lives: named "<stage> fork")."""
    from spot_seda.runtime.metrics import open_from_manifest

    named = {supervisor: "supervisor"}
    try:
        named |= {row["pid"]: row["stage"] for row in open_from_manifest(data).snapshot() if row["pid"]}
    except (OSError, ValueError, KeyError):
        pass
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:  # the parent pid is the 2nd field after the command's closing parenthesis
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    out = list(named.items())
    for pid in parents:
        ancestor = parents[pid]
        while ancestor not in named and ancestor in parents and ancestor > 1:
            ancestor = parents[ancestor]
        if pid not in named and ancestor in named:
            out.append((pid, named[ancestor] + " fork"))
    return [(name, pid) for pid, name in out]


MEMORY = ("Rss", "Pss", "Pss_Anon", "Pss_Shmem")


def memory_kib(pid: int) -> dict[str, int]:
    """RSS, PSS and PSS's private-heap (Anon) and shared-memory (Shmem: the Bus's rings) parts of
    one process in KiB; zeros if it is gone."""
    out = dict.fromkeys(MEMORY, 0)
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in out:
                out[name] = int(value.split()[0])
    except OSError:
        pass
    return out


class Sampler:
    """Memory of every node process every `every` seconds, with the phase and the orders done."""

    def __init__(self, data: Path, supervisor: int, every: float) -> None:
        self.data, self.supervisor, self.every = data, supervisor, every
        self.began = time.perf_counter()
        self.samples: list[dict] = []
        self.phase = "soak"
        self.done = [0]  # orders answered 200 so far (the closed loop's counter)
        self.refused: Counter = Counter()  # the other answers, by status/code

    def sample(self) -> dict:
        mem: dict[str, dict[str, int]] = {}
        for name, pid in node_processes(self.data, self.supervisor):
            for field, kib in memory_kib(pid).items():
                mem.setdefault(name, dict.fromkeys(MEMORY, 0))[field] += kib
        s = {"t": round(time.perf_counter() - self.began, 2), "phase": self.phase, "orders": self.done[0]}
        for field in MEMORY:
            key = field.lower()
            s[key + "_mib"] = {n: m[field] / 1024 for n, m in mem.items()}
            s[key + "_total"] = sum(s[key + "_mib"].values())
        # (a fork's RSS is nearly all its stage's pages again: the RSS sum is of the lasting processes)
        s["rss_total"] = sum(v for n, v in s["rss_mib"].items() if not n.endswith(" fork"))
        self.samples.append(s)
        return s

    async def run(self) -> None:
        last_orders, last_t = 0, 0.0
        while True:
            s = self.sample()
            rate = (s["orders"] - last_orders) / (s["t"] - last_t) if s["t"] > last_t else 0.0
            last_orders, last_t = s["orders"], s["t"]
            per = "  ".join(f"{n} {v:,.0f}" for n, v in s["pss_anon_mib"].items() if not n.endswith(" fork"))
            print(f"[{s['t']:6.0f} s {s['phase']:<5}] {s['orders']:>9,} orders ({rate:,.0f}/s)  "
                  f"RSS {s['rss_total']:,.0f} MiB  PSS {s['pss_total']:,.0f} MiB (rings {s['pss_shmem_total']:,.0f}); "
                  f"heap: {per}", flush=True)
            await asyncio.sleep(self.every)


async def soak(orders: Orders, clients: int, seconds: float, sampler: Sampler, resting: float = 0.0) -> None:
    """Closed loop for `seconds` while the sampler runs; counts answered orders into sampler.done.
    `resting`: the share of orders placed to rest (until the account's MAX_NUM_ORDERS refuses more)."""
    import aiohttp

    deadline = time.perf_counter() + seconds
    ticker = asyncio.ensure_future(sampler.run())
    rng = random.Random(13)

    async def one(i: int, session):
        while time.perf_counter() < deadline:
            url, headers, _ = orders.request(i, rest=rng.random() < resting)
            async with session.post(url, headers=headers) as resp:
                doc = await resp.json()
                if resp.status == 200:
                    sampler.done[0] += 1
                else:
                    sampler.refused[f"{resp.status}/{doc.get('code')}"] += 1

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients)) as session:
        await asyncio.gather(*(one(i, session) for i in range(clients)))
    ticker.cancel()


def growth(samples: list[dict], key: str, warmup_s: float) -> dict:
    """Figures of one total (rss_total or pss_total): first, after the warm-up, the soak's end and
    peak, the end after the last burst, and the growth in % from after the warm-up."""
    soaked = [s for s in samples if s["phase"] == "soak"]
    base = next((s for s in soaked if s["t"] >= warmup_s), soaked[0])
    end, last = soaked[-1], samples[-1]
    pct = lambda a: 100.0 * (a - base[key]) / base[key]  # noqa: E731
    return {"first": soaked[0][key], "base": base[key], "base_t": base["t"], "soak_end": end[key],
            "soak_peak": max(s[key] for s in soaked if s["t"] >= base["t"]), "overall_peak": max(s[key] for s in samples),
            "after_burst": last[key], "growth_soak_pct": pct(end[key]),
            "growth_peak_pct": pct(max(s[key] for s in soaked if s["t"] >= base["t"])),
            "growth_after_burst_pct": pct(last[key])}


def plot(samples: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in samples[0]["pss_anon_mib"] if not n.endswith(" fork")]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 8), sharex=True)
    t = [s["t"] for s in samples]
    top.plot(t, [s["rss_total"] for s in samples], label="RSS, sum over processes")
    top.plot(t, [s["pss_total"] for s in samples], label="PSS, sum over processes")
    top.plot(t, [s["pss_anon_total"] for s in samples], label="PSS of private heaps (Anon)")
    top.plot(t, [s["pss_shmem_total"] for s in samples], label="PSS of the Bus's rings (Shmem)")
    for s0, s1 in zip(samples, samples[1:]):
        if s0["phase"] != s1["phase"]:
            for ax in (top, bottom):
                ax.axvline(s1["t"], color="grey", linestyle=":")
            top.annotate(s1["phase"], (s1["t"], top.get_ylim()[0]), fontsize=8)
    top.set_ylabel("MiB")
    top.set_ylim(bottom=0)
    top.legend()
    top.set_title(title)
    for name in names:
        bottom.plot(t, [s["pss_anon_mib"].get(name, 0) for s in samples], label=name)
    bottom.plot(t, [sum(v for n, v in s["pss_anon_mib"].items() if n.endswith(" fork")) for s in samples],
                label="snapshot forks", linestyle=":")
    bottom.set_ylabel("private heap (PSS Anon) per process (MiB)")
    bottom.set_xlabel("seconds")
    bottom.set_ylim(bottom=0)
    bottom.legend(fontsize=8, ncol=4)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=5.0, help="the soak at capacity")
    parser.add_argument("--clients", type=int, default=16, help="closed-loop clients (capacity, soak, after)")
    parser.add_argument("--resting", type=float, default=0.0,
                        help="share of the soak's orders placed far from the price, to rest (until the accounts' "
                             "MAX_NUM_ORDERS refuses more: open orders at their bound)")
    parser.add_argument("--sample-s", type=float, default=5.0, help="seconds between memory samples")
    parser.add_argument("--warmup-s", type=float, default=60.0, help="growth is counted from the first sample after this")
    parser.add_argument("--factor", type=float, default=2.5, help="the burst's load as a multiple of the capacity")
    parser.add_argument("--burst-seconds", type=float, default=10.0, help="0: no burst")
    parser.add_argument("--burst-clients", type=int, default=512)
    parser.add_argument("--bursts", type=int, default=1, help="bursts, each followed by --after-seconds at capacity")
    parser.add_argument("--after-seconds", type=float, default=60.0, help="the closed loop again after the burst")
    parser.add_argument("--config", help="node configuration (default: configs/default.toml, rate limits off)")
    parser.add_argument("--json", help="write the samples and figures here")
    parser.add_argument("--plot", help="write a plot of memory over time here (PNG)")
    args = parser.parse_args()
    import uvloop

    with funded_node(Path(args.config).read_text() if args.config else default_config()) as (node, data, orders):
        print(f"# {len(os.sched_getaffinity(0))} cores, load average {os.getloadavg()[0]:.1f}; node data in {data}",
              flush=True)
        uvloop.run(closed_loop(orders, args.clients, 1.0))  # warm-up
        capacity, _ = uvloop.run(closed_loop(orders, args.clients, 3.0))
        print(f"capacity: {capacity:,.0f} orders/s ({args.clients} closed-loop clients)", flush=True)

        sampler = Sampler(data, node.pid, args.sample_s)
        uvloop.run(soak(orders, args.clients, args.minutes * 60, sampler, args.resting))
        soaked = sampler.done[0]
        records = []
        for n in range(args.bursts if args.burst_seconds else 0):
            sampler.phase = "burst"
            sampler.sample()
            offered = capacity * args.factor
            print(f"burst: {args.burst_clients} clients offering {offered:,.0f} orders/s for {args.burst_seconds:.0f} s",
                  flush=True)
            records += uvloop.run(burst(orders, args.burst_clients, offered, args.burst_seconds, 15.0, sampler.sample))
            sampler.phase = "after"
            uvloop.run(soak(orders, args.clients, args.after_seconds, sampler))
            s = sampler.sample()
            print(f"after burst {n + 1}: PSS {s['pss_total']:,.0f} MiB, heaps {s['pss_anon_total']:,.0f} MiB", flush=True)
        if not records:
            sampler.phase = "after"
            uvloop.run(soak(orders, args.clients, args.after_seconds, sampler))
        sampler.sample()

        rss, pss, heap = (growth(sampler.samples, key, args.warmup_s) for key in ("rss_total", "pss_total", "pss_anon_total"))
        accepted = sum(1 for r in records if r[1] == 200)
        print(f"soak: {soaked:,} orders in {args.minutes:g} min ({soaked / (args.minutes * 60):,.0f}/s); "
              f"burst: {accepted:,} accepted of {len(records):,}; closed loops' refusals: {dict(sampler.refused)}",
              flush=True)
        for label, g in (("RSS", rss), ("PSS", pss), ("PSS Anon (heaps)", heap)):
            print(f"{label}: first {g['first']:,.0f} MiB, at {g['base_t']:.0f} s {g['base']:,.0f} MiB, soak end "
                  f"{g['soak_end']:,.0f} MiB ({g['growth_soak_pct']:+.1f}%), soak peak {g['soak_peak']:,.0f} MiB "
                  f"({g['growth_peak_pct']:+.1f}%), after the burst {g['after_burst']:,.0f} MiB "
                  f"({g['growth_after_burst_pct']:+.1f}%)", flush=True)
        first, end = sampler.samples[0], sampler.samples[-1]
        print("PSS Anon per process, first -> last (MiB): " + ", ".join(
            f"{n} {first['pss_anon_mib'].get(n, 0):,.0f} -> {v:,.0f}" for n, v in end["pss_anon_mib"].items()
            if not n.endswith(" fork")), flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps({
                "capacity": capacity, "minutes": args.minutes, "clients": args.clients, "soak_orders": soaked,
                "burst_accepted": accepted, "burst_requests": len(records), "refused": dict(sampler.refused), "warmup_s": args.warmup_s,
                "rss": rss, "pss": pss, "pss_anon": heap, "samples": sampler.samples}, indent=1))
        if args.plot:
            plot(sampler.samples, Path(args.plot),
                 f"node memory: {args.minutes:g} min at capacity ({capacity:,.0f} orders/s), "
                 f"a {args.factor}x burst, capacity again")
    return 0


if __name__ == "__main__":
    sys.exit(main())
