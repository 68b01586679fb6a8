"""Edge cases for the equivalence of reconcile's SQL with the frozen SQL (test_sql_equivalence.py):
small hand-written lakes (raw Parquet files in landing's layout, rows as landing writes them) that
take the paths the ten-million rewrite added: balance chains followed by position (dense feeds)
beside sorted ones, by-date entries beside feed entries, re-landed copies with other positions or
on both sides of a window's edge, the copy prefilters under hash collisions, entries without a
gross or without lines, orphaned lines, ledgers without a payout, and parameters inlined into the
staged views. Each case runs both SQLs over its lake and compares every result (assert_same).
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_sql_equivalence import assert_same

from recon.config import Config, parse_config
from recon.lake.schemas import TABLES
from recon.reconcile import runner

SOURCES = {"vipps_sales_entries": "vipps", "vipps_sales_lines": "vipps", "vipps_funds_entries": "vipps_report",
           "vipps_fees_entries": "vipps_report"}
FROM, TO, TODAY = date(2026, 3, 10), date(2026, 3, 12), date(2026, 3, 20)
_seq = itertools.count(1)


def run_at(night: int) -> tuple[str, datetime]:
    """A landing run's id and time: the run of night ``night`` (days after 2026-03-01)."""
    at = datetime(2026, 3, 1, 2, 30, tzinfo=UTC) + timedelta(days=night)
    return f"{at:%Y%m%dT%H%M%SZ}-t{night:03d}", at


def landed(row: dict[str, Any], night: int, source: str) -> dict[str, Any]:
    run, at = run_at(night)
    return {**row, "_source": source, "_run_id": run, "_landed_at": at, "_row_id": f"{run}:{next(_seq)}",
            "_hash": row.get("_hash") or f"h{next(_seq)}", "_raw": "{}"}


def report(entry_key: str, entry_type: str, amount: int, before: int, day: date, *, ledger: str = "L1",
           feed_seq: int | None = None, date_seq: int | None = None, psp: str | None = None,
           after: int | None = None, night: int | None = None, business: date | None = None,
           minute: int = 0) -> dict[str, Any]:
    """A funds or fees entry as landing writes it (landed the night after its ledger date)."""
    business = business or day
    row = {"entry_key": f"{ledger}:{entry_key}", "ledger_id": ledger, "entry_type": entry_type, "psp_reference": psp,
           "reference": None, "time": datetime(business.year, business.month, business.day, 9, tzinfo=UTC)
           + timedelta(minutes=minute), "ledger_date": day, "currency": "NOK", "amount": amount,
           "balance_before": before, "balance_after": before + amount if after is None else after,
           "recipient_handle": None, "feed_seq": feed_seq, "date_seq": date_seq, "feed_cursor": None,
           "business_tz": "Europe/Oslo", "business_date": business}
    return landed(row, night if night is not None else (day - date(2026, 3, 1)).days + 1, "vipps_report")


def chain(feed: list[tuple[str, str, int, date]], *, ledger: str = "L1", opening: int = 100_000,
          start: int | None = 0, step: int = 1) -> list[dict[str, Any]]:
    """Entries (key, type, amount, ledger date) with unbroken balances, at feed positions start,
    start + step, ... (start None: by-date entries, date_seq per ledger date)."""
    rows, balance = [], opening
    for i, (key, entry_type, amount, day) in enumerate(feed):
        position = None if start is None else start + i * step
        rows.append(report(key, entry_type, amount, balance, day, ledger=ledger, feed_seq=position,
                           date_seq=None if start is not None else i, psp=f"{ledger}-{key}", minute=i))
        balance += amount
    return rows


def sale(psp: str, gross: int | None, day: date, *, ledger: str = "L1", entry_type: str = "capture",
         payment_type: str | None = "WALLET", night: int | None = None, content: str | None = None,
         reference: str | None = None) -> dict[str, Any]:
    row = {"entry_key": f"{ledger}:{psp}", "ledger_id": ledger, "entry_type": entry_type,
           "time": datetime(day.year, day.month, day.day, 10, tzinfo=UTC), "order_date": None,
           "psp_reference": psp, "reference": reference or f"ORD-{psp}", "currency": "NOK",
           "payment_type": payment_type, "solution": None, "sales_category": None, "gross": gross, "net": None,
           "vat": None, "line_count": 1, "has_line_items": True, "has_vat_breakdown": True,
           "has_customer_identity": False, "business_tz": "Europe/Oslo", "business_date": day,
           "_hash": content or f"c-{ledger}-{psp}"}
    return landed(row, night if night is not None else (day - date(2026, 3, 1)).days + 1, "vipps")


def line(parent: dict[str, Any], gross: int, vat: int, *, rate: int = 1200, line_no: int = 1) -> dict[str, Any]:
    row = {k: parent[k] for k in ("entry_key", "ledger_id", "psp_reference", "reference", "entry_type", "currency",
                                  "business_date")}
    row |= {"line_no": line_no, "line_id": f"{parent['psp_reference']}-{line_no}", "name": None, "quantity": None,
            "unit_price_gross": None, "unit_price_net": None, "discount_total": None, "line_total_gross": gross,
            "line_total_net": gross - vat, "vat_rate_bp": rate, "vat_amount": vat, "category": "TICKET",
            "_parent_row_id": parent["_row_id"]}
    night = (parent["_landed_at"] - run_at(0)[1]).days
    return {**landed(row, night, "vipps"), "_run_id": parent["_run_id"], "_landed_at": parent["_landed_at"]}


def write_lake(root: Path, **tables: list[dict[str, Any]]) -> Config:
    """The rows of each table as landing's files (one per run and partition); a config over them."""
    for name, rows in tables.items():
        spec = TABLES[name]
        schema = pa.schema([f for f in spec.schema if f.name != spec.partition])
        parts: dict[tuple[str, date], list[dict[str, Any]]] = {}
        for row in rows:
            parts.setdefault((row["_run_id"], row[spec.partition]), []).append(row)
        for (run, day), part in sorted(parts.items()):
            folder = root / "raw" / name / f"{spec.partition}={day.isoformat()}"
            folder.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.Table.from_pylist(part, schema=schema), folder / f"part-{run}-00001.parquet")
    return config_of(root)


def config_of(root: Path, **reconcile: Any) -> Config:
    return parse_config({"lake": {"path": str(root)}, "vipps": {"ledgers": ["L1", "L2", "L3"], "client_id": "x"},
                         "reconcile": reconcile})


def d(offset: int) -> date:
    """The period's first day + offset."""
    return FROM + timedelta(days=offset)


def same(config: Config, tmp: Path, date_from: date = FROM, date_to: date = TO) -> dict[str, int]:
    return assert_same(config, date_from, date_to, TODAY, tmp)


def _day_of_moves(ledger: str, day: date, n: int, tag: str = "") -> list[tuple[str, str, int, date]]:
    moves = [(f"c{tag}{day.day}-{i}", "capture", 1000 + 10 * i, day) for i in range(n)]
    return [*moves, (f"p{tag}{day.day}", "payout-scheduled", -sum(m[2] for m in moves), day)]


def test_dense_and_sorted_chains_side_by_side(tmp_path):
    """L1: funds dense (followed by position), with a break and a by-date entry of the period
    beside it; its fees feed has a gap (sorted). L2: a feed position repeated (sorted). L3: only
    by-date entries, over two ledger dates, no payout (one open row)."""
    l1 = chain([m for k in range(-3, 4) for m in _day_of_moves("L1", d(k), 2)], start=500)
    l1[9]["balance_before"] += 7  # a jump on d(0)
    l1[12]["balance_after"] += 3  # adds up wrong on d(1)
    # by-date entries (no feed position) in the same ledger: a chain of their own per ledger date
    l1 += [report("bydate", "capture", 500, 0, d(1), date_seq=0, psp="L1-bydate", after=501),
           report("bydate2", "capture", 300, 502, d(1), date_seq=1, psp="L1-bydate2", minute=5)]
    fees = chain([(f"f{k}", "capture-fee", -10, d(k)) for k in range(-3, 4)], start=40, step=1)
    for row in fees[4:]:
        row["feed_seq"] += 1  # a gap: the fees chain is sorted
    fees[4]["balance_before"] -= 1  # the entry after the gap
    fees[5]["balance_before"] -= 1
    l2 = chain([m for k in range(-2, 3) for m in _day_of_moves("L2", d(k), 2)], ledger="L2", start=0)
    l2[7]["feed_seq"] = l2[6]["feed_seq"]  # a tie in feed positions on d(0)
    l2[7]["balance_before"] += 1
    l3 = chain([(f"b{k}-{i}", "capture", 700, d(k)) for k in (0, 1) for i in range(3)], ledger="L3", start=None)
    l3[4]["balance_before"] -= 5
    sales = [sale("L1-c10-0", 1000, d(0)), sale("L1-c10-1", 999, d(0)), sale("L2-x", 5000, d(-2), ledger="L2")]
    config = write_lake(tmp_path / "lake", vipps_funds_entries=[*l1, *l2, *l3], vipps_fees_entries=fees,
                        vipps_sales_entries=sales)
    sizes = same(config, tmp_path)
    assert sizes["recon_mismatches"] >= 4 and sizes["settlement_summary"] >= 6


def test_relanded_copies_with_other_positions(tmp_path):
    """Funds entries landed twice: from the feed and from a by-date listing (feed_seq on one copy,
    date_seq on the other), a copy landed again with a later feed position (a position then
    repeats: not dense), and a fees entry landed three times. Copies of one entry never break a
    chain; the chain in feed order is checked on both paths."""
    l1 = chain([m for k in range(-2, 3) for m in _day_of_moves("L1", d(k), 2)], start=0)
    by_date = {**l1[4], "feed_seq": None, "date_seq": 0}
    copies = [landed({k: v for k, v in by_date.items() if not k.startswith("_")}, 20, "vipps_report"),
              landed({k: v for k, v in l1[6].items() if not k.startswith("_")}, 21, "vipps_report")]
    l2 = chain([m for k in range(-2, 3) for m in _day_of_moves("L2", d(k), 2)], ledger="L2", start=0)
    moved = landed({**{k: v for k, v in l2[7].items() if not k.startswith("_")}, "feed_seq": 3}, 22, "vipps_report")
    fees = chain([(f"f{k}", "capture-fee", -10, d(k)) for k in range(-2, 3)], start=0)
    fee_copies = [landed({k: v for k, v in fees[2].items() if not k.startswith("_")}, night, "vipps_report")
                  for night in (23, 24)]
    config = write_lake(tmp_path / "lake", vipps_funds_entries=[*l1, *copies, *l2, moved],
                        vipps_fees_entries=[*fees, *fee_copies])
    sizes = same(config, tmp_path)
    assert sizes["settlement_summary"] >= 4


def test_copies_on_both_sides_of_the_window_edges(tmp_path):
    """Copies of one entry whose business dates differ (a funds entry's key leaves out its time; a
    Sales entry re-landed after its ledger's zone changed): one copy inside the matching window and
    one beyond it (each side keeps its own first copy), one inside the settlement read window and
    one outside. The payouts (d-6, d0) leave rows covering d-5 … d0 and an open row d1 … d6, so
    the settlement summary's Sales gross shows every copy it counts."""
    span = runner.read_span(config_of(tmp_path).reconcile)
    moves = [(f"c{k}", "capture", 1000 + k, d(k)) for k in range(-6, 7)]
    moves.insert(1, ("p-6", "payout-scheduled", -500, d(-6)))
    moves.insert(8, ("p0", "payout-scheduled", -600, d(0)))
    l1 = chain(moves, start=0)
    edge = {k: v for k, v in l1[5].items() if not k.startswith("_")}
    far = FROM - timedelta(days=span + 1)
    funds_copies = [landed({**edge, "business_date": far, "time": datetime(far.year, far.month, far.day, tzinfo=UTC)},
                           30, "vipps_report"),
                    landed({**edge, "business_date": d(-4), "feed_seq": 99}, 31, "vipps_report")]
    sales = []
    # (pspReference, gross, business dates of the first landed copy and of the later one)
    cases = [("L1-lo", 1500, (-3, -4)), ("L1-lo2", 1600, (-4, -3)), ("L1-hi", 2000, (5, 6)), ("L1-hi2", 2100, (6, 5)),
             ("L1-twice", 3000, (1, 1)), ("L1-out", 1000, (-span, -span - 1))]
    for psp, gross, days in cases:
        sales += [sale(psp, gross, d(days[0]), night=10), sale(psp, gross, d(days[1]), night=11)]
    sales.append(sale("L1-twice", 3100, d(1), night=15, content="changed"))  # other content: both take part
    lines = [line(s, s["gross"], 100) for s in sales]
    config = write_lake(tmp_path / "lake", vipps_funds_entries=[*l1, *funds_copies], vipps_sales_entries=sales,
                        vipps_sales_lines=lines)
    sizes = same(config, tmp_path)
    assert sizes["recon_mismatches"] > 0 and sizes["settlement_summary"] == 2
    same(config_of(tmp_path / "lake", window_days=0), tmp_path)


def test_entries_without_gross_missing_or_orphaned_lines(tmp_path):
    """Sales entries without amounts.gross: with lines (the amount is their sum), without lines
    (amount NULL: NOT_SETTLED still names it, SETTLEMENT_AMOUNT_MISMATCH cannot), several entries
    alike on every deciding column; lines whose entry never landed or is a later copy; lines
    with wrong VAT; an entry of the period beyond the matching window's ledgers without funds."""
    l1 = chain([m for k in range(-2, 3) for m in _day_of_moves("L1", d(k), 2)], start=0)
    with_lines = sale("L1-c10-0", None, d(0))  # settled (1000) and its lines sum to 1000
    wrong = sale("L1-c10-1", None, d(0))  # settled 1010, lines sum to 900
    bare = sale("L1-bare", None, d(0))  # no funds entry, no lines: NOT_SETTLED with amount NULL
    bare2 = sale("L1-bare", None, d(0), content="bare-2")  # the same entry again, other content
    bare_settled = sale("L1-c11-0", None, d(1))  # has funds, no lines: not comparable
    copy = sale("L1-c10-0", None, d(0), night=25)  # a later copy, its own lines
    card = sale("L1-card", 777, d(0), payment_type="CARD")
    cash = sale("L1-cash", 500, d(0), payment_type="CASH")
    l2 = sale("L2-nofunds", 400, d(0), ledger="L2")
    orphan_parent = sale("L1-ghost", None, d(0))
    lines = [line(with_lines, 600, 64), line(with_lines, 400, 43, line_no=2), line(wrong, 900, 200),
             line(copy, 5000, 536), line(orphan_parent, 1234, 132), line(card, 777, 83)]
    config = write_lake(tmp_path / "lake", vipps_funds_entries=l1,
                        vipps_sales_entries=[with_lines, wrong, bare, bare2, bare_settled, copy, card, cash, l2],
                        vipps_sales_lines=lines)
    sizes = same(config, tmp_path)
    assert sizes["recon_mismatches"] >= 3 and sizes["vat_summary"] > 0


def test_prefilters_under_hash_collisions(tmp_path, monkeypatch):
    """The copy prefilters group key hashes first; a hash two keys share must never change a
    result. With every hash folded into two values, every row collides with many others."""
    original = runner.sql_text

    def colliding(package: str, name: str) -> str:
        text = original(package, name)
        if name in ("stg_vipps_report_copies.sql", "stg_vipps_entries_dropped.sql"):
            text = text.replace("hash(", "0 * hash(")
            assert "0 * hash" in text
        return text

    monkeypatch.setattr(runner, "sql_text", colliding)
    l1 = chain([m for k in range(-2, 3) for m in _day_of_moves("L1", d(k), 2)], start=0)
    copy = landed({k: v for k, v in l1[2].items() if not k.startswith("_")} | {"feed_seq": None, "date_seq": 4},
                  20, "vipps_report")
    fees = chain([(f"f{k}", "capture-fee", -10, d(k)) for k in range(-2, 3)], start=0)
    fee_copy = landed({k: v for k, v in fees[1].items() if not k.startswith("_")}, 21, "vipps_report")
    sales = [sale("L1-c10-0", 1000, d(0)), sale("L1-c10-0", 1000, d(0), night=22), sale("L1-c11-1", 1000, d(1)),
             sale("L1-c9-0", 1000, d(-1)), sale("L1-c9-0", 1000, d(-1), content="v2")]
    config = write_lake(tmp_path / "lake", vipps_funds_entries=[*l1, copy], vipps_fees_entries=[*fees, fee_copy],
                        vipps_sales_entries=sales)
    sizes = same(config, tmp_path)
    assert sizes["settlement_summary"] > 0


@pytest.mark.parametrize("types", [["WALLET", "O'HARA"], ["CARD"], ["$SPAN", "WALLET"]])
def test_inlined_payment_types(tmp_path, types):
    """vipps_payment_types is written into the staged view's text: quotes, a `$` and a list of
    one must select what the bound parameter selects."""
    sales = [sale("L1-w", 1000, d(0)), sale("L1-o", 1100, d(0), payment_type="o'hara"),
             sale("L1-c", 1200, d(1), payment_type="CARD"), sale("L1-s", 1300, d(1), payment_type="$span"),
             sale("L1-n", 1400, d(2), payment_type=None)]
    l1 = chain([("L1-o", "capture", 1100, d(0))], start=0)
    config = write_lake(tmp_path / "lake", vipps_sales_entries=sales, vipps_funds_entries=l1)
    config = config_of(tmp_path / "lake", vipps_payment_types=types)
    sizes = same(config, tmp_path)
    assert sizes["recon_mismatches"] > 0
