"""Files for clerks: written atomically (temp file + rename), never overwriting, safe in a spreadsheet.

Every table is written twice, side by side: ``<name>.csv`` for programs and ``<name>.xlsx`` for the clerk. In the CSV
(UTF-8 with BOM and CRLF, what Excel on Chinese Windows opens correctly) an identifier is written as ``="000000001"``,
which Excel and LibreOffice show as the text 000000001 where a plain 000000001 would become the number 1 and an
18-digit declaration number 2.20020261E+17; programs take the text between the quotes. A cell that a spreadsheet
would run as a formula gets a leading apostrophe.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import tempfile
import time
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path
from typing import Any

from l10n.times import local_text
from outbox.columns import Cell, Column

# Excel runs a cell starting with these as a formula (CSV injection); a leading apostrophe makes it text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Files being written are named like this until their one rename; one left behind was cut short by a crash.
DRAFT_PREFIX, DRAFT_SUFFIX = ".", ".tmp"
UNSAFE_NAME = re.compile(r"[^\w.\- ()\u4e00-\u9fff]+")
WORKBOOK = ".xlsx"
# Text a spreadsheet opening a CSV would turn into something else: digits with a leading zero (the zero goes), 12
# digits or more (scientific notation, digits lost), scientific notation, and dates in forms it reformats.
SPREADSHEET_CHANGES = re.compile(
    r"0\d+|\d{12,}|[+-]?\d+(\.\d+)?[eE][+-]?\d+|\d{1,4}[-/.]\d{1,2}([-/.]\d{1,4})?|\d+,\d{3}(,\d{3})*(\.\d+)?"
)
PROTECTED = re.compile(r'="([^"]*)"')


# A stem's length in UTF-8 bytes: with a time stamp, a hash, " (n)" and ".errors.xlsx" around it a name stays well
# under the 255 bytes file systems allow (40 Chinese characters, or 120 ASCII ones).
STEM_BYTES = 120


def safe_stem(name: str, limit: int = STEM_BYTES) -> str:
    """A file stem derived from an untrusted name: no separators, control or reserved characters, at most ``limit``
    bytes in UTF-8 (cut at a character, so the name stays recognisable)."""
    stem = Path(name.replace("\\", "/").split("/")[-1]).stem
    stem = UNSAFE_NAME.sub("_", stem).strip(" .")
    stem = stem.encode("utf-8")[:limit].decode("utf-8", "ignore").strip(" .")
    return stem or "batch"


def excel_cell(value: object) -> str:
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_STARTS) and not _is_number(text):
        return "'" + text
    return text


def protected(text: str) -> str:
    """``="text"``: a spreadsheet opening the CSV shows exactly ``text``, as text."""
    return f'="{text}"'


# Control characters and bidirectional overrides are never written raw into a cell: a clerk's file could otherwise
# make a result file show something else than it says (a right-to-left override turns "2200" into "0022").
INVISIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def visible(text: str) -> str:
    """``text`` with each control character or bidi override shown by its code point, e.g. ``<U+202E>``."""
    return INVISIBLE.sub(lambda m: f"<U+{ord(m.group()):04X}>", text)


def csv_cell(column: Column, value: object) -> str:
    """One value as a CSV cell of its column: identifiers protected, times in local time, formulas neutralised,
    control characters and bidi overrides made visible."""
    if value is None or value == "":
        return ""
    if column.cell is Cell.TIME:
        return local_text(str(value))
    text = visible(str(value))
    if column.cell is Cell.ID and '"' not in text:
        return protected(text)
    if column.cell is Cell.TEXT and SPREADSHEET_CHANGES.fullmatch(text):
        return protected(text)
    return excel_cell(text)


def read_cell(text: str) -> str:
    """A cell of a CSV the agent wrote, as the value it stands for (``="0001"`` → ``0001``)."""
    match = PROTECTED.fullmatch(text)
    if match:
        return match.group(1)
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_STARTS) else text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _taken(path: Path, taken: Collection[str], siblings: Sequence[str]) -> bool:
    """``path`` or one of its siblings (the same name with another last suffix) exists or is promised."""
    return any(p.exists() or str(p) in taken for p in (path, *(path.with_suffix(s) for s in siblings)))


def free_path(folder: Path, name: str, taken: Collection[str] = (), siblings: Sequence[str] = ()) -> Path:
    """``folder/name``, or ``name (2)``, ``name (3)``... if taken on disk or in ``taken`` (or a sibling with one of
    the ``siblings`` suffixes is): nothing is overwritten."""
    path = folder / name
    stem, suffix = name, ""
    if "." in name:
        stem, _, suffix = name.partition(".")
        suffix = "." + suffix
    n = 2
    while _taken(path, taken, siblings):
        path = folder / f"{stem} ({n}){suffix}"
        n += 1
    return path


def workbook_of(path: Path) -> Path:
    """The workbook written beside a table: ``a.result.csv`` → ``a.result.xlsx``."""
    return path.with_suffix(WORKBOOK)


def write_atomic(path: Path, data: bytes) -> None:
    """Readers see the old file or the whole new one, never a half-written one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=DRAFT_PREFIX, suffix=DRAFT_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def csv_bytes(columns: Sequence[Column], rows: Iterable[Sequence[object]]) -> bytes:
    """UTF-8 with BOM and CRLF, bilingual header, cells by their column."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([c.csv_header() for c in columns])
    writer.writerows([csv_cell(c, v) for c, v in zip(columns, row, strict=True)] for row in rows)
    return buffer.getvalue().encode("utf-8-sig")


def write_workbook(path: Path, columns: Sequence[Column], rows: Iterable[Sequence[Any]], sheet: str) -> None:
    """The workbook at ``path``, atomically."""
    from outbox.sheets import workbook_draft_of

    path.parent.mkdir(parents=True, exist_ok=True)
    draft = workbook_draft_of(columns, rows, sheet, path.parent)
    try:
        os.replace(draft, path)
    except BaseException:
        draft.unlink(missing_ok=True)
        raise


def write_table(path: Path, columns: Sequence[Column], rows: Sequence[Sequence[Any]], sheet: str) -> Path:
    """The table as a workbook and as ``path`` (CSV) beside it, each atomically, the CSV last (a program waiting for
    it finds both); returns the workbook's path."""
    workbook = workbook_of(path)
    write_workbook(workbook, columns, rows, sheet)
    write_atomic(path, csv_bytes(columns, rows))
    return workbook


class TableDraft:
    """A table for clerks written row by row into hidden temporary files (the CSV at once, the workbook from its
    first row on), then published under free names with one rename each, or discarded: however long it gets, it is
    never held in memory and never seen half-written."""

    def __init__(self, folder: Path, columns: Sequence[Column], sheet: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=DRAFT_PREFIX, suffix=DRAFT_SUFFIX)
        self.folder, self.tmp, self.count = folder, Path(tmp), 0
        self.columns, self._sheet_name = list(columns), sheet
        self._out = os.fdopen(fd, "w", encoding="utf-8-sig", newline="")
        self._writer = csv.writer(self._out, lineterminator="\r\n")
        self._writer.writerow([c.csv_header() for c in self.columns])
        self._book: Any = None
        self._book_path: Path | None = None

    def write(self, row: Sequence[object]) -> None:
        self._writer.writerow([csv_cell(c, v) for c, v in zip(self.columns, row, strict=True)])
        if self._book is None:
            from outbox.sheets import SheetWriter, workbook_draft

            self._book_path = workbook_draft(self.folder)
            self._book = SheetWriter(self._book_path, self.columns, self._sheet_name)
        self._book.write(row)
        self.count += 1

    def publish(self, name: str, taken: Collection[str] = ()) -> Path:
        """Publish under ``name`` (a .csv name) or the next free one; returns the CSV's path (the workbook is
        :func:`workbook_of` it)."""
        self._out.flush()
        os.fsync(self._out.fileno())
        self._out.close()
        path = free_path(self.folder, name, taken, siblings=(WORKBOOK,))
        if self._book is not None and self._book_path is not None:
            self._book.close()
            os.replace(self._book_path, workbook_of(path))
        os.replace(self.tmp, path)
        return path

    def discard(self) -> None:
        self._out.close()
        self.tmp.unlink(missing_ok=True)
        if self._book_path is not None:
            with contextlib.suppress(Exception):
                self._book.close()
            self._book_path.unlink(missing_ok=True)


def remove_stale_drafts(folder: Path, older_than: float) -> int:
    """Delete the half-written files a crash left in ``folder`` (the finished file was never published), if they are
    older than ``older_than`` seconds, so as never to touch one another process is still writing."""
    removed = 0
    cutoff = time.time() - older_than
    for draft in folder.glob(f"{DRAFT_PREFIX}*{DRAFT_SUFFIX}"):
        with contextlib.suppress(FileNotFoundError):
            if draft.stat().st_mtime < cutoff:
                draft.unlink()
                removed += 1
    return removed
