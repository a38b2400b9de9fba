"""What Excel does to a clerk's values, recognised and named: leading zeros dropped (000000004 → 4), long numbers in
scientific notation with their last digits lost (2.20020261E+17), thousands separators (1,000) and dates rewritten
(2026-05-06 → 2026/5/6). Each gets a message that says what Excel did and what to do; where the intent is beyond
doubt (1,000 copies, 2026/5/6) the value is taken as meant.

A cell from a workbook keeps what kind of cell it was: :class:`NumberCell` and :class:`DateCell` are the text the
clerk sees, with the value Excel stored.
"""

from __future__ import annotations

import datetime as dt
import re

HINT_ZH = "请把该列设为文本格式后重新输入，或使用 templates 中的 .xlsx 模板"
HINT_EN = "format the column as Text and type the values again, or start from the .xlsx template in templates/"
SCIENTIFIC = re.compile(r"[+-]?\d+(\.\d+)?[eE][+-]?\d+")
GROUPED = re.compile(r"\d{1,3}(,\d{3})+")
EXCEL_DIGITS = 15  # Excel keeps 15 significant digits of a number; the rest become zeros


class NumberCell(str):
    """A workbook cell that holds a number: the text is what the clerk sees, ``number`` what Excel stored."""

    number: float

    def __new__(cls, shown: str, number: float) -> NumberCell:
        cell = super().__new__(cls, shown)
        cell.number = number
        return cell


class DateCell(str):
    """A workbook cell that holds a date (ISO text), as Excel stores any value it took for a date."""

    day: dt.date

    def __new__(cls, day: dt.date) -> DateCell:
        cell = super().__new__(cls, day.isoformat())
        cell.day = day
        return cell


def shown_number(number: float, number_format: str) -> str:
    """A number as Excel shows it in a cell of this format: zero-padded codes ("000000000"), thousands separators,
    and, in General format, 12 digits or more in scientific notation."""
    whole = float(number).is_integer()
    fmt = number_format.split(";", 1)[0]
    if whole and fmt and set(fmt) == {"0"}:
        return f"{int(number):0{len(fmt)}d}"
    if whole and fmt.startswith("#,##0") and "." not in fmt:
        return f"{int(number):,d}"
    if whole and abs(number) < 1e11:
        return str(int(number))
    if whole:
        mantissa, exponent = f"{number:.8E}".split("E")
        return f"{mantissa.rstrip('0').rstrip('.')}E{int(exponent):+03d}"
    return repr(float(number))


def ungrouped(text: str) -> str | None:
    """1,000 → 1000 when the separators stand where thousands separators stand; else None."""
    return text.replace(",", "") if GROUPED.fullmatch(text) else None


def damage(text: str, width: int | None) -> tuple[str, str] | None:
    """What Excel did to an identifier of ``width`` digits (9 for a form number), if it shows: (zh, en)."""
    if isinstance(text, NumberCell) and abs(text.number) >= 10**EXCEL_DIGITS:
        return (
            f"Excel 把这个长数字存成了数值，只保留 15 位有效数字，后面几位已经变成 0：{HINT_ZH}",
            f"Excel stored this long number as a number and kept only 15 significant digits, the rest became 0: "
            f"{HINT_EN}",
        )
    if SCIENTIFIC.fullmatch(text):
        return (
            f"Excel 把长数字显示成了科学计数法（{text}），后面几位数字已经丢失：{HINT_ZH}",
            f"Excel turned a long number into scientific notation ({text}) and its last digits are lost: {HINT_EN}",
        )
    if width is not None and text.isdigit() and len(text) < width:
        meant = text.zfill(width)
        if isinstance(text, NumberCell):
            return (
                f"Excel 把它存成了数值，去掉了开头的 0（{meant} 变成了 {text}）：{HINT_ZH}",
                f"Excel stored it as a number and dropped the leading zeros ({meant} became {text}): {HINT_EN}",
            )
        return (
            f"只有 {len(text)} 位数字，应为 {width} 位。Excel 会去掉数字开头的 0（{meant} 变成 {text}）：{HINT_ZH}",
            f"{len(text)} digits where {width} are expected. Excel drops the leading zeros of a number ({meant} "
            f"becomes {text}): {HINT_EN}",
        )
    return None


DATE_FORMS = (
    re.compile(r"(?P<y>\d{4})[/.](?P<m>\d{1,2})[/.](?P<d>\d{1,2})"),  # 2026/5/6, as Excel on Chinese Windows writes it
    re.compile(r"(?P<y>\d{4})年(?P<m>\d{1,2})月(?P<d>\d{1,2})日"),
    re.compile(r"(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})"),  # 2026-5-6
)
AMBIGUOUS_DATE = re.compile(r"\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}")  # 5/6/2026: May or June?
# A date Excel shows as a number once its cell lost the date format: days since 1899-12-30 (five digits: 1927-2173).
SERIAL_DATE = re.compile(r"[1-9]\d{4}")
EXCEL_EPOCH = dt.date(1899, 12, 30)


def iso_date(text: str) -> str | None:
    """A date Excel rewrote, in ISO form, when its meaning is beyond doubt (2026/5/6, 2026年5月6日)."""
    for form in DATE_FORMS:
        match = form.fullmatch(text)
        if match:
            try:
                return dt.date(int(match["y"]), int(match["m"]), int(match["d"])).isoformat()
            except ValueError:
                return None
    return None


def date_damage(text: str) -> tuple[str, str] | None:
    if SERIAL_DATE.fullmatch(text):
        day = (EXCEL_EPOCH + dt.timedelta(days=int(text))).isoformat()
        return (
            f"Excel 把日期存成了序列号（{text}，即 {day}）：请把该列设为文本格式，按 2026-05-06 这样填写",
            f"Excel stored the date as its serial number ({text}, that is {day}): format the column as Text and "
            "write dates as 2026-05-06",
        )
    if AMBIGUOUS_DATE.fullmatch(text):
        return (
            f"Excel 把日期改成了“{text}”这样的格式，看不出年月日的顺序：请把该列设为文本格式，按 2026-05-06 这样填写",
            f"Excel rewrote the date as '{text}', which does not tell day from month: format the column as Text and "
            "write dates as 2026-05-06",
        )
    return None
