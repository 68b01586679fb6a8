"""A pull killed with SIGKILL at any moment resumes without gaps or duplicates."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from builders import small_dataset

from recon.ingest.pull import pull
from recon.lake.integrity import duplicate_keys, fingerprint


def _recon(args, env):
    return subprocess.Popen([sys.executable, "-m", "recon.cli", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.fixture(scope="module")
def dataset():
    return small_dataset(n=60)


@pytest.mark.parametrize("kill_after", [0.25, 0.6, 1.0, 1.6])
def test_sigkill_then_rerun_equals_a_clean_run(kill_after, make_setup, dataset, tmp_path):
    clean_setup = make_setup(dataset, lake=tmp_path / "clean", extra="")
    clean_config = clean_setup.config()
    assert pull(clean_config).ok
    clean = fingerprint(clean_config)

    # Every data request is slowed down a little so that the kill lands mid-pull, between
    # checkpoints of 7 rows.
    setup = make_setup(dataset, faults="slow:1.0,slow=0.04", lake=tmp_path / "killed")
    text = setup.config_path.read_text().replace('[lake]\n', '[lake]\nflush_rows = 7\n')
    setup.config_path.write_text(text)
    env = {**os.environ, **setup.env}
    proc = _recon(["pull", "--config", str(setup.config_path)], env)
    time.sleep(kill_after)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    config = setup.config()
    partial = fingerprint(config) if (config.lake / "raw").exists() else None

    rerun = _recon(["pull", "--config", str(setup.config_path)], env)
    _out, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err.decode()
    assert fingerprint(config) == clean
    assert duplicate_keys(config) == 0
    if partial is not None:
        # What had landed before the kill is all still there (nothing lost, nothing rewritten).
        for table, rows in partial.items():
            assert set(rows) <= set(clean[table])


def test_a_crash_between_two_files_of_one_checkpoint_loses_no_child_rows(make_setup, dataset, tmp_path,
                                                                          monkeypatch):
    """Regression (found by bench/reliability.py): entries durable but their lines not."""
    import recon.lake.store as store

    clean_setup = make_setup(dataset, lake=tmp_path / "clean")
    assert pull(clean_setup.config()).ok
    clean = fingerprint(clean_setup.config())

    setup = make_setup(dataset, lake=tmp_path / "crashed")
    config = setup.config()
    real_replace = store.os.replace
    renamed = []

    def power_cut_after_first_file(src, dst):
        real_replace(src, dst)
        if str(dst).endswith(".parquet"):
            renamed.append(dst)
            raise OSError(28, "No space left on device (simulated)")

    monkeypatch.setattr(store.os, "replace", power_cut_after_first_file)
    with pytest.raises(OSError):
        pull(config, ["vipps"])
    monkeypatch.setattr(store.os, "replace", real_replace)
    assert len(renamed) == 1
    assert pull(config).ok
    assert fingerprint(config) == clean
