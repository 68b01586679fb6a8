"""Hand-built API records in the APIs' own shapes, for tests that need exact control."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from recon.config import load_config
from recon.money import format_minor
from recon.sandbox.dataset import Dataset, Ledger

T0 = datetime(2026, 10, 24, 8, 0, tzinfo=UTC)
OSLO = ZoneInfo("Europe/Oslo")


def iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def vipps_entry(i: int, *, ledger: str = "L1", entry_type: str = "capture", gross: int = 10000,
                rate: int = 1200, ts: datetime | None = None, psp: str | None = None,
                reference: str | None = None) -> dict:
    ts = ts or T0 + timedelta(minutes=i)
    vat = (gross * rate * 2 + (10000 + rate)) // (2 * (10000 + rate))  # half-up of gross*r/(1+r)
    return {
        "entryType": entry_type, "time": iso(ts),
        "pspReference": psp if psp is not None else f"{ledger}-psp-{i}",
        "reference": reference or f"ORD{i:05d}", "currency": "NOK", "paymentType": "WALLET",
        "classification": {"solution": "SHOPPING_BASKET", "salesCategory": None},
        "amounts": {"gross": gross, "net": gross - vat, "vat": vat},
        "lines": [{"lineId": f"{i}-1", "name": "Ticket", "quantity": 1, "unitPriceGross": gross,
                   "unitPriceNet": gross - vat, "discountTotal": 0, "lineTotalGross": gross,
                   "lineTotalNet": gross - vat, "vatRate": rate, "vatAmount": vat, "category": "TICKET"}],
        "customer": None,
        "completeness": {"hasLineItems": True, "hasVatBreakdown": True, "hasCustomerIdentity": False},
    }


def entur_payment(i: int, *, amount: int = 10000, ts: datetime | None = None, psp: str | None = None,
                  status: str = "CAPTURED", updated: datetime | None = None) -> dict:
    ts = ts or T0 + timedelta(minutes=i)
    money = format_minor(amount)
    rec = {
        "paymentId": 1000 + i, "orderId": f"ORD{i:05d}", "orderVersion": 1, "organisationId": 1,
        "totalAmount": money, "currency": "NOK", "createdAt": iso(ts),
        "transactionHistory": [{
            "transactionId": 5000 + i, "status": status, "amount": money, "currency": "NOK",
            "createdAt": iso(ts), "paymentType": "VIPPS", "paymentTypeGroup": "MOBILE",
            "externalTransactionId": psp or f"L1-psp-{i}",
            "summary": {"capturedAmount": money, "creditedAmount": "0.00", "remainingAmountToCapture": "0.00",
                        "remainingAmountToCredit": money},
        }],
    }
    if updated:
        rec["updatedAt"] = iso(updated)
    return rec


def entur_credit(i: int, *, amount: int = 10000, ts: datetime | None = None) -> dict:
    ts = ts or T0 + timedelta(minutes=i, hours=2)
    money = format_minor(amount)
    return {
        "creditId": 7000 + i, "orderId": f"ORD{i:05d}", "orderVersion": 1, "totalCreditAmount": money,
        "currency": "NOK", "status": "CREDITED", "createdAt": iso(ts),
        "creditTransactions": [{
            "transactionId": 8000 + i, "paymentTransactionId": 5000 + i, "amount": money, "currency": "NOK",
            "reimbursementMethod": "VIPPS", "reimbursementTypeGroup": "MOBILE",
            "externalTransactionId": f"L1-refund-{i}", "status": "CREDITED", "createdAt": iso(ts),
        }],
    }


def booking_event(i: int, *, status: str = "FULFILLED", ts: datetime | None = None,
                  event_id: str | None = None) -> dict:
    ts = ts or T0 + timedelta(minutes=i, seconds=30)
    return {
        "eventId": event_id or f"ev-{i}-{status}", "eventTime": iso(ts), "bookingId": f"B{i}",
        "bookingNumber": f"ABC{i:04d}D", "status": status, "organizationCode": "RET1", "producer": "74",
        "retailerReference": f"ORD{i:05d}", "currency": "NOK", "totalPrice": "100.00",
        "vat": [{"rate": "12.00", "amount": "10.71"}], "refundAmount": "100.00" if status == "REFUNDED" else None,
        "cancellationFee": None, "segments": [], "tickets": [], "passengers": [],
        "payer": {"name": "Kari Nordmann", "email": "kari@example.no"},
    }


def report_entry(entry_type: str, amount: int, balance_before: int, *, ts: datetime, psp: str | None,
                 reference: str | None = None, ledger: str = "L1", ledger_date: str | None = None) -> dict:
    """One Vipps Report API entry (funds or fees feed), its balances chained from ``balance_before``."""
    local = ts.astimezone(OSLO).date().isoformat()
    return {"pspReference": psp, "time": ts.strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
            "ledgerDate": ledger_date or local, "entryType": entry_type, "reference": reference,
            "currency": "NOK", "amount": amount, "balanceBefore": balance_before,
            "balanceAfter": balance_before + amount, "recipientHandle": f"NO:{ledger}"}


def settled(entries: Sequence[dict], *, ledger: str = "L1", opening: int = 50000,
            fee: Callable[[int], int] = lambda gross: gross // 100) -> tuple[list[dict], list[dict]]:
    """The funds and fees feeds of these Sales entries: every capture and refund with a pspReference
    settles (refunds negative), each capture costs ``fee(gross)``; both chains unbroken."""
    funds: list[dict] = []
    fees: list[dict] = []
    balance, fee_balance = opening, 0
    for e in entries:
        if not e.get("pspReference") or e["entryType"] not in ("capture", "refund"):
            continue
        gross = abs(e["amounts"]["gross"])
        ts = datetime.fromisoformat(e["time"].replace("Z", "+00:00")) + timedelta(seconds=5)
        amount = gross if e["entryType"] == "capture" else -gross
        funds.append(report_entry(e["entryType"], amount, balance, ts=ts, psp=e["pspReference"],
                                  reference=e["reference"], ledger=ledger))
        balance += amount
        if e["entryType"] == "capture":
            fees.append(report_entry("capture-fee", -fee(gross), fee_balance, ts=ts, psp=e["pspReference"],
                                     reference=e["reference"], ledger=ledger))
            fee_balance -= fee(gross)
    return funds, fees


def small_dataset(n: int = 25, ledgers: tuple[str, ...] = ("L1", "L2")) -> Dataset:
    ds = Dataset(organization_code="RET1")
    for lid in ledgers:
        entries = [vipps_entry(i, ledger=lid, reference=f"{lid}-{i}") for i in range(n)]
        funds, fees = settled(entries, ledger=lid)
        ds.ledgers[lid] = Ledger(lid, entries=entries, funds=funds, fees=fees)
    ds.payments = [entur_payment(i) for i in range(n)]
    ds.credits = [entur_credit(i) for i in range(0, n, 5)]
    ds.events = [booking_event(i) for i in range(n)]
    return ds


def embedded_config(folder: Path, *, lake: Path | None = None, data: Path | None = None, ledgers=("7000011", "7000022"),
                report: str = ""):
    """A recon.toml using the embedded sandbox (sample data, or `data`), loaded."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "recon.toml"
    path.write_text(f"""
[lake]
path = "{lake or folder / 'lake'}"
[sandbox]
embedded = true
{f'data = "{data}"' if data else ''}
[vipps]
ledgers = [{", ".join(f'"{x}"' for x in ledgers)}]
[entur]
[samtrafiken]
organization_code = "RET1"
{report}
""")
    return load_config(path)


class Gate(Sequence):
    """A feed (a ledger's entries, the booking events) whose pages from position ``at`` on are held
    back until :meth:`release`.

    The sandbox slices a feed from the requested cursor, so ``reached`` is set the moment a client
    asks for the page at ``at``: everything before it has been served, nothing from it on has. A
    pull killed while it waits there is known to be mid-pull, whatever the machine's speed.
    """

    def __init__(self, items: Sequence[dict], at: int) -> None:
        self.items, self.at = list(items), at
        self.reached, self._open = threading.Event(), threading.Event()

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice) and (index.start or 0) >= self.at and not self._open.is_set():
            self.reached.set()
            self._open.wait(timeout=60)
        return self.items[index]

    def release(self) -> None:
        self._open.set()


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    """Poll until ``condition()`` is truthy (and return it); fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
