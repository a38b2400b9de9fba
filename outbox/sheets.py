"""Workbooks for clerks (.xlsx), written with XlsxWriter in constant memory: one typed cell per value, so Excel
keeps every digit of an identifier, shows dates as dates and sums amounts; the header row in the clerk's language,
frozen and filtered; columns as wide as what they hold.

XlsxWriter is imported when the first workbook is written, never by an idle agent.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from l10n import language
from l10n.times import offset_label, parse
from outbox.columns import EVENT_LABELS, Cell, Column

EXCEL_ROWS = 1_048_576  # rows in one sheet, its header included; more go on to a next sheet
MAX_CELL_CHARS = 32_767
MAX_WIDTH = 60
FORMATS = {
    Cell.ID: {"num_format": "@"},
    Cell.AMOUNT: {"num_format": "#,##0.00"},
    Cell.DATE: {"num_format": "yyyy-mm-dd"},
    Cell.TIME: {"num_format": "yyyy-mm-dd hh:mm:ss"},
    Cell.COUNT: {"num_format": "0"},
}


def display_width(text: str) -> int:
    """Columns a text takes in a spreadsheet: Chinese characters are twice as wide as Latin ones."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def local_naive(value: str) -> dt.datetime | None:
    """A time from the wire as the PC's local wall-clock time (a workbook cell has no offset: the header names it)."""
    when = parse(value)
    return None if when is None else when.astimezone().replace(tzinfo=None)


class SheetWriter:
    """Rows streamed into a workbook at ``path``; :meth:`close` writes it (to a hidden draft the caller renames)."""

    def __init__(self, path: Path, columns: Sequence[Column], sheet: str) -> None:
        import xlsxwriter

        self.columns = list(columns)
        self._book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
        self._book.set_properties({"title": sheet, "comments": "eport-agent"})
        self._header = self._book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True})
        self._formats = {cell: self._book.add_format(spec) for cell, spec in FORMATS.items()}
        self._name, self._sheets = sheet, 0
        self._widths = [max(display_width(self._title(c)), c.width) for c in self.columns]
        self._sheet: Any = None
        self._row = 0
        self._new_sheet()

    def _title(self, column: Column) -> str:
        title = column.header()
        if column.cell is Cell.TIME:
            zone = offset_label()
            return f"{title}（{zone}）" if language() == "zh" else f"{title} ({zone})"
        return title

    def _new_sheet(self) -> None:
        if self._sheet is not None:
            self._finish_sheet()
        self._sheets += 1
        name = self._name if self._sheets == 1 else f"{self._name} ({self._sheets})"
        self._sheet = self._book.add_worksheet(name[:31])
        self._sheet.freeze_panes(1, 0)
        self._sheet.set_row(0, None, self._header)
        for index, column in enumerate(self.columns):
            self._sheet.write_string(0, index, self._title(column), self._header)
        self._row = 1

    def _finish_sheet(self) -> None:
        sheet = self._sheet
        for index, (column, width) in enumerate(zip(self.columns, self._widths, strict=True)):
            sheet.set_column(index, index, min(width, MAX_WIDTH) + 2, self._formats.get(column.cell))
        sheet.autofilter(0, 0, max(self._row - 1, 0), len(self.columns) - 1)

    def write(self, values: Sequence[Any]) -> None:
        if self._row >= EXCEL_ROWS:
            self._new_sheet()
        for index, (column, value) in enumerate(zip(self.columns, values, strict=True)):
            shown = self._write_cell(self._row, index, column, value)
            if shown > self._widths[index]:
                self._widths[index] = shown
        self._row += 1

    def _write_cell(self, row: int, index: int, column: Column, value: Any) -> int:
        """Write one typed cell; the width it takes."""
        if value is None or value == "":
            return 0
        sheet, cell = self._sheet, column.cell
        if cell in (Cell.COUNT, Cell.AMOUNT) and _is_number(value):
            number = float(value)
            sheet.write_number(
                row, index, int(number) if number.is_integer() and cell is Cell.COUNT else number, self._formats[cell]
            )
            return len(f"{number:,.2f}") if cell is Cell.AMOUNT else len(str(value))
        if cell is Cell.DATE and isinstance(value, str) and _iso_date(value) is not None:
            sheet.write_datetime(row, index, _iso_date(value), self._formats[cell])
            return 10
        if cell is Cell.TIME and isinstance(value, str) and (moment := local_naive(value)) is not None:
            sheet.write_datetime(row, index, moment, self._formats[cell])
            return 19
        text = str(value)
        if cell is Cell.LABEL and language() == "zh":
            text = EVENT_LABELS.get(text, text)
        text = text[:MAX_CELL_CHARS]
        sheet.write_string(row, index, text, self._formats.get(cell))  # never a formula, whatever it starts with
        return display_width(text)

    def close(self) -> None:
        self._finish_sheet()
        self._book.close()


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    try:
        float(str(value))
    except ValueError:
        return False
    return True


def _iso_date(value: str) -> dt.datetime | None:
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        return None
    return dt.datetime(day.year, day.month, day.day)


def workbook_draft(folder: Path) -> Path:
    """A hidden draft name in ``folder`` (outbox.files removes those a crash leaves behind)."""
    fd, name = tempfile.mkstemp(dir=folder, prefix=".", suffix=".tmp")
    os.close(fd)
    return Path(name)


def workbook_draft_of(columns: Sequence[Column], rows: Iterable[Sequence[Any]], sheet: str, folder: Path) -> Path:
    """A finished workbook of ``rows`` in a hidden draft file in ``folder``; the caller renames it into place."""
    draft = workbook_draft(folder)
    try:
        writer = SheetWriter(draft, columns, sheet)
        for row in rows:
            writer.write(row)
        writer.close()
    except BaseException:
        draft.unlink(missing_ok=True)
        raise
    return draft
