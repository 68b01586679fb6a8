"""The catalog file `recon.duckdb` as an analyst meets it: a lake that travels, tables of their own
that survive the nightly rebuild, a storage version older DuckDBs read, and a data dictionary in
the database (README, "Querying")."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from builders import embedded_config

from recon.lake.catalog import STORAGE_VERSION, build_catalog, connect
from recon.lake.store import Lake
from recon.ops.sandboxed import pull
from recon.reconcile.runner import reconcile

ROOT = Path(__file__).resolve().parents[2]
FROM, TO = date(2026, 10, 24), date(2026, 10, 26)
TODAY = date(2026, 11, 23)
QUIET = date(2026, 10, 30)  # a night with no data: its run finds nothing


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """The sample lake, reconciled for the sample period, then a quiet night (the latest run found
    nothing new). Tests that change a lake change a copy of it."""
    config = embedded_config(tmp_path_factory.mktemp("sample"))
    assert pull(config).ok
    found = reconcile(config, FROM, TO, today=TODAY)
    quiet = reconcile(config, QUIET, QUIET, today=TODAY)
    assert found.mismatches > 0 and quiet.mismatches == 0
    return config


def copy_lake(sample, where: Path) -> Path:
    lake = where / "lake"
    shutil.copytree(sample.lake, lake)
    return lake


def one(con: duckdb.DuckDBPyConnection, sql: str):
    row = con.execute(sql).fetchone()
    assert row is not None
    return row[0]


def test_a_copied_lake_reads_its_own_files_from_its_new_place(sample, tmp_path, monkeypatch):
    original = copy_lake(sample, tmp_path / "a")
    copy = tmp_path / "elsewhere" / "lake"
    shutil.copytree(original, copy)
    shutil.rmtree(original)  # reading the original's files now fails
    # ... and the copy differs from the original: one Entur payments file fewer.
    dropped = sorted((copy / "raw" / "entur_payments").rglob("*.parquet"))[0]
    gone = pq.read_metadata(dropped).num_rows
    dropped.unlink()
    con = connect(Lake(sample.lake))
    want = one(con, "SELECT count(*) FROM raw_entur_payments") - gone
    con.close()
    assert want > 0

    # recon query, pointed at the copy, started from anywhere
    embedded_config(tmp_path / "cfg", lake=copy)
    done = subprocess.run([sys.executable, "-m", "recon.cli", "query", "--config", str(tmp_path / "cfg" / "recon.toml"),
                           "--format", "csv", "SELECT count(*) AS n FROM raw_entur_payments"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["n", str(want)]

    # DuckDB itself, opened in the copied lake's folder
    monkeypatch.chdir(copy)
    con = duckdb.connect(str(copy / "recon.duckdb"), read_only=True)
    try:
        assert one(con, "SELECT count(*) FROM raw_entur_payments") == want
        assert one(con, "SELECT count(*) FROM recon_mismatches_history") > 0
        paths = " ".join(r[0] for r in con.execute("SELECT sql FROM duckdb_views() WHERE NOT internal").fetchall())
        assert str(tmp_path) not in paths and "read_parquet('raw/" in paths
    finally:
        con.close()


def test_an_analysts_tables_and_views_survive_the_rebuild(sample, tmp_path):
    lake = Lake(copy_lake(sample, tmp_path))
    catalog = lake.root / "recon.duckdb"
    analyst = duckdb.connect(str(catalog), config={"file_search_path": str(lake.root)})
    analyst.execute("CREATE SCHEMA work")
    analyst.execute("CREATE TABLE work.notes (exception_id VARCHAR PRIMARY KEY, note VARCHAR)")
    analyst.execute("INSERT INTO work.notes VALUES ('FBR884G69K', 'asked Entur')")
    analyst.execute("COMMENT ON TABLE work.notes IS 'my notes'")
    analyst.execute("CREATE TABLE big_ones AS SELECT exception_id, difference FROM recon_mismatches_history "
                    "WHERE abs(difference) > 1000")
    analyst.execute("CREATE VIEW noted AS SELECT * FROM recon_exceptions JOIN work.notes USING (exception_id)")
    analyst.execute("CREATE MACRO kroner(minor) AS minor / 100")
    big = one(analyst, "SELECT count(*) FROM big_ones")
    analyst.close()

    def check(label: str, reused: bool) -> None:
        con = duckdb.connect(str(catalog), read_only=True, config={"file_search_path": str(lake.root)})
        try:
            assert one(con, "SELECT note FROM work.notes") == "asked Entur", label
            assert one(con, "SELECT comment FROM duckdb_tables() WHERE table_name = 'notes'") == "my notes", label
            assert one(con, "SELECT count(*) FROM big_ones") == big, label
            assert one(con, "SELECT count(*) FROM noted") == 1, label
            if reused:  # the old file itself, so everything in it stays (a new file gets tables and views)
                assert one(con, "SELECT kroner(15200)") == 152, label
        finally:
            con.close()

    reconcile(embedded_config(tmp_path / "cfg", lake=lake.root), FROM, TO, today=TODAY)
    check("after a reconcile (the previous file reused)", reused=True)
    (lake.state_dir / "catalog.json").unlink()  # recon no longer knows the file: a new one is written
    build_catalog(lake)
    check("after a full rebuild (copied over)", reused=False)
    # An analyst holding the file open read-write does not block the rebuild, nor lose their table.
    holder = duckdb.connect(str(catalog))
    holder.execute("CREATE TABLE while_open AS SELECT 42 AS answer")
    build_catalog(lake)
    holder.close()
    con = duckdb.connect(str(catalog), read_only=True)
    assert one(con, "SELECT answer FROM while_open") == 42
    con.close()
    assert sorted(p.name for p in lake.root.glob("*.duckdb*")) == ["recon.duckdb"]
    assert not list(lake.root.glob(".*.tmp*"))
    # One of recon's own views replaced by an analyst is recon's again after the next rebuild.
    analyst = duckdb.connect(str(catalog), config={"file_search_path": str(lake.root)})
    real = one(analyst, "SELECT count(*) FROM entur_payments")
    analyst.execute("CREATE OR REPLACE VIEW entur_payments AS SELECT 'analyst' AS payment_id")
    analyst.close()
    build_catalog(lake)
    con = duckdb.connect(str(catalog), read_only=True, config={"file_search_path": str(lake.root)})
    assert real > 1 and one(con, "SELECT count(*) FROM entur_payments") == real
    con.close()


def test_the_catalog_is_written_in_a_storage_version_old_duckdbs_read(sample):
    catalog = sample.lake / "recon.duckdb"
    header = catalog.read_bytes()[:20]
    # The header names the storage format: 64 is v1.0.0's (DuckDB 2.0's own default writes 999).
    assert header[8:12] == b"DUCK" and int.from_bytes(header[12:20], "little") == 64
    con = duckdb.connect(str(catalog), read_only=True)
    try:
        tags = one(con, "SELECT tags FROM duckdb_databases() WHERE database_name = 'recon'")
    finally:
        con.close()
    assert STORAGE_VERSION == "v1.0.0" and tags["storage_version"] == "v1.0.0+"


MONEY = re.compile(r"amount|gross|(^|_)net($|_)|(^|_)vat($|_)|balance|price|(^|_)fees?($|_)|captures|refunds"
                   r"|difference|exposure|movements|discount")
NOT_MONEY = {"fee_entries"}  # a count


def test_every_view_and_column_carries_its_data_dictionary_text(sample):
    con = duckdb.connect(str(sample.lake / "recon.duckdb"), read_only=True)
    try:
        views = con.execute("SELECT view_name, comment FROM duckdb_views() WHERE NOT internal").fetchall()
        columns = con.execute("SELECT table_name, column_name, data_type, comment FROM duckdb_columns() "
                              "WHERE database_name = 'recon'").fetchall()
        macro = one(con, "SELECT comment FROM duckdb_functions() WHERE function_name = 'landing_seq'")
    finally:
        con.close()
    assert len(views) > 30 and macro
    assert [v for v, text in views if not text] == []
    assert [(t, c) for t, c, _k, text in columns if not text] == []
    money = [(t, c, text) for t, c, kind, text in columns
             if kind == "BIGINT" and MONEY.search(c) and not c.endswith("_bp") and c not in NOT_MONEY]
    assert len(money) > 60 and [m for m in money if "minor units" not in m[2]] == []
    dates = [(t, c, text) for t, c, kind, text in columns if kind == "DATE"]
    assert len(dates) > 40 and [d for d in dates if "zone" not in d[2] and "UTC" not in d[2]] == []
    # The same text as the docs: a row's meaning, then its other cells by their headers.
    comments = {(t, c): text for t, c, _k, text in columns}
    assert comments["vipps_sales_entries", "gross"] == (
        "total including VAT. NULL when not sent (unit: minor units, refunds negative; API field: amounts.gross)")
    assert comments["raw_vipps_sales_entries", "gross"] == comments["vipps_sales_entries", "gross"]
    assert comments["recon_mismatches_history", "as_of"].startswith("the as-of date of its run")
    docs = (ROOT / "docs" / "data-dictionary.md").read_text(encoding="utf-8")
    assert "| `gross` | `BIGINT` | minor units, refunds negative | `amounts.gross` | total including VAT. " \
           "NULL when not sent |" in docs
    # The package ships the very document (a link to it), so docs and comments cannot drift.
    shipped = ROOT / "recon" / "lake" / "data-dictionary.md"
    assert shipped.read_text(encoding="utf-8") == docs


def readme_examples() -> list[str]:
    """The README's SQL in "Querying" and "Exceptions across runs" that reads exceptions across
    runs (those with a date relative to today are left out: the sample's dates are fixed)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("## Querying\n")
    end = readme.index("\n## ", readme.index("## Exceptions across runs\n"))
    blocks = re.findall(r"```sql\n(.*?)```", readme[start:end], re.S)
    statements = [s.strip() for block in blocks for s in block.split(";") if s.strip()]
    return [s for s in statements if re.search(r"\b(recon_mismatches_history|recon_exceptions)\b", s)
            and "current_date" not in s]


def test_the_readmes_exception_queries_answer_after_a_quiet_night(sample):
    examples = readme_examples()
    assert len(examples) >= 4
    con = connect(Lake(sample.lake))
    try:
        assert one(con, "SELECT count(*) FROM recon_mismatches") == 0  # the quiet night's run
        for sql in examples:
            assert con.execute(sql).fetchall(), sql
    finally:
        con.close()


def test_the_dictionary_names_every_code_recon_produces():
    # The comment analysts read in recon.duckdb once listed 11 of the 14 codes.
    from recon.lake.dictionary import column_comment
    from recon.reconcile.runner import CHECK_SOURCES

    comment = column_comment("recon_mismatches", "code")
    assert comment is not None
    assert {code for code in CHECK_SOURCES if code not in comment} == set()
