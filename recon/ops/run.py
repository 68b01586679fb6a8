"""`recon run`: what cron calls. Pull everything due, reconcile the due period, write the workbook."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from recon.config import Config
from recon.errors import ConfigError
from recon.ingest.pull import PullResult
from recon.ingest.records import Progress
from recon.lake.store import Lake
from recon.ops.sandboxed import pull
from recon.timeutil import today_in

log = logging.getLogger("recon.run")


@dataclass
class RunResult:
    run_id: str
    date_from: date
    date_to: date
    pull: PullResult
    report: Any | None  # recon.reports.workbook.ReportResult when the sources were all pulled

    @property
    def mismatches(self) -> int:
        return self.report.reconcile.mismatches if self.report else 0


def due_period(config: Config, today: date | None = None) -> tuple[date, date]:
    """Yesterday in the ledger's zone, plus the configured number of earlier days."""
    tz = config.reconcile.timezone
    yesterday = (today or today_in(tz)) - timedelta(days=1)
    return yesterday - timedelta(days=config.run.recheck_days), yesterday


def run_job(
    config: Config,
    run_id: str,
    *,
    date_from: date | None = None,
    date_to: date | None = None,
    sources: list[str] | None = None,
    today: date | None = None,
    on_progress: Callable[[str, Progress], None] | None = None,
) -> RunResult:
    """Pull (sources in parallel), then reconcile and write the workbook. The caller holds the lock.

    When a source fails nothing is reconciled: a half-pulled day would show every record of
    the missing source as a mismatch. The rerun resumes where the data is safe.
    """
    from recon.reports.workbook import write_report

    if (date_from is None) != (date_to is None):
        raise ConfigError("--from and --to go together")
    if date_from is not None and date_to is not None and date_to < date_from:
        raise ConfigError(f"--to {date_to} is before --from {date_from}")
    if date_from is None or date_to is None:
        date_from, date_to = due_period(config, today)
    started = datetime.now(UTC)
    log.info("run started: period %s .. %s", date_from, date_to)
    pulled = pull(config, sources, run_id=run_id, on_progress=on_progress, parallel=True)
    report = None
    if pulled.ok:
        report = write_report(config, date_from, date_to, today=today, run_id=run_id)
        log.info("run finished: %d exceptions, workbook %s", report.reconcile.mismatches, report.path)
    else:
        failed = ", ".join(r.source for r in pulled.failures())
        log.error("not reconciled because %s failed; a rerun resumes where the data is safe", failed)
    # The whole job's interval under the lock: what the reliability suite checks for overlaps.
    Lake(config.lake).write_state({
        "run_id": run_id, "kind": "run", "started_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(), "ok": report is not None,
        "period": [date_from.isoformat(), date_to.isoformat()],
        "workbook": str(report.path) if report else None,
    }, "runs", f"{run_id}.run")
    return RunResult(run_id, date_from, date_to, pulled, report)
