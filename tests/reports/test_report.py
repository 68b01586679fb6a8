"""The workbook: real .xlsx files written from a real lake, re-opened with openpyxl and checked."""

from __future__ import annotations

import json
import zipfile
from collections import Counter
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal

import pytest
from builders import booking_event, embedded_config, entur_credit, entur_payment, small_dataset, vipps_entry
from lake_rows import rows as lake_query
from openpyxl import load_workbook
from openpyxl.utils.escape import unescape
from sheet_reading import block, facts

from recon.errors import ConfigError
from recon.ops.sandboxed import pull
from recon.reports.excel import CUT_MARKER, EXCEL_MAX_CELL, cut_text, ooxml_escape, sheet_name
from recon.reports.sheets import DIFFERENCE, MATCHED, MISMATCHES, QUARANTINE, SETTLEMENT, VAT, WORKLIST
from recon.reports.summary import CODES
from recon.reports.workbook import default_path, write_report
from recon.sandbox.dataset import sample_data_dir

EXPECTED = json.loads((sample_data_dir() / "expected.json").read_text())
FROM, TO = date(2026, 10, 24), date(2026, 10, 26)
TODAY = date(2026, 11, 23)
TABLE_SHEETS = {"VAT": VAT, "Settlement": SETTLEMENT, "Mismatches": MISMATCHES, "Quarantine": QUARANTINE,
                "Matched": MATCHED, "Worklist": WORKLIST}
HOSTILE = ['=HYPERLINK("http://x","y")', "=1+1", "@SUM(A1)", "+cmd|' /C calc'!A0", "-2+3", "\t=1+1",
           "\r=1+1"]


# --- reading a workbook back ----------------------------------------------------------------------

def value(cell):
    """What the cell holds, with OOXML's _xHHHH_ escapes decoded (Excel does; openpyxl does not)."""
    v = cell.value
    return unescape(v) if isinstance(v, str) else v


def table(ws):
    """Header and data rows of a table sheet: row 1, then every row up to the first blank one."""
    rows = list(ws.iter_rows())
    header = [c.value for c in rows[0]]
    data = []
    for row in rows[1:]:
        if all(c.value is None for c in row):
            break
        data.append(row)
    return header, data


def dec(v) -> Decimal:
    return Decimal(repr(v)) if isinstance(v, float) else Decimal(v or 0)


def control_totals(wb):
    """Control's Sheet totals: {sheet: rows}, {(sheet, column, currency): Σ}, {sheet: cut cells}."""
    rows, sums, cut = {}, {}, {}
    for sheet, n, cut_cells, column, currency, amount, *_ in block(wb["Control"], "Sheet totals")[1:]:
        rows[sheet], cut[sheet] = n, cut_cells
        if column:
            assert (sheet, column, currency) not in sums  # one row per column and currency
            sums[(sheet, column, currency)] = dec(amount)
    return rows, sums, cut


def total(sums, sheet, column):
    """A column's total over its currencies (for a sheet in one currency only)."""
    return sum(v for (s, c, _), v in sums.items() if (s, c) == (sheet, column))


def currency_of(header, row, column):
    """The currency of a money cell: Entur amounts in the Entur currency where the row has one."""
    for name in (["Entur currency"] if column == "Entur amount" else []) + ["Currency", "Vipps currency"]:
        if name in header and row[header.index(name)].value:
            return row[header.index(name)].value
    return None


def assert_totals_tie(wb):
    rows, sums, cut = control_totals(wb)
    checked = 0
    for ws in wb.worksheets:
        if ws.title in ("Summary", "Control", "By code"):  # layout sheets (By code: test_print_and_codes.py)
            continue
        header, data = table(ws)
        assert rows[ws.title] == len(data), ws.title
        money = {c for s, c, _ in sums if s == ws.title}
        for i, name in enumerate(header):
            if name not in money:
                continue
            per_currency = Counter()
            for r in data:
                if r[i].value is not None:
                    per_currency[currency_of(header, r, name)] += dec(r[i].value)
            found = {cur: v for (s, c, cur), v in sums.items() if (s, c) == (ws.title, name) and v}
            assert found == {cur: v for cur, v in per_currency.items() if v}, (ws.title, name)
            checked += 1
    codes = block(wb["Summary"], "Exceptions by code")
    assert rows["Summary"] == len(codes) - 1
    amounts = Counter()
    for r in codes[1:]:
        amounts[r[3]] += dec(r[2])
    assert {cur: v for cur, v in amounts.items() if v} == {
        cur: v for (s, c, cur), v in sums.items() if (s, c) == ("Summary", "Amount") and v}
    assert checked >= 7  # VAT: gross, net, VAT; Mismatches: four amounts
    return rows, sums, cut


def mismatch_rows(wb):
    """Every data row of Mismatches, Mismatches (2), …, as tuples of values."""
    out = []
    for ws in wb.worksheets:
        if ws.title == "Mismatches" or ws.title.startswith("Mismatches ("):
            out.extend(tuple(value(c) for c in r) for r in table(ws)[1])
    return out


# --- the sample workbook --------------------------------------------------------------------------

def test_sheets_headers_frozen_panes_and_filters(sample):
    _, report, wb = sample
    assert wb.sheetnames == ["Summary", "VAT", "Settlement", "By code", "Mismatches", "Worklist", "Quarantine",
                             "Control"]
    assert all(len(name) <= 31 for name in wb.sheetnames)
    for name in ("VAT", "Settlement", "Mismatches", "Worklist", "Quarantine"):
        ws = wb[name]
        header, data = table(ws)
        assert header[:len(TABLE_SHEETS[name].columns)] == [c.name for c in TABLE_SHEETS[name].columns]
        assert all(c.font.bold for c in ws[1] if c.value)
        assert ws.freeze_panes == "A2"
        last = ws.cell(row=1, column=len(TABLE_SHEETS[name].columns)).column_letter
        assert ws.auto_filter.ref == f"A1:{last}{len(data) + 1}"
        widths = [ws.column_dimensions[c.column_letter].width for c in ws[1]]
        assert all(6 <= w <= 100 for w in widths)
    assert wb["Summary"].freeze_panes == "A2" and wb["Summary"].auto_filter.ref  # the codes table
    assert report.sheets == {ws.title: ws.max_row for ws in wb.worksheets}
    assert report.cut_cells == 0 and report.split_sheets == {}


def test_cell_types_ids_amounts_dates(sample):
    config, _, wb = sample
    header, data = table(wb["Mismatches"])
    kinds = {c.name: c.kind for c in MISMATCHES.columns}
    seen = Counter()
    for row in data:
        for name, cell in zip(header, row, strict=False):
            if cell.value is None:
                continue
            kind = kinds[name]
            seen[kind] += 1
            if kind in ("id", "text"):
                assert isinstance(cell.value, str) and cell.number_format == "@", (name, cell.value)
            elif kind == "money":
                assert isinstance(cell.value, (int, float)) and cell.number_format == "#,##0.00"
            elif kind == "date":
                assert isinstance(cell.value, datetime) and cell.number_format == "yyyy-mm-dd"
            elif kind == "int":
                assert isinstance(cell.value, int)
    assert {"id", "text", "money", "date", "int"} <= set(seen)
    # Numeric ids (Vipps pspReferences are 11 digits) stay text, digit for digit, as in the lake.
    numeric = [value(r[header.index("pspReference")]) for r in data
               if (value(r[header.index("pspReference")]) or "").isdigit()]
    assert numeric and all(isinstance(v, str) for v in numeric)
    lake_psps = {r[0] for r in lake_query(config, "SELECT psp_reference FROM recon_mismatches")}
    assert set(numeric) <= lake_psps
    # Amounts are exactly the minor units of the lake, in major units.
    want = sorted(lake_query(
        config, "SELECT psp_reference, vipps_amount, entur_amount, difference FROM recon_mismatches"), key=str)
    major = lambda m: None if m is None else Decimal(m).scaleb(-2)  # noqa: E731
    got = sorted(((value(r[header.index("pspReference")]),
                   *(None if r[header.index(c)].value is None else dec(r[header.index(c)].value)
                     for c in ("Vipps amount", "Entur amount", DIFFERENCE))) for r in data), key=str)
    assert got == [(p, major(v), major(e), major(d)) for p, v, e, d in want]
    ages = {r[header.index("Age (days)")].value for r in data}
    assert ages <= {(TODAY - d).days for d in (date(2026, 10, 24), date(2026, 10, 25), date(2026, 10, 26))}
    q_header, q_data = table(wb["Quarantine"])
    assert len(q_data) == len(EXPECTED["quarantine"])
    assert all(isinstance(r[q_header.index("Landed at")].value, datetime) for r in q_data)
    assert all(isinstance(r[q_header.index("Record id")].value, str) for r in q_data)
    _v_header, v_data = table(wb["VAT"])
    assert v_data and all(isinstance(r[0].value, datetime) for r in v_data)


def test_totals_tie_to_control_and_to_the_lake(sample):
    config, report, wb = sample
    rows, sums, _ = assert_totals_tie(wb)
    assert rows["Mismatches"] == len(EXPECTED["mismatches"]) == report.reconcile.mismatches
    (diff,) = lake_query(config, "SELECT sum(difference) FROM recon_mismatches")[0]
    assert total(sums, "Mismatches", DIFFERENCE) == Decimal(diff).scaleb(-2)
    (vat, n) = lake_query(config, "SELECT sum(vat), count(*) FROM vat_summary")[0]
    assert sums[("VAT", "VAT", "NOK")] == Decimal(vat).scaleb(-2) and rows["VAT"] == n
    assert rows["Quarantine"] == lake_query(config, "SELECT count(*) FROM quarantine")[0][0]
    # Landed tables on Control agree with the lake, table by table.
    landed = {(t, cur): (n, dec(amount)) for _, t, cur, n, _, amount, *_ in block(wb["Control"], "Landed tables")[1:]}
    (entries, gross) = lake_query(config, "SELECT count(*), sum(gross) FROM vipps_sales_entries")[0]
    assert landed[("vipps_sales_entries", "NOK")] == (entries, Decimal(gross).scaleb(-2))
    # VAT totals under the table tie to the detail above them.
    vat_rate_rows = block_rows_below(wb["VAT"], "Per VAT rate")
    assert sum(dec(r[7]) for r in vat_rate_rows) == sums[("VAT", "VAT", "NOK")]


def block_rows_below(ws, title):
    rows = list(ws.iter_rows(values_only=True))
    start = next(i for i, r in enumerate(rows) if r[0] == title or str(r[0]).startswith(title))
    out = []
    for r in rows[start + 2:]:
        if all(v is None for v in r):
            break
        out.append(r)
    return out


def test_summary_lists_every_code_and_ties_to_mismatches(sample):
    _, report, wb = sample
    ws = wb["Summary"]
    codes = block(ws, "Exceptions by code")
    assert codes[0][:3] == ("Code", "Count", "Amount")
    assert [r[0] for r in codes[1:]] == list(CODES)  # all 14, in the README's order
    assert codes[0][5:7] == ("What it means", "What to do next")
    assert all(len(r[5]) > 30 and len(r[6]) > 30 for r in codes[1:])  # an explanation and a next step each
    header, data = table(wb["Mismatches"])
    per_code = Counter(r[0].value for r in data)
    assert {r[0]: r[1] for r in codes[1:]} == {c: per_code.get(c, 0) for c in CODES}
    amount = Counter()
    for r in data:
        cells = {h: c.value for h, c in zip(header, r, strict=False)}
        # The exposure: the amount involved where the amounts agree or are in two currencies.
        columns = ("Vipps amount",) if cells["Code"] in ("CURRENCY_MISMATCH", "TIMING_DIFFERENCE") else (
            DIFFERENCE, "Vipps amount", "Entur amount", "Booking amount")
        first = next((cells[c] for c in columns if cells[c] is not None), 0)
        amount[cells["Code"]] += abs(dec(first))
    assert {r[0]: dec(r[2]) for r in codes[1:]} == {c: amount.get(c, Decimal(0)) for c in CODES}
    by_code = {c.code: Decimal(c.amount).scaleb(-2) for c in report.reconcile.by_code}
    assert {r[0]: dec(r[2]) for r in codes[1:] if r[1]} == by_code  # the same definition as reconcile
    f = facts(ws)
    assert f["Period"][:2] == (datetime(2026, 10, 24), datetime(2026, 10, 26))
    assert f["Matched units"][0] == report.reconcile.matched
    assert f["Provisional dates"][0] == "none"
    # matched units ÷ (matched units + exceptions of the codes marked "yes" under In match rate), to 0.01 %
    in_rate = sum(r[1] for r in codes[1:] if r[4] == "yes")
    assert 0 < in_rate < sum(r[1] for r in codes[1:])  # some codes count, some do not
    want = (Decimal(report.reconcile.matched) / (report.reconcile.matched + in_rate)).quantize(
        Decimal("0.0001"), ROUND_HALF_EVEN)
    assert dec(f["Match rate"][0]) == want and 0 < want < 1
    sources = block(ws, "Sources")
    assert [r[0] for r in sources[1:]] == ["vipps", "vipps_report", "entur", "samtrafiken"]
    assert all("embedded sandbox" in r[5] for r in sources[1:])
    assert all(r[2] == datetime(2026, 10, 24) for r in sources[1:])


def test_control_has_run_cursors_and_fingerprint(sample):
    config, report, wb = sample
    ws = wb["Control"]
    f = facts(ws)
    assert f["Run id"][0] == report.reconcile.run_id
    assert isinstance(f["Generated at"][0], datetime)
    import hashlib
    assert f["Config fingerprint"][0] == hashlib.sha256(config.path.read_bytes()).hexdigest()[:16]
    cursors = block(ws, "Pull cursors")
    streams = {(r[0], r[1]) for r in cursors[1:]}
    assert {("vipps", "7000011"), ("vipps", "7000022"), ("entur", "payments"), ("samtrafiken", "feed")} <= streams
    assert all(r[3] for r in cursors[1:] if r[0] != "entur" or r[1] == "payments")  # a cursor after each pull
    text = " ".join(str(c.value) for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.value)
    assert "sandbox-vipps-secret" not in text and "sandbox-entur-secret" not in text


def test_default_path_and_no_temporary_files_left(sample):
    config, report, _ = sample
    assert report.path == config.lake.parent / "reports" / "recon_2026-10-24_2026-10-26.xlsx"
    assert report.path == default_path(config, FROM, TO)
    assert [p.name for p in report.path.parent.iterdir()] == [report.path.name]


def test_same_lake_period_and_day_give_the_same_cells(sample, tmp_path):
    config, _, _ = sample
    one = write_report(config, FROM, TO, today=TODAY, out=tmp_path / "one.xlsx", run_id="fixed-run")
    two = write_report(config, FROM, TO, today=TODAY, out=tmp_path / "two.xlsx", run_id="fixed-run")
    a, b = load_workbook(one.path), load_workbook(two.path)
    assert a.sheetnames == b.sheetnames
    differ = [(ws.title, ca.coordinate) for ws in a.worksheets
              for ra, rb in zip(ws.iter_rows(), b[ws.title].iter_rows(), strict=True)
              for ca, cb in zip(ra, rb, strict=True)
              if ca.value != cb.value]
    generated = next(c.coordinate for row in a["Control"].iter_rows() for c in row if c.value == "Generated at")
    assert differ in ([], [("Control", "B" + generated[1:])])
    assert all(a[n].max_row == b[n].max_row and a[n].max_column == b[n].max_column for n in a.sheetnames)


def test_matched_sheet_is_optional(sample, tmp_path):
    config, _, _ = sample
    with_matched = embedded_config(tmp_path / "m", lake=config.lake, report="[report]\ninclude_matched = true")
    report = write_report(with_matched, FROM, TO, today=TODAY, out=tmp_path / "m.xlsx")
    wb = load_workbook(report.path)
    assert wb.sheetnames == ["Summary", "VAT", "Settlement", "By code", "Mismatches", "Worklist", "Matched",
                             "Quarantine", "Control"]
    header, data = table(wb["Matched"])
    assert header == [c.name for c in MATCHED.columns] and len(data) == report.reconcile.matched
    assert_totals_tie(wb)


# --- splitting past the row limit ------------------------------------------------------------------

def test_a_sheet_past_the_row_limit_continues_and_loses_no_row(sample, tmp_path):
    config, _, full = sample
    small = embedded_config(tmp_path / "s", lake=config.lake, report="[report]\nmax_rows_per_sheet = 5")
    report = write_report(small, FROM, TO, today=TODAY, out=tmp_path / "split.xlsx")
    wb = load_workbook(report.path)
    parts = [n for n in wb.sheetnames if n.startswith("Mismatches")]
    assert parts == ["Mismatches"] + [f"Mismatches ({i})" for i in range(2, len(parts) + 1)]
    assert len(parts) == -(-len(EXPECTED["mismatches"]) // 4)  # 4 data rows under each header
    for name in wb.sheetnames:
        assert wb[name].max_row <= (5 if name not in ("Summary", "By code", "Control") else 10_000), name
        if name.startswith(("Mismatches", "VAT", "Quarantine")):
            assert [c.value for c in wb[name][1]][:3] == [c.name for c in TABLE_SHEETS[
                name.split(" (")[0]].columns][:3]
            assert wb[name].freeze_panes == "A2" and wb[name].auto_filter.ref
    # Every mismatch row exactly once, across the parts, in the same order as the unsplit sheet.
    assert mismatch_rows(wb) == mismatch_rows(full)
    assert len(set(mismatch_rows(wb))) == len(mismatch_rows(wb))
    assert report.split_sheets["Mismatches"] == parts
    # Summary says so; Control ties per part.
    notes = {r[0]: r for r in block(wb["Summary"], "Sheets")[1:]}
    assert notes["Mismatches"][1] == len(EXPECTED["mismatches"]) and notes["Mismatches"][2] == len(parts)
    assert "continues on Mismatches (2)" in notes["Mismatches"][5]
    rows, _, _ = assert_totals_tie(wb)
    assert sum(rows[p] for p in parts) == len(EXPECTED["mismatches"])
    vat_rows = sum(rows[n] for n in rows if n.startswith("VAT"))
    assert vat_rows == lake_query(config, "SELECT count(*) FROM vat_summary")[0][0]


def test_large_sheets_are_read_page_by_page_in_file_order(sample, tmp_path, monkeypatch):
    import recon.reports.sheets as sheets

    config, _, full = sample
    firsts = []
    real_fetch = sheets.fetch

    def fetch(con, sql_file, params):
        if sql_file == MISMATCHES.sql:
            firsts.append(params.get("first"))
        return real_fetch(con, sql_file, params)

    monkeypatch.setattr(sheets, "PAGE", 4)
    monkeypatch.setattr(sheets, "fetch", fetch)
    report = write_report(config, FROM, TO, today=TODAY, out=tmp_path / "paged.xlsx")
    # One query per page of 4, the last one short; and the same rows as the unpaged sheet.
    assert firsts == list(range(0, len(EXPECTED["mismatches"]), 4))
    assert mismatch_rows(load_workbook(report.path)) == mismatch_rows(full)


# --- hostile text ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    ds = small_dataset(n=4, ledgers=("L1",))
    entries = list(ds.ledgers["L1"].entries)
    payments, events = list(ds.payments), list(ds.events)
    for k, text in enumerate(HOSTILE):
        i = 100 + k
        entry = vipps_entry(i, psp=f"{text}#{k}", reference=text)  # no Entur side: MISSING_IN_ENTUR
        entry["lines"][0]["name"] = text
        entries.append(entry)
        pay = entur_payment(200 + k, psp=f"{text}#e{k}")  # no Vipps side: MISSING_IN_VIPPS
        pay["orderId"] = f"{text}#o{k}"  # not the Vipps reference: key 2 must not pair them
        pay["paymentId"] = f"{text}#p{k}"
        pay["transactionHistory"][0]["transactionId"] = f"{text}#t{k}"
        payments.append(pay)
        event = booking_event(300 + k)  # an order Entur never saw: BOOKING_NOT_PAID
        event["bookingId"], event["retailerReference"] = f"{text}#b{k}", f"{text}#r{k}"
        events.append(event)
        bad = vipps_entry(400 + k, psp=f"{text}#q{k}", reference=text)
        bad["currency"] = "NOKK"  # quarantined, its id and raw JSON hostile
        entries.append(bad)
    huge = vipps_entry(500)
    huge["lines"][0]["name"] = "=" + "x" * 40_000  # too long to land: quarantined with its raw JSON
    entries.append(huge)
    ds.ledgers["L1"].entries = entries
    ds.payments, ds.events = payments, events
    ds.credits = [entur_credit(0)]
    data = folder / "data"
    ds.save(data)
    config = embedded_config(folder / "cfg", data=data, ledgers=("L1",))
    assert pull(config).ok
    report = write_report(config, FROM, TO, today=TODAY)
    return config, report, load_workbook(report.path)


def test_no_source_text_becomes_a_formula(hostile):
    _, report, wb = hostile
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
    with zipfile.ZipFile(report.path) as z:
        for name in z.namelist():
            if name.startswith("xl/worksheets/"):
                assert b"<f>" not in z.read(name) and b"<f " not in z.read(name), name
    values = {}
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, str):
                    values.setdefault(value(cell), []).append((ws.title, cell))
    for k, text in enumerate(HOSTILE):
        for wanted, sheet in [(text, "Mismatches"), (f"{text}#{k}", "Mismatches"), (f"{text}#o{k}", "Mismatches"),
                              (f"{text}#p{k}", "Mismatches"), (f"{text}#t{k}", "Mismatches"),
                              (f"{text}#b{k}", "Mismatches"), (f"{text}#q{k}", "Quarantine")]:
            cells = [c for title, c in values.get(wanted, []) if title == sheet]
            assert cells, (wanted, sheet)
            assert all(c.quotePrefix and c.data_type == "s" for c in cells), wanted
    # Text that merely contains such characters keeps them too (the explanations quote the ids).
    explanations = [value(r[1]) for r in table(wb["Mismatches"])[1]]
    assert any("\r=1+1" in e for e in explanations) and any("\t=1+1" in e for e in explanations)


def test_a_long_cell_is_cut_with_a_marker_and_counted(hostile):
    _, report, wb = hostile
    header, data = table(wb["Quarantine"])
    raw = [value(r[header.index("Raw record")]) for r in data]
    cut = [r for r in raw if "… [cut: " in r]
    assert len(cut) == 1 and len(cut[0]) <= EXCEL_MAX_CELL
    assert cut[0].startswith("{") and cut[0].endswith(" chars]")
    removed = int(cut[0].rsplit("[cut: ", 1)[1].split(" ")[0])
    assert removed > 40_000 - EXCEL_MAX_CELL
    _, _, cut_cells = control_totals(wb)
    assert cut_cells["Quarantine"] == 1 and report.cut_cells == 1
    assert facts(wb["Summary"])["Cells cut at 32,767 characters"][0] == 1
    assert facts(wb["Control"])["Cut cells"][0] == 1
    assert_totals_tie(wb)


# --- the writer's helpers and the configuration ----------------------------------------------------

def test_cut_text_counts_what_excel_counts():
    assert cut_text("abc") == ("abc", False)
    text, was_cut = cut_text("😀" * 20_000)  # 40,000 UTF-16 units
    assert was_cut and len(text.encode("utf-16-le")) // 2 <= EXCEL_MAX_CELL
    assert text.endswith(CUT_MARKER.format(n=20_000 - text.count("😀")))
    exact, was_cut = cut_text("y" * EXCEL_MAX_CELL)
    assert not was_cut and len(exact) == EXCEL_MAX_CELL


def test_sheet_names_and_escapes():
    assert sheet_name("Mismatches", 2) == "Mismatches (2)"
    assert len(sheet_name("x" * 40, 12)) == 31 and sheet_name("x" * 40, 12).endswith(" (12)")
    assert sheet_name("a/b:c") == "a_b_c"
    assert unescape(ooxml_escape("\r=1+1\x01")) == "\r=1+1\x01"
    assert ooxml_escape("_x0041_") == "_x005F_x0041_"


@pytest.mark.parametrize("section, message", [
    ("include_matched = \"yes\"", "report.include_matched"),
    ("max_rows_per_sheet = 1", "report.max_rows_per_sheet"),
    ("max_rows_per_sheet = 2_000_000", "report.max_rows_per_sheet"),
    ("out_dir = 3", "report.out_dir"),
    ("colour = \"red\"", "report.colour"),
])
def test_bad_report_settings_name_the_key(tmp_path, section, message):
    with pytest.raises(ConfigError, match=message):
        embedded_config(tmp_path, report=f"[report]\n{section}")


def test_data_origin_names_the_apis_and_never_credentials():
    from recon.config import parse_config
    from recon.reports.summary import data_origin

    config = parse_config({
        "vipps": {"base_url": "https://user:hunter2@api.vipps.no/?key=s3cret", "client_id": "c",
                  "ledgers": ["123456"]},
        "entur": {"client_id": "c", "client_name": "acme"},
    })
    origin = data_origin(config)
    assert origin == {"vipps": "Vipps MobilePay Sales API https://api.vipps.no/, ledgers 123456 (Europe/Oslo)",
                      "vipps_report": "Vipps Report API https://api.vipps.no/, funds and fees feeds, ledgers 123456 "
                                      "(Europe/Oslo)",
                      "entur": "Entur Sales API https://api.entur.io"}
    assert not any(s in " ".join(origin.values()) for s in ("hunter2", "s3cret", "user"))


def test_report_settings_defaults(tmp_path):
    settings = embedded_config(tmp_path).report
    assert (settings.include_matched, settings.max_rows_per_sheet, settings.out_dir) == (False, 1_048_576, "reports")
    absolute = embedded_config(tmp_path / "b", report=f'[report]\nout_dir = "{tmp_path / "out"}"')
    assert default_path(absolute, FROM, TO) == tmp_path / "out" / "recon_2026-10-24_2026-10-26.xlsx"


def test_the_openpyxl_private_parts_the_writer_uses_are_checked(monkeypatch):
    import recon.reports.excel as excel

    excel.check_openpyxl()  # the pinned openpyxl has them all
    monkeypatch.setattr(excel, "OPENPYXL_PRIVATE", (*excel.OPENPYXL_PRIVATE, "Cell._gone"))
    with pytest.raises(ImportError, match=r"lacks Cell\._gone"):
        excel.check_openpyxl()


def test_control_counts_the_vipps_entries_left_out_of_matching(sample):
    config, _, wb = sample
    found = block(wb["Control"], "Vipps entries of the period not matched against Entur (payment type not in "
                                 "reconcile.vipps_payment_types = WALLET)")
    assert found[0][:4] == ("Payment type", "Entry type", "Currency", "Entries")
    want = lake_query(config, "SELECT payment_type, entry_type, currency, count(*) FROM vipps_sales_entries "
                              "WHERE business_date BETWEEN DATE '2026-10-24' AND DATE '2026-10-26' "
                              "AND payment_type <> 'WALLET' GROUP BY ALL ORDER BY ALL")
    # Then the Report API's funds entries that mirror them (same ledger, type and pspReference).
    want += lake_query(config, "SELECT s.payment_type || ' (funds entry)', f.entry_type, f.currency, count(*) "
                               "FROM vipps_sales_entries AS s JOIN vipps_funds_entries AS f "
                               "USING (ledger_id, entry_type, psp_reference) "
                               "WHERE s.business_date BETWEEN DATE '2026-10-24' AND DATE '2026-10-26' "
                               "AND s.payment_type <> 'WALLET' GROUP BY ALL")
    assert {"CARD", "CASH", "CARD (funds entry)"} <= {w[0] for w in want}
    assert [tuple(r[:4]) for r in found[1:]] == sorted(tuple(w) for w in want)
