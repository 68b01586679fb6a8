"""The DuckDB catalog: views over the lake, by the names users query.

``<lake>/recon.duckdb`` is rebuilt under a temporary name and renamed into place, so an analyst
who keeps the old file open in the DuckDB CLI never blocks a nightly run (and sees the new
catalog when they reopen it). ``recon query`` builds the same views in memory, so it works even
while that file is locked. Paths in the views are absolute: they do not depend on the directory
a user starts from.
"""

from __future__ import annotations

import os
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from recon.lake.schemas import QUARANTINE, RESOLUTIONS, TABLES, duckdb_type
from recon.lake.store import RESULT_TABLES, Lake
from recon.sqlfiles import sql_text as _sql_text

CATALOG_FILE = "recon.duckdb"


# recon_runs before the first `recon run` (runs.sql gives the columns once there is one).
RUN_COLUMNS = ("NULL::VARCHAR AS run_id, NULL::TIMESTAMPTZ AS started_at, NULL::TIMESTAMPTZ AS finished_at, "
               "NULL::DATE AS period_from, NULL::DATE AS period_to, NULL::INTEGER AS exit_code, "
               "NULL::BIGINT AS exceptions, NULL::VARCHAR AS workbook, NULL::VARCHAR AS source, "
               "NULL::VARCHAR AS outcome, NULL::VARCHAR AS error, NULL::BIGINT AS pages, NULL::BIGINT AS records, "
               "NULL::BIGINT AS quarantined, NULL::BIGINT AS retries")


def sql_text(name: str) -> str:
    return _sql_text("recon.lake", name)


def _quote(path: Path | str) -> str:
    return str(path).replace("'", "''")


def _empty(schema) -> str:  # type: ignore[no-untyped-def]
    cols = ", ".join(f"CAST(NULL AS {duckdb_type(f.type)}) AS \"{f.name}\"" for f in schema)
    return sql_text("empty.sql").format(columns=cols)


def view_statements(lake: Lake) -> list[str]:
    """CREATE VIEW statements for every landed table, its deduplicated view and quarantine."""
    stmts: list[str] = [sql_text("macro_landing_seq.sql")]
    for name, spec in TABLES.items():
        if lake.table_files(name):
            raw = sql_text("raw.sql").format(
                glob=_quote(lake.raw / name / "*" / "*.parquet"), partition=spec.partition)
        else:
            raw = _empty(spec.schema)
        stmts.append(f"CREATE OR REPLACE VIEW raw_{name} AS {raw}")
    for name, spec in TABLES.items():
        key = ", ".join(spec.key)
        if spec.parent:
            body = sql_text("children.sql").format(table=name, parent=spec.parent)
        elif spec.source == "entur":
            body = sql_text("latest_version.sql").format(table=name, key=key)
        else:
            body = sql_text("distinct_content.sql").format(table=name, key=key)
        stmts.append(f"CREATE OR REPLACE VIEW {name} AS {body}")
    if lake.quarantine_files():
        body = sql_text("quarantine.sql").format(glob=_quote(lake.quarantine_dir / "*" / "*.parquet"))
    else:
        body = _empty(QUARANTINE)
    stmts.append(f"CREATE OR REPLACE VIEW quarantine AS {body}")
    runs = lake.state_dir / "runs"
    if any(runs.glob("*.run.json")):
        stmts.append("CREATE OR REPLACE VIEW recon_runs AS " + sql_text("runs.sql").format(
            glob=_quote(runs / "*.run.json")))
    else:
        stmts.append("CREATE OR REPLACE VIEW recon_runs AS " + sql_text("empty.sql").format(columns=RUN_COLUMNS))
    stmts.extend(_result_views(lake))
    return stmts


# The columns recon_exceptions reads, for the history views of a lake that has not reconciled yet.
_NO_MISMATCHES = ("NULL::VARCHAR AS exception_id, NULL::VARCHAR AS code, NULL::VARCHAR AS run_id, "
                  "NULL::DATE AS as_of, NULL::DATE AS period_from, NULL::DATE AS period_to, "
                  "NULL::DATE AS business_date, NULL::VARCHAR AS explanation, NULL::VARCHAR AS ledger_id, "
                  "NULL::VARCHAR AS reference, NULL::VARCHAR AS psp_reference, NULL::VARCHAR AS order_id, "
                  "NULL::VARCHAR AS entur_payment_id, NULL::VARCHAR AS entur_transaction_id, "
                  "NULL::VARCHAR AS entur_credit_id, NULL::VARCHAR AS booking_id, NULL::BIGINT AS vipps_amount, "
                  "NULL::BIGINT AS entur_amount, NULL::BIGINT AS booking_amount, NULL::BIGINT AS difference, "
                  "NULL::VARCHAR AS currency, NULL::TIMESTAMPTZ AS reconciled_at")
_NO_CHECKS = ("NULL::VARCHAR AS code, NULL::VARCHAR AS incomplete, NULL::VARCHAR AS run_id, "
              "NULL::DATE AS period_from, NULL::DATE AS period_to, NULL::DATE AS as_of, "
              "NULL::TIMESTAMPTZ AS reconciled_at")


def exceptions_sql(today: str = "current_date") -> str:
    """recon_exceptions' query with its as-of date (a SQL expression: the catalog's view uses
    today's date, UTC; the workbook and ``recon resolve`` bind the run's as-of date)."""
    return sql_text("exceptions.sql").replace("$today", today)


def oldest_open(lake: Lake, today: date) -> tuple[str, str, int] | None:
    """(exception ID, code, age in days) of the oldest open exception on ``today``, if any."""
    con = connect(lake)
    try:
        sql = sql_text("oldest_open.sql").format(exceptions=exceptions_sql(f"DATE '{today.isoformat()}'"))
        row = con.execute(sql).fetchone()
    finally:
        con.close()
    return (str(row[0]), str(row[1]), int(row[2])) if row else None


def _exception_views(lake: Lake, have: set[str]) -> list[str]:
    """recon_resolutions (append-only files) and recon_exceptions built from every run and them."""
    stmts = []
    for name, columns in (("recon_mismatches_history", _NO_MISMATCHES), ("recon_checks_history", _NO_CHECKS)):
        if name not in have:  # before the first reconcile (or a lake older than recon_checks)
            stmts.append(f"CREATE OR REPLACE VIEW {name} AS " + sql_text("empty.sql").format(columns=columns))
    if any(lake.resolutions_dir.glob("*.parquet")):
        stmts.append("CREATE OR REPLACE VIEW recon_resolutions AS SELECT * FROM read_parquet("
                     f"'{_quote(lake.resolutions_dir / '*.parquet')}', union_by_name = true)")
    else:
        stmts.append(f"CREATE OR REPLACE VIEW recon_resolutions AS {_empty(RESOLUTIONS)}")
    stmts.append(f"CREATE OR REPLACE VIEW recon_exceptions AS {exceptions_sql()}")
    return stmts


def _result_views(lake: Lake) -> list[str]:
    """The latest reconcile run under each result's name; every run under ``<name>_history``."""
    latest = lake.read_state("reconcile", "latest")
    stmts = []
    have: set[str] = set()
    for name in RESULT_TABLES:
        if latest:
            path = lake.result_file(name, latest["run_id"])
            if path.exists():
                stmts.append(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet('{_quote(path)}')")
        every = lake.result_glob(name)
        if any(every.parent.parent.glob("*/data.parquet")):
            stmts.append(f"CREATE OR REPLACE VIEW {name}_history AS SELECT * FROM "
                         f"read_parquet('{_quote(every)}', union_by_name = true)")
            have.add(f"{name}_history")
    return stmts + _exception_views(lake, have)


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> Any:
    """The single value of an aggregate query (which always returns one row)."""
    row = con.execute(sql, params or {}).fetchone()
    if row is None:
        raise ValueError(f"query returned no row: {sql[:80]}")
    return row[0]


def connect(lake: Lake) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with every view of the catalog."""
    con = duckdb.connect(":memory:")
    # Cron mails and piped output must not fill with progress bars.
    con.execute("SET enable_progress_bar = false")
    # UTC inside, whatever the machine's zone: the same query gives the same answer everywhere.
    con.execute("SET TimeZone = 'UTC'")
    for stmt in view_statements(lake):
        con.execute(stmt)
    return con


def build_catalog(lake: Lake) -> Path:
    """Write ``<lake>/recon.duckdb`` atomically (temporary file, then rename)."""
    final = lake.root / CATALOG_FILE
    tmp = lake.root / f".{CATALOG_FILE}.{uuid.uuid4().hex[:8]}.tmp"
    con = duckdb.connect(str(tmp))
    try:
        for stmt in view_statements(lake):
            con.execute(stmt)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    wal = Path(str(tmp) + ".wal")
    if wal.exists():
        wal.unlink()
    os.replace(tmp, final)
    return final
