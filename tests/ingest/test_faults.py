"""Every fault the sandbox can inject is retried and survived: the lake equals a clean run's."""

from __future__ import annotations

import dataclasses

import pytest
from builders import small_dataset

from recon.config import VippsLedger
from recon.ingest.pull import pull
from recon.lake.integrity import duplicate_keys, fingerprint
from recon.lake.schemas import TABLES


@pytest.fixture(scope="module")
def dataset():
    return small_dataset(n=23)


@pytest.fixture
def clean(make_setup, dataset, tmp_path):
    setup = make_setup(dataset, lake=tmp_path / "clean-lake")
    config = setup.config()
    assert pull(config).ok
    setup.sandbox.stop()
    clean = fingerprint(config)
    assert all(clean[name] for name in TABLES), \
        "equal to an empty table would prove nothing"
    return clean


@pytest.mark.parametrize("kind", ["429", "429date", "429bare", "500", "503", "slow", "truncate", "drop", "repeat"])
def test_fault_is_survived_and_the_lake_equals_a_clean_run(kind, make_setup, dataset, clean, tmp_path):
    # Requests 2, 5 and 9 fall in different sources (vipps, entur and samtrafiken pages).
    setup = make_setup(dataset, faults=f"{kind}@2+5+9,retry_after=0", lake=tmp_path / "faulty-lake")
    # No page-base probe: its refused page 0 would absorb a fault without a retry to count.
    setup.config_path.write_text(setup.config_path.read_text().replace("[entur]\n", "[entur]\npage_base = 1\n"))
    config = setup.config()
    result = pull(config)
    assert result.ok, [r.error for r in result.sources]
    assert setup.sandbox.stats[f"fault_{kind}"] == 3
    if kind != "repeat":
        assert sum(sum(r.retries.values()) for r in result.sources) >= 3
    assert fingerprint(config) == clean
    assert duplicate_keys(config) == 0


@pytest.mark.parametrize(("source", "tables"), [
    ("samtrafiken", ["samtrafiken_booking_events"]),
    ("vipps_report", ["vipps_funds_entries", "vipps_fees_entries"]),
])
def test_a_feed_page_repeating_the_previous_record_moves_no_feed_position(source, tables, make_setup, dataset,
                                                                           clean, tmp_path):
    # Each faulted page starts with the previous page's last record again: it must not take a
    # position of its own, or every later record's feed_seq would differ from a clean pull's.
    setup = make_setup(dataset, faults="repeat@2+3", lake=tmp_path / "faulty-lake")
    config = setup.config()
    result = pull(config, [source])
    assert result.ok, [r.error for r in result.sources]
    assert setup.sandbox.stats["fault_repeat"] == 2
    landed = fingerprint(config)
    for table in tables:
        assert landed[table] == clean[table]
    assert duplicate_keys(config) == 0


def test_retry_after_is_honoured(make_setup, dataset, tmp_path):
    setup = make_setup(dataset, faults="429@1,503@3,retry_after=1")
    result = pull(setup.config(), ["vipps"])
    assert result.ok
    vipps = result.sources[0]
    assert vipps.retries == {"HTTP 429": 1, "HTTP 503": 1}
    # Our backoff is at most 0.05 s here, so only the server's Retry-After explains 2 s of waiting.
    assert vipps.waited_seconds >= 2.0


def test_retry_after_as_http_date_is_honoured(make_setup, dataset):
    setup = make_setup(dataset, faults="429date@1,retry_after=2")
    result = pull(setup.config(), ["entur"])
    assert result.ok
    assert result.sources[0].waited_seconds >= 0.9  # an HTTP date has whole-second precision


def test_persistent_failure_fails_the_source_and_keeps_the_cursor(make_setup, dataset, tmp_path):
    setup = make_setup(dataset, faults="500:1.0")
    config = setup.config()
    result = pull(config)
    assert not result.ok
    assert {r.source for r in result.failures()} == {"vipps", "vipps_report", "entur", "samtrafiken"}
    assert "gave up after 5 attempts: HTTP 500" in result.sources[0].error
    assert not list((config.lake / "_state" / "vipps").glob("*.json"))
    assert not list((config.lake / "_state" / "vipps_report").glob("*.json"))


def test_a_4xx_fails_at_once_with_the_servers_problem_details(make_setup, dataset, tmp_path):
    setup = make_setup(dataset)
    config = setup.config()
    bad = dataclasses.replace(config, vipps=dataclasses.replace(config.vipps, ledgers=(VippsLedger("NOPE"),)))
    result = pull(bad, ["vipps"])
    assert not result.ok
    assert "404" in result.sources[0].error and "No such ledgerId" in result.sources[0].error
    assert result.sources[0].retries == {}
    assert result.sources[0].requests == 2  # the token, then one data call: a 4xx is never retried
