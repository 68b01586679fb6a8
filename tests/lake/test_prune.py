"""``recon prune --before DATE``: old raw partitions and quarantine go, the rest stays queryable."""

from __future__ import annotations

import subprocess
import sys
from datetime import date

import pytest
from builders import embedded_config
from lake_rows import rows

from recon.lake.locking import lake_lock
from recon.lake.prune import prune
from recon.lake.store import Lake
from recon.ops.sandboxed import pull

CUT = date(2026, 10, 25)


@pytest.fixture
def pulled(tmp_path):
    config = embedded_config(tmp_path)
    assert pull(config).ok
    return config


def _dates(config, table: str) -> dict[str, int]:
    return dict(rows(config, f"SELECT CAST(business_date AS VARCHAR), count(*) FROM raw_{table} GROUP BY 1"))


def test_prune_removes_only_what_is_dated_before_the_day_and_the_catalog_still_reads(pulled, tmp_path):
    before = {t: _dates(pulled, t) for t in ("vipps_sales_entries", "entur_payments", "samtrafiken_booking_events")}
    assert all(any(d < CUT.isoformat() for d in days) and any(d >= CUT.isoformat() for d in days)
               for days in before.values())
    dry = subprocess.run([sys.executable, "-m", "recon.cli", "prune", "--config", str(pulled.path), "--before",
                          CUT.isoformat(), "--dry-run"], capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0, dry.stderr
    assert "would remove" in dry.stdout and "vipps_sales_entries: would remove" in dry.stdout
    assert {t: _dates(pulled, t) for t in before} == before  # a dry run removes nothing

    done = subprocess.run([sys.executable, "-m", "recon.cli", "prune", "--config", str(pulled.path), "--before",
                           CUT.isoformat()], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "removed" in done.stdout.splitlines()[-1]
    for table, days in before.items():
        assert _dates(pulled, table) == {d: n for d, n in days.items() if d >= CUT.isoformat()}, table
    # Order lines went with their entries: none is left without its parent.
    assert rows(pulled, "SELECT count(*) FROM raw_vipps_sales_lines l ANTI JOIN raw_vipps_sales_entries e "
                        "ON l._parent_row_id = e._row_id") == [(0,)]
    again = prune(Lake(pulled.lake), CUT, run_id="again")
    assert not again.removed_anything


def test_prune_removes_quarantine_landed_before_the_day_and_waits_for_the_lock(pulled):
    lake = Lake(pulled.lake)
    assert lake.quarantine_files()
    kept = prune(lake, date(2000, 1, 1), run_id="early")
    assert kept.quarantine_files == 0 and lake.quarantine_files()
    with lake_lock(pulled.lake, "someone-else"):
        blocked = subprocess.run([sys.executable, "-m", "recon.cli", "prune", "--config", str(pulled.path),
                                  "--before", "2100-01-01"], capture_output=True, text=True, timeout=60)
    assert blocked.returncode == 4 and "someone-else" in blocked.stderr
    assert lake.quarantine_files()  # nothing was removed while another run held the lake
    gone = prune(lake, date(2100, 1, 1), run_id="late")
    assert gone.quarantine_files > 0 and not lake.quarantine_files()
    assert rows(pulled, "SELECT count(*) FROM quarantine") == [(0,)]
