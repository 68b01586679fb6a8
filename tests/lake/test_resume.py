"""A pull killed with SIGKILL mid-pull resumes without gaps or duplicates."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys

import pytest
from builders import Gate, small_dataset, wait_for

from recon.ingest.pull import pull
from recon.lake.catalog import connect, scalar
from recon.lake.integrity import duplicate_keys, fingerprint
from recon.lake.schemas import TABLES
from recon.lake.store import Lake


def _recon(args, env):
    return subprocess.Popen([sys.executable, "-m", "recon.cli", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.fixture(scope="module")
def dataset():
    return small_dataset(n=60)


# Where the kill lands: the feed whose page at `at` is held back (pages are 10 records, and
# every page is a checkpoint of 7+ rows). The other sources run in parallel meanwhile.
KILL_POINTS = {
    "vipps-L1-second-page": ("L1", 10),
    "vipps-L1-mid-ledger": ("L1", 30),
    "vipps-L2-after-L1": ("L2", 20),
    "samtrafiken-mid-feed": ("events", 30),
}


def _rows(fp) -> int:
    return sum(len(rows) for rows in fp.values())


def _landed(config, feed: str) -> int:
    """Rows of the gated feed in the lake's views."""
    con = connect(Lake(config.lake))
    try:
        if feed == "events":
            return scalar(con, "SELECT count(*) FROM samtrafiken_booking_events")
        return scalar(con, "SELECT count(*) FROM vipps_sales_entries WHERE ledger_id = $ledger", {"ledger": feed})
    finally:
        con.close()


def _committed_checkpoints(lake):
    """Cursor and watermark files: each is written only after its checkpoint's files are durable."""
    return [p for p in (lake / "_state").glob("*/*.json") if p.parent.name != "runs"]


@pytest.mark.parametrize(("feed", "at"), KILL_POINTS.values(), ids=KILL_POINTS.keys())
def test_sigkill_mid_pull_then_rerun_equals_a_clean_run(feed, at, make_setup, dataset, tmp_path):
    clean_setup = make_setup(dataset, lake=tmp_path / "clean")
    clean_config = clean_setup.config()
    assert pull(clean_config).ok
    clean = fingerprint(clean_config)
    assert all(clean[name] for name in TABLES), "a clean run lands every table"
    clean_feed = _landed(clean_config, feed)
    assert at < clean_feed

    # A fresh copy of the dataset (the module's stays as it is) whose feed holds back the page at `at`.
    gated = copy.deepcopy(dataset)
    if feed == "events":
        gate = gated.events = Gate(gated.events, at)
    else:
        gate = gated.ledgers[feed].entries = Gate(gated.ledgers[feed].entries, at)
    setup = make_setup(gated, lake=tmp_path / "killed")
    text = setup.config_path.read_text().replace('[lake]\n', '[lake]\nflush_rows = 7\n')
    setup.config_path.write_text(text)
    config = setup.config()
    env = {**os.environ, **setup.env}
    victim = _recon(["pull", "--config", str(setup.config_path)], env)
    try:
        wait_for(lambda: gate.reached.is_set() or victim.poll() is not None, f"the pull to ask for {feed}@{at}")
        assert victim.poll() is None, victim.communicate()[1].decode()
        # Let at least one checkpoint commit (pages already served keep landing while the gate holds).
        wait_for(lambda: _committed_checkpoints(config.lake) or victim.poll() is not None, "a committed checkpoint")
        assert victim.poll() is None, "the pull finished although a page was held back"
        victim.send_signal(signal.SIGKILL)
        victim.communicate(timeout=10)
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.communicate(timeout=10)
        gate.release()
    assert victim.returncode == -signal.SIGKILL

    # The kill landed mid-pull: no run manifest, some but not all of the data, nothing beyond the gate.
    assert not list((config.lake / "_state" / "runs").glob("*.json"))
    partial = fingerprint(config)
    assert 0 < _rows(partial) < _rows(clean)
    for table, rows in partial.items():
        assert set(rows) <= set(clean[table]), table  # nothing landed that a clean run does not have
    assert _landed(config, feed) <= at < clean_feed

    rerun = _recon(["pull", "--config", str(setup.config_path)], env)
    _out, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err.decode()
    assert fingerprint(config) == clean
    assert duplicate_keys(config) == 0


def test_a_crash_between_two_files_of_one_checkpoint_loses_no_child_rows(make_setup, dataset, tmp_path,
                                                                          monkeypatch):
    """Regression (found by bench/reliability.py): entries durable but their lines not."""
    import recon.lake.store as store

    clean_setup = make_setup(dataset, lake=tmp_path / "clean")
    assert pull(clean_setup.config()).ok
    clean = fingerprint(clean_setup.config())
    assert clean["vipps_sales_entries"] and clean["vipps_sales_lines"]

    setup = make_setup(dataset, lake=tmp_path / "crashed")
    config = setup.config()
    real_replace = store.os.replace
    renamed = []

    def power_cut_after_first_file(src, dst):
        real_replace(src, dst)
        if str(dst).endswith(".parquet"):
            renamed.append(dst)
            raise OSError(28, "No space left on device (simulated)")

    with monkeypatch.context() as patched:
        patched.setattr(store.os, "replace", power_cut_after_first_file)
        with pytest.raises(OSError):
            pull(config, ["vipps"])
    assert len(renamed) == 1
    # The crash left one file of the first checkpoint (the lines), and no cursor moved.
    lake = Lake(config.lake)
    assert lake.table_files("vipps_sales_lines") == renamed
    assert lake.table_files("vipps_sales_entries") == []
    assert not list((lake.state_dir / "vipps").glob("*.json"))
    assert pull(config).ok
    assert fingerprint(config) == clean
