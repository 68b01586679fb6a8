"""What `recon status` shows: per source its cursors, last runs, rows landed and quarantine."""

from __future__ import annotations

import json
from typing import Any

from recon.config import Config
from recon.lake.catalog import connect, scalar
from recon.lake.schemas import TABLES
from recon.lake.store import Lake


def collect_status(config: Config) -> dict[str, Any]:
    lake = Lake(config.lake)
    runs = lake.run_manifests()
    con = connect(lake)
    try:
        counts = {name: scalar(con, f"SELECT count(*) FROM {name}") for name in TABLES}
        quarantine = con.execute(
            "SELECT source, reason_code, count(*) FROM quarantine GROUP BY ALL ORDER BY 1, 3 DESC, 2"
        ).fetchall()
        newest = {name: scalar(con, f"SELECT max(business_date) FROM {name}") for name, spec in TABLES.items()
                  if spec.partition == "business_date"}
        last_job = con.execute(
            "SELECT run_id, finished_at, exit_code, list(struct_pack(source, outcome, error) ORDER BY source) "
            "FROM recon_runs GROUP BY ALL ORDER BY finished_at DESC LIMIT 1").fetchone()
    finally:
        con.close()
    sources: dict[str, Any] = {}
    for name in config.sources():
        state_dir = lake.state_dir / name
        states = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(state_dir.glob("*.json"))}
        last_ok = next((r for r in runs for s in r.get("sources", [])
                        if s.get("source") == name and s.get("ok")), None)
        last = next((r for r in runs for s in r.get("sources", []) if s.get("source") == name), None)
        sources[name] = {
            "state": {k: {kk: v.get(kk) for kk in ("cursor", "watermark", "seq") if kk in v}
                      for k, v in states.items()},
            "last_run": last and last["run_id"],
            "last_successful_run": last_ok and last_ok["run_id"],
            "last_successful_at": last_ok and last_ok.get("finished_at"),
            "rows": {t: counts[t] for t, spec in TABLES.items() if spec.source == name},
            "newest_business_date": max((str(newest[t]) for t, spec in TABLES.items()
                                         if spec.source == name and newest.get(t) is not None), default=None),
            "quarantined": {reason: n for src, reason, n in quarantine if src == name},
        }
    folder = config.reports_folder
    reports = sorted(folder.glob("*.xlsx"), key=lambda p: p.stat().st_mtime)
    job = None
    if last_job is not None:
        run_id, finished, exit_code, outcomes = last_job
        job = {"run_id": run_id, "finished_at": finished.isoformat() if finished else None, "exit_code": exit_code,
               "sources": {o["source"]: {"outcome": o["outcome"], "error": o["error"]} for o in outcomes
                           if o["source"]}}
    return {"lake": str(lake.root), "last_job": job, "sources": sources,
            "newest_workbook": str(reports[-1]) if reports else None}


def format_status(info: dict[str, Any]) -> str:
    lines = [f"lake: {info['lake']}"]
    job = info.get("last_job")
    if job:
        verdict = {0: "ok", 3: "a source failed (rows of its checks marked incomplete)",
                   5: "exceptions found (--fail-on-mismatch)"}.get(job["exit_code"], "see its log")
        lines.append(f"last recon run: {job['run_id']} finished {job['finished_at']}, exit {job['exit_code']}: "
                     f"{verdict}")
        for source, o in job["sources"].items():
            lines.append(f"  {source}: {o['outcome']}" + (f" ({o['error']})" if o["error"] else ""))
    for name, s in info["sources"].items():
        lines.append(f"\n{name}")
        lines.append(f"  last successful run: {s['last_successful_run'] or 'never'}"
                     + (f" (finished {s['last_successful_at']})" if s["last_successful_at"] else ""))
        if s["last_run"] and s["last_run"] != s["last_successful_run"]:
            lines.append(f"  last run (failed):   {s['last_run']}")
        for key, st in s["state"].items():
            shown = ", ".join(f"{k}={v}" for k, v in st.items())
            lines.append(f"  {key}: {shown or '-'}")
        lines.append(f"  newest business date landed: {s['newest_business_date'] or 'none'}")
        for table, n in s["rows"].items():
            lines.append(f"  {table}: {n} rows")
        if s["quarantined"]:
            lines.append(f"  quarantined: {sum(s['quarantined'].values())}")
            for reason, n in s["quarantined"].items():
                lines.append(f"    {n:6d}  {reason}")
        else:
            lines.append("  quarantined: 0")
    lines.append(f"\nnewest workbook: {info['newest_workbook'] or 'none yet'}")
    return "\n".join(lines)
