"""Builds each source's API client from the configuration (or the embedded sandbox)."""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from . import __version__
from .auth import EnturToken, PrivateKeyJwtToken, VippsToken
from .config import Config, Secret, read_secret
from .http import ApiClient, Session


@dataclass
class Secrets:
    vipps: Secret | None = None
    entur: Secret | None = None
    samtrafiken_key: Secret | None = None


def secrets_from_env(config: Config, sources: list[str]) -> Secrets:
    """Read only the secrets of the sources about to be pulled; a missing one is a ConfigError."""
    out = Secrets()
    if "vipps" in sources and config.vipps:
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
    if "vipps" in sources and config.vipps:
        v = config.vipps
        session = Session("vipps", http, transport=transport, headers={
            "Vipps-System-Name": v.system_name, "Vipps-System-Version": v.system_version,
            "Vipps-System-Plugin-Name": v.plugin_name, "Vipps-System-Plugin-Version": v.plugin_version,
            "User-Agent": f"recon/{__version__}",
        })
        assert secrets.vipps is not None
        clients["vipps"] = ApiClient(session, v.base_url, VippsToken(session, v.token_url, v.client_id, secrets.vipps))
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
            session, s.token_url, s.client_id, secrets.samtrafiken_key, s.kid, s.scope))
    return clients


@contextlib.contextmanager
def resolved(config: Config, sources: list[str]) -> Iterator[tuple[Config, Secrets, Any]]:
    """The configuration as it will be used, its secrets, and the embedded sandbox if any.

    With ``[sandbox] embedded = true`` recon serves its own fake APIs on a free loopback port for
    the length of the run and uses the sandbox's own credentials (they guard nothing real).
    """
    if not config.sandbox.embedded:
        yield config, secrets_from_env(config, sources), None
        return
    from .sandbox.dataset import Dataset, sample_data_dir
    from .sandbox.server import Sandbox, SandboxCredentials

    creds = SandboxCredentials()
    dataset = Dataset.load(config.sandbox.data or sample_data_dir())
    with Sandbox(dataset, credentials=creds) as sandbox:
        urls = sandbox.urls()
        replaced: dict[str, Any] = {}
        if config.vipps:
            replaced["vipps"] = dataclasses.replace(
                config.vipps, base_url=urls["vipps_base"], token_url=urls["vipps_token_url"],
                client_id=creds.vipps_client_id)
        if config.entur:
            replaced["entur"] = dataclasses.replace(
                config.entur, base_url=urls["entur_base"], token_url=urls["entur_token_url"],
                client_id=creds.entur_client_id, audience=creds.entur_audience)
        if config.samtrafiken:
            replaced["samtrafiken"] = dataclasses.replace(
                config.samtrafiken, base_url=urls["samtrafiken_base"], token_url=urls["samtrafiken_token_url"],
                client_id=creds.samtrafiken_client_id, kid=creds.samtrafiken_kid,
                organization_code=dataset.organization_code)
        key = (Path(__file__).parent / "sandbox" / "sandbox_private_key.pem").read_text()
        secrets = Secrets(Secret(creds.vipps_client_secret), Secret(creds.entur_client_secret), Secret(key))
        yield dataclasses.replace(config, **replaced), secrets, sandbox
