"""Forms in the database: loading them locked for a change, and writing changes with their events.

A batch touches many forms, so both directions are set-based: one ``SELECT ... FOR UPDATE`` per chunk of form
numbers, one executemany ``UPDATE`` and one executemany ``INSERT`` of events for all the changes. PostgreSQL locks
the selected rows until the transaction ends; SQLite ignores ``FOR UPDATE`` and is already serialised by
``BEGIN IMMEDIATE`` (see ``center.db``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from center.db import as_utc, declarations, form_events, forms
from center.db import enterprises as enterprises_table
from center.ledger.driver import DriverStatement, as_date
from center.ledger.state import Change, FormState
from center.statuses import label_zh

# Form numbers per IN list: far below every database's limit on parameters, and a 1,000-form range is loaded in two
# round trips. Each list size compiles its own statement once.
CHUNK = 500

_STATE_COLUMNS = (
    "safe_status",
    "customs_status",
    "submission_status",
    "port",
    "declaration_no",
    "export_date",
    "submit_date",
)
_SAVE = DriverStatement(
    sa.update(forms)
    .where(forms.c.form_no == sa.bindparam("b_form_no"))
    .values(
        updated_at=sa.bindparam("b_updated_at", type_=forms.c.updated_at.type),
        **{k: sa.bindparam(f"b_{k}", type_=forms.c[k].type) for k in _STATE_COLUMNS},
    )
)
_EVENT_COLUMNS = [c.name for c in form_events.columns if c.name != "seq"]
_EVENTS = DriverStatement(
    sa.insert(form_events).values(**{k: sa.bindparam(k, type_=form_events.c[k].type) for k in _EVENT_COLUMNS})
)
_ARRIVED = sa.select(declarations.c.declaration_no).where(
    declarations.c.declaration_no.in_(sa.bindparam("numbers", expanding=True))
)
_loaders: dict[tuple[int, bool], DriverStatement] = {}


def _loader(size: int, own: bool) -> DriverStatement:
    """``SELECT ... FOR UPDATE`` of ``size`` forms (of one enterprise when ``own``), compiled once per size."""
    statement = _loaders.get((size, own))
    if statement is None:
        select = sa.select(*(forms.c[name] for name in FormState._fields)).where(
            forms.c.form_no.in_([sa.bindparam(f"n{i}") for i in range(size)])
        )
        if own:
            select = select.where(forms.c.enterprise_code == sa.bindparam("enterprise"))
        statement = _loaders[(size, own)] = DriverStatement(select.with_for_update())
    return statement


def _chunks(items: Sequence[str]) -> Iterable[list[str]]:
    for start in range(0, len(items), CHUNK):
        yield list(items[start : start + CHUNK])


def load_for_update(conn: Connection, form_nos: Iterable[str], enterprise: str | None = None) -> dict[str, FormState]:
    """The named forms, locked until the transaction ends; with ``enterprise``, only that enterprise's forms.

    Another enterprise's form is simply absent from the answer, exactly like a form that does not exist (rule 10).
    Locks are taken in form-number order, so two transactions over overlapping forms cannot deadlock each other.
    """
    numbers = sorted(set(form_nos))
    found: dict[str, FormState] = {}
    for chunk in _chunks(numbers):
        arguments: dict[str, Any] = {f"n{i}": number for i, number in enumerate(chunk)}
        if enterprise is not None:
            arguments["enterprise"] = enterprise
        for row in _loader(len(chunk), enterprise is not None).execute(conn, arguments).all():
            form = FormState._make(row)
            found[form.form_no] = form._replace(
                export_date=as_date(form.export_date), submit_date=as_date(form.submit_date)
            )
    return found


def arrived(conn: Connection, declaration_nos: Iterable[str]) -> set[str]:
    """Which of these declarations' data has reached the center."""
    numbers = sorted(set(declaration_nos))
    return {n for chunk in _chunks(numbers) for n in conn.scalars(_ARRIVED, {"numbers": chunk})}


def save(conn: Connection, changes: Sequence[Change], now: dt.datetime) -> None:
    """Write each change's state and one ``form_events`` row per change, in order."""
    _SAVE.executemany(conn, [_bound(c.state, now) for c in changes])
    record_events(conn, changes, now)


def _bound(state: FormState, now: dt.datetime) -> dict[str, Any]:
    return {"b_form_no": state.form_no, "b_updated_at": now, **{f"b_{k}": getattr(state, k) for k in _STATE_COLUMNS}}


def hold_feeds(conn: Connection, enterprises: Iterable[str]) -> None:
    """On PostgreSQL, make the transactions that write an enterprise's events take turns until they commit.

    Sequence numbers are handed out when a row is inserted, not when its transaction commits: without this, a
    transaction holding seq 100 could commit after another one's seq 101, and an agent that had already read 101
    would move its cursor past 100 and never see it. Holding the enterprise's row (``FOR NO KEY UPDATE``, which
    does not stop rows that merely refer to it) from before the first event is numbered until the commit makes
    each enterprise's numbers visible in the order they were given. SQLite writes one transaction at a time anyway.
    """
    if conn.dialect.name != "postgresql":
        return
    codes = sorted(set(enterprises))  # in code order: two transactions over the same enterprises never deadlock
    conn.execute(
        sa.select(enterprises_table.c.code)
        .where(enterprises_table.c.code.in_(codes))
        .order_by(enterprises_table.c.code)
        .with_for_update(key_share=True)
    ).all()


def record_events(conn: Connection, changes: Sequence[Change], now: dt.datetime) -> None:
    if not changes:
        return
    hold_feeds(conn, (c.state.enterprise_code for c in changes))
    _EVENTS.executemany(
        conn,
        [
            {
                "enterprise_code": c.state.enterprise_code,
                "form_no": c.state.form_no,
                "event": c.event,
                "safe_status": c.state.safe_status,
                "customs_status": c.state.customs_status,
                "submission_status": c.state.submission_status,
                "port": c.state.port,
                "at": now,
            }
            for c in changes
        ],
    )


def touch(conn: Connection, change: Change, now: dt.datetime) -> None:
    """An event about a form whose statuses did not change (its declaration data arrived or was modified)."""
    conn.execute(sa.update(forms).where(forms.c.form_no == change.state.form_no).values(updated_at=now))
    record_events(conn, [change], now)


def plain_value(value: Any) -> Any:
    """A column value as JSON: dates and times as ISO text, amounts as decimal text (exact, unlike a float)."""
    if isinstance(value, dt.datetime):
        return as_utc(value).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return value


def plain_row(row: Any) -> dict[str, Any]:
    return {key: plain_value(value) for key, value in row._mapping.items()}


def form_record(row: Any) -> dict[str, Any]:
    """A form as plain data (dates as ISO text), with the Chinese labels of its statuses."""
    record = plain_row(row)
    for column in ("safe_status", "customs_status", "submission_status"):
        record[f"{column}_zh"] = label_zh(record[column])
    return record


def find_form(conn: Connection, form_no: str) -> dict[str, Any] | None:
    row = conn.execute(sa.select(forms).where(forms.c.form_no == form_no)).first()
    return None if row is None else form_record(row)
