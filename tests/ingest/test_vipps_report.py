"""The Vipps Report API source over loopback HTTP: feeds to the end and resumed, tryLater, by-date
listings, per-ledger isolation, natural keys that land no duplicates, bounded loops."""

from __future__ import annotations

import json
from datetime import date, timedelta

from builders import T0, report_entry, settled, small_dataset, vipps_entry
from lake_rows import rows

from recon.ingest.pull import PullRequest, pull
from recon.sandbox.dataset import Dataset, Ledger

DAY = date(2026, 10, 24)


def chain(n: int, *, ledger: str = "L1", start: int = 0, opening: int = 100_000, days: int = 1) -> list[dict]:
    """``n`` captures of 10.00 with an unbroken balance chain, spread over ``days`` ledger dates."""
    out, balance = [], opening + 1000 * start
    for i in range(start, start + n):
        ts = T0 + timedelta(days=(i * days) // max(n + start, 1), minutes=i)
        out.append(report_entry("capture", 1000, balance, ts=ts, psp=f"{ledger}-f{i}", reference=f"R{i}",
                                ledger=ledger))
        balance += 1000
    return out


def report_only(funds_by_ledger: dict[str, list[dict]], **ledger_options) -> Dataset:
    return Dataset(ledgers={lid: Ledger(lid, funds=funds, **ledger_options) for lid, funds in funds_by_ledger.items()})


def feed_requests(setup, ledger: str = "L1", topic: str = "funds") -> list[dict]:
    path = f"/vipps/report/v2/ledgers/{ledger}/{topic}/feed"
    return [r for r in setup.sandbox.requests_log if r["path"] == path]


def test_the_feed_is_read_to_its_end_and_resumed_from_the_stored_cursor(make_setup):
    ds = report_only({"L1": chain(7)})
    setup = make_setup(ds, report_page_size=3)
    config = setup.config()
    first = pull(config, ["vipps_report"])
    assert first.ok
    # Pages of 3, 3, 1, then the same cursor with tryLater: the end, after exactly four requests.
    assert len(feed_requests(setup)) == 4
    assert rows(config, "SELECT psp_reference, feed_seq FROM vipps_funds_entries ORDER BY feed_seq") == [
        (f"L1-f{i}", i) for i in range(7)]

    ds.ledgers["L1"].funds = [*ds.ledgers["L1"].funds, *chain(4, start=7)]  # the feed grows
    seen = len(setup.sandbox.requests_log)
    assert pull(config, ["vipps_report"]).ok
    resumed = [r for r in setup.sandbox.requests_log[seen:] if r["path"].endswith("/funds/feed")]
    assert resumed[0]["query"]["cursor"] == first.sources[0].cursors["L1 funds"]["after"]
    assert rows(config, "SELECT psp_reference, feed_seq FROM vipps_funds_entries ORDER BY feed_seq") == [
        (f"L1-f{i}", i) for i in range(11)]
    assert rows(config, "SELECT count(*) FROM raw_vipps_funds_entries") == [(11,)]  # nothing read twice
    state = json.loads((config.lake / "_state" / "vipps_report" / "funds-L1.json").read_text())
    assert state["next_seq"] == 11


def test_an_empty_feed_ends_on_try_later_at_once(make_setup):
    setup = make_setup(report_only({"L1": []}))
    result = pull(setup.config(), ["vipps_report"])
    assert result.ok
    assert len(feed_requests(setup)) == 1 and len(feed_requests(setup, topic="fees")) == 1


def test_by_date_reads_through_has_more_and_records_open_and_closed_dates(make_setup):
    funds = chain(5, days=2)  # three entries on the 24th, two on the 25th
    days = sorted({e["ledgerDate"] for e in funds})
    assert days == ["2026-10-24", "2026-10-25"]
    # The 25th is still open: more than a page of it, and tryLater on every page.
    setup = make_setup(report_only({"L1": funds}, open_from="2026-10-25"), report_page_size=1)
    config = setup.config()
    result = pull(config, ["vipps_report"], request=PullRequest(vipps_dates=[DAY, DAY + timedelta(days=1)]))
    assert result.ok
    assert rows(config, "SELECT ledger_date, date_seq, feed_seq FROM vipps_funds_entries ORDER BY time") == [
        (date(2026, 10, 24), 0, None), (date(2026, 10, 24), 1, None), (date(2026, 10, 24), 2, None),
        (date(2026, 10, 25), 0, None), (date(2026, 10, 25), 1, None)]
    assert result.sources[0].cursors["open_dates"] == {"L1": {"funds": ["2026-10-25"], "fees": ["2026-10-25"]}}
    recorded = json.loads((config.lake / "_state" / "vipps_report" / "dates.json").read_text())
    assert recorded["L1"]["funds"] == {"2026-10-24": "closed", "2026-10-25": "open"}
    # A by-date pull never moves the feed cursor.
    assert not (config.lake / "_state" / "vipps_report" / "funds-L1.json").exists()


def test_feed_and_by_date_copies_of_an_entry_are_one_entry(make_setup):
    setup = make_setup(report_only({"L1": chain(6)}), report_page_size=4)
    config = setup.config()
    assert pull(config, ["vipps_report"]).ok
    assert pull(config, ["vipps_report"], request=PullRequest(vipps_dates=[DAY])).ok
    (config.lake / "_state" / "vipps_report" / "funds-L1.json").unlink()  # read the whole feed again
    assert pull(config, ["vipps_report"]).ok
    assert rows(config, "SELECT count(*), count(DISTINCT entry_key) FROM raw_vipps_funds_entries") == [(18, 6)]
    assert rows(config, "SELECT count(*) FROM vipps_funds_entries") == [(6,)]
    # Every copy of an entry has the key of the other copies, and the feed copies the same position.
    assert rows(config, "SELECT count(*) FROM (SELECT entry_key FROM raw_vipps_funds_entries "
                        "GROUP BY entry_key HAVING count(DISTINCT feed_seq) <> 1)") == [(0,)]


def test_a_ledger_without_consent_fails_alone(make_setup):
    ds = report_only({"L1": chain(3, ledger="L1"), "L2": chain(3, ledger="L2")})
    setup = make_setup(ds, quirks="vipps-revoked=L2")
    config = setup.config()
    [result] = pull(config, ["vipps_report"]).sources
    assert (result.ok, result.outcome) == (False, "partial")
    assert list(result.failed_parts) == ["ledger L2"] and "No such ledgerId" in result.failed_parts["ledger L2"]
    assert rows(config, "SELECT ledger_id, count(*) FROM vipps_funds_entries GROUP BY ALL") == [("L1", 3)]
    assert (config.lake / "_state" / "vipps_report" / "funds-L1.json").exists()
    assert not (config.lake / "_state" / "vipps_report" / "funds-L2.json").exists()


def test_unknown_entry_types_land_signed_as_sent_and_bad_entries_go_to_quarantine(make_setup):
    funds = chain(2)
    odd = report_entry("instant-payout-fee", -250, funds[-1]["balanceAfter"], ts=T0 + timedelta(hours=1),
                       psp=None, reference=None)
    broken = {**report_entry("capture", 500, odd["balanceAfter"], ts=T0 + timedelta(hours=2), psp="X1"),
              "balanceAfter": None}
    setup = make_setup(report_only({"L1": [*funds, odd, broken]}))
    config = setup.config()
    [result] = pull(config, ["vipps_report"]).sources
    assert result.ok and result.unknown == {"funds entryType 'instant-payout-fee'": 1}
    assert rows(config, "SELECT entry_type, amount FROM vipps_funds_entries WHERE entry_type NOT IN ('capture')") == [
        ("instant-payout-fee", -250)]
    assert rows(config, "SELECT reason_code, record_id FROM quarantine") == [("missing_field", "X1")]


def test_a_feed_longer_than_the_page_bound_fails_loudly_and_keeps_its_cursor(make_setup):
    setup = make_setup(report_only({"L1": chain(10)}), report_page_size=3)
    text = setup.config_path.read_text()
    assert "[http]\n" in text
    setup.config_path.write_text(text.replace("[http]\n", "[http]\nmax_pages_per_listing = 2\n"))
    config = setup.config()
    [result] = pull(config, ["vipps_report"]).sources
    assert result.outcome == "failed" and "read 2 pages without reaching the end" in result.error
    assert not (config.lake / "_state" / "vipps_report" / "funds-L1.json").exists()


def test_the_report_api_is_never_asked_for_personal_data_and_none_lands(make_setup):
    ds = small_dataset(n=4, ledgers=("L1",))
    ds.ledgers["L1"].funds = [{**e, "name": "Kari Nordmann", "maskedPhoneNo": "xxxx1234", "message": "takk"}
                              for e in ds.ledgers["L1"].funds]
    setup = make_setup(ds)
    config = setup.config()
    assert pull(config, ["vipps_report"]).ok
    asked = [r for r in setup.sandbox.requests_log if "/report/" in r["path"]]
    assert asked and not any("includeGDPRSensitiveData" in r["query"] for r in asked)
    assert rows(config, "SELECT count(*) FROM raw_vipps_funds_entries WHERE _raw LIKE '%Kari%' "
                        "OR _raw LIKE '%xxxx1234%' OR _raw LIKE '%takk%'") == [(0,)]
    assert rows(config, "SELECT count(*) FROM raw_vipps_funds_entries") == [(4,)]


def test_sales_entries_and_their_funds_share_psp_references(make_setup):
    entries = [vipps_entry(i) for i in range(3)]
    funds, fees = settled(entries)
    setup = make_setup(Dataset(ledgers={"L1": Ledger("L1", entries=entries, funds=funds, fees=fees)}))
    config = setup.config()
    assert pull(config).ok
    assert rows(config, "SELECT s.psp_reference, s.gross, f.amount, c.amount FROM vipps_sales_entries AS s "
                        "JOIN vipps_funds_entries AS f USING (ledger_id, psp_reference) "
                        "JOIN vipps_fees_entries AS c USING (ledger_id, psp_reference) ORDER BY 1") == [
        (f"L1-psp-{i}", 10000, 10000, -100) for i in range(3)]
