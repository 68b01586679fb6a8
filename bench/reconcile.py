"""Benchmark: recon's reconcile against the floor of its contract, a bare join and pandas, on a realistic lake.

    python bench/reconcile.py                      # 10M orders over 60 days (several GB of disk, minutes)
    python bench/reconcile.py --n 1000000 --repeat 3
    python bench/reconcile.py --n 20000 --days 8 --period-days 4 --json out.json   # what the smoke test runs

The lake (bench/_lake.py) holds about N entries per source spread over --days business days, in
landing's own file layout, with refunds and credits, partial captures, out-of-scope mPOS and cash
sales, ePayment captures known only to the Report API, Entur versions and failed attempts,
re-landed rows, the funds and fees feeds with their balance chains, bookings, and a small planted
fraction of every mismatch code. A period of --period-days in the middle of the lake is reconciled,
so the read window (the period ± reconcile.window_days, the Report API's ± 31 days) leaves days out.

Measured in one run, each step in its own process (peak RSS is that step's alone), with the
lake's ``_tmp`` sampled for the bytes DuckDB spilled, interleaved --repeat times (medians):

* ``recon``: ``recon.reconcile.runner.reconcile`` for the period (every check, every result file,
  the catalog);
* ``floor``: the floor of the contract: read the columns of the Vipps entries and the Entur payment
  and credit transactions of the read window, join them on pspReference = externalTransactionId,
  compute the outcome (currency, amount, timing) and write a ``recon_matches``-like file sorted as
  recon sorts it, on a connection set up as recon's (its views, memory_limit, temp_directory);
* ``reads``: what reconcile reads, read once: of each landed table, the columns its SQL names, over
  the days it reads (its partition filters, widest), decoded and hashed; no join, no sort, no write.
  What the checks beyond key 1 (VAT, settlement, balances, bookings, versions) must at least read;
* ``bare join``: count(*) of that join, same connection;
* ``pandas``: the same columns read with pyarrow into pandas, merged, outcome computed.

Prints seconds, the ratio to the floor, peak RSS and spilled MB per step, and recon's rows per
code beside the generator's answer key. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _lake
from _measure import in_child, machine, machine_line, median

STEPS = ("recon", "floor", "reads", "bare join", "pandas")


def _config(lake: Path) -> Any:
    from recon.config import parse_config

    return parse_config({"lake": {"path": str(lake)}, "vipps": {"ledgers": list(_lake.LEDGERS), "client_id": "x"}})


def run_generate(lake: str, n: int, days: int, plant: int, relanded: float) -> dict[str, Any]:
    t0 = time.perf_counter()
    rows = _lake.generate(Path(lake), n, days=days, plant=plant, relanded=relanded)
    return {"seconds": time.perf_counter() - t0, "rows": rows}


def run_recon(lake: str, first: int, last: int, today: int) -> dict[str, Any]:
    from recon.reconcile.runner import reconcile

    config = _config(Path(lake))
    t0 = time.perf_counter()
    result = reconcile(config, _lake.day(first), _lake.day(last), today=_lake.day(today))
    seconds = time.perf_counter() - t0
    import pyarrow.parquet as pq

    rows = pq.ParquetFile(result.paths["recon_matches"]).metadata.num_rows
    return {"seconds": seconds, "rows": rows, "matched": result.matched, "mismatches": result.mismatches,
            "by_code": {c.code: c.count for c in result.by_code}}


def _connection(lake: Path) -> Any:
    """A connection as recon's reconcile opens it: the catalog's views, its memory limit and spill folder."""
    from recon.lake.catalog import connect
    from recon.lake.store import Lake

    settings = _config(lake).reconcile
    con = connect(Lake(lake))
    con.execute(f"SET memory_limit = '{settings.memory_limit}'")
    con.execute(f"SET temp_directory = '{lake / '_tmp'}'")
    return con


def _sides(first: int, last: int, window: int) -> str:
    lo, hi = _lake.day(first - window).isoformat(), _lake.day(last + window).isoformat()
    return f"""
        v AS (
            SELECT entry_type AS kind, ledger_id, reference, psp_reference, abs(gross) AS amount, currency,
                   business_date AS vipps_date
            FROM raw_vipps_sales_entries
            WHERE business_date BETWEEN DATE '{lo}' AND DATE '{hi}' AND entry_type IN ('capture', 'refund')
        ), e AS (
            SELECT 'capture' AS kind, external_transaction_id, order_id, payment_id, NULL::VARCHAR AS credit_id,
                   transaction_id, abs(coalesce(captured_amount, amount)) AS amount, currency,
                       business_date AS entur_date
            FROM raw_entur_payment_transactions
            WHERE business_date BETWEEN DATE '{lo}' AND DATE '{hi}' AND payment_type = 'VIPPS' AND status = 'CAPTURED'
            UNION ALL
            SELECT 'refund', external_transaction_id, order_id, NULL, credit_id, transaction_id, abs(amount), currency,
                   business_date
            FROM raw_entur_credit_transactions
            WHERE business_date BETWEEN DATE '{lo}' AND DATE '{hi}' AND reimbursement_method = 'VIPPS'
              AND coalesce(credit_status, status) = 'CREDITED'
        )"""


def run_floor(lake: str, first: int, last: int, today: int) -> dict[str, Any]:
    root = Path(lake)
    out = root / "_bench" / "floor_matches.parquet"
    out.parent.mkdir(exist_ok=True)
    window = _config(root).reconcile.window_days
    t0 = time.perf_counter()
    con = _connection(root)
    rows = con.execute(f"""
        COPY (
            WITH {_sides(first, last, window)}
            SELECT v.kind, 1 AS match_key, v.reference AS order_key, v.ledger_id, v.reference, v.psp_reference,
                   e.order_id, e.payment_id, e.credit_id, e.transaction_id AS entur_transaction_id,
                   v.amount AS vipps_amount, e.amount AS entur_amount, v.currency AS vipps_currency,
                   e.currency AS entur_currency, v.vipps_date, e.entur_date, v.amount - e.amount AS difference,
                   CASE WHEN v.currency IS DISTINCT FROM e.currency THEN 'CURRENCY_MISMATCH'
                        WHEN abs(v.amount - e.amount) > 0 THEN 'AMOUNT_MISMATCH'
                        WHEN abs(v.vipps_date - e.entur_date) > {window} THEN 'TIMING_DIFFERENCE'
                        ELSE 'MATCHED' END AS outcome,
                   least(v.vipps_date, e.entur_date) AS row_date
            FROM v JOIN e ON v.kind = e.kind AND v.psp_reference = e.external_transaction_id
            WHERE least(v.vipps_date, e.entur_date) BETWEEN DATE '{_lake.day(first)}' AND DATE '{_lake.day(last)}'
            ORDER BY kind, match_key, order_key, psp_reference, entur_transaction_id
        ) TO '{out}' (FORMAT parquet, COMPRESSION zstd)
    """).fetchone()[0]
    con.close()
    return {"seconds": time.perf_counter() - t0, "rows": int(rows)}


def _read_windows(first: int, last: int, window: int, span: int) -> dict[str, tuple[int, int | None]]:
    """The days of each landed table that reconcile reads (its SQL's partition filters, widest; the
    Entur orders, which the mismatches look up over all their history, over the matching window
    only, so that this stays a floor)."""
    wide, near = (first - span, last + span), (first - window, last + window)
    return {"raw_vipps_sales_entries": wide, "raw_vipps_sales_lines": wide, "raw_vipps_funds_entries": wide,
            "raw_vipps_fees_entries": wide, "raw_entur_payment_transactions": near,
            "raw_entur_credit_transactions": near, "raw_entur_payments": near, "raw_entur_credits": near,
            "raw_samtrafiken_booking_events": (first, None)}


def run_reads(lake: str, first: int, last: int, today: int) -> dict[str, Any]:
    """Read once what reconcile reads: of each landed table, every column its SQL names, over the
    days it reads, decoded (hashed) and nothing else: no join, no sort, nothing written."""
    import re
    from importlib.resources import files

    from recon.reconcile.runner import read_span

    root = Path(lake)
    settings = _config(root).reconcile
    named = {word for f in files("recon.reconcile").joinpath("sql").iterdir() if f.name.endswith(".sql")
             for word in re.findall(r"[a-z_]+", f.read_text(encoding="utf-8"))}
    t0 = time.perf_counter()
    con = _connection(root)
    rows = 0
    for table, (lo, hi) in _read_windows(first, last, settings.window_days, read_span(settings)).items():
        columns = [c for (c,) in con.execute(f"SELECT column_name FROM (DESCRIBE {table})").fetchall() if c in named]
        until = f" AND business_date <= DATE '{_lake.day(hi)}'" if hi is not None else ""
        rows += con.execute(f"SELECT count(*), sum(hash({', '.join(columns)})) FROM {table} "
                            f"WHERE business_date >= DATE '{_lake.day(lo)}'{until}").fetchone()[0]
    con.close()
    return {"seconds": time.perf_counter() - t0, "rows": rows}


def run_bare(lake: str, first: int, last: int, today: int) -> dict[str, Any]:
    root = Path(lake)
    window = _config(root).reconcile.window_days
    t0 = time.perf_counter()
    con = _connection(root)
    rows = con.execute(f"""
        WITH {_sides(first, last, window)}
        SELECT count(*) FROM v JOIN e ON v.kind = e.kind AND v.psp_reference = e.external_transaction_id
        WHERE least(v.vipps_date, e.entur_date) BETWEEN DATE '{_lake.day(first)}' AND DATE '{_lake.day(last)}'
    """).fetchone()[0]
    con.close()
    return {"seconds": time.perf_counter() - t0, "rows": int(rows)}


def run_pandas(lake: str, first: int, last: int, today: int) -> dict[str, Any]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    root = Path(lake)
    window = _config(root).reconcile.window_days
    lo, hi = _lake.day(first - window), _lake.day(last + window)
    part = ds.partitioning(pa.schema([("business_date", pa.date32())]), flavor="hive")

    def read(table: str, columns: list[str], where: Any) -> Any:
        data = ds.dataset(root / "raw" / table, format="parquet", partitioning=part)
        span = (pc.field("business_date") >= lo) & (pc.field("business_date") <= hi)
        return data.to_table(columns=columns, filter=span & where).to_pandas()

    t0 = time.perf_counter()
    v = read("vipps_sales_entries", ["entry_type", "psp_reference", "reference", "gross", "currency", "business_date"],
             pc.field("entry_type").isin(["capture", "refund"]))
    v["amount"] = v["gross"].abs()
    pay = read("entur_payment_transactions", ["external_transaction_id", "transaction_id", "captured_amount", "amount",
                                              "currency", "business_date"],
               (pc.field("payment_type") == "VIPPS") & (pc.field("status") == "CAPTURED"))
    pay["entry_type"] = "capture"
    pay["amount"] = pay["captured_amount"].fillna(pay["amount"]).abs()
    cr = read("entur_credit_transactions", ["external_transaction_id", "transaction_id", "amount", "currency",
                                            "business_date"],
              (pc.field("reimbursement_method") == "VIPPS") & (pc.field("credit_status") == "CREDITED"))
    cr["entry_type"] = "refund"
    cr["amount"] = cr["amount"].abs()
    import pandas as pd

    # SQL never joins NULL keys; pandas does, so they go first (cash has no pspReference).
    v = v[v["psp_reference"].notna()]
    e = pd.concat([pay.drop(columns=["captured_amount"]), cr], ignore_index=True)
    e = e[e["external_transaction_id"].notna()]
    m = v.merge(e, left_on=["entry_type", "psp_reference"], right_on=["entry_type", "external_transaction_id"],
                suffixes=("_v", "_e"))
    days = (m["business_date_v"] - m["business_date_e"]).abs()
    m["outcome"] = np.where(m["currency_v"] != m["currency_e"], "CURRENCY_MISMATCH",
                            np.where(m["amount_v"] != m["amount_e"], "AMOUNT_MISMATCH",
                                     np.where(days > pd.Timedelta(days=window), "TIMING_DIFFERENCE", "MATCHED")))
    row_date = np.minimum(m["business_date_v"], m["business_date_e"])
    m = m[(row_date >= _lake.day(first)) & (row_date <= _lake.day(last))]
    return {"seconds": time.perf_counter() - t0, "rows": len(m)}


RUNNERS = {"recon": run_recon, "floor": run_floor, "reads": run_reads, "bare join": run_bare, "pandas": run_pandas}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000_000, help="orders (about as many entries per source)")
    parser.add_argument("--days", type=int, default=60, help="business days the lake spans")
    parser.add_argument("--period-days", type=int, default=30, help="days reconciled, in the middle of the lake")
    parser.add_argument("--plant", type=int, default=8, help="orders in 10,000 planted per mismatch code")
    parser.add_argument("--relanded", type=float, default=0.02, help="fraction of each day landed again")
    parser.add_argument("--repeat", type=int, default=1, help="interleaved rounds; medians are printed")
    parser.add_argument("--skip-pandas", action="store_true")
    parser.add_argument("--lake", type=Path, help="keep the lake here (reused if it holds the same parameters)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    info = machine()
    print(machine_line(info), flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="recon-bench-"))
    lake = args.lake or tmp / "lake"
    params = {"n": args.n, "days": args.days, "plant": args.plant, "relanded": args.relanded}
    stamp = lake / "bench_params.json"
    try:
        if stamp.exists() and json.loads(stamp.read_text()) == params:
            generated: dict[str, Any] = {"seconds": 0.0, "rows": json.loads((lake / "bench_rows.json").read_text()),
                                         "peak_rss_mb": 0.0}
            print(f"reusing the lake in {lake}")
        else:
            shutil.rmtree(lake, ignore_errors=True)
            lake.mkdir(parents=True)
            generated = in_child(run_generate, str(lake), args.n, args.days, args.plant, args.relanded)
            stamp.write_text(json.dumps(params))
            (lake / "bench_rows.json").write_text(json.dumps(generated["rows"]))
        rows = generated["rows"]
        size = sum(f.stat().st_size for f in (lake / "raw").rglob("*.parquet"))
        files = sum(1 for _ in (lake / "raw").rglob("*.parquet"))
        print(f"lake: {args.n:,} orders over {args.days} days, {files:,} files, {size / 1e6:,.0f} MB; generated in "
              f"{generated['seconds']:.1f}s (peak RSS {generated['peak_rss_mb']:.0f} MB)")
        print("  " + ", ".join(f"{name} {count:,}" for name, count in rows.items()))
        first, last = _lake.period_days(args.days, args.period_days)
        today = args.days + 1
        print(f"period: {_lake.day(first)} .. {_lake.day(last)} ({last - first + 1} of {args.days} days)", flush=True)
        steps = [s for s in STEPS if not (s == "pandas" and args.skip_pandas)]
        runs: dict[str, list[dict[str, Any]]] = {s: [] for s in steps}
        for _ in range(args.repeat):
            for step in steps:
                shutil.rmtree(lake / "_tmp", ignore_errors=True)
                runs[step].append(in_child(RUNNERS[step], str(lake), first, last, today, spill=lake / "_tmp"))
        floor = median([r["seconds"] for r in runs["floor"]])
        print(f"\n{'step':10s} {'seconds':>8s} {'x floor':>8s} {'peak RSS MB':>12s} {'spilled MB':>11s} {'rows':>11s}")
        table = {}
        for step in steps:
            seconds = median([r["seconds"] for r in runs[step]])
            table[step] = {"seconds": seconds, "x_floor": seconds / floor,
                           "peak_rss_mb": max(r["peak_rss_mb"] for r in runs[step]),
                           "spilled_mb": max(r["spilled_mb"] for r in runs[step]), "rows": runs[step][-1]["rows"],
                           "all_seconds": [r["seconds"] for r in runs[step]]}
            t = table[step]
            print(f"{step:10s} {t['seconds']:8.2f} {t['x_floor']:8.2f} {t['peak_rss_mb']:12.0f} "
                  f"{t['spilled_mb']:11.0f} {t['rows']:11,}")
        print("(rows: recon_matches of the period, all outcomes; floor: the rows it wrote, re-landed copies not\n"
              " removed; reads: the landed rows reconcile reads; bare join: its count; pandas: its merged rows of\n"
              " the period)")
        by_code = runs["recon"][-1]["by_code"]
        key = _lake.answer_key(args.n, args.days, (first, last), plant=args.plant)
        print(f"\n{'code':30s} {'recon':>7s} {'planted':>8s}")
        for code in sorted(set(key) | set(by_code)):
            mark = "" if by_code.get(code, 0) == key.get(code, 0) else "  <- differs"
            print(f"{code:30s} {by_code.get(code, 0):7,} {key.get(code, 0):8,}{mark}")
        result = {"machine": info, "params": {**params, "period": [str(_lake.day(first)), str(_lake.day(last))]},
                  "lake": {"files": files, "bytes": size, "rows": rows}, "steps": table, "by_code": by_code,
                  "answer_key": key}
        if args.json:
            args.json.write_text(json.dumps(result, indent=1, default=str) + "\n")
        return result
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
