"""One Vipps ledger that refuses us (consent withdrawn) fails alone; the others land."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date

from builders import small_dataset
from lake_rows import rows

from recon.ingest.pull import PullRequest, pull
from recon.lake.store import Lake


def ledgers_landed(config):
    return rows(config, "SELECT ledger_id, count(*) FROM vipps_sales_entries GROUP BY ALL ORDER BY 1")


def test_a_revoked_ledger_fails_alone_and_the_others_move_their_cursors(make_setup):
    setup = make_setup(small_dataset(n=12), quirks="vipps-revoked=L2")
    config = setup.config()
    result = pull(config, ["vipps"])
    vipps = result.sources[0]
    assert (result.ok, vipps.ok, vipps.outcome) == (False, False, "partial")
    assert list(vipps.failed_parts) == ["ledger L2"]
    assert vipps.failed_parts["ledger L2"].startswith("HTTP 404: No such ledgerId")
    assert result.failed_names() == "vipps (ledger L2)"
    assert ledgers_landed(config) == [("L1", 12)]
    lake = Lake(config.lake)
    assert lake.read_state("vipps", "ledger-L1")["cursor"]
    assert lake.read_state("vipps", "ledger-L2") is None


def test_pulling_dates_isolates_ledgers_too(make_setup):
    setup = make_setup(small_dataset(n=12), quirks="vipps-revoked=L1")
    config = setup.config()
    result = pull(config, ["vipps"], request=PullRequest(vipps_dates=[date(2026, 10, 24)]))
    assert result.sources[0].outcome == "partial" and list(result.sources[0].failed_parts) == ["ledger L1"]
    assert ledgers_landed(config) == [("L2", 12)]


def test_every_ledger_refused_is_a_failed_source(make_setup):
    setup = make_setup(small_dataset(n=3), quirks="vipps-revoked=L1+L2")
    vipps = pull(setup.config(), ["vipps"]).sources[0]
    assert vipps.outcome == "failed"
    assert vipps.error.startswith("vipps: every ledger refused: ledger L1: HTTP 404")


def test_the_cli_exits_3_naming_the_ledger(make_setup):
    setup = make_setup(small_dataset(n=3), quirks="vipps-revoked=L2")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("RECON_")}, **setup.env}
    proc = subprocess.run([sys.executable, "-m", "recon.cli", "pull", "vipps", "--config", str(setup.config_path)],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 3
    assert proc.stderr.splitlines()[-1].startswith("recon: error: source failed: vipps (ledger L2)")
    assert "PARTIAL" in proc.stdout
