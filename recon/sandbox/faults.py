"""Fault injection for the sandbox's data endpoints (never its token endpoints).

A SPEC is a comma-separated list of items (also the CLI's ``recon sandbox --faults SPEC``):

``KIND:RATE``
    probability per data request, e.g. ``429:0.1,500:0.05``. One ``random.Random(seed)`` draw per
    data request decides, so a single-threaded client sees the same faults on every run.
``KIND@N+M+...``
    exactly the listed 1-based data-request numbers, e.g. ``500@1`` or ``truncate@2+5``.
    These win over rate faults for their request.
``seed=INT`` (default 0), ``retry_after=SECONDS`` (default 1), ``slow=SECONDS``.

KINDs: ``429`` (``Retry-After: <seconds>``), ``429date`` (``Retry-After`` as an HTTP-date),
``429bare`` (no ``Retry-After``), ``500``, ``503`` (with ``Retry-After``), ``slow`` (sleep, then
answer normally), ``truncate`` (valid Content-Length, but only the first half of the JSON),
``drop`` (close the connection without a response), ``repeat`` (the page also repeats a record
that the previous page of the same listing already served).
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

KINDS: tuple[str, ...] = (
    "429", "429date", "429bare", "500", "503", "slow", "truncate", "drop", "repeat",
)
# Kinds that replace the answer with an error status (the request is not served at all).
STATUS_KINDS: frozenset[str] = frozenset({"429", "429date", "429bare", "500", "503"})


@dataclass(frozen=True)
class FaultSpec:
    """A parsed SPEC. ``rates`` keeps the SPEC's order: it decides which kind a draw falls into."""

    rates: tuple[tuple[str, float], ...] = ()
    at: Mapping[int, str] = field(default_factory=lambda: MappingProxyType({}))
    seed: int = 0
    retry_after: int = 1
    slow: float | None = None  # None: the Sandbox's own slow_seconds

    @property
    def empty(self) -> bool:
        return not self.rates and not self.at


def parse_faults(spec: str | None) -> FaultSpec:
    """Parse a SPEC (see the module docstring); ``None`` or blank means no faults.

    Raises ValueError naming the offending item.
    """
    if spec is None or not spec.strip():
        return FaultSpec()
    rates: list[tuple[str, float]] = []
    at: dict[int, str] = {}
    seed, retry_after, slow = 0, 1, None
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            continue  # tolerate "429:0.1," from shell-built specs
        if "=" in item:
            key, _, value = item.partition("=")
            key, value = key.strip(), value.strip()
            if key == "seed":
                seed = _int(value, item, "seed must be an integer")
            elif key == "retry_after":
                # Retry-After carries whole seconds (RFC 9110 delay-seconds).
                retry_after = _int(value, item, "retry_after must be a whole number of seconds >= 0")
                if retry_after < 0:
                    raise ValueError(f"bad fault item {item!r}: retry_after must be >= 0")
            elif key == "slow":
                slow = _float(value, item, "slow must be a number of seconds >= 0")
                if slow < 0:
                    raise ValueError(f"bad fault item {item!r}: slow must be >= 0")
            else:
                raise ValueError(
                    f"bad fault item {item!r}: unknown setting {key!r} (known: seed, retry_after, slow)"
                )
        elif "@" in item:
            kind, _, numbers = item.partition("@")
            kind = _kind(kind.strip(), item)
            for part in numbers.split("+"):
                n = _int(part.strip(), item, "request numbers must be integers >= 1, joined by '+'")
                if n < 1:
                    raise ValueError(f"bad fault item {item!r}: request numbers start at 1")
                if n in at and at[n] != kind:
                    raise ValueError(
                        f"bad fault item {item!r}: data request {n} already gets fault {at[n]!r}"
                    )
                at[n] = kind
        elif ":" in item:
            kind, _, rate_text = item.partition(":")
            kind = _kind(kind.strip(), item)
            rate = _float(rate_text.strip(), item, "RATE must be a probability between 0 and 1")
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"bad fault item {item!r}: RATE must be between 0 and 1")
            rates.append((kind, rate))
        else:
            raise ValueError(
                f"bad fault item {item!r}: expected KIND:RATE, KIND@N+M, seed=, retry_after= or slow="
            )
    total = sum(rate for _, rate in rates)
    if total > 1.0 + 1e-9:
        raise ValueError(f"bad fault spec {spec!r}: the rates add up to {total:g}, more than 1")
    return FaultSpec(tuple(rates), MappingProxyType(at), seed, retry_after, slow)


class FaultPlan:
    """Numbers the data requests and decides each one's fault; safe to share between threads."""

    def __init__(self, spec: FaultSpec) -> None:
        self.spec = spec
        self._rng = random.Random(spec.seed)
        self._count = 0
        self._lock = threading.Lock()

    def next(self) -> tuple[int, str | None]:
        """(1-based number of this data request, fault kind or None)."""
        with self._lock:
            self._count += 1
            n = self._count
            # Always draw, even when an explicit fault applies, so that adding `KIND@N` items does
            # not shift which later requests the rate faults hit.
            draw = self._rng.random()
        kind = self.spec.at.get(n)
        if kind is None:
            edge = 0.0
            for rate_kind, rate in self.spec.rates:
                edge += rate
                if draw < edge:
                    kind = rate_kind
                    break
        return n, kind


def _kind(kind: str, item: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"bad fault item {item!r}: unknown kind {kind!r} (known: {', '.join(KINDS)})")
    return kind


def _int(text: str, item: str, why: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"bad fault item {item!r}: {why}") from None


def _float(text: str, item: str, why: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"bad fault item {item!r}: {why}") from None
    if not math.isfinite(value):
        raise ValueError(f"bad fault item {item!r}: {why}")
    return value
