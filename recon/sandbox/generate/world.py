"""The record builder: money and time helpers, the product catalogue and ``World``, which makes
records in the APIs' own shapes from one seeded ``random.Random``.
"""

from __future__ import annotations

import copy
import itertools
import random
import uuid
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from recon.sandbox.dataset import Dataset, Ledger

VAT_RATES: tuple[int, ...] = (2500, 1500, 1200)  # Norwegian VAT in basis points
OSLO = ZoneInfo("Europe/Oslo")
ORGANISATION_ID = 1  # the selling organisation in Entur
SAMPLE_SEED = 2026
SAMPLE_ORDERS = 190  # ~250 Vipps entries: enough variety, JSON well under 1.5 MB
Record = dict[str, Any]

# The Vipps Report API (funds and fees feeds, docs/apis.md §2).
FEE_RATE_BP = 149  # capture fee: 1.49 % of the captured amount (rounded half up) ...
FEE_FIXED = 100  # ... plus 1.00 NOK per capture
# Funds feeds go on this many ledger dates past the period (ledger k takes entry k, cycling), so
# that the read window after the period holds settlement data, and ledgers end at different dates.
REPORT_EXTRA_DAYS: tuple[int, ...] = (3, 1)
FUNDS_DELAY_S = (2, 30)  # a Sales entry's funds entry follows it by this many seconds (same date)


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


def zulu(dt: datetime) -> str:
    """UTC with a Z suffix, second precision: the format of Vipps `time` and Entur `createdAt`."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def local_midnight(day: date) -> datetime:
    """The UTC instant at which `day` starts in Oslo (days are 23, 24 or 25 hours long)."""
    return datetime(day.year, day.month, day.day, tzinfo=OSLO).astimezone(UTC)


def report_time(dt: datetime) -> str:
    """The Report API's `time`: UTC with microseconds and a Z suffix (2026-10-24T08:00:05.000000Z)."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def oslo_date(dt: datetime) -> date:
    """The ledger date of an instant: its date in Europe/Oslo."""
    return dt.astimezone(OSLO).date()


def report_entry(psp: str, when: datetime, entry_type: str, reference: str, amount: int, *,
                 recipient: str | None, before: int | None = None) -> Record:
    """A Report API funds or fees entry (docs/apis.md §2), in the API's field order."""
    return {
        "pspReference": psp,
        "time": report_time(when),
        "ledgerDate": oslo_date(when).isoformat(),
        "entryType": entry_type,
        "reference": reference,
        "currency": "NOK",
        "amount": amount,
        "balanceBefore": before,
        "balanceAfter": None if before is None else before + amount,
        "recipientHandle": recipient,
    }


def capture_fee(amount: int) -> int:
    """The fee (positive øre) Vipps keeps for a capture of `amount` øre: 1.49 % + 1.00 NOK."""
    return (abs(amount) * FEE_RATE_BP + 5_000) // 10_000 + FEE_FIXED


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


class World:
    """Accumulates records of all APIs, with unique IDs and a delivery order per feed.

    The Report API's funds and fees feeds are built by :meth:`dataset` from everything else: each
    Sales capture and refund with a ``pspReference`` settles a few seconds after it (unless
    listed in ``unsettled``), plus the funds-only moves registered with :meth:`funds_move`
    (ePayment, corrections, new entry types); then capture fees, fees retained and payouts.
    """

    def __init__(self, seed: int, ledgers: Sequence[str], start: str, days: int,
                 report_extra_days: Sequence[int] = REPORT_EXTRA_DAYS) -> None:
        if days < 1 or not ledgers:
            raise ValueError("need at least one ledger and one day")
        if not report_extra_days or min(report_extra_days) < 0:
            raise ValueError("report_extra_days needs at least one value, none negative")
        self.rng = random.Random(seed)
        self.ledger_ids = list(ledgers)
        self.start = date.fromisoformat(start)
        self.days = days
        self.period_start = local_midnight(self.start)
        self.period_end = local_midnight(self.start + timedelta(days=days))
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
        # The Report API side draws from a random stream and Entur ID series of its own (see
        # report_stream), so that adding it left every other record of a seed as it was.
        self._report_rng = random.Random(f"vipps-report:{seed}")
        self._report_ids = {"payment": 500_000 + self._report_rng.randrange(1000), "txn": 5_000_000,
                            "credit": 500_000, "line": 9_000_000}
        last = self.day(days - 1)
        self.funds_until = {l: last + timedelta(days=report_extra_days[k % len(report_extra_days)])
                            for k, l in enumerate(ledgers)}
        # Each payout leaves this reserve on the ledger; the data starts right after a payout, so
        # the reserve is also the funds feed's opening balance. The fees feed opens at a fee debt
        # (a service fee invoiced monthly) to which each day's fees-retained brings it back.
        self.reserve = {l: 100_000 + 50_000 * k for k, l in enumerate(ledgers)}
        self.fees_opening = {l: -(4_900 + 1_000 * k) for k, l in enumerate(ledgers)}
        self.funds_moves: dict[str, list[tuple[datetime, int, Record]]] = {l: [] for l in ledgers}
        self.unsettled: set[str] = set()  # pspReferences of Sales entries that get no funds entry
        self.funds_amount: dict[str, int] = {}  # pspReference -> funds amount other than the Sales gross
        self.funds_at: dict[str, datetime] = {}  # pspReference -> funds time other than the usual delay

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

    @contextmanager
    def report_stream(self) -> Iterator[None]:
        """Build records (with every helper of this class) from the Report side's own random
        stream and ID series: the records of the main stream stay exactly as they were."""
        saved = self.rng, self._ids
        self.rng, self._ids = self._report_rng, self._report_ids
        try:
            yield
        finally:
            self._report_rng, self._report_ids = self.rng, self._ids
            self.rng, self._ids = saved

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
        begin = local_midnight(day)
        length = int((local_midnight(day + timedelta(days=1)) - begin).total_seconds())
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
            "time": zulu(when),
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

    @staticmethod
    def entur_method(entry: Record) -> str:
        """How Entur records the payment of a Vipps entry: VIPPS for the app (WALLET), the card
        scheme for an mPOS card sale (which has no Vipps-paid counterpart in Entur)."""
        return "VIPPS" if entry.get("paymentType") in (None, "WALLET") else "VISA"

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
        if not signed:
            assert gross is not None, "a refund without lines names its gross"
        if not signed and capture["amounts"]["vat"] is not None:
            vat = vat_from_gross(sign * (gross or 0), dict(SALES_CATEGORIES)[cls["salesCategory"]])
        entry = self.vipps_entry(ledger, capture["reference"], when, cls["solution"],
                                 entry_type="refund", lines=signed,
                                 gross=None if signed else sign * (gross or 0),
                                 sales_category=cls["salesCategory"], vat=vat,
                                 payment_type=capture["paymentType"])
        return entry

    # ----- Vipps Report API

    def funds_move(self, ledger: str, when: datetime, entry_type: str, amount: int, *, psp: str,
                   reference: str, recipient: bool = True) -> Record:
        """A funds entry that no Sales entry explains: an ePayment capture or refund, a
        correction, an entry type recon does not know. Balances are filled in by :meth:`dataset`
        (the returned record is a template: the feed holds a copy)."""
        move = report_entry(psp, when, entry_type, reference, amount,
                            recipient=f"NO:{ledger}" if recipient else None)
        self.funds_moves[ledger].append((when, next(self._seq), move))
        return move

    def settled_at(self, entry: Record) -> datetime:
        """When a Sales entry's funds entry is booked: a few seconds later, on the same ledger date
        (the delay is a hash of the pspReference, so it draws nothing from the random stream)."""
        psp = entry["pspReference"]
        if psp in self.funds_at:
            return self.funds_at[psp]
        sold = parse_z(entry["time"])
        low, high = FUNDS_DELAY_S
        delay = timedelta(seconds=low + zlib.crc32(psp.encode()) % (high - low + 1))
        last = local_midnight(oslo_date(sold) + timedelta(days=1)) - timedelta(seconds=2)
        return max(sold, min(sold + delay, last))

    def _settled_sales(self, ledger: str) -> list[tuple[datetime, int, Record]]:
        """The funds entries of the ledger's Sales captures and refunds (each pspReference once:
        a Sales entry delivered twice settled once)."""
        moves: list[tuple[datetime, int, Record]] = []
        seen: set[str] = set()
        for _, seq, e in sorted(self.vipps[ledger], key=lambda x: (x[0], x[1])):
            psp = e.get("pspReference")
            if (psp is None or psp in self.unsettled or psp in seen
                    or e.get("entryType") not in ("capture", "refund")):
                continue
            seen.add(psp)
            gross = e.get("amounts", {}).get("gross")
            if type(gross) is not int or not isinstance(e.get("reference"), str) or e.get("currency") != "NOK":
                raise ValueError(f"Sales entry {psp} cannot settle (malformed): add it to unsettled")
            when = self.settled_at(e)
            amount = self.funds_amount.get(psp, abs(gross) if e["entryType"] == "capture" else -abs(gross))
            moves.append((when, seq, report_entry(psp, when, e["entryType"], e["reference"], amount,
                                                  recipient=f"NO:{ledger}")))
        return moves

    def report_feeds(self, ledger: str) -> tuple[list[Record], list[Record], str]:
        """The ledger's funds and fees feeds (feed order, unbroken balance chains) and the first
        open ledger date.

        Per ledger date, in time order: the funds moves, each capture with its `capture-fee` in
        the fees feed. A closed date then ends with `fees-retained` (funds −Σ fees, fees +Σ) and
        `payout-scheduled` (pspReference `<ledgerId>-<n>`), which brings the balance back to
        the reserve, provided there is more than the reserve to pay out (otherwise the balance
        and the fees carry over to the next date). The last date of the feed is open.
        """
        moves = sorted(self._settled_sales(ledger) + self.funds_moves[ledger], key=lambda x: (x[0], x[1]))
        dates = [oslo_date(when) for when, _, _ in moves]
        first = min([self.start, *dates])
        last = max([self.funds_until[ledger], *dates])
        funds: list[Record] = []
        fees: list[Record] = []
        balance, fee_balance, reserve = self.reserve[ledger], self.fees_opening[ledger], self.reserve[ledger]
        pending = 0  # fees not yet retained
        payouts = 0
        i = 0
        day = first
        while day <= last:
            close = local_midnight(day + timedelta(days=1)) - timedelta(seconds=1)  # 23:59:59 local
            while i < len(moves) and dates[i] == day:
                when, _, move = moves[i]
                i += 1
                funds.append({**move, "balanceBefore": balance, "balanceAfter": balance + move["amount"]})
                balance += move["amount"]
                if move["entryType"] == "capture":
                    fee = capture_fee(move["amount"])
                    at = max(when, min(when + timedelta(seconds=1), close - timedelta(seconds=1)))
                    fees.append(report_entry(move["pspReference"], at, "capture-fee", move["reference"], -fee,
                                             recipient=move["recipientHandle"], before=fee_balance))
                    fee_balance -= fee
                    pending += fee
            if day < last and balance - pending > reserve:
                payouts += 1
                psp, ref = f"{ledger}-{payouts}", f"payout-{payouts}"
                if pending:
                    funds.append(report_entry(psp, close, "fees-retained", ref, -pending, recipient=None,
                                              before=balance))
                    fees.append(report_entry(psp, close, "fees-retained", ref, pending, recipient=None,
                                             before=fee_balance))
                    balance -= pending
                    fee_balance += pending
                    pending = 0
                funds.append(report_entry(psp, close + timedelta(microseconds=500_000), "payout-scheduled", ref,
                                          reserve - balance, recipient=None, before=balance))
                balance = reserve
            day += timedelta(days=1)
        return funds, fees, last.isoformat()

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
            "createdAt": zulu(when),
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
            "createdAt": zulu(created),
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
            record["updatedAt"] = max([*later, record.get("updatedAt", "")])

    def credit_txn(self, paid: Record | None, amount: int, when: datetime | None, *,
                   external: str | None, method: str = "VIPPS", status: str = "CREDITED",
                   currency: str = "NOK") -> Record:
        """A credit transaction reversing (part of) payment transaction `paid`."""
        if paid is not None and status == "CREDITED":
            s = paid["summary"]
            credited = parse_minor_text(s["creditedAmount"]) + amount
            s["creditedAmount"] = fmt_minor(credited)
            s["remainingAmountToCredit"] = fmt_minor(parse_minor_text(s["capturedAmount"]) - credited)
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
            ct["createdAt"] = zulu(when)
        return ct

    def credit(self, order_id: str, created: datetime, ctxns: list[Record], *, version: int,
               status: str = "CREDITED", currency: str = "NOK",
               payment: Record | None = None) -> Record:
        cr: Record = {
            "creditId": self._next("credit"),
            "orderId": order_id,
            "orderVersion": version,
            "organisationId": ORGANISATION_ID,
            "totalCreditAmount": fmt_minor(sum(parse_minor_text(c["amount"]) for c in ctxns)),
            "currency": currency,
            "status": status,
            "createdAt": zulu(created),
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
            "eventTime": zulu(when),
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
                "departureTime": zulu(departure),
                "arrivalTime": zulu(departure + timedelta(minutes=minutes)),
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
        ev.update(eventId=self.uuid(), eventTime=zulu(when), status=status)
        if status == "REFUNDED":
            total = parse_minor_text(first["totalPrice"])
            ev["refundAmount"] = fmt_minor(refund or 0)
            ev["cancellationFee"] = fmt_minor(total - (refund or 0))
        return ev

    def deliver_event(self, ev: Record, at: datetime | None = None) -> None:
        when = at if at is not None else parse_z(ev["eventTime"])
        self.events.append((when, next(self._seq), ev))

    # ----- output

    def dataset(self) -> Dataset:
        def ordered(feed: list[tuple[datetime, int, Record]]) -> list[Record]:
            return [rec for _, _, rec in sorted(feed, key=lambda x: (x[0], x[1]))]

        ledgers = {}
        for lid in self.ledger_ids:
            funds, fees, open_from = self.report_feeds(lid)
            ledgers[lid] = Ledger(lid, "NOK", "Europe/Oslo", ordered(self.vipps[lid]), funds=funds, fees=fees,
                                  open_from=open_from)
        return Dataset(
            ledgers=ledgers,
            payments=ordered(self.payments),
            credits=ordered(self.credits),
            organization_code=self.org_code,
            events=ordered(self.events),
        )


def parse_minor_text(text: str) -> int:
    """Two-decimal string to minor units, exactly (our own output only: no validation here)."""
    sign = -1 if text.startswith("-") else 1
    whole, _, frac = text.lstrip("-").partition(".")
    return sign * (int(whole) * 100 + int((frac + "00")[:2]))


def parse_z(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
