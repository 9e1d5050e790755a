"""Exact conversion between decimal strings (the API edge) and fixed-point integers (everywhere else).

Money never touches a float: a value that does not fit the scale exactly is rejected, never rounded.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

#: Every asset amount is an integer count of 10**-ASSET_DECIMALS units (Binance shows 8 decimals).
ASSET_DECIMALS = 8

#: Largest integer we accept anywhere (fits a signed 64-bit column in SQLite and Kafka consumers).
MAX_UNITS = 2**63 - 1


class FixedPointError(ValueError):
    """A decimal string that is malformed, not finite, negative, too precise or too large."""


def to_units(text: str, decimals: int) -> int:
    """Parse a decimal string ("1.5", "1.50", "15e-1") into an exact count of 10**-decimals units.

    Raises FixedPointError when the text is not a finite non-negative decimal, has more precision
    than `decimals`, or exceeds MAX_UNITS.
    """
    if not isinstance(text, str) or not text or len(text) > 64:
        raise FixedPointError(f"not a decimal string: {text!r}")
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise FixedPointError(f"not a decimal number: {text!r}") from None
    if not value.is_finite():
        raise FixedPointError(f"not a finite number: {text!r}")
    if value < 0 or value.is_signed():
        if value != 0:
            raise FixedPointError(f"negative value: {text!r}")
        value = Decimal(0)
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -decimals - 40:
        raise FixedPointError(f"too many decimal places: {text!r}")
    scaled = value.scaleb(decimals)
    if scaled != scaled.to_integral_value():
        raise FixedPointError(f"more than {decimals} decimal places: {text!r}")
    if scaled > MAX_UNITS:
        raise FixedPointError(f"value too large: {text!r}")
    return int(scaled)


#: to_text's scale and format per number of decimals, made once: it formats every amount of every
#: answer and stream (an f-string with a nested width parsed its format spec on each call: 1.8 µs
#: against 1.0 here; BENCHMARKS.md, "Pipeline", forty-second session)
_SCALES = tuple(10**d for d in range(41))
_FORMATS = tuple(f"%d.%0{d}d" for d in range(41))


def to_text(units: int, decimals: int) -> str:
    """Format an integer count of 10**-decimals units as a fixed decimal string ("1.50000000")."""
    if decimals == 0:
        return str(units)
    if units < 0:
        return "-" + to_text(-units, decimals)
    return _FORMATS[decimals] % divmod(units, _SCALES[decimals])
