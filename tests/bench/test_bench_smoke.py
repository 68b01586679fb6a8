"""The benchmarks at a tiny size, as subprocesses (as people run them), so that they cannot rot.

Each bench writes its figures as JSON (--json) beside what it prints; the checks are on what
the figures must say whatever the machine, never on how fast it was.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"


def bench(script: str, *args: str, tmp: Path) -> tuple[str, dict | list]:
    out = tmp / f"{script}.json"
    proc = subprocess.run([sys.executable, str(BENCH / f"{script}.py"), *args, "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith("machine: ") and " cores, " in proc.stdout.splitlines()[0]
    return proc.stdout, json.loads(out.read_text())


def test_reconcile_bench_lake_yields_exactly_the_planted_codes(tmp_path):
    stdout, r = bench("reconcile", "--n", "8000", "--days", "6", "--period-days", "3", "--plant", "30",
                      tmp=tmp_path)
    sys.path.insert(0, str(BENCH))
    try:
        import _lake
    finally:
        sys.path.remove(str(BENCH))
    # The generator is realistic enough that recon finds every code, each exactly as often as planted
    # (the answer key), and nothing else: re-landed rows, Entur versions, partial captures, out-of-scope
    # mPOS and cash sales and ePayment entries raise nothing of their own.
    assert set(r["answer_key"]) == set(_lake.CODES)
    assert all(count > 0 for count in r["answer_key"].values())
    assert r["by_code"] == r["answer_key"]
    # Every step ran, in a process of its own, and the table printed parses.
    assert set(r["steps"]) == {"recon", "floor", "reads", "bare join", "pandas"}
    assert r["steps"]["floor"]["x_floor"] == 1.0
    for step, figures in r["steps"].items():
        assert figures["seconds"] > 0 and figures["peak_rss_mb"] > 50 and figures["rows"] > 0
        line = re.search(rf"^{re.escape(step)}\s+([\d.]+)\s+([\d.]+)\s+(\d+)\s+(\d+)\s+([\d,]+)$", stdout, re.M)
        assert line, step
        assert int(line.group(5).replace(",", "")) == figures["rows"]
    # The floor, the bare join and pandas read the same rows of the period.
    assert r["steps"]["floor"]["rows"] == r["steps"]["bare join"]["rows"] == r["steps"]["pandas"]["rows"]
    # What reconcile reads is more than the floor's two sides (the lines, the Report API feeds, the
    # bookings...) and no more than the lake holds.
    assert r["steps"]["floor"]["rows"] < r["steps"]["reads"]["rows"] <= sum(r["lake"]["rows"].values())
    # The lake spans days beyond the read window, spread over every partition of its days.
    assert r["lake"]["files"] > 6 * 9 and r["lake"]["rows"]["vipps_sales_lines"] > r["lake"]["rows"][
        "vipps_sales_entries"]


def test_ingest_bench_prints_recons_share_of_the_serve_rate(tmp_path):
    stdout, rows = bench("ingest", "--n", "3000", tmp=tmp_path)
    (r,) = rows
    assert r["entries"] == 3000
    assert r["serve_per_s"] > 0 and r["recon_per_s"] > 0
    assert abs(r["share"] - r["recon_per_s"] / r["serve_per_s"]) < 1e-9
    assert r["pages"] == 3  # pages of 1000, the same pages recon reads
    # Both processes did work for these records (NaN, where /proc cannot tell, fails too).
    assert r["sandbox_cpu_us"] > 0 and r["recon_cpu_us"] > 0
    assert re.search(r"^\s+3,000\s+[\d,]+\s+[\d.]+\s+[\d,]+\s+\d+%", stdout, re.M)


def test_excel_bench_counts_the_cells_written(tmp_path):
    proc = subprocess.run([sys.executable, str(BENCH / "excel.py"), "--rows", "300"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = {m.group(1): m for m in re.finditer(r"^(writer|report)\s+300\s+([\d,]+)\s", proc.stdout, re.M)}
    assert set(lines) == {"writer", "report"}
    cells = {mode: int(m.group(2).replace(",", "")) for mode, m in lines.items()}
    # Empty values are not cells: fewer than (rows + header) × columns, and both paths write the same.
    sys.path.insert(0, str(BENCH))
    try:
        import excel
    finally:
        sys.path.remove(str(BENCH))
    from recon.reports.sheets import MISMATCHES

    assert cells["writer"] == cells["report"]
    assert 300 * 10 < cells["writer"] < 301 * len(MISMATCHES.columns)
    book = tmp_path / "one.xlsx"
    from recon.reports.excel import ReportWorkbook

    w = ReportWorkbook()
    w.table("T", MISMATCHES.columns[:3], iter([("a", None, "c")]))
    w.save(book)
    assert excel.written_cells(str(book)) == 3 + 2  # the header's three cells and the row's two


def test_end_to_end_bench_runs_recon_run_on_a_day(tmp_path):
    stdout, r = bench("end_to_end", "--n", "500", tmp=tmp_path)
    assert r["exit_code"] == 0
    # The Report API: a funds entry per capture, the payout, and the one ledger of the ledger list.
    assert r["records"] == {"vipps": 500, "vipps_report": 502, "entur": 500, "samtrafiken": 500}
    assert all(r[phase] > 0 for phase in ("startup", "pull", "reconcile", "report"))
    assert sum(r[phase] for phase in ("startup", "pull", "reconcile", "report")) <= r["seconds"] + 0.5
    assert "0 exceptions" in stdout  # the day's sources agree
    # Both sides' CPU was counted, within what the machine spent.
    assert r["sandbox_cpu_seconds"] > 0 and r["recon_main_cpu_seconds"] > 0
    assert r["sandbox_cpu_seconds"] + r["recon_main_cpu_seconds"] <= r["machine_busy_seconds"] + 0.1
