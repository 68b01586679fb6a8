"""recon.open(lake): every table by name as a DataFrame, money as integers, for analysts in Python."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from builders import embedded_config

import recon
from recon.errors import ReconError
from recon.ops.sandboxed import pull
from recon.reconcile.runner import reconcile

FROM, TO = date(2026, 10, 24), date(2026, 10, 26)  # the sample data's period


@pytest.fixture(scope="module")
def demo_lake(tmp_path_factory):
    config = embedded_config(tmp_path_factory.mktemp("api"))
    assert pull(config).ok
    reconcile(config, FROM, TO)
    return config


def test_tables_by_name_as_dataframes_with_exact_money(demo_lake):
    with recon.open(demo_lake.lake) as lake:
        names = lake.tables()
        assert {"vipps_sales_entries", "entur_payments", "recon_mismatches", "vat_summary", "quarantine"} <= set(names)
        mismatches = lake.table("recon_mismatches")
        assert isinstance(mismatches, pd.DataFrame) and len(mismatches) > 0
        # Money columns with NULLs stay integers (pandas' nullable Int64), never floats.
        assert str(mismatches["vipps_amount"].dtype) == "Int64" and mismatches["vipps_amount"].isna().any()
        assert str(mismatches["difference"].dtype) == "Int64"
        counted = lake.sql("SELECT count(*) AS n FROM recon_mismatches")
        assert int(counted["n"].iloc[0]) == len(mismatches)
        entries = lake.table("vipps_sales_entries")
        assert str(entries["time"].dtype).startswith("datetime64")
        assert str(entries["time"].dt.tz) == "UTC"  # whatever the machine's zone


def test_the_config_file_names_its_lake(demo_lake):
    with recon.open(demo_lake.path) as lake:
        assert lake.lake.root == demo_lake.lake


def test_unknown_tables_and_folders_are_clear_errors(demo_lake, tmp_path):
    with recon.open(demo_lake.lake) as lake, pytest.raises(ReconError, match="no table 'nope'"):
        lake.table("nope")
    with pytest.raises(ReconError, match="is not a recon lake"):
        recon.open(tmp_path)
