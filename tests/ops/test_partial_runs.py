"""A source that fails does not stop the night: what landed is reconciled, the rows it may explain
are marked incomplete, the Summary opens with it, the run exits 3 and recon_runs records it."""

from __future__ import annotations

import os
import subprocess
import sys

from builders import small_dataset
from lake_rows import rows
from openpyxl import load_workbook

PERIOD = ["--from", "2026-10-24", "--to", "2026-10-26"]
VIPPS_ENTUR = {"MISSING_IN_ENTUR", "MISSING_IN_VIPPS", "AMOUNT_MISMATCH", "CURRENCY_MISMATCH", "DUPLICATE",
               "REFUND_WITHOUT_CREDIT", "CREDIT_WITHOUT_REFUND", "TIMING_DIFFERENCE"}


def summary_rows(book) -> list[tuple]:
    """The Summary's non-empty rows; the workbook is closed again (a read-only one holds its file)."""
    wb = load_workbook(book, read_only=True)
    try:
        return [r for r in wb["Summary"].iter_rows(values_only=True) if any(r)]
    finally:
        wb.close()


def run(setup, *extra):
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("RECON_")}, **setup.env}
    return subprocess.run([sys.executable, "-m", "recon.cli", "run", "--config", str(setup.config_path), *PERIOD,
                           *extra], capture_output=True, text=True, env=env, timeout=120)


def test_a_revoked_ledger_is_reconciled_around_and_its_checks_marked_incomplete(make_setup):
    ds = small_dataset(n=10)
    setup = make_setup(ds, quirks="vipps-revoked=L2")
    proc = run(setup)
    assert proc.returncode == 3, proc.stderr
    # The Report API refuses the revoked ledger too (same consent).
    assert proc.stderr.splitlines()[0].startswith("recon: error: source failed: vipps (ledger L2), vipps_report "
                                                   "(ledger L2); what landed was reconciled")
    config = setup.config()
    found = rows(config, "SELECT code, incomplete FROM recon_mismatches")
    assert {code for code, _ in found} >= {"CREDIT_WITHOUT_REFUND"}  # Entur credits with no Vipps refund
    for code, why in found:
        if code in VIPPS_ENTUR or code == "VAT_MISMATCH":
            assert why.startswith("vipps did not land everything this run (vipps: ledger L2: HTTP 404"), (code, why)
        else:
            assert why is None, (code, why)
    # The workbook: the Summary opens with what failed; each row says why it may be incomplete.
    [book] = (config.lake.parent / "reports").glob("*.xlsx")
    wb = load_workbook(book, read_only=True)
    summary = [r for r in wb["Summary"].iter_rows(values_only=True) if any(r)]
    assert summary[1][0] == "INCOMPLETE"
    assert summary[2][0] == "vipps failed" and "ledger L2: HTTP 404" in summary[2][5]
    sheet = list(wb["Mismatches"].iter_rows(values_only=True))
    wb.close()
    header = list(sheet[0])
    why = header.index("Incomplete: why")
    assert len(sheet) - 1 == len(found)
    assert all(r[why] and "ledger L2" in r[why] for r in sheet[1:] if r[0] in VIPPS_ENTUR)
    # recon_runs: the run, per source its outcome, and the exit code.
    assert rows(config, "SELECT source, outcome, exit_code FROM recon_runs ORDER BY source") == [
        ("entur", "ok", 3), ("samtrafiken", "ok", 3), ("vipps", "partial", 3), ("vipps_report", "partial", 3)]
    # recon status: the last run's outcome, and per source the newest business date landed.
    status = subprocess.run([sys.executable, "-m", "recon.cli", "status", "--config", str(setup.config_path)],
                            capture_output=True, text=True, timeout=60).stdout.splitlines()
    assert status[1].startswith("last recon run: ") and status[1].endswith(
        "exit 3: a source failed (rows of its checks marked incomplete)")
    assert "  vipps: partial (vipps: ledger L2: HTTP 404: No such ledgerId" in "\n".join(status)
    assert status.count("  newest business date landed: 2026-10-24") == 4  # one per source


def test_a_run_whose_sources_all_fail_still_writes_a_workbook_that_says_so(make_setup):
    setup = make_setup(small_dataset(n=3), faults="500:1.0")
    proc = run(setup)
    assert proc.returncode == 3
    config = setup.config()
    [book] = (config.lake.parent / "reports").glob("*.xlsx")
    summary = summary_rows(book)
    assert summary[1][0] == "INCOMPLETE"
    assert sorted(r[0] for r in summary[2:5]) == ["entur failed", "samtrafiken failed", "vipps failed"]
    assert rows(config, "SELECT DISTINCT outcome, exit_code FROM recon_runs") == [("failed", 3)]


def test_a_complete_run_has_no_banner_and_records_exit_0(make_setup):
    setup = make_setup(small_dataset(n=3))
    assert run(setup).returncode == 0
    config = setup.config()
    [book] = (config.lake.parent / "reports").glob("*.xlsx")
    first = summary_rows(book)[0]
    assert first[0].startswith("Reconciliation")
    assert rows(config, "SELECT count(*) FROM recon_mismatches WHERE incomplete IS NOT NULL") == [(0,)]
    assert rows(config, "SELECT DISTINCT outcome, exit_code FROM recon_runs") == [("ok", 0)]
