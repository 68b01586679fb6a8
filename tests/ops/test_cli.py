"""The command line as an operator runs it: subprocesses, no terminal, real exit codes."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from builders import Gate, small_dataset, wait_for
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


def held_setup(make_setup, n):
    """A sandbox whose ledger L1 holds its first page back until the gate is released: a run that
    asks for it is known to be mid-pull, holding the lock, for as long as the test needs."""
    ds = small_dataset(n=n)
    gate = ds.ledgers["L1"].entries = Gate(ds.ledgers["L1"].entries, 0)
    setup = make_setup(ds)
    # Patient enough that the held request is not retried to failure meanwhile.
    setup.config_path.write_text(setup.config_path.read_text().replace("read_timeout = 1.5", "read_timeout = 120"))
    return ds, gate, setup


def finish(proc, timeout=120):
    """Wait for a started process: its exit code and stderr (its pipes read and closed)."""
    _out, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


@contextlib.contextmanager
def started(*args, env):
    """A started recon process that is killed (and its pipes closed) if the test leaves it running."""
    proc = start(*args, env=env)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)


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
    from recon.errors import ReconError

    out = recon("--help").stdout
    listed = {int(m[1]): m[2] for line in out.split("Exit codes:", 1)[1].splitlines()
              if (m := re.fullmatch(r" +(\d+)  (.+)", line))}
    meanings = {
        0: "success (mismatches found are still success)",
        1: "unexpected internal error",
        2: "usage or configuration error; recon resolve: rows it cannot apply (nothing applied)",
        3: "a source or Vipps ledger failed (recon run reconciles the rest, rows marked incomplete)",
        4: "another run holds the lake's lock",
        5: "mismatches found, with --fail-on-mismatch; or an exception open too long, with --fail-on-age",
        130: "interrupted (Ctrl-C)",
        143: "terminated (SIGTERM, e.g. systemctl stop)",
    }
    assert {code: listed[code] for code in meanings} == meanings

    def kinds(cls):
        return [cls, *(k for sub in cls.__subclasses__() for k in kinds(sub))]

    # Every exit code an error can end a command with is explained.
    assert {kind.exit_code for kind in kinds(ReconError)} <= set(listed)


def test_demo_end_to_end_produces_a_workbook_with_the_planted_mismatches(tmp_path):
    from recon.sandbox.dataset import sample_data_dir

    proc = recon("demo", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    books = list((tmp_path / "recon-demo" / "reports").glob("*.xlsx"))
    lines = proc.stdout.splitlines()
    assert len(books) == 1 and f"workbook: {books[0]}" in lines
    # What to try next: queries against the demo's own config.
    suggested = [line.strip() for line in lines if line.strip().startswith("recon query ")]
    assert suggested and all(q.startswith("recon query --config recon-demo/recon.toml ") for q in suggested)
    wb = load_workbook(books[0], read_only=True)
    rows = list(wb["Mismatches"].iter_rows(values_only=True))
    wb.close()
    codes = [r[0] for r in rows[1:]]
    expected = json.loads((sample_data_dir() / "expected.json").read_text())["mismatches"]
    assert sorted(codes) == sorted(m["code"] for m in expected)
    assert "\x1b[" not in proc.stdout + proc.stderr  # no terminal, no colours or bars


def test_concurrent_runs_one_is_refused_and_the_lake_stays_intact(make_setup, tmp_path):
    ds, gate, setup = held_setup(make_setup, n=40)
    env = env_of(setup)
    with started("run", "--config", str(setup.config_path), *PERIOD, env=env) as first:
        try:
            wait_for(lambda: gate.reached.is_set() or first.poll() is not None, "the first run to pull")
            wait_for_lock(setup.config().lake, first)
            second = recon("run", "--config", str(setup.config_path), *PERIOD, env=env)  # while the first is held
        finally:
            gate.release()
        assert second.returncode == 4, second.stderr
        assert "is locked by run" in second.stderr and second.stderr.count("\n") == 1
        code, err = finish(first)
        assert code == 0, err
    check = recon("query", "--config", str(setup.config_path), "--format", "csv",
                  "SELECT count(*) AS n FROM vipps_sales_entries", env=env)
    assert check.stdout.splitlines() == ["n", str(sum(len(ledger.entries) for ledger in ds.ledgers.values()))]


def test_wait_lets_the_second_run_queue_behind_the_first(make_setup):
    from recon.lake.store import Lake

    _ds, gate, setup = held_setup(make_setup, n=10)
    env = env_of(setup)
    lake = setup.config().lake
    with contextlib.ExitStack() as stack:
        first = stack.enter_context(started("pull", "--config", str(setup.config_path), env=env))
        try:
            wait_for(lambda: gate.reached.is_set() or first.poll() is not None, "the first pull")
            wait_for_lock(lake, first)
            second = stack.enter_context(started("pull", "--config", str(setup.config_path), "--wait", "60",
                                                 env=env))
            # The second run is under way (its log is open, the lock is next) while the first holds the lock.
            wait_for(lambda: len(list((lake / "_logs").glob("*.log"))) == 2 or second.poll() is not None,
                     "the second run to start")
            assert second.poll() is None, finish(second)
        finally:
            gate.release()
        code, err = finish(first)
        assert code == 0, err
        code, err = finish(second)
        assert code == 0, err
    # It queued: started while the first held the lock, it pulled only once the first was done.
    a, b = sorted(Lake(lake).run_manifests(), key=lambda m: m["started_at"])
    assert b["started_at"] >= a["finished_at"]


def test_a_lock_left_by_a_killed_run_does_not_block(make_setup):
    _ds, gate, setup = held_setup(make_setup, n=40)
    env = env_of(setup)
    with started("run", "--config", str(setup.config_path), *PERIOD, env=env) as victim:
        try:
            wait_for(lambda: gate.reached.is_set() or victim.poll() is not None, "the run to pull")
            wait_for_lock(setup.config().lake, victim)
            assert victim.poll() is None  # held mid-pull, with the lock
            victim.send_signal(signal.SIGKILL)
            finish(victim, timeout=10)
        finally:
            gate.release()
    assert victim.returncode == -signal.SIGKILL  # killed holding the lock, not finished and released
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
    # Without a terminal nothing reaches stderr when all went well (cron mails nothing); the run's
    # log file has every event, a line each with time, run id and level.
    assert proc.stderr == ""
    lines = [line for p in logs for line in p.read_text().splitlines()]
    assert lines and all(" INFO run=" in line or " WARNING run=" in line for line in lines)
    assert any("run finished" in line for line in lines)


def test_json_logs_for_log_shippers(make_setup):
    setup = make_setup(small_dataset(n=5))
    proc = recon("--log-format", "json", "pull", "--config", str(setup.config_path), env=env_of(setup))
    assert proc.returncode == 0
    [log] = (setup.config().lake / "_logs").glob("*.log")
    events = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    assert events and all({"time", "level", "run_id", "message"} <= set(e) for e in events)
    assert len({e["run_id"] for e in events}) == 1


def test_exit_code_2_for_configuration_errors(tmp_path):
    (tmp_path / "recon.toml").write_text("[lake]\npath = 'x'\n[vipps]\nledgers = []\n")
    proc = recon("run", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.startswith("recon: error: ")


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


def status_sections(out: str) -> dict[str, list[str]]:
    """`recon status` output: {unindented line: [the indented lines under it]}."""
    sections: dict[str, list[str]] = {}
    current: list[str] = []
    for line in out.splitlines():
        if line and not line.startswith(" "):
            current = sections.setdefault(line, [])
        elif line.strip():
            current.append(line)
    return sections


def test_status_shows_cursors_runs_quarantine_and_the_newest_workbook(tmp_path):
    from collections import Counter

    from recon.config import load_config
    from recon.lake.store import Lake
    from recon.ops.demo import write_demo_config
    from recon.sandbox.dataset import sample_data_dir

    config_path = write_demo_config(tmp_path / "d")
    assert recon("run", "--config", str(config_path), *PERIOD).returncode == 0
    proc = recon("status", "--config", str(config_path))
    assert proc.returncode == 0, proc.stderr
    sections = status_sections(proc.stdout)
    # What status should say, from the lake itself and the sample's answer key.
    config = load_config(config_path)
    lake = Lake(config.lake)
    [manifest] = lake.run_manifests()
    vipps_cursor = lake.read_state("vipps", "ledger-7000011")["cursor"]
    watermark = lake.read_state("entur", "payments")["watermark"]
    feed = lake.read_state("samtrafiken", "org-RET1")
    answer_key = json.loads((sample_data_dir() / "expected.json").read_text())["quarantine"]
    expected_state = {"vipps": {"ledger-7000011": f"cursor={vipps_cursor}"},
                      "entur": {"payments": f"watermark={watermark}"},
                      "samtrafiken": {"org-RET1": f"cursor={feed['cursor']}, seq={feed['seq']}"}}
    for source, state in expected_state.items():
        lines = sections[source]
        items = dict(line.strip().split(": ", 1) for line in lines if not line.startswith("    "))
        assert items["last successful run"] == f"{manifest['run_id']} (finished {manifest['finished_at']})"
        assert {key: items[key] for key in state} == state
        reasons = Counter({reason: int(n) for n, reason in (line.split() for line in lines if line.startswith("    "))})
        assert reasons == Counter(q["reason_kind"] for q in answer_key if q["source"] == source), source
        assert int(items["quarantined"]) == reasons.total() > 0
    newest = config.reports_folder / "recon_2026-10-24_2026-10-26.xlsx"
    assert newest.exists() and f"newest workbook: {newest}" in sections
