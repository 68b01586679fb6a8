"""What the sandbox serves: raw API records, exactly as the real APIs would send them.

Records are plain JSON-able dicts in the APIs' own shapes (see docs/apis.md): Vipps
SalesEntry objects, Entur Payment and Credit objects (with their transactions), Samtrafiken
booking events. They are deliberately *not* validated here: sample data carries malformed
records on purpose so that quarantine can be tested.

A ledger's entries, the payments, credits and events are any ``Sequence[dict]``: a list for
sample data, or a lazy sequence that builds item ``i`` on demand so that the sandbox can serve
millions of records in flat memory (benchmarks).

On disk (``sample_data/``)::

    vipps/<anything>.json        {"ledgerId": "...", "currency": "NOK", "timezone": "Europe/Oslo",
                                  "items": [SalesEntry, ...]}          (feed order)
    vipps_report/<anything>.json {"ledgerId": "...", "openFrom": "YYYY-MM-DD" | null,
                                  "funds": [ReportEntry, ...], "fees": [ReportEntry, ...]}
                                                                       (feed order, Report API)
    entur/payments.json          {"items": [Payment, ...]}
    entur/credits.json           {"items": [Credit, ...]}
    samtrafiken/events.json      {"organizationCode": "...", "events": [Event, ...]}  (feed order)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Ledger:
    ledger_id: str
    currency: str = "NOK"
    timezone: str = "Europe/Oslo"
    entries: Sequence[dict[str, Any]] = field(default_factory=list)
    # The Report API's feeds of this ledger (docs/apis.md §2), in feed order, with their balances.
    funds: Sequence[dict[str, Any]] = field(default_factory=list)
    fees: Sequence[dict[str, Any]] = field(default_factory=list)
    # Ledger dates on or after this one are still open: the by-date listing answers them with
    # tryLater. None: every date after the last one with a payout-scheduled entry is open.
    open_from: str | None = None


@dataclass
class Dataset:
    ledgers: dict[str, Ledger] = field(default_factory=dict)
    payments: Sequence[dict[str, Any]] = field(default_factory=list)
    credits: Sequence[dict[str, Any]] = field(default_factory=list)
    organization_code: str = "RET1"
    events: Sequence[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def load(cls, root: str | Path) -> Dataset:
        root = Path(root)
        ds = cls()
        for path in sorted((root / "vipps").glob("*.json")):
            doc = json.loads(path.read_text(encoding="utf-8"))
            led = Ledger(
                ledger_id=str(doc["ledgerId"]),
                currency=doc.get("currency", "NOK"),
                timezone=doc.get("timezone", "Europe/Oslo"),
                entries=doc["items"],
            )
            ds.ledgers[led.ledger_id] = led
        for path in sorted((root / "vipps_report").glob("*.json")):
            doc = json.loads(path.read_text(encoding="utf-8"))
            lid = str(doc["ledgerId"])
            led = ds.ledgers.setdefault(lid, Ledger(ledger_id=lid, currency=doc.get("currency", "NOK"),
                                                    timezone=doc.get("timezone", "Europe/Oslo")))
            led.funds, led.fees, led.open_from = doc.get("funds", []), doc.get("fees", []), doc.get("openFrom")
        entur = root / "entur"
        if (entur / "payments.json").exists():
            ds.payments = json.loads((entur / "payments.json").read_text(encoding="utf-8"))["items"]
        if (entur / "credits.json").exists():
            ds.credits = json.loads((entur / "credits.json").read_text(encoding="utf-8"))["items"]
        events = root / "samtrafiken" / "events.json"
        if events.exists():
            doc = json.loads(events.read_text(encoding="utf-8"))
            ds.organization_code = str(doc.get("organizationCode", ds.organization_code))
            ds.events = doc["events"]
        return ds

    def save(self, root: str | Path) -> None:
        """Write the dataset in the on-disk layout above (lists only, pretty, stable order)."""
        root = Path(root)
        (root / "vipps").mkdir(parents=True, exist_ok=True)
        (root / "entur").mkdir(parents=True, exist_ok=True)
        (root / "samtrafiken").mkdir(parents=True, exist_ok=True)

        def dump(path: Path, doc: dict[str, Any]) -> None:
            path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")

        for led in self.ledgers.values():
            dump(
                root / "vipps" / f"ledger_{led.ledger_id}.json",
                {"ledgerId": led.ledger_id, "currency": led.currency,
                 "timezone": led.timezone, "items": list(led.entries)},
            )
            if led.funds or led.fees:
                (root / "vipps_report").mkdir(parents=True, exist_ok=True)
                dump(root / "vipps_report" / f"ledger_{led.ledger_id}.json",
                     {"ledgerId": led.ledger_id, "currency": led.currency, "timezone": led.timezone,
                      "openFrom": led.open_from, "funds": list(led.funds), "fees": list(led.fees)})
        dump(root / "entur" / "payments.json", {"items": list(self.payments)})
        dump(root / "entur" / "credits.json", {"items": list(self.credits)})
        dump(root / "samtrafiken" / "events.json",
             {"organizationCode": self.organization_code, "events": list(self.events)})


def sample_data_dir() -> Path:
    """The sample data shipped with the package (``sample_data/`` in the repository)."""
    from importlib.resources import files

    return Path(str(files("recon.sample_data")))
