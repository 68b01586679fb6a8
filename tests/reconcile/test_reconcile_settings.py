"""Each [reconcile] setting, changed alone on small hand-built data, changes exactly what it should."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from builders import T0, entur_payment, vipps_entry

from recon.config import load_config
from recon.ingest.pull import pull
from recon.lake.catalog import connect
from recon.lake.store import Lake
from recon.reconcile.runner import reconcile
from recon.sandbox.dataset import Dataset, Ledger

DAY = date(2026, 10, 24)  # T0's business date in Europe/Oslo


def dataset(entries, payments) -> Dataset:
    return Dataset(ledgers={"L1": Ledger("L1", entries=entries)}, payments=payments)


@pytest.fixture
def lake(make_setup, tmp_path):
    """Pull a dataset once; ``run(settings)`` reconciles it under extra [reconcile] settings."""

    def make(ds: Dataset):
        setup = make_setup(ds)
        assert pull(setup.config()).ok
        base = setup.config_path.read_text()

        def run(settings: str = "", *, period=(DAY, DAY), today=date(2026, 11, 23), table="recon_mismatches",
                columns="code, psp_reference"):
            path = tmp_path / f"variant-{abs(hash(settings))}.toml"
            path.write_text(base + "\n[reconcile]\n" + settings)
            config = load_config(path, env=setup.env)
            reconcile(config, *period, today=today)
            con = connect(Lake(config.lake))
            try:
                return con.execute(f"SELECT {columns} FROM {table} ORDER BY ALL").fetchall()
            finally:
                con.close()
        return run
    return make


def test_tolerance_is_the_amount_difference_allowed_in_minor_units(lake):
    run = lake(dataset([vipps_entry(0, gross=10000)], [entur_payment(0, amount=10001)]))
    assert run() == [("AMOUNT_MISMATCH", "L1-psp-0")]
    assert run("tolerance = 1") == []


def test_window_days_decides_timing_difference(lake):
    two_days_later = T0 + timedelta(days=2)
    run = lake(dataset([vipps_entry(0)], [entur_payment(0, ts=two_days_later)]))
    period = (DAY, DAY + timedelta(days=2))
    assert run("window_days = 3", period=period) == []
    assert run("window_days = 2", period=period) == []  # exactly the window is not a difference
    assert run("window_days = 1", period=period) == [("TIMING_DIFFERENCE", "L1-psp-0")]


def test_reference_prefix_and_suffix_are_stripped_for_key_2(lake):
    # pspReferences that Entur does not know: only key 2 (reference = orderId) can match them.
    entries = [vipps_entry(0, psp="v-0", reference="ACME-ORD00000"), vipps_entry(1, psp="v-1", reference="ORD00001/x")]
    run = lake(dataset(entries, [entur_payment(0), entur_payment(1)]))
    both_missing = [("MISSING_IN_ENTUR", "v-0"), ("MISSING_IN_ENTUR", "v-1"), ("MISSING_IN_VIPPS", None),
                    ("MISSING_IN_VIPPS", None)]
    assert run() == both_missing
    assert run('reference_prefix = "ACME-"') == [("MISSING_IN_ENTUR", "v-1"), ("MISSING_IN_VIPPS", None)]
    assert run('reference_suffix = "/x"') == [("MISSING_IN_ENTUR", "v-0"), ("MISSING_IN_VIPPS", None)]
    assert run('reference_prefix = "ACME-"\nreference_suffix = "/x"') == []


def test_availability_lag_days_marks_recent_dates_provisional(lake):
    run = lake(dataset([vipps_entry(0, gross=10000)], [entur_payment(0, amount=9000)]))
    today = DAY + timedelta(days=1)
    assert run(today=today, columns="code, provisional") == [("AMOUNT_MISMATCH", False)]
    assert run("availability_lag_days = 1", today=today, columns="code, provisional") == [("AMOUNT_MISMATCH", True)]


def test_vat_rates_decide_which_rates_are_known(lake):
    run = lake(dataset([vipps_entry(0, rate=1200)], [entur_payment(0)]))
    assert run(table="vat_summary", columns="vat_rate_bp, rate_known") == [(1200, True)]
    assert run("[reconcile.vat_rates]\nNOK = [2500]", table="vat_summary",
               columns="vat_rate_bp, rate_known") == [(1200, False)]


def test_vat_line_tolerance_is_the_vat_a_line_may_be_off_in_minor_units(lake):
    entry = vipps_entry(0, gross=10000, rate=1200)
    entry["lines"][0]["vatAmount"] += 2
    entry["amounts"]["vat"] += 2
    entry["lines"][0]["lineTotalNet"] -= 2
    entry["amounts"]["net"] -= 2
    run = lake(dataset([entry], [entur_payment(0)]))
    assert run() == [("VAT_MISMATCH", "L1-psp-0")]
    assert run("vat_line_tolerance = 2") == []


def test_vipps_payment_types_choose_which_vipps_entries_are_matched_against_entur(lake):
    card = {**vipps_entry(0), "paymentType": "CARD"}  # an mPOS card sale: Entur holds it as a card payment
    untyped = {k: v for k, v in vipps_entry(1).items() if k != "paymentType"}
    run = lake(dataset([card, untyped, vipps_entry(2)], [entur_payment(2)]))
    assert run() == [("MISSING_IN_ENTUR", "L1-psp-1")]  # no paymentType: takes part
    assert run('vipps_payment_types = ["WALLET", "CARD"]') == [("MISSING_IN_ENTUR", "L1-psp-0"),
                                                              ("MISSING_IN_ENTUR", "L1-psp-1")]
