"""The two layout sheets: Summary (what an accountant reads first) and Control (what ties it together).

Both are written after the table sheets, because they report on them: which sheets were split,
how many cells were cut, and (Control) the rows and money totals of every other sheet.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import duckdb

from recon.config import Config
from recon.lake.schemas import TABLES
from recon.reconcile.runner import ReconcileResult
from recon.reports.excel import Block, Column, Percent, ReportWorkbook, SheetResult
from recon.reports.sheets import DIFFERENCE, fetch, stream_dicts
from recon.sqlfiles import sql_text
from recon.timeutil import zone

# Every mismatch code recon produces (README, "Reconciliation"), in that order: what it means (and
# what its Difference is), and what to do next, one line each for the reader of the workbook.
CODES: dict[str, str] = {
    "MISSING_IN_ENTUR": "A Vipps capture matches no CAPTURED Entur Vipps payment transaction, neither by "
                        "pspReference nor by order. Difference: the Vipps amount.",
    "MISSING_IN_VIPPS": "A CAPTURED Entur Vipps payment transaction matches no Vipps capture, neither by "
                        "pspReference nor by order. Difference: − the Entur amount.",
    "AMOUNT_MISMATCH": "Vipps and Entur match (by pspReference, or by order sums) but the amounts differ by more "
                       "than the tolerance. Difference: Vipps − Entur.",
    "CURRENCY_MISMATCH": "Vipps and Entur match but in different currencies, so the amounts were not compared "
                         "(no Difference). Amount: the Vipps amount involved.",
    "DUPLICATE": "One side recorded an order's money twice (same amount, other IDs) and the other did not; a row "
                 "per surplus entry. Difference: the surplus (Vipps +, Entur −).",
    "REFUND_WITHOUT_CREDIT": "A Vipps refund matches no CREDITED Entur Vipps credit transaction, neither by "
                             "pspReference nor by order. Difference: the Vipps refund.",
    "CREDIT_WITHOUT_REFUND": "A CREDITED Entur Vipps credit transaction matches no Vipps refund, neither by "
                             "pspReference nor by order. Difference: − the Entur credit.",
    "VAT_MISMATCH": "A Vipps entry's VAT does not add up: a line's VAT is off its rate, or its net + VAT is not "
                    "its gross, or the lines do not sum to the entry. Difference: stated − expected VAT "
                    "(a net fault: net + VAT − gross).",
    "BOOKING_NOT_PAID": "A Samtrafiken booking is FULFILLED but its order has no CAPTURED Entur payment "
                        "transaction. Amount: the booking's price.",
    "BOOKING_REFUNDED_NOT_CREDITED": "A Samtrafiken booking is REFUNDED (refund above 0) but its order has no "
                                     "CREDITED Entur credit. Amount: the refund.",
    "TIMING_DIFFERENCE": "Vipps and Entur match and agree, but their business dates are further apart than the "
                         "matching window (Difference 0). Amount: the Vipps amount involved.",
    "NOT_SETTLED": "A Vipps Sales API capture or refund has no funds entry in the Report API although its ledger's "
                   "funds are landed past the grace period: the money has not reached a payout. Difference: the "
                   "whole Sales amount.",
    "SETTLEMENT_AMOUNT_MISMATCH": "A Vipps Sales API entry and its funds entry (same ledger, type, pspReference) "
                                  "differ by more than the tolerance. Difference: Sales − funds.",
    "BALANCE_BREAK": "A Report API feed's running balance breaks between two entries: an entry is missing or "
                     "doubled, so the funds or fees landed do not prove complete. Difference: the gap.",
}
# What the reader does next about each code, one line each (same order and keys as CODES).
NEXT_STEPS: dict[str, str] = {
    "MISSING_IN_ENTUR": "Find the order in Entur: a sale Entur never booked is booked there, else the "
                        "Vipps payment is refunded.",
    "MISSING_IN_VIPPS": "Check the Vipps portal for the pspReference: if Vipps never captured it, have Entur "
                        "void or correct the transaction.",
    "AMOUNT_MISMATCH": "Compare the order in both systems and correct the side that is wrong (a partial capture "
                       "or refund not yet booked?).",
    "CURRENCY_MISMATCH": "Check the order's currency in Entur and correct it; the amounts are compared once the "
                         "currencies agree.",
    "DUPLICATE": "Refund or void the surplus entry named on the row, on the side that holds it twice.",
    "REFUND_WITHOUT_CREDIT": "Book the credit in Entur for the refunded order, or ask Vipps why the refund was "
                             "made.",
    "CREDIT_WITHOUT_REFUND": "Make the refund in Vipps (the customer has not had the money back), or cancel the "
                             "Entur credit.",
    "VAT_MISMATCH": "Correct the sale's VAT at its source (the till or shop setup) and report it to the tax "
                    "return with the corrected figures.",
    "BOOKING_NOT_PAID": "Check whether the journey was paid another way; otherwise claim the payment or cancel "
                        "the booking.",
    "BOOKING_REFUNDED_NOT_CREDITED": "Book the credit in Entur for the refunded booking.",
    "TIMING_DIFFERENCE": "Usually nothing: check that both dates fall in the same accounting period, else accrue "
                         "across the period end.",
    "NOT_SETTLED": "Wait for the next funds feed; if still missing after a payout, ask Vipps MobilePay where the "
                   "money went.",
    "SETTLEMENT_AMOUNT_MISMATCH": "Ask Vipps MobilePay why the settled amount differs from the sale (fee, "
                                  "partial capture?).",
    "BALANCE_BREAK": "Pull the ledger's feed again (recon pull vipps_report --date D); if the break stays, raise "
                     "it with Vipps MobilePay.",
}
# The codes that are outcomes of matching Vipps against Entur: the match rate's denominator.
MATCHING_CODES = frozenset([*list(CODES)[:7], "TIMING_DIFFERENCE"])

# The age buckets of recon_exceptions (recon/lake/sql/exceptions.sql), youngest first.
AGING_BUCKETS = ("0-2", "3-7", "8-30", "over 30")

# The "By code" sheet: each code's exceptions under their own header, with the columns shared by
# every code, then the code's own (sql column, header, kind), then the explanation; so that it
# prints legibly one page wide where the Mismatches table (every column of every code) cannot.
BY_CODE_COMMON = (("exception_id", "Exception ID", "id"), ("business_date", "Business date", "date"),
                  ("status", "Status", "text"), ("age_days", "Age (days)", "int"), ("ledger_id", "Ledger", "id"),
                  ("currency", "Currency", "text"))
_VIPPS_UNMATCHED = (("reference", "Reference", "id"), ("psp_reference", "pspReference", "id"),
                    ("order_id", "Entur orderId", "id"), ("vipps_amount", "Vipps amount", "money"),
                    ("vipps_date", "Vipps date", "date"), ("vipps_api", "Vipps API", "text"))
_ENTUR_UNMATCHED = (("order_id", "Entur orderId", "id"), ("entur_payment_id", "Entur payment", "id"),
                    ("entur_credit_id", "Entur credit", "id"), ("entur_transaction_id", "Entur transaction", "id"),
                    ("entur_amount", "Entur amount", "money"), ("entur_date", "Entur date", "date"))
_PAIR = (("reference", "Reference", "id"), ("psp_reference", "pspReference", "id"),
         ("entur_transaction_id", "Entur transaction", "id"), ("vipps_amount", "Vipps amount", "money"),
         ("entur_amount", "Entur amount", "money"), ("difference", DIFFERENCE, "money"))
_BOOKING = (("booking_id", "Booking", "id"), ("order_id", "Entur orderId", "id"),
            ("booking_amount", "Booking amount", "money"))
BY_CODE_COLUMNS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "MISSING_IN_ENTUR": _VIPPS_UNMATCHED,
    "MISSING_IN_VIPPS": _ENTUR_UNMATCHED,
    "AMOUNT_MISMATCH": _PAIR,
    "CURRENCY_MISMATCH": (("reference", "Reference", "id"), ("psp_reference", "pspReference", "id"),
                          ("entur_transaction_id", "Entur transaction", "id"),
                          ("vipps_amount", "Vipps amount", "money"),
                          ("entur_amount", "Entur amount", "money"), ("entur_currency", "Entur currency", "text")),
    "DUPLICATE": _PAIR,
    "REFUND_WITHOUT_CREDIT": _VIPPS_UNMATCHED,
    "CREDIT_WITHOUT_REFUND": _ENTUR_UNMATCHED,
    "VAT_MISMATCH": (("psp_reference", "pspReference", "id"), ("line_id", "Line ID", "id"),
                     ("line_gross", "Line gross", "money"), ("stated_vat", "Stated VAT", "money"),
                     ("expected_vat", "Expected VAT", "money"),
                     ("difference", "Difference (stated − expected)", "money")),
    "BOOKING_NOT_PAID": _BOOKING,
    "BOOKING_REFUNDED_NOT_CREDITED": _BOOKING,
    "TIMING_DIFFERENCE": (("reference", "Reference", "id"), ("psp_reference", "pspReference", "id"),
                          ("entur_transaction_id", "Entur transaction", "id"),
                          ("vipps_amount", "Vipps amount", "money"),
                          ("vipps_date", "Vipps date", "date"), ("entur_date", "Entur date", "date")),
    "NOT_SETTLED": (("reference", "Reference", "id"), ("psp_reference", "pspReference", "id"),
                    ("entry_type", "Entry type", "text"), ("vipps_amount", "Sales amount", "money"),
                    ("difference", "Difference (not settled)", "money")),
    "SETTLEMENT_AMOUNT_MISMATCH": (("reference", "Reference", "id"), ("psp_reference", "pspReference", "id"),
                                   ("entry_type", "Entry type", "text"), ("vipps_amount", "Sales amount", "money"),
                                   ("settled_amount", "Settled amount", "money"),
                                   ("difference", "Difference (Sales − funds)", "money")),
    "BALANCE_BREAK": (("feed", "Feed", "text"), ("psp_reference", "pspReference", "id"),
                      ("settled_amount", "Amount", "money"), ("balance_before", "Balance before", "money"),
                      ("previous_balance_after", "Previous balance after", "money"), ("difference", "Gap", "money")),
}
BY_CODE_SLOTS = 6  # own columns per code, at most
BY_CODE_WIDTHS = (16, 13, 9, 8, 10, 11, 15, 15, 17, 15, 15, 17, 60)
SUMMARY_WIDTHS = (32, 17, 19, 19, 15, 62, 52)
CONTROL_WIDTHS = (28, 30, 26, 26, 22, 22, 10, 8, 60)


@dataclass
class ReportContext:
    """Everything the layout sheets say that does not come from a query."""

    config: Config
    result: ReconcileResult
    timezone: str
    as_of: date
    generated_at: datetime  # naive, ledger zone
    max_rows: int
    include_matched: bool
    manifests: list[dict[str, Any]]
    lake_id: str = ""  # Lake.lake_id(): `recon resolve` refuses a workbook of another lake


def _auto(n: int) -> list[Column]:
    return [Column("", "auto") for _ in range(n)]


def _note(text: str = "") -> Column:
    """The Summary's note columns: text wrapping within the column, so it prints in full."""
    return Column(text, "text", wrap=True)


def _label(text: str) -> Column:
    return Column(text, "text")


def match_rate(matched: int, code_counts: dict[str, int]) -> Percent | None:
    denominator = matched + sum(n for code, n in code_counts.items() if code in MATCHING_CODES)
    if not denominator:
        return None
    return Percent((Decimal(matched) / Decimal(denominator)).quantize(Decimal("0.0001"), ROUND_HALF_EVEN))


def _public_url(url: str) -> str:
    """A base URL as safe to print: no user info, query or fragment (secrets never reach a cell)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def data_origin(config: Config) -> dict[str, str]:
    """Per source, where its data came from."""
    if config.sandbox.embedded:
        where = f"embedded sandbox serving {config.sandbox.data}" if config.sandbox.data else \
            "embedded sandbox serving the shipped sample data"
        return {name: where for name in config.sources()}
    out: dict[str, str] = {}
    if config.vipps:
        ledgers = (", ".join(f"{l.ledger_id} ({l.timezone})" for l in config.vipps.ledgers)
                   if not config.vipps.auto_ledgers else "as granted (auto)")
        out["vipps"] = f"Vipps MobilePay Sales API {_public_url(config.vipps.base_url)}, ledgers {ledgers}"
        if config.vipps_report:
            out["vipps_report"] = (f"Vipps Report API {_public_url(config.vipps.base_url)}, "
                                   f"{' and '.join(config.vipps_report.topics)} feeds, ledgers {ledgers}")
    if config.entur:
        out["entur"] = f"Entur Sales API {_public_url(config.entur.base_url)}"
    if config.samtrafiken:
        out["samtrafiken"] = (f"Samtrafiken Bookings API {_public_url(config.samtrafiken.base_url)}, "
                              f"organisation {config.samtrafiken.organization_code}")
    return out


def split_note(sheet: SheetResult, max_rows: int) -> str:
    if not sheet.split:
        return "one sheet"
    more = ", ".join(p.name for p in sheet.parts[1:])
    return (f"more than {max_rows - 1:,} rows per sheet (report.max_rows_per_sheet = {max_rows:,} with the "
            f"header): continues on {more}; every row is on exactly one of them")


def incomplete_banner(incomplete: dict[str, str]) -> list[Block]:
    """First thing on the Summary when a source failed: what is missing and which rows it touches."""
    if not incomplete:
        return []
    rows: list[list[Any]] = [["INCOMPLETE", None, None, None, None,
                              "a source did not land everything this run; the exceptions of every check that reads "
                              "it are marked in the Mismatches sheet's 'Incomplete: why' column and may be caused "
                              "by the missing data. A rerun resumes where the data is safe."]]
    rows += [[f"{source} failed", None, None, None, None, why] for source, why in sorted(incomplete.items())]
    return [Block([*_auto(5), _note()], rows, header=False)]


def _code_order(code: str) -> tuple[int, str]:
    """The README's order of the codes; an undocumented one after them, by name."""
    order = list(CODES)
    return (order.index(code), "") if code in order else (len(order), code)


def _dates(first: date | None, last: date | None) -> str | None:
    if first is None or last is None:
        return None
    return first.isoformat() if first == last else f"{first.isoformat()} to {last.isoformat()}"


def _bucket_order(bucket: str) -> tuple[int, str]:
    return (AGING_BUCKETS.index(bucket), "") if bucket in AGING_BUCKETS else (len(AGING_BUCKETS), bucket)


def aging_rows(found: list[tuple[Any, ...]]) -> list[list[Any]]:
    """Open exceptions per code × currency × age bucket (the buckets that have some), then per
    currency "All codes" in every bucket, 0 where there is none."""
    rows: list[list[Any]] = []
    totals: dict[str | None, dict[str, list[Any]]] = {}
    for code, currency, bucket, n, amount, first, last in sorted(
            found, key=lambda r: (_code_order(r[0]), r[1] or "~", _bucket_order(r[2]))):
        rows.append([code, n, amount, currency, bucket, _dates(first, last)])
        total = totals.setdefault(currency, {}).setdefault(bucket, [0, 0, first, last])
        total[0] += n
        total[1] += amount
        total[2] = min((d for d in (total[2], first) if d is not None), default=None)
        total[3] = max((d for d in (total[3], last) if d is not None), default=None)
    for currency, per in sorted(totals.items(), key=lambda kv: kv[0] or "~"):
        for bucket in sorted({*AGING_BUCKETS, *per}, key=_bucket_order):
            n, amount, first, last = per.get(bucket, [0, 0, None, None])
            rows.append(["All codes", n, amount, currency, bucket, _dates(first, last)])
    return rows or [["none open", 0, None, None, None, None]]


def write_summary(book: ReportWorkbook, con: duckdb.DuckDBPyConnection, ctx: ReportContext,
                  tables: list[SheetResult]) -> SheetResult:
    r = ctx.result
    codes = fetch(con, "codes.sql", {})
    counts: dict[str, int] = {}
    for code, _cur, n, _amount in codes:
        counts[code] = counts.get(code, 0) + n
    rate = match_rate(r.matched, counts)
    cut = sum(p.cut_cells for t in tables for p in t.parts)

    facts: list[list[Any]] = [
        ["Period", r.date_from, r.date_to],
        ["As of", ctx.as_of, None, None, None, "ages in days and provisional dates are counted from this date"],
        ["Time zone", ctx.timezone, None, None, None, "business dates and times are in this zone"],
        ["Matched units", r.matched],
        ["Exceptions", sum(counts.values()), None, None, None, "one row each on the Mismatches sheet"],
        ["Match rate", rate if rate is not None else "n/a", None, None, None,
         "matched units ÷ (matched units + exceptions of the codes marked yes under In match rate)"],
    ]
    if r.provisional_dates:
        for i, day in enumerate(r.provisional_dates):
            facts.append(["Provisional dates" if i == 0 else None, day, None, None, None,
                          "not yet closed: later runs may still change these dates" if i == 0 else None])
    else:
        facts.append(["Provisional dates", "none"])
    aging = fetch(con, "aging.sql", {})
    oldest = fetch(con, "worklist_oldest.sql", {})
    facts.append(["Open exceptions", sum(r[3] for r in aging), None, None, None,
                  "not yet resolved nor cleared, of every period reconciled: one row each on the Worklist sheet"])
    if oldest:
        exception_id, code, age, business_date, first_seen = oldest[0]
        facts.append(["Oldest open exception", exception_id, code, age, None,
                      f"{age} days old on the as-of date (business date {business_date.isoformat()}, "
                      f"first seen {first_seen.isoformat() if first_seen else 'n/a'}): ID, code, age in days"])
    else:
        facts.append(["Oldest open exception", "none"])
    facts.append(["Cells cut at 32,767 characters", cut, None, None, None,
                  "each ends in a visible '… [cut: N chars]' marker; counted per sheet on Control"])

    origin = data_origin(ctx.config)
    sources = [[source, records, first, last, quarantined, origin.get(source, "not configured")]
               for source, records, first, last, quarantined in fetch(con, "coverage.sql", {})]

    code_rows: list[list[Any]] = []
    by_code: dict[str, list[tuple[Any, ...]]] = {}
    for row in codes:
        by_code.setdefault(row[0], []).append(row)
    for code, explanation in CODES.items():
        in_rate = "yes" if code in MATCHING_CODES else "no"
        for _, currency, n, amount in by_code.pop(code, [(code, None, 0, 0)]):
            code_rows.append([code, n, amount, currency, in_rate, explanation, NEXT_STEPS[code]])
    for code, rows in sorted(by_code.items()):  # a code not listed above: shown, never dropped
        for _, currency, n, amount in rows:
            code_rows.append([code, n, amount, currency, "no", "(not a documented code)", None])

    sheet_rows: list[list[Any]] = []
    for t in tables:
        sheet_rows.append([t.name, t.data_rows, len(t.parts), None, None, split_note(t, ctx.max_rows)])
    if not ctx.include_matched:
        sheet_rows.append(["Matched", None, 0, None, None, "not included (report.include_matched = false)"])

    blocks = [
        *incomplete_banner(r.incomplete),
        Block([*_auto(5), _note()], facts, header=False),
        Block([_label("Source"), Column("Records landed", "int"), Column("First business date", "date"),
               Column("Last business date", "date"), Column("Quarantined", "int"), _note("Data from")],
              sources, title="Sources"),
        Block([_label("Code"), Column("Count", "int"), Column("Amount", "money", currency=("Currency",)),
               _label("Currency"), _label("In match rate"), _note("What it means"), _note("What to do next")],
              code_rows, title="Exceptions by code (amount: the exposure, |difference| or the amount involved; "
                               "per currency)", autofilter=True, counted=True),
        Block([_label("Code"), Column("Count", "int"), Column("Amount", "money"), _label("Currency"),
               _label("Age (days)"), _note("Business dates")], aging_rows(aging),
              title="Open exceptions by age (every period; age = as-of date − business date; "
                    "amount: the exposure, per currency)"),
        Block([_label("Sheet"), Column("Rows", "int"), Column("Sheets", "int"), _label(""), _label(""),
               _note("Note")], sheet_rows, title="Sheets"),
    ]
    title = f"Reconciliation {r.date_from.isoformat()} to {r.date_to.isoformat()}"
    return book.sheet("Summary", SUMMARY_WIDTHS, blocks, title=title, index=0)


def write_by_code(book: ReportWorkbook, con: duckdb.DuckDBPyConnection, params: dict[str, Any],
                  index: int | None = None) -> SheetResult:
    """Every exception of the run once, under its code: the code's own columns (BY_CODE_COLUMNS)."""
    present = [row[0] for row in con.execute("SELECT DISTINCT code FROM recon_mismatches").fetchall()]
    codes = [c for c in CODES if c in present] + sorted(c for c in present if c not in CODES)
    blocks = []
    for code in codes:
        own = BY_CODE_COLUMNS.get(code, _PAIR)
        fields = [*BY_CODE_COMMON, *own, *[(None, "", "text")] * (BY_CODE_SLOTS - len(own)),
                  ("explanation", "Explanation", "text")]
        columns = [Column(header, kind, wrap=field == "explanation",  # type: ignore[arg-type]
                          currency=("Currency",) if kind == "money" else ())
                   for field, header, kind in fields]
        rows = _pick(stream_dicts(con, "by_code.sql", {**params, "code": code}), [f for f, _, _ in fields])
        title = f"{code}: {CODES.get(code, '(not a documented code)')}"
        blocks.append(Block(columns, rows, title=title, counted=True))
    if not blocks:
        blocks.append(Block([_label("")], [["no exceptions in the period"]], header=False))
    return book.sheet("By code", BY_CODE_WIDTHS, blocks, index=index,
                      title="Exceptions by code, each with its own columns (the same rows as the Mismatches sheet)")


def _pick(rows: Iterator[dict[str, Any]], fields: list[str | None]) -> Iterator[list[Any]]:
    for row in rows:
        yield [None if field is None else row[field] for field in fields]


def config_fingerprint(config: Config) -> str:
    """sha256 of the config file's bytes (first 16 hex digits); the file never holds secrets."""
    if config.path is not None and config.path.exists():
        data = config.path.read_bytes()
    else:
        data = json.dumps(config.raw, sort_keys=True, default=str).encode("utf-8")
    return hashlib.sha256(data).hexdigest()[:16]


def cursor_rows(manifests: list[dict[str, Any]], sources: list[str], tz: str) -> list[list[Any]]:
    """Per source and stream the cursor before and after the newest pull run that had that source."""
    rows: list[list[Any]] = []
    for source in sources:
        found = next(((run, s) for run in manifests if run.get("kind", "pull") == "pull"
                      for s in run.get("sources", []) if s.get("source") == source), None)
        if found is None:
            rows.append([source, None, None, None, "never pulled", None, None])
            continue
        run, entry = found
        finished = _local(run.get("finished_at"), tz)
        cursors = entry.get("cursors") or {}
        streams = [("feed", cursors)] if "after" in cursors or "before" in cursors else sorted(cursors.items())
        for stream, value in streams or [("-", {})]:
            value = value if isinstance(value, dict) else {"after": value}
            rows.append([source, stream, _text(value.get("before")), _text(value.get("after")), run.get("run_id"),
                         finished, bool(entry.get("ok"))])
    return rows


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _local(stamp: Any, tz: str) -> datetime | None:
    if not isinstance(stamp, str):
        return None
    try:
        parsed = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed
    return parsed.astimezone(zone(tz)).replace(tzinfo=None, microsecond=0)


def landed_rows(con: duckdb.DuckDBPyConnection) -> list[list[Any]]:
    """Rows and amount per landed table and currency, in the order of recon.lake.schemas (0 rows for an
    empty table), then the quarantine per source."""
    template = sql_text("recon.reports", "landed_table.sql")
    rows: list[list[Any]] = []
    for name, spec in TABLES.items():
        found = con.execute(template.format(table=name, amount=spec.amount or "NULL::BIGINT")).fetchall()
        rows.extend([spec.source, name, currency, n, spec.amount, amount] for currency, n, amount in found)
        if not found:
            rows.append([spec.source, name, None, 0, spec.amount, 0 if spec.amount else None])
    rows.extend([source, "quarantine", None, n, None, None] for source, n in fetch(con, "landed_quarantine.sql", {}))
    return rows


def out_of_scope_rows(con: duckdb.DuckDBPyConnection, ctx: ReportContext) -> list[list[Any]]:
    """Per payment type the Vipps entries matching left out: counted, never dropped silently."""
    params = {"date_from": ctx.result.date_from, "date_to": ctx.result.date_to,
              "payment_types": list(ctx.config.reconcile.vipps_payment_types)}
    found = [[ptype, etype, cur, n, None, gross]
             for ptype, etype, cur, n, gross in fetch(con, "out_of_scope.sql", params)]
    return found or [["none", None, None, 0, None, None]]


def write_control(book: ReportWorkbook, con: duckdb.DuckDBPyConnection, ctx: ReportContext,
                  others: list[SheetResult]) -> SheetResult:
    r = ctx.result
    parts = [(t, p) for t in others for p in t.parts]
    cut = sum(p.cut_cells for _, p in parts)
    split = [t for t in others if t.split]
    facts: list[list[Any]] = [  # notes in the fourth column, after the period's two dates
        ["Run id", r.run_id, None, "the reconcile run this workbook shows"],
        ["Lake id", ctx.lake_id or None, None, "the lake this workbook was written from: recon resolve refuses a "
                                                 "workbook of another lake"],
        ["Generated at", ctx.generated_at, None, "the one cell that differs between workbooks of one lake, "
                                                 "period and as-of date"],
        ["Period", r.date_from, r.date_to],
        ["As of", ctx.as_of],
        ["Time zone", ctx.timezone],
        ["Config file", ctx.config.path.name if ctx.config.path else "(none)"],
        ["Config fingerprint", config_fingerprint(ctx.config), None,
         "sha256 of the config file's bytes, first 16 hex digits"],
        ["Rows per sheet", ctx.max_rows, None, "report.max_rows_per_sheet, the header row included"],
        ["Matched sheet", ctx.include_matched, None, "report.include_matched"],
        ["Cut cells", cut],
        ["Split sheets", len(split), None, ", ".join(t.name for t in split) or None],
    ]
    totals: list[list[Any]] = []
    for sheet, part in parts:
        if not sheet.money_columns:
            totals.append([part.name, part.data_rows, part.cut_cells, None, None, None])
        for column in sheet.money_columns:  # one row per currency: NOK and SEK are never added up
            for (name, currency), total in sorted(part.sums.items(), key=lambda kv: (kv[0][1] or "~")):
                if name == column:
                    totals.append([part.name, part.data_rows, part.cut_cells, column, currency, total])
    blocks = [
        Block(_auto(4), facts, header=False),
        Block([_label("Source"), _label("Stream"), _label("Cursor before"), _label("Cursor after"),
               _label("Pull run"), Column("Pull finished", "datetime"), Column("OK", "bool")],
              cursor_rows(ctx.manifests, ctx.config.sources(), ctx.timezone),
              title="Pull cursors (the newest pull run of each source)"),
        Block([_label("Source"), _label("Table"), _label("Currency"), Column("Rows", "int"),
               _label("Amount column"), Column("Amount", "money")], landed_rows(con),
              title="Landed tables (deduplicated views, whole lake)"),
        Block([_label("Payment type"), _label("Entry type"), _label("Currency"), Column("Entries", "int"),
               _label(""), Column("Gross", "money")], out_of_scope_rows(con, ctx),
              title="Vipps entries of the period not matched against Entur (payment type not in "
                    f"reconcile.vipps_payment_types = {', '.join(ctx.config.reconcile.vipps_payment_types)})"),
        Block([_label("Ledger"), _label("Currency"), Column("Payouts", "int"), Column("Rows not tying", "int"),
               Column("First opening balance", "money"), Column("Σ movements", "money"),
               Column("Last closing balance", "money"), Column("Ties", "bool"), _label("Note")],
              [list(r) for r in fetch(con, "settlement_control.sql", {"date_from": r.date_from,
                                                                      "date_to": r.date_to})],
              title="Settlement proof per ledger (Settlement sheet: first opening + Σ movements = last closing)"),
        Block([_label("Sheet"), Column("Rows", "int"), Column("Cut cells", "int"), _label("Column"),
               _label("Currency"), Column("Sum", "money")], totals,
              title="Sheet totals (rows below the header; Σ of each money column per currency)"),
    ]
    return book.sheet("Control", CONTROL_WIDTHS, blocks, title="Control")
