"""Validation of single values from the APIs: IDs, timestamps, currencies, VAT rates.

Each function returns the clean value or raises ``BadValue`` with a reason that ends up in
quarantine, so the reasons must read well to an accountant.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any


class BadValue(ValueError):
    """A record field that fails validation; the record goes to quarantine with this reason.

    ``code`` names the rule (``missing_field``, ``bad_time``, …) and is stable across releases,
    so quarantine can be counted and filtered by it; the message names the field and the value.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


# Active ISO 4217 codes: a typo such as "NOKK" or "nok" is quarantined rather than landed.
ISO_4217 = frozenset(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN
    BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP
    GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS
    KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR
    MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF
    SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD
    TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG""".split()  # noqa: SIM905 - rows of codes read better than a long list
)

_FRACTION_RE = re.compile(r"(\.\d{6})\d+")
_BASIC_OFFSET_RE = re.compile(r"([+-]\d{2})(\d{2})$")


def has_bad_text(value: Any) -> bool:
    """True if a decoded string still carries bytes that were not valid UTF-8 (lone surrogates)."""
    if not isinstance(value, str) or value.isascii():
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def req(record: dict[str, Any], key: str) -> Any:
    if not isinstance(record, dict):
        raise BadValue("bad_shape", "record is not a JSON object")
    value = record.get(key)
    if value is None or value == "":
        raise BadValue("missing_field", f"missing {key}")
    return value


def ident(value: Any, field: str, *, required: bool = True) -> str | None:
    """IDs are strings inside, whether the API sent a string or an integer."""
    if value is None or value == "":
        if required:
            raise BadValue("missing_field", f"missing {field}")
        return None
    if type(value) is str and value.isascii() and len(value) <= 200:
        return value  # the common case, checked cheaply: ingest speed depends on it
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise BadValue("bad_id", f"{field} {value!r} is not a string or integer id")
    text = str(value)
    if has_bad_text(text):
        raise BadValue("bad_text", f"{field} is not valid UTF-8")
    if len(text) > 200:
        raise BadValue("bad_id", f"{field} is longer than 200 characters")
    return text


def text(value: Any, field: str, *, max_len: int = 10_000) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadValue("bad_text", f"{field} {value!r} is not a string")
    if value.isascii() and len(value) <= max_len:
        return value
    if has_bad_text(value):
        raise BadValue("bad_text", f"{field} is not valid UTF-8")
    if len(value) > max_len:
        raise BadValue("bad_text", f"{field} is longer than {max_len} characters")
    return value


def timestamp(value: Any, field: str, *, required: bool = True) -> datetime | None:
    """ISO 8601 to an aware UTC datetime. A time without an offset is UTC: the APIs say so."""
    if value is None or value == "":
        if required:
            raise BadValue("missing_field", f"missing {field}")
        return None
    if not isinstance(value, str):
        raise BadValue("bad_time", f"{field} {value!r} is not a timestamp string")
    if len(value) == 20 and value[10] == "T" and value[19] == "Z":
        # "2026-10-24T08:00:00Z", what the APIs send nearly always: parse it directly.
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise BadValue("bad_time", f"{field} {value!r} is not an ISO 8601 timestamp") from None
        if 1970 <= parsed.year <= 2200:
            return parsed
    raw = value.strip()
    # Python's parser takes at most microseconds and wants "+02:00"; the APIs also send
    # nanoseconds ("…000000000Z") and basic offsets ("+0200").
    cleaned = _FRACTION_RE.sub(r"\1", raw.replace("z", "Z"))
    cleaned = _BASIC_OFFSET_RE.sub(r"\1:\2", cleaned) if "T" in cleaned else cleaned
    try:
        parsed = datetime.fromisoformat(cleaned)
    except ValueError:
        raise BadValue("bad_time", f"{field} {value!r} is not an ISO 8601 timestamp") from None
    if "T" not in cleaned and " " not in cleaned:
        raise BadValue("bad_time", f"{field} {value!r} is a date, not a timestamp")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if not 1970 <= parsed.year <= 2200:
        raise BadValue("bad_time", f"{field} {value!r} is out of range")
    return parsed.astimezone(UTC)


def currency(value: Any, field: str = "currency", *, default: str | None = None) -> str:
    if value is None and default is not None:
        return default
    if not isinstance(value, str) or value not in ISO_4217:
        raise BadValue("bad_currency", f"{field} {value!r} is not an ISO 4217 currency code")
    return value


def vat_rate_bp(value: Any, field: str = "vatRate") -> int | None:
    """VAT rate as integer basis points. Vipps sends 1200 for 12 %; a value ≤ 100 is a percent."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise BadValue("bad_vat_rate", f"{field} {value!r} is not a number")
    if isinstance(value, str):
        try:
            value = Decimal(value.strip())
        except ArithmeticError:
            raise BadValue("bad_vat_rate", f"{field} {value!r} is not a number") from None
    if not isinstance(value, (int, Decimal)) or not Decimal(value).is_finite():
        raise BadValue("bad_vat_rate", f"{field} {value!r} is not a number")
    dec = Decimal(value)
    if dec < 0 or dec > 10_000:
        raise BadValue("bad_vat_rate", f"{field} {value!r} is out of range")
    bp = dec * 100 if dec <= 100 else dec
    if bp != bp.to_integral_value():
        raise BadValue("bad_vat_rate", f"{field} {value!r} is finer than a basis point")
    return int(bp)


def boolean(value: Any, field: str) -> bool | None:
    if value is None:
        return None
    if not isinstance(value, bool):
        raise BadValue("bad_boolean", f"{field} {value!r} is not true/false")
    return value


def integer(value: Any, field: str, *, required: bool = False) -> int | None:
    if value is None:
        if required:
            raise BadValue("missing_field", f"missing {field}")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadValue("bad_integer", f"{field} {value!r} is not an integer")
    if abs(value) > 2**63 - 1:
        raise BadValue("bad_integer", f"{field} {value!r} is out of range")
    return value
