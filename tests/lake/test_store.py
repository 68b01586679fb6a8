"""The lake's layout and housekeeping: one place defines where things go."""

from __future__ import annotations

import os
import time

from recon.lake.store import Lake


def test_a_killed_runs_old_temporary_files_are_removed_anywhere_and_fresh_ones_kept(tmp_path):
    lake = Lake(tmp_path / "lake")
    lake.ensure()
    old = [lake.raw / "t" / ".part-1.parquet.tmp", lake.result_file("recon_matches", "r1").with_name(".data.ab.tmp"),
           lake.root / ".recon.duckdb.1234.tmp", lake.root / ".recon.duckdb.1234.tmp.wal"]
    fresh = lake.state_dir / ".cursor.json.ab.tmp"
    for path in [*old, fresh]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    two_hours_ago = time.time() - 7200
    for path in old:
        os.utime(path, (two_hours_ago, two_hours_ago))
    lake.ensure()
    assert [p for p in old if p.exists()] == []
    assert fresh.exists()


def test_results_live_in_one_folder_per_table_and_run(tmp_path):
    lake = Lake(tmp_path)
    assert lake.result_file("vat_summary", "R") == tmp_path / "results" / "vat_summary" / "run_id=R" / "data.parquet"
    assert lake.result_glob("vat_summary").parent.parent == lake.result_file("vat_summary", "R").parent.parent
