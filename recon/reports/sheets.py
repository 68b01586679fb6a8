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


MISMATCHES = TableSheet("Mismatches", "mismatches.sql", paged="recon_mismatches", columns=(
    Column("Code", "text", max_width=32), Column("Explanation", "text", max_width=80), Column("Kind", "text"),
    _id("Exception ID"), Column("First seen", "date"), Column("Status", "text"),
    _id("Ledger"), _id("Reference"), _id("pspReference"), _id("Entur orderId"), _id("Entur payment"),
    _id("Entur transaction"), _id("Entur credit"), _id("Booking"),
    Column("Vipps amount", "money"), Column("Entur amount", "money"), Column("Booking amount", "money"),
    Column("Difference", "money"), Column("Currency", "text"), Column("Entur currency", "text"),
    Column("Vipps date", "date"), Column("Entur date", "date"), Column("Business date", "date"),
    Column("Age (days)", "int"), Column("Provisional", "bool"), Column("Incomplete: why", "text", max_width=60),
    Column("Vipps API", "text"), Column("Feed", "text"), Column("Entry type", "text"),
    Column("Settled amount", "money"), Column("Balance before", "money"), Column("Balance after", "money"),
    Column("Previous balance after", "money"), Column("Ledger date", "date"),
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
    _id("Booking"), Column("Vipps amount", "money"), Column("Entur amount", "money"),
    Column("Booking amount", "money"), Column("Difference", "money"), Column("Currency", "text"),
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
    Column("Open (no payout yet)", "bool"), Column("Opening balance", "money"), Column("Captures", "money"),
    Column("Refunds", "money"), Column("Fees retained", "money"), Column("Other movements", "money"),
    Column("Other types", "text", max_width=40), Column("Payout", "money"), Column("Closing balance", "money"),
    Column("Ties", "bool"), Column("Sales API gross", "money"), Column("Captures with a Sales entry", "money"),
    Column("Captures without (ePayment)", "money"), Column("Entries", "int"),
))

SETTLEMENT_FEES = (
    _id("Ledger"), Column("Currency", "text"), Column("Ledger date", "date"), Column("Fees", "money"),
    Column("Fee entries", "int"), Column("Fees retained", "money"), Column("Funds captures", "money"),
    Column("Effective fee rate", "percent"),
)

MATCHED = TableSheet("Matched", "matched.sql", paged="recon_matches", columns=(
    Column("Kind", "text"), Column("Match key", "int"), _id("Ledger"), _id("Reference"), _id("pspReference"),
    _id("Entur orderId"), _id("Entur payment"), _id("Entur credit"), _id("Entur transaction"),
    Column("Vipps amount", "money"), Column("Entur amount", "money"), Column("Difference", "money"),
    Column("Vipps currency", "text"), Column("Entur currency", "text"), Column("Vipps date", "date"),
    Column("Entur date", "date"), Column("Business date", "date"),
))

QUARANTINE = TableSheet("Quarantine", "quarantine.sql", (
    Column("Source", "text"), Column("Kind", "text"), Column("Reason", "text", max_width=60),
    _id("Record id"), Column("Context", "text", max_width=30), Column("Landed at", "datetime"),
    Column("Raw record", "text", max_width=100),
))

VAT = TableSheet("VAT", "vat.sql", (
    Column("Business date", "date"), Column("Currency", "text"), Column("VAT rate", "text"),
    Column("Rate known", "bool"), Column("Sales category", "text", max_width=30), Column("Gross", "money"),
    Column("Net", "money"), Column("VAT", "money"), Column("Lines", "int"), Column("Entries", "int"),
    Column("Provisional", "bool"),
))


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
    """VAT per date × rate × category, then totals per rate (charted) and per currency."""
    per_rate = fetch(con, "vat_per_rate.sql", params)
    currencies = sorted({r[0] for r in per_rate if r[0]})
    several = len(currencies) > 1
    # The footer rows use the detail's columns, so that widths and formats line up: the label in
    # the date column, money under money.
    rate_rows = [(f"{cur} {rate}" if several else rate, cur, rate, None, None, gross, net, vat, lines, None, None)
                 for cur, rate, gross, net, vat, lines in per_rate]
    totals = []
    for cur in currencies:
        rows = [r for r in per_rate if r[0] == cur]
        totals.append((f"Total {cur}", cur, None, None, None, *(_sum(r[i] for r in rows) for i in (2, 3, 4, 5)),
                       None, None))
    names = ("Rate", "Currency", "VAT rate", "", "", "Gross", "Net", "VAT", "Lines", "", "")
    columns = [Column(n, "text" if i == 0 else c.kind)
               for i, (n, c) in enumerate(zip(names, VAT.columns, strict=False))]
    after = [
        Block(columns, rate_rows, title="Per VAT rate, all dates of the period",
              chart=Chart("VAT per rate", category_col=1, value_col=8, y_title="VAT")),
        Block([Column({"Rate": "Total", "VAT rate": ""}.get(c.name, c.name), c.kind) for c in columns], totals,
              title="Per currency"),
    ]
    return book.table(VAT.name, VAT.columns, stream(con, VAT.sql, params), after=after)


def write_settlement(book: ReportWorkbook, con: duckdb.DuckDBPyConnection, params: dict[str, Any]) -> SheetResult:
    """Per ledger and payout the settlement proof; below it the fees per ledger date."""
    fees = Block(SETTLEMENT_FEES, fetch(con, "settlement_fees.sql", params),
                 title="Fees per ledger date (fees feed; effective rate = fees ÷ the funds captures of that date)")
    return book.table(SETTLEMENT.name, SETTLEMENT.columns, stream(con, SETTLEMENT.sql, params), after=[fees])


def _sum(values: Any) -> int | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None
