"""`recon report`: reconcile a period and write the workbook accountants open in the morning.

The workbook is written to a temporary name in its folder and renamed, so a reader (or a sync
to a file share) never sees half a file. Sheets: Summary, VAT, Mismatches, Matched (optional),
Quarantine, Control; recon/reports/ holds the writer and the sheet builders.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from .catalog import connect
from .config import Config
from .errors import ConfigError
from .landing import Lake
from .reconcile import ReconcileResult, ReconcileSettings, reconcile, today_in
from .reports.excel import EXCEL_MAX_ROWS, MIN_ROWS, ReportWorkbook
from .reports.sheets import MATCHED, MISMATCHES, QUARANTINE, write_table, write_vat
from .reports.summary import ReportContext, write_control, write_summary
from .status import run_manifests
from .values import zone


@dataclass(frozen=True)
class ReportSettings:
    include_matched: bool = False
    max_rows_per_sheet: int = EXCEL_MAX_ROWS  # header row included
    out_dir: str = "reports"  # relative to the lake's parent folder

    @classmethod
    def from_config(cls, config: Config) -> "ReportSettings":
        data = config.raw.get("report", {})
        if not isinstance(data, dict):
            raise ConfigError("[report] must be a table")
        extra = sorted(set(data) - {"include_matched", "max_rows_per_sheet", "out_dir"})
        if extra:
            raise ConfigError(f"unknown key report.{extra[0]} in the configuration")
        values: dict[str, Any] = {}
        if "include_matched" in data:
            if not isinstance(data["include_matched"], bool):
                raise ConfigError("report.include_matched must be true or false")
            values["include_matched"] = data["include_matched"]
        if "max_rows_per_sheet" in data:
            rows = data["max_rows_per_sheet"]
            if isinstance(rows, bool) or not isinstance(rows, int) or not MIN_ROWS <= rows <= EXCEL_MAX_ROWS:
                raise ConfigError(f"report.max_rows_per_sheet must be an integer {MIN_ROWS}..{EXCEL_MAX_ROWS:,} "
                                  f"(the header row included)")
            values["max_rows_per_sheet"] = rows
        if "out_dir" in data:
            if not isinstance(data["out_dir"], str) or not data["out_dir"].strip():
                raise ConfigError("report.out_dir must be a non-empty string")
            values["out_dir"] = data["out_dir"]
        return cls(**values)

    def folder(self, config: Config) -> Path:
        path = Path(self.out_dir).expanduser()
        return path if path.is_absolute() else config.lake.parent / path


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
    folder = ReportSettings.from_config(config).folder(config)
    return folder / f"recon_{date_from.isoformat()}_{date_to.isoformat()}.xlsx"


def write_report(config: Config, date_from: date, date_to: date, *, out: Path | None = None,
                 today: date | None = None, run_id: str | None = None) -> ReportResult:
    """Reconcile ``date_from``..``date_to`` and write the workbook; ``today`` is the as-of date."""
    settings = ReportSettings.from_config(config)  # configuration errors before any work
    reconcile_settings = ReconcileSettings.from_config(config)
    tz = reconcile_settings.timezone
    as_of = today or today_in(tz)
    result = reconcile(config, date_from, date_to, today=as_of, run_id=run_id)
    path = Path(out) if out is not None else default_path(config, date_from, date_to)
    path.parent.mkdir(parents=True, exist_ok=True)

    lake = Lake(config.lake)
    generated_at = datetime.now(timezone.utc).astimezone(zone(tz)).replace(tzinfo=None, microsecond=0)
    ctx = ReportContext(config, result, tz, as_of, generated_at, settings.max_rows_per_sheet,
                        settings.include_matched, run_manifests(lake))
    params = {"today": as_of, "tz": tz}
    book = ReportWorkbook(max_rows=settings.max_rows_per_sheet)
    con = connect(lake)
    try:
        # As reconcile does: past the limit DuckDB spills to the lake's _tmp instead of growing.
        con.execute(f"SET memory_limit = '{reconcile_settings.memory_limit}'")
        con.execute(f"SET temp_directory = '{_q(lake.root / '_tmp')}'")
        pin_results(con, result.paths)
        tables = [write_vat(book, con, params), write_table(book, con, MISMATCHES, params)]
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
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
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
