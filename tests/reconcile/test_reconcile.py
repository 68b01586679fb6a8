"""Reconciliation of the planted sample, over real HTTP, Parquet and DuckDB."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, datetime
from zoneinfo import ZoneInfo

import duckdb
import pytest
from builders import embedded_config

from recon.lake.catalog import connect
from recon.lake.store import Lake
from recon.ops.sandboxed import pull
from recon.reconcile.runner import reconcile
from recon.sandbox.dataset import sample_data_dir

EXPECTED = json.loads((sample_data_dir() / "expected.json").read_text())
FROM, TO = date(2026, 10, 24), date(2026, 10, 26)
TODAY = date(2026, 11, 23)
CODES = {"MISSING_IN_ENTUR", "MISSING_IN_VIPPS", "AMOUNT_MISMATCH", "CURRENCY_MISMATCH", "VAT_MISMATCH",
         "DUPLICATE", "REFUND_WITHOUT_CREDIT", "CREDIT_WITHOUT_REFUND", "BOOKING_NOT_PAID",
         "BOOKING_REFUNDED_NOT_CREDITED", "TIMING_DIFFERENCE"}
ID_COLUMNS = "code, ledger_id, reference, psp_reference, order_id, entur_transaction_id, entur_credit_id, booking_id"


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    config = embedded_config(tmp_path_factory.mktemp("sample"))
    assert pull(config).ok
    result = reconcile(config, FROM, TO, today=TODAY)
    return config, result


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


def test_traps_are_not_flagged(sample):
    config, _ = sample
    flagged = " ".join(str(v) for row in q(config, "SELECT * FROM recon_mismatches") for v in row)
    for trap in EXPECTED["not_flagged"]:
        for key, value in trap["ids"].items():
            values = value if isinstance(value, list) else [value]
            for v in values:
                if key in ("pspReference", "pspReferences", "transactionId", "bookingId", "creditId", "eventIds"):
                    assert str(v) not in flagged, (trap["what"], v)


def test_mismatch_rows_carry_amounts_dates_and_explanations(sample):
    config, _ = sample
    rows = q(config, "SELECT code, vipps_amount, entur_amount, difference, currency, business_date, explanation, "
                     "provisional FROM recon_mismatches")
    for code, va, ea, diff, cur, day, text, provisional in rows:
        assert cur and FROM <= day <= TO and len(text) > 20 and provisional is False
        if code == "AMOUNT_MISMATCH":
            assert diff == va - ea and diff != 0
    amounts = {r[0]: r[1:] for r in q(config, "SELECT psp_reference, vipps_amount, entur_amount, difference "
                                              "FROM recon_mismatches WHERE code = 'AMOUNT_MISMATCH'")}
    assert amounts["72633612100"] == (19900, 20900, -1000)


def test_result_money_columns_are_integers(sample):
    config, _ = sample
    for table in ("recon_mismatches", "recon_matches", "vat_summary"):
        types = dict(q(config, f"SELECT column_name, column_type FROM (DESCRIBE {table})"))
        for col in ("vipps_amount", "entur_amount", "difference", "gross", "net", "vat", "booking_amount"):
            if col in types:
                assert types[col] == "BIGINT", (table, col)


def _independent_vat():
    """VAT per (date, rate) computed from the sample JSON in Python, not by our SQL."""
    bad = {str(i["ids"].get("pspReference")) for i in EXPECTED["quarantine"] if i["source"] == "vipps"}
    oslo = ZoneInfo("Europe/Oslo")
    seen, gross, vat, entry_gross = set(), defaultdict(int), defaultdict(int), defaultdict(int)
    for path in sorted((sample_data_dir() / "vipps").glob("*.json")):
        for e in json.loads(path.read_text())["items"]:
            if str(e.get("pspReference")) in bad:
                continue
            blob = json.dumps(e, sort_keys=True)
            if blob in seen:
                continue
            seen.add(blob)
            day = datetime.fromisoformat(e["time"]).astimezone(oslo).date()
            if not FROM <= day <= TO:
                continue
            sign = -1 if e["entryType"] == "refund" else 1
            entry_gross[day] += sign * abs(e["amounts"]["gross"])
            if not e["lines"]:
                gross[(day, None)] += sign * abs(e["amounts"]["gross"])
                vat[(day, None)] += sign * abs(e["amounts"]["vat"] or 0)
            for line in e["lines"]:
                rate = line.get("vatRate")
                gross[(day, rate)] += sign * abs(line["lineTotalGross"])
                vat[(day, rate)] += sign * abs(line.get("vatAmount") or 0)
    return gross, vat, entry_gross


def test_vat_summary_ties_to_an_independent_computation(sample):
    config, _ = sample
    gross, vat, entry_gross = _independent_vat()
    rows = q(config, "SELECT business_date, vat_rate_bp, sum(gross), sum(coalesce(vat, 0)) FROM vat_summary "
                     "GROUP BY ALL")
    assert {(d, r): g for d, r, g, _ in rows} == dict(gross)
    assert {(d, r): v for d, r, _, v in rows} == dict(vat)
    per_day = q(config, "SELECT business_date, sum(gross) FROM vat_summary GROUP BY ALL")
    assert dict(per_day) == dict(entry_gross)  # ties to the entries' own gross
    rates = {r[0] for r in q(config, "SELECT DISTINCT vat_rate_bp FROM vat_summary WHERE vat_rate_bp IS NOT NULL")}
    assert rates == set(EXPECTED["vat_rates"])
    assert q(config, "SELECT count(*) FROM vat_summary WHERE vat_rate = 'unknown'")[0][0] > 0


def test_rerunning_reconcile_gives_identical_results(sample, tmp_path):
    config, first = sample
    before = q(config, "SELECT * EXCLUDE (run_id) FROM recon_mismatches")
    matches = q(config, "SELECT * EXCLUDE (run_id) FROM recon_matches")
    vat = q(config, "SELECT * EXCLUDE (run_id) FROM vat_summary")
    second = reconcile(config, FROM, TO, today=TODAY)
    assert second.run_id != first.run_id
    assert q(config, "SELECT * EXCLUDE (run_id) FROM recon_mismatches") == before
    assert q(config, "SELECT * EXCLUDE (run_id) FROM recon_matches") == matches
    assert q(config, "SELECT * EXCLUDE (run_id) FROM vat_summary") == vat
    runs = q(config, "SELECT count(DISTINCT run_id) FROM recon_mismatches_history")[0][0]
    assert runs >= 2


def test_dates_not_yet_closed_are_provisional(sample):
    config, _ = sample
    result = reconcile(config, FROM, TO, today=date(2026, 10, 26))
    assert result.provisional_dates == [date(2026, 10, 26)]
    flags = dict(q(config, "SELECT business_date, bool_and(provisional) FROM vat_summary GROUP BY ALL"))
    assert flags == {date(2026, 10, 24): False, date(2026, 10, 25): False, date(2026, 10, 26): True}
    reconcile(config, FROM, TO, today=TODAY)


def test_catalog_file_works_from_anywhere_and_survives_an_open_reader(sample, tmp_path, monkeypatch):
    config, _ = sample
    catalog = config.lake / "recon.duckdb"
    monkeypatch.chdir(tmp_path)  # views must not depend on the directory a user starts from
    reader = duckdb.connect(str(catalog), read_only=True)
    n = reader.execute("SELECT count(*) FROM recon_mismatches").fetchone()[0]
    assert n == len(EXPECTED["mismatches"])
    tables = {r[0] for r in reader.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert {"vipps_sales_entries", "entur_payments", "samtrafiken_booking_events", "quarantine",
            "recon_matches", "recon_mismatches", "vat_summary"} <= tables
    # The nightly run rebuilds the catalog while the analyst keeps the old file open.
    reconcile(config, FROM, TO, today=TODAY)
    assert reader.execute("SELECT count(*) FROM vipps_sales_entries").fetchone()[0] > 200
    reader.close()
    fresh = duckdb.connect(str(catalog), read_only=True)
    assert fresh.execute("SELECT count(*) FROM recon_mismatches").fetchone()[0] == n
    fresh.close()


def test_a_period_outside_the_data_is_empty(sample):
    config, _ = sample
    result = reconcile(config, date(2026, 9, 1), date(2026, 9, 30), today=TODAY)
    assert result.mismatches == 0 and result.matched == 0
    assert q(config, "SELECT count(*) FROM recon_mismatches")[0][0] == 0
    reconcile(config, FROM, TO, today=TODAY)
