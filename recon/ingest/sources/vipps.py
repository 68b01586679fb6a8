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

from recon.config import VippsConfig, VippsLedger
from recon.errors import FatalSourceError, HttpStatusError
from recon.ingest.http import path_segment
from recon.ingest.paging import CursorPage, Getter, cursor_pages
from recon.ingest.personal import PERSONAL_FIELDS
from recon.ingest.records import Parsed, Progress, land_page
from recon.ingest.validation import BadValue, boolean, currency, ident, text, timestamp, vat_rate_bp
from recon.lake.landing import Landing, canonical_json, content_hash
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
                  progress=progress, personal=PERSONAL_FIELDS["vipps"], keep_personal=self.cfg.land_pii)

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
            if landing.pending >= self.flush_rows or not page.has_more:
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
                    if landing.pending >= self.flush_rows:
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
