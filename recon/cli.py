"""The `recon` command: parses options, calls the library, maps errors to exit codes."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from datetime import date, timedelta
from functools import wraps
from pathlib import Path
from typing import Any

import click

from . import __version__
from .errors import ReconError

EXIT_CODES = """\b\n\
Exit codes:
  0  success (mismatches found are still success)
  1  unexpected internal error
  2  usage or configuration error
  3  a source failed (its cursor stays where its data is safe)
  4  another run holds the lake's lock
  5  mismatches found, with --fail-on-mismatch
"""

config_option = click.option(
    "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Path to recon.toml (default: $RECON_CONFIG, else ./recon.toml).")


def _fail(message: str, code: int) -> None:
    click.echo(f"recon: error: {message}", err=True)
    sys.exit(code)


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """One clear line on stderr and the documented exit code, never a traceback for known errors."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
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

    return wrapper


def _load(config_path: Path | None):  # type: ignore[no-untyped-def]
    from .config import load_config

    return load_config(config_path)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)


@click.group(epilog=EXIT_CODES, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="recon")
@click.option("-v", "--verbose", is_flag=True, help="Log each request retry and checkpoint.")
def cli(verbose: bool) -> None:
    """recon: reconcile Vipps MobilePay, Entur and Samtrafiken sales.

    \b
    Example:
      recon demo                      # the whole job offline, into ./recon-demo/
      recon pull --config recon.toml  # pull every configured source
    """
    _setup_logging(verbose)


def _print_pull(result: Any) -> None:
    for r in result.sources:
        landed = sum(r.landed.values())
        retries = sum(r.retries.values())
        state = "ok" if r.ok else "FAILED"
        click.echo(f"{r.source:12s} {state:6s} pages={r.pages} records={r.records} landed_rows={landed} "
                   f"quarantined={r.quarantined} retries={retries} ({r.seconds:.1f}s)")
        if r.error:
            click.echo(f"{'':12s} {r.error}")


@cli.command()
@config_option
@click.argument("sources", nargs=-1, type=click.Choice(["vipps", "entur", "samtrafiken"]))
@click.option("--date", "dates", multiple=True, type=click.DateTime(["%Y-%m-%d"]),
              help="Vipps: pull these ledger dates (repeatable) instead of the feed.")
@click.option("--from", "date_from", type=click.DateTime(["%Y-%m-%d"]), help="Vipps: first ledger date.")
@click.option("--to", "date_to", type=click.DateTime(["%Y-%m-%d"]), help="Vipps: last ledger date.")
@click.option("--reference", help="Vipps: look up one order's entries by reference.")
@click.option("--psp-reference", help="Vipps: look up one transaction by pspReference.")
@handle_errors
def pull(config_path: Path | None, sources: tuple[str, ...], dates: tuple[Any, ...], date_from: Any,
         date_to: Any, reference: str | None, psp_reference: str | None) -> None:
    """Pull sources into the lake (default: every configured source), resuming from the cursors.

    \b
    Examples:
      recon pull --config recon.toml
      recon pull vipps entur
      recon pull vipps --from 2026-10-01 --to 2026-10-07
      recon pull vipps --reference 12494299492
    """
    from .errors import ConfigError
    from .pipeline import PullRequest, pull as do_pull

    days = [d.date() for d in dates]
    if date_from or date_to:
        if not (date_from and date_to) or date_to < date_from:
            raise ConfigError("--from and --to go together, with --from on or before --to")
        day: date = date_from.date()
        while day <= date_to.date():
            days.append(day)
            day += timedelta(days=1)
    special = bool(days) or reference is not None or psp_reference is not None
    if special and tuple(sources) not in ((), ("vipps",)):
        raise ConfigError("--date/--from/--to/--reference/--psp-reference apply to vipps only")
    if sum(bool(x) for x in (days, reference is not None, psp_reference is not None)) > 1:
        raise ConfigError("use one of --date/--from/--to, --reference or --psp-reference")
    config = _load(config_path)
    request = PullRequest(vipps_dates=sorted(set(days)) or None, vipps_reference=reference,
                          vipps_psp_reference=psp_reference)
    result = do_pull(config, ["vipps"] if special else list(sources) or None, request=request)
    _print_pull(result)
    if not result.ok:
        failed = ", ".join(r.source for r in result.failures())
        _fail(f"source failed: {failed} (see above; rerun resumes where the data is safe)", 3)


def _print_reconcile(result: Any) -> None:
    from .money import format_minor

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
@handle_errors
def reconcile(config_path: Path | None, date_from: Any, date_to: Any) -> None:
    """Match the landed sources for a period and store recon_matches, recon_mismatches, vat_summary.

    \b
    Example:
      recon reconcile --config recon.toml --from 2026-10-01 --to 2026-10-31
    """
    from .reconcile import reconcile as do_reconcile

    _print_reconcile(do_reconcile(_load(config_path), date_from.date(), date_to.date()))


@cli.command()
@config_option
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.argument("sql")
@handle_errors
def query(config_path: Path | None, fmt: str, sql: str) -> None:
    """Run DuckDB SQL over the landed tables and results, by name.

    \b
    Example:
      recon query --config recon-demo/recon.toml \\
        "SELECT ledger_id, count(*) FROM vipps_sales_entries GROUP BY ALL"
    """
    from .landing import Lake
    from .query import format_rows, run_query

    config = _load(config_path)
    columns, rows = run_query(Lake(config.lake), sql)
    click.echo(format_rows(columns, rows, fmt))


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
    from .status import collect_status, format_status

    info = collect_status(_load(config_path))
    click.echo(json.dumps(info, indent=1) if as_json else format_status(info))


@cli.command()
@click.option("--port", type=int, default=8765, show_default=True, help="Loopback port (0 = any free port).")
@click.option("--faults", default=None, help="Fault injection, e.g. '429:0.1,500:0.05,truncate@3,seed=7'.")
@click.option("--data", "data_dir", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="Serve this folder (sample_data layout) instead of the shipped sample data.")
@click.option("--generate", "generate_orders", type=int, default=None,
              help="Serve a generated consistent dataset with this many orders instead.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for --generate.")
@handle_errors
def sandbox(port: int, faults: str | None, data_dir: Path | None, generate_orders: int | None, seed: int) -> None:
    """Serve fake Vipps, Entur and Samtrafiken APIs on loopback until Ctrl-C.

    \b
    Example:
      recon sandbox --port 8765 --faults '429:0.1,503:0.05,seed=1'
    """
    import time

    from .errors import ConfigError
    from .sandbox.dataset import Dataset, sample_data_dir
    from .sandbox.server import Sandbox

    if generate_orders is not None:
        from .sandbox.generate import generate

        dataset = generate(seed=seed, orders=generate_orders)
    else:
        dataset = Dataset.load(data_dir or sample_data_dir())
    try:
        server = Sandbox(dataset, port=port, faults=faults).start()
    except ValueError as exc:
        raise ConfigError(f"--faults: {exc}") from None
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
@handle_errors
def demo(folder: Path) -> None:
    """Run the whole job offline against the built-in sandbox and sample data.

    \b
    Example:
      recon demo && recon query --config recon-demo/recon.toml "SELECT * FROM quarantine"
    """
    from .demo import run_demo

    config_path, result = run_demo(folder)
    _print_pull(result)
    click.echo(f"\nconfig: {config_path}\nlake:   {folder / 'lake'}")
    click.echo("try:")
    click.echo(f'  recon query --config {config_path} "SELECT entry_type, count(*), sum(gross) '
               f'FROM vipps_sales_entries GROUP BY ALL"')
    click.echo(f"  recon status --config {config_path}")
    if not result.ok:
        _fail("a source failed in the demo", 3)


def main() -> None:
    cli(prog_name="recon")


if __name__ == "__main__":
    main()
