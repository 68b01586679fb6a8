"""``recon prune --before DATE``: old raw partitions and quarantine go, the rest stays queryable."""

from __future__ import annotations

import subprocess
import sys
from datetime import date

import pytest
from builders import embedded_config
from lake_rows import rows

from recon.errors import ConfigError
from recon.lake.locking import lake_lock
from recon.lake.prune import prune, pruned_before
from recon.lake.store import Lake
from recon.ops.sandboxed import pull
from recon.reconcile.runner import reconcile

CUT = date(2026, 10, 25)
# Payments dated on or after CUT without a transaction: pruning must not add any.
BARE_KEPT_PAYMENTS = ("SELECT count(*) FROM raw_entur_payments p WHERE p.business_date >= DATE '2026-10-25' AND NOT "
                      "EXISTS (SELECT 1 FROM raw_entur_payment_transactions t WHERE t._parent_row_id = p._row_id)")


@pytest.fixture
def pulled(tmp_path):
    config = embedded_config(tmp_path)
    assert pull(config).ok
    return config


def _dates(config, table: str) -> dict[str, int]:
    return dict(rows(config, f"SELECT CAST(business_date AS VARCHAR), count(*) FROM raw_{table} GROUP BY 1"))


def test_prune_removes_only_what_is_dated_before_the_day_and_the_catalog_still_reads(pulled, tmp_path):
    before = {t: _dates(pulled, t) for t in ("vipps_sales_entries", "entur_payments", "samtrafiken_booking_events")}
    before_orphans = rows(pulled, BARE_KEPT_PAYMENTS)
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
    # Children went with their parents, whatever their own date (a transaction is dated by its own
    # time): none is left without its parent, and every kept parent kept its children.
    for child, parent in (("vipps_sales_lines", "vipps_sales_entries"), ("entur_payment_transactions",
                          "entur_payments"), ("entur_credit_transactions", "entur_credits")):
        assert rows(pulled, f"SELECT count(*) FROM raw_{child} c ANTI JOIN raw_{parent} p "
                            "ON c._parent_row_id = p._row_id") == [(0,)], child
        assert rows(pulled, f"SELECT count(*) FROM raw_{child}")[0][0] > 0, child
    assert rows(pulled, BARE_KEPT_PAYMENTS) == before_orphans
    again = prune(Lake(pulled.lake), CUT, run_id="again")
    assert not again.removed_anything
    # A period that reads before the pruned day is refused: its checks would find everything gone.
    with pytest.raises(ConfigError, match="pruned before 2026-10-25"):
        reconcile(pulled, CUT, CUT)
    assert pruned_before(Lake(pulled.lake)) == CUT


def test_prune_removes_quarantine_landed_before_the_day_and_waits_for_the_lock(pulled):
    lake = Lake(pulled.lake)
    assert lake.quarantine_files()
    kept = prune(lake, date(2000, 1, 1), run_id="early")
    assert kept.quarantine_files == 0 and lake.quarantine_files()
    with lake_lock(pulled.lake, "someone-else"):
        blocked = subprocess.run([sys.executable, "-m", "recon.cli", "prune", "--config", str(pulled.path),
                                  "--before", "2100-01-01", "--force"], capture_output=True, text=True, timeout=60)
    assert blocked.returncode == 4 and "someone-else" in blocked.stderr
    assert lake.quarantine_files()  # nothing was removed while another run held the lake
    recent = subprocess.run([sys.executable, "-m", "recon.cli", "prune", "--config", str(pulled.path),
                             "--before", "2100-01-01"], capture_output=True, text=True, timeout=60)
    assert recent.returncode == 2 and "too recent" in recent.stderr.splitlines()[0]
    gone = prune(lake, date(2100, 1, 1), run_id="late")
    assert gone.quarantine_files > 0 and not lake.quarantine_files()
    assert rows(pulled, "SELECT count(*) FROM quarantine") == [(0,)]
