"""Values the APIs add without notice land, take no part in matching, and are counted and warned about."""

from __future__ import annotations

import logging
from datetime import date

from builders import booking_event, entur_payment, small_dataset, vipps_entry
from lake_rows import rows

from recon.ingest.pull import pull
from recon.reconcile.runner import reconcile


def test_an_unknown_entry_type_and_status_land_unmatched_counted_and_warned(make_setup, caplog):
    ds = small_dataset(n=3, ledgers=("L1",))
    chargeback = vipps_entry(7, entry_type="Chargeback", gross=-2500)
    ds.ledgers["L1"].entries = [*ds.ledgers["L1"].entries, chargeback]
    ds.payments = [entur_payment(i) for i in range(3)]
    ds.events = [*[booking_event(i) for i in range(3)], booking_event(9, status="EXCHANGED")]
    setup = make_setup(ds)
    config = setup.config()
    caplog.set_level(logging.WARNING, logger="recon")
    result = pull(config)
    assert result.ok
    by_source = {r.source: r.unknown for r in result.sources}
    assert by_source == {"vipps": {"entryType 'Chargeback'": 1}, "vipps_report": {}, "entur": {},
                         "samtrafiken": {"booking status 'EXCHANGED'": 1}}
    assert "vipps: 1 record with entryType 'Chargeback' landed" in caplog.text
    # Landed as sent (its sign too), nothing quarantined ...
    assert rows(config, "SELECT entry_type, gross FROM vipps_sales_entries WHERE psp_reference = 'L1-psp-7'") == [
        ("chargeback", -2500)]
    assert rows(config, "SELECT count(*) FROM quarantine") == [(0,)]
    # ... and no part in matching: no MISSING_IN_ENTUR for it, no booking check for the EXCHANGED one.
    reconcile(config, date(2026, 10, 24), date(2026, 10, 24), today=date(2026, 11, 1))
    # (The three payments match their Vipps captures; the dataset's one Entur credit has no refund.)
    assert rows(config, "SELECT code, psp_reference, booking_id FROM recon_mismatches") == [
        ("CREDIT_WITHOUT_REFUND", None, None)]
