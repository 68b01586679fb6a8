"""Two Sales entries under one pspReference in one ledger each take part on their own.

A Sales entry's key is ``<ledger>:<pspReference>`` whatever its type and content, so a capture and
a refund sharing a pspReference, or an entry that arrived again with other content, are two entries
with one key (docs/reconciliation.md: "both versions would take part"). Matching one of them must
neither hide the other nor report it twice: reconcile tells the entries apart by their row in the
Vipps side, not by the key's text. Pulled over HTTP from the sandbox, reconciled, results read back.
"""

from __future__ import annotations

from datetime import date, timedelta

from builders import T0, entur_payment, settled, vipps_entry
from lake_rows import rows

from recon.ingest.pull import pull
from recon.reconcile.runner import reconcile
from recon.sandbox.dataset import Dataset, Ledger

DAY = date(2026, 10, 24)
TODAY = date(2026, 11, 23)


def test_a_capture_and_a_refund_under_one_psp_reference_and_an_entry_sent_twice(make_setup):
    shared = vipps_entry(0, psp="L1-shared")
    # Its refund under the same pspReference; Entur has the payment but no credit.
    refund = vipps_entry(0, psp="L1-shared", entry_type="refund", gross=4000, ts=T0 + timedelta(minutes=30))
    twice = vipps_entry(2, psp="L1-twice")
    # The same capture again with other content (a minute later): Entur has one payment of that amount.
    again = vipps_entry(2, psp="L1-twice", ts=T0 + timedelta(minutes=3))
    entries = [shared, refund, twice, again]
    funds, fees = settled(entries)
    ds = Dataset(ledgers={"L1": Ledger("L1", entries=entries, funds=funds, fees=fees)},
                 payments=[entur_payment(0, psp="L1-shared"), entur_payment(2, psp="L1-twice")])
    config = make_setup(ds).config()
    assert pull(config).ok
    assert rows(config, "SELECT count(*) FROM vipps_sales_entries") == [(4,)]

    result = reconcile(config, DAY, DAY, today=TODAY)

    found = rows(config, "SELECT code, kind, psp_reference, order_id, vipps_amount FROM recon_mismatches "
                         "WHERE code NOT IN ('SETTLEMENT_AMOUNT_MISMATCH', 'NOT_SETTLED') ORDER BY ALL")
    assert found == [
        # The refund has no Entur credit: reported, although its capture (same key) was matched.
        ("DUPLICATE", "capture", "L1-twice", "ORD00002", 10000),  # one surplus capture, one row
        ("REFUND_WITHOUT_CREDIT", "refund", "L1-shared", "ORD00000", 4000),
    ]
    assert rows(config, "SELECT psp_reference, outcome FROM recon_matches ORDER BY ALL") == [
        ("L1-shared", "MATCHED"), ("L1-twice", "MATCHED")]
    assert result.matched == 2
