"""to_text against Decimal's own fixed-point formatting (a naive twin), and back through to_units."""

from decimal import Context, Decimal

from hypothesis import given
from hypothesis import strategies as st

from spot_seda.model.fixedpoint import MAX_UNITS, to_text, to_units


@given(units=st.integers(-(10**30), 10**30), decimals=st.integers(0, 40))
def test_to_text_is_decimals_fixed_point_form(units: int, decimals: int) -> None:
    exact = Decimal(units).scaleb(-decimals, context=Context(prec=100))  # (the default 28 digits would round)
    assert to_text(units, decimals) == format(exact, f".{decimals}f")


@given(units=st.integers(0, MAX_UNITS), decimals=st.integers(0, 18))
def test_to_text_reads_back_as_the_same_units(units: int, decimals: int) -> None:
    text = to_text(units, decimals)
    assert to_units(text, decimals) == units
    assert text.count(".") == (1 if decimals else 0) and (not decimals or len(text.partition(".")[2]) == decimals)
