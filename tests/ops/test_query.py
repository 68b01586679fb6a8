"""`recon query` over the catalog: every type prints, in every format."""

from __future__ import annotations

import csv
import io
import json

from builders import small_dataset

from recon.ingest.pull import pull
from recon.lake.store import Lake
from recon.ops.query import format_rows, run_query

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
    import pytest

    from recon.ops.query import QueryError

    setup = make_setup(small_dataset(n=1))
    with pytest.raises(QueryError, match="query failed: Catalog Error"):
        run_query(Lake(setup.config().lake), "SELECT * FROM no_such_table")
