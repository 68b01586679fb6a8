"""`recon demo` and `recon init`: the configurations recon writes for people."""

from __future__ import annotations

import json
import os
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


SYSTEM_LAKE = "/var/lib/recon/lake"
_SYSTEM_CONFIG_DIRS = (Path("/etc"), Path("/usr/local/etc"))
_LAKE_LINE = 'path = "lake"                 # '


def default_lake(config_path: Path) -> str:
    """Where ``recon init`` puts the lake: beside a config the user keeps (``lake``, relative to
    the file), but ``/var/lib/recon/lake`` for one under ``/etc`` or ``/usr/local/etc`` (data does
    not belong there, and a service runs with it read-only: the FHS's place for it is /var/lib)."""
    absolute = Path(os.path.abspath(config_path))
    if any(absolute.is_relative_to(folder) for folder in _SYSTEM_CONFIG_DIRS):
        return SYSTEM_LAKE
    return "lake"


def write_example_config(path: Path, lake: str | None = None) -> None:
    """The commented configuration, with ``[lake] path`` set to ``lake`` (default: :func:`default_lake`)."""
    text = files("recon").joinpath("recon.example.toml").read_text(encoding="utf-8")
    chosen = default_lake(path) if lake is None else lake
    assert _LAKE_LINE in text, "recon.example.toml's [lake] path line changed"
    text = text.replace(_LAKE_LINE, f"path = {json.dumps(chosen)}".ljust(len(_LAKE_LINE) - 2) + "# ", 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
