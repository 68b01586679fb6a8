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
from recon.lake.catalog import build_catalog, oldest_open
from recon.lake.store import Lake
from recon.logs import redact_all
from recon.ops.sandboxed import pull
from recon.timeutil import today_in

log = logging.getLogger("recon.run")


@dataclass
class RunResult:
    run_id: str
    date_from: date
    date_to: date
    pull: PullResult
    report: Any  # recon.reports.workbook.ReportResult: what landed, reconciled
    exit_code: int = 0  # 0, 3 (a source failed: rows marked incomplete) or 5 (--fail-on-mismatch/-age)
    oldest_open: tuple[str, str, int] | None = None  # (exception ID, code, age in days)

    @property
    def mismatches(self) -> int:
        return int(self.report.reconcile.mismatches)


def due_period(config: Config, today: date | None = None) -> tuple[date, date]:
    """Yesterday in the ledger's zone, plus the configured number of earlier days."""
    tz = config.reconcile.timezone
    yesterday = (today or today_in(tz)) - timedelta(days=1)
    return yesterday - timedelta(days=config.run.recheck_days), yesterday


def _log_summary(result: Any) -> None:
    """The per-code summary stdout shows, into the run's log file too: cron throws stdout away."""
    from recon.money import format_minor

    for c in result.by_code:
        amount = format_minor(c.amount) + (f" {c.currency}" if c.currency else " (mixed currencies)")
        log.info("exceptions %s: %d, %s", c.code, c.count, amount,
                 extra={"event": "exceptions_by_code", "code": c.code, "count": c.count, "amount_minor": c.amount,
                        "currency": c.currency})
    if result.provisional_dates:
        days = [d.isoformat() for d in result.provisional_dates]
        log.info("provisional (not yet closed): %s", ", ".join(days),
                 extra={"event": "provisional_dates", "dates": days})


def run_job(
    config: Config,
    run_id: str,
    *,
    date_from: date | None = None,
    date_to: date | None = None,
    sources: list[str] | None = None,
    today: date | None = None,
    on_progress: Callable[[str, Progress], None] | None = None,
    fail_on_mismatch: bool = False,
    fail_on_age: int | None = None,
) -> RunResult:
    """Pull (sources in parallel), then reconcile what landed and write the workbook. The caller
    holds the lock.

    A source (or one Vipps ledger) that failed does not stop the run: the rest is reconciled, the
    rows of every check that reads the failed source are marked incomplete with the reason, the
    Summary opens with it, and the exit code is 3. The rerun resumes where the data is safe.
    """
    from recon.reports.workbook import write_report

    if (date_from is None) != (date_to is None):
        raise ConfigError("--from and --to go together")
    if date_from is not None and date_to is not None and date_to < date_from:
        raise ConfigError(f"--to {date_to} is before --from {date_from}")
    if date_from is None or date_to is None:
        date_from, date_to = due_period(config, today)
    started = datetime.now(UTC)
    log.info("run started: period %s .. %s", date_from, date_to,
             extra={"event": "run_started", "period_from": date_from.isoformat(), "period_to": date_to.isoformat(),
                    "sources": sources or config.sources()})
    pulled = pull(config, sources, run_id=run_id, on_progress=on_progress, parallel=True)
    failed = {r.source: r.error or r.outcome for r in pulled.failures()}
    if failed:
        log.error("%s failed; reconciling what landed, with the rows of every check that reads it marked "
                  "incomplete (a rerun resumes where the data is safe)", pulled.failed_names(),
                  extra={"event": "run_incomplete", "failed": sorted(failed)})
    report = write_report(config, date_from, date_to, today=today, run_id=run_id, failed=failed)
    oldest = oldest_open(Lake(config.lake), report.as_of)
    too_old = fail_on_age is not None and oldest is not None and oldest[2] > fail_on_age
    exit_code = 3 if failed else 5 if (fail_on_mismatch and report.reconcile.mismatches) or too_old else 0
    _log_summary(report.reconcile)
    log.info("run finished: %d exceptions, workbook %s, exit code %d", report.reconcile.mismatches, report.path,
             exit_code, extra={"event": "run_finished", "matched": report.reconcile.matched,
                               "exceptions": report.reconcile.mismatches, "workbook": str(report.path),
                               "exit_code": exit_code})
    # The whole job under the lock (the reliability suite checks runs for overlaps); recon_runs.
    Lake(config.lake).write_state(redact_all({
        "run_id": run_id, "kind": "run", "started_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(), "ok": not failed, "exit_code": exit_code,
        "period": [date_from.isoformat(), date_to.isoformat()], "workbook": str(report.path),
        "exceptions": report.reconcile.mismatches,
        "sources": [{"source": r.source, "outcome": r.outcome, "error": r.error, "pages": r.pages,
                     "records": r.records, "quarantined": r.quarantined, "retries": sum(r.retries.values()),
                     "failed_parts": r.failed_parts} for r in pulled.sources],
    }), "runs", f"{run_id}.run")
    build_catalog(Lake(config.lake))  # recon_runs shows this run
    return RunResult(run_id, date_from, date_to, pulled, report, exit_code, oldest)
