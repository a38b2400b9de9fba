"""The manual's workflows at the center (issue: every repeat, the authorities' missing moves): SAFE voids a form and
revokes its issuing, its approval and issuing reach the update feed with the form numbers, a filed form reported lost
gives up its filing, a check answers what an operation would do without doing it, the manual's own wording (交单完成,
以……开始, dates as Excel writes them, the ports a clerk may have meant), the 组织机构代码 with its check character,
and a center made before these arrived. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import jsonschema
import pytest
import sqlalchemy as sa

from center import db
from center.ledger.identifiers import check_org_code, org_check_character
from center.openapi import openapi_spec
from center.refusals import Refusal
from center.service import Center
from tests.center_support import (
    ENTERPRISE,
    Desk,
    codes,
    open_center,
    status,
    use_form,
)


def refused(call: Any, *args: Any) -> str:
    with pytest.raises(Refusal) as refusal:
        call(*args)
    return refusal.value.code


def feed(center: Center, after: int = 0) -> list[dict[str, Any]]:
    return center.updates(ENTERPRISE, after, 1000)


# SAFE's moves and what reaches the clerk.


async def test_approval_and_issuing_reach_the_feed_with_the_unified_number_and_the_form_numbers(
    center: Center, desk: Desk
) -> None:
    unified_no = (await desk.one("applications", copies=3))["unified_no"]
    before = feed(center)[-1]["seq"] if feed(center) else 0
    center.safe_approve(unified_no, 2)
    issued = center.safe_issue(unified_no=unified_no)["forms"]
    entries = feed(center, before)
    approved, *per_form, done = entries
    assert (approved["event"], approved["event_zh"], approved["unified_no"], approved["count"]) == (
        "application_approved",
        "申请已审批",
        unified_no,
        2,
    )
    assert approved["form_no"] is None and approved["safe_status"] is None
    assert [e["form_no"] for e in per_form] == issued and {e["event_zh"] for e in per_form} == {"已发放"}
    assert {(e["unified_no"], e["revoked_zh"], e["issue_date"]) for e in per_form} == {
        (unified_no, "否", db.business_date(db.utcnow()).isoformat())
    }
    assert (done["event_zh"], done["count"], done["forms"]) == ("申请已发放", 2, f"{issued[0]}-{issued[1]}")
    assert [e["seq"] for e in entries] == sorted(e["seq"] for e in entries)  # one cursor reads both in order
    assert feed(center, done["seq"]) == []


async def test_a_forms_entries_carry_its_declaration_and_dates(center: Center, desk: Desk) -> None:
    [form_no] = center.issue_forms(ENTERPRISE, 1)
    await desk.one("filings", form_no=form_no, port="5300")
    declaration_no = use_form(center, form_no)
    assert (await desk.one("submissions", form_no=form_no))["message_zh"] == "交单完成"  # 企业交单, one form
    last = feed(center)[-1]
    assert (last["event"], last["event_zh"], last["declaration_no"], last["export_date"]) == (
        "submitted",
        "已交单",
        declaration_no,
        "2024-05-06",
    )
    assert last["submit_date"] == db.business_date(db.utcnow()).isoformat() and last["unified_no"] is None


async def test_safe_voids_a_form_and_revokes_an_issuing(center: Center, desk: Desk) -> None:
    blank, filed, used, lost, revoked = center.issue_forms(ENTERPRISE, 5)
    await desk.send("filings", [{"form_no": filed, "port": "5300"}, {"form_no": used, "port": "5300"}])
    use_form(center, used)
    await desk.one("losses", form_no=lost)
    assert center.safe_void(blank)["form"]["safe_status_zh"] == "注销"
    assert center.safe_void(filed)["form"]["customs_status_zh"] == "未用"  # its port filing is released
    assert center.safe_void(lost)["form"]["safe_status"] == "voided"  # a lost form is voided too
    assert refused(center.safe_void, used) == "FORM_ALREADY_USED"
    assert refused(center.safe_void, blank) == "FORM_NOT_VALID"  # final
    assert center.safe_revoke_issuance(revoked)["form"]["safe_status"] == "voided"
    assert refused(center.safe_revoke_issuance, revoked) == "ISSUANCE_ALREADY_REVOKED"
    assert refused(center.safe_revoke_issuance, used) == "FORM_ALREADY_USED"
    # 是否撤销 as the clerk asks for it, and as the feed tells it.
    answer = await desk.query(("核销单发放登记表", "是否撤销", "等于", "是"))
    assert [(row["form_no"], row["revoked"], row["revoked_zh"]) for row in answer["rows"]] == [(revoked, True, "是")]
    last = feed(center)[-1]
    assert (last["form_no"], last["event_zh"], last["revoked_zh"], last["safe_status_zh"]) == (
        revoked,
        "发放已撤销",
        "是",
        "注销",
    )
    assert (await desk.one("filings", form_no=blank, port="5300"))["code"] == "FORM_NOT_VALID"


async def test_a_filed_form_reported_lost_can_no_longer_be_declared(center: Center, desk: Desk) -> None:
    [form_no] = center.issue_forms(ENTERPRISE, 1)
    await desk.one("filings", form_no=form_no, port="5300")
    await desk.one("losses", form_no=form_no)
    assert status(center, form_no) == ("lost", "unused", "not_submitted")
    assert feed(center)[-1]["customs_status_zh"] == "未用"


# A check: what an operation would do, nothing done.


async def test_a_check_lists_each_forms_statuses_and_what_the_operation_would_do(center: Center, desk: Desk) -> None:
    first, second, used = center.issue_forms(ENTERPRISE, 3)
    await desk.one("filings", form_no=second, port="5300")
    await desk.one("filings", form_no=used, port="5300")
    use_form(center, used)
    before = feed(center)
    answer = await desk.send(
        "checks",
        [
            {"operation": "批量备案", "start_form_no": first, "count": 3, "port": "深圳海关"},
            {"operation": "losses", "form_no": first},
            {"operation": "企业交单", "form_no": used},
            {"operation": "filings", "form_no": "999999999", "port": "5300"},
        ],
    )
    results = answer["results"]
    assert codes(answer) == ["OK", "FORM_ALREADY_FILED", "FORM_ALREADY_USED", "OK", "OK", "FORM_NOT_FOUND"]
    assert (
        "可以口岸备案（仅为核对，未做任何更改）" in results[0]["message_zh"] and "口岸5300" in results[0]["message_zh"]
    )
    assert (results[1]["customs_status_zh"], results[1]["filed_port"]) == ("未用，已上传海关，可报关", "5300")
    assert results[3]["customs_status_zh"] == "未用"  # the statuses now, before the check's own operations
    assert "已挂失" not in results[3]["message_zh"] and "挂失" in results[3]["message_zh"]
    assert results[4]["message_zh"].startswith("可以交单")
    assert status(center, first) == ("valid", "unused", "not_submitted") and feed(center) == before


# The manual's words and forms.


async def test_batch_submission_answers_as_the_manual_does(center: Center, desk: Desk) -> None:
    forms = center.issue_forms(ENTERPRISE, 2)
    await desk.send("filings", [{"start_form_no": forms[0], "count": 2, "port": "5300"}])
    for form_no in forms:
        use_form(center, form_no)
    answer = await desk.send("submissions", [{"start_form_no": forms[0], "count": 2}])
    assert [r["message_zh"] for r in answer["results"]] == ["交单成功", "交单成功"]  # 批量交单


async def test_queries_take_the_manuals_condition_and_dates_as_excel_writes_them(center: Center, desk: Desk) -> None:
    forms = center.issue_forms(ENTERPRISE, 2)
    today = db.business_date(db.utcnow())
    for op in ("以……开始", "以…开始", "以...开始", "prefix"):
        answer = await desk.query(("核销单", "核销单号", op, forms[0][:7]))
        assert [r["form_no"] for r in answer["rows"]] == forms, op
    for written in (
        f"{today.year}/{today.month}/{today.day}",
        f"{today.year}-{today.month}-{today.day}",
        f"{today.year}年{today.month}月{today.day}日",
    ):
        answer = await desk.query(("核销单", "发单日期", "等于", written))
        assert codes(answer) == ["OK"] and len(answer["rows"]) == 2, written
    month = await desk.query(("核销单", "发单日期", "以……开始", f"{today.year}年{today.month}月"))
    assert len(month["rows"]) == 2
    await desk.one("filings", form_no=forms[0], port="5300")
    day = center.new_declaration_no("5300", dt.date(2026, 12, 2))
    assert center.customs_use(forms[0], day, "5300", "2026/12/2")["form"]["export_date"] == "2026-12-02"


async def test_a_port_that_is_not_exact_is_refused_with_the_ports_meant(center: Center, desk: Desk) -> None:
    [form_no] = center.issue_forms(ENTERPRISE, 1)
    result = await desk.one("filings", form_no=form_no, port="深圳")
    assert result["code"] == "PORT_NOT_FOUND"
    assert "您是否要填：5300 深圳海关" in result["message_zh"] and "did you mean: 5300 深圳海关" in result["message_en"]
    typo = await desk.one("filings", form_no=form_no, port="深训海关")
    assert "5300 深圳海关" in typo["message_zh"]
    assert (await desk.one("filings", form_no=form_no, port="5300"))["code"] == "OK"


def test_the_organisation_codes_check_character() -> None:
    assert org_check_character("D2143569") == "X"  # GB 11714's own example
    assert check_org_code("d2143569x") == check_org_code(" D2143569-X ") == "D2143569-X"
    for wrong in ("D2143569-1", "D214356-X", "D2143569"):
        with pytest.raises(Refusal, match="ORG_CODE_INVALID"):
            check_org_code(wrong)


# A center made before.


def test_a_center_made_before_gets_the_organisation_code_and_keeps_its_cards_permissions(db_url: str) -> None:
    from tests.center_support import enroll

    with open_center(db_url) as center:
        card = enroll(center, fx_days=None)
        with center.engine.begin() as conn:
            conn.execute(sa.delete(db.card_permissions))  # as before permissions had their own table
            conn.execute(sa.update(db.operators).values(fx_permission_until=dt.date(2099, 1, 1)))
            conn.exec_driver_sql("DROP INDEX ux_enterprises_org_code")
            conn.exec_driver_sql("ALTER TABLE enterprises DROP COLUMN org_code")
    with Center.open(db_url) as center:
        assert center.create_enterprise(ENTERPRISE, "杭州测试进出口有限公司", "D2143569-X") is False
        assert center.access_accounts(ENTERPRISE)["org_code"] == "D2143569-X"
        [facts] = center.permission_requests(ENTERPRISE)["cards"]
        assert (facts["permission"], facts["until"]) == ("valid", "2099-01-01")  # what its enrollment gave it
        assert card.enterprise == ENTERPRISE


async def test_the_new_answers_are_as_the_api_description_says(center: Center, desk: Desk) -> None:
    spec = openapi_spec()

    def check(name: str, instance: Any) -> None:
        schema = {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}
        jsonschema.validate(instance, schema, cls=jsonschema.Draft202012Validator)

    unified_no = (await desk.one("applications", copies=2))["unified_no"]
    center.safe_approve(unified_no)
    [form_no, _] = center.safe_issue(unified_no=unified_no)["forms"]
    check("Updates", {"updates": feed(center)})
    check("BatchAnswer", await desk.send("checks", [{"operation": "口岸备案", "form_no": form_no, "port": "5300"}]))
    check("PermissionRequests", center.permission_requests(ENTERPRISE))
    check("CardPermission", center.safe_end_permission("CARD-0001"))
    check("AccessAccounts", center.access_accounts(ENTERPRISE))
