"""Exceptions across runs, over real pulls and reconciles: stable IDs, open / cleared / resolved,
incomplete checks that never clear, reopening on changed amounts, aging, and `recon resolve`."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, timedelta

import pytest
from builders import T0, entur_payment, settled, vipps_entry
from lake_rows import rows
from openpyxl import Workbook

from recon.errors import ConfigError
from recon.ingest.pull import pull
from recon.lake.catalog import connect, exceptions_sql
from recon.lake.store import Lake
from recon.reconcile.runner import reconcile
from recon.reports.resolve import resolve_file
from recon.sandbox.dataset import Dataset, Ledger

DAY = date(2026, 10, 24)
TODAY = date(2026, 11, 23)


def exceptions(config, today: date = TODAY) -> dict[str, dict]:
    con = connect(Lake(config.lake))
    try:
        cur = con.execute(f"SELECT * FROM ({exceptions_sql(f'DATE {today.isoformat()!r}')})")
        names = [d[0] for d in cur.description]
        return {r[0]: dict(zip(names, r, strict=True)) for r in cur.fetchall()}
    finally:
        con.close()


@pytest.fixture
def books(make_setup):
    """Vipps captures 0..3 with their Entur payments, except: Entur pays 1 a krone more, and Vipps
    lacks capture 2 (Entur has it: MISSING_IN_VIPPS); returns (setup, dataset)."""
    entries = [vipps_entry(i) for i in (0, 1, 3)]
    funds, fees = settled(entries)
    ds = Dataset(ledgers={"L1": Ledger("L1", entries=entries, funds=funds, fees=fees)},
                 payments=[entur_payment(0), entur_payment(1, amount=10100), entur_payment(2), entur_payment(3)])
    setup = make_setup(ds)
    assert pull(setup.config()).ok
    return setup, ds


def codes(found: dict[str, dict]) -> dict[str, tuple[str, str]]:
    return {e["code"]: (eid, e["status"]) for eid, e in found.items()}


def test_the_same_records_give_the_same_id_in_every_run_and_age_moves(books):
    setup, _ = books
    config = setup.config()
    reconcile(config, DAY, DAY, today=TODAY)
    first = rows(config, "SELECT code, exception_id FROM recon_mismatches ORDER BY 1")
    assert [c for c, _ in first] == ["AMOUNT_MISMATCH", "MISSING_IN_VIPPS"]
    assert all(len(eid) == 10 and eid.isalnum() and eid.isupper() for _, eid in first)
    reconcile(config, DAY, DAY + timedelta(days=1), today=TODAY + timedelta(days=1))
    assert rows(config, "SELECT code, exception_id FROM recon_mismatches ORDER BY 1") == first
    later = exceptions(config, TODAY + timedelta(days=1))
    assert len(later) == 2
    for _, eid in first:
        e = later[eid]
        assert (e["status"], e["times_seen"], e["first_seen"], e["last_seen"]) == (
            "open", 2, TODAY, TODAY + timedelta(days=1))
        assert e["age_days"] == (TODAY + timedelta(days=1) - DAY).days
        assert e["first_run_id"] != e["last_run_id"]  # run ids are not ordered within one second


def test_late_data_clears_an_exception_but_an_incomplete_check_never_does(books):
    setup, ds = books
    config = setup.config()
    reconcile(config, DAY, DAY, today=TODAY)
    missing, status = codes(exceptions(config))["MISSING_IN_VIPPS"]
    assert status == "open"
    # The capture arrives late in the Vipps feed (and settles).
    late = vipps_entry(2)
    ds.ledgers["L1"].entries = [*ds.ledgers["L1"].entries, late]
    assert pull(config).ok
    # A run whose Vipps check was incomplete does not clear it, though the row is gone ...
    reconcile(config, DAY, DAY, today=TODAY, failed={"vipps_report": "HTTP 500"})
    assert missing not in dict(rows(config, "SELECT exception_id, code FROM recon_mismatches"))
    assert exceptions(config)[missing]["status"] == "open"
    # ... a complete one does, and the exception stays listed.
    reconcile(config, DAY, DAY, today=TODAY)
    assert exceptions(config)[missing]["status"] == "cleared"
    # A run of another period says nothing about it.
    reconcile(config, DAY + timedelta(days=5), DAY + timedelta(days=5), today=TODAY)
    assert exceptions(config)[missing]["status"] == "cleared"


def test_aging_buckets_on_a_fixed_today(books):
    setup, _ = books
    config = setup.config()
    reconcile(config, DAY, DAY, today=TODAY)
    for days, bucket in [(0, "0-2"), (2, "0-2"), (3, "3-7"), (7, "3-7"), (8, "8-30"), (30, "8-30"),
                         (31, "over 30")]:
        found = exceptions(config, DAY + timedelta(days=days))
        assert {(e["age_days"], e["aging_bucket"]) for e in found.values()} == {(days, bucket)}


def csv_file(tmp_path, name: str, lines: list[str]):
    path = tmp_path / name
    path.write_text("exception_id,resolution,comment,owner\n" + "\n".join(lines) + "\n")
    return path


def test_resolve_a_csv_is_idempotent_and_a_changed_amount_reopens(books, tmp_path):
    setup, ds = books
    config = setup.config()
    reconcile(config, DAY, DAY, today=TODAY)
    amount, _ = codes(exceptions(config))["AMOUNT_MISMATCH"]
    path = csv_file(tmp_path, "r.csv", [f"{amount},explained,Entur fee added,kari"])
    first = resolve_file(config, path)
    assert (first.resolved, first.updated, first.unchanged) == (1, 0, 0)
    assert exceptions(config)[amount]["status"] == "resolved"
    again = resolve_file(config, path)
    assert (again.resolved, again.updated, again.unchanged) == (0, 0, 1)
    assert rows(config, "SELECT count(*) FROM recon_resolutions") == [(1,)]
    changed = resolve_file(config, csv_file(tmp_path, "r2.csv", [f"{amount},written-off,,ola"]))
    assert (changed.resolved, changed.updated) == (0, 1)
    # A rerun of the same data keeps it resolved ...
    reconcile(config, DAY, DAY, today=TODAY)
    assert exceptions(config)[amount]["status"] == "resolved"
    # ... but Entur changes the amount again: same records, same ID, open again, history kept.
    payment = ds.payments[1]
    tx = payment["transactionHistory"][0]
    tx["amount"] = tx["summary"]["capturedAmount"] = "102.00"
    payment["updatedAt"] = (T0 + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert pull(config).ok
    reconcile(config, DAY, DAY, today=TODAY)
    e = exceptions(config)[amount]
    assert (e["status"], e["difference"]) == ("open", -200)
    assert rows(config, f"SELECT resolution, owner, difference FROM recon_resolutions "
                        f"WHERE exception_id = '{amount}' ORDER BY resolved_at") == [
        ("explained", "kari", -100), ("written-off", "ola", -100)]


def test_resolve_validates_the_whole_file_first(books, tmp_path):
    setup, _ = books
    config = setup.config()
    reconcile(config, DAY, DAY, today=TODAY)
    amount, _ = codes(exceptions(config))["AMOUNT_MISMATCH"]
    missing, _ = codes(exceptions(config))["MISSING_IN_VIPPS"]
    bad = csv_file(tmp_path, "bad.csv", [
        f"{missing},explained,,", "NOPE123456,explained,,", f"{amount},lost-it,,", f"{amount},,just a comment,",
        f"{missing},timing-ok,,"])
    with pytest.raises(ConfigError) as err:
        resolve_file(config, bad)
    assert err.value.problems == [
        "bad.csv: nothing applied; fix these 4 row(s) and run recon resolve again",
        "bad.csv: line 3: unknown exception ID 'NOPE123456' (not an exception of this lake)",
        "bad.csv: line 4: unknown resolution 'lost-it' for " + amount + "; use one of explained, "
        "corrected-in-source, written-off, timing-ok ([report] resolution_codes)",
        f"bad.csv: line 5: exception {amount} has a comment or owner but no resolution; choose one of explained, "
        "corrected-in-source, written-off, timing-ok",
        f"bad.csv: line 6: {missing} is resolved differently on line 2"]
    assert rows(config, "SELECT count(*) FROM recon_resolutions") == [(0,)]  # the good row was not applied
    assert {e["status"] for e in exceptions(config).values()} == {"open"}


def test_a_workbook_of_another_lake_or_with_changed_amounts_is_refused(books, tmp_path):
    setup, _ = books
    config = setup.config()
    reconcile(config, DAY, DAY, today=TODAY)
    amount, _ = codes(exceptions(config))["AMOUNT_MISMATCH"]

    def workbook(name: str, lake_id: str, difference: str):
        wb = Workbook()
        ws = wb.active
        ws.title = "Worklist"
        ws.append(["Exception ID", "Vipps amount", "Entur amount", "Booking amount", "Difference", "Resolution",
                   "Comment", "Owner"])
        ws.append([amount, 100.0, 101.0, None, float(difference), "explained", None, "kari"])
        wb.create_sheet("Control").append(["Lake id", lake_id])
        wb.save(tmp_path / name)
        return tmp_path / name

    lake_id = Lake(config.lake).lake_id()
    with pytest.raises(ConfigError, match="written from another lake"):
        resolve_file(config, workbook("other.xlsx", "0123456789abcdef", "-1.00"))
    with pytest.raises(ConfigError, match=rf"Worklist row 2: the amounts of {amount} changed since .*Difference"):
        resolve_file(config, workbook("stale.xlsx", lake_id, "-2.00"))
    assert resolve_file(config, workbook("good.xlsx", lake_id, "-1.00")).resolved == 1


def test_the_cli_resolves_and_fails_with_exit_2_naming_the_rows(books, tmp_path):
    setup, _ = books
    config = setup.config()
    reconcile(config, DAY, DAY, today=TODAY)
    amount, _ = codes(exceptions(config))["AMOUNT_MISMATCH"]

    def cli(path):
        return subprocess.run([sys.executable, "-m", "recon.cli", "resolve", "--config", str(setup.config_path),
                               str(path)], capture_output=True, text=True, timeout=120, env=setup.env | {
                                   "PATH": "/usr/bin:/bin"})

    good = cli(csv_file(tmp_path, "ok.csv", [f"{amount},explained,,"]))
    assert (good.returncode, good.stdout.strip()) == (0, "ok.csv: 1 resolved, 0 updated, 0 unchanged"), good.stderr
    bad = cli(csv_file(tmp_path, "bad.csv", ["NOPE,explained,,"]))
    assert bad.returncode == 2
    assert bad.stderr.splitlines()[-1] == "recon: error: bad.csv: line 2: unknown exception ID 'NOPE' (not an " \
                                          "exception of this lake)"


def test_fail_on_age_exits_5_only_for_an_open_exception_older_than_the_limit(books, tmp_path):
    from recon.lake.store import new_run_id
    from recon.ops.run import run_job

    setup, _ = books
    config = setup.config()
    age = (TODAY - DAY).days
    at_limit = run_job(config, new_run_id(), date_from=DAY, date_to=DAY, today=TODAY, fail_on_age=age)
    assert (at_limit.exit_code, at_limit.oldest_open[2]) == (0, age)
    over = run_job(config, new_run_id(), date_from=DAY, date_to=DAY, today=TODAY, fail_on_age=age - 1)
    assert over.exit_code == 5 and over.oldest_open[1] in ("AMOUNT_MISMATCH", "MISSING_IN_VIPPS")
    # Resolved and cleared exceptions are not open: with both resolved nothing is too old.
    resolve_file(config, csv_file(tmp_path, "all.csv", [f"{eid},explained,," for eid in exceptions(config)]))
    assert run_job(config, new_run_id(), date_from=DAY, date_to=DAY, today=TODAY, fail_on_age=0).exit_code == 0


def test_runs_are_ordered_by_when_they_ran_not_by_their_ids(books):
    """Two runs in one second have ids that sort by their random part: the later run must decide."""
    setup, ds = books
    config = setup.config()
    reconcile(config, DAY, DAY, today=TODAY, run_id="20261123T000000Z-ffffff")
    missing, _ = codes(exceptions(config))["MISSING_IN_VIPPS"]
    ds.ledgers["L1"].entries = [*ds.ledgers["L1"].entries, vipps_entry(2)]
    assert pull(config).ok
    reconcile(config, DAY, DAY, today=TODAY, run_id="20261123T000000Z-000000")  # sorts first, ran last
    e = exceptions(config)[missing]
    assert (e["status"], e["last_run_id"]) == ("cleared", "20261123T000000Z-ffffff")
