"""Benchmark: write a Mismatches sheet of N rows, the way `recon report` does.

    python bench/excel.py                      # 100k rows, then 1M rows (RSS must stay flat)
    python bench/excel.py --rows 100000

Generates a synthetic ``recon_mismatches`` result as Parquet with DuckDB (22 columns like the
real one: ids, a long explanation, four amounts, three dates), then, in a fresh process per run:

* ``writer``: the writer alone (styles, exact money, text IDs, injection guard, row-limit
  splitting, save), fed the same rows from a Python generator: what openpyxl and recon's
  writer cost;
* ``report``: the real path: recon/reports/sql/mismatches.sql on DuckDB, page by page, through
  the same writer. Its RSS includes DuckDB, pyarrow and their buffers.

Prints cells/s and the peak RSS of each run; cells are counted in the saved file (empty values
are not cells), not assumed as rows × columns. Targets (issue 5): ≥ 40k cells/s with formatting,
peak RSS ≤ 150 MB, and RSS flat from 100k to 1M rows. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

from _measure import peak_rss_mb


def generate(path: Path, rows: int) -> None:
    import duckdb

    con = duckdb.connect()
    codes = "['MISSING_IN_ENTUR','MISSING_IN_VIPPS','AMOUNT_MISMATCH','DUPLICATE','VAT_MISMATCH']"
    con.execute(f"""
        COPY (
            SELECT {codes}[1 + i % 5] AS code,
                   'Vipps capture of ' || (i % 90000) || '.50 NOK (pspReference ' || (10000000000 + i)
                       || ', reference R' || i || ') matches no Entur CAPTURED Vipps payment transaction '
                       || 'by pspReference or order' AS explanation,
                   'capture' AS kind, 'X' || lpad(i::VARCHAR, 9, '0') AS exception_id,
                   '7000011' AS ledger_id, 'R' || i AS reference,
                   (10000000000 + i)::VARCHAR AS psp_reference, (4758792780599008435 - i)::VARCHAR AS order_id,
                   (24000 + i)::VARCHAR AS entur_payment_id, (81000 + i)::VARCHAR AS entur_transaction_id,
                   NULL::VARCHAR AS entur_credit_id, NULL::VARCHAR AS booking_id, NULL::BIGINT AS booking_amount,
                   (1000 + i * 7919 % 90000)::BIGINT AS vipps_amount, (1000 + i * 7907 % 90000)::BIGINT AS entur_amount,
                   ((1000 + i * 7919 % 90000) - (1000 + i * 7907 % 90000))::BIGINT AS difference,
                   'NOK' AS currency, 'NOK' AS entur_currency,
                   DATE '2026-10-01' + (i % 28)::INTEGER AS vipps_date,
                   DATE '2026-10-01' + (i % 28)::INTEGER AS entur_date,
                   DATE '2026-10-01' + (i % 28)::INTEGER AS business_date, false AS provisional,
                   NULL::VARCHAR AS incomplete, 'sales' AS vipps_api, NULL::VARCHAR AS feed,
                   NULL::VARCHAR AS entry_type, NULL::BIGINT AS settled_amount, NULL::BIGINT AS balance_before,
                   NULL::BIGINT AS balance_after, NULL::BIGINT AS previous_balance_after,
                   NULL::DATE AS ledger_date
            FROM range({rows}) AS t(i)
        ) TO '{path}' (FORMAT parquet, COMPRESSION zstd)
    """)
    # Columns the sheet reads that this synthetic result lacks (the sheet grows columns): NULL, so
    # the bench runs the sheet's current query; an ID-like name is text, any other a number.
    have = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM '{path}'").fetchall()}
    missing = sorted(set(re.findall(r"\bm\.(\w+)", sheet_sql())) - have - {"file_row_number"})  # pin_results adds it
    if missing:
        extra = ", ".join(f"NULL::{'VARCHAR' if name.endswith('id') else 'BIGINT'} AS {name}" for name in missing)
        con.execute(f"COPY (SELECT *, {extra} FROM '{path}') TO '{path}.tmp' (FORMAT parquet, COMPRESSION zstd)")
        Path(f"{path}.tmp").replace(path)
    con.close()


def sheet_sql() -> str:
    from recon.reports.sheets import MISMATCHES
    from recon.sqlfiles import sql_text

    return sql_text("recon.reports", MISMATCHES.sql)


def synthetic(rows: int) -> Iterator[tuple[Any, ...]]:
    """The rows generate() writes, built in Python (for the writer-only run)."""
    codes = ["MISSING_IN_ENTUR", "MISSING_IN_VIPPS", "AMOUNT_MISMATCH", "DUPLICATE", "VAT_MISMATCH"]
    for i in range(rows):
        day = date(2026, 10, 1 + i % 28)
        vipps, entur = 1000 + i * 7919 % 90000, 1000 + i * 7907 % 90000
        yield (codes[i % 5], f"Vipps capture of {i % 90000}.50 NOK (pspReference {10000000000 + i}, reference R{i}) "
               "matches no Entur CAPTURED Vipps payment transaction by pspReference or order", "capture",
               f"X{i:09d}", date(2026, 11, 1), "open",
               "7000011", f"R{i}", str(10000000000 + i), str(4758792780599008435 - i), str(24000 + i),
               str(81000 + i), None, None, None, vipps, entur, vipps - entur, "NOK", "NOK", day, day, day,
               (date(2026, 11, 23) - day).days, False, None, "sales", None, None, None, None, None, None, None)


def write(mode: str, parquet: str, out: str, max_rows: int) -> tuple[float, int, int, float, int]:
    from recon.reports.excel import ReportWorkbook
    from recon.reports.sheets import MISMATCHES, write_table

    t0 = time.perf_counter()
    book = ReportWorkbook(max_rows=max_rows)
    if mode == "writer":
        sheet = book.table(MISMATCHES.name, MISMATCHES.columns, synthetic(int(parquet.split("_")[-1].split(".")[0])))
    else:
        import duckdb

        from recon.reports.workbook import pin_results

        con = duckdb.connect()
        con.execute("SET enable_progress_bar = false")
        pin_results(con, {"recon_mismatches": Path(parquet)})
        # What recon_exceptions gives the sheet (first seen, status), one row per exception.
        con.execute("CREATE TEMP TABLE report_exceptions AS SELECT exception_id, DATE '2026-11-01' AS first_seen, "
                    "'open' AS status FROM recon_mismatches")
        t0 = time.perf_counter()
        sheet = write_table(book, con, MISMATCHES, {"today": date(2026, 11, 23)})
    book.save(out)
    seconds = time.perf_counter() - t0
    return seconds, written_cells(out), sheet.data_rows, peak_rss_mb(), len(sheet.parts)


def written_cells(xlsx: str) -> int:
    """The cells the saved workbook holds, counted in its worksheets' XML (``<c`` elements): an empty
    value is no cell, so this is what was written, not rows times columns."""
    import zipfile

    count = 0
    with zipfile.ZipFile(xlsx) as book:
        for name in book.namelist():
            if not (name.startswith("xl/worksheets/") and name.endswith(".xml")):
                continue
            tail = b""
            with book.open(name) as fh:
                while chunk := fh.read(1 << 22):
                    data = tail + chunk
                    # A 3-byte tag may straddle two chunks: carry the last 2 bytes (too short to
                    # hold a whole tag, so nothing is counted twice).
                    count += data.count(b"<c ") + data.count(b"<c>")
                    tail = data[-2:]
    return count


def _child(args: tuple[str, str, str, int], queue: mp.Queue[tuple[float, int, int, float, int]]) -> None:
    queue.put(write(*args))


def measure(mode: str, parquet: Path, out: Path, max_rows: int) -> tuple[float, int, int, float, int]:
    ctx = mp.get_context("spawn")  # a fresh process: peak RSS is this run's alone
    queue: mp.Queue[tuple[float, int, int, float, int]] = ctx.Queue()
    proc = ctx.Process(target=_child, args=((mode, str(parquet), str(out), max_rows), queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--max-rows-per-sheet", type=int, default=1_048_576)
    parser.add_argument("--mode", choices=["writer", "report"], nargs="+", default=["writer", "report"])
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="recon-bench-excel-"))
    try:
        print(f"{'run':8s} {'rows':>10s} {'cells':>12s} {'seconds':>8s} {'cells/s':>9s} {'peak RSS MB':>12s} "
              f"{'sheets':>6s} {'xlsx MB':>8s}")
        for rows in args.rows:
            parquet = tmp / f"mismatches_{rows}.parquet"
            generate(parquet, rows)
            for mode in args.mode:
                out = tmp / f"mismatches_{rows}.xlsx"
                seconds, cells, written, peak, parts = measure(mode, parquet, out, args.max_rows_per_sheet)
                assert written == rows
                print(f"{mode:8s} {rows:10,} {cells:12,} {seconds:8.1f} {cells / seconds:9,.0f} {peak:12.0f} "
                      f"{parts:6d} {out.stat().st_size / 1e6:8.1f}", flush=True)
                out.unlink()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
