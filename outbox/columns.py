"""The columns of the tables a clerk gets back (results, errors, query answers, update pages, forms.csv): their
Chinese and English names and what their cells hold, so that a spreadsheet shows each as what it is — identifiers as
text (every digit kept), dates as dates, amounts and counts as numbers, times in local time."""

from __future__ import annotations

import enum
from dataclasses import dataclass

import l10n
from sync import vocabulary


class Cell(enum.Enum):
    ID = "id"  # an identifier made of digits: text, never a number (000000001, 18-digit declaration numbers)
    TEXT = "text"
    COUNT = "count"  # a whole number
    AMOUNT = "amount"  # money, two decimals
    DATE = "date"  # an ISO date
    TIME = "time"  # an ISO time with its offset (UTC on the wire): shown in local time
    LABEL = "label"  # a word of the vocabulary (an event): shown by its Chinese label in a workbook


@dataclass(frozen=True)
class Column:
    name: str  # the English, machine name: what programs key on
    zh: str
    cell: Cell = Cell.TEXT
    width: int = 0  # a floor for the workbook's column width, in characters

    def header(self) -> str:
        """The header a clerk's workbook shows, in the language of the agent."""
        return self.zh if l10n.language() == "zh" else self.name

    def csv_header(self) -> str:
        """The CSV header: Chinese first, then the English name programs key on ("核销单号 form_no"). The agent
        reads it back as an input header too."""
        return self.name if self.zh == self.name else f"{self.zh} {self.name}"


_KNOWN = [
    Column("row", "行号", Cell.COUNT),
    Column("column", "列", Cell.TEXT),
    Column("value", "值", Cell.TEXT, 12),
    Column("message", "说明", Cell.TEXT, 40),
    Column("status", "结果", Cell.TEXT),
    Column("code", "代码", Cell.TEXT),
    Column("form_no", "核销单号", Cell.ID, 11),
    Column("start_form_no", "起始核销单号", Cell.ID, 11),
    Column("count", "份数", Cell.COUNT),
    Column("port", "口岸", Cell.ID, 6),
    Column("copies", "申请份数", Cell.COUNT),
    Column("approved_copies", "审批份数", Cell.COUNT),
    Column("remark", "备注", Cell.TEXT, 16),
    Column("declaration_no", "报关单号", Cell.ID, 20),
    Column("approval_no", "批准文号", Cell.ID, 11),
    Column("unified_no", "统一编号", Cell.ID, 14),
    Column("enterprise_code", "经营单位代码", Cell.ID, 12),
    Column("business", "业务类型", Cell.TEXT),
    Column("attribute", "属性", Cell.TEXT),
    Column("op", "运算", Cell.TEXT),
    Column("account", "17999卡账号", Cell.ID, 24),
    Column("type", "卡类型", Cell.TEXT),
    Column("months", "有效期月数", Cell.COUNT),
    Column("expires_at", "有效期至", Cell.TIME, 20),
    Column("apply_date", "申请日期", Cell.DATE, 11),
    Column("approval_date", "审批日期", Cell.DATE, 11),
    Column("issue_date", "发单日期", Cell.DATE, 11),
    Column("export_date", "出口日期", Cell.DATE, 11),
    Column("submit_date", "交单日期", Cell.DATE, 11),
    Column("safe_status", "外汇局使用状态", Cell.TEXT),
    Column("safe_status_zh", "外汇局使用状态（中文）", Cell.TEXT),
    Column("customs_status", "海关使用状态", Cell.TEXT),
    Column("customs_status_zh", "海关使用状态（中文）", Cell.TEXT, 16),
    Column("submission_status", "交单状态", Cell.TEXT),
    Column("submission_status_zh", "交单状态（中文）", Cell.TEXT),
    Column("trade_mode", "贸易方式", Cell.TEXT),
    Column("amount", "成交总价", Cell.AMOUNT, 12),
    Column("currency", "币制", Cell.TEXT),
    Column("revoked", "是否撤销", Cell.TEXT),
    Column("revoked_zh", "是否撤销（中文）", Cell.TEXT),
    Column("event_zh", "变更（中文）", Cell.TEXT, 14),
    Column("forms", "核销单号", Cell.TEXT, 22),  # an issuing's forms, as runs (000000001-000000030)
    Column("operation", "操作", Cell.TEXT),
    Column("filed_port", "已备案口岸", Cell.ID, 6),
    Column("port_name", "口岸名称", Cell.TEXT, 16),
    Column("id", "序号", Cell.COUNT),
    Column("seq", "变更序号", Cell.COUNT),
    Column("event", "变更", Cell.LABEL, 12),
    Column("at", "时间", Cell.TIME, 20),
    Column("updated_at", "更新时间", Cell.TIME, 20),
    Column("created_at", "创建时间", Cell.TIME, 20),
    Column("approved_at", "审批时间", Cell.TIME, 20),
    Column("issued_at", "发放时间", Cell.TIME, 20),
    Column("arrived_at", "到达时间", Cell.TIME, 20),
    Column("modified_at", "修改时间", Cell.TIME, 20),
]
COLUMNS = {c.name: c for c in _KNOWN}

# The update feed's events (the center's form_events and application_events), by the words of the manual.
EVENT_LABELS = vocabulary.EVENT_LABELS


def column(name: str) -> Column:
    """The column of that name; a name the agent does not know (the center added one) is shown as text."""
    return COLUMNS.get(name) or Column(name, name)


def columns(names: tuple[str, ...] | list[str]) -> list[Column]:
    return [column(name) for name in names]
