"""Batch kinds and their columns (DESIGN.md §3): the one schema the reader and validator use."""

from __future__ import annotations

import re
from dataclasses import dataclass

FORM_NO = re.compile(r"[0-9A-Z]{9}")


@dataclass(frozen=True)
class Column:
    name: str
    zh: str
    rule_zh: str
    rule_en: str
    pattern: re.Pattern[str] | None = None
    required: bool = True

    def headers(self) -> tuple[str, str]:
        return self.name, self.zh


@dataclass(frozen=True)
class BatchKind:
    name: str
    zh: str
    columns: tuple[Column, ...]

    def column_for_header(self, header: str) -> Column | None:
        text = header.strip().lower()
        return next((c for c in self.columns if text in (c.name, c.zh)), None)


FILINGS = BatchKind(
    name="filings",
    zh="口岸备案",
    columns=(
        Column("form_no", "核销单号", "9 位数字或大写字母", "9 digits or capital letters", FORM_NO),
        Column("port", "口岸", "4 位关区代码或口岸全称", "4-digit customs code or the port's exact name"),
    ),
)

KINDS: dict[str, BatchKind] = {kind.name: kind for kind in (FILINGS,)}
