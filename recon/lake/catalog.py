"""The DuckDB catalog: views over the lake, by the names users query.

Paths in the views are relative to the lake folder, so a copied or moved lake reads its own files:
``connect()`` sets DuckDB's ``file_search_path`` to the lake, and DuckDB CLI users start it in the
lake folder (README, "Querying").

``<lake>/recon.duckdb`` is rebuilt under a temporary name and renamed into place, so an analyst
who keeps the old file open in the DuckDB CLI never blocks a nightly run (and sees the new
catalog when they reopen it). The tables and views an analyst created in the old file are copied
into the new one first (recon's own objects are listed in ``_state/catalog.json``). The file is
written in an old storage version (``STORAGE_VERSION``) so that the DuckDB CLIs people have can
open it, and every view and column carries its data-dictionary text as a comment. ``recon query``
builds the same views in memory, so it works even while that file is locked.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from recon.lake.dictionary import column_comment, view_comment
from recon.lake.schemas import QUARANTINE, RESOLUTIONS, TABLES, duckdb_type
from recon.lake.store import RESULT_TABLES, Lake
from recon.sqlfiles import sql_text as _sql_text

CATALOG_FILE = "recon.duckdb"

log = logging.getLogger("recon.lake.catalog")


# recon_runs before the first `recon run` (runs.sql gives the columns once there is one).
RUN_COLUMNS = ("NULL::VARCHAR AS run_id, NULL::TIMESTAMPTZ AS started_at, NULL::TIMESTAMPTZ AS finished_at, "
               "NULL::DATE AS period_from, NULL::DATE AS period_to, NULL::INTEGER AS exit_code, "
               "NULL::BIGINT AS exceptions, NULL::VARCHAR AS workbook, NULL::VARCHAR AS source, "
               "NULL::VARCHAR AS outcome, NULL::VARCHAR AS error, NULL::BIGINT AS pages, NULL::BIGINT AS records, "
               "NULL::BIGINT AS quarantined, NULL::BIGINT AS retries")


def sql_text(name: str) -> str:
    return _sql_text("recon.lake", name)


def _quote(text: str) -> str:
    return text.replace("'", "''")


def _rel(lake: Lake, path: Path) -> str:
    """``path`` relative to the lake folder, as a SQL string's text: the views must not name the
    lake's own place, or a copied lake reads the original's files and a moved one reads nothing."""
    return _quote(path.relative_to(lake.root).as_posix())


def _empty(schema) -> str:  # type: ignore[no-untyped-def]
    cols = ", ".join(f"CAST(NULL AS {duckdb_type(f.type)}) AS \"{f.name}\"" for f in schema)
    return sql_text("empty.sql").format(columns=cols)


def view_statements(lake: Lake) -> list[str]:
    """CREATE VIEW statements for every landed table, its deduplicated view and quarantine."""
    stmts: list[str] = [sql_text("macro_landing_seq.sql")]
    for name, spec in TABLES.items():
        if lake.table_files(name):
            raw = sql_text("raw.sql").format(
                glob=_rel(lake, lake.raw / name / "*" / "*.parquet"), partition=spec.partition)
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
        body = sql_text("quarantine.sql").format(glob=_rel(lake, lake.quarantine_dir / "*" / "*.parquet"))
    else:
        body = _empty(QUARANTINE)
    stmts.append(f"CREATE OR REPLACE VIEW quarantine AS {body}")
    runs = lake.state_dir / "runs"
    if any(runs.glob("*.run.json")):
        stmts.append("CREATE OR REPLACE VIEW recon_runs AS " + sql_text("runs.sql").format(
            glob=_rel(lake, runs / "*.run.json")))
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
                     f"'{_rel(lake, lake.resolutions_dir / '*.parquet')}', union_by_name = true)")
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
                stmts.append(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet('{_rel(lake, path)}')")
        every = lake.result_glob(name)
        if any(every.parent.parent.glob("*/data.parquet")):
            stmts.append(f"CREATE OR REPLACE VIEW {name}_history AS SELECT * FROM "
                         f"read_parquet('{_rel(lake, every)}', union_by_name = true)")
            have.add(f"{name}_history")
    return stmts + _exception_views(lake, have)


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> Any:
    """The single value of an aggregate query (which always returns one row)."""
    row = con.execute(sql, params or {}).fetchone()
    if row is None:
        raise ValueError(f"query returned no row: {sql[:80]}")
    return row[0]


def _memory(lake: Lake) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB whose relative paths resolve in the lake folder (the views' paths are
    relative to it, see _rel). Set as the database's configuration, not a session's SET: a
    ``cursor()`` is a session of its own and must read the same files."""
    folder = str(lake.root.resolve())
    if "," in folder:  # file_search_path is a comma-separated list
        raise ValueError(f"DuckDB cannot search a folder whose path holds a comma: {folder}")
    con = duckdb.connect(":memory:", config={"file_search_path": folder})
    # Cron mails and piped output must not fill with progress bars.
    con.execute("SET enable_progress_bar = false")
    # UTC inside, whatever the machine's zone: the same query gives the same answer everywhere.
    con.execute("SET TimeZone = 'UTC'")
    return con


def connect(lake: Lake) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with every view of the catalog. Relative globs in a query are matched in
    the lake folder only (DuckDB matches a glob in every folder of its search path, so the working
    directory beside it would read a second lake's files, or the same files twice from inside it);
    a plain relative file name is still looked for in the working directory first."""
    con = _memory(lake)
    for stmt in view_statements(lake):
        con.execute(stmt)
    return con


# The oldest storage format that holds everything the catalog needs (views, macros, comments on
# views and their columns). DuckDB 1.0 opens it and 1.1 runs every view (README, "Querying");
# DuckDB 2.0's own default (storage version 999) opens in nothing older than 2.0.
STORAGE_VERSION = "v1.0.0"
_BUILD = "recon_build"  # the new catalog's alias while it is built
_PREVIOUS = "recon_previous"  # the old catalog's, read for the analysts' own tables


def build_catalog(lake: Lake) -> Path:
    """Write ``<lake>/recon.duckdb`` atomically (temporary file, then rename), keeping the tables
    and views analysts created in the previous file.

    The previous file is copied and only the views whose definition, columns or comments changed are
    replaced in the copy (commenting ~800 columns anew each time would cost most of a build); a
    previous file recon cannot reuse (none, another storage version, unreadable) means a new file,
    into which the analysts' objects are copied from a snapshot of the old one."""
    final = lake.root / CATALOG_FILE
    tag = uuid.uuid4().hex[:8]
    tmp = lake.root / f".{CATALOG_FILE}.{tag}.tmp"
    snapshot = lake.root / f".{CATALOG_FILE}.{tag}.prev.tmp"
    statements = {_object_name(stmt): stmt for stmt in view_statements(lake)}
    state = lake.read_state("catalog") or {}
    found = state.get("objects")
    previous: dict[str, str] = found if isinstance(found, dict) else {}
    found = state.get("written")
    written: dict[str, str] = found if isinstance(found, dict) else {}
    # The views over the landed files (raw, deduplicated, quarantine) are the costly ones to bind (every
    # file's schema is read): while those files are the same, their columns are too, and the columns
    # recorded last time give their signatures (a reconcile changes only its result files).
    landed = _landed_fingerprint(lake)
    found = state.get("columns")
    known: dict[str, list[list[str]]] = found if isinstance(found, dict) and state.get("landed") == landed else {}
    con = _memory(lake)
    kept_aside = False
    try:
        # All of them or none: a deduplicated view reads its raw view.
        ours = _landed_views(lake) & set(statements)
        signatures, columns = _signatures(con, statements, {name: known[name] for name in ours}
                                          if ours <= set(known) else {})
        reuse = (final.exists() and bool(previous) and state.get("storage_version") == STORAGE_VERSION
                 and _reusable(final, tmp, con))
        if not reuse:
            tmp.unlink(missing_ok=True)
            Path(f"{tmp}.wal").unlink(missing_ok=True)
            con.execute(f"ATTACH '{_quote(str(tmp))}' AS {_BUILD} (STORAGE_VERSION '{STORAGE_VERSION}')")
        con.execute(f"USE {_BUILD}")
        con.execute("BEGIN")
        # A view is replaced where recon would now write it differently, or where the file no longer
        # holds what recon wrote (an analyst replaced or dropped it). A macro is one statement and
        # one comment: always written (finding it costs more).
        present = _views_in_build(con) if reuse else {}
        changed = [name for name in statements
                   if previous.get(name) != signatures[name] or present.get(name) is None
                   or present.get(name) != written.get(name) or signatures[name][:6] == "macro:"]
        if reuse:
            for name in set(previous) - set(statements):  # a view recon no longer makes
                kind = "MACRO" if str(previous[name]).startswith("macro:") else "VIEW"
                con.execute(f"DROP {kind} IF EXISTS {name}")
        for name in changed:
            con.execute(statements[name])
        for stmt in comment_statements(con, changed):
            con.execute(stmt)
        con.execute("COMMIT")
        written = _views_in_build(con)
        if not reuse and final.exists():
            kept_aside = not _carry_over(con, final, snapshot, set(statements) | set(previous))
        con.execute("CHECKPOINT")
        con.execute("USE memory")
        con.execute(f"DETACH {_BUILD}")
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        con.close()
        for leftover in (snapshot, Path(f"{snapshot}.wal"), Path(f"{tmp}.wal")):
            leftover.unlink(missing_ok=True)
    if kept_aside:
        # Nothing an analyst made may vanish: the old file stays beside the new one.
        aside = lake.root / f"{CATALOG_FILE}.previous-{tag}"
        os.replace(final, aside)
        log.warning("could not read the tables of the previous %s: it is kept as %s", CATALOG_FILE, aside)
    os.replace(tmp, final)
    lake.write_state({"objects": signatures, "written": written, "storage_version": STORAGE_VERSION,
                      "landed": landed, "columns": columns}, "catalog")
    return final


def _landed_views(lake: Lake) -> set[str]:
    """The views that read only the landed files (and each other): raw_<table>, <table>, quarantine.
    No other view reads them."""
    return {f"raw_{name}" for name in TABLES} | set(TABLES) | {"quarantine"}


def _landed_fingerprint(lake: Lake) -> str:
    """A hash of every landed file the views read (path, size, modification time) and of DuckDB's
    version (which names the column types)."""
    files = [*(path for name in TABLES for path in (lake.raw / name).glob("*/*.parquet")),
             *lake.quarantine_dir.glob("*/*.parquet")]
    listed = sorted((p.relative_to(lake.root).as_posix(), st.st_size, st.st_mtime_ns)
                    for p in files for st in [p.stat()])
    return hashlib.sha256(json.dumps([duckdb.__version__, listed]).encode()).hexdigest()[:32]


def _views_in_build(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Per view of the build's main schema, a hash of its SQL and comment as the file holds them."""
    views = con.execute("SELECT view_name, sql, comment FROM duckdb_views() WHERE database_name = $db "
                        "AND schema_name = 'main' AND NOT internal", {"db": _BUILD}).fetchall()
    return {name: hashlib.sha256(json.dumps([sql, comment]).encode()).hexdigest()[:32] for name, sql, comment in views}


def _object_name(stmt: str) -> str:
    found = re.search(r"CREATE OR REPLACE (?:VIEW|MACRO) (\w+)", stmt)
    if not found:
        raise ValueError(f"not a view or macro: {stmt[:80]}")
    return found.group(1)


def _signatures(con: duckdb.DuckDBPyConnection, statements: dict[str, str], known: dict[str, list[list[str]]]
                ) -> tuple[dict[str, str], dict[str, list[list[str]]]]:
    """Per view and macro, a hash of what the catalog would hold for it: definition, columns with
    their types, comments; and the views' columns. The views are made in ``con``'s own in-memory
    database first (a view over a glob changes its columns with the files), except those whose
    columns are ``known`` (none of the others reads them)."""
    for name, stmt in statements.items():
        if name not in known:
            con.execute(stmt)
    columns: dict[str, list[list[str]]] = dict(known)
    for table, column, kind in con.execute(
            "SELECT table_name, column_name, data_type FROM duckdb_columns() "
            "WHERE database_name = 'memory' ORDER BY table_name, column_index").fetchall():
        if table not in known:
            columns.setdefault(table, []).append([column, kind])
    out = {}
    for name, stmt in statements.items():
        cols = columns.get(name)
        described = [stmt, view_comment(name), [(c, k, column_comment(name, c)) for c, k in cols or []]]
        digest = hashlib.sha256(json.dumps(described).encode()).hexdigest()[:32]
        out[name] = f"{'view' if cols is not None else 'macro'}:{digest}"
    return out, {name: cols for name, cols in columns.items() if name in statements}


# The header of a DuckDB file: "DUCK" at byte 8, then the storage format's number (64 for v1.0.0).
_STORAGE_NUMBER = {"v1.0.0": 64}


def _copy_with_wal(source: Path, target: Path) -> None:
    """A DuckDB file and its write-ahead log (what an open session has not checkpointed yet)."""
    shutil.copyfile(source, target)
    wal = Path(f"{source}.wal")
    if wal.exists():
        shutil.copyfile(wal, Path(f"{target}.wal"))


def _reusable(final: Path, tmp: Path, con: duckdb.DuckDBPyConnection) -> bool:
    """Copy the previous catalog to ``tmp`` and attach it as the build, if it is one recon wrote in
    ``STORAGE_VERSION`` and it opens (it may be an analyst's open file: copy it, never lock it)."""
    try:
        with open(final, "rb") as fh:
            header = fh.read(20)
        if header[8:12] != b"DUCK" or int.from_bytes(header[12:20], "little") != _STORAGE_NUMBER[STORAGE_VERSION]:
            return False
        _copy_with_wal(final, tmp)
        con.execute(f"ATTACH '{_quote(str(tmp))}' AS {_BUILD}")
    except (OSError, duckdb.Error) as exc:
        log.warning("cannot reuse the previous %s, writing a new one: %s", final.name, str(exc).splitlines()[0])
        return False
    return True


def _carry_over(con: duckdb.DuckDBPyConnection, final: Path, snapshot: Path, ours: set[str]) -> bool:
    """Copy the analysts' tables and views (schemas, data, comments) from the previous catalog into
    the new one. False when the previous file cannot be read at all.

    The previous file is copied first (with its write-ahead log) and the copy read: opening the file
    itself would fail while an analyst holds it open read-write, and would lock them out meanwhile."""
    try:
        _copy_with_wal(final, snapshot)
        con.execute(f"ATTACH '{_quote(str(snapshot))}' AS {_PREVIOUS} (READ_ONLY)")
    except (OSError, duckdb.Error) as exc:
        log.warning("cannot open the previous %s: %s", final.name, str(exc).splitlines()[0])
        return False
    try:
        _copy_user_objects(con, ours)
    finally:
        con.execute(f"DETACH {_PREVIOUS}")
    return True


def _copy_user_objects(con: duckdb.DuckDBPyConnection, ours: set[str]) -> None:
    prev = {"db": _PREVIOUS}
    for (schema,) in con.execute("SELECT schema_name FROM duckdb_schemas() WHERE database_name = $db "
                                 "AND NOT internal", prev).fetchall():
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    tables = con.execute("SELECT schema_name, table_name, sql, comment FROM duckdb_tables() "
                         "WHERE database_name = $db AND NOT temporary ORDER BY table_oid", prev).fetchall()
    for schema, name, ddl, comment in tables:
        if schema == "main" and name in ours:
            continue  # a view of recon's took the name; never expected, never fatal
        target, source = f'"{schema}"."{name}"', f'{_PREVIOUS}."{schema}"."{name}"'
        try:
            con.execute(ddl)
            con.execute(f"INSERT INTO {target} SELECT * FROM {source}")
        except duckdb.Error:
            # DDL naming what was not carried (a sequence, a type): the data without constraints.
            con.execute(f"DROP TABLE IF EXISTS {target}")
            con.execute(f"CREATE TABLE {target} AS SELECT * FROM {source}")
        _copy_comments(con, schema, name, comment, "TABLE")
    views = [v for v in con.execute("SELECT schema_name, view_name, sql, comment FROM duckdb_views() "
                                    "WHERE database_name = $db AND NOT internal AND NOT temporary ORDER BY view_oid",
                                    prev).fetchall()
             if not (v[0] == "main" and v[1] in ours)]
    # A view may read another: retry until a round creates nothing more.
    while views:
        failed = []
        for schema, name, ddl, comment in views:
            try:
                con.execute(ddl)
                _copy_comments(con, schema, name, comment, "VIEW")
            except duckdb.Error:
                failed.append((schema, name, ddl, comment))
        if len(failed) == len(views):
            for _schema, name, ddl, _comment in failed:
                log.warning("view %s of the previous catalog no longer binds, not kept: %s", name, ddl)
            break
        views = failed


def _copy_comments(con: duckdb.DuckDBPyConnection, schema: str, name: str, comment: str | None,
                   kind: str) -> None:
    target = f'"{schema}"."{name}"'
    if comment:
        con.execute(f"COMMENT ON {kind} {target} IS '{_quote(comment)}'")
    for column, text in con.execute(
            "SELECT column_name, comment FROM duckdb_columns() WHERE database_name = $db AND schema_name = $s "
            "AND table_name = $t AND comment IS NOT NULL", {"db": _PREVIOUS, "s": schema, "t": name}).fetchall():
        con.execute(f'COMMENT ON COLUMN {target}."{column}" IS \'{_quote(text)}\'')


def comment_statements(con: duckdb.DuckDBPyConnection, objects: list[str]) -> list[str]:
    """COMMENT ON every view of recon's and its columns: the data dictionary's text
    (``recon.lake.dictionary``, the same as docs/data-dictionary.md)."""
    out = []
    columns: dict[str, list[str]] = {}
    for table, column in con.execute("SELECT table_name, column_name FROM duckdb_columns() "
                                     "WHERE database_name = $db ORDER BY table_name, column_index",
                                     {"db": _BUILD}).fetchall():
        columns.setdefault(table, []).append(column)
    for name in objects:
        text = view_comment(name)
        if name not in columns:  # a macro
            if text:
                out.append(f"COMMENT ON MACRO {name} IS '{_quote(text)}'")
            continue
        if text:
            out.append(f"COMMENT ON VIEW {name} IS '{_quote(text)}'")
        for column in columns[name]:
            text = column_comment(name, column)
            if text:
                out.append(f'COMMENT ON COLUMN {name}."{column}" IS \'{_quote(text)}\'')
    return out
