"""`recon query` over the catalog: every type prints, in every format."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest
from builders import embedded_config, small_dataset

from recon.ingest.pull import pull
from recon.lake.store import Lake
from recon.ops.query import DEFAULT_LIMIT, QueryError, format_rows, run_query, stream_query, write_query

SQL = ("SELECT psp_reference, time, business_date, gross FROM vipps_sales_entries "
       "WHERE ledger_id = 'L1' ORDER BY time LIMIT 2")


def test_query_formats_timestamps_dates_and_ids(make_setup):
    setup = make_setup(small_dataset(n=3))
    config = setup.config()
    assert pull(config).ok
    columns, rows = run_query(Lake(config.lake), SQL)
    assert columns == ["psp_reference", "time", "business_date", "gross"]
    as_json = json.loads(format_rows(columns, rows, "json"))
    assert as_json[0] == {"psp_reference": "L1-psp-0", "time": "2026-10-24T08:00:00+00:00",
                          "business_date": "2026-10-24", "gross": 10000}
    as_csv = list(csv.reader(io.StringIO(format_rows(columns, rows, "csv"))))
    assert as_csv[1] == ["L1-psp-0", "2026-10-24T08:00:00+00:00", "2026-10-24", "10000"]
    header, _rule, *body, footer = format_rows(columns, rows, "table").splitlines()
    assert header.split() == columns
    assert [line.split() for line in body] == [["L1-psp-0", "2026-10-24T08:00:00+00:00", "2026-10-24", "10000"],
                                               ["L1-psp-1", "2026-10-24T08:01:00+00:00", "2026-10-24", "10000"]]
    assert footer == "(2 rows)"


def test_a_bad_query_is_a_clear_error(make_setup):
    setup = make_setup(small_dataset(n=1))
    with pytest.raises(QueryError, match="query failed: Catalog Error"):
        run_query(Lake(setup.config().lake), "SELECT * FROM no_such_table")


# --- recon query as a command: NULL versus empty text, streaming, the table's cap, --output ------------

NULLS = "SELECT * FROM (VALUES (1, NULL, ''), (2, 'x', NULL)) AS t(n, a, b) ORDER BY n"


def empty_lake(tmp_path):
    lake = Lake(tmp_path / "lake")
    lake.ensure()
    return lake


def streamed(lake, sql, fmt, **options):
    out = io.StringIO()
    rows = stream_query(lake, sql, out, fmt, **options)
    return rows, out.getvalue()


def test_null_is_told_from_empty_text_in_every_format(tmp_path):
    lake = empty_lake(tmp_path)
    _, table = streamed(lake, NULLS, "table")
    assert [line.split() for line in table.splitlines()[2:4]] == [["1", "NULL"], ["2", "x", "NULL"]]
    _, text = streamed(lake, NULLS, "csv")
    assert text.splitlines() == ["n,a,b", '1,,""', "2,x,"]  # NULL: an empty field; empty text: ""
    _, text = streamed(lake, NULLS, "ndjson")
    assert [json.loads(line) for line in text.splitlines()] == [{"n": 1, "a": None, "b": ""},
                                                                {"n": 2, "a": "x", "b": None}]
    _, text = streamed(lake, NULLS, "json")
    assert json.loads(text) == [{"n": 1, "a": None, "b": ""}, {"n": 2, "a": "x", "b": None}]


def test_the_table_is_capped_and_says_how_many_rows_it_cut(tmp_path):
    lake = empty_lake(tmp_path)
    shown, text = streamed(lake, "SELECT range AS i FROM range(2500)", "table")
    lines = text.splitlines()
    assert shown == DEFAULT_LIMIT == 1000 and len(lines) == 2 + 1000 + 1
    assert lines[-1].startswith("(2500 rows: the first 1000 shown, 1500 cut;")
    shown, text = streamed(lake, "SELECT range AS i FROM range(2500)", "table", limit=3)
    assert shown == 3 and text.splitlines()[-1].startswith("(2500 rows: the first 3 shown, 2497 cut;")
    assert streamed(lake, "SELECT 1 AS i", "table", limit=3)[1].splitlines()[-1] == "(1 row)"


def test_csv_and_ndjson_are_written_batch_by_batch(tmp_path):
    """A query that fails at row 30,000: the rows before it are already out, so nothing waited for
    the whole result (a fetchall would have written nothing). One thread and a small DuckDB stream
    buffer, so that DuckDB cannot run ahead to the failing row before the first batch is read."""
    lake = empty_lake(tmp_path)
    sql = ("SET threads = 1; SET streaming_buffer_size = '64KB'; "
           "SELECT CASE WHEN i < 30000 THEN i ELSE error('boom at ' || i) END AS i FROM range(60000) AS t(i)")
    for fmt in ("csv", "ndjson"):
        out = io.StringIO()
        with pytest.raises(QueryError, match="boom at 30000"):
            stream_query(lake, sql, out, fmt)
        written = out.getvalue().splitlines()
        assert 10_000 <= len(written) <= 30_001, fmt
        assert written[-1] in (str(len(written) - 2), json.dumps({"i": len(written) - 1})), fmt


def test_output_file_is_whole_or_absent_and_limit_is_for_the_table(tmp_path):
    lake = empty_lake(tmp_path)
    target = tmp_path / "out.ndjson"
    assert write_query(lake, "SELECT range AS i FROM range(3)", "ndjson", output=target) == 3
    assert [json.loads(line)["i"] for line in target.read_text().splitlines()] == [0, 1, 2]
    failed = tmp_path / "failed.csv"
    with pytest.raises(QueryError):
        write_query(lake, "SELECT CASE WHEN range < 15000 THEN range ELSE error('x') END FROM range(20000)",
                    "csv", output=failed)  # whether or not rows were written before the error
    assert not failed.exists() and not list(tmp_path.glob(".*.tmp"))
    with pytest.raises(QueryError, match="--limit is for --format table"):
        write_query(lake, "SELECT 1", "csv", limit=5)


def test_the_command_takes_ndjson_and_output(tmp_path):
    config = embedded_config(tmp_path)
    target = tmp_path / "types.ndjson"
    done = subprocess.run([sys.executable, "-m", "recon.cli", "query", "--config", str(config.path),
                           "--format", "ndjson", "--output", str(target),
                           "SELECT NULL AS a, '' AS b, DATE '2026-10-24' AS d"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout == "", done.stderr
    assert json.loads(target.read_text()) == {"a": None, "b": "", "d": "2026-10-24"}
