"""How much of the box's CPU time the hypervisor took (steal) while a phase ran: on a shared
virtual machine a bench's figures move with it (this project's 2-core box has shown 0-50% within
one session), so the benches print it beside each phase, and an A/B pair with very different
steal does not compare.

    meter = StealMeter()
    ...                      # the phase
    meter.percent()          # steal over all CPU time of the box since StealMeter(), in %

Linux's /proc/stat: the first line sums every CPU's time in USER_HZ ticks, by state (user, nice,
system, idle, iowait, irq, softirq, steal, ...). Where the file is missing (not Linux), percent()
is None.
"""

from __future__ import annotations

from pathlib import Path

_STAT = Path("/proc/stat")
_STEAL = 7  # the eighth column after "cpu": steal


def _times() -> list[int] | None:
    try:
        first = _STAT.read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    # guest and guest_nice (columns 9 and 10) are already counted in user and nice
    return [int(x) for x in first[1:9]]


class StealMeter:
    def __init__(self) -> None:
        self.start = _times()

    def percent(self) -> float | None:
        end = _times()
        if self.start is None or end is None:
            return None
        delta = [b - a for a, b in zip(self.start, end)]
        total = sum(delta)
        return 100.0 * delta[_STEAL] / total if total > 0 else 0.0

    def text(self) -> str:
        """"steal 12%" (the hypervisor's share of the box's CPU time since the start), or ""."""
        pct = self.percent()
        return "" if pct is None else f"steal {pct:.0f}%"
