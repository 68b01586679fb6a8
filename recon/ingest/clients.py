"""Builds each source's API client and reads its secrets from the environment."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx

from recon import __version__
from recon.config import Config, Secret, read_secret
from recon.ingest.auth import EnturToken, PrivateKeyJwtToken, VippsToken
from recon.ingest.http import ApiClient, Session


@dataclass
class Secrets:
    vipps: Secret | None = None
    entur: Secret | None = None
    samtrafiken_key: Secret | None = None


def secrets_from_env(config: Config, sources: list[str]) -> Secrets:
    """Read only the secrets of the sources about to be pulled; a missing one is a ConfigError."""
    out = Secrets()
    if ("vipps" in sources or "vipps_report" in sources) and config.vipps:
        out.vipps = read_secret(config.vipps.secret_env)
    if "entur" in sources and config.entur:
        out.entur = read_secret(config.entur.secret_env)
    if "samtrafiken" in sources and config.samtrafiken:
        out.samtrafiken_key = read_secret(config.samtrafiken.key_env)
    return out


def build_clients(config: Config, sources: list[str], secrets: Secrets, *, run_id: str,
                  transport: httpx.BaseTransport | None = None) -> dict[str, ApiClient]:
    http = config.http
    clients: dict[str, ApiClient] = {}
    # The Sales and the Report API share host, key and headers; each source has its own session.
    for name in ("vipps", "vipps_report"):
        if name in sources and config.vipps and getattr(config, name) is not None:
            v = config.vipps
            session = Session(name, http, transport=transport, headers={
                "Vipps-System-Name": v.system_name, "Vipps-System-Version": v.system_version,
                "Vipps-System-Plugin-Name": v.plugin_name, "Vipps-System-Plugin-Version": v.plugin_version,
                "User-Agent": f"recon/{__version__}",
            })
            assert secrets.vipps is not None
            clients[name] = ApiClient(session, v.base_url,
                                      VippsToken(session, v.token_url, v.client_id, secrets.vipps))
    if "entur" in sources and config.entur:
        e = config.entur
        headers = {
            "ET-Client-Name": e.client_name,
            # One id for the whole run, so Entur support can find every call of a night's pull.
            "X-Correlation-Id": f"recon-{run_id}-{uuid.uuid4().hex[:8]}",
            "User-Agent": f"recon/{__version__}",
        }
        if e.pos:
            headers["Entur-POS"] = e.pos
        session = Session("entur", http, transport=transport, headers=headers)
        assert secrets.entur is not None
        clients["entur"] = ApiClient(session, e.base_url,
                                     EnturToken(session, e.token_url, e.client_id, secrets.entur, e.audience))
    if "samtrafiken" in sources and config.samtrafiken:
        s = config.samtrafiken
        session = Session("samtrafiken", http, transport=transport, headers={"User-Agent": f"recon/{__version__}"})
        assert secrets.samtrafiken_key is not None
        clients["samtrafiken"] = ApiClient(session, s.base_url, PrivateKeyJwtToken(
            session, s.token_url, s.client_id, secrets.samtrafiken_key, s.kid, s.scope,
            audience=s.assertion_audience, alg=s.assertion_alg))
    return clients
