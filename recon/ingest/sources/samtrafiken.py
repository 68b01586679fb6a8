"""Samtrafiken Bookings API: the booking event feed of one organisation code.

The contract is not published (docs/apis.md §4.2): paths and field names are configuration. Events
arrive at least once and not always in eventTime order; each keeps its position in the feed
(``feed_seq``) so that "the later in the feed" breaks eventTime ties.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from recon.config import SamtrafikenConfig
from recon.ingest.paging import Getter, cursor_pages
from recon.ingest.personal import PERSONAL_FIELDS
from recon.ingest.records import Parsed, Progress, land_page
from recon.ingest.validation import BadValue, currency, ident, text, timestamp, vat_rate_bp
from recon.lake.landing import Landing
from recon.lake.store import Lake
from recon.money import MoneyError, parse_price
from recon.timeutil import business_date

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


class SamtrafikenSource:
    name = "samtrafiken"

    def __init__(self, cfg: SamtrafikenConfig, api: Getter, lake: Lake, flush_rows: int) -> None:
        self.cfg, self.api, self.lake, self.flush_rows = cfg, api, lake, flush_rows

    def pull(self, landing: Landing, progress: Progress | None = None) -> dict[str, Any]:
        cfg = self.cfg
        state_key = ("samtrafiken", f"org-{cfg.organization_code}")
        state = self.lake.read_state(*state_key) or {}
        before = state.get("cursor")
        seq = int(state.get("seq", 0))
        cursor = before
        params = {"organizationCode": cfg.organization_code, "limit": cfg.page_size}

        def normalise(record: Any, raw: str) -> Parsed:
            nonlocal seq
            seq += 1
            return normalise_event(record, raw, cfg, seq)

        for page in cursor_pages(self.api, cfg.events_path, params, cursor=before, cursor_param="after",
                                 items_key="events", cursor_key="nextCursor"):
            land_page(landing, page.items, normalise, kind="booking_event", id_keys=("eventId", "bookingId"),
                      context=f"organization {cfg.organization_code}", progress=progress,
                      personal=PERSONAL_FIELDS[self.name], keep_personal=cfg.land_pii)
            cursor = page.cursor
            if landing.pending >= self.flush_rows or not page.has_more:
                landing.checkpoint()
                if cursor != state.get("cursor") or seq != state.get("seq", 0):
                    state = {"cursor": cursor, "seq": seq, "run_id": landing.run_id,
                             "updated_at": datetime.now(UTC).isoformat()}
                    self.lake.write_state(state, *state_key)
        return {"before": before, "after": cursor}

