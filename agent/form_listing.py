"""The enterprise's forms as front ends list them (the status page): the store's mirror of the update feed, a page
at a time by form number (its primary key), and a form's history. Read-only queries, plain dicts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agent.listing import PAGE_SIZE
from agent.store import Store

_FORM_FIELDS = "form_no, event, safe_status_zh, customs_status_zh, submission_status_zh, port, at"


@dataclass(frozen=True)
class FormFilter:
    """``status``: one of the three statuses, in Chinese; ``port``: a port code; ``q``: the start of a form number."""

    status: str = ""
    port: str = ""
    q: str = ""
    page: int = 1


def forms(store: Store, wanted: FormFilter) -> dict[str, Any]:
    """One page of the enterprise's forms (the store's mirror of the update feed), by form number."""
    clauses: list[str] = []
    values: list[Any] = []
    if wanted.status:
        clauses.append("(safe_status_zh = ? OR customs_status_zh = ? OR submission_status_zh = ?)")
        values.extend([wanted.status] * 3)
    if wanted.port:
        clauses.append("port = ?")
        values.append(wanted.port)
    q = "".join(c for c in wanted.q.upper() if c.isascii() and c.isalnum())
    if q:
        clauses.append("form_no GLOB ?")  # GLOB, unlike LIKE, walks the primary key's index for a prefix
        values.append(f"{q}*")
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    (total,) = store.conn.execute(f"SELECT count(*) FROM forms{where}", values).fetchone()
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, wanted.page), pages)
    cursor = store.conn.execute(
        f"SELECT {_FORM_FIELDS} FROM forms{where} ORDER BY form_no LIMIT ? OFFSET ?",
        [*values, PAGE_SIZE, (page - 1) * PAGE_SIZE],
    )
    names = [column[0] for column in cursor.description]
    return {
        "forms": [dict(zip(names, row, strict=True)) for row in cursor],
        "total": total,
        "page": page,
        "pages": pages,
    }


def form_statuses(store: Store) -> list[str]:
    """Every status (in Chinese) a form of the mirror is in: the choices of the forms' filter."""
    found: set[str] = set()
    for column in ("safe_status_zh", "customs_status_zh", "submission_status_zh"):
        found.update(value for (value,) in store.conn.execute(f"SELECT DISTINCT {column} FROM forms") if value)
    return sorted(found)


def form_history(store: Store, form_no: str) -> list[dict[str, Any]]:
    """A form's events from the update feed, oldest first (those pulled since the store kept them)."""
    cursor = store.conn.execute(
        "SELECT seq, event, safe_status_zh, customs_status_zh, submission_status_zh, port, at"
        " FROM form_events WHERE form_no = ? ORDER BY seq",
        (form_no,),
    )
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor]
