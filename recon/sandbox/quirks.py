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
``personal-data``           every record carries every personal field its API defines, filled,
                            asked for or not (Vipps customer, Report API message / name /
                            maskedPhoneNo, Entur customerNumber, Samtrafiken payer)

Hostile or broken servers, for recon's HTTP hardening:

``slow-body=N``             data answers send their body at N bytes per second (headers at once)
``gzip-bomb=M``             data answers are ``Content-Encoding: gzip`` of a page padded to M MiB
``forged-problem=S``        data requests answer status S (4xx) with a problem whose text holds
                            newlines, escape codes and a forged "run finished" log line
``token-echo=400|401|text`` token requests are refused with that status (``text``: 400, plain
                            text) and a body echoing the whole request, headers and body

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
    personal_data: bool = False
    # Hostile or broken servers (recon's HTTP hardening):
    slow_body: int | None = None  # bytes per second at which data bodies are sent
    gzip_bomb: int | None = None  # MiB a data body decodes to (Content-Encoding: gzip)
    forged_problem: int | None = None  # status of a data error whose problem text forges log lines
    token_echo: str | None = None  # 400 | 401 | text: token refusals echoing the whole request


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
        elif name == "personal-data" and not value:
            values["personal_data"] = True
        elif name in _HOSTILE:
            values[name.replace("-", "_")] = _hostile(part, name, value)
        elif name in _CHOICES:
            if value not in _CHOICES[name]:
                raise ValueError(f"{part!r}: choose one of {', '.join(_CHOICES[name])}")
            values[name.replace("-", "_")] = value
        else:
            raise ValueError(f"unknown quirk {name!r} (known: entur-per-page-limit, vipps-revoked, personal-data, "
                             f"{', '.join(_CHOICES)}, {', '.join(_HOSTILE)})")
    return Quirks(**values)  # type: ignore[arg-type]


# Hostile or broken servers: each value's check, in one place.
_HOSTILE = ("slow-body", "gzip-bomb", "forged-problem", "token-echo")
_TOKEN_ECHO = ("400", "401", "text")


def _hostile(part: str, name: str, value: str) -> int | str:
    if name == "token-echo":
        if value not in _TOKEN_ECHO:
            raise ValueError(f"{part!r}: choose one of {', '.join(_TOKEN_ECHO)}")
        return value
    if not value.isdigit():
        raise ValueError(f"{part!r}: the value must be a whole number")
    number = int(value)
    if name == "forged-problem" and not 400 <= number <= 499:
        raise ValueError(f"{part!r}: the status must be 400..499")
    if name in ("slow-body", "gzip-bomb") and number < 1:
        raise ValueError(f"{part!r}: the value must be >= 1")
    return number
