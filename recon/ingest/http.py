"""One httpx.Client per source: timeouts, bounded retries with backoff, Retry-After, auth.

The retry policy follows singer-sdk's split: 429, 5xx, timeouts, dropped connections and a body
that is not JSON are retriable; any other 4xx is fatal at once and carries the server's problem
details. A 401 refreshes the token once and retries once.

Every response is streamed: ``http.request_deadline`` bounds the whole request, body included
(a server dripping bytes counts as a timeout), and the body is decoded here, a bounded piece at a
time, so that no more than ``http.max_body_bytes`` of it is ever held (a gzip bomb fails the
source). Server text reaches a message only redacted and on one line.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import re
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol
from urllib.parse import quote

import httpx
import orjson

from recon.config import HttpSettings
from recon.errors import FatalSourceError, HttpStatusError, RetriableSourceError
from recon.logs import one_line, redact

log = logging.getLogger("recon.http")

RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
# The only fields of a token endpoint's error body that recon shows (RFC 6749 §5.2): the rest of
# such a body may echo the request, and with it the secret.
OAUTH_ERROR_FIELDS = ("error", "error_description")
PROBLEM_FIELDS = ("title", "error", "detail", "message", "error_description", "errorMessage", "errorCode")
# Deeper than this, a JSON value is not built but kept as a TooDeep marker (the record holding it
# goes to quarantine); it keeps every document recon handles far from the recursion limit.
DECODE_DEPTH = 128
_DECODE_STEP = 64 * 1024  # at most this many decoded bytes from one decompression call


def path_segment(value: str) -> str:
    """``value`` as one URL path segment: every reserved character percent-encoded, and a ``.``
    or ``..`` segment too (``%2E``), which URL normalisation would otherwise resolve away
    (``/references/..`` is the ledger's whole feed)."""
    segment = quote(value, safe="")
    if segment in (".", ".."):
        segment = segment.replace(".", "%2E")
    return segment


def server_text(value: str, limit: int = 300) -> str:
    """Text a server sent, fit for a message: secrets redacted (before it is cut, so that no part
    of one survives), control characters and line separators escaped, at most ``limit`` chars."""
    return one_line(redact(value))[:limit]


class TokenProvider(Protocol):
    def token(self) -> str: ...

    def invalidate(self) -> None: ...


class BadJson(ValueError):
    pass


class TooDeep:
    """A JSON value nested more than ``DECODE_DEPTH`` levels down, kept as (a cut of) its text."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:  # how canonical_json (default=str) shows it in quarantine
        return f"<nested more than {DECODE_DEPTH} levels: {self.text}>"

    __repr__ = __str__


def decode_json(body: bytes) -> Any:
    """JSON with exact numbers: decimals become Decimal, never float.

    Bytes that are not UTF-8 survive as surrogate escapes, so that the one bad record can be
    quarantined while the rest of its page lands. So does a record nested beyond the recursion
    limit: such a document is decoded again without recursion (values deeper than
    ``DECODE_DEPTH`` become ``TooDeep`` markers).
    """
    try:
        # orjson reads UTF-8 bytes five times faster than json.loads; it refuses bad UTF-8, lone
        # surrogate escapes, NaN and nesting beyond 1024 (json.loads below decides those), and
        # its result is kept only where it is exactly what json.loads would have built.
        fast = orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    else:
        if _as_json_loads_builds(fast):
            return fast
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = body.decode("utf-8", errors="surrogateescape")
    try:
        # NaN/Infinity stay strings so that validation rejects them instead of crashing.
        return json.loads(text, parse_float=Decimal, parse_constant=str)
    except ValueError as exc:  # JSONDecodeError, or an integer too long to convert
        raise BadJson(f"response is not valid JSON ({exc.__class__.__name__}: {str(exc)[:80]})") from None
    except RecursionError:
        pass
    try:
        return _decode_deep(text)
    except (ValueError, IndexError) as exc:
        raise BadJson(f"response is not valid JSON ({exc.__class__.__name__}: {str(exc)[:80]})") from None


def _as_json_loads_builds(value: Any) -> bool:
    """Whether orjson's ``value`` is what ``json.loads(parse_float=Decimal)`` builds: no float
    (orjson gives one for a non-integer and for an integer beyond 64 bits, where json.loads gives a
    Decimal or an int) and nothing nested deeper than ``DECODE_DEPTH`` (there json.loads may hit
    the recursion limit, and the document is decoded by ``_decode_deep`` with TooDeep markers)."""
    kind = type(value)
    if kind is float:
        return False
    if kind is not dict and kind is not list:
        return True
    level: list[Any] = [value]
    for _ in range(DECODE_DEPTH):
        below: list[Any] = []
        for container in level:
            for item in (container.values() if type(container) is dict else container):
                kind = type(item)
                if kind is dict or kind is list:
                    below.append(item)
                elif kind is float:
                    return False
        if not below:
            return True
        level = below
    return False


# --- a JSON decoder without recursion, for documents too deep for json.loads --------------------

_WS = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"(-?(?:0|[1-9][0-9]*))(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_NESTING = re.compile(r'[\[\]{}"]')
_LITERALS: tuple[tuple[str, Any], ...] = (
    ("null", None), ("true", True), ("false", False),
    ("NaN", "NaN"), ("Infinity", "Infinity"), ("-Infinity", "-Infinity"),  # parse_constant=str
)
_scanstring: Callable[[str, int, bool], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]


def _ws(text: str, i: int) -> int:
    match = _WS.match(text, i)
    return match.end() if match else i


def _skip_value(text: str, i: int) -> int:
    """The end of the array or object that starts at ``i`` (strings inside skipped as strings)."""
    depth = 0
    while True:
        match = _NESTING.search(text, i)
        if match is None:
            raise ValueError("unterminated array or object")
        i = match.end()
        char = match.group()
        if char == '"':
            i = _scanstring(text, i, True)[1]
        elif char in "[{":
            depth += 1
        else:
            depth -= 1
            if depth == 0:
                return i


def _decode_deep(text: str) -> Any:
    """What ``json.loads(text, parse_float=Decimal, parse_constant=str)`` gives, built with an
    explicit stack; an array or object below ``DECODE_DEPTH`` levels becomes a ``TooDeep``."""
    stack: list[tuple[list[Any] | dict[str, Any], list[str]]] = []  # (container, [pending key])
    n = len(text)
    i = _ws(text, 0)

    def key_at(i: int) -> tuple[str, int]:
        if not text.startswith('"', i):
            raise ValueError(f"expecting a property name at char {i}")
        key, i = _scanstring(text, i + 1, True)
        i = _ws(text, i)
        if not text.startswith(":", i):
            raise ValueError(f"expecting ':' at char {i}")
        return key, _ws(text, i + 1)

    while True:
        # A value starts at i.
        if i >= n:
            raise ValueError("expecting a value at the end")
        char = text[i]
        value: Any
        if char in "[{":
            if len(stack) >= DECODE_DEPTH:
                end = _skip_value(text, i)
                value, i = TooDeep(text[i:min(end, i + 60)] + ("…" if end > i + 60 else "")), end
            else:
                closer = "]" if char == "[" else "}"
                j = _ws(text, i + 1)
                if text.startswith(closer, j):
                    value, i = ([] if char == "[" else {}), j + 1
                elif char == "[":
                    stack.append(([], []))
                    i = j
                    continue
                else:
                    key, i = key_at(j)
                    stack.append(({}, [key]))
                    continue
        elif char == '"':
            value, i = _scanstring(text, i + 1, True)
        else:
            for literal, literal_value in _LITERALS:
                if text.startswith(literal, i):
                    value, i = literal_value, i + len(literal)
                    break
            else:
                match = _NUMBER.match(text, i)
                if match is None or match.end() == i:
                    raise ValueError(f"expecting a value at char {i}")
                whole, fraction, exponent = match.groups()
                value = Decimal(match.group()) if fraction or exponent else int(whole)
                i = match.end()
        # Put the value in its container; close every container that ends here.
        while True:
            if not stack:
                i = _ws(text, i)
                if i != n:
                    raise ValueError(f"extra data at char {i}")
                return value
            container, pending = stack[-1]
            if isinstance(container, list):
                container.append(value)
            else:
                container[pending[0]] = value
            i = _ws(text, i)
            if text.startswith(",", i):
                i = _ws(text, i + 1)
                if isinstance(container, dict):
                    pending[0], i = key_at(i)
                break
            if text.startswith("]" if isinstance(container, list) else "}", i):
                stack.pop()
                value, i = container, i + 1
                continue
            raise ValueError(f"expecting ',' or a closing bracket at char {i}")


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as delta-seconds or an HTTP-date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


def problem_details(resp: httpx.Response) -> tuple[dict[str, Any] | None, str]:
    """``summarise_problem`` of a response whose body has been read."""
    return summarise_problem(resp.status_code, resp.content)


def summarise_problem(status: int, content: bytes, *, oauth: bool = False) -> tuple[dict[str, Any] | None, str]:
    """The decoded error body (RFC 7807, Entur's, OAuth's) and a short human summary of it.

    Only the fields that describe the error are summarised, redacted and on one line. For a
    token endpoint (``oauth``) that is ``error`` and ``error_description`` alone, and the body
    kept is cut down to them: the rest may echo the request, and its secret. A body that is not
    JSON is quoted (its start) for data endpoints only.
    """
    try:
        body = decode_json(content)
    except BadJson:
        body = None
    problem = body if isinstance(body, dict) else None
    fields = OAUTH_ERROR_FIELDS if oauth else PROBLEM_FIELDS
    if problem is not None and oauth:
        problem = {key: problem[key] for key in fields if isinstance(problem.get(key), (str, int))}
    parts: list[str] = []
    if problem is not None:
        for key in fields:
            value = problem.get(key)
            if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value):
                part = server_text(str(value), 200).strip()
                if part and part not in parts:
                    parts.append(part)
    elif content and body is None and not oauth:
        parts.append(server_text(content[:400].decode("utf-8", "replace"), 200).strip())
    text = "; ".join(parts)[:300]
    return problem, f"HTTP {status}" + (f": {text}" if text else "")


class _DeadlineExceeded(Exception):
    pass


class _BadEncoding(Exception):
    pass


def _decompressor(encoding: str) -> Callable[[Iterable[bytes]], Iterator[bytes]] | None:
    """A bounded decoder for one Content-Encoding (None: passed through, as httpx does)."""
    if encoding in ("gzip", "x-gzip"):
        def gzip(chunks: Iterable[bytes]) -> Iterator[bytes]:
            return _inflate(chunks, lambda: zlib.decompressobj(zlib.MAX_WBITS | 16), None)
        return gzip
    if encoding == "deflate":
        def deflate(chunks: Iterable[bytes]) -> Iterator[bytes]:
            # zlib-wrapped as the RFC says; raw deflate as some servers send it.
            return _inflate(chunks, zlib.decompressobj, lambda: zlib.decompressobj(-zlib.MAX_WBITS))
        return deflate
    return None


def _inflate(chunks: Iterable[bytes], make: Callable[[], Any], fallback: Callable[[], Any] | None
             ) -> Iterator[bytes]:
    """Decompress, never more than ``_DECODE_STEP`` bytes per call: a bomb cannot balloon."""
    engine = make()
    first = True
    for chunk in chunks:
        data = chunk
        while data:
            try:
                out = engine.decompress(data, _DECODE_STEP)
            except zlib.error:
                if not (first and fallback):
                    raise _BadEncoding("the compressed body is corrupt") from None
                engine, fallback = fallback(), None
                continue
            first = False
            if out:
                yield out
            data = engine.unconsumed_tail
            if engine.eof:
                break
    try:
        while not engine.eof:
            out = engine.decompress(b"", _DECODE_STEP)
            if not out:
                break
            yield out
        rest = engine.flush()
    except zlib.error:
        raise _BadEncoding("the compressed body is corrupt") from None
    if rest:
        yield rest
    if not engine.eof:
        raise _BadEncoding("the compressed body ends early")


class Session:
    """An httpx.Client plus the retry loop. Used for data calls and token calls alike."""

    def __init__(
        self,
        source: str,
        settings: HttpSettings,
        *,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.source = source
        self.settings = settings
        deadline = settings.request_deadline
        self.client = httpx.Client(
            # No single wait may outlast the whole request's deadline.
            timeout=httpx.Timeout(min(settings.read_timeout, deadline),
                                  connect=min(settings.connect_timeout, deadline)),
            # Only what _read_body can decode, a bounded piece at a time.
            headers={"Accept-Encoding": "gzip, deflate", **dict(headers or {})},
            transport=transport,
            follow_redirects=False,
        )
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.retries: Counter[str] = Counter()
        self.waited: list[float] = []
        self.requests = 0

    def close(self) -> None:
        self.client.close()

    def _backoff(self, attempt: int) -> float:
        # Full jitter: spreads retries of parallel runs instead of synchronising them.
        cap = min(self.settings.backoff_max, self.settings.backoff_base * 2 ** (attempt - 1))
        return self.rng.uniform(cap / 2, cap)

    def request_json(
        self,
        method: str,
        url: str,
        *,
        token: TokenProvider | None = None,
        what: str | None = None,
        fresh: Callable[[], dict[str, Any]] | None = None,
        oauth: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Send with retries and return the decoded JSON body of a 2xx answer.

        ``fresh`` builds extra request arguments anew for each attempt (a client assertion's
        ``jti`` must never be sent twice). ``oauth`` marks a token request: of an error body only
        ``error`` and ``error_description`` are kept or shown.
        """
        what = what or f"{method} {url.split('?')[0]}"
        attempts = self.settings.max_attempts
        refreshed = False
        attempt = 0
        base_headers = dict(kwargs.pop("headers", None) or {})
        while True:
            attempt += 1
            headers = dict(base_headers)
            if token is not None:
                headers["Authorization"] = f"Bearer {token.token()}"
            extra = fresh() if fresh else {}
            self.requests += 1
            delay: float | None = None
            started = time.monotonic()
            try:
                with self.client.stream(method, url, headers=headers, **kwargs, **extra) as resp:
                    content = self._read_body(resp, started + self.settings.request_deadline, what)
            except httpx.TimeoutException:
                kind, reason = "timeout", "timeout"
            except _DeadlineExceeded:
                kind, reason = "timeout", (f"timeout (the whole request took longer than http.request_deadline, "
                                           f"{self.settings.request_deadline:g}s)")
            except httpx.TransportError as exc:
                kind, reason = "connection error", f"connection error ({exc.__class__.__name__})"
            except _BadEncoding as exc:
                kind, reason = "response is not valid JSON", f"response body cannot be decoded ({exc})"
            else:
                status = resp.status_code
                if status == 401 and token is not None and not refreshed:
                    # An unexpected 401 with a cached token: refresh once, retry once.
                    refreshed = True
                    token.invalidate()
                    self.retries["401"] += 1
                    # Routine (the token expired early): the log file's, not the operator's mailbox.
                    log.info("%s: %s answered 401, refreshing the token", self.source, what,
                             extra={"event": "token_refreshed", "source": self.source})
                    attempt -= 1
                    continue
                if status in RETRY_STATUSES:
                    kind = reason = f"HTTP {status}"
                    delay = retry_after_seconds(resp.headers.get("Retry-After"))
                    if delay is not None and delay > self.settings.max_retry_after:
                        raise RetriableSourceError(
                            self.source,
                            f"{what}: {summarise_problem(status, content, oauth=oauth)[1]}; Retry-After "
                            f"{delay:.0f}s is longer than "
                            f"http.max_retry_after ({self.settings.max_retry_after:.0f}s)",
                        )
                elif status >= 400:
                    problem, summary = summarise_problem(status, content, oauth=oauth)
                    raise HttpStatusError(self.source, what, status, problem, summary)
                elif status >= 300:
                    raise FatalSourceError(self.source, f"{what}: unexpected redirect HTTP {status}")
                else:
                    try:
                        return decode_json(content)
                    except BadJson as exc:
                        kind, reason = "response is not valid JSON", str(exc)
            self.retries[kind] += 1
            if attempt >= attempts:
                raise RetriableSourceError(self.source, f"{what}: gave up after {attempt} attempts: {reason}")
            if delay is None:
                delay = self._backoff(attempt)
            self.waited.append(delay)
            # A retry that then succeeds needs nothing from anyone: the log file's, not cron's mail.
            # One that gives up fails the source, and that is an error.
            log.info("%s: %s: %s; retry %d/%d in %.1fs", self.source, what, reason, attempt, attempts - 1, delay,
                     extra={"event": "retry", "source": self.source, "reason": kind, "attempt": attempt,
                            "delay_seconds": round(delay, 3)})
            self.sleep(delay)

    def _read_body(self, resp: httpx.Response, deadline: float, what: str) -> bytes:
        """The decoded body, read against the deadline and never held beyond http.max_body_bytes."""
        cap = self.settings.max_body_bytes
        if resp.is_stream_consumed:
            # A transport that hands over a response already read (httpx.MockTransport with
            # content=...): httpx decoded it; only the cap is left to check.
            if len(resp.content) > cap:
                raise self._too_big(what)
            return resp.content

        def raw() -> Iterator[bytes]:
            for chunk in resp.iter_raw():
                if time.monotonic() > deadline:
                    raise _DeadlineExceeded
                yield chunk

        chunks: Iterator[bytes] = raw()
        encodings = [e.strip().lower() for e in resp.headers.get("Content-Encoding", "").split(",")]
        for encoding in reversed(encodings):  # the last one applied is undone first
            decoder = _decompressor(encoding)
            if decoder is not None:
                chunks = decoder(chunks)
        parts: list[bytes] = []
        size = 0
        for part in chunks:
            size += len(part)
            if size > cap:
                raise self._too_big(what)
            if time.monotonic() > deadline:
                raise _DeadlineExceeded
            parts.append(part)
        return b"".join(parts)

    def _too_big(self, what: str) -> FatalSourceError:
        return FatalSourceError(self.source, f"{what}: the response body is larger than http.max_body_bytes "
                                             f"({self.settings.max_body_bytes:_} bytes) once decoded; refusing it")


class ApiClient:
    """A source's API: base URL, fixed headers and a token provider over one Session."""

    def __init__(self, session: Session, base_url: str, auth: TokenProvider | None) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        # The bounds of every paging loop over this client (recon.ingest.paging reads them).
        self.paging_limits = (session.settings.max_pages_per_listing, session.settings.max_empty_pages)

    @property
    def source(self) -> str:
        return self.session.source

    def get(self, path: str, params: Mapping[str, Any] | list[tuple[str, Any]] | None = None) -> Any:
        return self.session.request_json(
            "GET", self.base_url + path, token=self.auth, params=params, what=f"GET {path}"
        )

    def close(self) -> None:
        self.session.close()
