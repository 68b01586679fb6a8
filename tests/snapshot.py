"""Compare lakes by natural keys and content, the way a person would diff two clean runs."""

from __future__ import annotations

from recon.catalog import connect
from recon.landing import Lake
from recon.schemas import TABLES


def snapshot(config) -> dict[str, list[tuple]]:
    con = connect(Lake(config.lake))
    out = {}
    for name, spec in TABLES.items():
        keys = [k for k in spec.key if k != "_hash"]
        cols = ", ".join([*keys, "_hash"])
        out[name] = con.execute(f"SELECT {cols} FROM {name} ORDER BY ALL").fetchall()
    out["quarantine"] = con.execute("SELECT source, reason, _hash FROM quarantine ORDER BY ALL").fetchall()
    con.close()
    return out


def raw_duplicates(config) -> dict[str, int]:
    """Rows in each view that share a natural key (must be 0 everywhere)."""
    con = connect(Lake(config.lake))
    out = {}
    for name, spec in TABLES.items():
        key = ", ".join(spec.key)
        out[name] = con.execute(
            f"SELECT count(*) FROM (SELECT {key} FROM {name} GROUP BY ALL HAVING count(*) > 1)").fetchone()[0]
    con.close()
    return out
