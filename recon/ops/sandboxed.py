"""The embedded sandbox: ``[sandbox] embedded = true`` makes a pull talk to recon's own fake APIs.

This is the only place where the job meets the sandbox; the ingest stage never imports it, so
the production pull path carries no fake-API code.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

from recon.config import Config, Secret
from recon.ingest.clients import Secrets
from recon.ingest.pull import PullResult
from recon.ingest.pull import pull as pull_sources


@contextlib.contextmanager
def embedded_sandbox(config: Config) -> Iterator[tuple[Config, Secrets | None]]:
    """The configuration as it will be used and its secrets (None: read from the environment).

    With ``[sandbox] embedded = true`` recon serves its own fake APIs on a free loopback port for
    the length of the block and uses the sandbox's own credentials (they guard nothing real).
    """
    if not config.sandbox.embedded:
        yield config, None
        return
    from recon.sandbox.dataset import Dataset, sample_data_dir
    from recon.sandbox.keys import sandbox_private_key_pem
    from recon.sandbox.server import Sandbox, SandboxCredentials

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
        secrets = Secrets(Secret(creds.vipps_client_secret), Secret(creds.entur_client_secret),
                          Secret(sandbox_private_key_pem()))
        yield dataclasses.replace(config, **replaced), secrets


def pull(config: Config, sources: list[str] | None = None, **options: Any) -> PullResult:
    """:func:`recon.ingest.pull.pull`, against the embedded sandbox where the config says so."""
    with embedded_sandbox(config) as (cfg, secrets):
        return pull_sources(cfg, sources, secrets=secrets, **options)
