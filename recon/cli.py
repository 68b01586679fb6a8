"""The `recon` command: parses options, calls the library, maps errors to exit codes."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from datetime import date, timedelta
from functools import wraps
from pathlib import Path
from typing import Any

import click

from recon import __version__
from recon.config import SOURCES
from recon.errors import ConfigError, MismatchesFound, ReconError

EXIT_CODES = """\b\n\
Exit codes:
  0  success (mismatches found are still success)
  1  unexpected internal error
  2  usage or configuration error; recon resolve: rows it cannot apply (nothing applied)
  3  a source or Vipps ledger failed (recon run reconciles the rest, rows marked incomplete)
  4  another run holds the lake's lock
  5  mismatches found, with --fail-on-mismatch; or an exception open too long, with --fail-on-age
  130  interrupted (Ctrl-C)
  143  terminated (SIGTERM, e.g. systemctl stop)
  After 1, 3, 130 or 143 a rerun resumes where the data is safe.
"""

config_option = click.option(
    "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Path to recon.toml (default: $RECON_CONFIG, else ./recon.toml).")


def _say_error(*messages: str, code: int) -> None:
    """The one clear line (or one per problem) first on stderr, then what a batch run held back;
    the run's log file gets the line too, so that it holds the whole story."""
    from recon.logs import FILE_ONLY, release_held

    for message in messages:
        click.echo(f"recon: error: {message}", err=True)
        logging.getLogger("recon").error("%s", message, extra={**FILE_ONLY, "event": "command_failed",
                                                               "exit_code": code})
    release_held(failed=code == 1)  # an unexpected error: its traceback is only in the log file


def _fail(message: str, code: int) -> None:
    _say_error(message, code=code)
    sys.exit(code)


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """One clear line on stderr and the documented exit code, never a traceback for known errors."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            _say_error(*exc.problems, code=exc.exit_code)
            sys.exit(exc.exit_code)
        except ReconError as exc:
            _fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except BrokenPipeError:
            # `recon query ... | head`: the reader left; that is not an error.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(0)
        except OSError as exc:
            _fail(f"{exc.strerror or exc} ({exc.filename})" if exc.filename else str(exc), 1)
        except Exception as exc:
            from recon.logs import FILE_ONLY, redact

            # The traceback goes to the run's log file; stderr gets the one line below.
            logging.getLogger("recon").exception("unexpected error", extra={**FILE_ONLY, "event": "crashed"})
            first = str(exc).splitlines()[0] if str(exc) else ""
            _fail(redact(f"unexpected {type(exc).__name__}: {first}"), 1)

    return wrapper


def _load(config_path: Path | None):  # type: ignore[no-untyped-def]
    from recon.config import load_config

    return load_config(config_path)


class Ctx:
    """Options of the group that every command needs."""

    def __init__(self, verbose: bool, log_format: str) -> None:
        self.verbose, self.log_format = verbose, log_format

    def logging_for(self, config: Any, run_id: str) -> Path:
        """Log to stderr and to ``<lake>/_logs/<run_id>.log`` for this run."""
        from recon.logs import setup_logging

        log_file = Path(config.lake) / "_logs" / f"{run_id}.log"
        setup_logging(run_id=run_id, log_format=self.log_format, verbose=self.verbose, log_file=log_file)
        return log_file


pass_ctx = click.make_pass_decorator(Ctx)
wait_option = click.option("--wait", type=float, default=0.0, show_default=True,
                           help="Seconds to wait for another run's lock before giving up (exit 4).")


@click.group(epilog=EXIT_CODES, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="recon")
@click.option("-v", "--verbose", is_flag=True, help="Log every request retry and checkpoint too.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Log lines as text or as JSON (for log shippers).")
@click.pass_context
def cli(ctx: click.Context, verbose: bool, log_format: str) -> None:
    """recon: reconcile Vipps MobilePay, Entur and Samtrafiken sales.

    \b
    Examples:
      recon demo                                # the whole job offline, into ./recon-demo/
      recon run --config /etc/recon/recon.toml  # what cron calls every night
    """
    from recon.logs import setup_logging, use_colour

    ctx.obj = Ctx(verbose, log_format)
    if not use_colour():
        ctx.color = False  # NO_COLOR, TERM=dumb or no terminal: the subcommands inherit it
    setup_logging(log_format=log_format, verbose=verbose)


def _print_pull(result: Any) -> None:
    for r in result.sources:
        landed = sum(r.landed.values())
        retries = sum(r.retries.values())
        state = (click.style("ok     ", fg="green") if r.ok else
                 click.style(f"{r.outcome.upper():7s}", fg="red", bold=True))
        click.echo(f"{r.source:12s} {state} pages={r.pages} records={r.records} landed_rows={landed} "
                   f"quarantined={r.quarantined} retries={retries} ({r.seconds:.1f}s)")
        if r.error:
            click.echo(f"{'':12s} {r.error}")
        for value, n in sorted(r.unknown.items()):
            click.echo(f"{'':12s} {n} landed with {value}, unknown to recon: not matched")


@cli.command()
@config_option
@click.argument("sources", nargs=-1, type=click.Choice(list(SOURCES)))
@click.option("--date", "dates", multiple=True, type=click.DateTime(["%Y-%m-%d"]),
              help="Vipps (Sales and Report API): pull these ledger dates (repeatable) instead of the feeds.")
@click.option("--from", "date_from", type=click.DateTime(["%Y-%m-%d"]), help="Vipps: first ledger date.")
@click.option("--to", "date_to", type=click.DateTime(["%Y-%m-%d"]), help="Vipps: last ledger date.")
@click.option("--reference", help="Vipps: look up one order's entries by reference.")
@click.option("--psp-reference", help="Vipps: look up one transaction by pspReference.")
@wait_option
@pass_ctx
@handle_errors
def pull(ctx: Ctx, config_path: Path | None, sources: tuple[str, ...], dates: tuple[Any, ...], date_from: Any,
         date_to: Any, reference: str | None, psp_reference: str | None, wait: float) -> None:
    """Pull sources into the lake (default: every configured source), resuming from the cursors.

    \b
    Examples:
      recon pull --config recon.toml
      recon pull vipps entur
      recon pull vipps --from 2026-10-01 --to 2026-10-07
      recon pull vipps_report --date 2026-10-06
      recon pull vipps --reference 12494299492
    """
    from recon.ingest.pull import PullRequest
    from recon.ops.sandboxed import pull as do_pull

    days = [d.date() for d in dates]
    if date_from or date_to:
        if not (date_from and date_to) or date_to < date_from:
            raise ConfigError("--from and --to go together, with --from on or before --to")
        day: date = date_from.date()
        while day <= date_to.date():
            days.append(day)
            day += timedelta(days=1)
    lookup = reference is not None or psp_reference is not None
    if days and not set(sources) <= {"vipps", "vipps_report"}:
        raise ConfigError("--date/--from/--to apply to vipps and vipps_report only")
    if lookup and tuple(sources) not in ((), ("vipps",)):
        raise ConfigError("--reference/--psp-reference apply to vipps only")
    if sum(bool(x) for x in (days, reference is not None, psp_reference is not None)) > 1:
        raise ConfigError("use one of --date/--from/--to, --reference or --psp-reference")
    from recon.lake.locking import lake_lock
    from recon.lake.store import new_run_id
    from recon.ops.progress import ProgressDisplay

    config = _load(config_path)
    request = PullRequest(vipps_dates=sorted(set(days)) or None, vipps_reference=reference,
                          vipps_psp_reference=psp_reference)
    chosen = list(sources) or config.sources()
    if lookup:
        chosen = ["vipps"]
    elif days and not sources:
        chosen = [name for name in ("vipps", "vipps_report") if name in chosen]
    run_id = new_run_id()
    ctx.logging_for(config, run_id)
    display = ProgressDisplay(chosen)
    with lake_lock(config.lake, run_id, wait=wait):
        result = do_pull(config, chosen, run_id=run_id, request=request, on_progress=display.update,
                         parallel=True)
    display.close()
    _print_pull(result)
    if not result.ok:
        _fail(f"source failed: {result.failed_names()} (see above; rerun resumes where the data is safe)", 3)


def _print_reconcile(result: Any) -> None:
    from recon.money import format_minor

    click.echo(f"reconciled {result.date_from} .. {result.date_to} (run {result.run_id}): "
               f"{result.matched} matched, {result.mismatches} exceptions")
    if result.by_code:
        click.echo(f"  {'code':32s} {'count':>6s} {'amount':>14s}")
        for c in result.by_code:
            amount = format_minor(c.amount) + (f" {c.currency}" if c.currency else " (mixed)")
            click.echo(f"  {c.code:32s} {c.count:6d} {amount:>14s}")
    if result.provisional_dates:
        days = ", ".join(d.isoformat() for d in result.provisional_dates)
        click.echo(f"  provisional (not yet closed): {days}")


@cli.command()
@config_option
@click.option("--from", "date_from", required=True, type=click.DateTime(["%Y-%m-%d"]), help="First business date.")
@click.option("--to", "date_to", required=True, type=click.DateTime(["%Y-%m-%d"]), help="Last business date.")
@wait_option
@pass_ctx
@handle_errors
def reconcile(ctx: Ctx, config_path: Path | None, date_from: Any, date_to: Any, wait: float) -> None:
    """Match the landed sources for a period and store recon_matches, recon_mismatches, vat_summary.

    \b
    Example:
      recon reconcile --config recon.toml --from 2026-10-01 --to 2026-10-31
    """
    from recon.lake.locking import lake_lock
    from recon.lake.store import new_run_id
    from recon.reconcile.runner import reconcile as do_reconcile

    config = _load(config_path)
    run_id = new_run_id()
    ctx.logging_for(config, run_id)
    with lake_lock(config.lake, run_id, wait=wait):
        result = do_reconcile(config, date_from.date(), date_to.date(), run_id=run_id)
    _print_reconcile(result)


@cli.command()
@config_option
@click.option("--from", "date_from", required=True, type=click.DateTime(["%Y-%m-%d"]), help="First business date.")
@click.option("--to", "date_to", required=True, type=click.DateTime(["%Y-%m-%d"]), help="Last business date.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Workbook path (default: reports/recon_<from>_<to>.xlsx beside the lake).")
@wait_option
@pass_ctx
@handle_errors
def report(ctx: Ctx, config_path: Path | None, date_from: Any, date_to: Any, out: Path | None, wait: float) -> None:
    """Reconcile a period and write the Excel workbook.

    \b
    Example:
      recon report --config recon.toml --from 2026-10-01 --to 2026-10-31 --out october.xlsx
    """
    from recon.lake.locking import lake_lock
    from recon.lake.store import new_run_id
    from recon.reports.workbook import write_report

    config = _load(config_path)
    run_id = new_run_id()
    ctx.logging_for(config, run_id)
    with lake_lock(config.lake, run_id, wait=wait):
        result = write_report(config, date_from.date(), date_to.date(), out=out, run_id=run_id)
    _print_reconcile(result.reconcile)
    click.echo(f"workbook: {result.path}")


@cli.command()
@config_option
@click.option("--from", "date_from", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="First business date (default: yesterday minus run.recheck_days).")
@click.option("--to", "date_to", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Last business date (default: yesterday in the ledger's zone).")
@click.option("--source", "sources", multiple=True, type=click.Choice(list(SOURCES)),
              help="Pull only this source (repeatable; default: every configured source).")
@click.option("--fail-on-mismatch", is_flag=True, help="Exit 5 when exceptions were found.")
@click.option("--fail-on-age", type=click.IntRange(min=0), metavar="DAYS",
              help="Exit 5 when an open exception (of any period) is older than DAYS days.")
@wait_option
@pass_ctx
@handle_errors
def run(ctx: Ctx, config_path: Path | None, date_from: Any, date_to: Any, sources: tuple[str, ...],
        fail_on_mismatch: bool, fail_on_age: int | None, wait: float) -> None:
    """Pull everything due, reconcile the due period and write the workbook (what cron calls).

    \b
    Examples:
      recon run --config /etc/recon/recon.toml
      recon run --from 2026-10-01 --to 2026-10-31 --fail-on-mismatch
      recon run --fail-on-age 7
    """
    from recon.lake.locking import lake_lock
    from recon.lake.store import new_run_id
    from recon.ops.progress import ProgressDisplay
    from recon.ops.run import run_job

    config = _load(config_path)
    run_id = new_run_id()
    log_file = ctx.logging_for(config, run_id)
    display = ProgressDisplay(list(sources) or config.sources())
    with lake_lock(config.lake, run_id, wait=wait):
        result = run_job(config, run_id, date_from=date_from.date() if date_from else None,
                         date_to=date_to.date() if date_to else None, sources=list(sources) or None,
                         on_progress=display.update, fail_on_mismatch=fail_on_mismatch, fail_on_age=fail_on_age)
    display.close()
    _print_run(result, log_file)
    if result.exit_code == 3:
        _fail(f"source failed: {result.pull.failed_names()}; what landed was reconciled, with the rows of "
              "the checks that read it marked incomplete (a rerun resumes where the data is safe)", 3)
    if result.exit_code == 5:
        oldest = result.oldest_open
        if fail_on_age is not None and oldest is not None and oldest[2] > fail_on_age:
            raise MismatchesFound(f"exception {oldest[0]} ({oldest[1]}) has been open {oldest[2]} days, longer than "
                                  f"--fail-on-age {fail_on_age}")
        raise MismatchesFound(f"{result.mismatches} exceptions found (--fail-on-mismatch)")


@cli.command()
@config_option
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@wait_option
@pass_ctx
@handle_errors
def resolve(ctx: Ctx, config_path: Path | None, file: Path, wait: float) -> None:
    """Read accountants' resolutions back from a workbook's Worklist sheet (Resolution, Comment,
    Owner) or a CSV (exception_id, resolution, comment, owner) into recon_resolutions.

    Every row is checked first; one bad row (unknown ID or code, another lake's workbook, amounts
    that changed since) fails the whole file with the rows named, and nothing is applied.

    \b
    Examples:
      recon resolve reports/recon_2026-10-24_2026-10-26.xlsx
      recon resolve resolutions.csv
    """
    from recon.lake.locking import lake_lock
    from recon.lake.store import new_run_id
    from recon.reports.resolve import resolve_file

    config = _load(config_path)
    with lake_lock(config.lake, new_run_id(), wait=wait):
        result = resolve_file(config, file)
    click.echo(f"{file.name}: {result.summary()}")


def _print_run(result: Any, log_file: Path) -> None:
    click.secho(f"recon run {result.run_id}: period {result.date_from} .. {result.date_to}", bold=True)
    _print_pull(result.pull)
    _print_reconcile(result.report.reconcile)
    click.secho(f"workbook: {result.report.path}", fg="green" if result.exit_code == 0 else "yellow")
    click.echo(f"log:      {log_file}")


@cli.command()
@config_option
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "ndjson"]), default="table",
              show_default=True, help="table: NULL shown as NULL; csv: NULL an empty field, empty text \"\"; "
                                      "json/ndjson: null.")
@click.option("--limit", type=click.IntRange(min=0), default=None,
              help="Rows the table shows (default 1000); the rest are counted. csv/json/ndjson write every row.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write to FILE instead of stdout (complete or not at all).")
@click.argument("sql")
@handle_errors
def query(config_path: Path | None, fmt: str, limit: int | None, output: Path | None, sql: str) -> None:
    """Run DuckDB SQL over the landed tables and results, by name.

    \b
    Example:
      recon query --config recon-demo/recon.toml \\
        "SELECT ledger_id, count(*) FROM vipps_sales_entries GROUP BY ALL"
      recon query --format ndjson -o mismatches.ndjson "SELECT * FROM recon_mismatches_history"
    """
    from recon.lake.store import Lake
    from recon.ops.query import write_query

    config = _load(config_path)
    write_query(Lake(config.lake), sql, fmt, limit, output)


@cli.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@handle_errors
def status(config_path: Path | None, as_json: bool) -> None:
    """Show cursors, last runs, rows landed and quarantine per source.

    \b
    Example:
      recon status --config recon-demo/recon.toml
    """
    from recon.ops.status import collect_status, format_status

    info = collect_status(_load(config_path))
    click.echo(json.dumps(info, indent=1) if as_json else format_status(info))


@cli.command()
@config_option
@click.option("--before", required=True, type=click.DateTime(["%Y-%m-%d"]),
              help="Remove landed data dated before this day.")
@click.option("--dry-run", is_flag=True, help="Only say what would be removed.")
@click.option("--force", is_flag=True, help="Prune days the nightly run still reads (re-check, settlement span).")
@wait_option
@handle_errors
def prune(config_path: Path | None, before: Any, dry_run: bool, force: bool, wait: float) -> None:
    """Remove raw data dated before a day, and quarantine landed before it (personal data and all).

    Every raw partition dated before --before goes (business date; the ledger list by the day it
    was listed) with its order lines and transactions, and every quarantine file landed wholly
    before it. Results, resolutions and cursors stay, so the next pull does not fetch the removed
    data again; reconciling a period that reads before the day is refused afterwards. Days the
    nightly run still reads are refused without --force. Takes the lake's lock and rebuilds
    recon.duckdb.

    \b
    Example:
      recon prune --config /etc/recon/recon.toml --before 2021-01-01 --dry-run
    """
    from recon.lake.prune import prune as prune_lake
    from recon.lake.store import Lake, new_run_id
    from recon.reconcile.runner import earliest_read

    config = _load(config_path)
    result = prune_lake(Lake(config.lake), before.date(), run_id=new_run_id(), dry_run=dry_run, wait=wait,
                        latest=None if force else earliest_read(config))
    verb = "would remove" if dry_run else "removed"
    for table, days in sorted(result.partitions.items()):
        click.echo(f"{table}: {verb} {len(days)} partitions, {days[0]} .. {days[-1]}")
    for table, n in sorted(result.child_rows.items()):
        click.echo(f"{table}: {verb} {n} rows with their parents")
    if result.quarantine_files:
        click.echo(f"quarantine: {verb} {result.quarantine_files} files")
    click.echo(f"{verb} {result.files} files, {result.bytes / 1e6:.1f} MB, dated before {result.before}"
               if result.removed_anything else f"nothing is dated before {result.before}")


@cli.command()
@click.option("--port", type=int, default=8765, show_default=True, help="Loopback port (0 = any free port).")
@click.option("--faults", default=None, help="Fault injection, e.g. '429:0.1,500:0.05,truncate@3,seed=7'.")
@click.option("--quirks", default=None,
              help="API habits the documents leave open, e.g. 'entur-per-page-limit=50,vipps-has-more=omit'.")
@click.option("--data", "data_dir", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="Serve this folder (sample_data layout) instead of the shipped sample data.")
@click.option("--generate", "generate_orders", type=int, default=None,
              help="Serve a generated consistent dataset with this many orders instead.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for --generate.")
@handle_errors
def sandbox(port: int, faults: str | None, quirks: str | None, data_dir: Path | None, generate_orders: int | None,
            seed: int) -> None:
    """Serve fake Vipps, Entur and Samtrafiken APIs on loopback until Ctrl-C.

    \b
    Example:
      recon sandbox --port 8765 --faults '429:0.1,503:0.05,seed=1'
    """
    import time

    from recon.sandbox.dataset import Dataset, sample_data_dir
    from recon.sandbox.server import Sandbox

    if generate_orders is not None:
        from recon.sandbox.generate import generate

        dataset = generate(seed=seed, orders=generate_orders)
    else:
        dataset = Dataset.load(data_dir or sample_data_dir())
    try:
        server = Sandbox(dataset, port=port, faults=faults, quirks=quirks).start()
    except ValueError as exc:
        raise ConfigError(f"--faults/--quirks: {exc}") from None
    urls = server.urls()
    click.echo(f"sandbox serving on {server.url} (Ctrl-C to stop)")
    for key, value in urls.items():
        click.echo(f"  {key:22s} {value}")
    click.echo(f"  vipps ledgers          {', '.join(dataset.ledgers)}")
    click.echo(f"  samtrafiken org code   {dataset.organization_code}")
    click.echo("  credentials: the sandbox defaults (README.md, 'The sandbox')")
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


@cli.command()
@click.option("--dir", "folder", type=click.Path(file_okay=False, path_type=Path), default=Path("recon-demo"),
              show_default=True, help="Where the demo config, lake and reports go.")
@wait_option
@pass_ctx
@handle_errors
def demo(ctx: Ctx, folder: Path, wait: float) -> None:
    """Run the whole job offline against the built-in sandbox and sample data.

    \b
    Example:
      recon demo && recon query --config recon-demo/recon.toml "SELECT * FROM recon_mismatches"
    """
    from recon.config import load_config
    from recon.lake.locking import lake_lock
    from recon.lake.store import new_run_id
    from recon.ops.demo import demo_period, write_demo_config
    from recon.ops.progress import ProgressDisplay
    from recon.ops.run import run_job

    config_path = write_demo_config(folder)
    config = load_config(config_path)
    run_id = new_run_id()
    log_file = ctx.logging_for(config, run_id)
    date_from, date_to = demo_period()
    display = ProgressDisplay(config.sources())
    with lake_lock(config.lake, run_id, wait=wait):
        result = run_job(config, run_id, date_from=date_from, date_to=date_to, on_progress=display.update)
    display.close()
    _print_run(result, log_file)
    if result.exit_code == 3:
        _fail(f"a source failed in the demo: {result.pull.failed_names()}", 3)
    c = f"--config {config_path}"
    click.echo("\nnext, try:")
    click.echo(f'  recon query {c} "SELECT code, count(*) FROM recon_mismatches GROUP BY ALL ORDER BY 1"')
    click.echo(f'  recon query {c} "SELECT business_date, vat_rate, sum(vat) FROM vat_summary '
               'GROUP BY ALL ORDER BY ALL"')
    click.echo(f'  recon query {c} --format csv "SELECT source, reason FROM quarantine"')
    click.echo(f'  recon query {c} "SELECT exception_id, code, status, age_days FROM recon_exceptions '
               'WHERE status = \'open\' ORDER BY age_days DESC"')
    click.echo(f"  fill in Resolution on the workbook's Worklist sheet, save it, then: recon resolve {c} "
               f"{result.report.path}")


@cli.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path), default=Path("recon.toml"))
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.option("--lake", default=None, metavar="DIR",
              help="[lake] path to write (default: lake/ beside the file; /var/lib/recon/lake for a file under "
                   "/etc or /usr/local/etc).")
@handle_errors
def init(path: Path, force: bool, lake: str | None) -> None:
    """Write a commented recon.toml to fill in (every key, with its default).

    \b
    Examples:
      recon init /etc/recon/recon.toml          # its lake: /var/lib/recon/lake
      recon init ./recon.toml --lake /srv/recon/lake
    """
    from recon.ops.demo import default_lake, write_example_config

    if path.exists() and not force:
        raise ConfigError(f"{path} exists; use --force to overwrite it")
    lake = lake or default_lake(path)
    write_example_config(path, lake)
    shown = lake if Path(lake).is_absolute() else path.parent / lake  # relative paths are the file's
    click.echo(f"wrote {path} (lake: {shown}): fill in the ids and the secret variables, then "
               f"`recon run --config {path}`")


def _terminated(signum: int, frame: Any) -> None:
    """systemd stops a unit with SIGTERM: say so, then leave as a kill would (cursors are safe)."""
    try:
        _say_error("terminated by SIGTERM; a rerun resumes where the data is safe", code=143)
        for handler in logging.getLogger("recon").handlers:
            handler.flush()
    except (RuntimeError, OSError):
        pass  # the signal came in the middle of a write to the same stream: leave all the same
    finally:
        os._exit(143)


def main() -> None:
    from recon.logs import release_held

    signal.signal(signal.SIGTERM, _terminated)
    try:
        cli(prog_name="recon")
    finally:
        release_held()  # a batch run's warnings, once the command is done (nothing when all went well)


if __name__ == "__main__":
    main()
