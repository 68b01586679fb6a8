"""Normalising a whole page column by column (pyarrow), for the pages where every record is plain.

The per-record normalisers (recon.ingest.sources) stay the definition of what lands. A page lander
here converts the page's records to Arrow in one call, checks with vectorised tests that every
record is one the per-record normaliser would accept as is (the strict shape of its fast branch),
and only then computes the same columns vectorised; on any doubt it returns None and the page
takes the per-record path. tests/ingest/test_landing_equivalence.py holds the two to the same rows.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from recon.timeutil import zone

_HOUR_US = 3_600_000_000
_DAY_US = 86_400_000_000
_CONVERSION_ERRORS = (pa.ArrowException, TypeError, ValueError, OverflowError)


def to_arrow(records: list[Any], kind: pa.DataType) -> pa.Array | None:
    """The records as one Arrow array of ``kind``, or None if any value has another JSON type (a
    string where a number belongs, a bool for an integer; pyarrow refuses those)."""
    try:
        return pa.array(records, type=kind)
    except _CONVERSION_ERRORS:
        return None


def all_true(mask: pa.Array | pa.ChunkedArray) -> bool:
    """Every slot true; a null counts as false."""
    return bool(pc.all(pc.fill_null(mask, False)).as_py())


def _bounds(values: pa.Array) -> tuple[Any, Any]:
    """(smallest, largest) of the values present, in one pass; (None, None) if none is."""
    found = pc.min_max(values).as_py()
    return found["min"], found["max"]


def plain_text(values: pa.Array, max_len: int, *, required: bool = False) -> bool:
    """Every value is what ``validation.text`` / ``validation.ident`` return unchanged: absent
    (unless ``required``; a required one is not empty either), or at most ``max_len`` characters.
    The page encoded plainly, so no string holds a lone surrogate (bad UTF-8): Arrow's count of
    code points is Python's ``len``."""
    if not len(values) or (required and values.null_count):
        return False  # none: as all_true of none was (the page goes the per-record way)
    shortest, longest = _bounds(pc.utf8_length(values))
    if longest is None:
        return not required
    return longest <= max_len and (not required or shortest > 0)


def within(values: pa.Array, low: int, high: int, *, required: bool = False) -> bool:
    """Every integer is absent (unless ``required``) or in ``low..high``."""
    if not len(values) or (required and values.null_count):
        return False  # none: as all_true of none was
    smallest, largest = _bounds(values)
    return smallest is None or (smallest >= low and largest <= high)


def utc_times(values: pa.Array, pattern: str) -> pa.Array | None:
    """``validation.timestamp`` of every value, where each matches ``pattern`` (a form of
    ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z`` that Python's ``datetime.fromisoformat`` reads as is) and
    lies in 1970..2200; None if any does not. Arrow's reading is checked against its rendering."""
    if not all_true(pc.match_substring_regex(values, pattern)):
        return None
    try:
        times = pc.cast(values, pa.timestamp("us", tz="UTC"))
    except _CONVERSION_ERRORS:
        return None
    if not within(pc.year(times), 1970, 2200, required=True):
        return None
    whole_seconds = pc.equal(pc.utf8_length(values), 20)
    as_sent = pc.if_else(whole_seconds,
                         pc.binary_join_element_wise(pc.utf8_slice_codeunits(values, 0, 19), ".000000Z", ""),
                         values)
    if not all_true(pc.equal(pc.strftime(times, "%Y-%m-%dT%H:%M:%SZ"), as_sent)):
        return None
    return times


def iso_dates(values: pa.Array) -> pa.Array | None:
    """``date.fromisoformat`` of every ``YYYY-MM-DD`` value (nulls stay null), or None."""
    present = pc.drop_null(values)
    if not all_true(pc.match_substring_regex(present, r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")):
        return None
    try:
        days = pc.cast(values, pa.date32())
    except _CONVERSION_ERRORS:
        return None
    if not all_true(pc.equal(pc.cast(pc.drop_null(days), pa.string()), present)):
        return None
    return days


def empty_as_null(values: pa.Array) -> pa.Array:
    """``validation.ident(required=False)``: an empty id is no id."""
    return pc.if_else(pc.equal(pc.utf8_length(values), 0), pa.scalar(None, values.type), values)


def business_dates(times: pa.Array, tz: str) -> pa.Array | None:
    """``timeutil.business_date`` of each UTC time: the date of the time plus the zone's offset
    then. The offset is read from the zone once per hour of the page; None if it changes within
    one of those hours (a daylight-saving switch: that page goes the per-record way)."""
    micros = pc.cast(times, pa.int64())
    hours = pc.divide(micros, _HOUR_US)  # times are after 1970: truncation is floor
    distinct = pc.unique(hours)
    where = zone(tz)
    offsets = []
    for hour in distinct.to_pylist():
        start = datetime.fromtimestamp(hour * 3600, UTC)
        first = start.astimezone(where).utcoffset()
        last = (start + timedelta(seconds=3600, microseconds=-1)).astimezone(where).utcoffset()
        if first is None or first != last:
            return None
        offsets.append(first // timedelta(microseconds=1))
    local = pc.add(micros, pc.take(pa.array(offsets, pa.int64()), pc.index_in(hours, distinct)))
    if len(local) and pc.min(local).as_py() < 0:
        return None
    return pc.cast(pc.cast(pc.divide(local, _DAY_US), pa.int32()), pa.date32())


def digests(encoded: list[bytes]) -> pa.Array:
    """``_hash`` of each canonical JSON text: the first 16 bytes of its SHA-256 in hex (what
    ``hexdigest()[:32]`` is), all joined into one buffer of 32 characters a row."""
    sha256 = hashlib.sha256
    hexed = b"".join([sha256(raw).digest()[:16] for raw in encoded]).hex().encode("ascii")
    n = len(encoded)
    offsets = pa.array(range(0, 32 * (n + 1), 32), pa.int32())
    return pa.Array.from_buffers(pa.string(), n, [None, offsets.buffers()[1], pa.py_buffer(hexed)])


def texts(encoded: list[bytes]) -> pa.Array:
    """``_raw``: canonical JSON from orjson is valid UTF-8, so ``safe_text`` would keep it as is;
    the texts are joined into one buffer (no conversion of each)."""
    n = len(encoded)
    ends = list(accumulate(map(len, encoded), initial=0))
    if ends[-1] >= 2**31:
        return pa.array(encoded, pa.string())
    offsets = pa.array(ends, pa.int32())
    return pa.Array.from_buffers(pa.string(), n, [None, offsets.buffers()[1], pa.py_buffer(b"".join(encoded))])


def constant(value: Any, kind: pa.DataType, n: int) -> pa.Array:
    return pa.repeat(pa.scalar(value, kind), n)
