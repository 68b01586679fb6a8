"""Reading the workbook back in tests: table sheets as dicts, blocks under titles, and the fact rows."""

from __future__ import annotations


def blocks(ws):
    """A layout sheet's blocks: {title: [rows of values]}, the row after the title being the header."""
    out, current = {}, None
    for row in ws.iter_rows(min_row=2, values_only=True):
        if all(v is None for v in row):
            current = None
            continue
        if current is None and row[0] is not None and all(v is None for v in row[1:]):
            current = out.setdefault(row[0], [])
            continue
        if current is not None:
            current.append(row)
    return out


def block(ws, prefix):
    return next(rows for title, rows in blocks(ws).items() if title.startswith(prefix))


def facts(ws):
    """The fact rows at the top of a layout sheet: {label: the cells after it}."""
    out = {}
    for row in ws.iter_rows(min_row=3, values_only=True):
        if all(v is None for v in row):
            break
        out.setdefault(row[0], row[1:])
    return out


def table(ws):
    """Header and data rows (as {header: value}) of a table sheet, up to the first blank row."""
    rows = list(ws.iter_rows(values_only=True))
    header = list(rows[0])
    data = []
    for row in rows[1:]:
        if all(v is None for v in row):
            break
        data.append(dict(zip(header, row, strict=False)))
    return header, data
