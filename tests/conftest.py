from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

import pytest

from recon.config import load_config
from recon.sandbox.client_config import config_text, secret_env
from recon.sandbox.keys import generate_key_pair
from recon.sandbox.server import Sandbox, SandboxCredentials


@dataclass
class Setup:
    """A running sandbox plus a recon.toml that points at it, with secrets in the environment."""

    sandbox: Sandbox
    creds: SandboxCredentials
    private_key: str
    config_path: Path
    env: dict[str, str]

    def config(self):
        return load_config(self.config_path, env=self.env)

    def secret_values(self) -> list[str]:
        key_body = "".join(self.private_key.strip().splitlines()[1:-1])
        return [self.creds.vipps_client_secret, self.creds.entur_client_secret, key_body[:64], key_body[-64:]]


@pytest.fixture(scope="session")
def key_pair():
    return generate_key_pair()


@pytest.fixture
def creds(key_pair):
    """Credentials with random secret values, so that a leak is detectable by searching for them."""
    return SandboxCredentials(
        vipps_client_secret="vipps-" + secrets.token_hex(12),
        entur_client_secret="entur-" + secrets.token_hex(12),
        samtrafiken_public_key_pem=key_pair[1],
    )


@pytest.fixture
def make_setup(tmp_path, creds, key_pair, monkeypatch):
    """Start a sandbox over a dataset and write a matching config; stops the sandbox afterwards."""
    started: list[Sandbox] = []

    def make(dataset, *, faults: str | None = None, extra: str = "", lake: Path | None = None,
             **sandbox_options) -> Setup:
        sandbox = Sandbox(dataset, faults=faults, credentials=creds, slow_seconds=3.0, **sandbox_options).start()
        started.append(sandbox)
        env = secret_env(creds, key_pair[0])
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        path = tmp_path / "recon.toml"
        path.write_text(config_text(sandbox.urls(), creds, dataset, lake=lake or tmp_path / "lake", extra=extra))
        return Setup(sandbox, creds, key_pair[0], path, env)

    yield make
    for sandbox in started:
        sandbox.stop()
