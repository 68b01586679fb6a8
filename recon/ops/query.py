"""Ad-hoc SQL over the catalog: formatted for `recon query`, or as pandas DataFrames for Python.

``recon.open(lake).table("recon_mismatches")`` is the Python way in: every landed and result
table by name, as a DataFrame whose money columns stay integers (nullable ``Int64``, minor units:
never floats) and whose timestamps are UTC.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

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
    con = connect(lake)
    try:
        # Through Arrow: DuckDB's own row conversion needs pytz for TIMESTAMPTZ; Arrow uses zoneinfo.
        relation = con.sql(sql)
        if relation is None:
            return [], []
        table = relation.to_arrow_table()
        columns = table.column_names
        rows = [tuple(row.values()) for row in table.to_pylist()]
    except duckdb.Error as exc:
        raise QueryError(f"query failed: {str(exc).splitlines()[0]}") from None
    finally:
        con.close()
    return columns, rows


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def format_rows(columns: list[str], rows: list[tuple[Any, ...]], fmt: str) -> str:
    if fmt == "json":
        return json.dumps([{c: _plain(v) for c, v in zip(columns, row, strict=False)} for row in rows],
                          ensure_ascii=False, indent=1, default=str)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if v is None else _plain(v) for v in row])
        return buf.getvalue().rstrip("\n")
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=False))
    out = [line, "  ".join("-" * w for w in widths)]
    for cell_row in cells:
        out.append("  ".join(v.rjust(w) if _numeric(v) else v.ljust(w)
                             for v, w in zip(cell_row, widths, strict=True)))
    out.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(out)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = str(_plain(value)).replace("\n", " ")
    return text if len(text) <= 60 else text[:57] + "..."


def _numeric(text: str) -> bool:
    return text.lstrip("-").replace(".", "", 1).isdigit()
