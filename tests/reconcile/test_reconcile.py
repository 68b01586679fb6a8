"""Reconciliation of the planted sample, over real HTTP, Parquet and DuckDB."""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from datetime import date, datetime
from zoneinfo import ZoneInfo

import duckdb
import pytest
from builders import embedded_config

from recon.lake.catalog import build_catalog, connect
from recon.lake.store import Lake
from recon.ops.sandboxed import pull
from recon.reconcile.runner import reconcile
from recon.sandbox.dataset import sample_data_dir

EXPECTED = json.loads((sample_data_dir() / "expected.json").read_text())
FROM, TO = date(2026, 10, 24), date(2026, 10, 26)
TODAY = date(2026, 11, 23)
CODES = {"MISSING_IN_ENTUR", "MISSING_IN_VIPPS", "AMOUNT_MISMATCH", "CURRENCY_MISMATCH", "VAT_MISMATCH",
         "DUPLICATE", "REFUND_WITHOUT_CREDIT", "CREDIT_WITHOUT_REFUND", "BOOKING_NOT_PAID",
         "BOOKING_REFUNDED_NOT_CREDITED", "TIMING_DIFFERENCE", "NOT_SETTLED", "SETTLEMENT_AMOUNT_MISMATCH",
         "BALANCE_BREAK"}
ID_COLUMNS = "code, ledger_id, reference, psp_reference, order_id, entur_transaction_id, entur_credit_id, booking_id"


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    config = embedded_config(tmp_path_factory.mktemp("sample"))
    assert pull(config).ok
    result = reconcile(config, FROM, TO, today=TODAY)
    return config, result


@pytest.fixture
def fresh_sample(sample, tmp_path):
    """A copy of the sample lake for a test that reconciles again: the module's lake stays as pulled."""
    config, result = sample
    shutil.copytree(config.lake, tmp_path / "lake")
    build_catalog(Lake(tmp_path / "lake"))  # the copy's catalog points at the copy
    return embedded_config(tmp_path / "cfg", lake=tmp_path / "lake"), result


def q(config, sql, params=None):
    con = connect(Lake(config.lake))
    try:
        return con.execute(sql, params or {}).fetchall()
    finally:
        con.close()


def test_every_planted_discrepancy_is_found_and_nothing_else(sample):
    config, result = sample
    got = sorted(q(config, f"SELECT {ID_COLUMNS} FROM recon_mismatches"), key=str)
    want = sorted(((m["code"], m["ledgerId"], m["reference"], m["pspReference"], m["orderId"],
                    m["entur_transaction_id"], m["credit_id"], m["booking_id"]) for m in EXPECTED["mismatches"]),
                  key=str)
    assert got == want
    assert {row[0] for row in got} == CODES
    assert result.mismatches == len(want)


def _ids(rows) -> set[str]:
    """Every id in the rows, each on its own (a key-2 group lists its pspReferences comma-separated)."""
    return {part for row in rows for v in row if v is not None for part in str(v).split(",")}


def test_traps_are_not_flagged(sample):
    config, _ = sample
    flagged = _ids(q(config, f"SELECT {ID_COLUMNS}, entur_payment_id FROM recon_mismatches"))
    assert flagged
    # An id a planted row names too (a trap on the same order) may be flagged, for that row's reason.
    planted = _ids([m[k] for k in ("ledgerId", "reference", "pspReference", "orderId", "entur_transaction_id",
                                   "credit_id", "booking_id")] for m in EXPECTED["mismatches"])
    for trap in EXPECTED["not_flagged"]:
        ids = {str(v) for key, value in trap["ids"].items() if key not in ("ledgerId", "time")
               for v in (value if isinstance(value, list) else [value])}
        own = ids - planted
        assert own, f"{trap['what']}: the trap names no record of its own to check"
        assert not own & flagged, (trap["what"], own & flagged)


def test_mismatch_rows_carry_amounts_dates_and_explanations(sample):
    config, _ = sample
    rows = q(config, "SELECT code, vipps_amount, entur_amount, difference, currency, business_date, explanation, "
                     "provisional FROM recon_mismatches")
    assert len(rows) == len(EXPECTED["mismatches"])
    assert "AMOUNT_MISMATCH" in {row[0] for row in rows}
    for code, va, ea, diff, cur, day, text, provisional in rows:
        assert cur and FROM <= day <= TO and len(text) > 20 and provisional is False
        if code == "AMOUNT_MISMATCH":
            assert diff == va - ea and diff != 0
    amounts = {r[0]: r[1:] for r in q(config, "SELECT psp_reference, vipps_amount, entur_amount, difference "
                                              "FROM recon_mismatches WHERE code = 'AMOUNT_MISMATCH'")}
    # The key-1 pair planted at Vipps 199.00 against Entur 209.00 (the answer key names it).
    [planted] = [m["pspReference"] for m in EXPECTED["mismatches"]
                 if m["code"] == "AMOUNT_MISMATCH" and "," not in m["pspReference"] and "199.00" in m["why"]]
    assert amounts[planted] == (19900, 20900, -1000)


def test_result_money_columns_are_integers(sample):
    config, _ = sample
    money = {"recon_mismatches": ("vipps_amount", "entur_amount", "difference", "booking_amount", "settled_amount",
                                  "balance_before", "balance_after", "previous_balance_after"),
             "recon_matches": ("vipps_amount", "entur_amount", "difference"),
             "vat_summary": ("gross", "net", "vat"),
             "settlement_summary": ("opening_balance", "captures", "refunds", "fees_retained", "other_movements",
                                    "payout_amount", "closing_balance", "sales_gross", "sales_captures_settled",
                                    "report_only_captures"),
             "settlement_fees": ("fees", "fees_retained", "captures", "effective_fee_rate_bp")}
    for table, columns in money.items():
        types = dict(q(config, f"SELECT column_name, column_type FROM (DESCRIBE {table})"))
        assert {col: types.get(col) for col in columns} == dict.fromkeys(columns, "BIGINT"), table


def _sample_vipps_entries():
    """The sample's Vipps entries as sent, without the malformed ones and without repeats."""
    bad = {str(i["ids"]["pspReference"]) for i in EXPECTED["quarantine"] if i["source"] == "vipps"}
    assert bad
    seen, out = set(), []
    for path in sorted((sample_data_dir() / "vipps").glob("*.json")):
        for e in json.loads(path.read_text())["items"]:
            blob = json.dumps(e, sort_keys=True)
            if str(e["pspReference"]) in bad or blob in seen:
                continue
            seen.add(blob)
            out.append(e)
    return out


def _independent_vat():
    """VAT per (date, rate) computed from the sample JSON in Python, not by our SQL."""
    oslo = ZoneInfo("Europe/Oslo")
    gross, vat, entry_gross = defaultdict(int), defaultdict(int), defaultdict(int)
    for e in _sample_vipps_entries():
        day = datetime.fromisoformat(e["time"]).astimezone(oslo).date()
        if not FROM <= day <= TO or e["entryType"] not in ("capture", "refund"):
            continue  # an entryType the API added lands but takes no part in VAT (the answer key's trap)
        sign = -1 if e["entryType"] == "refund" else 1
        entry_gross[day] += sign * abs(e["amounts"]["gross"])
        if not e["lines"]:
            gross[(day, None)] += sign * abs(e["amounts"]["gross"])
            vat[(day, None)] += sign * abs(e["amounts"]["vat"] or 0)
        for line in e["lines"]:
            # None where the line has no rate or no VAT amount: VAT 'unknown'
            rate = line["vatRate"] if line["vatAmount"] is not None else None
            gross[(day, rate)] += sign * abs(line["lineTotalGross"])
            vat[(day, rate)] += sign * abs(line["vatAmount"] or 0)
    return gross, vat, entry_gross


def test_vat_summary_ties_to_an_independent_computation(sample):
    config, _ = sample
    gross, vat, entry_gross = _independent_vat()
    assert {day for day, _ in gross} == {FROM, date(2026, 10, 25), TO}
    # The Sales API's VAT (the rows of money Vipps reports no VAT for: the next test).
    rows = q(config, "SELECT business_date, vat_rate_bp, sum(gross), sum(coalesce(vat, 0)) FROM vat_summary "
                     "WHERE vat_reported GROUP BY ALL")
    assert {(d, r): g for d, r, g, _ in rows} == dict(gross)
    assert {(d, r): v for d, r, _, v in rows} == dict(vat)
    per_day = q(config, "SELECT business_date, sum(gross) FROM vat_summary WHERE vat_reported GROUP BY ALL")
    assert dict(per_day) == dict(entry_gross)  # ties to the entries' own gross
    rates = {r[0] for r in q(config, "SELECT DISTINCT vat_rate_bp FROM vat_summary WHERE vat_rate_bp IS NOT NULL")}
    assert rates == set(EXPECTED["vat_rates"])
    assert q(config, "SELECT count(*) FROM vat_summary WHERE vat_rate = 'unknown'")[0][0] > 0


def _sample_report(topic: str) -> dict[str, list[dict]]:
    return {str(doc["ledgerId"]): doc[topic] for doc in
            (json.loads(p.read_text()) for p in sorted((sample_data_dir() / "vipps_report").glob("*.json")))}


def test_vat_summary_shows_the_funds_only_gross_as_not_reported(sample):
    """ePayment money (a funds capture or refund no Sales entry mirrors) has no VAT from Vipps."""
    config, _ = sample
    oslo = ZoneInfo("Europe/Oslo")
    sales = {(e.get("ledgerId"), e["entryType"], str(e["pspReference"])) for e in _sample_vipps_entries()}
    sales = {(t, p) for _, t, p in sales}
    want: dict[date, int] = defaultdict(int)
    for entries in _sample_report("funds").values():
        for e in entries:
            day = datetime.fromisoformat(e["time"].replace("Z", "+00:00")).astimezone(oslo).date()
            if e["entryType"] in ("capture", "refund") and (e["entryType"], e["pspReference"]) not in sales \
                    and FROM <= day <= TO:
                want[day] += (-1 if e["entryType"] == "refund" else 1) * abs(e["amount"])
    assert want
    got = q(config, "SELECT business_date, gross FROM vat_summary WHERE NOT vat_reported ORDER BY ALL")
    assert got == sorted(want.items())
    assert q(config, "SELECT DISTINCT vat_rate, net, vat FROM vat_summary WHERE NOT vat_reported") == [
        ("not reported by Vipps", None, None)]


def test_settlement_summary_is_the_answer_keys(sample):
    config, _ = sample
    want = []
    for s in EXPECTED["settlements"]:
        if s["from"] > TO.isoformat() or (s["payout_pspReference"] and s["to"] < FROM.isoformat()):
            continue  # rows whose dates overlap the period (an open row starting after it is not shown)
        others = {t: v for t, v in s["movements"].items() if t not in ("capture", "refund", "fees-retained")}
        want.append((s["ledgerId"], s["payout_pspReference"], date.fromisoformat(s["from"]),
                     date.fromisoformat(s["to"]), s["payout_pspReference"] is None, s["opening"],
                     s["movements"].get("capture", 0), s["movements"].get("refund", 0),
                     s["movements"].get("fees-retained", 0), sum(others.values()), s["payout"] or 0, s["closing"],
                     s["adds_up"]))
    assert want
    got = q(config, "SELECT ledger_id, payout_psp_reference, covers_from, covers_to, is_open, opening_balance, "
                    "captures, refunds, fees_retained, other_movements, payout_amount, closing_balance, ties "
                    "FROM settlement_summary")
    assert got == want
    assert q(config, "SELECT other_types FROM settlement_summary WHERE other_movements <> 0") == [
        ("instant-payout-fee: -5.00 NOK",)]


def test_rerunning_reconcile_gives_identical_results(fresh_sample):
    config, first = fresh_sample
    before = q(config, "SELECT * EXCLUDE (run_id, reconciled_at) FROM recon_mismatches")
    matches = q(config, "SELECT * EXCLUDE (run_id, reconciled_at) FROM recon_matches")
    vat = q(config, "SELECT * EXCLUDE (run_id, reconciled_at) FROM vat_summary")
    assert before and matches and vat  # identical to nothing would prove nothing
    second = reconcile(config, FROM, TO, today=TODAY)
    assert second.run_id != first.run_id
    assert q(config, "SELECT * EXCLUDE (run_id, reconciled_at) FROM recon_mismatches") == before
    assert q(config, "SELECT * EXCLUDE (run_id, reconciled_at) FROM recon_matches") == matches
    assert q(config, "SELECT * EXCLUDE (run_id, reconciled_at) FROM vat_summary") == vat
    runs = q(config, "SELECT list(DISTINCT run_id ORDER BY run_id) FROM recon_mismatches_history")[0][0]
    assert runs == sorted([first.run_id, second.run_id])  # both kept in the history


def test_dates_not_yet_closed_are_provisional(fresh_sample):
    config, _ = fresh_sample
    result = reconcile(config, FROM, TO, today=date(2026, 10, 26))
    assert result.provisional_dates == [date(2026, 10, 26)]
    flags = dict(q(config, "SELECT business_date, bool_and(provisional) FROM vat_summary GROUP BY ALL"))
    assert flags == {date(2026, 10, 24): False, date(2026, 10, 25): False, date(2026, 10, 26): True}


def test_catalog_file_works_in_the_lake_folder_and_survives_an_open_reader(fresh_sample, monkeypatch):
    config, _ = fresh_sample
    catalog = config.lake / "recon.duckdb"
    monkeypatch.chdir(config.lake)  # the views' paths are relative to the lake (README, "Querying")
    reader = duckdb.connect(str(catalog), read_only=True)
    n = reader.execute("SELECT count(*) FROM recon_mismatches").fetchone()[0]
    assert n == len(EXPECTED["mismatches"])
    tables = {r[0] for r in reader.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert {"vipps_sales_entries", "entur_payments", "samtrafiken_booking_events", "quarantine",
            "recon_matches", "recon_mismatches", "vat_summary"} <= tables
    # The nightly run rebuilds the catalog while the analyst keeps the old file open.
    reconcile(config, FROM, TO, today=TODAY)
    assert reader.execute("SELECT count(*) FROM vipps_sales_entries").fetchone()[0] == len(_sample_vipps_entries())
    reader.close()
    fresh = duckdb.connect(str(catalog), read_only=True)
    assert fresh.execute("SELECT count(*) FROM recon_mismatches").fetchone()[0] == n
    fresh.close()


def test_a_period_outside_the_data_is_empty(fresh_sample):
    config, _ = fresh_sample
    assert q(config, "SELECT count(*) FROM recon_mismatches")[0][0] == len(EXPECTED["mismatches"])
    result = reconcile(config, date(2026, 9, 1), date(2026, 9, 30), today=TODAY)
    assert result.mismatches == 0 and result.matched == 0
    assert q(config, "SELECT count(*) FROM recon_mismatches")[0][0] == 0
