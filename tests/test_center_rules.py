"""Every rule of docs/OPERATOR.md (1–8, 11) and each of its refusals, written from the manual's words, through the real
app on loopback, on SQLite and PostgreSQL. Authority operations are called on the Center (their HTTP and CLI forms
are tested in test_center_admin.py)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from center import db
from center.refusals import Refusal
from center.service import Center
from sync.protocol import API_BATCHES
from tests.center_support import (
    ENTERPRISE,
    Client,
    Desk,
    codes,
    filing_payload,
    status,
    use_form,
)


def refused(code: str, call: Any, *args: Any, **kwargs: Any) -> Refusal:
    with pytest.raises(Refusal) as caught:
        call(*args, **kwargs)
    assert caught.value.code == code, caught.value
    return caught.value


def today() -> str:
    return db.business_date(db.utcnow()).isoformat()


# Rule 1: 核销单申请.


async def test_apply_gives_a_unified_number_and_the_date(center: Center, desk: Desk) -> None:
    answer = await desk.send("applications", [{"copies": 50, "remark": "五月出口"}, {"copies": 1, "remark": ""}])
    first, second = answer["results"]
    assert (first["status"], first["code"], first["apply_date"]) == ("OK", "OK", today())
    assert re.fullmatch(r"[0-9]{12}", first["unified_no"]) and first["unified_no"].startswith(today()[:4])
    assert second["unified_no"] != first["unified_no"]
    assert first["message_zh"] == f"核销单申请成功，统一编号{first['unified_no']}。"
    rows = (await desk.query(("application", "unified_no", "eq", first["unified_no"])))["rows"]
    assert [(r["copies"], r["remark"], r["apply_date"]) for r in rows] == [(50, "五月出口", today())]


@pytest.mark.parametrize("copies", [0, 1001, "5", None, True])
async def test_apply_copies_must_be_1_to_1000(desk: Desk, copies: Any) -> None:
    answer = await desk.send("applications", [{"copies": copies}, {"copies": 1000}])
    assert codes(answer) == ["COPIES_INVALID", "OK"]
    assert answer["results"][0]["unified_no"] is None


async def test_apply_remark_must_be_text(desk: Desk) -> None:
    assert (await desk.one("applications", copies=1, remark=7))["code"] == "RECORD_INVALID"


# Rule 2: SAFE approves (审批表) and issues (发放登记表).


async def test_approve_and_issue_against_the_application(center: Center, desk: Desk) -> None:
    unified_no = (await desk.one("applications", copies=3))["unified_no"]
    approval = center.safe_approve(unified_no)
    assert approval == {
        "unified_no": unified_no,
        "enterprise": ENTERPRISE,
        "approved_copies": 3,
        "approval_date": today(),
    }
    issued = center.safe_issue(unified_no=unified_no)
    assert (issued["unified_no"], issued["enterprise"], len(issued["forms"])) == (unified_no, ENTERPRISE, 3)
    assert {status(center, n) for n in issued["forms"]} == {("valid", "unused", "not_submitted")}
    register = (await desk.query(("issuance", "issue_date", "eq", today())))["rows"]
    assert [(r["form_no"], r["unified_no"], r["issue_date"], r["revoked"]) for r in register] == [
        (n, unified_no, today(), False) for n in issued["forms"]
    ]
    approvals = (await desk.query(("approval", "unified_no", "eq", unified_no)))["rows"]
    assert [(r["approved_copies"], r["approval_date"]) for r in approvals] == [(3, today())]


async def test_approve_fewer_copies_than_applied(center: Center, desk: Desk) -> None:
    unified_no = (await desk.one("applications", copies=10))["unified_no"]
    assert center.safe_approve(unified_no, copies=4)["approved_copies"] == 4
    assert len(center.safe_issue(unified_no=unified_no)["forms"]) == 4


async def test_approval_and_issue_refusals(center: Center, desk: Desk) -> None:
    refused("APPLICATION_NOT_FOUND", center.safe_approve, "209900000099")
    refused("APPLICATION_NOT_FOUND", center.safe_issue, unified_no="209900000099")
    unified_no = (await desk.one("applications", copies=2))["unified_no"]
    refused("APPROVAL_NOT_FOUND", center.safe_issue, unified_no=unified_no)  # not approved yet: nothing to issue
    refused("COPIES_INVALID", center.safe_approve, unified_no, copies=0)
    center.safe_approve(unified_no)
    refused("APPLICATION_ALREADY_APPROVED", center.safe_approve, unified_no)
    center.safe_issue(unified_no=unified_no)
    refused("APPROVAL_ALREADY_ISSUED", center.safe_issue, unified_no=unified_no)
    refused("ARGUMENT_INVALID", center.safe_issue, unified_no=unified_no, enterprise=ENTERPRISE, copies=1)
    refused("ARGUMENT_INVALID", center.safe_issue)


# Rule 3: 口岸备案 / 批量备案, by range (the single-form cases are in test_center_batches.py).


async def test_file_a_range_each_form_answered_on_its_own(center: Center, desk: Desk) -> None:
    forms = center.issue_forms(ENTERPRISE, 4)
    center.safe_issue(enterprise=ENTERPRISE, copies=1)
    await desk.one("losses", form_no=forms[2])
    answer = await desk.send("filings", [{"start_form_no": forms[0], "count": 5, "port": "深圳海关"}])
    assert [(r["seq"], r["form_no"], r["code"]) for r in answer["results"]] == [
        (1, forms[0], "OK"),
        (1, forms[1], "OK"),
        (1, forms[2], "FORM_NOT_VALID"),
        (1, forms[3], "OK"),
        (1, f"{int(forms[3]) + 1:09d}", "OK"),
    ]
    assert status(center, forms[0])[1] == "filed" and (center.form(forms[0]) or {})["port"] == "5300"


async def test_range_that_does_not_fit_is_refused_form_by_form(desk: Desk) -> None:
    answer = await desk.send(
        "filings",
        [
            {"start_form_no": "999999998", "count": 3, "port": "5300"},
            {"start_form_no": "ABCDEFGHI", "count": 2, "port": "5300"},
        ],
    )
    assert codes(answer) == ["RANGE_INVALID"] * 5
    assert "999999998" in answer["results"][0]["message_en"]


@pytest.mark.parametrize("count", [0, 1001, "3", None])
async def test_range_count_is_capped(center: Center, desk: Desk, client: Client, count: Any) -> None:
    payload = filing_payload("too-many", [{"seq": 1, "start_form_no": "000000001", "count": count, "port": "5300"}])
    response = await client.post(API_BATCHES, json=desk.card.sign(payload))
    answer = await response.json()
    assert (response.status, answer["code"]) == (400, "RANGE_COUNT_INVALID")
    assert "1000" in answer["message_zh"]


async def test_refiling_only_after_a_confirmed_cancellation(center: Center, desk: Desk) -> None:
    [form_no] = center.issue_forms(ENTERPRISE, 1)
    assert (await desk.one("filings", form_no=form_no, port="5300"))["code"] == "OK"
    assert (await desk.one("filings", form_no=form_no, port="2200"))["code"] == "FORM_ALREADY_FILED"
    assert (await desk.one("cancellations", form_no=form_no))["code"] == "OK"
    assert (await desk.one("filings", form_no=form_no, port="2200"))["code"] == "FORM_ALREADY_FILED"
    center.customs_confirm_cancel(form_no)
    assert (await desk.one("filings", form_no=form_no, port="2200"))["code"] == "OK"
    assert (center.form(form_no) or {})["port"] == "2200"


# Rule 4: 撤销备案, and customs' confirmation or refusal.


async def test_cancel_a_filing_waits_for_customs(center: Center, desk: Desk) -> None:
    [form_no] = center.issue_forms(ENTERPRISE, 1)
    await desk.one("filings", form_no=form_no, port="5300")
    result = await desk.one("cancellations", form_no=form_no)
    assert result["code"] == "OK" and "需等待备案海关系统确认" in result["message_zh"]
    assert status(center, form_no)[1] == "cancel_pending"
    assert (center.form(form_no) or {})["customs_status_zh"] == "撤销备案待确认"
    assert (await desk.one("cancellations", form_no=form_no))["code"] == "CANCEL_ALREADY_PENDING"
    confirmed = center.customs_confirm_cancel(form_no)["form"]
    assert (confirmed["customs_status"], confirmed["port"]) == ("unused", None)


async def test_customs_refuses_a_cancellation(center: Center, desk: Desk) -> None:
    [form_no] = center.issue_forms(ENTERPRISE, 1)
    await desk.one("filings", form_no=form_no, port="5300")
    await desk.one("cancellations", form_no=form_no)
    refused_form = center.customs_refuse_cancel(form_no)["form"]
    assert (refused_form["customs_status"], refused_form["port"]) == ("filed", "5300")
    # The filing stands: the form can now be used at its port (this is why customs refuses).
    use_form(center, form_no)
    assert status(center, form_no)[1] == "used"


async def test_cancel_refusals(center: Center, desk: Desk) -> None:
    unused, used, lost = center.issue_forms(ENTERPRISE, 3)
    await desk.send("filings", [{"form_no": used, "port": "5300"}])
    use_form(center, used)
    await desk.one("losses", form_no=lost)
    answer = await desk.send("cancellations", [{"form_no": unused}, {"form_no": used}, {"form_no": lost}])
    assert codes(answer) == ["FORM_NOT_FILED", "FORM_ALREADY_USED", "FORM_NOT_VALID"]
    assert "尚未进行口岸备案" in answer["results"][0]["message_zh"]
    assert "不能撤销备案" in answer["results"][1]["message_zh"]
    refused("CANCEL_NOT_PENDING", center.customs_confirm_cancel, unused)
    refused("CANCEL_NOT_PENDING", center.customs_refuse_cancel, used)
    refused("FORM_NOT_FOUND", center.customs_confirm_cancel, "99999999Z")


# Rule 5: customs uses the form; the declaration's data arrives separately.


async def test_customs_uses_a_filed_form_at_its_port(center: Center, desk: Desk) -> None:
    [form_no] = center.issue_forms(ENTERPRISE, 1)
    await desk.one("filings", form_no=form_no, port="5300")
    form = center.customs_use(form_no, "530020241000000001", "深圳海关", "2024-05-06")["form"]
    assert (form["customs_status"], form["customs_status_zh"]) == ("used", "已用")
    assert (form["declaration_no"], form["export_date"], form["port"]) == ("530020241000000001", "2024-05-06", "5300")


async def test_use_refusals(center: Center, desk: Desk) -> None:
    unused, filed, pending, lost = center.issue_forms(ENTERPRISE, 4)
    await desk.send("filings", [{"form_no": n, "port": "5300"} for n in (filed, pending, lost)])
    await desk.one("cancellations", form_no=pending)
    await desk.one("losses", form_no=lost)
    number = "530020241000000001"
    refused("FORM_NOT_FILED", center.customs_use, unused, number, "5300", "2024-05-06")
    refused("PORT_MISMATCH", center.customs_use, filed, number, "2200", "2024-05-06")
    refused("FORM_CANCEL_PENDING", center.customs_use, pending, number, "5300", "2024-05-06")
    refused("FORM_NOT_VALID", center.customs_use, lost, number, "5300", "2024-05-06")
    refused("FORM_NOT_FOUND", center.customs_use, "99999999Z", number, "5300", "2024-05-06")
    refused("ARGUMENT_INVALID", center.customs_use, filed, "5300", "5300", "2024-05-06")
    refused("ARGUMENT_INVALID", center.customs_use, filed, number, "5300", "2024-13-01")
    refused("PORT_NOT_FOUND", center.customs_use, filed, number, "9999", "2024-05-06")
    center.customs_use(filed, number, "5300", "2024-05-06")
    refused("FORM_ALREADY_USED", center.customs_use, filed, number, "5300", "2024-05-06")


async def test_declaration_data_refusals(center: Center, desk: Desk) -> None:
    filed, used = center.issue_forms(ENTERPRISE, 2)
    await desk.send("filings", [{"form_no": n, "port": "5300"} for n in (filed, used)])
    number = use_form(center, used, declare=False)
    data = {
        "export_date": "2024-05-06",
        "port": "5300",
        "trade_mode": "一般贸易",
        "amount": "100.00",
        "currency": "USD",
    }
    refused("FORM_NOT_USED", center.customs_declare, "530020241000000099", filed, **data)
    refused("DECLARATION_MISMATCH", center.customs_declare, "530020241000000099", used, **data)
    refused("PORT_MISMATCH", center.customs_declare, number, used, **{**data, "port": "2200"})
    refused("ARGUMENT_INVALID", center.customs_declare, number, used, **{**data, "amount": "-5"})
    refused("ARGUMENT_INVALID", center.customs_declare, number, used, **{**data, "currency": "DOLLARS"})
    refused("NAME_REQUIRED", center.customs_declare, number, used, **{**data, "trade_mode": " "})
    center.customs_declare(number, used, **data)
    refused("DECLARATION_EXISTS", center.customs_declare, number, used, **data)
    refused("DECLARATION_NOT_FOUND", center.customs_modify, "530020241000000099", amount="5")
    rows = (await desk.query(("declaration", "approval_no", "eq", used)))["rows"]
    assert [(r["declaration_no"], r["amount"], r["currency"], r["trade_mode"]) for r in rows] == [
        (number, "100.00", "USD", "一般贸易")
    ]


# Rule 6: 企业交单 / 批量交单, with the two refusals of FAQ 1.


async def test_submit_a_used_form_whose_data_arrived(center: Center, desk: Desk) -> None:
    forms = center.issue_forms(ENTERPRISE, 2)
    await desk.send("filings", [{"start_form_no": forms[0], "count": 2, "port": "5300"}])
    for form_no in forms:
        use_form(center, form_no)
    answer = await desk.send("submissions", [{"start_form_no": forms[0], "count": 2, "declaration_no": ""}])
    assert codes(answer) == ["OK", "OK"] and answer["results"][0]["message_zh"] == "交单成功"
    form = center.form(forms[0]) or {}
    assert (form["submission_status"], form["submission_status_zh"], form["submit_date"]) == (
        "submitted",
        "已交单",
        today(),
    )


async def test_a_filed_form_cannot_be_submitted_faq_1_1(center: Center, desk: Desk) -> None:
    [form_no] = center.issue_forms(ENTERPRISE, 1)
    await desk.one("filings", form_no=form_no, port="5300")
    result = await desk.one("submissions", form_no=form_no)
    assert result["code"] == "FORM_FILED_NOT_USED"
    assert "未用，已上传海关，可报关" in result["message_zh"] and "补验核" in result["message_zh"]
    assert "supplementary verification" in result["message_en"]
    assert status(center, form_no)[2] == "not_submitted"


async def test_used_but_declaration_data_not_arrived_faq_1_2(center: Center, desk: Desk) -> None:
    [form_no] = center.issue_forms(ENTERPRISE, 1)
    await desk.one("filings", form_no=form_no, port="5300")
    use_form(center, form_no, declare=False)
    result = await desk.one("submissions", form_no=form_no)
    assert result["code"] == "DECLARATION_NOT_ARRIVED"
    assert "报关单电子数据还没有从海关传送到电子口岸" in result["message_zh"] and "热线" in result["message_zh"]
    assert "hotline" in result["message_en"]


async def test_an_unused_form_cannot_be_submitted(center: Center, desk: Desk) -> None:
    [form_no] = center.issue_forms(ENTERPRISE, 1)
    result = await desk.one("submissions", form_no=form_no)
    assert result["code"] == "FORM_NOT_USED" and "不能交单" in result["message_zh"]


async def test_resubmission_only_after_the_declaration_was_modified(center: Center, desk: Desk) -> None:
    [form_no] = center.issue_forms(ENTERPRISE, 1)
    await desk.one("filings", form_no=form_no, port="5300")
    number = use_form(center, form_no)
    assert (await desk.one("submissions", form_no=form_no))["code"] == "OK"
    assert (await desk.one("submissions", form_no=form_no))["code"] == "ALREADY_SUBMITTED"
    form = center.customs_modify(number, amount="999.99")["form"]
    assert (form["submission_status"], form["submission_status_zh"]) == ("resubmit_required", "报关单已修改需重新交单")
    assert (await desk.one("submissions", form_no=form_no, declaration_no=number))["code"] == "OK"
    assert status(center, form_no)[2] == "submitted"


async def test_modifying_before_submission_changes_no_status(center: Center, desk: Desk) -> None:
    [form_no] = center.issue_forms(ENTERPRISE, 1)
    await desk.one("filings", form_no=form_no, port="5300")
    number = use_form(center, form_no)
    center.customs_modify(number, trade_mode="来料加工", currency="eur")
    assert status(center, form_no) == ("valid", "used", "not_submitted")
    [row] = (await desk.query(("declaration", "approval_no", "eq", form_no)))["rows"]
    assert (row["trade_mode"], row["currency"]) == ("来料加工", "EUR") and row["modified_at"]


async def test_declaration_number_cross_check(center: Center, desk: Desk) -> None:
    first, second = center.issue_forms(ENTERPRISE, 2)
    await desk.send("filings", [{"form_no": n, "port": "5300"} for n in (first, second)])
    number = use_form(center, first)
    use_form(center, second)
    answer = await desk.send(
        "submissions",
        [
            {"form_no": first, "declaration_no": "530020241999999999"},
            {"form_no": second, "declaration_no": "12345"},
            {"form_no": first, "declaration_no": number},
        ],
    )
    assert codes(answer) == ["DECLARATION_MISMATCH", "RECORD_INVALID", "OK"]


# Rule 7: 核销单挂失, only 有效 and customs 未用 (unused, or filed: "未用，已上传海关，可报关").


async def test_report_lost_an_unused_and_a_filed_form(center: Center, desk: Desk) -> None:
    unused, filed = center.issue_forms(ENTERPRISE, 2)
    await desk.one("filings", form_no=filed, port="5300")
    answer = await desk.send("losses", [{"start_form_no": unused, "count": 2}])
    assert codes(answer) == ["OK", "OK"] and answer["results"][0]["message_zh"] == "核销单挂失成功"
    assert (center.form(unused) or {})["safe_status_zh"] == "挂失"
    # A filed form reported lost leaves customs' 可报关 state: its port filing is released (docs/OPERATOR.md).
    assert status(center, filed) == ("lost", "unused", "not_submitted")
    assert (center.form(filed) or {})["port"] is None
    with pytest.raises(Refusal) as used:
        center.customs_use(filed, center.new_declaration_no("5300", dt.date(2024, 5, 6)), "5300", "2024-05-06")
    assert used.value.code == "FORM_NOT_VALID"


async def test_loss_refusals(center: Center, desk: Desk) -> None:
    used, pending, lost = center.issue_forms(ENTERPRISE, 3)
    await desk.send("filings", [{"form_no": n, "port": "5300"} for n in (used, pending)])
    use_form(center, used)
    await desk.one("cancellations", form_no=pending)
    await desk.one("losses", form_no=lost)
    answer = await desk.send("losses", [{"form_no": used}, {"form_no": pending}, {"form_no": lost}])
    assert codes(answer) == ["FORM_ALREADY_USED", "FORM_CANCEL_PENDING", "FORM_NOT_VALID"]
    assert "不能挂失" in answer["results"][0]["message_zh"]


async def test_a_lost_form_can_never_be_filed_used_or_submitted(center: Center, desk: Desk) -> None:
    [form_no] = center.issue_forms(ENTERPRISE, 1)
    await desk.one("filings", form_no=form_no, port="5300")
    await desk.one("losses", form_no=form_no)
    for kind, extra in (("filings", {"port": "2200"}), ("cancellations", {}), ("submissions", {}), ("losses", {})):
        result = await desk.one(kind, form_no=form_no, **extra)
        assert (result["code"], "挂失" in result["message_zh"]) == ("FORM_NOT_VALID", True), kind
    refused("FORM_NOT_VALID", center.customs_use, form_no, "530020241000000001", "5300", "2024-05-06")
    refused("FORM_NOT_VALID", center.safe_verify, form_no)
    assert status(center, form_no) == ("lost", "unused", "not_submitted")  # its filing released with the loss


# Rule 8: SAFE verifies a submitted form.


async def test_verify_a_submitted_form(center: Center, desk: Desk) -> None:
    done, resubmit, not_submitted = center.issue_forms(ENTERPRISE, 3)
    await desk.send("filings", [{"start_form_no": done, "count": 3, "port": "5300"}])
    numbers = {n: use_form(center, n) for n in (done, resubmit, not_submitted)}
    await desk.send("submissions", [{"form_no": done}, {"form_no": resubmit}])
    center.customs_modify(numbers[resubmit], amount="1.00")
    form = center.safe_verify(done)["form"]
    assert (form["safe_status"], form["safe_status_zh"]) == ("verified", "已核销")
    refused("FORM_NOT_SUBMITTED", center.safe_verify, resubmit)
    refusal = refused("FORM_NOT_SUBMITTED", center.safe_verify, not_submitted)
    assert "未交单" in refusal.zh
    refused("FORM_NOT_VALID", center.safe_verify, done)  # verified once is final
    assert (await desk.one("submissions", form_no=done))["code"] == "FORM_NOT_VALID"


# Rule 11: the operator card's FX permission.


@pytest.mark.parametrize(
    ("kind", "record"),
    [
        ("applications", {"copies": 1}),
        ("filings", {"form_no": "000000001", "port": "5300"}),
        ("cancellations", {"form_no": "000000001"}),
        ("submissions", {"form_no": "000000001"}),
        ("losses", {"start_form_no": "000000001", "count": 2}),
        ("queries", {"business": "form", "attribute": "form_no", "op": "prefix", "value": "0"}),
    ],
)
async def test_expired_fx_permission_refuses_every_business_operation(
    center: Center, desk: Desk, client: Client, kind: str, record: dict[str, Any]
) -> None:
    center.issue_forms(ENTERPRISE, 2)
    center.safe_set_permission("CARD-0001", until="2024-01-31")  # SAFE's term, apart from the certificate's
    payload = filing_payload("no-fx", [{"seq": 1, **record}], kind=kind)
    response = await client.post(API_BATCHES, json=desk.card.sign(payload))
    answer = await response.json()
    assert (response.status, answer["code"]) == (403, "FX_PERMISSION_EXPIRED")
    assert "法人卡" in answer["message_zh"] and "延期" in answer["message_zh"] and "2024-01-31" in answer["message_zh"]
    assert "legal-person card" in answer["message_en"]
    assert status(center, "000000001") == ("valid", "unused", "not_submitted")
