"""The sample workbook the report tests read: the embedded sandbox's sample data pulled over
loopback, reconciled for the sample period and written, once per test module (a module that
resolves exceptions changes only its own lake)."""

from __future__ import annotations

from datetime import date

import pytest
from builders import embedded_config
from openpyxl import load_workbook

from recon.ops.sandboxed import pull
from recon.reports.workbook import write_report

FROM, TO = date(2026, 10, 24), date(2026, 10, 26)
TODAY = date(2026, 11, 23)


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """(config, ReportResult, the workbook re-opened with openpyxl)."""
    config = embedded_config(tmp_path_factory.mktemp("sample"))
    assert pull(config).ok
    report = write_report(config, FROM, TO, today=TODAY)
    return config, report, load_workbook(report.path)
