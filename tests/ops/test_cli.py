"""The command line as an operator runs it: subprocesses, no terminal, real exit codes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from builders import small_dataset
from openpyxl import load_workbook

from recon.cli import cli

PERIOD = ["--from", "2026-10-24", "--to", "2026-10-26"]


def recon(*args, env=None, cwd=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "recon.cli", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=timeout)


def start(*args, env=None):
    return subprocess.Popen([sys.executable, "-m", "recon.cli", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def env_of(setup):
    return {**os.environ, **setup.env}


def wait_for_lock(lake: Path, proc, timeout=20.0):
    lock = lake / "_state" / "lock"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if lock.exists() and f'"pid": {proc.pid}' in lock.read_text():
            return
        time.sleep(0.05)
    raise AssertionError("the first run never took the lock")


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_command_has_help_with_an_example(name):
    proc = recon(name, "--help")
    assert proc.returncode == 0
    assert "Example" in proc.stdout, name


def test_top_level_help_lists_the_exit_codes():
    out = recon("--help").stdout
    for line in ("0  success", "2  usage or configuration error", "3  a source failed", "4  another run holds",
                 "5  mismatches found"):
        assert line in out


def test_demo_end_to_end_produces_a_workbook_with_the_planted_mismatches(tmp_path):
    import json

    from recon.sandbox.dataset import sample_data_dir

    proc = recon("demo", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    books = list((tmp_path / "recon-demo" / "reports").glob("*.xlsx"))
    assert len(books) == 1 and str(books[0].name) in proc.stdout
    assert "recon query --config" in proc.stdout
    wb = load_workbook(books[0], read_only=True)
    sheet = wb["Mismatches"]
    rows = list(sheet.iter_rows(values_only=True))
    codes = [r[0] for r in rows[1:]]
    expected = json.loads((sample_data_dir() / "expected.json").read_text())["mismatches"]
    assert sorted(codes) == sorted(m["code"] for m in expected)
    assert "\x1b[" not in proc.stdout + proc.stderr  # no terminal, no colours or bars


def test_concurrent_runs_one_is_refused_and_the_lake_stays_intact(make_setup, tmp_path):
    setup = make_setup(small_dataset(n=40), faults="slow:1.0,slow=0.1")
    env = env_of(setup)
    first = start("run", "--config", str(setup.config_path), *PERIOD, env=env)
    wait_for_lock(setup.config().lake, first)
    second = recon("run", "--config", str(setup.config_path), *PERIOD, env=env)
    assert second.returncode == 4, second.stderr
    assert "is locked by run" in second.stderr and second.stderr.count("\n") == 1
    _out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    check = recon("query", "--config", str(setup.config_path), "--format", "csv",
                  "SELECT count(*) FROM vipps_sales_entries", env=env)
    assert check.stdout.splitlines()[1] == "80"


def test_wait_lets_the_second_run_queue_behind_the_first(make_setup):
    setup = make_setup(small_dataset(n=10), faults="slow:1.0,slow=0.1")
    env = env_of(setup)
    first = start("pull", "--config", str(setup.config_path), env=env)
    wait_for_lock(setup.config().lake, first)
    second = recon("pull", "--config", str(setup.config_path), "--wait", "60", env=env)
    assert second.returncode == 0, second.stderr
    assert first.wait(timeout=60) == 0


def test_a_lock_left_by_a_killed_run_does_not_block(make_setup):
    setup = make_setup(small_dataset(n=40), faults="slow:1.0,slow=0.2")
    env = env_of(setup)
    victim = start("run", "--config", str(setup.config_path), *PERIOD, env=env)
    wait_for_lock(setup.config().lake, victim)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    assert (setup.config().lake / "_state" / "lock").exists()  # the file stays; the lock is gone
    proc = recon("pull", "--config", str(setup.config_path), env=env)
    assert proc.returncode == 0, proc.stderr


def test_exit_code_0_and_a_log_file_per_run_without_secrets_or_bars(make_setup):
    setup = make_setup(small_dataset(n=12))
    env = env_of(setup)
    proc = recon("run", "--config", str(setup.config_path), *PERIOD, env=env)
    assert proc.returncode == 0, proc.stderr
    logs = list((setup.config().lake / "_logs").glob("*.log"))
    assert logs
    text = proc.stdout + proc.stderr + "".join(p.read_text() for p in logs)
    assert "\x1b[" not in proc.stdout + proc.stderr and "\r" not in proc.stdout + proc.stderr
    for secret in setup.secret_values():
        assert secret not in text
    # Without a terminal every event is a line with time, run id and level.
    lines = [line for line in proc.stderr.splitlines() if line]
    assert lines and all(" INFO run=" in line or " WARNING run=" in line for line in lines)
    assert "run finished" in proc.stderr


def test_json_logs_for_log_shippers(make_setup):
    import json

    setup = make_setup(small_dataset(n=5))
    proc = recon("--log-format", "json", "pull", "--config", str(setup.config_path), env=env_of(setup))
    assert proc.returncode == 0
    events = [json.loads(line) for line in proc.stderr.splitlines() if line.strip()]
    assert events and all({"time", "level", "run_id", "message"} <= set(e) for e in events)
    assert len({e["run_id"] for e in events}) == 1


def test_exit_code_2_for_configuration_errors(tmp_path):
    (tmp_path / "recon.toml").write_text("[lake]\npath = 'x'\n[vipps]\nledgers = []\n")
    proc = recon("run", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.startswith("recon: error: ")


def test_exit_code_3_when_a_source_fails_and_nothing_is_reconciled(make_setup):
    setup = make_setup(small_dataset(n=5), faults="500:1.0")
    proc = recon("run", "--config", str(setup.config_path), *PERIOD, env=env_of(setup))
    assert proc.returncode == 3
    assert "nothing was reconciled" in proc.stderr
    assert not (setup.config().lake.parent / "reports").exists()


def test_exit_code_5_with_fail_on_mismatch_only(tmp_path):
    from recon.ops.demo import write_demo_config

    config = write_demo_config(tmp_path / "d")
    plain = recon("run", "--config", str(config), *PERIOD)
    assert plain.returncode == 0, plain.stderr
    strict = recon("run", "--config", str(config), *PERIOD, "--fail-on-mismatch")
    assert strict.returncode == 5 and "exceptions found" in strict.stderr


def test_exit_code_1_for_an_unexpected_error(make_setup, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the lake should be")
    setup = make_setup(small_dataset(n=3), lake=blocker)
    proc = recon("pull", "--config", str(setup.config_path), env=env_of(setup))
    assert proc.returncode == 1 and proc.stderr.startswith("recon: error: ")
    assert "Traceback" not in proc.stderr


def test_init_writes_a_config_that_names_what_to_fill_in(tmp_path):
    proc = recon("init", str(tmp_path / "recon.toml"))
    assert proc.returncode == 0
    text = (tmp_path / "recon.toml").read_text()
    assert "FILL-IN" in text and "[reconcile]" in text
    again = recon("init", str(tmp_path / "recon.toml"))
    assert again.returncode == 2 and "--force" in again.stderr


def test_status_shows_cursors_runs_quarantine_and_the_newest_workbook(tmp_path):
    from recon.ops.demo import write_demo_config

    config = write_demo_config(tmp_path / "d")
    assert recon("run", "--config", str(config), *PERIOD).returncode == 0
    out = recon("status", "--config", str(config)).stdout
    for needle in ("ledger-7000011: cursor=", "payments: watermark=", "org-RET1: cursor=", "last successful run: 2",
                   "quarantined: 5", "missing_field", "newest workbook: ", "recon_2026-10-24_2026-10-26.xlsx"):
        assert needle in out, needle
