"""The table sheets of the workbook: each runs one query of recon/reports/sql/ and streams its rows.

Money arrives as BIGINT minor units and stays an integer until the writer turns it into exact
major-unit text; DATE columns are business dates in the ledger's zone already; timestamps are
converted to the ledger's zone in SQL (naive local time, which is what Excel can show).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import duckdb

from recon.lake.catalog import exceptions_sql
from recon.reports.excel import Block, Chart, Column, ReportWorkbook, SheetResult
from recon.sqlfiles import bind, sql_text

BATCH = 4096  # rows fetched from DuckDB at a time
PAGE = 20_000  # rows of a result file per query of a paged sheet


@dataclass(frozen=True)
class TableSheet:
    """A sheet that is one query: its name, its SQL file and one column spec per result column.

    ``paged``: the result view the query pages through by ``file_row_number`` (``$first``,
    ``$page``). DuckDB holds a query's whole result before the first row comes out, so the large
    sheets ask for one page at a time and memory stays flat however many rows there are.
    """

    name: str
    sql: str
    columns: tuple[Column, ...]
    paged: str | None = None


def _id(name: str) -> Column:
    return Column(name, "id", max_width=24)


def _money(name: str, *currency: str) -> Column:
    """A money column whose currency is in the row's Currency column (or the ones named)."""
    return Column(name, "money", currency=currency or ("Currency",))


# The sign of every difference, in its header (VAT rows: stated − expected VAT; the Summary says
# per code what the difference is).
DIFFERENCE = "Difference (Vipps − Entur)"

MISMATCHES = TableSheet("Mismatches", "mismatches.sql", paged="recon_mismatches", columns=(
    Column("Code", "text", max_width=32), Column("Explanation", "text", max_width=80), Column("Kind", "text"),
    _id("Exception ID"), Column("First seen", "date"), Column("Status", "text"),
    _id("Ledger"), _id("Reference"), _id("pspReference"), _id("Entur orderId"), _id("Entur payment"),
    _id("Entur transaction"), _id("Entur credit"), _id("Booking"),
    _money("Vipps amount"), _money("Entur amount", "Entur currency", "Currency"), _money("Booking amount"),
    _money(DIFFERENCE), Column("Currency", "text"), Column("Entur currency", "text"),
    Column("Vipps date", "date"), Column("Entur date", "date"), Column("Business date", "date"),
    Column("Age (days)", "int"), Column("Provisional", "bool"), Column("Incomplete: why", "text", max_width=60),
    Column("Vipps API", "text"), Column("Feed", "text"), Column("Entry type", "text"),
    _money("Settled amount"), _money("Balance before"), _money("Balance after"),
    _money("Previous balance after"), Column("Ledger date", "date"),
    # VAT_MISMATCH: the faulty line (none where the lines do not sum to the entry) and its VAT.
    _id("Line ID"), _money("Line gross"), _money("Line net"), _money("Stated VAT"), _money("Expected VAT"),
))

# The Worklist: every open exception of the lake, oldest first, with three columns for the accountant.
# `recon resolve` (recon/reports/resolve.py) reads it back by these header texts: keep them.
WORKLIST_EDITABLE = (Column("Resolution", "text", width=24, editable=True),
                     Column("Comment", "text", width=40, editable=True),
                     Column("Owner", "text", width=18, editable=True))
WORKLIST = TableSheet("Worklist", "worklist.sql", paged="report_worklist", columns=(
    _id("Exception ID"), Column("Code", "text", max_width=32), Column("Status", "text"), Column("First seen", "date"),
    Column("Age (days)", "int"), Column("Aging bucket", "text"), Column("Business date", "date"), _id("Ledger"),
    _id("Reference"), _id("pspReference"), _id("Entur orderId"), _id("Entur transaction"), _id("Entur credit"),
    _id("Booking"), _money("Vipps amount"), _money("Entur amount", "Entur currency", "Currency"),
    _money("Booking amount"), _money(DIFFERENCE), Column("Currency", "text"), Column("Entur currency", "text"),
    Column("Explanation", "text", max_width=80), *WORKLIST_EDITABLE,
))


def worklist_sheet(resolution_codes: Sequence[str]) -> TableSheet:
    """The Worklist with its Resolution column's drop-down list of ``[report] resolution_codes``."""
    columns = tuple(replace(c, choices=tuple(resolution_codes)) if c.name == "Resolution" else c
                    for c in WORKLIST.columns)
    return replace(WORKLIST, columns=columns)


SETTLEMENT = TableSheet("Settlement", "settlement.sql", (
    _id("Ledger"), _id("Payout account"), Column("Currency", "text"), _id("Payout pspReference"),
    Column("Payout ledger date", "date"), Column("Covers from", "date"), Column("Covers to", "date"),
    Column("Open (no payout yet)", "bool"), _money("Opening balance"), _money("Captures"),
    _money("Refunds"), _money("Fees retained"), _money("Other movements"),
    Column("Other types", "text", max_width=40), _money("Payout"), _money("Closing balance"),
    Column("Ties", "bool"), _money("Sales API gross"), _money("Captures with a Sales entry"),
    _money("Captures without (ePayment)"), Column("Entries", "int"),
))

SETTLEMENT_FEES = (
    _id("Ledger"), Column("Currency", "text"), Column("Ledger date", "date"), Column("Fees", "money"),
    Column("Fee entries", "int"), Column("Fees retained", "money"), Column("Funds captures", "money"),
    Column("Effective fee rate", "percent"),
)

MATCHED = TableSheet("Matched", "matched.sql", paged="recon_matches", columns=(
    Column("Kind", "text"), Column("Match key", "int"), _id("Ledger"), _id("Reference"), _id("pspReference"),
    _id("Entur orderId"), _id("Entur payment"), _id("Entur credit"), _id("Entur transaction"),
    _money("Vipps amount", "Vipps currency"), _money("Entur amount", "Entur currency"),
    _money(DIFFERENCE, "Vipps currency"), Column("Vipps currency", "text"), Column("Entur currency", "text"),
    Column("Vipps date", "date"),
    Column("Entur date", "date"), Column("Business date", "date"),
))

QUARANTINE = TableSheet("Quarantine", "quarantine.sql", (
    Column("Source", "text"), Column("Kind", "text"), Column("Reason", "text", max_width=60),
    _id("Record id"), Column("Context", "text", max_width=30), Column("Landed at", "datetime"),
    Column("Raw record", "text", max_width=100),
))

VAT = TableSheet("VAT", "vat.sql", (
    Column("Business date", "date"), Column("Currency", "text"), Column("VAT rate", "text"),
    Column("Rate known", "bool"), Column("Sales category", "text", max_width=30), _money("Gross"),
    _money("Net"), _money("VAT"), Column("Lines", "int"), Column("Entries", "int"),
    Column("Provisional", "bool"), _money("Gross − Net − VAT"),
    Column("Check", "text", max_width=50, wrap=True),
))

# Under the VAT table: every entry (or line) counted under rate "unknown", with its IDs. Its Gross
# column sums to the "unknown" rows' Gross, date by date.
VAT_UNKNOWN = (
    Column("Business date", "date"), Column("Currency", "text"), Column("Stated rate", "text"), _id("Ledger"),
    Column("Sales category", "text"), _money("Gross"), _money("Net"), _money("VAT"), _id("pspReference"),
    _id("Reference"), _id("Line ID"), _money("Gross − Net − VAT"),
    Column("Why unknown", "text", max_width=50, wrap=True),
)


def fetch(con: duckdb.DuckDBPyConnection, sql_file: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    sql = sql_text("recon.reports", sql_file)
    return con.execute(sql, bind(sql, params)).fetchall()


def stream(con: duckdb.DuckDBPyConnection, sql_file: str, params: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
    """Rows in batches, on a cursor of their own so that other queries may run meanwhile."""
    sql = sql_text("recon.reports", sql_file)
    cur = con.cursor()
    try:
        cur.execute(sql, bind(sql, params))
        while batch := cur.fetchmany(BATCH):
            yield from batch
    finally:
        cur.close()


def stream_dicts(con: duckdb.DuckDBPyConnection, sql_file: str,
                 params: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Rows by column name, in batches, on ``con`` itself (so the query sees its temporary tables:
    nothing else may run on ``con`` until the rows are read)."""
    sql = sql_text("recon.reports", sql_file)
    con.execute(sql, bind(sql, params))
    names = [d[0] for d in con.description or ()]
    while batch := con.fetchmany(BATCH):
        for row in batch:
            yield dict(zip(names, row, strict=True))


def pages(con: duckdb.DuckDBPyConnection, sheet: TableSheet, params: dict[str, Any],
          page: int | None = None) -> Iterator[tuple[Any, ...]]:
    """The rows of a paged sheet, one page of its result file per query, in file order."""
    assert sheet.paged is not None
    page = page or PAGE
    (total,) = con.execute(f"SELECT count(*) FROM {sheet.paged}").fetchone() or (0,)
    for first in range(0, total, page):
        yield from fetch(con, sheet.sql, {**params, "first": first, "page": page})


def write_table(book: ReportWorkbook, con: duckdb.DuckDBPyConnection, sheet: TableSheet,
                params: dict[str, Any]) -> SheetResult:
    rows = pages(con, sheet, params) if sheet.paged else stream(con, sheet.sql, params)
    return book.table(sheet.name, sheet.columns, rows)


def pin_exceptions(con: duckdb.DuckDBPyConnection, params: dict[str, Any]) -> None:
    """recon_exceptions on the report's as-of date (``params["today"]``), once per workbook, as the
    temporary table ``report_exceptions`` (and ``report_worklist``, its open rows) that the
    Mismatches and Worklist sheets and the Summary read. Needs the catalog's views (connect())."""
    sql = sql_text("recon.reports", "report_exceptions.sql").replace("{exceptions}", exceptions_sql("$today"))
    con.execute(sql, bind(sql, params))
    con.execute("CREATE OR REPLACE TEMP VIEW report_worklist AS "
                "SELECT * FROM report_exceptions WHERE worklist_row IS NOT NULL")


def write_vat(book: ReportWorkbook, con: duckdb.DuckDBPyConnection, params: dict[str, Any]) -> SheetResult:
    """VAT per date × rate × category with its check (Gross − Net − VAT and why a row does not tie),
    then totals per rate (charted) and per currency, and the entries counted under rate "unknown"."""
    per_rate = fetch(con, "vat_per_rate.sql", params)
    currencies = sorted({r[0] for r in per_rate if r[0]})
    several = len(currencies) > 1
    # The footer rows use the detail's columns, so that widths and formats line up: the label in
    # the date column, money under money.
    rate_rows = [(f"{cur} {rate}" if several else rate, cur, rate, None, None, gross, net, vat, lines, None, None,
                  untied, None)
                 for cur, rate, gross, net, vat, lines, untied in per_rate]
    totals = []
    for cur in currencies:
        rows = [r for r in per_rate if r[0] == cur]
        gross, net, vat, lines, untied = (_sum(r[i] for r in rows) for i in (2, 3, 4, 5, 6))
        totals.append((f"Total {cur}", cur, None, None, None, gross, net, vat, lines, None, None, untied, None))
    names = ("Rate", "Currency", "VAT rate", "", "", "Gross", "Net", "VAT", "Lines", "", "", "Gross − Net − VAT", "")
    columns = [Column(n, "text" if i == 0 else c.kind)
               for i, (n, c) in enumerate(zip(names, VAT.columns, strict=False))]
    unknown = [tuple(r) for r in fetch(con, "vat_unknown.sql", params)]
    after = [
        Block(columns, rate_rows, title="Per VAT rate, all dates of the period",
              chart=Chart("VAT per rate", category_col=1, value_col=8, y_title="VAT")),
        Block([Column({"Rate": "Total", "VAT rate": ""}.get(c.name, c.name), c.kind) for c in columns], totals,
              title="Per currency"),
        Block(VAT_UNKNOWN, unknown or [(*([None] * (len(VAT_UNKNOWN) - 1)), "none")],
              title='Entries counted under VAT rate "unknown" (their Gross adds up to the "unknown" rows above)'),
    ]
    return book.table(VAT.name, VAT.columns, stream(con, VAT.sql, params), after=after)


def write_settlement(book: ReportWorkbook, con: duckdb.DuckDBPyConnection, params: dict[str, Any]) -> SheetResult:
    """Per ledger and payout the settlement proof; below it the fees per ledger date."""
    fees = Block(SETTLEMENT_FEES, fetch(con, "settlement_fees.sql", params),
                 title="Fees per ledger date (fees feed; effective rate = −fees ÷ the funds captures of that date)")
    return book.table(SETTLEMENT.name, SETTLEMENT.columns, stream(con, SETTLEMENT.sql, params), after=[fees])


def _sum(values: Any) -> int | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None
