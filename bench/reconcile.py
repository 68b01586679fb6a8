"""Benchmark: reconcile N Vipps entries (and their N funds entries), N Entur transactions and N/2 bookings.

    python bench/reconcile.py                  # 10M / 10M / 5M (needs ~6 GB of disk, minutes)
    python bench/reconcile.py --n 1000000

Generates the lake layout directly as Parquet with DuckDB (one line per Vipps entry, one
transaction per Entur payment, one event per booking; about 1 % of each side unmatched), then
times in one run: recon's reconcile, a bare DuckDB full outer join of the same files, and a
pandas merge of the same files. Prints the ratios and peak RSS of each (each runs in its own
process). Targets (issue: reconcile): ≤ 1.5× the bare join, ≥ 8× faster than pandas, peak RSS
≤ 3 GB at 10M. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import shutil
import tempfile
import time
from datetime import date
from pathlib import Path

DAY0 = date(2026, 10, 1)
DAYS = 10


def _value(name: str, kind: str, overrides: dict[str, str]) -> str:
    return f"{overrides[name]} AS \"{name}\"" if name in overrides else f"NULL::{kind} AS \"{name}\""


def _select(table: str, n_expr: str, overrides: dict[str, str]) -> str:
    from recon.lake.schemas import TABLES, duckdb_type

    cols = [_value(f.name, duckdb_type(f.type), overrides) for f in TABLES[table].schema]
    return f"SELECT {', '.join(cols)} FROM range({n_expr}) AS t(i)"


def generate(lake: Path, n: int) -> None:
    import duckdb

    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    ts = f"(TIMESTAMPTZ '{DAY0} 06:00:00+00' + to_seconds(i * {DAYS * 86400 // max(n, 1)}))"
    common = {"_source": "'bench'", "_run_id": "'bench'", "_landed_at": "now()", "_hash": "md5(i::VARCHAR)",
              "_raw": "'{}'", "_row_id": "'bench:' || i"}
    day = f"CAST(timezone('Europe/Oslo', {ts}) AS DATE)"
    amount = "(1000 + (i * 7919) % 90000)"
    vat = f"(({amount} * 1200 * 2 + 11200) // 22400)"
    tables = {
        "vipps_sales_entries": ({
            **common, "entry_key": "'L1:P' || i", "ledger_id": "'L1'", "entry_type": "'capture'", "time": ts,
            "psp_reference": "CASE WHEN i % 100 = 1 THEN 'X' || i ELSE 'P' || i END", "reference": "'O' || i",
            "currency": "'NOK'", "gross": amount, "vat": vat, "net": f"{amount} - {vat}", "line_count": "1",
            "has_vat_breakdown": "true", "business_tz": "'Europe/Oslo'", "business_date": day}, n),
        "vipps_sales_lines": ({
            **common, "_row_id": "'line:' || i", "_parent_row_id": "'bench:' || i", "entry_key": "'L1:P' || i",
            "ledger_id": "'L1'", "psp_reference": "'P' || i", "reference": "'O' || i", "entry_type": "'capture'",
            "currency": "'NOK'", "line_no": "1", "line_total_gross": amount, "line_total_net": f"{amount} - {vat}",
            "vat_rate_bp": "1200", "vat_amount": vat, "category": "'TICKET'", "business_date": day}, n),
        "entur_payments": ({
            **common, "payment_id": "i::VARCHAR", "order_id": "'O' || i", "order_version": "1",
            "total_amount": amount, "currency": "'NOK'", "created_at": ts, "transaction_count": "1",
            "business_date": day}, n),
        "entur_payment_transactions": ({
            **common, "_row_id": "'tx:' || i", "_parent_row_id": "'bench:' || i", "payment_id": "i::VARCHAR",
            "transaction_id": "(i + 1000000000)::VARCHAR", "order_id": "'O' || i", "order_version": "1",
            "status": "'CAPTURED'", "amount": amount, "captured_amount": amount, "currency": "'NOK'",
            "created_at": ts, "payment_type": "'VIPPS'", "payment_type_group": "'MOBILE'",
            "external_transaction_id": "CASE WHEN i % 100 = 2 THEN NULL ELSE 'P' || i END",
            "business_date": day}, n),
        # The Report API's funds feed: every Vipps capture settles, with an unbroken balance chain.
        "vipps_funds_entries": ({
            **common, "entry_key": "'L1:F' || i", "ledger_id": "'L1'", "entry_type": "'capture'",
            "psp_reference": "CASE WHEN i % 100 = 1 THEN 'X' || i ELSE 'P' || i END", "reference": "'O' || i",
            "time": ts, "ledger_date": day, "currency": "'NOK'", "amount": amount,
            "balance_before": f"CAST(sum({amount}) OVER (ORDER BY i) - {amount} AS BIGINT)",
            "balance_after": f"CAST(sum({amount}) OVER (ORDER BY i) AS BIGINT)", "feed_seq": "i",
            "business_tz": "'Europe/Oslo'", "business_date": day}, n),
        "samtrafiken_booking_events": ({
            **common, "event_id": "'E' || i", "event_time": ts, "booking_id": "'B' || i", "status": "'FULFILLED'",
            "retailer_reference": "'O' || (i * 2)", "currency": "'NOK'", "total_price": amount,
            "feed_seq": "i", "vat_json": "'[]'", "business_date": day}, n // 2),
    }
    for name, (overrides, rows) in tables.items():
        target = lake / "raw" / name
        target.mkdir(parents=True, exist_ok=True)
        con.execute(f"COPY ({_select(name, str(rows), overrides)}) TO '{target}' "
                    f"(FORMAT parquet, COMPRESSION zstd, PARTITION_BY (business_date), ROW_GROUP_SIZE 1000000, "
                    f"FILENAME_PATTERN 'part-bench-{{i}}', OVERWRITE_OR_IGNORE)")
    con.close()


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_recon(lake: Path) -> tuple[float, float, int]:
    from recon.config import parse_config
    from recon.reconcile.runner import reconcile

    config = parse_config({"lake": {"path": str(lake)}, "vipps": {"ledgers": ["L1"], "client_id": "x"}})
    t0 = time.perf_counter()
    result = reconcile(config, DAY0, date.fromordinal(DAY0.toordinal() + DAYS - 1), today=date(2026, 11, 23))
    return time.perf_counter() - t0, _peak_mb(), result.mismatches


def run_bare(lake: Path) -> tuple[float, float, int]:
    import duckdb

    con = duckdb.connect()
    t0 = time.perf_counter()
    n = con.execute(f"""
        SELECT count(*) FROM read_parquet('{lake}/raw/vipps_sales_entries/*/*.parquet') AS v
        FULL OUTER JOIN read_parquet('{lake}/raw/entur_payment_transactions/*/*.parquet') AS e
        ON v.psp_reference = e.external_transaction_id
        WHERE v.psp_reference IS NULL OR e.external_transaction_id IS NULL OR v.gross <> e.captured_amount
    """).fetchone()[0]
    return time.perf_counter() - t0, _peak_mb(), n


def run_pandas(lake: Path) -> tuple[float, float, int]:
    import pandas as pd

    t0 = time.perf_counter()
    v = pd.read_parquet(lake / "raw" / "vipps_sales_entries", columns=["psp_reference", "gross"])
    e = pd.read_parquet(lake / "raw" / "entur_payment_transactions",
                        columns=["external_transaction_id", "captured_amount"])
    m = v.merge(e, how="outer", left_on="psp_reference", right_on="external_transaction_id", indicator=True)
    n = int(((m["_merge"] != "both") | (m["gross"] != m["captured_amount"])).sum())
    return time.perf_counter() - t0, _peak_mb(), n


def run_generate(lake: Path, n: int) -> tuple[float, float, int]:
    generate(lake, n)
    return 0.0, _peak_mb(), n


def _child(fn_name: str, lake: str, args: tuple[int, ...], out: mp.Queue[tuple[float, float, int]]) -> None:
    out.put(globals()[fn_name](Path(lake), *args))


def measure(fn_name: str, lake: Path, *args: int) -> tuple[float, float, int]:
    ctx = mp.get_context("spawn")
    out: mp.Queue[tuple[float, float, int]] = ctx.Queue()
    proc = ctx.Process(target=_child, args=(fn_name, str(lake), args, out))
    proc.start()
    result = out.get()
    proc.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000_000, help="Vipps entries and Entur transactions")
    parser.add_argument("--skip-pandas", action="store_true")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="recon-bench-"))
    try:
        t0 = time.perf_counter()
        # In a child: a child inherits its parent's peak RSS figure, so the parent stays small.
        measure("run_generate", tmp / "lake", args.n)
        print(f"generated {args.n:,} entries, {args.n:,} transactions, {args.n // 2:,} bookings "
              f"in {time.perf_counter() - t0:.1f}s")
        runs = {"recon reconcile": measure("run_recon", tmp / "lake"),
                "bare DuckDB join": measure("run_bare", tmp / "lake")}
        if not args.skip_pandas:
            runs["pandas merge"] = measure("run_pandas", tmp / "lake")
        print(f"{'':18s} {'seconds':>8s} {'peak RSS MB':>12s} {'rows':>10s}")
        for name, (seconds, rss, rows) in runs.items():
            print(f"{name:18s} {seconds:8.1f} {rss:12.0f} {rows:10,}")
        recon_s, bare_s = runs["recon reconcile"][0], runs["bare DuckDB join"][0]
        print(f"recon / bare join: {recon_s / bare_s:.2f}x")
        if "pandas merge" in runs:
            print(f"pandas / recon:    {runs['pandas merge'][0] / recon_s:.2f}x")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
