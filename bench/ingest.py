"""Benchmark: land N Vipps entries from the sandbox (pages of 1000) and print the figures.

    python bench/ingest.py                # 1,000,000 Sales API entries
    python bench/ingest.py --n 200000 --n 1000000
    python bench/ingest.py --source vipps_report --n 1000000   # N funds entries (Report API feed)

The sandbox runs in a child process (it serves a lazy, generated ledger in flat memory), so the
peak RSS printed is recon's own. Targets (issue: ingest): memory flat in N (≤ 300 MB at 1M),
≥ 20k entries/s on loopback, row groups ≥ 100k rows. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import tempfile
import time
from pathlib import Path

LEDGER = "9000001"


def _serve(n: int, source: str, ready: mp.Queue[str], stop: mp.Event) -> None:  # type: ignore[name-defined]
    from recon.sandbox.dataset import Dataset, Ledger
    from recon.sandbox.generate import lazy_funds_entries, lazy_ledger_entries
    from recon.sandbox.server import Sandbox

    if source == "vipps":
        ledger = Ledger(LEDGER, entries=lazy_ledger_entries(1, n, LEDGER))
    else:
        ledger = Ledger(LEDGER, funds=lazy_funds_entries(1, n, LEDGER))
    # The Report API decides its page size; 1000 is its documented maximum.
    with Sandbox(Dataset(ledgers={LEDGER: ledger}), report_page_size=1000) as sandbox:
        ready.put(repr(sandbox.urls()))
        stop.wait()


def run(n: int, flush_rows: int, source: str = "vipps") -> dict[str, float]:
    import ast

    import pyarrow.parquet as pq

    from recon.config import load_config
    from recon.ingest.pull import pull
    from recon.sandbox.server import SandboxCredentials

    ready: mp.Queue[str] = mp.Queue()
    stop = mp.Event()
    proc = mp.Process(target=_serve, args=(n, source, ready, stop), daemon=True)
    proc.start()
    urls = ast.literal_eval(ready.get(timeout=60))
    creds = SandboxCredentials()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "recon.toml"
        cfg.write_text(f"""
[lake]
path = "lake"
flush_rows = {flush_rows}
[vipps]
base_url = "{urls['vipps_base']}"
token_url = "{urls['vipps_token_url']}"
client_id = "{creds.vipps_client_id}"
ledgers = ["{LEDGER}"]
page_size = 1000
""")
        os.environ["RECON_VIPPS_CLIENT_SECRET"] = creds.vipps_client_secret
        config = load_config(cfg)
        t0 = time.perf_counter()
        result = pull(config, [source])
        seconds = time.perf_counter() - t0
        stop.set()
        proc.join(timeout=10)
        assert result.ok, result.sources[0].error
        table = "vipps_sales_entries" if source == "vipps" else "vipps_funds_entries"
        files = sorted((config.lake / "raw" / table).rglob("*.parquet"))
        groups = [pq.ParquetFile(f).metadata.row_group(i).num_rows
                  for f in files for i in range(pq.ParquetFile(f).metadata.num_row_groups)]
        size = sum(f.stat().st_size for f in config.lake.rglob("*.parquet"))
    return {
        "entries": result.sources[0].records,
        "seconds": seconds,
        "entries_per_s": result.sources[0].records / seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "row_groups": len(groups),
        "min_row_group": min(groups),
        "median_row_group": sorted(groups)[len(groups) // 2],
        "lake_mb": size / 1e6,
    }


def _measure(n: int, flush_rows: int, source: str, out: mp.Queue[dict[str, float]]) -> None:
    out.put(run(n, flush_rows, source))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, action="append", help="entries to land (repeatable)")
    parser.add_argument("--flush-rows", type=int, default=100_000)
    parser.add_argument("--source", choices=["vipps", "vipps_report"], default="vipps",
                        help="vipps: the Sales API feed; vipps_report: the Report API's funds feed")
    args = parser.parse_args()
    sizes = args.n or [1_000_000]
    print(f"{'entries':>10} {'seconds':>8} {'entries/s':>10} {'peak RSS MB':>12} {'row groups':>10} "
          f"{'min rows/rg':>11} {'median':>8} {'lake MB':>8}")
    ctx = mp.get_context("spawn")
    for n in sizes:
        # Each size in a fresh process, so that peak RSS belongs to that size alone.
        out: mp.Queue[dict[str, float]] = ctx.Queue()
        proc = ctx.Process(target=_measure, args=(n, args.flush_rows, args.source, out))
        proc.start()
        r = out.get()
        proc.join()
        print(f"{r['entries']:>10,} {r['seconds']:>8.1f} {r['entries_per_s']:>10,.0f} {r['peak_rss_mb']:>12.0f} "
              f"{r['row_groups']:>10} {r['min_row_group']:>11,} {r['median_row_group']:>8,} {r['lake_mb']:>8.1f}")


if __name__ == "__main__":
    main()
