"""Ad-hoc SQL over the catalog, formatted as a table, CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import duckdb

from recon.errors import ReconError
from recon.lake.catalog import connect
from recon.lake.store import Lake


class QueryError(ReconError):
    exit_code = 2


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
