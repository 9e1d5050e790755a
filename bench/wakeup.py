"""What it costs this machine to put a thread to sleep and wake it: the figure behind the stages'
CPU per command at the node's rates.

A stage that has nothing to read waits (on its ring's condition variable, on epoll, on the
journal's condition), and the next input wakes it. Where each wake-up brings only a few commands,
as over HTTP at a few thousand orders a second, the CPU a command costs is mostly what these
wake-ups cost (BENCHMARKS.md, "Wake-ups"). That cost is the machine's, not the code's (on a
virtual machine each sleep and wake goes through the hypervisor), so the benches' CPU figures
compare across machines only beside it.

Measured one after the other, each line printed as it comes, the CPU as each thread's own time
(time.thread_time: what the kernel charges the thread, its system calls included):

  a system call        os.getppid(), which never blocks
  a timed sleep        time.sleep(200 µs): one thread blocks and a timer wakes it
  a pipe round trip    a byte to a child process and one back, the child on another core, then
                       on the same core: both sides block and are woken
  a ring round trip    the same through two faster-fifo queues as the bus makes them (stages
                       wait on these), to another core and on one core
  Python work          one unit of dict and string work, back to back, then the same units
                       each after a 200 µs sleep: how much slower the same Python runs on a
                       core that went idle in between (caches, the CPU's clock), the sleep's own
                       cost taken out

    python bench/wakeup.py [--trips 5000] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

from faster_fifo import Queue

SLEEP_S = 0.0002


def _pin(core: int | None) -> None:
    if core is not None:
        os.sched_setaffinity(0, {core})


def _identity(data: bytes) -> bytes:
    return data


def per_call(fn, n: int) -> tuple[float, float]:
    """(wall µs, thread CPU µs) per call of fn, over n calls."""
    wall, cpu = time.perf_counter(), time.thread_time()
    for _ in range(n):
        fn()
    return (time.perf_counter() - wall) / n * 1e6, (time.thread_time() - cpu) / n * 1e6


def work() -> int:
    """One unit of the kind of Python a stage runs: small dicts, strings, attribute-free loops."""
    d = {}
    for i in range(300):
        d[str(i)] = i * 2
    return sum(len(k) + v for k, v in d.items())


def pipes() -> tuple:
    """Two pipes, down to the child and up from it: (send down, read down, send up, read up, close)."""
    down_r, down_w = os.pipe()
    up_r, up_w = os.pipe()

    def close() -> None:
        for fd in (down_r, down_w, up_r, up_w):
            os.close(fd)

    return (lambda b: os.write(down_w, b), lambda: os.read(down_r, 64), lambda b: os.write(up_w, b),
            lambda: os.read(up_r, 64), close)


def rings() -> tuple:
    """The same over two faster-fifo queues of raw bytes, as bus/shm.py makes them."""
    down = Queue(max_size_bytes=1 << 20, dumps=_identity, loads=bytes)
    up = Queue(max_size_bytes=1 << 20, dumps=_identity, loads=bytes)
    return (down.put, lambda: down.get(block=True, timeout=30), up.put, lambda: up.get(block=True, timeout=30),
            lambda: None)


def round_trips(channel, trips: int, here: int | None, there: int | None) -> dict[str, float]:
    """A message to a child on core `there` and one back, `trips` times over `channel()` (pipes or
    rings): wall µs per trip and each side's CPU µs (the child's sent up when the parent says done;
    each side waits for the other's message, so no two are ever in flight)."""
    send_down, read_down, send_up, read_up, close = channel()
    pid = os.fork()
    if pid == 0:  # the child: echo each message, then say what its CPU was
        code = 1
        try:
            _pin(there)
            cpu = time.thread_time()
            for _ in range(trips):
                read_down()
                send_up(b"x")
            cpu = (time.thread_time() - cpu) / trips * 1e6
            read_down()  # (done)
            send_up(f"{cpu:.3f}".encode())
            code = 0
        finally:
            os._exit(code)
    _pin(here)
    try:
        send_down(b"x")  # one trip first: the child is running and pinned
        read_up()
        wall, cpu = time.perf_counter(), time.thread_time()
        for _ in range(trips - 1):
            send_down(b"x")
            read_up()
        wall, cpu = (time.perf_counter() - wall) / (trips - 1) * 1e6, (time.thread_time() - cpu) / (trips - 1) * 1e6
        send_down(b"q")
        child = float(read_up().decode())
    finally:
        os.waitpid(pid, 0)
        close()
    return {"wall_us": wall, "cpu_us": cpu, "other_side_cpu_us": child}


def machine() -> dict[str, str]:
    """What the figures depend on: the kernel, whether a hypervisor runs it, its idle driver."""
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")),
                 platform.processor())
    idle = Path("/sys/devices/system/cpu/cpuidle/current_driver")
    return {"cpu": model, "kernel": platform.release(),
            "hypervisor": "yes" if " hypervisor" in cpuinfo else "no",
            "cpuidle": idle.read_text().strip() if idle.exists() else "unknown"}


def brief(trips: int = 300) -> dict:
    """A quick measure for the other benches' headers, so that their CPU figures say what a wake-up
    cost the machine at the time: a timed sleep's CPU and a pipe round trip's wall time, to another
    core (on the one core, where only one is allowed), in µs; about 50 ms here."""
    cores = sorted(os.sched_getaffinity(0))
    allowed = set(cores)
    try:
        _pin(cores[0])
        _wall, sleep_cpu = per_call(lambda: time.sleep(SLEEP_S), max(1, trips // 3))
        trip = round_trips(pipes, max(2, trips), cores[0], cores[-1])
    finally:
        os.sched_setaffinity(0, allowed)
    return {"sleep_cpu_us": sleep_cpu, "pipe_round_trip_us": trip["wall_us"], "across_cores": len(cores) > 1}


def brief_text(b: dict) -> str:
    where = "to another core" if b["across_cores"] else "on one core"
    return (f"a wake-up here: a timed sleep {b['sleep_cpu_us']:.0f} µs of CPU, a pipe round trip {where} "
            f"{b['pipe_round_trip_us']:.0f} µs (bench/wakeup.py)")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trips", type=int, default=5000, help="round trips per line (sleeps and units: as many)")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args(argv)
    if args.trips < 2:
        parser.error("--trips must be at least 2")
    cores = sorted(os.sched_getaffinity(0))
    here, there = cores[0], cores[1] if len(cores) > 1 else None
    info = machine()
    print(f"# {len(cores)} cores ({info['cpu']}); kernel {info['kernel']}; hypervisor: {info['hypervisor']}; "
          f"cpuidle: {info['cpuidle']}; {args.trips:,} trips a line", flush=True)
    print("| what | wall µs | CPU µs (this side) | CPU µs (the other side) |\n|---|---:|---:|---:|", flush=True)
    doc: dict = {"machine": info, "cores": len(cores), "trips": args.trips, "lines": {}}

    def line(key: str, what: str, wall: float, cpu: float, other: float | None = None) -> None:
        doc["lines"][key] = {"what": what, "wall_us": wall, "cpu_us": cpu, "other_side_cpu_us": other}
        print(f"| {what} | {wall:,.2f} | {cpu:,.2f} | {'' if other is None else f'{other:,.2f}'} |", flush=True)

    allowed = os.sched_getaffinity(0)
    try:
        _pin(here)
        line("syscall", "a system call (getppid)", *per_call(os.getppid, args.trips * 20))
        sleep_wall, sleep_cpu = per_call(lambda: time.sleep(SLEEP_S), args.trips)
        line("sleep", f"a timed sleep of {SLEEP_S * 1e6:.0f} µs", sleep_wall, sleep_cpu)
        if there is not None:
            r = round_trips(pipes, args.trips, here, there)
            line("pipe_two_cores", "a pipe round trip, the other side on another core", r["wall_us"], r["cpu_us"],
                 r["other_side_cpu_us"])
        r = round_trips(pipes, args.trips, here, here)
        line("pipe_one_core", "a pipe round trip, both sides on one core", r["wall_us"], r["cpu_us"],
             r["other_side_cpu_us"])
        if there is not None:
            r = round_trips(rings, args.trips, here, there)
            line("ring_two_cores", "a faster-fifo ring round trip, the other side on another core", r["wall_us"],
                 r["cpu_us"], r["other_side_cpu_us"])
        r = round_trips(rings, args.trips, here, here)
        line("ring_one_core", "a faster-fifo ring round trip, both sides on one core", r["wall_us"], r["cpu_us"],
             r["other_side_cpu_us"])
        units = max(2, args.trips // 2)
        per_call(work, units)  # (warm: the first units build what the others reuse)
        # busy, then after sleeps, then busy again: a drift of the machine's speed meanwhile shows
        # as two busy figures apart, and the middle one is compared with their mean
        first = per_call(work, units)
        wall, cpu = per_call(lambda: (time.sleep(SLEEP_S), work()), units)
        second = per_call(work, units)
        busy = ((first[0] + second[0]) / 2, (first[1] + second[1]) / 2)
        line("work_busy", "a unit of Python work, back to back (before and after the next line)", *busy)
        line("work_after_sleep", f"the same unit after each {SLEEP_S * 1e6:.0f} µs sleep, the sleep's cost taken out",
             wall - sleep_wall, cpu - sleep_cpu)
    finally:
        os.sched_setaffinity(0, allowed)
    ratio = doc["lines"]["work_after_sleep"]["cpu_us"] / max(busy[1], 1e-9)
    print(f"A thread's sleep and wake-up costs {sleep_cpu:.1f} µs of its CPU here"
          + (f"; a round trip to another core over a pipe {doc['lines']['pipe_two_cores']['wall_us']:.0f} µs"
             if there is not None else "")
          + f"; Python work right after a wake-up runs at {ratio:.2f}x its busy cost.", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(doc, indent=1))
        print(f"json: {args.json}", flush=True)
    return doc


if __name__ == "__main__":
    main()
    sys.exit(0)
