"""Vipps Report API: where the money went. Per ledger the funds feed (captures, refunds, fees
retained, payouts, running balances) and the fees feed (docs/apis.md §2).

The feed has no ``hasMore`` and its cursor never empties: the end is the same cursor coming back
with ``tryLater``. Each ledger and topic resumes from its own stored cursor, together with the
feed position the next entry will have, so positions stay the same when a pull is repeated.
A by-date pull (``--date``) lands entries too but never moves the cursors; it records per date
whether the date was still open (``tryLater``).

Entries have no id of their own: ``entry_key`` hashes the fields that identify one (the ledger,
topic, pspReference, entry type, ledger date, amount, currency and both balances; the data is
immutable, a fix is a new ``correction`` entry), so an entry landed twice lands under one key.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from recon.config import VippsLedger, VippsReportConfig
from recon.errors import HttpStatusError, SourceError
from recon.ingest import columnar
from recon.ingest.http import path_segment
from recon.ingest.paging import Getter, cursor_pages
from recon.ingest.personal import PERSONAL_FIELDS
from recon.ingest.records import EncodedPage, Parsed, Progress, land_page, without_repeats
from recon.ingest.sources.vipps import LedgerScoped, entry_type_of
from recon.ingest.validation import ISO_4217, BadValue, currency, ident, integer, text, timestamp
from recon.lake.landing import Landing, canonical_json, canonical_json_bytes
from recon.lake.store import Lake
from recon.timeutil import business_date

log = logging.getLogger("recon.vipps_report")

REPORT_PATH = "/report/v2/ledgers"
TABLE = {"funds": "vipps_funds_entries", "fees": "vipps_fees_entries"}
# The documented entry types (an open set: others land as sent and are booked by their sign).
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
    values = [ledger.ledger_id, topic, psp, entry_type, day.isoformat(), amount, cur, before, after]
    identity = canonical_json_bytes(values) or canonical_json(values).encode()
    key = f"{ledger.ledger_id}:{hashlib.sha256(identity).hexdigest()[:32]}"
    unknown = () if entry_type in KNOWN_TYPES[topic] else (f"{topic} entryType {raw_type!r}",)
    return Parsed(TABLE[topic], {
        "entry_key": key, "ledger_id": ledger.ledger_id, "entry_type": entry_type, "psp_reference": psp,
        "reference": ident(record.get("reference"), "reference", required=False), "time": ts,
        "ledger_date": day, "currency": cur, "amount": amount, "balance_before": before, "balance_after": after,
        "recipient_handle": text(record.get("recipientHandle"), "recipientHandle", max_len=200),
        "feed_seq": at.feed_seq, "date_seq": at.date_seq, "feed_cursor": at.cursor,
        "business_tz": ledger.timezone, "business_date": business_date(ts, ledger.timezone),
    }, unknown=unknown)


# --- a whole page of plain entries, column by column (recon.ingest.columnar) --------------------

_S, _I = pa.string(), pa.int64()
_ENTRY = pa.struct([("entryType", _S), ("time", _S), ("ledgerDate", _S), ("amount", _I), ("balanceBefore", _I),
                    ("balanceAfter", _I), ("pspReference", _S), ("reference", _S), ("currency", _S),
                    ("recipientHandle", _S)])
_CURRENCIES = pa.array(sorted(ISO_4217))
_KNOWN = {topic: pa.array(sorted(types)) for topic, types in KNOWN_TYPES.items()}
_UTC_TIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{6})?Z$"
_INT64 = 2**63 - 1  # validation.integer's bound


def land_report_page(landing: Landing, page: EncodedPage, ledger: VippsLedger, topic: str,
                     positions: list[Position]) -> bool:
    """The page's entries as ``normalise_report_entry`` lands them, built column-wise; False
    (nothing landed) unless every entry is plain: an object, a known entry type in ASCII, a UTC
    time, integer amounts and balances, a YYYY-MM-DD ledger date or none."""
    records = page.records
    if any(type(record) is not dict for record in records):
        return False  # pyarrow would read a JSON array as an object's fields in order
    entries = columnar.to_arrow(records, _ENTRY)
    if entries is None:
        return False
    field = entries.field
    raw_type = field("entryType")
    cur = field("currency")
    if not (columnar.plain_text(raw_type, 100, required=True) and columnar.all_true(pc.string_is_ascii(raw_type))
            and columnar.all_true(pc.is_in(cur, value_set=_CURRENCIES))
            and all(columnar.within(field(k), -_INT64, _INT64, required=True)
                    for k in ("amount", "balanceBefore", "balanceAfter"))
            and columnar.plain_text(field("pspReference"), 200) and columnar.plain_text(field("reference"), 200)
            and columnar.plain_text(field("recipientHandle"), 200)):
        return False
    entry_type = pc.ascii_lower(raw_type)
    if not columnar.all_true(pc.is_in(entry_type, value_set=_KNOWN[topic])):
        return False  # an unknown type is counted and warned about: the per-record path does that
    times = columnar.utc_times(field("time"), _UTC_TIME)
    if times is None:
        return False
    business = columnar.business_dates(times, ledger.timezone)
    sent_days = columnar.iso_dates(field("ledgerDate"))
    if business is None or sent_days is None:
        return False
    days = pc.if_else(pc.is_null(sent_days), business, sent_days)
    psp = columnar.empty_as_null(field("pspReference"))
    amount, before, after = field("amount"), field("balanceBefore"), field("balanceAfter")
    keys = []
    for identity in zip(psp.to_pylist(), entry_type.to_pylist(), pc.cast(days, _S).to_pylist(), amount.to_pylist(),
                        cur.to_pylist(), before.to_pylist(), after.to_pylist(), strict=True):
        encoded = canonical_json_bytes([ledger.ledger_id, topic, *identity])
        if encoded is None:
            return False
        keys.append(f"{ledger.ledger_id}:{hashlib.sha256(encoded).hexdigest()[:32]}")
    n = len(entries)
    base = landing.reserve_rows(n)
    landing.add_columns(TABLE[topic], {
        "entry_key": pa.array(keys, _S), "ledger_id": columnar.constant(ledger.ledger_id, _S, n),
        "entry_type": entry_type, "psp_reference": psp, "reference": columnar.empty_as_null(field("reference")),
        "time": times, "ledger_date": days, "currency": cur, "amount": amount, "balance_before": before,
        "balance_after": after, "recipient_handle": field("recipientHandle"),
        "feed_seq": pa.array([at.feed_seq for at in positions], _I),
        "date_seq": pa.array([at.date_seq for at in positions], _I),
        "feed_cursor": pa.array([at.cursor for at in positions], _S),
        "business_tz": columnar.constant(ledger.timezone, _S, n), "business_date": business,
        "_row_id": landing.row_ids(pa.array(range(base + 1, base + n + 1), _I)),
        "_hash": columnar.digests(page.identities), "_raw": columnar.texts(page.raws),
    })
    return True


class VippsReportSource(LedgerScoped):
    name = "vipps_report"

    def __init__(self, cfg: VippsReportConfig, api: Getter, lake: Lake, flush_rows: int) -> None:
        super().__init__(cfg.vipps, api, lake, flush_rows)
        self.topics = cfg.topics
        self.land_pii = cfg.land_pii
        # Personal data is asked for only where it is to be kept; unasked, it is removed all the
        # same should a server send it (recon.ingest.personal).
        self.params = {"includeGDPRSensitiveData": "true"} if cfg.land_pii else {}
        self.open_dates: dict[str, dict[str, list[str]]] = {}  # ledger -> topic -> dates still open

    def _ledgers(self, landing: Landing, progress: Progress | None) -> tuple[VippsLedger, ...]:
        # The ledger list is the Report API's own: landed on every pull (the Settlement sheet shows
        # each ledger's payout account from it), and with ledgers = "auto" it decides what is read.
        if not self.cfg.auto_ledgers:
            try:
                self.list_ledgers(landing, progress)
            except SourceError as exc:
                # Only the Settlement sheet's payout account needs it: the configured ledgers are read.
                log.warning("%s: the ledger list could not be read (%s); reading the configured ledgers", self.name,
                            exc, extra={"event": "ledger_list_failed", "source": self.name})
        return self.ledgers(landing, progress)

    def _land(self, landing: Landing, items: list[Any], ledger: VippsLedger, topic: str,
              positions: list[Position], context: str, progress: Progress | None) -> None:
        where = iter(positions)
        land_page(landing, items, lambda rec, raw: normalise_report_entry(rec, raw, ledger, topic, next(where)),
                  kind=f"{topic}_entry", id_keys=("pspReference", "reference"), context=context,
                  progress=progress, personal=PERSONAL_FIELDS[self.name], keep_personal=self.land_pii,
                  columnar=partial(land_report_page, ledger=ledger, topic=topic, positions=positions))

    def pull_feed(self, landing: Landing, progress: Progress | None = None) -> dict[str, Any]:
        """Each ledger's feeds from their stored cursors; a cursor moves only after a checkpoint."""
        cursors: dict[str, Any] = {}
        for ledger in self._ledgers(landing, progress):
            moved = self._isolated(ledger, partial(self._pull_ledger, landing, ledger, progress))
            for topic, cursor in (moved or {}).items():
                cursors[f"{ledger.ledger_id} {topic}"] = cursor
        self.finish()
        return cursors

    def _pull_ledger(self, landing: Landing, ledger: VippsLedger, progress: Progress | None) -> dict[str, Any]:
        return {topic: self._pull_topic(landing, ledger, topic, progress) for topic in self.topics}

    def _pull_topic(self, landing: Landing, ledger: VippsLedger, topic: str,
                    progress: Progress | None) -> dict[str, Any]:
        name = f"{topic}-{ledger.ledger_id}"
        state = self.lake.read_state(self.name, name) or {}
        before, seq = state.get("cursor"), int(state.get("next_seq", 0))
        cursor, last = before, None
        path = f"{REPORT_PATH}/{path_segment(ledger.ledger_id)}/{topic}/feed"
        for page in cursor_pages(self.api, path, self.params, cursor=before):
            items, last = without_repeats(page.items, last)
            positions = [Position(feed_seq=seq + i, cursor=cursor) for i in range(len(items))]
            self._land(landing, items, ledger, topic, positions, f"ledger {ledger.ledger_id} {topic} feed", progress)
            seq += len(items)
            cursor = page.cursor
            if landing.due(self.flush_rows) or not page.has_more:
                landing.checkpoint()
                if cursor != state.get("cursor") or seq != state.get("next_seq"):
                    state = {"cursor": cursor, "next_seq": seq, "updated_at": datetime.now(UTC).isoformat(),
                             "run_id": landing.run_id}
                    self.lake.write_state(state, self.name, name)
        return {"before": before, "after": cursor, "next_seq": seq}

    def pull_dates(self, landing: Landing, days: list[date], progress: Progress | None = None) -> dict[str, Any]:
        """Every entry of the given ledger dates; a date the API still calls open (tryLater) is
        recorded as such, so that it is pulled again once closed."""
        def one_ledger(ledger: VippsLedger) -> None:
            for topic in self.topics:
                for day in days:
                    if self._pull_date(landing, ledger, topic, day, progress):
                        self.open_dates.setdefault(ledger.ledger_id, {}).setdefault(topic, []).append(day.isoformat())
                        log.info("%s: ledger %s %s %s is still open (tryLater): pull it again once closed",
                                 self.name, ledger.ledger_id, topic, day,
                                 extra={"event": "date_open", "source": self.name, "ledger": ledger.ledger_id,
                                        "topic": topic, "ledger_date": day.isoformat()})

        for ledger in self._ledgers(landing, progress):
            self._isolated(ledger, partial(one_ledger, ledger))
        landing.checkpoint()
        self._record_dates(days)
        self.finish()
        return {"open_dates": self.open_dates}

    def _pull_date(self, landing: Landing, ledger: VippsLedger, topic: str, day: date,
                   progress: Progress | None) -> bool:
        path = f"{REPORT_PATH}/{path_segment(ledger.ledger_id)}/{topic}/dates/{day.isoformat()}"
        n, still_open, last = 0, False, None
        try:
            for page in cursor_pages(self.api, path, self.params, cursor=None, try_later_ends=False):
                items, last = without_repeats(page.items, last)
                positions = [Position(date_seq=n + i) for i in range(len(items))]
                self._land(landing, items, ledger, topic, positions, f"ledger {ledger.ledger_id} {topic} {day}",
                           progress)
                n += len(items)
                still_open = still_open or page.try_later
                if landing.due(self.flush_rows):
                    landing.checkpoint()
        except HttpStatusError as exc:
            # The older spec answered a date not ready yet with 404; a refused ledger says so.
            if exc.status != 404 or n or "no such ledger" in exc.summary.lower():
                raise
            log.info("%s: %s answered 404 (%s): read as a date not ready yet", self.name, path, exc.summary)
            return True
        return still_open

    def _record_dates(self, days: list[date]) -> None:
        """``_state/vipps_report/dates.json``: per ledger, topic and date, open or closed when last pulled."""
        known = self.lake.read_state(self.name, "dates") or {}
        for ledger in self.reading:
            if ledger.ledger_id in self.failed:
                continue
            for topic in self.topics:
                still_open = set(self.open_dates.get(ledger.ledger_id, {}).get(topic, []))
                slot = known.setdefault(ledger.ledger_id, {}).setdefault(topic, {})
                for day in days:
                    slot[day.isoformat()] = "open" if day.isoformat() in still_open else "closed"
        self.lake.write_state(known, self.name, "dates")
