"""The fast landing path lands exactly what the per-record path it replaced landed.

``reference_landing`` is the path as it was before issue 15 part 3 (canonical JSON by the stdlib
encoder, three encodes per entry, a depth walk per record, rows built per dict and converted by
``from_pylist``). Every source's pages go through both, with planted malformed records and random
mutations of valid ones, and every landed file must be identical: every column, ``_raw``, ``_hash``,
``_row_id`` and ``_parent_row_id`` included, and the quarantine table (codes, reasons, ids, raw).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from ingest import reference_landing as ref

from recon.config import SamtrafikenConfig, VippsLedger
from recon.ingest.http import decode_json
from recon.ingest.personal import PERSONAL_FIELDS
from recon.ingest.records import Progress, land_page
from recon.ingest.sources import entur, samtrafiken, vipps, vipps_report
from recon.lake.landing import Landing
from recon.lake.store import Lake
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


def _land_both(tmp_path: Path, source: str, pages: list[list[Any]], new: Lander, old: Lander) -> None:
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
    """Counts the pages a column-wise lander took, so a test knows that path ran."""

    def __init__(self, lander: Callable[..., bool]) -> None:
        self.lander, self.taken, self.declined = lander, 0, 0

    def __call__(self, *args: Any, **kwargs: Any) -> bool:
        took = self.lander(*args, **kwargs)
        self.taken += took
        self.declined += not took
        return took


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


@pytest.mark.parametrize("what", ["payments", "credits"])
def test_entur(tmp_path: Path, sample: Any, what: str) -> None:
    records = list(sample.payments if what == "payments" else sample.credits)
    for rec in records[::6]:
        rec = dict(rec)
        rec["customerNumber"] = 123456
        records.append(rec)
    records = _with_mutants(records, 11, share=1.0)
    new_norm = entur.normalise_payment if what == "payments" else entur.normalise_credit
    old_norm = ref.normalise_payment if what == "payments" else ref.normalise_credit
    keys = ("paymentId", "orderId") if what == "payments" else ("creditId", "orderId")

    def lander(norm: Any, land: Callable[..., Any]) -> Lander:
        def go(landing: Any, items: list[Any], progress: Progress) -> None:
            land(landing, items, lambda rec, raw: norm(rec, raw, "Europe/Oslo"), kind=what[:-1], id_keys=keys,
                 context=f"{what} page 1", progress=progress, personal=PERSONAL_FIELDS["entur"])
        return go

    _land_both(tmp_path, "entur", _pages(records, 50), lander(new_norm, land_page), lander(old_norm, ref.land_page))


def test_samtrafiken(tmp_path: Path, sample: Any) -> None:
    records = _with_mutants(list(sample.events), 13, share=1.0)

    def lander(module: Any, land: Callable[..., Any]) -> Lander:
        seq = [0]

        def normalise(rec: Any, raw: str) -> Any:
            seq[0] += 1
            return module.normalise_event(rec, raw, SAMTRAFIKEN, seq[0])

        def go(landing: Any, items: list[Any], progress: Progress) -> None:
            land(landing, items, normalise, kind="booking_event", id_keys=("eventId", "bookingId"),
                 context="organization RET1", progress=progress, personal=PERSONAL_FIELDS["samtrafiken"],
                 keep_personal=True)
        return go

    _land_both(tmp_path, "samtrafiken", _pages(records, 40), lander(samtrafiken, land_page),
               lander(ref, ref.land_page))


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

