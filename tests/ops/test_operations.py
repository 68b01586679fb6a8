"""What an operator meets: a clock that steps back, a deleted lock file, SIGTERM, bad dates, crashes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta

import pytest
from builders import small_dataset

import recon.lake.store as store
from recon.errors import LockHeld
from recon.lake.locking import lake_lock
from recon.lake.store import Lake

PERIOD = ["--from", "2026-10-24", "--to", "2026-10-26"]


def recon_cli(*args, env, timeout=120):
    return subprocess.run([sys.executable, "-m", "recon.cli", *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


def env_of(setup):
    return {**{k: v for k, v in os.environ.items() if not k.startswith("RECON_")}, **setup.env}


def test_the_landing_clock_only_moves_forward_when_the_wall_clock_steps_back(tmp_path, monkeypatch):
    lake = Lake(tmp_path)
    first = lake.landing_time()

    class HourBack(datetime):
        @classmethod
        def now(cls, tz=None):
            return first - timedelta(hours=1)

    monkeypatch.setattr(store, "datetime", HourBack)
    second = lake.landing_time()
    assert second > first and second - first < timedelta(seconds=1)
    assert Lake(tmp_path).landing_time() > second  # persisted: another process sees it too


def test_a_deleted_lock_file_does_not_let_a_second_run_in(tmp_path):
    with lake_lock(tmp_path, "first"):
        (tmp_path / "_state" / "lock").unlink()
        with pytest.raises(LockHeld), lake_lock(tmp_path, "second"):
            pass
    with lake_lock(tmp_path, "third"):
        assert '"run_id": "third"' in (tmp_path / "_state" / "lock").read_text()


def test_from_after_to_is_refused_before_any_request(make_setup):
    setup = make_setup(small_dataset(n=3))
    proc = recon_cli("run", "--config", str(setup.config_path), "--from", "2026-10-26", "--to", "2026-10-24",
                     env=env_of(setup))
    assert proc.returncode == 2
    assert proc.stderr.strip() == "recon: error: --to 2026-10-24 is before --from 2026-10-26"
    assert setup.sandbox.requests_log == []


def test_an_unexpected_duckdb_error_is_one_line_and_the_traceback_goes_to_the_log(make_setup):
    setup = make_setup(small_dataset(n=3))
    env = env_of(setup)
    assert recon_cli("pull", "--config", str(setup.config_path), env=env).returncode == 0
    lake = setup.config().lake
    victim = next((lake / "raw" / "vipps_sales_entries").rglob("*.parquet"))
    victim.write_bytes(b"not parquet at all")
    proc = recon_cli("reconcile", "--config", str(setup.config_path), *PERIOD, env=env)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    first, *_, last = proc.stderr.splitlines()
    assert first.startswith("recon: error: unexpected ")
    logs = sorted((lake / "_logs").glob("*.log"), key=lambda p: p.stat().st_mtime)
    assert "Traceback" in logs[-1].read_text()
    assert last == f"recon: the whole run: {logs[-1]}"  # where the traceback is


def test_sigterm_says_so_and_exits_143(make_setup):
    setup = make_setup(small_dataset(n=40), faults="slow:1.0,slow=0.3")
    proc = subprocess.Popen([sys.executable, "-m", "recon.cli", "run", "--config", str(setup.config_path), *PERIOD],
                            env=env_of(setup), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not setup.sandbox.requests_log and time.monotonic() < deadline:  # proven mid-pull
        time.sleep(0.05)
    assert setup.sandbox.requests_log, "the run never reached the sandbox"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143
    assert "terminated by SIGTERM; a rerun resumes where the data is safe" in err
    # Left as a kill leaves it: the next run resumes.
    assert recon_cli("pull", "--config", str(setup.config_path), env=env_of(setup)).returncode == 0
