"""The Settlement sheet, the VAT sheet's "not reported by Vipps" rows and the Control's settlement
proof, on the sample lake, checked against sums computed here from the sample's own JSON files."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from recon.reports.summary import CODES
from recon.sandbox.dataset import sample_data_dir

FROM, TO = date(2026, 10, 24), date(2026, 10, 26)
OSLO = ZoneInfo("Europe/Oslo")
PAYOUTS = {"payout-scheduled", "scheduled-for-payout"}


@pytest.fixture(scope="module")
def book(sample):
    return sample[2]


def sample(folder: str) -> dict[str, dict]:
    return {doc["ledgerId"]: doc for doc in
            (json.loads(p.read_text()) for p in sorted((sample_data_dir() / folder).glob("*.json")))}


def minor(value) -> int:
    return int((Decimal(str(value)) * 100).to_integral_value())


def rows_of(ws) -> tuple[list[str], list[tuple]]:
    it = ws.iter_rows(values_only=True)
    header = list(next(it))
    data = []
    for row in it:
        if all(v is None for v in row):
            break
        data.append(row)
    return header, data


def day(value) -> date:
    return value.date() if isinstance(value, datetime) else value


def payout_groups(funds: list[dict]) -> list[dict]:
    """Feed order, a group ending with each payout: the settlement proof, computed independently."""
    groups, current = [], []
    for entry in funds:
        current.append(entry)
        if entry["entryType"] in PAYOUTS:
            groups.append(current)
            current = []
    out = []
    for entries in groups:
        by = defaultdict(int)
        for e in entries:
            kind = e["entryType"] if e["entryType"] in ("capture", "refund", "fees-retained") else (
                "payout" if e["entryType"] in PAYOUTS else "other")
            by[kind] += e["amount"]
        out.append({"psp": entries[-1]["pspReference"], "date": date.fromisoformat(entries[-1]["ledgerDate"]),
                    "opening": entries[0]["balanceBefore"], "closing": entries[-1]["balanceAfter"], **by})
    return out


def test_every_payout_of_the_period_is_on_the_sheet_with_sums_computed_independently(book):
    header, data = rows_of(book["Settlement"])
    col = {name: i for i, name in enumerate(header)}
    sheet = {row[col["Payout pspReference"]]: row for row in data if row[col["Payout pspReference"]]}
    expected = {}
    for doc in sample("vipps_report").values():
        for g in payout_groups(doc["funds"]):
            if FROM <= g["date"] <= TO:
                expected[g["psp"]] = g
    assert expected and set(sheet) == set(expected)
    for psp, g in expected.items():
        row = sheet[psp]
        assert day(row[col["Payout ledger date"]]) == g["date"]
        for column, key in [("Opening balance", "opening"), ("Closing balance", "closing"), ("Captures", "capture"),
                            ("Refunds", "refund"), ("Fees retained", "fees-retained"), ("Payout", "payout"),
                            ("Other movements", "other")]:
            assert minor(row[col[column]]) == g.get(key, 0), (psp, column)
        ties = g["opening"] + sum(g.get(k, 0) for k in ("capture", "refund", "fees-retained", "other", "payout"))
        assert (row[col["Ties"]] == "yes") == (ties == g["closing"]), psp


def test_the_payout_account_is_masked_everywhere(book):
    header, data = rows_of(book["Settlement"])
    shown = {row[header.index("Payout account")] for row in data}
    assert shown and all(a and set(a[:-4]) == {"*"} and a[-4:].isdigit() for a in shown)
    # The full account number (the sandbox's ledger list) is in no cell of any sheet.
    tails = {a[-4:] for a in shown}
    texts = {str(c) for ws in book.worksheets for row in ws.iter_rows(values_only=True) for c in row if c}
    assert not any(len(t) >= 8 and t.isdigit() and t[-4:] in tails and t.startswith("1503") for t in texts)


def test_fees_per_ledger_date_and_the_effective_rate(book):
    ws = book["Settlement"]
    rows = list(ws.iter_rows(values_only=True))
    start = next(i for i, r in enumerate(rows) if r[0] and str(r[0]).startswith("Fees per ledger date"))
    header, data = list(rows[start + 1]), [r for r in rows[start + 2:] if any(r)]
    col = {name: i for i, name in enumerate(header)}
    fees, captures = defaultdict(int), defaultdict(int)
    for lid, doc in sample("vipps_report").items():
        for e in doc["fees"]:
            if e["entryType"] != "fees-retained":
                fees[lid, e["ledgerDate"]] += e["amount"]
        for e in doc["funds"]:
            if e["entryType"] == "capture":
                captures[lid, e["ledgerDate"]] += e["amount"]
    in_period = {k for k in fees if FROM.isoformat() <= k[1] <= TO.isoformat()}
    assert len(data) == len(in_period) > 0
    for row in data:
        key = (row[col["Ledger"]], day(row[col["Ledger date"]]).isoformat())
        assert minor(row[col["Fees"]]) == fees[key]
        assert minor(row[col["Funds captures"]]) == captures[key]
        rate = Decimal(-fees[key] * 10000 / captures[key]).quantize(Decimal(1)) / 10000
        assert Decimal(str(row[col["Effective fee rate"]])) == rate


def test_vat_sheet_shows_the_gross_vipps_did_not_report_vat_for(book):
    sales = {(lid, e.get("entryType"), e.get("pspReference"))
             for lid, doc in sample("vipps").items() for e in doc["items"] if isinstance(e, dict)}
    expected = defaultdict(int)
    for lid, doc in sample("vipps_report").items():
        for e in doc["funds"]:
            if e["entryType"] in ("capture", "refund") and (lid, e["entryType"], e["pspReference"]) not in sales:
                when = datetime.fromisoformat(e["time"].replace("Z", "+00:00")).astimezone(UTC)
                d = when.astimezone(OSLO).date()
                if FROM <= d <= TO:
                    expected[d] += e["amount"]
    header, data = rows_of(book["VAT"])
    col = {name: i for i, name in enumerate(header)}
    shown = {day(r[col["Business date"]]): minor(r[col["Gross"]]) for r in data
             if r[col["VAT rate"]] == "not reported by Vipps"}
    assert expected and shown == dict(expected)
    assert all(r[col["VAT"]] is None for r in data if r[col["VAT rate"]] == "not reported by Vipps")


def test_control_ties_the_settlement_per_ledger_and_the_summary_explains_the_new_codes(book):
    rows = list(book["Control"].iter_rows(values_only=True))
    start = next(i for i, r in enumerate(rows) if r[0] and str(r[0]).startswith("Settlement proof per ledger"))
    header, data = list(rows[start + 1]), []
    for r in rows[start + 2:]:
        if not any(r):
            break
        data.append(r)
    col = {name: i for i, name in enumerate(header)}
    _, sheet = rows_of(book["Settlement"])
    for row in data:
        mine = [r for r in sheet if r[0] == row[col["Ledger"]]]
        assert row[col["Payouts"]] == sum(1 for r in mine if r[7] == "no")
        assert row[col["Rows not tying"]] == sum(1 for r in mine if r[16] == "no")
        opening, closing = minor(row[col["First opening balance"]]), minor(row[col["Last closing balance"]])
        assert (row[col["Ties"]] == "yes") == (opening + minor(row[col["Σ movements"]]) == closing
                                               and row[col["Rows not tying"]] == 0)
    summary = {}  # the codes block: the first rows naming a code (the aging block repeats them)
    for r in book["Summary"].iter_rows(values_only=True):
        if r and r[0] in CODES:
            summary.setdefault(r[0], r)
    for code in ("NOT_SETTLED", "SETTLEMENT_AMOUNT_MISMATCH", "BALANCE_BREAK"):
        assert summary[code][5] == CODES[code]
