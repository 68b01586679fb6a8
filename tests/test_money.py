from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recon.money import MoneyError, format_minor, minor_int, parse_minor, parse_osdm, parse_price


@given(st.integers(min_value=-(10**17), max_value=10**17))
def test_two_decimal_strings_round_trip_exactly(minor):
    assert parse_minor(format_minor(minor)) == minor


@given(st.integers(min_value=-(10**15), max_value=10**15), st.integers(min_value=0, max_value=3))
def test_trailing_zero_digits_beyond_the_ore_are_accepted(minor, zeros):
    text = format_minor(minor) + "0" * zeros
    assert parse_minor(text) == minor


@given(st.integers(min_value=0, max_value=10**12), st.integers(min_value=1, max_value=9),
       st.integers(min_value=3, max_value=5))
def test_non_zero_digits_beyond_the_ore_are_refused_not_rounded(units, digit, places):
    fraction = "0" * (places - 1) + str(digit)
    with pytest.raises(MoneyError, match="beyond"):
        parse_minor(f"{units}.{fraction}")


@given(st.decimals(min_value=Decimal("-1e12"), max_value=Decimal("1e12"), places=2, allow_nan=False))
def test_json_numbers_decoded_as_decimal_are_exact(value):
    assert parse_minor(value) == int(value * 100)


def test_the_documented_example():
    assert parse_minor("152.00") == 15200
    assert parse_minor("1446.00") == 144600
    assert parse_minor("0.1") == 10
    assert parse_minor("-0.01") == -1


@pytest.mark.parametrize("bad", ["", "1,00", "1.2.3", "abc", "NaN", "1e5", " ", "١٢", "1.", ".5", True, None,
                                 1.5, [], "1" * 19])
def test_malformed_amounts_are_refused(bad):
    with pytest.raises(MoneyError):
        parse_minor(bad)


def test_floats_are_never_accepted():
    # 0.1 + 0.2 style errors cannot creep in: a float is a type error, not a value.
    with pytest.raises(MoneyError, match="type float"):
        parse_minor(0.3)


def test_osdm_prices_scale_to_minor_units():
    assert parse_osdm({"amount": 34900, "scale": 2}) == 34900
    assert parse_osdm({"amount": 3490, "scale": 1}) == 34900
    assert parse_osdm({"amount": 349000, "scale": 3}) == 34900
    with pytest.raises(MoneyError):
        parse_osdm({"amount": 349001, "scale": 3})
    assert parse_price("349.00") == 34900


def test_minor_int_takes_integers_only():
    assert minor_int(25000) == 25000
    assert minor_int(Decimal("25000")) == 25000
    for bad in ("25000", Decimal("2.5"), True, None):
        with pytest.raises(MoneyError):
            minor_int(bad)
