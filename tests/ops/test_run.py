"""`recon run` settings: the due period follows run.recheck_days and the reconcile zone."""

from __future__ import annotations

from datetime import date

from recon.config import parse_config
from recon.ops.run import due_period

BASE = {"vipps": {"client_id": "c", "ledgers": ["1"]}}


def test_recheck_days_widen_the_due_period_back_from_yesterday():
    today = date(2026, 11, 5)
    assert due_period(parse_config(BASE), today) == (date(2026, 11, 1), date(2026, 11, 4))  # default 3
    assert due_period(parse_config({**BASE, "run": {"recheck_days": 0}}), today) == (date(2026, 11, 4),
                                                                                     date(2026, 11, 4))
    assert due_period(parse_config({**BASE, "run": {"recheck_days": 10}}), today) == (date(2026, 10, 25),
                                                                                      date(2026, 11, 4))
