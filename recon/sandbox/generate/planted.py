"""The planted sample (:func:`planted_sample`): the consistent dataset plus one planted case of
each mismatch code, traps that must not be flagged and malformed records that ingest must
quarantine, with the answer key.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from recon.sandbox.dataset import Dataset
from recon.sandbox.generate.consistent import build_world
from recon.sandbox.generate.world import (
    GENERAL,
    PRODUCTS,
    SAMPLE_ORDERS,
    SAMPLE_SEED,
    VAT_RATES,
    Product,
    Record,
    Sale,
    World,
    fmt_minor,
    local_midnight,
    parse_z,
    vat_from_gross,
    zulu,
)

# --------------------------------------------------------------------------- planted sample


class _Plant:
    """Planted records and the answer key, built on top of a consistent world."""

    def __init__(self, w: World, sales: list[Sale]) -> None:
        self.w = w
        self.sales = sales
        self.l1, self.l2 = w.ledger_ids[0], w.ledger_ids[-1]
        self.period_to = w.day(w.days - 1).isoformat()
        self.mismatches: list[Record] = []
        self.not_flagged: list[Record] = []
        self.quarantine: list[Record] = []
        self.after: list[Callable[[Dataset], None]] = []  # plants on the built feeds (balances)

    # ----- answer key

    def expect(self, code: str, why: str, *, ledger: str | None = None,
               reference: str | None = None, psp: str | None = None,
               order: str | None = None, txn: Any = None, credit: Any = None,
               booking: str | None = None, feed: str | None = None) -> None:
        def s(v: Any) -> str | None:
            return None if v is None else str(v)

        row = {"code": code, "ledgerId": s(ledger), "reference": s(reference),
               "pspReference": s(psp), "orderId": s(order),
               "entur_transaction_id": s(txn), "credit_id": s(credit),
               "booking_id": s(booking), "why": why}
        if feed is not None:  # BALANCE_BREAK: which Report API feed of the ledger breaks
            row["feed"] = feed
        self.mismatches.append(row)

    def trap(self, what: str, ids: dict[str, Any], why: str) -> None:
        self.not_flagged.append({"what": what, "ids": _str_ids(ids), "why": why})

    def bad(self, source: str, kind: str, ids: dict[str, Any], why: str) -> None:
        self.quarantine.append({"source": source, "reason_kind": kind, "ids": _str_ids(ids),
                                "why": why})

    # ----- building blocks

    def sale(self, ledger: str, day: int, hhmm: str, items: Sequence[tuple[str, int]] = (
             ("Enkeltbillett voksen", 1),), *, solution: str = "SHOPPING_BASKET",
             entur_delay_s: int = 95, fold: int = 0, numeric: str | None = None, second: int = 0) -> Sale:
        """A matched Vipps order: one capture and its Entur VIPPS CAPTURED transaction."""
        w = self.w
        t = w.at(day, hhmm, fold) + timedelta(seconds=second)
        sale = Sale(w.order_id(numeric), ledger)
        sale.lines = [w.line(PRODUCTS[name], qty) for name, qty in items]
        cap = w.vipps_entry(ledger, sale.order_id, t, solution, lines=sale.lines, payment_type="WALLET")
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
        cap = self.w.vipps_entry(sale.ledger_id, sale.order_id, t, "SHOPPING_BASKET", lines=lines,
                                 payment_type="WALLET")
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


def _p_vat_net(pl: _Plant) -> None:
    """VAT_MISMATCH 3, planted last so that every record planted before it keeps its IDs."""
    w = pl.w
    # A line whose VAT is right for its rate but whose lineTotalNet is the net of one unit, not of
    # the two sold: net + VAT ≠ gross, so the VAT sheet's row would not tie.
    t = w.at(1, "13:37")
    oid = w.order_id()
    lines = [w.line(PRODUCTS["Paraply"], 2), w.line(PRODUCTS["Kaffe"])]
    bad = lines[0]
    bad["lineTotalNet"] = bad["unitPriceNet"]
    cap = w.vipps_entry(pl.l2, oid, t, "SHOPPING_BASKET", lines=lines)
    _entur_for(w, oid, cap, t)
    off = bad["lineTotalGross"] - bad["lineTotalNet"] - bad["vatAmount"]
    pl.expect("VAT_MISMATCH", f"line {bad['lineId']} (first faulty): VAT {bad['vatAmount']} is right for 25 % "
              f"of {bad['lineTotalGross']}, but lineTotalNet {bad['lineTotalNet']} + vatAmount ≠ lineTotalGross "
              f"(off by {off} øre > 1)", ledger=pl.l2, reference=oid, psp=cap["pspReference"])


def _entur_for(w: World, oid: str, cap: Record, t: datetime) -> Record:
    """The Entur payment matching capture `cap` by key 1."""
    gross = cap["amounts"]["gross"]
    txn = w.txn(gross, t + timedelta(seconds=70), external=cap["pspReference"], method=w.entur_method(cap))
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
    txn["createdAt"] = zulu(late)
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
    txn["createdAt"] = zulu(later)
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
    # A Vipps entry delivered twice by its feed (same key, same content). An Entur listing never
    # holds a record twice here: recon proves a listing complete by its distinct records against
    # totalItems, so a page that repeats a record is the sandbox's `repeat` fault, not data.
    again = pl.found(lambda s: s.ledger_id == pl.l1 and not s.refunds and not s.events
                     and len(s.captures) == 1, "plain capture")
    cap = again.captures[0]
    w.deliver_vipps(pl.l1, copy.deepcopy(cap), parse_z(cap["time"]) + timedelta(hours=2))
    pl.trap("Vipps entry delivered twice", {"ledgerId": pl.l1, "pspReference": cap["pspReference"]},
            "the feed repeats an identical entry two hours later: staging dedupes it, not a "
            "DUPLICATE (same pspReference, same content)")


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


def _duplicated_event(w: World) -> Record:
    seen: set[str] = set()
    for _, _, ev in sorted(w.events, key=lambda x: (x[0], x[1])):
        key = ev.get("eventId")
        if key in seen:
            return ev
        if key:
            seen.add(key)
    raise RuntimeError("no duplicated event")


def _p_scope_traps(pl: _Plant) -> None:
    """mPOS card and cash sales: Vipps Sales API entries with no Vipps-paid counterpart in Entur."""
    w = pl.w
    card = pl.found(lambda s: s.captures and s.captures[0]["paymentType"] == "CARD" and not s.refunds,
                    "mPOS card sale")
    pl.trap("mPOS card sale", {"ledgerId": card.ledger_id, "pspReference": card.captures[0]["pspReference"],
                               "orderId": card.order_id},
            "paymentType CARD, paid by card in Entur (VISA): out of the matching scope "
            "(reconcile.vipps_payment_types), counted on the Control sheet, never MISSING_IN_ENTUR")
    t = w.at(1, "10:10")
    cash = w.vipps_entry(pl.l1, w.order_id(), t, "MPOS", lines=[w.line(PRODUCTS["Kaffe"])], payment_type="CASH")
    cash["pspReference"] = None  # cash has no PSP
    pl.trap("mPOS cash sale", {"ledgerId": pl.l1, "reference": cash["reference"]},
            "paymentType CASH, no pspReference and nothing in Entur: out of the matching scope, counted "
            "on the Control sheet")


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
    pl.trap("unknown Vipps entryType", {"ledgerId": pl.l2, "pspReference": e["pspReference"],
                                        "reference": e["reference"]},
            "entryType \"chargeback\" is neither capture nor refund: it lands (the API adds types), takes "
            "no part in matching or VAT, and the pull warns about it")
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
    # Quarantined Sales entries never land: a funds entry of theirs would look like ePayment
    # money that Entur lacks (MISSING_IN_ENTUR), so they settle nothing here.
    w.unsettled.update(q["ids"]["pspReference"] for q in pl.quarantine if q["source"] == "vipps")


# --------------------------------------------------------------------------- Vipps Report API

GRACE_DAYS = 2  # reconcile.settlement_grace_days (default)


def _p_settlement(pl: _Plant) -> None:
    """Sales API ↔ funds feed: NOT_SETTLED, SETTLEMENT_AMOUNT_MISMATCH and their traps."""
    w = pl.w
    # NOT_SETTLED 1: a WALLET capture, matched to Entur, whose money never reached the funds feed;
    # its date is exactly the grace before the ledger's latest funds ledgerDate (due: flagged).
    sale = pl.sale(pl.l2, 1, "09:18", (("Regiontog sone 4", 1), ("Kaffe", 1)))
    cap = sale.captures[0]
    w.unsettled.add(cap["pspReference"])
    latest = w.funds_until[pl.l2]
    gap = (latest - w.day(1)).days
    assert gap == GRACE_DAYS
    pl.expect("NOT_SETTLED", f"WALLET capture of {w.day(1)} (matched to Entur by key 1) with no funds "
              f"entry; ledger {pl.l2}'s funds feed reaches {latest}, {gap} days later: at the "
              f"{GRACE_DAYS}-day grace it is due", ledger=pl.l2, reference=sale.order_id,
              psp=cap["pspReference"])

    # NOT_SETTLED 2: an mPOS card capture (out of the matching scope) with no funds entry: any
    # payment type with a pspReference settles through Vipps.
    t = w.at(1, "11:42")
    oid = w.order_id()
    cap = w.vipps_entry(pl.l1, oid, t, "MPOS", lines=[w.line(PRODUCTS["Vann 0,5 l"]),
                                                      w.line(PRODUCTS["Rundstykke med ost"])],
                        payment_type="CARD")
    _entur_for(w, oid, cap, t)  # paid by card in Entur (VISA), as mPOS card sales are
    w.unsettled.add(cap["pspReference"])
    pl.expect("NOT_SETTLED", f"mPOS card capture (paymentType CARD, out of the Entur matching scope) "
              f"of {w.day(1)} with no funds entry; ledger {pl.l1}'s funds feed reaches "
              f"{w.funds_until[pl.l1]}: the settlement check covers every payment type",
              ledger=pl.l1, reference=oid, psp=cap["pspReference"])

    # SETTLEMENT_AMOUNT_MISMATCH: the funds entry settled 10.00 less than the Sales gross.
    sale = pl.sale(pl.l1, 2, "08:37", (("Flybussen Gardermoen", 1),))
    cap = sale.captures[0]
    w.funds_amount[cap["pspReference"]] = cap["amounts"]["gross"] - 1000
    pl.expect("SETTLEMENT_AMOUNT_MISMATCH", "Sales capture 259.50 (matched to Entur), its funds entry "
              "(same ledger, type, pspReference) 249.50; the balance chain follows the 249.50",
              ledger=pl.l1, reference=sale.order_id, psp=cap["pspReference"])

    # Trap: unsettled, but younger than the grace (1 day before the ledger's latest funds date).
    sale = pl.sale(pl.l2, 2, "13:13", (("24-timersbillett", 1),))
    cap = sale.captures[0]
    w.unsettled.add(cap["pspReference"])
    pl.trap("unsettled within the grace", {"ledgerId": pl.l2, "pspReference": cap["pspReference"],
                                           "reference": sale.order_id},
            f"WALLET capture of {w.day(2)} with no funds entry yet, but ledger {pl.l2}'s funds feed "
            f"only reaches {latest} ({(latest - w.day(2)).days} day later, less than the "
            f"{GRACE_DAYS}-day grace): not NOT_SETTLED")

    # Trap: sold seconds before local midnight, settled seconds after it (next ledger date).
    sale = pl.sale(pl.l1, 0, "23:59", (("Enkeltbillett barn", 1),), second=52)
    cap = sale.captures[0]
    w.funds_at[cap["pspReference"]] = local_midnight(w.day(1)) + timedelta(seconds=3)
    pl.trap("settled after midnight", {"ledgerId": pl.l1, "pspReference": cap["pspReference"],
                                       "time": cap["time"]},
            f"Sales entry at local {w.day(0)} 23:59:52, its funds entry at {w.day(1)} 00:00:03 (ledgerDate "
            f"{w.day(1)}): different business dates, still settled (the key has no date), not NOT_SETTLED")

    # Trap: the cash sale has no pspReference and no funds entry: never checked.
    [cash] = [e for _, _, e in w.vipps[pl.l1] if e.get("paymentType") == "CASH"]
    pl.trap("cash sale without funds entry", {"ledgerId": pl.l1, "reference": cash["reference"]},
            "paymentType CASH, pspReference null, so no funds entry: the settlement check never "
            "applies (the same entry as the mPOS cash sale trap)")

    # Trap: mPOS card sales settle in the funds feed too, but stay out of the Entur matching.
    cards = [e["pspReference"] for s in pl.sales for e in s.captures if e["paymentType"] == "CARD"]
    mine = [e["pspReference"] for s in pl.sales if s.ledger_id == pl.l1 for e in s.captures
            if e["paymentType"] == "CARD"]
    pl.trap("mPOS card sales settled", {"ledgerId": pl.l1, "pspReferences": mine[:3]},
            f"these and all {len(cards)} generated mPOS card captures have their funds capture (same ledger, "
            "type and pspReference): out of the matching scope like their Sales entries, never MISSING_IN_ENTUR")

    # Trap: an entry type recon does not know, with an unbroken chain.
    odd = w.funds_move(pl.l2, w.at(1, "14:02"), "instant-payout-fee", -500, psp=w.psp(),
                       reference="instant-payout", recipient=False)
    pl.trap("unknown funds entry type", {"ledgerId": pl.l2, "pspReference": odd["pspReference"],
                                         "entryType": odd["entryType"]},
            f"funds entry type instant-payout-fee (-5.00) on {w.day(1)}, chain unbroken: it lands, is "
            "booked by its sign under its own type in the settlement, and no code applies")


def _p_epayment(pl: _Plant) -> None:
    """ePayment (funds feed only, no Sales entry) ↔ Entur."""
    w = pl.w
    # MISSING_IN_ENTUR 3: an ePayment capture that Entur never heard of; the row comes from the
    # Report API.
    t = w.at(0, "18:05")
    oid = w.order_id()
    psp = w.psp()
    w.funds_move(pl.l2, t, "capture", 12700, psp=psp, reference=oid)
    pl.expect("MISSING_IN_ENTUR", "ePayment capture 127.00 in the funds feed only (no Sales entry: "
              "the Vipps row comes from the Report API) with no Entur payment for its pspReference or "
              "its reference", ledger=pl.l2, reference=oid, psp=psp)

    # AMOUNT_MISMATCH 3: an ePayment capture whose Entur transaction captured 10.00 more.
    t = w.at(2, "07:20")
    oid = w.order_id()
    psp = w.psp()
    w.funds_move(pl.l1, t, "capture", 32800, psp=psp, reference=oid)
    txn = w.txn(33800, t + timedelta(seconds=40), external=psp)
    w.payment(oid, t - timedelta(minutes=2), [txn], total=33800)
    pl.expect("AMOUNT_MISMATCH", "key 1 pair: ePayment capture (funds feed only) 328.00 vs Entur "
              "capturedAmount 338.00", ledger=pl.l1, reference=oid, psp=psp, order=oid,
              txn=txn["transactionId"])

    # Trap: the generated ePayment orders (funds only) match Entur cleanly.
    moves = [m for _, _, m in sorted(w.funds_moves[pl.l1] + w.funds_moves[pl.l2], key=lambda x: (x[0], x[1]))
             if m["ledgerDate"] <= pl.period_to]
    refund = next(m for m in moves if m["entryType"] == "refund")
    capture = next(m for m in moves if m["entryType"] == "capture" and m["reference"] == refund["reference"])
    pl.trap("ePayment order (funds feed only)", {"reference": capture["reference"],
                                                 "pspReferences": [capture["pspReference"],
                                                                   refund["pspReference"]]},
            "capture and refund in the funds feed with no Sales entry, matched by key 1 to an Entur "
            "VIPPS CAPTURED transaction and a CREDITED credit: no code; their VAT is 'not reported by Vipps'")


def _p_balance_breaks(pl: _Plant) -> None:
    """BALANCE_BREAK in a funds feed (an entry missing) and in a fees feed (an entry that does not add up)."""
    w = pl.w
    # Funds: a correction booked one second before a planted capture's funds entry is missing
    # from the feed, so that entry's balanceBefore is the previous balanceAfter + the correction.
    sale = pl.sale(pl.l1, 1, "16:25", (("Enkeltbillett voksen", 2), ("Kaffe", 1)))
    cap = sale.captures[0]
    at = parse_z(cap["time"]) + timedelta(seconds=12)
    w.funds_at[cap["pspReference"]] = at
    corr = w.funds_move(pl.l1, at - timedelta(seconds=1), "correction", 2500, psp=w.psp(),
                        reference=f"correction-{w.day(1)}", recipient=False)

    def drop_correction(ds: Dataset) -> None:
        led = ds.ledgers[pl.l1]
        funds = list(led.funds)
        [i] = [k for k, e in enumerate(funds) if e["entryType"] == "correction"
               and e["pspReference"] == corr["pspReference"]]
        removed = funds.pop(i)
        after = funds[i]
        assert after["entryType"] == "capture" and after["pspReference"] == cap["pspReference"]
        assert after["balanceBefore"] - funds[i - 1]["balanceAfter"] == removed["amount"]
        led.funds = funds
        pl.expect("BALANCE_BREAK", f"funds feed: a correction of +25.00 (pspReference "
                  f"{removed['pspReference']}) is missing just before this capture's funds entry, so its "
                  f"balanceBefore {after['balanceBefore']} ≠ the previous balanceAfter "
                  f"{funds[i - 1]['balanceAfter']} (gap 2500); the payout of {w.day(1)} does not add up either",
                  ledger=pl.l1, reference=sale.order_id, psp=cap["pspReference"], feed="funds")

    # Fees: one capture-fee whose balanceAfter is 1.00 short of balanceBefore + amount; the
    # entries after it follow its stated balanceAfter, so it is the only break.
    sale2 = pl.sale(pl.l2, 0, "10:48", (("Paraply", 1),))
    cap2 = sale2.captures[0]

    def skew_fee(ds: Dataset) -> None:
        led = ds.ledgers[pl.l2]
        fees = list(led.fees)
        [i] = [k for k, e in enumerate(fees) if e["entryType"] == "capture-fee"
               and e["pspReference"] == cap2["pspReference"]]
        bad = fees[i] = {**fees[i], "balanceAfter": fees[i]["balanceAfter"] - 100}
        for k in range(i + 1, len(fees)):
            fees[k] = {**fees[k], "balanceBefore": fees[k]["balanceBefore"] - 100,
                       "balanceAfter": fees[k]["balanceAfter"] - 100}
        led.fees = fees
        pl.expect("BALANCE_BREAK", f"fees feed: capture-fee {bad['amount']} with balanceBefore "
                  f"{bad['balanceBefore']} states balanceAfter {bad['balanceAfter']} (should be "
                  f"{bad['balanceBefore'] + bad['amount']}, gap -100); the next entry follows the stated "
                  "balance, so only this entry breaks", ledger=pl.l2, reference=sale2.order_id,
                  psp=cap2["pspReference"], feed="fees")

    pl.after += [drop_correction, skew_fee]


def _settlements(ds: Dataset) -> list[Record]:
    """The answer key of the settlement proof: per ledger and payout, the ledger dates it covers
    (from the day after the previous payout's ledger date), the opening balance, the movements by
    type, the payout and the closing balance; the dates after the last payout form an open row
    (payout null)."""
    rows: list[Record] = []
    for lid, led in ds.ledgers.items():
        row: Record | None = None
        start: str | None = None  # the day after the previous payout's ledger date
        for e in led.funds:
            if row is None:
                row = {"ledgerId": lid, "payout_pspReference": None, "from": start or e["ledgerDate"],
                       "to": e["ledgerDate"], "opening": e["balanceBefore"], "movements": {},
                       "payout": None, "closing": None, "adds_up": None}
            row["to"] = e["ledgerDate"]
            row["closing"] = e["balanceAfter"]
            if e["entryType"] == "payout-scheduled":
                row["payout_pspReference"], row["payout"] = e["pspReference"], e["amount"]
            else:
                row["movements"][e["entryType"]] = row["movements"].get(e["entryType"], 0) + e["amount"]
            if e["entryType"] == "payout-scheduled":
                row["adds_up"] = row["opening"] + sum(row["movements"].values()) + row["payout"] == row["closing"]
                rows.append(row)
                row = None
                start = (date.fromisoformat(e["ledgerDate"]) + timedelta(days=1)).isoformat()
        if row is not None:
            row["adds_up"] = row["opening"] + sum(row["movements"].values()) == row["closing"]
            rows.append(row)
    for r in rows:
        r["movements"] = dict(sorted(r["movements"].items()))
    return rows


def planted_sample(seed: int = SAMPLE_SEED) -> tuple[Dataset, dict[str, Any]]:
    """The committed sample: :func:`generate` + planted mismatches, traps and malformed records."""
    w, sales = build_world(seed, SAMPLE_ORDERS, ("7000011", "7000022"), "2026-10-24", 3, 0.1, 0.4)
    pl = _Plant(w, sales)
    for plant in (_p_missing, _p_amount_currency, _p_duplicate, _p_refunds, _p_vat,
                  _p_bookings, _p_timing, _p_partial_traps, _p_redelivery_traps,
                  _p_entur_traps, _p_booking_traps, _p_id_and_time_traps, _p_scope_traps, _p_malformed,
                  _p_settlement, _p_epayment, _p_balance_breaks, _p_vat_net):
        plant(pl)
    ds = w.dataset()
    for step in pl.after:
        step(ds)
    for lid, led in ds.ledgers.items():  # the grace trap and NOT_SETTLED rows rely on these
        assert max(e["ledgerDate"] for e in led.funds) == w.funds_until[lid].isoformat() == led.open_from
    expected = {
        "mismatches": pl.mismatches,
        "not_flagged": pl.not_flagged,
        "quarantine": pl.quarantine,
        "vat_rates": list(VAT_RATES),
        "period": {"from": w.start.isoformat(), "to": pl.period_to},
        "settlements": _settlements(ds),
    }
    return ds, expected
