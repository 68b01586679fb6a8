"""A recon.toml that points at a running sandbox (tests, benchmarks, `recon sandbox`)."""

from __future__ import annotations

from pathlib import Path

from recon.sandbox.dataset import Dataset
from recon.sandbox.server import SandboxCredentials

# Variable names recon reads the secrets from; the values are the sandbox's credentials.
SECRET_VARIABLES = ("RECON_VIPPS_CLIENT_SECRET", "RECON_ENTUR_CLIENT_SECRET", "RECON_SAMTRAFIKEN_PRIVATE_KEY")


def config_text(urls: dict[str, str], creds: SandboxCredentials, dataset: Dataset, *, lake: Path | str,
                page_size: int = 10, http: str = "", extra: str = "") -> str:
    """The TOML text; ``http`` replaces the default [http] body, ``extra`` is appended."""
    ledgers = ", ".join(f'"{x}"' for x in dataset.ledgers)
    http = http or ("connect_timeout = 2\nread_timeout = 1.5\nmax_attempts = 5\n"
                    "backoff_base = 0.01\nbackoff_max = 0.05")
    return f"""# Points at a recon sandbox; secrets come from {", ".join(SECRET_VARIABLES)}.
[lake]
path = "{lake}"

[http]
{http}

[vipps]
base_url = "{urls['vipps_base']}"
token_url = "{urls['vipps_token_url']}"
client_id = "{creds.vipps_client_id}"
ledgers = [{ledgers}]
page_size = {page_size}

[entur]
base_url = "{urls['entur_base']}"
token_url = "{urls['entur_token_url']}"
audience = "{creds.entur_audience}"
client_id = "{creds.entur_client_id}"
client_name = "acme-recon"
pos = "recon-test"
page_size = {page_size}

[samtrafiken]
base_url = "{urls['samtrafiken_base']}"
token_url = "{urls['samtrafiken_token_url']}"
client_id = "{creds.samtrafiken_client_id}"
kid = "{creds.samtrafiken_kid}"
organization_code = "{dataset.organization_code}"
page_size = {page_size}
{extra}
"""


def secret_env(creds: SandboxCredentials, private_key_pem: str) -> dict[str, str]:
    values = (creds.vipps_client_secret, creds.entur_client_secret, private_key_pem)
    return dict(zip(SECRET_VARIABLES, values, strict=True))
