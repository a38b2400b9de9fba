"""Reads a clerk's CSV batch file into records, listing every problem a clerk must fix before it can be sent."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from inbox.schema import BatchKind, Column


@dataclass(frozen=True)
class FieldError:
    row: int  # 1 = the header line, data rows count from 2 as in Excel
    column: str
    value: str
    zh: str
    en: str


@dataclass
class ParsedFile:
    records: list[dict[str, Any]] = field(default_factory=list)
    errors: list[FieldError] = field(default_factory=list)


def _header_map(kind: BatchKind, header: list[str], parsed: ParsedFile) -> dict[int, Column]:
    columns: dict[int, Column] = {}
    for index, name in enumerate(header):
        column = kind.column_for_header(name)
        if column is not None:
            columns[index] = column
    for column in kind.columns:
        if column.required and column not in columns.values():
            parsed.errors.append(
                FieldError(
                    1,
                    column.name,
                    "",
                    f"缺少列“{column.zh}”（{column.name}）",
                    f"missing column '{column.name}' ({column.zh})",
                )
            )
    return columns


def _check(column: Column, value: str, row: int) -> FieldError | None:
    if not value:
        if column.required:
            return FieldError(row, column.name, value, f"“{column.zh}”不能为空", f"'{column.name}' is empty")
        return None
    if column.pattern is not None and not column.pattern.fullmatch(value):
        return FieldError(
            row,
            column.name,
            value,
            f"“{column.zh}”格式不对：应为{column.rule_zh}",
            f"'{column.name}' is malformed: expected {column.rule_en}",
        )
    return None


def parse_csv(data: bytes, kind: BatchKind) -> ParsedFile:
    """Parse UTF-8 CSV (with or without BOM); every data row becomes one record numbered by its line."""
    parsed = ParsedFile()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        parsed.errors.append(FieldError(0, "", "", f"文件不是 UTF-8 编码：{exc}", f"the file is not UTF-8: {exc}"))
        return parsed
    rows = csv.reader(io.StringIO(text, newline=""))
    header = next(rows, None)
    if header is None:
        parsed.errors.append(FieldError(0, "", "", "文件是空的", "the file is empty"))
        return parsed
    columns = _header_map(kind, header, parsed)
    if parsed.errors:
        return parsed
    for line, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue
        record: dict[str, Any] = {"seq": line}
        for index, column in columns.items():
            value = row[index].strip() if index < len(row) else ""
            if (error := _check(column, value, line)) is not None:
                parsed.errors.append(error)
            record[column.name] = value
        parsed.records.append(record)
    if not parsed.records and not parsed.errors:
        parsed.errors.append(FieldError(0, "", "", "文件中没有数据行", "the file has no data rows"))
    return parsed
