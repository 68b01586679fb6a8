"""Against servers that do what the documents leave open, a pull lands everything or fails loudly.

Each case runs over loopback HTTP against the sandbox with one quirk switched on
(recon/sandbox/quirks.py); none of them may end in success with records missing.
"""

from __future__ import annotations

import os
import subprocess
import sys

from builders import small_dataset
from lake_rows import rows

from recon.ingest.pull import pull
from recon.lake.store import Lake


def count(config, table):
    return rows(config, f"SELECT count(*) FROM {table}")[0][0]


def entur_pages(setup):
    return [c["query"] for c in setup.sandbox.requests_log if c["path"].endswith("/payments")]


def test_a_server_counting_pages_from_0_is_detected_and_read_whole(make_setup):
    ds = small_dataset(n=23)
    setup = make_setup(ds, entur_page_base=0)
    config = setup.config()
    assert config.entur.page_base is None  # auto, the default
    result = pull(config, ["entur"])
    assert result.ok, result.sources[0].error
    assert count(config, "entur_payments") == 23 and count(config, "entur_credits") == len(ds.credits)
    assert Lake(config.lake).read_state("entur", "payments")["watermark"] is not None
    assert entur_pages(setup)[0]["page"] == "0"


def test_a_server_counting_pages_from_1_is_detected_too(make_setup):
    setup = make_setup(small_dataset(n=23))
    config = setup.config()
    assert pull(config, ["entur"]).ok
    assert count(config, "entur_payments") == 23
    assert [q["page"] for q in entur_pages(setup)][:2] == ["0", "1"]  # the probe, refused; then page 1


def test_a_refused_per_page_is_retried_smaller(make_setup):
    setup = make_setup(small_dataset(n=23), quirks="entur-per-page-limit=4")
    config = setup.config()
    assert config.entur.page_size == 10
    result = pull(config, ["entur"])
    assert result.ok, result.sources[0].error
    assert count(config, "entur_payments") == 23
    assert {q["perPage"] for q in entur_pages(setup)} == {"10", "4"}


def test_total_pages_reported_too_low_fails_loudly_and_keeps_the_watermark(make_setup):
    setup = make_setup(small_dataset(n=23), quirks="entur-total-pages=low")
    config = setup.config()
    result = pull(config, ["entur"])
    assert not result.ok
    assert "read 10 distinct records but the server said totalItems=23" in result.sources[0].error
    assert Lake(config.lake).read_state("entur", "payments") is None


def test_a_total_pages_that_grows_with_every_page_still_ends(make_setup):
    setup = make_setup(small_dataset(n=23), quirks="entur-total-pages=growing")
    config = setup.config()
    assert pull(config, ["entur"]).ok
    assert count(config, "entur_payments") == 23


def test_a_vipps_feed_without_has_more_is_read_to_its_end(make_setup):
    ds = small_dataset(n=23)
    setup = make_setup(ds, quirks="vipps-has-more=omit")
    config = setup.config()
    result = pull(config, ["vipps"])
    assert result.ok, result.sources[0].error
    assert count(config, "vipps_sales_entries") == 46
    for ledger in ds.ledgers:
        assert Lake(config.lake).read_state("vipps", f"ledger-{ledger}")["cursor"]


def test_a_vipps_feed_that_never_ends_fails_the_source_instead_of_looping(make_setup):
    setup = make_setup(small_dataset(n=5), quirks="vipps-has-more=forever")
    config = setup.config()
    result = pull(config, ["vipps"])
    assert not result.ok
    assert "5 empty pages in a row that say hasMore: true" in result.sources[0].error
    assert len(setup.sandbox.requests_log) < 20


def test_recon_run_never_exits_0_when_a_listing_is_incomplete(make_setup, tmp_path):
    setup = make_setup(small_dataset(n=23), quirks="entur-total-pages=low")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("RECON_")}, **setup.env}
    proc = subprocess.run([sys.executable, "-m", "recon.cli", "run", "--config", str(setup.config_path),
                           "--from", "2026-10-24", "--to", "2026-10-24"], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 3
    assert "totalItems=23" in proc.stderr
