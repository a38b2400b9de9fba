"""The combined query (组合查询, rule 9 in docs/OPERATOR.md and the manual's chapter 11).

The clerk picks one business (业务种类), then conditions on its attributes (属性) with 等于 or 以……开始; the
conditions are ANDed. Names are accepted in English or Chinese. A query needs at least one condition with a value
(FAQ 6: "必须输入查询条件"). Only the enterprise's own records are searched, and every column comes back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from center.db import applications, approvals, declarations, forms, issuance
from center.ledger.forms import form_record, plain_row
from center.refusals import Refusal
from center.statuses import LABELS_ZH, SafeStatus
from sync.vocabulary import YES_NO, date_prefix, read_date

EQ, PREFIX = "eq", "prefix"
# The condition as the manual spells it (以……开始: the Chinese input method's ellipsis), and its variants.
OPS = {
    "eq": EQ,
    "等于": EQ,
    "=": EQ,
    "prefix": PREFIX,
    "以……开始": PREFIX,
    "以…开始": PREFIX,
    "以...开始": PREFIX,
    "以......开始": PREFIX,
    "以开始": PREFIX,
    "开始于": PREFIX,
}
TRUE_WORDS = frozenset({"是", "true", "yes", "y", "1"})
FALSE_WORDS = frozenset({"否", "false", "no", "n", "0"})


@dataclass(frozen=True)
class Attribute:
    name: str
    zh: str
    kind: str  # "text", "date", "safe_status" or "bool"


@dataclass(frozen=True)
class Business:
    name: str
    zh: str
    table: sa.Table
    attributes: tuple[Attribute, ...]
    order_by: str
    to_row: Callable[[Any], dict[str, Any]] = plain_row

    def attribute(self, text: str) -> Attribute | None:
        key = text.strip().lower()
        return next((a for a in self.attributes if key in (a.name, a.zh)), None)


BUSINESSES = (
    Business(
        "form",
        "核销单",
        forms,
        (
            Attribute("form_no", "核销单号", "text"),
            Attribute("safe_status", "外汇局使用状态", "safe_status"),
            Attribute("issue_date", "发单日期", "date"),
            Attribute("submit_date", "交单日期", "date"),
        ),
        "form_no",
        form_record,
    ),
    Business("declaration", "报关单", declarations, (Attribute("approval_no", "批准文号", "text"),), "declaration_no"),
    Business(
        "issuance",
        "核销单发放登记表",
        issuance,
        (Attribute("issue_date", "发单日期", "date"), Attribute("revoked", "是否撤销", "bool")),
        "id",
        lambda row: {**plain_row(row), "revoked_zh": YES_NO[bool(row.revoked)]},  # 是否撤销 as the manual shows it
    ),
    Business(
        "application",
        "核销单申请表",
        applications,
        (Attribute("unified_no", "统一编号", "text"), Attribute("apply_date", "申请日期", "date")),
        "unified_no",
    ),
    Business(
        "approval",
        "核销单申请审批表",
        approvals,
        (Attribute("unified_no", "统一编号", "text"), Attribute("approval_date", "审批日期", "date")),
        "unified_no",
    ),
)


def find_business(text: str) -> Business | None:
    key = text.strip().lower()
    return next((b for b in BUSINESSES if key in (b.name, b.zh)), None)


@dataclass(frozen=True)
class Condition:
    business: Business
    clause: ColumnElement[bool]


def _text(record: dict[str, Any], key: str) -> str:
    value = record.get(key)
    return value.strip() if isinstance(value, str) else ""


def parse_condition(record: dict[str, Any]) -> Condition:
    """One query row → its business and SQL condition, or the refusal that explains what is wrong with it."""
    business_text, attribute_text = _text(record, "business"), _text(record, "attribute")
    business = find_business(business_text)
    if business is None:
        raise Refusal("QUERY_BUSINESS_UNKNOWN", business=business_text)
    attribute = business.attribute(attribute_text)
    if attribute is None:
        raise Refusal(
            "QUERY_ATTRIBUTE_UNKNOWN",
            business=business_text,
            attribute=attribute_text,
            choices_zh="、".join(a.zh for a in business.attributes),
            choices_en=", ".join(a.name for a in business.attributes),
        )
    op = OPS.get(_text(record, "op").lower())
    if op is None:
        raise Refusal("QUERY_OP_UNKNOWN", op=_text(record, "op"))
    value = _text(record, "value")
    if not value:
        raise Refusal("QUERY_CONDITION_REQUIRED")
    return Condition(business, _clause(business.table.c[attribute.name], attribute, op, value))


def _invalid(attribute: Attribute, value: str, zh: str, en: str) -> Refusal:
    return Refusal("QUERY_VALUE_INVALID", attribute=attribute.zh, value=value, detail_zh=zh, detail_en=en)


def _prefix(expression: Any, value: str) -> ColumnElement[bool]:
    # substr instead of LIKE: LIKE ignores ASCII case on SQLite but not on PostgreSQL, and needs escaping.
    return sa.func.substr(expression, 1, len(value)) == value


def _clause(column: sa.Column[Any], attribute: Attribute, op: str, value: str) -> ColumnElement[bool]:
    if attribute.kind == "bool":
        return _bool_clause(column, attribute, op, value)
    if attribute.kind == "safe_status":
        words = [s.value for s in SafeStatus if _matches(op, value, s.value) or _matches(op, value, LABELS_ZH[s])]
        if op == EQ and not words:
            raise _invalid(attribute, value, "可选：有效、挂失、已核销、注销", "use valid, lost, verified or voided")
        return column.in_(words)
    if attribute.kind == "date":
        return _date_clause(column, attribute, op, value)
    return column == value if op == EQ else _prefix(column, value)


def _matches(op: str, value: str, word: str) -> bool:
    return word == value if op == EQ else word.startswith(value)


def _bool_clause(column: sa.Column[Any], attribute: Attribute, op: str, value: str) -> ColumnElement[bool]:
    word = value.lower()
    if op != EQ or word not in TRUE_WORDS | FALSE_WORDS:
        raise _invalid(attribute, value, "请用“等于”和“是”或“否”", "use eq with yes (是) or no (否)")
    return column.is_(word in TRUE_WORDS)


def _date_clause(column: sa.Column[Any], attribute: Attribute, op: str, value: str) -> ColumnElement[bool]:
    """A date as the clerk or Excel writes it (2026-12-02, 2026/12/2, 2026年12月2日); 以……开始 also a year and a
    month (2026/12, 2026年12月) or a year."""
    if op == EQ:
        day = read_date(value)
        if day is None:
            raise _invalid(
                attribute, value, "日期格式为2026-12-02（或2026/12/2、2026年12月2日）", "a date is 2026-12-02"
            )
        return column == day
    start = date_prefix(value)
    if start is None:
        raise _invalid(attribute, value, "请输入日期的开始部分，如2024-05", "give the start of a date, e.g. 2024-05")
    return _prefix(sa.cast(column, sa.String), start)


def statement(enterprise: str, business: Business, conditions: list[Condition]) -> sa.Select[Any]:
    """The query: one flat AND of the enterprise and every condition, made in one step, so that building and
    compiling it is linear in the number of conditions (never an AND nested per condition)."""
    table = business.table
    where = sa.and_(table.c.enterprise_code == enterprise, *(c.clause for c in conditions))
    return sa.select(table).where(where).order_by(table.c[business.order_by])


def run(conn: Connection, enterprise: str, business: Business, conditions: list[Condition]) -> list[dict[str, Any]]:
    """The enterprise's records of ``business`` that meet every condition, each with every column."""
    return [business.to_row(row) for row in conn.execute(statement(enterprise, business, conditions))]
