"""recon.toml and the environment, read and validated once.

Secrets never live in the file: each is read from an environment variable, or from the file
that ``<VARIABLE>_FILE`` names (the systemd ``LoadCredential`` / Docker secrets convention).
They are wrapped in ``Secret`` so that a stray ``repr`` or log line cannot show them.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError

SOURCES = ("vipps", "entur", "samtrafiken")
DEFAULT_TZ = "Europe/Oslo"


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
    from .logs import register_secret

    env = os.environ if env is None else env
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


@dataclass(frozen=True)
class HttpSettings:
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_attempts: int = 6
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    max_retry_after: float = 300.0


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
    ledgers: tuple[VippsLedger, ...]
    page_size: int = 1000
    system_name: str = "recon"
    system_version: str = "0.1.0"
    plugin_name: str = "recon"
    plugin_version: str = "0.1.0"


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
    page_base: int = 1
    payments_watermark_field: str = "updatedAt"
    credits_watermark_field: str = ""
    lookback_hours: float = 72.0
    start: str | None = None
    timezone: str = DEFAULT_TZ


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


@dataclass(frozen=True)
class SandboxConfig:
    """``[sandbox] embedded = true``: recon starts its own fake APIs for the run (demo)."""

    embedded: bool = False
    data: str | None = None


@dataclass(frozen=True)
class Config:
    path: Path | None
    lake: Path
    flush_rows: int = 100_000
    http: HttpSettings = field(default_factory=HttpSettings)
    vipps: VippsConfig | None = None
    entur: EnturConfig | None = None
    samtrafiken: SamtrafikenConfig | None = None
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    def sources(self) -> list[str]:
        return [name for name in SOURCES if getattr(self, name) is not None]


class _Section:
    """Typed access to one TOML table, with errors that name the full key."""

    def __init__(self, data: Any, name: str) -> None:
        if not isinstance(data, dict):
            raise ConfigError(f"[{name}] must be a table")
        self.data, self.name = data, name

    def _key(self, key: str) -> str:
        return f"{self.name}.{key}"

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ..., *, required: bool = False) -> Any:
        if key not in self.data:
            if required or default is ...:
                raise ConfigError(f"missing key {self._key(key)} in the configuration")
            return default
        value = self.data[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and bool not in kinds:
            raise ConfigError(f"{self._key(key)} must be {kinds[0].__name__}, not a boolean")
        if not isinstance(value, kinds):
            raise ConfigError(f"{self._key(key)} must be {kinds[0].__name__}, got {value!r}")
        if isinstance(value, str) and not value.strip() and key not in _MAY_BE_EMPTY:
            raise ConfigError(f"{self._key(key)} must not be empty")
        return value

    def url(self, key: str, default: Any = ...) -> str:
        value = self.get(key, str, default)
        if not value.startswith(("http://", "https://")):
            raise ConfigError(f"{self._key(key)} must be an http(s) URL, got {value!r}")
        return value.rstrip("/")

    def positive(self, key: str, default: int, upper: int | None = None) -> int:
        value = self.get(key, int, default)
        if value < 1 or (upper is not None and value > upper):
            bound = f"1..{upper}" if upper else ">= 1"
            raise ConfigError(f"{self._key(key)} must be {bound}, got {value}")
        return value

    def zone(self, key: str, default: str) -> str:
        value = self.get(key, str, default)
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"{self._key(key)} is not a known time zone: {value!r}") from None
        return value

    def unknown_keys(self, known: set[str]) -> None:
        extra = sorted(set(self.data) - known)
        if extra:
            raise ConfigError(f"unknown key {self.name}.{extra[0]} in the configuration")


_MAY_BE_EMPTY = {"credits_watermark_field", "payments_watermark_field", "scope", "pos"}


def _vipps(sec: _Section, sandbox: bool) -> VippsConfig:
    sec.unknown_keys({"base_url", "token_url", "client_id", "client_secret_env", "ledgers", "timezone",
                      "page_size", "system_name", "system_version", "plugin_name", "plugin_version"})
    tz = sec.zone("timezone", DEFAULT_TZ)
    raw_ledgers = sec.get("ledgers", list, required=True)
    ledgers: list[VippsLedger] = []
    for i, item in enumerate(raw_ledgers):
        if isinstance(item, (str, int)) and not isinstance(item, bool) and str(item).strip():
            ledgers.append(VippsLedger(str(item).strip(), tz))
        elif isinstance(item, dict):
            led = _Section(item, f"vipps.ledgers[{i}]")
            led.unknown_keys({"id", "timezone"})
            ledgers.append(VippsLedger(str(led.get("id", (str, int), required=True)), led.zone("timezone", tz)))
        else:
            raise ConfigError(f"vipps.ledgers[{i}] must be a ledger id or {{id=..., timezone=...}}")
    if not ledgers:
        raise ConfigError("vipps.ledgers must list at least one ledger id")
    base = "http://sandbox" if sandbox else sec.url("base_url", "https://api.vipps.no")
    return VippsConfig(
        base_url=base,
        token_url=base + "/miami/v1/token" if sandbox else sec.url("token_url", base + "/miami/v1/token"),
        client_id=sec.get("client_id", str, "sandbox" if sandbox else ...),
        secret_env=sec.get("client_secret_env", str, "RECON_VIPPS_CLIENT_SECRET"),
        ledgers=tuple(ledgers),
        page_size=sec.positive("page_size", 1000, 1000),
        system_name=sec.get("system_name", str, "recon")[:30],
        system_version=sec.get("system_version", str, "0.1.0")[:30],
        plugin_name=sec.get("plugin_name", str, "recon")[:30],
        plugin_version=sec.get("plugin_version", str, "0.1.0")[:30],
    )


def _entur(sec: _Section, sandbox: bool) -> EnturConfig:
    sec.unknown_keys({"base_url", "token_url", "audience", "client_id", "client_secret_env", "client_name",
                      "pos", "payments_path", "credits_path", "page_size", "page_base",
                      "payments_watermark_field", "credits_watermark_field", "lookback_hours", "start",
                      "timezone"})
    start = sec.get("start", str, None)
    if start is not None:
        from .values import BadValue, timestamp

        try:
            timestamp(start, "entur.start")
        except BadValue as exc:
            raise ConfigError(str(exc)) from None
    base = "http://sandbox" if sandbox else sec.url("base_url", "https://api.entur.io")
    lookback = sec.get("lookback_hours", float, 72.0)
    if lookback < 0:
        raise ConfigError("entur.lookback_hours must be >= 0")
    page_base = sec.get("page_base", int, 1)
    if page_base not in (0, 1):
        raise ConfigError("entur.page_base must be 0 or 1")
    return EnturConfig(
        base_url=base,
        token_url=base + "/oauth/token" if sandbox else sec.url("token_url", "https://partner.entur.org/oauth/token"),
        audience=sec.get("audience", str, "sandbox" if sandbox else "https://api.entur.io"),
        client_id=sec.get("client_id", str, "sandbox" if sandbox else ...),
        secret_env=sec.get("client_secret_env", str, "RECON_ENTUR_CLIENT_SECRET"),
        client_name=sec.get("client_name", str, "recon-sandbox" if sandbox else ...),
        pos=sec.get("pos", str, None) or None,
        payments_path=sec.get("payments_path", str, "/sales/v1/payments"),
        credits_path=sec.get("credits_path", str, "/sales/v1/credits"),
        page_size=sec.positive("page_size", 100),
        page_base=page_base,
        payments_watermark_field=sec.get("payments_watermark_field", str, "updatedAt").strip(),
        credits_watermark_field=sec.get("credits_watermark_field", str, "").strip(),
        lookback_hours=lookback,
        start=start,
        timezone=sec.zone("timezone", DEFAULT_TZ),
    )


def _samtrafiken(sec: _Section, sandbox: bool) -> SamtrafikenConfig:
    sec.unknown_keys({"base_url", "token_url", "client_id", "private_key_env", "kid", "organization_code",
                      "scope", "events_path", "page_size", "retailer_reference_field", "timezone", "land_pii"})
    base = "http://sandbox" if sandbox else sec.url("base_url")
    return SamtrafikenConfig(
        base_url=base,
        token_url=base + "/oauth/token" if sandbox else sec.url("token_url"),
        client_id=sec.get("client_id", str, "sandbox" if sandbox else ...),
        key_env=sec.get("private_key_env", str, "RECON_SAMTRAFIKEN_PRIVATE_KEY"),
        kid=sec.get("kid", str, "sandbox" if sandbox else ...),
        organization_code=str(sec.get("organization_code", (str, int), "sandbox" if sandbox else ...)),
        scope=sec.get("scope", str, None) or None,
        events_path=sec.get("events_path", str, "/bookings/v1/events"),
        page_size=sec.positive("page_size", 500, 1000),
        retailer_reference_field=sec.get("retailer_reference_field", str, "retailerReference"),
        timezone=sec.zone("timezone", DEFAULT_TZ),
        land_pii=sec.get("land_pii", bool, False),
    )


def load_config(path: str | Path | None = None, env: dict[str, str] | None = None) -> Config:
    """Read recon.toml from ``path``, else ``$RECON_CONFIG``, else ``./recon.toml``."""
    env = os.environ if env is None else env
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
    top = _Section(data, "config")
    top.unknown_keys({"lake", "http", "sandbox", "reconcile", "report", "run", *SOURCES})
    here = path.parent if path else Path.cwd()

    lake_sec = _Section(data.get("lake", {}), "lake")
    lake_sec.unknown_keys({"path", "flush_rows"})
    lake = Path(lake_sec.get("path", str, "lake")).expanduser()
    lake = (here / lake).resolve() if not lake.is_absolute() else lake

    http_sec = _Section(data.get("http", {}), "http")
    http_sec.unknown_keys({f for f in HttpSettings.__dataclass_fields__})
    defaults = HttpSettings()
    http = HttpSettings(
        connect_timeout=http_sec.get("connect_timeout", float, defaults.connect_timeout),
        read_timeout=http_sec.get("read_timeout", float, defaults.read_timeout),
        max_attempts=http_sec.positive("max_attempts", defaults.max_attempts, 20),
        backoff_base=http_sec.get("backoff_base", float, defaults.backoff_base),
        backoff_max=http_sec.get("backoff_max", float, defaults.backoff_max),
        max_retry_after=http_sec.get("max_retry_after", float, defaults.max_retry_after),
    )

    sb_sec = _Section(data.get("sandbox", {}), "sandbox")
    sb_sec.unknown_keys({"embedded", "data"})
    sandbox = SandboxConfig(embedded=sb_sec.get("embedded", bool, False), data=sb_sec.get("data", str, None))
    if sandbox.data and not Path(sandbox.data).is_absolute():
        sandbox = SandboxConfig(sandbox.embedded, str((here / sandbox.data).resolve()))

    builders = {"vipps": _vipps, "entur": _entur, "samtrafiken": _samtrafiken}
    sources = {
        name: builders[name](_Section(data[name], name), sandbox.embedded)
        for name in SOURCES if name in data
    }
    if not sources:
        raise ConfigError("the configuration has no source section ([vipps], [entur] or [samtrafiken])")
    flush_rows = lake_sec.positive("flush_rows", 100_000)
    return Config(path=path, lake=lake, flush_rows=flush_rows, http=http, sandbox=sandbox, raw=data, **sources)
