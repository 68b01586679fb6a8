"""Each ingest setting, changed alone against the sandbox, changes exactly what it should."""

from __future__ import annotations

import json

from builders import booking_event, entur_credit, entur_payment, small_dataset
from lake_rows import rows

from recon.ingest.pull import pull
from recon.lake.store import Lake


def entur_calls(setup, endpoint, start=0):
    return [c for c in setup.sandbox.requests_log[start:] if c["path"].endswith(endpoint)]


def test_page_base_0_reads_a_server_that_counts_pages_from_0(make_setup):
    ds = small_dataset(n=25)
    setup = make_setup(ds, entur_page_base=0)
    text = setup.config_path.read_text().replace("[entur]\n", "[entur]\npage_base = 0\n")
    setup.config_path.write_text(text)
    config = setup.config()
    assert config.entur.page_base == 0
    assert pull(config, ["entur"]).ok
    pages = [c["query"]["page"] for c in entur_calls(setup, "/payments")]
    assert pages[0] == "0" and pages == [str(n) for n in range(len(pages))]
    assert rows(config, "SELECT count(*) FROM entur_payments") == [(25,)]


def test_page_base_1_starts_at_page_1_without_a_probe(make_setup):
    setup = make_setup(small_dataset(n=25))
    setup.config_path.write_text(setup.config_path.read_text().replace("[entur]\n", "[entur]\npage_base = 1\n"))
    assert setup.config().entur.page_base == 1
    assert pull(setup.config(), ["entur"]).ok
    pages = [c["query"]["page"] for c in entur_calls(setup, "/payments")]
    assert pages == [str(n) for n in range(1, len(pages) + 1)]
    assert rows(setup.config(), "SELECT count(*) FROM entur_payments") == [(25,)]


def test_watermark_fields_choose_what_the_next_pull_filters_on(make_setup):
    ds = small_dataset(n=5)
    ds.credits = [{**entur_credit(i), "updatedAt": entur_credit(i)["createdAt"]} for i in range(5)]
    setup = make_setup(ds)
    text = setup.config_path.read_text().replace(
        "[entur]\n", '[entur]\npayments_watermark_field = ""\ncredits_watermark_field = "updatedAt"\n')
    setup.config_path.write_text(text)
    config = setup.config()
    assert pull(config, ["entur"]).ok
    start = len(setup.sandbox.requests_log)
    assert pull(config, ["entur"]).ok
    payments, credits = entur_calls(setup, "/payments", start), entur_calls(setup, "/credits", start)
    assert payments and credits
    assert all(set(c["query"]) == {"page", "perPage"} for c in payments)  # no filter: read whole
    assert all(c["query"]["updatedAt"].startswith("gte:") for c in credits)
    assert Lake(config.lake).read_state("entur", "payments") is None
    assert Lake(config.lake).read_state("entur", "credits")["field"] == "updatedAt"


def test_retailer_reference_field_names_the_event_field_that_holds_the_order(make_setup):
    ds = small_dataset(n=3)
    ds.payments = [entur_payment(i) for i in range(3)]
    ds.events = [{**{k: v for k, v in booking_event(i).items() if k != "retailerReference"},
                  "sellerOrder": f"ORD{i:05d}"} for i in range(3)]
    setup = make_setup(ds)
    default = setup.config()
    assert pull(default, ["samtrafiken"]).ok
    assert rows(default, "SELECT retailer_reference FROM samtrafiken_booking_events") == [(None,)] * 3

    custom = make_setup(ds, lake=setup.config().lake.parent / "custom")
    text = custom.config_path.read_text().replace(
        "[samtrafiken]\n", '[samtrafiken]\nretailer_reference_field = "sellerOrder"\n')
    custom.config_path.write_text(text)
    config = custom.config()
    assert pull(config, ["samtrafiken"]).ok
    assert rows(config, "SELECT retailer_reference FROM samtrafiken_booking_events ORDER BY 1") == [
        ("ORD00000",), ("ORD00001",), ("ORD00002",)]


def test_land_pii_keeps_the_payer_only_when_asked(make_setup, tmp_path):
    ds = small_dataset(n=2)
    for name, land in (("default", None), ("pii", True)):
        setup = make_setup(ds, lake=tmp_path / name)
        if land:
            setup.config_path.write_text(setup.config_path.read_text().replace(
                "[samtrafiken]\n", "[samtrafiken]\nland_pii = true\n"))
        config = setup.config()
        assert config.samtrafiken.land_pii is bool(land)
        assert pull(config, ["samtrafiken"]).ok
        raws = [json.loads(r) for (r,) in rows(config, "SELECT _raw FROM samtrafiken_booking_events")]
        assert len(raws) == 2
        payers = [r.get("payer") for r in raws]
        if land:
            assert payers == [{"name": "Kari Nordmann", "email": "kari@example.no"}] * 2
        else:
            assert payers == [None, None] and all("payer" not in r for r in raws)
