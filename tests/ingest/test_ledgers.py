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


def test_a_lookup_isolates_ledgers_too(make_setup):
    setup = make_setup(small_dataset(n=4), quirks="vipps-revoked=L2")
    result = pull(setup.config(), ["vipps"], request=PullRequest(vipps_reference="L1-2"))
    assert result.sources[0].outcome == "partial" and list(result.sources[0].failed_parts) == ["ledger L2"]
    assert rows(setup.config(), "SELECT ledger_id, reference FROM vipps_sales_entries") == [("L1", "L1-2")]


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
    assert proc.stderr.splitlines()[0].startswith("recon: error: source failed: vipps (ledger L2)")
    assert "PARTIAL" in proc.stdout


def auto(setup):
    setup.config_path.write_text(setup.config_path.read_text().replace('ledgers = ["L1", "L2"]', 'ledgers = "auto"'))
    config = setup.config()
    assert config.vipps.auto_ledgers and config.vipps.ledgers == ()
    return config


def test_ledgers_auto_reads_the_granted_ledgers_from_the_report_api_and_lands_them(make_setup):
    setup = make_setup(small_dataset(n=4))
    config = auto(setup)
    result = pull(config, ["vipps"])
    assert result.ok, result.sources[0].error
    assert ledgers_landed(config) == [("L1", 4), ("L2", 4)]
    assert rows(config, "SELECT ledger_id, currency, payout_account_scheme, owner_scheme FROM vipps_ledgers "
                        "ORDER BY 1") == [("L1", "NOK", "BBAN:NO", "business:NO:ORG"),
                                          ("L2", "NOK", "BBAN:NO", "business:NO:ORG")]
    lists = [c for c in setup.sandbox.requests_log if c["path"].endswith("/settlement/v1/ledgers")]
    assert len(lists) == 2 and "cursor" in lists[1]["query"]  # one ledger per page: the cursor was followed
    assert pull(config, ["vipps"]).ok
    assert rows(config, "SELECT count(*) FROM vipps_ledgers") == [(2,)]  # re-listed, not duplicated


def test_ledgers_auto_skips_a_ledger_no_longer_granted(make_setup):
    setup = make_setup(small_dataset(n=4), quirks="vipps-revoked=L2")
    config = auto(setup)
    assert pull(config, ["vipps"]).ok
    assert ledgers_landed(config) == [("L1", 4)]


def test_ledgers_auto_with_nothing_granted_fails_loudly(make_setup):
    setup = make_setup(small_dataset(n=2), quirks="vipps-revoked=L1+L2")
    vipps = pull(auto(setup), ["vipps"]).sources[0]
    assert vipps.outcome == "failed" and "lists no ledger" in vipps.error
