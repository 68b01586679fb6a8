"""`recon demo` and `recon init`: the configurations recon writes for people."""

from __future__ import annotations

import json
from datetime import date
from importlib.resources import files
from pathlib import Path

from recon.sandbox.dataset import Dataset, sample_data_dir

DEMO_CONFIG = """\
# recon demo configuration, written by `recon demo`.
# [sandbox] embedded = true makes every command start recon's own fake Vipps, Entur and
# Samtrafiken APIs on a free loopback port, serving the sample data shipped with recon, and use
# the sandbox's own credentials. For the real APIs start from `recon init` instead.

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


def demo_period() -> tuple[date, date]:
    """The business dates the sample data covers (its answer key says which)."""
    period = json.loads((sample_data_dir() / "expected.json").read_text(encoding="utf-8"))["period"]
    return date.fromisoformat(period["from"]), date.fromisoformat(period["to"])


def write_example_config(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(files("recon").joinpath("recon.example.toml").read_text(encoding="utf-8"), encoding="utf-8")
