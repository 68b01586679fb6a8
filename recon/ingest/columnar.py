"""Normalising a whole page column by column (pyarrow), for the pages where every record is plain.

The per-record normalisers (recon.ingest.sources) stay the definition of what lands. A page lander
here converts the page's records to Arrow in one call, checks with vectorised tests that every
record is one the per-record normaliser would accept as is (the strict shape of its fast branch),
and only then computes the same columns vectorised; on any doubt it returns None and the page
takes the per-record path. tests/ingest/test_landing_equivalence.py holds the two to the same rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
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


# --- for the APIs that send an id or an amount as a number or as text (Entur, Samtrafiken) --------

_INT, _TEXT = pa.int64(), pa.string()


def first_kinds(rows: Iterable[dict[str, Any]], names: Iterable[str]) -> dict[str, pa.DataType] | None:
    """The Arrow type of each field of ``names`` on this page, by the first value present: int64
    for an integer, string for a text (and where no row has one); None if that value is neither (a
    bool, an object: the per-record path decides). A page that mixes the two fails ``to_arrow``."""
    rows = rows if isinstance(rows, list) else list(rows)
    kinds = {}
    for name in names:
        value = next((v for row in rows if (v := row.get(name)) is not None), None)
        if type(value) is int:
            kinds[name] = _INT
        elif value is None or type(value) is str:
            kinds[name] = _TEXT
        else:
            return None
    return kinds


def idents(values: pa.Array, *, required: bool = False) -> pa.Array | None:
    """``validation.ident`` of each value of a column typed by ``first_kinds``: an integer as its
    decimal text, a text as is (at most 200 characters), an empty or absent one no id; None if a
    ``required`` one is missing or a text is too long."""
    if pa.types.is_integer(values.type):
        return None if required and values.null_count else pc.cast(values, _TEXT)
    if not len(values):
        return values
    if not plain_text(values, 200, required=required):
        return None
    return values if required else empty_as_null(values)


def text_ok(values: pa.Array, max_len: int) -> bool:
    """``plain_text`` (``validation.text`` returns each value unchanged), true of no values at all."""
    return not len(values) or plain_text(values, max_len)


def ascii_upper(values: pa.Array, max_len: int) -> pa.Array | None:
    """``validation.text(...).upper()`` of each value, where every value present is ASCII (beyond
    it, Python's ``str.upper`` and Arrow's differ: ``"ß"`` becomes ``"SS"``) of at most ``max_len``
    characters; None otherwise."""
    if not len(values):
        return values
    if not plain_text(values, max_len) or not all_true(pc.fill_null(pc.string_is_ascii(values), True)):
        return None
    return pc.ascii_upper(values)


# [+-], at most 16 whole digits (so that no amount in minor units overflows int64), 1-5 decimals.
_DECIMAL = r"^(?P<sign>[+-]?)(?P<whole>[0-9]{1,16})(?:\.(?P<fraction>[0-9]{1,5}))?$"
_CENTS = r"^-?[0-9]{1,16}\.[0-9]{2}$"  # what the APIs send nearly always: its digits are the minor units


def minor_units(values: pa.Array, *, empty_is_none: bool = False) -> pa.Array | None:
    """``money.parse_minor`` (two decimals) of each value present, nulls staying null, of a column
    typed by ``first_kinds``: an integer is whole major units, a text a decimal ``[+-]d[.ddddd]``
    with no non-zero digit beyond the øre (``"152.005"`` is refused, never rounded). With
    ``empty_is_none`` an empty text is no amount. None if any value is another form (the per-record
    path decides, and words the error), never a rounded or overflowed amount."""
    if not len(values):
        return pa.array([], _INT)
    if pa.types.is_integer(values.type):
        try:
            return pc.multiply_checked(values, 100)
        except pa.ArrowInvalid:  # overflow
            return None
    if empty_is_none:
        values = empty_as_null(values)
    if all_true(pc.fill_null(pc.match_substring_regex(values, _CENTS), True)):
        return pc.cast(pc.replace_substring(values, ".", ""), _INT)
    absent = pc.is_null(values)
    parts = pc.extract_regex(pc.fill_null(values, "0"), _DECIMAL)  # null where a value does not match
    if parts.null_count:
        return None
    fraction = pc.utf8_rpad(parts.field("fraction"), 5, "0")
    if not all_true(pc.equal(pc.utf8_slice_codeunits(fraction, 2, 5), "000")):
        return None
    magnitude = pc.add(pc.multiply(pc.cast(parts.field("whole"), _INT), 100),
                       pc.cast(pc.utf8_slice_codeunits(fraction, 0, 2), _INT))
    signed = pc.if_else(pc.equal(parts.field("sign"), "-"), pc.negate(magnitude), magnitude)
    return pc.if_else(absent, pa.scalar(None, _INT), signed)


def rate_bp(values: pa.Array) -> pa.Array | None:
    """``validation.vat_rate_bp`` of each value present (an integer or a decimal text; up to 100 a
    percent, above it basis points, 0..10 000), nulls staying null; None if any value is another
    form or not a whole number of basis points."""
    if not len(values):
        return pa.array([], _INT)
    if pa.types.is_integer(values.type):
        if not within(values, 0, 10_000):
            return None
        return pc.if_else(pc.less_equal(values, 100), pc.multiply(values, 100), values)
    hundredths = minor_units(values)
    if hundredths is None or not within(hundredths, 0, 1_000_000):
        return None
    percent = pc.less_equal(hundredths, 10_000)
    whole = pc.divide(hundredths, 100)  # not negative: truncation is floor
    if not all_true(pc.fill_null(pc.or_(percent, pc.equal(pc.multiply(whole, 100), hundredths)), True)):
        return None
    return pc.if_else(percent, hundredths, whole)


_ISO_UTC = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?Z$"
_UTC = pa.timestamp("us", tz="UTC")


def iso_utc_times(values: pa.Array, *, required: bool = True) -> pa.Array | None:
    """``validation.timestamp`` of each value, where each is ``YYYY-MM-DDTHH:MM:SS[.f]Z`` with up
    to nine digits of a second (those beyond six cut off, as ``timestamp`` does) in 1970..2200;
    unless ``required``, an empty or absent one is no time. None if any value is another form (an
    offset, a lower-case ``z``: the per-record path reads those). Arrow's reading is checked
    against its rendering as text (a cast: ``utc_times``' strftime takes ten times as long)."""
    if not len(values):
        return pa.array([], _UTC)
    absent = pc.fill_null(pc.equal(values, ""), True)
    if required and absent.true_count:
        return None
    if absent.true_count == len(values):
        return pa.nulls(len(values), _UTC)
    present = pc.if_else(absent, "1970-01-01T00:00:00Z", values) if absent.true_count else values
    if not all_true(pc.match_substring_regex(present, _ISO_UTC)):
        return None
    digits = pc.utf8_rpad(pc.utf8_slice_codeunits(pc.utf8_rtrim(present, "Z"), 20, 26), 6, "0")
    day, clock = pc.utf8_slice_codeunits(present, 0, 10), pc.utf8_slice_codeunits(present, 11, 19)
    try:
        times = pc.cast(pc.binary_join_element_wise(day, "T", clock, ".", digits, "Z", ""), _UTC)
    except _CONVERSION_ERRORS:
        return None
    rendered = pc.cast(pc.cast(times, pa.timestamp("us")), _TEXT)
    if (not within(pc.year(times), 1970, 2200, required=True)
            or not all_true(pc.equal(rendered, pc.binary_join_element_wise(day, " ", clock, ".", digits, "")))):
        return None
    return pc.if_else(absent, pa.scalar(None, _UTC), times) if absent.true_count else times


def family_seqs(children: pa.Array, base: int) -> tuple[pa.Array, pa.Array]:
    """Row numbers as the per-record path hands them out to records with children (``children``:
    each record's list, a null one empty): a record, then its children, then the next record, the
    first numbered ``base + 1``. Returns the records' numbers and the children's."""
    parents = pc.cast(pc.list_parent_indices(children), _INT)
    lengths = pc.cast(pc.fill_null(pc.list_value_length(children), 0), _INT)
    before = pc.subtract(pc.cumulative_sum(lengths), lengths)  # children of the records before
    n, m = len(children), len(parents)
    return (pc.add(pc.add(pa.array(range(n), _INT), before), base + 1),
            pc.add(pc.add(pa.array(range(m), _INT), parents), base + 2))
