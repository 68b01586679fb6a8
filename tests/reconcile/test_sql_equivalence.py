"""Reconcile's SQL gives exactly what the frozen SQL gives (reference_sql/, see its README.md).

The frozen files are run the way the runner ran them when they were frozen: every step a temp
table, in the frozen step order, with the same parameters, then the same result queries written
as Parquet. Every result file of ``reconcile()`` must hold the same rows (all columns, exact
values, as multisets), the same column names and types, and recon_matches the same row order.
What ``reconcile()`` returns (matched, per code, VAT rows, provisional dates) must agree too.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest

from recon.config import Config, parse_config
from recon.lake.catalog import connect
from recon.lake.store import Lake
from recon.reconcile.runner import CHECK_SOURCES, incomplete_checks, read_span, reconcile

REFERENCE = Path(__file__).parent / "reference_sql"
BENCH = Path(__file__).resolve().parents[2] / "bench"

MACROS = ["macro_money.sql", "macro_strip_ref.sql", "macro_rate_text.sql", "macro_exception_id.sql"]
STEPS = [
    ("stg_vipps_entries", "stg_vipps_entries.sql"),
    ("stg_vipps_lines", "stg_vipps_lines.sql"),
    ("stg_payment_transactions", "stg_payment_transactions.sql"),
    ("stg_credit_transactions", "stg_credit_transactions.sql"),
    ("stg_vipps_funds", "stg_vipps_funds.sql"),
    ("stg_vipps_fees", "stg_vipps_fees.sql"),
    ("stg_vipps_sales_settle", "stg_vipps_sales_settle.sql"),
    ("vipps_side", "vipps_side.sql"),
    ("entur_side", "entur_side.sql"),
    ("key1", "key1.sql"),
    ("duplicates", "duplicates.sql"),
    ("key2", "key2.sql"),
    ("matches", "matches.sql"),
    ("vat_check", "vat_check.sql"),
    ("booking_check", "bookings.sql"),
    ("settlement_check", "settlement_check.sql"),
    ("balance_check", "balance_check.sql"),
    ("mismatches", "mismatches.sql"),
    ("vat", "vat_summary.sql"),
    ("settlement", "settlement_summary.sql"),
    ("settlement_fees", "settlement_fees.sql"),
]
RESULTS = ("recon_checks", "recon_matches", "recon_mismatches", "vat_summary", "settlement_summary",
           "settlement_fees")


def _bind(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if f"${k}" in sql}


def reference_run(config: Config, date_from: date, date_to: date, today: date, run_id: str,
                  failed: dict[str, str] | None, out: Path) -> tuple[dict[str, Path], dict[str, Any]]:
    """The frozen SQL, run as the runner of commit d516366 ran it; its result files under ``out``."""
    settings = config.reconcile
    lake = Lake(config.lake)
    params = {
        "date_from": date_from, "date_to": date_to, "window": settings.window_days,
        "tolerance": settings.tolerance, "vat_tolerance": settings.vat_line_tolerance,
        "prefix": settings.reference_prefix, "suffix": settings.reference_suffix,
        "today": today, "lag": settings.availability_lag_days,
        "payment_types": list(settings.vipps_payment_types),
        "grace": settings.settlement_grace_days, "span": read_span(settings),
    }
    con = connect(lake)
    try:
        con.execute(f"SET memory_limit = '{settings.memory_limit}'")
        for macro in MACROS:
            con.execute((REFERENCE / macro).read_text())
        con.execute("CREATE OR REPLACE TEMP TABLE incomplete_checks (code VARCHAR, reason VARCHAR)")
        if failed:
            con.executemany("INSERT INTO incomplete_checks VALUES (?, ?)", incomplete_checks(failed))
        rates = [(cur, rate) for cur, values in sorted(settings.vat_rates.items()) for rate in values]
        con.execute("CREATE OR REPLACE TEMP TABLE vat_rates (currency VARCHAR, rate_bp BIGINT)")
        if rates:
            con.executemany("INSERT INTO vat_rates VALUES (?, ?)", rates)
        for name, path in STEPS:
            sql = (REFERENCE / path).read_text()
            con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}", _bind(sql, params))
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
        paths = {}
        for name, query in sources.items():
            path = out / f"{name}.parquet"
            select = (f"SELECT *, '{run_id}' AS run_id, DATE '{date_from.isoformat()}' AS period_from, "
                      f"DATE '{date_to.isoformat()}' AS period_to, DATE '{today.isoformat()}' AS as_of, "
                      f"now() AS reconciled_at FROM ({query})")
            con.execute(f"COPY ({select}) TO '{path}' (FORMAT parquet, COMPRESSION zstd)",
                        {"f": date_from, "t": date_to} if "$f" in query else {})
            paths[name] = path
        summary = {
            "by_code": con.execute("SELECT code, count(*), sum(exposure), currency FROM mismatches "
                                   "GROUP BY code, currency ORDER BY code, currency NULLS LAST").fetchall(),
            "matched": con.execute("SELECT count(*) FROM matches WHERE outcome = 'MATCHED' "
                                   "AND row_date BETWEEN $f AND $t", {"f": date_from, "t": date_to}).fetchone()[0],
            "provisional": [r[0] for r in con.execute(
                "SELECT DISTINCT business_date FROM mismatches WHERE provisional UNION "
                "SELECT DISTINCT business_date FROM vat WHERE provisional ORDER BY 1").fetchall()],
            "vat_rows": con.execute("SELECT count(*) FROM vat").fetchone()[0],
        }
    finally:
        con.close()
    return paths, summary


def assert_same(config: Config, date_from: date, date_to: date, today: date, tmp: Path,
                failed: dict[str, str] | None = None) -> dict[str, int]:
    """Reconcile, run the reference, compare; returns the rows per result (so a case can check it
    compared something)."""
    run_id = "20260101T000000Z-equivalence"
    result = reconcile(config, date_from, date_to, run_id=run_id, today=today, failed=failed)
    ref_dir = tmp / "reference"
    ref_dir.mkdir(exist_ok=True)
    ref, summary = reference_run(config, date_from, date_to, today, run_id, failed, ref_dir)
    con = duckdb.connect()
    sizes = {}
    try:
        for name in RESULTS:
            new, old = f"read_parquet('{result.paths[name]}')", f"read_parquet('{ref[name]}')"
            assert (con.execute(f"DESCRIBE SELECT * FROM {new}").fetchall()
                    == con.execute(f"DESCRIBE SELECT * FROM {old}").fetchall()), name
            # reconciled_at is the lake's clock at the run, not a result.
            cols = "SELECT * EXCLUDE (reconciled_at) FROM"
            for a, b in ((new, old), (old, new)):
                extra = con.execute(f"SELECT count(*) FROM ({cols} {a} EXCEPT ALL {cols} {b})").fetchone()[0]
                assert extra == 0, f"{name}: {extra} rows of {a} not in {b}"
            sizes[name] = con.execute(f"SELECT count(*) FROM {new}").fetchone()[0]
        # recon_matches keeps its row order (the file's order is part of its contract).
        order = ("SELECT * EXCLUDE (reconciled_at, file_row_number) FROM read_parquet('{}', file_row_number = true) "
                 "ORDER BY file_row_number")
        assert (con.execute(order.format(result.paths["recon_matches"])).fetchall()
                == con.execute(order.format(ref["recon_matches"])).fetchall())
    finally:
        con.close()
    assert [(c.code, c.count, c.amount, c.currency) for c in result.by_code] == summary["by_code"]
    assert result.matched == summary["matched"]
    assert result.provisional_dates == summary["provisional"]
    assert result.vat_rows == summary["vat_rows"]
    return sizes


def _bench_lake(tmp_path_factory: Any, **options: Any) -> tuple[Path, Any, date, date, date]:
    sys.path.insert(0, str(BENCH))
    try:
        import _lake
    finally:
        sys.path.remove(str(BENCH))
    root = tmp_path_factory.mktemp("bench") / "lake"
    root.mkdir()
    days = 14
    _lake.generate(root, 5000, days=days, plant=30, **options)
    first, last = _lake.period_days(days, 4)
    return root, _lake, _lake.day(first), _lake.day(last), _lake.day(days + 1)


@pytest.fixture(scope="module")
def bench_lake(tmp_path_factory):
    """A small bench lake (bench/_lake.py) with every code planted, spanning days beyond the matching
    window on both sides, so that a filter reading too much or too little shows. Each test reconciles
    it again under the same run id (its result files are replaced; the raw files never change).
    Its feed positions are numbered as landing numbers them (one after another per ledger), so the
    balance chains are followed by position."""
    return _bench_lake(tmp_path_factory)


def _config(lake: Path, **reconcile_settings: Any) -> Config:
    return parse_config({"lake": {"path": str(lake)}, "vipps": {"ledgers": ["7000011", "7000012"], "client_id": "x"},
                         "reconcile": reconcile_settings})


def test_default_settings(bench_lake, tmp_path):
    root, _lake, first, last, today = bench_lake
    sizes = assert_same(_config(root), first, last, today, tmp_path)
    assert all(sizes[name] > 0 for name in RESULTS)


def test_a_failed_source(bench_lake, tmp_path):
    root, _lake, first, last, today = bench_lake
    assert_same(_config(root), first, last, today, tmp_path, failed={"entur": "x"})


def test_other_window_tolerances_and_payment_types(bench_lake, tmp_path):
    root, _lake, first, last, today = bench_lake
    config = _config(root, window_days=1, tolerance=50, vat_line_tolerance=0,
                     settlement_grace_days=0, vipps_payment_types=["WALLET", "CARD"])
    # A whole week, and a period at the lake's edge (windows reaching past the data).
    assert_same(config, first, first + (last - first) * 2, today, tmp_path)
    assert_same(config, _lake.day(0), _lake.day(2), today, tmp_path)


def test_feed_positions_with_gaps(tmp_path_factory, tmp_path):
    """Feed positions with gaps (day D's start at D × 10^7): every balance chain and the settlement
    summary take the sorted path, which must give the same rows."""
    root, _lake, first, last, today = _bench_lake(tmp_path_factory, gapped=True)
    sizes = assert_same(_config(root), first, last, today, tmp_path)
    assert sizes["settlement_summary"] > 0 and sizes["recon_mismatches"] > 0


def test_the_sample_data(tmp_path):
    from builders import embedded_config

    from recon.ops.sandboxed import pull

    config = embedded_config(tmp_path / "sample")
    assert pull(config).ok
    assert_same(config, date(2026, 10, 24), date(2026, 10, 26), date(2026, 11, 23), tmp_path)
