"""The update feed: an enterprise's changes in the order they were made, after a cursor.

Agents pull it with their device credential and advance their cursor once the changes are in their outbox. Most
entries are a form's change (``form_events``, written in the same transaction as the change) with the form's
details as they stand when the entry is read; SAFE's approval of an application and the issuing of its forms are
entries of their own (``application_events``), numbered from the same sequence, so one cursor reads both in order.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from center.db import application_events, as_utc, form_events, forms, issuance
from center.ledger.forms import hold_feeds, plain_value
from center.statuses import label_zh
from sync.vocabulary import EVENT_LABELS, FEED_COLUMNS, FEED_PAGE, YES_NO

_FORM_ENTRIES = (
    sa.select(
        form_events,
        forms.c.issue_date,
        forms.c.declaration_no,
        forms.c.export_date,
        forms.c.submit_date,
        issuance.c.unified_no,
        issuance.c.revoked,
    )
    .join(forms, forms.c.form_no == form_events.c.form_no)
    .outerjoin(issuance, issuance.c.form_no == form_events.c.form_no)
)


def updates_after(conn: Connection, enterprise_code: str, after: int, limit: int) -> list[dict[str, Any]]:
    limit = max(1, min(limit, FEED_PAGE))
    # Which entries, in one statement over both tables: one snapshot. Two statements could see a form's change and
    # an application's entry committed between them, the later one without the earlier (PostgreSQL reads each
    # statement afresh), and the agent's cursor would pass the entry it never saw.
    chosen = sa.union_all(
        sa.select(form_events.c.seq, sa.literal(True).label("form")).where(
            form_events.c.enterprise_code == enterprise_code, form_events.c.seq > after
        ),
        sa.select(application_events.c.seq, sa.literal(False).label("form")).where(
            application_events.c.enterprise_code == enterprise_code, application_events.c.seq > after
        ),
    ).subquery()
    picked = conn.execute(sa.select(chosen.c.seq, chosen.c.form).order_by(chosen.c.seq).limit(limit)).all()
    form_seqs = [seq for seq, form in picked if form]
    application_seqs = [seq for seq, form in picked if not form]
    entries = []
    if form_seqs:  # the rows chosen are committed: reading their details in another statement is safe
        rows = conn.execute(_FORM_ENTRIES.where(form_events.c.seq.in_(form_seqs)))
        entries += [_form_entry(row._mapping) for row in rows]
    if application_seqs:
        rows = conn.execute(sa.select(application_events).where(application_events.c.seq.in_(application_seqs)))
        entries += [_application_entry(row._mapping) for row in rows]
    return sorted(entries, key=lambda entry: int(entry["seq"]))


def _blank() -> dict[str, Any]:
    return dict.fromkeys(FEED_COLUMNS)


def _form_entry(row: Any) -> dict[str, Any]:
    """A form's change: its statuses after it (with their Chinese labels), its details, the time in UTC."""
    entry = _blank()
    for column in FEED_COLUMNS:
        if column in ("event_zh", "revoked_zh", "count", "forms"):
            continue
        if column.endswith("_zh"):
            entry[column] = label_zh(row[column.removesuffix("_zh")])
        elif column == "at":
            entry[column] = as_utc(row["at"]).isoformat()
        else:
            entry[column] = plain_value(row[column])
    entry["event_zh"] = EVENT_LABELS.get(row["event"], row["event"])
    entry["revoked_zh"] = YES_NO[bool(row["revoked"])] if row["revoked"] is not None else None
    return entry


def _application_entry(row: Any) -> dict[str, Any]:
    """SAFE approved an application, or issued its forms: the unified number, the copies, the forms issued."""
    entry = _blank()
    entry.update(
        seq=row["seq"],
        event=row["event"],
        event_zh=EVENT_LABELS.get(row["event"], row["event"]),
        unified_no=row["unified_no"],
        count=row["copies"],
        forms=row["forms"],
        at=as_utc(row["at"]).isoformat(),
    )
    return entry


def next_seq(conn: Connection) -> int:
    """The next number of form_events' own sequence, taken for an entry of another table (AUTOINCREMENT's counter
    on SQLite, the serial's sequence on PostgreSQL): numbers are never handed out twice."""
    if conn.dialect.name == "postgresql":
        return int(conn.exec_driver_sql("SELECT nextval(pg_get_serial_sequence('form_events', 'seq'))").scalar_one())
    conn.exec_driver_sql(
        "INSERT INTO sqlite_sequence (name, seq) SELECT 'form_events', 0"
        " WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'form_events')"
    )
    conn.exec_driver_sql(
        "UPDATE sqlite_sequence SET seq = max(seq, (SELECT coalesce(max(seq), 0) FROM form_events)) + 1"
        " WHERE name = 'form_events'"
    )
    return int(conn.exec_driver_sql("SELECT seq FROM sqlite_sequence WHERE name = 'form_events'").scalar_one())


def record_application(
    conn: Connection,
    enterprise: str,
    unified_no: str,
    event: str,
    copies: int,
    now: dt.datetime,
    issued: list[str] | None = None,
) -> None:
    """An application's entry (申请已审批, 申请已发放 with the form numbers), in the caller's transaction."""
    hold_feeds(conn, [enterprise])  # numbered and committed in order with the enterprise's form changes
    conn.execute(
        sa.insert(application_events).values(
            seq=next_seq(conn),
            enterprise_code=enterprise,
            unified_no=unified_no,
            event=event,
            copies=copies,
            forms=runs(issued) if issued else None,
            at=now,
        )
    )


def runs(numbers: list[str]) -> str:
    """Form numbers as runs: "000000001-000000030, 000000040"."""
    listed: list[str] = []
    start = previous = numbers[0]
    for number in numbers[1:]:
        if number.isdigit() and previous.isdigit() and int(number) == int(previous) + 1:
            previous = number
            continue
        listed.append(start if start == previous else f"{start}-{previous}")
        start = previous = number
    listed.append(start if start == previous else f"{start}-{previous}")
    return ", ".join(listed)
