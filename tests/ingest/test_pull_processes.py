"""Sources pulled side by side in child processes (recon.ingest.processes): they land what a pull of
one source after another lands, and what they log and report reaches the parent, redacted."""

from __future__ import annotations

import dataclasses
import logging
import os

from builders import small_dataset
from lake_rows import rows

from recon.ingest.pull import pull
from recon.lake.schemas import TABLES

SOURCES = ["vipps", "vipps_report", "entur", "samtrafiken"]


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def landed(config) -> dict[str, list[tuple]]:
    """Every raw table's content hashes and business columns (run ids and landing times differ)."""
    out = {}
    for table, spec in TABLES.items():
        if not config.lake.joinpath("raw", table).exists():
            continue
        columns = [f.name for f in spec.schema if f.name not in ("_run_id", "_landed_at", "_row_id",
                                                                  "_parent_row_id")]
        out[table] = sorted(rows(config, f"SELECT {', '.join(columns)} FROM raw_{table}"), key=repr)
    return out


def test_sources_in_processes_land_what_one_after_another_lands(make_setup, tmp_path):
    setup = make_setup(small_dataset(n=30), extra="[vipps_report]\nenabled = true\n")
    config = setup.config()
    assert sorted(config.sources()) == sorted(SOURCES)
    handler = Collect()
    recon_log = logging.getLogger("recon")
    recon_log.addHandler(handler)
    level = recon_log.level
    recon_log.setLevel(logging.INFO)
    progress: dict[str, tuple[int, int]] = {}
    try:
        side_by_side = pull(config, parallel=True,
                            on_progress=lambda source, p: progress.__setitem__(source, (p.pages, p.records)))
    finally:
        recon_log.removeHandler(handler)
        recon_log.setLevel(level)
    one_by_one_config = dataclasses.replace(config, lake=tmp_path / "lake-sequential")
    one_by_one = pull(one_by_one_config)

    assert side_by_side.ok and one_by_one.ok
    assert [r.source for r in side_by_side.sources] == config.sources()
    for a, b in zip(side_by_side.sources, one_by_one.sources, strict=True):
        assert (a.source, a.records, a.landed, a.quarantined) == (b.source, b.records, b.landed, b.quarantined)
        assert a.records > 0
    tables = landed(config)
    assert tables == landed(one_by_one_config)
    assert sum(len(v) for v in tables.values()) > 0

    # Progress and log events were made in the children and arrive in the parent.
    assert {s: progress[s][1] for s in progress} == {r.source: r.records for r in side_by_side.sources}
    finished = {r.source: r for r in handler.records if getattr(r, "event", None) == "pull_finished"}
    assert sorted(finished) == sorted(SOURCES)
    assert all(r.process != os.getpid() for r in finished.values())
    text = "\n".join(r.getMessage() + repr(r.__dict__) for r in handler.records)
    for secret in setup.secret_values():
        assert secret not in text
