"""Logging for people and for cron: one line per event with time, run id and level.

Secrets are redacted by a filter on every handler, whatever a message contains: the values read
from the environment register themselves here (defence in depth; no code logs them on purpose).

Where the lines go depends on what stderr is (:func:`console_mode`): a terminal gets warnings and
errors as they happen; the journal (systemd) gets every event as it happens; anything else (cron,
a pipe) gets nothing on success and, when something is wrong, the warnings and errors once the
command ends, after its one-line error. The run's log file always gets every event.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import sys
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TextIO
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


# ``extra={**FILE_ONLY, ...}``: an event for the run's log file, not for stderr (the one-line error
# the CLI writes there itself, a traceback whose one line the CLI already showed).
FILE_ONLY: dict[str, Any] = {"file_only": True}
RECORD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message", "asctime", "run_id", "file_only", "taskName"}


def fields_of(record: logging.LogRecord) -> dict[str, Any]:
    """The structured fields a call site passed with ``extra=`` (event, source, counts), redacted."""
    return {key: redact_all(value) for key, value in record.__dict__.items()
            if key not in RECORD_ATTRS and not key.startswith("_")}


class ConsoleFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, "file_only", False)


class JsonFormatter(logging.Formatter):
    """One JSON object per event: time, level, run_id, logger, the call site's fields, message."""

    def __init__(self, *, tracebacks: bool = True) -> None:
        super().__init__()
        self.tracebacks = tracebacks

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "run_id": getattr(record, "run_id", "-"),
            "logger": record.name,
        }
        doc.update({key: value for key, value in fields_of(record).items() if key not in doc})
        doc["message"] = one_line(record.getMessage())
        if record.exc_text and self.tracebacks:
            doc["exception"] = record.exc_text
        return json.dumps(doc, ensure_ascii=False, default=str)


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


ConsoleMode = Literal["terminal", "journal", "batch"]


def console_mode(stream: TextIO | None = None, env: Mapping[str, str] | None = None) -> ConsoleMode:
    """What stderr is: a person's terminal, the systemd journal, or a batch reader (cron mail, a pipe).

    systemd names the journal's stream in ``JOURNAL_STREAM`` (``device:inode``); a child that
    inherited the variable but writes elsewhere is not the journal, hence the comparison.
    """
    stream = sys.stderr if stream is None else stream
    env = os.environ if env is None else env
    try:
        if stream.isatty():
            return "terminal"
        stat = os.fstat(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return "batch"
    return "journal" if env.get("JOURNAL_STREAM") == f"{stat.st_dev}:{stat.st_ino}" else "batch"


def use_colour(stream: TextIO | None = None, env: Mapping[str, str] | None = None) -> bool:
    """Colour only on a terminal that can show it and whose user did not opt out (no-color.org)."""
    stream = sys.stdout if stream is None else stream
    env = os.environ if env is None else env
    return _isatty(stream) and not env.get("NO_COLOR") and env.get("TERM") != "dumb"


def can_animate(stream: TextIO | None = None, env: Mapping[str, str] | None = None) -> bool:
    """Redrawn progress lines need a terminal that moves the cursor: not TERM=dumb, not NO_COLOR
    (whose users ask for output without escape sequences)."""
    return use_colour(sys.stderr if stream is None else stream, env)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class HeldHandler(logging.Handler):
    """Keeps the warnings and errors of a batch run until the command ends (:func:`release_held`), so
    that the one-line error comes first in the cron mail and a clean run writes nothing at all."""

    LIMIT = 200  # a flood of warnings is cut: the log file holds them all

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []
        self.dropped = 0
        self.log_file: Path | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # noqa: BLE001 - a log line must never stop the run
            return
        if len(self.lines) < self.LIMIT:
            self.lines.append(line)
        else:
            self.dropped += 1

    def write_out(self, stream: TextIO, *, failed: bool = False) -> None:
        """The held lines, then where the whole run is; a failure names the log file even when
        nothing was held (its traceback, if any, is only there)."""
        with self.lock or threading.Lock():
            lines, dropped, self.lines, self.dropped = self.lines, self.dropped, [], 0
        if not lines and not (failed and self.log_file is not None):
            return
        text = "".join(line + "\n" for line in lines)
        if dropped:
            text += f"recon: {dropped} more warnings and errors are in the log file\n"
        if self.log_file is not None:
            text += f"recon: the whole run: {self.log_file}\n"
        try:
            stream.write(text)
            stream.flush()
        except (OSError, ValueError):
            pass


def release_held(stream: TextIO | None = None, *, failed: bool = False) -> None:
    """Write the warnings and errors a batch run held back (after the command's own error line)."""
    for handler in logging.getLogger("recon").handlers:
        if isinstance(handler, HeldHandler):
            handler.write_out(sys.stderr if stream is None else stream, failed=failed)


def setup_logging(*, run_id: str | None = None, log_format: str = "text", verbose: bool = False,
                  log_file: Path | None = None, mode: ConsoleMode | None = None) -> None:
    """Configure the ``recon`` loggers.

    stderr, by :func:`console_mode`: a terminal gets warnings and errors live (progress and the
    summary say the rest); the journal every event live; a batch reader (cron) only the warnings and
    errors, held until the command ends. ``-v`` shows every event, retries and checkpoints included,
    live everywhere. ``log_file`` always gets every event of the run.
    """
    mode = console_mode() if mode is None else mode
    # A log line that cannot be written (full disk) must not print tracebacks or stop the run.
    logging.raiseExceptions = False
    root = logging.getLogger("recon")
    held: list[str] = []
    for handler in list(root.handlers):
        if isinstance(handler, HeldHandler):  # what the command held before its run's logging began
            held, handler.lines = handler.lines, []
        root.removeHandler(handler)
        handler.close()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.propagate = False
    console: logging.Handler
    if mode == "batch" and not verbose:
        holder = HeldHandler()
        holder.lines, holder.log_file = held, log_file
        console = holder
    else:
        console = logging.StreamHandler(sys.stderr)
        console.setLevel(logging.DEBUG if verbose else logging.INFO if mode == "journal" else logging.WARNING)
    console.setFormatter(JsonFormatter(tracebacks=False) if log_format == "json" else LineFormatter(tracebacks=False))
    console.addFilter(ConsoleFilter())
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
