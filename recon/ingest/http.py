"""One httpx.Client per source: timeouts, bounded retries with backoff, Retry-After, auth.

The retry policy follows singer-sdk's split: 429, 5xx, timeouts, dropped connections and a body
that is not JSON are retriable; any other 4xx is fatal at once and carries the server's problem
details. A 401 refreshes the token once and retries once.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

import httpx

from recon.config import HttpSettings
from recon.errors import FatalSourceError, HttpStatusError, RetriableSourceError

log = logging.getLogger("recon.http")

RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class TokenProvider(Protocol):
    def token(self) -> str: ...

    def invalidate(self) -> None: ...


class BadJson(ValueError):
    pass


def decode_json(body: bytes) -> Any:
    """JSON with exact numbers: decimals become Decimal, never float.

    Bytes that are not UTF-8 survive as surrogate escapes, so that the one bad record can be
    quarantined while the rest of its page lands.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = body.decode("utf-8", errors="surrogateescape")
    try:
        # NaN/Infinity stay strings so that validation rejects them instead of crashing.
        return json.loads(text, parse_float=Decimal, parse_constant=str)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise BadJson(f"response is not valid JSON ({exc.__class__.__name__}: {str(exc)[:80]})") from None


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
    """The decoded error body (RFC 7807, Entur's, OAuth's) and a short human summary of it.

    Only the fields that describe the error are summarised; a body that echoes the request
    (and its secret) never reaches a message.
    """
    try:
        body = decode_json(resp.content)
    except BadJson:
        body = None
    problem = body if isinstance(body, dict) else None
    parts: list[str] = []
    if problem is not None:
        for key in ("title", "error", "detail", "message", "error_description", "errorMessage", "errorCode"):
            value = problem.get(key)
            if isinstance(value, (str, int)) and str(value) and str(value) not in parts:
                parts.append(str(value))
    elif resp.content and body is None:
        parts.append(resp.text[:200].strip())
    text = "; ".join(parts)[:300]
    return problem, f"HTTP {resp.status_code}" + (f": {text}" if text else "")


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
        self.client = httpx.Client(
            timeout=httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout),
            headers=dict(headers or {}),
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
        **kwargs: Any,
    ) -> Any:
        """Send with retries and return the decoded JSON body of a 2xx answer.

        ``fresh`` builds extra request arguments anew for each attempt (a client assertion's
        ``jti`` must never be sent twice).
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
            try:
                resp = self.client.request(method, url, headers=headers, **kwargs, **extra)
            except httpx.TimeoutException:
                kind, reason = "timeout", "timeout"
            except httpx.TransportError as exc:
                kind, reason = "connection error", f"connection error ({exc.__class__.__name__})"
            else:
                status = resp.status_code
                if status == 401 and token is not None and not refreshed:
                    # An unexpected 401 with a cached token: refresh once, retry once.
                    refreshed = True
                    token.invalidate()
                    self.retries["401"] += 1
                    log.warning("%s: %s answered 401, refreshing the token", self.source, what)
                    attempt -= 1
                    continue
                if status in RETRY_STATUSES:
                    kind = reason = f"HTTP {status}"
                    delay = retry_after_seconds(resp.headers.get("Retry-After"))
                    if delay is not None and delay > self.settings.max_retry_after:
                        raise RetriableSourceError(
                            self.source,
                            f"{what}: {problem_details(resp)[1]}; Retry-After {delay:.0f}s is longer than "
                            f"http.max_retry_after ({self.settings.max_retry_after:.0f}s)",
                        )
                elif status >= 400:
                    problem, summary = problem_details(resp)
                    raise HttpStatusError(self.source, what, status, problem, summary)
                elif status >= 300:
                    raise FatalSourceError(self.source, f"{what}: unexpected redirect HTTP {status}")
                else:
                    try:
                        return decode_json(resp.content)
                    except BadJson as exc:
                        kind, reason = "response is not valid JSON", str(exc)
            self.retries[kind] += 1
            if attempt >= attempts:
                raise RetriableSourceError(self.source, f"{what}: gave up after {attempt} attempts: {reason}")
            if delay is None:
                delay = self._backoff(attempt)
            self.waited.append(delay)
            log.warning("%s: %s: %s; retry %d/%d in %.1fs", self.source, what, reason, attempt,
                        attempts - 1, delay)
            self.sleep(delay)


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
