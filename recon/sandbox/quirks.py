"""API behaviours the public documents leave open, each one switchable in the sandbox.

Faults (faults.py) are transient misbehaviour a client must survive by retrying; quirks are a
server's standing habits that a client must read correctly or fail on loudly. Every quirk named
here was met in a server built strictly from the public documents:

``entur-per-page-limit=N``  Entur refuses ``perPage`` above N with a 400 that names the limit
``entur-total-pages=low``   Entur reports ``totalPages`` 1, whatever the truth
``entur-total-pages=growing``  Entur's ``totalPages`` grows by one with every page asked for
``vipps-has-more=omit``     the Vipps feeds send no ``hasMore``: the end is an empty page
``vipps-has-more=forever``  past its end a Vipps feed says ``hasMore: true`` with empty pages
                            and a new cursor each time
``vipps-revoked=L1+L2``     these ledgers answer 404 "No such ledgerId" (consent withdrawn)

A spec is a comma-separated list, e.g. ``entur-per-page-limit=50,vipps-has-more=omit``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Quirks:
    entur_per_page_limit: int | None = None
    entur_total_pages: str = "exact"  # exact | low | growing
    vipps_has_more: str = "exact"  # exact | omit | forever
    vipps_revoked: frozenset[str] = frozenset()


_CHOICES = {"entur-total-pages": ("exact", "low", "growing"), "vipps-has-more": ("exact", "omit", "forever")}


def parse_quirks(spec: str | None) -> Quirks:
    """``Quirks`` from a spec; ValueError naming the part that is not understood."""
    values: dict[str, object] = {}
    for part in filter(None, (p.strip() for p in (spec or "").split(","))):
        name, _, value = part.partition("=")
        if name == "entur-per-page-limit":
            if not value.isdigit() or int(value) < 1:
                raise ValueError(f"{part!r}: the limit must be a whole number >= 1")
            values["entur_per_page_limit"] = int(value)
        elif name == "vipps-revoked":
            values["vipps_revoked"] = frozenset(filter(None, value.split("+")))
        elif name in _CHOICES:
            if value not in _CHOICES[name]:
                raise ValueError(f"{part!r}: choose one of {', '.join(_CHOICES[name])}")
            values[name.replace("-", "_")] = value
        else:
            raise ValueError(f"unknown quirk {name!r} (known: entur-per-page-limit, vipps-revoked, "
                             f"{', '.join(_CHOICES)})")
    return Quirks(**values)  # type: ignore[arg-type]
