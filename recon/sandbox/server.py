"""A fake of the three APIs (Vipps Sales, Entur Sales payments/credits, Samtrafiken Bookings),
served over real HTTP on loopback for the demo, the tests and the benchmarks.

It follows docs/apis.md and adds no conveniences the real APIs lack: the product is also
run against other, independent fakes. Records are served verbatim from a :class:`Dataset` (they
may be malformed on purpose); the dataset's sequences may be lazy and may grow between requests,
so they are only ever sliced or indexed, never copied whole.

Usage::

    with Sandbox(Dataset.load(sample_data_dir()), faults="429@2") as sandbox:
        urls = sandbox.urls()   # vipps_base, vipps_token_url, entur_base, ...
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import email.utils
import functools
import hmac
import json
import re
import secrets
import socket
import struct
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from recon.sandbox.dataset import Dataset
from recon.sandbox.entur_query import (
    CREDITS,
    PAYMENTS,
    EnturIndex,
    FilterError,
    Resource,
    parse_filters,
    parse_instant,
)
from recon.sandbox.faults import KINDS, STATUS_KINDS, FaultPlan, parse_faults
from recon.sandbox.keys import sandbox_public_key_pem
from recon.sandbox.quirks import Quirks, parse_quirks

__all__ = ["Sandbox", "SandboxCredentials"]

VIPPS_TOKEN_TTL = 900  # docs/apis.md §1.1
ENTUR_TOKEN_TTL = 86_400  # §3.1
SAMTRAFIKEN_TOKEN_TTL = 300  # §4.2 (assumed)
MAX_ASSERTION_LIFETIME = 300  # exp - iat, seconds
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_MAX_BODY = 1 << 20  # token requests are tiny; refuse anything absurd
_CHUNK = 1024  # scans slice the (possibly lazy) sequence in chunks rather than index per item
_REDACTED_HEADERS = frozenset({"authorization", "proxy-authorization", "ocp-apim-subscription-key"})


@dataclass
class SandboxCredentials:
    vipps_client_id: str = "sandbox-vipps-client"
    vipps_client_secret: str = "sandbox-vipps-secret"
    entur_client_id: str = "sandbox-entur-client"
    entur_client_secret: str = "sandbox-entur-secret"
    entur_audience: str = "https://api.sandbox.entur.io"
    samtrafiken_client_id: str = "sandbox-samtrafiken-client"
    samtrafiken_kid: str = "sandbox-key-1"
    samtrafiken_public_key_pem: str = field(default_factory=sandbox_public_key_pem)
    samtrafiken_alg: str = "RS256"  # the one signature algorithm the token endpoint accepts
    samtrafiken_audience: str | None = None  # the aud it wants; None: its own token URL


# ---------------------------------------------------------------------------------------------
# Requests, replies and routing


@dataclass
class _Reply:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    drip: int | None = None  # the `slow-body` quirk: send the body at this many bytes per second


class _Refusal(Exception):
    """Raised by a route to answer early (401, 400, 404, ...) with a ready reply."""

    def __init__(self, reply: _Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


@dataclass
class _Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    api: str
    params: tuple[str, ...] = ()
    repeat: bool = False  # the `repeat` fault: also serve one record of the previous page

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


def _json(status: int, doc: Any, headers: list[tuple[str, str]] | None = None) -> _Reply:
    try:
        text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    except RecursionError:
        text = _deep_dumps(doc)  # a record nested beyond the recursion limit is served as it is
    try:
        # surrogateescape: a record may carry raw non-UTF-8 bytes (decoded with surrogateescape)
        # that are to be served as those bytes.
        body = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        # Other lone surrogates cannot be sent as UTF-8 at all; \uXXXX escapes keep them verbatim.
        body = json.dumps(doc, ensure_ascii=True, separators=(",", ":")).encode("ascii")
    return _Reply(status, body, "application/json", headers or [])


def _deep_dumps(doc: Any) -> str:
    """``json.dumps`` (compact) without recursion, for documents nested deeper than it can go."""
    out: list[str] = []
    stack: list[Any] = [doc]
    while stack:
        item = stack.pop()
        if isinstance(item, _Raw):
            out.append(item.text)
        elif isinstance(item, dict):
            out.append("{")
            parts: list[Any] = []
            for i, (key, value) in enumerate(item.items()):
                parts += [_Raw(("," if i else "") + json.dumps(str(key), ensure_ascii=False) + ":"), value]
            stack += [_Raw("}"), *reversed(parts)]
        elif isinstance(item, list | tuple):
            out.append("[")
            parts = []
            for i, value in enumerate(item):
                parts += [_Raw(",")] * bool(i) + [value]
            stack += [_Raw("]"), *reversed(parts)]
        else:
            out.append(json.dumps(item, ensure_ascii=False))
    return "".join(out)


@dataclass
class _Raw:
    text: str


@functools.cache
def _gzip_bomb(mib: int) -> bytes:
    """The `gzip-bomb` quirk's body: gzip of an empty Vipps-style page padded with ``mib`` MiB of
    blanks (valid JSON once decoded; about 1 KiB compressed per MiB)."""
    engine = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    blanks = b" " * (1 << 20)
    parts = [engine.compress(b'{"items":[')]
    parts += [engine.compress(blanks) for _ in range(mib)]
    parts += [engine.compress(b'],"hasMore":false}'), engine.flush()]
    return b"".join(parts)


_SEG = "([^/]+)"
_LEDGER = "/vipps/sales/report/v1/ledgers/" + _SEG
_REPORT = "/vipps/report/v2/ledgers/" + _SEG + "/" + _SEG
# (method, path pattern, api, Sandbox method name). GET routes are the data routes.
_ROUTE_TABLE: list[tuple[str, str, str, str]] = [
    ("POST", "/vipps/miami/v1/token", "vipps", "_vipps_token"),
    ("GET", "/vipps/settlement/v1/ledgers", "vipps", "_vipps_ledger_list"),
    ("GET", _LEDGER, "vipps", "_vipps_feed"),
    ("GET", _LEDGER + "/dates/" + _SEG, "vipps", "_vipps_dates"),
    ("GET", _LEDGER + "/references/" + _SEG, "vipps", "_vipps_reference"),
    ("GET", _LEDGER + "/psp-references/" + _SEG, "vipps", "_vipps_psp_reference"),
    ("GET", _REPORT + "/feed", "vipps", "_report_feed"),
    ("GET", _REPORT + "/dates/" + _SEG, "vipps", "_report_dates"),
    ("POST", "/entur/oauth/token", "entur", "_entur_token"),
    ("GET", "/entur/sales/v1/payments", "entur", "_entur_payments"),
    ("GET", "/entur/sales/v1/credits", "entur", "_entur_credits"),
    ("POST", "/samtrafiken/oauth/token", "samtrafiken", "_samtrafiken_token"),
    ("GET", "/samtrafiken/bookings/v1/events", "samtrafiken", "_samtrafiken_events"),
]


_ROUTES = [(m, re.compile(p), api, name) for m, p, api, name in _ROUTE_TABLE]


def _api_of(path: str) -> str:
    head = path.split("/", 2)[1] if path.count("/") >= 1 else ""
    return head if head in ("vipps", "entur", "samtrafiken") else ""


# ---------------------------------------------------------------------------------------------
# Cursors: opaque base64 of an 8-byte position. Vipps shows standard base64 ("2ScAAAAAAAA=");
# the Samtrafiken fake uses the URL-safe alphabet without padding.


def _encode_position(position: int, urlsafe: bool = False) -> str:
    raw = struct.pack("<Q", position)
    if urlsafe:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
    return base64.b64encode(raw).decode("ascii")


def _decode_position(text: str, urlsafe: bool = False) -> int:
    """The position in a cursor; ValueError when it is not one of ours."""
    try:
        if urlsafe:
            raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
        else:
            raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None
    if len(raw) != 8:
        raise ValueError("wrong length")
    return int(struct.unpack("<Q", raw)[0])


def _scan(
    seq: Sequence[Any], start: int, limit: int, keep: Callable[[Any], bool]
) -> tuple[list[Any], int, bool]:
    """Up to `limit` records from `start` that `keep` accepts -> (items, next position, has more).

    The next position is that of the next accepted record (so hasMore is exact and a resumed scan
    does not re-read skipped records), or the end when there is none.
    """
    n = len(seq)
    position = min(start, n)
    items: list[Any] = []
    while position < n:
        chunk = seq[position:min(n, position + _CHUNK)]
        if not chunk:
            break
        for offset, record in enumerate(chunk):
            if keep(record):
                if len(items) == limit:
                    return items, position + offset, True
                items.append(record)
        position += len(chunk)
    return items, position, False


def _previous_match(seq: Sequence[Any], start: int, keep: Callable[[Any], bool]) -> Any | None:
    """The last accepted record before `start` (what the previous page ended with), if any."""
    for position in range(min(start, len(seq)) - 1, -1, -1):
        record = seq[position]
        if keep(record):
            return record
    return None


# What the personal-data quirk fills in, per API: made-up values a test can search the lake for.
PERSONAL_VALUES: dict[str, dict[str, Any]] = {
    "vipps": {"customer": {"email": "kari.nordmann@example.no", "phone": "+4791234567", "name": "Kari Nordmann"}},
    "vipps_report": {"message": "Takk for turen, hilsen Kari Nordmann", "name": "Kari Nordmann",
                     "maskedPhoneNo": "xxxx4567"},
    "entur": {"customerNumber": "KUNDE-4242-7311"},
    "samtrafiken": {"payer": {"name": "Kari Nordmann", "email": "kari.nordmann@example.no"}},
}


def _with_personal(items: list[Any], api: str) -> list[Any]:
    return [{**item, **PERSONAL_VALUES[api]} if isinstance(item, dict) else item for item in items]


def _with_repeat(items: list[Any], previous: Any | None) -> list[Any]:
    """The `repeat` fault: prepend the previous page's last record (first page: its own first)."""
    if not items:
        return items
    return [previous if previous is not None else items[0], *items]


# ---------------------------------------------------------------------------------------------
# The sandbox


class Sandbox:
    """The three fake APIs on one loopback port; see the module docstring."""

    def __init__(
        self,
        dataset: Dataset,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: str | None = None,
        credentials: SandboxCredentials | None = None,
        slow_seconds: float = 3.0,
        entur_page_base: int = 1,
        entur_max_per_page: int = 1000,
        quirks: str | Quirks | None = None,
        report_page_size: int = 250,
    ) -> None:
        if entur_max_per_page < 1:
            raise ValueError("entur_max_per_page must be >= 1")
        self.dataset = dataset
        self.host = host
        self.port = port
        self.credentials = credentials or SandboxCredentials()
        self.fault_spec = parse_faults(faults)  # ValueError on a bad SPEC, before anything binds
        self.slow_seconds = self.fault_spec.slow if self.fault_spec.slow is not None else slow_seconds
        self.entur_page_base = entur_page_base
        self.entur_max_per_page = entur_max_per_page
        if report_page_size < 1:
            raise ValueError("report_page_size must be >= 1")
        self.report_page_size = report_page_size  # the Report API decides its page size (header)
        self.quirks = quirks if isinstance(quirks, Quirks) else parse_quirks(quirks)

        self.stats: dict[str, int] = dict.fromkeys(
            ["requests", "data_requests", "tokens_issued", "unauthorized", "token_refused",
             "server_errors", *(f"fault_{kind}" for kind in KINDS)],
            0,
        )
        self.requests_log: list[dict[str, Any]] = []

        self._lock = threading.Lock()  # stats, requests_log, tokens, seen jti
        self._faults = FaultPlan(self.fault_spec)
        self._tokens: dict[str, tuple[str, float]] = {}  # token -> (api, monotonic expiry)
        self._seen_jti: set[str] = set()
        self._entur_index = EnturIndex()
        self._entur_jwt_secret = secrets.token_bytes(32)
        # RSA or EC, whatever the test registered: PyJWT checks it fits the algorithm.
        self._samtrafiken_key: Any = load_pem_public_key(
            self.credentials.samtrafiken_public_key_pem.encode("ascii")
        )
        self._server: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Sandbox:
        """Bind (port 0 picks a free port) and serve in a daemon thread."""
        if self._server is not None:
            raise RuntimeError("sandbox already started")
        server = _HTTPServer((self.host, self.port), _Handler, self)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},  # stop() returns within ~50 ms
            name=f"recon-sandbox:{server.server_address[1]}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = self._thread = None
        server.shutdown()
        # Keep-alive connections live in their own threads: cut them, or a client could keep
        # talking to a stopped sandbox.
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("sandbox not started")
        address, port = self._server.server_address[:2]
        host = address.decode() if isinstance(address, bytes) else str(address)
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}"

    def urls(self) -> dict[str, str]:
        url = self.url
        return {
            "vipps_base": url + "/vipps",
            "vipps_token_url": url + "/vipps/miami/v1/token",
            "entur_base": url + "/entur",
            "entur_token_url": url + "/entur/oauth/token",
            "samtrafiken_base": url + "/samtrafiken",
            "samtrafiken_token_url": url + "/samtrafiken/oauth/token",
        }

    def expire_tokens(self) -> None:
        """Invalidate every token issued so far: the next data call with one of them gets 401."""
        with self._lock:
            self._tokens.clear()

    # -- bookkeeping ---------------------------------------------------------------------------

    def _bump(self, name: str, by: int = 1) -> None:
        with self._lock:
            self.stats[name] = self.stats.get(name, 0) + by

    def _log(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> None:
        entry = {
            "method": method,
            "path": path,
            # one value as a string, a repeated parameter as a list
            "query": {k: (v[0] if len(v) == 1 else list(v)) for k, v in query.items()},
            "headers": {
                k: ("<redacted>" if k in _REDACTED_HEADERS else v) for k, v in headers.items()
            },
        }
        with self._lock:
            self.stats["requests"] += 1
            self.requests_log.append(entry)

    # -- dispatch ------------------------------------------------------------------------------

    def _handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> _Reply | None:
        """One request -> a reply, or None to drop the connection. Never raises."""
        parts = urlsplit(target)
        path = parts.path
        api = _api_of(path)
        try:
            query = parse_qs(parts.query, keep_blank_values=True)
            self._log(method, path, query, headers)
            allowed: list[str] = []
            for route_method, pattern, route_api, name in _ROUTES:
                match = pattern.fullmatch(path)
                if match is None:
                    continue
                if route_method != method:
                    allowed.append(route_method)
                    continue
                request = _Request(
                    method, path, query, headers, body, route_api,
                    tuple(unquote(g) for g in match.groups()),
                )
                route = getattr(self, name)
                if method == "GET":
                    return self._serve_data(route, request)
                if self.quirks.token_echo and name.endswith("_token"):
                    return self._token_echo(request)
                return self._call(route, request)
            if allowed:
                return self._error(api, path, 405, "Method Not Allowed",
                                   f"use {', '.join(sorted(set(allowed)))}",
                                   [("Allow", ", ".join(sorted(set(allowed))))])
            return self._error(api, path, 404, "Not Found", "no such resource")
        except Exception:  # noqa: BLE001 - a bug must cost one 500, never the server
            self._bump("server_errors")
            return self._error(api, path, 500, "Internal Server Error",
                               "the sandbox failed to answer this request")

    @staticmethod
    def _call(route: Callable[[_Request], _Reply], request: _Request) -> _Reply:
        try:
            return route(request)
        except _Refusal as refusal:
            return refusal.reply

    def _serve_data(self, route: Callable[[_Request], _Reply], request: _Request) -> _Reply | None:
        number, kind = self._faults.next()
        with self._lock:
            self.stats["data_requests"] = max(self.stats["data_requests"], number)
            if kind is not None:
                self.stats[f"fault_{kind}"] += 1
        if kind in STATUS_KINDS:
            return self._fault_reply(kind, request)
        if kind == "drop":
            return None
        if kind == "slow":
            time.sleep(self.slow_seconds)
        request.repeat = kind == "repeat"
        if self.quirks.forged_problem:
            return self._forged_problem(request)
        reply = self._call(route, request)
        if kind == "truncate":
            # Content-Length is computed from the (cut) body when sending: a well-formed HTTP
            # answer carrying broken JSON.
            reply.body = reply.body[: len(reply.body) // 2]
        return self._hostile_body(reply)

    # -- hostile servers (quirks slow-body, gzip-bomb, forged-problem, token-echo) ------------------

    def _hostile_body(self, reply: _Reply) -> _Reply:
        if self.quirks.gzip_bomb and reply.status == 200:
            reply.body = _gzip_bomb(self.quirks.gzip_bomb)
            reply.headers.append(("Content-Encoding", "gzip"))
        if self.quirks.slow_body:
            reply.drip = self.quirks.slow_body
        return reply

    def _forged_problem(self, request: _Request) -> _Reply:
        forged = (f"\n{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ} INFO run=- recon.run: run finished: 0 exceptions"
                  "\r\x1b[2K\u2028\x85")
        status = self.quirks.forged_problem or 400
        return self._error(request.api, request.path, status, "Bad Request" + forged,
                           "the request was refused" + forged)

    def _token_echo(self, request: _Request) -> _Reply:
        """A token endpoint that refuses and echoes the whole request, secrets included."""
        self._bump("token_refused")
        lines = [f"{request.method} {request.path}", *(f"{k}: {v}" for k, v in request.headers.items()),
                 "", request.body.decode("utf-8", "replace")]
        echo = "\n".join(lines)
        if self.quirks.token_echo == "text":
            return _Reply(400, echo.encode("utf-8"), "text/plain; charset=utf-8")
        # The credentials first, so that they fall within whatever part of the text a client shows.
        said = (f"authorization={request.headers.get('authorization', '-')} "
                f"body={request.body.decode('utf-8', 'replace')}")
        doc = {"error": "invalid_client", "error_description": "could not authenticate: " + said,
               "message": echo, "detail": echo, "title": echo,
               "request": {"method": request.method, "path": request.path, "headers": request.headers,
                           "body": request.body.decode("utf-8", "replace")}}
        return _json(int(self.quirks.token_echo or 400), doc)

    def _fault_reply(self, kind: str | None, request: _Request) -> _Reply:
        wait = self.fault_spec.retry_after
        if kind in ("429", "429date", "429bare"):
            headers: list[tuple[str, str]] = []
            if kind == "429":
                headers.append(("Retry-After", str(wait)))
            elif kind == "429date":
                headers.append(("Retry-After", email.utils.formatdate(time.time() + wait, usegmt=True)))
            return self._error(request.api, request.path, 429, "Too Many Requests",
                               "rate limit exceeded", headers)
        if kind == "503":
            return self._error(request.api, request.path, 503, "Service Unavailable",
                               "temporarily unavailable", [("Retry-After", str(wait))])
        return self._error(request.api, request.path, 500, "Internal Server Error",
                           "an unexpected error occurred")

    # -- error bodies ----------------------------------------------------------------------------

    def _error(self, api: str, path: str, status: int, title: str, detail: str,
               headers: list[tuple[str, str]] | None = None) -> _Reply:
        """Each API's own error shape: Entur's {path,error,status,message,timestamp}, else
        RFC 7807 problem+json (Vipps platform default, Samtrafiken ACCESS/OSDM)."""
        if api == "entur":
            doc: dict[str, Any] = {
                "path": path,
                "error": HTTPStatus(status).phrase,
                "status": status,
                "message": detail,
                "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            }
            return _json(status, doc, headers)
        doc = {
            "type": "about:blank",
            "title": title,
            "status": status,
            "detail": detail,
            "instance": path,
            "traceId": uuid.uuid4().hex,
        }
        reply = _json(status, doc, headers)
        reply.content_type = "application/problem+json"
        return reply

    def _refuse(self, request: _Request, status: int, title: str, detail: str,
                headers: list[tuple[str, str]] | None = None) -> _Refusal:
        return _Refusal(self._error(request.api, request.path, status, title, detail, headers))

    def _oauth_error(self, status: int, error: str, description: str) -> _Refusal:
        self._bump("token_refused")
        return _Refusal(_json(status, {"error": error, "error_description": description},
                              [("Cache-Control", "no-store")]))

    # -- tokens ----------------------------------------------------------------------------------

    def _issue_token(self, api: str, ttl: int, token: str | None = None) -> str:
        token = token or secrets.token_urlsafe(32)
        now = time.monotonic()
        with self._lock:
            if len(self._tokens) > 10_000:  # long benchmark runs: forget expired tokens
                self._tokens = {t: v for t, v in self._tokens.items() if v[1] > now}
            self._tokens[token] = (api, now + ttl)
            self.stats["tokens_issued"] += 1
        return token

    def _token_reply(self, token: str, ttl: int) -> _Reply:
        return _json(200, {"access_token": token, "token_type": "Bearer", "expires_in": ttl},
                     [("Cache-Control", "no-store"), ("Pragma", "no-cache")])

    def _require_bearer(self, request: _Request) -> None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip()
        valid = False
        if scheme.lower() == "bearer" and token:
            with self._lock:
                entry = self._tokens.get(token)
            valid = entry is not None and entry[0] == request.api and entry[1] > time.monotonic()
        if not valid:
            self._bump("unauthorized")
            raise self._refuse(request, 401, "Unauthorized",
                               "missing, invalid or expired access token",
                               [("WWW-Authenticate", 'Bearer error="invalid_token"')])

    def _vipps_token(self, request: _Request) -> _Reply:
        creds = self.credentials
        # Accounting-key flow: a subscription key is an error, not ignored (docs/apis.md §1.1).
        if "ocp-apim-subscription-key" in request.headers:
            raise self._oauth_error(401, "invalid_client",
                                    "Ocp-Apim-Subscription-Key must not be sent in this flow")
        client = _basic_credentials(request.headers.get("authorization", ""))
        if client is None or not (_same(client[0], creds.vipps_client_id)
                                  and _same(client[1], creds.vipps_client_secret)):
            raise self._oauth_error(401, "invalid_client", "client authentication failed")
        form = parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True)
        if form.get("grant_type") != ["client_credentials"]:
            raise self._oauth_error(401, "invalid_client", "grant_type must be client_credentials")
        return self._token_reply(self._issue_token("vipps", VIPPS_TOKEN_TTL), VIPPS_TOKEN_TTL)

    def _entur_token(self, request: _Request) -> _Reply:
        creds = self.credentials
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise self._oauth_error(400, "invalid_request", "Content-Type must be application/json")
        try:
            doc = json.loads(request.body)
        except ValueError:
            raise self._oauth_error(400, "invalid_request", "the body is not JSON") from None
        if not isinstance(doc, dict):
            raise self._oauth_error(400, "invalid_request", "the body must be a JSON object")
        if "grant_type" not in doc:
            raise self._oauth_error(400, "invalid_request", "missing grant_type")
        if doc["grant_type"] != "client_credentials":
            raise self._oauth_error(400, "unsupported_grant_type", "grant_type must be client_credentials")
        if not (_same(doc.get("client_id"), creds.entur_client_id)
                and _same(doc.get("client_secret"), creds.entur_client_secret)):
            raise self._oauth_error(401, "access_denied", "Unauthorized")
        if doc.get("audience") != creds.entur_audience:
            raise self._oauth_error(401, "access_denied", "audience is not enabled for this client")
        now = int(time.time())
        # Entur's tokens are JWTs (docs/apis.md §3.1); clients must still treat them as opaque.
        token = jwt.encode(
            {"iss": self.url + "/entur/", "sub": creds.entur_client_id + "@clients",
             "aud": creds.entur_audience, "iat": now, "exp": now + ENTUR_TOKEN_TTL,
             "gty": "client-credentials", "jti": secrets.token_hex(8)},
            self._entur_jwt_secret, algorithm="HS256",
        )
        return self._token_reply(self._issue_token("entur", ENTUR_TOKEN_TTL, token), ENTUR_TOKEN_TTL)

    def _samtrafiken_token(self, request: _Request) -> _Reply:
        creds = self.credentials
        form = parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True)

        def one(name: str) -> str | None:
            values = form.get(name)
            return values[0] if values and len(values) == 1 else None

        if one("grant_type") != "client_credentials":
            raise self._oauth_error(400, "invalid_grant", "grant_type must be client_credentials")
        if one("client_assertion_type") != JWT_BEARER:
            raise self._oauth_error(400, "invalid_grant", f"client_assertion_type must be {JWT_BEARER}")
        assertion = one("client_assertion")
        if not assertion:
            raise self._oauth_error(400, "invalid_grant", "missing client_assertion")

        def refuse(why: str) -> _Refusal:  # never echo the assertion itself
            return self._oauth_error(401, "invalid_client", why)

        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError:
            raise refuse("client_assertion is not a JWT") from None
        if header.get("alg") != creds.samtrafiken_alg:
            raise refuse(f"client_assertion must be signed with {creds.samtrafiken_alg}")
        if header.get("kid") != creds.samtrafiken_kid:
            raise refuse("unknown kid")
        # aud: the token URL as this request reached it (a client may say localhost or 127.0.0.1)
        audiences = ([creds.samtrafiken_audience] if creds.samtrafiken_audience else
                     [f"http://{request.headers.get('host', '')}{request.path}", self.urls()["samtrafiken_token_url"]])
        try:
            claims = jwt.decode(
                assertion, self._samtrafiken_key, algorithms=[creds.samtrafiken_alg], audience=audiences,
                issuer=creds.samtrafiken_client_id,
                options={"require": ["iss", "sub", "aud", "exp", "iat", "jti"]},
            )
        except jwt.ExpiredSignatureError:
            raise refuse("client_assertion has expired") from None
        except jwt.PyJWTError as exc:
            raise refuse(f"client_assertion rejected: {exc}") from None
        if claims.get("sub") != creds.samtrafiken_client_id:
            raise refuse("sub must equal the client_id")
        if claims["exp"] - claims["iat"] > MAX_ASSERTION_LIFETIME:
            raise refuse(f"client_assertion lifetime (exp - iat) exceeds {MAX_ASSERTION_LIFETIME} s")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise refuse("jti must be a non-empty string")
        with self._lock:
            replay = jti in self._seen_jti
            self._seen_jti.add(jti)
        if replay:
            raise refuse("jti has already been used")
        token = self._issue_token("samtrafiken", SAMTRAFIKEN_TOKEN_TTL)
        return self._token_reply(token, SAMTRAFIKEN_TOKEN_TTL)

    # -- shared parameter parsing --------------------------------------------------------------

    def _int_arg(self, request: _Request, name: str, default: int,
                 low: int | None = None, high: int | None = None) -> int:
        text = request.arg(name)
        if text is None or text == "":
            return default
        try:
            value = int(text)
        except ValueError:
            raise self._refuse(request, 400, "Bad Request", f"{name} must be an integer") from None
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"{low if low is not None else '-inf'}..{high if high is not None else 'inf'}"
            raise self._refuse(request, 400, "Bad Request", f"{name} must be in {bounds}")
        return value

    def _cursor_arg(self, request: _Request, name: str, urlsafe: bool = False) -> int:
        text = request.arg(name)
        if not text:
            return 0  # omitted: from the earliest record
        try:
            return _decode_position(text, urlsafe)
        except ValueError:
            raise self._refuse(request, 400, "Bad Request", f"invalid {name}") from None

    # -- Vipps Sales API -------------------------------------------------------------------------

    def _vipps_ledger(self, request: _Request) -> Any:
        self._require_bearer(request)
        ledger = self.dataset.ledgers.get(request.params[0])
        if ledger is None or request.params[0] in self.quirks.vipps_revoked:
            raise self._refuse(request, 404, "No such ledgerId",
                               "the ledger does not exist or is not shared with this client")
        return ledger

    def _vipps_page_args(self, request: _Request) -> tuple[int, int]:
        page_size = self._int_arg(request, "pageSize", 100, 1, 1000)
        return page_size, self._cursor_arg(request, "cursor")

    def _vipps_ledger_list(self, request: _Request) -> _Reply:
        """The Report API's ledger list: the granted ledgers, one per page, cursor paging; an empty
        cursor ends the list (docs/apis.md §2). A revoked ledger is not listed."""
        self._require_bearer(request)
        granted = [led for lid, led in sorted(self.dataset.ledgers.items()) if lid not in self.quirks.vipps_revoked]
        start = min(self._cursor_arg(request, "cursor"), len(granted))
        def account(led: Any) -> str:
            return f"1503{binascii.crc32(led.ledger_id.encode()) % 10**7:07d}"

        items = [{"ledgerId": led.ledger_id, "currency": led.currency,
                  "payoutBankAccount": {"scheme": "BBAN:NO", "id": account(led)},
                  "owner": {"scheme": "business:NO:ORG", "id": "987654321"},
                  "settlesForRecipientHandles": [f"NO:{led.ledger_id}"], "salesUnits": []}
                 for led in granted[start:start + 1]]
        end = start + len(items)
        return _json(200, {"items": items, "cursor": _encode_position(end) if end < len(granted) else ""})

    def _vipps_feed(self, request: _Request) -> _Reply:
        ledger = self._vipps_ledger(request)
        page_size, start = self._vipps_page_args(request)
        entries = ledger.entries
        n = len(entries)
        requested = start
        start = min(start, n)
        end = min(start + page_size, n)
        items = list(entries[start:end])  # a shallow slice: records are served as they are
        if request.repeat:
            items = _with_repeat(items, entries[start - 1] if start > 0 else None)
        return self._vipps_page(items, requested, end, end < n)

    def _vipps_dates(self, request: _Request) -> _Reply:
        ledger = self._vipps_ledger(request)
        day = _parse_day(request.params[1])
        if day is None:
            raise self._refuse(request, 400, "Bad Request", "ledgerDate must be a date YYYY-MM-DD")
        page_size, start = self._vipps_page_args(request)
        # The ledger date in the ledger's zone, as a half-open UTC interval (DST-safe).
        zone = ZoneInfo(ledger.timezone)
        low = datetime.combine(day, datetime.min.time(), zone).astimezone(UTC)
        high = datetime.combine(day + timedelta(days=1), datetime.min.time(), zone).astimezone(UTC)

        # Cheap pre-check before parsing: an ISO time's own date is within two days of its date
        # in any zone (offsets are at most 14 h each way). Keeps long scans of big ledgers fast.
        near = {(day + timedelta(days=d)).isoformat() for d in range(-2, 3)}

        def on_day(entry: Any) -> bool:
            text = entry.get("time") if isinstance(entry, dict) else None
            if not isinstance(text, str):
                return False
            if len(text) >= 10 and text[4] == "-" and text[7] == "-" and text[:10] not in near:
                return False
            when = parse_instant(text)
            return when is not None and low <= when < high

        items, end, has_more = _scan(ledger.entries, start, page_size, on_day)
        if request.repeat:
            items = _with_repeat(items, _previous_match(ledger.entries, start, on_day))
        return self._vipps_page(items, start, end, has_more)

    def _vipps_page(self, items: list[Any], requested: int, end: int, has_more: bool) -> _Reply:
        """A feed page, with the hasMore habit the quirks ask for."""
        if self.quirks.personal_data:
            items = _with_personal(items, "vipps")
        body: dict[str, Any] = {"items": items, "cursor": _encode_position(end), "hasMore": has_more}
        if self.quirks.vipps_has_more == "omit":
            del body["hasMore"]
        elif self.quirks.vipps_has_more == "forever" and not has_more:
            # Past the end: "more", nothing on the page, and a cursor that always moves on.
            body.update(hasMore=True, cursor=_encode_position(max(end, requested) + 1))
        return _json(200, body)

    def _vipps_lookup(self, request: _Request, field_name: str) -> _Reply:
        ledger = self._vipps_ledger(request)
        wanted = request.params[1]
        items, end, _ = _scan(
            ledger.entries, 0, sys.maxsize,
            lambda e: isinstance(e, dict) and e.get(field_name) == wanted,
        )
        if request.repeat:
            items = _with_repeat(items, None)
        if self.quirks.personal_data:
            items = _with_personal(items, "vipps")
        # Same envelope as the feed (docs/apis.md §1.2 [I]); everything fits on one page.
        return _json(200, {"items": items, "cursor": _encode_position(end), "hasMore": False})

    def _vipps_reference(self, request: _Request) -> _Reply:
        return self._vipps_lookup(request, "reference")

    def _vipps_psp_reference(self, request: _Request) -> _Reply:
        return self._vipps_lookup(request, "pspReference")

    # -- Vipps Report API (docs/apis.md §2) ---------------------------------------------------------

    def _report_topic(self, request: _Request) -> tuple[Any, Sequence[Any]]:
        ledger = self._vipps_ledger(request)
        topic = request.params[1]
        if topic not in ("funds", "fees"):
            raise self._refuse(request, 400, "Bad Request", "topic must be funds or fees")
        return ledger, ledger.funds if topic == "funds" else ledger.fees

    def _report_items(self, request: _Request, items: list[Any]) -> list[Any]:
        """GDPR fields (message, name, maskedPhoneNo) only when asked for (or always, personal-data)."""
        if self.quirks.personal_data:
            return _with_personal(items, "vipps_report")
        if request.arg("includeGDPRSensitiveData") == "true":
            return items
        return [{k: v for k, v in item.items() if k not in _GDPR_FIELDS} if isinstance(item, dict) else item
                for item in items]

    def _report_page(self, body: dict[str, Any]) -> _Reply:
        return _json(200, body, [("Vipps-Feed-Page-Size", str(self.report_page_size))])

    def _report_feed(self, request: _Request) -> _Reply:
        """The feed: no hasMore; the cursor never empties; at the end the same cursor comes back
        with tryLater (the real API asks to wait at least a second)."""
        _, entries = self._report_topic(request)
        start = min(self._cursor_arg(request, "cursor"), len(entries))
        page = list(entries[start:start + self.report_page_size])
        if not page:
            return self._report_page({"items": [], "cursor": request.arg("cursor") or _encode_position(start),
                                      "tryLater": True})
        items = _with_repeat(page, entries[start - 1] if start > 0 else None) if request.repeat else page
        return self._report_page({"items": self._report_items(request, items),
                                  "cursor": _encode_position(start + len(page)), "tryLater": False})

    def _report_dates(self, request: _Request) -> _Reply:
        """One ledger date: hasMore with a cursor while more; tryLater while the date is open."""
        ledger, entries = self._report_topic(request)
        day = _parse_day(request.params[2])
        if day is None:
            raise self._refuse(request, 400, "Bad Request", "ledgerDate must be a date YYYY-MM-DD")
        wanted = day.isoformat()
        start = self._cursor_arg(request, "cursor")
        items, end, has_more = _scan(entries, start, self.report_page_size,
                                     lambda e: isinstance(e, dict) and e.get("ledgerDate") == wanted)
        if request.repeat:
            items = _with_repeat(items, None)
        body: dict[str, Any] = {"items": self._report_items(request, items), "hasMore": has_more,
                                "tryLater": wanted >= _open_from(ledger)}
        if has_more:
            body["cursor"] = _encode_position(end)
        return self._report_page(body)

    # -- Entur Sales API -------------------------------------------------------------------------

    def _entur_payments(self, request: _Request) -> _Reply:
        return self._entur_search(request, PAYMENTS, self.dataset.payments)

    def _entur_credits(self, request: _Request) -> _Reply:
        return self._entur_search(request, CREDITS, self.dataset.credits)

    def _entur_search(self, request: _Request, res: Resource, seq: Sequence[Any]) -> _Reply:
        self._require_bearer(request)
        if not request.headers.get("et-client-name", "").strip():
            raise self._refuse(request, 403, "Forbidden", "the ET-Client-Name header is required")
        base = self.entur_page_base
        page = self._int_arg(request, "page", base, low=base)
        limit = self.quirks.entur_per_page_limit
        per_page = self._int_arg(request, "perPage", 20, low=1, high=limit)
        per_page = min(per_page, self.entur_max_per_page)
        try:
            filters = parse_filters(request.query)
        except FilterError as exc:
            raise self._refuse(request, 400, "Bad Request", str(exc)) from None
        view = self._entur_index.view(res, seq, filters)
        total = len(view)
        offset = (page - base) * per_page
        positions = view[offset:offset + per_page]
        items = [seq[p] for p in positions]
        if request.repeat:
            previous = seq[view[offset - 1]] if 0 < offset <= total else None
            items = _with_repeat(items, previous)
        total_pages = -(-total // per_page)
        if self.quirks.entur_total_pages == "low":
            total_pages = min(total_pages, 1)
        elif self.quirks.entur_total_pages == "growing":
            total_pages += page - base + 1
        if self.quirks.personal_data:
            items = _with_personal(items, "entur")
        return _json(200, {"items": items, "totalItems": total, "totalPages": total_pages})

    # -- Samtrafiken Bookings API (assumed contract, docs/apis.md §4.2) -------------------------------

    def _samtrafiken_events(self, request: _Request) -> _Reply:
        self._require_bearer(request)
        organization = request.arg("organizationCode")
        if not organization:
            raise self._refuse(request, 400, "Bad Request", "organizationCode is required")
        if organization != self.dataset.organization_code:
            raise self._refuse(request, 403, "Forbidden",
                               "this client has no access to that organizationCode")
        limit = self._int_arg(request, "limit", 100, 1, 1000)
        start = self._cursor_arg(request, "after", urlsafe=True)
        bounds = []
        for name in ("fromTime", "toTime"):
            text = request.arg(name)
            instant = parse_instant(text) if text else None
            if text and instant is None:
                raise self._refuse(request, 400, "Bad Request", f"{name} must be an ISO 8601 date-time")
            bounds.append(instant)
        from_time, to_time = bounds
        events = self.dataset.events
        if from_time is None and to_time is None:
            n = len(events)
            start = min(start, n)
            end = min(start + limit, n)
            items = list(events[start:end])
            has_more = end < n
            previous = events[start - 1] if start > 0 else None
        else:
            def in_window(event: Any) -> bool:  # fromTime inclusive, toTime exclusive
                when = parse_instant(event.get("eventTime")) if isinstance(event, dict) else None
                return (when is not None and (from_time is None or when >= from_time)
                        and (to_time is None or when < to_time))

            items, end, has_more = _scan(events, start, limit, in_window)
            previous = _previous_match(events, start, in_window) if request.repeat else None
        if request.repeat:
            items = _with_repeat(items, previous)
        if self.quirks.personal_data:
            items = _with_personal(items, "samtrafiken")
        return _json(200, {"events": items, "nextCursor": _encode_position(end, urlsafe=True),
                           "hasMore": has_more})


_GDPR_FIELDS = frozenset({"message", "name", "maskedPhoneNo"})
_PAYOUT_TYPES = frozenset({"payout-scheduled", "scheduled-for-payout"})


def _open_from(ledger: Any) -> str:
    """The first ledger date still open: as given, else the day after the last payout."""
    if ledger.open_from:
        return str(ledger.open_from)
    last = max((e.get("ledgerDate", "") for e in ledger.funds
                if isinstance(e, dict) and e.get("entryType") in _PAYOUT_TYPES), default="")
    day = _parse_day(str(last)) if last else None
    return (day + timedelta(days=1)).isoformat() if day else "0000-00-00"


def _parse_day(text: str) -> date | None:
    if len(text) != 10 or text[4] != "-" or text[7] != "-":
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _basic_credentials(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    client_id, sep, secret = decoded.partition(":")
    return (client_id, secret) if sep else None


def _same(given: Any, expected: str) -> bool:
    """Constant-time comparison of a secret-ish value (any type may arrive from a JSON body)."""
    return isinstance(given, str) and hmac.compare_digest(given.encode(), expected.encode())


# ---------------------------------------------------------------------------------------------
# HTTP plumbing


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # a stuck client never blocks stop() or interpreter exit
    block_on_close = False  # stop() must not wait for handler threads (a `slow` fault sleeps)
    request_queue_size = 128  # many concurrent clients (the default backlog is 5)

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 sandbox: Sandbox) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.sandbox = sandbox
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that went away mid-answer, or a socket cut by stop(): not worth a traceback.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: httpx reuses connections
    server_version = "recon-sandbox/1.0"
    disable_nagle_algorithm = True  # headers and body go out as two writes; avoid a 40 ms stall
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # requests_log and stats are the record; stderr noise helps nobody

    def _dispatch(self) -> None:
        try:
            body = self._read_body()
        except ValueError as exc:
            self.close_connection = True  # the stream position is unknown now
            self._write(_Reply(400, json.dumps({"title": "Bad Request", "status": 400,
                                                "detail": str(exc)}).encode(),
                               "application/problem+json"))
            return
        headers = {name.lower(): value for name, value in self.headers.items()}
        reply = self.server.sandbox._handle(self.command, self.path, headers, body)
        if reply is None:  # the `drop` fault: close without a byte
            self.close_connection = True
            return
        self._write(reply)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _dispatch

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length_text = self.headers.get("Content-Length")
        if not length_text:
            return b""
        length = int(length_text)
        if length < 0 or length > _MAX_BODY:
            raise ValueError("request body too large")
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                return bytes(body)
            body += self.rfile.read(size)
            self.rfile.readline(1024)  # CRLF after the chunk
            if len(body) > _MAX_BODY:
                raise ValueError("request body too large")

    def _write(self, reply: _Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()
        if reply.drip:
            self._drip(reply.body, reply.drip)
            return
        self.wfile.write(reply.body)

    def _drip(self, body: bytes, per_second: int) -> None:
        """The `slow-body` quirk: the body a few bytes every 50 ms (until the client leaves)."""
        step = max(1, per_second // 20)
        for start in range(0, len(body), step):
            self.wfile.write(body[start:start + step])
            time.sleep(step / per_second)
