"""Pulling each source over real HTTP from the sandbox into a real Parquet lake."""

from __future__ import annotations

import pyarrow.parquet as pq
from builders import small_dataset

from recon.ingest.pull import pull
from recon.lake.catalog import connect
from recon.lake.store import Lake


def counts(config):
    con = connect(Lake(config.lake))
    names = ["vipps_sales_entries", "vipps_sales_lines", "entur_payments", "entur_payment_transactions",
             "entur_credits", "entur_credit_transactions", "samtrafiken_booking_events", "quarantine"]
    return {n: con.execute(f"SELECT count(*) FROM {n}").fetchone()[0] for n in names}


def test_pull_all_sources_across_many_pages(make_setup):
    ds = small_dataset(n=37)
    setup = make_setup(ds)
    config = setup.config()
    result = pull(config)
    assert result.ok, [r.error for r in result.sources]
    got = counts(config)
    entries = [e for ledger in ds.ledgers.values() for e in ledger.entries]
    assert got == {  # everything the dataset holds, each once
        "vipps_sales_entries": len(entries), "vipps_sales_lines": sum(len(e["lines"]) for e in entries),
        "entur_payments": len(ds.payments),
        "entur_payment_transactions": sum(len(p["transactionHistory"]) for p in ds.payments),
        "entur_credits": len(ds.credits),
        "entur_credit_transactions": sum(len(c["creditTransactions"]) for c in ds.credits),
        "samtrafiken_booking_events": len(ds.events), "quarantine": 0,
    }
    by_source = {r.source: r for r in result.sources}
    pages = lambda n: -(-n // 10)  # noqa: E731 - the sandbox config's page size is 10
    assert by_source["vipps"].pages >= sum(pages(len(ledger.entries)) for ledger in ds.ledgers.values())
    assert by_source["entur"].pages >= pages(len(ds.payments)) + pages(len(ds.credits))
    assert by_source["samtrafiken"].pages >= pages(len(ds.events))


def test_second_pull_changes_no_row_count(make_setup):
    setup = make_setup(small_dataset(n=12))
    config = setup.config()
    assert pull(config).ok
    first = counts(config)
    assert all(n > 0 for name, n in first.items() if name != "quarantine")
    assert pull(config).ok
    assert counts(config) == first


def test_amounts_are_exact_minor_units_and_refunds_negative(make_setup):
    ds = small_dataset(n=3, ledgers=("L1",))
    refund = dict(ds.ledgers["L1"].entries[0], entryType="refund", pspReference="L1-refund-0")
    ds.ledgers["L1"].entries = [*list(ds.ledgers["L1"].entries), refund]
    setup = make_setup(ds)
    config = setup.config()
    assert pull(config).ok
    con = connect(Lake(config.lake))
    rows = con.execute("SELECT entry_type, gross, vat FROM vipps_sales_entries ORDER BY entry_type").fetchall()
    vat = refund["amounts"]["vat"]
    assert vat > 0  # sent positive, as the capture's
    assert rows == [("capture", 10000, vat)] * 3 + [("refund", -10000, -vat)]
    assert con.execute("SELECT sum(amount) FROM entur_payment_transactions").fetchone()[0] == 30000


def test_parquet_layout_partitions_and_compression(make_setup):
    setup = make_setup(small_dataset(n=5))
    config = setup.config()
    assert pull(config).ok
    files = Lake(config.lake).table_files("vipps_sales_entries")
    assert files and all(f.parent.name.startswith("business_date=2026-10-") for f in files)
    meta = pq.ParquetFile(files[0]).metadata
    assert meta.num_row_groups == 1
    assert meta.row_group(0).column(0).compression == "ZSTD"
