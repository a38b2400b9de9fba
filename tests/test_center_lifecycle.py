"""Whole lives of forms, clerk and authorities taking turns, and the form_events feed that records
every change once, in the transaction that makes it. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from center import db
from center.refusals import Refusal
from center.service import Center
from tests.center_support import (
    ENTERPRISE,
    Desk,
    codes,
    events,
    status,
    use_form,
)


async def test_apply_approve_issue_file_use_declare_submit_verify(center: Center, desk: Desk) -> None:
    unified_no = (await desk.one("applications", copies=2, remark="整个流程"))["unified_no"]
    center.safe_approve(unified_no)
    first, second = center.safe_issue(unified_no=unified_no)["forms"]
    assert (await desk.one("filings", form_no=first, port="上海海关"))["code"] == "OK"
    number = center.new_declaration_no("2200", dt.date(2024, 6, 1))
    center.customs_use(first, number, "2200", "2024-06-01")
    assert (await desk.one("submissions", form_no=first))["code"] == "DECLARATION_NOT_ARRIVED"
    center.customs_declare(number, first, "2024-06-01", "2200", "一般贸易", "88000", "USD")
    assert (await desk.one("submissions", form_no=first, declaration_no=number))["code"] == "OK"
    center.safe_verify(first)
    assert status(center, first) == ("verified", "used", "submitted")
    assert status(center, second) == ("valid", "unused", "not_submitted")
    assert [e[1:] for e in events(center, first)] == [
        ("issued", "valid", "unused", "not_submitted"),
        ("filed", "valid", "filed", "not_submitted"),
        ("used", "valid", "used", "not_submitted"),
        ("declared", "valid", "used", "not_submitted"),
        ("submitted", "valid", "used", "submitted"),
        ("verified", "verified", "used", "submitted"),
    ]


async def test_file_cancel_confirm_and_file_again_at_another_port(center: Center, desk: Desk) -> None:
    [form_no] = center.issue_forms(ENTERPRISE, 1)
    await desk.one("filings", form_no=form_no, port="5300")
    await desk.one("cancellations", form_no=form_no)
    center.customs_confirm_cancel(form_no)
    assert (center.form(form_no) or {})["port"] is None
    assert (await desk.one("filings", form_no=form_no, port="拱北关区"))["code"] == "OK"
    assert (center.form(form_no) or {})["port"] == "5700"
    use_form(center, form_no, port="5700")
    assert [e[1] for e in events(center, form_no)] == [
        "issued",
        "filed",
        "cancel_requested",
        "cancel_confirmed",
        "filed",
        "used",
        "declared",
    ]


async def test_issue_lose_and_every_later_operation_is_refused(center: Center, desk: Desk) -> None:
    forms = center.issue_forms(ENTERPRISE, 3)
    assert codes(await desk.send("losses", [{"start_form_no": forms[0], "count": 3}])) == ["OK"] * 3
    for kind, extra in (("filings", {"port": "5300"}), ("cancellations", {}), ("submissions", {}), ("losses", {})):
        answer = await desk.send(kind, [{"start_form_no": forms[0], "count": 3, **extra}])
        assert codes(answer) == ["FORM_NOT_VALID"] * 3, kind
    assert {status(center, n) for n in forms} == {("lost", "unused", "not_submitted")}
    assert [e[1] for e in events(center, forms[0])] == ["issued", "lost"]


async def test_submit_modify_resubmit(center: Center, desk: Desk) -> None:
    [form_no] = center.issue_forms(ENTERPRISE, 1)
    await desk.one("filings", form_no=form_no, port="5300")
    number = use_form(center, form_no)
    await desk.one("submissions", form_no=form_no)
    center.customs_modify(number, export_date="2024-05-07")
    assert status(center, form_no)[2] == "resubmit_required"
    assert (await desk.one("submissions", form_no=form_no))["code"] == "OK"
    assert [e[1:] for e in events(center, form_no)][-3:] == [
        ("submitted", "valid", "used", "submitted"),
        ("declaration_modified", "valid", "used", "resubmit_required"),
        ("submitted", "valid", "used", "submitted"),
    ]


async def test_events_are_written_once_per_change_and_never_for_a_refusal(center: Center, desk: Desk) -> None:
    forms = center.issue_forms(ENTERPRISE, 3)
    before = len(events(center))
    records: list[dict[str, Any]] = [
        {"form_no": forms[0], "port": "5300"},
        {"form_no": "99999999Z", "port": "5300"},
        {"form_no": forms[1], "port": "9999"},
    ]
    answer = await desk.send("filings", records, batch_id="events-1")
    assert codes(answer) == ["OK", "FORM_NOT_FOUND", "PORT_NOT_FOUND"]
    assert events(center)[before:] == [(forms[0], "filed", "valid", "filed", "not_submitted")]
    # Resending the batch returns the stored answer and changes nothing, so it writes no event either.
    assert await desk.send("filings", records, batch_id="events-1") == answer
    assert len(events(center)) == before + 1
    # A refused authority operation writes nothing.
    with pytest.raises(Refusal, match="CANCEL_NOT_PENDING"):
        center.customs_confirm_cancel(forms[0])
    assert len(events(center)) == before + 1


async def test_events_carry_the_enterprise_and_a_growing_sequence(center: Center) -> None:
    center.issue_forms(ENTERPRISE, 2)
    with center.engine.connect() as conn:
        rows = conn.execute(
            sa.select(db.form_events.c.seq, db.form_events.c.enterprise_code).order_by(db.form_events.c.at)
        ).all()
    assert len(rows) == 2 and rows[0].seq < rows[1].seq
    assert {r.enterprise_code for r in rows} == {ENTERPRISE}
