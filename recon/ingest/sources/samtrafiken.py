"""Samtrafiken Bookings API: the booking event feed of one organisation code.

The contract is not published (docs/apis.md §4.2): paths and field names are configuration. Events
arrive at least once and not always in eventTime order; each keeps its position in the feed
(``feed_seq``) so that "the later in the feed" breaks eventTime ties.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from recon.config import SamtrafikenConfig
from recon.ingest import columnar
from recon.ingest.paging import Getter, cursor_pages
from recon.ingest.personal import PERSONAL_FIELDS
from recon.ingest.records import EncodedPage, Parsed, Progress, land_page, without_repeats
from recon.ingest.validation import ISO_4217, BadValue, currency, ident, text, timestamp, vat_rate_bp
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


# --- a whole page of plain events, column by column (recon.ingest.columnar) ---------------------

_S, _I = pa.string(), pa.int64()
# Ids and prices come as numbers or as text: each page types them by their first value (first_kinds).
_PRICES = ("totalPrice", "refundAmount", "cancellationFee")
_EVENT_VARIED = ("eventId", "bookingId", "bookingNumber", "organizationCode", "producer", *_PRICES)
_EVENT = {"eventTime": _S, "status": _S, "currency": _S}
_CURRENCIES = pa.array(sorted(ISO_4217))
_STATUSES = pa.array(sorted(STATUSES))


def _vat_lists(records: list[Any]) -> bool:
    """Every record and VAT item is an object, every VAT list a list or absent, and every item has
    a ``rate`` (one with only a ``percentage`` goes the per-record way)."""
    for record in records:
        if type(record) is not dict:
            return False
        items = record.get("vat")
        if items is not None and (type(items) is not list
                                  or any(type(item) is not dict or "rate" not in item for item in items)):
            return False
    return True


def _vat_json(lists: pa.Array) -> pa.Array | None:
    """``_vat`` of each event's VAT list (a null one is ``[]``), or None."""
    items = lists.flatten()
    rates = columnar.rate_bp(items.field("rate"))
    amounts = columnar.minor_units(items.field("amount"), empty_is_none=True)
    if rates is None or amounts is None:
        return None

    def number(values: pa.Array) -> pa.Array:
        return pc.fill_null(pc.cast(values, _S), "null")

    texts = pc.binary_join_element_wise('{"rate_bp":', number(rates), ',"amount":', number(amounts), "}", "")
    offsets = pc.subtract(lists.offsets, lists.offsets[0])
    joined = pc.binary_join(pa.ListArray.from_arrays(offsets, texts), ",")
    return pc.binary_join_element_wise("[", joined, "]", "")


def land_event_page(landing: Landing, page: EncodedPage, cfg: SamtrafikenConfig, first_seq: int) -> bool:
    """The page's events as ``normalise_event`` lands them (``feed_seq`` from ``first_seq`` on),
    built column-wise; False (nothing landed) unless every event is one it takes as sent, in a
    status it knows."""
    records = page.records
    ref_field = cfg.retailer_reference_field
    refs = (ref_field, "externalReference") if ref_field == "retailerReference" else (ref_field,)
    if not records or ref_field in _EVENT or ref_field == "vat" or not _vat_lists(records):
        return False
    varied = columnar.first_kinds(records, dict.fromkeys((*_EVENT_VARIED, *refs)))
    item_kinds = columnar.first_kinds((item for record in records for item in record.get("vat") or ()),
                                      ("rate", "amount"))
    if varied is None or item_kinds is None:
        return False
    events = columnar.to_arrow(records, pa.struct([*varied.items(), *_EVENT.items(),
                                                   ("vat", pa.list_(pa.struct(list(item_kinds.items()))))]))
    if events is None:
        return False
    field = events.field
    status = columnar.ascii_upper(field("status"), 50)  # a missing or empty one is no known status
    if status is None or not columnar.all_true(pc.is_in(status, value_set=_STATUSES)):
        return False  # a status recon does not know is counted and warned about: the per-record path does that
    event_time = columnar.iso_utc_times(field("eventTime"))
    prices = [columnar.minor_units(field(name), empty_is_none=True) for name in _PRICES]
    references = [columnar.idents(field(name)) for name in refs]
    if event_time is None or any(p is None for p in prices) or any(r is None for r in references):
        return False
    reference = references[0]
    if len(refs) > 1:  # externalReference only where retailerReference is absent
        reference = pc.if_else(pc.is_valid(field(refs[0])), references[0], references[1])
    cur = field("currency")
    priced = pc.or_(pc.or_(pc.is_valid(prices[0]), pc.is_valid(prices[1])), pc.is_valid(prices[2]))
    needed = pc.or_(priced, pc.fill_null(pc.not_equal(cur, ""), False))
    if not columnar.all_true(pc.or_(pc.invert(needed), pc.fill_null(pc.is_in(cur, value_set=_CURRENCIES), False))):
        return False
    row = {
        "event_id": columnar.idents(field("eventId"), required=True), "event_time": event_time,
        "booking_id": columnar.idents(field("bookingId"), required=True),
        "booking_number": columnar.idents(field("bookingNumber")), "status": status,
        "organization_code": columnar.idents(field("organizationCode")), "producer": columnar.idents(field("producer")),
        "retailer_reference": reference, "currency": pc.if_else(needed, cur, pa.scalar(None, _S)),
        "total_price": prices[0], "refund_amount": prices[1], "cancellation_fee": prices[2],
        "vat_json": _vat_json(field("vat")), "business_date": columnar.business_dates(event_time, cfg.timezone),
    }
    if any(column is None for column in row.values()):
        return False
    n = len(records)
    base = landing.reserve_rows(n)
    landing.add_columns("samtrafiken_booking_events", {
        **row, "feed_seq": pa.array(range(first_seq, first_seq + n), _I),
        "_row_id": landing.row_ids(pa.array(range(base + 1, base + n + 1), _I)),
        "_hash": columnar.digests(page.identities), "_raw": columnar.texts(page.raws),
    })
    return True


class Feed:
    """The events of one feed landed either way (record by record, or a whole page column-wise),
    each numbered by its place in the feed: the next one read is ``seq + 1``."""

    def __init__(self, cfg: SamtrafikenConfig, seq: int) -> None:
        self.cfg, self.seq = cfg, seq

    def normalise(self, record: Any, raw: str) -> Parsed:
        self.seq += 1
        return normalise_event(record, raw, self.cfg, self.seq)

    def land_columns(self, landing: Landing, page: EncodedPage) -> bool:
        if not land_event_page(landing, page, self.cfg, self.seq + 1):
            return False
        self.seq += len(page.records)
        return True


class SamtrafikenSource:
    name = "samtrafiken"

    def __init__(self, cfg: SamtrafikenConfig, api: Getter, lake: Lake, flush_rows: int) -> None:
        self.cfg, self.api, self.lake, self.flush_rows = cfg, api, lake, flush_rows

    def pull(self, landing: Landing, progress: Progress | None = None) -> dict[str, Any]:
        cfg = self.cfg
        state_key = ("samtrafiken", f"org-{cfg.organization_code}")
        state = self.lake.read_state(*state_key) or {}
        before = state.get("cursor")
        feed = Feed(cfg, int(state.get("seq", 0)))
        cursor, last = before, None
        params = {"organizationCode": cfg.organization_code, "limit": cfg.page_size}

        for page in cursor_pages(self.api, cfg.events_path, params, cursor=before, cursor_param="after",
                                 items_key="events", cursor_key="nextCursor"):
            items, last = without_repeats(page.items, last)
            land_page(landing, items, feed.normalise, kind="booking_event", id_keys=("eventId", "bookingId"),
                      context=f"organization {cfg.organization_code}", progress=progress,
                      personal=PERSONAL_FIELDS[self.name], keep_personal=cfg.land_pii, columnar=feed.land_columns)
            cursor = page.cursor
            if landing.due(self.flush_rows) or not page.has_more:
                landing.checkpoint()
                if cursor != state.get("cursor") or feed.seq != state.get("seq", 0):
                    state = {"cursor": cursor, "seq": feed.seq, "run_id": landing.run_id,
                             "updated_at": datetime.now(UTC).isoformat()}
                    self.lake.write_state(state, *state_key)
        return {"before": before, "after": cursor}

