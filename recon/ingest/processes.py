"""Sources pulled side by side in child processes.

Normalising records is CPU work, and one Python process runs it on one core at a time: with the
sources in threads, a night's pull of four sources used one core of two. Each source is pulled in a
process of its own (its own client, landing and cursor state, exactly as in a thread); the parent
only relays what the children log and report, and gathers their results.

What a child logs is redacted in the child, where the secrets it read and the tokens it fetched are
known, then handled by the parent's handlers (the run's log file, the console, the held cron lines)
as if it had been logged there. A child whose parent is gone (killed outright) leaves at once, as
a killed run would: its cursor stays where its data is safe.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import multiprocessing as mp
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from logging.handlers import QueueHandler
from typing import TYPE_CHECKING, Any, TypeVar

from recon.ingest.records import Progress
from recon.logs import RECORD_ATTRS, redact, redact_all, register_secret

if TYPE_CHECKING:
    from recon.config import Config
    from recon.ingest.clients import Secrets

R = TypeVar("R")
log = logging.getLogger("recon.pull")

_events: Any = None  # in each child, set by _start_child


class _RedactedQueueHandler(QueueHandler):
    """Sends a record to the parent as text: message, traceback and fields redacted here."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        out = copy.copy(record)
        out.msg, out.args = redact(record.getMessage()), None
        if record.exc_info and record.exc_info[1] is not None:
            out.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        out.exc_info = None
        for key, value in record.__dict__.items():
            if key not in RECORD_ATTRS and not key.startswith("_"):
                setattr(out, key, redact_all(value))
        return out


def _watch_parent(alive: Any) -> None:
    """The parent holds the only write end of ``alive``: when it is gone (killed outright), the read
    ends, and the child leaves at once, mid-request, as a killed run would (its cursor is safe).
    Neither the parent id nor PR_SET_PDEATHSIG tells: the child's parent is the fork server."""
    with contextlib.suppress(EOFError, OSError):
        alive.recv()
    os._exit(143)


def _start_child(events: Any, level: int, alive: Any) -> None:
    global _events
    _events = events
    threading.Thread(target=_watch_parent, args=(alive,), name="pull-watch", daemon=True).start()
    # Everything a child says goes through the relay: it holds no copy of the run's stdout and
    # stderr, so a reader of those (cron, a test) sees them end when the run does.
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    root = logging.getLogger("recon")
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(level)
    root.propagate = False
    root.addHandler(_RedactedQueueHandler(events))


def _pull_in_child(name: str, pull_one: Callable[..., R], config: Config, secrets: Secrets, run_id: str,
                   flush_rows: int, request: Any, report_progress: bool) -> R:
    from recon.ingest.clients import build_clients
    from recon.lake.store import Lake

    for secret in (secrets.vipps, secrets.entur, secrets.samtrafiken_key):
        if secret is not None:
            register_secret(secret.reveal())  # the parent's registry does not travel with them

    def on_page(source: str, progress: Progress) -> None:
        _events.put(("progress", source, progress.pages, progress.records, progress.quarantined))

    api = build_clients(config, [name], secrets, run_id=run_id)[name]
    try:
        return pull_one(name, config, api, Lake(config.lake), run_id, flush_rows, request,
                        on_page if report_progress else None)
    finally:
        api.close()


def _relay(events: Any, on_progress: Callable[[str, Progress], None] | None) -> None:
    shown: dict[str, Progress] = {}
    while True:
        item = events.get()
        if item is None:
            return
        if isinstance(item, logging.LogRecord):
            logger = logging.getLogger(item.name)
            if logger.isEnabledFor(item.levelno):
                logger.handle(item)
        elif on_progress is not None:
            _, source, pages, records, quarantined = item
            progress = shown.setdefault(source, Progress())
            progress.pages, progress.records, progress.quarantined = pages, records, quarantined
            on_progress(source, progress)


def _quiet_resource_tracker() -> None:
    """Start multiprocessing's resource tracker told to keep quiet: after a kill it frees what the
    queues left and warns about it, which would be the last line of cron's mail. (It is started
    with this interpreter's -W options, and it writes to the run's stderr.)"""
    from multiprocessing import resource_tracker

    quiet = "ignore:resource_tracker:UserWarning"
    if quiet not in sys.warnoptions:
        sys.warnoptions.append(quiet)
    resource_tracker.ensure_running()


def pull_in_processes(wanted: list[str], pull_one: Callable[..., R], broken: Callable[[str, str], R],
                      config: Config, secrets: Secrets, run_id: str, flush_rows: int, request: Any,
                      on_progress: Callable[[str, Progress], None] | None) -> list[R]:
    """``pull_one`` (recon.ingest.pull's, passed in by reference) for each source in a process of
    its own; results in the order asked, ``broken(source, why)`` for a child that died."""
    # Not fork: the parent may hold threads and their locks. A fork server imports the pull's
    # modules once (about a second) and forks each child from there, instead of a fresh
    # interpreter importing them again per source.
    ctx = mp.get_context("forkserver")
    _quiet_resource_tracker()
    ctx.set_forkserver_preload(["recon.ingest.pull", "recon.ingest.processes"])
    events = ctx.Queue()
    alive, keep_alive = ctx.Pipe(duplex=False)  # see _watch_parent
    relay = threading.Thread(target=_relay, args=(events, on_progress), name="pull-relay", daemon=True)
    relay.start()
    results: list[R] = []
    try:
        with ProcessPoolExecutor(max_workers=len(wanted), mp_context=ctx, initializer=_start_child,
                                 initargs=(events, logging.getLogger("recon").getEffectiveLevel(), alive)) as pool:
            futures = [pool.submit(_pull_in_child, name, pull_one, config, secrets, run_id, flush_rows, request,
                                   on_progress is not None) for name in wanted]
            for name, future in zip(wanted, futures, strict=True):
                try:
                    results.append(future.result())
                except BrokenProcessPool as exc:
                    # The child died (out of memory, killed): what it checkpointed is safe, its
                    # cursor was committed only after that, so the rerun resumes there.
                    log.error("%s: the pull's process ended unexpectedly (%s)", name, exc,
                              extra={"event": "source_failed", "source": name})
                    results.append(broken(name, f"the pull's process ended unexpectedly ({exc})"))
    finally:
        keep_alive.close()
        events.put(None)
        relay.join(timeout=10)
    return results
