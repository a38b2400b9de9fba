"""The agent's side of the gates before business: `eport-agent access ...` and `permission ...` against a real center
on loopback, the 17999 accounts in `eport-agent status`, and an `access` file dropped into the inbox."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiohttp import web

from agent.runtime import emulated_card_file
from agent.workspace import Workspace
from center import db
from center.access import add_months
from center.service import Center
from sync.access import LEGAL_PERSON_ROLE
from tests.center_support import Clock, Ran, free_port, open_center, serve, wait_for
from tests.rigs import ENTERPRISE, PIN, agent_cli, agent_for, enroll_device, enrolled_card, workspace_for
from tests.tables import read_table, read_workbook

TIMED = "02012345671@17999.e163"
LEASED = "ddn0000001@17999.e163"
PASSWORD = "ddn-秘密-7"


@dataclass
class Rig:
    center: Center
    clock: Clock
    workspace: Workspace
    runner: web.AppRunner
    port: int


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    clock = Clock()
    with open_center(tmp_path, [ENTERPRISE], access=False, clock=clock) as center:
        port = free_port()
        workspace = workspace_for(tmp_path / "ws", center, port, account=TIMED)
        enroll_device(center, workspace)
        runner = await serve(center, port)
        yield Rig(center, clock, workspace, runner, port)
        await runner.cleanup()


async def eport(rig: Rig, *argv: str, stdin: str = "") -> Ran:
    """One command, off the event loop (the center answers on it), with ``stdin`` as standard input."""
    return await asyncio.to_thread(agent_cli, *argv, "--workspace", str(rig.workspace.root), stdin=stdin)


async def test_register_list_show_and_delete_through_this_pcs_connection(rig: Rig) -> None:
    async def run(*argv: str) -> Ran:
        return await eport(rig, *argv)

    assert (await run("access", "list", "--json")).json()["open"] is False
    registered = await run("access", "register", TIMED, "--type", "timed", "--json")
    assert (registered.code, registered.json()["status"]) == (0, "valid")
    refused = await run("access", "register", "02012345679@17999.e163", "--type", "new-annual")
    assert refused.code == 1 and "ACCESS_NOT_ONLINE" in refused.err and "注册失败" in refused.err
    assert f"This request arrived through: {TIMED}" in refused.err
    listed = await run("access", "list")
    assert "17999 上网卡：业务已开通" in listed.out and f"{TIMED}  计时卡（timed）" in listed.out
    assert (await run("access", "show", TIMED, "--json")).json() == registered.json()
    deleted = await run("access", "delete", TIMED)
    assert deleted.code == 0 and deleted.out.startswith("已删除：")
    assert (await run("access", "list", "--json")).json()["open"] is False
    malformed = await run("access", "show", "02012345671")
    assert malformed.code == 2 and "keep the suffix" in malformed.err


async def test_a_cards_password_is_read_without_echo_and_never_shown(rig: Rig) -> None:
    argv = ("access", "register", LEASED, "--type", "专线卡")
    no_terminal = await eport(rig, *argv)
    assert no_terminal.code == 2 and "--password-stdin" in no_terminal.err
    ran = await eport(rig, *argv, "--password-stdin", stdin=f"{PASSWORD}\n")
    assert ran.code == 0 and "到期后由系统删除" in ran.out
    assert PASSWORD not in ran.out + ran.err
    with rig.center.engine.connect() as conn:
        stored = conn.scalar(sa.select(db.access_accounts.c.password_hash))
    assert stored.startswith("scrypt$") and PASSWORD not in stored


async def test_status_shows_the_accounts_and_warns_ahead_of_their_end_even_with_the_center_away(rig: Rig) -> None:
    closed = await eport(rig, "status")
    assert "• 没有有效的 17999 上网卡" in closed.out and "业务未开通" in closed.out
    assert closed.code == 3  # no agent runs on this workspace: what it recorded is shown, and the code says so
    now = rig.clock.now
    rig.clock.now = add_months(now + dt.timedelta(days=9.5), -12)  # registered a year before 9½ days from now
    rig.center.access_register(ENTERPRISE, LEASED, "leased-line")
    rig.clock.now = now
    status = (await eport(rig, "status", "--json")).json()
    assert [a["account"] for a in status["access"]["accounts"]] == [LEASED]
    [warning] = status["warnings"]
    assert "17999 上网卡将于" in warning and "还有 9 天" in warning
    await rig.runner.cleanup()
    away = await eport(rig, "status")
    assert "17999 上网卡：业务已开通（数据中心 " in away.out
    assert "• 企业的 17999 上网卡将于" in away.out


async def test_without_a_device_certificate_access_commands_say_what_to_do(rig: Rig) -> None:
    (rig.workspace.state / "device-cert.pem").unlink()
    ran = await eport(rig, "access", "list")
    assert ran.code == 2 and "eport-center device enroll" in ran.err
    status = await eport(rig, "status", "--json")
    assert status.code == 3 and "access" not in status.json()


# Permission extensions: the legal-person card in the reader.


async def test_the_legal_person_card_requests_an_extension_and_an_operator_card_cannot(rig: Rig) -> None:
    rig.center.access_register(ENTERPRISE, LEASED, "leased-line")
    operator = enrolled_card(rig.center, role="operator")
    boss = enrolled_card(rig.center, name="法人", role=LEGAL_PERSON_ROLE)
    serial = operator.serial
    workspace_for(rig.workspace.root, rig.center, rig.port, "emulated", account=TIMED)  # the card file's card
    card_file = emulated_card_file(rig.workspace)
    request = ("permission", "request", "--card", serial, "--pin-stdin", "--json")

    operator.save(str(card_file))
    refused = await eport(rig, *request)  # no PIN given: it must not be asked for
    assert refused.code == 2 and "legal-person card (法人卡)" in refused.err

    boss.save(str(card_file))
    (rig.workspace.state / "device-cert.pem").unlink()  # the card's signature is the request's credential
    wrong = await eport(rig, *request, stdin="999999\n")
    assert wrong.code == 1 and "密码错误：再输错" in wrong.err
    requested = await eport(rig, *request, stdin=f"{PIN}\n")
    assert requested.code == 0, requested.err
    assert (requested.json()["card"], requested.json()["status"]) == (serial, "pending")
    for level in (1, 2, 3):
        rig.center.safe_approve_permission(requested.json()["request_no"], level)
    assert (await eport(rig, "permission", "list")).code == 2  # listing needs the device
    enroll_device(rig.center, rig.workspace)
    listed = await eport(rig, "permission", "list")
    assert f"卡 {serial}，approved，外汇局三级审批已通过 3 级，IC卡权限至" in listed.out


# Registering from a file.


async def test_an_access_file_registers_opens_business_and_its_result_never_shows_the_password(rig: Rig) -> None:
    card = enrolled_card(rig.center)
    [form_no] = rig.center.issue_forms(ENTERPRISE, 1)
    agent = agent_for(rig.workspace, rig.center, card, rig.port)
    await agent.start()
    try:
        await asyncio.to_thread(agent.unlock, PIN)
        rows = [
            "账号 account,类型 type,有效期月数 months,密码 password",
            "02012345678@17999.e163,旧年卡,,",
            f"{LEASED},broadband,12,{PASSWORD}",
            f"{TIMED},timed,,",
        ]
        (rig.workspace.inbox / "access" / "cards.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
        result = await wait_for(rig.workspace.results / "cards.result.csv")
        got = read_table(result)
        assert list(got[0]) == ["row", "account", "type", "months", "expires_at", "status", "code", "message"]
        _header, cells, _sheet = read_workbook(rig.workspace.results / "cards.result.xlsx")
        assert not any(PASSWORD in str(value) for row in cells for value in row)
        assert [(r["account"], r["code"]) for r in got] == [
            ("02012345678@17999.e163", "OK"),
            (LEASED, "OK"),
            (TIMED, "ACCESS_NOT_ONLINE"),
        ]
        assert got[0]["expires_at"] and PASSWORD not in result.read_text(encoding="utf-8-sig")
        (rig.workspace.inbox / "filings" / "file.csv").write_text(f"form_no,port\n{form_no},5300\n", encoding="utf-8")
        filed = await wait_for(rig.workspace.results / "file.result.csv")
        assert ",OK,OK," in filed.read_text(encoding="utf-8-sig")
    finally:
        await agent.stop()
