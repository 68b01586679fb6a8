"""Entur shapes the documents leave open: credits dated only by their transactions or updatedAt,
credit transactions that name their method as paymentType."""

from __future__ import annotations

from builders import entur_credit, small_dataset
from lake_rows import rows

from recon.ingest.pull import pull


def test_credits_are_dated_by_their_transactions_then_their_updated_at(make_setup):
    ds = small_dataset(n=3)
    by_tx = entur_credit(0)  # 2026-10-24T10:00Z
    del by_tx["createdAt"]
    by_updated = entur_credit(1)
    del by_updated["createdAt"]
    del by_updated["creditTransactions"][0]["createdAt"]
    by_updated["updatedAt"] = "2026-10-26T09:00:00Z"
    undated = entur_credit(2)
    del undated["createdAt"]
    del undated["creditTransactions"][0]["createdAt"]
    ds.credits = [by_tx, by_updated, undated]
    setup = make_setup(ds)
    config = setup.config()
    assert pull(config, ["entur"]).ok
    assert rows(config, "SELECT credit_id, CAST(business_date AS VARCHAR) FROM entur_credits ORDER BY 1") == [
        ("7000", "2026-10-24"), ("7001", "2026-10-26")]
    assert rows(config, "SELECT record_id, reason_code, reason FROM quarantine WHERE source = 'entur'") == [
        ("7002", "missing_field", "missing createdAt (on the credit and on all its transactions) and updatedAt")]


def test_a_credit_transactions_method_is_reimbursement_method_else_payment_type(make_setup):
    ds = small_dataset(n=2)
    named = entur_credit(0)
    as_payment = entur_credit(1)
    tx = as_payment["creditTransactions"][0]
    del tx["reimbursementMethod"]
    tx["paymentType"] = "vipps"
    ds.credits = [named, as_payment]
    setup = make_setup(ds)
    config = setup.config()
    assert pull(config, ["entur"]).ok
    assert rows(config, "SELECT credit_id, reimbursement_method FROM entur_credit_transactions ORDER BY 1") == [
        ("7000", "VIPPS"), ("7001", "VIPPS")]
