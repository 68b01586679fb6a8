"""Logging for people and for cron: one line per event with time, run id and level.

Secrets are redacted by a filter on every handler, whatever a message contains: the values read
from the environment register themselves here (defence in depth; no code logs them on purpose).
"""

from __future__ import annotations

import base64
import json
import logging
import re
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

_SECRETS: set[str] = set()
_ORDERED: tuple[str, ...] = ()  # _SECRETS, longest first (rebuilt on registration, not per line)
_LOCK = threading.Lock()
REDACTED = "***"


def _encodings(value: str) -> set[str]:
    """The forms a value takes on the wire or in an echo: raw, URL/form-encoded, JSON-escaped."""
    forms = {value, quote(value, safe=""), quote_plus(value), quote(value)}
    for ascii_only in (True, False):
        forms.add(json.dumps(value, ensure_ascii=ascii_only)[1:-1])
    return forms


def register_secret(value: str) -> None:
    """Never show this value, in any of the encodings it is sent in, in any log line or message.

    Short values would redact too much: skipped.
    """
    global _ORDERED
    if not value or len(value) < 6:
        return
    forms = _encodings(value)
    # A PEM key is also redacted line by line: a traceback could quote one line of it.
    for line in value.splitlines():
        if len(line) >= 16 and not line.startswith("-----"):
            forms |= _encodings(line.strip())
    with _LOCK:
        if forms <= _SECRETS:
            return
        _SECRETS.update(f for f in forms if len(f) >= 6)
        _ORDERED = tuple(sorted(_SECRETS, key=len, reverse=True))


def register_basic_credential(user: str, password: str) -> None:
    """The HTTP Basic credential ``base64(user:password)`` (as httpx builds it) is a secret too."""
    pair = f"{user}:{password}".encode()
    register_secret(base64.b64encode(pair).decode("ascii"))
    register_secret(password)


def redact(text: str) -> str:
    secrets = _ORDERED
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def redact_all(value: Any) -> Any:
    """Every text inside a JSON-like value through :func:`redact` (run manifests, state files)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: redact_all(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_all(item) for item in value]
    return value


# C0 controls, DEL, C1 controls and the Unicode line/paragraph separators: anything that could
# end a log line or rewrite a terminal. Server text is shown with these escaped.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return _ESCAPES.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def one_line(text: str) -> str:
    """``text`` with every control character and line separator shown as a visible escape."""
    return _CONTROL.sub(_escape, text)


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
            "logger": record.name, "message": one_line(record.getMessage()),
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

    def formatMessage(self, record: logging.LogRecord) -> str:
        # One event, one line: a newline in a message (server text) cannot forge another event.
        # A traceback is appended after this, on its own lines, as usual.
        record.message = one_line(record.message)
        return super().formatMessage(record)


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
