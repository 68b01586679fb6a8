"""The reliability suite at its small size, with fixed seeds (bench/reliability.py has the full one)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import reliability

SIZES = reliability.SMALL


def no_secrets(result) -> None:
    # Nothing searched would find nothing: there must be outputs and files to search.
    assert result["outputs"] and all(result["outputs"])
    assert all(any(p.is_file() for p in root.rglob("*")) for root in result["roots"])
    assert reliability.secrets_found([result]) == 0


def clean_lake_is_full(result) -> None:
    # Equal to a clean lake proves nothing if the clean lake is empty.
    assert result["clean_rows"] > 0 and result["clean_empty_tables"] == 0


def test_crash_safety_sigkill_at_random_moments(tmp_path):
    r = reliability.crash_safety(tmp_path, SIZES)
    # Every victim died of the SIGKILL, mid-pull, leaving a partial lake; every rerun made it whole.
    assert (r["kills"], r["mid_pull_kills"]) == (SIZES.kills, SIZES.kills)
    assert (r["lost"], r["duplicated"], r["unequal_lakes"], r["failed_reruns"]) == (0, 0, 0, 0)
    clean_lake_is_full(r)
    no_secrets(r)


def test_faulty_servers_twenty_percent_of_requests(tmp_path):
    r = reliability.faulty_servers(tmp_path, SIZES)
    assert r["completed"] and r["equal"] and (r["lost"], r["duplicated"]) == (0, 0)
    assert r["faults_injected"] > 0 and r["retries"] > 0
    clean_lake_is_full(r)
    no_secrets(r)


def test_hostile_input_is_quarantined_and_nothing_valid_is_lost(tmp_path):
    r = reliability.hostile_input(tmp_path, SIZES)
    assert r["crashes"] == 0
    assert r["quarantined_with_reason"] == r["must_quarantine"] > 0
    landed, total = map(int, r["valid_landed"].split("/"))
    assert landed == total > 0
    odd, odd_total = map(int, r["odd_but_valid_landed"].split("/"))
    assert odd == odd_total > 0
    assert r["formula_cells"] == 0
    no_secrets(r)


@pytest.mark.parametrize("runs", [2, 4])
def test_overlapping_runs_write_one_at_a_time(tmp_path, runs):
    r = reliability.concurrency(tmp_path, SIZES, runs)
    assert r["queued_ok"] == runs, r["outputs"]
    ran, refused = (int(x.split()[0]) for x in r["second_wave"].split(", "))
    assert ran + refused == runs and ran >= 1
    # No overlap among every run that took the lock (not among none found).
    assert r["runs_recorded"] == runs + ran
    assert r["overlapping_writers"] == 0
    assert r["equal"] and (r["lost"], r["duplicated"]) == (0, 0)
    clean_lake_is_full(r)
    no_secrets(r)


def test_a_full_disk_fails_cleanly_and_the_next_run_recovers(tmp_path):
    r = reliability.disk_trouble(tmp_path, SIZES)
    assert r["first_pull_ok"] and r["failed_cleanly"] and r["recovered"]
    # Unchanged, and there: the Vipps cursors the first pull committed.
    assert r["cursor_unchanged"] and r["cursors_before"] > 0
    assert (r["lost"], r["duplicated"]) == (0, 0)
    clean_lake_is_full(r)
    no_secrets(r)
