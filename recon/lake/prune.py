"""``recon prune --before DATE``: remove old landed data, personal data with it.

Raw tables are partitioned by a date (business date; the ledger list by the date it was listed):
every partition of a parent table dated before DATE goes, whole. Child rows (order lines,
transactions) go with their parent row, whatever their own date: an Entur transaction is dated by
its own time, and one kept without its payment would be invisible. A quarantine file goes when
everything in it was landed before DATE (UTC). Results, resolutions, cursors and run manifests
stay: they hold IDs and amounts, and the cursors keep the next pull from fetching the data again.

The day is recorded (``_state/prune.json``): reconcile refuses a period that would read before it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from recon.errors import ConfigError
from recon.lake.catalog import build_catalog
from recon.lake.locking import lake_lock
from recon.lake.schemas import TABLES
from recon.lake.store import Lake, replace_durably

NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"  # rows without a date: never pruned by date


@dataclass
class PruneResult:
    before: date
    dry_run: bool
    partitions: dict[str, list[str]] = field(default_factory=dict)  # table -> partition days removed
    child_rows: dict[str, int] = field(default_factory=dict)  # child table -> rows removed with parents
    files: int = 0
    bytes: int = 0
    quarantine_files: int = 0

    @property
    def removed_anything(self) -> bool:
        return bool(self.files or self.quarantine_files or any(self.child_rows.values()))


def pruned_before(lake: Lake) -> date | None:
    """The day before which this lake's raw data was removed, if it ever was."""
    state = lake.read_state("prune") or {}
    return date.fromisoformat(state["before"]) if state.get("before") else None


def _partition_date(folder: Path) -> date | None:
    _, sep, value = folder.name.partition("=")
    if not sep or value == NULL_PARTITION:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _count(result: PruneResult, path: Path) -> None:
    files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
    result.files += len(files)
    result.bytes += sum(p.stat().st_size for p in files)


def _row_ids(lake: Lake, table: str) -> pa.Array:
    ids = [pq.ParquetFile(p).read(columns=["_row_id"]).column("_row_id") for p in lake.table_files(table)]
    return pa.chunked_array(ids, pa.string()).combine_chunks() if ids else pa.array([], pa.string())


def _orphans(lake: Lake, result: PruneResult) -> None:
    """Drop the child rows whose parent row is gone (rewriting each file that holds some)."""
    for name, spec in TABLES.items():
        if spec.parent is None:
            continue
        parents = _row_ids(lake, spec.parent)
        for path in lake.table_files(name):
            table = pq.ParquetFile(path).read()
            keep = pc.is_in(table.column("_parent_row_id"), value_set=parents)
            kept = pc.sum(keep).as_py() or 0
            if kept == table.num_rows:
                continue
            result.child_rows[name] = result.child_rows.get(name, 0) + table.num_rows - kept
            if kept == 0:
                _count(result, path)
                path.unlink()
            else:
                tmp = path.with_name(f".{path.name}.tmp")
                pq.write_table(table.filter(keep), tmp, compression="zstd", row_group_size=max(kept, 1))
                replace_durably(tmp, path)


def prune(lake: Lake, before: date, *, run_id: str, dry_run: bool = False, wait: float = 0.0,
          latest: date | None = None) -> PruneResult:
    """Remove what landed for dates before ``before`` (see the module docstring), holding the lake's
    lock, then rebuild the catalog. ``dry_run`` only counts. ``latest``: the last day ``before`` may
    be (a nightly run still reads the days after it); None allows any."""
    if latest is not None and before > latest:
        raise ConfigError(f"--before {before} is too recent: the nightly run still reads back to {latest} "
                          "(recheck_days and the settlement span); use --force to prune it all the same")
    result = PruneResult(before, dry_run)
    cutoff = datetime.combine(before, datetime.min.time(), UTC)
    with lake_lock(lake.root, run_id, wait=wait):
        doomed: list[Path] = []
        for name, spec in TABLES.items():
            folder = lake.raw / name
            if spec.parent is not None or not folder.is_dir():
                continue
            for part in sorted(p for p in folder.iterdir() if p.is_dir()):
                day = _partition_date(part)
                if day is not None and day < before:
                    result.partitions.setdefault(name, []).append(day.isoformat())
                    doomed.append(part)
        for path in lake.quarantine_files():
            newest = pc.max(pq.ParquetFile(path).read(columns=["_landed_at"]).column("_landed_at")).as_py()
            if newest is not None and newest < cutoff:
                result.quarantine_files += 1
                doomed.append(path)
        for path in doomed:
            _count(result, path)
            if dry_run:
                continue
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
        if dry_run:  # the children of these partitions would go with them: not counted
            return result
        _orphans(lake, result)
        if before > (pruned_before(lake) or date.min):
            lake.write_state({"before": before.isoformat(), "run_id": run_id,
                              "at": datetime.now(UTC).isoformat()}, "prune")
        if result.removed_anything:
            build_catalog(lake)
    return result

