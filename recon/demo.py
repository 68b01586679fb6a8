"""`recon demo`: the whole job, offline, against the embedded sandbox and the sample data."""

from __future__ import annotations

from pathlib import Path

from .config import load_config
from .pipeline import PullResult, pull
from .sandbox.dataset import Dataset, sample_data_dir

DEMO_CONFIG = """\
# recon demo configuration, written by `recon demo`.
# [sandbox] embedded = true makes every command start recon's own fake Vipps, Entur and
# Samtrafiken APIs on a free loopback port, serving the sample data shipped with recon, and use
# the sandbox's own credentials. Delete that section and fill in real URLs, ids and secret
# variables (see README.md, Configuration) to talk to the real APIs.

[lake]
path = "lake"

[sandbox]
embedded = true

[vipps]
ledgers = [{ledgers}]
timezone = "Europe/Oslo"

[entur]
timezone = "Europe/Oslo"

[samtrafiken]
organization_code = "{org}"
timezone = "Europe/Oslo"
"""


def write_demo_config(folder: Path) -> Path:
    dataset = Dataset.load(sample_data_dir())
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "recon.toml"
    ledgers = ", ".join(f'"{lid}"' for lid in sorted(dataset.ledgers))
    path.write_text(DEMO_CONFIG.format(ledgers=ledgers, org=dataset.organization_code), encoding="utf-8")
    return path


def run_demo(folder: Path) -> tuple[Path, PullResult]:
    path = write_demo_config(folder)
    config = load_config(path)
    return path, pull(config)
