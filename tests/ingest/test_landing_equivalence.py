"""The fast landing path lands exactly what the per-record path it replaced landed.

``reference_landing`` is the path as it was before issue 15 part 3 (canonical JSON by the stdlib
encoder, three encodes per entry, a depth walk per record, rows built per dict and converted by
``from_pylist``). Every source's pages go through both, with planted malformed records and random
mutations of valid ones, and every landed file must be identical: every column, ``_raw``, ``_hash``,
``_row_id`` and ``_parent_row_id`` included, and the quarantine table (codes, reasons, ids, raw).
"""

from __future__ import annotations

import dataclasses
import json
import random
import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from ingest import reference_landing as ref

from recon.config import SamtrafikenConfig, VippsLedger
from recon.ingest import columnar
from recon.ingest.http import decode_json
from recon.ingest.personal import PERSONAL_FIELDS, strip_personal
from recon.ingest.records import EncodedPage, Progress, land_page
from recon.ingest.sources import entur, samtrafiken, vipps, vipps_report
from recon.lake.landing import Landing, canonical_json_plain
from recon.lake.store import Lake
from recon.money import parse_minor
from recon.sandbox.generate import lazy_funds_entries, lazy_ledger_entries, planted_sample

LEDGER = VippsLedger("7000011", "Europe/Oslo")
SEK_LEDGER = VippsLedger("7000022", "Europe/Stockholm")
SAMTRAFIKEN = SamtrafikenConfig(base_url="http://x", token_url="http://x/token", client_id="c", key_env="K",
                                kid="k", organization_code="RET1")
LANDED_AT = datetime(2026, 10, 25, 3, 0, 0, 123456, tzinfo=UTC)


def _wire(records: list[Any]) -> list[Any]:
    """The records as recon gets them: encoded and decoded again (Decimal for non-integers)."""
    def mark(value: Any) -> Any:
        if isinstance(value, Decimal):
            return f"__decimal__{value}__"
        if isinstance(value, dict):
            return {k: mark(v) for k, v in value.items()}
        if isinstance(value, list):
            return [mark(v) for v in value]
        return value

    text = re.sub(r'"__decimal__([^"]*)__"', r"\1", json.dumps(mark(records)))
    return list(decode_json(text.encode("utf-8", "surrogatepass")))


# --- random mutations: each a valid record with one value replaced by something an API might send

WEIRD: list[Any] = [
    None, "", " ", 0, -1, 1, 2**62, 2**63, -(2**63) - 1, 2**70, True, False, Decimal("12.50"), Decimal("1E+2"),
    Decimal("-0.0"), Decimal("0.000001"), Decimal("1200"), Decimal("12.345"), "12.5", "1500", "-1500", " 7 ",
    "NaN", "Infinity", "nok", "NOK", "SEK", "NOKK", "capture", "CAPTURE", "refund", "chargeback",
    "2026-10-24T08:00:00Z", "2026-10-24T08:00:00.123456789Z", "2026-10-24T10:00:00+0200", "2026-10-24",
    "2026-13-45T25:00:00Z", "1969-12-31T23:59:59Z", "2026-10-24 08:00:00", "2026-10-24t08:00:00z",
    "ORD\udcff905", "line\u2028sep", "tab\tnew\nline\x7f\x00", "ø" * 3, "x" * 201, "x" * 2001, "😀", "\ud800",
    [], {}, [1, 2], {"a": 1}, {"gross": "1"}, [{"x": None}], {"2": 1, "10": 2, "b": [True]},
    {"amount": "10.71", "rate": "12.00"}, {"currency": "NOK", "amount": 10000, "scale": 2},
]


def _deep(n: int) -> Any:
    value: Any = "bottom"
    for i in range(n):
        value = [value] if i % 2 else {"k": value}
    return value


def _paths(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [at] if at else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*at, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += _paths(item, (*at, i))
    return found


def _mutate(record: Any, rng: random.Random) -> Any:
    copy = _wire([record])[0]
    paths = _paths(copy)
    if not paths or rng.random() < 0.04:
        return rng.choice([*WEIRD, _deep(70), _deep(63)])
    path = rng.choice(paths)
    parent = copy
    for step in path[:-1]:
        parent = parent[step]
    roll = rng.random()
    if roll < 0.12 and isinstance(parent, dict):
        del parent[path[-1]]
    elif roll < 0.16:
        parent[path[-1]] = _deep(rng.choice([62, 63, 64, 65, 130]))
    else:
        parent[path[-1]] = rng.choice(WEIRD)
    return copy


def _with_mutants(records: list[Any], seed: int, share: float = 0.5) -> list[Any]:
    rng = random.Random(seed)
    out: list[Any] = []
    for record in records:
        out.append(record)
        if rng.random() < share:
            out.append(_mutate(record, rng))
    return out


# --- the two paths -------------------------------------------------------------------------------

Lander = Callable[[Any, list[Any], Progress], None]


def _tables(root: Path) -> dict[str, list[dict[str, Any]]]:
    """Every landed file under the lake, by path (the run id and file numbers are the same in both)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(root.rglob("*.parquet")):
        table = pq.read_table(path, partitioning=None)
        out[str(path.relative_to(root))] = table.to_pylist()
        out[str(path.relative_to(root)) + " schema"] = [str(table.schema)]
    return out


def _land_both(tmp_path: Path, source: str, pages: list[list[Any]], new: Lander, old: Lander) -> dict[str, Any]:
    got: dict[str, Any] = {}
    progress: dict[str, Progress] = {}
    for name, lander, landing_cls in (("new", new, Landing), ("old", old, ref.Landing)):
        lake = Lake(tmp_path / name)
        lake.ensure()
        landing = landing_cls(lake, "run-1", source)
        landing.landed_at = LANDED_AT
        progress[name] = Progress()
        for page in pages:
            # Each path gets its own copy: a normaliser must not depend on what the other did.
            lander(landing, _wire(page), progress[name])
            if landing.pending >= 150:
                landing.checkpoint()
        landing.checkpoint()
        got[name] = _tables(lake.root)
        assert dict(landing.landed) or dict(landing.quarantined)
    new_tables, old_tables = got["new"], got["old"]
    assert sorted(new_tables) == sorted(old_tables)
    for key in old_tables:
        assert new_tables[key] == old_tables[key], key
    for attr in ("pages", "records", "quarantined", "unknown"):
        assert getattr(progress["new"], attr) == getattr(progress["old"], attr), attr
    assert progress["old"].quarantined > 0
    return old_tables


def _pages(records: list[Any], size: int) -> list[list[Any]]:
    return [records[i:i + size] for i in range(0, len(records), size)]


@pytest.fixture(scope="module")
def sample() -> Any:
    return planted_sample()[0]


def _one_mutant_per_page(records: list[Any], seed: int, pages: int, size: int = 12) -> list[list[Any]]:
    """Pages of plain records with one mutant each: the column-wise path must either take the page
    and land it as the per-record path would, or leave it to the per-record path."""
    rng = random.Random(seed)
    out = []
    for _ in range(pages):
        page = [records[rng.randrange(len(records))] for _ in range(size)]
        page[rng.randrange(size)] = _mutate(page[rng.randrange(size)], rng)
        out.append(page)
    return out


class Taken:
    """Counts the pages a column-wise lander took, so a test knows that path ran, and keeps which."""

    def __init__(self, lander: Callable[..., Any]) -> None:
        self.lander, self.taken, self.declined = lander, 0, 0
        self.pages: set[tuple[bytes, ...]] = set()  # the canonical JSON of each page taken

    def __call__(self, landing: Any, page: EncodedPage, *args: Any, **kwargs: Any) -> Any:
        took = self.lander(landing, page, *args, **kwargs)
        landed = took if isinstance(took, bool) else took is not None  # Entur's landers return a column
        self.taken += landed
        self.declined += not landed
        if landed:
            self.pages.add(tuple(page.identities))
        return took

    def took(self, page: list[Any], personal: tuple[str, ...]) -> bool:
        return tuple(canonical_json_plain(strip_personal(record, personal)) for record in _wire(page)) in self.pages


@pytest.mark.parametrize("keep_personal", [False, True])
@pytest.mark.parametrize("seed", [1, 2])
def test_vipps_sales_entries(tmp_path: Path, sample: Any, seed: int, keep_personal: bool) -> None:
    plain = list(lazy_ledger_entries(seed, 300, LEDGER.ledger_id))
    for i, rec in enumerate(plain[::3]):
        rec = dict(rec)
        rec["entryType"] = "refund"
        rec["amounts"] = {"gross": -abs(rec["amounts"]["gross"]) if i % 2 else rec["amounts"]["gross"], "net": None,
                          "vat": 0}
        rec["lines"] = [dict(line, lineId="", name="Smørbrød ☕", vatRate=12, quantity=None) for line in rec["lines"]]
        plain.append(rec)
    for rec in plain[::7]:
        rec = dict(rec)
        rec["customer"] = {"name": "Kari Nordmann", "email": "kari@example.no", "phone": None}
        plain.append(rec)
    planted = list(sample.ledgers[LEDGER.ledger_id].entries)
    records = _with_mutants([*planted, *plain], seed)
    pages = [*_pages(plain, 50), *_pages(records, 97), *_one_mutant_per_page(plain, seed, 60)]
    taken = Taken(vipps.land_sales_page)

    def new(landing: Any, items: list[Any], progress: Progress) -> None:
        land_page(landing, items, lambda rec, raw: vipps.normalise_entry(rec, raw, LEDGER), kind="sales_entry",
                  id_keys=("pspReference", "reference"), context="ledger feed", progress=progress,
                  personal=PERSONAL_FIELDS["vipps"], keep_personal=keep_personal,
                  columnar=partial(taken, ledger=LEDGER))

    def old(landing: Any, items: list[Any], progress: Progress) -> None:
        ref.land_page(landing, items, lambda rec, raw: ref.normalise_entry(rec, raw, LEDGER), kind="sales_entry",
                      id_keys=("pspReference", "reference"), context="ledger feed", progress=progress,
                      personal=PERSONAL_FIELDS["vipps"], keep_personal=keep_personal)

    _land_both(tmp_path, "vipps", pages, new, old)
    assert taken.taken >= 10 and taken.declined >= 10, (taken.taken, taken.declined)


def test_vipps_pages_where_no_entry_has_lines(tmp_path: Path) -> None:
    """A page of entries without lines has no line values to check: the column-wise path takes it
    (it once declined it, as if an empty column had failed), and lands what the per-record path lands."""
    bare = []
    for rec in lazy_ledger_entries(3, 120, LEDGER.ledger_id):
        rec = dict(rec, lines=[], completeness=dict(rec["completeness"], hasLineItems=False))
        bare.append(rec)
    mixed = _with_mutants(bare[:40], 3)  # something for the per-record path to quarantine
    pages = [*_pages(bare, 40), mixed]
    taken = Taken(vipps.land_sales_page)

    def new(landing: Any, items: list[Any], progress: Progress) -> None:
        land_page(landing, items, lambda rec, raw: vipps.normalise_entry(rec, raw, LEDGER), kind="sales_entry",
                  id_keys=("pspReference", "reference"), context="ledger feed", progress=progress,
                  personal=PERSONAL_FIELDS["vipps"], columnar=partial(taken, ledger=LEDGER))

    def old(landing: Any, items: list[Any], progress: Progress) -> None:
        ref.land_page(landing, items, lambda rec, raw: ref.normalise_entry(rec, raw, LEDGER), kind="sales_entry",
                      id_keys=("pspReference", "reference"), context="ledger feed", progress=progress,
                      personal=PERSONAL_FIELDS["vipps"])

    tables = _land_both(tmp_path, "vipps", pages, new, old)
    assert all(taken.took(page, PERSONAL_FIELDS["vipps"]) for page in pages[:3])
    assert not any("vipps_sales_lines" in name for name in tables)


@pytest.mark.parametrize("topic", ["funds", "fees"])
@pytest.mark.parametrize("keep_personal", [False, True])
def test_vipps_report_entries(tmp_path: Path, sample: Any, topic: str, keep_personal: bool) -> None:
    ledger = sample.ledgers[SEK_LEDGER.ledger_id]
    sent = list(ledger.funds if topic == "funds" else ledger.fees)
    plain = list(lazy_funds_entries(3, 150, SEK_LEDGER.ledger_id)) if topic == "funds" else []
    plain += [dict(rec, time=rec["time"][:19] + "Z", ledgerDate=None) for rec in sent[::4]]
    plain += [dict(rec, pspReference="", reference="", entryType=rec["entryType"].upper()) for rec in sent[1::4]]
    for rec in sent[::5]:
        rec = dict(rec)
        rec.update(message="Takk for turen", name="Kari Nordmann", maskedPhoneNo="xxxx1234")
        plain.append(rec)
    records = _with_mutants([*sent, *plain], 7)
    pages = [*_pages(sent, 40), *_pages(plain, 30), *_pages(records, 89), *_one_mutant_per_page(plain, 5, 60)]
    taken = Taken(vipps_report.land_report_page)

    def lander(module: Any, land: Callable[..., Any], page_lander: Any) -> Lander:
        seq = [0]

        def go(landing: Any, items: list[Any], progress: Progress) -> None:
            positions = [module.Position(feed_seq=seq[0] + i, cursor=f"c{seq[0]}") for i in range(len(items))]
            where = iter(positions)
            seq[0] += len(items)
            extra = {} if page_lander is None else {
                "columnar": partial(page_lander, ledger=SEK_LEDGER, topic=topic, positions=positions)}
            land(landing, items,
                 lambda rec, raw: module.normalise_report_entry(rec, raw, SEK_LEDGER, topic, next(where)),
                 kind=f"{topic}_entry", id_keys=("pspReference", "reference"), context=f"{topic} feed",
                 progress=progress, personal=PERSONAL_FIELDS["vipps_report"], keep_personal=keep_personal, **extra)
        return go

    _land_both(tmp_path, "vipps_report", pages, lander(vipps_report, land_page, taken),
               lander(ref, ref.land_page, None))
    assert taken.taken >= 5 and taken.declined >= 10, (taken.taken, taken.declined)


# --- Entur and Samtrafiken: whole pages of one variant each (the column-wise path types a field
# by a page's first value, so a page that mixes numbers and text goes the per-record way) ----------

def _normalises(norm: Callable[[Any, str], Any], record: Any) -> bool:
    try:
        norm(_wire([record])[0], "")
    except ValueError:
        return False
    return True


def _each(record: Any, *paths: str) -> list[dict[str, Any]]:
    """The objects at each dotted path of ``record`` (a list on the way means each of its items)."""
    found = []
    for path in paths:
        objects = [record]
        for step in path.split(".") if path else ():
            parts = [obj.get(step) for obj in objects]
            objects = [item for part in parts for item in (part if isinstance(part, list) else [part])
                       if isinstance(item, dict)]
        found += objects
    return found


def _setting(value: Callable[[Any, int], Any], keys: tuple[str, ...], *paths: str) -> Callable[[Any, int], Any]:
    """A variant: ``keys`` of every object at ``paths`` set to ``value(old, i)`` (``_DROP``: removed)."""
    def variant(record: Any, i: int) -> Any:
        record = _wire([record])[0]
        for obj in _each(record, *paths):
            for key in keys:
                if key in obj:
                    new = value(obj[key], i)
                    if new is _DROP:
                        del obj[key]
                    else:
                        obj[key] = new
        return record
    return variant


_DROP = object()
_TIMES = ["2026-10-24T08:00:00.1Z", "2026-10-24T08:00:00.123456789Z", "2026-10-24T21:59:59.999999Z",
          "2026-10-24T22:00:00Z", "2026-10-25T00:59:59Z", "2026-10-25T01:00:00.000001Z", "2026-03-28T22:59:59Z",
          "2026-03-28T23:00:00Z", "2026-03-29T00:59:59.999999Z", "2026-03-29T01:00:00Z", "1970-01-02T00:00:00Z",
          "2199-12-31T23:59:59Z"]  # fractions, Oslo's midnight in summer and winter, both switches of the clock
_DECIMALS = ["+5", "007.50", "12.34000", "-0.00", "0", "-12.5", "1.00000", "9999999999999999.99"]


def _as_number(value: Any, i: int) -> Any:
    """A decimal amount sent as a JSON integer (whole major units), where it is whole."""
    return int(Decimal(value)) if isinstance(value, str) and Decimal(value) == int(Decimal(value)) else 100 + i


_undated = _setting(lambda v, i: _DROP, ("createdAt",), "", "creditTransactions")


def _method(record: Any, i: int) -> Any:
    """A credit transaction's method absent, null or empty (then its paymentType counts), or as sent."""
    if i % 5:
        record = _setting(lambda v, j: _DROP, ("reimbursementTypeGroup",), "creditTransactions")(record, i)
    else:
        record = dict(record, creditTransactions=[dict(tx, paymentType="visa")
                                                  for tx in record.get("creditTransactions") or []])
    return _setting(lambda v, j: (None, "", _DROP, v)[i % 4], ("reimbursementMethod",), "creditTransactions")(record, i)


ENTUR_VARIANTS: dict[str, Callable[[Any, int], Any]] = {
    "as sent": lambda record, i: record,
    "ids as text": _setting(lambda v, i: str(v), ("paymentId", "creditId", "transactionId", "paymentTransactionId",
                                                  "organisationId"), "", "transactionHistory", "creditTransactions"),
    "amounts as numbers": _setting(_as_number, ("totalAmount", "totalCreditAmount", "amount", "capturedAmount",
                                                "creditedAmount", "remainingAmountToCapture",
                                                "remainingAmountToCredit"),
                                   "", "transactionHistory", "transactionHistory.summary", "creditTransactions"),
    "odd decimals": _setting(lambda v, i: _DECIMALS[i % len(_DECIMALS)], ("totalAmount", "totalCreditAmount", "amount",
                                                                          "creditedAmount"),
                             "", "transactionHistory", "transactionHistory.summary", "creditTransactions"),
    "empty amounts": _setting(lambda v, i: "", ("totalAmount", "totalCreditAmount", "creditedAmount",
                                                "remainingAmountToCredit"), "", "transactionHistory.summary"),
    "lower case": _setting(lambda v, i: v.lower() if isinstance(v, str) else v,
                           ("status", "paymentType", "paymentTypeGroup", "reimbursementMethod",
                            "reimbursementTypeGroup"), "", "transactionHistory", "creditTransactions"),
    "times": _setting(lambda v, i: _TIMES[i % len(_TIMES)], ("createdAt", "updatedAt"), "", "transactionHistory",
                      "creditTransactions"),
    "optional fields absent": _setting(lambda v, i: _DROP, ("updatedAt", "organisationId", "active", "currency",
                                                            "summary", "externalTransactionId", "paymentType",
                                                            "reimbursementTypeGroup", "status", "orderVersion"),
                                       "", "creditTransactions"),
    "no summary": _setting(lambda v, i: _DROP if i % 2 else None, ("summary", "createdAt", "currency", "cardNumber"),
                           "transactionHistory"),
    "nulls and empty ids": _setting(lambda v, i: "" if i % 2 else None, ("rrn", "settlementId", "organisationId",
                                                                         "externalTransactionId", "customerNumber",
                                                                         "paymentTransactionId", "updatedAt"),
                                    "", "transactionHistory", "creditTransactions"),
    "credits dated by a transaction": _setting(lambda v, i: _DROP, ("createdAt",), ""),
    "credits dated by updatedAt": lambda record, i: _undated(dict(record, updatedAt=_TIMES[i % len(_TIMES)]), i),
    "credit method from paymentType": lambda record, i: _method(record, i),
    "empty texts": _setting(lambda v, i: "", ("paymentType", "paymentTypeGroup", "reimbursementTypeGroup",
                                              "reimbursementMethod", "cardNumber"), "transactionHistory",
                            "creditTransactions"),
    "empty credit status": _setting(lambda v, i: ("", None)[i % 2], ("status",), ""),
    "transactions": lambda record, i: {("transactions" if k == "transactionHistory" else k): v
                                       for k, v in record.items()},
    "no transactions": _setting(lambda v, i: (None, [], _DROP)[i % 3], ("transactionHistory", "creditTransactions"),
                                ""),
    "customer numbers": lambda record, i: dict(record, customerNumber=f"KUNDE-{i}" if i % 3 else None),
    "customer numbers as numbers": lambda record, i: dict(record, customerNumber=4_000_000 + i),
}


def _one_set(records: list[Any], cases: list[tuple[str, Any]], size: int = 10) -> list[list[Any]]:
    """A page of valid records per case ``(path, value)``: one record with the dotted ``path``
    (a number steps into a list) set to ``value`` (``_DROP``: removed). Most make it invalid."""
    out = []
    for n, (path, value) in enumerate(cases):
        page = _wire(records[n % len(records):][:size])
        target: Any = page[n % len(page)]
        *steps, last = [int(step) if step.isdigit() else step for step in path.split(".")]
        for step in steps:
            target = target[step]
        if value is _DROP:
            del target[last]
        else:
            target[last] = value
        out.append(page)
    return out


_ENTUR_BAD: list[tuple[str, Any]] = [
    ("orderVersion", "1"), ("orderVersion", True), ("orderVersion", 2**63), ("orderVersion", -(2**63)),
    ("orderVersion", -(2**63) + 1), ("currency", "nok"), ("currency", ""), ("currency", 578), ("active", "true"),
    ("active", 1), ("organisationId", True), ("organisationId", "x" * 201), ("organisationId", "ø" * 200),
    ("orderId", None), ("orderId", ""), ("orderId", _DROP), ("orderId", 2**70), ("updatedAt", "garbage"),
    ("updatedAt", "2026-10-24t08:00:00z"), ("updatedAt", "2026-10-24T10:00:00+0200"), ("createdAt", "2026-10-24"),
    ("createdAt", "1969-12-31T23:59:59Z"), ("createdAt", "2026-02-30T00:00:00Z"), ("createdAt", "2026-10-24 08:00:00"),
    ("createdAt", "2026-10-24T25:00:00Z"), ("createdAt", "2026-10-24T10:00:00+02:00"), ("createdAt", 20261024),
    ("customerNumber", True),
]
ENTUR_PAYMENT_BAD = [
    *_ENTUR_BAD, ("paymentId", None), ("paymentId", _DROP), ("paymentId", ""), ("paymentId", True),
    ("paymentId", "x" * 201), ("paymentId", 2**70), ("createdAt", None), ("createdAt", ""), ("totalAmount", "152.005"),
    ("totalAmount", "1e2"), ("totalAmount", " 7 "), ("totalAmount", "NaN"), ("totalAmount", "12."),
    ("totalAmount", ".5"), ("totalAmount", "99999999999999999.00"), ("totalAmount", 2**62), ("totalAmount", True),
    ("transactionHistory", "abc"), ("transactionHistory", {}), ("transactionHistory", [1]),
    ("transactionHistory.0.transactionId", None), ("transactionHistory.0.transactionId", ""),
    ("transactionHistory.0.status", None), ("transactionHistory.0.status", ""),
    ("transactionHistory.0.status", "x" * 101),
    ("transactionHistory.0.status", "ß"), ("transactionHistory.0.status", 7), ("transactionHistory.0.amount", ""),
    ("transactionHistory.0.summary", []), ("transactionHistory.0.summary", "x"), ("transactionHistory.0.summary", {}),
    ("transactionHistory.0.summary.capturedAmount", "1.001"), ("transactionHistory.0.currency", "XXX"),
    ("transactionHistory.0.currency", None), ("transactionHistory.0.cardNumber", "x" * 65),
    ("transactionHistory.0.cardNumber", 1234), ("transactionHistory.0.createdAt", "bad"),
    ("transactionHistory.0.createdAt", ""), ("transactionHistory.0.paymentType", 5),
    ("transactionHistory.0.paymentType", "visa\u00e9"), ("transactionHistory.0.rrn", ["1"]),
    ("transactions", []),
]
ENTUR_CREDIT_BAD = [
    *_ENTUR_BAD, ("creditId", None), ("creditId", ""), ("creditId", True), ("status", "ß"), ("status", "x" * 101),
    ("status", 3), ("totalCreditAmount", "1.001"), ("totalCreditAmount", ""), ("createdAt", None),
    ("creditTransactions", "x"), ("creditTransactions", {}), ("creditTransactions", [None]), ("creditTransactions", ""),
    ("creditTransactions.0.amount", None), ("creditTransactions.0.amount", ""), ("creditTransactions.0.amount", "1,5"),
    ("creditTransactions.0.transactionId", None), ("creditTransactions.0.reimbursementMethod", 5),
    ("creditTransactions.0.reimbursementMethod", "ß"), ("creditTransactions.0.paymentTransactionId", True),
    ("creditTransactions.0.createdAt", "2026-10-24T08:00:00.123+00:00"), ("creditTransactions.0.currency", "kr"),
]
SAMTRAFIKEN_BAD = [
    ("eventId", None), ("eventId", ""), ("eventId", True), ("eventId", "x" * 201), ("eventTime", None),
    ("eventTime", "soon"), ("eventTime", "2026-10-24T08:00:00.1234567890Z"), ("bookingId", None), ("bookingId", _DROP),
    ("bookingNumber", ""), ("status", None), ("status", ""), ("status", "PENDING"), ("status", "x" * 51),
    ("status", "fulfilleß"), ("status", 1), ("totalPrice", "1.005"), ("totalPrice", {"amount": 34900, "scale": 2}),
    ("totalPrice", True), ("totalPrice", "-"), ("refundAmount", "1e3"), ("cancellationFee", 2**62),
    ("currency", None), ("currency", "nok"), ("currency", ""), ("currency", 752), ("vat", "x"), ("vat", [1]),
    ("vat", {}), ("vat", [{"percentage": "12.00", "amount": "1.00"}]), ("vat", [{"rate": "12.345"}]),
    ("vat", [{"rate": True}]), ("vat", [{"rate": "12", "amount": "1.005"}]), ("vat", [{"rate": "-1"}]),
    ("vat", [{"rate": "100.5"}]), ("vat", [{"rate": 10_001}]), ("vat", [{"rate": "1e1"}]),
    ("vat", [{"rate": "12", "amount": {"amount": 1, "scale": 2}}]), ("retailerReference", "x" * 201),
    ("retailerReference", None), ("producer", True), ("organizationCode", [1]),
]


def _variant_pages(records: list[Any], variants: dict[str, Callable[[Any, int], Any]],
                   norm: Callable[[Any, str], Any], size: int = 25) -> tuple[list[list[Any]], dict[str, list[Any]]]:
    """Pages of each variant, and by variant the pages valid throughout: the column-wise path must
    take every one of those."""
    pages, valid = [], {}
    for name, variant in variants.items():
        for page in _pages(records, size)[:3]:
            pages.append([variant(record, i) for i, record in enumerate(page)])
            if all(_normalises(norm, record) for record in pages[-1]):
                valid.setdefault(name, []).append(pages[-1])
    return pages, valid


def _took_all(taken: Taken, valid: dict[str, list[Any]], personal: tuple[str, ...], least: int) -> None:
    missed = [name for name, pages in valid.items() for page in pages if not taken.took(page, personal)]
    assert not missed, f"valid pages the column-wise path declined: {missed}"
    assert sum(map(len, valid.values())) >= least and taken.declined >= 10, (valid.keys(), taken.declined)


@pytest.mark.parametrize("keep_personal", [False, True])
@pytest.mark.parametrize("what", ["payments", "credits"])
def test_entur(tmp_path: Path, sample: Any, what: str, keep_personal: bool) -> None:
    records = list(sample.payments if what == "payments" else sample.credits)
    for rec in records[::6]:
        rec = dict(rec)
        rec["customerNumber"] = 123456
        records.append(rec)
    old_norm = ref.normalise_payment if what == "payments" else ref.normalise_credit

    def oracle(rec: Any, raw: str) -> Any:
        return old_norm(rec, raw, "Europe/Oslo")

    plain = [rec for rec in records if _normalises(oracle, rec)]
    variant_pages, valid = _variant_pages(plain, ENTUR_VARIANTS, oracle)
    bad = _one_set(plain, ENTUR_PAYMENT_BAD if what == "payments" else ENTUR_CREDIT_BAD)
    pages = [*_pages(_with_mutants(records, 11, share=1.0), 50), *variant_pages, *bad,
             *_one_mutant_per_page(plain, 11, 40)]
    new_norm = entur.normalise_payment if what == "payments" else entur.normalise_credit
    taken = Taken(entur.land_payment_page if what == "payments" else entur.land_credit_page)
    keys = ("paymentId", "orderId") if what == "payments" else ("creditId", "orderId")
    started = datetime(2026, 10, 25, 12, tzinfo=UTC)  # some records are later: their time counts as this
    tracked = entur.Tracked(new_norm, taken, "Europe/Oslo", None, started)

    def lander(norm: Any, land: Callable[..., Any], columns: Any) -> Lander:
        def go(landing: Any, items: list[Any], progress: Progress) -> None:
            extra = {} if columns is None else {"columnar": columns}
            land(landing, items, norm, kind=what[:-1], id_keys=keys, context=f"{what} page 1", progress=progress,
                 personal=PERSONAL_FIELDS["entur"], keep_personal=keep_personal, **extra)
        return go

    old = _land_both(tmp_path, "entur", pages, lander(tracked.normalise, land_page, tracked.land_columns),
                     lander(oracle, ref.land_page, None))
    _took_all(taken, valid, PERSONAL_FIELDS["entur"], 30 if what == "payments" else 25)
    # The watermark both ways: the newest updatedAt (else createdAt) of the versions landed, capped.
    table = f"entur_{what}"
    seen = [row["updated_at"] or row["created_at"] for key, rows in old.items() if key.startswith(f"raw/{table}/")
            and not key.endswith(" schema") for row in rows]
    assert tracked.newest == min(max(t for t in seen if t is not None), started)


def test_entur_watermark_moves_on_the_columnar_path(tmp_path: Path, sample: Any) -> None:
    """A listing landed only column-wise still moves the watermark, to its newest record."""
    plain = [rec for rec in sample.payments if _normalises(lambda r, raw: ref.normalise_payment(r, raw, "Europe/Oslo"),
                                                           rec)]
    lake = Lake(tmp_path)
    lake.ensure()
    landing = Landing(lake, "run-1", "entur")
    taken = Taken(entur.land_payment_page)
    tracked = entur.Tracked(entur.normalise_payment, taken, "Europe/Oslo", None, datetime.now(UTC))
    for page in _pages(plain[:100], 25):
        land_page(landing, _wire(page), tracked.normalise, kind="payment", id_keys=("paymentId",), context="p",
                  personal=PERSONAL_FIELDS["entur"], columnar=tracked.land_columns)
    assert taken.taken == 4 and taken.declined == 0
    newest = max(ref.normalise_payment(r, "", "Europe/Oslo").row["updated_at"] or
                 ref.normalise_payment(r, "", "Europe/Oslo").row["created_at"] for r in _wire(plain[:100]))
    assert tracked.newest == newest and tracked.newest.tzinfo is UTC


SAMTRAFIKEN_VARIANTS: dict[str, Callable[[Any, int], Any]] = {
    "as sent": lambda record, i: record,
    "lower case": _setting(lambda v, i: v.lower() if i % 2 else v.title(), ("status",), ""),
    "prices as numbers": _setting(_as_number, ("totalPrice", "refundAmount", "cancellationFee", "amount"), "", "vat"),
    "rates as numbers": _setting(lambda v, i: (12, 1200, 0, 100, 25, 10_000)[i % 6], ("rate",), "vat"),
    "odd rates": _setting(lambda v, i: ("6", "12.5", "100", "150", "1200.00", "0.01", None)[i % 7], ("rate",), "vat"),
    "odd decimals": _setting(lambda v, i: _DECIMALS[i % len(_DECIMALS)], ("totalPrice", "refundAmount", "amount"),
                             "", "vat"),
    "empty prices": _setting(lambda v, i: "" if i % 2 else None, ("totalPrice", "refundAmount", "cancellationFee",
                                                                  "amount"), "", "vat"),
    "no prices, currency maybe": _setting(lambda v, i: _DROP if i % 3 else "", ("totalPrice", "refundAmount",
                                                                                "cancellationFee", "currency"), ""),
    "vat absent or empty": _setting(lambda v, i: (None, [], _DROP)[i % 3], ("vat",), ""),
    "several vat rates": lambda record, i: dict(record, vat=[{"rate": "12.00", "amount": "10.71"},
                                                             {"rate": "25.00", "amount": None}, {"rate": None}]),
    "optional fields absent": _setting(lambda v, i: _DROP, ("bookingNumber", "organizationCode", "producer",
                                                            "retailerReference"), ""),
    "external reference": lambda record, i: {("externalReference" if k == "retailerReference" else k): v
                                             for k, v in record.items()},
    "both references": lambda record, i: dict(record, externalReference=f"X{i}",
                                              retailerReference=(None, "", f"R{i}")[i % 3]),
    "ids as numbers": _setting(lambda v, i: 7_000_000 + i, ("eventId", "producer", "bookingNumber"), ""),
    "times": _setting(lambda v, i: _TIMES[i % len(_TIMES)], ("eventTime",), ""),
    "no payer": _setting(lambda v, i: (None, _DROP)[i % 2], ("payer",), ""),
}


@pytest.mark.parametrize(("keep_personal", "reference_field", "tz"), [
    (True, "retailerReference", "Europe/Oslo"), (False, "retailerReference", "Europe/Stockholm"),
    (False, "externalReference", "Europe/Oslo"),
])
def test_samtrafiken(tmp_path: Path, sample: Any, keep_personal: bool, reference_field: str, tz: str) -> None:
    cfg = dataclasses.replace(SAMTRAFIKEN, retailer_reference_field=reference_field, timezone=tz)
    events = list(sample.events)

    def oracle(rec: Any, raw: str) -> Any:
        return ref.normalise_event(rec, raw, cfg, 1)

    plain = [rec for rec in events if _normalises(oracle, rec)]
    variant_pages, valid = _variant_pages(plain, SAMTRAFIKEN_VARIANTS, oracle)
    pages = [*_pages(_with_mutants(events, 13, share=1.0), 40), *variant_pages, *_one_set(plain, SAMTRAFIKEN_BAD),
             *_one_mutant_per_page(plain, 13, 40)]
    feed = samtrafiken.Feed(cfg, 41)
    taken = Taken(feed.land_columns)
    seq = [41]

    def old_normalise(rec: Any, raw: str) -> Any:
        seq[0] += 1
        return ref.normalise_event(rec, raw, cfg, seq[0])

    def lander(normalise: Any, land: Callable[..., Any], columns: Any) -> Lander:
        def go(landing: Any, items: list[Any], progress: Progress) -> None:
            extra = {} if columns is None else {"columnar": columns}
            land(landing, items, normalise, kind="booking_event", id_keys=("eventId", "bookingId"),
                 context="organization RET1", progress=progress, personal=PERSONAL_FIELDS["samtrafiken"],
                 keep_personal=keep_personal, **extra)
        return go

    _land_both(tmp_path, "samtrafiken", pages, lander(feed.normalise, land_page, taken),
               lander(old_normalise, ref.land_page, None))
    _took_all(taken, valid, PERSONAL_FIELDS["samtrafiken"], 40)
    assert feed.seq == seq[0]  # the next pull numbers on from the same place


def test_ledger_list(tmp_path: Path) -> None:
    listed = datetime(2026, 10, 25, tzinfo=UTC).date()
    records = [{"ledgerId": f"70000{i}", "currency": "NOK", "payoutBankAccount": {"scheme": "BBAN:NO", "id": "1"},
                "owner": {"scheme": "business:NO:ORG", "id": "9"}, "settlesForRecipientHandles": [f"NO:{i}"],
                "salesUnits": [{"msn": i}]} for i in range(30)]
    records = _with_mutants(records, 17, share=1.0)

    def lander(land: Callable[..., Any]) -> Lander:
        def go(landing: Any, items: list[Any], progress: Progress) -> None:
            land(landing, items, lambda rec, raw: vipps.normalise_ledger(rec, raw, listed), kind="ledger",
                 id_keys=("ledgerId",), context="ledger list", progress=progress)
        return go

    _land_both(tmp_path, "vipps_report", _pages(records, 25), lander(land_page), lander(ref.land_page))


def test_a_whole_page_too_deep_for_the_stack(tmp_path: Path) -> None:
    """Records nested beyond the decoder's depth carry TooDeep markers; both paths quarantine them alike."""
    good = list(lazy_ledger_entries(5, 20, LEDGER.ledger_id))
    deep = "{\"k\":[" * 800 + "1" + "]}" * 800
    body = "[" + ",".join([*(json.dumps(r) for r in good[:10]), deep, *(json.dumps(r) for r in good[10:])]) + "]"
    page = decode_json(body.encode())

    def run(land: Callable[..., Any], norm: Any, landing: Any, progress: Progress) -> None:
        land(landing, page, lambda rec, raw: norm(rec, raw, LEDGER), kind="sales_entry",
             id_keys=("pspReference",), context="deep", progress=progress, personal=PERSONAL_FIELDS["vipps"])

    def new(landing: Any, items: list[Any], progress: Progress) -> None:
        run(land_page, vipps.normalise_entry, landing, progress)

    def old(landing: Any, items: list[Any], progress: Progress) -> None:
        run(ref.land_page, ref.normalise_entry, landing, progress)

    _land_both(tmp_path, "vipps", [[]], new, old)



# --- the column helpers the Entur and Samtrafiken pages use, value by value against the frozen checks

def _outcome(check: Callable[[Any], Any], value: Any) -> Any:
    try:
        return check(value)
    except ValueError:  # BadValue, MoneyError
        return "refused"


_AMOUNTS: list[Any] = [
    "152.00", "-0.00", "+5", "007.50", "-12.34", "12.34000", "1.5", "0", "-0", "9999999999999999.99",
    "99999999999999999.00", "152.005", "1e2", " 7", "7 ", "", "-", "+", ".5", "5.", "1,5", "NaN", "١٢", "12.5.0",
    None, 0, 7, -7, 2**62, 2**61 // 25, -(2**61) // 25,
]
_RATES: list[Any] = ["12.00", "6", "25.5", "0", "-0", "100", "100.00", "100.01", "150", "150.0", "150.5", "1200",
                     "10000", "10001", "-1", "12.345", "12.340", "", "x", None, 0, 12, 100, 101, 1200, 10_000, 10_001,
                     -1]
_STAMPS: list[Any] = [*_TIMES, "2026-10-24T08:00:00Z", "2026-10-24T08:00:00.000000001Z", "2026-02-29T00:00:00Z",
                      "2028-02-29T00:00:00Z", "2026-10-24T24:00:00Z", "2026-10-24T23:59:60Z", "1969-12-31T23:59:59Z",
                      "2200-12-31T23:59:59Z", "2201-01-01T00:00:00Z", "0000-01-01T00:00:00Z", "2026-10-24T08:00Z",
                      "2026-10-24T08:00:00.Z", "2026-10-24T08:00:00.1234567890Z", "2026-10-24t08:00:00Z",
                      "2026-10-24T08:00:00z", "2026-10-24T08:00:00+00:00", " 2026-10-24T08:00:00Z", "", None]
_IDS: list[Any] = ["A1", "", "ø" * 200, "ø" * 201, "x" * 200, "x" * 201, None, 0, -3, 2**62]


def _typed(values: list[Any]) -> pa.Array:
    kinds = columnar.first_kinds([{"v": value} for value in values], ["v"])
    assert kinds is not None
    return pa.array(values, kinds["v"])


@pytest.mark.parametrize(("helper", "check", "values", "taken"), [
    (partial(columnar.minor_units, empty_is_none=True), lambda v: None if v in (None, "") else parse_minor(v),
     _AMOUNTS, 18),
    (columnar.rate_bp, ref.vat_rate_bp, _RATES, 21),
    (partial(columnar.iso_utc_times, required=False), lambda v: ref.timestamp(v, "t", required=False), _STAMPS, 20),
    (columnar.iso_utc_times, lambda v: ref.timestamp(v, "t"), _STAMPS, 16),
    (columnar.idents, lambda v: ref.ident(v, "id", required=False), _IDS, 10),
    (partial(columnar.idents, required=True), lambda v: ref.ident(v, "id"), _IDS, 6),
    (partial(columnar.ascii_upper, max_len=5), lambda v: None if v is None else ref.text(v, "t", max_len=5).upper(),
     ["visa", "VISA", "Visa", "", "ß", "é", "x" * 5, "x" * 6, None], 8),
])
def test_column_helpers_agree_with_the_per_record_checks(helper: Any, check: Any, values: list[Any],
                                                         taken: int) -> None:
    """Each helper, on each value (alone, and beside one of the other kind of the same type), gives
    what the per-record check gives, or declines; and it takes at least ``taken`` of them."""
    took = 0
    for value in values:
        expected = _outcome(check, value)
        companions = [v for v in values if type(v) is type(value) and v is not value][:1]
        for column in ([value], [value, *companions], [*companions, value]):
            got = helper(_typed(column))
            if got is None:
                continue
            assert expected != "refused", (value, got)
            found = got.to_pylist()[column.index(value)]
            assert found == expected and type(found) is type(expected), (value, found, expected)
            took += len(column) == 1
    assert took >= taken, took


def test_family_seqs_number_as_the_per_record_path() -> None:
    lists = pa.array([[1, 2], None, [], [3], [4, 5, 6]], pa.list_(pa.int64()))
    parents, children = columnar.family_seqs(lists, 10)
    assert parents.to_pylist() == [11, 14, 15, 16, 18]
    assert children.to_pylist() == [12, 13, 17, 19, 20, 21]
