"""What every source shares: turning one page of raw records into landed rows or quarantine."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from recon.ingest.validation import BadValue
from recon.lake.landing import Landing, canonical_json
from recon.money import MoneyError


@dataclass
class Parsed:
    """One valid record: its row, and the rows of its children (order lines, transactions)."""

    table: str
    row: dict[str, Any]
    children: dict[str, list[tuple[dict[str, Any], Any]]] = field(default_factory=dict)  # (row, raw item)


Normaliser = Callable[[Any, str], Parsed]


@dataclass
class Progress:
    """Counters a source reports while it pulls (the CLI shows them; tests read them)."""

    pages: int = 0
    records: int = 0
    quarantined: int = 0
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


def land_page(
    landing: Landing,
    records: Iterable[Any],
    normalise: Normaliser,
    *,
    kind: str,
    id_keys: tuple[str, ...],
    context: str,
    progress: Progress | None = None,
) -> int:
    """Normalise each record; a bad one goes to quarantine, the rest of the page lands."""
    n = 0
    buffered: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        n += 1
        raw = canonical_json(record)
        try:
            parsed = normalise(record, raw)
        except (BadValue, MoneyError) as exc:
            landing.quarantine(kind, exc.code, str(exc), raw, record_id=guess_id(record, *id_keys), context=context)
            if progress:
                progress.quarantined += 1
            continue
        parent = landing.stamp(parsed.row, raw)
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
