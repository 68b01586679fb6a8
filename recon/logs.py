"""Logging for people and for cron: one line per event with time, run id and level.

Secrets are redacted by a filter on every handler, whatever a message contains: the values read
from the environment register themselves here (defence in depth; no code logs them on purpose).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_SECRETS: set[str] = set()
_LOCK = threading.Lock()
REDACTED = "***"


def register_secret(value: str) -> None:
    """Never show this value in any log line (short values would redact too much: skipped)."""
    if value and len(value) >= 6:
        with _LOCK:
            _SECRETS.add(value)
            # A PEM key is also redacted line by line: a traceback could quote one line of it.
            for line in value.splitlines():
                if len(line) >= 16 and not line.startswith("-----"):
                    _SECRETS.add(line.strip())


def redact(text: str) -> str:
    with _LOCK:
        secrets = sorted(_SECRETS, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class RunIdFilter(logging.Filter):
    def __init__(self, run_id: str | None) -> None:
        super().__init__()
        self.run_id = run_id or "-"

    def filter(self, record: logging.LogRecord) -> bool:
        record.run_id = self.run_id
        return True


class JsonFormatter(logging.Formatter):
    def __init__(self, *, tracebacks: bool = True) -> None:
        super().__init__()
        self.tracebacks = tracebacks

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "run_id": getattr(record, "run_id", "-"),
            "logger": record.name, "message": record.getMessage(),
        }
        if record.exc_text and self.tracebacks:
            doc["exception"] = record.exc_text
        return json.dumps(doc, ensure_ascii=False)


class LineFormatter(logging.Formatter):
    def __init__(self, *, tracebacks: bool = True) -> None:
        super().__init__("%(asctime)s %(levelname)s run=%(run_id)s %(name)s: %(message)s")
        self.tracebacks = tracebacks

    def format(self, record: logging.LogRecord) -> str:
        if self.tracebacks:
            return super().format(record)
        # The console gets the one clear line; the traceback goes to the run's log file only.
        kept, record.exc_text = record.exc_text, None
        try:
            return super().format(record)
        finally:
            record.exc_text = kept

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def setup_logging(*, run_id: str | None = None, log_format: str = "text", verbose: bool = False,
                  log_file: Path | None = None, interactive: bool | None = None) -> None:
    """Configure the ``recon`` loggers.

    On a terminal only warnings and errors reach stderr (progress and the summary say the rest);
    without one (cron) every event is a line on stderr, in text or JSON. ``log_file`` always gets
    every event of the run.
    """
    interactive = sys.stderr.isatty() if interactive is None else interactive
    # A log line that cannot be written (full disk) must not print tracebacks or stop the run.
    logging.raiseExceptions = False
    root = logging.getLogger("recon")
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.propagate = False
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.WARNING if interactive and not verbose else logging.DEBUG if verbose else logging.INFO)
    console.setFormatter(JsonFormatter(tracebacks=False) if log_format == "json" else LineFormatter(tracebacks=False))
    handlers: list[logging.Handler] = [console]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(log_file, encoding="utf-8")
        file_handler.setLevel(logging.DEBUG if verbose else logging.INFO)
        file_handler.setFormatter(JsonFormatter() if log_format == "json" else LineFormatter())
        handlers.append(file_handler)
    for handler in handlers:
        handler.addFilter(RunIdFilter(run_id))
        handler.addFilter(RedactingFilter())
        root.addHandler(handler)
