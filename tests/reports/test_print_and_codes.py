"""Issue 14, the accountant's items, on the sample workbook re-opened with openpyxl: the VAT sheet
ties (a check per row, the "unknown" entries listed with their IDs), each code's own columns,
exposure on the Summary, Control per currency, print setup on every sheet, explanations."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from decimal import Decimal

from lake_rows import rows as lake_query
from sheet_reading import block, blocks, table

from recon.reports.sheets import DIFFERENCE, VAT_UNKNOWN
from recon.reports.summary import BY_CODE_COLUMNS, CODES, NEXT_STEPS
from recon.sandbox.dataset import sample_data_dir

EXPECTED = json.loads((sample_data_dir() / "expected.json").read_text())


def dec(v) -> Decimal:
    return Decimal(repr(v)) if isinstance(v, float) else Decimal(v or 0)


def test_every_sheet_prints_a4_landscape_one_page_wide_with_header_and_footer(sample):
    _, _, wb = sample
    assert len(wb.worksheets) >= 8
    for ws in wb.worksheets:
        setup = ws.page_setup
        assert (setup.orientation, str(setup.paperSize)) == ("landscape", "9"), ws.title  # 9: A4
        assert ws.sheet_properties.pageSetUpPr.fitToPage, ws.title
        assert (int(setup.fitToWidth), int(setup.fitToHeight)) == (1, 0), ws.title  # 0: as many pages down
        assert ws.print_title_rows == "$1:$1", ws.title  # the header (or title) row on every page
        header, footer = ws.oddHeader, ws.oddFooter
        assert header.left.text == "recon: reconciliation workbook"
        assert header.center.text == "2026-10-24 to 2026-10-26 (as of 2026-11-23)"
        assert header.right.text == "&A"  # the sheet's name
        assert footer.right.text == "Page &P of &N"


def test_vat_rows_tie_or_say_why_and_the_unknown_entries_are_listed(sample):
    config, _, wb = sample
    header, rows = table(wb["VAT"])
    assert header[-2:] == ["Gross − Net − VAT", "Check"]
    for r in rows:
        if r["VAT rate"] == "not reported by Vipps":
            assert r["Gross − Net − VAT"] is None and "not reported" in r["Check"]
            continue
        untied = dec(r["Gross"]) - dec(r["Net"]) - dec(r["VAT"])
        assert dec(r["Gross − Net − VAT"]) == untied, r
        if r["VAT rate"] == "unknown":
            assert r["Check"].startswith(f"VAT unknown: {r['Entries']} entr"), r
        elif untied == 0:
            assert r["Check"] == "ties", r
        else:  # a known rate that does not tie names the VAT_MISMATCH that explains it
            assert "VAT_MISMATCH" in r["Check"], r
    # The planted line whose net + VAT is not its gross: its row is off by exactly that much.
    [planted] = [m for m in EXPECTED["mismatches"] if m["code"] == "VAT_MISMATCH" and "lineTotalNet" in m["why"]]
    off = int(planted["why"].split("off by ")[1].split(" ")[0])
    flagged = [r for r in rows if r["Check"] and "VAT_MISMATCH" in r["Check"]]
    assert [dec(r["Gross − Net − VAT"]) for r in flagged] == [Decimal(off).scaleb(-2)]
    # The entries counted under "unknown", with their IDs, add up to the unknown rows date by date.
    unknown = block(wb["VAT"], 'Entries counted under VAT rate "unknown"')
    assert list(unknown[0]) == [c.name for c in VAT_UNKNOWN]
    listed, want = defaultdict(Decimal), defaultdict(Decimal)
    for r in unknown[1:]:
        d = dict(zip(unknown[0], r, strict=False))
        assert d["pspReference"] and d["Ledger"] and d["Why unknown"], d
        listed[(d["Business date"], d["Sales category"])] += dec(d["Gross"])
    for r in rows:
        if r["VAT rate"] == "unknown":
            want[(r["Business date"], r["Sales category"])] += dec(r["Gross"])
    assert listed == want and len(listed) >= 3
    # The sample's trap: a line with a rate but no VAT amount is "unknown", listed with its line ID.
    [trap] = [t for t in EXPECTED["not_flagged"] if t["what"] == "VAT unknown on a line"]
    lines = {dict(zip(unknown[0], r, strict=False))["Line ID"] for r in unknown[1:]}
    assert set(trap["ids"]["lineIds"]) <= lines
    (n,) = lake_query(config, "SELECT count(*) FROM vat_summary WHERE vat_rate_bp IS NOT NULL "
                              "AND gross <> net + vat AND check_note NOT LIKE '%VAT_MISMATCH%'")[0]
    assert n == 0  # in the lake too: a known rate ties, or a VAT_MISMATCH says why


def test_vat_mismatch_rows_have_their_own_columns(sample):
    _, _, wb = sample
    _, rows = table(wb["Mismatches"])
    vat = {r["pspReference"]: r for r in rows if r["Code"] == "VAT_MISMATCH"}
    assert set(vat) == {m["pspReference"] for m in EXPECTED["mismatches"] if m["code"] == "VAT_MISMATCH"}
    for r in vat.values():
        assert r["Entur amount"] is None  # no VAT figure in another code's column
    planted = {m["pspReference"]: m["why"] for m in EXPECTED["mismatches"] if m["code"] == "VAT_MISMATCH"}

    def row(text):
        [psp] = [p for p, why in planted.items() if text in why]
        return vat[psp]

    rate = row("off by 4 øre")  # line 122389: VAT 15.84 at 25 % of 79.00, exact 15.80
    assert (rate["Line ID"], dec(rate["Line gross"]), dec(rate["Stated VAT"]), dec(rate["Expected VAT"]),
            dec(rate[DIFFERENCE])) == ("122389", Decimal("79"), Decimal("15.84"), Decimal("15.80"), Decimal("0.04"))
    total = row("Σ lines")  # amounts.vat 24.78 against Σ lines 23.78
    assert total["Line ID"] is None
    assert (dec(total["Stated VAT"]), dec(total["Expected VAT"]), dec(total[DIFFERENCE])) == (
        Decimal("24.78"), Decimal("23.78"), Decimal("1"))
    net = row("lineTotalNet")
    assert dec(net["Line net"]) + dec(net["Stated VAT"]) - dec(net["Line gross"]) == dec(net[DIFFERENCE]) != 0
    assert dec(net["Stated VAT"]) == dec(net["Expected VAT"])  # its VAT is right; its net is not
    # The By code sheet shows each code under its own header, every exception once.
    by_code = blocks(wb["By code"])
    vat_block = next(rows for title, rows in by_code.items() if title.startswith("VAT_MISMATCH"))
    own = [h for _, h, _ in BY_CODE_COLUMNS["VAT_MISMATCH"]]
    assert [h for h in vat_block[0] if h] == ["Exception ID", "Business date", "Status", "Age (days)", "Ledger",
                                              "Currency", *own, "Explanation"]
    assert len(vat_block) - 1 == len(vat)
    shown = Counter(title.split(":")[0] for title, rows in by_code.items() for _ in rows[1:])
    assert shown == Counter(r["Code"] for r in rows)
    ids = [r[0] for title, block_rows in by_code.items() for r in block_rows[1:]]
    assert sorted(ids) == sorted(r["Exception ID"] for r in rows)


def test_summary_exposure_explanations_and_next_steps(sample):
    config, _, wb = sample
    codes = block(wb["Summary"], "Exceptions by code")
    assert codes[0][:7] == ("Code", "Count", "Amount", "Currency", "In match rate", "What it means",
                            "What to do next")
    per = {r[0]: r for r in codes[1:]}
    assert list(per) == list(CODES) == list(NEXT_STEPS)
    for code, row in per.items():
        assert row[5] == CODES[code] and row[6] == NEXT_STEPS[code]
    # CURRENCY_MISMATCH and TIMING_DIFFERENCE: the amount involved, not a 0.00 difference.
    for code in ("CURRENCY_MISMATCH", "TIMING_DIFFERENCE"):
        (want,) = lake_query(config, f"SELECT sum(abs(vipps_amount)) FROM recon_mismatches WHERE code = '{code}'")[0]
        assert want > 0 and dec(per[code][2]) == Decimal(want).scaleb(-2)
    assert lake_query(config, "SELECT count(*) FROM recon_mismatches WHERE code = 'CURRENCY_MISMATCH' "
                              "AND difference IS NOT NULL")[0][0] == 0  # NOK − SEK is no difference
    header, _ = table(wb["Mismatches"])
    assert DIFFERENCE == "Difference (Vipps − Entur)" and DIFFERENCE in header


def test_control_never_adds_two_currencies(sample):
    config, _, wb = sample
    totals = block(wb["Control"], "Sheet totals")
    assert totals[0][:6] == ("Sheet", "Rows", "Cut cells", "Column", "Currency", "Sum")
    keys = [(r[0], r[3], r[4]) for r in totals[1:] if r[3]]
    assert len(keys) == len(set(keys))  # one total per sheet, column and currency
    # The sample's CURRENCY_MISMATCH has its Entur side in SEK: that amount is a SEK total of its own.
    (sek,) = lake_query(config, "SELECT sum(entur_amount) FROM recon_mismatches WHERE entur_currency = 'SEK'")[0]
    sums = {(r[0], r[3], r[4]): dec(r[5]) for r in totals[1:] if r[3]}
    assert sek and sums[("Mismatches", "Entur amount", "SEK")] == Decimal(sek).scaleb(-2)
    (nok,) = lake_query(config, "SELECT sum(entur_amount) FROM recon_mismatches "
                                "WHERE coalesce(entur_currency, currency) = 'NOK'")[0]
    assert sums[("Mismatches", "Entur amount", "NOK")] == Decimal(nok).scaleb(-2)
    for title, rows in blocks(wb["Control"]).items():  # every money block of Control names its currency
        if rows and any(isinstance(v, float) for r in rows[1:] for v in r) and title.startswith(
                ("Landed", "Vipps entries", "Settlement proof", "Sheet totals")):
            assert "Currency" in rows[0], title
