"""`recon report`: reconcile a period and write the workbook accountants open in the morning.

The workbook is written to a temporary name in its folder and renamed, so a reader (or a sync
to a file share) never sees half a file. Sheets: Summary, VAT, Settlement, By code, Mismatches, Worklist,
Matched (optional), Quarantine, Control; recon/reports/ holds the writer and the sheet builders.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from recon.config import Config
from recon.lake.catalog import connect
from recon.lake.store import Lake, replace_durably
from recon.reconcile.runner import ReconcileResult, reconcile
from recon.reports.excel import ReportWorkbook
from recon.reports.sheets import (
    MATCHED,
    MISMATCHES,
    QUARANTINE,
    pin_exceptions,
    worklist_sheet,
    write_settlement,
    write_table,
    write_vat,
)
from recon.reports.summary import ReportContext, write_by_code, write_control, write_summary
from recon.timeutil import today_in, zone


@dataclass
class ReportResult:
    path: Path
    reconcile: ReconcileResult
    sheets: dict[str, int]  # physical sheet -> rows written on it (header and blocks included)
    data_rows: dict[str, int]  # logical sheet -> rows of its table, over all its parts
    cut_cells: int
    split_sheets: dict[str, list[str]]  # logical sheet -> its parts, for the sheets that were split
    as_of: date
    generated_at: datetime
    cells: int = 0


def pin_results(con: Any, paths: dict[str, Path]) -> None:
    """Point the result views at this run's files, with each row's position in its file.

    By path, not through the catalog's "latest" views: another reconcile finishing meanwhile
    must not mix two runs in one workbook. The position (``file_row_number``) lets the large
    sheets read their rows page by page in the order reconcile wrote them.
    """
    for name, parquet in paths.items():
        con.execute(f"CREATE OR REPLACE VIEW {name} AS "
                    f"SELECT * FROM read_parquet('{_q(parquet)}', file_row_number = true)")


def _q(path: Path) -> str:
    return str(path).replace("'", "''")


def default_path(config: Config, date_from: date, date_to: date) -> Path:
    folder = config.reports_folder
    return folder / f"recon_{date_from.isoformat()}_{date_to.isoformat()}.xlsx"


def write_report(config: Config, date_from: date, date_to: date, *, out: Path | None = None,
                 today: date | None = None, run_id: str | None = None,
                 failed: dict[str, str] | None = None) -> ReportResult:
    """Reconcile ``date_from``..``date_to`` and write the workbook; ``today`` is the as-of date.

    ``failed``: sources this run could not pull completely (see :func:`recon.reconcile.runner.reconcile`).
    """
    settings = config.report
    reconcile_settings = config.reconcile
    tz = reconcile_settings.timezone
    as_of = today or today_in(tz)
    result = reconcile(config, date_from, date_to, today=as_of, run_id=run_id, failed=failed)
    path = Path(out) if out is not None else default_path(config, date_from, date_to)
    path.parent.mkdir(parents=True, exist_ok=True)

    lake = Lake(config.lake)
    generated_at = datetime.now(UTC).astimezone(zone(tz)).replace(tzinfo=None, microsecond=0)
    ctx = ReportContext(config, result, tz, as_of, generated_at, settings.max_rows_per_sheet,
                        settings.include_matched, lake.run_manifests(), lake.lake_id())
    params = {"today": as_of, "tz": tz, "date_from": date_from, "date_to": date_to}
    book = ReportWorkbook(max_rows=settings.max_rows_per_sheet, title="recon: reconciliation workbook",
                          period=f"{date_from.isoformat()} to {date_to.isoformat()} (as of {as_of.isoformat()})")
    con = connect(lake)
    try:
        # As reconcile does: past the limit DuckDB spills to the lake's _tmp instead of growing.
        con.execute(f"SET memory_limit = '{reconcile_settings.memory_limit}'")
        con.execute(f"SET temp_directory = '{_q(lake.root / '_tmp')}'")
        pin_results(con, result.paths)
        pin_exceptions(con, params)
        tables = [write_vat(book, con, params), write_settlement(book, con, params),
                  write_by_code(book, con, params), write_table(book, con, MISMATCHES, params),
                  write_table(book, con, worklist_sheet(settings.resolution_codes), params)]
        if settings.include_matched:
            tables.append(write_table(book, con, MATCHED, params))
        tables.append(write_table(book, con, QUARANTINE, params))
        summary = write_summary(book, con, ctx, tables)
        control = write_control(book, con, ctx, [summary, *tables])
    finally:
        con.close()

    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        book.save(tmp)
        replace_durably(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()

    everything = [summary, *tables, control]
    return ReportResult(
        path=path, reconcile=result,
        sheets={p.name: p.rows_written for t in everything for p in t.parts},
        data_rows={t.name: t.data_rows for t in tables},
        cut_cells=sum(p.cut_cells for t in everything for p in t.parts),
        split_sheets={t.name: [p.name for p in t.parts] for t in everything if t.split},
        as_of=as_of, generated_at=generated_at, cells=book.cells,
    )
