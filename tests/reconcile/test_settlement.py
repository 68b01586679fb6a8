"""The Report API in reconcile: funds-only entries on the Vipps side, the settlement codes
(NOT_SETTLED, SETTLEMENT_AMOUNT_MISMATCH, BALANCE_BREAK), the settlement proof and the VAT row of
money Vipps reports no VAT for. Hand-built books, served by the sandbox, pulled over HTTP,
reconciled in DuckDB; the expected sums are computed here in Python from the same books."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import pytest
from builders import T0, entur_credit, entur_payment, iso, vipps_entry

from recon.config import load_config
from recon.ingest.pull import PullRequest, pull
from recon.lake.catalog import connect
from recon.lake.store import Lake
from recon.reconcile.runner import reconcile
from recon.sandbox.dataset import Dataset, Ledger

OSLO = ZoneInfo("Europe/Oslo")
DAY = date(2026, 10, 24)  # T0's business date
DAYS = (-1, 0, 1, 2)  # day offsets of the books; the last has no payout yet (the open row)
FIRST, LAST = DAY + timedelta(days=DAYS[0]), DAY + timedelta(days=DAYS[-1])
PAYOUTS = ("payout-scheduled", "scheduled-for-payout")


def at(day: int, minute: int, seconds: int = 0) -> datetime:
    return T0 + timedelta(days=day, minutes=minute, seconds=seconds)


def fee_of(gross: int) -> int:
    return gross * 175 // 10000  # 1.75 %, rounded down


@dataclass
class Op:
    """One Report API entry before its balances are chained."""

    feed: str  # funds | fees
    entry_type: str
    amount: int | None  # None: fees-retained / payout, computed from the balances when chained
    ts: datetime
    psp: str | None = None
    reference: str | None = None


@dataclass
class Books:
    """Sales entries, Entur records and the Report API's feeds of one ledger (L1), plus a ledger L2
    whose funds were never pulled."""

    sales: list[dict] = field(default_factory=list)
    payments: list[dict] = field(default_factory=list)
    credits: list[dict] = field(default_factory=list)
    ops: list[Op] = field(default_factory=list)
    l2_sales: list[dict] = field(default_factory=list)

    def chain(self, opening: int = 50000) -> tuple[list[dict], list[dict]]:
        """The funds and fees feeds, in time order, balances unbroken. A fees-retained moves the
        fees balance to the funds; a payout pays out all but a reserve that grows by 1 234 a day."""
        balance = {"funds": opening, "fees": 0}
        feeds: dict[str, list[dict]] = {"funds": [], "fees": []}
        for op in sorted(self.ops, key=lambda o: (o.ts, o.feed == "fees")):
            amount = op.amount
            if amount is None and op.entry_type == "fees-retained":
                amount = -balance["fees"] if op.feed == "fees" else balance["fees"]
            elif amount is None:
                day = (op.ts.astimezone(OSLO).date() - FIRST).days
                amount = -(balance["funds"] - 1234 * (day + 1))
            feeds[op.feed].append({
                "pspReference": op.psp, "time": op.ts.strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
                "ledgerDate": op.ts.astimezone(OSLO).date().isoformat(), "entryType": op.entry_type,
                "reference": op.reference, "currency": "NOK", "amount": amount,
                "balanceBefore": balance[op.feed], "balanceAfter": balance[op.feed] + amount,
                "recipientHandle": "NO:123456"})
            balance[op.feed] += amount
        return feeds["funds"], feeds["fees"]

    def dataset(self, funds: list[dict] | None = None, fees: list[dict] | None = None) -> Dataset:
        if funds is None or fees is None:
            funds, fees = self.chain()
        return Dataset(ledgers={"L1": Ledger("L1", entries=self.sales, funds=funds, fees=fees),
                                "L2": Ledger("L2", entries=self.l2_sales)},
                       payments=self.payments, credits=self.credits)


def capture_with_fee(books: Books, amount: int, ts: datetime, psp: str, reference: str) -> None:
    books.ops.append(Op("funds", "capture", amount, ts, psp, reference))
    books.ops.append(Op("fees", "capture-fee", -fee_of(amount), ts, psp, reference))


def consistent() -> Books:
    """Per day: a Vipps wallet sale (Sales API, paid in Entur), an mPOS card sale (Sales API, no
    Entur counterpart), two ePayment captures the Sales API does not have (Entur matches one by
    pspReference, the other by order) and an ePayment refund credited in Entur; each settles in
    the funds feed, with its fee in the fees feed; at the end of each day but the last the fees are
    retained and a payout scheduled. Day 0 also has a cash sale and a correction, day 1 a top-up."""
    b = Books()
    for k in DAYS:
        n = 10 * (k + 1)
        wallet = vipps_entry(n, ts=at(k, 1))
        card = {**vipps_entry(n + 1, gross=25000, ts=at(k, 2)), "paymentType": "CARD"}
        b.sales += [wallet, card]
        b.payments.append(entur_payment(n, ts=at(k, 1)))
        capture_with_fee(b, 10000, at(k, 1, 5), wallet["pspReference"], wallet["reference"])
        capture_with_fee(b, 25000, at(k, 2, 5), card["pspReference"], card["reference"])
        # ePayment: matched by pspReference
        capture_with_fee(b, 15000, at(k, 3), f"ep-{n + 2}", f"ORD{n + 2:05d}")
        b.payments.append(entur_payment(n + 2, amount=15000, ts=at(k, 3), psp=f"ep-{n + 2}"))
        # ePayment: Entur does not know the pspReference, the order matches (key 2)
        capture_with_fee(b, 7000, at(k, 4), f"epk2-{n + 3}", f"ORD{n + 3:05d}")
        b.payments.append(entur_payment(n + 3, amount=7000, ts=at(k, 4), psp=f"other-{n + 3}"))
        # ePayment refund of the first order, credited in Entur
        b.ops.append(Op("funds", "refund", -5000, at(k, 20), f"L1-refund-{n + 2}", f"ORD{n + 2:05d}"))
        b.credits.append(entur_credit(n + 2, amount=5000, ts=at(k, 20)))
        if k == 0:
            cash = {**vipps_entry(n + 4, gross=3000, ts=at(k, 5)), "paymentType": "CASH", "pspReference": None}
            b.sales.append(cash)
            b.ops.append(Op("funds", "correction", 500, at(k, 25), f"L1-corr-{n}"))
        if k == 1:
            b.ops.append(Op("funds", "top-up", 2000, at(k, 30), f"L1-top-{n}"))
        if k != DAYS[-1]:
            b.ops.append(Op("fees", "fees-retained", None, at(k, 600), f"L1-fr-{k}"))
            b.ops.append(Op("funds", "fees-retained", None, at(k, 600), f"L1-fr-{k}"))
            kind = "scheduled-for-payout" if k == 0 else "payout-scheduled"  # the alias counts too
            b.ops.append(Op("funds", kind, None, at(k, 601), f"L1-{k + 2}"))
    # A ledger whose Report API feeds are empty: its Sales entries are never NOT_SETTLED.
    b.l2_sales.append(vipps_entry(99, ledger="L2", ts=at(0, 50)))
    b.payments.append(entur_payment(99, ts=at(0, 50), psp="L2-psp-99"))
    return b


PLANTED = {
    ("NOT_SETTLED", "L1-psp-10"),  # day 0 wallet sale: its funds entry is missing
    ("SETTLEMENT_AMOUNT_MISMATCH", "L1-psp-11"),  # day 0 card sale settled for 240.00, not 250.00
    ("BALANCE_BREAK", "L1-fr-1"),  # day 1: the top-up is gone, the next funds entry starts off
    ("BALANCE_BREAK", "ep-12"),  # day 0: the fee's amount does not add up to its balances
    ("MISSING_IN_ENTUR", "ep-22"),  # funds-only capture, no Entur payment
    ("AMOUNT_MISMATCH", "ep-2"),  # funds-only capture, Entur 151.00
    ("REFUND_WITHOUT_CREDIT", "L1-refund-22"),  # funds-only refund, no Entur credit
    ("DUPLICATE", "ep-32-b"),  # funds-only capture recorded twice, Entur once
    ("TIMING_DIFFERENCE", "epk2-3"),  # funds-only capture, Entur 5 days later (key 2)
}
# Day 1's payout is gone too: the first funds entry of day 2 starts off. Only the feed's chain, which
# crosses ledger dates, sees it; entries landed by date alone are chained within their date.
ACROSS_DATES = ("BALANCE_BREAK", "L1-psp-30")


def planted() -> Dataset:
    b = consistent()
    b.ops = [op for op in b.ops if op.psp != "L1-psp-10" or op.feed != "funds"]
    b.ops = [replace(op, amount=24000) if op.psp == "L1-psp-11" and op.feed == "funds" else op for op in b.ops]
    capture_with_fee(b, 15000, at(2, 6), "ep-32-b", "ORD00032")
    by_id = {p["paymentId"]: p for p in b.payments}
    b.payments.remove(by_id[1022])
    tx = by_id[1002]["transactionHistory"][0]
    tx["amount"] = tx["summary"]["capturedAmount"] = "151.00"
    by_id[1003]["transactionHistory"][0]["createdAt"] = iso(at(5, 4))
    b.credits = [c for c in b.credits if c["creditId"] != 7022]
    funds, fees = b.chain()
    funds = [e for e in funds if e["entryType"] != "top-up" and e["pspReference"] != "L1-3"]
    [fee] = [e for e in fees if e["pspReference"] == "ep-12"]
    fee["amount"] -= 38
    return b.dataset(funds, fees)


@pytest.fixture
def books(make_setup, tmp_path):
    """``books(dataset)`` pulls the dataset once; ``run(settings, period=...)`` reconciles it."""
    count = iter(range(100))

    def make(ds: Dataset, *, report: tuple[str, ...] = ("feed",)):
        """``report``: how the Report API is pulled, in order: its feed, and/or its by-date listings."""
        n = next(count)
        setup = make_setup(ds, lake=tmp_path / f"lake{n}")
        config = setup.config()
        assert pull(config, ["vipps", "entur"]).ok
        days = [FIRST + timedelta(days=i) for i in range((LAST - FIRST).days + 1)]
        for how in report:
            request = PullRequest(vipps_dates=days) if how == "dates" else None
            assert pull(config, ["vipps_report"], request=request).ok
        base = setup.config_path.read_text()

        def run(settings: str = "", *, period=(FIRST, LAST), sql="SELECT code, psp_reference FROM recon_mismatches"):
            path = tmp_path / f"variant-{n}-{abs(hash(settings))}.toml"
            path.write_text(base + "\n[reconcile]\n" + settings)
            cfg = load_config(path, env=setup.env)
            reconcile(cfg, *period, today=date(2026, 11, 23))
            con = connect(Lake(cfg.lake))
            try:
                return con.execute(sql).fetchall()
            finally:
                con.close()
        return run
    return make


def test_consistent_books_give_no_mismatch_and_epayment_orders_match(books):
    run = books(consistent().dataset())
    assert run() == []
    matched = run(sql="SELECT vipps_api, kind, match_key, psp_reference, outcome FROM recon_matches ORDER BY ALL")
    report = [(kind, key, psp) for api, kind, key, psp, outcome in matched if api == "report"]
    assert {outcome for *_, outcome in matched} == {"MATCHED"}
    n = [10 * (k + 1) for k in DAYS]
    assert sorted(report) == sorted([("capture", 1, f"ep-{i + 2}") for i in n]
                                    + [("capture", 2, f"epk2-{i + 3}") for i in n]
                                    + [("refund", 1, f"L1-refund-{i + 2}") for i in n])
    # The wallet sales match from the Sales API; the card sales and their funds entries take no part.
    sales = {psp for api, _, _, psp, _ in matched if api == "sales"}
    assert sales == {f"L1-psp-{i}" for i in n} | {"L2-psp-99"}


def test_planted_books_give_exactly_the_planted_rows(books):
    run = books(planted())
    assert set(run()) == PLANTED | {ACROSS_DATES}
    assert len(run()) == len(PLANTED) + 1
    rows = run(sql="SELECT code, psp_reference, vipps_api, feed, entry_type, vipps_amount, settled_amount, difference, "
                   "balance_before, balance_after, previous_balance_after, ledger_date, business_date, explanation "
                   "FROM recon_mismatches")
    got = {(r[0], r[1]): r[2:] for r in rows}
    assert got["NOT_SETTLED", "L1-psp-10"][:6] == ("sales", "funds", "capture", 10000, None, 10000)
    assert got["SETTLEMENT_AMOUNT_MISMATCH", "L1-psp-11"][:6] == ("sales", "funds", "capture", 25000, 24000, 1000)
    # The top-up of 20.00 is missing between the fees retained and the entry before them.
    api, feed, kind, _, amount, gap, before, after, previous, ledger_date, day, text = got["BALANCE_BREAK", "L1-fr-1"]
    day1 = DAY + timedelta(1)
    assert (api, feed, kind, ledger_date, day) == ("report", "funds", "fees-retained", day1, day1)
    assert before - previous == 2000 == gap and after == before + amount
    assert "missing or doubled" in text and "20.00 NOK" in text
    api, feed, kind, _, amount, gap, before, after, previous, *_ = got["BALANCE_BREAK", "ep-12"]
    assert (feed, kind, previous) == ("fees", "capture-fee", before) and after - before - amount == 38 == gap
    for code in ("MISSING_IN_ENTUR", "AMOUNT_MISMATCH", "REFUND_WITHOUT_CREDIT", "DUPLICATE", "TIMING_DIFFERENCE"):
        [(api, feed, *_)] = [v for (c, _), v in got.items() if c == code]
        assert (api, feed) == ("report", None), code
    text = got["NOT_SETTLED", "L1-psp-10"][-1]
    assert "L1" in text and "100.00 NOK" in text and str(LAST) in text and str(DAY) in text


def test_by_date_only_books_chain_per_ledger_date(books):
    """Entries landed only from by-date listings have no feed position: chained per ledger date."""
    run = books(planted(), report=("dates",))
    assert set(run()) == PLANTED  # not ACROSS_DATES: the first entry of a ledger date has no previous
    assert run(sql="SELECT count(*) FROM raw_vipps_funds_entries WHERE feed_seq IS NOT NULL") == [(0,)]


@pytest.mark.parametrize("report", [("feed", "dates"), ("dates", "feed"), ("feed", "feed", "dates", "dates")])
def test_relanded_entries_do_not_break_the_chain(books, report):
    """Landed from the feed and by date, in either order: one entry each, in the feed's chain."""
    ds = planted()
    run = books(ds, report=report)
    copies = run(sql="SELECT count(*), count(DISTINCT entry_key), count(feed_seq), count(date_seq) "
                     "FROM raw_vipps_funds_entries")
    [(rows, keys, from_feed, from_dates)] = copies
    assert keys == len(ds.ledgers["L1"].funds)
    assert rows == report.count("dates") * keys + from_feed and from_dates == report.count("dates") * keys
    assert set(run()) == PLANTED | {ACROSS_DATES}  # each entry is in the feed's chain, once


def test_grace_days_decide_when_a_sale_is_not_settled(books):
    """L1's funds are landed up to ledger date DAY + 2; its sales of DAY and DAY + 1 never settled.
    L2's funds were never landed: its unsettled sale is never checked."""
    sales = [vipps_entry(0), vipps_entry(1, ts=at(1, 1))]
    funds = [{"pspReference": f"L1-top-{i}", "time": iso(at(i, 30)), "ledgerDate": str(DAY + timedelta(i)),
              "entryType": "top-up", "reference": None, "currency": "NOK", "amount": 100,
              "balanceBefore": 100 * i, "balanceAfter": 100 * i + 100} for i in range(3)]
    ds = Dataset(ledgers={"L1": Ledger("L1", entries=sales, funds=funds),
                          "L2": Ledger("L2", entries=[vipps_entry(2, ledger="L2")])},
                 payments=[entur_payment(0), entur_payment(1, ts=at(1, 1)), entur_payment(2, psp="L2-psp-2")])
    run = books(ds)
    period = (DAY, DAY + timedelta(1))
    # Default grace 2: the sale exactly 2 days before DAY + 2 is due, the one a day later is not.
    assert run(period=period) == [("NOT_SETTLED", "L1-psp-0")]
    assert run("settlement_grace_days = 1", period=period) == [("NOT_SETTLED", "L1-psp-0"),
                                                                ("NOT_SETTLED", "L1-psp-1")]
    assert run("settlement_grace_days = 3", period=period) == []
    assert run("settlement_grace_days = 0", period=period,
               sql="SELECT count(*) FROM recon_mismatches WHERE ledger_id = 'L2'") == [(0,)]


def _expected_settlement(ds: Dataset) -> list[dict]:
    """The settlement proof of the books, computed here from the feed itself."""
    led = ds.ledgers["L1"]
    sales_psp = {(e["entryType"], e["pspReference"]) for e in led.entries if e["pspReference"]}
    rows, group = [], []
    for e in led.funds:
        group.append(e)
        if e["entryType"] in PAYOUTS:
            rows.append(group)
            group = []
    if group:
        rows.append(group)
    out, previous = [], None
    for g in rows:
        payout = g[-1] if g[-1]["entryType"] in PAYOUTS else None
        sums: dict[str, int] = defaultdict(int)
        for e in g:
            sums[e["entryType"]] += e["amount"]
        covers_from = (previous + timedelta(1)) if previous else date.fromisoformat(g[0]["ledgerDate"])
        covers_to = date.fromisoformat(g[-1]["ledgerDate"])
        others = {t: v for t, v in sums.items() if t not in ("capture", "refund", "fees-retained", *PAYOUTS)}
        sales_gross = 0
        for e in led.entries:
            day = datetime.fromisoformat(e["time"].replace("Z", "+00:00")).astimezone(OSLO).date()
            if e["pspReference"] and covers_from <= day <= covers_to:
                sales_gross += (-1 if e["entryType"] == "refund" else 1) * abs(e["amounts"]["gross"])
        captures = [e for e in g if e["entryType"] == "capture"]
        settled = [e["amount"] for e in captures if ("capture", e["pspReference"]) in sales_psp]
        report_only = [e["amount"] for e in captures if ("capture", e["pspReference"]) not in sales_psp]
        out.append({
            "payout_psp_reference": payout["pspReference"] if payout else None,
            "covers_from": covers_from, "covers_to": covers_to, "is_open": payout is None,
            "opening_balance": g[0]["balanceBefore"], "captures": sums["capture"], "refunds": sums["refund"],
            "fees_retained": sums["fees-retained"], "other_movements": sum(others.values()),
            "other_types": "; ".join(f"{t}: {Decimal(v) / 100:.2f} NOK" for t, v in sorted(others.items())) or None,
            "payout_amount": payout["amount"] if payout else 0, "closing_balance": g[-1]["balanceAfter"],
            "ties": True, "sales_gross": sales_gross,
            "sales_captures_settled": sum(settled), "report_only_captures": sum(report_only),
        })
        previous = covers_to
    return out


COLUMNS = ("payout_psp_reference", "covers_from", "covers_to", "is_open", "opening_balance", "captures", "refunds",
           "fees_retained", "other_movements", "other_types", "payout_amount", "closing_balance", "ties", "sales_gross",
           "sales_captures_settled", "report_only_captures")


def test_settlement_summary_ties_to_an_independent_computation(books):
    ds = consistent().dataset()
    run = books(ds)
    want = _expected_settlement(ds)
    assert [w["payout_psp_reference"] for w in want] == ["L1-1", "L1-2", "L1-3", None]
    assert want[1]["other_types"] == "correction: 5.00 NOK" and want[1]["report_only_captures"] == 22000
    sql = f"SELECT {', '.join(COLUMNS)} FROM settlement_summary WHERE ledger_id = 'L1'"
    got = [dict(zip(COLUMNS, row, strict=True)) for row in run(sql=sql)]
    assert got == want
    assert run(sql="SELECT DISTINCT ledger_id, currency FROM settlement_summary") == [("L1", "NOK")]
    # One day: the payout of that day only (the open row starts after it).
    assert run(sql=sql, period=(DAY, DAY)) == [tuple(want[1].values())]
    types = dict(run(sql="SELECT column_name, column_type FROM (DESCRIBE settlement_summary)"))
    money = ("opening_balance", "captures", "refunds", "fees_retained", "other_movements", "payout_amount",
             "closing_balance", "sales_gross", "sales_captures_settled", "report_only_captures")
    assert {c: types[c] for c in money} == dict.fromkeys(money, "BIGINT")


def test_settlement_fees_per_ledger_date(books):
    ds = consistent().dataset()
    run = books(ds)
    fees, captures = defaultdict(int), defaultdict(int)
    for e in ds.ledgers["L1"].fees:
        if e["entryType"] != "fees-retained":
            fees[e["ledgerDate"]] += e["amount"]
    for e in ds.ledgers["L1"].funds:
        if e["entryType"] == "capture":
            captures[e["ledgerDate"]] += e["amount"]
    want = [(date.fromisoformat(d), fees[d], captures[d],
             int((Decimal(-fees[d]) * 10000 / captures[d]).quantize(Decimal(1), ROUND_HALF_UP)))
            for d in sorted(fees)]
    assert len(want) == len(DAYS) and want[0][3] == 175
    got = run(sql="SELECT ledger_date, fees, captures, effective_fee_rate_bp FROM settlement_fees ORDER BY ALL")
    assert got == want


def test_vat_summary_shows_the_funds_only_gross_as_not_reported(books):
    ds = consistent().dataset()
    run = books(ds)
    sales_psp = {e["pspReference"] for e in ds.ledgers["L1"].entries}
    want: dict[date, int] = defaultdict(int)
    for e in ds.ledgers["L1"].funds:
        if e["entryType"] in ("capture", "refund") and e["pspReference"] not in sales_psp:
            day = datetime.fromisoformat(e["time"].replace("Z", "+00:00")).astimezone(OSLO).date()
            want[day] += e["amount"]
    got = run(sql="SELECT business_date, gross, vat_rate_bp, net, vat, rate_known FROM vat_summary "
                  "WHERE NOT vat_reported ORDER BY ALL")
    assert got == [(d, g, None, None, None, False) for d, g in sorted(want.items())]
    assert {r[0] for r in run(sql="SELECT DISTINCT vat_rate FROM vat_summary WHERE NOT vat_reported")} == {
        "not reported by Vipps"}
    assert set(want.values()) == {17000}
    # The rest is the Sales API's, as before: every Sales entry's gross.
    sales = run(sql="SELECT sum(gross) FROM vat_summary WHERE vat_reported")[0][0]
    assert sales == sum(e["amounts"]["gross"] for led in ds.ledgers.values() for e in led.entries)


def test_a_failed_report_source_marks_the_checks_that_read_it():
    from recon.reconcile.runner import CHECK_SOURCES, incomplete_checks

    codes = dict(incomplete_checks({"vipps_report": "ledger L1: 403"}))
    assert set(codes) == {c for c, sources in CHECK_SOURCES.items() if "vipps_report" in sources}
    assert {"NOT_SETTLED", "SETTLEMENT_AMOUNT_MISMATCH", "BALANCE_BREAK", "MISSING_IN_ENTUR"} <= set(codes)
    assert "VAT_MISMATCH" not in codes and "BOOKING_NOT_PAID" not in codes
    assert CHECK_SOURCES["BALANCE_BREAK"] == ("vipps_report",)

