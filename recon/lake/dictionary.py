"""The data dictionary, read from docs/data-dictionary.md: the comments of the catalog's views and columns.

The document is the one source: ``recon/lake/data-dictionary.md`` is a link to it, shipped as package
data, and ``build_catalog`` turns its tables into ``COMMENT ON`` statements, so what an analyst reads
in DuckDB (``SELECT comment FROM duckdb_columns()``) is what the docs say. Reading never fails a
build: a section it cannot read gives no comments, and ``tests/lake/test_catalog.py`` fails
instead when a view or column has none.

How the document is read:
- a ``## `name` `` heading (several names for tables that share columns) opens a table's section;
  the prose before its first table is the table's comment;
- each Markdown table of the section whose first header is ``column`` gives columns: every
  backticked name in the first cell, with the *meaning* cell, then every other cell but the type as
  ``header: value`` (so units and zones are always said);
- ``## Landing columns`` and ``## Result columns`` describe the columns every landed table and
  every result table carry: a table's own row wins;
- tables whose first header is ``view`` or ``macro`` describe objects (``raw_<table>``, the
  ``_history`` views, macros).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files

_SHARED = ("landing columns", "result columns")
# A backticked name, or a macro with its arguments (`landing_seq(landed_at, row_id)`).
_NAME = re.compile(r"`([A-Za-z_<>][A-Za-z0-9_<>]*)(?:\([^`]*\))?`")


@dataclass
class Section:
    text: str = ""
    columns: dict[str, str] = field(default_factory=dict)


@dataclass
class Dictionary:
    sections: dict[str, Section] = field(default_factory=dict)
    objects: dict[str, str] = field(default_factory=dict)  # raw_<table>, *_history, macros


def plain(markdown: str) -> str:
    """Markdown cell or prose as plain text: links to their text, no backticks or emphasis."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", markdown)
    text = text.replace("`", "").replace("**", "")
    return re.sub(r"\s+", " ", text).strip()


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _heading_names(heading: str) -> list[str]:
    outside = re.sub(r"\([^)]*\)", "", heading)
    names = _NAME.findall(outside)
    return names or [plain(outside).lower()]


def _row_text(header: list[str], row: list[str]) -> str:
    meaning = ""
    extras = []
    for name, value in zip(header[1:], row[1:], strict=False):
        value = plain(value)
        if not value or (name.lower() == "type" and "(" not in value):
            continue  # DuckDB shows the type; "TIMESTAMPTZ (UTC)" says more
        if name.lower() in ("meaning", "what it shows", "what it does"):
            meaning = value
        else:
            extras.append(f"{name}: {value}")
    if meaning and extras:
        return f"{meaning} ({'; '.join(extras)})"
    return meaning or "; ".join(extras)


def parse(markdown: str) -> Dictionary:
    out = Dictionary()
    names: list[str] = []
    prose: list[str] = []
    header: list[str] | None = None
    seen_table = False

    def close() -> None:
        for name in names:
            section = out.sections.setdefault(name, Section())
            section.text = plain(" ".join(prose))

    for line in markdown.splitlines():
        if line.startswith("## "):
            close()
            names, prose, header, seen_table = _heading_names(line[3:]), [], None, False
            continue
        if not names:
            continue
        if not line.startswith("|"):
            header = None
            if not seen_table and line.strip():
                prose.append(line)
            continue
        cells = _cells(line)
        if header is None:
            # Header names as written (a comment says "API field: ..."); compared in lower case.
            header, seen_table = [plain(c) for c in cells], True
            continue
        if set(line.replace("|", "").strip()) <= set("-: "):
            continue  # the rule under the header
        kind = header[0].lower()
        targets = _NAME.findall(cells[0])
        text = _row_text(header, cells)
        if kind == "column":
            for name in names:
                columns = out.sections.setdefault(name, Section()).columns
                for column in targets:
                    columns.setdefault(column, text)
        elif kind in ("view", "macro"):
            for target in targets:
                out.objects.setdefault(target, text)
    close()
    return out


@cache
def dictionary() -> Dictionary:
    try:
        text = files("recon.lake").joinpath("data-dictionary.md").read_text(encoding="utf-8")
    except OSError:
        return Dictionary()
    return parse(text)


def _base(view: str) -> str:
    if view.startswith("raw_"):
        return view[len("raw_"):]
    if view.endswith("_history"):
        return view[: -len("_history")]
    return view


def view_comment(view: str) -> str | None:
    """The comment of one of recon's views or macros (None if the dictionary has none)."""
    d = dictionary()
    base = _base(view)
    own = d.sections[base].text if base in d.sections else ""
    if view.startswith("raw_"):
        head = d.objects.get("raw_<table>", "").replace("<table>", base)
    elif view.endswith("_history"):
        head = d.objects.get(view, "")
    else:
        head = "" if own else d.objects.get(view, "")
    if head and own and not head.endswith("."):
        head += "."
    text = " ".join(t for t in (head, own) if t)
    return text or None


def column_comment(view: str, column: str) -> str | None:
    """The comment of one column of one of recon's views (None if the dictionary has none)."""
    sections = dictionary().sections
    for name in (_base(view), *_SHARED):
        if name in sections and column in sections[name].columns:
            return sections[name].columns[column]
    return None
