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
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache
from operator import itemgetter
from pathlib import Path
from typing import Any

import orjson
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


def _decimal_only(value: Any) -> str:
    # What the stdlib encoder's default=str does for a Decimal; anything else orjson does not know
    # (a TooDeep marker, a big int, a dict subclass...) is left to the stdlib encoder.
    if type(value) is Decimal:
        return str(value)
    raise TypeError


# orjson renders datetimes, dataclasses and str/int/dict subclasses itself, differently from the
# stdlib encoder's default=str: passed through to _decimal_only, they fall back instead.
_ORJSON_OPTIONS = (orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
                   | orjson.OPT_PASSTHROUGH_SUBCLASS)


def canonical_json_bytes(record: Any) -> bytes | None:
    """``canonical_json(record)`` as UTF-8, byte for byte, for a value as ``decode_json`` builds it,
    encoded by orjson (about five times faster); None where orjson cannot promise the same text:
    lone surrogates (bad UTF-8 from the wire), integers beyond 64 bits, non-string keys, TooDeep
    markers, nesting beyond orjson's limit. The caller then uses ``canonical_json``.

    Not for floats (decode_json never builds one: non-integers are Decimal): orjson writes some of
    them differently (``1e16`` where the stdlib writes ``1e+16``). tests/ingest/test_canonical_json.py
    proves the equality over arbitrary decoded values.
    """
    try:
        return orjson.dumps(record, default=_decimal_only, option=_ORJSON_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return None


def canonical_json_plain(record: Any) -> bytes | None:
    """``canonical_json_bytes`` of a record of plain JSON values only (no Decimal either): what a
    column-wise page lander takes (recon.ingest.columnar), else None."""
    try:
        return orjson.dumps(record, option=_ORJSON_OPTIONS)
    except TypeError:
        return None


def content_hash_bytes(raw: bytes) -> str:
    """``content_hash`` of text already encoded (``canonical_json_bytes``)."""
    return hashlib.sha256(raw).hexdigest()[:32]


def content_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def safe_text(raw: str) -> str:
    """Parquet strings must be valid UTF-8; undecodable bytes are kept visible as escapes."""
    if raw.isascii():
        return raw
    return raw.encode("utf-8", "backslashreplace").decode("utf-8")


_UNIQUE_COLUMNS = frozenset({"_raw", "_hash", "_row_id", "_parent_row_id"})

# A checkpoint is due at flush_rows rows in one table or at this much Arrow buffered in all,
# whichever comes first: a Sales entry with its order lines is about 2 KB, so 100k rows of its
# widest table would hold over 100 MB until the checkpoint; the bytes bound keeps a pull's memory
# flat whatever the width of its rows.
FLUSH_BYTES = 64 << 20


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
        self._buffered_bytes = 0
        self.landed: dict[str, int] = defaultdict(int)
        self.quarantined: dict[str, int] = defaultdict(int)

    @property
    def pending(self) -> int:
        """Rows buffered in the largest table: a checkpoint at 100k gives row groups of 100k."""
        return max(self._buffered.values(), default=0)

    def due(self, flush_rows: int) -> bool:
        """Whether a checkpoint is due: ``flush_rows`` rows buffered in one table, or
        ``FLUSH_BYTES`` of rows in all."""
        return self.pending >= flush_rows or self._buffered_bytes >= FLUSH_BYTES

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

    def stamp_encoded(self, row: dict[str, Any], raw: str, digest: str) -> dict[str, Any]:
        """``stamp`` for a record whose JSON came from ``canonical_json_bytes``: ``raw`` is already
        valid UTF-8 (so ``safe_text`` would return it as is) and ``digest`` is its ``_hash``."""
        row["_source"] = self.source
        row["_run_id"] = self.run_id
        row["_landed_at"] = self.landed_at
        self._seq += 1
        row["_row_id"] = f"{self.run_id}:{self._seq}"
        row["_hash"] = digest
        row["_raw"] = raw
        return row

    def add(self, table: str, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        schema = TABLES[table].schema
        names = schema.names
        # Column by column: one itemgetter call per row instead of from_pylist's lookup per cell.
        try:
            columns: list[Any] = list(zip(*map(itemgetter(*names), rows), strict=True))
        except KeyError:  # a row without some column: None there, as from_pylist does
            columns = [[row.get(name) for row in rows] for name in names]
        # Arrow converts aware datetimes ten times slower than integers: hand it microseconds.
        for i in _timestamp_indices(table):
            columns[i] = [None if value is None else (value - _EPOCH) // _MICROSECOND for value in columns[i]]
        arrays = [pa.array(column, type=f.type) for column, f in zip(columns, schema, strict=True)]
        self._buffer(table, pa.RecordBatch.from_arrays(arrays, schema=schema))

    def reserve_rows(self, n: int) -> int:
        """Take ``n`` row numbers for rows stamped column-wise; the first is the result + 1."""
        base = self._seq
        self._seq += n
        return base

    def row_ids(self, seqs: pa.Array) -> pa.Array:
        """``_row_id`` of the reserved row numbers ``seqs``."""
        return pc.binary_join_element_wise(self.run_id, pc.cast(seqs, pa.string()), ":")

    def add_columns(self, table: str, columns: dict[str, pa.Array]) -> None:
        """Rows normalised column by column (recon.ingest.columnar): every column of the table's
        schema but the three that are the same on every row this landing stamps."""
        n = len(columns["_row_id"])
        if not n:
            return
        schema = TABLES[table].schema
        same = {"_source": pa.repeat(pa.scalar(self.source, pa.string()), n),
                "_run_id": pa.repeat(pa.scalar(self.run_id, pa.string()), n),
                "_landed_at": pa.repeat(pa.scalar(self.landed_at, schema.field("_landed_at").type), n)}
        arrays = [columns[f.name] if f.name in columns else same[f.name] for f in schema]
        self._buffer(table, pa.RecordBatch.from_arrays(arrays, schema=schema))

    def _buffer(self, table: str, batch: pa.RecordBatch) -> None:
        self._batches[table].append(batch)
        self._buffered[table] += batch.num_rows
        self._buffered_bytes += batch.nbytes

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
        # A dictionary of values that never repeat (_raw, _hash, the row ids) only costs: without
        # it the write takes about 10 % less time and the file is about 5 % smaller.
        dictionary = [name for name in table.column_names if name not in _UNIQUE_COLUMNS]
        pq.write_table(table, tmp, compression="zstd", row_group_size=max(len(table), 1), use_dictionary=dictionary)
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
            for value, chunk in _partitions(data, part_col):
                label = "__HIVE_DEFAULT_PARTITION__" if value is None else value.isoformat()
                self._write(self.lake.raw / name / f"{spec.partition}={label}", chunk)
            self.landed[name] += table.num_rows
            # Durable: its memory can go before the next table is written (peak RSS).
            batches.clear()
            del table, part_col, data
            pa.default_memory_pool().release_unused()
        if self._quarantine:
            table = pa.Table.from_pylist(self._quarantine, schema=QUARANTINE)
            self._write(self.lake.quarantine_dir / self.source, table)
        self._batches.clear()
        self._quarantine.clear()
        self._buffered.clear()
        self._buffered_bytes = 0
        pa.default_memory_pool().release_unused()


def _partitions(data: pa.Table, part_col: pa.ChunkedArray) -> Iterator[tuple[Any, pa.Table]]:
    """``data`` split by the partition value, in order of first appearance, each part's rows in
    their order. A feed arrives in time order, so each value is usually one run of rows: then the
    parts are slices (no copy); otherwise filtered copies."""
    values = pc.unique(part_col).to_pylist()
    runs = pc.run_end_encode(part_col.combine_chunks()) if len(part_col) else None
    if runs is not None and len(runs.values) == len(values) and runs.values.null_count == 0:
        ends = runs.run_ends.to_pylist()
        starts = [0, *ends[:-1]]
        for value, start, end in zip(values, starts, ends, strict=True):
            yield value, data.slice(start, end - start)
        return
    for value in values:
        mask = pc.is_null(part_col) if value is None else pc.equal(part_col, pa.scalar(value, pa.date32()))
        yield value, data.filter(mask)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@cache
def _timestamp_indices(table: str) -> tuple[int, ...]:
    return tuple(i for i, f in enumerate(TABLES[table].schema) if pa.types.is_timestamp(f.type))
