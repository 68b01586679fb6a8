"""The SQL stays editable: every code has its branch, no NOT IN lists, one landing-order rule."""

from __future__ import annotations

import re
from pathlib import Path

import recon
from recon.reports.summary import CODES

PACKAGE = Path(recon.__file__).parent
SQL = sorted(PACKAGE.glob("*/sql/*.sql"))
README = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")


def comments(path: Path) -> str:
    return "\n".join(line for line in path.read_text(encoding="utf-8").splitlines() if line.strip().startswith("--"))


def test_every_code_has_a_commented_branch_in_mismatches_sql():
    branches = comments(PACKAGE / "reconcile" / "sql" / "mismatches.sql")
    codes = sorted({*CODES, "TIMING_DIFFERENCE", "NOT_SETTLED", "SETTLEMENT_AMOUNT_MISMATCH", "BALANCE_BREAK"})
    assert len(codes) == 14
    assert [c for c in codes if not re.search(rf"\b{c}\b", branches)] == []


def test_every_code_is_in_the_readmes_rules_table():
    rows = {m.group(1) for m in re.finditer(r"^\| `([A-Z_]+)` \|", README, re.M)}
    assert set(CODES) | {"TIMING_DIFFERENCE", "NOT_SETTLED", "SETTLEMENT_AMOUNT_MISMATCH", "BALANCE_BREAK"} <= rows


def test_no_not_in_lists_and_no_in_subqueries():
    """Anti and semi joins say what they mean, and a NULL in a NOT IN list cannot hide rows."""
    offenders = [p.name for p in SQL if re.search(r"\bNOT\s+IN\s*\(|\bIN\s*\(\s*SELECT", p.read_text(), re.I)]
    assert offenders == []


def test_landing_order_is_one_macro():
    """ "Landed later" is defined once (landing_seq); no query orders by _landed_at itself."""
    assert any(p.name == "macro_landing_seq.sql" for p in SQL)
    # Quarantine rows have no _row_id: they keep the first copy by landing time alone.
    offenders = [p.name for p in SQL
                 if re.search(r"ORDER BY[^\n]*\b_landed_at\b", p.read_text().replace("landing_seq(_landed_at", ""))
                 and p.name not in ("macro_landing_seq.sql", "quarantine.sql")]
    assert offenders == []
    users = [p.name for p in SQL if "landing_seq(" in p.read_text()]
    assert {"latest_version.sql", "stg_payment_transactions.sql", "stg_credit_transactions.sql",
            "bookings.sql", "stg_vipps_report_copies.sql",
            "stg_vipps_entries_dropped.sql"} <= set(users)


def test_a_views_parameters_are_written_as_literals_and_its_comments_dropped():
    """A view cannot hold prepared parameters (runner.inline): each value becomes a literal that
    DuckDB reads back as the same value, and a $word in a comment is neither replaced nor fatal."""
    from datetime import date

    import duckdb

    from recon.reconcile.runner import inline

    sql = ("SELECT $n AS n, $d AS d, $types AS types, $s AS s -- $not_a_parameter, nor $d\n"
           "WHERE $d >= DATE '2000-01-01' -- the end")
    text = inline(sql, {"n": 3, "d": date(2026, 3, 1), "types": ["WALLET", "O'HARA", "$SPAN"], "s": "a'b"})
    assert "--" not in text and "not_a_parameter" not in text
    assert duckdb.sql(text).fetchall() == [(3, date(2026, 3, 1), ["WALLET", "O'HARA", "$SPAN"], "a'b")]
