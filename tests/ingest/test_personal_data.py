"""Personal data lands nowhere by default, and with ``land_pii = true`` where README says.

The sandbox's ``personal-data`` quirk fills every personal field each API defines on every record,
asked for or not (recon.sandbox.server.PERSONAL_VALUES); the tests search for those values.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import openpyxl
import pyarrow.parquet as pq
from builders import entur_payment, small_dataset, vipps_entry

from recon.ingest.personal import PERSONAL_FIELDS
from recon.lake.catalog import connect
from recon.lake.store import Lake
from recon.ops.demo import demo_period
from recon.ops.sandboxed import pull
from recon.sandbox.dataset import Dataset, sample_data_dir
from recon.sandbox.server import PERSONAL_VALUES

SOURCES = ("vipps", "vipps_report", "entur", "samtrafiken")


def _leaves(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set().union(*map(_leaves, value.values()))
    return {str(value)}


MARKERS = set().union(*(_leaves(v) for v in PERSONAL_VALUES.values())) | {"Nordmann", "kari.nordmann@"}


def _texts(root: Path) -> dict[str, str]:
    """Every file under ``root`` as searchable text: Parquet and DuckDB rows, workbook cells, the rest as is."""
    texts = {}
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        name = str(path.relative_to(root))
        if path.suffix == ".parquet":
            texts[name] = json.dumps(pq.read_table(path).to_pylist(), default=str, ensure_ascii=False)
        elif path.suffix == ".xlsx":
            book = openpyxl.load_workbook(path, read_only=True)
            try:
                texts[name] = " ".join(str(v) for ws in book.worksheets
                                       for row in ws.iter_rows(values_only=True) for v in row if v is not None)
            finally:
                book.close()
        elif path.suffix == ".duckdb":
            with duckdb.connect(str(path), read_only=True) as con:
                texts[name] = json.dumps(con.sql("SELECT * FROM duckdb_views() WHERE NOT internal").fetchall(),
                                         default=str)
        else:
            texts[name] = path.read_text(encoding="utf-8", errors="replace")
    return texts


def test_nothing_personal_in_lake_logs_state_or_workbook_by_default(make_setup, tmp_path):
    dataset = Dataset.load(sample_data_dir())
    # A payment that fails validation: its personal data must not reach the quarantine either.
    dataset.payments.append({**entur_payment(999_999), "totalAmount": "12,50"})
    setup = make_setup(dataset, quirks="personal-data")
    first, last = demo_period()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("RECON_")}, **setup.env}
    proc = subprocess.run([sys.executable, "-m", "recon.cli", "run", "--config", str(setup.config_path),
                           "--from", first.isoformat(), "--to", last.isoformat()],
                          capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    texts = {"stdout": proc.stdout, "stderr": proc.stderr, **_texts(tmp_path)}
    for part in ("lake/_logs/", "lake/_state/runs/", "lake/quarantine/", ".xlsx"):
        assert any(part in name for name in texts), part
    quarantined = [n for n in texts if "quarantine" in n and n.endswith(".parquet")]
    assert quarantined and any("12,50" in texts[n] for n in quarantined)
    # The records themselves landed, every source's, so there was something to leak.
    for table in ("vipps_sales_entries", "vipps_funds_entries", "entur_payments", "samtrafiken_booking_events"):
        assert any(f"/{table}/" in f"/{n}" and n.endswith(".parquet") for n in texts), table
    for name, text in texts.items():
        for marker in MARKERS:
            assert marker not in text, f"{marker!r} in {name}"
    asked = [r for r in setup.sandbox.requests_log if "/report/" in r["path"]]
    assert asked and not any("includeGDPRSensitiveData" in r["query"] for r in asked)


def _landed(config, table: str) -> list[dict[str, Any]]:
    con = connect(Lake(config.lake))
    try:
        cur = con.execute(f"SELECT * FROM raw_{table} ORDER BY _hash")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    finally:
        con.close()


def test_land_pii_keeps_each_source_s_fields_where_readme_says_and_the_hash_does_not_move(make_setup, tmp_path):
    dataset = small_dataset(n=3, ledgers=("L1",))
    # A cash entry has no pspReference: its key is derived from its content, personal data excluded.
    dataset.ledgers["L1"].entries.append({**vipps_entry(90, ledger="L1", reference="CASH-1"), "pspReference": None})
    lakes = {}
    for keep in (False, True):
        setup = make_setup(dataset, quirks="personal-data", lake=tmp_path / f"lake-{keep}")
        if keep:
            text = setup.config_path.read_text()
            for section in ("[vipps]", "[vipps_report]", "[entur]", "[samtrafiken]"):
                text = text.replace(f"{section}\n", f"{section}\nland_pii = true\n") if section in text \
                    else text + f"\n{section}\nland_pii = true\n"
            setup.config_path.write_text(text)
        config = setup.config()
        assert [getattr(config, s).land_pii for s in SOURCES] == [keep] * 4
        assert pull(config, list(SOURCES)).ok
        asked = [r for r in setup.sandbox.requests_log if "/report/" in r["path"] and "/ledgers/L1/" in r["path"]]
        assert asked and all((r["query"].get("includeGDPRSensitiveData") == "true") is keep for r in asked)
        lakes[keep] = config
    tables_keys = {"vipps_sales_entries": "entry_key", "vipps_funds_entries": "entry_key",
                   "entur_payments": "payment_id", "samtrafiken_booking_events": "event_id"}
    assert any(r["psp_reference"] is None and r["entry_key"].startswith("L1:h")
               for r in _landed(lakes[True], "vipps_sales_entries"))
    tables = {"vipps": "vipps_sales_entries", "vipps_report": "vipps_funds_entries", "entur": "entur_payments",
              "samtrafiken": "samtrafiken_booking_events"}
    for source, table in tables.items():
        plain, kept = _landed(lakes[False], table), _landed(lakes[True], table)
        assert plain and [r["_hash"] for r in plain] == [r["_hash"] for r in kept], table
        key = tables_keys[table]
        assert [r[key] for r in plain] == [r[key] for r in kept], table
        fields = PERSONAL_FIELDS[source]
        for row in kept:
            raw = json.loads(row["_raw"])
            assert {f: raw[f] for f in fields} == {f: PERSONAL_VALUES[source][f] for f in fields}, table
        for row in plain:
            assert not set(json.loads(row["_raw"])) & set(PERSONAL_FIELDS[source]), table
    # The one personal field that is also a column: Entur's customerNumber.
    assert {r["customer_number"] for r in _landed(lakes[True], "entur_payments")} == {"KUNDE-4242-7311"}
    assert {r["customer_number"] for r in _landed(lakes[False], "entur_payments")} == {None}
