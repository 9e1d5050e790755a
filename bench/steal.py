"""How much of the box's CPU time the hypervisor took (steal) while a phase ran: on a shared
virtual machine a bench's figures move with it (this project's 2-core box has shown 0-50% within
one session), so the benches print it beside each phase, and an A/B pair with very different
steal does not compare. And how busy each core was meanwhile: where the stages share the cores,
a pipeline's capacity is that of its busiest core, which a core near 100% beside one with room
shows at a glance (the per-stage table does not say which core ran full).

    meter = StealMeter()
    ...                      # the phase
    meter.percent()          # steal over all CPU time of the box since StealMeter(), in %
    meter.busy([0, 1])       # {0: 99.0, 1: 71.0}: each core's share of its time spent running

Linux's /proc/stat: the first line sums every CPU's time in USER_HZ ticks, by state (user, nice,
system, idle, iowait, irq, softirq, steal, ...), and a "cpuN" line per CPU follows. Where the file
is missing (not Linux), percent() and busy() are None.
"""

from __future__ import annotations

from pathlib import Path

_STAT = Path("/proc/stat")
_IDLE, _IOWAIT, _STEAL = 3, 4, 7  # columns after "cpu": idle, iowait, steal


def _read() -> dict[str, list[int]] | None:
    """Each "cpu" line's first eight columns, by its name ("cpu": all of them, "cpu0", ...)."""
    try:
        text = _STAT.read_text()
    except OSError:
        return None
    # guest and guest_nice (columns 9 and 10) are already counted in user and nice
    return {f[0]: [int(x) for x in f[1:9]] for f in map(str.split, text.splitlines()) if f and f[0].startswith("cpu")}


def _times() -> list[int] | None:
    read = _read()
    return None if read is None else read.get("cpu")


class StealMeter:
    def __init__(self) -> None:
        self.start_all = _read()
        self.start = None if self.start_all is None else self.start_all.get("cpu")

    def percent(self) -> float | None:
        end = _times()
        if self.start is None or end is None:
            return None
        delta = [b - a for a, b in zip(self.start, end)]
        total = sum(delta)
        return 100.0 * delta[_STEAL] / total if total > 0 else 0.0

    def busy(self, cores: list[int]) -> dict[int, float] | None:
        """Each of `cores`' share of its time since the start spent running something (user, nice,
        system, interrupts), in %: not idle, not waiting for I/O, not stolen."""
        end = _read()
        if self.start_all is None or end is None:
            return None
        shares = {}
        for core in cores:
            a, b = self.start_all.get(f"cpu{core}"), end.get(f"cpu{core}")
            if a is None or b is None:
                continue
            delta = [y - x for x, y in zip(a, b)]
            total = sum(delta)
            shares[core] = 100.0 * (total - delta[_IDLE] - delta[_IOWAIT] - delta[_STEAL]) / total if total > 0 else 0.0
        return shares

    def text(self) -> str:
        """"steal 12%" (the hypervisor's share of the box's CPU time since the start), or ""."""
        pct = self.percent()
        return "" if pct is None else f"steal {pct:.0f}%"

    def summary(self, cores: list[int]) -> str:
        """"steal 0%; cores busy 0: 99%, 1: 71%" (text() and busy_text()), or what of it there is."""
        return "; ".join(x for x in (self.text(), busy_text(self.busy(cores))) if x)


def busy_text(shares: dict[int, float] | None) -> str:
    """"cores busy 0: 99%, 1: 71%" (StealMeter.busy's figures), or "" without them."""
    if not shares:
        return ""
    return "cores busy " + ", ".join(f"{core}: {pct:.0f}%" for core, pct in sorted(shares.items()))
