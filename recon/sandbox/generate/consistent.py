"""A consistent dataset (:func:`generate`): reconciling it by the mismatch rules gives zero
exceptions, while it still carries partial captures, refunds of either sign, card payments and
non-final attempts in Entur, bookings with duplicated and out-of-order events, and the Vipps
Report API's funds and fees feeds: every Sales capture and refund settled, ePayment orders that
only the Report API knows, fees, payouts and unbroken balance chains.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from recon.sandbox.dataset import Dataset
from recon.sandbox.generate.world import (
    PRODUCTS,
    REPORT_EXTRA_DAYS,
    RESPLUS,
    SALES_CATEGORIES,
    TICKETS,
    Record,
    Sale,
    World,
    local_midnight,
    parse_minor_text,
    parse_z,
    vat_from_gross,
)

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


def _plans(w: World, orders: int, refund_share: float, booking_share: float) -> list[_Plan]:
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
    for p, numeric in zip(vipps, ("zero", "big", "plain"), strict=False):
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
    for j, (p, sign) in enumerate(zip(chosen, signs, strict=False)):
        p.refund = "partial" if j % 5 in (1, 3) else "full"
        p.sign = sign
    return sorted(plans, key=lambda p: p.when)


def _vipps_sale(w: World, p: _Plan) -> Sale:
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
        for t, part in zip(times, parts, strict=False):
            sale.captures.append(w.vipps_entry(
                p.ledger, sale.order_id, t, p.solution, gross=part, sales_category=category,
                vat=vat_from_gross(part, rate) if vat_known else None))
    else:
        groups = _capture_groups(w, p)
        for t, lines in zip(times, groups, strict=False):
            sale.captures.append(w.vipps_entry(p.ledger, sale.order_id, t, p.solution, lines=lines))
            sale.lines += lines

    total = sum(c["amounts"]["gross"] for c in sale.captures)
    txns: list[Record] = []
    if p.cancelled_attempt:  # an earlier attempt the customer aborted: not final, ignored
        txns.append(w.txn(total, p.when - timedelta(seconds=rng.randrange(60, 400)),
                          status="CANCELLED", external=w.psp()))
    remaining = total
    for cap, t in zip(sale.captures, times, strict=False):
        remaining -= cap["amounts"]["gross"]
        sale.txns.append(w.txn(cap["amounts"]["gross"], t + timedelta(seconds=rng.randrange(5, 240)),
                               external=cap["pspReference"], to_capture=remaining, method=w.entur_method(cap)))
    sale.payment = w.payment(sale.order_id, p.when - timedelta(seconds=rng.randrange(60, 600)),
                             txns + sale.txns, total=total, version=p.version)
    if p.refund:
        _refund(w, p, sale)
    if p.booking:
        _book(w, sale, p.when + timedelta(seconds=rng.randrange(60, 300)), lines=sale.lines)
    return sale


def _capture_groups(w: World, p: _Plan) -> list[list[Record]]:
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


def _refund(w: World, p: _Plan, sale: Sale) -> None:
    """Refund (part of) the first capture in Vipps and credit it in Entur."""
    rng = w.rng
    assert p.ledger is not None
    cap, paid = sale.captures[0], sale.txns[0]
    when = _refund_time(w, parse_z(cap["time"]))
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
    ct = w.credit_txn(paid, amount, credited, external=refund["pspReference"], method=paid["paymentType"])
    sale.credits.append(w.credit(sale.order_id, credited, [ct], version=p.version + 1,
                                 payment=sale.payment))


def _refund_time(w: World, after: datetime) -> datetime:
    """Some time after `after`, within two days and before the period ends."""
    latest = min(after + timedelta(days=2), w.period_end - timedelta(minutes=30))
    span = int((latest - after).total_seconds())
    return after + timedelta(seconds=w.rng.randrange(min(1800, span // 2), span))


def _book(w: World, sale: Sale, when: datetime, *, lines: list[Record] | None = None,
          total: int | None = None) -> None:
    """Booking events: FULFILLED, and REFUNDED after each credited refund."""
    first = w.booking(sale.order_id, when, lines, total=total)
    sale.events.append(first)
    w.deliver_event(first)
    for cr in sale.credits:
        t = parse_z(cr["createdAt"]) + timedelta(seconds=w.rng.randrange(60, 1200))
        ev = w.follow_up(first, "REFUNDED", t, refund=parse_minor_text(cr["totalCreditAmount"]))
        sale.events.append(ev)
        w.deliver_event(ev)


def _card_sale(w: World, p: _Plan) -> Sale:
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


def _abandoned_sale(w: World, p: _Plan) -> Sale:
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


def _consistent(w: World, orders: int, refund_share: float, booking_share: float) -> list[Sale]:
    sales = []
    for p in _plans(w, orders, refund_share, booking_share):
        build = {"vipps": _vipps_sale, "card": _card_sale, "abandoned": _abandoned_sale}[p.kind]
        sales.append(build(w, p))
    _redeliver_events(w, sales)
    return sales


def _redeliver_events(w: World, sales: list[Sale]) -> None:
    """At-least-once feed: one booking's FULFILLED arrives after its REFUNDED, one event twice."""
    multi = [s for s in sales if len(s.events) > 1]
    if multi:
        first, refunded = multi[0].events[0], multi[0].events[1]
        # Move the FULFILLED delivery after the REFUNDED one; its eventTime stays earlier.
        w.events = [e for e in w.events if e[2] is not first]
        w.deliver_event(first, parse_z(refunded["eventTime"]) + timedelta(minutes=3))
    single = [s for s in sales if len(s.events) == 1]
    if single:
        ev = single[0].events[0]
        w.deliver_event(copy.deepcopy(ev), parse_z(ev["eventTime"]) + timedelta(minutes=7))


# --------------------------------------------------------------------------- ePayment orders


def _epayment_sales(w: World, count: int, refund_share: float, booking_share: float) -> list[Sale]:
    """Orders paid with Vipps ePayment (the Entur app): no Sales API entry, only a funds capture
    (and for some a funds refund) in the Report API, with the Entur VIPPS payment (and CREDITED
    credit) it matches by key 1. Round-robin over every ledger date of every funds feed first, so
    that each feed has entries up to its last date; times between 06:00 and 22:00 local.
    Built from the Report side's own random stream (World.report_stream)."""
    sales: list[Sale] = []
    with w.report_stream():
        rng = w.rng
        last = max((d - w.start).days for d in w.funds_until.values())
        combos = [(l, d) for d in range(last + 1) for l in w.ledger_ids
                  if w.day(d) <= w.funds_until[l]]
        for i in range(count):
            ledger, d = combos[i] if i < len(combos) else rng.choice(combos)
            when = local_midnight(w.day(d)) + timedelta(seconds=rng.randrange(6 * 3600, 22 * 3600))
            booking = rng.random() < booking_share
            sale = Sale(w.order_id(), ledger)
            picks = [rng.choice(RESPLUS[:4])] if booking else rng.sample(TICKETS, k=rng.choice((1, 1, 2)))
            total = sum(p.price * rng.choice((1, 1, 2)) for p in picks)
            psp = w.psp()
            sale.captures.append(w.funds_move(ledger, when, "capture", total, psp=psp, reference=sale.order_id))
            paid = w.txn(total, when + timedelta(seconds=rng.randrange(5, 120)), external=psp)
            sale.txns.append(paid)
            sale.payment = w.payment(sale.order_id, when - timedelta(seconds=rng.randrange(60, 600)), [paid],
                                     total=total)
            # A refund stays on the same side of the period's end, within the ledger's funds feed.
            edge = w.period_end if when < w.period_end else local_midnight(w.funds_until[ledger] + timedelta(days=1))
            latest = min(when + timedelta(days=2), edge - timedelta(hours=2))
            if rng.random() < refund_share and latest - when > timedelta(hours=1):
                at = when + timedelta(seconds=rng.randrange(1800, int((latest - when).total_seconds())))
                amount = total if rng.random() < 0.7 else total // 2
                rpsp = w.psp()
                sale.refunds.append(w.funds_move(ledger, at, "refund", -amount, psp=rpsp, reference=sale.order_id))
                credited = at + timedelta(seconds=rng.randrange(5, 300))
                ct = w.credit_txn(paid, amount, credited, external=rpsp)
                sale.credits.append(w.credit(sale.order_id, credited, [ct], version=2, payment=sale.payment))
            if booking:
                _book(w, sale, when + timedelta(seconds=rng.randrange(60, 300)), total=total)
            sales.append(sale)
    return sales


def build_world(seed: int, orders: int, ledgers: Sequence[str], start: str, days: int,
                refund_share: float, booking_share: float, *, epayment_share: float = 0.15,
                report_extra_days: Sequence[int] = REPORT_EXTRA_DAYS) -> tuple[World, list[Sale]]:
    """The consistent world and its Sales-API orders (the ePayment orders are in the world but
    not in the list: plants look for generated orders of the Sales API there)."""
    w = World(seed, ledgers, start, days, report_extra_days)
    sales = _consistent(w, orders, refund_share, booking_share)
    _epayment_sales(w, round(orders * epayment_share), refund_share, booking_share)
    return w, sales


def generate(seed: int = 0, orders: int = 300,
             ledgers: tuple[str, ...] = ("7000011", "7000022"), start: str = "2026-10-24",
             days: int = 3, refund_share: float = 0.1, booking_share: float = 0.4,
             epayment_share: float = 0.15, report_extra_days: tuple[int, ...] = REPORT_EXTRA_DAYS) -> Dataset:
    """A realistic dataset that reconciles with zero mismatches; deterministic for a seed.

    `orders` counts the orders paid with Vipps (each has one or two captures). On top come
    card-paid orders (~1/15 of `orders`) and abandoned Vipps attempts (~1/50), which exist in
    Entur only, and `epayment_share` × `orders` ePayment orders, which exist in the Report API
    and Entur only. `refund_share` of all orders get a refund (credited in Entur) and
    `booking_share` of the orders a Samtrafiken booking.

    Every ledger gets Report API feeds: each Sales capture and refund settles in the funds feed,
    with fees, daily payouts and unbroken balance chains; ledger k's funds feed runs
    `report_extra_days[k]` (cycling) dates past the period, and its last date is open.
    """
    if orders < 0 or not (0 <= refund_share <= 1 and 0 <= booking_share <= 1 and 0 <= epayment_share <= 1):
        raise ValueError("orders must be >= 0 and the shares between 0 and 1")
    w, _ = build_world(seed, orders, ledgers, start, days, refund_share, booking_share,
                       epayment_share=epayment_share, report_extra_days=report_extra_days)
    return w.dataset()
