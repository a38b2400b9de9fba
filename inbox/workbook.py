"""Rows out of a workbook a clerk dropped: the first sheet of an .xlsx (openpyxl, read-only: rows are streamed, the
sheet is never held whole) or an old .xls (xlrd). Each cell as the clerk sees it: text stays text, a number is the
text its number format shows (with the number Excel stored, see inbox.excel), a date its ISO date. Rows are numbered
as the sheet numbers them.

The libraries are imported when a workbook arrives: an idle agent never loads them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from inbox.excel import DateCell, NumberCell, shown_number

ZIP_MAGIC = b"PK\x03\x04"  # .xlsx (and .xlsm) are zip packages
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls, and any workbook saved with a password
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xls")

SheetRows = Iterator[tuple[int, list[str]]]


class WorkbookUnreadable(Exception):
    """The workbook cannot be opened (damaged, protected by a password, not really a workbook)."""


def is_workbook(path: Path, head: bytes) -> bool:
    return path.suffix.lower() in WORKBOOK_SUFFIXES or head.startswith((ZIP_MAGIC, OLE_MAGIC))


def open_rows(path: Path, head: bytes) -> tuple[SheetRows, Callable[[], None]]:
    """The first sheet's rows as (row number, cells), and what closes the file."""
    if head.startswith(ZIP_MAGIC):
        return _xlsx_rows(path)
    if head.startswith(OLE_MAGIC):
        return _xls_rows(path)
    raise WorkbookUnreadable("not a workbook")


def _cell_text(value: Any, number_format: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return DateCell(value.date())
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return DateCell(value)
    if isinstance(value, int | float):
        return NumberCell(shown_number(value, number_format or "General"), value)
    return str(value)


def _xlsx_rows(path: Path) -> tuple[SheetRows, Callable[[], None]]:
    from openpyxl import load_workbook

    handle = path.open("rb")  # opened here, not by name: openpyxl refuses a workbook renamed .csv by its name alone
    try:
        book = load_workbook(handle, read_only=True, data_only=True)
    except Exception as exc:  # zipfile, XML and openpyxl's own errors: all mean the same to the clerk
        handle.close()
        raise WorkbookUnreadable(f"{type(exc).__name__}: {exc}") from exc
    sheet = book.worksheets[0]
    sheet.reset_dimensions()  # some programs write a wrong sheet size; read what is there

    def rows() -> SheetRows:
        try:
            for cells in sheet.iter_rows():
                if not cells:
                    continue
                number = next((c.row for c in cells if getattr(c, "row", None)), None)
                if number is None:
                    continue
                yield number, [_cell_text(c.value, getattr(c, "number_format", "General")) for c in cells]
        except Exception as exc:  # the sheet is read as its rows are: a package damaged inside fails only here
            raise WorkbookUnreadable(f"{type(exc).__name__}: {exc}") from exc

    def close() -> None:
        book.close()
        handle.close()

    return rows(), close


def _xls_rows(path: Path) -> tuple[SheetRows, Callable[[], None]]:
    import xlrd

    try:
        book = xlrd.open_workbook(str(path), formatting_info=True, on_demand=True)
        sheet = book.sheet_by_index(0)
    except Exception as exc:  # xlrd's errors, and a password-protected .xlsx (an OLE file too)
        raise WorkbookUnreadable(f"{type(exc).__name__}: {exc}") from exc

    def number_format(cell: Any) -> str:
        xf = book.xf_list[cell.xf_index]
        found = book.format_map.get(xf.format_key)
        return found.format_str if found is not None else "General"

    def value(cell: Any) -> str:
        if cell.ctype == xlrd.XL_CELL_DATE:
            return _cell_text(xlrd.xldate_as_datetime(cell.value, book.datemode), "")
        if cell.ctype == xlrd.XL_CELL_NUMBER:
            return _cell_text(cell.value, number_format(cell))
        if cell.ctype == xlrd.XL_CELL_BOOLEAN:
            return _cell_text(bool(cell.value), "")
        if cell.ctype == xlrd.XL_CELL_TEXT:
            return str(cell.value)
        return ""

    def rows() -> SheetRows:
        for index in range(sheet.nrows):
            yield index + 1, [value(cell) for cell in sheet.row(index)]

    return rows(), book.release_resources
