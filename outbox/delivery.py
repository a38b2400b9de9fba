"""The contents of what the agent gives back to the clerk: result and error files."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from inbox.reader import FieldError
from outbox.files import csv_bytes

RESULT_HEADER = ("row", "form_no", "port", "status", "code", "message")
ERROR_HEADER = ("row", "column", "value", "message")


def bilingual(zh: str, en: str) -> str:
    return f"{zh} / {en}"


def result_csv(records: Sequence[dict[str, Any]], results: Sequence[dict[str, Any]]) -> bytes:
    """One row per input record, in input order, joined to the center's answer by ``seq``."""
    by_seq = {r["seq"]: r for r in results}
    rows = []
    for record in records:
        answer = by_seq[record["seq"]]
        rows.append(
            (
                record["seq"],
                record.get("form_no", ""),
                record.get("port", ""),
                answer["status"],
                answer["code"],
                bilingual(answer["message_zh"], answer["message_en"]),
            )
        )
    return csv_bytes(RESULT_HEADER, rows)


def errors_csv(errors: Sequence[FieldError]) -> bytes:
    rows = [(e.row or "", e.column, e.value, bilingual(e.zh, e.en)) for e in errors]
    return csv_bytes(ERROR_HEADER, rows)
