"""Tests of the sandbox data generator itself (no reconciliation code involved).

VAT and money are re-derived here independently (Fraction/Decimal), not with the generator's
own helpers, so a bug in those helpers cannot hide itself.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import asdict
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recon.sandbox.dataset import Dataset, Ledger
from recon.sandbox.generate import (
    SAMPLE_ORDERS,
    SAMPLE_SEED,
    fmt_minor,
    generate,
    lazy_funds_entries,
    lazy_ledger_entries,
    planted_sample,
    vat_from_gross,
    write_sample,
)

OSLO = ZoneInfo("Europe/Oslo")
SAMPLE_DIR = Path(__file__).resolve().parents[2] / "sample_data"
# Written out by hand from the mismatch rules (README, "Reconciliation"): the contract.
MISMATCH_CODES = {
    "MISSING_IN_ENTUR", "MISSING_IN_VIPPS", "AMOUNT_MISMATCH", "CURRENCY_MISMATCH", "DUPLICATE",
    "REFUND_WITHOUT_CREDIT", "CREDIT_WITHOUT_REFUND", "VAT_MISMATCH", "BOOKING_NOT_PAID",
    "BOOKING_REFUNDED_NOT_CREDITED", "TIMING_DIFFERENCE", "NOT_SETTLED", "SETTLEMENT_AMOUNT_MISMATCH",
    "BALANCE_BREAK",
}
SINGLE_CODES = {"TIMING_DIFFERENCE", "SETTLEMENT_AMOUNT_MISMATCH"}  # planted once; the others twice or more
ENTRY_KEYS = {"entryType", "time", "pspReference", "reference", "currency", "paymentType",
              "classification", "amounts", "lines", "customer", "completeness"}
LINE_KEYS = {"lineId", "name", "quantity", "unitPriceGross", "unitPriceNet", "discountTotal",
             "lineTotalGross", "lineTotalNet", "vatRate", "vatAmount", "category"}
TWO_DECIMALS = re.compile(r"^-?\d+\.\d{2}$")
UTC_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
# The Report API (apis.md §2): signed øre, UTC time with microseconds.
REPORT_KEYS = {"pspReference", "time", "ledgerDate", "entryType", "reference", "currency", "amount",
               "balanceBefore", "balanceAfter", "recipientHandle"}
REPORT_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
PAYOUT = "payout-scheduled"


@pytest.fixture(scope="module")
def base() -> Dataset:
    return generate()


@pytest.fixture(scope="module")
def sample() -> tuple[Dataset, dict[str, Any]]:
    return planted_sample()


# --------------------------------------------------------------------------- helpers


def minor(text: str) -> int:
    """Entur decimal string to øre, exactly; refuses anything finer than øre."""
    assert TWO_DECIMALS.match(text), text
    value = Decimal(text) * 100
    assert value == value.to_integral_value()
    return int(value)


def expected_vat(gross: int, rate: int) -> int:
    """round-half-up(|gross| * r / (1 + r)) with the refund's sign (half away from zero)."""
    exact = Fraction(abs(gross) * rate, 10_000 + rate)
    rounded = int(exact + Fraction(1, 2))  # floor(x + 1/2) for x >= 0
    return rounded if gross >= 0 else -rounded


def parse_utc(text: str) -> datetime:
    assert UTC_Z.match(text), text
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def oslo_date(text: str) -> date:
    return parse_utc(text).astimezone(OSLO).date()


def entries(ds: Dataset) -> list[tuple[str, dict[str, Any]]]:
    return [(lid, e) for lid, led in ds.ledgers.items() for e in led.entries]


def vipps_txns(ds: Dataset, status: str = "CAPTURED") -> list[tuple[dict, dict]]:
    return [(p, t) for p in ds.payments for t in p["transactionHistory"]
            if t["paymentType"] == "VIPPS" and t["status"] == status]


def check_entry(e: dict[str, Any]) -> None:
    """The SalesEntry shape and the Vipps invariants, VAT exact."""
    assert set(e) == ENTRY_KEYS
    assert e["entryType"] in ("capture", "refund")
    parse_utc(e["time"])
    assert e["currency"] == "NOK" and e["customer"] is None
    assert isinstance(e["pspReference"], str) and isinstance(e["reference"], str)
    solution = e["classification"]["solution"]
    assert solution in ("SHOPPING_BASKET", "MPOS", "VARIABLE_AMOUNT")
    assert set(e["completeness"]) == {"hasLineItems", "hasVatBreakdown", "hasCustomerIdentity"}
    amounts = e["amounts"]
    assert type(amounts["gross"]) is int
    if amounts["vat"] is not None:
        assert amounts["net"] == amounts["gross"] - amounts["vat"]
    if solution == "VARIABLE_AMOUNT":
        assert e["lines"] == [] and e["classification"]["salesCategory"]
        assert not e["completeness"]["hasLineItems"] and not e["completeness"]["hasVatBreakdown"]
        return
    assert e["lines"] and e["completeness"]["hasLineItems"] and e["completeness"]["hasVatBreakdown"]
    for line in e["lines"]:
        assert set(line) == LINE_KEYS
        assert all(type(line[k]) is int for k in LINE_KEYS - {"lineId", "name", "category"})
        assert line["quantity"] > 0
        assert line["unitPriceGross"] * line["quantity"] - line["discountTotal"] == line["lineTotalGross"]
        assert line["vatRate"] in (2500, 1500, 1200)
        assert line["vatAmount"] == expected_vat(line["lineTotalGross"], line["vatRate"])
        assert line["lineTotalNet"] == line["lineTotalGross"] - line["vatAmount"]
        # A refund's lines all carry the refund's sign.
        assert (line["lineTotalGross"] < 0) == (amounts["gross"] < 0)
    assert sum(l["lineTotalGross"] for l in e["lines"]) == amounts["gross"]
    assert sum(l["vatAmount"] for l in e["lines"]) == amounts["vat"]


def dataset_json(ds: Dataset) -> str:
    return json.dumps(asdict(ds), sort_keys=True, default=list)


def report_time(text: str) -> datetime:
    assert REPORT_TIME.match(text), text
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def expected_fee(amount: int) -> int:
    """The capture fee, re-derived: 1.49 % of the amount rounded half up, plus 1.00 NOK."""
    return int((Decimal(abs(amount)) * Decimal("0.0149")).quantize(Decimal(1), ROUND_HALF_UP)) + 100


def chain_breaks(feed: Any) -> list[int]:
    """Indices of the entries that break the balance chain, walked here over the list itself: an
    entry that does not add up, or whose balanceBefore is not the previous balanceAfter."""
    return [i for i, e in enumerate(feed)
            if e["balanceAfter"] != e["balanceBefore"] + e["amount"]
            or (i > 0 and e["balanceBefore"] != feed[i - 1]["balanceAfter"])]


def check_report_feeds(lid: str, led: Ledger) -> None:
    """Shape, ledger dates, feed order and signs of a ledger's funds and fees feeds."""
    for feed in (led.funds, led.fees):
        times = []
        for e in feed:
            assert set(e) == REPORT_KEYS, e
            assert e["currency"] == "NOK"
            assert all(type(e[k]) is int for k in ("amount", "balanceBefore", "balanceAfter"))
            assert isinstance(e["pspReference"], str) and isinstance(e["reference"], str)
            t = report_time(e["time"])
            assert e["ledgerDate"] == t.astimezone(OSLO).date().isoformat()
            assert e["recipientHandle"] in (f"NO:{lid}", None)
            times.append(t)
        assert times == sorted(times), "feed order is chronological"
    if led.funds:
        assert led.funds[0]["balanceBefore"] != 0 and led.fees[0]["balanceBefore"] != 0, "opening balances"
    signs = {"capture": 1, "refund": -1, "fees-retained": -1, PAYOUT: -1}
    for e in led.funds:
        if e["entryType"] in signs:
            assert e["amount"] * signs[e["entryType"]] > 0, e
    assert {e["entryType"] for e in led.fees} <= {"capture-fee", "fees-retained"}
    for e in led.fees:
        assert (e["amount"] < 0) == (e["entryType"] == "capture-fee"), e


def check_daily_close(lid: str, led: Ledger, *, every_closed_date_paid: bool) -> None:
    """Fees per capture, fees retained, payouts: the last entry of their date, bringing the balance
    back to the reserve (the funds feed's opening balance); none on the open dates."""
    reserve = led.funds[0]["balanceBefore"]
    assert led.open_from is not None and led.open_from >= max(e["ledgerDate"] for e in led.funds)
    captures = [e for e in led.funds if e["entryType"] == "capture"]
    fees = [e for e in led.fees if e["entryType"] == "capture-fee"]
    assert [(c["pspReference"], c["reference"], c["ledgerDate"], -expected_fee(c["amount"])) for c in captures] == [
        (f["pspReference"], f["reference"], f["ledgerDate"], f["amount"]) for f in fees]
    pending = 0
    retained: dict[str, int] = {}
    for e in led.fees:  # each fees-retained returns the fees since the previous one
        if e["entryType"] == "capture-fee":
            pending -= e["amount"]
        else:
            assert e["amount"] == pending and e["pspReference"] not in retained
            retained[e["pspReference"]], pending = e["amount"], 0
    by_date: dict[str, list[dict[str, Any]]] = {}
    for e in led.funds:
        by_date.setdefault(e["ledgerDate"], []).append(e)
    n = 0
    for day, day_entries in by_date.items():
        payouts = [k for k, e in enumerate(day_entries) if e["entryType"] == PAYOUT]
        if day >= led.open_from or (not payouts and not every_closed_date_paid):
            assert not payouts, f"no payout on an open date ({day})"
            continue
        assert payouts == [len(day_entries) - 1], f"one payout, the last entry of {day}"
        payout = day_entries[-1]
        n += 1
        assert payout["pspReference"] == f"{lid}-{n}" and payout["balanceAfter"] == reserve
        before = day_entries[-2] if len(day_entries) > 1 else None
        if before is not None and before["entryType"] == "fees-retained":
            assert retained.pop(payout["pspReference"]) == -before["amount"]
    assert not retained, "every fees-retained of the fees feed has its funds entry"


def sales_by_psp(led: Ledger) -> dict[str, dict[str, Any]]:
    """The ledger's Sales captures and refunds with a pspReference (a redelivered entry once)."""
    out: dict[str, dict[str, Any]] = {}
    for e in led.entries:
        if e.get("entryType") in ("capture", "refund") and e.get("pspReference"):
            out.setdefault(e["pspReference"], e)
    return out


def funds_only(ds: Dataset) -> list[tuple[str, dict[str, Any]]]:
    """Funds captures and refunds that no Sales entry explains: ePayment money."""
    return [(lid, f) for lid, led in ds.ledgers.items() for f in led.funds
            if f["entryType"] in ("capture", "refund") and f["pspReference"] not in sales_by_psp(led)]


def check_settled(ds: Dataset, *, skip: frozenset[str] = frozenset(),
                  amount_differs: frozenset[str] = frozenset(),
                  next_date: frozenset[str] = frozenset()) -> None:
    """Each Sales capture and refund with a pspReference (but `skip`, which have none) has exactly one
    funds entry of the same ledger, type, pspReference and reference, a few seconds later on the same
    ledger date (but `next_date`), amount the gross (refunds negative; but `amount_differs`)."""
    for led in ds.ledgers.values():
        funds = Counter((f["entryType"], f["pspReference"]) for f in led.funds)
        by_key = {(f["entryType"], f["pspReference"]): f for f in led.funds}
        for psp, e in sales_by_psp(led).items():
            key = (e["entryType"], psp)
            if psp in skip:
                assert funds[key] == 0, psp
                continue
            assert funds[key] == 1, psp
            f = by_key[key]
            assert f["reference"] == e["reference"]
            gross = e["amounts"]["gross"]
            want = abs(gross) if e["entryType"] == "capture" else -abs(gross)
            assert (f["amount"] != want) == (psp in amount_differs), psp
            sold, settled = parse_utc(e["time"]), report_time(f["time"])
            assert sold <= settled <= sold + timedelta(seconds=60)
            assert (f["ledgerDate"] != oslo_date(e["time"]).isoformat()) == (psp in next_date), psp


def check_funds_only_in_entur(ds: Dataset, *, exempt: frozenset[str] = frozenset()) -> int:
    """Every ePayment capture has its Entur VIPPS CAPTURED transaction (same amount, orderId =
    reference), every ePayment refund its CREDITED Vipps credit transaction. Returns how many."""
    paid = {t["externalTransactionId"]: (p, t) for p, t in vipps_txns(ds)}
    credited = {t["externalTransactionId"]: (c, t) for c in ds.credits for t in c["creditTransactions"]
                if c["status"] == "CREDITED" and t["status"] == "CREDITED" and t["reimbursementMethod"] == "VIPPS"}
    n = 0
    for _, f in funds_only(ds):
        if f["pspReference"] in exempt:
            continue
        record, txn = (paid if f["entryType"] == "capture" else credited)[f["pspReference"]]
        assert record["orderId"] == f["reference"]
        amount = txn["summary"]["capturedAmount"] if f["entryType"] == "capture" else txn["amount"]
        assert minor(amount) == abs(f["amount"])
        n += 1
    return n


# --------------------------------------------------------------------------- money helpers


def test_money_helpers_are_exact() -> None:
    assert fmt_minor(15200) == "152.00" and fmt_minor(5) == "0.05" and fmt_minor(-150) == "-1.50"
    for gross in range(-3000, 30000, 7):
        assert minor(fmt_minor(gross)) == gross
        for rate in (2500, 1500, 1200):
            assert vat_from_gross(gross, rate) == expected_vat(gross, rate)


# --------------------------------------------------------------------------- generate()


def test_generate_is_deterministic_per_seed() -> None:
    assert dataset_json(generate(7, orders=80)) == dataset_json(generate(7, orders=80))
    assert dataset_json(generate(7, orders=80)) != dataset_json(generate(8, orders=80))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_generate_vipps_invariants(seed: int) -> None:
    ds = generate(seed)
    for _, e in entries(ds):
        check_entry(e)
    psps = [e["pspReference"] for _, e in entries(ds)]
    assert len(psps) == len(set(psps)), "a consistent dataset delivers each entry once"


def test_generate_covers_the_realistic_mix(base: Dataset) -> None:
    all_entries = entries(base)
    captures = [e for _, e in all_entries if e["entryType"] == "capture"]
    refunds = [e for _, e in all_entries if e["entryType"] == "refund"]
    assert {lid for lid, _ in all_entries} == {"7000011", "7000022"}
    for lid in base.ledgers:  # every ledger has entries on every local date
        dates = {oslo_date(e["time"]) for l, e in all_entries if l == lid}
        assert {date(2026, 10, 24), date(2026, 10, 25), date(2026, 10, 26)} <= dates
    assert {e["classification"]["solution"] for e in captures} == {
        "SHOPPING_BASKET", "MPOS", "VARIABLE_AMOUNT"}
    assert any(e["amounts"]["vat"] is None for e in captures)
    assert {l["vatRate"] for e in captures for l in e["lines"]} == {2500, 1500, 1200}
    per_order = Counter(e["reference"] for e in captures)
    partial = [ref for ref, n in per_order.items() if n == 2]
    assert partial, "some orders have two partial captures"
    assert any(len({e["amounts"]["gross"] for e in captures if e["reference"] == ref}) == 1
               for ref in partial), "including equal partial captures"
    assert any(r["amounts"]["gross"] < 0 for r in refunds)
    assert any(r["amounts"]["gross"] > 0 for r in refunds)
    order_ids = {p["orderId"] for p in base.payments}
    assert any(re.fullmatch(r"[A-Z0-9]{8}", o) for o in order_ids)
    numeric = [o for o in order_ids if re.fullmatch(r"\d{19}", o)]
    assert any(o.startswith("0") for o in numeric) and any(int(o) > 2**63 - 1 for o in numeric)
    statuses = Counter(t["status"] for p in base.payments for t in p["transactionHistory"])
    assert statuses["CAPTURED"] and (statuses["INITIATED"] or statuses["CANCELLED"])
    methods = {t["paymentType"] for p in base.payments for t in p["transactionHistory"]}
    assert {"VIPPS"} < methods and methods & {"VISA", "MASTERCARD"}


def test_every_capture_has_exactly_one_entur_capture(base: Dataset) -> None:
    by_ext: dict[str, list[tuple[dict, dict]]] = {}
    for p, t in vipps_txns(base):
        by_ext.setdefault(t["externalTransactionId"], []).append((p, t))
    # Vipps-paid captures (WALLET) have their Entur VIPPS capture; mPOS card sales are card in Entur.
    captures = [e for _, e in entries(base) if e["entryType"] == "capture" and e["paymentType"] == "WALLET"]
    assert captures
    card_psps = {t["externalTransactionId"] for p in base.payments for t in p["transactionHistory"]
                 if t["paymentType"] == "VISA"}
    cards = [e for _, e in entries(base) if e["entryType"] == "capture" and e["paymentType"] == "CARD"]
    assert cards and all(e["pspReference"] in card_psps for e in cards)
    epay = [f for _, f in funds_only(base) if f["entryType"] == "capture"]
    assert epay, "ePayment orders: funds captures without a Sales entry"
    for f in epay:  # they have their Entur VIPPS capture too
        [(payment, txn)] = by_ext[f["pspReference"]]
        assert payment["orderId"] == f["reference"] and minor(txn["summary"]["capturedAmount"]) == f["amount"]
    for e in captures:
        matches = by_ext.get(e["pspReference"], [])
        assert len(matches) == 1, e["pspReference"]
        payment, txn = matches[0]
        assert payment["orderId"] == e["reference"]
        assert txn["paymentTypeGroup"] == "MOBILE" and txn["currency"] == e["currency"]
        assert minor(txn["summary"]["capturedAmount"]) == e["amounts"]["gross"]
        assert minor(txn["amount"]) == e["amounts"]["gross"]
        gap = (parse_utc(txn["createdAt"]) - parse_utc(e["time"])).total_seconds()
        assert 0 <= gap <= 600, "Entur records the capture within minutes"
    # ...and no Vipps capture in Entur lacks its Vipps entry (Sales or funds).
    assert sorted(by_ext) == sorted([e["pspReference"] for e in captures] + [f["pspReference"] for f in epay])
    paid = 0
    for p in base.payments:
        captured = [t for t in p["transactionHistory"] if t["status"] == "CAPTURED"]
        if captured:  # abandoned attempts have nothing captured
            assert sum(minor(t["summary"]["capturedAmount"]) for t in captured) == minor(p["totalAmount"])
            paid += 1
    assert paid, "no payment captured anything: the sums above were never compared"


def test_every_refund_has_a_credited_credit(base: Dataset) -> None:
    credited = {t["externalTransactionId"]: (c, t) for c in base.credits
                for t in c["creditTransactions"] if t["reimbursementMethod"] == "VIPPS"}
    refunds = [e for _, e in entries(base) if e["entryType"] == "refund" and e["paymentType"] == "WALLET"]
    assert refunds
    for r in refunds:
        credit, ct = credited[r["pspReference"]]
        assert credit["status"] == "CREDITED" and ct["status"] == "CREDITED"
        assert credit["orderId"] == r["reference"]
        assert ct["reimbursementTypeGroup"] == "MOBILE"
        assert minor(ct["amount"]) == abs(r["amounts"]["gross"])
        assert minor(credit["totalCreditAmount"]) == abs(r["amounts"]["gross"])
    epay = [f for _, f in funds_only(base) if f["entryType"] == "refund"]
    assert epay, "some ePayment orders are refunded"
    for f in epay:
        credit, ct = credited[f["pspReference"]]
        assert credit["status"] == ct["status"] == "CREDITED" and credit["orderId"] == f["reference"]
        assert minor(ct["amount"]) == -f["amount"]
    assert sorted(credited) == sorted([r["pspReference"] for r in refunds] + [f["pspReference"] for f in epay])


def test_bookings_reference_existing_orders_and_agree(base: Dataset) -> None:
    orders = {p["orderId"]: p for p in base.payments}
    paid = {p["orderId"] for p in base.payments
            if any(t["status"] == "CAPTURED" for t in p["transactionHistory"])}
    credited = {c["orderId"] for c in base.credits if c["status"] == "CREDITED"}
    captures: dict[str, list[dict]] = {}
    for _, e in entries(base):
        if e["entryType"] == "capture":
            captures.setdefault(e["reference"], []).append(e)
    states: dict[str, tuple[datetime, int, dict]] = {}
    priced = 0
    for i, ev in enumerate(base.events):
        assert ev["retailerReference"] in orders
        assert ev["organizationCode"] == base.organization_code
        if ev["retailerReference"] in captures:  # price and VAT per rate agree with Vipps
            caps = captures[ev["retailerReference"]]
            assert minor(ev["totalPrice"]) == sum(c["amounts"]["gross"] for c in caps)
            by_rate = Counter()
            for line in (l for c in caps for l in c["lines"]):
                by_rate[line["vatRate"]] += line["vatAmount"]
            assert {minor(v["rate"]): minor(v["amount"]) for v in ev["vat"]} == dict(by_rate)
            priced += 1
        key = (parse_utc(ev["eventTime"]), i)
        if ev["bookingId"] not in states or key >= states[ev["bookingId"]][:2]:
            states[ev["bookingId"]] = (*key, ev)
    for _, _, ev in states.values():
        if ev["status"] == "FULFILLED":
            assert ev["retailerReference"] in paid
        if ev["status"] == "REFUNDED":
            assert minor(ev["refundAmount"]) > 0 and ev["retailerReference"] in credited
    assert priced > 0, "no booking event's order has Vipps captures to compare with"
    assert {ev["status"] for _, _, ev in states.values()} == {"FULFILLED", "REFUNDED", "CANCELLED"}
    # The feed is at-least-once: one event delivered twice, one delivered out of eventTime order.
    ids = Counter(ev["eventId"] for ev in base.events)
    assert any(n == 2 for n in ids.values())
    last_delivered = {ev["bookingId"]: ev for ev in base.events}
    assert any(last_delivered[b]["eventId"] != ev["eventId"] for b, (_, _, ev) in states.items())


# --------------------------------------------------------------------------- Report API feeds


def test_generate_report_feeds_settle_everything(base: Dataset) -> None:
    assert set(base.ledgers) == {"7000011", "7000022"}
    for lid, led in base.ledgers.items():
        assert led.funds and led.fees
        assert chain_breaks(led.funds) == [] and chain_breaks(led.fees) == []
        check_report_feeds(lid, led)
        check_daily_close(lid, led, every_closed_date_paid=True)
        assert {e["entryType"] for e in led.funds} == {"capture", "refund", "fees-retained", PAYOUT}
    check_settled(base)
    assert check_funds_only_in_entur(base) > 10
    # The feeds run past the period (inside the 3-day read window), ledgers ending at different dates,
    # each with its last date open.
    assert {lid: led.open_from for lid, led in base.ledgers.items()} == {"7000011": "2026-10-29",
                                                                        "7000022": "2026-10-27"}
    for led in base.ledgers.values():
        dates = {e["ledgerDate"] for e in led.funds}
        last = date.fromisoformat(led.open_from)
        assert dates == {(date(2026, 10, 24) + timedelta(days=d)).isoformat()
                         for d in range((last - date(2026, 10, 24)).days + 1)}, "entries on every date"
    # mPOS card sales (out of the matching scope) settle through Vipps like the rest.
    cards = [(lid, e) for lid, e in entries(base) if e["paymentType"] == "CARD"]
    assert cards
    for lid, e in cards:
        assert any(f["pspReference"] == e["pspReference"] for f in base.ledgers[lid].funds)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), orders=st.integers(0, 70), days=st.integers(1, 4),
       extra=st.lists(st.integers(0, 3), min_size=1, max_size=2))
def test_generate_report_feeds_property(seed: int, orders: int, days: int, extra: list[int]) -> None:
    """Any consistent dataset: unbroken chains, every pspReference-bearing Sales entry settled
    once, ePayment money in Entur, payouts back to the reserve."""
    ds = generate(seed, orders=orders, days=days, report_extra_days=tuple(extra))
    for lid, led in ds.ledgers.items():
        assert chain_breaks(led.funds) == [] and chain_breaks(led.fees) == []
        check_report_feeds(lid, led)
        if led.funds:
            check_daily_close(lid, led, every_closed_date_paid=False)
    check_settled(ds)
    check_funds_only_in_entur(ds)


# --------------------------------------------------------------------------- planted_sample()


def test_planted_sample_is_deterministic(sample: tuple[Dataset, dict[str, Any]]) -> None:
    ds, expected = planted_sample()
    assert dataset_json(ds) == dataset_json(sample[0]) and expected == sample[1]


def test_planted_sample_covers_every_code(sample: tuple[Dataset, dict[str, Any]]) -> None:
    ds, expected = sample
    codes = Counter(m["code"] for m in expected["mismatches"])
    assert set(codes) == MISMATCH_CODES
    assert all(n >= 2 for code, n in codes.items() if code not in SINGLE_CODES)
    assert all(codes[code] == 1 for code in SINGLE_CODES)
    assert len(entries(ds)) >= 200 and set(ds.ledgers) == {"7000011", "7000022"}
    dates = {oslo_date(e["time"]) for _, e in entries(ds) if not _unparseable(e["time"])}
    assert {date(2026, 10, 24), date(2026, 10, 25), date(2026, 10, 26)} <= dates
    assert expected["vat_rates"] == [2500, 1500, 1200]
    rates = {l["vatRate"] for _, e in entries(ds) for l in e.get("lines", [])}
    assert {2500, 1500, 1200} <= rates
    assert expected["period"] == {"from": "2026-10-24", "to": "2026-10-26"}
    for row in expected["mismatches"]:
        assert set(row) == {"code", "ledgerId", "reference", "pspReference", "orderId",
                            "entur_transaction_id", "credit_id", "booking_id", "why"} | (
                                {"feed"} if row["code"] == "BALANCE_BREAK" else set())
        assert all(v is None or isinstance(v, str) for v in row.values())


def test_planted_rows_name_real_records_each_on_its_own_order(
        sample: tuple[Dataset, dict[str, Any]]) -> None:
    ds, expected = sample
    psps = {e.get("pspReference") for _, e in entries(ds)}
    psps |= {e["pspReference"] for led in ds.ledgers.values() for e in [*led.funds, *led.fees]}
    txn_ids = {str(t["transactionId"]) for p in ds.payments for t in p["transactionHistory"]}
    txn_ids |= {str(t["transactionId"]) for c in ds.credits for t in c["creditTransactions"]}
    credit_ids = {str(c["creditId"]) for c in ds.credits}
    bookings = {ev["bookingId"] for ev in ds.events}
    orders = [m["orderId"] or m["reference"] for m in expected["mismatches"]]
    assert len(orders) == len(set(orders)), "one planted order per row, so rows cannot interact"
    base_orders = {p["orderId"] for p in generate(SAMPLE_SEED, orders=SAMPLE_ORDERS).payments}
    assert not base_orders & set(orders), "plants never touch generated orders"
    for m in expected["mismatches"]:
        for psp in (m["pspReference"] or "").split(","):
            assert not psp or psp in psps
        assert m["entur_transaction_id"] is None or m["entur_transaction_id"] in txn_ids
        assert m["credit_id"] is None or m["credit_id"] in credit_ids
        assert m["booking_id"] is None or m["booking_id"] in bookings


def test_plants_leave_generated_records_untouched(sample: tuple[Dataset, dict[str, Any]]) -> None:
    """planted_sample() = generate() + additions: no generated record was altered."""
    ds, _ = sample
    base = generate(SAMPLE_SEED, orders=SAMPLE_ORDERS)

    def bag(records: Any) -> Counter[str]:
        return Counter(json.dumps(r, sort_keys=True) for r in records)

    for lid, led in base.ledgers.items():
        assert not bag(led.entries) - bag(ds.ledgers[lid].entries)
    assert not bag(base.payments) - bag(ds.payments)
    assert not bag(base.credits) - bag(ds.credits)
    assert not bag(base.events) - bag(ds.events)


def test_planted_vipps_invariants_hold_except_where_planted(
        sample: tuple[Dataset, dict[str, Any]]) -> None:
    ds, expected = sample
    malformed = {q["ids"].get("pspReference") for q in expected["quarantine"]}
    malformed |= {t["ids"]["pspReference"] for t in expected["not_flagged"] if t["what"] == "unknown Vipps entryType"}
    vat_rows = {m["pspReference"] for m in expected["mismatches"] if m["code"] == "VAT_MISMATCH"}
    vat_traps = {t["ids"]["pspReference"] for t in expected["not_flagged"]
                 if t["what"] in ("VAT unknown on a line", "line VAT within the 1 øre tolerance")}
    assert len(vat_rows) == 3 and len(vat_traps) == 2
    by_psp = {e.get("pspReference"): e for _, e in entries(ds)}
    for psp, e in by_psp.items():
        if psp not in malformed | vat_rows | vat_traps:
            check_entry(e)
    for psp in vat_rows:  # each VAT row: a line off by > 1 øre (its VAT, or its net + VAT against
        e = by_psp[psp]     # its gross), or Σ lines ≠ amounts.vat
        off = [abs(l["vatAmount"] - Fraction(l["lineTotalGross"] * l["vatRate"],
                                             10_000 + l["vatRate"])) for l in e["lines"]]
        untied = [abs(l["lineTotalNet"] + l["vatAmount"] - l["lineTotalGross"]) for l in e["lines"]]
        assert max(off) > 1 or max(untied) > 1 or sum(l["vatAmount"] for l in e["lines"]) != e["amounts"]["vat"]
    for psp in vat_traps:  # each trap: VAT unknown, or within tolerance and Σ consistent
        e = by_psp[psp]
        known = [l for l in e["lines"] if l["vatRate"] is not None and l["vatAmount"] is not None]
        assert all(abs(l["vatAmount"] - Fraction(l["lineTotalGross"] * l["vatRate"],
                                                 10_000 + l["vatRate"])) <= 1 for l in known)
        assert len(known) < len(e["lines"]) or sum(
            l["vatAmount"] for l in e["lines"]) == e["amounts"]["vat"]


def test_quarantined_records_are_malformed_and_isolated(
        sample: tuple[Dataset, dict[str, Any]]) -> None:
    ds, expected = sample
    kinds = Counter((q["source"], q["reason_kind"]) for q in expected["quarantine"])
    assert kinds == Counter({("vipps", "missing_field"): 1, ("vipps", "bad_amount"): 1,
                             ("vipps", "bad_time"): 1,
                             ("vipps", "bad_currency"): 1, ("entur", "bad_amount_precision"): 1,
                             ("entur", "missing_field"): 1, ("samtrafiken", "missing_field"): 1})
    vipps = {e.get("pspReference"): e for _, e in entries(ds)}
    payments = {p["paymentId"]: p for p in ds.payments}
    entur_ext = {t.get("externalTransactionId") for p in ds.payments for t in p["transactionHistory"]}
    for q in expected["quarantine"]:
        ids = q["ids"]
        if q["source"] == "vipps":
            e = vipps[ids["pspReference"]]
            assert ids["pspReference"] not in entur_ext, "no counterpart: quarantine is harmless"
            broken = {
                "missing_field": "reference" not in e,
                "bad_amount": type(e["amounts"]["gross"]) is not int,
                "bad_time": not UTC_Z.match(e["time"]) or _unparseable(e["time"]),
                "bad_currency": e["currency"] not in ("NOK", "SEK", "DKK", "EUR"),
            }[q["reason_kind"]]
            assert broken, q
        elif q["source"] == "entur":
            p = payments[int(ids["paymentId"])]
            txn = p["transactionHistory"][0]
            assert txn["externalTransactionId"] not in vipps
            if q["reason_kind"] == "missing_field":
                assert "orderId" not in p
            else:
                assert txn["amount"] == "152.005" and txn["summary"]["capturedAmount"] == "152.005"
        else:
            [ev] = [ev for ev in ds.events if ev["bookingId"] == ids["bookingId"]]
            assert "eventId" not in ev
            assert ev["retailerReference"] not in {p.get("orderId") for p in ds.payments}


def _unparseable(text: str) -> bool:
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return True
    return False


def test_traps_are_present(sample: tuple[Dataset, dict[str, Any]]) -> None:
    ds, expected = sample
    whats = {t["what"] for t in expected["not_flagged"]}
    assert {"equal partial captures, key 1", "equal partial captures, key 2",
            "Vipps entry delivered twice", "card payment",
            "non-final Entur attempt", "booking state by eventTime", "VAT unknown on a line",
            "refunds with positive sign", "timing exactly at the window"} <= whats
    # An Entur listing holds each record once (recon counts distinct records against totalItems).
    for listing, key in ((ds.payments, "paymentId"), (ds.credits, "creditId")):
        ids = [r[key] for r in listing if key in r]
        assert len(ids) == len(set(ids))
    # The twice-delivered Vipps entry really is there twice, identical.
    [dup] = [t for t in expected["not_flagged"] if t["what"] == "Vipps entry delivered twice"]
    same = [e for e in ds.ledgers[dup["ids"]["ledgerId"]].entries
            if e.get("pspReference") == dup["ids"]["pspReference"]]
    assert len(same) == 2 and same[0] == same[1]
    # The negative timing control is exactly 3 Oslo dates apart.
    [ctl] = [t for t in expected["not_flagged"] if t["what"] == "timing exactly at the window"]
    [cap] = [e for _, e in entries(ds) if e.get("pspReference") == ctl["ids"]["pspReference"]]
    [txn] = [t for p in ds.payments for t in p["transactionHistory"]
             if str(t["transactionId"]) == ctl["ids"]["transactionId"]]
    assert (oslo_date(txn["createdAt"]) - oslo_date(cap["time"])).days == 3
    [timing] = [m for m in expected["mismatches"] if m["code"] == "TIMING_DIFFERENCE"]
    [cap] = [e for _, e in entries(ds) if e.get("pspReference") == timing["pspReference"]]
    [txn] = [t for p in ds.payments for t in p["transactionHistory"]
             if str(t["transactionId"]) == timing["entur_transaction_id"]]
    assert (oslo_date(txn["createdAt"]) - oslo_date(cap["time"])).days == 5


def test_planted_report_chains_break_only_where_planted(sample: tuple[Dataset, dict[str, Any]]) -> None:
    ds, expected = sample
    rows = {(m["ledgerId"], m["feed"]): m for m in expected["mismatches"] if m["code"] == "BALANCE_BREAK"}
    assert sorted(rows) == [("7000011", "funds"), ("7000022", "fees")]
    for lid, led in ds.ledgers.items():
        check_report_feeds(lid, led)
        check_daily_close(lid, led, every_closed_date_paid=True)
        for name, feed in (("funds", led.funds), ("fees", led.fees)):
            found = chain_breaks(feed)
            if (lid, name) not in rows:
                assert found == [], (lid, name)
                continue
            [i] = found  # exactly one breaking entry, named by the row
            row, e = rows[(lid, name)], feed[i]
            assert (e["pspReference"], e["reference"]) == (row["pspReference"], row["reference"])
            assert e["entryType"] == "capture" if name == "funds" else "capture-fee"
            if name == "funds":  # an entry is missing before it: it adds up, its predecessor does not lead to it
                assert e["balanceAfter"] == e["balanceBefore"] + e["amount"]
                assert e["balanceBefore"] != feed[i - 1]["balanceAfter"]
            else:  # it does not add up, and the next entry follows its stated balance
                assert e["balanceAfter"] != e["balanceBefore"] + e["amount"]
                assert feed[i + 1]["balanceBefore"] == e["balanceAfter"]
    # The grace trap and the NOT_SETTLED rows rely on where each funds feed ends.
    assert {lid: max(e["ledgerDate"] for e in led.funds) for lid, led in ds.ledgers.items()} == {
        "7000011": "2026-10-29", "7000022": "2026-10-27"}
    assert {lid: led.open_from for lid, led in ds.ledgers.items()} == {"7000011": "2026-10-29",
                                                                      "7000022": "2026-10-27"}


def test_planted_settlement_rows_and_traps(sample: tuple[Dataset, dict[str, Any]]) -> None:
    ds, expected = sample
    rows = expected["mismatches"]
    traps = {t["what"]: t["ids"] for t in expected["not_flagged"]}
    not_settled = [m for m in rows if m["code"] == "NOT_SETTLED"]
    [amount] = [m for m in rows if m["code"] == "SETTLEMENT_AMOUNT_MISMATCH"]
    grace = traps["unsettled within the grace"]["pspReference"]
    malformed = {q["ids"]["pspReference"] for q in expected["quarantine"] if q["source"] == "vipps"}
    check_settled(ds, skip=frozenset({m["pspReference"] for m in not_settled} | {grace} | malformed),
                  amount_differs=frozenset({amount["pspReference"]}),
                  next_date=frozenset({traps["settled after midnight"]["pspReference"]}))
    sales = {psp: (lid, e) for lid, led in ds.ledgers.items() for psp, e in sales_by_psp(led).items()}
    latest = {lid: max(date.fromisoformat(e["ledgerDate"]) for e in led.funds) for lid, led in ds.ledgers.items()}
    period = (date(2026, 10, 24), date(2026, 10, 26))

    def due(psp: str) -> int:  # days from the sale to its ledger's latest funds ledgerDate
        lid, e = sales[psp]
        assert period[0] <= oslo_date(e["time"]) <= period[1]
        return (latest[lid] - oslo_date(e["time"])).days

    assert {sales[m["pspReference"]][1]["paymentType"] for m in not_settled} == {"WALLET", "CARD"}
    for m in not_settled:
        assert sales[m["pspReference"]][0] == m["ledgerId"] and due(m["pspReference"]) >= 2
    assert sales[grace][0] == "7000022" and due(grace) < 2 and sales[grace][1]["paymentType"] == "WALLET"
    [f] = [f for f in ds.ledgers[amount["ledgerId"]].funds if f["pspReference"] == amount["pspReference"]
           and f["entryType"] == "capture"]
    assert sales[amount["pspReference"]][1]["amounts"]["gross"] - f["amount"] == 1000
    # Settled after midnight: the Sales entry seconds before local midnight, the funds entry seconds after.
    ids = traps["settled after midnight"]
    [f] = [f for f in ds.ledgers[ids["ledgerId"]].funds if f["pspReference"] == ids["pspReference"]]
    sold, settled = parse_utc(ids["time"]).astimezone(OSLO), report_time(f["time"]).astimezone(OSLO)
    assert settled.date() == sold.date() + timedelta(days=1) and (settled - sold).total_seconds() < 30
    assert period[0] <= sold.date() and settled.date() <= period[1]
    # The cash sale: no pspReference, and nothing in the funds feed for its order.
    cash = traps["cash sale without funds entry"]
    [e] = [e for e in ds.ledgers[cash["ledgerId"]].entries if e.get("reference") == cash["reference"]]
    assert e["paymentType"] == "CASH" and e["pspReference"] is None
    assert not [f for f in ds.ledgers[cash["ledgerId"]].funds if f["reference"] == cash["reference"]]
    # mPOS card sales settle; an unknown funds entry type keeps the chain (checked above) and is negative.
    card = traps["mPOS card sales settled"]
    funds_psps = {f["pspReference"] for f in ds.ledgers[card["ledgerId"]].funds if f["entryType"] == "capture"}
    assert card["pspReferences"] and set(card["pspReferences"]) <= funds_psps
    assert all(sales[p][1]["paymentType"] == "CARD" for p in card["pspReferences"])
    odd = traps["unknown funds entry type"]
    [f] = [f for f in ds.ledgers[odd["ledgerId"]].funds if f["pspReference"] == odd["pspReference"]]
    assert f["entryType"] == odd["entryType"] and f["entryType"] not in (
        "capture", "refund", "fees-retained", PAYOUT, "correction") and -1000 < f["amount"] < 0


def test_planted_epayment_rows(sample: tuple[Dataset, dict[str, Any]]) -> None:
    ds, expected = sample
    only = {f["pspReference"]: (lid, f) for lid, f in funds_only(ds)}
    rows = [m for m in expected["mismatches"] if m["pspReference"] in only]
    assert sorted(m["code"] for m in rows) == ["AMOUNT_MISMATCH", "MISSING_IN_ENTUR"]
    by_ext = {t["externalTransactionId"]: (p, t) for p, t in vipps_txns(ds)}
    orders = {p.get("orderId") for p in ds.payments}
    for m in rows:
        lid, f = only[m["pspReference"]]
        assert lid == m["ledgerId"] and f["reference"] == m["reference"] and f["entryType"] == "capture"
        assert date(2026, 10, 24) <= date.fromisoformat(f["ledgerDate"]) <= date(2026, 10, 26)
        if m["code"] == "MISSING_IN_ENTUR":
            assert f["pspReference"] not in by_ext and f["reference"] not in orders
        else:
            payment, txn = by_ext[f["pspReference"]]
            assert payment["orderId"] == f["reference"] == m["orderId"]
            assert str(txn["transactionId"]) == m["entur_transaction_id"]
            assert minor(txn["summary"]["capturedAmount"]) != f["amount"]
    # Every other ePayment capture and refund matches Entur exactly (the trap names one order).
    assert check_funds_only_in_entur(ds, exempt=frozenset(only) & {m["pspReference"] for m in rows}) > 10
    trap = next(t["ids"] for t in expected["not_flagged"] if t["what"] == "ePayment order (funds feed only)")
    assert set(trap["pspReferences"]) <= set(only)


def test_planted_settlements_answer_key(sample: tuple[Dataset, dict[str, Any]]) -> None:
    """`settlements` in expected.json, re-derived here: one row per payout, and an open row."""
    ds, expected = sample
    [brk] = [m for m in expected["mismatches"] if m.get("feed") == "funds"]
    [f] = [f for f in ds.ledgers[brk["ledgerId"]].funds if f["pspReference"] == brk["pspReference"]]
    for lid, led in ds.ledgers.items():
        mine = [r for r in expected["settlements"] if r["ledgerId"] == lid]
        payouts = [e for e in led.funds if e["entryType"] == PAYOUT]
        assert [r["payout_pspReference"] for r in mine] == [p["pspReference"] for p in payouts] + [None]
        assert [r["to"] for r in mine] == [p["ledgerDate"] for p in payouts] + [led.open_from]
        assert mine[0]["from"] == "2026-10-24" and mine[-1]["from"] == led.open_from
        assert all(r["opening"] == led.funds[0]["balanceBefore"] for r in mine)
        assert sum(sum(r["movements"].values()) + (r["payout"] or 0) for r in mine) == (
            sum(e["amount"] for e in led.funds))
        for r in mine:  # only the payout over the missing correction does not add up
            broken = lid == brk["ledgerId"] and r["from"] <= f["ledgerDate"] <= r["to"]
            assert r["adds_up"] is not broken


def test_committed_sample_data_is_the_generators_output(tmp_path: Path) -> None:
    write_sample(tmp_path)

    def files(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
                if p.is_file() and p.name != "__init__.py" and "__pycache__" not in p.parts}

    committed, fresh = files(SAMPLE_DIR), files(tmp_path)
    assert sorted(committed) == sorted(fresh), "run: python -m recon.sandbox.generate --sample sample_data"
    for name in fresh:
        assert committed[name] == fresh[name], f"{name} drifted; regenerate sample_data/"
    assert (SAMPLE_DIR / "__init__.py").exists()
    assert sum(len(b) for b in committed.values()) < 1_500_000
    loaded = Dataset.load(SAMPLE_DIR)
    assert dataset_json(loaded) == dataset_json(planted_sample()[0])


# --------------------------------------------------------------------------- lazy ledger


def test_lazy_entries_index_slice_and_len_agree() -> None:
    seq = lazy_ledger_entries(3, 5000, "7000011")
    assert len(seq) == 5000
    assert seq[10:20] == [seq[i] for i in range(10, 20)]
    assert seq[-1] == seq[4999] and seq[-5000] == seq[0]
    assert seq[::1000] == [seq[i] for i in (0, 1000, 2000, 3000, 4000)]
    assert len(seq[4990:99999]) == 10 and seq[6000:] == []
    assert list(seq[:3]) == [seq[0], seq[1], seq[2]]
    with pytest.raises(IndexError):
        seq[5000]
    with pytest.raises(IndexError):
        seq[-5001]


def test_lazy_entries_are_deterministic_and_valid() -> None:
    seq = lazy_ledger_entries(3, 5000, "7000011")
    assert lazy_ledger_entries(3, 5000, "7000011")[1234] == seq[1234]
    assert lazy_ledger_entries(4, 5000, "7000011")[1234] != seq[1234]
    assert lazy_ledger_entries(3, 5000, "7000022")[1234] != seq[1234]
    page = seq[:5000]
    for e in page[:800]:
        check_entry(e)
        assert e["entryType"] == "capture" and 1 <= len(e["lines"]) <= 3
    times = [e["time"] for e in page]
    assert times == sorted(times)
    assert {oslo_date(t) for t in times} == {date(2026, 10, 24), date(2026, 10, 25),
                                            date(2026, 10, 26)}
    assert len({e["reference"] for e in page}) == 5000
    assert len({e["pspReference"] for e in page}) == 5000
    assert all(re.fullmatch(r"[A-Z0-9]{8}", e["reference"]) for e in page)


def test_lazy_entries_serve_a_million_without_building_them() -> None:
    seq = lazy_ledger_entries(1, 1_000_000, "7000011")
    assert len(seq) == 1_000_000
    last = seq[999_999]
    check_entry(last)
    assert oslo_date(last["time"]) == date(2026, 10, 26)


def test_lazy_funds_entries_chain_and_payouts() -> None:
    seq = lazy_funds_entries(3, 5000, "7000011")
    assert len(seq) == 5000
    assert seq[10:20] == [seq[i] for i in range(10, 20)] and seq[-1] == seq[4999]
    with pytest.raises(IndexError):
        seq[5000]
    assert lazy_funds_entries(3, 5000, "7000011")[1234] == seq[1234]
    assert lazy_funds_entries(4, 5000, "7000011")[1234] != seq[1234]
    page = seq[:]
    assert chain_breaks(page) == []
    led = Ledger("7000011", funds=page, fees=[], open_from="2026-10-26")
    for e in page:
        assert set(e) == REPORT_KEYS and e["ledgerDate"] == report_time(e["time"]).astimezone(OSLO).date().isoformat()
    times = [report_time(e["time"]) for e in page]
    assert times == sorted(times)
    payouts = [(i, e) for i, e in enumerate(page) if e["entryType"] == PAYOUT]
    assert [e["ledgerDate"] for _, e in payouts] == ["2026-10-24", "2026-10-25"]
    for i, e in payouts:  # the last of its date, back to the reserve
        assert page[i + 1]["ledgerDate"] > e["ledgerDate"] and e["balanceAfter"] == page[0]["balanceBefore"]
        assert e["pspReference"].startswith("7000011-")
    assert all(e["amount"] > 0 for e in page if e["entryType"] == "capture")
    assert len({e["amount"] for e in page}) > 100, "amounts vary"
    assert led.open_from == max(e["ledgerDate"] for e in page)


def test_lazy_funds_entries_serve_a_million() -> None:
    seq = lazy_funds_entries(1, 1_000_000, "7000022")
    for i in (1, 2, 333_333, 333_334, 777_777, 999_999):
        assert seq[i]["balanceBefore"] == seq[i - 1]["balanceAfter"]
        assert seq[i]["balanceAfter"] == seq[i]["balanceBefore"] + seq[i]["amount"]
    assert seq[999_999]["ledgerDate"] == "2026-10-26"
