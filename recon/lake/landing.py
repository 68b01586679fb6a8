"""The Parquet lake: buffered, durable writes; quarantine; cursor state committed after the data.

The lake is append-only. A checkpoint writes every buffered table (one file per business-date
partition, zstd, one row group), each to a temporary name that is fsynced and renamed; only then
does the caller commit its cursor. A crash before the commit means the next run lands the same
records again: the views in the catalog keep one row per natural key and content, so a rerun
never shows a duplicate (dedupe happens in the views, see README).
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from recon.lake.schemas import QUARANTINE, TABLES
from recon.lake.store import Lake, replace_durably

# One encoder, built once: json.dumps would build a new one for every record.
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


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@cache
def _timestamp_columns(table: str) -> tuple[str, ...]:
    return tuple(f.name for f in TABLES[table].schema if pa.types.is_timestamp(f.type))
