"""Checks one row before anything is signed, and turns it into the record the wire carries (sync/protocol.py).

Everything a clerk can get wrong in a cell is caught here, with the row and column and a message in Chinese and
English; what only the center knows (whose form it is, its statuses) is left to the center.

Each rule is written once, as a function that answers whether a value passes. :meth:`Validator.check` asks them
in the cheapest order and, only when one says no, goes over the row again to explain every problem in it: a
million valid rows cost one pass, and a clerk still gets every error. A value Excel damaged is explained as such
(inbox.excel), and a column is named as the clerk's header named it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from json.encoder import encode_basestring as encode_string
from typing import Any, NamedTuple

from inbox.excel import DateCell, NumberCell, damage, date_damage, iso_date, ungrouped
from inbox.schema import QUERY_DATES, BatchKind, Column, query_names, query_op
from inbox.sources import FieldError, RawRow, Source
from sync.ports import CANDIDATES, candidates_text, search
from sync.vocabulary import expand_range

RANGE_COLUMNS = ("form_no", "start_form_no", "count")


class _Invalid:
    """The value of a cell that breaks its column's rule."""


INVALID = _Invalid()


@dataclass(frozen=True)
class PortTable:
    """The center's port reference table as cached by the agent; empty when it was never fetched."""

    codes: frozenset[str]
    names: frozenset[str]
    pairs: tuple[tuple[str, str], ...] = ()  # (code, name), for the ports a clerk may have meant

    @classmethod
    def of(cls, ports: Iterable[dict[str, str]]) -> PortTable:
        listed = list(ports)
        pairs = tuple((p["code"], p["name"]) for p in listed)
        return cls(frozenset(p["code"] for p in listed), frozenset(p["name"] for p in listed), pairs)

    def knows(self, text: str) -> bool:
        return not self.codes or text in self.codes or text in self.names

    def candidates(self, text: str) -> tuple[str, str]:
        """The manual's pick-list as a message's tail: "，您是否要填：5300 深圳海关、5316 深圳湾" (sync.ports)."""
        return candidates_text(search(self.pairs, text, CANDIDATES))


NO_PORTS = PortTable(frozenset(), frozenset())


# NUL and other control characters (a line break, a tab kept), bidirectional overrides, and the invisible spaces text
# copied from a web page or a chat brings along (zero width space, word joiner, a byte-order mark inside a file two
# files were joined into): never taken as data.
CONTROL = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]"
)
# An identifier a program wrote for a spreadsheet as a text formula (="000000001", as the agent's own CSV files do):
# the spreadsheet shows the text between the quotes, and so that text is read.
TEXT_FORMULA = re.compile(r'="([^"]*)"')


def control_at(text: str) -> int | None:
    """The index of the first control character or bidi override in ``text``, if any."""
    found = CONTROL.search(text)
    return None if found is None else found.start()


def parse_cell(column: Column, raw: str) -> str | int | _Invalid | None:
    """A cell's value by its column's rule: None when empty, INVALID when it breaks the rule (a control character
    or a bidi override anywhere in it does)."""
    if control_at(raw) is not None:
        return INVALID
    value = raw.strip()
    if column.code:
        if value.startswith("="):
            quoted = TEXT_FORMULA.fullmatch(value)
            value = quoted.group(1).strip() if quoted else value
        if not value.isascii():
            value = unicodedata.normalize("NFKC", value).strip()
        value = value.upper()
    if not value:
        return None
    if column.integer is not None:
        low, high = column.integer
        if not (value.isascii() and value.isdigit()):  # ASCII digits only: "፩".isdigit() holds, int() refuses it
            value = ungrouped(value) or value  # 1,000 as Excel shows a thousand: meant as 1000
        return int(value) if value.isascii() and value.isdigit() and low <= int(value) <= high else INVALID
    if column.pattern is not None and column.pattern.fullmatch(value) is None:
        return INVALID
    return value


def range_problem(start: str, count: int) -> str | None:
    try:
        expand_range(start, count)
    except ValueError as exc:
        return str(exc)
    return None


class Checked(NamedTuple):
    """A valid row: its wire record as canonical JSON, and the form numbers it names."""

    text: str
    forms: list[str]


def _stripped(cell: str) -> str:
    """A cell without the spaces around it; a workbook's number cell as it is (it has none, and keeps its kind)."""
    return cell if isinstance(cell, NumberCell | DateCell) else cell.strip()


def query_value(attribute: str, value: str) -> str | None:
    """A query's value as the center takes it: a date Excel rewrote (2026/5/6) back in ISO form; None when Excel
    left it ambiguous (5/6/2026)."""
    if attribute not in QUERY_DATES:
        return value
    if isinstance(value, DateCell):
        return str(value)
    if date_damage(value) is not None:
        return None
    return iso_date(value) or value


class _Shape:
    """The canonical JSON of one shape of record (the fields it has), as a template filled per row: much cheaper
    than a JSON encoder for a million rows (tests check the two agree)."""

    def __init__(self, columns: list[Column]) -> None:
        self.fields = [(c.name, c.integer is not None) for c in columns]
        order = sorted(["seq", *(name for name, _ in self.fields)])
        self._positions = [order.index(name) for name, _ in self.fields]
        self._seq = order.index("seq")
        self.template = "{" + ",".join(f'"{name}":%s' for name in order) + "}"

    def text(self, seq: int, values: dict[str, Any]) -> str:
        filled: list[Any] = [None] * (len(self.fields) + 1)
        filled[self._seq] = seq
        for (name, is_int), position in zip(self.fields, self._positions, strict=True):
            filled[position] = values[name] if is_int else encode_string(values[name] or "")
        return self.template % tuple(filled)


class Validator:
    def __init__(
        self, kind: BatchKind, source: Source, ports: PortTable = NO_PORTS, fill: dict[str, str] | None = None
    ) -> None:
        self.kind = kind
        self.ports = ports
        self.fill = fill or {}  # a value the file name gives a column the file leaves empty (a check's operation)
        self.width = source.width
        self._plan = list(zip(kind.columns, source.layout, strict=True))
        self._labels = {c.name: source.label(i, c) for i, c in enumerate(kind.columns)}
        self._present = {c.name for c, index in self._plan if index is not None}
        self._header_ok = not source.problems  # a file whose header is wrong is refused: its rows are only explained
        plain = [c for c in kind.columns if c.name not in RANGE_COLUMNS]
        self._single = _Shape([kind.column("form_no"), *plain]) if kind.ranges else _Shape(plain)
        self._range = _Shape([kind.column("start_form_no"), kind.column("count"), *plain]) if kind.ranges else None
        self._check_port = kind.name == "filings"
        self._query = kind.name == "queries"

    def check(self, row: RawRow) -> tuple[Checked | None, list[FieldError], list[str]]:
        """The row's record, or its problems; and the form numbers it names (of a refused row too, so that a form
        named twice is reported even when one of its rows has another mistake)."""
        number, cells = row
        values = self._values(cells) if self._header_ok else None
        accepted = None if values is None else self._accept(number, values)
        if accepted is not None:
            return accepted, [], accepted.forms
        problems, forms = self._explain(row)
        if not problems and self._header_ok:
            # Every rule that can refuse a row above is explained; this only guards against a row vanishing without
            # a word should the two ever drift apart.
            problems = [FieldError(number, "", "", "这一行无法识别", "this row could not be read")]
        return None, problems, forms

    def _values(self, cells: list[str]) -> dict[str, Any] | None:
        if len(cells) > self.width and any(map(str.strip, cells[self.width :])):
            return None
        values: dict[str, Any] = {}
        try:
            for column, index in self._plan:
                value = None if index is None else parse_cell(column, cells[index])
                if value is None:
                    value = self.fill.get(column.name)
                if value is INVALID or (value is None and column.required):
                    return None
                values[column.name] = value
        except IndexError:  # a short row: explained cell by cell
            return None
        return values

    def _accept(self, number: int, values: dict[str, Any]) -> Checked | None:
        """The row as a wire record, if its cells also pass the rules between columns; else None."""
        shape, forms = self._single, []
        if self._range is not None:
            form, start, count = values["form_no"], values["start_form_no"], values["count"]
            if form is not None and start is None and count is None:
                forms = [form]
            elif form is None and start is not None and count is not None and range_problem(start, count) is None:
                shape, forms = self._range, expand_range(start, count)
            else:
                return None
        if self._check_port and not self.ports.knows(values["port"]):
            return None
        if self.kind.name == "checks" and not values["operation"]:
            return None
        if self._query:
            names, op = query_names(values["business"], values["attribute"]), query_op(values["op"])
            if names is None or op is None:
                return None
            value = query_value(names[1], values["value"])
            if value is None or (op == "eq" and names[1] == "form_no" and damage(value, 9) is not None):
                return None
            values["business"], values["attribute"], values["op"], values["value"] = *names, op, value
        return Checked(shape.text(number, values), forms)

    # -- explaining (only for rows that failed) ------------------------------------------------------------------

    def explain(self, row: RawRow) -> list[FieldError]:
        """Every problem of a row, each with its column, value and a message in Chinese and English."""
        return self._explain(row)[0]

    def _explain(self, row: RawRow) -> tuple[list[FieldError], list[str]]:
        number, cells = row
        errors: list[FieldError] = []

        def error(column: Column, value: str, zh: str, en: str) -> None:
            errors.append(FieldError(number, self._labels[column.name], value, zh, en))

        extra = [cell.strip() for cell in cells[self.width :] if cell.strip()]
        if extra:
            errors.append(
                FieldError(
                    number,
                    "",
                    extra[0],
                    "这一行的单元格比表头多",
                    "this row has more cells than the header has columns",
                )
            )
        values: dict[str, Any] = {}
        texts: dict[str, str] = {}
        for column, index in self._plan:
            raw = cells[index] if index is not None and index < len(cells) else ""
            value = parse_cell(column, raw)
            if value is None:
                value = self.fill.get(column.name)
            texts[column.name] = _stripped(raw)
            values[column.name] = None if value is INVALID else value
            excel = damage(texts[column.name], column.digits) if value is INVALID else None
            at = control_at(raw)
            if value is None and column.required and index is not None:
                error(column, "", f"“{column.zh}”不能为空", f"'{column.name}' is empty")
            elif at is not None:
                code = f"U+{ord(raw[at]):04X}"
                error(
                    column,
                    raw,
                    f"“{column.zh}”的第 {at + 1} 个字符是不可见的控制字符（{code}），请删除后重新放入",
                    f"'{column.name}' has an invisible control character ({code}) at character {at + 1}; remove it",
                )
            elif excel is not None:
                error(column, raw.strip(), f"“{column.zh}”：{excel[0]}", f"'{column.name}': {excel[1]}")
            elif value is INVALID and column.integer is not None:
                error(
                    column,
                    raw.strip(),
                    f"“{column.zh}”应为{column.rule_zh}",
                    f"'{column.name}' must be {column.rule_en}",
                )
            elif value is INVALID:
                error(
                    column,
                    raw.strip(),
                    f"“{column.zh}”格式不对：应为{column.rule_zh}",
                    f"'{column.name}' is malformed: expected {column.rule_en}",
                )
        forms: list[str] = []
        if self.kind.ranges and self._present & {"form_no", "start_form_no"}:
            forms = self._explain_forms(values, texts, error)
        if self.kind.name == "filings" and values["port"] is not None and not self.ports.knows(values["port"]):
            self._explain_port(values["port"], texts["port"], error)
        if self.kind.name == "queries" and not errors:
            self._explain_query(values, texts, error)
        if self.kind.name == "checks" and not values["operation"] and not errors:
            column = self.kind.column("operation")
            error(
                column,
                "",
                "请填写要核对的操作（口岸备案、撤销备案、企业交单、核销单挂失），或以“预览口岸备案”这样的文件名开头",
                "give the operation to check (filings, cancellations, submissions, losses), or start the file name "
                "with it (预览口岸备案…)",
            )
        return errors, forms

    def _explain_port(self, port: str, cell: str, error: Any) -> None:
        column = self.kind.column("port")
        excel = damage(cell, column.digits)
        if excel is not None:
            error(column, port, f"口岸“{port}”不在口岸代码表中。{excel[0]}", f"port '{port}' is unknown. {excel[1]}")
            return
        meant_zh, meant_en = self.ports.candidates(port)
        error(
            column,
            port,
            f"口岸“{port}”不在口岸代码表中{meant_zh}。请填写 4 位关区代码或准确的口岸名称"
            "（eport-agent ports search 可查口岸）",
            f"port '{port}' is not in the port table{meant_en}; give the 4-digit customs code or the port's exact "
            "name ('eport-agent ports search' looks ports up)",
        )

    def _explain_forms(self, values: dict[str, Any], texts: dict[str, str], error: Any) -> list[str]:
        """Explain the form columns of a row; the forms it names, as far as they can be told."""
        given = {name for name in RANGE_COLUMNS if texts[name]}
        form_column = self.kind.column("form_no")
        if "form_no" in given and given & {"start_form_no", "count"}:
            error(
                form_column,
                texts["form_no"],
                "核销单号与起始核销单号/份数只能填一种",
                "give form_no or start_form_no + count, not both",
            )
        elif not given:
            error(form_column, "", "请填写核销单号，或起始核销单号和份数", "give form_no, or start_form_no and count")
        elif "form_no" not in given and given != {"start_form_no", "count"}:
            missing = self.kind.column("count" if "start_form_no" in given else "start_form_no")
            error(
                missing,
                "",
                f"一段核销单需要同时填写起始核销单号和份数，缺少“{missing.zh}”",
                f"a run of forms needs both start_form_no and count: '{missing.name}' is missing",
            )
        elif values["form_no"] is not None:
            return [values["form_no"]]
        elif values["start_form_no"] is not None and values["count"] is not None:
            start, count = values["start_form_no"], values["count"]
            problem = range_problem(start, count)
            if problem is None:
                return expand_range(start, count)
            error(self.kind.column("start_form_no"), start, f"从{start}起的{count}份超出了核销单号的范围", problem)
        return []

    def _explain_query(self, values: dict[str, Any], texts: dict[str, str], error: Any) -> None:
        names = query_names(values["business"], values["attribute"])
        if names is None:
            error(
                self.kind.column("attribute"),
                f"{values['business']}/{values['attribute']}",
                "业务类型或属性不存在（见填写规范中的查询属性表）",
                "no such business type or attribute (see the query table in the filling rules)",
            )
            return
        op = query_op(values["op"])
        if op is None:
            error(
                self.kind.column("op"),
                values["op"],
                "运算应为 eq（等于）或 prefix（以…开始）",
                "op must be eq or prefix",
            )
            return
        value, column = texts["value"], self.kind.column("value")
        excel = date_damage(value) if names[1] in QUERY_DATES else None
        if excel is None and op == "eq" and names[1] == "form_no":
            excel = damage(value, 9)
        if excel is not None:
            error(column, value, f"“{column.zh}”：{excel[0]}", f"'{column.name}': {excel[1]}")
