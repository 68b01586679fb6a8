"""Benchmark: land N Vipps entries from the sandbox (pages of 1000), beside the sandbox's own serve rate.

    python bench/ingest.py                # 1,000,000 Sales API entries
    python bench/ingest.py --n 200000 --n 1000000 --repeat 3
    python bench/ingest.py --source vipps_report --n 1000000   # N funds entries (Report API feed)

The sandbox runs in a child process (it serves a lazy, generated ledger in flat memory). For each
size, against the same sandbox process and interleaved --repeat times (medians), each in its own
process (so peak RSS is that step's alone):

* ``serve``: a plain httpx loop fetching the same pages with the same client defaults, reading
  each body and finding the next cursor in its bytes, without parsing or landing: what the
  sandbox can serve, the ceiling for any client on this machine;
* ``recon``: ``recon.ingest.pull.pull`` of the same feed into a fresh lake.

Prints entries/s of both, recon's share of the serve rate, recon's peak RSS and row groups.
Targets (issue 15): ingest ≥ 75 % of the sandbox's own serve rate; memory flat in N. Prints
figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _measure import in_child, machine, machine_line, median

LEDGER = "9000001"


def _serve(n: int, source: str, ready: Any, stop: Any) -> None:
    from recon.sandbox.dataset import Dataset, Ledger
    from recon.sandbox.generate import lazy_funds_entries, lazy_ledger_entries
    from recon.sandbox.server import Sandbox

    if source == "vipps":
        ledger = Ledger(LEDGER, entries=lazy_ledger_entries(1, n, LEDGER))
    else:
        ledger = Ledger(LEDGER, funds=lazy_funds_entries(1, n, LEDGER))
    # The Report API decides its page size; 1000 is its documented maximum.
    with Sandbox(Dataset(ledgers={LEDGER: ledger}), report_page_size=1000) as sandbox:
        ready.put(json.dumps(sandbox.urls()))
        stop.wait()


def serve(urls: dict[str, str], source: str) -> dict[str, Any]:
    """Fetch every page of the feed as recon would, but only read the bytes (the cursor is found
    by a byte search, not by decoding the JSON)."""
    import httpx

    from recon.sandbox.server import SandboxCredentials

    creds = SandboxCredentials()
    base = urls["vipps_base"]
    with httpx.Client(timeout=30) as client:
        token = client.post(urls["vipps_token_url"], data={"grant_type": "client_credentials"},
                            auth=(creds.vipps_client_id, creds.vipps_client_secret)).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        if source == "vipps":
            url, params = f"{base}/sales/report/v1/ledgers/{LEDGER}", {"pageSize": "1000"}
        else:
            url, params = f"{base}/report/v2/ledgers/{LEDGER}/funds/feed", {}
        pages = received = 0
        cursor: str | None = None
        t0 = time.perf_counter()
        while True:
            body = client.get(url, params={**params, **({"cursor": cursor} if cursor else {})}, headers=headers).content
            pages += 1
            received += len(body)
            at = body.rfind(b'"cursor":"') + len(b'"cursor":"')
            following = body[at:body.index(b'"', at)].decode()
            done = (b'"hasMore":false' in body[-200:]) if source == "vipps" else (b'"tryLater":true' in body[-200:])
            if done or following == cursor:
                break
            cursor = following
        seconds = time.perf_counter() - t0
    return {"seconds": seconds, "pages": pages, "mb": received / 1e6}


def run(urls: dict[str, str], n: int, flush_rows: int, source: str = "vipps") -> dict[str, Any]:
    import pyarrow.parquet as pq

    from recon.config import load_config
    from recon.ingest.pull import pull
    from recon.sandbox.server import SandboxCredentials

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
        if not result.ok:
            raise RuntimeError(str(result.sources[0].error))
        table = "vipps_sales_entries" if source == "vipps" else "vipps_funds_entries"
        files = sorted((config.lake / "raw" / table).rglob("*.parquet"))
        groups = [pq.ParquetFile(f).metadata.row_group(i).num_rows
                  for f in files for i in range(pq.ParquetFile(f).metadata.num_row_groups)]
        size = sum(f.stat().st_size for f in config.lake.rglob("*.parquet"))
    return {
        "entries": result.sources[0].records,
        "seconds": seconds,
        "row_groups": len(groups),
        "min_row_group": min(groups),
        "median_row_group": sorted(groups)[len(groups) // 2],
        "lake_mb": size / 1e6,
    }


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, action="append", help="entries to land (repeatable)")
    parser.add_argument("--flush-rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=1, help="interleaved rounds; medians are printed")
    parser.add_argument("--source", choices=["vipps", "vipps_report"], default="vipps",
                        help="vipps: the Sales API feed; vipps_report: the Report API's funds feed")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    info = machine()
    print(machine_line(info))
    print(f"{'entries':>10} {'serve/s':>9} {'recon s':>8} {'recon/s':>9} {'share':>6} {'peak RSS MB':>12} "
          f"{'row groups':>10} {'min rows/rg':>11} {'median':>8} {'lake MB':>8}", flush=True)
    ctx = mp.get_context("spawn")
    out = []
    for n in args.n or [1_000_000]:
        ready: mp.Queue[str] = ctx.Queue()
        stop = ctx.Event()
        server = ctx.Process(target=_serve, args=(n, args.source, ready, stop), daemon=True)
        server.start()
        try:
            urls = json.loads(ready.get(timeout=120))
            served: list[dict[str, Any]] = []
            landed: list[dict[str, Any]] = []
            for _ in range(args.repeat):
                served.append(in_child(serve, urls, args.source))
                landed.append(in_child(run, urls, n, args.flush_rows, args.source))
        finally:
            stop.set()
            server.join(timeout=10)
        entries = landed[-1]["entries"]
        serve_rate = entries / median([r["seconds"] for r in served])
        recon_rate = entries / median([r["seconds"] for r in landed])
        r = landed[-1]
        row = {"entries": entries, "serve_per_s": serve_rate, "recon_seconds": median([x["seconds"] for x in landed]),
               "recon_per_s": recon_rate, "share": recon_rate / serve_rate,
               "peak_rss_mb": max(x["peak_rss_mb"] for x in landed), "serve_peak_rss_mb": max(x["peak_rss_mb"]
                                                                                              for x in served),
               "row_groups": r["row_groups"], "min_row_group": r["min_row_group"],
               "median_row_group": r["median_row_group"], "lake_mb": r["lake_mb"], "pages": served[-1]["pages"],
               "machine": info}
        out.append(row)
        print(f"{entries:>10,} {serve_rate:>9,.0f} {row['recon_seconds']:>8.1f} {recon_rate:>9,.0f} "
              f"{row['share']:>6.0%} {row['peak_rss_mb']:>12.0f} {r['row_groups']:>10} {r['min_row_group']:>11,} "
              f"{r['median_row_group']:>8,} {r['lake_mb']:>8.1f}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    return out


if __name__ == "__main__":
    main()
