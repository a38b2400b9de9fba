"""Identifier formats (docs/OPERATOR.md's rules; the patterns are sync.vocabulary's) and the checks of the values the
authorities and clerks give."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from center.refusals import Refusal
from sync.vocabulary import DECLARATION_NO, ENTERPRISE_CODE, FORM_NO
from sync.vocabulary import MAX_RANGE as MAX_COPIES  # 申请份数 1–1000, and per issuance

CURRENCY = re.compile(r"[A-Z]{3}")


def invalid_argument(zh: str, en: str) -> Refusal:
    return Refusal("ARGUMENT_INVALID", detail_zh=zh, detail_en=en)


def check_form_no(form_no: str) -> None:
    if not FORM_NO.fullmatch(form_no):
        raise Refusal(
            "RECORD_INVALID",
            detail_zh=f"核销单号“{form_no}”应为9位数字或大写字母",
            detail_en=f"form number '{form_no}' must be 9 digits or capital letters",
        )


def check_declaration_no(declaration_no: str) -> None:
    if not DECLARATION_NO.fullmatch(declaration_no):
        raise invalid_argument(
            f"报关单号“{declaration_no}”应为18位数字", f"declaration number '{declaration_no}' must be 18 digits"
        )


def check_enterprise_code(code: str) -> None:
    if not ENTERPRISE_CODE.fullmatch(code):
        raise Refusal("ENTERPRISE_CODE_INVALID", code=code)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_copies(copies: Any) -> int:
    if not is_int(copies) or not 1 <= copies <= MAX_COPIES:
        raise Refusal("COPIES_INVALID", copies=copies)
    return int(copies)


def parse_date(value: Any, what_zh: str, what_en: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise invalid_argument(
            f"{what_zh}“{value}”应为YYYY-MM-DD格式的日期", f"{what_en} '{value}' must be a date (YYYY-MM-DD)"
        ) from None


def parse_amount(value: Any) -> Decimal:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        amount = Decimal(-1)
    if not amount.is_finite() or amount <= 0 or amount != round(amount, 2):
        raise invalid_argument(f"金额“{value}”应为正数，最多两位小数", f"amount '{value}' must be positive, 2 decimals")
    return amount


def check_currency(currency: str) -> None:
    if not CURRENCY.fullmatch(currency):
        raise invalid_argument(
            f"币制“{currency}”应为3位大写字母（如USD）", f"currency '{currency}' must be 3 capital letters (e.g. USD)"
        )


def require_text(value: Any, what_zh: str, what_en: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Refusal("NAME_REQUIRED", what_zh=what_zh, what_en=what_en)
    return value.strip()
