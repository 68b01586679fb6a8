"""The worklist round trip as an accountant does it: open the workbook recon wrote, fill in
Resolution, Comment and Owner (openpyxl, as Excel would save it), `recon resolve` it, and the next
workbook shows those exceptions resolved and off the Worklist."""

from __future__ import annotations

from datetime import date

from builders import embedded_config
from openpyxl import load_workbook

from recon.ops.sandboxed import pull
from recon.reports.resolve import resolve_file
from recon.reports.workbook import write_report

FROM, TO = date(2026, 10, 24), date(2026, 10, 26)


def sheet_rows(path, name):
    wb = load_workbook(path, read_only=True)
    try:
        it = wb[name].iter_rows(values_only=True)
        header = list(next(it))
        return header, [dict(zip(header, r, strict=False)) for r in it if any(v is not None for v in r)]
    finally:
        wb.close()


def test_a_workbook_edited_and_resolved_shows_them_resolved_next_time(tmp_path):
    config = embedded_config(tmp_path / "rt")
    assert pull(config).ok
    first = write_report(config, FROM, TO, today=date(2026, 11, 23))
    _, worklist = sheet_rows(first.path, "Worklist")
    assert len(worklist) == first.reconcile.mismatches  # a first run: every exception is open
    chosen = {worklist[0]["Exception ID"]: ("explained", "Entur fixed it", "kari"),
              worklist[3]["Exception ID"]: ("timing-ok", None, "ola")}

    wb = load_workbook(first.path)  # editable, as a person opens it
    ws = wb["Worklist"]
    header = [c.value for c in ws[1]]
    for row in ws.iter_rows(min_row=2):
        eid = row[header.index("Exception ID")].value
        if eid in chosen:
            for name, value in zip(("Resolution", "Comment", "Owner"), chosen[eid], strict=True):
                row[header.index(name)].value = value
    edited = tmp_path / "edited.xlsx"
    wb.save(edited)

    result = resolve_file(config, edited)
    assert (result.resolved, result.updated, result.unchanged) == (2, 0, 0)
    assert result.without_resolution == len(worklist) - 2
    assert resolve_file(config, edited).unchanged == 2  # the same file again changes nothing

    second = write_report(config, FROM, TO, today=date(2026, 11, 24), out=tmp_path / "next.xlsx")
    _, worklist2 = sheet_rows(second.path, "Worklist")
    assert {r["Exception ID"] for r in worklist2} == {r["Exception ID"] for r in worklist} - set(chosen)
    _, mismatches = sheet_rows(second.path, "Mismatches")
    status = {r["Exception ID"]: r["Status"] for r in mismatches}
    assert {eid: status[eid] for eid in chosen} == dict.fromkeys(chosen, "resolved")
    assert {r["Exception ID"]: r["Age (days)"] for r in worklist2} == {
        r["Exception ID"]: r["Age (days)"] + 1 for r in worklist if r["Exception ID"] not in chosen}
