"""Malformed records go to quarantine with a reason; the rest of their page lands."""

from __future__ import annotations

from builders import booking_event, entur_credit, entur_payment, small_dataset, vipps_entry

from recon.ingest.pull import pull
from recon.lake.catalog import connect
from recon.lake.store import Lake


def _bad_vipps():
    missing_ref = vipps_entry(900, reference="x")
    del missing_ref["reference"]
    string_amount = vipps_entry(901)
    string_amount["amounts"]["gross"] = "12.5"
    bad_time = vipps_entry(902)
    bad_time["time"] = "2026-13-45T25:00:00Z"
    no_type = vipps_entry(903, entry_type="")
    bad_currency = vipps_entry(904)
    bad_currency["currency"] = "NOKK"
    bad_utf8 = vipps_entry(905)
    bad_utf8["reference"] = "ORD\udcff905"  # what a non-UTF-8 byte decodes to
    return {
        "missing reference": missing_ref, "amounts.gross": string_amount, "is not an ISO 8601": bad_time,
        "missing entryType": no_type, "ISO 4217": bad_currency, "not valid UTF-8": bad_utf8,
    }


def test_each_malformed_kind_is_quarantined_with_its_reason(make_setup):
    n = 6  # valid records per source; everything added below is malformed
    ds = small_dataset(n=n, ledgers=("L1",))
    bad = _bad_vipps()
    entries = list(ds.ledgers["L1"].entries)
    for rec in bad.values():
        entries.insert(3, rec)  # in the middle of a page, so the page's neighbours must still land
    ds.ledgers["L1"].entries = entries
    over_precise = entur_payment(50)
    over_precise["transactionHistory"][0]["amount"] = "152.005"
    no_order = entur_payment(51)
    del no_order["orderId"]
    ds.payments = [*list(ds.payments), over_precise, no_order]
    no_event_id = booking_event(52)
    del no_event_id["eventId"]
    bad_status = booking_event(53, status="")
    ds.events = [*list(ds.events), no_event_id, bad_status]
    bad_credit = entur_credit(54)
    bad_credit["creditTransactions"][0]["amount"] = "ten"
    ds.credits = [*list(ds.credits), bad_credit]

    setup = make_setup(ds)
    config = setup.config()
    result = pull(config)
    assert result.ok
    con = connect(Lake(config.lake))
    q = con.execute("SELECT source, reason, record_id, raw FROM quarantine ORDER BY source, reason").fetchall()
    reasons = [r[1] for r in q]
    for needle in bad:
        assert sum(needle in r for r in reasons) == 1, (needle, reasons)
    assert any("152.005" in r and "beyond 2 decimals" in r for r in reasons)
    assert any(r == "missing orderId" for r in reasons)
    assert any(r == "missing eventId" for r in reasons)
    assert any(r == "missing status" for r in reasons)
    assert any("credit transaction 8054 amount" in r for r in reasons)
    assert len(q) == len(bad) + 5
    # Every quarantined record keeps its raw JSON, and the valid records all landed.
    assert all(row[3].startswith("{") for row in q)
    assert con.execute("SELECT count(*) FROM vipps_sales_entries").fetchone()[0] == n
    assert con.execute("SELECT count(*) FROM entur_payments").fetchone()[0] == n
    assert con.execute("SELECT count(*) FROM samtrafiken_booking_events").fetchone()[0] == n
    # Never rounded: no landed transaction carries the over-precise amount in any form.
    assert con.execute("SELECT count(*) FROM entur_payment_transactions WHERE amount IN (15200, 15201)"
                       ).fetchone()[0] == 0


def test_quarantine_is_not_duplicated_by_a_rerun(make_setup):
    n = 4
    ds = small_dataset(n=n, ledgers=("L1",))
    ds.ledgers["L1"].entries = [*list(ds.ledgers["L1"].entries), vipps_entry(99, entry_type="")]
    setup = make_setup(ds)
    config = setup.config()
    assert pull(config).ok
    # Forget the cursor so the same page (and its bad record) is pulled again.
    for f in (Lake(config.lake).state_dir / "vipps").glob("*.json"):
        f.unlink()
    assert pull(config).ok
    con = connect(Lake(config.lake))
    assert con.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 1
    assert con.execute("SELECT count(*) FROM raw_vipps_sales_entries").fetchone()[0] == 2 * n  # landed twice
    assert con.execute("SELECT count(*) FROM vipps_sales_entries").fetchone()[0] == n


def test_personal_data_of_payers_is_not_landed(make_setup):
    ds = small_dataset(n=3)
    assert all(e["payer"]["name"] == "Kari Nordmann" for e in ds.events)
    setup = make_setup(ds)
    config = setup.config()
    assert pull(config).ok
    # The events themselves landed (else there would be nothing to leak), their payers did not.
    assert connect(Lake(config.lake)).execute("SELECT count(*) FROM samtrafiken_booking_events"
                                              ).fetchone()[0] == len(ds.events)
    files = [path for path in Lake(config.lake).root.rglob("*") if path.is_file()]
    assert files
    for path in files:
        assert b"Kari Nordmann" not in path.read_bytes(), path
        assert b"kari@example.no" not in path.read_bytes(), path
