"""recon_resolutions: accountants' resolutions of exceptions, append-only Parquet files under
``<lake>/resolutions/``. A file is written under a temporary name and renamed, so a resolve that
is killed leaves either all of its rows or none."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from recon.lake.schemas import RESOLUTIONS
from recon.lake.store import Lake, replace_durably


def append_resolutions(lake: Lake, rows: Sequence[dict[str, Any]], *, file_name: str, file_sha256: str,
                       at: datetime | None = None) -> int:
    """Append the rows (exception_id, resolution, comment, owner and the amounts resolved) as one file."""
    if not rows:
        return 0
    at = at or datetime.now(UTC)
    folder = lake.resolutions_dir
    folder.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist([
        {**{name: row.get(name) for name in RESOLUTIONS.names}, "file_name": file_name, "file_sha256": file_sha256,
         "resolved_at": at, "seq": i} for i, row in enumerate(rows)], schema=RESOLUTIONS)
    final = folder / f"{at.strftime('%Y%m%dT%H%M%S%fZ')}-{uuid.uuid4().hex[:8]}.parquet"
    tmp = final.with_name(f".{final.name}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    replace_durably(tmp, final)
    return len(rows)
