"""Incremental pulls: Vipps resumes from its cursor, Entur from a watermark with a look-back window."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from builders import T0, booking_event, entur_payment, iso, small_dataset, vipps_entry

from recon.ingest.pull import PullRequest, pull
from recon.lake.catalog import connect
from recon.lake.store import Lake


def q(config, sql):
    return connect(Lake(config.lake)).execute(sql).fetchall()


def test_vipps_and_samtrafiken_resume_from_the_stored_cursor(make_setup):
    ds = small_dataset(n=20)
    setup = make_setup(ds)
    config = setup.config()
    assert pull(config).ok
    ds.ledgers["L1"].entries.append(vipps_entry(500, ledger="L1", reference="late"))
    ds.events.append(booking_event(500))
    log_start = len(setup.sandbox.requests_log)
    result = pull(config, ["vipps", "samtrafiken"])
    assert result.ok
    vipps = result.sources[0]
    assert vipps.records == 1 and vipps.pages == 2  # one page per ledger, only the new entry
    assert result.sources[1].records == 1
    feed_calls = [c for c in setup.sandbox.requests_log[log_start:] if c["path"].startswith("/vipps/sales")]
    assert {c["path"] for c in feed_calls} == {f"/vipps/sales/report/v1/ledgers/{lid}" for lid in ds.ledgers}
    assert all("cursor" in c["query"] for c in feed_calls)  # each ledger from its stored cursor
    entries = sum(len(ledger.entries) for ledger in ds.ledgers.values())
    assert q(config, "SELECT count(*) FROM vipps_sales_entries")[0][0] == entries
    assert q(config, "SELECT max(feed_seq) FROM samtrafiken_booking_events")[0][0] == len(ds.events)


def test_entur_watermark_with_lookback_catches_changed_records(make_setup):
    ds = small_dataset(n=10)
    ds.payments = [entur_payment(i, updated=T0 + timedelta(minutes=i)) for i in range(10)]
    ds.payments[3]["transactionHistory"][0]["status"] = "INITIATED"
    setup = make_setup(ds)
    config = setup.config()
    assert pull(config, ["entur"]).ok
    state = Lake(config.lake).read_state("entur", "payments")
    assert datetime.fromisoformat(state["watermark"]) == T0 + timedelta(minutes=9)  # the latest updatedAt

    # Payment 3 is captured later; the API bumps its updatedAt.
    ds.payments[3]["transactionHistory"][0]["status"] = "CAPTURED"
    ds.payments[3]["updatedAt"] = iso(T0 + timedelta(minutes=30))
    log_start = len(setup.sandbox.requests_log)
    assert pull(config, ["entur"]).ok
    calls = [c for c in setup.sandbox.requests_log[log_start:] if c["path"].endswith("/payments")]
    lookback = T0 + timedelta(minutes=9) - timedelta(hours=72)
    assert calls[0]["query"]["updatedAt"] == f"gte:{iso(lookback)}"
    assert q(config, "SELECT status FROM entur_payment_transactions WHERE payment_id = '1003'") == [("CAPTURED",)]
    assert q(config, "SELECT count(*) FROM raw_entur_payments WHERE payment_id = '1003'")[0][0] == 2
    assert q(config, "SELECT count(*) FROM entur_payments")[0][0] == len(ds.payments)


def test_entur_credits_without_a_watermark_field_are_pulled_whole_and_deduplicated(make_setup):
    ds = small_dataset(n=10)
    assert ds.credits
    setup = make_setup(ds)
    config = setup.config()
    assert pull(config, ["entur"]).ok
    assert pull(config, ["entur"]).ok
    assert q(config, "SELECT count(*) FROM raw_entur_credits")[0][0] == 2 * len(ds.credits)  # each run: all
    assert q(config, "SELECT count(*) FROM entur_credits")[0][0] == len(ds.credits)


def test_vipps_by_ledger_date_and_lookups_do_not_move_the_feed_cursor(make_setup):
    ds = small_dataset(n=3, ledgers=("L1",))
    ds.ledgers["L1"].entries.append(vipps_entry(7, ledger="L1", reference="next-day", ts=T0 + timedelta(days=1)))
    setup = make_setup(ds)
    config = setup.config()
    assert pull(config, ["vipps"], request=PullRequest(vipps_dates=[date(2026, 10, 25)])).ok
    assert q(config, "SELECT reference FROM vipps_sales_entries") == [("next-day",)]
    assert Lake(config.lake).read_state("vipps", "ledger-L1") is None
    assert pull(config, ["vipps"], request=PullRequest(vipps_psp_reference="L1-psp-1")).ok
    assert pull(config, ["vipps"], request=PullRequest(vipps_reference="L1-2")).ok
    assert sorted(r[0] for r in q(config, "SELECT reference FROM vipps_sales_entries")) == ["L1-1", "L1-2", "next-day"]
    assert pull(config, ["vipps"]).ok
    assert q(config, "SELECT count(*) FROM vipps_sales_entries")[0][0] == len(ds.ledgers["L1"].entries)


def test_business_dates_follow_the_ledger_zone_across_daylight_saving(make_setup):
    ds = small_dataset(n=0, ledgers=("L1",))
    # 2026-10-25 is the autumn change in Oslo: midnight is 22:00 UTC on the 24th (CEST, +2) but
    # 23:00 UTC on the 25th (CET, +1).
    ds.ledgers["L1"].entries = [
        vipps_entry(1, ledger="L1", ts=T0.replace(day=24, hour=21, minute=59)),
        vipps_entry(2, ledger="L1", ts=T0.replace(day=24, hour=22, minute=0)),
        vipps_entry(3, ledger="L1", ts=T0.replace(day=25, hour=22, minute=59)),
        vipps_entry(4, ledger="L1", ts=T0.replace(day=25, hour=23, minute=0)),
    ]
    setup = make_setup(ds)
    config = setup.config()
    assert pull(config, ["vipps"]).ok
    got = q(config, "SELECT psp_reference, business_date FROM vipps_sales_entries ORDER BY 1")
    assert [(p, d.isoformat()) for p, d in got] == [
        ("L1-psp-1", "2026-10-24"), ("L1-psp-2", "2026-10-25"), ("L1-psp-3", "2026-10-25"),
        ("L1-psp-4", "2026-10-26")]


def test_an_api_that_refuses_the_watermark_filter_is_read_whole(make_setup):
    ds = small_dataset(n=6)
    setup = make_setup(ds)
    # paymentId takes numbers only: the sandbox answers 400 to a timestamp, as a strict API would.
    setup.config_path.write_text(setup.config_path.read_text().replace(
        "[entur]\n", '[entur]\npayments_watermark_field = "paymentId"\nstart = "2026-10-01T00:00:00Z"\n', 1))
    config = setup.config()
    assert pull(config, ["entur"]).ok
    calls = [c["query"] for c in setup.sandbox.requests_log if c["path"].endswith("/payments")]
    assert calls[0]["paymentId"] == "gte:2026-10-01T00:00:00Z" and "paymentId" not in calls[-1]
    assert q(config, "SELECT count(*) FROM entur_payments")[0][0] == len(ds.payments)
