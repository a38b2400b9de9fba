"""Identifier formats (docs/OPERATOR.md's rules; the patterns are sync.vocabulary's) and the checks of the values the
authorities and clerks give."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from center.refusals import Refusal
from sync.vocabulary import DECLARATION_NO, ENTERPRISE_CODE, FORM_NO, read_date
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
    """A date as written (2026-12-02, 2026-12-2, 2026/12/2, 2026年12月2日: sync.vocabulary.read_date)."""
    day = read_date(str(value))
    if day is None:
        raise invalid_argument(
            f"{what_zh}“{value}”应为日期，如2026-12-02", f"{what_en} '{value}' must be a date, e.g. 2026-12-02"
        )
    return day


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


# 组织机构代码 (GB 11714-1997): 8 digits or capital letters, a hyphen, and a check character.
ORG_BODY = re.compile(r"[0-9A-Z]{8}")
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def org_check_character(body: str) -> str:
    """GB 11714's check character of the 8-character body: 11 - (Σ value × weight mod 11); 10 is X, 11 is 0
    (a digit is its value, a letter A-Z 10-35)."""
    total = sum(int(c, 36) * w for c, w in zip(body, ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def check_org_code(text: Any) -> str:
    """The organisation code as written with its hyphen (12345678-5), from 12345678-5, 123456785 or 12345678-x;
    ORG_CODE_INVALID with what is wrong otherwise."""
    given = str(text)
    code = given.strip().upper().replace("－", "-").replace(" ", "")
    body, check = (code[:8], code[9:]) if len(code) == 10 and code[8] == "-" else (code[:8], code[8:])
    if not ORG_BODY.fullmatch(body) or len(check) != 1:
        raise Refusal(
            "ORG_CODE_INVALID",
            org_code=given,
            detail_zh="格式不对",
            detail_en="it is not 8 characters and a check character",
        )
    expected = org_check_character(body)
    if check != expected:
        raise Refusal(
            "ORG_CODE_INVALID",
            org_code=given,
            detail_zh=f"校验码应为{expected}，填写的是{check}",
            detail_en=f"its check character is {expected}, not {check}",
        )
    return f"{body}-{check}"
