"""Synthetic API records for the sandbox: a consistent dataset, a lazy ledger, the planted sample.

Three public entry points:

* :func:`generate` builds an internally *consistent* dataset: reconciling it by the rules of
  docs/reconciliation.md gives zero mismatches. It still carries everything a real day
  has: partial captures, refunds sent with either sign, card payments and non-final attempts in
  Entur that must be ignored, bookings with several, duplicated and out-of-order events, and
  the Vipps Report API's funds and fees feeds (every sale settled, ePayment orders known only to
  the Report API, fees, payouts, unbroken balance chains).
* :func:`lazy_ledger_entries` is a ``Sequence`` that builds Vipps capture ``i`` on demand, so a
  sandbox can serve a million entries in flat memory (benchmarks); :func:`lazy_funds_entries`
  does the same for a Report API funds feed, balances included.
* :func:`planted_sample` is the committed ``sample_data/``: :func:`generate` plus planted
  discrepancies (each code of the Mismatch rules table), traps that must *not* be flagged and
  malformed records that ingest must quarantine, with the answer key (``expected``).

Money is built in integer minor units (øre) and only formatted into the Entur/Samtrafiken decimal
strings at the edge, from integers, never through float. Everything is derived from one
``random.Random(seed)`` and never from set/dict iteration over strings, so output is byte-stable.
"""

from recon.sandbox.generate.consistent import generate
from recon.sandbox.generate.lazy import lazy_funds_entries, lazy_ledger_entries
from recon.sandbox.generate.planted import planted_sample
from recon.sandbox.generate.sample_files import main, write_sample
from recon.sandbox.generate.world import (
    SAMPLE_ORDERS,
    SAMPLE_SEED,
    VAT_RATES,
    capture_fee,
    fmt_minor,
    vat_from_gross,
)

__all__ = [
    "SAMPLE_ORDERS", "SAMPLE_SEED", "VAT_RATES", "capture_fee", "fmt_minor", "generate", "lazy_funds_entries",
    "lazy_ledger_entries", "main", "planted_sample", "vat_from_gross", "write_sample",
]
