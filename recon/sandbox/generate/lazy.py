"""A lazy Vipps ledger for benchmarks: capture ``i`` is built on demand, so a sandbox serves a
million entries in flat memory. Likewise a lazy Report API funds feed with its balance chain.
"""

from __future__ import annotations

import time as _time
import zlib
from collections.abc import Sequence
from datetime import date, timedelta
from typing import overload

from recon.sandbox.generate.world import GENERAL, Record, local_midnight, vat_from_gross

# --------------------------------------------------------------------------- lazy ledger

_M64 = (1 << 64) - 1
_REF_SPACE = 36**8
_REF_MULT = 1_000_003  # coprime with 36 = 2^2*3^2, so i -> i*MULT mod 36^8 is a bijection
_B36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _mix64(x: int) -> int:
    """splitmix64 finaliser: a fast, well-spread hash of an integer."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def _reference(salt: int, i: int) -> str:
    """An 8-character base-36 order reference, distinct for each i < 36^8 (a bijection)."""
    n = ((i + salt) * _REF_MULT) % _REF_SPACE
    chars = []
    for _ in range(8):
        n, r = divmod(n, 36)
        chars.append(_B36[r])
    return "".join(chars)


class _LazySequence(Sequence[Record]):
    """A read-only sequence of `count` records, record ``i`` built by ``_build(i)`` on demand."""

    _count: int

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> Record: ...
    @overload
    def __getitem__(self, index: slice) -> list[Record]: ...
    def __getitem__(self, index: int | slice) -> Record | list[Record]:
        if isinstance(index, slice):
            return [self._build(i) for i in range(*index.indices(self._count))]
        i = index + self._count if index < 0 else index
        if not 0 <= i < self._count:
            raise IndexError("ledger entry index out of range")
        return self._build(i)

    def _build(self, i: int) -> Record:
        raise NotImplementedError


class LazyLedgerEntries(_LazySequence):
    """Vipps captures of one ledger, entry ``i`` built on demand from (seed, ledger, i).

    Times rise with ``i`` (feed order) across the local days of the period; references are
    distinct within the ledger; every line obeys the invariants of :func:`generate`.
    """

    def __init__(self, seed: int, count: int, ledger_id: str, start: str, days: int) -> None:
        if count < 0 or days < 1:
            raise ValueError("count must be >= 0 and days >= 1")
        self._count = count
        self._ledger = ledger_id
        self._salt = _mix64((seed & _M64) ^ zlib.crc32(ledger_id.encode()) << 20)
        first = date.fromisoformat(start)
        self._t0 = int(local_midnight(first).timestamp())
        self._span = int(local_midnight(first + timedelta(days=days)).timestamp()) - self._t0
        self._psp_prefix = str(100 + self._salt % 900)
        # Precomputed (name, unit, unit net, rate, category, {qty: (gross, net, vat)}).
        self._products = [
            (p.name, p.price, p.price - vat_from_gross(p.price, p.rate), p.rate, p.category,
             {q: (p.price * q, p.price * q - vat_from_gross(p.price * q, p.rate),
                  vat_from_gross(p.price * q, p.rate)) for q in (1, 2, 3)})
            for p in GENERAL
        ]

    def _reference(self, i: int) -> str:
        return _reference(self._salt, i)

    def _build(self, i: int) -> Record:
        h = _mix64(self._salt + i)
        products = self._products
        n_products = len(products)
        lines = []
        gross = vat = 0
        for k in range(1 + h % 3):
            h >>= 7
            name, unit, unit_net, rate, category, by_qty = products[(h >> 2) % n_products]
            qty = 1 + h % 3
            g, net, v = by_qty[qty]
            gross += g
            vat += v
            lines.append({"lineId": f"{i * 3 + k + 1}", "name": name, "quantity": qty,
                          "unitPriceGross": unit, "unitPriceNet": unit_net, "discountTotal": 0,
                          "lineTotalGross": g, "lineTotalNet": net, "vatRate": rate,
                          "vatAmount": v, "category": category})
        mpos = (h >> 8) & 1
        when = self._t0 + i * self._span // max(self._count, 1)
        return {
            "entryType": "capture",
            "time": _time.strftime("%Y-%m-%dT%H:%M:%SZ", _time.gmtime(when)),
            "pspReference": f"{self._psp_prefix}{i:010d}",
            "reference": self._reference(i),
            "currency": "NOK",
            "paymentType": ("CARD" if (h >> 9) & 1 else "WALLET") if mpos else "WALLET",
            "classification": {"solution": "MPOS" if mpos else "SHOPPING_BASKET",
                               "salesCategory": None},
            "amounts": {"gross": gross, "net": gross - vat, "vat": vat},
            "lines": lines,
            "customer": None,
            "completeness": {"hasLineItems": True, "hasVatBreakdown": True,
                             "hasCustomerIdentity": False},
        }


def lazy_ledger_entries(seed: int, count: int, ledger_id: str, start: str = "2026-10-24",
                        days: int = 3) -> Sequence[Record]:
    """`count` Vipps captures (1-3 lines each) of one ledger, built on demand: flat memory."""
    return LazyLedgerEntries(seed, count, ledger_id, start, days)


class LazyFundsEntries(_LazySequence):
    """A Report API funds feed of one ledger, entry ``i`` built on demand with its balances.

    The entries are spread evenly over the local days: ``per_day`` = ceil(count / days) entries
    a day, the last of each day but the last a `payout-scheduled` (pspReference
    ``<ledgerId>-<n>``) that brings the balance back to ``reserve``; all others are captures. The
    captures come in pairs of amounts ``base + d`` and ``base - d`` (d per pair), so the balance
    before entry j of a day is ``reserve + j*base`` (+ d of the pair when j is odd): O(1) per
    entry, and the chain is unbroken. The last day is open (no payout).
    """

    def __init__(self, seed: int, count: int, ledger_id: str, start: str, days: int,
                 reserve: int = 100_000) -> None:
        if count < 0 or days < 1:
            raise ValueError("count must be >= 0 and days >= 1")
        self._count = count
        self._ledger = ledger_id
        self._reserve = reserve
        self._salt = _mix64((seed & _M64) ^ zlib.crc32(ledger_id.encode()) << 21 ^ 0xF0D5)
        self._base = 5_000 + self._salt % 20_000  # 50.00 to 249.99 NOK
        self._days = days
        self._per_day = max(2, -(-count // days))
        first = date.fromisoformat(start)
        self._dates = [(first + timedelta(days=d)).isoformat() for d in range(days)]
        self._t0 = [int(local_midnight(first + timedelta(days=d)).timestamp()) for d in range(days + 1)]
        self._psp_prefix = str(100 + self._salt % 900)

    def _delta(self, day: int, pair: int) -> int:
        return _mix64(self._salt + day * self._per_day + pair) % (self._base // 2)

    def _build(self, i: int) -> Record:
        d, j = divmod(i, self._per_day)
        begin, end = self._t0[d], self._t0[d + 1]
        when = begin + (j + 1) * (end - begin - 2) // (self._per_day + 1)
        before = self._reserve + j * self._base + (self._delta(d, (j - 1) // 2) if j % 2 else 0)
        entry: Record = {
            "pspReference": f"{self._psp_prefix}{i:010d}",
            "time": _time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", _time.gmtime(when)),
            "ledgerDate": self._dates[d],
            "entryType": "capture",
            "reference": _reference(self._salt, i),
            "currency": "NOK",
            "amount": 0,
            "balanceBefore": before,
            "balanceAfter": 0,
            "recipientHandle": f"NO:{self._ledger}",
        }
        if j == self._per_day - 1 and d < self._days - 1:
            entry.update(pspReference=f"{self._ledger}-{d + 1}", entryType="payout-scheduled",
                         reference=f"payout-{d + 1}", recipientHandle=None)
            entry["amount"] = self._reserve - before
        else:
            delta = self._delta(d, j // 2)
            entry["amount"] = self._base + (delta if j % 2 == 0 else -delta)
        entry["balanceAfter"] = before + entry["amount"]
        return entry


def lazy_funds_entries(seed: int, count: int, ledger_id: str, start: str = "2026-10-24",
                       days: int = 3, reserve: int = 100_000) -> Sequence[Record]:
    """`count` Report API funds entries of one ledger (captures, a payout closing each day but the
    last), balances included, built on demand: flat memory."""
    return LazyFundsEntries(seed, count, ledger_id, start, days, reserve)
