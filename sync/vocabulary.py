"""The words the agent and the center share, defined once: identifier rules, the form-range
expansion, and the update feed's entry shape and page size."""

from __future__ import annotations

import re

# Identifiers (docs/OPERATOR.md's rules).
FORM_NO = re.compile(r"[0-9A-Z]{9}")  # 核销单号
DECLARATION_NO = re.compile(r"[0-9]{18}")  # 报关单号
ENTERPRISE_CODE = re.compile(r"[0-9A-Z]{10}")  # 经营单位代码
MAX_RANGE = 1000  # forms one range row may name (份数), and copies one application may ask for (申请份数)

# The update feed: the columns of an entry, as the center sends them and as outbox/updates and
# outbox/forms.csv show them, and the most entries one page holds.
FEED_COLUMNS = (
    "form_no",
    "seq",
    "event",
    "safe_status",
    "safe_status_zh",
    "customs_status",
    "customs_status_zh",
    "submission_status",
    "submission_status_zh",
    "port",
    "at",
)
FEED_PAGE = 1000


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
