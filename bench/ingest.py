"""Benchmark: land N entries of one source from the sandbox (pages of 1000), beside the sandbox's own serve rate.

    python bench/ingest.py                # 1,000,000 Sales API entries
    python bench/ingest.py --n 200000 --n 1000000 --repeat 3
    python bench/ingest.py --source vipps_report --n 1000000   # N funds entries (Report API feed)
    python bench/ingest.py --source entur --n 1000000          # N payments and N/10 credits
    python bench/ingest.py --source samtrafiken --n 1000000    # N booking events

The sandbox runs in a child process (it serves lazy, generated records in flat memory: the Entur
payments and Samtrafiken events are derived from the Vipps captures as in bench/end_to_end.py, and
an Entur credit refunds every tenth payment). For each size, against the same sandbox process and
interleaved --repeat times (medians), each in its own process (so peak RSS is that step's alone):

* ``serve``: a plain httpx loop fetching the same pages with the same client defaults, reading
  each body and finding the next cursor (Entur: the page count) in its bytes, without parsing or
  landing: what the sandbox can serve, the ceiling for any client on this machine;
* ``recon``: ``recon.ingest.pull.pull`` of the same feed into a fresh lake.

Prints entries/s of both, recon's share of the serve rate, the CPU each spends on a record (the
sandbox's while serving the plain loop, read from /proc; recon's own: both share the two cores, so
these say what the share can reach), recon's peak RSS and row groups.
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

from _measure import cpu_seconds, in_child, machine, machine_line, median

LEDGER = "9000001"
SOURCES = ("vipps", "vipps_report", "entur", "samtrafiken")
# The table whose row groups are counted; the main one of each source.
TABLES = {"vipps": "vipps_sales_entries", "vipps_report": "vipps_funds_entries", "entur": "entur_payments",
          "samtrafiken": "samtrafiken_booking_events"}
ENTUR_CLIENT = "acme-recon"


def _credits(entries: Any) -> Any:
    """Entur credit j refunding payment 10·j in full (bench/end_to_end.py's Payments), on demand."""
    from end_to_end import _decimal, _Derived

    class Credits(_Derived):
        def __len__(self) -> int:
            return len(self.entries) // 10

        def _build(self, i: int) -> dict[str, Any]:
            e = self.entries[10 * i]
            amount = _decimal(e["amounts"]["gross"])
            return {
                "creditId": 200_000_000 + i, "orderId": e["reference"], "orderVersion": 2,
                "organisationId": 1, "totalCreditAmount": amount, "currency": "NOK", "status": "CREDITED",
                "createdAt": e["time"], "active": False,
                "creditTransactions": [{
                    "transactionId": 600_000_000 + i, "paymentTransactionId": 500_000_000 + 10 * i,
                    "amount": amount, "currency": "NOK", "reimbursementMethod": "VIPPS",
                    "reimbursementTypeGroup": "MOBILE", "externalTransactionId": e["pspReference"],
                    "status": "CREDITED", "createdAt": e["time"],
                }],
            }

    return Credits(entries)


def _serve(n: int, source: str, ready: Any, stop: Any) -> None:
    from end_to_end import Events, Payments

    from recon.sandbox.dataset import Dataset, Ledger
    from recon.sandbox.generate import lazy_funds_entries, lazy_ledger_entries
    from recon.sandbox.server import Sandbox

    entries = lazy_ledger_entries(1, n, LEDGER)
    if source == "vipps":
        dataset = Dataset(ledgers={LEDGER: Ledger(LEDGER, entries=entries)})
    elif source == "vipps_report":
        dataset = Dataset(ledgers={LEDGER: Ledger(LEDGER, funds=lazy_funds_entries(1, n, LEDGER))})
    elif source == "entur":
        dataset = Dataset(payments=Payments(entries), credits=_credits(entries))
    else:
        dataset = Dataset(events=Events(entries))
    # The Report API decides its page size; 1000 is its documented maximum.
    with Sandbox(dataset, report_page_size=1000) as sandbox:
        ready.put(json.dumps(sandbox.urls()))
        stop.wait()


def _token(client: Any, urls: dict[str, str], source: str) -> dict[str, str]:
    """The headers of a data request, with a token got the way recon gets it."""
    from recon.sandbox.server import SandboxCredentials

    creds = SandboxCredentials()
    if source == "entur":
        doc = client.post(urls["entur_token_url"], json={
            "client_id": creds.entur_client_id, "client_secret": creds.entur_client_secret,
            "audience": creds.entur_audience, "grant_type": "client_credentials"}).json()
        return {"Authorization": f"Bearer {doc['access_token']}", "ET-Client-Name": ENTUR_CLIENT}
    if source == "samtrafiken":
        import uuid

        import jwt

        from recon.sandbox.keys import sandbox_private_key_pem

        now = int(time.time())
        assertion = jwt.encode({"iss": creds.samtrafiken_client_id, "sub": creds.samtrafiken_client_id,
                                "aud": urls["samtrafiken_token_url"], "iat": now, "exp": now + 120,
                                "jti": uuid.uuid4().hex},
                               sandbox_private_key_pem(), algorithm="RS256", headers={"kid": creds.samtrafiken_kid})
        doc = client.post(urls["samtrafiken_token_url"], data={
            "grant_type": "client_credentials", "client_assertion": assertion,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}).json()
        return {"Authorization": f"Bearer {doc['access_token']}"}
    doc = client.post(urls["vipps_token_url"], data={"grant_type": "client_credentials"},
                      auth=(creds.vipps_client_id, creds.vipps_client_secret)).json()
    return {"Authorization": f"Bearer {doc['access_token']}"}


def _after(body: bytes, key: bytes) -> bytes:
    """The value of the last ``"key":`` in the body, as bytes (a string's quotes removed)."""
    at = body.rfind(b'"' + key + b'":') + len(key) + 3
    end = min(i for i in (body.find(b",", at), body.find(b"}", at), len(body)) if i >= 0)
    return body[at:end].strip(b'" ')


def serve(urls: dict[str, str], source: str) -> dict[str, Any]:
    """Fetch every page of the feed as recon would, but only read the bytes (the cursor or the
    page count is found by a byte search, not by decoding the JSON)."""
    import httpx

    pages = received = 0
    with httpx.Client(timeout=30) as client:
        headers = _token(client, urls, source)
        t0, cpu0 = time.perf_counter(), cpu_seconds()

        def get(url: str, params: dict[str, str]) -> bytes:
            nonlocal pages, received
            body = client.get(url, params=params, headers=headers).content
            pages += 1
            received += len(body)
            return body

        if source == "entur":
            # Page-numbered: page 1 (the sandbox's base) says how many pages there are.
            for path in ("payments", "credits"):
                url = f"{urls['entur_base']}/sales/v1/{path}"
                total = int(_after(get(url, {"page": "1", "perPage": "1000"}), b"totalPages"))
                for number in range(2, total + 1):
                    get(url, {"page": str(number), "perPage": "1000"})
        elif source == "samtrafiken":
            url, cursor = f"{urls['samtrafiken_base']}/bookings/v1/events", None
            while True:
                body = get(url, {"organizationCode": "RET1", "limit": "1000", **({"after": cursor} if cursor else {})})
                cursor = _after(body, b"nextCursor").decode()
                if b'"hasMore":false' in body[-200:]:
                    break
        else:
            base = urls["vipps_base"]
            if source == "vipps":
                url, params = f"{base}/sales/report/v1/ledgers/{LEDGER}", {"pageSize": "1000"}
            else:
                url, params = f"{base}/report/v2/ledgers/{LEDGER}/funds/feed", {}
            cursor = None
            while True:
                body = get(url, {**params, **({"cursor": cursor} if cursor else {})})
                following = _after(body, b"cursor").decode()
                done = (b'"hasMore":false' in body[-200:]) if source == "vipps" else (b'"tryLater":true' in body[-200:])
                if done or following == cursor:
                    break
                cursor = following
        seconds, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    return {"seconds": seconds, "cpu_seconds": cpu, "pages": pages, "mb": received / 1e6}


def _config(urls: dict[str, str], source: str) -> str:
    """The recon.toml section of ``source``, pointed at the sandbox (pages of 1000)."""
    from recon.sandbox.server import SandboxCredentials

    creds = SandboxCredentials()
    if source == "entur":
        os.environ["RECON_ENTUR_CLIENT_SECRET"] = creds.entur_client_secret
        return f"""[entur]
base_url = "{urls['entur_base']}"
token_url = "{urls['entur_token_url']}"
audience = "{creds.entur_audience}"
client_id = "{creds.entur_client_id}"
client_name = "{ENTUR_CLIENT}"
page_size = 1000
page_base = 1
"""
    if source == "samtrafiken":
        from recon.sandbox.keys import sandbox_private_key_pem

        os.environ["RECON_SAMTRAFIKEN_PRIVATE_KEY"] = sandbox_private_key_pem()
        return f"""[samtrafiken]
base_url = "{urls['samtrafiken_base']}"
token_url = "{urls['samtrafiken_token_url']}"
client_id = "{creds.samtrafiken_client_id}"
kid = "{creds.samtrafiken_kid}"
organization_code = "RET1"
page_size = 1000
"""
    os.environ["RECON_VIPPS_CLIENT_SECRET"] = creds.vipps_client_secret
    return f"""[vipps]
base_url = "{urls['vipps_base']}"
token_url = "{urls['vipps_token_url']}"
client_id = "{creds.vipps_client_id}"
ledgers = ["{LEDGER}"]
page_size = 1000
"""


def run(urls: dict[str, str], n: int, flush_rows: int, source: str = "vipps") -> dict[str, Any]:
    import pyarrow.parquet as pq

    from recon.config import load_config
    from recon.ingest.pull import pull

    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "recon.toml"
        cfg.write_text(f"""
[lake]
path = "lake"
flush_rows = {flush_rows}
{_config(urls, source)}""")
        config = load_config(cfg)
        t0, cpu0 = time.perf_counter(), cpu_seconds()
        result = pull(config, [source])
        seconds, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
        if not result.ok:
            raise RuntimeError(str(result.sources[0].error))
        files = sorted((config.lake / "raw" / TABLES[source]).rglob("*.parquet"))
        groups = [pq.ParquetFile(f).metadata.row_group(i).num_rows
                  for f in files for i in range(pq.ParquetFile(f).metadata.num_row_groups)]
        size = sum(f.stat().st_size for f in config.lake.rglob("*.parquet"))
    return {
        "entries": result.sources[0].records,
        "quarantined": result.sources[0].quarantined,
        "seconds": seconds,
        "cpu_seconds": cpu,
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
    parser.add_argument("--source", choices=SOURCES, default="vipps",
                        help="vipps: the Sales API feed; vipps_report: the Report API's funds feed; entur: "
                             "payments and credits; samtrafiken: the booking event feed")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    info = machine()
    print(machine_line(info))
    print(f"{'entries':>10} {'serve/s':>9} {'recon s':>8} {'recon/s':>9} {'share':>6} {'sandbox CPU µs/rec':>18} "
          f"{'recon CPU µs/rec':>16} {'peak RSS MB':>12} {'row groups':>10} {'min rows/rg':>11} {'median':>8} "
          f"{'lake MB':>8}", flush=True)
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
                for fn, fn_args, results in ((serve, (urls, args.source), served),
                                             (run, (urls, n, args.flush_rows, args.source), landed)):
                    before = cpu_seconds(server.pid)
                    results.append(in_child(fn, *fn_args))
                    results[-1]["sandbox_cpu_seconds"] = cpu_seconds(server.pid) - before
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
               "quarantined": r["quarantined"],
               # CPU per record: the sandbox's while it served the plain loop, and recon's own
               # (issue 15: 75 % of the serve rate needs recon's pull within 4/3 of the sandbox's).
               "sandbox_cpu_us": median([x["sandbox_cpu_seconds"] for x in served]) / entries * 1e6,
               "recon_cpu_us": median([x["cpu_seconds"] for x in landed]) / entries * 1e6,
               "machine": info}
        out.append(row)
        print(f"{entries:>10,} {serve_rate:>9,.0f} {row['recon_seconds']:>8.1f} {recon_rate:>9,.0f} "
              f"{row['share']:>6.0%} {row['sandbox_cpu_us']:>18.1f} {row['recon_cpu_us']:>16.1f} "
              f"{row['peak_rss_mb']:>12.0f} {r['row_groups']:>10} {r['min_row_group']:>11,} "
              f"{r['median_row_group']:>8,} {r['lake_mb']:>8.1f}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    return out


if __name__ == "__main__":
    main()
