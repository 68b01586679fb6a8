"""Pull: sources → landing → catalog, with a manifest per run under ``<lake>/_state/runs``."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import httpx

from recon.config import Config
from recon.errors import ConfigError, SourceError
from recon.ingest.clients import Secrets, build_clients, secrets_from_env
from recon.ingest.records import Progress
from recon.ingest.sources.entur import EnturSource
from recon.ingest.sources.samtrafiken import SamtrafikenSource
from recon.ingest.sources.vipps import LedgerScoped, VippsSource
from recon.ingest.sources.vipps_report import VippsReportSource
from recon.lake.landing import Landing
from recon.lake.store import Lake, new_run_id
from recon.logs import one_line, redact, redact_all

log = logging.getLogger("recon.pull")


@dataclass
class SourceResult:
    source: str
    ok: bool = True
    error: str | None = None
    outcome: str = "ok"  # ok | partial (some ledgers failed, the rest landed) | failed
    failed_parts: dict[str, str] = field(default_factory=dict)  # e.g. ledger id -> why it was not read
    unknown: dict[str, int] = field(default_factory=dict)  # values recon does not know -> records
    pages: int = 0
    records: int = 0
    quarantined: int = 0
    landed: dict[str, int] = field(default_factory=dict)
    cursors: dict[str, Any] = field(default_factory=dict)
    requests: int = 0
    retries: dict[str, int] = field(default_factory=dict)
    waited_seconds: float = 0.0
    seconds: float = 0.0


@dataclass
class PullResult:
    run_id: str
    sources: list[SourceResult]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.sources)

    def failures(self) -> list[SourceResult]:
        return [r for r in self.sources if not r.ok]

    def failed_names(self) -> str:
        """``vipps (ledger 7000022), entur``: what failed, for the one line cron mails."""
        return ", ".join(r.source + (f" ({', '.join(r.failed_parts)})" if r.failed_parts else "")
                         for r in self.failures())


@dataclass
class PullRequest:
    """What to pull beyond each source's regular incremental feed."""

    vipps_dates: list[date] | None = None
    vipps_reference: str | None = None
    vipps_psp_reference: str | None = None


def pull(
    config: Config,
    sources: list[str] | None = None,
    *,
    run_id: str | None = None,
    secrets: Secrets | None = None,
    request: PullRequest | None = None,
    on_progress: Callable[[str, Progress], None] | None = None,
    transport: httpx.BaseTransport | None = None,
    parallel: bool = False,
) -> PullResult:
    """Pull the chosen sources (default: all configured) into the lake and rebuild the catalog.

    A failing source does not stop the others; its cursor stays where its data is safe.
    ``secrets`` default to the environment's (``recon.ops.sandboxed`` passes the sandbox's).
    """
    wanted = sources or config.sources()
    for name in wanted:
        if getattr(config, name, None) is None:
            raise ConfigError(f"source {name!r} is not configured (no [{name}] section)")
    request = request or PullRequest()
    run_id = run_id or new_run_id()
    lake = Lake(config.lake)
    lake.ensure()
    flush_rows = config.flush_rows
    started = datetime.now(UTC)
    if secrets is None:
        secrets = secrets_from_env(config, wanted)
    if parallel and len(wanted) > 1 and transport is None:
        # Sources are independent (own client, own landing, own state): in processes, their
        # network waits overlap and their normalising runs on every core (recon.ingest.processes).
        from recon.ingest.processes import pull_in_processes

        results = pull_in_processes(wanted, _pull_source, _broken, config, secrets, run_id, flush_rows, request,
                                    on_progress)
    else:
        results = _pull_in_threads(wanted, config, secrets, lake, run_id, flush_rows, request, on_progress,
                                   transport, parallel)
    result = PullResult(run_id, results)
    lake.write_state({
        "run_id": run_id, "kind": "pull", "started_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(), "ok": result.ok,
        "sources": [redact_all(asdict(r)) for r in results],
    }, "runs", run_id)
    from recon.lake.catalog import build_catalog  # here: a pull's child processes need no DuckDB

    build_catalog(lake)
    return result


def _broken(source: str, why: str) -> SourceResult:
    return SourceResult(source, ok=False, outcome="failed", error=why)


def _pull_in_threads(wanted: list[str], config: Config, secrets: Secrets, lake: Lake, run_id: str,
                     flush_rows: int, request: PullRequest, on_progress: Callable[[str, Progress], None] | None,
                     transport: httpx.BaseTransport | None, parallel: bool) -> list[SourceResult]:
    """One source after another, or side by side in threads (a given transport, such as a test's
    MockTransport, cannot be handed to another process)."""
    clients = build_clients(config, wanted, secrets, run_id=run_id, transport=transport)

    def one(name: str) -> SourceResult:
        return _pull_source(name, config, clients[name], lake, run_id, flush_rows, request, on_progress)

    try:
        if parallel and len(wanted) > 1:
            with ThreadPoolExecutor(max_workers=len(wanted), thread_name_prefix="pull") as pool:
                return list(pool.map(one, wanted))
        return [one(name) for name in wanted]
    finally:
        for client in clients.values():
            client.close()


def _ledger_failures(result: SourceResult, src: LedgerScoped) -> None:
    """Some ledgers refused, the others landed: the source is partial."""
    if src.failed:
        result.ok, result.outcome = False, "partial"
        result.failed_parts = {f"ledger {lid}": why for lid, why in src.failed.items()}
        result.error = f"{src.name}: " + "; ".join(f"{part}: {why}" for part, why in result.failed_parts.items())


def _pull_source(name: str, cfg: Config, api: Any, lake: Lake, run_id: str, flush_rows: int,
                 request: PullRequest, on_progress: Callable[[str, Progress], None] | None) -> SourceResult:
    progress = Progress(on_page=(lambda p: on_progress(name, p)) if on_progress else None)
    landing = Landing(lake, run_id, name)
    result = SourceResult(name)
    t0 = time.monotonic()
    log.info("%s: pull started", name, extra={"event": "pull_started", "source": name})
    try:
        if name == "vipps":
            assert cfg.vipps is not None
            src = VippsSource(cfg.vipps, api, lake, flush_rows)
            if request.vipps_dates:
                src.pull_dates(landing, request.vipps_dates, progress)
            elif request.vipps_reference is not None or request.vipps_psp_reference is not None:
                src.lookup(landing, reference=request.vipps_reference,
                           psp_reference=request.vipps_psp_reference, progress=progress)
            else:
                result.cursors = src.pull_feed(landing, progress)
            _ledger_failures(result, src)
        elif name == "vipps_report":
            assert cfg.vipps_report is not None
            report = VippsReportSource(cfg.vipps_report, api, lake, flush_rows)
            result.cursors = (report.pull_dates(landing, request.vipps_dates, progress) if request.vipps_dates
                              else report.pull_feed(landing, progress))
            _ledger_failures(result, report)
        elif name == "entur":
            assert cfg.entur is not None
            result.cursors = EnturSource(cfg.entur, api, lake, flush_rows).pull(landing, progress)
        else:
            assert cfg.samtrafiken is not None
            result.cursors = SamtrafikenSource(cfg.samtrafiken, api, lake, flush_rows).pull(landing, progress)
    except SourceError as exc:
        # Redacted here, once: the error goes to stdout, the manifest and the workbook's Control.
        result.ok, result.outcome, result.error = False, "failed", one_line(redact(str(exc)))
        log.error("%s", exc, extra={"event": "source_failed", "source": name})
    result.pages, result.records, result.quarantined = progress.pages, progress.records, progress.quarantined
    result.landed = dict(landing.landed)
    result.unknown = dict(progress.unknown)
    for value, n in sorted(progress.unknown.items()):
        log.warning("%s: %d record%s with %s landed; recon does not know that value, so they take no part "
                    "in matching", name, n, "s" if n > 1 else "", value,
                    extra={"event": "unknown_value", "source": name, "value": value, "records": n})
    result.requests = api.session.requests
    result.retries = dict(api.session.retries)
    result.waited_seconds = round(sum(api.session.waited), 3)
    result.seconds = round(time.monotonic() - t0, 3)
    counts = {"event": "pull_finished", "source": name, "outcome": result.outcome, "pages": result.pages,
              "records": result.records, "landed_rows": sum(result.landed.values()),
              "quarantined": result.quarantined, "retries": sum(result.retries.values()),
              "seconds": result.seconds}
    if result.ok:
        log.info("%s: pull finished: %d pages, %d records, %d rows landed, %d quarantined, %d retries, %.1fs",
                 name, result.pages, result.records, sum(result.landed.values()), result.quarantined,
                 sum(result.retries.values()), result.seconds, extra=counts)
    else:
        # A failed source's counts are events too (what landed before it failed); its error is above.
        log.info("%s: pull ended %s: %d pages, %d records, %d rows landed, %d quarantined, %d retries, %.1fs",
                 name, result.outcome, result.pages, result.records, sum(result.landed.values()),
                 result.quarantined, sum(result.retries.values()), result.seconds, extra=counts)
    return result
