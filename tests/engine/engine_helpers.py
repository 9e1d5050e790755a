"""Shared helpers of the engine tests: symbol rules from the default config, decimal shorthands."""

from __future__ import annotations

from functools import cache

from spot_seda.config import load_settings
from spot_seda.engine.records import CancelRejected, LevelChange, OrderReport, Trade
from spot_seda.model.fixedpoint import ASSET_DECIMALS, to_units
from spot_seda.model.symbols import SymbolRules


@cache
def btc() -> SymbolRules:
    """BTCUSDT: price in cents (tick 1), qty step 1000 units (0.00001 BTC), fees 0.1%."""
    return load_settings().symbol_rules()["BTCUSDT"]


@cache
def eth() -> SymbolRules:
    """ETHUSDT: like BTCUSDT with a coarser qty step (0.0001 ETH)."""
    return load_settings().symbol_rules()["ETHUSDT"]


def P(text: str) -> int:
    """A BTCUSDT price from its decimal string."""
    return to_units(text, btc().price_decimals)


def Q(text: str) -> int:
    """An asset amount (or base quantity) from its decimal string."""
    return to_units(text, ASSET_DECIMALS)


def split(records: list) -> tuple[list[Trade], list[OrderReport], list[LevelChange], list[CancelRejected]]:
    """A command's records grouped by kind, order kept within each kind (the others, e.g. prevented
    matches, left out)."""
    kinds: dict[type, list] = {Trade: [], OrderReport: [], LevelChange: [], CancelRejected: []}
    for r in records:
        kind = kinds.get(type(r))
        if kind is not None:
            kind.append(r)
    return kinds[Trade], kinds[OrderReport], kinds[LevelChange], kinds[CancelRejected]


def last_report(records: list, order_id: int) -> OrderReport:
    """The last OrderReport about `order_id` in a command's records."""
    return [r for r in records if type(r) is OrderReport and r.order_id == order_id][-1]
