"""What every source shares: turning one page of raw records into landed rows or quarantine."""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from recon.ingest.http import TooDeep
from recon.ingest.personal import strip_personal
from recon.ingest.validation import BadValue
from recon.lake.landing import (
    Landing,
    canonical_json,
    canonical_json_bytes,
    canonical_json_plain,
    content_hash_bytes,
)
from recon.money import MoneyError


@dataclass
class Parsed:
    """One valid record: its row, and the rows of its children (order lines, transactions)."""

    table: str
    row: dict[str, Any]
    children: dict[str, list[tuple[dict[str, Any], Any]]] = field(default_factory=dict)  # (row, raw item)
    # Values the APIs added that recon does not know (an entry type, a status): the record lands,
    # takes no part in matching, and is counted and warned about, e.g. "entryType 'chargeback'".
    unknown: tuple[str, ...] = ()


Normaliser = Callable[[Any, str], Parsed]


@dataclass
class EncodedPage:
    """A page whose records are all plain JSON (no Decimal, no TooDeep, valid UTF-8) and shallow."""

    records: list[Any]  # as kept: personal fields removed unless keep_personal
    identities: list[bytes]  # canonical JSON without the personal fields: what _hash is of
    raws: list[bytes]  # canonical JSON as kept: _raw


# Lands a whole EncodedPage column-wise and returns True, or returns False (having landed nothing)
# for the page to take the per-record path.
PageLander = Callable[[Landing, EncodedPage], bool]


@dataclass
class Progress:
    """Counters a source reports while it pulls (the CLI shows them; tests read them)."""

    pages: int = 0
    records: int = 0
    quarantined: int = 0
    unknown: Counter[str] = field(default_factory=Counter)  # see Parsed.unknown
    on_page: Callable[[Progress], None] | None = None

    def page(self, n_records: int) -> None:
        self.pages += 1
        self.records += n_records
        if self.on_page:
            self.on_page(self)


def guess_id(record: Any, *keys: str) -> str | None:
    """A best-effort identifier for a quarantined record, so a person can find it at the source."""
    if not isinstance(record, dict):
        return None
    for key in keys:
        value = record.get(key)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value):
            return str(value)[:200]
    return None


# A record nested deeper than this goes to quarantine (``too_deep``); no API's record comes close.
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


def without_repeats(items: list[Any], last: Any) -> tuple[list[Any], Any]:
    """A feed page without the records that repeat the one just before them, and its new last record.
    A server that re-sends the previous page's last record, or a record twice, must not give it a
    second position in the feed (``feed_seq``): the positions of every later record would shift
    from those a clean pull gives. Two real entries of a feed are never equal (a Report API entry's
    balances differ; a booking event repeated whole is the same event)."""
    fresh = []
    for item in items:
        if last is None or item != last:
            fresh.append(item)
        last = item
    return fresh, last


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
    columnar: PageLander | None = None,
) -> int:
    """Normalise each record; a bad one goes to quarantine, the rest of the page lands.

    The ``personal`` fields (recon.ingest.personal) are removed first unless ``keep_personal``.
    ``normalise`` gets the record (as kept) and the canonical JSON of the record without them.

    Each record's JSON is encoded once, by orjson (``canonical_json_bytes``); a record orjson
    cannot encode the same way (bad UTF-8, a huge integer, a TooDeep marker) takes
    ``_land_one_slowly``, the per-record path as it always was. Either lands the same row.

    ``columnar`` (recon.ingest.columnar) may land the whole page at once when every record is
    plain; where it declines, the page is landed record by record as above.

    The cycle collector is off while a page lands: a page builds tens of thousands of containers,
    none of them in a cycle, and would set it off again and again for nothing.
    """
    collecting = gc.isenabled()
    if collecting:
        gc.disable()
    try:
        return _land_page(landing, records, normalise, kind, id_keys, context, progress, personal, keep_personal,
                          columnar)
    finally:
        if collecting:
            gc.enable()


def _land_page(landing: Landing, records: Iterable[Any], normalise: Normaliser, kind: str, id_keys: tuple[str, ...],
               context: str, progress: Progress | None, personal: tuple[str, ...], keep_personal: bool,
               columnar: PageLander | None) -> int:
    if columnar is not None:
        records = list(records)
        page = _encode_plain(records, personal, keep_personal)
        if page is not None and columnar(landing, page):
            if progress:
                progress.page(len(records))
            return len(records)
    n = 0
    buffered: dict[str, list[dict[str, Any]]] = {}
    for sent in records:
        n += 1
        stripped = strip_personal(sent, personal)
        record = sent if keep_personal else stripped
        identity_bytes = canonical_json_bytes(stripped)
        raw_bytes = identity_bytes if record is stripped or identity_bytes is None else canonical_json_bytes(record)
        # Each container opens with a bracket, so a record whose text holds at most MAX_DEPTH of
        # them cannot nest deeper: only the rare larger one is walked.
        if raw_bytes is None or (raw_bytes.count(b"{") + raw_bytes.count(b"[") > MAX_DEPTH
                                 and _deeper_than(record, MAX_DEPTH)):
            _land_one_slowly(landing, buffered, sent, normalise, kind, id_keys, context, progress, personal,
                             keep_personal)
            continue
        assert identity_bytes is not None
        identity = identity_bytes.decode("utf-8")
        raw = identity if raw_bytes is identity_bytes else raw_bytes.decode("utf-8")
        parsed = _normalise_or_quarantine(landing, normalise, record, identity, raw, kind, id_keys, context,
                                          progress)
        if parsed is None:
            continue
        if progress and parsed.unknown:
            progress.unknown.update(parsed.unknown)
        parent = landing.stamp_encoded(parsed.row, raw, content_hash_bytes(identity_bytes))
        table_rows = buffered.get(parsed.table)
        if table_rows is None:
            table_rows = buffered[parsed.table] = []
        table_rows.append(parent)
        if parsed.children:
            _stamp_children(landing, buffered, parsed, parent["_row_id"])
    for table, table_rows in buffered.items():
        landing.add(table, table_rows)
    if progress:
        progress.page(n)
    return n


def _encode_plain(records: list[Any], personal: tuple[str, ...], keep_personal: bool) -> EncodedPage | None:
    kept: list[Any] = []
    identities: list[bytes] = []
    raws: list[bytes] = []
    for sent in records:
        stripped = strip_personal(sent, personal)
        record = sent if keep_personal else stripped
        identity = canonical_json_plain(stripped)
        raw = identity if record is stripped or identity is None else canonical_json_plain(record)
        if raw is None or raw.count(b"{") + raw.count(b"[") > MAX_DEPTH:
            return None
        assert identity is not None
        kept.append(record)
        identities.append(identity)
        raws.append(raw)
    return EncodedPage(kept, identities, raws)


def _stamp_children(landing: Landing, buffered: dict[str, list[dict[str, Any]]], parsed: Parsed,
                    parent_row_id: str) -> None:
    for table, children in parsed.children.items():
        rows = buffered.setdefault(table, [])
        for row, item in children:
            row["_parent_row_id"] = parent_row_id
            encoded = canonical_json_bytes(item)
            if encoded is None:
                rows.append(landing.stamp(row, canonical_json(item)))
            else:
                rows.append(landing.stamp_encoded(row, encoded.decode("utf-8"), content_hash_bytes(encoded)))


def _land_one_slowly(landing: Landing, buffered: dict[str, list[dict[str, Any]]], sent: Any, normalise: Normaliser,
                     kind: str, id_keys: tuple[str, ...], context: str, progress: Progress | None,
                     personal: tuple[str, ...], keep_personal: bool) -> None:
    """One record by the stdlib encoder, walked for depth first: what land_page did for every
    record before orjson, kept for the records orjson cannot encode identically."""
    stripped = strip_personal(sent, personal)
    record = sent if keep_personal else stripped
    if _deeper_than(record, MAX_DEPTH):
        # Only a cut of it is kept: encoding it whole could itself exceed the recursion limit.
        landing.quarantine(kind, "too_deep", f"the record is nested more than {MAX_DEPTH} levels deep",
                           canonical_json(_cut(record, MAX_DEPTH)), record_id=guess_id(record, *id_keys),
                           context=context)
        if progress:
            progress.quarantined += 1
        return
    # What identifies the record (_hash, a key derived from its content) never includes its
    # personal data, whether kept or not: switching land_pii must not make it look new.
    identity = canonical_json(stripped)
    raw = identity if record is stripped else canonical_json(record)
    parsed = _normalise_or_quarantine(landing, normalise, record, identity, raw, kind, id_keys, context, progress)
    if parsed is None:
        return
    if progress:
        progress.unknown.update(parsed.unknown)
    parent = landing.stamp(parsed.row, raw, identity)
    buffered.setdefault(parsed.table, []).append(parent)
    _stamp_children(landing, buffered, parsed, parent["_row_id"])


def _normalise_or_quarantine(landing: Landing, normalise: Normaliser, record: Any, identity: str, raw: str,
                             kind: str, id_keys: tuple[str, ...], context: str,
                             progress: Progress | None) -> Parsed | None:
    """The record normalised, or None once it is quarantined with the rule it broke."""
    try:
        return normalise(record, identity)
    except (BadValue, MoneyError) as exc:
        landing.quarantine(kind, exc.code, str(exc), raw, record_id=guess_id(record, *id_keys), context=context)
        if progress:
            progress.quarantined += 1
        return None
