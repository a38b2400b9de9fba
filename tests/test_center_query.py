"""The combined query (组合查询, rule 9, manual chapter 11 and FAQ 6) and enterprise isolation (rule 10)
on every endpoint and every query, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from center import db
from center.service import Center
from sync.protocol import API_BATCHES
from tests.center_support import (
    ENTERPRISE,
    OTHER_ENTERPRISE,
    Client,
    Desk,
    codes,
    enroll,
    filing_payload,
    use_form,
)


@pytest.fixture
def other(center: Center, client: Client) -> Desk:
    return Desk(center, client, enroll(center, OTHER_ENTERPRISE, "王五"))


def today() -> str:
    return db.business_date(db.utcnow()).isoformat()


async def _life(center: Center, desk: Desk, copies: int = 3) -> list[str]:
    """An application (approved, issued) whose first form is filed, used, declared and submitted."""
    unified_no = (await desk.one("applications", copies=copies))["unified_no"]
    center.safe_approve(unified_no)
    forms: list[str] = center.safe_issue(unified_no=unified_no)["forms"]
    await desk.one("filings", form_no=forms[0], port="5300")
    use_form(center, forms[0])
    await desk.one("submissions", form_no=forms[0])
    return forms


async def test_forms_by_number_prefix_and_equality(center: Center, desk: Desk) -> None:
    forms = await _life(center, desk)
    answer = await desk.query(("form", "form_no", "prefix", forms[0][:7]))
    assert codes(answer) == ["OK"] and [r["form_no"] for r in answer["rows"]] == forms
    [row] = (await desk.query(("核销单", "核销单号", "等于", forms[1])))["rows"]
    # Every column of the form, with the Chinese labels of its statuses.
    assert row["enterprise_code"] == ENTERPRISE and row["issue_date"] == today()
    assert (row["safe_status_zh"], row["customs_status_zh"], row["submission_status_zh"]) == ("有效", "未用", "未交单")
    assert set(row) >= {"port", "declaration_no", "export_date", "submit_date", "updated_at"}


async def test_forms_by_status_and_dates_anded(center: Center, desk: Desk) -> None:
    forms = await _life(center, desk)
    await desk.one("losses", form_no=forms[2])
    lost = await desk.query(("form", "safe_status", "eq", "挂失"))
    assert [r["form_no"] for r in lost["rows"]] == [forms[2]]
    valid_issued_today = await desk.query(("form", "safe_status", "eq", "valid"), ("form", "issue_date", "eq", today()))
    assert [r["form_no"] for r in valid_issued_today["rows"]] == forms[:2]
    submitted = await desk.query(("form", "submit_date", "prefix", today()[:7]))
    assert [r["form_no"] for r in submitted["rows"]] == [forms[0]]
    none = await desk.query(("form", "form_no", "prefix", forms[0][:7]), ("form", "issue_date", "eq", "2001-01-01"))
    assert none["rows"] == [] and codes(none) == ["OK", "OK"]


async def test_the_other_four_businesses(center: Center, desk: Desk) -> None:
    forms = await _life(center, desk)
    declaration = await desk.query(("报关单", "批准文号", "以……开始", forms[0][:8]))
    assert [(r["approval_no"], r["port"], r["currency"]) for r in declaration["rows"]] == [(forms[0], "5300", "USD")]
    issuance = await desk.query(
        ("核销单发放登记表", "是否撤销", "等于", "否"), ("issuance", "issue_date", "eq", today())
    )
    assert [r["form_no"] for r in issuance["rows"]] == forms
    assert (await desk.query(("issuance", "revoked", "eq", "是")))["rows"] == []
    application = await desk.query(("核销单申请表", "申请日期", "等于", today()))
    [unified_no] = [r["unified_no"] for r in application["rows"]]
    approval = await desk.query(("核销单申请审批表", "统一编号", "等于", unified_no))
    assert [(r["approved_copies"], r["approval_date"]) for r in approval["rows"]] == [(3, today())]


async def test_a_query_without_conditions_is_refused_faq_6(center: Center, desk: Desk, client: Client) -> None:
    payload = filing_payload("empty-query", [], kind="queries")
    response = await client.post(API_BATCHES, json=desk.card.sign(payload))
    answer = await response.json()
    assert (response.status, answer["code"]) == (400, "QUERY_CONDITION_REQUIRED")
    assert "必须输入查询条件" in answer["message_zh"] and "前8位或前7位" in answer["message_zh"]
    # A condition without a value would find everything, as no condition would: refused the same way.
    blank = await desk.query(("form", "form_no", "prefix", "  "))
    assert codes(blank) == ["QUERY_CONDITION_REQUIRED"] and blank["rows"] == []


@pytest.mark.parametrize(
    ("condition", "code"),
    [
        (("invoice", "form_no", "eq", "1"), "QUERY_BUSINESS_UNKNOWN"),
        (("form", "port", "eq", "5300"), "QUERY_ATTRIBUTE_UNKNOWN"),
        (("form", "form_no", "like", "1"), "QUERY_OP_UNKNOWN"),
        (("form", "issue_date", "eq", "May 6"), "QUERY_VALUE_INVALID"),
        (("form", "issue_date", "prefix", "May"), "QUERY_VALUE_INVALID"),
        (("form", "safe_status", "eq", "good"), "QUERY_VALUE_INVALID"),
        (("issuance", "revoked", "prefix", "是"), "QUERY_VALUE_INVALID"),
        (("issuance", "revoked", "eq", "maybe"), "QUERY_VALUE_INVALID"),
    ],
)
async def test_an_invalid_condition_stops_the_query(
    center: Center, desk: Desk, condition: tuple[str, str, str, str], code: str
) -> None:
    center.issue_forms(ENTERPRISE, 1)
    answer = await desk.query(("form", "form_no", "prefix", "0"), condition)
    assert codes(answer) == ["QUERY_NOT_RUN", code] and answer["rows"] == []


async def test_one_query_searches_one_business(center: Center, desk: Desk) -> None:
    answer = await desk.query(("form", "form_no", "prefix", "0"), ("application", "unified_no", "prefix", "2"))
    assert codes(answer) == ["QUERY_NOT_RUN", "QUERY_BUSINESS_MIXED"]


# Isolation (rule 10): every query and every endpoint, tried with another enterprise's operator.


@pytest.mark.parametrize(
    "conditions",
    [
        [("form", "form_no", "prefix", "0")],
        [("form", "safe_status", "eq", "valid")],
        [("form", "issue_date", "prefix", "2")],
        [("form", "submit_date", "prefix", "2")],
        [("declaration", "approval_no", "prefix", "0")],
        [("issuance", "issue_date", "prefix", "2")],
        [("issuance", "revoked", "eq", "否")],
        [("application", "unified_no", "prefix", "2")],
        [("application", "apply_date", "prefix", "2")],
        [("approval", "unified_no", "prefix", "2")],
        [("approval", "approval_date", "prefix", "2")],
    ],
)
async def test_every_query_sees_only_the_enterprises_own_records(
    center: Center, desk: Desk, other: Desk, conditions: list[tuple[str, str, str, str]]
) -> None:
    await _life(center, desk)
    mine = await desk.query(*conditions)
    theirs = await other.query(*conditions)
    assert mine["rows"] and all(r["enterprise_code"] == ENTERPRISE for r in mine["rows"])
    assert theirs["rows"] == [] and codes(theirs) == ["OK"]


def _without(result: dict[str, Any], form_no: str) -> dict[str, Any]:
    return {k: str(v).replace(form_no, "<form>") for k, v in result.items()}


@pytest.mark.parametrize(
    ("kind", "extra"),
    [("filings", {"port": "5300"}), ("cancellations", {}), ("submissions", {}), ("losses", {})],
)
async def test_another_enterprises_form_is_answered_as_an_unknown_one_by_every_kind(
    center: Center, desk: Desk, other: Desk, kind: str, extra: dict[str, Any]
) -> None:
    forms = await _life(center, desk)  # mine in every state: filed-used-submitted, and unused
    for form_no in forms:
        theirs = await other.one(kind, form_no=form_no, **extra)
        unknown = await other.one(kind, form_no="99999999Z", **extra)
        assert theirs["code"] == "FORM_NOT_FOUND"
        assert _without(theirs, form_no) == _without(unknown, "99999999Z")
    ranged = await other.send(kind, [{"start_form_no": forms[0], "count": len(forms), **extra}])
    assert codes(ranged) == ["FORM_NOT_FOUND"] * len(forms)
    assert (center.form(forms[1]) or {})["customs_status"] == "unused"


async def test_applications_belong_to_their_enterprise(center: Center, desk: Desk, other: Desk) -> None:
    unified_no = (await desk.one("applications", copies=1))["unified_no"]
    center.safe_approve(unified_no)
    [form_no] = center.safe_issue(unified_no=unified_no)["forms"]
    assert (center.form(form_no) or {})["enterprise_code"] == ENTERPRISE
    assert (await other.query(("application", "unified_no", "eq", unified_no)))["rows"] == []
