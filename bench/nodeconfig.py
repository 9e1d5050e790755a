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


def with_keys(text: str, table: str, values: dict[str, object]) -> str:
    """TOML text with `key = value` set in `[table]`: a key's line replaced where the table has one,
    added right under the header where not (the table must exist). Values: str, bool, int, float."""
    header = re.search(rf"^\[{re.escape(table)}\][^\n]*$", text, flags=re.M)
    if header is None:
        raise ValueError(f"no [{table}] table in the configuration")
    start = header.end()
    following = re.search(r"^\[", text[start:], flags=re.M)
    end = start + following.start() if following else len(text)
    section = text[start:end]
    added = []
    for key, value in values.items():
        line = f"{key} = {_toml_value(value)}"
        section, found = re.subn(rf"^{re.escape(key)}\s*=.*$", line.replace("\\", "\\\\"), section, count=1, flags=re.M)
        if not found:
            added.append(line)
    return text[:start] + "".join("\n" + line for line in added) + section + text[end:]


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)
