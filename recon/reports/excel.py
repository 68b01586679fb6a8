"""The streaming .xlsx writer: the only module of recon that knows openpyxl.

Sheets are written in openpyxl's write-only mode: each row goes straight to a temporary file,
so memory does not grow with the number of rows. On top of that this module adds what an
accountant's workbook needs and what openpyxl leaves to the caller:

* one style per column kind, created once (bold header, ``#,##0.00`` money, ``yyyy-mm-dd``
  dates, ``@`` text for IDs so that a 19-digit reference never becomes ``1.2E+18``);
* money written as the exact decimal text of its minor units (openpyxl would print a Decimal
  through ``"%.16g" % float``, which turns 0.07 into 0.07000000000000001);
* formula injection made impossible: every string is stored as a string cell (never a
  formula), and one that starts with ``= + - @``, tab or CR also gets Excel's quotePrefix so
  that editing the cell in Excel cannot turn it into a formula either;
* text longer than Excel's 32,767 characters cut with a visible marker, and counted;
* control characters escaped the OOXML way (``_x000D_``), which Excel and LibreOffice decode;
* a sheet that would pass the row limit continues on ``Name (2)``, ``Name (3)``, … with the
  header repeated, so that no row is ever dropped;
* columns meant for the reader to fill in (``Column.editable``) get a header of another colour,
  and a column with ``choices`` an Excel data-validation list over its data rows (no sheet
  protection: everything else is read-only in spirit only);
* every sheet prints the same way: A4 landscape, one page wide, the first row repeated on every
  page, and a header and footer with the workbook's title, its period, the sheet's name and
  "page x of y";
* money totals are kept per currency (``Column.currency`` names the column holding it): amounts
  in two currencies are never added up.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from itertools import chain, islice
from pathlib import Path
from typing import Any, Literal

import openpyxl
from openpyxl import Workbook
from openpyxl.cell.cell import Cell
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from recon.config import EXCEL_MAX_ROWS, MIN_SHEET_ROWS

# The private parts of openpyxl this writer relies on (see pyproject.toml's pin): a cell's raw
# ``_value`` and ``_style``, and a write-only sheet's ``_values_to_row``. A release without them
# must fail here, loudly, not write wrong workbooks.
OPENPYXL_PRIVATE = ("Cell._value", "Cell._style", "WriteOnlyWorksheet._values_to_row")


def check_openpyxl() -> None:
    from openpyxl.worksheet._write_only import WriteOnlyWorksheet

    owners = {"Cell": Cell, "WriteOnlyWorksheet": WriteOnlyWorksheet}
    missing = [name for name in OPENPYXL_PRIVATE
               if not any(name.split(".")[1] in k.__dict__ or name.split(".")[1] in getattr(k, "__slots__", ())
                          for k in owners[name.split(".")[0]].__mro__)]
    if missing:
        raise ImportError(f"this openpyxl ({openpyxl.__version__}) lacks {', '.join(missing)}: "
                          "install the version pyproject.toml pins")


check_openpyxl()

EXCEL_MAX_CELL = 32_767
MIN_ROWS = MIN_SHEET_ROWS
SHEET_NAME_MAX = 31
CUT_MARKER = "… [cut: {n} chars]"  # n = characters removed
PAPER_A4 = 9  # OOXML paperSize code
ROW_HEIGHT = 15  # points: one line of 11 pt body text
CHART_COLUMNS, CHART_ROWS = 9, 16  # default-size columns and rows a 14 × 7.5 cm chart covers
LIST_FORMULA_MAX = 255  # Excel's limit for a data-validation list written inline ("a,b,c")
LISTS_SHEET = "Lists"  # hidden sheet holding a list too long to write inline
HEADER_FILL, EDITABLE_FILL = "DDE4EE", "FFE699"  # read-only columns grey-blue; ones to fill in yellow

Kind = Literal["text", "id", "money", "date", "datetime", "int", "bool", "percent", "auto"]

# A string starting with one of these is a formula (or DDE payload) to Excel, LibreOffice or a
# CSV export made from the sheet; such strings get the quotePrefix style.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
FONT = "Calibri"  # openpyxl's default body font; named on bold styles too, or viewers pick a serif

# XML 1.0 forbids most C0 controls and a parser turns CR into LF; OOXML spells them _xHHHH_.
# A literal "_xHHHH_" in the text must be escaped too (as _x005F_xHHHH_) or Excel decodes it.
_NEEDS_ESCAPE = re.compile(r"[\x00-\x08\x0b-\x1f\ufffe\uffff]|_x[0-9A-Fa-f]{4}_")
_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")

_FORMATS: dict[str, str] = {
    "text": "@", "id": "@", "money": "#,##0.00", "date": "yyyy-mm-dd", "datetime": "yyyy-mm-dd hh:mm:ss",
    "int": "#,##0", "bool": "@", "percent": "0.00%",
}


@dataclass(frozen=True)
class Column:
    """One column: header text, kind, and either a fixed width or the cap of a sampled width.

    ``editable``: for the reader to fill in (a yellow header); ``choices``: the values a data
    cell may take, as an Excel drop-down list over the table's data rows (blank allowed).
    """

    name: str
    kind: Kind = "text"
    width: float | None = None
    max_width: float = 60.0
    editable: bool = False
    choices: tuple[str, ...] = ()
    # Money columns: the columns (by header) holding this amount's currency, the first non-empty
    # one wins; the totals of the column are kept per currency.
    currency: tuple[str, ...] = ()
    wrap: bool = False  # text that wraps within the column's width (long notes on layout sheets)


@dataclass(frozen=True)
class Money:
    """Integer minor units, for cells of kind ``auto``."""

    minor: int


@dataclass(frozen=True)
class Percent:
    """A ratio (0.9512 shows as 95.12 %), for cells of kind ``auto``."""

    value: Decimal


@dataclass(frozen=True)
class Chart:
    """A bar chart of one block's value column against its category column."""

    title: str
    category_col: int  # 1-based column of the block
    value_col: int
    y_title: str = ""
    anchor_col: int = 0  # 0: below the sheet's last row, at column A (it prints one page wide)


@dataclass
class Block:
    """Rows written after the main table (or on a layout sheet), below a blank row."""

    columns: Sequence[Column]
    rows: Iterable[Sequence[Any]]
    title: str | None = None
    header: bool = True
    autofilter: bool = False
    chart: Chart | None = None
    counted: bool = False  # on a layout sheet: these rows and money columns are the sheet's totals


@dataclass
class Part:
    """One physical sheet."""

    name: str
    rows_written: int = 0  # every row, header and blocks included
    data_rows: int = 0  # rows of the main table (the ones filters and Control totals count)
    # (money column, currency) -> Σ minor units; currency None where the row names none
    sums: dict[tuple[str, str | None], int] = field(default_factory=dict)
    cut_cells: int = 0


@dataclass
class SheetResult:
    """What one logical sheet became: its parts, rows and money totals."""

    name: str
    parts: list[Part]
    money_columns: list[str]

    @property
    def data_rows(self) -> int:
        return sum(p.data_rows for p in self.parts)

    @property
    def split(self) -> bool:
        return len(self.parts) > 1


def major_text(minor: int) -> str:
    """Minor units as an exact decimal string in major units: 19900 -> '199.00'."""
    return str(Decimal(minor).scaleb(-2))


def ooxml_escape(text: str) -> str:
    """Control characters as _xHHHH_, and a literal _xHHHH_ as _x005F_xHHHH_ (ECMA-376 ST_Xstring)."""
    return _NEEDS_ESCAPE.sub(lambda m: f"_x{ord(m.group(0)):04X}_" if len(m.group(0)) == 1
                             else "_x005F" + m.group(0), text)


def _utf16_len(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-16-le")) // 2


def cut_text(text: str, limit: int = EXCEL_MAX_CELL) -> tuple[str, bool]:
    """Text as Excel can hold it (≤ ``limit`` UTF-16 units), ending in a visible marker when cut."""
    if len(text) <= limit // 2 or _utf16_len(text) <= limit:
        return text, False
    # Room for the marker: its count has at most as many digits as len(text).
    room = limit - len(CUT_MARKER.format(n=len(text)))
    keep = room
    while (excess := _utf16_len(text[:keep]) - room) > 0:  # characters beyond the BMP count twice
        keep -= excess
    return text[:keep] + CUT_MARKER.format(n=len(text) - keep), True


def sheet_name(base: str, part: int = 1) -> str:
    """A valid sheet name (≤ 31 characters, none of []:*?/\\); parts are 'Base (2)', 'Base (3)'…"""
    clean = _BAD_SHEET_CHARS.sub("_", base).strip("'") or "Sheet"
    suffix = "" if part == 1 else f" ({part})"
    return clean[:SHEET_NAME_MAX - len(suffix)] + suffix


def _width_of(kind: str, value: Any) -> float:
    if value is None:
        return 0
    if isinstance(value, (Money, Percent)):
        kind = "money" if isinstance(value, Money) else "percent"
        value = value.minor if isinstance(value, Money) else value.value
    if kind == "money" and isinstance(value, int):
        return len(f"{abs(value) // 100:,}") + 3 + (value < 0)
    if kind == "date" or (isinstance(value, date) and not isinstance(value, datetime)):
        return 10
    if kind == "datetime" or isinstance(value, datetime):
        return 19
    if kind == "percent":
        return 8
    if isinstance(value, bool):
        return 5
    text = str(value)
    if "\n" in text:
        return max(len(line) for line in text.split("\n"))
    return len(text)


class ReportWorkbook:
    """A write-only workbook of streamed sheets. Call :meth:`table` / :meth:`sheet`, then :meth:`save`."""

    def __init__(self, *, max_rows: int = EXCEL_MAX_ROWS, sample_rows: int = 200, title: str = "",
                 period: str = "") -> None:
        if not MIN_ROWS <= max_rows <= EXCEL_MAX_ROWS:
            raise ValueError(f"max_rows must be {MIN_ROWS}..{EXCEL_MAX_ROWS}")
        self.max_rows = max_rows
        self.sample_rows = sample_rows
        self.title, self.period = title, period  # in every printed page's header
        self._wb = Workbook(write_only=True)
        self._styles: dict[tuple[str, str], Any] = {}
        self._names: set[str] = set()
        self._lists: dict[tuple[str, ...], str] = {}  # long validation lists -> their range on Lists
        self._lists_ws: Any = None
        self._lists_rows = 0
        self.cells = 0  # cells written, for the benchmark

    # --- styles: created once, shared by every cell of their kind ------------------------------
    def _style(self, ws: Any, kind: str, variant: str = "") -> Any:
        key = (kind, variant)
        style = self._styles.get(key)
        if style is None:
            template = Cell(ws)
            template.number_format = _FORMATS[kind]
            # Top: in a row made tall by wrapped text every cell reads from the same line.
            template.alignment = Alignment(vertical="top")
            if kind in ("text", "id", "bool"):
                # One character of air between a right-aligned number and the text beside it.
                template.alignment = Alignment(horizontal="left", indent=1, vertical="top",
                                               wrap_text=variant == "wrap" or None)
            if variant == "quote":
                template.quotePrefix = True
            elif variant in ("header", "header_right", "header_edit"):
                template.font = Font(name=FONT, size=11, bold=True)
                template.fill = PatternFill("solid", fgColor=EDITABLE_FILL if variant == "header_edit"
                                            else HEADER_FILL)
                template.border = Border(bottom=Side(style="thin", color="7F8C9D"))
                template.alignment = Alignment(horizontal="right" if variant == "header_right" else "left",
                                               indent=1, vertical="center", wrap_text=True)
            elif variant == "title":
                template.font = Font(name=FONT, bold=True, size=14)
                template.alignment = Alignment()
            elif variant == "section":
                template.font = Font(name=FONT, bold=True, size=12)
                template.alignment = Alignment()
            style = self._styles[key] = template._style
        return style

    def _header(self, ws: Any, column: Column, part: Part) -> Cell | None:
        right = column.kind in ("money", "int", "percent", "date", "datetime")
        variant = "header_edit" if column.editable else "header_right" if right else "header"
        return self._cell(ws, column.name, "text", part, variant)

    # --- cells --------------------------------------------------------------------------------
    def _cell(self, ws: Any, value: Any, kind: str, part: Part, variant: str = "") -> Cell | None:
        if value is None:
            return None
        if kind == "auto":
            kind, value = self._auto(value)
        cell = Cell(ws)
        if kind in ("text", "id"):
            text = value if isinstance(value, str) else str(value)
            if text.startswith(FORMULA_START) and variant in ("", "wrap"):
                variant = "quote"
            if len(text) > EXCEL_MAX_CELL // 2:
                text, was_cut = cut_text(text)
                part.cut_cells += was_cut
            if _NEEDS_ESCAPE.search(text):
                text = ooxml_escape(text)
            cell._value, cell.data_type = text, "s"  # never "f": a string is never a formula
        elif kind == "money":
            cell._value, cell.data_type = major_text(value), "n"  # exact text, not float
        elif kind == "int":
            cell._value, cell.data_type = str(int(value)), "n"
        elif kind == "percent":
            cell._value, cell.data_type = str(value), "n"
        elif kind == "bool":
            # yes/no text: Excel and LibreOffice disagree on how to show boolean cells.
            cell._value, cell.data_type = "yes" if value else "no", "s"
        elif kind in ("date", "datetime"):
            if isinstance(value, datetime) and value.tzinfo is not None:
                raise ValueError("datetimes must be naive local time in the ledger's zone")
            cell._value, cell.data_type = value, "d"
        else:
            raise ValueError(f"unknown column kind {kind!r}")
        cell._style = self._style(ws, kind, variant)
        return cell

    @staticmethod
    def _auto(value: Any) -> tuple[str, Any]:
        if isinstance(value, Money):
            return "money", value.minor
        if isinstance(value, Percent):
            return "percent", value.value
        if isinstance(value, bool):
            return "bool", value
        if isinstance(value, int):
            return "int", value
        if isinstance(value, datetime):
            return "datetime", value
        if isinstance(value, date):
            return "date", value
        return "text", value

    # --- sheets -------------------------------------------------------------------------------
    def _unique(self, name: str) -> str:
        if name in self._names:
            raise ValueError(f"sheet {name!r} exists already")
        self._names.add(name)
        return name

    def table(self, name: str, columns: Sequence[Column], rows: Iterable[Sequence[Any]], *,
              after: Sequence[Block] = (), index: int | None = None) -> SheetResult:
        """A table with a bold, frozen, filtered header row, continued on 'Name (2)'… past the limit."""
        writer = _SheetWriter(self, name, columns, header=True, index=index)
        stream = iter(rows)
        sample = list(islice(stream, self.sample_rows))
        writer.set_widths(_widths(columns, sample, after))
        for row in chain(sample, stream):
            writer.data_row(row)
        for block in after:
            writer.block(block)
        return writer.finish()

    def sheet(self, name: str, widths: Sequence[float], blocks: Sequence[Block], *, title: str | None = None,
              index: int | None = None) -> SheetResult:
        """A layout sheet (Summary, Control): a title row, then blocks separated by blank rows."""
        writer = _SheetWriter(self, name, [Column(title or "", "text")], header=False, index=index,
                              title=title, limit=EXCEL_MAX_ROWS)
        writer.set_widths(list(widths))
        for i, block in enumerate(blocks):
            writer.block(block, blank_before=i > 0 or title is not None)
        return writer.finish()

    def _create(self, name: str, index: int | None) -> Any:
        return self._wb.create_sheet(self._unique(name), index)

    def list_formula(self, choices: Sequence[str]) -> str:
        """A data-validation list's formula: the values inline (``"a,b,c"``) when Excel allows
        it, else a range of a hidden sheet holding them (written once per list)."""
        inline = ",".join(choices)
        if len(inline) <= LIST_FORMULA_MAX and not any("," in c for c in choices):
            return '"' + inline.replace('"', '""') + '"'
        key = tuple(choices)
        found = self._lists.get(key)
        if found is None:
            if self._lists_ws is None:
                self._lists_ws = self._create(LISTS_SHEET, None)
                self._lists_ws.sheet_state = "hidden"
                self._lists_ws._values_to_row = _cells_to_row
            ws, part = self._lists_ws, Part(LISTS_SHEET)
            first = self._lists_rows + 1
            for choice in choices:
                cell = self._cell(ws, choice, "text", part, "quote")
                ws.append([cell])
                self._lists_rows += 1
            found = self._lists[key] = f"{LISTS_SHEET}!$A${first}:$A${self._lists_rows}"
        return found

    def print_setup(self, ws: Any) -> None:
        """A4 landscape, one page wide (as many pages down as it takes), row 1 on every page, and
        the workbook's title and period, the sheet's name and "page x of y" on every page."""
        ws.page_setup.orientation = "landscape"
        ws.page_setup.paperSize = PAPER_A4
        ws.sheet_properties.pageSetUpPr.fitToPage = True
        ws.page_setup.fitToWidth = 1
        ws.page_setup.fitToHeight = 0  # 0: no limit down
        ws.print_options.gridLines = False
        ws.print_title_rows = "1:1"
        ws.page_margins.top = ws.page_margins.bottom = 0.6
        ws.page_margins.header = ws.page_margins.footer = 0.25
        header, footer = ws.oddHeader, ws.oddFooter
        header.left.text = _hf_text(self.title) or None
        header.center.text = _hf_text(self.period) or None
        header.right.text = "&A"  # the sheet's name
        footer.left.text = _hf_text(self.title) or None
        footer.right.text = "Page &P of &N"
        for part in (header.left, header.center, header.right, footer.left, footer.right):
            part.size = 9

    def save(self, path: Path | str) -> None:
        self._wb.save(str(path))


def _hf_text(text: str) -> str:
    """Text for a page header or footer: '&' starts a code there, so a literal one is doubled."""
    return text.replace("&", "&&")


def _widths(columns: Sequence[Column], sample: Sequence[Sequence[Any]],
            blocks: Sequence[Block] = ()) -> list[float]:
    """Column widths from the header and a sample of rows (the sheet is streamed: no second look).

    Rows of blocks written below the table (totals, usually wider than any detail) count too.
    """
    tables = [([c.kind for c in columns], sample)]
    tables += [([c.kind for c in b.columns], b.rows) for b in blocks if isinstance(b.rows, Sequence)]
    out = []
    for i, col in enumerate(columns):
        if col.width is not None:
            out.append(col.width)
            continue
        content = max((_width_of(kinds[i], row[i]) for kinds, rows in tables for row in rows
                       if i < len(row) and i < len(kinds)), default=0)
        header = len(col.name) * 1.15 + 3  # bold text and the filter button
        pad = 3 if col.kind in ("text", "id", "bool") else 2  # text cells are indented by one
        out.append(round(min(col.max_width, max(6.0, header, content + pad)), 1))
    return out


class _SheetWriter:
    """Writes one logical sheet row by row, opening 'Name (k)' whenever the row limit is reached."""

    def __init__(self, book: ReportWorkbook, name: str, columns: Sequence[Column], *, header: bool,
                 index: int | None, title: str | None = None, limit: int | None = None) -> None:
        self.book, self.base, self.columns = book, name, list(columns)
        self.header, self.title = header, title
        self.limit = limit or book.max_rows
        self.index = index
        self.widths: list[float] = []
        self.parts: list[Part] = []
        self.ws: Any = None
        self.money_cols = _money_columns(self.columns)
        self.money_names = [name for _, name, _ in self.money_cols] if header else []
        self.autofilter_block: tuple[int, int, int] | None = None  # first row, last row, columns
        self.in_blocks = False
        self.print_cols = self.print_rows = 0  # how far a chart on this part reaches
        self.below: list[Any] = []  # charts of this part placed under its last row when it closes

    def set_widths(self, widths: list[float]) -> None:
        self.widths = widths

    @property
    def part(self) -> Part:
        return self.parts[-1]

    def _open(self) -> None:
        if self.ws is not None:
            self._close_part()
        number = len(self.parts) + 1
        name = sheet_name(self.base, number)
        index = None if self.index is None else self.index + len(self.parts)
        ws = self.book._create(name, index)
        # Write-only: widths, panes and page setup go out with the first row, so set them now.
        for i, width in enumerate(self.widths, 1):
            ws.column_dimensions[get_column_letter(i)].width = width
        ws.freeze_panes = "A2"
        self.book.print_setup(ws)
        # Rows are always our cells: skip openpyxl's per-value type sniffing, which would raise
        # (and catch) an exception for every styled cell and could read "=…" as a formula.
        ws._values_to_row = _cells_to_row
        self.ws = ws
        self.parts.append(Part(name))
        if self.header:
            self._emit([self.book._header(ws, c, self.part) for c in self.columns])
            if self.in_blocks:
                # A part that only continues the blocks below the table: the blank row keeps
                # them from reading as rows of the table (filters and Control count up to it).
                self._emit([])
        elif self.title is not None:
            self._emit([self.book._cell(ws, self.title, "text", self.part, "title")])

    def _room(self) -> None:
        if self.ws is None or self.part.rows_written >= self.limit:
            self._open()

    def _emit(self, cells: list[Cell | None]) -> None:
        self.ws.append(cells)
        self.part.rows_written += 1
        self.book.cells += len(cells)

    def data_row(self, row: Sequence[Any]) -> None:
        self._room()
        part, ws, cell = self.part, self.ws, self.book._cell
        self._wrap_height(row, self.columns)
        self._emit([cell(ws, value, col.kind, part, "wrap" if col.wrap else "")
                    for value, col in zip(row, self.columns, strict=False)])
        self._count(row, self.money_cols)

    def _wrap_height(self, row: Sequence[Any], columns: Sequence[Column]) -> None:
        """The next row's height, where wrapped text needs more than one line: neither openpyxl
        nor LibreOffice grows a row for it (Excel does on opening, LibreOffice does not)."""
        lines = max((_lines(str(v), self.widths[i] if i < len(self.widths) else 10)
                     for i, (v, c) in enumerate(zip(row, columns, strict=False)) if c.wrap and v), default=1)
        if lines > 1:
            self.ws.row_dimensions[self.part.rows_written + 1].height = ROW_HEIGHT * lines

    def _count(self, row: Sequence[Any], money_cols: list[tuple[int, str, list[int]]]) -> None:
        part = self.part
        part.data_rows += 1
        for i, name, currency_at in money_cols:
            if name not in self.money_names:
                self.money_names.append(name)
            value = row[i] if i < len(row) else None
            if isinstance(value, Money):
                value = value.minor
            currency = next((str(row[k]) for k in currency_at if k < len(row) and row[k]), None)
            if value is not None:
                part.sums[(name, currency)] = part.sums.get((name, currency), 0) + value

    def block(self, block: Block, blank_before: bool = True) -> None:
        first_part = None
        first_row = last_row = 0
        self.in_blocks = True
        if blank_before:
            if self.ws is not None and self.part.rows_written < self.limit:
                self._emit([])
            else:
                self._open()  # a table sheet's new part starts with its blank row already
                if not self.header:
                    self._emit([])
        if block.title:
            self._room()
            self._emit([self.book._cell(self.ws, block.title, "text", self.part, "section")])
        kinds = [c.kind for c in block.columns]
        if block.header:
            self._room()
            self._wrap_height([c.name for c in block.columns], [replace(c, wrap=True) for c in block.columns])
            self._emit([self.book._header(self.ws, c, self.part) for c in block.columns])
            first_part, first_row = self.part, self.part.rows_written
        for row in block.rows:
            self._room()
            if first_part is None:
                first_part, first_row = self.part, self.part.rows_written + 1
            self._wrap_height(row, block.columns)
            self._emit([self.book._cell(self.ws, v, c.kind, self.part, "wrap" if c.wrap else "")
                        for v, c in zip(row, block.columns, strict=False)])
            if block.counted:
                self._count(row, _money_columns(block.columns))
        last_row = self.part.rows_written
        first_data = first_row + (1 if block.header else 0)
        # A block that ran over into the next part gets neither filter nor chart: their ranges
        # would have to span two sheets.
        whole = first_part is self.part and last_row >= first_data
        if block.autofilter and whole and not self.header:
            self.autofilter_block = (first_row, last_row, len(kinds))
        if block.chart and whole:
            self._chart(block.chart, first_data, last_row)

    def _chart(self, spec: Chart, first: int, last: int) -> None:
        chart = BarChart()
        chart.type = "col"
        chart.title = spec.title
        chart.y_axis.title = spec.y_title
        chart.legend = None
        chart.y_axis.numFmt = "#,##0"
        chart.y_axis.delete = False
        chart.x_axis.delete = False
        data = Reference(self.ws, min_col=spec.value_col, min_row=first, max_row=last)
        cats = Reference(self.ws, min_col=spec.category_col, min_row=first, max_row=last)
        chart.add_data(data, titles_from_data=False)
        chart.set_categories(cats)
        chart.height, chart.width = 7.5, 14
        if spec.anchor_col:
            self.ws.add_chart(chart, f"{get_column_letter(spec.anchor_col)}2")
            self.print_cols = spec.anchor_col + CHART_COLUMNS  # the chart prints with the sheet
            self.print_rows = 2 + CHART_ROWS
        else:  # the row is known once the part is closed
            self.ws.add_chart(chart, "A1")
            self.below.append(chart)

    def _close_part(self) -> None:
        ws, part = self.ws, self.part
        # Long text may run on into empty cells on screen; on paper it stops at the last column.
        for k, chart in enumerate(self.below):
            chart.anchor = f"A{part.rows_written + 2 + k * (CHART_ROWS + 1)}"
            self.print_rows = part.rows_written + 2 + (k + 1) * (CHART_ROWS + 1)
        self.below = []
        last_col = max(len(self.widths), self.print_cols)
        last_row = max(part.rows_written, self.print_rows, 1)
        ws.print_area = f"A1:{get_column_letter(last_col)}{last_row}"
        self.print_cols = self.print_rows = 0
        if self.header:
            ws.auto_filter.ref = f"A1:{get_column_letter(len(self.columns))}{part.data_rows + 1}"
            self._validations()
        elif self.autofilter_block and self.autofilter_block[1] <= part.rows_written:
            first, last, ncols = self.autofilter_block
            ws.auto_filter.ref = f"A{first}:{get_column_letter(ncols)}{last}"
            self.autofilter_block = None

    def _validations(self) -> None:
        """A drop-down list on every data row of each column with choices (none on an empty table)."""
        rows = self.part.data_rows
        for i, column in enumerate(self.columns, 1):
            if not column.choices or not rows:
                continue
            letter = get_column_letter(i)
            message = f"Choose one of the list ({', '.join(column.choices)}) or leave the cell empty."
            if len(message) > 255:  # Excel's limit for the message (and 32 for its title)
                message = "Choose one of the list or leave the cell empty."
            dv = DataValidation(type="list", formula1=self.book.list_formula(column.choices), allow_blank=True,
                                showErrorMessage=True, errorTitle=column.name[:32], error=message)
            dv.add(f"{letter}2:{letter}{rows + 1}")
            self.ws.data_validations.append(dv)

    def finish(self) -> SheetResult:
        if self.ws is None:
            self._open()
        self._close_part()
        for part in self.parts:  # a money column with no value on a part still has a total: 0
            for name in self.money_names:
                if not any(column == name for column, _ in part.sums):
                    part.sums[(name, None)] = 0
        return SheetResult(self.base, self.parts, list(self.money_names))


def _lines(text: str, width: float) -> int:
    """Lines a text takes wrapped in a column of ``width`` (characters of '0'; body text is a
    little narrower, the indent takes two), counting words that do not fit on a line."""
    room = max(1, int(width * 1.1) - 3)
    lines, used = 1, 0
    for word in text.split():
        need = len(word) + (1 if used else 0)
        if used and used + need > room:
            lines, used = lines + 1, len(word)
        else:
            used += need
    return lines


def _money_columns(columns: Sequence[Column]) -> list[tuple[int, str, list[int]]]:
    """(index, name, indexes of its currency columns) of every money column."""
    where = {c.name: i for i, c in enumerate(columns)}
    return [(i, c.name, [where[n] for n in c.currency if n in where])
            for i, c in enumerate(columns) if c.kind == "money"]


def _cells_to_row(cells: Sequence[Cell | None], row_idx: int) -> Iterator[Cell]:
    for col, cell in enumerate(cells, 1):
        if cell is not None:
            cell.row, cell.column = row_idx, col
            yield cell

