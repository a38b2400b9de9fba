"""Applications (核销单申请表), approvals (审批表) and issuing forms (发放登记表), rules 1 and 2 in docs/OPERATOR.md."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from center import feed
from center.db import applications, approvals, business_date, counters, enterprises, forms, issuance
from center.ledger import forms as form_store
from center.ledger.identifiers import check_copies
from center.ledger.state import APPLICATION_APPROVED, APPLICATION_ISSUED, ISSUED, Change, FormState
from center.refusals import Refusal
from center.statuses import CustomsStatus, SafeStatus, SubmissionStatus

FORM_COUNTER = "form_no"
UNIFIED_COUNTER = "unified_no"
DECLARATION_COUNTER = "declaration_no"  # the simulator's customs numbers its declarations
COUNTERS = (FORM_COUNTER, UNIFIED_COUNTER, DECLARATION_COUNTER)
LAST_FORM_NO = 999_999_999


def seed_counters(conn: Connection) -> None:
    """Create the counter rows at open, so that allocation only ever updates a row it has locked."""
    present = set(conn.scalars(sa.select(counters.c.name)))
    missing = [{"name": name, "value": 0} for name in COUNTERS if name not in present]
    if missing:
        conn.execute(sa.insert(counters), missing)


def allocate(conn: Connection, name: str, count: int = 1) -> int:
    """Reserve ``count`` numbers of a counter; returns the first.

    A locked counter row allocates correctly on PostgreSQL too, where two transactions reading max(form_no) at once
    would hand out the same number.
    """
    current = conn.scalar(sa.select(counters.c.value).where(counters.c.name == name).with_for_update())
    if current is None:
        raise RuntimeError(f"counter {name!r} is missing; the database was not opened through Center.open")
    conn.execute(sa.update(counters).where(counters.c.name == name).values(value=current + count))
    return int(current) + 1


def require_enterprise(conn: Connection, code: str) -> None:
    if conn.scalar(sa.select(enterprises.c.code).where(enterprises.c.code == code)) is None:
        raise Refusal("ENTERPRISE_NOT_FOUND", code=code)


def apply(conn: Connection, enterprise: str, copies: Any, remark: str, now: dt.datetime) -> dict[str, Any]:
    """Rule 1, 核销单申请: an application with a new unified number (统一编号, the manual's 申请号) and date."""
    copies = check_copies(copies)
    apply_date = business_date(now)
    # Year + serial: unique (one counter) and readable, like the original's application numbers.
    unified_no = f"{apply_date.year:04d}{allocate(conn, UNIFIED_COUNTER):08d}"
    row = {
        "unified_no": unified_no,
        "enterprise_code": enterprise,
        "copies": copies,
        "remark": remark,
        "apply_date": apply_date,
        "created_at": now,
    }
    conn.execute(sa.insert(applications).values(**row))
    return {"unified_no": unified_no, "apply_date": apply_date.isoformat()}


def approve(conn: Connection, unified_no: str, copies: Any, now: dt.datetime) -> dict[str, Any]:
    """Rule 2, SAFE's approval (审批表): same unified number, an approval date, the copies granted (default: asked)."""
    application = conn.execute(
        sa.select(applications).where(applications.c.unified_no == unified_no).with_for_update()
    ).first()
    if application is None:
        raise Refusal("APPLICATION_NOT_FOUND", unified_no=unified_no)
    earlier = conn.scalar(sa.select(approvals.c.approval_date).where(approvals.c.unified_no == unified_no))
    if earlier is not None:
        raise Refusal("APPLICATION_ALREADY_APPROVED", unified_no=unified_no, approval_date=earlier.isoformat())
    granted = application.copies if copies is None else check_copies(copies)
    approval_date = business_date(now)
    conn.execute(
        sa.insert(approvals).values(
            unified_no=unified_no,
            enterprise_code=application.enterprise_code,
            approved_copies=granted,
            approval_date=approval_date,
            approved_at=now,
        )
    )
    feed.record_application(conn, application.enterprise_code, unified_no, APPLICATION_APPROVED, granted, now)
    return {
        "unified_no": unified_no,
        "enterprise": application.enterprise_code,
        "approved_copies": granted,
        "approval_date": approval_date.isoformat(),
    }


def issue_approved(conn: Connection, unified_no: str, now: dt.datetime) -> dict[str, Any]:
    """Rule 2, issuing against an approval: its approved copies, once."""
    approval = conn.execute(sa.select(approvals).where(approvals.c.unified_no == unified_no).with_for_update()).first()
    if approval is None:
        if conn.scalar(sa.select(applications.c.unified_no).where(applications.c.unified_no == unified_no)) is None:
            raise Refusal("APPLICATION_NOT_FOUND", unified_no=unified_no)
        raise Refusal("APPROVAL_NOT_FOUND", unified_no=unified_no)
    if approval.issued_at is not None:
        raise Refusal("APPROVAL_ALREADY_ISSUED", unified_no=unified_no)
    numbers = issue(conn, approval.enterprise_code, approval.approved_copies, now, unified_no)
    conn.execute(sa.update(approvals).where(approvals.c.unified_no == unified_no).values(issued_at=now))
    feed.record_application(
        conn, approval.enterprise_code, unified_no, APPLICATION_ISSUED, len(numbers), now, issued=numbers
    )
    return {"unified_no": unified_no, "enterprise": approval.enterprise_code, "forms": numbers}


def issue(conn: Connection, enterprise: str, copies: Any, now: dt.datetime, unified_no: str | None = None) -> list[str]:
    """Allocate new form numbers, write the forms (有效 / 未用 / 未交单) and the issuance register (发放登记表)."""
    copies = check_copies(copies)
    require_enterprise(conn, enterprise)
    first = allocate(conn, FORM_COUNTER, copies)
    if first + copies - 1 > LAST_FORM_NO:
        raise RuntimeError("the form number space is exhausted")
    numbers = [f"{n:09d}" for n in range(first, first + copies)]
    issued = business_date(now)
    new = [
        FormState(
            form_no=number,
            enterprise_code=enterprise,
            safe_status=SafeStatus.VALID.value,
            customs_status=CustomsStatus.UNUSED.value,
            submission_status=SubmissionStatus.NOT_SUBMITTED.value,
            port=None,
            declaration_no=None,
            export_date=None,
            submit_date=None,
        )
        for number in numbers
    ]
    conn.execute(sa.insert(forms), [{**f._asdict(), "issue_date": issued, "updated_at": now} for f in new])
    conn.execute(
        sa.insert(issuance),
        [
            {
                "enterprise_code": enterprise,
                "form_no": n,
                "unified_no": unified_no,
                "issue_date": issued,
                "revoked": False,
            }
            for n in numbers
        ],
    )
    form_store.record_events(conn, [Change(f, ISSUED) for f in new], now)
    return numbers


def entry_for_update(conn: Connection, form_no: str) -> Any:
    """The form's row of the issuance register (发放登记表), locked; None for a form issued before it was kept."""
    return conn.execute(sa.select(issuance).where(issuance.c.form_no == form_no).with_for_update()).first()


def mark_revoked(conn: Connection, form_no: str) -> None:
    conn.execute(sa.update(issuance).where(issuance.c.form_no == form_no).values(revoked=True))
