"""Rows out of a clerk's file, CSV, workbook (.xlsx, .xls) or XML, streamed: a file is never held in memory whole
(XML up to a size cap).

A :class:`Source` knows where each column of the batch kind stands in a row (its layout), how the clerk's header named
it, and yields the rows as raw cells numbered as the clerk's spreadsheet numbers them. A file that cannot be read at
all raises :class:`FileRefused`; mistakes in its header are listed (every one of them) and its rows are still read,
so that one errors file names every mistake; problems with one row are the validator's business.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as parse_xml_safely

from inbox.encoding import SAMPLE_BYTES, EncodingUnknown, detect
from inbox.schema import KINDS, BatchKind, Column, kind_from_name, kind_from_xml_root
from inbox.workbook import WorkbookUnreadable, is_workbook, open_rows
from inbox.xml_text import XmlEncodingError, xml_as_utf8
from inbox.xsd import xsd_text

MAX_XML_BYTES = 20 * 1024 * 1024
MAX_CELL_CHARS = 100_000
# Columns clerks keep in their sheets that carry nothing for the center: accepted and left out.
IGNORED_HEADERS = {"序号", "no", "no.", "#", "行号"}
csv.field_size_limit(MAX_CELL_CHARS)


@dataclass(frozen=True)
class FieldError:
    row: int  # the line in the CSV file (1 = header) or the record's position in the XML file; 0 = the file
    column: str
    value: str
    zh: str
    en: str


class FileRefused(Exception):
    """The file as a whole cannot be read as a batch; nothing of it is sent."""

    def __init__(self, error: FieldError) -> None:
        super().__init__(error.en)
        self.error = error


def refuse(zh: str, en: str, row: int = 0, column: str = "", value: str = "") -> FileRefused:
    return FileRefused(FieldError(row, column, value, zh, en))


RawRow = tuple[int, list[str]]  # the row's number (as Excel numbers it, or the XML record's position) and cells


@dataclass
class Source:
    """``layout[i]`` is where the kind's i-th column stands in a row's cells (None: the file lacks the column), and
    ``labels[i]`` how the clerk's header named it; cells from ``width`` on are outside the header. ``problems`` are
    the header's mistakes: the file is not sent, but its rows are still checked."""

    layout: list[int | None]
    width: int
    rows: Iterator[RawRow]
    close: Callable[[], None] = lambda: None  # releases the file even if the rows were never read (Windows
    # will not let a file that is open anywhere be moved to the archive)
    labels: list[str] = field(default_factory=list)
    problems: list[FieldError] = field(default_factory=list)

    def label(self, index: int, column: Column) -> str:
        return self.labels[index] if index < len(self.labels) and self.labels[index] else column.zh


def is_xml(path: Path, head: bytes) -> bool:
    return path.suffix.lower() == ".xml" or head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")


def tell_kind(path: Path, folder_kind: str | None) -> BatchKind:
    """The kind from the inbox/<kind>/ folder, else the file name's prefix, else the XML root element."""
    if folder_kind is not None:
        return KINDS[folder_kind]
    by_name = kind_from_name(path.name)
    if by_name is not None:
        return by_name
    with path.open("rb") as handle:
        head = handle.read(4096)
    if is_xml(path, head):
        by_root = kind_from_xml_root(_xml_root(path).tag)
        if by_root is not None:
            return by_root
    names = "、".join(KINDS)
    raise refuse(
        f"无法判断文件的业务类型：请把文件放入 inbox/<业务类型>/ 文件夹（{names}），或以业务类型作文件名开头",
        f"cannot tell the batch kind: drop the file into inbox/<kind>/ ({', '.join(KINDS)}) "
        "or start its name with the kind",
        value=path.name,
    )


def file_format(path: Path, head: bytes) -> str:
    """ "xlsx", "xml" or "csv": what the file is, by its first bytes (a workbook renamed .csv is still one)."""
    if is_workbook(path, head):
        return "xlsx"
    return "xml" if is_xml(path, head) else "csv"


def open_source(path: Path, kind: BatchKind) -> Source:
    with path.open("rb") as handle:
        head = handle.read(SAMPLE_BYTES)
    if not head.strip(b"\xef\xbb\xbf \t\r\n"):
        raise refuse("文件是空的", "the file is empty")
    fmt = file_format(path, head)
    if fmt == "xlsx":
        return _workbook_source(path, head, kind)
    if fmt == "xml":
        return _xml_source(path, kind)
    return _csv_source(path, head, kind)


def _table_source(kind: BatchKind, numbered: Iterator[RawRow], close: Callable[[], None]) -> Source:
    """A source from rows of cells whose first non-empty row is the header (CSV and workbooks alike)."""
    try:
        at, header = next(((n, cells) for n, cells in numbered if any(cell.strip() for cell in cells)), (0, None))
        if header is None:
            raise refuse("文件是空的", "the file is empty")
        columns, labels, problems = _header_columns(kind, header, at)
    except BaseException:
        close()
        raise
    layout = [columns.index(c) if c in columns else None for c in kind.columns]
    names = [labels[columns.index(c)] if c in columns else "" for c in kind.columns]
    width = len(header)
    return Source(layout, width, _data_rows(numbered, width), close, names, problems)


def _data_rows(numbered: Iterator[RawRow], width: int) -> Iterator[RawRow]:
    """The rows that hold anything, each with as many cells as the header: a short row's missing cells are empty
    ones (a workbook leaves out trailing empty cells, and so may a CSV written by hand)."""
    for row in numbered:
        cells = row[1]
        if any(map(str.strip, cells)):
            yield row if len(cells) >= width else (row[0], cells + [""] * (width - len(cells)))


# -- workbooks ------------------------------------------------------------------------------------------------------


def _workbook_source(path: Path, head: bytes, kind: BatchKind) -> Source:
    try:
        rows, close = open_rows(path, head)
    except WorkbookUnreadable as exc:
        raise refuse(
            f"无法打开这个 Excel 文件（{exc}）：文件可能已损坏或设有密码；请在 Excel 中去掉密码后另存为 .xlsx",
            f"cannot open this Excel file ({exc}): it may be damaged or protected by a password; remove the "
            "password and save it again as .xlsx",
        ) from exc
    return _table_source(kind, rows, close)


# -- CSV -----------------------------------------------------------------------------------------------------------


def _csv_source(path: Path, head: bytes, kind: BatchKind) -> Source:
    try:
        codec = detect(head)
    except EncodingUnknown as exc:
        raise refuse(
            f"无法识别文件的编码（{exc}）：请在 Excel 中另存为“CSV UTF-8”、“CSV（逗号分隔）”或“Excel 工作簿 (.xlsx)”",
            f"cannot read the file's text encoding ({exc}): "
            "save it from Excel as 'CSV UTF-8', 'CSV (comma delimited)' or 'Excel Workbook (.xlsx)'",
        ) from exc
    first_line = codecs.getincrementaldecoder(codec)(errors="replace").decode(head).split("\n", 1)[0]
    delimiter = "\t" if first_line.count("\t") > first_line.count(",") else ","
    text = io.TextIOWrapper(path.open("rb"), encoding=codec, newline="")
    reader = csv.reader(text, delimiter=delimiter)
    return _table_source(kind, _csv_rows(text, reader), text.close)


def _csv_rows(text: io.TextIOWrapper, reader: Any) -> Iterator[RawRow]:
    """Rows numbered as Excel numbers them: one per record, so a cell with a line break in it (several lines of the
    file) does not shift the numbers of the rows after it."""
    number = 0
    with text, _explained(reader, lambda: number):
        for cells in reader:
            number += 1
            yield number, cells


@contextmanager
def _explained(reader: Any, rows_read: Callable[[], int]) -> Iterator[None]:
    """Reading errors of the csv module and the decoder, in words a clerk can act on."""
    try:
        yield
    except UnicodeDecodeError as exc:
        line = rows_read() + 1
        raise refuse(
            f"第 {line} 行附近的文字无法按文件的编码读取：文件中混有不同编码，请重新保存为 CSV UTF-8",
            f"text near line {line} cannot be read in the file's encoding (mixed encodings?): "
            "save the file again as CSV UTF-8",
            row=line,
        ) from exc
    except csv.Error as exc:
        line = rows_read() + 1
        raise refuse(
            f"第 {line} 行无法读取：{exc}（单元格过长或引号不配对）",
            f"line {line} cannot be read: {exc} (a cell too long or an unmatched quote)",
            row=line,
        ) from exc


def _header_columns(
    kind: BatchKind, header: list[str], at: int = 1
) -> tuple[list[Column | None], list[str], list[FieldError]]:
    """Which column each header cell names, how the clerk wrote it, and every mistake of the header."""
    columns: list[Column | None] = []
    labels: list[str] = []
    problems: list[FieldError] = []
    accepted_zh = "、".join(f"{c.zh}（{c.name}）" for c in kind.columns)
    accepted_en = ", ".join(f"{c.name} ({c.zh})" for c in kind.columns)
    for cell in header:
        name = str(cell).strip().lstrip("\ufeff")
        column = kind.column_for_header(name)
        if column is None and name and name.lower() not in IGNORED_HEADERS:
            problems.append(
                FieldError(
                    at,
                    name,
                    name,
                    f"未知的列“{name}”：{kind.zh}文件的列为 {accepted_zh}",
                    f"unknown column '{name}': a {kind.name} file has the columns {accepted_en}",
                )
            )
        if column is not None and column in columns:
            problems.append(
                FieldError(at, name, name, f"列“{column.zh}”出现了两次", f"column '{column.name}' appears twice")
            )
            column = None  # the first one counts
        columns.append(column)
        labels.append(name)
    problems += _missing(kind, [c for c in columns if c is not None], at)
    return columns, labels, problems


def _missing(kind: BatchKind, present: list[Column], at: int) -> list[FieldError]:
    missing = [c for c in kind.columns if c.required and c not in present]
    if kind.ranges and not any(c.name in ("form_no", "start_form_no") for c in present):
        missing.insert(0, kind.column("form_no"))
    return [
        FieldError(at, f"{c.zh} {c.name}", "", f"缺少列“{c.zh}”（{c.name}）", f"missing column '{c.name}' ({c.zh})")
        for c in missing
    ]


# -- XML -----------------------------------------------------------------------------------------------------------


def _xml_root(path: Path) -> Element:
    """Parse with entity expansion, external entities and DTDs all refused, and a size cap; in whatever encoding
    the file declares (GBK, GB2312, GB18030, UTF-8, UTF-16: expat itself reads no multi-byte encoding but UTF-8)."""
    size = path.stat().st_size
    if size > MAX_XML_BYTES:
        raise refuse(
            f"XML 文件过大（{size // 1048576} MB，上限 {MAX_XML_BYTES // 1048576} MB）：请拆分或改用 CSV",
            f"the XML file is too large ({size // 1048576} MB, limit {MAX_XML_BYTES // 1048576} MB): "
            "split it or use CSV",
        )
    try:
        text = xml_as_utf8(path.read_bytes())
    except XmlEncodingError as exc:
        raise refuse(f"XML 文件的编码无法读取：{exc.zh}", f"the XML file's encoding cannot be read: {exc.en}") from exc
    try:
        root: Element = parse_xml_safely(text, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise refuse(
            "XML 文件含有 DTD 或实体声明，出于安全原因不予读取",
            f"the XML file declares a DTD or entities, which are refused for safety ({type(exc).__name__})",
        ) from exc
    except ParseError as exc:
        raise refuse(f"XML 格式错误：{exc}", f"malformed XML: {exc}", row=exc.position[0]) from exc
    return root


XSD_PATH = re.compile(r"/\w+/\w+\[(\d+)\](?:/(\w+))?")


def _xml_source(path: Path, kind: BatchKind) -> Source:
    root = _xml_root(path)
    if root.tag != kind.name:
        raise refuse(
            f"XML 根元素应为 <{kind.name}>，而不是 <{root.tag}>",
            f"the XML root element must be <{kind.name}>, not <{root.tag}>",
            value=root.tag,
        )
    for error in _schema(kind).iter_errors(root):
        where = XSD_PATH.search(error.path or "")
        row, column = (int(where.group(1)), where.group(2) or "") if where else (0, "")
        raise refuse(
            f"XML 不符合 {kind.name}.xsd：{error.reason}",
            f"the XML does not follow {kind.name}.xsd: {error.reason}",
            row=row,
            column=column,
        )
    names = [c.name for c in kind.columns]
    rows = ((number, [item.findtext(name) or "" for name in names]) for number, item in enumerate(root, start=1))
    return Source(list(range(len(names))), len(names), rows, labels=names)


_SCHEMAS: dict[str, Any] = {}


def _schema(kind: BatchKind) -> Any:
    """The kind's XSD, compiled on first use: xmlschema weighs 20 MB, and most agents never see an XML file."""
    if kind.name not in _SCHEMAS:
        import xmlschema

        _SCHEMAS[kind.name] = xmlschema.XMLSchema(xsd_text(kind))
    return _SCHEMAS[kind.name]
