"""Reconcile: runs recon/reconcile/sql/*.sql in DuckDB and materialises the results in the lake.

Each query is one file; this module only orders them, binds the parameters (period,
tolerances, window, settlement grace) and writes ``recon_matches``, ``recon_mismatches``,
``vat_summary``, ``settlement_summary`` and ``settlement_fees`` as Parquet under
``<lake>/results/<table>/run_id=<run>/``. The catalog shows the latest run under
those names and every run under ``<name>_history``.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from recon.config import Config, ReconcileSettings
from recon.errors import ConfigError
from recon.lake.catalog import build_catalog, connect, scalar
from recon.lake.prune import pruned_before
from recon.lake.store import Lake, new_run_id, replace_durably
from recon.sqlfiles import bind, sql_text
from recon.timeutil import today_in

MACROS = ["macro_money.sql", "macro_strip_ref.sql", "macro_rate_text.sql", "macro_exception_id.sql",
          "macro_entur_id.sql"]

# The Report API's funds and fees (and the Sales entries they are compared with) are read this many
# days beyond the period on both sides (at least the matching window and a day): the settlement
# summary finds the payout before the period and the one after it, BALANCE_BREAK the entry before
# each entry of the period, when payouts are at most a month apart.
SETTLEMENT_SPAN_DAYS = 31

# The steps in dependency order: name, SQL file and the parameters of this step only, if any.
# The steps that need neither side of the matching come first, while nothing large is held: the
# settlement steps (the Report API's funds and fees, views over the Parquet files, one balance
# chain sorted at a time, and the Sales entries of the settlement read window, a view too), the
# booking checks, and the VAT steps (the Sales entries of the matching window, a view, and their
# order lines). Then the Vipps side and the Entur side are staged and matched.
STEPS: list[tuple[str, str] | tuple[str, str, dict[str, Any]]] = [
    ("stg_vipps_funds_copies", "stg_vipps_report_copies.sql", {"feed": "funds"}),
    ("stg_vipps_funds", "stg_vipps_funds.sql"),
    ("stg_vipps_fees_copies", "stg_vipps_report_copies.sql", {"feed": "fees"}),
    ("stg_vipps_fees", "stg_vipps_fees.sql"),
    ("stg_vipps_chains", "stg_vipps_chains.sql"),
    ("balance_check_funds", "balance_check.sql", {"feed": "funds"}),
    ("balance_check_fees", "balance_check.sql", {"feed": "fees"}),
    ("settlement_fees", "settlement_fees.sql"),
    ("stg_vipps_funds_ledgers", "stg_vipps_funds_ledgers.sql"),
    ("stg_vipps_entries_dropped", "stg_vipps_entries_dropped.sql"),
    ("stg_vipps_sales_settle", "stg_vipps_sales_settle.sql"),
    ("stg_vipps_sales_keys", "stg_vipps_sales_keys.sql"),
    ("stg_vipps_funds_unsold", "stg_vipps_funds_unsold.sql"),
    ("settlement_check", "settlement_check.sql"),
    ("settlement", "settlement_summary.sql"),
    ("booking_check", "bookings.sql"),
    ("stg_vipps_entries", "stg_vipps_entries.sql"),
    ("vat_check", "vat_check.sql"),
    ("vat", "vat_summary.sql"),
    ("vipps_side", "vipps_side.sql"),
    ("stg_payment_transactions", "stg_payment_transactions.sql"),
    ("stg_credit_transactions", "stg_credit_transactions.sql"),
    ("entur_side", "entur_side.sql"),
    ("key1", "key1.sql"),
    ("duplicates", "duplicates.sql"),
    ("leftover", "leftover.sql"),
    ("key2", "key2.sql"),
    ("key2_units", "key2_units.sql"),
    ("matches", "matches.sql"),
    ("mismatches", "mismatches.sql"),
]
# Steps run with DuckDB's build-side choice off, so that each join builds its hash table on the side
# written on its right: there a few rows, or only the columns joined on. DuckDB underestimates how
# many Sales entries pass several filters and would build on millions of them, every column
# included: out of memory at ten million entries a source.
SIDES_AS_WRITTEN = {"settlement", "settlement_check", "vipps_side"}
# The steps whose tables the runner reads after the steps (the result files and the figures).
RESULT_STEPS = {"matches", "mismatches", "vat", "settlement", "settlement_fees"}
# The steps staged as views, not tables: windows of a raw table that would not fit in memory as a
# whole at ten million entries. Each step reading one reads its columns from the Parquet files
# (a few small tables hold the entries landed more than once: *_copies, *_dropped).
VIEW_STEPS = {"stg_vipps_funds", "stg_vipps_fees", "stg_vipps_sales_settle", "stg_vipps_sales_keys",
              "stg_vipps_entries",
              # Every matched unit with both sides' columns: as big as the key 1 pairs it adds to.
              "matches"}


@dataclass
class CodeTotal:
    code: str
    count: int
    amount: int  # Σ exposure (mismatches.sql: |difference|, or the amount involved), minor units
    currency: str | None


@dataclass
class ReconcileResult:
    run_id: str
    date_from: date
    date_to: date
    matched: int
    mismatches: int
    by_code: list[CodeTotal]
    vat_rows: int
    provisional_dates: list[date]
    paths: dict[str, Path]
    incomplete: dict[str, str] = field(default_factory=dict)  # source -> why its data may be missing


# Which sources each check reads: a check reading a source that failed this run marks its rows
# `incomplete` (they may be caused by the missing data, not by a real difference).
CHECK_SOURCES: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("MISSING_IN_ENTUR", "MISSING_IN_VIPPS", "AMOUNT_MISMATCH", "CURRENCY_MISMATCH", "DUPLICATE",
                     "REFUND_WITHOUT_CREDIT", "CREDIT_WITHOUT_REFUND", "TIMING_DIFFERENCE"),
                    ("vipps", "vipps_report", "entur")),
    "VAT_MISMATCH": ("vipps",),
    "NOT_SETTLED": ("vipps", "vipps_report"),
    "SETTLEMENT_AMOUNT_MISMATCH": ("vipps", "vipps_report"),
    "BALANCE_BREAK": ("vipps_report",),
    "BOOKING_NOT_PAID": ("entur", "samtrafiken"),
    "BOOKING_REFUNDED_NOT_CREDITED": ("entur", "samtrafiken"),
}


def incomplete_checks(failed: dict[str, str]) -> list[tuple[str, str]]:
    """(code, reason) for every check that reads a failed source."""
    rows = []
    for code, sources in CHECK_SOURCES.items():
        reasons = [f"{source} did not land everything this run ({failed[source]})" for source in sources
                   if source in failed]
        if reasons:
            rows.append((code, "; ".join(reasons)))
    return rows


def run_steps(con: duckdb.DuckDBPyConnection, params: dict[str, Any], settings: ReconcileSettings,
              failed: dict[str, str] | None = None) -> None:
    """Create every intermediate and result as a TEMP table (or view, VIEW_STEPS) of ``con``."""
    for macro in MACROS:
        con.execute(sql_text("recon.reconcile", macro))
    con.execute("CREATE OR REPLACE TEMP TABLE incomplete_checks (code VARCHAR, reason VARCHAR)")
    if failed:
        con.executemany("INSERT INTO incomplete_checks VALUES (?, ?)", incomplete_checks(failed))
    rates = [(cur, rate) for cur, values in sorted(settings.vat_rates.items()) for rate in values]
    con.execute("CREATE OR REPLACE TEMP TABLE vat_rates (currency VARCHAR, rate_bp BIGINT)")
    if rates:
        con.executemany("INSERT INTO vat_rates VALUES (?, ?)", rates)
    # Intermediates are unordered sets: DuckDB need not keep their rows in order (less memory, more
    # parallel). The result tables are sorted by their own ORDER BY and must stay so in the files.
    last_read = _last_reads()
    for i, (name, path, *own) in enumerate(STEPS):
        sql = sql_text("recon.reconcile", path)
        step_params = {**params, **own[0]} if own else params
        ordered = "true" if name in RESULT_STEPS else "false"
        con.execute(f"SET preserve_insertion_order = {ordered}")
        con.execute("SET disabled_optimizers = " + ("'build_side_probe_side'" if name in SIDES_AS_WRITTEN else "''"))
        if name in VIEW_STEPS:
            # A view cannot hold prepared parameters: their values are written into its text.
            con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {inline(sql, step_params)}")
        else:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}", bind(sql, step_params))
        # An intermediate no later step reads is dropped at once, so memory holds only what is still needed.
        for done in [t for t, last in last_read.items() if last == i and t not in RESULT_STEPS]:
            con.execute(f"DROP {'VIEW' if done in VIEW_STEPS else 'TABLE'} {done}")
    con.execute("SET preserve_insertion_order = true")
    con.execute("SET disabled_optimizers = ''")


def _last_reads() -> dict[str, int]:
    """Per step's table, the index of the last step whose SQL reads it (its own, if none does; past
    the last step for a result, read when the results are written). A table a view reads is read
    whenever the view is, so it lives as long as the view."""
    last = {}
    reads: dict[str, list[str]] = {}
    for i, (name, path, *_own) in enumerate(STEPS):
        last[name] = i
        code = _without_comments(sql_text("recon.reconcile", path))
        reads[name] = [table for table, *_ in STEPS[:i] if re.search(rf"\b{table}\b", code)]
        for table in reads[name]:
            last[table] = i
    for name in RESULT_STEPS:
        last[name] = len(STEPS)
    for name, *_ in reversed(STEPS):
        if name in VIEW_STEPS:
            for table in reads[name]:
                last[table] = max(last[table], last[name])
    return last


def inline(sql: str, params: dict[str, Any]) -> str:
    """``sql`` with each ``$parameter`` replaced by its value as a SQL literal. Comments go first,
    so that a ``$word`` in one is left alone and a value can never end up in one."""
    def literal(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int):
            return str(value)
        if isinstance(value, date):
            return f"DATE '{value.isoformat()}'"
        if isinstance(value, str):
            return "'" + value.replace("'", "''") + "'"
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return "CAST([" + ", ".join(literal(v) for v in value) + "] AS VARCHAR[])"
        raise TypeError(f"no SQL literal for {value!r}")
    return re.sub(r"\$([a-z_]+)", lambda m: literal(params[m.group(1)]), _without_comments(sql))


def _without_comments(sql: str) -> str:
    """``sql`` without its ``--`` comments (no query here has ``--`` inside a string)."""
    return re.sub(r"--[^\n]*", "", sql)


def read_span(settings: ReconcileSettings) -> int:
    """How many days before a period reconcile reads (the settlement proof, the matching window)."""
    return max(SETTLEMENT_SPAN_DAYS, settings.window_days + 1)


def earliest_read(config: Config, today: date | None = None) -> date:
    """The first day the nightly run still reads: before its period (yesterday and recheck_days
    before it) by the read span. ``recon prune`` refuses to remove it."""
    first = (today or today_in(config.reconcile.timezone)) - timedelta(days=1 + config.run.recheck_days)
    return first - timedelta(days=read_span(config.reconcile))


def reconcile(config: Config, date_from: date, date_to: date, *, run_id: str | None = None,
              today: date | None = None, failed: dict[str, str] | None = None) -> ReconcileResult:
    """Reconcile the period over what has landed. ``failed`` names the sources this run could not
    pull completely (source -> why): the rows of every check that reads one are marked incomplete."""
    if date_to < date_from:
        raise ConfigError("--to must be on or after --from")
    settings = config.reconcile
    lake = Lake(config.lake)
    lake.ensure()
    pruned = pruned_before(lake)
    if pruned and date_from - timedelta(days=read_span(settings)) < pruned:
        # Checks over removed data would find everything missing and clear every open exception.
        raise ConfigError(f"the lake was pruned before {pruned}: a period from {date_from} reads back to "
                          f"{date_from - timedelta(days=read_span(settings))}; reconcile from "
                          f"{pruned + timedelta(days=read_span(settings))} or later")
    run_id = run_id or new_run_id()
    as_of = today or today_in(settings.timezone)
    params = {
        "date_from": date_from, "date_to": date_to, "window": settings.window_days,
        "tolerance": settings.tolerance, "vat_tolerance": settings.vat_line_tolerance,
        "prefix": settings.reference_prefix, "suffix": settings.reference_suffix,
        "today": as_of, "lag": settings.availability_lag_days,
        "payment_types": list(settings.vipps_payment_types),
        "grace": settings.settlement_grace_days,
        "span": read_span(settings),
    }
    con = connect(lake)
    try:
        con.execute(f"SET memory_limit = '{settings.memory_limit}'")
        con.execute(f"SET temp_directory = '{_q(lake.root / '_tmp')}'")
        run_steps(con, params, settings, failed)
        paths = _materialise(con, lake, run_id, date_from, date_to, as_of)
        by_code = [CodeTotal(*row) for row in con.execute(
            # Per currency: amounts in two currencies are never added up.
            "SELECT code, count(*), sum(exposure), currency "
            "FROM mismatches GROUP BY code, currency ORDER BY code, currency NULLS LAST").fetchall()]
        matched = scalar(con, "SELECT count(*) FROM matches WHERE outcome = 'MATCHED' "
                              "AND row_date BETWEEN $f AND $t", {"f": date_from, "t": date_to})
        provisional = [r[0] for r in con.execute(
            "SELECT DISTINCT business_date FROM mismatches WHERE provisional UNION "
            "SELECT DISTINCT business_date FROM vat WHERE provisional ORDER BY 1").fetchall()]
        vat_rows = scalar(con, "SELECT count(*) FROM vat")
    finally:
        con.close()
    lake.write_state({"run_id": run_id, "from": date_from.isoformat(), "to": date_to.isoformat(),
                      "finished_at": datetime.now(UTC).isoformat()}, "reconcile", "latest")
    build_catalog(lake)
    return ReconcileResult(run_id, date_from, date_to, matched, sum(c.count for c in by_code), by_code,
                           vat_rows, provisional, paths, dict(failed or {}))


def _materialise(con: duckdb.DuckDBPyConnection, lake: Lake, run_id: str, date_from: date,
                 date_to: date, as_of: date) -> dict[str, Path]:
    """Write the result tables of this run as Parquet (temporary name, then rename). Each row carries
    the run, its period and its as-of date; ``recon_checks`` lists every check the run made and
    whether it was complete (an exception it did not produce is cleared only by a complete check)."""
    checks = ", ".join(f"('{code}')" for code in CHECK_SOURCES)
    sources = {
        "recon_checks": f"SELECT c.code, i.reason AS incomplete FROM (VALUES {checks}) AS c(code) "
                        "LEFT JOIN incomplete_checks AS i USING (code) ORDER BY c.code",
        "recon_matches": "SELECT * FROM matches WHERE row_date BETWEEN $f AND $t "
                         "ORDER BY kind, match_key, order_key, psp_reference, entur_transaction_id",
        "recon_mismatches": "SELECT * FROM mismatches",
        "vat_summary": "SELECT * FROM vat",
        "settlement_summary": "SELECT * FROM settlement",
        "settlement_fees": "SELECT * FROM settlement_fees",
    }
    # Orders the runs for recon_exceptions: the lake's clock only moves forward, where run ids
    # made in one second would sort by their random part.
    reconciled_at = lake.landing_time()
    paths = {}
    for name, query in sources.items():
        final = lake.result_file(name, run_id)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f".data.{uuid.uuid4().hex[:8]}.tmp")
        params = {"f": date_from, "t": date_to} if "$f" in query else {}
        select = (f"SELECT *, '{run_id}' AS run_id, DATE '{date_from.isoformat()}' AS period_from, "
                  f"DATE '{date_to.isoformat()}' AS period_to, DATE '{as_of.isoformat()}' AS as_of, "
                  f"TIMESTAMPTZ '{reconciled_at.isoformat()}' AS reconciled_at FROM ({query})")
        con.execute(f"COPY ({select}) TO '{_q(tmp)}' (FORMAT parquet, COMPRESSION zstd)", params)
        replace_durably(tmp, final)
        paths[name] = final
    return paths


def _q(path: Path) -> str:
    return str(path).replace("'", "''")
