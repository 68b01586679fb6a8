"""Vipps MobilePay Sales API: captures and refunds with order lines, per ledger.

The feed resumes from the cursor stored per ledger; pulling by ledger date or looking up one
order or transaction lands records too but never moves the feed cursor.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from recon.config import VippsConfig, VippsLedger
from recon.errors import FatalSourceError, HttpStatusError
from recon.ingest import columnar
from recon.ingest.http import path_segment
from recon.ingest.paging import CursorPage, Getter, cursor_pages
from recon.ingest.personal import PERSONAL_FIELDS
from recon.ingest.records import EncodedPage, Parsed, Progress, land_page
from recon.ingest.validation import ISO_4217, BadValue, boolean, currency, ident, text, timestamp, vat_rate_bp
from recon.lake.landing import Landing, canonical_json, canonical_json_plain, content_hash
from recon.lake.store import Lake
from recon.money import MoneyError, minor_int
from recon.timeutil import business_date

log = logging.getLogger("recon.vipps")
T = TypeVar("T")

ENTRY_TYPES = {"capture": 1, "refund": -1}
LEDGERS_PATH = "/sales/report/v1/ledgers"
REPORT_LEDGERS_PATH = "/settlement/v1/ledgers"  # the Report API's list of the ledgers we may read
# A ledger found by `ledgers = "auto"` keeps its business dates in its currency's zone.
CURRENCY_ZONES = {"SEK": "Europe/Stockholm", "DKK": "Europe/Copenhagen", "EUR": "Europe/Helsinki"}


def _handle(value: Any, where: str) -> tuple[str | None, str | None]:
    if value is None:
        return None, None
    if not isinstance(value, dict):
        raise BadValue("bad_shape", f"{where} is not an object")
    return (text(value.get("scheme"), f"{where}.scheme", max_len=100),
            ident(value.get("id"), f"{where}.id", required=False))


def normalise_ledger(record: Any, raw: str, listed: date) -> Parsed:
    """One granted ledger of the Report API's ledger list."""
    if not isinstance(record, dict):
        raise BadValue("bad_shape", "ledger is not a JSON object")
    payout_scheme, payout_id = _handle(record.get("payoutBankAccount"), "payoutBankAccount")
    owner_scheme, owner_id = _handle(record.get("owner"), "owner")
    return Parsed("vipps_ledgers", {
        "ledger_id": ident(record.get("ledgerId"), "ledgerId"), "currency": currency(record.get("currency")),
        "payout_account_scheme": payout_scheme, "payout_account_id": payout_id,
        "owner_scheme": owner_scheme, "owner_id": owner_id,
        "recipient_handles": canonical_json(record.get("settlesForRecipientHandles") or []),
        "sales_units": canonical_json(record.get("salesUnits") or []), "listed_date": listed,
    })


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


# The common entry, checked cheaply (ingest speed depends on it): exactly what the full checks in
# normalise_entry would accept and return, or None to let them decide (and word the error).
_LIMIT = 2**62  # _amount's fast branch
_SIGNED = {"capture": 1, "refund": -1}
_QUANTITIES = {q: Decimal(q) for q in range(1, 1001)}
_NONE = type(None)
_TEXT = {str, _NONE}  # a text field that is absent or a string
_INT = {int, _NONE}
_FLAG = {bool, _NONE}


def _ascii(*values: str | None) -> bool:
    """Every string among ``values`` is ASCII (then its length is its size in characters)."""
    return "".join(v for v in values if v is not None).isascii()


def _in_range(*values: int | None) -> bool:
    numbers = [v for v in values if v is not None]
    return not numbers or (min(numbers) > -_LIMIT and max(numbers) < _LIMIT)


def _fast_entry(record: Any, ledger: VippsLedger) -> Parsed | None:
    if type(record) is not dict:
        return None
    get = record.get
    entry_type = get("entryType")
    when = get("time")
    psp = get("pspReference")
    reference = get("reference")
    cur = get("currency")
    amounts = get("amounts")
    classification = get("classification")
    completeness = get("completeness")
    lines = get("lines")
    if (type(entry_type) is not str or entry_type not in _SIGNED
            or type(when) is not str or len(when) != 20 or when[10] != "T" or when[19] != "Z"
            or type(psp) is not str or not psp or type(reference) is not str or not reference
            or type(cur) is not str or cur not in ISO_4217 or type(amounts) is not dict
            or type(classification) is not dict or type(completeness) is not dict or type(lines) is not list
            or get("orderDate") is not None):
        return None
    sign = _SIGNED[entry_type]
    payment_type = get("paymentType")
    solution = classification.get("solution")
    sales_category = classification.get("salesCategory")
    gross, net, vat = amounts.get("gross"), amounts.get("net"), amounts.get("vat")
    has_lines = completeness.get("hasLineItems")
    has_vat = completeness.get("hasVatBreakdown")
    has_customer = completeness.get("hasCustomerIdentity")
    if not ({type(payment_type), type(solution), type(sales_category)} <= _TEXT
            and {type(gross), type(net), type(vat)} <= _INT
            and {type(has_lines), type(has_vat), type(has_customer)} <= _FLAG
            and _ascii(psp, reference, payment_type, solution, sales_category)
            and len(psp) <= 200 and len(reference) <= 200 and (payment_type is None or len(payment_type) <= 100)
            and (solution is None or len(solution) <= 100) and (sales_category is None or len(sales_category) <= 200)
            and _in_range(gross, net, vat)):
        return None
    try:
        ts = datetime.fromisoformat(when)
    except ValueError:
        return None
    if not 1970 <= ts.year <= 2200:
        return None
    key = f"{ledger.ledger_id}:{psp}"
    day = business_date(ts, ledger.timezone)
    ledger_id = ledger.ledger_id
    if sign < 0:
        # Refunds land negative whatever sign the API sent (sign * abs, as _amount does).
        gross, net, vat = (None if v is None else -abs(v) for v in (gross, net, vat))
    elif (gross or 0) < 0 or (net or 0) < 0 or (vat or 0) < 0:
        gross, net, vat = (None if v is None else abs(v) for v in (gross, net, vat))
    row = {
        "entry_key": key, "ledger_id": ledger_id, "entry_type": entry_type, "time": ts,
        "order_date": None, "psp_reference": psp, "reference": reference, "currency": cur,
        "payment_type": payment_type, "solution": solution, "sales_category": sales_category,
        "gross": gross, "net": net, "vat": vat,
        "line_count": len(lines), "has_line_items": has_lines, "has_vat_breakdown": has_vat,
        "has_customer_identity": has_customer, "business_tz": ledger.timezone, "business_date": day,
    }
    children = []
    for i, line in enumerate(lines):
        if type(line) is not dict:
            return None
        lget = line.get
        line_id = lget("lineId")
        name = lget("name")
        quantity = lget("quantity")
        rate = lget("vatRate")
        category = lget("category")
        amounts6: tuple[Any, ...] = (lget("unitPriceGross"), lget("unitPriceNet"), lget("discountTotal"),
                                     lget("lineTotalGross"), lget("lineTotalNet"), lget("vatAmount"))
        if not ({type(line_id), type(name), type(category)} <= _TEXT
                and _ascii(line_id, name, category)
                and (line_id is None or len(line_id) <= 200) and (name is None or len(name) <= 2000)
                and (category is None or len(category) <= 200)
                and (quantity is None or (type(quantity) is int and quantity in _QUANTITIES))
                and (rate is None or (type(rate) is int and 0 <= rate <= 10_000))
                and set(map(type, amounts6)) <= _INT and _in_range(*amounts6)):
            return None
        if sign < 0:
            amounts6 = tuple(None if v is None else -abs(v) for v in amounts6)
        elif any(v is not None and v < 0 for v in amounts6):
            amounts6 = tuple(None if v is None else abs(v) for v in amounts6)
        upg, upn, disc, ltg, ltn, vat_amount = amounts6
        children.append(({
            "entry_key": key, "ledger_id": ledger_id, "psp_reference": psp, "reference": reference,
            "entry_type": entry_type, "currency": cur, "line_no": i + 1,
            "line_id": line_id or None, "name": name,
            "quantity": None if quantity is None else _QUANTITIES[quantity],
            "unit_price_gross": upg, "unit_price_net": upn, "discount_total": disc,
            "line_total_gross": ltg, "line_total_net": ltn,
            "vat_rate_bp": None if rate is None else rate * 100 if rate <= 100 else rate,
            "vat_amount": vat_amount, "category": category, "business_date": day,
        }, line))
    return Parsed("vipps_sales_entries", row, {"vipps_sales_lines": children} if children else {})


def normalise_entry(record: Any, raw: str, ledger: VippsLedger) -> Parsed:
    fast = _fast_entry(record, ledger)
    if fast is not None:
        return fast
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


# --- a whole page of plain entries, column by column (recon.ingest.columnar) --------------------

_S, _I, _B = pa.string(), pa.int64(), pa.bool_()
_LINE = pa.struct([("lineId", _S), ("name", _S), ("quantity", _I), ("unitPriceGross", _I), ("unitPriceNet", _I),
                   ("discountTotal", _I), ("lineTotalGross", _I), ("lineTotalNet", _I), ("vatRate", _I),
                   ("vatAmount", _I), ("category", _S)])
_ENTRY = pa.struct([
    ("entryType", _S), ("time", _S), ("orderDate", _S), ("pspReference", _S), ("reference", _S), ("currency", _S),
    ("paymentType", _S), ("classification", pa.struct([("solution", _S), ("salesCategory", _S)])),
    ("amounts", pa.struct([("gross", _I), ("net", _I), ("vat", _I)])), ("lines", pa.list_(_LINE)),
    ("completeness", pa.struct([("hasLineItems", _B), ("hasVatBreakdown", _B), ("hasCustomerIdentity", _B)])),
])
_LINE_AMOUNTS = ("unitPriceGross", "unitPriceNet", "discountTotal", "lineTotalGross", "lineTotalNet", "vatAmount")
_KNOWN_TYPES = pa.array(sorted(_SIGNED))
_CURRENCIES = pa.array(sorted(ISO_4217))
_UTC_SECONDS = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"  # _fast_entry's 20-character time


def _objects(records: list[Any]) -> bool:
    """Every record, and each of its parts read as an object, is a JSON object (pyarrow would read
    a JSON array there as the object's fields in order) and its lines a list."""
    for record in records:
        if type(record) is not dict:
            return False
        get = record.get
        if (type(get("amounts")) is not dict or type(get("classification")) is not dict
                or type(get("completeness")) is not dict):
            return False
        lines = get("lines")
        if type(lines) is not list or any(type(line) is not dict for line in lines):
            return False
    return True


def land_sales_page(landing: Landing, page: EncodedPage, ledger: VippsLedger) -> bool:
    """The page's entries and lines as ``normalise_entry`` lands them, built column-wise; False
    (nothing landed) unless every entry takes ``_fast_entry``'s branch."""
    records = page.records
    if not _objects(records):
        return False
    entries = columnar.to_arrow(records, _ENTRY)
    if entries is None:
        return False
    field = entries.field
    entry_type, psp, reference, cur = field("entryType"), field("pspReference"), field("reference"), field("currency")
    classification, amounts, completeness = field("classification"), field("amounts"), field("completeness")
    lines = field("lines")
    flat = lines.flatten()
    n, m = len(entries), len(flat)
    money_limit = _LIMIT - 1
    if not (columnar.all_true(pc.is_in(entry_type, value_set=_KNOWN_TYPES))
            and columnar.all_true(pc.is_in(cur, value_set=_CURRENCIES))
            and field("orderDate").null_count == n
            and columnar.plain_text(psp, 200, required=True) and columnar.plain_text(reference, 200, required=True)
            and columnar.plain_text(field("paymentType"), 100)
            and columnar.plain_text(classification.field("solution"), 100)
            and columnar.plain_text(classification.field("salesCategory"), 200)
            and all(columnar.within(amounts.field(k), -money_limit, money_limit) for k in ("gross", "net", "vat"))):
        return False
    # The column checks fail a column of no values: a page where no entry has lines has nothing to check.
    if m and not (columnar.plain_text(flat.field("lineId"), 200) and columnar.plain_text(flat.field("name"), 2000)
                  and columnar.plain_text(flat.field("category"), 200)
                  and columnar.within(flat.field("quantity"), 1, 1000)
                  and columnar.within(flat.field("vatRate"), 0, 10_000)
                  and all(columnar.within(flat.field(k), -money_limit, money_limit) for k in _LINE_AMOUNTS)):
        return False
    times = columnar.utc_times(field("time"), _UTC_SECONDS)
    if times is None:
        return False
    days = columnar.business_dates(times, ledger.timezone)
    if days is None:
        return False
    parents = pc.list_parent_indices(lines)
    starts = pc.cast(lines.offsets[:-1], pa.int64())
    entry_seqs, line_seqs = columnar.family_seqs(lines, landing.reserve_rows(n + m))
    entry_ids, line_ids = landing.row_ids(entry_seqs), landing.row_ids(line_seqs)
    refund = pc.equal(entry_type, "refund")
    line_refund = pc.take(refund, parents)

    def signed(values: pa.Array, negative: pa.Array) -> pa.Array:
        magnitude = pc.abs(values)
        return pc.if_else(negative, pc.negate(magnitude), magnitude)

    key = pc.binary_join_element_wise(ledger.ledger_id, psp, ":")
    ledger_id = columnar.constant(ledger.ledger_id, _S, n)
    tz = columnar.constant(ledger.timezone, _S, n)
    landing.add_columns("vipps_sales_entries", {
        "entry_key": key, "ledger_id": ledger_id, "entry_type": entry_type, "time": times,
        "order_date": pa.nulls(n, times.type), "psp_reference": psp, "reference": reference, "currency": cur,
        "payment_type": field("paymentType"), "solution": classification.field("solution"),
        "sales_category": classification.field("salesCategory"),
        "gross": signed(amounts.field("gross"), refund), "net": signed(amounts.field("net"), refund),
        "vat": signed(amounts.field("vat"), refund), "line_count": pc.cast(pc.list_value_length(lines), _I),
        "has_line_items": completeness.field("hasLineItems"),
        "has_vat_breakdown": completeness.field("hasVatBreakdown"),
        "has_customer_identity": completeness.field("hasCustomerIdentity"), "business_tz": tz,
        "business_date": days, "_row_id": entry_ids, "_hash": columnar.digests(page.identities),
        "_raw": columnar.texts(page.raws),
    })
    if not m:
        return True
    encoded = [canonical_json_plain(line) for record in records for line in record["lines"]]
    line_json = [raw for raw in encoded if raw is not None]
    assert len(line_json) == m  # parts of records that encoded plainly
    rate = flat.field("vatRate")
    landing.add_columns("vipps_sales_lines", {
        "entry_key": pc.take(key, parents), "ledger_id": columnar.constant(ledger.ledger_id, _S, m),
        "psp_reference": pc.take(psp, parents), "reference": pc.take(reference, parents),
        "entry_type": pc.take(entry_type, parents), "currency": pc.take(cur, parents),
        "line_no": pc.add(pc.subtract(pa.array(range(m), pa.int64()), pc.take(starts, parents)), 1),
        "line_id": columnar.empty_as_null(flat.field("lineId")),
        "name": flat.field("name"),
        # Through a decimal wide enough for any int64; the checked cast down is exact (1..1000).
        "quantity": pc.cast(pc.cast(flat.field("quantity"), pa.decimal128(25, 6)), pa.decimal128(18, 6)),
        "unit_price_gross": signed(flat.field("unitPriceGross"), line_refund),
        "unit_price_net": signed(flat.field("unitPriceNet"), line_refund),
        "discount_total": signed(flat.field("discountTotal"), line_refund),
        "line_total_gross": signed(flat.field("lineTotalGross"), line_refund),
        "line_total_net": signed(flat.field("lineTotalNet"), line_refund),
        "vat_rate_bp": pc.if_else(pc.less_equal(rate, 100), pc.multiply(rate, 100), rate),
        "vat_amount": signed(flat.field("vatAmount"), line_refund), "category": flat.field("category"),
        "business_date": pc.take(days, parents), "_parent_row_id": pc.take(entry_ids, parents),
        "_row_id": line_ids, "_hash": columnar.digests(line_json), "_raw": columnar.texts(line_json),
    })
    return True


# What a ledger answers when the merchant withdrew consent (404 "No such ledgerId") or our key
# lost access: that ledger fails, the others go on.
LEDGER_REFUSED = frozenset({401, 403, 404})


class LedgerScoped:
    """What the Sales and the Report API sources share: the ledgers to read (configured, or with
    ``ledgers = "auto"`` those the Report API's list grants) and per-ledger isolation."""

    name = "vipps"

    def __init__(self, cfg: VippsConfig, api: Getter, lake: Lake, flush_rows: int) -> None:
        self.cfg, self.api, self.lake, self.flush_rows = cfg, api, lake, flush_rows
        self.failed: dict[str, str] = {}  # ledger id -> why it was not read
        self._found: tuple[VippsLedger, ...] | None = None  # what the ledger list granted
        self.reading: tuple[VippsLedger, ...] = ()  # the ledgers this pull reads

    def _isolated(self, ledger: VippsLedger, work: Callable[[], T]) -> T | None:
        """Run one ledger's work; a ledger that refuses us fails alone, the others still land."""
        try:
            return work()
        except HttpStatusError as exc:
            if exc.status not in LEDGER_REFUSED:
                raise
            self.failed[ledger.ledger_id] = exc.summary
            log.error("%s: ledger %s not read (%s); the other ledgers go on", self.name, ledger.ledger_id,
                      exc.summary, extra={"event": "ledger_failed", "source": self.name,
                                          "ledger": ledger.ledger_id, "status": exc.status})
            return None

    def list_ledgers(self, landing: Landing, progress: Progress | None = None) -> tuple[VippsLedger, ...]:
        """The Report API's list of granted ledgers, landed as vipps_ledgers (a ledger whose consent
        was withdrawn is no longer listed)."""
        if self._found is None:
            found: list[VippsLedger] = []
            listed = datetime.now(UTC).date()

            def normalise(record: Any, raw: str) -> Parsed:
                parsed = normalise_ledger(record, raw, listed)
                row = parsed.row
                found.append(VippsLedger(row["ledger_id"], CURRENCY_ZONES.get(row["currency"], self.cfg.timezone)))
                return parsed

            for page in cursor_pages(self.api, REPORT_LEDGERS_PATH, {}, cursor=None):
                land_page(landing, page.items, normalise, kind="ledger", id_keys=("ledgerId",),
                          context="ledger list", progress=progress)
            landing.checkpoint()
            self._found = tuple(found)
        return self._found

    def ledgers(self, landing: Landing, progress: Progress | None = None) -> tuple[VippsLedger, ...]:
        """The configured ledgers, or with ``ledgers = "auto"`` those the ledger list grants."""
        if not self.cfg.auto_ledgers:
            self.reading = self.cfg.ledgers
            return self.reading
        found = self.list_ledgers(landing, progress)
        if not found:
            raise FatalSourceError(self.name, f"GET {REPORT_LEDGERS_PATH} lists no ledger: no merchant has "
                                              "granted this accounting key a ledger (vipps.ledgers = \"auto\")")
        log.info("%s: %d ledgers granted: %s", self.name, len(found), ", ".join(x.ledger_id for x in found))
        self.reading = found
        return found

    def finish(self) -> None:
        """Every ledger refused: the source failed as a whole."""
        if self.failed and len(self.failed) == len(self.reading):
            raise FatalSourceError(self.name, "every ledger refused: " + "; ".join(
                f"ledger {lid}: {why}" for lid, why in self.failed.items()))


class VippsSource(LedgerScoped):
    name = "vipps"

    def _land(self, landing: Landing, page: CursorPage, ledger: VippsLedger, context: str,
              progress: Progress | None) -> None:
        land_page(landing, page.items, lambda rec, raw: normalise_entry(rec, raw, ledger),
                  kind="sales_entry", id_keys=("pspReference", "reference"), context=context,
                  progress=progress, personal=PERSONAL_FIELDS["vipps"], keep_personal=self.cfg.land_pii,
                  columnar=partial(land_sales_page, ledger=ledger))

    def pull_feed(self, landing: Landing, progress: Progress | None = None) -> dict[str, Any]:
        """Each ledger's feed from its stored cursor; the cursor moves only after a checkpoint."""
        cursors: dict[str, Any] = {}
        for ledger in self.ledgers(landing, progress):
            moved = self._isolated(ledger, partial(self._pull_ledger_feed, landing, ledger, progress))
            if moved is not None:
                cursors[ledger.ledger_id] = moved
        self.finish()
        return cursors

    def _pull_ledger_feed(self, landing: Landing, ledger: VippsLedger,
                          progress: Progress | None) -> dict[str, Any]:
        state = self.lake.read_state("vipps", f"ledger-{ledger.ledger_id}") or {}
        before = state.get("cursor")
        cursor = before
        path = f"{LEDGERS_PATH}/{path_segment(ledger.ledger_id)}"
        for page in cursor_pages(self.api, path, {"pageSize": self.cfg.page_size}, cursor=before):
            self._land(landing, page, ledger, f"ledger {ledger.ledger_id} feed", progress)
            cursor = page.cursor
            if landing.due(self.flush_rows) or not page.has_more:
                landing.checkpoint()
                if cursor != state.get("cursor"):
                    state = {"cursor": cursor, "updated_at": datetime.now(UTC).isoformat(),
                             "run_id": landing.run_id}
                    self.lake.write_state(state, "vipps", f"ledger-{ledger.ledger_id}")
        return {"before": before, "after": cursor}

    def pull_dates(self, landing: Landing, days: list[date], progress: Progress | None = None) -> None:
        """All entries of the given ledger dates (re-landing is harmless: the views dedupe)."""
        def one_ledger(ledger: VippsLedger) -> None:
            for day in days:
                path = f"{LEDGERS_PATH}/{path_segment(ledger.ledger_id)}/dates/{day.isoformat()}"
                for page in cursor_pages(self.api, path, {"pageSize": self.cfg.page_size}, cursor=None):
                    self._land(landing, page, ledger, f"ledger {ledger.ledger_id} date {day}", progress)
                    if landing.due(self.flush_rows):
                        landing.checkpoint()

        for ledger in self.ledgers(landing, progress):
            self._isolated(ledger, partial(one_ledger, ledger))
        landing.checkpoint()
        self.finish()

    def lookup(self, landing: Landing, *, reference: str | None = None, psp_reference: str | None = None,
               progress: Progress | None = None) -> int:
        """One order's (``reference``) or one transaction's (``pspReference``) entries, in every ledger."""
        def one_ledger(ledger: VippsLedger) -> int:
            base = f"{LEDGERS_PATH}/{path_segment(ledger.ledger_id)}"
            path = (f"{base}/references/{path_segment(reference)}" if reference is not None
                    else f"{base}/psp-references/{path_segment(str(psp_reference))}")
            n = 0
            for page in self._lookup_pages(path):
                n += len(page.items)
                self._land(landing, page, ledger, f"ledger {ledger.ledger_id} lookup", progress)
            return n

        found = sum(self._isolated(ledger, partial(one_ledger, ledger)) or 0
                    for ledger in self.ledgers(landing, progress))
        landing.checkpoint()
        self.finish()
        return found

    def _lookup_pages(self, path: str) -> Iterator[CursorPage]:
        # The look-up envelope is undocumented: the feed's, or a bare list; no hasMore = one page.
        body = self.api.get(path, None)
        items = body.get("items") if isinstance(body, dict) else body
        has_more = isinstance(body, dict) and body.get("hasMore") is True and bool(body.get("cursor"))
        yield CursorPage(items if isinstance(items, list) else [], None, has_more)
        if has_more:
            yield from cursor_pages(self.api, path, {}, cursor=body["cursor"])
