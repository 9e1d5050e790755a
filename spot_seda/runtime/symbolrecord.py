"""What a data dir's stored state assumes of each symbol, and the configuration changes that would
silently reinterpret it, refused at start.

The journal, the snapshots and the SQLite history keep prices as integers in the symbol's tick
scale (`price_decimals`) and balances under its `base` and `quote` assets. A restart that changes
either reads every stored price, order and trade of that symbol under the new meaning: with
`price_decimals` 2 → 3, a resting bid at 70,000.00 became one at 7,000.000, and nothing said so.
`symbols.json` in the data dir records, for every symbol the node has run with, the three values
(and its fee rates); a start whose configuration gives another of the three for a recorded symbol is
refused, naming it.

A symbol taken out of the configuration is refused while orders of it are open (their funds stay
frozen with no book to trade or cancel them on, and every read that lists them fails); once none
is, it may go (delisted) after a clean stop (the journal's commands since the last snapshot replay
only with it listed), and its record stays: listed again later, it must come back as it was.
Filters may change freely (they apply to what comes after). So may fees, after a clean stop: each
trade's history row keeps the commission it paid (history/schema.py); after a kill -9 the journal's
commands since the last snapshot would be replayed at the new rates, and that start is refused.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

FILE = "symbols.json"
#: the settings whose change would reinterpret stored state
RECORDED = ("base", "quote", "price_decimals")
#: the fee rates (ppm): they may change, but only where no journaled trade is replayed at the start
#: (after a kill -9), which would charge it at the new rates what its client was told at the old
FEES = ("maker_fee_ppm", "taker_fee_ppm")


class SymbolsChanged(Exception):
    """The configuration changes what the data dir's stored state means."""


def _record(data_dir: Path) -> dict[str, dict]:
    path = data_dir / FILE
    try:
        record = json.loads(path.read_text())
        symbols = record["symbols"]
        if not (isinstance(symbols, dict) and all(isinstance(v, dict) for v in symbols.values())):
            raise ValueError("not a symbol -> settings table")
    except FileNotFoundError:
        return {}
    except (ValueError, KeyError, TypeError) as exc:
        raise SymbolsChanged(f"{path} is damaged ({type(exc).__name__}: {exc}): restore it, or delete it to record "
                             "the configuration's symbols afresh (nothing then checks they are as the stored state "
                             "assumes)") from None
    return symbols


def removed(settings, data_dir: Path) -> list[str]:
    """The recorded symbols the configuration no longer lists."""
    listed = settings.symbol_rules()
    return sorted(name for name in _record(data_dir) if name not in listed)


def check_settings(settings, data_dir: Path, fees: bool = True) -> None:
    """Refuse (SymbolsChanged) a configuration that gives a recorded symbol another base, quote or
    price_decimals than the data dir's state was stored with; with `fees` (a whole node, which
    takes its own snapshots), one that changes a symbol's fees while the journal holds commands the
    last snapshot does not."""
    record = _record(data_dir)
    wrong = []
    for name, rules in settings.symbol_rules().items():
        was = record.get(name)
        if was is None:
            continue
        for key in RECORDED:
            if key in was and was[key] != getattr(rules, key):
                wrong.append(f"symbols.{name}.{key} is {getattr(rules, key)!r}, and this data dir's orders, trades "
                             f"and balances of it were stored with {was[key]!r}")
    if wrong:
        raise SymbolsChanged("; ".join(wrong) + f" ({data_dir / FILE}): a symbol's price scale and assets cannot "
                             "change under its stored state; put the old values back, or list the new market under "
                             "a new symbol name")
    changed = sorted(name for name, rules in settings.symbol_rules().items()
                     if any(key in record.get(name, {}) and record[name][key] != getattr(rules, key) for key in FEES))
    if fees and changed and _commands_to_replay(data_dir):
        raise SymbolsChanged(
            f"the fees of {', '.join(changed)} changed, and the journal holds commands the last snapshot does not "
            "(the node was not stopped cleanly): replayed now, their trades would pay the new rates where their "
            "clients were told the old ones; start once with the old fees and stop the node cleanly, then change them")


def _commands_to_replay(data_dir: Path) -> bool:
    """Whether the journal holds commands after the last snapshot (what a start replays)."""
    from ..journal import frames
    from .snapshots import manifest_position

    return frames.last_position(data_dir / "journal") > manifest_position(data_dir)


def check_open_orders(settings, orders) -> None:
    """Refuse a configuration that leaves out a symbol with open orders (`orders`: every open
    order, from the recovered state)."""
    listed = settings.symbol_rules()
    stranded: dict[str, int] = {}
    for order in orders:
        if order.symbol not in listed:
            stranded[order.symbol] = stranded.get(order.symbol, 0) + 1
    if stranded:
        raise SymbolsChanged(", ".join(f"{symbol} ({n} open order{'s' * (n != 1)})" for symbol, n in
                                       sorted(stranded.items()))
                             + " no longer in the configuration's symbols, with orders still open on it: their funds "
                             "would stay frozen with no book to trade or cancel them; list it again, have its "
                             "orders cancelled, then take it out")


def write(settings, data_dir: Path) -> None:
    """Record the configuration's symbols (keeping those it no longer lists), atomically."""
    record = _record(data_dir)
    for name, rules in settings.symbol_rules().items():
        record[name] = {key: getattr(rules, key) for key in RECORDED + FEES}
    path = data_dir / FILE
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as f:
        f.write(json.dumps({"symbols": dict(sorted(record.items()))}, indent=1) + "\n")
        f.flush()
        os.fsync(f.fileno())  # (a power failure must not leave an empty record that refuses the next start)
    os.replace(tmp, path)
