"""`recon resolve FILE`: accountants' resolutions read back from a workbook recon wrote (its
Worklist sheet: Resolution, Comment, Owner) or from a CSV (exception_id, resolution, comment, owner).

The whole file is validated before anything is written: an unknown exception ID or resolution
code, a workbook of another lake, or a row whose amounts changed since the workbook was written
fails the file with every such row named, and nothing is applied. Resolutions are appended to
recon_resolutions; a row that repeats the exception's current resolution changes nothing, so
running the same file twice is harmless.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from recon.config import Config
from recon.errors import ConfigError
from recon.lake.catalog import build_catalog, connect, exceptions_sql
from recon.lake.resolutions import append_resolutions
from recon.lake.store import Lake
from recon.reports.sheets import DIFFERENCE

WORKLIST = "Worklist"
AMOUNTS = {"Vipps amount": "vipps_amount", "Entur amount": "entur_amount", "Booking amount": "booking_amount",
           DIFFERENCE: "difference"}
OLD_HEADERS = {"Difference": DIFFERENCE}  # a workbook written before the header named its sign
# Column names accepted in a CSV (lower case, spaces or underscores), and the workbook's headers.
FIELDS = {"exception id": "exception_id", "exception_id": "exception_id", "resolution": "resolution",
          "comment": "comment", "owner": "owner"}


@dataclass
class Row:
    where: str  # "Worklist row 7", "line 3"
    exception_id: str
    resolution: str
    comment: str | None
    owner: str | None
    amounts: dict[str, int | None] | None  # as the workbook showed them; None: a CSV without amounts


@dataclass
class ResolveResult:
    resolved: int  # newly resolved (or resolved again after a reopen)
    updated: int  # resolved before, now with another resolution, comment or owner
    unchanged: int
    without_resolution: int  # rows whose Resolution was left empty: nothing to apply

    def summary(self) -> str:
        return (f"{self.resolved} resolved, {self.updated} updated, {self.unchanged} unchanged"
                + (f" ({self.without_resolution} rows without a resolution left as they are)"
                   if self.without_resolution else ""))


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _minor(value: Any, where: str, problems: list[str]) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        amount = Decimal(str(value).strip()) * 100
    except InvalidOperation:
        problems.append(f"{where}: {value!r} is not an amount")
        return None
    if amount != amount.to_integral_value():
        problems.append(f"{where}: {value!r} has more than two decimals")
        return None
    return int(amount)


def _read_workbook(path: Path, problems: list[str]) -> tuple[list[Row], str | None]:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is one clear error
        raise ConfigError(f"{path.name}: not a workbook recon can read ({type(exc).__name__}: {exc})") from None
    try:
        sheets = [ws for ws in wb.worksheets if ws.title == WORKLIST or ws.title.startswith(WORKLIST + " (")]
        if not sheets:
            raise ConfigError(f"{path.name}: has no {WORKLIST} sheet: resolve a workbook written by recon report "
                              "or recon run, or a CSV")
        lake_id = None
        if "Control" in wb.sheetnames:
            for row in wb["Control"].iter_rows(values_only=True):
                if row and row[0] == "Lake id":
                    lake_id = _text(row[1])
                    break
        rows: list[Row] = []
        for ws in sheets:
            it = ws.iter_rows(values_only=True)
            header = [str(h).strip() if h is not None else "" for h in next(it, ())]
            header = [OLD_HEADERS.get(h, h) if OLD_HEADERS.get(h) not in header else h for h in header]
            missing = [h for h in ("Exception ID", "Resolution", "Comment", "Owner", *AMOUNTS) if h not in header]
            if missing:
                raise ConfigError(f"{path.name}: sheet {ws.title!r} lacks the column(s) {', '.join(missing)}")
            col = {h: i for i, h in enumerate(header)}
            for n, values in enumerate(it, start=2):
                cells = list(values) + [None] * (len(header) - len(values))
                if all(v is None for v in cells):
                    break  # the table ends at the first blank row
                where = f"{ws.title} row {n}"
                rows.append(Row(
                    where, _text(cells[col["Exception ID"]]) or "", _text(cells[col["Resolution"]]) or "",
                    _text(cells[col["Comment"]]), _text(cells[col["Owner"]]),
                    {key: _minor(cells[col[h]], f"{where}, {h}", problems) for h, key in AMOUNTS.items()}))
        return rows, lake_id
    finally:
        wb.close()


def _read_csv(path: Path) -> list[Row]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            names = {name: FIELDS.get(name.strip().lower()) for name in reader.fieldnames or []}
            if "exception_id" not in names.values() or "resolution" not in names.values():
                raise ConfigError(f"{path.name}: a CSV needs the columns exception_id and resolution "
                                  "(and may have comment and owner)")
            rows = []
            for n, record in enumerate(reader, start=2):
                got = {names[k]: _text(v) for k, v in record.items() if k is not None and names.get(k)}
                rows.append(Row(f"line {n}", got.get("exception_id") or "", got.get("resolution") or "",
                                got.get("comment"), got.get("owner"), None))
            return rows
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"{path.name}: cannot read it as a CSV ({exc})") from None


def read_resolutions(path: Path) -> tuple[list[Row], str | None, list[str]]:
    """The rows of a workbook (and its lake id) or a CSV, with the problems found reading them."""
    problems: list[str] = []
    if path.suffix.lower() == ".csv":
        return _read_csv(path), None, problems
    rows, lake_id = _read_workbook(path, problems)
    return rows, lake_id, problems


def resolve_file(config: Config, path: Path, *, now: datetime | None = None) -> ResolveResult:
    """Validate every row of ``path``, then append its resolutions; see the module docstring."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    lake = Lake(config.lake)
    lake.ensure()
    rows, lake_id, problems = read_resolutions(path)
    if lake_id is not None and lake_id != lake.lake_id():
        raise ConfigError(f"{path.name}: written from another lake (lake id {lake_id}, this lake is "
                          f"{lake.lake_id()}): resolve it against the lake it came from")
    codes = {code.lower(): code for code in config.report.resolution_codes}
    current = _current(lake)
    seen: dict[str, Row] = {}
    apply: list[tuple[Row, str, dict[str, Any]]] = []
    without = 0
    for row in rows:
        if not row.exception_id:
            if row.resolution or row.comment or row.owner:
                problems.append(f"{row.where}: a resolution without an exception ID")
            continue
        exc = current.get(row.exception_id)
        if exc is None:
            problems.append(f"{row.where}: unknown exception ID {row.exception_id!r} (not an exception of this lake)")
            continue
        if not row.resolution:
            without += 1
            if row.comment or row.owner:
                problems.append(f"{row.where}: exception {row.exception_id} has a comment or owner but no "
                                f"resolution; choose one of {', '.join(config.report.resolution_codes)}")
            continue
        code = codes.get(row.resolution.lower())
        if code is None:
            problems.append(f"{row.where}: unknown resolution {row.resolution!r} for {row.exception_id}; use one of "
                            f"{', '.join(config.report.resolution_codes)} ([report] resolution_codes)")
            continue
        if row.amounts is not None:
            changed = [name for name, key in AMOUNTS.items() if row.amounts.get(key) != exc[key]]
            if changed:
                problems.append(f"{row.where}: the amounts of {row.exception_id} changed since the workbook was "
                                f"written ({', '.join(changed)}); resolve it from a newer workbook")
                continue
        earlier = seen.get(row.exception_id)
        if earlier is not None and (earlier.resolution, earlier.comment, earlier.owner) != (
                row.resolution, row.comment, row.owner):
            problems.append(f"{row.where}: {row.exception_id} is resolved differently on {earlier.where}")
            continue
        if earlier is None:
            seen[row.exception_id] = row
            apply.append((row, code, exc))
    if problems:
        lines = [f"{path.name}: nothing applied; fix these {len(problems)} row(s) and run recon resolve again",
                 *(f"{path.name}: {p}" for p in problems)]
        raise ConfigError("\n".join(lines), problems=lines)
    new: list[dict[str, Any]] = []
    resolved = updated = unchanged = 0
    for row, code, exc in apply:
        if exc["status"] == "resolved" and (exc["resolution"], exc["comment"], exc["owner"]) == (
                code, row.comment, row.owner):
            unchanged += 1
            continue
        if exc["status"] == "resolved":
            updated += 1
        else:
            resolved += 1
        new.append({"exception_id": row.exception_id, "resolution": code, "comment": row.comment,
                    "owner": row.owner, **{key: exc[key] for key in AMOUNTS.values()}})
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if new:
        append_resolutions(lake, new, file_name=path.name, file_sha256=digest, at=now)
        build_catalog(lake)
    return ResolveResult(resolved, updated, unchanged, without)


def _current(lake: Lake) -> dict[str, dict[str, Any]]:
    """Every exception of the lake: its status, amounts and current resolution."""
    con = connect(lake)
    try:
        cur = con.execute(f"SELECT exception_id, status, vipps_amount, entur_amount, booking_amount, difference, "
                          f"resolution, comment, owner FROM ({exceptions_sql()})")
        names = [d[0] for d in cur.description]
        return {row[0]: dict(zip(names, row, strict=True)) for row in cur.fetchall()}
    finally:
        con.close()
