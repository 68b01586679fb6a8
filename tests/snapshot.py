"""Lake comparison helpers for tests (the product's own, see recon/integrity.py)."""

from __future__ import annotations

from recon.integrity import fingerprint


def snapshot(config) -> dict:
    return fingerprint(config)


def raw_duplicates(config) -> dict[str, int]:
    from recon.integrity import duplicate_keys

    return {"all": duplicate_keys(config)}
