"""The lake's layout in one place: raw tables, quarantine, results, state, and durable writes.

``<lake>/raw/<table>/<partition>=<value>/part-*.parquet`` holds what landed,
``<lake>/quarantine/<source>/`` what could not, ``<lake>/results/<table>/run_id=<run>/data.parquet``
each reconcile run's results, and ``<lake>/_state/`` cursors, watermarks and run manifests.
Every file is written under a temporary name, fsynced and renamed, so a reader never sees half
a file and a crash leaves at most a stale temporary file (removed by the next run).
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# Stale temporary files of a killed run are removed after this long (a live run is never that slow
# between writing and renaming one file).
_STALE_TMP_SECONDS = 3600

# Sources land side by side, in threads of one process or in child processes of one run (other
# runs wait for the lake lock): the clock is read and advanced under both locks.
_CLOCK_LOCK = threading.Lock()

# The reconcile results, one Parquet file per run; the catalog shows the latest under these names.
RESULT_TABLES = ("recon_matches", "recon_mismatches", "vat_summary", "settlement_summary", "settlement_fees",
                 "recon_checks")


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


class Lake:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    @property
    def raw(self) -> Path:
        return self.root / "raw"

    @property
    def quarantine_dir(self) -> Path:
        return self.root / "quarantine"

    @property
    def state_dir(self) -> Path:
        return self.root / "_state"

    @property
    def resolutions_dir(self) -> Path:
        return self.root / "resolutions"

    def ensure(self) -> None:
        for path in (self.raw, self.quarantine_dir, self.state_dir):
            path.mkdir(parents=True, exist_ok=True)
        self._remove_stale_tmp()
        self.lake_id()

    def lake_id(self) -> str:
        """This lake's identity (``_state/lake.json``, made once): a workbook names it, so that
        ``recon resolve`` refuses a workbook written from another lake. A copied lake keeps it."""
        found = self.read_state("lake")
        if found and isinstance(found.get("lake_id"), str):
            return str(found["lake_id"])
        lake_id = uuid.uuid4().hex[:16]
        self.write_state({"lake_id": lake_id, "created_at": datetime.now(UTC).isoformat()}, "lake")
        return lake_id

    def _remove_stale_tmp(self) -> None:
        """Temporary files (and a catalog's write-ahead log) a killed run left anywhere in the lake."""
        cutoff = time.time() - _STALE_TMP_SECONDS
        for pattern in (".*.tmp", ".*.tmp.wal"):
            for tmp in self.root.rglob(pattern):
                try:
                    if tmp.stat().st_mtime < cutoff:
                        tmp.unlink()
                except FileNotFoundError:
                    pass

    # --- the landing clock: "landed later" must not depend on the wall clock -----------------------
    def landing_time(self) -> datetime:
        """Now, or just after the last landing time handed out if the clock stepped back.

        ``_landed_at`` orders versions of a record (the latest landed wins), so it must only move
        forward: after an NTP step of an hour back, the next landing is still the later one.
        """
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with _CLOCK_LOCK, open(self.state_dir / "landing_clock.lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            state = self.read_state("landing_clock")
            now = datetime.now(UTC)
            if state and state.get("last"):
                now = max(now, datetime.fromisoformat(state["last"]) + timedelta(milliseconds=1))
            self.write_state({"last": now.isoformat()}, "landing_clock")
            return now

    # --- state: cursors, watermarks, run manifests -------------------------------------------
    def state_path(self, *parts: str) -> Path:
        safe = [p.replace("/", "_").replace("\\", "_") for p in parts]
        return self.state_dir.joinpath(*safe[:-1], safe[-1] + ".json")

    def read_state(self, *parts: str) -> dict[str, Any] | None:
        path = self.state_path(*parts)
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None

    def write_state(self, value: dict[str, Any], *parts: str) -> None:
        atomic_write(self.state_path(*parts), (json.dumps(value, indent=1, sort_keys=True) + "\n").encode())

    def table_files(self, table: str) -> list[Path]:
        return sorted((self.raw / table).rglob("*.parquet"))

    def quarantine_files(self) -> list[Path]:
        return sorted(self.quarantine_dir.rglob("*.parquet"))

    # --- results: one folder per result table, one file per reconcile run ----------------------
    def result_file(self, table: str, run_id: str) -> Path:
        return self.root / "results" / table / f"run_id={run_id}" / "data.parquet"

    def result_glob(self, table: str) -> Path:
        return self.root / "results" / table / "*" / "data.parquet"

    def run_manifests(self) -> list[dict[str, Any]]:
        """Pull manifests (``_state/runs/<run_id>.json``), newest first."""
        out = []
        for path in sorted((self.state_dir / "runs").glob("*.json"), reverse=True):
            if path.name.endswith(".run.json"):
                continue  # a whole job's interval, see recon/ops/run.py
            try:
                out.append(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, json.JSONDecodeError):
                continue
        return out


def replace_durably(tmp: Path, final: Path) -> None:
    """fsync a finished temporary file, rename it over ``final`` and fsync the folder."""
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, final)
    fsync_dir(final.parent)
