"""The words the agent and the center share, defined once: identifier rules, the form-range
expansion, and the update feed's entry shape and page size."""

from __future__ import annotations

import datetime as dt
import re

# Identifiers (docs/OPERATOR.md's rules).
FORM_NO = re.compile(r"[0-9A-Z]{9}")  # 核销单号
DECLARATION_NO = re.compile(r"[0-9]{18}")  # 报关单号
ENTERPRISE_CODE = re.compile(r"[0-9A-Z]{10}")  # 经营单位代码
MAX_RANGE = 1000  # forms one range row may name (份数), and copies one application may ask for (申请份数)

# The update feed: the columns of an entry, as the center sends them and as outbox/updates shows them, and the most
# entries one page holds. An entry about a form names it (form_no) and gives its statuses after the change and its
# details as the center holds them when the entry is read (发单日期, 统一编号, 报关单号, 出口日期, 交单日期, 是否撤销);
# an entry about an application (SAFE approved it, or issued its forms) has no form_no but the unified number, how
# many forms (count) and the forms issued.
FEED_COLUMNS = (
    "form_no",
    "seq",
    "event",
    "event_zh",
    "safe_status",
    "safe_status_zh",
    "customs_status",
    "customs_status_zh",
    "submission_status",
    "submission_status_zh",
    "port",
    "issue_date",
    "unified_no",
    "declaration_no",
    "export_date",
    "submit_date",
    "revoked_zh",
    "count",
    "forms",
    "at",
)
# What the agent keeps of a form from its latest entry (its forms mirror, outbox/forms.csv).
FORM_COLUMNS = tuple(c for c in FEED_COLUMNS if c not in ("count", "forms"))
FEED_PAGE = 1000

# The feed's events, by the words of the manual (the center's form_events and application_events).
EVENT_LABELS = {
    "issued": "已发放",
    "filed": "已口岸备案",
    "cancel_requested": "已申请撤销备案",
    "cancel_confirmed": "撤销备案已确认",
    "cancel_refused": "撤销备案被海关拒绝",
    "used": "已用于出口报关",
    "declared": "报关单数据已到达",
    "declaration_modified": "报关单已修改",
    "submitted": "已交单",
    "lost": "已挂失",
    "verified": "已核销",
    "voided": "已注销",
    "issuance_revoked": "发放已撤销",
    "application_approved": "申请已审批",
    "application_issued": "申请已发放",
}
YES_NO = {True: "是", False: "否"}  # 是否撤销


def expand_range(start: str, count: int) -> list[str]:
    """The ``count`` form numbers from ``start`` on: its trailing digits count up, keeping their width.

    Raises ValueError when the range does not fit (no trailing digits, or it would overflow them).
    """
    prefix = start.rstrip("0123456789")
    digits = start[len(prefix) :]
    if not digits:
        raise ValueError(f"{start} does not end in digits, so it cannot start a range")
    first = int(digits)
    if count < 1 or first + count - 1 >= 10 ** len(digits):
        raise ValueError(f"{count} forms from {start} do not fit in {len(digits)} digits")
    return [f"{prefix}{n:0{len(digits)}d}" for n in range(first, first + count)]


# Dates as a clerk or Excel writes them (the manual's screens and Excel on Chinese Windows): 2026-12-02, 2026-12-2,
# 2026/12/2, 2026.12.2, 2026年12月2日. A date read anywhere (queries, the authorities' commands) goes through here.
_DATE = re.compile(r"(\d{4})\s*(?:[-/.]|年)\s*(\d{1,2})\s*(?:[-/.]|月)\s*(\d{1,2})\s*日?")
_YEAR_MONTH = re.compile(r"(\d{4})\s*(?:[-/.]|年)\s*(\d{1,2})\s*月?")


def read_date(text: str) -> dt.date | None:
    """The day ``text`` names in one of the forms above; None if it names none (5/6/2026 is ambiguous: None)."""
    match = _DATE.fullmatch(text.strip())
    if match is None:
        return None
    try:
        return dt.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def date_prefix(text: str) -> str | None:
    """The start of an ISO date that ``text`` names, for 以……开始 on a date: a whole date, a year and a month
    (2026/12, 2026年12月 → 2026-12) or a year (2026, 2026年 → 2026); None if it names none of these."""
    text = text.strip()
    day = read_date(text)
    if day is not None:
        return day.isoformat()
    match = _YEAR_MONTH.fullmatch(text)
    if match is not None and 1 <= int(match[2]) <= 12:
        return f"{match[1]}-{int(match[2]):02d}"
    year = text.removesuffix("年")
    return year if year.isdigit() and len(year) <= 4 else None
