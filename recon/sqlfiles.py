"""One query per ``.sql`` file: each stage keeps its SQL in a ``sql/`` folder beside its code."""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files
from typing import Any


@cache
def sql_text(package: str, name: str) -> str:
    """The text of ``<package>/sql/<name>``, e.g. ``sql_text("recon.reconcile", "key1.sql")``."""
    return files(package).joinpath("sql", name).read_text(encoding="utf-8")


def bind(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    """Only the ``$parameters`` a query names (DuckDB refuses unused ones)."""
    used = set(re.findall(r"\$([a-z_]+)", sql))
    return {k: v for k, v in params.items() if k in used}
