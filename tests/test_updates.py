"""The update feed (issue 5): changes made by the authorities reach outbox/updates exactly once and outbox/forms.csv
shows where every form stands; only an enrolled device of the enterprise may pull it."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from agent.facade import Agent
from agent.workspace import Workspace
from center.service import Center
from sync.client import CenterClient, CenterRefused
from sync.protocol import batch_document, canonical_json, sign_detached
from tests.center_support import open_center, wait_for
from tests.rigs import ENTERPRISE, agent_for, enroll_device, enrolled_card, loopback_agent, workspace_for
from tests.tables import local_zone, read_table, read_workbook

OTHER = "3102450002"


@dataclass
class Rig:
    center: Center
    workspace: Workspace
    agent: Agent
    port: int
    forms: list[str]


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    with open_center(tmp_path, [ENTERPRISE, OTHER]) as center:
        forms = center.issue_forms(ENTERPRISE, 3)
        center.issue_forms(OTHER, 2)  # another enterprise's changes never reach this agent
        async with loopback_agent(center, tmp_path / "ws", device=True) as (agent, workspace, port):
            yield Rig(center, workspace, agent, port, forms)


def read(path: Path) -> list[dict[str, str]]:
    return read_table(path)


def all_updates(workspace: Workspace) -> list[dict[str, str]]:
    return [row for path in sorted((workspace.outbox / "updates").glob("updates-*.csv")) for row in read(path)]


async def test_changes_reach_the_outbox_once_and_forms_csv_shows_where_each_form_stands(rig: Rig) -> None:
    announced: list[dict[str, str]] = []
    rig.agent.subscribe(announced.append)
    with local_zone("Asia/Shanghai"):
        await rig.agent.sync_now()
        issued = all_updates(rig.workspace)
        assert [(u["form_no"], u["event"]) for u in issued] == [(f, "issued") for f in rig.forms]
        assert issued[0]["safe_status_zh"] == "有效" and issued[0]["customs_status_zh"] == "未用"
        assert issued[0]["at"].endswith("+08:00"), "times in the clerk's local time, with the offset"

        (rig.workspace.inbox / "filings" / "a.csv").write_text(f"form_no,port\n{rig.forms[0]},2200\n")
        await wait_for(rig.workspace.results / "a.result.csv")
        declaration = rig.center.new_declaration_no("2200", dt.date(2026, 11, 27))
        rig.center.customs_use(rig.forms[0], declaration, "2200", "2026-11-27")
        await rig.agent.sync_now()
        await rig.agent.sync_now()  # nothing new: no new file, nothing repeated

    today = dt.datetime.now().astimezone(ZoneInfo("Asia/Shanghai")).date()
    pages = sorted(p.name for p in (rig.workspace.outbox / "updates").iterdir())
    assert pages == [f"updates-{today}.csv", f"updates-{today}.xlsx"], "one file a day, by the clerk's date"
    updates = all_updates(rig.workspace)
    seqs = [int(u["seq"]) for u in updates]
    assert seqs == sorted(set(seqs)), "every change once, in order"
    assert [(u["form_no"], u["event"]) for u in updates[3:]] == [(rig.forms[0], "filed"), (rig.forms[0], "used")]
    header, rows, _sheet = read_workbook(rig.workspace.outbox / "updates" / f"updates-{today}.xlsx")
    assert header[:3] == ["核销单号", "变更序号", "变更"] and header[-1] == "时间（UTC+08:00）"
    assert [(r[0], r[2]) for r in rows[3:]] == [(rig.forms[0], "已口岸备案"), (rig.forms[0], "已用于出口报关")]
    forms = {row["form_no"]: row for row in read(rig.workspace.outbox / "forms.csv")}
    assert sorted(forms) == sorted(rig.forms)
    # Form by form, as the manual's 上一单/下一单 shows it: the three statuses, the port, the dates, the numbers, all
    # in Chinese where they are words (是否撤销 否, the last change).
    used = forms[rig.forms[0]]
    assert (used["safe_status_zh"], used["customs_status_zh"], used["submission_status_zh"]) == (
        "有效",
        "已用",
        "未交单",
    )
    assert (used["port"], used["declaration_no"], used["export_date"]) == ("2200", declaration, "2026-11-27")
    assert (used["revoked_zh"], used["event_zh"], used["issue_date"]) == (
        "否",
        "已用于出口报关",
        issued[0]["issue_date"],
    )
    assert forms[rig.forms[1]]["customs_status_zh"] == "未用" and forms[rig.forms[1]]["event_zh"] == "已发放"
    form_header, form_rows, _sheet = read_workbook(rig.workspace.outbox / "forms.xlsx")
    assert form_header[:4] == ["核销单号", "外汇局使用状态（中文）", "海关使用状态（中文）", "交单状态（中文）"]
    assert {"发单日期", "统一编号", "报关单号", "出口日期", "交单日期", "是否撤销（中文）"} <= set(form_header)
    assert sorted(r[0] for r in form_rows) == sorted(rig.forms)
    assert not [a for a in announced if "forms" in a["path"]], "no notification for each rewrite of forms.csv"


async def test_a_crash_before_the_cursor_moved_rewrites_the_same_file(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = rig.agent.store.apply_updates

    def crash(*args: object) -> None:
        raise OSError("power cut")

    monkeypatch.setattr(rig.agent.store, "apply_updates", crash)
    await rig.agent.sync_now()  # the page is written, the cursor is not moved
    [day] = sorted((rig.workspace.outbox / "updates").glob("updates-*.csv"))
    assert len(read(day)) == 3
    monkeypatch.setattr(rig.agent.store, "apply_updates", real)
    rig.center.issue_forms(ENTERPRISE, 1)  # a new change arrives meanwhile
    await rig.agent.sync_now()
    assert sorted((rig.workspace.outbox / "updates").glob("updates-*.csv")) == [day]
    seqs = [int(u["seq"]) for u in read(day)]
    assert len(seqs) == 4 and seqs == sorted(set(seqs)), "the promised page once, then the new change"
    assert rig.agent.store.update_cursor() == max(seqs)


async def test_only_an_enrolled_device_of_the_enterprise_pulls_its_feed(rig: Rig, tmp_path: Path) -> None:
    anonymous = CenterClient(f"http://127.0.0.1:{rig.port}")
    other_ws = workspace_for(tmp_path / "other", rig.center, rig.port)
    enroll_device(rig.center, other_ws, OTHER)
    other = agent_for(other_ws, rig.center, enrolled_card(rig.center, OTHER), rig.port)
    try:
        with pytest.raises(CenterRefused) as refused:
            await anonymous.updates(0, 100)
        assert refused.value.code == "DEVICE_UNAUTHORIZED" and refused.value.status == 401
        others = await other.engine.client.updates(0, 100)
        assert len(others) == 2 and not {u["form_no"] for u in others} & set(rig.forms)
    finally:
        await anonymous.close()
        await other.engine.client.close()


async def test_the_device_key_can_never_sign_a_business_batch(rig: Rig) -> None:
    device = rig.agent.engine.client.device
    assert device is not None
    payload = {
        "v": 1,
        "batch_id": "device-signed",
        "kind": "filings",
        "enterprise": ENTERPRISE,
        "created_at": "2026-11-27T00:00:00+00:00",
        "records": [{"seq": 2, "form_no": rig.forms[1], "port": "2200"}],
    }
    signature = sign_detached(canonical_json(payload), device.chain, device.sign_digest)
    with pytest.raises(CenterRefused) as refused:
        await rig.agent.engine.client.send_batch(batch_document(payload, signature))
    assert refused.value.code == "OPERATOR_UNKNOWN"
    assert rig.center.form(rig.forms[1])["customs_status"] == "unused"  # type: ignore[index]
