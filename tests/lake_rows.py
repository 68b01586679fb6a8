"""Read a test's lake back through the catalog, as an analyst would."""

from __future__ import annotations

from typing import Any

from recon.lake.catalog import connect
from recon.lake.store import Lake


def rows(config: Any, sql: str) -> list[tuple[Any, ...]]:
    """The rows of ``sql`` over the lake of ``config`` (a recon Config)."""
    con = connect(Lake(config.lake))
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()
