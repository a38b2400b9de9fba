"""Reading back the tables the agent writes for clerks, as a program or a spreadsheet would: the CSV by the English
column names its bilingual header ends with ("核销单号 form_no"), identifiers unwrapped from their ="…" protection;
the workbook through openpyxl, cell by cell as Excel would show them."""

from __future__ import annotations

import csv
import io
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from outbox.files import read_cell


def english(header: str) -> str:
    return header.split()[-1] if header.strip() else header


def read_table(path: Path) -> list[dict[str, str]]:
    """A CSV the agent wrote, each row keyed by the English column names, each value as it stands for."""
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    names = [english(h) for h in rows[0]]
    return [dict(zip(names, (read_cell(v) for v in row), strict=True)) for row in rows[1:]]


def raw_rows(path: Path) -> list[list[str]]:
    """A CSV the agent wrote, exactly as its cells are written."""
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def read_workbook(path: Path) -> tuple[list[str], list[list[Any]], Any]:
    """A workbook's first sheet: its header, its rows of cell values, and the sheet itself."""
    from openpyxl import load_workbook

    sheet = load_workbook(path).worksheets[0]
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    return [str(h) for h in rows[0]], rows[1:], sheet


@contextmanager
def local_zone(name: str = "Asia/Shanghai") -> Iterator[None]:
    """The process's local time zone set to ``name`` (the clerks' PCs), as the PC's settings would; restored after."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = name
    time.tzset()
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = saved
        time.tzset()
