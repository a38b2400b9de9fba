"""The update feed: an enterprise's form changes in the order they were made, after a cursor.

Agents pull it with their device credential and advance their cursor once the changes are in their outbox; the
sequence numbers come from ``form_events``, which is written in the same transaction as every change.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from center.db import as_utc, form_events
from center.statuses import label_zh
from sync.vocabulary import FEED_COLUMNS, FEED_PAGE


def updates_after(conn: Connection, enterprise_code: str, after: int, limit: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        sa.select(form_events)
        .where(form_events.c.enterprise_code == enterprise_code, form_events.c.seq > after)
        .order_by(form_events.c.seq)
        .limit(max(1, min(limit, FEED_PAGE)))
    )
    return [_entry(row._mapping) for row in rows]


def _entry(row: Any) -> dict[str, Any]:
    return {column: _value(row, column) for column in FEED_COLUMNS}


def _value(row: Any, column: str) -> Any:
    """One column of an entry: a status's Chinese label (``…_zh``), the time in UTC, or the event's own value."""
    if column.endswith("_zh"):
        return label_zh(row[column.removesuffix("_zh")])
    if column == "at":
        return as_utc(row["at"]).isoformat()
    return row[column]
