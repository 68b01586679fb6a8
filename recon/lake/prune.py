"""``recon prune --before DATE``: remove old landed data, personal data with it.

Raw tables are partitioned by a date (business date; the ledger list by the date it was listed):
every partition dated before DATE goes, whole. A quarantine file goes when everything in it was
landed before DATE (UTC). Results, resolutions, cursors and run manifests stay: they hold IDs
and amounts, and the cursors keep the next pull from fetching the removed data again.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from recon.lake.catalog import build_catalog
from recon.lake.locking import lake_lock
from recon.lake.store import Lake

NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"  # rows without a date: never pruned by date


@dataclass
class PruneResult:
    before: date
    dry_run: bool
    partitions: dict[str, list[str]] = field(default_factory=dict)  # table -> partition values removed
    files: int = 0
    bytes: int = 0
    quarantine_files: int = 0

    @property
    def removed_anything(self) -> bool:
        return bool(self.files or self.quarantine_files)


def _size(path: Path) -> tuple[int, int]:
    files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
    return len(files), sum(p.stat().st_size for p in files)


def _partition_date(folder: Path) -> date | None:
    _, sep, value = folder.name.partition("=")
    if not sep or value == NULL_PARTITION:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def prune(lake: Lake, before: date, *, run_id: str, dry_run: bool = False, wait: float = 0.0) -> PruneResult:
    """Remove what landed for dates before ``before`` (see the module docstring), holding the lake's
    lock, then rebuild the catalog. ``dry_run`` only counts."""
    result = PruneResult(before, dry_run)
    cutoff = datetime.combine(before, datetime.min.time(), UTC)
    with lake_lock(lake.root, run_id, wait=wait):
        doomed: list[Path] = []
        for table in sorted(p for p in lake.raw.iterdir() if p.is_dir()) if lake.raw.is_dir() else []:
            for part in sorted(p for p in table.iterdir() if p.is_dir()):
                day = _partition_date(part)
                if day is not None and day < before:
                    result.partitions.setdefault(table.name, []).append(day.isoformat())
                    doomed.append(part)
        for path in lake.quarantine_files():
            landed = pq.read_table(path, columns=["_landed_at"]).column("_landed_at")
            newest = pc.max(landed).as_py()
            if newest is not None and newest < cutoff:
                result.quarantine_files += 1
                doomed.append(path)
        for path in doomed:
            files, size = _size(path)
            result.files += files
            result.bytes += size
            if not dry_run:
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink()
        if result.removed_anything and not dry_run:
            build_catalog(lake)
    return result
