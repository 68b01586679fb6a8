"""Ad-hoc SQL over the catalog: formatted for `recon query`, or as pandas DataFrames for Python.

``recon.open(lake).table("recon_mismatches")`` is the Python way in: every landed and result
table by name, as a DataFrame whose money columns stay integers (nullable ``Int64``, minor units:
never floats) and whose timestamps are UTC.
"""

from __future__ import annotations

import io
import json
import os
import sys
import uuid
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

import duckdb
import pandas as pd
import pyarrow as pa

from recon.config import load_config
from recon.errors import ReconError
from recon.lake.catalog import connect
from recon.lake.store import Lake


class QueryError(ReconError):
    exit_code = 2


# Arrow's default would turn an integer column with a NULL into float64: money must stay exact.
_PANDAS_TYPES = {pa.int64(): pd.Int64Dtype(), pa.int32(): pd.Int32Dtype(), pa.bool_(): pd.BooleanDtype()}


class LakeReader:
    """The lake's tables by name, as DataFrames. Use as a context manager, or call ``close()``."""

    def __init__(self, where: str | Path) -> None:
        path = Path(where)
        # A recon.toml names its lake; anything else is the lake folder itself.
        root = load_config(path).lake if path.suffix == ".toml" else path
        if not (root / "_state").is_dir() and not (root / "raw").is_dir():
            raise QueryError(f"{root} is not a recon lake (no raw/ or _state/ inside)")
        self.lake = Lake(root)
        self._con = connect(self.lake)

    def tables(self) -> list[str]:
        """Every table and view a query may name."""
        return sorted(r[0] for r in self._con.execute(
            "SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall())

    def sql(self, query: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
        try:
            table = self._con.sql(query, params=params).to_arrow_table()
        except duckdb.Error as exc:
            raise QueryError(f"query failed: {str(exc).splitlines()[0]}") from None
        return table.to_pandas(types_mapper=_PANDAS_TYPES.get)

    def table(self, name: str) -> pd.DataFrame:
        if name not in self.tables():
            raise QueryError(f"no table {name!r} in {self.lake.root}; there are: {', '.join(self.tables())}")
        return self.sql(f'SELECT * FROM "{name}"')

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> LakeReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_query(lake: Lake, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Every row of ``sql`` at once (for Python callers and tests; ``recon query`` streams)."""
    con = connect(lake)
    try:
        columns, batches = _batches(con, sql)
        rows = [row for batch in batches for row in _batch_rows(batch)]
    finally:
        con.close()
    return columns, rows


FORMATS = ("table", "csv", "json", "ndjson")
DEFAULT_LIMIT = 1000  # rows the table format shows; the rest are counted, not kept
_BATCH_ROWS = 10_000


def _batches(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[list[str], Iterator[pa.RecordBatch]]:
    """The result's columns and its Arrow record batches, read one batch at a time. Through Arrow:
    DuckDB's own row conversion needs pytz for TIMESTAMPTZ; Arrow uses zoneinfo."""
    try:
        relation = con.sql(sql)
        if relation is None:  # a statement without a result (SET, CREATE ...)
            return [], iter(())
        # to_arrow_reader since DuckDB 1.4 (fetch_arrow_reader before it, deprecated since).
        reader = getattr(relation, "to_arrow_reader", None) or relation.fetch_arrow_reader
        reader = reader(_BATCH_ROWS)
    except duckdb.Error as exc:
        raise QueryError(f"query failed: {str(exc).splitlines()[0]}") from None

    def read() -> Iterator[pa.RecordBatch]:
        try:
            yield from reader
        # An error may surface only while rows are read; Arrow's stream then raises it (as an
        # OSError or an ArrowException) with DuckDB's message.
        except (duckdb.Error, pa.ArrowException, OSError) as exc:
            raise QueryError(f"query failed: {str(exc).splitlines()[0]}") from None

    return list(reader.schema.names), read()


def stream_query(lake: Lake, sql: str, out: TextIO, fmt: str = "table", limit: int = DEFAULT_LIMIT) -> int:
    """Run ``sql`` and write its result to ``out`` in ``fmt``; the rows written.

    csv, json and ndjson are written batch by batch, never held whole. The table format pads its
    columns to their widths, so it keeps at most ``limit`` rows and counts the rest without keeping
    them, and says how many it left out. NULL is told from empty text in every format: the table
    shows ``NULL``, json and ndjson write ``null``, csv leaves the field empty (and writes ``""`` for
    empty text, as PostgreSQL's CSV does)."""
    if fmt not in FORMATS:
        raise QueryError(f"unknown format {fmt!r}: one of {', '.join(FORMATS)}")
    con = connect(lake)
    try:
        columns, batches = _batches(con, sql)
        if fmt == "table":
            return _write_table(columns, batches, out, limit)
        return _WRITERS[fmt](columns, _rows(batches), out)
    finally:
        con.close()


def write_query(lake: Lake, sql: str, fmt: str = "table", limit: int | None = None,
                output: Path | None = None) -> int:
    """``recon query``: the result on stdout, or in ``output`` (written under a temporary name and
    renamed, so a failed query leaves no half file). ``limit`` is for the table format only: the
    others write every row (a LIMIT belongs in the SQL)."""
    if limit is not None and fmt != "table":
        raise QueryError(f"--limit is for --format table (--format {fmt} writes every row: put a LIMIT in the SQL)")
    cap = DEFAULT_LIMIT if limit is None else limit
    if output is None:
        return stream_query(lake, sql, sys.stdout, fmt, cap)
    tmp = output.with_name(f".{output.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            n = stream_query(lake, sql, fh, fmt, cap)
        os.replace(tmp, output)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return n


def _batch_rows(batch: pa.RecordBatch) -> list[tuple[Any, ...]]:
    # By column, not batch.to_pylist(): two result columns may share a name.
    return list(zip(*(column.to_pylist() for column in batch.columns), strict=True))


def _rows(batches: Iterator[pa.RecordBatch]) -> Iterator[tuple[Any, ...]]:
    for batch in batches:
        yield from _batch_rows(batch)


def _csv_field(value: Any) -> str:
    if value is None:
        return ""
    text = str(_plain(value))
    if text == "" or any(ch in text for ch in ',"\r\n') or text != text.strip():
        return '"' + text.replace('"', '""') + '"'
    return text


def _write_csv(columns: list[str], rows: Iterator[tuple[Any, ...]], out: TextIO) -> int:
    out.write(",".join(_csv_field(c) for c in columns) + "\n")
    n = 0
    for row in rows:
        out.write(",".join(_csv_field(v) for v in row) + "\n")
        n += 1
    return n


def _json_row(columns: list[str], row: tuple[Any, ...]) -> str:
    return json.dumps({c: _plain(v) for c, v in zip(columns, row, strict=True)}, ensure_ascii=False, default=str)


def _write_ndjson(columns: list[str], rows: Iterator[tuple[Any, ...]], out: TextIO) -> int:
    n = 0
    for row in rows:
        out.write(_json_row(columns, row) + "\n")
        n += 1
    return n


def _write_json(columns: list[str], rows: Iterator[tuple[Any, ...]], out: TextIO) -> int:
    n = 0
    out.write("[")
    for row in rows:
        out.write(("," if n else "") + "\n " + _json_row(columns, row))
        n += 1
    out.write("\n]\n" if n else "]\n")
    return n


_WRITERS = {"csv": _write_csv, "ndjson": _write_ndjson, "json": _write_json}


def _write_table(columns: list[str], batches: Iterator[pa.RecordBatch], out: TextIO, limit: int) -> int:
    kept: list[tuple[Any, ...]] = []
    total = 0
    for batch in batches:
        room = limit - len(kept)
        if room > 0:
            kept.extend(_batch_rows(batch.slice(0, room)))
        total += batch.num_rows  # the rest are counted, never converted
    out.write(format_rows(columns, kept, "table", total=total) + "\n")
    return len(kept)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def format_rows(columns: list[str], rows: list[tuple[Any, ...]], fmt: str, total: int | None = None) -> str:
    """All of ``rows`` as one text (``total``: the rows the query gave, when only some are here)."""
    if fmt in _WRITERS:
        buf = io.StringIO()
        _WRITERS[fmt](columns, iter(rows), buf)
        return buf.getvalue().rstrip("\n")
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=False))
    out = [line, "  ".join("-" * w for w in widths)]
    for cell_row in cells:
        out.append("  ".join(v.rjust(w) if _numeric(v) else v.ljust(w)
                             for v, w in zip(cell_row, widths, strict=True)))
    total = len(rows) if total is None else total
    if total > len(rows):
        cut = total - len(rows)
        out.append(f"({total} rows: the first {len(rows)} shown, {cut} cut; raise --limit, or --format csv "
                   "or ndjson for every row)")
    else:
        out.append(f"({total} row{'s' if total != 1 else ''})")
    return "\n".join(out)


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    text = str(_plain(value)).replace("\n", " ")
    return text if len(text) <= 60 else text[:57] + "..."


def _numeric(text: str) -> bool:
    return text.lstrip("-").replace(".", "", 1).isdigit()
