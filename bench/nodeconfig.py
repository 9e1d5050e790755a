"""The node configuration the HTTP benches run: configs/default.toml as a user runs it, with the rate
limits off. One bench process sending from one IP is not a crowd of Binance clients, and the limits
(6,000 weight a minute per IP, 100 orders per 10 s per account) would cap it at a few hundred
orders/s; the limiter's own cost is measured by bench/ratelimit.py."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def default_config() -> str:
    """configs/default.toml's text with `[rate_limits] enabled = false`."""
    text = (ROOT / "configs" / "default.toml").read_text()
    head, found, rest = text.partition("\n[rate_limits]")
    if not found:
        return text
    section, nxt, tail = rest.partition("\n[")
    section = re.sub(r"^enabled\s*=.*$", "enabled = false", section, count=1, flags=re.M)
    return head + found + section + nxt + tail
