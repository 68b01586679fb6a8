"""Lake integrity: compare lakes by natural keys and content, count duplicate keys.

Used by the reliability suite (bench/reliability.py) and the tests to prove that a crashed,
faulted or concurrent run ends with the same lake as a clean one.
"""

from __future__ import annotations

from typing import Any

from recon.config import Config
from recon.lake.catalog import connect, scalar
from recon.lake.schemas import TABLES
from recon.lake.store import Lake


def fingerprint(config: Config, *, results: bool = False) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's natural keys and content hashes, sorted; optionally the mismatch rows too (without
    the run's id and time, which differ between runs)."""
    con = connect(Lake(config.lake))
    try:
        out = {}
        for name, spec in TABLES.items():
            keys = [k for k in spec.key if k != "_hash"]
            if "feed_seq" in spec.schema.names:
                keys.append("feed_seq")  # a Report API entry's feed position is part of what landed
            out[name] = con.execute(f"SELECT {', '.join([*keys, '_hash'])} FROM {name} ORDER BY ALL").fetchall()
        out["quarantine"] = con.execute("SELECT source, reason, _hash FROM quarantine ORDER BY ALL").fetchall()
        if results:
            out["recon_mismatches"] = con.execute(
                "SELECT * EXCLUDE (run_id, reconciled_at) FROM recon_mismatches ORDER BY ALL").fetchall()
        return out
    finally:
        con.close()


def duplicate_keys(config: Config) -> int:
    """Natural keys that occur more than once in the views (always 0 in a healthy lake)."""
    con = connect(Lake(config.lake))
    try:
        total = 0
        for name, spec in TABLES.items():
            key = ", ".join(spec.key)
            total += scalar(con, f"SELECT count(*) FROM (SELECT {key} FROM {name} GROUP BY ALL "
                                 "HAVING count(*) > 1)")
        return total
    finally:
        con.close()


def lost_and_extra(clean: dict[str, list[tuple[Any, ...]]],
                   other: dict[str, list[tuple[Any, ...]]]) -> tuple[int, int]:
    """Rows of the clean lake missing from the other, and rows the other has beyond it."""
    lost = sum(len(set(rows) - set(other.get(name, []))) for name, rows in clean.items())
    extra = sum(len(set(rows) - set(clean.get(name, []))) for name, rows in other.items())
    return lost, extra
