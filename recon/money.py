"""Exact money parsing: decimal strings and OSDM prices to integer minor units, never via float."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

# ISO 20022 allows up to 18 integer and 5 fraction digits; Entur follows it.
_DECIMAL_RE = re.compile(r"^[+-]?[0-9]{1,18}(?:\.[0-9]{1,5})?$")
_INT64_MAX = 2**63 - 1


class MoneyError(ValueError):
    """An amount that cannot be represented exactly in minor units.

    ``code`` is stable (``bad_amount``, ``bad_amount_precision``): quarantine counts by it.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def parse_minor(value: Any, scale: int = 2) -> int:
    """Parse a major-unit decimal (``"152.00"``) into minor units (``15200``).

    Accepts strings, ints and Decimals (JSON numbers are decoded as Decimal). Digits beyond
    ``scale`` must be zero: ``"152.005"`` is an error, not a rounding.
    """
    if isinstance(value, bool) or value is None:
        raise MoneyError("bad_amount", f"amount {value!r} is not a number")
    if isinstance(value, int):
        dec = Decimal(value)
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise MoneyError("bad_amount", f"amount {value!r} is not finite")
        dec = value
    elif isinstance(value, str):
        text = value.strip()
        if not _DECIMAL_RE.match(text):
            raise MoneyError("bad_amount", f"amount {value!r} is not a decimal string")
        try:
            dec = Decimal(text)
        except InvalidOperation as exc:  # pragma: no cover - the regex already guards this
            raise MoneyError("bad_amount", f"amount {value!r} is not a decimal string") from exc
    else:
        raise MoneyError("bad_amount", f"amount {value!r} has type {type(value).__name__}, expected a decimal string")
    scaled = dec.scaleb(scale)
    if scaled != scaled.to_integral_value():
        raise MoneyError("bad_amount_precision", f"amount {value!r} has non-zero digits beyond {scale} decimals")
    minor = int(scaled)
    if abs(minor) > _INT64_MAX:
        raise MoneyError("bad_amount", f"amount {value!r} is out of range")
    return minor


def parse_osdm(price: Any, scale_to: int = 2) -> int:
    """OSDM ``{"amount": int, "scale": int}`` (amount in 10^-scale units) to minor units."""
    if not isinstance(price, dict):
        raise MoneyError("bad_shape", f"price {price!r} is not an object")
    amount, scale = price.get("amount"), price.get("scale", 2)
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise MoneyError("bad_amount", f"price amount {amount!r} is not an integer")
    if isinstance(scale, bool) or not isinstance(scale, int) or not 0 <= scale <= 9:
        raise MoneyError("bad_amount", f"price scale {scale!r} is not an integer 0..9")
    return parse_minor(Decimal(amount).scaleb(-scale), scale_to)


def parse_price(value: Any) -> int:
    """A price that is either a decimal string/number or an OSDM object."""
    if isinstance(value, dict):
        return parse_osdm(value)
    return parse_minor(value)


def minor_int(value: Any) -> int:
    """An amount the API already sends in integer minor units (Vipps)."""
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
            value = int(value)
        else:
            raise MoneyError("bad_amount", f"amount {value!r} is not an integer number of minor units")
    if abs(value) > _INT64_MAX:
        raise MoneyError("bad_amount", f"amount {value!r} is out of range")
    return value


def format_minor(minor: int, scale: int = 2) -> str:
    """Minor units back to a major-unit string, exactly (for display only)."""
    sign = "-" if minor < 0 else ""
    q, r = divmod(abs(minor), 10**scale)
    return f"{sign}{q}.{r:0{scale}d}" if scale else f"{sign}{q}"
