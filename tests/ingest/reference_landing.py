"""The landing path as it was before issue 15 part 3, frozen as an oracle.

tests/ingest/test_landing_equivalence.py lands the same pages through this copy and through
recon's current (faster) path and asserts the tables are identical, column for column. Do not
"improve" this file: its worth is that it does not change. Only the frozen names are copied; the
money parsers, the time helpers, the schemas and ``BadValue`` (which either path must catch) are
the shared ones.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from recon.config import SamtrafikenConfig, VippsLedger
from recon.ingest.http import TooDeep
from recon.ingest.validation import BadValue
from recon.lake.schemas import QUARANTINE, TABLES
from recon.lake.store import Lake, replace_durably
from recon.money import MoneyError, minor_int, parse_minor, parse_price
from recon.timeutil import business_date

Progress = Any
Normaliser = Callable[[Any, str], Any]

# --- frozen from recon/ingest/validation.py ---
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


# --- frozen from recon/ingest/records.py ---
@dataclass
class Parsed:
    """One valid record: its row, and the rows of its children (order lines, transactions)."""

    table: str
    row: dict[str, Any]
    children: dict[str, list[tuple[dict[str, Any], Any]]] = field(default_factory=dict)  # (row, raw item)
    # Values the APIs added that recon does not know (an entry type, a status): the record lands,
    # takes no part in matching, and is counted and warned about, e.g. "entryType 'chargeback'".
    unknown: tuple[str, ...] = ()

def guess_id(record: Any, *keys: str) -> str | None:
    """A best-effort identifier for a quarantined record, so a person can find it at the source."""
    if not isinstance(record, dict):
        return None
    for key in keys:
        value = record.get(key)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value):
            return str(value)[:200]
    return None

MAX_DEPTH = 64

def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests containers more than ``limit`` levels deep (a dict or list is one
    level; a TooDeep marker from the decoder is deeper than any limit). Recursion is bounded by
    ``limit``, and only containers are descended into."""
    kind = type(value)
    if kind is TooDeep:
        return True
    if kind is not dict and kind is not list:
        return False
    if limit <= 0:
        return True
    for item in value.values() if kind is dict else value:
        item_kind = type(item)
        if item_kind is dict or item_kind is list:
            if _deeper_than(item, limit - 1):
                return True
        elif item_kind is TooDeep:
            return True
    return False

def _cut(value: Any, limit: int) -> Any:
    """A copy of ``value`` down to ``limit`` levels; deeper containers become a short text."""
    if type(value) is dict:
        if limit <= 0:
            return "<cut: nested deeper>"
        return {key: _cut(item, limit - 1) for key, item in value.items()}
    if type(value) is list:
        if limit <= 0:
            return "<cut: nested deeper>"
        return [_cut(item, limit - 1) for item in value]
    return value

def land_page(
    landing: Landing,
    records: Iterable[Any],
    normalise: Normaliser,
    *,
    kind: str,
    id_keys: tuple[str, ...],
    context: str,
    progress: Progress | None = None,
    personal: tuple[str, ...] = (),
    keep_personal: bool = False,
) -> int:
    """Normalise each record; a bad one goes to quarantine, the rest of the page lands.

    The ``personal`` fields (recon.ingest.personal) are removed first unless ``keep_personal``.
    ``normalise`` gets the record (as kept) and the canonical JSON of the record without them."""
    n = 0
    buffered: dict[str, list[dict[str, Any]]] = {}
    for sent in records:
        n += 1
        stripped = strip_personal(sent, personal)
        record = sent if keep_personal else stripped
        if _deeper_than(record, MAX_DEPTH):
            # Only a cut of it is kept: encoding it whole could itself exceed the recursion limit.
            landing.quarantine(kind, "too_deep", f"the record is nested more than {MAX_DEPTH} levels deep",
                               canonical_json(_cut(record, MAX_DEPTH)), record_id=guess_id(record, *id_keys),
                               context=context)
            if progress:
                progress.quarantined += 1
            continue
        # What identifies the record (_hash, a key derived from its content) never includes its
        # personal data, whether kept or not: switching land_pii must not make it look new.
        identity = canonical_json(stripped)
        raw = identity if record is stripped else canonical_json(record)
        try:
            parsed = normalise(record, identity)
        except (BadValue, MoneyError) as exc:
            landing.quarantine(kind, exc.code, str(exc), raw, record_id=guess_id(record, *id_keys), context=context)
            if progress:
                progress.quarantined += 1
            continue
        if progress:
            progress.unknown.update(parsed.unknown)
        parent = landing.stamp(parsed.row, raw, identity)
        buffered.setdefault(parsed.table, []).append(parent)
        for table, children in parsed.children.items():
            rows = buffered.setdefault(table, [])
            for row, item in children:
                row["_parent_row_id"] = parent["_row_id"]
                rows.append(landing.stamp(row, canonical_json(item)))
    for table, table_rows in buffered.items():
        landing.add(table, table_rows)
    if progress:
        progress.page(n)
    return n


# --- frozen from recon/ingest/personal.py ---
def strip_personal(record: Any, fields: tuple[str, ...]) -> Any:
    """``record`` without the personal ``fields`` that hold a value. A null is left as sent: it
    holds nothing, and leaving it keeps the hash of records landed before this rule existed."""
    if not fields or not isinstance(record, dict) or not any(record.get(k) is not None for k in fields):
        return record
    return {k: v for k, v in record.items() if k not in fields or v is None}


# --- frozen from recon/lake/landing.py ---
_ENCODER = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)

def canonical_json(record: Any) -> str:
    """The record as landed: keys sorted (so equal content hashes equally), compact.

    Non-integer JSON numbers were decoded as Decimal and are kept as their exact decimal text.
    """
    return _ENCODER.encode(record)

def content_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:32]

def safe_text(raw: str) -> str:
    """Parquet strings must be valid UTF-8; undecodable bytes are kept visible as escapes."""
    if raw.isascii():
        return raw
    return raw.encode("utf-8", "backslashreplace").decode("utf-8")

class Landing:
    """Buffers one source's rows until a checkpoint makes them durable."""

    def __init__(self, lake: Lake, run_id: str, source: str) -> None:
        self.lake = lake
        self.run_id = run_id
        self.source = source
        self.landed_at = lake.landing_time()
        self._batches: dict[str, list[pa.RecordBatch]] = defaultdict(list)
        self._quarantine: list[dict[str, Any]] = []
        self._seq = 0
        self._files = 0
        self._buffered: dict[str, int] = defaultdict(int)
        self.landed: dict[str, int] = defaultdict(int)
        self.quarantined: dict[str, int] = defaultdict(int)

    @property
    def pending(self) -> int:
        """Rows buffered in the largest table: a checkpoint at 100k gives row groups of 100k."""
        return max(self._buffered.values(), default=0)

    def next_row_id(self) -> str:
        self._seq += 1
        return f"{self.run_id}:{self._seq}"

    def stamp(self, row: dict[str, Any], raw: str, hashed: str | None = None) -> dict[str, Any]:
        """Add the landing columns to a normalised row; ``_hash`` is of ``hashed`` where given
        (the record without its personal data, when ``raw`` keeps it)."""
        row["_source"] = self.source
        row["_run_id"] = self.run_id
        row["_landed_at"] = self.landed_at
        row["_row_id"] = self.next_row_id()
        row["_hash"] = content_hash(raw if hashed is None else hashed)
        row["_raw"] = safe_text(raw)
        return row

    def add(self, table: str, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        schema = TABLES[table].schema
        # Arrow converts aware datetimes ten times slower than integers: hand it microseconds.
        ts_cols = _timestamp_columns(table)
        for row in rows:
            for col in ts_cols:
                value = row.get(col)
                if value is not None:
                    row[col] = (value - _EPOCH) // _MICROSECOND
        self._batches[table].append(pa.RecordBatch.from_pylist(rows, schema=schema))
        self._buffered[table] += len(rows)

    def quarantine(self, kind: str, code: str, reason: str, record: Any, *, record_id: str | None = None,
                   context: str | None = None) -> None:
        """Keep a record that failed validation, with the rule it broke (``code``) and why."""
        raw = canonical_json(record) if not isinstance(record, str) else record
        self._quarantine.append({
            "source": self.source, "kind": kind, "reason_code": code, "reason": reason,
            "record_id": safe_text(record_id) if record_id else None,
            "context": context, "raw": safe_text(raw), "_hash": content_hash(raw),
            "_run_id": self.run_id, "_landed_at": self.landed_at,
        })
        self.quarantined[code] += 1
        self._buffered["quarantine"] += 1

    def _write(self, directory: Path, table: pa.Table) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._files += 1
        final = directory / f"part-{self.run_id}-{self._files:05d}.parquet"
        tmp = directory / f".{final.name}.tmp"
        pq.write_table(table, tmp, compression="zstd", row_group_size=max(len(table), 1))
        replace_durably(tmp, final)

    def checkpoint(self) -> None:
        """Make everything buffered durable. The caller commits its cursor after this returns."""
        # Children (order lines, transactions) first: a crash between two files may then leave
        # children without their parent (invisible in the views, re-landed by the rerun) but
        # never a parent whose children are missing, which the views would pick and show bare.
        for name, batches in sorted(self._batches.items(), key=lambda kv: TABLES[kv[0]].parent is None):
            spec = TABLES[name]
            table = pa.Table.from_batches(batches, schema=spec.schema)
            part_col = table.column(spec.partition)
            data = table.drop_columns([spec.partition])
            for value in pc.unique(part_col).to_pylist():
                mask = pc.is_null(part_col) if value is None else pc.equal(part_col, pa.scalar(value, pa.date32()))
                chunk = data.filter(mask)
                label = "__HIVE_DEFAULT_PARTITION__" if value is None else value.isoformat()
                self._write(self.lake.raw / name / f"{spec.partition}={label}", chunk)
            self.landed[name] += table.num_rows
        if self._quarantine:
            table = pa.Table.from_pylist(self._quarantine, schema=QUARANTINE)
            self._write(self.lake.quarantine_dir / self.source, table)
        self._batches.clear()
        self._quarantine.clear()
        self._buffered.clear()


# --- frozen from recon/ingest/sources/vipps.py ---
ENTRY_TYPES = {"capture": 1, "refund": -1}

def _amount(obj: dict[str, Any], key: str, sign: int, where: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if type(value) is int and -(2**62) < value < 2**62:
        return sign * abs(value) if sign else value
    try:
        # The refund sign is undocumented: whatever the API sends, refunds land negative (sign 0:
        # an entry type recon does not know keeps the sign it was sent with).
        return sign * abs(minor_int(value)) if sign else minor_int(value)
    except MoneyError as exc:
        raise BadValue(exc.code, f"{where}{key}: {exc}") from None

def _quantity(value: Any) -> Decimal | None:
    if value is None:
        return None
    if type(value) is int and abs(value) < 10**12:
        return Decimal(value)
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        raise BadValue("bad_quantity", f"line quantity {value!r} is not a number")
    try:
        dec = Decimal(value) if not isinstance(value, str) else Decimal(value.strip())
    except ArithmeticError:
        raise BadValue("bad_quantity", f"line quantity {value!r} is not a number") from None
    if not dec.is_finite() or abs(dec) >= Decimal(10) ** 12 or dec != dec.quantize(Decimal("0.000001")):
        raise BadValue("bad_quantity", f"line quantity {value!r} is out of range")
    return dec

def entry_type_of(record: Any) -> tuple[str, str]:
    """(the entryType as sent, lower case) of a Sales or Report API entry, which must be an object."""
    if not isinstance(record, dict):
        raise BadValue("bad_shape", "entry is not a JSON object")
    raw_type = text(record.get("entryType"), "entryType", max_len=100)
    if not raw_type:
        raise BadValue("missing_field", "missing entryType")
    return raw_type, raw_type.lower()

def normalise_entry(record: Any, raw: str, ledger: VippsLedger) -> Parsed:
    raw_type, entry_type = entry_type_of(record)
    # The API adds entry types without notice: an unknown one lands as sent (its amounts keep their
    # sign), takes no part in matching or VAT, and is counted and warned about.
    sign = ENTRY_TYPES.get(entry_type, 0)
    unknown = () if sign else (f"entryType {raw_type!r}",)
    ts = timestamp(record.get("time"), "time")
    assert ts is not None
    psp = ident(record.get("pspReference"), "pspReference", required=False)
    reference = ident(record.get("reference"), "reference")
    cur = currency(record.get("currency"))
    amounts = record.get("amounts") or {}
    if not isinstance(amounts, dict):
        raise BadValue("bad_shape", "amounts is not an object")
    classification = record.get("classification") or {}
    completeness = record.get("completeness") or {}
    if not isinstance(classification, dict) or not isinstance(completeness, dict):
        raise BadValue("bad_shape", "classification/completeness is not an object")
    lines = record.get("lines") or []
    if not isinstance(lines, list):
        raise BadValue("bad_shape", "lines is not a list")
    try:
        order_date = timestamp(record.get("orderDate"), "orderDate", required=False)
    except BadValue:
        order_date = None  # older spec only, informational: never worth losing the entry
    # Cash entries have no pspReference; their content identifies them (Vipps data is immutable).
    key = f"{ledger.ledger_id}:{psp}" if psp else f"{ledger.ledger_id}:h{content_hash(raw)}"
    day = business_date(ts, ledger.timezone)
    row = {
        "entry_key": key, "ledger_id": ledger.ledger_id, "entry_type": entry_type, "time": ts,
        "order_date": order_date, "psp_reference": psp, "reference": reference, "currency": cur,
        "payment_type": text(record.get("paymentType"), "paymentType", max_len=100),
        "solution": text(classification.get("solution"), "classification.solution", max_len=100),
        "sales_category": text(classification.get("salesCategory"), "classification.salesCategory",
                               max_len=200),
        "gross": _amount(amounts, "gross", sign, "amounts."),
        "net": _amount(amounts, "net", sign, "amounts."),
        "vat": _amount(amounts, "vat", sign, "amounts."),
        "line_count": len(lines),
        "has_line_items": boolean(completeness.get("hasLineItems"), "completeness.hasLineItems"),
        "has_vat_breakdown": boolean(completeness.get("hasVatBreakdown"), "completeness.hasVatBreakdown"),
        "has_customer_identity": boolean(completeness.get("hasCustomerIdentity"),
                                         "completeness.hasCustomerIdentity"),
        "business_tz": ledger.timezone, "business_date": day,
    }
    children = []
    for i, line in enumerate(lines):
        if not isinstance(line, dict):
            raise BadValue("bad_shape", f"line {i + 1} is not an object")
        where = f"line {i + 1} "
        children.append(({
            "entry_key": key, "ledger_id": ledger.ledger_id, "psp_reference": psp, "reference": reference,
            "entry_type": entry_type, "currency": cur, "line_no": i + 1,
            "line_id": ident(line.get("lineId"), "lineId", required=False),
            "name": text(line.get("name"), "line name", max_len=2000),
            "quantity": _quantity(line.get("quantity")),
            "unit_price_gross": _amount(line, "unitPriceGross", sign, where),
            "unit_price_net": _amount(line, "unitPriceNet", sign, where),
            "discount_total": _amount(line, "discountTotal", sign, where),
            "line_total_gross": _amount(line, "lineTotalGross", sign, where),
            "line_total_net": _amount(line, "lineTotalNet", sign, where),
            "vat_rate_bp": vat_rate_bp(line.get("vatRate")),
            "vat_amount": _amount(line, "vatAmount", sign, where),
            "category": text(line.get("category"), "line category", max_len=200),
            "business_date": day,
        }, line))
    return Parsed("vipps_sales_entries", row, {"vipps_sales_lines": children} if children else {}, unknown)


# --- frozen from recon/ingest/sources/vipps_report.py ---
TABLE = {"funds": "vipps_funds_entries", "fees": "vipps_fees_entries"}

KNOWN_TYPES = {
    "funds": frozenset({"capture", "refund", "fees-retained", "payout-scheduled", "scheduled-for-payout",
                        "payout-aborted", "retained-disputed-capture", "returned-disputed-capture", "correction",
                        "top-up", "credit-note"}),
    "fees": frozenset({"capture-fee", "fees-retained", "fees-invoiced", "credit-note", "service-fee", "correction"}),
}

def _ledger_date(value: Any, ts: datetime, ledger: VippsLedger) -> date:
    """The API's ledgerDate; where it is missing, the date of ``time`` in the ledger's zone (what
    a ledger date is, without a cut-off): the entry still lands and keeps its place in the chain."""
    if value is None:
        return business_date(ts, ledger.timezone)
    if not isinstance(value, str):
        raise BadValue("bad_date", f"ledgerDate {value!r} is not a date")
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise BadValue("bad_date", f"ledgerDate {value!r} is not a date YYYY-MM-DD") from None

_WHOLE = re.compile(r"^\s*[+-]?\d{1,18}\s*$")

def _minor_units(value: Any, field: str) -> int:
    """An integer of minor units (the documented type); an integer sent as text ("-1500") is read
    too, but never a decimal: "15.00" could be kroner or øre, so it is quarantined."""
    if isinstance(value, str) and _WHOLE.match(value):
        return int(value)
    found = integer(value, field, required=True)
    assert found is not None
    return found

@dataclass(frozen=True)
class Position:
    """Where an entry was read: its feed position, or its position within its ledger date."""

    feed_seq: int | None = None
    date_seq: int | None = None
    cursor: str | None = None

def normalise_report_entry(record: Any, raw: str, ledger: VippsLedger, topic: str, at: Position) -> Parsed:
    raw_type, entry_type = entry_type_of(record)
    ts = timestamp(record.get("time"), "time")
    assert ts is not None
    day = _ledger_date(record.get("ledgerDate"), ts, ledger)
    amount = _minor_units(record.get("amount"), "amount")
    before = _minor_units(record.get("balanceBefore"), "balanceBefore")
    after = _minor_units(record.get("balanceAfter"), "balanceAfter")
    psp = ident(record.get("pspReference"), "pspReference", required=False)
    cur = currency(record.get("currency"))
    # Not `time`: the feed and the by-date listing may write it differently (precision, "+0200");
    # the running balances already tell two otherwise equal entries apart.
    identity = canonical_json([ledger.ledger_id, topic, psp, entry_type, day.isoformat(), amount, cur, before, after])
    key = f"{ledger.ledger_id}:{hashlib.sha256(identity.encode()).hexdigest()[:32]}"
    unknown = () if entry_type in KNOWN_TYPES[topic] else (f"{topic} entryType {raw_type!r}",)
    return Parsed(TABLE[topic], {
        "entry_key": key, "ledger_id": ledger.ledger_id, "entry_type": entry_type, "psp_reference": psp,
        "reference": ident(record.get("reference"), "reference", required=False), "time": ts,
        "ledger_date": day, "currency": cur, "amount": amount, "balance_before": before, "balance_after": after,
        "recipient_handle": text(record.get("recipientHandle"), "recipientHandle", max_len=200),
        "feed_seq": at.feed_seq, "date_seq": at.date_seq, "feed_cursor": at.cursor,
        "business_tz": ledger.timezone, "business_date": business_date(ts, ledger.timezone),
    }, unknown=unknown)


# --- frozen from recon/ingest/sources/entur.py ---
def _money(obj: dict[str, Any], key: str, where: str, *, required: bool = False) -> int | None:
    value = obj.get(key)
    if value is None or value == "":
        if required:
            raise BadValue("missing_field", f"missing {where}{key}")
        return None
    try:
        return parse_minor(value)
    except MoneyError as exc:
        raise BadValue(exc.code, f"{where}{key}: {exc}") from None

def _upper(value: Any, field: str) -> str | None:
    got = text(value, field, max_len=100)
    return got.upper() if got else None

def normalise_payment(record: Any, raw: str, tz: str) -> Parsed:
    if not isinstance(record, dict):
        raise BadValue("bad_shape", "payment is not a JSON object")
    payment_id = ident(req(record, "paymentId"), "paymentId")
    order_id = ident(record.get("orderId"), "orderId")
    cur = currency(record.get("currency"), default="NOK")
    created = timestamp(record.get("createdAt"), "createdAt")
    assert created is not None
    txs = record.get("transactionHistory")
    if txs is None:
        txs = record.get("transactions")
    if txs is None:
        txs = []
    if not isinstance(txs, list):
        raise BadValue("bad_shape", "transactionHistory is not a list")
    order_version = integer(record.get("orderVersion"), "orderVersion")
    row = {
        "payment_id": payment_id, "order_id": order_id, "order_version": order_version,
        "organisation_id": ident(record.get("organisationId"), "organisationId", required=False),
        "total_amount": _money(record, "totalAmount", ""), "currency": cur, "created_at": created,
        "updated_at": timestamp(record.get("updatedAt"), "updatedAt", required=False),
        "customer_number": ident(record.get("customerNumber"), "customerNumber", required=False),
        "active": boolean(record.get("active"), "active"), "transaction_count": len(txs),
        "business_date": business_date(created, tz),
    }
    children = []
    for i, tx in enumerate(txs):
        if not isinstance(tx, dict):
            raise BadValue("bad_shape", f"transaction {i + 1} is not an object")
        where = f"transaction {tx.get('transactionId', i + 1)} "
        summary = tx.get("summary") or {}
        if not isinstance(summary, dict):
            raise BadValue("bad_shape", f"{where}summary is not an object")
        tx_created = timestamp(tx.get("createdAt"), "transaction createdAt", required=False) or created
        captured = _money(summary, "capturedAmount", where + "summary.")
        amount = _money(tx, "amount", where)
        if amount is None and captured is None:
            raise BadValue("missing_field", f"missing {where}amount")
        children.append(({
            "payment_id": payment_id, "transaction_id": ident(tx.get("transactionId"), "transactionId"),
            "order_id": order_id, "order_version": order_version,
            "status": _upper(tx.get("status"), "transaction status") or _missing(where + "status"),
            "amount": amount, "captured_amount": captured,
            "credited_amount": _money(summary, "creditedAmount", where + "summary."),
            "remaining_to_capture": _money(summary, "remainingAmountToCapture", where + "summary."),
            "remaining_to_credit": _money(summary, "remainingAmountToCredit", where + "summary."),
            "currency": currency(tx.get("currency"), "transaction currency", default=cur),
            "created_at": tx_created,
            "payment_type": _upper(tx.get("paymentType"), "paymentType"),
            "payment_type_group": _upper(tx.get("paymentTypeGroup"), "paymentTypeGroup"),
            "external_transaction_id": ident(tx.get("externalTransactionId"), "externalTransactionId",
                                             required=False),
            "rrn": ident(tx.get("rrn"), "rrn", required=False),
            "settlement_id": ident(tx.get("settlementId"), "settlementId", required=False),
            "card_number": text(tx.get("cardNumber"), "cardNumber", max_len=64),
            "business_date": business_date(tx_created, tz),
        }, tx))
    return Parsed("entur_payments", row, {"entur_payment_transactions": children} if children else {})

def _missing(what: str) -> str:
    raise BadValue("missing_field", f"missing {what}")

def normalise_credit(record: Any, raw: str, tz: str) -> Parsed:
    if not isinstance(record, dict):
        raise BadValue("bad_shape", "credit is not a JSON object")
    credit_id = ident(req(record, "creditId"), "creditId")
    order_id = ident(record.get("orderId"), "orderId")
    cur = currency(record.get("currency"), default="NOK")
    txs = record.get("creditTransactions") or []
    if not isinstance(txs, list):
        raise BadValue("bad_shape", "creditTransactions is not a list")
    created = timestamp(record.get("createdAt"), "createdAt", required=False)
    tx_times = []
    for tx in txs:
        if isinstance(tx, dict):
            t = timestamp(tx.get("createdAt"), "credit transaction createdAt", required=False)
            if t:
                tx_times.append(t)
    updated = timestamp(record.get("updatedAt"), "updatedAt", required=False)
    # createdAt on a credit is inferred, not documented: a credit without it is dated by its first
    # transaction, then by its updatedAt, and quarantined only when it has none of them.
    dated = created or (min(tx_times) if tx_times else None) or updated
    if dated is None:
        raise BadValue("missing_field", "missing createdAt (on the credit and on all its transactions) and "
                                        "updatedAt")
    order_version = integer(record.get("orderVersion"), "orderVersion")
    status = _upper(record.get("status"), "credit status")
    row = {
        "credit_id": credit_id, "order_id": order_id, "order_version": order_version,
        "organisation_id": ident(record.get("organisationId"), "organisationId", required=False),
        "total_credit_amount": _money(record, "totalCreditAmount", ""), "currency": cur,
        "status": status, "created_at": created,
        "updated_at": updated,
        "customer_number": ident(record.get("customerNumber"), "customerNumber", required=False),
        "active": boolean(record.get("active"), "active"), "transaction_count": len(txs),
        "business_date": business_date(dated, tz),
    }
    children = []
    for i, tx in enumerate(txs):
        if not isinstance(tx, dict):
            raise BadValue("bad_shape", f"credit transaction {i + 1} is not an object")
        where = f"credit transaction {tx.get('transactionId', i + 1)} "
        tx_created = timestamp(tx.get("createdAt"), "credit transaction createdAt", required=False) or dated
        children.append(({
            "credit_id": credit_id, "transaction_id": ident(tx.get("transactionId"), "transactionId"),
            "payment_transaction_id": ident(tx.get("paymentTransactionId"), "paymentTransactionId",
                                            required=False),
            "order_id": order_id, "order_version": order_version, "credit_status": status,
            "status": _upper(tx.get("status"), "credit transaction status"),
            "amount": _money(tx, "amount", where, required=True),
            "currency": currency(tx.get("currency"), "credit transaction currency", default=cur),
            "created_at": tx_created,
            # The credit transaction's shape is undocumented: its method is reimbursementMethod,
            # else (as on payment transactions) paymentType.
            "reimbursement_method": _upper(tx.get("reimbursementMethod") or tx.get("paymentType"),
                                           "reimbursementMethod"),
            "reimbursement_type_group": _upper(tx.get("reimbursementTypeGroup"), "reimbursementTypeGroup"),
            "external_transaction_id": ident(tx.get("externalTransactionId"), "externalTransactionId",
                                             required=False),
            "rrn": ident(tx.get("rrn"), "rrn", required=False),
            "business_date": business_date(tx_created, tz),
        }, tx))
    return Parsed("entur_credits", row, {"entur_credit_transactions": children} if children else {})


# --- frozen from recon/ingest/sources/samtrafiken.py ---
STATUSES = {"FULFILLED", "REFUNDED", "CANCELLED"}

def _price(obj: dict[str, Any], key: str) -> int | None:
    value = obj.get(key)
    if value is None or value == "":
        return None
    try:
        return parse_price(value)
    except MoneyError as exc:
        raise BadValue(exc.code, f"{key}: {exc}") from None

def _vat(items: Any) -> str:
    if items is None:
        return "[]"
    if not isinstance(items, list):
        raise BadValue("bad_shape", "vat is not a list")
    out = []
    for item in items:
        if not isinstance(item, dict):
            raise BadValue("bad_shape", "vat item is not an object")
        rate = item.get("rate", item.get("percentage"))
        out.append({"rate_bp": vat_rate_bp(rate, "vat rate"), "amount": _price(item, "amount")})
    return json.dumps(out, separators=(",", ":"))

def normalise_event(record: Any, raw: str, cfg: SamtrafikenConfig, seq: int) -> Parsed:
    if not isinstance(record, dict):
        raise BadValue("bad_shape", "event is not a JSON object")
    event_time = timestamp(record.get("eventTime"), "eventTime")
    assert event_time is not None
    status = text(record.get("status"), "status", max_len=50)
    if not status:
        raise BadValue("missing_field", "missing status")
    # A status recon does not know lands (the API adds values); bookings in it are not checked.
    unknown = () if status.upper() in STATUSES else (f"booking status {status!r}",)
    prices = {k: _price(record, k) for k in ("totalPrice", "refundAmount", "cancellationFee")}
    cur = record.get("currency")
    if cur is None and isinstance(record.get("totalPrice"), dict):
        cur = record["totalPrice"].get("currency")
    retailer_ref = record.get(cfg.retailer_reference_field)
    if retailer_ref is None and cfg.retailer_reference_field == "retailerReference":
        retailer_ref = record.get("externalReference")
    row = {
        "event_id": ident(record.get("eventId"), "eventId"),
        "event_time": event_time,
        "booking_id": ident(record.get("bookingId"), "bookingId"),
        "booking_number": ident(record.get("bookingNumber"), "bookingNumber", required=False),
        "status": status.upper(),
        "organization_code": ident(record.get("organizationCode"), "organizationCode", required=False),
        "producer": ident(record.get("producer"), "producer", required=False),
        "retailer_reference": ident(retailer_ref, cfg.retailer_reference_field, required=False),
        "currency": currency(cur) if any(v is not None for v in prices.values()) or cur else None,
        "total_price": prices["totalPrice"], "refund_amount": prices["refundAmount"],
        "cancellation_fee": prices["cancellationFee"], "vat_json": _vat(record.get("vat")),
        "feed_seq": seq, "business_date": business_date(event_time, cfg.timezone),
    }
    return Parsed("samtrafiken_booking_events", row, unknown=unknown)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@cache
def _timestamp_columns(table: str) -> tuple[str, ...]:
    return tuple(f.name for f in TABLES[table].schema if pa.types.is_timestamp(f.type))
