"""The workbook as the worklist: the Worklist sheet, the exception columns of Mismatches, the
Summary's aging and the lake id on Control, over real runs on the embedded sample, re-opened with
openpyxl and compared with the lake's own recon_exceptions."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from decimal import Decimal

import duckdb
from builders import embedded_config
from openpyxl import load_workbook
from sheet_reading import block, facts, table

from recon.lake.catalog import connect, exceptions_sql
from recon.lake.resolutions import append_resolutions
from recon.lake.store import Lake
from recon.ops.sandboxed import pull
from recon.reports.excel import EDITABLE_FILL, HEADER_FILL, LISTS_SHEET
from recon.reports.sheets import MISMATCHES, WORKLIST
from recon.reports.summary import AGING_BUCKETS
from recon.reports.workbook import write_report

FROM, TO = date(2026, 10, 24), date(2026, 10, 26)
TODAY = date(2026, 11, 23)
HEADERS = ["Exception ID", "Code", "Status", "First seen", "Age (days)", "Aging bucket", "Business date", "Ledger",
           "Reference", "pspReference", "Entur orderId", "Entur transaction", "Entur credit", "Booking",
           "Vipps amount", "Entur amount", "Booking amount", "Difference (Vipps − Entur)", "Currency",
           "Entur currency", "Explanation",
           "Resolution", "Comment", "Owner"]
EDITABLE = ("Resolution", "Comment", "Owner")
DEFAULT_CODES = ("explained", "corrected-in-source", "written-off", "timing-ok")
AMOUNTS = ("Vipps amount", "Entur amount", "Booking amount", "Difference (Vipps − Entur)")


# --- reading back -----------------------------------------------------------------------------------

def worklist(wb):
    """Every Worklist row, over Worklist, Worklist (2), …"""
    out = []
    for ws in wb.worksheets:
        if ws.title == "Worklist" or ws.title.startswith("Worklist ("):
            out.extend(table(ws)[1])
    return out


def exceptions(config, today):
    """recon_exceptions on ``today``, as the lake has it now: {exception_id: row as a dict}."""
    con = connect(Lake(config.lake))
    try:
        cur = con.execute(exceptions_sql("$today"), {"today": today})
        names = [d[0] for d in cur.description]
        return {r[0]: dict(zip(names, r, strict=True)) for r in cur.fetchall()}
    finally:
        con.close()


def open_ids(config, today):
    """The open exceptions' IDs, oldest business date first (then code, ID)."""
    found = [e for e in exceptions(config, today).values() if e["status"] == "open"]
    return [e["exception_id"] for e in sorted(found, key=lambda e: (e["business_date"], e["code"],
                                                                    e["exception_id"]))]


def day(v):
    return v.date() if isinstance(v, datetime) else v


def minor(v):
    return None if v is None else int((Decimal(repr(v)) if isinstance(v, float) else Decimal(v)) * 100)


def bucket(age):
    return "0-2" if age <= 2 else "3-7" if age <= 7 else "8-30" if age <= 30 else "over 30"


def validations(ws, column="Resolution"):
    header = [c.value for c in ws[1]]
    letter = ws.cell(row=1, column=header.index(column) + 1).column_letter
    return [dv for dv in ws.data_validations.dataValidation if any(str(r).startswith(letter) for r in dv.sqref.ranges)]


# --- the Worklist --------------------------------------------------------------------------------------

def test_worklist_headers_are_exactly_what_resolve_reads(sample):
    _, _, wb = sample
    ws = wb["Worklist"]
    assert [c.value for c in ws[1]] == HEADERS == [c.name for c in WORKLIST.columns]
    assert wb.sheetnames.index("Worklist") == wb.sheetnames.index("Mismatches") + 1
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref == f"A1:X{len(worklist(wb)) + 1}"
    # The editable columns' headers are another colour; the others share the usual header fill.
    fills = {c.value: c.fill.fgColor.rgb[-6:] for c in ws[1]}
    assert {fills[h] for h in EDITABLE} == {EDITABLE_FILL}
    assert {fills[h] for h in HEADERS if h not in EDITABLE} == {HEADER_FILL}
    assert all(c.font.bold for c in ws[1])
    assert not ws.protection.sheet  # no sheet protection, no password


def test_worklist_lists_exactly_the_open_exceptions_oldest_first(sample):
    config, report, wb = sample
    rows = worklist(wb)
    want = open_ids(config, TODAY)
    assert want and [r["Exception ID"] for r in rows] == want  # the same IDs, in the same order
    assert len({r["Exception ID"] for r in rows}) == len(rows)
    dates = [day(r["Business date"]) for r in rows]
    assert dates == sorted(dates)
    every = exceptions(config, TODAY)
    for r in rows:
        e = every[r["Exception ID"]]
        assert r["Status"] == "open" and r["Code"] == e["code"]
        assert day(r["First seen"]) == e["first_seen"] and day(r["Business date"]) == e["business_date"]
        assert r["Age (days)"] == (TODAY - e["business_date"]).days == e["age_days"]
        assert r["Aging bucket"] == e["aging_bucket"] == bucket(r["Age (days)"])
        for header, column in zip(AMOUNTS, ("vipps_amount", "entur_amount", "booking_amount", "difference"),
                                  strict=True):
            assert minor(r[header]) == e[column], (r["Exception ID"], header)
        assert (r["pspReference"], r["Entur orderId"], r["Booking"]) == (e["psp_reference"], e["order_id"],
                                                                       e["booking_id"])
        assert all(r[h] is None for h in EDITABLE)  # empty, for the accountant
    assert report.data_rows["Worklist"] == len(rows)


def test_worklist_cells_keep_their_types(sample):
    _, _, wb = sample
    ws = wb["Worklist"]
    header = [c.value for c in ws[1]]
    kinds = {c.name: c.kind for c in WORKLIST.columns}
    seen = Counter()
    for row in ws.iter_rows(min_row=2):
        for name, cell in zip(header, row, strict=True):
            if cell.value is None:
                continue
            seen[kinds[name]] += 1
            if kinds[name] == "money":
                assert isinstance(cell.value, (int, float)) and cell.number_format == "#,##0.00", name
            elif kinds[name] in ("id", "text"):
                assert isinstance(cell.value, str) and cell.number_format == "@", name
            elif kinds[name] == "date":
                assert isinstance(cell.value, datetime) and cell.number_format == "yyyy-mm-dd", name
            elif kinds[name] == "int":
                assert isinstance(cell.value, int), name
    assert {"money", "id", "text", "date", "int"} <= set(seen)


def test_resolution_column_has_the_configured_drop_down(sample, tmp_path):
    config, _, wb = sample
    n = len(worklist(wb))
    [dv] = validations(wb["Worklist"])
    assert dv.type == "list" and dv.allow_blank and dv.showErrorMessage
    assert dv.formula1 == '"' + ",".join(DEFAULT_CODES) + '"' == '"' + ",".join(config.report.resolution_codes) + '"'
    assert str(dv.sqref) == f"V2:V{n + 1}"  # every data row of the Resolution column, nothing else
    assert len(wb["Worklist"].data_validations.dataValidation) == 1
    # Other codes in [report] resolution_codes: the list follows them.
    mine = embedded_config(tmp_path / "codes", lake=config.lake,
                           report='[report]\nresolution_codes = ["ok", "booked-manually", "wont-fix"]')
    other = load_workbook(write_report(mine, FROM, TO, today=TODAY, out=tmp_path / "codes.xlsx").path)
    [dv] = validations(other["Worklist"])
    assert dv.formula1 == '"ok,booked-manually,wont-fix"'


def test_a_list_too_long_to_write_inline_lives_on_a_hidden_sheet(sample, tmp_path):
    config, _, _ = sample
    codes = [f"resolution-code-number-{i:02d}-of-many" for i in range(12)]  # > 255 characters joined
    mine = embedded_config(tmp_path / "long", lake=config.lake,
                           report="[report]\nresolution_codes = [" + ", ".join(f'"{c}"' for c in codes) + "]")
    wb = load_workbook(write_report(mine, FROM, TO, today=TODAY, out=tmp_path / "long.xlsx").path)
    [dv] = validations(wb["Worklist"])
    assert dv.formula1 == f"{LISTS_SHEET}!$A$1:$A${len(codes)}"
    lists = wb[LISTS_SHEET]
    assert lists.sheet_state == "hidden"
    assert [r[0] for r in lists.iter_rows(values_only=True)] == codes


def test_a_split_worklist_has_the_drop_down_on_every_part(sample, tmp_path):
    config, _, full = sample
    small = embedded_config(tmp_path / "s", lake=config.lake, report="[report]\nmax_rows_per_sheet = 5")
    wb = load_workbook(write_report(small, FROM, TO, today=TODAY, out=tmp_path / "split.xlsx").path)
    parts = [n for n in wb.sheetnames if n.startswith("Worklist")]
    assert len(parts) > 1
    assert [r["Exception ID"] for r in worklist(wb)] == [r["Exception ID"] for r in worklist(full)]
    for name in parts:
        [dv] = validations(wb[name])
        n = len(table(wb[name])[1])
        assert str(dv.sqref) == (f"V2:V{n + 1}" if n > 1 else "V2")  # one cell: Excel names it alone


# --- Mismatches, Control, Summary ----------------------------------------------------------------------

def test_mismatches_show_exception_id_first_seen_and_status(sample):
    config, report, wb = sample
    header, rows = table(wb["Mismatches"])
    assert header[:len(MISMATCHES.columns)] == [c.name for c in MISMATCHES.columns]
    assert header[3:6] == ["Exception ID", "First seen", "Status"]
    con = duckdb.connect()
    try:
        path = str(report.reconcile.paths["recon_mismatches"]).replace("'", "''")
        want = [r[0] for r in con.execute(f"SELECT exception_id FROM read_parquet('{path}')").fetchall()]
    finally:
        con.close()
    assert [r["Exception ID"] for r in rows] == want and all(want)
    every = exceptions(config, TODAY)
    for r in rows:
        e = every[r["Exception ID"]]
        assert (day(r["First seen"]), r["Status"]) == (e["first_seen"], e["status"])
        assert r["Code"] == e["code"]
    assert {r["Status"] for r in rows} == {"open"}  # nothing resolved yet in this lake


def test_control_names_the_lake(sample):
    config, _, wb = sample
    lake_id = facts(wb["Control"])["Lake id"][0]
    assert lake_id == Lake(config.lake).lake_id() and len(lake_id) == 16
    assert "Lake id" not in {r[0] for r in wb["Worklist"].iter_rows(values_only=True)}


def test_summary_ages_the_open_exceptions(sample):
    _, _, wb = sample
    rows = worklist(wb)
    aging = block(wb["Summary"], "Open exceptions by age")
    assert aging[0][:6] == ("Code", "Count", "Amount", "Currency", "Age (days)", "Business dates")
    detail = [r for r in aging[1:] if r[0] != "All codes"]
    totals = [r for r in aging[1:] if r[0] == "All codes"]
    want_n, want_amount = Counter(), Counter()
    for r in rows:
        key = (r["Code"], r["Currency"], r["Aging bucket"])
        want_n[key] += 1
        # The exposure: the amount involved where the amounts agree or are in two currencies.
        columns = ("Vipps amount",) if r["Code"] in ("CURRENCY_MISMATCH", "TIMING_DIFFERENCE") else (
            "Difference (Vipps − Entur)", "Vipps amount", "Entur amount", "Booking amount")
        first = next((r[h] for h in columns if r[h] is not None), 0)
        want_amount[key] += abs(minor(first))
    assert {(c, cur, b): n for c, n, _, cur, b, *_ in detail} == dict(want_n)
    assert {(c, cur, b): minor(a) for c, _, a, cur, b, *_ in detail} == dict(want_amount)
    assert [r[4] for r in totals] == list(AGING_BUCKETS)  # every bucket, 0 where there is none
    assert sum(r[1] for r in totals) == len(rows)
    f = facts(wb["Summary"])
    assert f["Open exceptions"][0] == len(rows)
    oldest = rows[0]
    assert f["Oldest open exception"][:3] == (oldest["Exception ID"], oldest["Code"], oldest["Age (days)"])


# --- over several runs: ages move, first seen stays, resolved ones leave the list ----------------------

def test_ages_and_buckets_move_with_the_as_of_date_and_first_seen_stays(tmp_path):
    config = embedded_config(tmp_path / "runs")
    assert pull(config).ok
    books = {}
    for today in (date(2026, 10, 26), date(2026, 10, 31), date(2026, 11, 5), date(2026, 12, 1)):
        report = write_report(config, FROM, TO, today=today, out=tmp_path / f"{today}.xlsx")
        wb = load_workbook(report.path)
        rows = worklist(wb)
        assert [r["Exception ID"] for r in rows] == open_ids(config, today)
        for r in rows:
            age = (today - day(r["Business date"])).days
            assert r["Age (days)"] == age and r["Aging bucket"] == bucket(age)
        mismatches = {r["Exception ID"]: r for r in table(wb["Mismatches"])[1]}
        assert all(m["Age (days)"] == (today - day(m["Business date"])).days for m in mismatches.values())
        books[today] = {r["Exception ID"]: r for r in rows}
    first, middle, last = books[date(2026, 10, 26)], books[date(2026, 11, 5)], books[date(2026, 12, 1)]
    assert {r["Aging bucket"] for r in first.values()} == {"0-2"}  # ages 0, 1 and 2
    assert {r["Aging bucket"] for r in books[date(2026, 10, 31)].values()} == {"3-7"}
    assert {r["Aging bucket"] for r in middle.values()} == {"8-30"}
    assert {r["Aging bucket"] for r in last.values()} == {"over 30"}
    both = set(first) & set(last)
    assert both
    for exception_id in both:  # the same exception: first seen on the first run, ten days older ten days on
        assert day(first[exception_id]["First seen"]) == day(last[exception_id]["First seen"]) == date(2026, 10, 26)
        assert middle[exception_id]["Age (days)"] - first[exception_id]["Age (days)"] == 10
    summary = load_workbook(tmp_path / "2026-10-26.xlsx")["Summary"]
    totals = {r[4]: r[1] for r in block(summary, "Open exceptions by age")[1:] if r[0] == "All codes"}
    assert totals == {"0-2": len(first), "3-7": 0, "8-30": 0, "over 30": 0}


def test_resolved_exceptions_leave_the_worklist(tmp_path):
    config = embedded_config(tmp_path / "resolved")
    assert pull(config).ok
    lake = Lake(config.lake)
    wb = load_workbook(write_report(config, FROM, TO, today=TODAY, out=tmp_path / "one.xlsx").path)
    rows = worklist(wb)
    chosen = rows[:3]
    append_resolutions(lake, [{"exception_id": r["Exception ID"], "resolution": "explained", "comment": "test",
                               "owner": "kari", **{k: minor(r[h]) for h, k in zip(
                                   AMOUNTS, ("vipps_amount", "entur_amount", "booking_amount", "difference"),
                                   strict=True)}} for r in chosen],
                       file_name="one.xlsx", file_sha256="0" * 64)
    wb = load_workbook(write_report(config, FROM, TO, today=TODAY, out=tmp_path / "two.xlsx").path)
    ids = [r["Exception ID"] for r in worklist(wb)]
    assert ids == [r["Exception ID"] for r in rows[3:]] == open_ids(config, TODAY)
    status = {r["Exception ID"]: r["Status"] for r in table(wb["Mismatches"])[1]}
    assert {status[r["Exception ID"]] for r in chosen} == {"resolved"}
    assert facts(wb["Summary"])["Open exceptions"][0] == len(rows) - 3
    # Everything resolved: an empty Worklist (its header only, no drop-down), and the Summary says so.
    append_resolutions(lake, [{"exception_id": r["Exception ID"], "resolution": "written-off",
                               **{k: minor(r[h]) for h, k in zip(
                                   AMOUNTS, ("vipps_amount", "entur_amount", "booking_amount", "difference"),
                                   strict=True)}} for r in rows[3:]],
                       file_name="two.xlsx", file_sha256="1" * 64)
    wb = load_workbook(write_report(config, FROM, TO, today=TODAY, out=tmp_path / "three.xlsx").path)
    assert worklist(wb) == [] and [c.value for c in wb["Worklist"][1]] == HEADERS
    assert not wb["Worklist"].data_validations.dataValidation
    f = facts(wb["Summary"])
    assert f["Open exceptions"][0] == 0 and f["Oldest open exception"][0] == "none"
    assert block(wb["Summary"], "Open exceptions by age")[1][:2] == ("none open", 0)
