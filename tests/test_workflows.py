"""The manual's workflows from the clerk's folder, every repeat included, each a round trip through the real center on
loopback with the agent in process (issue 11): a submission dropped again after customs modified the declaration, a
query dropped again after a confirmed cancellation, a file refused for want of a 17999 account dropped again once
one is registered, an accidental double drop, the applications hold and ``eport-agent resend``, a new card's and an
expired card's FX permission (said up front, refused, approved at three levels, accepted), 以……开始 and dates as
Excel writes them, the ports a clerk may have meant, a check, SAFE's approval and issuing as update rows, and the
guide."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from agent.facade import Agent
from agent.store import Store
from agent.workspace import Workspace
from center.service import Center
from tests.center_support import (
    approve_at_three_levels,
    eventually,
    legal_person,
    open_center,
    permission_request,
    use_form,
    wait_for,
)
from tests.rigs import ENTERPRISE, agent_cli, enrolled_card, loopback_agent
from tests.tables import read_table
from tray.state import Level, tray_view


@pytest.fixture
def center(tmp_path: Path) -> Iterator[Center]:
    with open_center(tmp_path, [ENTERPRISE]) as center:
        yield center


@asynccontextmanager
async def clerk(center: Center, root: Path, **options: Any) -> AsyncIterator[tuple[Agent, Workspace]]:
    """The agent of a PC enrolled with its device key (it pulls updates and reads its card's permission)."""
    async with loopback_agent(center, root, device=True, **options) as (agent, workspace, _port):
        yield agent, workspace


def drop(workspace: Workspace, folder: str, name: str, text: str) -> Path:
    path = workspace.inbox / folder / name if folder else workspace.inbox / name
    path.write_bytes(text.encode("utf-8"))
    return path


async def answer(folder: Path, stem: str, copy: int = 1) -> list[dict[str, str]]:
    """The result table of the ``copy``-th file of this name (a file dropped again gets "<stem> (2).result.csv")."""
    name = f"{stem}.result.csv" if copy == 1 else f"{stem} ({copy}).result.csv"
    return read_table(await wait_for(folder / name, 15))


async def errors(workspace: Workspace, stem: str) -> str:
    return (await wait_for(workspace.errors / f"{stem}.errors.csv", 15)).read_text(encoding="utf-8-sig")


# Repeats as a clerk means them.


async def test_a_submission_dropped_again_after_customs_modified_the_declaration_is_submitted_again(
    center: Center, tmp_path: Path
) -> None:
    [form_no] = center.issue_forms(ENTERPRISE, 1)
    async with clerk(center, tmp_path / "ws") as (_agent, workspace):
        drop(workspace, "filings", "f.csv", f"form_no,port\n{form_no},2200\n")
        assert (await answer(workspace.results, "f"))[0]["code"] == "OK"
        declaration_no = use_form(center, form_no, port="2200")
        submission = f"form_no,declaration_no\n{form_no},{declaration_no}\n"
        drop(workspace, "submissions", "s.csv", submission)
        [first] = await answer(workspace.results, "s")
        assert (first["code"], first["message"].split(" / ")[0]) == ("OK", "交单完成")  # 企业交单, in its words
        center.customs_modify(declaration_no, amount="20000.00")  # FAQ 2 (2): 需要企业再次执行交单操作
        drop(workspace, "submissions", "s.csv", submission)
        [again] = await answer(workspace.results, "s", 2)
        assert again["code"] == "OK" and again["message"].startswith("交单完成（与 s.csv（")
        assert center.form(form_no)["submission_status"] == "submitted"  # type: ignore[index]
        drop(workspace, "submissions", "s.csv", submission)  # nothing changed since: a real double
        [double] = await answer(workspace.results, "s", 3)
        assert double["code"] == "ALREADY_SUBMITTED" and "内容相同" in double["message"]


async def test_the_same_query_dropped_again_after_a_confirmed_cancellation_answers_the_new_state(
    center: Center, tmp_path: Path
) -> None:
    [form_no] = center.issue_forms(ENTERPRISE, 1)
    query = f"business,attribute,op,value\n核销单,核销单号,等于,{form_no}\n"
    async with clerk(center, tmp_path / "ws") as (_agent, workspace):
        drop(workspace, "filings", "f.csv", f"form_no,port\n{form_no},2200\n")
        await answer(workspace.results, "f")
        drop(workspace, "cancellations", "c.csv", f"form_no\n{form_no}\n")
        await answer(workspace.results, "c")
        drop(workspace, "queries", "q.csv", query)
        [pending] = await answer(workspace.queries, "q")
        assert pending["customs_status_zh"] == "撤销备案待确认"
        center.customs_confirm_cancel(form_no)  # ch. 7: query again to see whether the cancellation was confirmed
        drop(workspace, "queries", "q.csv", query)
        [confirmed] = await answer(workspace.queries, "q", 2)
        assert (confirmed["customs_status_zh"], confirmed["port"]) == ("未用", "")


async def test_a_file_refused_for_want_of_a_17999_account_is_processed_when_dropped_again(tmp_path: Path) -> None:
    with open_center(tmp_path, [ENTERPRISE], access=False) as center:
        [form_no] = center.issue_forms(ENTERPRISE, 1)
        async with clerk(center, tmp_path / "ws") as (_agent, workspace):
            text = f"form_no,port\n{form_no},2200\n"
            drop(workspace, "filings", "f.csv", text)
            assert (await answer(workspace.results, "f"))[0]["code"] == "ACCESS_ACCOUNT_REQUIRED"
            center.access_register(ENTERPRISE, "02012345678@17999.e163", "leased-line")
            drop(workspace, "filings", "f.csv", text)
            [row] = await answer(workspace.results, "f", 2)
            assert row["code"] == "OK" and "与 f.csv（" in row["message"] and "放入）内容相同" in row["message"]
            assert "the same content as f.csv (dropped " in row["message"]


async def test_an_accidental_double_drop_is_answered_once_with_the_first_copys_outcome(
    center: Center, tmp_path: Path
) -> None:
    [form_no] = center.issue_forms(ENTERPRISE, 1)
    async with clerk(center, tmp_path / "ws", unlocked=False) as (agent, workspace):
        text = f"form_no,port\n{form_no},2200\n"
        drop(workspace, "filings", "f.csv", text)  # waits for the card: still on its way
        await eventually(lambda: Store(workspace.store_file).counts(), 15, "f.csv was not read")
        drop(workspace, "", "备案-副本.csv", text)  # the same bytes, a copy into another folder
        said = await errors(workspace, "备案-副本")
        assert "重复文件：内容与 f.csv（" in said and "还在处理中" in said and "等待操作员卡签名" in said
        await asyncio.to_thread(agent.unlock, "123456")
        [row] = await answer(workspace.results, "f")
        assert row["code"] == "OK"
        assert Store(workspace.store_file).counts() == {"delivered": 1}, "sent once"
        assert not (workspace.results / "备案-副本.result.csv").exists()


async def test_an_applications_file_applied_within_24_hours_is_held_until_the_clerk_resends_it(
    center: Center, tmp_path: Path
) -> None:
    async with clerk(center, tmp_path / "ws") as (_agent, workspace):
        drop(workspace, "", "核销单申请0601.csv", "copies\n5\n")  # the manual's menu name as the file's prefix
        [first] = await answer(workspace.results, "核销单申请0601")
        assert first["code"] == "OK" and first["unified_no"]
        drop(workspace, "", "核销单申请0601.csv", "copies\n5\n")
        said = await errors(workspace, "核销单申请0601")
        assert "暂未发送" in said and "eport-agent resend 核销单申请0601.csv" in said
        await asyncio.sleep(0)  # nothing was sent: still one application
        ran = await asyncio.to_thread(agent_cli, "resend", "核销单申请0601.csv", "--workspace", str(workspace.root))
        [copy] = re.findall(r"核销单申请0601\.重发\d+", ran.out)
        assert ran.code == 0, ran
        [again] = await answer(workspace.results, copy)
        assert again["code"] == "OK" and again["unified_no"] != first["unified_no"]
        assert "按您的要求再次发送" in again["message"]


# The FX permission, apart from the certificate.


async def test_a_new_card_is_refused_until_safe_approves_it_at_three_levels_then_accepted(
    center: Center, tmp_path: Path
) -> None:
    [form_no] = center.issue_forms(ENTERPRISE, 1)
    card = enrolled_card(center, fx_days=None)  # FAQ 3 (2): 新申领IC卡…暂无出口收汇权限
    async with clerk(center, tmp_path / "ws", card=card) as (agent, workspace):
        # Said up front, before anything is dropped: status, card info and the tray (at the agent's first sync).
        def said() -> bool:
            return any(w.startswith("出口收汇不可用：IC卡") and "未开通" in w for w in agent.status()["warnings"])

        await eventually(said, 15, "the missing permission was not said")
        assert tray_view(agent.status()).level is Level.ATTENTION
        info = await asyncio.to_thread(agent_cli, "card", "info", "--workspace", str(workspace.root))
        assert "出口收汇权限：未开通" in info.out and "permission request --card" in info.out
        drop(workspace, "filings", "f.csv", f"form_no,port\n{form_no},2200\n")
        [refused] = await answer(workspace.results, "f")
        assert refused["code"] == "FX_PERMISSION_NOT_GRANTED" and "“出口收汇”显示为灰色" in refused["message"]
        serial = agent.card_info()["serial"]
        request = center.request_permission(permission_request(legal_person(center, ENTERPRISE), serial))
        approve_at_three_levels(center, request)
        await agent.sync_now()
        assert not any("出口收汇" in w for w in agent.status()["warnings"])
        assert agent.card_info()["fx_permission"]["permission"] == "valid"
        drop(workspace, "filings", "f.csv", f"form_no,port\n{form_no},2200\n")
        assert (await answer(workspace.results, "f", 2))[0]["code"] == "OK"


async def test_an_expired_permission_is_said_and_refused_until_it_is_extended(center: Center, tmp_path: Path) -> None:
    [form_no] = center.issue_forms(ENTERPRISE, 1)
    async with clerk(center, tmp_path / "ws") as (agent, workspace):
        serial = agent.card_info()["serial"]
        center.safe_end_permission(serial)
        await agent.sync_now()
        yesterday = (dt.date.today() - dt.timedelta(days=1)).isoformat()
        status = await asyncio.to_thread(agent_cli, "status", "--workspace", str(workspace.root))
        assert f"出口收汇不可用：IC卡 {serial} 的外汇权限已于 {yesterday} 到期" in status.out and status.code == 1
        drop(workspace, "filings", "f.csv", f"form_no,port\n{form_no},2200\n")
        assert (await answer(workspace.results, "f"))[0]["code"] == "FX_PERMISSION_EXPIRED"
        request = permission_request(legal_person(center, ENTERPRISE), serial)
        approve_at_three_levels(center, center.request_permission(request))
        await agent.sync_now()
        drop(workspace, "filings", "f.csv", f"form_no,port\n{form_no},2200\n")
        assert (await answer(workspace.results, "f", 2))[0]["code"] == "OK"


# Everything the manual writes, as written.


async def test_queries_as_the_manual_writes_them_and_dates_as_excel_writes_them(center: Center, tmp_path: Path) -> None:
    forms = center.issue_forms(ENTERPRISE, 2)
    today = dt.date.today()
    async with clerk(center, tmp_path / "ws") as (_agent, workspace):
        drop(workspace, "", "组合查询-号段.csv", f"业务类型,属性,运算,值\n核销单,核销单号,以……开始,{forms[0][:7]}\n")
        assert [r["form_no"] for r in await answer(workspace.queries, "组合查询-号段")] == forms
        for n, written in enumerate(
            (f"{today:%Y}/{today.month}/{today.day}", f"{today:%Y}年{today.month}月{today.day}日")
        ):
            drop(workspace, "queries", f"d{n}.csv", f"business,attribute,op,value\nform,issue_date,等于,{written}\n")
            assert len(await answer(workspace.queries, f"d{n}")) == 2, written
        drop(workspace, "queries", "none.csv", "business,attribute,op,value\n")
        said = await errors(workspace, "none")
        assert "必须输入查询条件。如果希望查到多票核销单，请选择条件“以……开始”" in said  # FAQ 6


async def test_a_port_that_is_not_exact_is_refused_with_the_ports_meant_and_can_be_looked_up(
    center: Center, tmp_path: Path
) -> None:
    [form_no] = center.issue_forms(ENTERPRISE, 1)
    async with clerk(center, tmp_path / "ws") as (_agent, workspace):
        await eventually(lambda: Store(workspace.store_file).ports(), 15, "the port table was not fetched")
        drop(workspace, "", "口岸备案0601.csv", f"form_no,port\n{form_no},深圳\n")
        said = await errors(workspace, "口岸备案0601")
        assert "您是否要填：5300 深圳海关" in said
        found = await asyncio.to_thread(agent_cli, "ports", "search", "深圳", "--workspace", str(workspace.root))
        assert found.code == 0 and found.out.splitlines()[0] == "5300 深圳海关"
        ports = read_table(workspace.root / "templates" / "ports.csv")
        assert {"port": "5300", "port_name": "深圳海关"} in ports and (
            workspace.root / "templates" / "ports.xlsx"
        ).exists()


async def test_a_check_answers_what_a_batch_filing_would_do_and_changes_nothing(center: Center, tmp_path: Path) -> None:
    forms = center.issue_forms(ENTERPRISE, 3)
    async with clerk(center, tmp_path / "ws") as (_agent, workspace):
        drop(workspace, "filings", "f.csv", f"form_no,port\n{forms[1]},2200\n")
        await answer(workspace.results, "f")
        drop(workspace, "", "预览批量备案0601.csv", f"start_form_no,count,port\n{forms[0]},3,5300\n")
        rows = await answer(workspace.results, "预览批量备案0601")
        assert [(r["form_no"], r["code"]) for r in rows] == [
            (forms[0], "OK"),
            (forms[1], "FORM_ALREADY_FILED"),
            (forms[2], "OK"),
        ]
        assert rows[1]["customs_status_zh"] == "未用，已上传海关，可报关" and rows[1]["filed_port"] == "2200"
        assert rows[0]["message"].startswith("可以口岸备案（仅为核对，未做任何更改）")
        assert center.form(forms[0])["customs_status"] == "unused"  # type: ignore[index]


async def test_safes_approval_and_issuing_reach_the_clerk_as_update_rows_and_forms_csv_has_each_form(
    center: Center, tmp_path: Path
) -> None:
    async with clerk(center, tmp_path / "ws") as (agent, workspace):
        drop(workspace, "applications", "a.csv", "copies\n2\n")
        [applied] = await answer(workspace.results, "a")
        center.safe_approve(applied["unified_no"])
        issued = center.safe_issue(unified_no=applied["unified_no"])["forms"]
        await agent.sync_now()
        updates = [r for p in sorted((workspace.outbox / "updates").glob("*.csv")) for r in read_table(p)]
        events = [(u["event_zh"], u["unified_no"], u["count"], u["forms"]) for u in updates if not u["form_no"]]
        assert events == [
            ("申请已审批", applied["unified_no"], "2", ""),
            ("申请已发放", applied["unified_no"], "2", f"{issued[0]}-{issued[1]}"),
        ]
        forms = {f["form_no"]: f for f in read_table(workspace.outbox / "forms.csv")}
        assert forms[issued[0]]["unified_no"] == applied["unified_no"] and forms[issued[0]]["revoked_zh"] == "否"
        center.safe_revoke_issuance(issued[1])
        await agent.sync_now()
        forms = {f["form_no"]: f for f in read_table(workspace.outbox / "forms.csv")}
        assert (forms[issued[1]]["revoked_zh"], forms[issued[1]]["safe_status_zh"]) == ("是", "注销")
        assert forms[issued[1]]["event_zh"] == "发放已撤销"


async def test_the_guide_from_the_installed_agent(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path / "ws")
    workspace.init()
    assert sorted(p.name for p in (workspace.root / "guide").iterdir()) == ["业务介绍.md", "填写规范.md", "操作指南.md"]
    shown = await asyncio.to_thread(agent_cli, "guide", "操作指南", "--workspace", str(workspace.root))
    assert shown.code == 0 and "### 同一个文件再次放入" in shown.out and "eport-agent resend" in shown.out
    everything = await asyncio.to_thread(agent_cli, "guide", "--workspace", str(workspace.root))
    assert everything.out.startswith("# 业务介绍") and "# 操作指南" in everything.out and "填写规范" in everything.out
