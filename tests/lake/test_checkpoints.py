"""When a pull makes its rows durable: at flush_rows rows in one table, or at FLUSH_BYTES buffered."""

from __future__ import annotations

import pyarrow.parquet as pq
from builders import small_dataset

from recon.ingest.pull import pull
from recon.lake import landing
from recon.lake.integrity import fingerprint


def _row_groups(lake, table):
    return [pq.ParquetFile(f).metadata.num_rows for f in sorted((lake / "raw" / table).rglob("*.parquet"))]


def test_wide_rows_are_checkpointed_by_bytes_and_land_the_same(make_setup, monkeypatch, tmp_path):
    dataset = small_dataset(n=60)
    by_rows = make_setup(dataset, lake=tmp_path / "rows").config()
    assert pull(by_rows, ["vipps"]).ok
    # Rows alone (flush_rows 100k): one file a ledger and business date.
    files = _row_groups(by_rows.lake, "vipps_sales_entries")

    monkeypatch.setattr(landing, "FLUSH_BYTES", 20_000)  # a few Sales entries with their lines
    by_bytes = make_setup(dataset, lake=tmp_path / "bytes").config()
    assert pull(by_bytes, ["vipps"]).ok
    smaller = _row_groups(by_bytes.lake, "vipps_sales_entries")

    assert len(smaller) > len(files) and sum(smaller) == sum(files)
    assert max(smaller) < max(files)
    assert fingerprint(by_bytes) == fingerprint(by_rows)  # the same rows, only in more files
