"""The local control channel: `eport-agent unlock`, `status` and `card info` reach the running agent, only with its
token, and the PIN shows up in no log. An emulated card in process; a real center on loopback."""

from __future__ import annotations

import asyncio
import datetime as dt
import http.client
import json
import logging
import stat
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.card.emulated import EmulatedConnection, EmulatedPivCard
from agent.card.errors import InvalidPinError
from agent.card.piv_admin import DEFAULT_MANAGEMENT_KEY
from agent.card_identity import enroll_card
from agent.control import CONTROL_FILE, AgentNotRunning, ControlClient
from agent.facade import Agent
from agent.runtime import EMULATED_LABEL, build_agent
from agent.workspace import Workspace
from center.service import Center
from tests.center_support import eventually, free_port, open_center, serve, wait_for
from tests.rigs import agent_cli as cli
from tests.rigs import workspace_for
from tray.state import Level, tray_view

PIN = "918273"  # digits that occur nowhere else, so a search of the logs can only find the PIN itself
WRONG = "564738"
ENTERPRISE = "1101230001"


@dataclass
class Running:
    agent: Agent
    workspace: Workspace
    card: EmulatedPivCard  # as enrolled; the agent works on its own copy, loaded from the card file


@pytest.fixture
def center(tmp_path: Path) -> Iterator[Center]:
    with open_center(tmp_path, [ENTERPRISE]) as center:
        yield center


@asynccontextmanager
async def running_agent(root: Path, center: Center, days: int = 365, start: bool = True) -> AsyncIterator[Running]:
    card = EmulatedPivCard(pin=PIN)
    connection = EmulatedConnection(card)
    enroll_card(
        connection,
        PIN,
        lambda key, serial, _sign: center.enroll_operator(ENTERPRISE, key, "操作员", serial, days, fx_days=365),
        lambda _info: DEFAULT_MANAGEMENT_KEY,
    )
    connection.close()
    port = free_port()
    runner = await serve(center, port)
    workspace = workspace_for(root / "ws", center, port, card=card)
    agent = build_agent(workspace)
    if start:
        await agent.start()
    try:
        yield Running(agent, workspace, card)
    finally:
        if start:
            await agent.stop()
        await runner.cleanup()


@pytest.fixture
async def running(tmp_path: Path, center: Center) -> AsyncIterator[Running]:
    async with running_agent(tmp_path, center) as running:
        yield running


async def test_status_card_info_and_unlock_reach_the_running_agent(running: Running) -> None:
    client = ControlClient.for_state(running.workspace.state)
    status = await asyncio.to_thread(client.status)
    assert (status["card"], status["pin_tries_left"], status["warnings"]) == ("locked", 3, [])

    info = await asyncio.to_thread(client.card_info)
    assert info["serial"] == running.card.serial
    assert (info["reader"], info["enterprise"], info["operator"]) == (EMULATED_LABEL, ENTERPRISE, "操作员")
    assert info["not_after"].startswith(str(dt.date.today().year + 1))
    assert (info["state"], info["pin_tries_left"]) == ("locked", 3)

    with pytest.raises(InvalidPinError) as wrong:
        await asyncio.to_thread(client.unlock, WRONG)
    assert wrong.value.tries_left == 2
    await asyncio.to_thread(client.unlock, PIN)
    assert (await asyncio.to_thread(client.status))["card"] == "unlocked"


async def test_the_commands_talk_to_the_running_agent(running: Running) -> None:
    ws = str(running.workspace.root)
    code, out, err = await asyncio.to_thread(cli, "unlock", "--pin-stdin", "--workspace", ws, stdin=f"{WRONG}\n")
    assert code == 1 and "密码错误：再输错 2 次" in err
    code, out, _ = await asyncio.to_thread(cli, "unlock", "--pin-stdin", "--workspace", ws, stdin=f"{PIN}\n")
    assert code == 0 and "操作员卡已解锁" in out

    (running.workspace.inbox / "filings" / "a.csv").write_text("form_no,port\nZZZ999999,2200\n", encoding="utf-8")
    await wait_for(running.workspace.results / "a.result.csv")
    code, out, err = await asyncio.to_thread(cli, "status", "--json", "--workspace", ws)
    status = json.loads(out)
    assert status["card"] == "unlocked" and status["batches"] == {"delivered": 1} and status["warnings"] == []
    assert "no agent is running" not in err
    assert status["page"].startswith("http://127.0.0.1:") and "/page/login?ticket=" in status["page"]
    code, out, err = await asyncio.to_thread(cli, "status", "--workspace", ws)
    assert "状态页 / status page: http://127.0.0.1:" in out  # a fresh one-time link each time

    code, out, err = await asyncio.to_thread(cli, "card", "info", "--workspace", ws)
    assert code == 0 and "no agent is running" not in err
    assert f"卡号：{running.card.serial}" in out and "状态：已解锁" in out


async def test_the_control_file_is_private_and_withdrawn_on_stop(tmp_path: Path, center: Center) -> None:
    async with running_agent(tmp_path, center, start=False) as running:
        path = running.workspace.state / CONTROL_FILE
        await running.agent.start()
        try:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            assert set(json.loads(path.read_text(encoding="utf-8"))) == {"port", "token", "pid"}
        finally:
            await running.agent.stop()
        assert not path.exists()
        with pytest.raises(AgentNotRunning):
            ControlClient.for_state(running.workspace.state)


def raw_request(port: int, method: str, path: str, token: str | None, body: bytes | None = None) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        connection.request(method, path, body=body, headers=headers)
        return connection.getresponse().status
    finally:
        connection.close()


async def test_every_request_needs_the_token(running: Running) -> None:
    found = json.loads((running.workspace.state / CONTROL_FILE).read_text(encoding="utf-8"))
    port, token = found["port"], found["token"]
    unlock_body = json.dumps({"pin": WRONG}).encode()
    for given in (None, "", "not-the-token", token[:-1]):
        assert await asyncio.to_thread(raw_request, port, "GET", "/v1/status", given) == 401
        assert await asyncio.to_thread(raw_request, port, "POST", "/v1/unlock", given, unlock_body) == 401
    assert await asyncio.to_thread(raw_request, port, "GET", "/v1/status", token) == 200
    # None of the refused unlocks reached the card: its first wrong PIN still leaves 2 of 3 tries.
    with pytest.raises(InvalidPinError) as wrong:
        await asyncio.to_thread(ControlClient(port, token).unlock, WRONG)
    assert wrong.value.tries_left == 2


async def test_the_pin_never_reaches_the_logs(running: Running, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    ws = str(running.workspace.root)
    results = [
        await asyncio.to_thread(cli, "unlock", "--pin-stdin", "--workspace", ws, stdin=f"{pin}\n")
        for pin in (WRONG, "12345", PIN)  # wrong, malformed (never sent to the card), right
    ]
    assert [code for code, _out, _err in results] == [1, 1, 0]
    assert "6 to 8 digits" in results[1][2]
    assert "card unlock failed: wrong PIN, 2 tries left" in caplog.text and "card unlocked" in caplog.text
    printed = "".join(out + err for _code, out, err in results)
    for secret in (WRONG, "12345", PIN):
        assert secret not in caplog.text
        assert secret not in printed


async def test_without_a_running_agent_the_commands_fall_back_and_say_so(tmp_path: Path, center: Center) -> None:
    async with running_agent(tmp_path, center, start=False) as running:
        ws = str(running.workspace.root)
        code, out, err = await asyncio.to_thread(cli, "status", "--workspace", ws)
        assert code == 3 and "no agent is running" in err and "没有 eport-agent 在此工作目录运行" in err
        assert "操作员卡：" not in out and "下次同步" not in out  # only a running agent can vouch for them
        code, out, _ = await asyncio.to_thread(cli, "card", "info", "--json", "--workspace", ws)
        info = json.loads(out)
        assert (info["source"], info["state"], info["pin_tries_left"]) == ("card", "locked", 3)
        assert info["serial"] == running.card.serial

        # A control file left by an agent that died: nobody answers on its port.
        (running.workspace.state / CONTROL_FILE).write_text(json.dumps({"port": free_port(), "token": "x"}))
        code, out, err = await asyncio.to_thread(cli, "status", "--json", "--workspace", ws)
        assert code == 3 and "no agent is running" in err and "warnings" not in json.loads(out)
        code, out, err = await asyncio.to_thread(cli, "unlock", "--pin-stdin", "--workspace", ws, stdin=f"{PIN}\n")
        assert code == 3 and "没有代理在" in err and "没有向卡发送任何内容" in err


async def test_warnings_ahead_of_trouble_reach_status_and_the_tray(tmp_path: Path, center: Center) -> None:
    async with running_agent(tmp_path, center, days=10) as running:
        status = await asyncio.to_thread(ControlClient.for_state(running.workspace.state).status)
        (warning,) = status["warnings"]
        assert "操作员卡证书将于" in warning and "还有 9 天" in warning
        assert tray_view(status).level is Level.ATTENTION and warning in tray_view(status).reasons
        code, out, _ = await asyncio.to_thread(cli, "card", "info", "--workspace", str(running.workspace.root))
        assert code == 0 and f"注意：{warning}" in out

        # SAFE's permission on the card ended (the center refuses every batch): said as it is, with what to do.
        [card] = center.permission_requests(ENTERPRISE)["cards"]
        center.safe_end_permission(card["card"])
        await asyncio.to_thread(running.agent.unlock, PIN)
        (running.workspace.inbox / "filings" / "a.csv").write_text("form_no,port\nZZZ999999,2200\n", encoding="utf-8")
        await eventually(lambda: running.agent.status()["refused"] is not None, 10, "a.csv was not refused")
        status = running.agent.status()
        assert status["refused"]["code"] == "FX_PERMISSION_EXPIRED"
        assert any("foreign-exchange permission expired" in w and "legal-person card" in w for w in status["warnings"])
        view = tray_view(status)
        assert view.level is Level.ERROR and view.reasons[0] == "文件 a.csv 被数据中心整批拒绝：FX_PERMISSION_EXPIRED"
