"""The contents of what the agent gives back to the clerk: result tables (and XML for XML input), query answers and
error reports. Every input record gets its result rows, once, in input order."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from inbox.schema import BatchKind
from outbox.columns import Column, column, columns

ERROR_COLUMNS = columns(["row", "column", "value", "message"])
NO_MATCH = "没有符合条件的记录 / no records match"


def bilingual(zh: str, en: str) -> str:
    return f"{zh} / {en}"


def noted(results: Sequence[dict[str, Any]], note: tuple[str, str] | None) -> Sequence[dict[str, Any]]:
    """Results whose every message also says ``note`` (Chinese, English): e.g. which earlier copy of the same file a
    batch repeats (agent.repeats)."""
    if note is None:
        return results
    zh, en = note
    return [
        {**r, "message_zh": f"{r['message_zh']}（{zh}）", "message_en": f"{r['message_en']} ({en})"} for r in results
    ]


def result_fields(kind: BatchKind) -> tuple[str, ...]:
    return ("row", *kind.key_fields(), *kind.result_extra, "status", "code", "message")


def result_columns(kind: BatchKind) -> list[Column]:
    return columns(list(result_fields(kind)))


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


def result_table(
    kind: BatchKind, records: Sequence[dict[str, Any]], results: Sequence[dict[str, Any]]
) -> tuple[list[Column], list[list[Any]]]:
    fields = result_fields(kind)
    return result_columns(kind), [[row[f] for f in fields] for row in _result_rows(kind, records, results)]


def result_xml(kind: BatchKind, records: Sequence[dict[str, Any]], results: Sequence[dict[str, Any]]) -> bytes:
    lines = [f'<?xml version="1.0" encoding="UTF-8"?>\n<results kind="{kind.name}">\n']
    for row in _result_rows(kind, records, results):
        cells = "".join(f"<{h}>{escape(str(row[h]))}</{h}>" for h in result_fields(kind) if h != "row")
        lines.append(f"  <result row={quoteattr(str(row['row']))}>{cells}</result>\n")
    lines.append("</results>\n")
    return "".join(lines).encode("utf-8")


def query_table(rows: Sequence[dict[str, Any]]) -> tuple[list[Column], list[list[Any]]]:
    """The records a query matched, every column of each; columns in the order first seen."""
    header: dict[str, None] = {}
    for row in rows:
        header.update(dict.fromkeys(row))
    if not header:
        return [column("message")], [[NO_MATCH]]
    names = list(header)
    return columns(names), [[row.get(name, "") for name in names] for row in rows]
