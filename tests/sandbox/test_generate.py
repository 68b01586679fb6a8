"""Tests of the sandbox data generator itself (no reconciliation code involved).

VAT and money are re-derived here independently (Fraction/Decimal), not with the generator's
own helpers, so a bug in those helpers cannot hide itself.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import asdict
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from recon.sandbox.dataset import Dataset
from recon.sandbox.generate import (
    SAMPLE_ORDERS,
    SAMPLE_SEED,
    fmt_minor,
    generate,
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
    "BOOKING_REFUNDED_NOT_CREDITED", "TIMING_DIFFERENCE",
}
ENTRY_KEYS = {"entryType", "time", "pspReference", "reference", "currency", "paymentType",
              "classification", "amounts", "lines", "customer", "completeness"}
LINE_KEYS = {"lineId", "name", "quantity", "unitPriceGross", "unitPriceNet", "discountTotal",
             "lineTotalGross", "lineTotalNet", "vatRate", "vatAmount", "category"}
TWO_DECIMALS = re.compile(r"^-?\d+\.\d{2}$")
UTC_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


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
    # ...and no Vipps capture in Entur lacks its Vipps entry.
    assert sorted(by_ext) == sorted(e["pspReference"] for e in captures)
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
    assert sorted(credited) == sorted(r["pspReference"] for r in refunds)


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


# --------------------------------------------------------------------------- planted_sample()


def test_planted_sample_is_deterministic(sample: tuple[Dataset, dict[str, Any]]) -> None:
    ds, expected = planted_sample()
    assert dataset_json(ds) == dataset_json(sample[0]) and expected == sample[1]


def test_planted_sample_covers_every_code(sample: tuple[Dataset, dict[str, Any]]) -> None:
    ds, expected = sample
    codes = Counter(m["code"] for m in expected["mismatches"])
    assert set(codes) == MISMATCH_CODES
    assert all(n >= 2 for code, n in codes.items() if code != "TIMING_DIFFERENCE")
    assert len(entries(ds)) >= 200 and set(ds.ledgers) == {"7000011", "7000022"}
    dates = {oslo_date(e["time"]) for _, e in entries(ds) if not _unparseable(e["time"])}
    assert {date(2026, 10, 24), date(2026, 10, 25), date(2026, 10, 26)} <= dates
    assert expected["vat_rates"] == [2500, 1500, 1200]
    rates = {l["vatRate"] for _, e in entries(ds) for l in e.get("lines", [])}
    assert {2500, 1500, 1200} <= rates
    assert expected["period"] == {"from": "2026-10-24", "to": "2026-10-26"}
    for row in expected["mismatches"]:
        assert set(row) == {"code", "ledgerId", "reference", "pspReference", "orderId",
                            "entur_transaction_id", "credit_id", "booking_id", "why"}
        assert all(v is None or isinstance(v, str) for v in row.values())


def test_planted_rows_name_real_records_each_on_its_own_order(
        sample: tuple[Dataset, dict[str, Any]]) -> None:
    ds, expected = sample
    psps = {e.get("pspReference") for _, e in entries(ds)}
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
    assert len(vat_rows) == 2 and len(vat_traps) == 2
    by_psp = {e.get("pspReference"): e for _, e in entries(ds)}
    for psp, e in by_psp.items():
        if psp not in malformed | vat_rows | vat_traps:
            check_entry(e)
    for psp in vat_rows:  # each VAT row: a line off by > 1 øre, or Σ lines ≠ amounts.vat
        e = by_psp[psp]
        off = [abs(l["vatAmount"] - Fraction(l["lineTotalGross"] * l["vatRate"],
                                             10_000 + l["vatRate"])) for l in e["lines"]]
        assert max(off) > 1 or sum(l["vatAmount"] for l in e["lines"]) != e["amounts"]["vat"]
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
