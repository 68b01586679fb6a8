"""Benchmark: `recon run` on one day of N entries per source, end to end, against the sandbox.

    python bench/end_to_end.py                 # 200,000 entries per source (the issue's day)
    python bench/end_to_end.py --n 5000        # what the smoke test runs

The sandbox runs in a child process and serves one business day, built on demand (flat memory):
N Vipps Sales API captures (recon.sandbox.generate.lazy_ledger_entries), the Report API funds
feed settling each of them (same pspReference and amount, running balances, one payout), one
Entur payment per capture (a CAPTURED Vipps transaction, or a card one for an mPOS card sale)
and one Samtrafiken booking event per order. The data agree, so the run finds no exception.

Then the real CLI, ``recon run --from D --to D`` as cron would call it (a fresh interpreter, with
``--log-format json``), pulls every source in parallel, reconciles and writes the workbook. Prints
the total wall seconds and the split into pull / reconcile / report, read from the run's own log
events, each source's pull seconds, and the peak RSS of the recon process (the sources' pulls run
in child processes of a fork server, which that figure does not include). Target (issue 15):
under 15 s on 2 cores at 200k. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, overload

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _measure import cpu_seconds, machine, machine_busy_seconds, machine_line

LEDGER = "9000001"
DAY = "2026-10-24"


def _decimal(minor: int) -> str:
    """Minor units as Entur's two-decimal string, from integers."""
    return str(Decimal(minor).scaleb(-2).quantize(Decimal("0.01")))


class _Derived(Sequence[dict[str, Any]]):
    """Record i of another API, derived on demand from Vipps capture i (flat memory)."""

    def __init__(self, entries: Sequence[dict[str, Any]]) -> None:
        self.entries = entries

    def __len__(self) -> int:
        return len(self.entries)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...
    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [self._build(i) for i in range(*index.indices(len(self)))]
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        return self._build(index % len(self))

    def _build(self, i: int) -> dict[str, Any]:
        raise NotImplementedError


class Payments(_Derived):
    """Entur payment i (paymentId order, as the sandbox expects of a lazy sequence) for capture i."""

    def _build(self, i: int) -> dict[str, Any]:
        e = self.entries[i]
        amount = _decimal(e["amounts"]["gross"])
        card = e["paymentType"] == "CARD"  # an mPOS card sale: Entur saw a card payment
        return {
            "paymentId": 100_000_000 + i, "orderId": e["reference"], "orderVersion": 1, "totalAmount": amount,
            "currency": "NOK", "createdAt": e["time"], "updatedAt": e["time"], "active": True,
            "transactionHistory": [{
                "transactionId": 500_000_000 + i, "status": "CAPTURED", "amount": amount, "currency": "NOK",
                "summary": {"capturedAmount": amount}, "createdAt": e["time"],
                "paymentType": "BANKCARD" if card else "VIPPS", "paymentTypeGroup": "CARD" if card else "MOBILE",
                "externalTransactionId": None if card else e["pspReference"],
            }],
        }


class Events(_Derived):
    """Samtrafiken booking event i: order i fulfilled."""

    def _build(self, i: int) -> dict[str, Any]:
        e = self.entries[i]
        return {"eventId": f"E{i:09d}", "eventTime": e["time"], "bookingId": f"B{i:09d}",
                "bookingNumber": f"SJ{i:09d}", "status": "FULFILLED", "organizationCode": "RET1", "producer": "74",
                "retailerReference": e["reference"], "currency": "NOK",
                "totalPrice": _decimal(e["amounts"]["gross"]), "refundAmount": None, "cancellationFee": None}


class Funds(_Derived):
    """The Report API funds feed of the day: capture i settled as sent, then one payout."""

    RESERVE = 100_000

    def __init__(self, entries: Sequence[dict[str, Any]]) -> None:
        super().__init__(entries)
        import numpy as np

        gross = np.fromiter((e["amounts"]["gross"] for e in entries), dtype=np.int64, count=len(entries))
        self.before = self.RESERVE + np.concatenate([[0], np.cumsum(gross)])  # balance before entry i

    def __len__(self) -> int:
        return len(self.entries) + 1

    def _build(self, i: int) -> dict[str, Any]:
        before = int(self.before[i])
        if i == len(self.entries):
            return {"pspReference": f"{LEDGER}-1", "time": f"{DAY}T21:00:00.000000Z", "ledgerDate": DAY,
                    "entryType": "payout-scheduled", "reference": "payout-1", "currency": "NOK",
                    "amount": self.RESERVE - before, "balanceBefore": before, "balanceAfter": self.RESERVE}
        e = self.entries[i]
        amount = e["amounts"]["gross"]
        return {"pspReference": e["pspReference"], "time": e["time"].replace("Z", ".000000Z"), "ledgerDate": DAY,
                "entryType": "capture", "reference": e["reference"], "currency": "NOK", "amount": amount,
                "balanceBefore": before, "balanceAfter": before + amount, "recipientHandle": f"NO:{LEDGER}"}


def dataset(n: int) -> Any:
    from recon.sandbox.dataset import Dataset, Ledger
    from recon.sandbox.generate import lazy_ledger_entries

    entries = lazy_ledger_entries(1, n, LEDGER, start=DAY, days=1)
    ledger = Ledger(LEDGER, entries=entries, funds=Funds(entries), open_from=None)
    return Dataset(ledgers={LEDGER: ledger}, payments=Payments(entries), events=Events(entries))


def _serve(n: int, ready: Any, stop: Any) -> None:
    from recon.sandbox.server import Sandbox

    with Sandbox(dataset(n), report_page_size=1000) as sandbox:
        ready.put(json.dumps(sandbox.urls()))
        stop.wait()


def _events(log: Path) -> list[dict[str, Any]]:
    out = []
    for line in log.read_text(encoding="utf-8").splitlines():
        try:
            doc = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(doc, dict):
            out.append(doc)
    return out


def _is(doc: dict[str, Any], event: str) -> bool:
    """The event by its name, or (logs without event names) by its message."""
    return doc.get("event") == event or event.replace("_", " ") in str(doc.get("message", ""))


def _at(doc: dict[str, Any]) -> float:
    return datetime.fromisoformat(str(doc["time"])).timestamp()


def split(started: float, events: list[dict[str, Any]], lake: Path, workbook: Path | None) -> dict[str, float]:
    """Seconds of each phase, on the wall clock: startup (interpreter, config, lock) until the
    ``run_started`` event, pull until the last source's ``pull_finished``, reconcile until the last
    result file was written, report until the workbook was."""
    marks = {"startup": next((_at(e) for e in events if _is(e, "run_started")), None),
             "pull": max((_at(e) for e in events if _is(e, "pull_finished")), default=None)}
    results = [p.stat().st_mtime for p in (lake / "results").rglob("data.parquet")]
    marks["reconcile"] = max(results) if results else None
    marks["report"] = workbook.stat().st_mtime if workbook and workbook.exists() else None
    out: dict[str, float] = {}
    previous = started
    for name, at in marks.items():
        if at is not None:
            out[name] = at - previous
            previous = at
    return out


def run(n: int, keep: Path | None = None) -> dict[str, Any]:
    from recon.sandbox.client_config import config_text, secret_env
    from recon.sandbox.keys import sandbox_private_key_pem
    from recon.sandbox.server import SandboxCredentials

    ctx = mp.get_context("spawn")
    ready, stop = ctx.Queue(), ctx.Event()
    server = ctx.Process(target=_serve, args=(n, ready, stop), daemon=True)
    t_serve = time.perf_counter()
    server.start()
    try:
        urls = json.loads(ready.get(timeout=300))
        serve_start = time.perf_counter() - t_serve
        root = keep or Path(tempfile.mkdtemp(prefix="recon-bench-e2e-"))
        root.mkdir(parents=True, exist_ok=True)
        creds = SandboxCredentials()
        cfg = root / "recon.toml"
        cfg.write_text(config_text(urls, creds, dataset(0), lake=root / "lake", page_size=1000,
                                   http="connect_timeout = 5\nread_timeout = 60\nmax_attempts = 3",
                                   extra='[vipps_report]\nenabled = true\n'), encoding="utf-8")
        cfg.write_text(cfg.read_text().replace('ledgers = []', f'ledgers = ["{LEDGER}"]'))
        env = {**os.environ, **secret_env(creds, sandbox_private_key_pem())}
        cmd = [sys.executable, "-m", "recon.cli", "--log-format", "json", "run", "--config", str(cfg),
               "--from", DAY, "--to", DAY]
        # CPU seconds: the sandbox's (still running, so read from /proc), the recon process's own
        # (waited for: RUSAGE_CHILDREN; its pull processes come from a fork server, so they are
        # not in it), and the whole machine's, of which the rest is those pulls and anything else.
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        sandbox_cpu, busy = cpu_seconds(server.pid), machine_busy_seconds()
        started, t0 = time.time(), time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - t0
        sandbox_cpu, busy = cpu_seconds(server.pid) - sandbox_cpu, machine_busy_seconds() - busy
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        recon_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        peak = after.ru_maxrss / 1024
    finally:
        stop.set()
        server.join(timeout=10)
    try:
        return {**_figures(root, proc, started, seconds, serve_start, peak, n),
                "sandbox_cpu_seconds": sandbox_cpu, "recon_main_cpu_seconds": recon_cpu, "machine_busy_seconds": busy}
    finally:
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)


def _figures(root: Path, proc: Any, started: float, seconds: float, serve_start: float, peak: float,
             n: int) -> dict[str, Any]:
    if proc.returncode != 0:
        raise RuntimeError(f"recon run exited {proc.returncode}: {proc.stderr[-2000:]}")
    logs = sorted((root / "lake" / "_logs").glob("*.log"))
    events = _events(logs[-1]) if logs else []
    if not events:
        events = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    books = sorted((root / "reports").glob("*.xlsx"))
    parts = split(started, events, root / "lake", books[-1] if books else None)
    records = {}
    source_seconds = {}
    for e in events:
        found = re.match(r"(\w+): pull finished: \d+ pages, (\d+) records", str(e.get("message", "")))
        if found:
            records[found.group(1)] = int(found.group(2))
            if "seconds" in e:
                source_seconds[found.group(1)] = float(e["seconds"])
    return {"entries_per_source": n, "seconds": seconds, **parts, "sandbox_start_seconds": serve_start,
            "peak_rss_mb": peak, "exit_code": proc.returncode, "records": records,
            "source_seconds": source_seconds,
            "summary": proc.stdout.strip().splitlines()[-3:]}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200_000, help="entries per source for the day")
    parser.add_argument("--keep", type=Path, help="keep the config and lake in this folder")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    info = machine()
    print(machine_line(info), flush=True)
    started = datetime.now(UTC)
    r = run(args.n, args.keep)
    r["machine"] = info
    r["started"] = started.isoformat()
    shares = "  ".join(f"{k} {r[k]:.1f}s ({r[k] / r['seconds']:.0%})"
                       for k in ("startup", "pull", "reconcile", "report") if k in r)
    print(f"recon run, one day of {args.n:,} entries per source: {r['seconds']:.1f}s  ({shares});"
          f" peak RSS of the main process {r['peak_rss_mb']:.0f} MB; exit {r['exit_code']}")
    rest = r["machine_busy_seconds"] - r["sandbox_cpu_seconds"] - r["recon_main_cpu_seconds"]
    print(f"  CPU: the machine busy {r['machine_busy_seconds']:.1f}s of the {info['cores'] * r['seconds']:.1f}s"
          f" its {info['cores']} cores had: the sandbox {r['sandbox_cpu_seconds']:.1f}s, recon's main process"
          f" {r['recon_main_cpu_seconds']:.1f}s, recon's pull processes and anything else {rest:.1f}s")
    print("  records pulled: " + ", ".join(f"{k} {v:,}" + (f" in {r['source_seconds'][k]:.1f}s" if k in
                                                          r["source_seconds"] else "")
                                       for k, v in sorted(r["records"].items()) if v is not None))
    print("  " + "\n  ".join(r["summary"]))
    if args.json:
        args.json.write_text(json.dumps(r, indent=1, default=str) + "\n")
    return r


if __name__ == "__main__":
    main()
