"""Checks one row before anything is signed, and turns it into the record the wire carries (sync/protocol.py).

Everything a clerk can get wrong in a cell is caught here, with the row and column and a message in Chinese and
English; what only the center knows (whose form it is, its statuses) is left to the center.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from inbox.schema import BatchKind, Column, query_names, query_op
from inbox.sources import FieldError, Row
from sync.protocol import expand_range


@dataclass(frozen=True)
class PortTable:
    """The center's port reference table as cached by the agent; empty when it was never fetched."""

    codes: frozenset[str]
    names: frozenset[str]

    @classmethod
    def of(cls, ports: Iterable[dict[str, str]]) -> PortTable:
        listed = list(ports)
        return cls(frozenset(p["code"] for p in listed), frozenset(p["name"] for p in listed))

    def knows(self, text: str) -> bool:
        return not self.codes or text in self.codes or text in self.names


NO_PORTS = PortTable(frozenset(), frozenset())


def _error(row: Row, column: Column, value: str, zh: str, en: str) -> FieldError:
    return FieldError(row.number, column.name, value, zh, en)


def _cell(row: Row, column: Column, errors: list[FieldError]) -> str | int | None:
    """The cell's value, checked against its column; None when empty or wrong (the error is recorded)."""
    value = row.values.get(column.name, "")
    if not value:
        if column.required:
            errors.append(_error(row, column, value, f"“{column.zh}”不能为空", f"'{column.name}' is empty"))
        return None
    if column.integer is not None:
        low, high = column.integer
        if not value.isdigit() or not low <= int(value) <= high:
            errors.append(
                _error(
                    row,
                    column,
                    value,
                    f"“{column.zh}”应为{column.rule_zh}",
                    f"'{column.name}' must be {column.rule_en}",
                )
            )
            return None
        return int(value)
    if column.pattern is not None and not column.pattern.fullmatch(value):
        errors.append(
            _error(
                row,
                column,
                value,
                f"“{column.zh}”格式不对：应为{column.rule_zh}",
                f"'{column.name}' is malformed: expected {column.rule_en}",
            )
        )
        return None
    return value


class Validator:
    def __init__(self, kind: BatchKind, ports: PortTable = NO_PORTS) -> None:
        self.kind = kind
        self.ports = ports

    def check(self, row: Row) -> tuple[dict[str, Any] | None, list[FieldError]]:
        """The wire record of a row, or None and every error found in it."""
        errors: list[FieldError] = []
        if "__extra__" in row.values:
            errors.append(
                FieldError(
                    row.number,
                    "",
                    row.values["__extra__"],
                    "这一行的单元格比表头多",
                    "this row has more cells than the header has columns",
                )
            )
        values = {c.name: _cell(row, c, errors) for c in self.kind.columns}
        record: dict[str, Any] = {"seq": row.number}
        if self.kind.ranges:
            self._forms(row, values, record, errors)
        for column in self.kind.columns:
            if column.name in ("form_no", "start_form_no", "count"):
                continue
            value = values[column.name]
            record[column.name] = "" if value is None else value
        if self.kind.name == "filings" and values["port"] is not None:
            self._port(row, str(values["port"]), errors)
        if self.kind.name == "queries" and not errors:
            self._query(row, record, errors)
        return (None, errors) if errors else (record, [])

    def _forms(self, row: Row, values: dict[str, Any], record: dict[str, Any], errors: list[FieldError]) -> None:
        form, start, count = values["form_no"], values["start_form_no"], values["count"]
        given = {name for name in ("form_no", "start_form_no", "count") if row.values.get(name)}
        form_col = self.kind.column("form_no")
        if "form_no" in given and given & {"start_form_no", "count"}:
            errors.append(
                _error(
                    row,
                    form_col,
                    row.values["form_no"],
                    "核销单号与起始核销单号/份数只能填一种",
                    "give form_no or start_form_no + count, not both",
                )
            )
        elif not given:
            errors.append(
                _error(
                    row,
                    form_col,
                    "",
                    "请填写核销单号，或起始核销单号和份数",
                    "give form_no, or start_form_no and count",
                )
            )
        elif "form_no" not in given and given != {"start_form_no", "count"}:
            missing = self.kind.column("count" if "start_form_no" in given else "start_form_no")
            errors.append(
                _error(
                    row,
                    missing,
                    "",
                    f"一段核销单需要同时填写起始核销单号和份数，缺少“{missing.zh}”",
                    f"a run of forms needs both start_form_no and count: '{missing.name}' is missing",
                )
            )
        elif form is not None:
            record["form_no"] = form
        elif start is not None and count is not None:
            try:
                expand_range(str(start), int(count))
            except ValueError as exc:
                errors.append(
                    _error(
                        row,
                        self.kind.column("start_form_no"),
                        str(start),
                        f"从{start}起的{count}份超出了核销单号的范围",
                        str(exc),
                    )
                )
                return
            record["start_form_no"], record["count"] = start, count

    def _port(self, row: Row, port: str, errors: list[FieldError]) -> None:
        if not self.ports.knows(port):
            errors.append(
                _error(
                    row,
                    self.kind.column("port"),
                    port,
                    f"口岸“{port}”不在口岸代码表中：请填写 4 位关区代码或准确的口岸名称",
                    f"port '{port}' is not in the port table: give the 4-digit customs code or the port's exact name",
                )
            )

    def _query(self, row: Row, record: dict[str, Any], errors: list[FieldError]) -> None:
        names = query_names(record["business"], record["attribute"])
        if names is None:
            errors.append(
                _error(
                    row,
                    self.kind.column("attribute"),
                    f"{record['business']}/{record['attribute']}",
                    "业务类型或属性不存在（见填写规范中的查询属性表）",
                    "no such business type or attribute (see the query table in the filling rules)",
                )
            )
            return
        op = query_op(record["op"])
        if op is None:
            errors.append(
                _error(
                    row,
                    self.kind.column("op"),
                    record["op"],
                    "运算应为 eq（等于）或 prefix（以…开始）",
                    "op must be eq or prefix",
                )
            )
            return
        record["business"], record["attribute"], record["op"] = *names, op


def forms_named(record: dict[str, Any]) -> list[str]:
    """The form numbers a (valid) record names: one, or every form of its range."""
    if "start_form_no" in record:
        return expand_range(record["start_form_no"], record["count"])
    return [record["form_no"]] if "form_no" in record else []
