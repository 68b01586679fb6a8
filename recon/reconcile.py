"""Reconcile: runs recon/sql/reconcile/*.sql in DuckDB and materialises the results in the lake.

Each query is one file; this module only orders them, binds the parameters (period,
tolerances, window) and writes ``recon_matches``, ``recon_mismatches`` and ``vat_summary`` as
Parquet under ``<lake>/results/<table>/run_id=<run>/``. The catalog shows the latest run under
those names and every run under ``<name>_history``.
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import duckdb

from .catalog import build_catalog, connect, sql_text
from .config import Config
from .errors import ConfigError
from .landing import Lake, new_run_id
from .values import zone

# Norwegian and Swedish rates (basis points): data, overridable per currency in recon.toml.
DEFAULT_VAT_RATES: dict[str, list[int]] = {
    "NOK": [2500, 1500, 1200, 0],
    "SEK": [2500, 1200, 600, 0],
}

MACROS = ["reconcile/macro_money.sql", "reconcile/macro_strip_ref.sql", "reconcile/macro_rate_text.sql"]

# Temp tables in dependency order: name -> SQL file.
STEPS = [
    ("stg_vipps_entries", "reconcile/stg_vipps_entries.sql"),
    ("stg_vipps_lines", "reconcile/stg_vipps_lines.sql"),
    ("stg_payment_transactions", "reconcile/stg_payment_transactions.sql"),
    ("stg_credit_transactions", "reconcile/stg_credit_transactions.sql"),
    ("vipps_side", "reconcile/vipps_side.sql"),
    ("entur_side", "reconcile/entur_side.sql"),
    ("key1", "reconcile/key1.sql"),
    ("duplicates", "reconcile/duplicates.sql"),
    ("key2", "reconcile/key2.sql"),
    ("matches", "reconcile/matches.sql"),
    ("vat_check", "reconcile/vat_check.sql"),
    ("booking_check", "reconcile/bookings.sql"),
    ("mismatches", "reconcile/mismatches.sql"),
    ("vat", "reconcile/vat_summary.sql"),
]


@dataclass(frozen=True)
class ReconcileSettings:
    window_days: int = 3
    tolerance: int = 0  # minor units
    vat_line_tolerance: int = 1  # minor units
    reference_prefix: str = ""
    reference_suffix: str = ""
    availability_lag_days: int = 0
    timezone: str = "Europe/Oslo"
    memory_limit: str = "2GB"  # DuckDB spills to <lake>/_tmp beyond this instead of growing
    vat_rates: dict[str, list[int]] = field(default_factory=lambda: dict(DEFAULT_VAT_RATES))

    @classmethod
    def from_config(cls, config: Config) -> "ReconcileSettings":
        data = config.raw.get("reconcile", {})
        if not isinstance(data, dict):
            raise ConfigError("[reconcile] must be a table")
        known = {"window_days", "tolerance", "vat_line_tolerance", "reference_prefix", "reference_suffix",
                 "availability_lag_days", "timezone", "vat_rates", "memory_limit"}
        extra = sorted(set(data) - known)
        if extra:
            raise ConfigError(f"unknown key reconcile.{extra[0]} in the configuration")
        values: dict[str, Any] = {}
        for key in ("window_days", "tolerance", "vat_line_tolerance", "availability_lag_days"):
            if key in data:
                value = data[key]
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ConfigError(f"reconcile.{key} must be an integer >= 0")
                values[key] = value
        for key in ("reference_prefix", "reference_suffix", "timezone", "memory_limit"):
            if key in data:
                if not isinstance(data[key], str):
                    raise ConfigError(f"reconcile.{key} must be a string")
                values[key] = data[key]
        if "vat_rates" in data:
            rates = data["vat_rates"]
            if not isinstance(rates, dict) or not all(
                    isinstance(v, list) and all(isinstance(r, int) and not isinstance(r, bool) for r in v)
                    for v in rates.values()):
                raise ConfigError("reconcile.vat_rates must map currencies to lists of basis points")
            values["vat_rates"] = {**DEFAULT_VAT_RATES, **rates}
        settings = cls(**values)
        try:
            zone(settings.timezone)
        except Exception:
            raise ConfigError(f"reconcile.timezone is not a known time zone: {settings.timezone!r}") from None
        return settings


@dataclass
class CodeTotal:
    code: str
    count: int
    amount: int  # Σ |difference| (or the amount involved), minor units
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


def _bind(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    """Only the parameters a query names (DuckDB refuses unused ones)."""
    used = set(re.findall(r"\$([a-z_]+)", sql))
    return {k: v for k, v in params.items() if k in used}


def today_in(tz: str) -> date:
    return datetime.now(timezone.utc).astimezone(zone(tz)).date()


def run_steps(con: duckdb.DuckDBPyConnection, params: dict[str, Any], settings: ReconcileSettings) -> None:
    """Create every intermediate and result table as a TEMP table of ``con``."""
    for macro in MACROS:
        con.execute(sql_text(macro))
    rates = [(cur, rate) for cur, values in sorted(settings.vat_rates.items()) for rate in values]
    con.execute("CREATE OR REPLACE TEMP TABLE vat_rates (currency VARCHAR, rate_bp BIGINT)")
    if rates:
        con.executemany("INSERT INTO vat_rates VALUES (?, ?)", rates)
    for name, path in STEPS:
        sql = sql_text(path)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}", _bind(sql, params))


def reconcile(config: Config, date_from: date, date_to: date, *, run_id: str | None = None,
              today: date | None = None) -> ReconcileResult:
    if date_to < date_from:
        raise ConfigError("--to must be on or after --from")
    settings = ReconcileSettings.from_config(config)
    lake = Lake(config.lake)
    lake.ensure()
    run_id = run_id or new_run_id()
    params = {
        "date_from": date_from, "date_to": date_to, "window": settings.window_days,
        "tolerance": settings.tolerance, "vat_tolerance": settings.vat_line_tolerance,
        "prefix": settings.reference_prefix, "suffix": settings.reference_suffix,
        "today": today or today_in(settings.timezone), "lag": settings.availability_lag_days,
    }
    con = connect(lake)
    try:
        con.execute(f"SET memory_limit = '{settings.memory_limit}'")
        con.execute(f"SET temp_directory = '{_q(lake.root / '_tmp')}'")
        run_steps(con, params, settings)
        paths = _materialise(con, lake, run_id, date_from, date_to)
        by_code = [CodeTotal(*row) for row in con.execute(
            "SELECT code, count(*), sum(abs(coalesce(difference, vipps_amount, entur_amount, booking_amount, 0))), "
            "CASE WHEN count(DISTINCT currency) = 1 THEN min(currency) END "
            "FROM mismatches GROUP BY code ORDER BY code").fetchall()]
        matched = con.execute("SELECT count(*) FROM matches WHERE outcome = 'MATCHED' "
                              "AND row_date BETWEEN $f AND $t", {"f": date_from, "t": date_to}).fetchone()[0]
        provisional = [r[0] for r in con.execute(
            "SELECT DISTINCT business_date FROM mismatches WHERE provisional UNION "
            "SELECT DISTINCT business_date FROM vat WHERE provisional ORDER BY 1").fetchall()]
        vat_rows = con.execute("SELECT count(*) FROM vat").fetchone()[0]
    finally:
        con.close()
    lake.write_state({"run_id": run_id, "from": date_from.isoformat(), "to": date_to.isoformat(),
                      "finished_at": datetime.now(timezone.utc).isoformat()}, "reconcile", "latest")
    build_catalog(lake)
    return ReconcileResult(run_id, date_from, date_to, matched, sum(c.count for c in by_code), by_code,
                           vat_rows, provisional, paths)


def _materialise(con: duckdb.DuckDBPyConnection, lake: Lake, run_id: str, date_from: date,
                 date_to: date) -> dict[str, Path]:
    """Write the three result tables of this run as Parquet (temporary name, then rename)."""
    sources = {
        "recon_matches": "SELECT * FROM matches WHERE row_date BETWEEN $f AND $t "
                         "ORDER BY kind, match_key, order_key, psp_reference, entur_transaction_id",
        "recon_mismatches": "SELECT * FROM mismatches",
        "vat_summary": "SELECT * FROM vat",
    }
    paths = {}
    for name, query in sources.items():
        directory = lake.root / "results" / name / f"run_id={run_id}"
        directory.mkdir(parents=True, exist_ok=True)
        final = directory / "data.parquet"
        tmp = directory / f".data.{uuid.uuid4().hex[:8]}.tmp"
        params = {"f": date_from, "t": date_to} if "$f" in query else {}
        select = (f"SELECT *, '{run_id}' AS run_id, DATE '{date_from.isoformat()}' AS period_from, "
                  f"DATE '{date_to.isoformat()}' AS period_to FROM ({query})")
        con.execute(f"COPY ({select}) TO '{_q(tmp)}' (FORMAT parquet, COMPRESSION zstd)", params)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, final)
        paths[name] = final
    return paths


def _q(path: Path) -> str:
    return str(path).replace("'", "''")
