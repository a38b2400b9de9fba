"""Rows out of a clerk's file, CSV or XML, streamed: a file is never held in memory whole (XML up to a size cap).

A :class:`Source` knows where each column of the batch kind stands in a row (its layout) and yields the rows as
raw cells. Problems with the file as a whole raise :class:`FileRefused`; problems with one row are the validator's
business.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import parse as parse_xml_safely

from inbox.encoding import SAMPLE_BYTES, EncodingUnknown, detect
from inbox.schema import KINDS, BatchKind, Column, kind_from_name, kind_from_xml_root
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
    """``layout[i]`` is where the kind's i-th column stands in a row's cells (None: the file lacks the column);
    cells from ``width`` on are outside the header."""

    layout: list[int | None]
    width: int
    rows: Iterator[RawRow]
    close: Callable[[], None] = lambda: None  # releases the file even if the rows were never read (Windows
    # will not let a file that is open anywhere be moved to the archive)


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


def open_source(path: Path, kind: BatchKind) -> Source:
    with path.open("rb") as handle:
        head = handle.read(SAMPLE_BYTES)
    if not head.strip(b"\xef\xbb\xbf \t\r\n"):
        raise refuse("文件是空的", "the file is empty")
    if is_xml(path, head):
        return _xml_source(path, kind)
    return _csv_source(path, head, kind)


# -- CSV -----------------------------------------------------------------------------------------------------------


def _csv_source(path: Path, head: bytes, kind: BatchKind) -> Source:
    try:
        codec = detect(head)
    except EncodingUnknown as exc:
        raise refuse(
            f"无法识别文件的编码（{exc}）：请在 Excel 中另存为“CSV UTF-8”或“CSV（逗号分隔）”",
            f"cannot read the file's text encoding ({exc}): "
            "save it from Excel as 'CSV UTF-8' or 'CSV (comma delimited)'",
        ) from exc
    first_line = codecs.getincrementaldecoder(codec)(errors="replace").decode(head).split("\n", 1)[0]
    delimiter = "\t" if first_line.count("\t") > first_line.count(",") else ","
    text = io.TextIOWrapper(path.open("rb"), encoding=codec, newline="")
    reader = csv.reader(text, delimiter=delimiter)
    try:
        with _explained(reader):
            header = next((cells for cells in reader if any(cell.strip() for cell in cells)), None)
        if header is None:
            raise refuse("文件是空的", "the file is empty")
        columns = _header_columns(kind, header)
    except BaseException:
        text.close()
        raise
    layout = [columns.index(c) if c in columns else None for c in kind.columns]
    return Source(layout, len(header), _csv_rows(text, reader), text.close)


def _csv_rows(text: io.TextIOWrapper, reader: Any) -> Iterator[RawRow]:
    with text, _explained(reader):
        for cells in reader:
            if any(map(str.strip, cells)):
                yield reader.line_num, cells


@contextmanager
def _explained(reader: Any) -> Iterator[None]:
    """Reading errors of the csv module and the decoder, in words a clerk can act on."""
    try:
        yield
    except UnicodeDecodeError as exc:
        line = reader.line_num + 1
        raise refuse(
            f"第 {line} 行附近的文字无法按文件的编码读取：文件中混有不同编码，请重新保存为 CSV UTF-8",
            f"text near line {line} cannot be read in the file's encoding (mixed encodings?): "
            "save the file again as CSV UTF-8",
            row=line,
        ) from exc
    except csv.Error as exc:
        line = reader.line_num + 1
        raise refuse(
            f"第 {line} 行无法读取：{exc}（单元格过长或引号不配对）",
            f"line {line} cannot be read: {exc} (a cell too long or an unmatched quote)",
            row=line,
        ) from exc


def _header_columns(kind: BatchKind, header: list[str]) -> list[Column | None]:
    columns: list[Column | None] = []
    for cell in header:
        name = cell.strip().lstrip("\ufeff")
        column = kind.column_for_header(name)
        if column is None and name and name.lower() not in IGNORED_HEADERS:
            accepted = "、".join(f"{c.zh}（{c.name}）" for c in kind.columns)
            raise refuse(
                f"未知的列“{name}”：{kind.zh}文件的列为 {accepted}",
                f"unknown column '{name}': a {kind.name} file has the columns "
                + ", ".join(f"{c.name} ({c.zh})" for c in kind.columns),
                row=1,
                column=name,
                value=name,
            )
        if column is not None and column in columns:
            raise refuse(f"列“{column.zh}”出现了两次", f"column '{column.name}' appears twice", row=1, column=name)
        columns.append(column)
    _check_required(kind, [c for c in columns if c is not None])
    return columns


def _check_required(kind: BatchKind, present: list[Column]) -> None:
    missing = [c for c in kind.columns if c.required and c not in present]
    if kind.ranges and not any(c.name in ("form_no", "start_form_no") for c in present):
        missing.insert(0, kind.column("form_no"))
    if missing:
        c = missing[0]
        raise refuse(f"缺少列“{c.zh}”（{c.name}）", f"missing column '{c.name}' ({c.zh})", row=1, column=c.name)


# -- XML -----------------------------------------------------------------------------------------------------------


def _xml_root(path: Path) -> Element:
    """Parse with entity expansion, external entities and DTDs all refused, and a size cap."""
    size = path.stat().st_size
    if size > MAX_XML_BYTES:
        raise refuse(
            f"XML 文件过大（{size // 1048576} MB，上限 {MAX_XML_BYTES // 1048576} MB）：请拆分或改用 CSV",
            f"the XML file is too large ({size // 1048576} MB, limit {MAX_XML_BYTES // 1048576} MB): "
            "split it or use CSV",
        )
    try:
        root: Element = parse_xml_safely(str(path), forbid_dtd=True).getroot()
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
    return Source(list(range(len(names))), len(names), rows)


_SCHEMAS: dict[str, Any] = {}


def _schema(kind: BatchKind) -> Any:
    """The kind's XSD, compiled on first use: xmlschema weighs 20 MB, and most agents never see an XML file."""
    if kind.name not in _SCHEMAS:
        import xmlschema

        _SCHEMAS[kind.name] = xmlschema.XMLSchema(xsd_text(kind))
    return _SCHEMAS[kind.name]
