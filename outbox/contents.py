"""The contents of what the agent gives back to the clerk: result files (CSV, or XML for XML input), query answers
and error reports. Every input record gets its result rows, once, in input order."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from inbox.schema import BatchKind
from outbox.files import csv_bytes

ERROR_HEADER = ("row", "column", "value", "message")


def bilingual(zh: str, en: str) -> str:
    return f"{zh} / {en}"


def result_header(kind: BatchKind) -> tuple[str, ...]:
    return ("row", *kind.key_fields(), *kind.result_extra, "status", "code", "message")


def _result_rows(
    kind: BatchKind, records: Sequence[dict[str, Any]], results: Sequence[dict[str, Any]]
) -> Iterator[dict[str, Any]]:
    """One row per result, records in input order; a range's forms each have their own row."""
    by_seq: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for result in results:
        by_seq[int(result["seq"])].append(result)
    for record in records:
        for result in by_seq[int(record["seq"])]:
            row = {name: result.get(name, record.get(name, "")) for name in kind.key_fields()}
            row.update({name: result.get(name, "") for name in kind.result_extra})
            row.update(
                row=record["seq"],
                status=result["status"],
                code=result["code"],
                message=bilingual(result["message_zh"], result["message_en"]),
            )
            yield row


def result_csv(kind: BatchKind, records: Sequence[dict[str, Any]], results: Sequence[dict[str, Any]]) -> bytes:
    header = result_header(kind)
    return csv_bytes(header, ([row[h] for h in header] for row in _result_rows(kind, records, results)))


def result_xml(kind: BatchKind, records: Sequence[dict[str, Any]], results: Sequence[dict[str, Any]]) -> bytes:
    lines = [f'<?xml version="1.0" encoding="UTF-8"?>\n<results kind="{kind.name}">\n']
    for row in _result_rows(kind, records, results):
        cells = "".join(f"<{h}>{escape(str(row[h]))}</{h}>" for h in result_header(kind) if h != "row")
        lines.append(f"  <result row={quoteattr(str(row['row']))}>{cells}</result>\n")
    lines.append("</results>\n")
    return "".join(lines).encode("utf-8")


def query_csv(rows: Sequence[dict[str, Any]]) -> bytes:
    """The records a query matched, every column of each; columns in the order first seen."""
    header: dict[str, None] = {}
    for row in rows:
        header.update(dict.fromkeys(row))
    names = list(header) or ["message"]
    body = [[row.get(name, "") for name in names] for row in rows] or [["没有符合条件的记录 / no records match"]]
    return csv_bytes(names, body)
