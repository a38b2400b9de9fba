"""Form statuses in the project vocabulary (docs/OPERATOR.md's rules) and their labels.

The ledger stores the English words; the Chinese labels are what clerks know from the manual, so every message and
output that shows a status shows the label too.
"""

from __future__ import annotations

from enum import StrEnum


class SafeStatus(StrEnum):
    """外汇局使用状态."""

    VALID = "valid"
    LOST = "lost"
    VERIFIED = "verified"
    VOIDED = "voided"


class CustomsStatus(StrEnum):
    """海关使用状态."""

    UNUSED = "unused"
    FILED = "filed"
    CANCEL_PENDING = "cancel_pending"
    USED = "used"


class SubmissionStatus(StrEnum):
    """交单状态."""

    NOT_SUBMITTED = "not_submitted"
    SUBMITTED = "submitted"
    RESUBMIT_REQUIRED = "resubmit_required"


# The words of the manual. Keyed by the stored word (every status word is unique across the three families, and a
# StrEnum member is equal to its word), so a value read from the database looks its label up directly.
LABELS_ZH: dict[str, str] = {
    SafeStatus.VALID: "有效",
    SafeStatus.LOST: "挂失",
    SafeStatus.VERIFIED: "已核销",
    SafeStatus.VOIDED: "注销",
    CustomsStatus.UNUSED: "未用",
    CustomsStatus.FILED: "未用，已上传海关，可报关",
    CustomsStatus.CANCEL_PENDING: "撤销备案待确认",
    CustomsStatus.USED: "已用",
    SubmissionStatus.NOT_SUBMITTED: "未交单",
    SubmissionStatus.SUBMITTED: "已交单",
    SubmissionStatus.RESUBMIT_REQUIRED: "报关单已修改需重新交单",
}

LABELS_EN: dict[str, str] = {
    SafeStatus.VALID: "valid",
    SafeStatus.LOST: "reported lost",
    SafeStatus.VERIFIED: "verified",
    SafeStatus.VOIDED: "voided",
    CustomsStatus.UNUSED: "unused",
    CustomsStatus.FILED: "unused, filed with customs, ready for declaration",
    CustomsStatus.CANCEL_PENDING: "filing cancellation awaiting customs confirmation",
    CustomsStatus.USED: "used",
    SubmissionStatus.NOT_SUBMITTED: "not submitted",
    SubmissionStatus.SUBMITTED: "submitted",
    SubmissionStatus.RESUBMIT_REQUIRED: "declaration modified, must be submitted again",
}


def label_zh(status: str) -> str:
    return LABELS_ZH[status]


def label_en(status: str) -> str:
    return LABELS_EN[status]
