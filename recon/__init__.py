"""recon: reconcile Vipps MobilePay, Entur and Samtrafiken sales.

For analysts in Python::

    import recon
    with recon.open("recon-demo/lake") as lake:     # or the path of a recon.toml
        mismatches = lake.table("recon_mismatches")  # a pandas DataFrame
        lake.sql("SELECT code, count(*) AS n FROM recon_mismatches GROUP BY ALL")
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from recon.ops.query import LakeReader

__version__ = "0.1.0"


def open(lake: str | Path) -> LakeReader:  # recon.open, as gzip.open
    """The lake's tables by name, as pandas DataFrames (money in integer minor units)."""
    from recon.ops.query import LakeReader

    return LakeReader(lake)
