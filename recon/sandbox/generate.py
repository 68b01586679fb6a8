"""Synthetic API records for the sandbox: a consistent dataset, a lazy ledger, the planted sample.

Three public entry points:

* :func:`generate` builds an internally *consistent* dataset: reconciling it by the rules of
  ``DESIGN.md`` (Mismatch rules) gives zero mismatches. It still carries everything a real day
  has: partial captures, refunds sent with either sign, card payments and non-final attempts in
  Entur that must be ignored, bookings with several, duplicated and out-of-order events.
* :func:`lazy_ledger_entries` is a ``Sequence`` that builds Vipps capture ``i`` on demand, so a
  sandbox can serve a million entries in flat memory (benchmarks).
* :func:`planted_sample` is the committed ``sample_data/``: :func:`generate` plus planted
  discrepancies (each code of the Mismatch rules table), traps that must *not* be flagged and
  malformed records that ingest must quarantine, with the answer key (``expected``).

Money is built in integer minor units (øre) and only formatted into the Entur/Samtrafiken decimal
strings at the edge, from integers, never through float. Everything is derived from one
``random.Random(seed)`` and never from set/dict iteration over strings, so output is byte-stable.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import random
import time as _time
import uuid
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, overload
from zoneinfo import ZoneInfo

from recon.sandbox.dataset import Dataset, Ledger

__all__ = [
    "VAT_RATES",
    "generate",
    "lazy_ledger_entries",
    "planted_sample",
    "write_sample",
    "vat_from_gross",
    "fmt_minor",
    "main",
]

VAT_RATES: tuple[int, ...] = (2500, 1500, 1200)  # Norwegian VAT in basis points
OSLO = ZoneInfo("Europe/Oslo")
ORGANISATION_ID = 1  # the selling organisation in Entur
SAMPLE_SEED = 2026
SAMPLE_ORDERS = 190  # ~250 Vipps entries: enough variety, JSON well under 1.5 MB
Record = dict[str, Any]


# --------------------------------------------------------------------------- money and time


def vat_from_gross(gross: int, rate_bp: int) -> int:
    """VAT inside a VAT-inclusive amount, exact: round-half-up(gross * r / (1 + r)), r = rate/10000.

    A negative amount (a refund sent with a minus sign) is rounded on its absolute value, so a
    refund line mirrors the capture line it reverses.
    """
    den = 10_000 + rate_bp
    vat = (2 * abs(gross) * rate_bp + den) // (2 * den)
    return vat if gross >= 0 else -vat


def fmt_minor(amount: int) -> str:
    """Minor units to the APIs' two-decimal string: 15200 -> "152.00", -150 -> "-1.50"."""
    sign = "-" if amount < 0 else ""
    whole, cents = divmod(abs(amount), 100)
    return f"{sign}{whole}.{cents:02d}"


def _fmt_rate(rate_bp: int) -> str:
    """Basis points to Samtrafiken's percentage string: 1200 -> "12.00"."""
    return fmt_minor(rate_bp)


def _z(dt: datetime) -> str:
    """UTC with a Z suffix, second precision: the format of Vipps `time` and Entur `createdAt`."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _local_midnight(day: date) -> datetime:
    """The UTC instant at which `day` starts in Oslo (days are 23, 24 or 25 hours long)."""
    return datetime(day.year, day.month, day.day, tzinfo=OSLO).astimezone(UTC)


# --------------------------------------------------------------------------- catalogue


@dataclass(frozen=True)
class Product:
    name: str
    price: int  # VAT-inclusive unit price, øre
    rate: int  # basis points
    category: str


# Ticket prices with odd øre so that VAT rounding is exercised (12 % of 9950 is not whole).
TICKETS = (
    Product("Enkeltbillett voksen", 4400, 1200, "SERVICES"),
    Product("Enkeltbillett barn", 2200, 1200, "SERVICES"),
    Product("Enkeltbillett honnør", 2200, 1200, "SERVICES"),
    Product("24-timersbillett", 12700, 1200, "SERVICES"),
    Product("7-dagersbillett", 32800, 1200, "SERVICES"),
    Product("Flybussen Gardermoen", 25950, 1200, "SERVICES"),
    Product("Regiontog sone 4", 9950, 1200, "SERVICES"),
)
FOOD = (
    Product("Kaffe", 3900, 1500, "GOODS"),
    Product("Te", 3250, 1500, "GOODS"),
    Product("Rundstykke med ost", 5450, 1500, "GOODS"),
    Product("Vaffel med brunost", 4290, 1500, "GOODS"),
    Product("Vann 0,5 l", 3490, 1500, "GOODS"),
)
MERCH = (
    Product("Reisekortholder", 7900, 2500, "GOODS"),
    Product("Paraply", 24900, 2500, "GOODS"),
    Product("Nøkkelring", 4990, 2500, "GOODS"),
    Product("Mobillader", 19950, 2500, "GOODS"),
    Product("Refleks", 2500, 2500, "GOODS"),
)
# Cross-border (Resplus) tickets: the orders that Samtrafiken also sees. Ticket-only baskets keep
# Vipps VAT per rate equal to the booking's, should that optional check be configured.
RESPLUS = (
    Product("Resplus Oslo S–Stockholm C", 64900, 1200, "SERVICES"),
    Product("Resplus Oslo S–Göteborg C", 39950, 1200, "SERVICES"),
    Product("Resplus Oslo S–Karlstad C", 29950, 1200, "SERVICES"),
    Product("Resplus Halden–Göteborg C", 24900, 1200, "SERVICES"),
    Product("Plassreservasjon", 5500, 1200, "SERVICES"),
)
GENERAL = TICKETS + FOOD + MERCH
PRODUCTS = {p.name: p for p in GENERAL + RESPLUS}

# salesCategory of VARIABLE_AMOUNT entries and the rate the merchant's category implies.
SALES_CATEGORIES = (("TRANSPORT", 1200), ("FOOD_AND_BEVERAGES", 1500), ("GOODS", 2500))

ROUTES = (  # (from, to, operator, producer, minutes) for Samtrafiken segments
    (("NSR:StopPlace:337", "Oslo S"), ("SE:740000001", "Stockholm C"), "SJ", "74", 340),
    (("NSR:StopPlace:337", "Oslo S"), ("SE:740000002", "Göteborg C"), "Vy Tåg", "276", 225),
    (("NSR:StopPlace:337", "Oslo S"), ("SE:740000006", "Karlstad C"), "SJ", "74", 170),
    (("NSR:StopPlace:59872", "Halden"), ("SE:740000002", "Göteborg C"), "Vy Tåg", "276", 130),
)


# --------------------------------------------------------------------------- the record builder


@dataclass
class Sale:
    """Handles to the records of one order, so that plants can tweak them after building."""

    order_id: str
    ledger_id: str | None
    captures: list[Record] = field(default_factory=list)
    refunds: list[Record] = field(default_factory=list)
    payment: Record | None = None
    txns: list[Record] = field(default_factory=list)  # the CAPTURED ones, one per capture
    credits: list[Record] = field(default_factory=list)
    events: list[Record] = field(default_factory=list)
    lines: list[Record] = field(default_factory=list)


class _World:
    """Accumulates records of all three APIs, with unique IDs and a delivery order per feed."""

    def __init__(self, seed: int, ledgers: Sequence[str], start: str, days: int) -> None:
        if days < 1 or not ledgers:
            raise ValueError("need at least one ledger and one day")
        self.rng = random.Random(seed)
        self.ledger_ids = list(ledgers)
        self.start = date.fromisoformat(start)
        self.days = days
        self.period_start = _local_midnight(self.start)
        self.period_end = _local_midnight(self.start + timedelta(days=days))
        self.org_code = Dataset().organization_code
        # Feeds keep (delivered_at, seq, record); sorting gives the order the API delivers them.
        self._seq = itertools.count()
        self.vipps: dict[str, list[tuple[datetime, int, Record]]] = {l: [] for l in ledgers}
        self.payments: list[tuple[datetime, int, Record]] = []
        self.credits: list[tuple[datetime, int, Record]] = []
        self.events: list[tuple[datetime, int, Record]] = []
        self._used: set[str] = set()
        self._ids = {"payment": 24_000 + self.rng.randrange(1000), "txn": 81_000,
                     "credit": 5_100, "line": 121_700}

    # ----- identifiers

    def _next(self, kind: str) -> int:
        self._ids[kind] += 1 + self.rng.randrange(3)  # gaps, as in a shared sequence
        return self._ids[kind]

    def _unique(self, make: Any) -> str:
        while True:
            value = make()
            if value not in self._used:
                self._used.add(value)
                return value

    def order_id(self, numeric: str | None = None) -> str:
        """Entur order id: 8 uppercase alphanumerics; or a 19-digit numeric string.

        numeric="zero" starts with 0 (lost if parsed as an int), "big" exceeds int64.
        """
        alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
        if numeric == "zero":
            return self._unique(lambda: "0" + "".join(self.rng.choices("0123456789", k=18)))
        if numeric == "big":
            return self._unique(lambda: "9" + str(self.rng.randrange(3 * 10**17, 10**18)))
        if numeric:
            return self._unique(lambda: str(self.rng.randrange(10**18, 9 * 10**18)))
        return self._unique(lambda: "".join(self.rng.choices(alphabet, k=8)))

    def psp(self) -> str:
        """Vipps pspReference: an 11-digit numeric string, as in the API's examples."""
        return self._unique(lambda: str(self.rng.randrange(10**10, 10**11)))

    def uuid(self) -> str:
        return self._unique(lambda: str(uuid.UUID(int=self.rng.getrandbits(128), version=4)))

    def booking_number(self) -> str:
        letters = "ABCDEFGHJKLMNPRSTUVWXYZ"
        return self._unique(lambda: "".join(self.rng.choices(letters, k=3))
                            + f"{self.rng.randrange(10_000):04d}" + self.rng.choice(letters))

    # ----- time

    def day(self, index: int) -> date:
        return self.start + timedelta(days=index)

    def at(self, day_index: int, hhmm: str, fold: int = 0) -> datetime:
        """A local wall-clock time on period day `day_index` (may lie outside the period)."""
        h, m = (int(x) for x in hhmm.split(":"))
        d = self.day(day_index)
        return datetime(d.year, d.month, d.day, h, m, tzinfo=OSLO, fold=fold).astimezone(UTC)

    def random_time(self, day: date) -> datetime:
        """A time in the local day; mostly 06-23 local, sometimes in the night (DST hour too)."""
        begin = _local_midnight(day)
        length = int((_local_midnight(day + timedelta(days=1)) - begin).total_seconds())
        if self.rng.random() < 0.85:
            offset = self.rng.randrange(6 * 3600, min(23 * 3600, length - 60))
        else:
            offset = self.rng.randrange(0, length - 60)
        return begin + timedelta(seconds=offset)

    # ----- Vipps

    def line(self, product: Product, quantity: int = 1, discount_pct: int = 0) -> Record:
        """An order line obeying unitPriceGross*quantity - discountTotal = lineTotalGross."""
        before = product.price * quantity
        discount = (before * discount_pct + 50) // 100
        total = before - discount
        vat = vat_from_gross(total, product.rate)
        return {
            "lineId": str(self._next("line")),
            "name": product.name,
            "quantity": quantity,
            "unitPriceGross": product.price,
            "unitPriceNet": product.price - vat_from_gross(product.price, product.rate),
            "discountTotal": discount,
            "lineTotalGross": total,
            "lineTotalNet": total - vat,
            "vatRate": product.rate,
            "vatAmount": vat,
            "category": product.category,
        }

    def basket(self, resplus: bool = False) -> list[Record]:
        if resplus:
            picks = [self.rng.choice(RESPLUS[:4])]
            if self.rng.random() < 0.4:
                picks.append(RESPLUS[4])  # seat reservation
        else:
            picks = self.rng.sample(GENERAL, k=self.rng.choice((1, 1, 2, 2, 3)))
        return [self.line(p, self.rng.choice((1, 1, 1, 2, 3)),
                          10 if self.rng.random() < 0.12 else 0) for p in picks]

    def vipps_entry(self, ledger: str, reference: str, when: datetime, solution: str, *,
                    entry_type: str = "capture", lines: list[Record] | None = None,
                    gross: int | None = None, sales_category: str | None = None,
                    vat: int | None = None, payment_type: str | None = None) -> Record:
        """A SalesEntry; amounts are derived from the lines so that Σ lines = amounts."""
        lines = list(lines or [])  # own list: callers keep extending theirs
        if lines:
            gross = sum(l["lineTotalGross"] for l in lines)
            vat = sum(l["vatAmount"] for l in lines)
        assert gross is not None
        if payment_type is None:
            payment_type = self.rng.choice(("CARD", "CARD", "WALLET")) if solution == "MPOS" else "WALLET"
        entry = {
            "entryType": entry_type,
            "time": _z(when),
            "pspReference": self.psp(),
            "reference": reference,
            "currency": "NOK",
            "paymentType": payment_type,
            "classification": {"solution": solution, "salesCategory": sales_category},
            "amounts": {"gross": gross, "net": None if vat is None else gross - vat, "vat": vat},
            "lines": lines,
            "customer": None,
            "completeness": {"hasLineItems": bool(lines), "hasVatBreakdown": bool(lines),
                             "hasCustomerIdentity": False},
        }
        self.deliver_vipps(ledger, entry, when)
        return entry

    def deliver_vipps(self, ledger: str, entry: Record, at: datetime) -> None:
        self.vipps[ledger].append((at, next(self._seq), entry))

    def refund_of(self, capture: Record, ledger: str, when: datetime, *, sign: int,
                  lines: list[Record] | None = None, gross: int | None = None) -> Record:
        """A refund entry mirroring (part of) `capture`, all money fields carrying `sign`.

        The API's refund sign is undocumented; with sign -1 every money field is negative
        (quantity stays positive), so the line invariants hold either way.
        """
        signed = [{**l, **{k: sign * l[k] for k in ("unitPriceGross", "unitPriceNet",
                                                     "discountTotal", "lineTotalGross",
                                                     "lineTotalNet", "vatAmount")}}
                  for l in (lines or [])]
        cls = capture["classification"]
        vat = None
        if not signed and capture["amounts"]["vat"] is not None:
            vat = vat_from_gross(sign * gross, dict(SALES_CATEGORIES)[cls["salesCategory"]])
        entry = self.vipps_entry(ledger, capture["reference"], when, cls["solution"],
                                 entry_type="refund", lines=signed,
                                 gross=None if signed else sign * gross,
                                 sales_category=cls["salesCategory"], vat=vat,
                                 payment_type=capture["paymentType"])
        return entry

    # ----- Entur

    def txn(self, amount: int, when: datetime, *, status: str = "CAPTURED",
            method: str = "VIPPS", external: str | None = None, to_capture: int = 0,
            currency: str = "NOK") -> Record:
        """A payment transaction; `summary` is the non-deprecated view of the money."""
        captured = amount if status == "CAPTURED" else 0
        txn: Record = {
            "transactionId": self._next("txn"),
            "status": status,
            "amount": fmt_minor(amount),
            "currency": currency,
            "createdAt": _z(when),
            "summary": {
                "capturedAmount": fmt_minor(captured),
                "creditedAmount": "0.00",
                "remainingAmountToCapture": fmt_minor(to_capture if status == "CAPTURED" else amount),
                "remainingAmountToCredit": fmt_minor(captured),
            },
            "paymentType": method,
            "paymentTypeGroup": "MOBILE" if method == "VIPPS" else "PAYMENTCARD",
            "externalTransactionId": external,
            "links": [],
        }
        if method != "VIPPS":
            txn["cardNumber"] = "XXXXXX******" + f"{self.rng.randrange(10_000):04d}"
            txn["rrn"] = f"{self.rng.randrange(10**11, 10**12)}"
        return txn

    def payment(self, order_id: str, created: datetime, txns: list[Record], *, total: int,
                version: int = 1, currency: str = "NOK") -> Record:
        pay: Record = {
            "paymentId": self._next("payment"),
            "orderId": order_id,
            "orderVersion": version,
            "organisationId": ORGANISATION_ID,
            "totalAmount": fmt_minor(total),
            "currency": currency,
            "createdAt": _z(created),
            "active": True,
            "transactionHistory": txns,
            "links": [],
        }
        self._touch(pay, [t["createdAt"] for t in txns])
        self.payments.append((created, next(self._seq), pay))
        return pay

    @staticmethod
    def _touch(record: Record, stamps: Iterable[str]) -> None:
        """Set `updatedAt` when something happened after the record was created."""
        later = [s for s in stamps if s > record["createdAt"]]
        if later:
            record["updatedAt"] = max(later + [record.get("updatedAt", "")])

    def credit_txn(self, paid: Record | None, amount: int, when: datetime | None, *,
                   external: str | None, method: str = "VIPPS", status: str = "CREDITED",
                   currency: str = "NOK") -> Record:
        """A credit transaction reversing (part of) payment transaction `paid`."""
        if paid is not None and status == "CREDITED":
            s = paid["summary"]
            credited = _minor(s["creditedAmount"]) + amount
            s["creditedAmount"] = fmt_minor(credited)
            s["remainingAmountToCredit"] = fmt_minor(_minor(s["capturedAmount"]) - credited)
        ct: Record = {
            "transactionId": self._next("txn"),
            "paymentTransactionId": None if paid is None else paid["transactionId"],
            "amount": fmt_minor(amount),
            "currency": currency,
            "reimbursementMethod": method,
            "reimbursementTypeGroup": "MOBILE" if method == "VIPPS" else "PAYMENTCARD",
            "externalTransactionId": external,
            "status": status,
        }
        if when is not None:
            ct["createdAt"] = _z(when)
        return ct

    def credit(self, order_id: str, created: datetime, ctxns: list[Record], *, version: int,
               status: str = "CREDITED", currency: str = "NOK",
               payment: Record | None = None) -> Record:
        cr: Record = {
            "creditId": self._next("credit"),
            "orderId": order_id,
            "orderVersion": version,
            "organisationId": ORGANISATION_ID,
            "totalCreditAmount": fmt_minor(sum(_minor(c["amount"]) for c in ctxns)),
            "currency": currency,
            "status": status,
            "createdAt": _z(created),
            "active": False,
            "creditTransactions": ctxns,
        }
        self.credits.append((created, next(self._seq), cr))
        if payment is not None:  # the payment changed: its transaction summary moved
            self._touch(payment, [cr["createdAt"]])
        return cr

    # ----- Samtrafiken

    def booking(self, order_id: str, when: datetime, lines: list[Record] | None = None, *,
                total: int | None = None) -> Record:
        """The FULFILLED event of a new booking; price and VAT per rate from the order lines."""
        if lines:
            total = sum(l["lineTotalGross"] for l in lines)
            by_rate: dict[int, int] = {}
            for l in lines:
                by_rate[l["vatRate"]] = by_rate.get(l["vatRate"], 0) + l["vatAmount"]
        else:
            assert total is not None
            by_rate = {1200: vat_from_gross(total, 1200)}
        vat = [{"rate": _fmt_rate(r), "amount": fmt_minor(a)} for r, a in sorted(by_rate.items())]
        (from_id, from_name), (to_id, to_name), operator, producer, minutes = self.rng.choice(ROUTES)
        departure = when + timedelta(hours=self.rng.randrange(2, 30))
        number = self.booking_number()
        passenger = f"P{self.rng.randrange(10**6):06d}"
        return {
            "eventId": self.uuid(),
            "eventTime": _z(when),
            "bookingId": self._unique(lambda: f"BK{self.rng.randrange(10**9, 10**10)}"),
            "bookingNumber": number,
            "status": "FULFILLED",
            "organizationCode": self.org_code,
            "producer": producer,
            "retailerReference": order_id,
            "currency": "NOK",
            "totalPrice": fmt_minor(total),
            "vat": vat,
            "refundAmount": None,
            "cancellationFee": None,
            "segments": [{
                "segmentId": f"{number}-1",
                "producer": producer,
                "operatorName": operator,
                "fromStop": {"id": from_id, "name": from_name},
                "toStop": {"id": to_id, "name": to_name},
                "departureTime": _z(departure),
                "arrivalTime": _z(departure + timedelta(minutes=minutes)),
                "travelClass": self.rng.choice(("2", "2", "1")),
                "price": fmt_minor(total),
                "vat": vat,
            }],
            "tickets": [{"ticketNumber": f"{number}0001", "passengerType": "ADULT",
                         "price": fmt_minor(total)}],
            "passengers": [{"passengerId": passenger, "type": "ADULT"}],
            "payer": {"name": "Kari Nordmann", "email": "kari.nordmann@example.invalid"},
        }

    def follow_up(self, first: Record, status: str, when: datetime, *,
                  refund: int | None = None) -> Record:
        """A later event of the same booking (new eventId, same booking fields)."""
        ev = copy.deepcopy(first)
        ev.update(eventId=self.uuid(), eventTime=_z(when), status=status)
        if status == "REFUNDED":
            total = _minor(first["totalPrice"])
            ev["refundAmount"] = fmt_minor(refund or 0)
            ev["cancellationFee"] = fmt_minor(total - (refund or 0))
        return ev

    def deliver_event(self, ev: Record, at: datetime | None = None) -> None:
        when = at if at is not None else _parse_z(ev["eventTime"])
        self.events.append((when, next(self._seq), ev))

    # ----- output

    def dataset(self) -> Dataset:
        def ordered(feed: list[tuple[datetime, int, Record]]) -> list[Record]:
            return [rec for _, _, rec in sorted(feed, key=lambda x: (x[0], x[1]))]

        return Dataset(
            ledgers={lid: Ledger(lid, "NOK", "Europe/Oslo", ordered(self.vipps[lid]))
                     for lid in self.ledger_ids},
            payments=ordered(self.payments),
            credits=ordered(self.credits),
            organization_code=self.org_code,
            events=ordered(self.events),
        )


def _minor(text: str) -> int:
    """Two-decimal string to minor units, exactly (our own output only: no validation here)."""
    sign = -1 if text.startswith("-") else 1
    whole, _, frac = text.lstrip("-").partition(".")
    return sign * (int(whole) * 100 + int((frac + "00")[:2]))


def _parse_z(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


# --------------------------------------------------------------------------- consistent orders


@dataclass
class _Plan:
    """What one consistent order will look like, decided before any record is built."""

    kind: str  # "vipps", "card" or "abandoned"
    ledger: str | None
    when: datetime
    solution: str = "SHOPPING_BASKET"
    numeric: str | None = None
    booking: bool = False
    split: str | None = None  # None, "equal" or "unequal" (two partial captures)
    refund: str | None = None  # None, "full" or "partial"
    sign: int = -1
    cancelled_attempt: bool = False
    version: int = 1


def _plans(w: _World, orders: int, refund_share: float, booking_share: float) -> list[_Plan]:
    rng = w.rng
    combos = [(l, d) for d in range(w.days) for l in w.ledger_ids]
    plans: list[_Plan] = []
    for i in range(orders):
        # Round-robin first so every (ledger, date) has entries even for small datasets.
        ledger, d = combos[i] if i < len(combos) else (rng.choice(w.ledger_ids),
                                                        rng.randrange(w.days))
        solution = rng.choices(("SHOPPING_BASKET", "MPOS", "VARIABLE_AMOUNT"), (50, 35, 15))[0]
        plans.append(_Plan("vipps", ledger, w.random_time(w.day(d)), solution,
                           version=2 if rng.random() < 0.08 else 1))
    for kind, n in (("card", max(2, orders // 15)), ("abandoned", max(2, orders // 50))):
        plans += [_Plan(kind, None, w.random_time(w.day(rng.randrange(w.days))))
                  for _ in range(n)]

    vipps = [p for p in plans if p.kind == "vipps"]
    # IDs-as-text: a leading zero, a value above int64, and a plain 19-digit number.
    for p, numeric in zip(vipps, ("zero", "big", "plain")):
        p.numeric = numeric
    for p in rng.sample(vipps, k=min(len(vipps), round(orders * booking_share))):
        p.booking = True
        if p.solution == "VARIABLE_AMOUNT":  # bookings need a VAT breakdown to compare
            p.solution = "SHOPPING_BASKET"
    for p in (p for p in plans if p.kind == "card"):
        p.booking = rng.random() < booking_share
    abandoned = [p for p in plans if p.kind == "abandoned"]
    for p in abandoned[: max(1, len(abandoned) // 2)]:
        p.booking = True  # bookings cancelled because payment never completed

    splittable = [p for p in vipps if p.when < w.period_end - timedelta(hours=3)]
    for j, p in enumerate(rng.sample(splittable, k=min(len(splittable), max(2, orders // 25)))):
        p.split = "equal" if j % 2 == 0 else "unequal"
    for p in rng.sample(vipps, k=min(len(vipps), max(1, orders // 30))):
        p.cancelled_attempt = True

    # Refunds need room before the period ends (their credit must be in the period too).
    refundable = [p for p in plans if p.kind in ("vipps", "card")
                  and p.when < w.period_end - timedelta(hours=6)]
    chosen = rng.sample(refundable, k=min(len(refundable), round(len(plans) * refund_share)))
    signs = [(-1) ** j for j in range(len(chosen))]  # an even mix of both signs
    rng.shuffle(signs)
    for j, (p, sign) in enumerate(zip(chosen, signs)):
        p.refund = "partial" if j % 5 in (1, 3) else "full"
        p.sign = sign
    return sorted(plans, key=lambda p: p.when)


def _vipps_sale(w: _World, p: _Plan) -> Sale:
    """Captures in Vipps, the matching Entur payment, refunds and credits, booking events."""
    rng = w.rng
    assert p.ledger is not None
    sale = Sale(w.order_id(p.numeric), p.ledger)
    times = [p.when]
    if p.split:
        times.append(p.when + timedelta(minutes=rng.randrange(20, 150)))

    if p.solution == "VARIABLE_AMOUNT":
        category, rate = rng.choice(SALES_CATEGORIES)
        gross = rng.randrange(20, 600) * 100 + rng.choice((0, 0, 50, 90))
        if p.split == "equal":
            gross += gross % 2
            parts = [gross // 2, gross // 2]
        elif p.split:
            parts = [gross * 3 // 5, gross - gross * 3 // 5]
        else:
            parts = [gross]
        vat_known = rng.random() < 0.6  # the merchant's category, VAT "when available"
        for t, part in zip(times, parts):
            sale.captures.append(w.vipps_entry(
                p.ledger, sale.order_id, t, p.solution, gross=part, sales_category=category,
                vat=vat_from_gross(part, rate) if vat_known else None))
    else:
        groups = _capture_groups(w, p)
        for t, lines in zip(times, groups):
            sale.captures.append(w.vipps_entry(p.ledger, sale.order_id, t, p.solution, lines=lines))
            sale.lines += lines

    total = sum(c["amounts"]["gross"] for c in sale.captures)
    txns: list[Record] = []
    if p.cancelled_attempt:  # an earlier attempt the customer aborted: not final, ignored
        txns.append(w.txn(total, p.when - timedelta(seconds=rng.randrange(60, 400)),
                          status="CANCELLED", external=w.psp()))
    remaining = total
    for cap, t in zip(sale.captures, times):
        remaining -= cap["amounts"]["gross"]
        sale.txns.append(w.txn(cap["amounts"]["gross"], t + timedelta(seconds=rng.randrange(5, 240)),
                               external=cap["pspReference"], to_capture=remaining))
    sale.payment = w.payment(sale.order_id, p.when - timedelta(seconds=rng.randrange(60, 600)),
                             txns + sale.txns, total=total, version=p.version)
    if p.refund:
        _refund(w, p, sale)
    if p.booking:
        _book(w, sale, p.when + timedelta(seconds=rng.randrange(60, 300)), lines=sale.lines)
    return sale


def _capture_groups(w: _World, p: _Plan) -> list[list[Record]]:
    """The lines of each capture: one group, or two for partial captures."""
    rng = w.rng
    if p.split == "equal":  # two identical lines, captured separately: equal partial captures
        product = rng.choice(RESPLUS[:4] if p.booking else TICKETS)
        return [[w.line(product)], [w.line(product)]]
    while True:
        lines = w.basket(resplus=p.booking)
        if not p.split:
            return [lines]
        if len(lines) < 2:
            continue
        first, second = lines[:1], lines[1:]
        if sum(l["lineTotalGross"] for l in first) != sum(l["lineTotalGross"] for l in second):
            return [first, second]


def _refund(w: _World, p: _Plan, sale: Sale) -> None:
    """Refund (part of) the first capture in Vipps and credit it in Entur."""
    rng = w.rng
    assert p.ledger is not None
    cap, paid = sale.captures[0], sale.txns[0]
    when = _refund_time(w, _parse_z(cap["time"]))
    lines: list[Record] | None = None
    gross: int | None = None
    if cap["lines"]:
        lines = cap["lines"]
        if p.refund == "partial" and len(lines) > 1:
            lines = lines[-1:]
        elif p.refund == "partial" and lines[0]["quantity"] > 1 and lines[0]["discountTotal"] == 0:
            one = w.line(PRODUCTS[lines[0]["name"]], 1)  # one of several tickets
            lines = [{**one, "lineId": lines[0]["lineId"]}]
        else:
            p.refund = "full"
        lines = [dict(l) for l in lines]
    else:
        full = cap["amounts"]["gross"]
        gross = full if p.refund == "full" else max(100, full // 3 // 100 * 100)
    refund = w.refund_of(cap, p.ledger, when, sign=p.sign, lines=lines, gross=gross)
    sale.refunds.append(refund)
    amount = abs(refund["amounts"]["gross"])
    credited = when + timedelta(seconds=rng.randrange(5, 300))
    ct = w.credit_txn(paid, amount, credited, external=refund["pspReference"])
    sale.credits.append(w.credit(sale.order_id, credited, [ct], version=p.version + 1,
                                 payment=sale.payment))


def _refund_time(w: _World, after: datetime) -> datetime:
    """Some time after `after`, within two days and before the period ends."""
    latest = min(after + timedelta(days=2), w.period_end - timedelta(minutes=30))
    span = int((latest - after).total_seconds())
    return after + timedelta(seconds=w.rng.randrange(min(1800, span // 2), span))


def _book(w: _World, sale: Sale, when: datetime, *, lines: list[Record] | None = None,
          total: int | None = None) -> None:
    """Booking events: FULFILLED, and REFUNDED after each credited refund."""
    first = w.booking(sale.order_id, when, lines, total=total)
    sale.events.append(first)
    w.deliver_event(first)
    for cr in sale.credits:
        t = _parse_z(cr["createdAt"]) + timedelta(seconds=w.rng.randrange(60, 1200))
        ev = w.follow_up(first, "REFUNDED", t, refund=_minor(cr["totalCreditAmount"]))
        sale.events.append(ev)
        w.deliver_event(ev)


def _card_sale(w: _World, p: _Plan) -> Sale:
    """An order paid by card: Entur only, never reported (Vipps matching ignores it)."""
    rng = w.rng
    sale = Sale(w.order_id(), None)
    sale.lines = w.basket(resplus=p.booking)
    total = sum(l["lineTotalGross"] for l in sale.lines)
    method = rng.choice(("VISA", "MASTERCARD"))
    paid = w.txn(total, p.when, method=method, external=uuid.UUID(int=rng.getrandbits(128)).hex)
    sale.txns.append(paid)
    sale.payment = w.payment(sale.order_id, p.when - timedelta(minutes=2), [paid], total=total)
    if p.refund:
        amount = total if p.refund == "full" else total // 2
        when = _refund_time(w, p.when)
        ct = w.credit_txn(paid, amount, when, external=paid["rrn"], method=method)
        sale.credits.append(w.credit(sale.order_id, when, [ct], version=2, payment=sale.payment))
    if p.booking:
        _book(w, sale, p.when + timedelta(minutes=1), lines=sale.lines)
    return sale


def _abandoned_sale(w: _World, p: _Plan) -> Sale:
    """A Vipps attempt that never completed: a non-final Entur transaction and no Vipps entry."""
    sale = Sale(w.order_id(), None)
    total = sum(l["lineTotalGross"] for l in w.basket(resplus=p.booking))
    status = w.rng.choice(("INITIATED", "CANCELLED"))
    attempt = w.txn(total, p.when, status=status, external=w.psp())
    sale.payment = w.payment(sale.order_id, p.when - timedelta(minutes=1), [attempt], total=total)
    if p.booking:  # the seat was held, then released: the booking's only event is CANCELLED
        ev = w.booking(sale.order_id, p.when + timedelta(minutes=20), total=total)
        ev["status"] = "CANCELLED"
        sale.events.append(ev)
        w.deliver_event(ev)
    return sale


def _consistent(w: _World, orders: int, refund_share: float, booking_share: float) -> list[Sale]:
    sales = []
    for p in _plans(w, orders, refund_share, booking_share):
        build = {"vipps": _vipps_sale, "card": _card_sale, "abandoned": _abandoned_sale}[p.kind]
        sales.append(build(w, p))
    _redeliver_events(w, sales)
    return sales


def _redeliver_events(w: _World, sales: list[Sale]) -> None:
    """At-least-once feed: one booking's FULFILLED arrives after its REFUNDED, one event twice."""
    multi = [s for s in sales if len(s.events) > 1]
    if multi:
        first, refunded = multi[0].events[0], multi[0].events[1]
        # Move the FULFILLED delivery after the REFUNDED one; its eventTime stays earlier.
        w.events = [e for e in w.events if e[2] is not first]
        w.deliver_event(first, _parse_z(refunded["eventTime"]) + timedelta(minutes=3))
    single = [s for s in sales if len(s.events) == 1]
    if single:
        ev = single[0].events[0]
        w.deliver_event(copy.deepcopy(ev), _parse_z(ev["eventTime"]) + timedelta(minutes=7))


def _world(seed: int, orders: int, ledgers: Sequence[str], start: str, days: int,
           refund_share: float, booking_share: float) -> tuple[_World, list[Sale]]:
    w = _World(seed, ledgers, start, days)
    return w, _consistent(w, orders, refund_share, booking_share)


def generate(seed: int = 0, orders: int = 300,
             ledgers: tuple[str, ...] = ("7000011", "7000022"), start: str = "2026-10-24",
             days: int = 3, refund_share: float = 0.1, booking_share: float = 0.4) -> Dataset:
    """A realistic dataset that reconciles with zero mismatches; deterministic for a seed.

    `orders` counts the orders paid with Vipps (each has one or two captures). On top come
    card-paid orders (~1/15 of `orders`) and abandoned Vipps attempts (~1/50), which exist in
    Entur only. `refund_share` of all orders get a refund (credited in Entur) and
    `booking_share` of the orders a Samtrafiken booking.
    """
    if orders < 0 or not (0 <= refund_share <= 1 and 0 <= booking_share <= 1):
        raise ValueError("orders must be >= 0 and the shares between 0 and 1")
    w, _ = _world(seed, orders, ledgers, start, days, refund_share, booking_share)
    return w.dataset()


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


class LazyLedgerEntries(Sequence[Record]):
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
        self._t0 = int(_local_midnight(first).timestamp())
        self._span = int(_local_midnight(first + timedelta(days=days)).timestamp()) - self._t0
        self._psp_prefix = str(100 + self._salt % 900)
        # Precomputed (name, unit, unit net, rate, category, {qty: (gross, net, vat)}).
        self._products = [
            (p.name, p.price, p.price - vat_from_gross(p.price, p.rate), p.rate, p.category,
             {q: (p.price * q, p.price * q - vat_from_gross(p.price * q, p.rate),
                  vat_from_gross(p.price * q, p.rate)) for q in (1, 2, 3)})
            for p in GENERAL
        ]

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

    def _reference(self, i: int) -> str:
        n = ((i + self._salt) * _REF_MULT) % _REF_SPACE
        chars = []
        for _ in range(8):
            n, r = divmod(n, 36)
            chars.append(_B36[r])
        return "".join(chars)

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


# --------------------------------------------------------------------------- planted sample


class _Plant:
    """Planted records and the answer key, built on top of a consistent world."""

    def __init__(self, w: _World, sales: list[Sale]) -> None:
        self.w = w
        self.sales = sales
        self.l1, self.l2 = w.ledger_ids[0], w.ledger_ids[-1]
        self.mismatches: list[Record] = []
        self.not_flagged: list[Record] = []
        self.quarantine: list[Record] = []

    # ----- answer key

    def expect(self, code: str, why: str, *, ledger: str | None = None,
               reference: str | None = None, psp: str | None = None,
               order: str | None = None, txn: Any = None, credit: Any = None,
               booking: str | None = None) -> None:
        def s(v: Any) -> str | None:
            return None if v is None else str(v)

        self.mismatches.append({"code": code, "ledgerId": s(ledger), "reference": s(reference),
                                "pspReference": s(psp), "orderId": s(order),
                                "entur_transaction_id": s(txn), "credit_id": s(credit),
                                "booking_id": s(booking), "why": why})

    def trap(self, what: str, ids: dict[str, Any], why: str) -> None:
        self.not_flagged.append({"what": what, "ids": _str_ids(ids), "why": why})

    def bad(self, source: str, kind: str, ids: dict[str, Any], why: str) -> None:
        self.quarantine.append({"source": source, "reason_kind": kind, "ids": _str_ids(ids),
                                "why": why})

    # ----- building blocks

    def sale(self, ledger: str, day: int, hhmm: str, items: Sequence[tuple[str, int]] = (
             ("Enkeltbillett voksen", 1),), *, solution: str = "SHOPPING_BASKET",
             entur_delay_s: int = 95, fold: int = 0, numeric: str | None = None) -> Sale:
        """A matched Vipps order: one capture and its Entur VIPPS CAPTURED transaction."""
        w = self.w
        t = w.at(day, hhmm, fold)
        sale = Sale(w.order_id(numeric), ledger)
        sale.lines = [w.line(PRODUCTS[name], qty) for name, qty in items]
        cap = w.vipps_entry(ledger, sale.order_id, t, solution, lines=sale.lines)
        sale.captures.append(cap)
        gross = cap["amounts"]["gross"]
        sale.txns.append(w.txn(gross, t + timedelta(seconds=entur_delay_s),
                               external=cap["pspReference"]))
        sale.payment = w.payment(sale.order_id, t - timedelta(minutes=3), list(sale.txns),
                                 total=gross)
        return sale

    def capture(self, sale: Sale, t: datetime, items: Sequence[tuple[str, int]]) -> Record:
        lines = [self.w.line(PRODUCTS[name], qty) for name, qty in items]
        assert sale.ledger_id is not None
        cap = self.w.vipps_entry(sale.ledger_id, sale.order_id, t, "SHOPPING_BASKET", lines=lines)
        sale.captures.append(cap)
        sale.lines += lines
        return cap

    def credited_refund(self, sale: Sale, t: datetime, *, sign: int,
                        lines: list[Record]) -> tuple[Record, Record, Record]:
        assert sale.ledger_id is not None and sale.payment is not None
        refund = self.w.refund_of(sale.captures[0], sale.ledger_id, t, sign=sign, lines=lines)
        sale.refunds.append(refund)
        ct = self.w.credit_txn(sale.txns[0], abs(refund["amounts"]["gross"]),
                               t + timedelta(minutes=2), external=refund["pspReference"])
        cr = self.w.credit(sale.order_id, t + timedelta(minutes=2), [ct], version=2,
                           payment=sale.payment)
        sale.credits.append(cr)
        return refund, cr, ct

    def book(self, sale: Sale, t: datetime, lines: list[Record] | None = None,
             total: int | None = None) -> Record:
        ev = self.w.booking(sale.order_id, t, lines if lines is not None else sale.lines,
                            total=total)
        sale.events.append(ev)
        self.w.deliver_event(ev)
        return ev

    def found(self, pred: Any, what: str) -> Sale:
        for s in self.sales:
            if pred(s):
                return s
        raise RuntimeError(f"generate() produced no {what}; use more orders")


def _str_ids(ids: dict[str, Any]) -> dict[str, Any]:
    def s(v: Any) -> Any:
        if isinstance(v, (list, tuple)):
            return [s(x) for x in v]
        return None if v is None else str(v)

    return {k: s(v) for k, v in ids.items()}


def _p_missing(pl: _Plant) -> None:
    w = pl.w
    # MISSING_IN_ENTUR 1: Entur never heard of the order at all.
    t = w.at(0, "10:14")
    oid = w.order_id()
    cap = w.vipps_entry(pl.l1, oid, t, "SHOPPING_BASKET",
                        lines=[w.line(PRODUCTS["Kaffe"]), w.line(PRODUCTS["Vaffel med brunost"])])
    pl.expect("MISSING_IN_ENTUR", "Vipps capture with no Entur payment for its pspReference or "
              "its reference (orderId unknown to Entur)", ledger=pl.l1, reference=oid,
              psp=cap["pspReference"])

    # MISSING_IN_ENTUR 2: Entur's transaction for the capture is stuck in INITIATED (not final).
    t = w.at(1, "16:40")
    oid = w.order_id()
    cap = w.vipps_entry(pl.l2, oid, t, "VARIABLE_AMOUNT", gross=17500,
                        sales_category="TRANSPORT", vat=vat_from_gross(17500, 1200))
    stuck = w.txn(17500, t + timedelta(seconds=30), status="INITIATED",
                  external=cap["pspReference"])
    w.payment(oid, t - timedelta(minutes=2), [stuck], total=17500)
    pl.expect("MISSING_IN_ENTUR", "VARIABLE_AMOUNT capture whose Entur transaction (same "
              "externalTransactionId) is still INITIATED: non-final transactions take no part",
              ledger=pl.l2, reference=oid, psp=cap["pspReference"], order=oid)

    # MISSING_IN_VIPPS 1: an Entur Vipps capture for an order Vipps never saw.
    t = w.at(2, "08:05")
    oid = w.order_id()
    lone = w.txn(12700, t, external=w.psp())
    w.payment(oid, t - timedelta(minutes=1), [lone], total=12700)
    pl.expect("MISSING_IN_VIPPS", "Entur VIPPS CAPTURED transaction whose externalTransactionId "
              "and orderId match nothing in Vipps", order=oid, txn=lone["transactionId"])

    # MISSING_IN_VIPPS 2: a second Entur capture (different amount) on a matched order.
    sale = pl.sale(pl.l1, 1, "13:22", (("7-dagersbillett", 1),))
    extra = w.txn(4400, w.at(1, "13:31"), external=w.psp())
    assert sale.payment is not None
    sale.payment["transactionHistory"].append(extra)
    sale.payment["totalAmount"] = fmt_minor(32800 + 4400)
    w._touch(sale.payment, [extra["createdAt"]])
    pl.expect("MISSING_IN_VIPPS", "order matched by key 1, plus a second Entur VIPPS capture of "
              "44.00 with an unknown externalTransactionId; amounts differ, so not a DUPLICATE",
              ledger=pl.l1, reference=sale.order_id, order=sale.order_id,
              txn=extra["transactionId"])


def _p_amount_currency(pl: _Plant) -> None:
    w = pl.w
    # AMOUNT_MISMATCH key 1: same pspReference, Entur captured 10 kr more.
    sale = pl.sale(pl.l2, 0, "15:03", (("Regiontog sone 4", 2),))
    txn = sale.txns[0]
    txn["amount"] = txn["summary"]["capturedAmount"] = txn["summary"]["remainingAmountToCredit"] = "209.00"
    assert sale.payment is not None
    sale.payment["totalAmount"] = "209.00"
    pl.expect("AMOUNT_MISMATCH", "key 1 pair: Vipps 199.00 vs Entur capturedAmount 209.00",
              ledger=pl.l2, reference=sale.order_id, psp=sale.captures[0]["pspReference"],
              order=sale.order_id, txn=txn["transactionId"])

    # AMOUNT_MISMATCH key 2: two partial captures (different amounts), Entur holds one
    # transaction without externalTransactionId and a different sum.
    t = w.at(2, "11:47")
    sale = Sale(w.order_id(), pl.l1)
    c1 = pl.capture(sale, t, (("Flybussen Gardermoen", 1),))
    c2 = pl.capture(sale, t + timedelta(minutes=41), (("Rundstykke med ost", 1),))
    one = w.txn(25950 + 4450, t + timedelta(minutes=42), external=None)
    w.payment(sale.order_id, t - timedelta(minutes=4), [one], total=25950 + 4450)
    pl.expect("AMOUNT_MISMATCH", "key 2 order sums: Vipps 259.50 + 54.50 = 314.00 vs Entur "
              "304.00 (one transaction, externalTransactionId null); pspReference lists both "
              "captures of the group", ledger=pl.l1, reference=sale.order_id,
              psp=f"{c1['pspReference']},{c2['pspReference']}", order=sale.order_id,
              txn=one["transactionId"])

    # CURRENCY_MISMATCH 1: key 1 pair, Entur says SEK for the same number.
    sale = pl.sale(pl.l1, 0, "09:31", (("24-timersbillett", 1),))
    assert sale.payment is not None
    sale.payment["currency"] = sale.txns[0]["currency"] = "SEK"
    pl.expect("CURRENCY_MISMATCH", "key 1 pair: Vipps NOK 127.00, Entur SEK 127.00 (amounts "
              "are not compared)", ledger=pl.l1, reference=sale.order_id,
              psp=sale.captures[0]["pspReference"], order=sale.order_id,
              txn=sale.txns[0]["transactionId"])

    # CURRENCY_MISMATCH 2: refund ↔ credit pair, the credit is in SEK.
    sale = pl.sale(pl.l2, 1, "07:12", (("Enkeltbillett voksen", 1), ("Te", 1)))
    refund, cr, ct = pl.credited_refund(sale, w.at(1, "09:40"), sign=-1,
                                        lines=[dict(sale.lines[1])])
    cr["currency"] = ct["currency"] = "SEK"
    pl.expect("CURRENCY_MISMATCH", "refund (-32.50 NOK) matched by key 1 to a credit "
              "transaction in SEK", ledger=pl.l2, reference=sale.order_id,
              psp=refund["pspReference"], order=sale.order_id, txn=ct["transactionId"],
              credit=cr["creditId"])


def _p_duplicate(pl: _Plant) -> None:
    w = pl.w
    # DUPLICATE in Vipps: the same basket captured twice, Entur recorded one.
    sale = pl.sale(pl.l2, 2, "17:55", (("Enkeltbillett voksen", 1), ("Enkeltbillett barn", 1)))
    again = pl.capture(sale, w.at(2, "17:56"),
                       (("Enkeltbillett voksen", 1), ("Enkeltbillett barn", 1)))
    pl.expect("DUPLICATE", "order captured twice in Vipps (66.00 each, different "
              "pspReferences); Entur holds one 66.00 transaction; sums differ by exactly the "
              "surplus. Explains the second capture, which is therefore not MISSING_IN_ENTUR",
              ledger=pl.l2, reference=sale.order_id, psp=again["pspReference"],
              order=sale.order_id)

    # DUPLICATE in Entur: two CAPTURED transactions of the same amount for one Vipps capture.
    sale = pl.sale(pl.l1, 1, "19:08", (("Paraply", 1),))
    twin = w.txn(24900, w.at(1, "19:15"), external=None)
    assert sale.payment is not None
    sale.payment["transactionHistory"].append(twin)
    w._touch(sale.payment, [twin["createdAt"]])
    pl.expect("DUPLICATE", "Entur captured 249.00 twice (second transaction without "
              "externalTransactionId) for one Vipps capture; explains the second, which is "
              "therefore not MISSING_IN_VIPPS", ledger=pl.l1, reference=sale.order_id,
              order=sale.order_id, txn=twin["transactionId"])


def _p_refunds(pl: _Plant) -> None:
    w = pl.w
    # REFUND_WITHOUT_CREDIT 1: full refund (positive sign), no Entur credit at all.
    sale = pl.sale(pl.l1, 0, "13:02", (("Mobillader", 1),))
    refund = w.refund_of(sale.captures[0], pl.l1, w.at(0, "18:30"), sign=1,
                         lines=[dict(sale.lines[0])])
    pl.expect("REFUND_WITHOUT_CREDIT", "Vipps refund 199.50 (sent positive) and no Entur credit "
              "for the order", ledger=pl.l1, reference=sale.order_id,
              psp=refund["pspReference"], order=sale.order_id)

    # REFUND_WITHOUT_CREDIT 2: two partial refunds of different amounts; only the first credited.
    sale = pl.sale(pl.l2, 0, "08:20", (("Reisekortholder", 1), ("Nøkkelring", 1),
                                       ("Refleks", 1)))
    pl.credited_refund(sale, w.at(0, "12:00"), sign=-1, lines=[dict(sale.lines[0])])
    second = w.refund_of(sale.captures[0], pl.l2, w.at(1, "10:10"), sign=1,
                         lines=[dict(sale.lines[1])])
    sale.refunds.append(second)
    pl.expect("REFUND_WITHOUT_CREDIT", "second partial refund (49.90, positive) of an order "
              "whose first refund (79.00) is credited", ledger=pl.l2, reference=sale.order_id,
              psp=second["pspReference"], order=sale.order_id)

    # CREDIT_WITHOUT_REFUND 1: a Vipps credit with a pspReference Vipps never refunded.
    sale = pl.sale(pl.l1, 2, "10:45", (("Enkeltbillett voksen", 2),))
    ct = w.credit_txn(sale.txns[0], 4400, w.at(2, "12:00"), external=w.psp())
    cr = w.credit(sale.order_id, w.at(2, "12:00"), [ct], version=2, payment=sale.payment)
    pl.expect("CREDIT_WITHOUT_REFUND", "CREDITED Vipps credit transaction (44.00) matching no "
              "Vipps refund by pspReference or order", ledger=pl.l1, reference=sale.order_id,
              order=sale.order_id, txn=ct["transactionId"], credit=cr["creditId"])

    # CREDIT_WITHOUT_REFUND 2: no externalTransactionId and no createdAt (takes the credit's).
    sale = pl.sale(pl.l2, 2, "06:58", (("Flybussen Gardermoen", 1),))
    ct = w.credit_txn(sale.txns[0], 25950, None, external=None)
    cr = w.credit(sale.order_id, w.at(2, "15:30"), [ct], version=2, payment=sale.payment)
    pl.expect("CREDIT_WITHOUT_REFUND", "CREDITED Vipps credit transaction without "
              "externalTransactionId or createdAt; the order has no Vipps refund, so key 2 "
              "finds nothing either", ledger=pl.l2, reference=sale.order_id,
              order=sale.order_id, txn=ct["transactionId"], credit=cr["creditId"])


def _truncation_case() -> Product:
    """A product whose exact VAT has a fraction >= .5, so truncating it differs from rounding."""
    for p in GENERAL:
        den = 10_000 + p.rate
        if (2 * (p.price * p.rate % den)) >= den:
            return p
    raise RuntimeError("no product with a VAT fraction >= .5")


def _p_vat(pl: _Plant) -> None:
    w = pl.w
    # VAT_MISMATCH 1: the second line's VAT is 4 øre too high (amounts.vat follows the lines).
    t = w.at(0, "16:16")
    oid = w.order_id()
    lines = [w.line(PRODUCTS["Enkeltbillett voksen"]), w.line(PRODUCTS["Reisekortholder"])]
    bad = lines[1]
    bad["vatAmount"] += 4
    bad["lineTotalNet"] -= 4
    cap = w.vipps_entry(pl.l1, oid, t, "SHOPPING_BASKET", lines=lines)
    _entur_for(w, oid, cap, t)
    pl.expect("VAT_MISMATCH", f"line {bad['lineId']} (first faulty): vatAmount "
              f"{bad['vatAmount']} at 25 % of 7900; exact is 1580, off by 4 øre > 1",
              ledger=pl.l1, reference=oid, psp=cap["pspReference"])

    # VAT_MISMATCH 2: every line right, amounts.vat off by 1.00 while hasVatBreakdown is true.
    t = w.at(1, "12:12")
    oid = w.order_id()
    lines = [w.line(PRODUCTS["Kaffe"], 2), w.line(PRODUCTS["24-timersbillett"])]
    cap = w.vipps_entry(pl.l2, oid, t, "MPOS", lines=lines, payment_type="CARD")
    amounts = cap["amounts"]
    amounts["vat"] += 100
    amounts["net"] = amounts["gross"] - amounts["vat"]
    _entur_for(w, oid, cap, t)
    pl.expect("VAT_MISMATCH", f"each line's VAT is right but Σ lines.vatAmount = "
              f"{amounts['vat'] - 100} ≠ amounts.vat {amounts['vat']} (hasVatBreakdown true)",
              ledger=pl.l2, reference=oid, psp=cap["pspReference"])

    # Trap: VAT unknown on two lines (rate missing on one, amount on the other).
    t = w.at(2, "14:05")
    oid = w.order_id()
    lines = [w.line(PRODUCTS["Vann 0,5 l"]), w.line(PRODUCTS["Nøkkelring"]),
             w.line(PRODUCTS["Enkeltbillett barn"])]
    lines[0]["vatAmount"] = lines[0]["lineTotalNet"] = None
    lines[1]["vatRate"] = None
    known = lines[1]["vatAmount"] + lines[2]["vatAmount"]  # Σ over the lines that have VAT
    cap = w.vipps_entry(pl.l1, oid, t, "SHOPPING_BASKET", gross=sum(l["lineTotalGross"]
                                                                    for l in lines), vat=known)
    cap["lines"] = lines
    cap["completeness"].update(hasLineItems=True, hasVatBreakdown=True)
    _entur_for(w, oid, cap, t)
    pl.trap("VAT unknown on a line", {"ledgerId": pl.l1, "pspReference": cap["pspReference"],
                                      "lineIds": [lines[0]["lineId"], lines[1]["lineId"]]},
            "line 1 has no vatAmount, line 2 no vatRate: VAT 'unknown' in the VAT summary, "
            "not VAT_MISMATCH (and the Σ check needs every line to have VAT)")

    # Trap: VAT truncated instead of rounded: less than 1 øre from exact, within tolerance.
    product = _truncation_case()
    t = w.at(0, "20:40")
    oid = w.order_id()
    line = w.line(product)
    line["vatAmount"] -= 1  # truncated: exact has a fraction >= .5, so this is < 1 øre off
    line["lineTotalNet"] += 1
    cap = w.vipps_entry(pl.l2, oid, t, "SHOPPING_BASKET", lines=[line])
    _entur_for(w, oid, cap, t)
    pl.trap("line VAT within the 1 øre tolerance", {"ledgerId": pl.l2,
                                                    "pspReference": cap["pspReference"],
                                                    "lineId": line["lineId"]},
            f"{product.name} {fmt_minor(product.price)}: VAT truncated to {line['vatAmount']} "
            "instead of rounded; |vatAmount − exact| < 1 øre, amounts.vat = Σ lines")


def _entur_for(w: _World, oid: str, cap: Record, t: datetime) -> Record:
    """The Entur payment matching capture `cap` by key 1."""
    gross = cap["amounts"]["gross"]
    txn = w.txn(gross, t + timedelta(seconds=70), external=cap["pspReference"])
    w.payment(oid, t - timedelta(minutes=2), [txn], total=gross)
    return txn


def _p_bookings(pl: _Plant) -> None:
    w = pl.w
    # BOOKING_NOT_PAID 1: the order's only Entur transaction is INITIATED (no Vipps entry).
    t = w.at(0, "11:11")
    oid = w.order_id()
    price = PRODUCTS["Resplus Oslo S–Göteborg C"].price
    attempt = w.txn(price, t, status="INITIATED", external=w.psp())
    w.payment(oid, t - timedelta(minutes=1), [attempt], total=price)
    ev = w.booking(oid, t + timedelta(minutes=4), total=price)
    w.deliver_event(ev)
    pl.expect("BOOKING_NOT_PAID", "booking FULFILLED but the order's only Entur transaction is "
              "INITIATED (not CAPTURED)", order=oid, booking=ev["bookingId"])

    # BOOKING_NOT_PAID 2: the retailerReference (19 digits) is not an Entur order at all.
    oid = w.order_id("plain")
    ev = w.booking(oid, w.at(2, "18:02"), total=PRODUCTS["Resplus Oslo S–Karlstad C"].price)
    w.deliver_event(ev)
    pl.expect("BOOKING_NOT_PAID", "booking FULFILLED whose retailerReference matches no Entur "
              "order (no payment at all)", order=oid, booking=ev["bookingId"])

    # BOOKING_REFUNDED_NOT_CREDITED 1: refunded in Samtrafiken, no credit, no Vipps refund.
    sale = pl.sale(pl.l1, 0, "07:45", (("Resplus Oslo S–Stockholm C", 1),))
    first = pl.book(sale, w.at(0, "07:49"))
    ev = w.follow_up(first, "REFUNDED", w.at(1, "09:30"), refund=64900)
    w.deliver_event(ev)
    pl.expect("BOOKING_REFUNDED_NOT_CREDITED", "booking REFUNDED 649.00; the order (paid, "
              "matched) has no Entur credit", order=sale.order_id, booking=ev["bookingId"])

    # BOOKING_REFUNDED_NOT_CREDITED 2: the Entur credit exists but is only CREATED.
    sale = pl.sale(pl.l2, 1, "10:02", (("Resplus Halden–Göteborg C", 1),
                                       ("Plassreservasjon", 1)))
    first = pl.book(sale, w.at(1, "10:05"))
    ev = w.follow_up(first, "REFUNDED", w.at(2, "08:15"), refund=24900)
    w.deliver_event(ev)
    ct = w.credit_txn(sale.txns[0], 24900, w.at(2, "08:20"), external=None, status="CREATED")
    cr = w.credit(sale.order_id, w.at(2, "08:20"), [ct], version=2, status="CREATED")
    pl.expect("BOOKING_REFUNDED_NOT_CREDITED", "booking REFUNDED 249.00; the order's Entur "
              "credit is only CREATED, not CREDITED", order=sale.order_id,
              booking=ev["bookingId"])
    pl.trap("non-final Entur credit", {"creditId": cr["creditId"],
                                       "transactionId": ct["transactionId"],
                                       "orderId": sale.order_id},
            "credit status CREATED: takes no part in Vipps matching, so not "
            "CREDIT_WITHOUT_REFUND (it only causes the BOOKING_REFUNDED_NOT_CREDITED row above)")


def _p_timing(pl: _Plant) -> None:
    w = pl.w
    # TIMING_DIFFERENCE: Entur registered the capture 5 days after Vipps.
    sale = pl.sale(pl.l2, 0, "12:00", (("Enkeltbillett honnør", 1), ("Kaffe", 1)))
    late = w.at(5, "12:05")
    txn = sale.txns[0]
    txn["createdAt"] = _z(late)
    assert sale.payment is not None
    w._touch(sale.payment, [txn["createdAt"]])
    pl.expect("TIMING_DIFFERENCE", "matched, equal amounts; Vipps date 2026-10-24, Entur "
              "transaction createdAt 2026-10-29 (5 days > 3-day window). 2026-10-29 is period end "
              "+ 3 days, the last date the read window includes", ledger=pl.l2,
              reference=sale.order_id, psp=sale.captures[0]["pspReference"],
              order=sale.order_id, txn=txn["transactionId"])

    # Negative control: exactly 3 business days apart, although ~96.7 hours and 4 UTC dates.
    sale = pl.sale(pl.l1, 0, "00:10", (("Enkeltbillett voksen", 1),))
    later = w.at(3, "23:50")
    txn = sale.txns[0]
    txn["createdAt"] = _z(later)
    assert sale.payment is not None
    w._touch(sale.payment, [txn["createdAt"]])
    pl.trap("timing exactly at the window", {"ledgerId": pl.l1,
                                             "pspReference": sale.captures[0]["pspReference"],
                                             "transactionId": txn["transactionId"]},
            f"Vipps {sale.captures[0]['time']} (Oslo 2026-10-24 00:10), Entur {txn['createdAt']}"
            " (Oslo 2026-10-27 23:50): business dates exactly 3 days apart, which is not a "
            "difference, although the UTC dates are 4 apart and the gap is > 72 h")


def _p_partial_traps(pl: _Plant) -> None:
    w = pl.w
    # Equal partial captures matched by key 2 (Entur holds one transaction of the sum).
    t = w.at(1, "14:30")
    sale = Sale(w.order_id(), pl.l2)
    c1 = pl.capture(sale, t, (("Enkeltbillett voksen", 1),))
    c2 = pl.capture(sale, t + timedelta(minutes=25), (("Enkeltbillett voksen", 1),))
    one = w.txn(8800, t + timedelta(minutes=26), external=None)
    w.payment(sale.order_id, t - timedelta(minutes=3), [one], total=8800)
    pl.trap("equal partial captures, key 2", {"reference": sale.order_id,
                                              "pspReferences": [c1["pspReference"],
                                                                c2["pspReference"]],
                                              "transactionId": one["transactionId"]},
            "two captures of 44.00 (same amount, different pspReference) against one Entur "
            "transaction of 88.00 without externalTransactionId: key 2 sums agree, no DUPLICATE")

    equal = pl.found(lambda s: len(s.captures) == 2 and len(
        {c["amounts"]["gross"] for c in s.captures}) == 1, "equal partial captures")
    pl.trap("equal partial captures, key 1", {"reference": equal.order_id,
                                              "pspReferences": [c["pspReference"]
                                                                for c in equal.captures]},
            "two equal captures, each with its own Entur transaction: all matched by key 1")


def _p_redelivery_traps(pl: _Plant) -> None:
    w = pl.w
    # A Vipps entry and an Entur payment delivered twice by their APIs (same key, same content).
    again = pl.found(lambda s: s.ledger_id == pl.l1 and not s.refunds and not s.events
                     and len(s.captures) == 1, "plain capture")
    cap = again.captures[0]
    w.deliver_vipps(pl.l1, copy.deepcopy(cap), _parse_z(cap["time"]) + timedelta(hours=2))
    pl.trap("Vipps entry delivered twice", {"ledgerId": pl.l1, "pspReference": cap["pspReference"]},
            "the feed repeats an identical entry two hours later: staging dedupes it, not a "
            "DUPLICATE (same pspReference, same content)")
    twice = pl.found(lambda s: s.payment is not None and s is not again and not s.credits
                     and s.ledger_id == pl.l2, "payment")
    assert twice.payment is not None
    w.payments.append((w.period_end + timedelta(days=1), next(w._seq),
                       copy.deepcopy(twice.payment)))
    pl.trap("Entur payment delivered twice", {"paymentId": twice.payment["paymentId"],
                                              "orderId": twice.order_id},
            "the same payment (same paymentId, transactions, content) appears again at the "
            "end of the list, as offset paging does: dedupe on paymentId + transactionId")


def _p_entur_traps(pl: _Plant) -> None:
    card = pl.found(lambda s: s.ledger_id is None and s.txns and not s.credits, "card order")
    pl.trap("card payment", {"orderId": card.order_id, "paymentId": card.payment["paymentId"]
                             if card.payment else None,
                             "transactionId": card.txns[0]["transactionId"]},
            f"{card.txns[0]['paymentType']} payment with no Vipps entry: never MISSING_IN_VIPPS")
    card_refund = pl.found(lambda s: s.ledger_id is None and s.credits, "card credit")
    pl.trap("card credit", {"orderId": card_refund.order_id,
                            "creditId": card_refund.credits[0]["creditId"]},
            "CREDITED card credit (reimbursementMethod "
            f"{card_refund.credits[0]['creditTransactions'][0]['reimbursementMethod']}): "
            "never CREDIT_WITHOUT_REFUND")

    attempt = pl.found(lambda s: s.payment is not None and any(
        t["status"] == "CANCELLED" for t in s.payment["transactionHistory"]) and s.captures,
        "cancelled attempt")
    assert attempt.payment is not None
    cancelled = next(t for t in attempt.payment["transactionHistory"] if t["status"] == "CANCELLED")
    pl.trap("non-final Entur attempt", {"orderId": attempt.order_id,
                                        "transactionId": cancelled["transactionId"],
                                        "externalTransactionId": cancelled["externalTransactionId"]},
            "a CANCELLED Vipps attempt before the captured one (its pspReference was never "
            "captured in Vipps): not MISSING_IN_VIPPS")
    abandoned = pl.found(lambda s: s.ledger_id is None and not s.txns, "abandoned attempt")
    assert abandoned.payment is not None
    status = abandoned.payment["transactionHistory"][0]["status"]
    pl.trap("abandoned Vipps attempt", {"orderId": abandoned.order_id,
                                        "paymentId": abandoned.payment["paymentId"]},
            f"the order's only transaction is {status}: ignored"
            + ("; its booking's only event is CANCELLED, so no booking rule applies"
               if abandoned.events else ""))

    positive = [r["pspReference"] for s in pl.sales for r in s.refunds
                if r["amounts"]["gross"] > 0]
    pl.trap("refunds with positive sign", {"pspReferences": positive},
            "refund amounts sent positive, each matched to a CREDITED credit: compared by "
            "absolute value, no mismatch")


def _p_id_and_time_traps(pl: _Plant) -> None:
    # DST: the repeated hour on 2026-10-25 (02:30 CEST and 02:30 CET), and 00:30 local that is
    # still the previous day in UTC.
    for hhmm, fold, ledger in (("02:30", 0, pl.l1), ("02:30", 1, pl.l2), ("00:30", 0, pl.l1)):
        s = pl.sale(ledger, 1, hhmm, (("Enkeltbillett voksen", 1),),
                    fold=fold)
        pl.trap("DST day time", {"ledgerId": ledger, "pspReference": s.captures[0]["pspReference"],
                                 "time": s.captures[0]["time"]},
                f"local 2026-10-25 {hhmm} ({'CET, after' if fold else 'before'} the clocks go "
                "back): ledger date 2026-10-25, matched normally")

    numeric = [s for s in pl.sales if s.order_id.isdigit()]
    pl.trap("19-digit numeric order ids", {"orderIds": [s.order_id for s in numeric]},
            "IDs as text: one starts with 0, one exceeds int64; matched normally")


def _p_booking_traps(pl: _Plant) -> None:
    w = pl.w
    # Latest by eventTime (CANCELLED) differs from the last delivered (a late FULFILLED). The
    # order was never paid, so reading the last delivered event would wrongly say BOOKING_NOT_PAID.
    t = w.at(1, "15:15")
    oid = w.order_id()
    price = PRODUCTS["Resplus Oslo S–Stockholm C"].price
    attempt = w.txn(price, t, status="CANCELLED", external=None)
    w.payment(oid, t - timedelta(minutes=1), [attempt], total=price)
    fulfilled = w.booking(oid, t + timedelta(minutes=2), total=price)
    cancelled = w.follow_up(fulfilled, "CANCELLED", t + timedelta(minutes=40))
    w.deliver_event(cancelled)
    w.deliver_event(fulfilled, t + timedelta(hours=3))
    pl.trap("booking state by eventTime", {"bookingId": fulfilled["bookingId"],
                                           "eventIds": [cancelled["eventId"],
                                                        fulfilled["eventId"]]},
            "CANCELLED (latest eventTime) is delivered before a late FULFILLED: the state is "
            "CANCELLED, so the unpaid order is not BOOKING_NOT_PAID")

    # A non-refundable ticket refunded with refundAmount 0.00: no credit needed.
    sale = pl.sale(pl.l2, 2, "09:09", (("Resplus Oslo S–Karlstad C", 1),))
    first = pl.book(sale, w.at(2, "09:12"))
    zero = w.follow_up(first, "REFUNDED", w.at(2, "13:00"), refund=0)
    w.deliver_event(zero)
    pl.trap("REFUNDED with refundAmount 0.00", {"bookingId": first["bookingId"],
                                                 "orderId": sale.order_id},
            "state REFUNDED but refundAmount is 0.00 (non-refundable ticket): no credit expected")

    generated = pl.found(lambda s: len(s.events) > 1 and s.events[0]["status"] == "FULFILLED"
                         and s.events[1]["status"] == "REFUNDED", "refunded booking")
    pl.trap("booking events out of order", {"bookingId": generated.events[0]["bookingId"],
                                            "orderId": generated.order_id},
            "its REFUNDED event is delivered before its FULFILLED one; the state is REFUNDED "
            "and the order has a CREDITED credit")
    dup = _duplicated_event(w)
    pl.trap("booking event delivered twice", {"eventId": dup["eventId"],
                                              "bookingId": dup["bookingId"]},
            "the same event (same eventId, same content) twice in the feed: dedupe on eventId")


def _duplicated_event(w: _World) -> Record:
    seen: set[str] = set()
    for _, _, ev in sorted(w.events, key=lambda x: (x[0], x[1])):
        key = ev.get("eventId")
        if key in seen:
            return ev
        if key:
            seen.add(key)
    raise RuntimeError("no duplicated event")


def _p_malformed(pl: _Plant) -> None:
    w = pl.w

    def va(ledger: str, day: int, hhmm: str, gross: int = 5000) -> Record:
        return w.vipps_entry(ledger, w.order_id(), w.at(day, hhmm), "VARIABLE_AMOUNT",
                             gross=gross, sales_category="TRANSPORT",
                             vat=vat_from_gross(gross, 1200))

    e = va(pl.l1, 0, "14:44")
    del e["reference"]
    pl.bad("vipps", "missing_field", {"ledgerId": pl.l1, "pspReference": e["pspReference"]},
           "SalesEntry without `reference`")
    e = va(pl.l2, 1, "11:03")
    e["amounts"] = {"gross": "12.5", "net": None, "vat": None}
    pl.bad("vipps", "bad_amount", {"ledgerId": pl.l2, "pspReference": e["pspReference"],
                                   "reference": e["reference"]},
           "amounts.gross is the string \"12.5\", not an integer of minor units")
    e = va(pl.l1, 1, "20:20")
    e["time"] = "2026-10-25T25:61:00Z"
    pl.bad("vipps", "bad_time", {"ledgerId": pl.l1, "pspReference": e["pspReference"],
                                 "reference": e["reference"]},
           "`time` 2026-10-25T25:61:00Z cannot be parsed")
    e = va(pl.l2, 2, "12:34", 9900)
    e["entryType"] = "chargeback"
    pl.bad("vipps", "unknown_entry_type", {"ledgerId": pl.l2, "pspReference": e["pspReference"],
                                           "reference": e["reference"]},
           "entryType \"chargeback\" is neither capture nor refund")
    e = va(pl.l1, 2, "16:00")
    e["currency"] = "NOKK"
    pl.bad("vipps", "bad_currency", {"ledgerId": pl.l1, "pspReference": e["pspReference"],
                                     "reference": e["reference"]},
           "currency \"NOKK\" is not an ISO 4217 code")

    t = w.at(0, "17:17")
    txn = w.txn(15200, t, external=w.psp())
    txn["amount"] = txn["summary"]["capturedAmount"] = "152.005"
    pay = w.payment(w.order_id(), t - timedelta(minutes=1), [txn], total=15200)
    pay["totalAmount"] = "152.005"
    pl.bad("entur", "bad_amount_precision", {"paymentId": pay["paymentId"],
                                             "transactionId": txn["transactionId"],
                                             "orderId": pay["orderId"]},
           "amount \"152.005\" has a non-zero digit beyond øre: quarantined, never rounded")
    t = w.at(1, "08:48")
    txn = w.txn(9950, t, external=w.psp())
    pay = w.payment("unused", t - timedelta(minutes=1), [txn], total=9950)
    del pay["orderId"]
    pl.bad("entur", "missing_field", {"paymentId": pay["paymentId"],
                                      "transactionId": txn["transactionId"]},
           "Payment without `orderId`")

    ev = w.booking(w.order_id(), w.at(1, "18:30"), total=PRODUCTS["Plassreservasjon"].price)
    del ev["eventId"]
    w.deliver_event(ev)
    pl.bad("samtrafiken", "missing_field", {"bookingId": ev["bookingId"],
                                            "retailerReference": ev["retailerReference"]},
           "booking event without `eventId` (its retailerReference is no Entur order, so "
           "ingesting it by mistake would show up as BOOKING_NOT_PAID)")


def planted_sample(seed: int = SAMPLE_SEED) -> tuple[Dataset, dict[str, Any]]:
    """The committed sample: :func:`generate` + planted mismatches, traps and malformed records."""
    w, sales = _world(seed, SAMPLE_ORDERS, ("7000011", "7000022"), "2026-10-24", 3, 0.1, 0.4)
    pl = _Plant(w, sales)
    for plant in (_p_missing, _p_amount_currency, _p_duplicate, _p_refunds, _p_vat,
                  _p_bookings, _p_timing, _p_partial_traps, _p_redelivery_traps,
                  _p_entur_traps, _p_booking_traps, _p_id_and_time_traps, _p_malformed):
        plant(pl)
    expected = {
        "mismatches": pl.mismatches,
        "not_flagged": pl.not_flagged,
        "quarantine": pl.quarantine,
        "vat_rates": list(VAT_RATES),
        "period": {"from": w.start.isoformat(),
                   "to": (w.start + timedelta(days=w.days - 1)).isoformat()},
    }
    return w.dataset(), expected


# --------------------------------------------------------------------------- sample files


def write_sample(root: str | Path, seed: int = SAMPLE_SEED) -> None:
    """Write the planted sample, its answer key and its README to `root`."""
    root = Path(root)
    dataset, expected = planted_sample(seed)
    dataset.save(root)
    (root / "expected.json").write_text(
        json.dumps(expected, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (root / "README.md").write_text(_readme(dataset, expected, seed), encoding="utf-8")


def _md(text: str) -> str:
    """Text for a Markdown table cell: a literal | would end the cell."""
    return text.replace("|", "\\|")


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, dict):
        return "; ".join(f"{k} {_cell(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(f"`{v}`" for v in value)
    return f"`{value}`"


def _readme(ds: Dataset, expected: dict[str, Any], seed: int) -> str:
    entries = [e for led in ds.ledgers.values() for e in led.entries]
    refunds = [(lid, e) for lid, led in ds.ledgers.items() for e in led.entries
               if e.get("entryType") == "refund"]
    txns = [t for p in ds.payments for t in p.get("transactionHistory", [])]
    out = [
        "# sample_data: a planted reconciliation sample",
        "",
        f"Generated by `python -m recon.sandbox.generate --sample sample_data` (seed {seed}). "
        "Do not edit by hand: `tests/test_generate.py` checks that this folder equals the "
        "generator's output. `expected.json` is the answer key.",
        "",
        "## What it is",
        "",
        f"- **Vipps ledgers**: {', '.join(f'`{l}`' for l in ds.ledgers)}, currency NOK, time "
        "zone Europe/Oslo. `time` is UTC (`Z`).",
        f"- **Period**: {expected['period']['from']} to {expected['period']['to']} (business "
        "dates in Europe/Oslo). 2026-10-25 is the DST change: clocks go back from 03:00 CEST to "
        "02:00 CET (01:00 UTC), so that day has 25 hours and 02:00-03:00 happens twice.",
        "- **Money**: Vipps integer øre; Entur and Samtrafiken two-decimal strings in NOK. VAT "
        "rates (basis points): 2500 merchandise, 1500 food, 1200 passenger transport.",
        "- **Entur** timestamps are UTC (`Z`); Entur transactions sit under `transactionHistory`.",
        "- **Samtrafiken** events follow the ASSUMED contract of apis.md §4.2, "
        f"organizationCode `{ds.organization_code}`; `retailerReference` = Entur `orderId`.",
        "",
        "| source | file | records |",
        "|---|---|---|",
    ]
    for lid, led in ds.ledgers.items():
        caps = sum(1 for e in led.entries if e.get("entryType") == "capture")
        refs = sum(1 for e in led.entries if e.get("entryType") == "refund")
        out.append(f"| Vipps ledger {lid} | `vipps/ledger_{lid}.json` | {len(led.entries)} "
                   f"entries ({caps} captures, {refs} refunds, others malformed) |")
    out += [
        f"| Entur payments | `entur/payments.json` | {len(ds.payments)} payments, "
        f"{len(txns)} transactions |",
        f"| Entur credits | `entur/credits.json` | {len(ds.credits)} credits |",
        f"| Samtrafiken | `samtrafiken/events.json` | {len(ds.events)} events |",
        "",
        f"All sources together: {len(entries)} Vipps entries (counts include the malformed "
        "records and the one delivered twice).",
        "",
        "## Refund sign",
        "",
        "The Vipps Sales API does not document the sign of refunds, so this sample sends both. "
        "A negative refund has every money field negative (amounts and line prices, discount, "
        "totals, VAT; `quantity` stays positive). Reconciliation must use the absolute value.",
        "",
        "| ledger | pspReference | reference | gross | sign |",
        "|---|---|---|---|---|",
    ]
    for lid, e in refunds:
        gross = e["amounts"]["gross"]
        out.append(f"| {lid} | `{e['pspReference']}` | `{e['reference']}` | {gross} | "
                   f"{'negative' if gross < 0 else 'positive'} |")
    out += [
        "",
        "## Planted discrepancies (expected mismatches)",
        "",
        "Each causes exactly this one row. IDs absent on a side are `–` (null in "
        "expected.json). A row names the order on each side where that side holds it, and the "
        "transactions the row is about.",
        "",
        "| # | code | ledger | reference | pspReference | orderId | Entur txn | credit | "
        "booking | why |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n, m in enumerate(expected["mismatches"], 1):
        out.append(f"| {n} | {m['code']} | {_cell(m['ledgerId'])} | {_cell(m['reference'])} | "
                   f"{_cell(m['pspReference'])} | {_cell(m['orderId'])} | "
                   f"{_cell(m['entur_transaction_id'])} | {_cell(m['credit_id'])} | "
                   f"{_cell(m['booking_id'])} | {_md(m['why'])} |")
    out += ["", "## Traps that must NOT be flagged", "", "| what | ids | why |", "|---|---|---|"]
    for t in expected["not_flagged"]:
        out.append(f"| {t['what']} | {_cell(t['ids'])} | {_md(t['why'])} |")
    out += ["", "## Malformed records (quarantine, not mismatches)", "",
            "None of these has a counterpart in another source, so quarantining them causes "
            "no mismatch.", "",
            "| source | kind | ids | why |", "|---|---|---|---|"]
    for q in expected["quarantine"]:
        out.append(f"| {q['source']} | {q['reason_kind']} | {_cell(q['ids'])} | {_md(q['why'])} |")
    out += [
        "",
        "## expected.json",
        "",
        "`mismatches[]`: `code`, `ledgerId`, `reference`, `pspReference` (a key-2 group lists "
        "its captures comma-separated), `orderId`, `entur_transaction_id` (payment or credit "
        "transaction), `credit_id`, `booking_id`, `why`; IDs are strings, null where not "
        "applicable. `not_flagged[]` and `quarantine[]` name records by `ids`. Also "
        "`vat_rates` and `period`.",
        "",
    ]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m recon.sandbox.generate --sample DIR` writes the planted sample to DIR."""
    parser = argparse.ArgumentParser(
        prog="python -m recon.sandbox.generate",
        description="Write the planted sample (API records, expected.json, README.md). "
                    "Example: python -m recon.sandbox.generate --sample sample_data")
    parser.add_argument("--sample", metavar="DIR", required=True, help="output folder")
    parser.add_argument("--seed", type=int, default=SAMPLE_SEED, help="default %(default)s")
    args = parser.parse_args(argv)
    write_sample(args.sample, args.seed)
    print(f"wrote planted sample to {args.sample}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
