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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, ParseError
from xml.parsers.expat import errors as expat_errors

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as parse_xml_safely

from inbox.encoding import SAMPLE_BYTES, EncodingUnknown, codec_label, detect
from inbox.schema import KINDS, BatchKind, Column, kind_from_name, kind_from_xml_root
from inbox.workbook import WorkbookUnreadable, is_workbook, open_rows
from inbox.xml_text import XmlEncodingError, xml_as_utf8
from l10n import MESSAGES, pair

MAX_XML_BYTES = 20 * 1024 * 1024
MAX_CELL_CHARS = 100_000
SHOWN_CHARS = 200  # of a value quoted back in an errors file from a file's structure (an attribute, stray text)
# Columns clerks keep in their sheets that carry nothing for the center: accepted and left out.
IGNORED_HEADERS = {"序号", "no", "no.", "#", "行号"}
csv.field_size_limit(MAX_CELL_CHARS)


@dataclass(frozen=True)
class FieldError:
    row: int  # the row as Excel numbers it (one per record: a cell's line breaks add none), or the XML record's
    # position (from 1); 0 = the file as a whole
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


def words(key: str, **values: object) -> tuple[str, str]:
    """The catalogue's message ``key`` in Chinese and English; a value given as a (Chinese, English) pair fills
    each language with its own half."""
    zh, en = MESSAGES[key]
    each = [{k: v[i] if isinstance(v, tuple) else v for k, v in values.items()} for i in (0, 1)]
    return zh.format(**each[0]), en.format(**each[1])


def shown(text: str, limit: int = SHOWN_CHARS) -> str:
    """A value quoted back to the clerk, cut to ``limit`` characters (an attribute may hold megabytes)."""
    return text if len(text) <= limit else text[:limit] + "…"


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
        raise _unopenable(exc) from exc
    return _table_source(kind, _sheet_rows(rows), close)


def _sheet_rows(rows: Iterator[RawRow]) -> Iterator[RawRow]:
    """A sheet's rows; a sheet damaged past the rows read so far refuses the file where the damage begins."""
    number = 0
    try:
        for number, cells in rows:
            yield number, cells
    except WorkbookUnreadable as exc:
        raise _unopenable(exc, number + 1) from exc


def _unopenable(exc: WorkbookUnreadable, row: int = 0) -> FileRefused:
    zh, en = pair("read.workbook_unreadable")
    return refuse(zh, f"{en} ({exc})", row=row)


# -- CSV -----------------------------------------------------------------------------------------------------------


def _csv_source(path: Path, head: bytes, kind: BatchKind) -> Source:
    try:
        codec = detect(head)
    except EncodingUnknown as exc:
        raise refuse(*pair("read.binary" if exc.binary else "read.encoding_unknown")) from exc
    delimiter, named = _delimiter(codecs.getincrementaldecoder(codec)(errors="replace").decode(head))
    text = io.TextIOWrapper(path.open("rb"), encoding=codec, newline="")
    reader = csv.reader(text, delimiter=delimiter)
    return _table_source(kind, _csv_rows(path, codec, delimiter, named, text, reader), text.close)


LINE_END = re.compile(r"\r\n?|\n")  # Windows, old Mac Excel's "CSV (Macintosh)" (CR only), and Unix
SEP_LINE = re.compile(r"sep=(.)", re.IGNORECASE)  # a first line naming the delimiter, for Excel: "sep=;"


def _delimiter(head: str) -> tuple[str, bool]:
    """The delimiter by the first line that holds anything, whatever ends it: the one of comma, tab and semicolon (a
    PC whose regional settings use a decimal comma saves CSV with semicolons) it holds most of, a comma if none. True
    when the file's first line only names the delimiter ("sep=;"): Excel reads it and does not show it as a row."""
    lines = LINE_END.split(head, maxsplit=100)[:100]  # the last one is the rest of the sample
    named = SEP_LINE.fullmatch(lines[0])
    if named:
        return named.group(1), True
    first_line = next((line for line in lines if line.strip()), "")
    counts = [(first_line.count(d), d) for d in (",", "\t", ";")]
    most = max(counts, key=lambda counted: counted[0])  # the first of equals: a comma before the others
    return (most[1] if most[0] else ","), False


def _csv_rows(
    path: Path, codec: str, delimiter: str, named: bool, text: io.TextIOWrapper, reader: Any
) -> Iterator[RawRow]:
    """Rows numbered as Excel numbers them: one per record, so a cell with a line break in it (several lines of the
    file) does not shift the numbers of the rows after it, whatever ends the lines (CR LF, LF, or CR alone); a first
    line that names the delimiter is no row."""
    number = 0
    with text:
        try:
            if named:
                next(reader, None)
            for cells in reader:
                number += 1
                yield number, cells
        except UnicodeDecodeError as exc:
            # The decoder reads ahead: the row it failed in is found by reading the file again, tolerantly.
            raise _undecodable(path, codec, delimiter, named) from exc
        except csv.Error as exc:
            key = "read.cell_too_long" if "field limit" in str(exc) else "read.csv_unreadable"
            raise refuse(*pair(key, limit=MAX_CELL_CHARS), row=number + 1) from exc


# Bytes that are not text in the file's encoding, marked where they stand when the file is read again to find them: a
# lone surrogate, which no decoder makes of valid text.
UNDECODABLE = "\udc00"


def _mark_undecodable(exc: UnicodeError) -> tuple[str, int]:
    assert isinstance(exc, UnicodeDecodeError)
    return UNDECODABLE, exc.end


codecs.register_error("eport-undecodable", _mark_undecodable)


def _undecodable(path: Path, codec: str, delimiter: str, named: bool) -> FileRefused:
    """The first row (as Excel numbers it) and cell holding bytes that are not text in ``codec``, with the cell as
    far as it can be read (the bytes that cannot, shown as �)."""
    zh, en = pair("read.mixed_encoding", codec=codec_label(codec))
    with path.open("rb") as raw:
        text = io.TextIOWrapper(raw, encoding=codec, errors="eport-undecodable", newline="")
        header: list[str] = []
        number = 0
        try:
            reader = csv.reader(text, delimiter=delimiter)
            if named:
                next(reader, None)
            for number, cells in enumerate(reader, start=1):
                for index, cell in enumerate(cells):
                    if UNDECODABLE in cell:
                        column = header[index].strip().lstrip("\ufeff") if index < len(header) else ""
                        value = shown(cell.replace(UNDECODABLE, "\ufffd").strip())
                        return refuse(zh, en, row=number, column=column, value=value)
                if not header and any(c.strip() for c in cells):
                    header = cells
        except csv.Error:  # a row past the limits before the undecodable one: that row is where reading stops
            return refuse(*pair("read.csv_unreadable"), row=number + 1)
    return refuse(zh, en)


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
        reason = pair(f"xml.reason.{EXPAT_REASONS.get(exc.code, 'other')}")
        raise refuse(*words("xml.malformed", line=exc.position[0], reason=reason)) from exc
    return root


def _expat_code(message: str) -> int:
    return int(expat_errors.codes[message])


# expat's errors a clerk's file can cause, by their code (the rest are "not well-formed XML").
EXPAT_REASONS = {
    _expat_code(expat_errors.XML_ERROR_NO_ELEMENTS): "no_element",
    _expat_code(expat_errors.XML_ERROR_SYNTAX): "invalid_token",
    _expat_code(expat_errors.XML_ERROR_INVALID_TOKEN): "invalid_token",
    _expat_code(expat_errors.XML_ERROR_PARTIAL_CHAR): "invalid_token",
    _expat_code(expat_errors.XML_ERROR_UNCLOSED_TOKEN): "unclosed_token",
    _expat_code(expat_errors.XML_ERROR_TAG_MISMATCH): "mismatched_tag",
    _expat_code(expat_errors.XML_ERROR_DUPLICATE_ATTRIBUTE): "duplicate_attribute",
    _expat_code(expat_errors.XML_ERROR_JUNK_AFTER_DOC_ELEMENT): "junk_after",
    _expat_code(expat_errors.XML_ERROR_UNDEFINED_ENTITY): "undefined_entity",
    _expat_code(expat_errors.XML_ERROR_BAD_CHAR_REF): "bad_character_reference",
    _expat_code(expat_errors.XML_ERROR_MISPLACED_XML_PI): "declaration_not_at_start",
    _expat_code(expat_errors.XML_ERROR_XML_DECL): "bad_declaration",
    _expat_code(expat_errors.XML_ERROR_UNCLOSED_CDATA_SECTION): "unclosed_cdata",
    _expat_code(expat_errors.XML_ERROR_UNBOUND_PREFIX): "unbound_prefix",
}


def _xml_source(path: Path, kind: BatchKind) -> Source:
    """Each child of the root is a record, numbered from 1 in the file's order, and each of its child elements a
    field: the records' fields become rows of cells in the kind's column order, checked and normalised by the same
    validator as a CSV file's. Every mistake of the structure (an element that is not a record, an unknown or
    repeated field, an attribute, text outside the fields) is listed with its record, field and value, and the
    records are still checked, so that one errors file names every mistake."""
    root = _xml_root(path)
    if root.tag != kind.name:
        raise refuse(
            f"XML 根元素应为 <{kind.name}>，而不是 <{shown(root.tag)}>",
            f"the XML root element must be <{kind.name}>, not <{shown(root.tag)}>",
            value=shown(root.tag),
        )
    names = [c.name for c in kind.columns]
    problems = _xml_stray(kind, root, 0)
    for number, item in enumerate(root, start=1):
        problems += _xml_record_problems(kind, names, number, item)
    rows = ((number, _xml_cells(item, names)) for number, item in enumerate(root, start=1) if item.tag == kind.item)
    return Source(list(range(len(names))), len(names), rows, labels=names, problems=problems)


def _xml_cells(item: Element, names: list[str]) -> list[str]:
    """A record's fields as cells in the kind's column order (the first of a repeated field counts)."""
    cells = dict.fromkeys(names, "")
    seen: set[str] = set()
    for field_element in item:
        tag = field_element.tag
        if tag in cells and tag not in seen:
            seen.add(tag)
            cells[tag] = field_element.text or ""
    return list(cells.values())


def _xml_record_problems(kind: BatchKind, names: list[str], number: int, item: Element) -> list[FieldError]:
    tag = shown(str(item.tag))
    if item.tag != kind.item:
        zh, en = words("xml.not_a_record", tag=tag, item=kind.item)
        return [FieldError(number, tag, shown("".join(item.itertext()).strip()), zh, en)]
    problems = _xml_stray(kind, item, number)
    fields = ("、".join(f"{c.name}（{c.zh}）" for c in kind.columns), ", ".join(names))
    seen: set[str] = set()
    for field_element in item:
        name = shown(str(field_element.tag))
        value = shown("".join(field_element.itertext()).strip())
        if field_element.tag not in names:
            zh, en = words("xml.unknown_field", tag=name, item=kind.item, fields=fields)
            problems.append(FieldError(number, name, value, zh, en))
        elif field_element.tag in seen:
            problems.append(FieldError(number, name, value, *words("xml.field_twice", tag=name)))
        seen.add(str(field_element.tag))
        if len(field_element):
            inner = shown(str(field_element[0].tag))
            problems.append(FieldError(number, name, value, *words("xml.nested", tag=name, inner=inner)))
        problems += _xml_attributes(kind, field_element, number, name)
    return problems


def _xml_stray(kind: BatchKind, element: Element, number: int) -> list[FieldError]:
    """The attributes of the root (``number`` 0) or of a record, and text standing between its elements."""
    problems = _xml_attributes(kind, element, number, "")
    stray = " ".join(t.strip() for t in [element.text, *(child.tail for child in element)] if t and t.strip())
    if stray:
        problems.append(FieldError(number, "", shown(stray), *words("xml.stray_text")))
    return problems


XSI = "{http://www.w3.org/2001/XMLSchema-instance}"  # xsi:noNamespaceSchemaLocation and the like: accepted


def _xml_attributes(kind: BatchKind, element: Element, number: int, column: str) -> list[FieldError]:
    problems = []
    for name, value in element.attrib.items():
        if name.startswith(XSI):
            continue
        name = shown(name)
        if not column and name in (c.name for c in kind.columns) and element.tag == kind.item:
            zh, en = words("xml.attribute_field", name=name, item=kind.item)
        else:
            zh, en = words("xml.attribute", name=name)
        problems.append(FieldError(number, column or name, shown(value), zh, en))
    return problems
