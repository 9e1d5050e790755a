"""Symbol rules (tick, step, minimums, fees) and the fixed-point arithmetic that depends on them.

Scales, all integers:
- asset amounts (balances, quantities, notionals): 10**-ASSET_DECIMALS units of the asset;
- prices: 10**-price_decimals quote per one base; a price is valid when it is a positive multiple of
  `tick`;
- quantities: base-asset units; valid when a positive multiple of `step` and at least `min_qty`.
`step` must be a multiple of 10**price_decimals so that price x quantity is exact in quote units.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from .fixedpoint import ASSET_DECIMALS, to_units

#: Fee rates are integer parts per million (1000 ppm = 0.1%).
FEE_SCALE = 1_000_000


def fee_on(amount: int, fee_ppm: int) -> int:
    """The fee on a received amount, in the asset received, rounded down (in the user's favour;
    conservation is exact anyway): the one fee rule of the code base."""
    return amount * fee_ppm // FEE_SCALE


#: the window of a symbol's average price (minutes): REST avgPrice's `mins`, the @avgPrice stream,
#: and NOTIONAL's avgPriceMins (a MARKET order by quantity is valued at it)
AVG_PRICE_MINS = 5


class PercentPriceBySide(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Binance's PERCENT_PRICE_BY_SIDE filter: a limit price within these multiples of the average
    price of the last `avg_price_mins` minutes' trades, by side (bid: a buy, ask: a sell)."""

    bid_multiplier_up: str
    bid_multiplier_down: str
    ask_multiplier_up: str
    ask_multiplier_down: str
    avg_price_mins: int = 5


class TrailingDelta(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Binance's TRAILING_DELTA filter: the range of a trailing stop's trailingDelta (BIPS), for the
    stops that trigger above the market (STOP_LOSS buy, TAKE_PROFIT sell) and below it (STOP_LOSS
    sell, TAKE_PROFIT buy). Binance's defaults."""

    min_trailing_above_delta: int = 10
    max_trailing_above_delta: int = 2000
    min_trailing_below_delta: int = 10
    max_trailing_below_delta: int = 2000


class SymbolSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One tradable symbol's rules, in decimal strings as written in the config file."""

    symbol: str
    base: str
    quote: str
    price_decimals: int = 2
    tick_size: str = "0.01"
    step_size: str = "0.00001"
    min_qty: str = "0.00001"
    max_qty: str = "9000"
    min_notional: str = "5"
    maker_fee: str = "0.001"
    taker_fee: str = "0.001"
    #: selfTradePreventionMode of an order that names none (Binance's defaultSelfTradePreventionMode:
    #: EXPIRE_MAKER, as Binance ships its symbols). NONE: an account's orders may trade with each other.
    default_stp: Literal["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH", "DECREMENT"] = "EXPIRE_MAKER"
    #: MARKET_LOT_SIZE's maxQty: the largest quantity of a MARKET order (and of a STOP_LOSS /
    #: TAKE_PROFIT, which become one); None: max_qty. Its minQty and stepSize are LOT_SIZE's.
    market_max_qty: str | None = None
    #: MAX_NUM_ORDERS: open orders (stops waiting for their trigger included) per account on the symbol
    max_num_orders: int = 200
    #: MAX_NUM_ALGO_ORDERS: open stop orders (STOP_LOSS, ..._LIMIT, TAKE_PROFIT, ..._LIMIT) per account
    max_num_algo_orders: int = 5
    #: PERCENT_PRICE_BY_SIDE ([symbols.percent_price_by_side]); None: no such filter (not listed)
    percent_price_by_side: PercentPriceBySide | None = None
    #: TRAILING_DELTA ([symbols.trailing_delta]); Binance's defaults when not given
    trailing_delta: TrailingDelta = TrailingDelta()


class SymbolRules:
    """A symbol's rules in integer form, validated once at start-up; used on every hot path."""

    __slots__ = (
        "spec", "symbol", "base", "quote", "price_decimals", "price_scale", "tick", "step", "min_qty",
        "max_qty", "min_notional", "maker_fee_ppm", "taker_fee_ppm", "qty_decimals", "default_stp",
        "market_max_qty", "max_num_orders", "max_num_algo_orders", "percent_price", "trailing_delta",
    )

    def __init__(self, spec: SymbolSpec) -> None:
        name = spec.symbol
        if not name.isalnum() or not name.isupper():
            raise ValueError(f"symbols.{name}: symbol must be upper-case letters and digits")
        if spec.base == spec.quote:
            raise ValueError(f"symbols.{name}: base and quote must differ")
        if not 0 <= spec.price_decimals <= ASSET_DECIMALS:
            raise ValueError(f"symbols.{name}.price_decimals must be within 0..{ASSET_DECIMALS}")
        self.spec = spec
        self.symbol = name
        self.base = spec.base
        self.quote = spec.quote
        self.price_decimals = spec.price_decimals
        self.price_scale = 10**spec.price_decimals
        self.tick = self._positive(spec, "tick_size", self._units(spec, "tick_size", spec.price_decimals))
        self.step = self._positive(spec, "step_size", self._units(spec, "step_size", ASSET_DECIMALS))
        self.min_qty = self._positive(spec, "min_qty", self._units(spec, "min_qty", ASSET_DECIMALS))
        self.max_qty = self._positive(spec, "max_qty", self._units(spec, "max_qty", ASSET_DECIMALS))
        self.min_notional = self._units(spec, "min_notional", ASSET_DECIMALS)
        self.maker_fee_ppm = self._units(spec, "maker_fee", 6)
        self.taker_fee_ppm = self._units(spec, "taker_fee", 6)
        self.default_stp = spec.default_stp
        self.market_max_qty = self.max_qty if spec.market_max_qty is None else \
            self._positive(spec, "market_max_qty", self._units(spec, "market_max_qty", ASSET_DECIMALS))
        self.max_num_orders = self._positive(spec, "max_num_orders", spec.max_num_orders)
        self.max_num_algo_orders = self._positive(spec, "max_num_algo_orders", spec.max_num_algo_orders)
        pp = spec.percent_price_by_side
        #: (bid up, bid down, ask up, ask down) in 10**-8 units, and the window in ms; or None
        self.percent_price: tuple[tuple[int, int, int, int], int] | None = None
        if pp is not None:
            multipliers = tuple(self._units(pp, f"{side}_multiplier_{way}", ASSET_DECIMALS, f"{name}.percent_price_by_side")
                                for side in ("bid", "ask") for way in ("up", "down"))
            if min(multipliers) <= 0 or pp.avg_price_mins <= 0 or multipliers[1] > multipliers[0] \
                    or multipliers[3] > multipliers[2]:
                raise ValueError(f"symbols.{name}.percent_price_by_side: positive multipliers, down <= up")
            self.percent_price = (multipliers, pp.avg_price_mins * 60_000)
        td = spec.trailing_delta
        #: TRAILING_DELTA's (min, max) BIPS for a stop that triggers above the market, then below it
        self.trailing_delta = ((td.min_trailing_above_delta, td.max_trailing_above_delta),
                               (td.min_trailing_below_delta, td.max_trailing_below_delta))
        if any(not 1 <= low <= high for low, high in self.trailing_delta):
            raise ValueError(f"symbols.{name}.trailing_delta: 1 <= min <= max for above and below")
        if self.step % self.price_scale:
            raise ValueError(
                f"symbols.{name}.step_size must be a multiple of 10^-{ASSET_DECIMALS - spec.price_decimals} "
                "so that price x quantity is exact"
            )
        if self.min_qty % self.step or self.max_qty % self.step or self.market_max_qty % self.step:
            raise ValueError(f"symbols.{name}: min_qty, max_qty and market_max_qty must be multiples of step_size")
        if not self.min_qty <= self.market_max_qty <= self.max_qty:
            raise ValueError(f"symbols.{name}.market_max_qty must be within min_qty..max_qty")
        if max(self.maker_fee_ppm, self.taker_fee_ppm) >= FEE_SCALE:
            raise ValueError(f"symbols.{name}: fee rates must be below 1")
        self.qty_decimals = ASSET_DECIMALS - (len(str(self.step)) - len(str(self.step).rstrip("0")))

    @staticmethod
    def _units(spec, key: str, decimals: int, where: str = "") -> int:
        """A decimal setting in integer units; a bad one's error names it (symbols.NAME.key)."""
        try:
            return to_units(getattr(spec, key), decimals)
        except ValueError as exc:
            hint = f" (price_decimals is {decimals})" if key == "tick_size" and "decimal places" in str(exc) else ""
            raise ValueError(f"symbols.{where or spec.symbol}.{key}: {exc}{hint}") from None

    @staticmethod
    def _positive(spec: SymbolSpec, key: str, value: int) -> int:
        if value <= 0:
            raise ValueError(f"symbols.{spec.symbol}.{key} must be positive")
        return value

    def notional(self, price: int, qty: int) -> int:
        """Quote-asset units for `qty` base units at `price` (exact by construction)."""
        return price * qty // self.price_scale

    def price_ok(self, price: int) -> bool:
        return price > 0 and price % self.tick == 0

    def qty_ok(self, qty: int) -> bool:
        return self.min_qty <= qty <= self.max_qty and qty % self.step == 0
