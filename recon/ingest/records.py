"""What every source shares: turning one page of raw records into landed rows or quarantine."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from recon.ingest.http import TooDeep
from recon.ingest.personal import strip_personal
from recon.ingest.validation import BadValue
from recon.lake.landing import Landing, canonical_json
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
