"""Time zones and business dates: UTC inside, the ledger's zone for accounting days."""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@lru_cache(maxsize=32)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def is_zone(name: str) -> bool:
    try:
        zone(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def business_date(ts: datetime, tz_name: str) -> date:
    """The accounting day of an instant in the ledger's zone (daylight saving included)."""
    return ts.astimezone(zone(tz_name)).date()


def today_in(tz: str) -> date:
    return datetime.now(UTC).astimezone(zone(tz)).date()
