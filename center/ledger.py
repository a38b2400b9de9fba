"""The business rules of the ledger (DESIGN.md §4), one small function per operation.

Each function works on a Connection inside a transaction that its caller owns, so that a whole batch commits or
nothing does. A rule checks everything before it writes anything: a refused record leaves nothing to undo, and the
next record of the batch can go on in the same transaction.

Rows that a rule changes are read with ``FOR UPDATE``: PostgreSQL locks them until the transaction ends; SQLite
ignores the clause and is already serialised by ``BEGIN IMMEDIATE`` (see ``center.db``).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from center.db import as_utc, business_date, counters, enterprises, forms, issuance, utcnow
from center.ports import resolve_port
from center.refusals import OK_CODE, REASONS, Refusal
from center.statuses import CustomsStatus, SafeStatus, SubmissionStatus, label_en, label_zh

FORM_NO = re.compile(r"^[0-9A-Z]{9}$")
ENTERPRISE_CODE = re.compile(r"^[0-9A-Z]{10}$")
MAX_COPIES = 1000  # per issuance, as for an application (申请份数 1–1000)
FORM_COUNTER = "form_no"


@dataclass(frozen=True)
class Outcome:
    """The answer for one record: ``OK`` or a refusal code, with both messages."""

    code: str
    message_zh: str
    message_en: str

    @property
    def ok(self) -> bool:
        return self.code == OK_CODE

    @classmethod
    def success(cls) -> Outcome:
        reason = REASONS[OK_CODE]
        return cls(OK_CODE, reason.zh, reason.en)

    @classmethod
    def refused(cls, refusal: Refusal) -> Outcome:
        return cls(refusal.code, refusal.zh, refusal.en)


def check_form_no(form_no: str) -> None:
    if not FORM_NO.match(form_no):
        raise Refusal(
            "RECORD_INVALID",
            detail_zh=f"核销单号“{form_no}”应为9位数字或大写字母",
            detail_en=f"form number '{form_no}' must be 9 digits or capital letters",
        )


def _own_form_for_update(conn: Connection, enterprise_code: str, form_no: str) -> Any:
    # Another enterprise's form is looked for exactly like a missing one, so both get the same answer (rule 10).
    row = conn.execute(
        sa.select(forms).where(forms.c.form_no == form_no, forms.c.enterprise_code == enterprise_code).with_for_update()
    ).first()
    if row is None:
        raise Refusal("FORM_NOT_FOUND", form_no=form_no)
    return row


def _require_valid(row: Any) -> None:
    if row.safe_status != SafeStatus.VALID:
        raise Refusal(
            "FORM_NOT_VALID",
            form_no=row.form_no,
            status_zh=label_zh(row.safe_status),
            status_en=label_en(row.safe_status),
        )


def file_form(
    conn: Connection, enterprise_code: str, form_no: str, port_text: str, now: dt.datetime | None = None
) -> Outcome:
    """Rule 3, 口岸备案: file the enterprise's own ``valid`` + ``unused`` form to an existing port."""
    try:
        check_form_no(form_no)
        row = _own_form_for_update(conn, enterprise_code, form_no)
        _require_valid(row)
        if row.customs_status == CustomsStatus.USED:
            raise Refusal("FORM_ALREADY_USED", form_no=form_no)
        if row.customs_status in (CustomsStatus.FILED, CustomsStatus.CANCEL_PENDING):
            raise Refusal(
                "FORM_ALREADY_FILED",
                form_no=form_no,
                status_zh=label_zh(row.customs_status),
                status_en=label_en(row.customs_status),
            )
        port = resolve_port(conn, port_text)
        if port is None:
            raise Refusal("PORT_NOT_FOUND", port=port_text)
    except Refusal as refusal:
        return Outcome.refused(refusal)
    conn.execute(
        sa.update(forms)
        .where(forms.c.form_no == form_no)
        .values(customs_status=CustomsStatus.FILED.value, port=port, updated_at=now or utcnow())
    )
    return Outcome.success()


def check_enterprise_code(code: str) -> None:
    if not ENTERPRISE_CODE.match(code):
        raise Refusal("ENTERPRISE_CODE_INVALID", code=code)


def require_enterprise(conn: Connection, code: str) -> None:
    if conn.scalar(sa.select(enterprises.c.code).where(enterprises.c.code == code)) is None:
        raise Refusal("ENTERPRISE_NOT_FOUND", code=code)


def seed_counters(conn: Connection) -> None:
    """Create the counter rows at open, so that allocation only ever updates a row it has locked."""
    if conn.scalar(sa.select(counters.c.value).where(counters.c.name == FORM_COUNTER)) is None:
        conn.execute(sa.insert(counters).values(name=FORM_COUNTER, value=0))


def _allocate(conn: Connection, name: str, count: int) -> int:
    """Reserve ``count`` numbers of a counter; returns the first."""
    current = conn.scalar(sa.select(counters.c.value).where(counters.c.name == name).with_for_update())
    if current is None:
        raise RuntimeError(f"counter {name!r} is missing; the database was not opened through Center.open")
    conn.execute(sa.update(counters).where(counters.c.name == name).values(value=current + count))
    return int(current) + 1


def issue_forms(conn: Connection, enterprise_code: str, copies: int, now: dt.datetime | None = None) -> list[str]:
    """Rule 2, issuance: allocate new form numbers, write the forms and the issuance register (发放登记表)."""
    if isinstance(copies, bool) or not isinstance(copies, int) or not 1 <= copies <= MAX_COPIES:
        raise Refusal("COPIES_INVALID", copies=copies)
    require_enterprise(conn, enterprise_code)
    now = now or utcnow()
    first = _allocate(conn, FORM_COUNTER, copies)
    if first + copies - 1 > 999_999_999:
        raise RuntimeError("the form number space is exhausted")
    numbers = [f"{n:09d}" for n in range(first, first + copies)]
    issued = business_date(now)
    conn.execute(
        sa.insert(forms),
        [
            {
                "form_no": number,
                "enterprise_code": enterprise_code,
                "safe_status": SafeStatus.VALID.value,
                "customs_status": CustomsStatus.UNUSED.value,
                "submission_status": SubmissionStatus.NOT_SUBMITTED.value,
                "port": None,
                "issue_date": issued,
                "updated_at": now,
            }
            for number in numbers
        ],
    )
    conn.execute(
        sa.insert(issuance),
        [
            {"enterprise_code": enterprise_code, "form_no": number, "issue_date": issued, "revoked": False}
            for number in numbers
        ],
    )
    return numbers


def form_record(conn: Connection, form_no: str) -> dict[str, Any] | None:
    """A form as plain data (dates as ISO text), with the Chinese labels of its statuses."""
    row = conn.execute(sa.select(forms).where(forms.c.form_no == form_no)).first()
    if row is None:
        return None
    record = dict(row._mapping)
    record["issue_date"] = row.issue_date.isoformat()
    record["updated_at"] = as_utc(row.updated_at).isoformat()
    for column in ("safe_status", "customs_status", "submission_status"):
        record[f"{column}_zh"] = label_zh(row._mapping[column])
    return record
