"""recon.toml and the environment, read and validated once, before any network call.

Every section becomes a typed, frozen settings object. Every problem in the file is collected
and reported at once, one line each, naming its key (``reconcile.tolerance``), the unit where
there is one, and a "did you mean" for keys that look like a typo.

Secrets never live in the file: each is read from an environment variable, or from the file
that ``<VARIABLE>_FILE`` names (the systemd ``LoadCredential`` / Docker secrets convention).
They are wrapped in ``Secret`` so that a stray ``repr`` or log line cannot show them.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from recon.errors import ConfigError
from recon.timeutil import is_zone

SOURCES = ("vipps", "vipps_report", "entur", "samtrafiken")
DEFAULT_TZ = "Europe/Oslo"
EXCEL_MAX_ROWS = 1_048_576
MIN_SHEET_ROWS = 3  # the header, a blank row and one row of a block below the table

# Norwegian and Swedish rates (basis points): data, overridable per currency in recon.toml.
DEFAULT_VAT_RATES: dict[str, tuple[int, ...]] = {
    "NOK": (2500, 1500, 1200, 0),
    "SEK": (2500, 1200, 600, 0),
}

# Values `recon init` writes for people to replace: a run must never start with one of them.
_PLACEHOLDER = re.compile(r"^\s*(FILL[-_ ]?IN|CHANGE[-_ ]?ME|TODO|your[-_ ]|<[^>]*>\s*$)", re.IGNORECASE)
_MEMORY = re.compile(r"^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$", re.IGNORECASE)
_CURRENCY = re.compile(r"^[A-Z]{3}$")


class Secret:
    """A secret value that does not print itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


def read_secret(var: str, env: dict[str, str] | None = None) -> Secret:
    from recon.logs import register_secret

    env = dict(os.environ) if env is None else env
    value = env.get(var)
    if not value and env.get(var + "_FILE"):
        try:
            value = Path(env[var + "_FILE"]).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"cannot read the file named by {var}_FILE: {exc.strerror}") from None
    if value:
        register_secret(value)
        return Secret(value)
    raise ConfigError(f"environment variable {var} (or {var}_FILE) is not set")


# --- the settings, one frozen dataclass per section ----------------------------------------------

@dataclass(frozen=True)
class HttpSettings:
    connect_timeout: float = 5.0  # seconds
    read_timeout: float = 30.0  # seconds
    max_attempts: int = 6
    backoff_base: float = 0.5  # seconds
    backoff_max: float = 30.0  # seconds
    max_retry_after: float = 300.0  # seconds
    max_pages_per_listing: int = 100_000  # a feed or listing that goes on longer fails its source
    max_empty_pages: int = 5  # empty pages in a row that still say "more" before a feed fails
    request_deadline: float = 120.0  # seconds for one whole request, body included (a retriable timeout)
    max_body_bytes: int = 256 * 1024 * 1024  # a body larger than this once decoded fails its source


@dataclass(frozen=True)
class VippsLedger:
    ledger_id: str
    timezone: str = DEFAULT_TZ


@dataclass(frozen=True)
class VippsConfig:
    base_url: str
    token_url: str
    client_id: str
    secret_env: str
    ledgers: tuple[VippsLedger, ...]  # empty with auto_ledgers: discovered at every pull
    page_size: int = 1000
    system_name: str = "recon"
    system_version: str = "0.1.0"
    plugin_name: str = "recon"
    plugin_version: str = "0.1.0"
    auto_ledgers: bool = False  # ledgers = "auto": the Report API's list of granted ledgers
    timezone: str = DEFAULT_TZ  # of ledgers found by auto (SEK ledgers: Europe/Stockholm)
    land_pii: bool = False  # keep the entries' customer (recon.ingest.personal)


REPORT_TOPICS = ("funds", "fees")


@dataclass(frozen=True)
class VippsReportConfig:
    """The Vipps Report API (funds, fees, payouts, balances): the same host, key and ledgers as
    ``[vipps]``; ``[vipps_report]`` only chooses what to read."""

    vipps: VippsConfig
    topics: tuple[str, ...] = REPORT_TOPICS
    land_pii: bool = False  # ask for and keep message, name and maskedPhoneNo


@dataclass(frozen=True)
class EnturConfig:
    base_url: str
    token_url: str
    audience: str
    client_id: str
    secret_env: str
    client_name: str
    pos: str | None = None
    payments_path: str = "/sales/v1/payments"
    credits_path: str = "/sales/v1/credits"
    page_size: int = 100
    page_base: int | None = None  # None: detected on every listing
    payments_watermark_field: str = "updatedAt"
    credits_watermark_field: str = ""
    lookback_hours: float = 72.0
    start: str | None = None
    timezone: str = DEFAULT_TZ
    land_pii: bool = False  # keep customerNumber


@dataclass(frozen=True)
class SamtrafikenConfig:
    base_url: str
    token_url: str
    client_id: str
    key_env: str
    kid: str
    organization_code: str
    scope: str | None = None
    events_path: str = "/bookings/v1/events"
    page_size: int = 500
    retailer_reference_field: str = "retailerReference"
    timezone: str = DEFAULT_TZ
    land_pii: bool = False
    assertion_audience: str | None = None  # the client assertion's aud; None: the token URL
    assertion_alg: str = "RS256"  # RS256 | PS256 (RSA key) | ES256 (EC P-256 key)


@dataclass(frozen=True)
class SandboxConfig:
    """``[sandbox] embedded = true``: recon starts its own fake APIs for the run (demo)."""

    embedded: bool = False
    data: str | None = None


@dataclass(frozen=True)
class ReconcileSettings:
    window_days: int = 3
    tolerance: int = 0  # minor units
    vat_line_tolerance: int = 1  # minor units
    reference_prefix: str = ""
    reference_suffix: str = ""
    availability_lag_days: int = 0
    timezone: str = DEFAULT_TZ
    memory_limit: str = "2GB"  # DuckDB spills to <lake>/_tmp beyond this instead of growing
    vat_rates: dict[str, tuple[int, ...]] = field(default_factory=lambda: dict(DEFAULT_VAT_RATES))
    # Vipps payment types matched against Entur's Vipps payments: mPOS card and cash sales have no
    # Vipps-paid counterpart in Entur. An entry without paymentType takes part.
    vipps_payment_types: tuple[str, ...] = ("WALLET",)
    # NOT_SETTLED waits this many days past a sale for its funds entry (Vipps settles in 1-2 days).
    settlement_grace_days: int = 2


@dataclass(frozen=True)
class ReportSettings:
    include_matched: bool = False
    max_rows_per_sheet: int = EXCEL_MAX_ROWS  # header row included
    out_dir: str = "reports"  # relative to the lake's parent folder
    # What an accountant may enter in the Worklist's Resolution column (recon resolve checks it).
    resolution_codes: tuple[str, ...] = ("explained", "corrected-in-source", "written-off", "timing-ok")

    def folder(self, lake: Path) -> Path:
        path = Path(self.out_dir).expanduser()
        return path if path.is_absolute() else lake.parent / path


@dataclass(frozen=True)
class RunSettings:
    recheck_days: int = 3  # earlier days re-checked for late data, besides yesterday


@dataclass(frozen=True)
class Config:
    path: Path | None
    lake: Path
    flush_rows: int = 100_000
    http: HttpSettings = field(default_factory=HttpSettings)
    vipps: VippsConfig | None = None
    vipps_report: VippsReportConfig | None = None
    entur: EnturConfig | None = None
    samtrafiken: SamtrafikenConfig | None = None
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)
    reconcile: ReconcileSettings = field(default_factory=ReconcileSettings)
    report: ReportSettings = field(default_factory=ReportSettings)
    run: RunSettings = field(default_factory=RunSettings)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)  # the file as parsed (its fingerprint)

    def sources(self) -> list[str]:
        return [name for name in SOURCES if getattr(self, name) is not None]

    @property
    def reports_folder(self) -> Path:
        return self.report.folder(self.lake)


# --- reading ---------------------------------------------------------------------------------------

# Every key of every section, for unknown-key errors and "did you mean".
KNOWN: dict[str, tuple[str, ...]] = {
    "": ("lake", "http", "sandbox", "reconcile", "report", "run", *SOURCES),
    "lake": ("path", "flush_rows"),
    "http": tuple(f.name for f in fields(HttpSettings)),
    "sandbox": ("embedded", "data"),
    "vipps": ("base_url", "token_url", "client_id", "client_secret_env", "ledgers", "timezone", "page_size",
              "system_name", "system_version", "plugin_name", "plugin_version", "land_pii"),
    "vipps_report": ("enabled", "topics", "land_pii"),
    "entur": ("base_url", "token_url", "audience", "client_id", "client_secret_env", "client_name", "pos",
              "payments_path", "credits_path", "page_size", "page_base", "payments_watermark_field",
              "credits_watermark_field", "lookback_hours", "start", "timezone", "land_pii"),
    "samtrafiken": ("base_url", "token_url", "client_id", "private_key_env", "kid", "organization_code",
                    "scope", "events_path", "page_size", "retailer_reference_field", "timezone", "land_pii",
                    "assertion_audience", "assertion_alg"),
    "reconcile": tuple(f.name for f in fields(ReconcileSettings)),
    "report": tuple(f.name for f in fields(ReportSettings)),
    "run": tuple(f.name for f in fields(RunSettings)),
}

T = TypeVar("T")
_MISSING: Any = object()


class Problems:
    """Every configuration problem found, in file order; raised together at the end."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, key: str, message: str) -> None:
        self.lines.append(f"{key}: {message}" if key else message)

    def raise_if_any(self) -> None:
        if self.lines:
            raise ConfigError("\n".join(self.lines), problems=list(self.lines))


def _did_you_mean(word: str, choices: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class Section:
    """Typed reads of one TOML table; a bad value records a problem and yields the default."""

    def __init__(self, data: Any, name: str, problems: Problems) -> None:
        self.name, self.problems = name, problems
        if not isinstance(data, dict):
            problems.add(name, "must be a table")
            data = {}
        self.data: dict[str, Any] = data
        known = KNOWN.get(name.split("[")[0], ())
        for key in data:
            if key not in known and name in KNOWN:
                elsewhere = [s for s, keys in KNOWN.items() if s and s != name and key in keys]
                hint = (f" (it belongs in [{elsewhere[0]}])" if elsewhere
                        else _did_you_mean(key, known))
                problems.add(self._key(key), f"unknown key{hint}")

    def _key(self, key: str) -> str:
        return f"{self.name}.{key}" if self.name else key

    def _bad(self, key: str, message: str, default: T) -> T:
        self.problems.add(self._key(key), message)
        return default

    def _get(self, key: str, default: Any, required: bool) -> Any:
        if key not in self.data:
            if required or default is _MISSING:
                self.problems.add(self._key(key), "is required")
            return _MISSING
        return self.data[key]

    def text(self, key: str, default: Any = _MISSING, *, required: bool = False, may_be_empty: bool = False,
             placeholder_ok: bool = False) -> Any:
        value = self._get(key, default, required)
        if value is _MISSING:
            return default if default is not _MISSING else ""
        if isinstance(value, int) and not isinstance(value, bool) and key.endswith(("_id", "_code")):
            value = str(value)
        if not isinstance(value, str):
            return self._bad(key, f"must be text, got {value!r}", default if default is not _MISSING else "")
        if not value.strip() and not may_be_empty:
            return self._bad(key, "must not be empty", default if default is not _MISSING else "")
        if not placeholder_ok and _PLACEHOLDER.match(value):
            return self._bad(key, f"still holds the placeholder {value!r}: fill in the real value",
                             default if default is not _MISSING else "")
        return value

    def url(self, key: str, default: Any = _MISSING) -> Any:
        value = self.text(key, default)
        if value is None:
            return None
        if value and not str(value).startswith(("http://", "https://")):
            return self._bad(key, f"must be an http(s) URL, got {value!r}", "")
        return str(value).rstrip("/")

    def number(self, key: str, default: T, *, minimum: float | None = None, maximum: float | None = None,
               unit: str = "", whole: bool = True) -> T:
        value = self._get(key, default, False)
        if value is _MISSING:
            return default
        kind = "a whole number" if whole else "a number"
        what = f"{kind} of {unit}" if unit else kind
        ok_type = isinstance(value, int) if whole else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok_type:
            return self._bad(key, f"must be {what}, got {value!r}", default)
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            bounds = (f"{_num(minimum)}..{_num(maximum)}" if minimum is not None and maximum is not None
                      else f">= {_num(minimum)}" if minimum is not None else f"<= {_num(maximum)}")
            return self._bad(key, f"must be {what} {bounds}, got {_num(value)}", default)
        return value if whole else float(value)  # type: ignore[return-value]

    def flag(self, key: str, default: bool) -> bool:
        value = self._get(key, default, False)
        if value is _MISSING:
            return default
        if not isinstance(value, bool):
            return self._bad(key, f"must be true or false, got {value!r}", default)
        return value

    def zone(self, key: str, default: str) -> str:
        value = self.text(key, default)
        if value != default and not is_zone(value):
            return self._bad(key, f"is not a known time zone: {value!r} (for example 'Europe/Oslo')", default)
        return str(value)


def _num(value: float | None) -> str:
    return f"{value:,}".replace(",", "_") if isinstance(value, int) else str(value)


# --- sections --------------------------------------------------------------------------------------

def _ledgers(sec: Section, tz: str) -> tuple[VippsLedger, ...]:
    raw = sec.data.get("ledgers", _MISSING)
    if raw == "auto":
        return ()
    if raw is _MISSING:
        sec.problems.add(sec._key("ledgers"), "is required: list the ledger ids recon may read")
        return ()
    if not isinstance(raw, list) or not raw:
        sec.problems.add(sec._key("ledgers"), 'must list at least one ledger id, or be "auto"')
        return ()
    ledgers: list[VippsLedger] = []
    for i, item in enumerate(raw):
        where = f"vipps.ledgers[{i}]"
        if isinstance(item, (str, int)) and not isinstance(item, bool) and str(item).strip():
            if _PLACEHOLDER.match(str(item)):
                sec.problems.add(where, f"still holds the placeholder {item!r}: fill in the real ledger id")
            else:
                ledgers.append(VippsLedger(str(item).strip(), tz))
        elif isinstance(item, dict):
            led = Section(item, where, sec.problems)
            for key in sorted(set(item) - {"id", "timezone"}):
                sec.problems.add(f"{where}.{key}", f"unknown key{_did_you_mean(key, ('id', 'timezone'))}")
            ledger_id = led.text("id", required=True)
            if ledger_id:
                ledgers.append(VippsLedger(str(ledger_id), led.zone("timezone", tz)))
        else:
            sec.problems.add(where, "must be a ledger id or { id = \"...\", timezone = \"...\" }")
    return tuple(ledgers)


def _vipps(sec: Section, sandbox: bool) -> VippsConfig:
    tz = sec.zone("timezone", DEFAULT_TZ)
    base = "http://sandbox" if sandbox else sec.url("base_url", "https://api.vipps.no")
    return VippsConfig(
        base_url=base,
        token_url=base + "/miami/v1/token" if sandbox else sec.url("token_url", base + "/miami/v1/token"),
        client_id=sec.text("client_id", "sandbox" if sandbox else _MISSING),
        secret_env=sec.text("client_secret_env", "RECON_VIPPS_CLIENT_SECRET"),
        ledgers=_ledgers(sec, tz),
        page_size=sec.number("page_size", 1000, minimum=1, maximum=1000, unit="entries per page"),
        system_name=sec.text("system_name", "recon")[:30],
        system_version=sec.text("system_version", "0.1.0")[:30],
        plugin_name=sec.text("plugin_name", "recon")[:30],
        plugin_version=sec.text("plugin_version", "0.1.0")[:30],
        auto_ledgers=sec.data.get("ledgers") == "auto",
        timezone=tz,
        land_pii=sec.flag("land_pii", False),
    )


def _vipps_report(sec: Section, vipps: VippsConfig | None) -> VippsReportConfig | None:
    """On wherever [vipps] is (the Report API shares its key): ``enabled = false`` turns it off."""
    enabled = sec.flag("enabled", True)
    raw = sec.data.get("topics", list(REPORT_TOPICS))
    if not isinstance(raw, list) or not raw or any(t not in REPORT_TOPICS for t in raw):
        sec.problems.add("vipps_report.topics", f"must list topics of {list(REPORT_TOPICS)}, got {raw!r}")
        raw = list(REPORT_TOPICS)
    if vipps is None:
        if sec.data:
            sec.problems.add("vipps_report", "needs a [vipps] section: the Report API uses its key and ledgers")
        return None
    land_pii = sec.flag("land_pii", False)
    return VippsReportConfig(vipps, tuple(dict.fromkeys(raw)), land_pii) if enabled else None


def _start(sec: Section) -> str | None:
    value = sec.text("start", None)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return sec._bad("start", f"must be an ISO 8601 timestamp such as 2026-03-01T00:00:00Z, got {value!r}",
                        None)
    if parsed.tzinfo is None and "T" not in value:
        return sec._bad("start", f"must be a timestamp, not a date: {value!r}", None)
    return str(value)


def _entur(sec: Section, sandbox: bool) -> EnturConfig:
    base = "http://sandbox" if sandbox else sec.url("base_url", "https://api.entur.io")
    page_base: int | None = None
    if sec.data.get("page_base", "auto") != "auto":
        page_base = sec.number("page_base", 1, minimum=0, maximum=1, unit="the first page number (0 or 1)")
    return EnturConfig(
        base_url=base,
        token_url=base + "/oauth/token" if sandbox else sec.url("token_url", "https://partner.entur.org/oauth/token"),
        audience=sec.text("audience", "sandbox" if sandbox else "https://api.entur.io"),
        client_id=sec.text("client_id", "sandbox" if sandbox else _MISSING),
        secret_env=sec.text("client_secret_env", "RECON_ENTUR_CLIENT_SECRET"),
        client_name=sec.text("client_name", "recon-sandbox" if sandbox else _MISSING),
        pos=sec.text("pos", None, may_be_empty=True) or None,
        payments_path=sec.text("payments_path", "/sales/v1/payments"),
        credits_path=sec.text("credits_path", "/sales/v1/credits"),
        page_size=sec.number("page_size", 100, minimum=1, maximum=10_000, unit="records per page"),
        page_base=page_base,
        payments_watermark_field=sec.text("payments_watermark_field", "updatedAt", may_be_empty=True).strip(),
        credits_watermark_field=sec.text("credits_watermark_field", "", may_be_empty=True).strip(),
        lookback_hours=sec.number("lookback_hours", 72.0, minimum=0, unit="hours", whole=False),
        start=_start(sec),
        timezone=sec.zone("timezone", DEFAULT_TZ),
        land_pii=sec.flag("land_pii", False),
    )


ASSERTION_ALGS = ("RS256", "PS256", "ES256")


def _samtrafiken(sec: Section, sandbox: bool) -> SamtrafikenConfig:
    base = "http://sandbox" if sandbox else sec.url("base_url")
    alg = sec.text("assertion_alg", "RS256")
    if alg not in ASSERTION_ALGS:
        alg = sec._bad("assertion_alg", f"must be one of {', '.join(ASSERTION_ALGS)}, got {alg!r}", "RS256")
    return SamtrafikenConfig(
        base_url=base,
        token_url=base + "/oauth/token" if sandbox else sec.url("token_url"),
        client_id=sec.text("client_id", "sandbox" if sandbox else _MISSING),
        key_env=sec.text("private_key_env", "RECON_SAMTRAFIKEN_PRIVATE_KEY"),
        kid=sec.text("kid", "sandbox" if sandbox else _MISSING),
        organization_code=str(sec.text("organization_code", "sandbox" if sandbox else _MISSING)),
        scope=sec.text("scope", None, may_be_empty=True) or None,
        events_path=sec.text("events_path", "/bookings/v1/events"),
        page_size=sec.number("page_size", 500, minimum=1, maximum=1000, unit="events per page"),
        retailer_reference_field=sec.text("retailer_reference_field", "retailerReference"),
        timezone=sec.zone("timezone", DEFAULT_TZ),
        land_pii=sec.flag("land_pii", False),
        assertion_audience=sec.url("assertion_audience", None) or None,
        assertion_alg=alg,
    )


def _vat_rates(sec: Section) -> dict[str, tuple[int, ...]]:
    raw = sec.data.get("vat_rates")
    if raw is None:
        return dict(DEFAULT_VAT_RATES)
    rates = dict(DEFAULT_VAT_RATES)
    if not isinstance(raw, dict):
        sec.problems.add("reconcile.vat_rates", "must be a table of currency = [basis points, ...]")
        return rates
    for cur, values in raw.items():
        key = f"reconcile.vat_rates.{cur}"
        if not _CURRENCY.match(cur):
            sec.problems.add(key, "must be a three-letter currency code such as NOK")
        elif not isinstance(values, list) or not all(
                isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 10_000 for v in values):
            sec.problems.add(key, f"must list VAT rates in basis points 0..10_000 (2500 = 25 %), got {values!r}")
        else:
            rates[cur] = tuple(values)
    return rates


def _payment_types(sec: Section) -> tuple[str, ...]:
    raw = sec.data.get("vipps_payment_types", ["WALLET"])
    if not isinstance(raw, list) or not raw or not all(isinstance(v, str) and v.strip() for v in raw):
        sec.problems.add("reconcile.vipps_payment_types", f"must list Vipps payment types such as "
                                                          f"[\"WALLET\"], got {raw!r}")
        return ("WALLET",)
    return tuple(v.strip().upper() for v in raw)


def _reconcile(sec: Section) -> ReconcileSettings:
    memory = sec.text("memory_limit", "2GB")
    if not _MEMORY.match(memory):
        memory = sec._bad("memory_limit", f"must be a size such as '2GB' or '512MB', got {memory!r}", "2GB")
    return ReconcileSettings(
        window_days=sec.number("window_days", 3, minimum=0, maximum=366, unit="days"),
        tolerance=sec.number("tolerance", 0, minimum=0, unit="minor units (øre/öre)"),
        vat_line_tolerance=sec.number("vat_line_tolerance", 1, minimum=0, unit="minor units (øre/öre)"),
        reference_prefix=sec.text("reference_prefix", "", may_be_empty=True),
        reference_suffix=sec.text("reference_suffix", "", may_be_empty=True),
        availability_lag_days=sec.number("availability_lag_days", 0, minimum=0, maximum=366, unit="days"),
        timezone=sec.zone("timezone", DEFAULT_TZ),
        memory_limit=memory,
        vat_rates=_vat_rates(sec),
        vipps_payment_types=_payment_types(sec),
        settlement_grace_days=sec.number("settlement_grace_days", 2, minimum=0, maximum=366, unit="days"),
    )


def _report(sec: Section) -> ReportSettings:
    return ReportSettings(
        include_matched=sec.flag("include_matched", False),
        max_rows_per_sheet=sec.number("max_rows_per_sheet", EXCEL_MAX_ROWS, minimum=MIN_SHEET_ROWS,
                                      maximum=EXCEL_MAX_ROWS, unit="rows (the header row included)"),
        out_dir=sec.text("out_dir", "reports"),
        resolution_codes=_resolution_codes(sec),
    )


def _resolution_codes(sec: Section) -> tuple[str, ...]:
    default = ReportSettings.resolution_codes
    raw = sec.data.get("resolution_codes", list(default))
    if (not isinstance(raw, list) or not raw
            or not all(isinstance(v, str) and v.strip() and "," not in v and len(v) <= 40 for v in raw)):
        sec.problems.add("report.resolution_codes", f"must list short codes without commas such as "
                                                    f"[\"explained\", \"written-off\"], got {raw!r}")
        return default
    return tuple(dict.fromkeys(v.strip() for v in raw))


def _http(sec: Section) -> HttpSettings:
    d = HttpSettings()

    def seconds(key: str, default: float) -> float:
        return sec.number(key, default, minimum=0, unit="seconds", whole=False)

    return HttpSettings(
        connect_timeout=seconds("connect_timeout", d.connect_timeout),
        read_timeout=seconds("read_timeout", d.read_timeout),
        max_attempts=sec.number("max_attempts", d.max_attempts, minimum=1, maximum=20, unit="attempts"),
        backoff_base=seconds("backoff_base", d.backoff_base),
        backoff_max=seconds("backoff_max", d.backoff_max),
        max_retry_after=seconds("max_retry_after", d.max_retry_after),
        max_pages_per_listing=sec.number("max_pages_per_listing", d.max_pages_per_listing, minimum=1,
                                         unit="pages"),
        max_empty_pages=sec.number("max_empty_pages", d.max_empty_pages, minimum=1, unit="pages"),
        request_deadline=sec.number("request_deadline", d.request_deadline, minimum=0.1, unit="seconds",
                                    whole=False),
        max_body_bytes=sec.number("max_body_bytes", d.max_body_bytes, minimum=1024, unit="bytes"),
    )


def load_config(path: str | Path | None = None, env: dict[str, str] | None = None) -> Config:
    """Read recon.toml from ``path``, else ``$RECON_CONFIG``, else ``./recon.toml``."""
    env = dict(os.environ) if env is None else env
    chosen = Path(path or env.get("RECON_CONFIG") or "recon.toml")
    try:
        text = chosen.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"configuration file {chosen} not found (use --config or RECON_CONFIG)") from None
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {chosen}: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{chosen}: malformed TOML: {exc}") from None
    return parse_config(data, chosen.resolve())


def parse_config(data: dict[str, Any], path: Path | None = None) -> Config:
    """Validate every section; raise one ConfigError listing every problem found."""
    problems = Problems()
    Section(data, "", problems)  # unknown sections
    here = path.parent if path else Path.cwd()

    def section(name: str, build: Callable[[Section], T]) -> T:
        return build(Section(data.get(name, {}), name, problems))

    lake_sec = Section(data.get("lake", {}), "lake", problems)
    lake = Path(lake_sec.text("path", "lake")).expanduser()
    lake = (here / lake).resolve() if not lake.is_absolute() else lake
    flush_rows = lake_sec.number("flush_rows", 100_000, minimum=1, unit="rows")

    sb = Section(data.get("sandbox", {}), "sandbox", problems)
    sandbox = SandboxConfig(embedded=sb.flag("embedded", False), data=sb.text("data", None))
    if sandbox.data and not Path(sandbox.data).is_absolute():
        sandbox = SandboxConfig(sandbox.embedded, str((here / sandbox.data).resolve()))

    def source(name: str, build: Callable[[Section, bool], T]) -> T | None:
        return build(Section(data[name], name, problems), sandbox.embedded) if name in data else None

    vipps, entur, samtrafiken = source("vipps", _vipps), source("entur", _entur), source("samtrafiken", _samtrafiken)
    if vipps is None and entur is None and samtrafiken is None:
        problems.add("", "the configuration has no source section ([vipps], [entur] or [samtrafiken])")
    config = Config(
        path=path, lake=lake, flush_rows=flush_rows, http=section("http", _http), sandbox=sandbox,
        reconcile=section("reconcile", _reconcile), report=section("report", _report),
        run=section("run", lambda s: RunSettings(
            recheck_days=s.number("recheck_days", 3, minimum=0, maximum=366, unit="days"))),
        vipps=vipps, vipps_report=_vipps_report(Section(data.get("vipps_report", {}), "vipps_report", problems),
                                                vipps),
        entur=entur, samtrafiken=samtrafiken, raw=data,
    )
    problems.raise_if_any()
    return config
