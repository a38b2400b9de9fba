"""`eport-agent card enroll` / `device enroll` over the wire, and `card info`: a key made on the card, certified by
a real center on loopback against a one-time code (`operator invite`), used to sign a batch the center accepts; used,
expired and other-kind codes and a CA that is not the code's are refused with the card and the PC left as they
were; the card's facts read through the running agent (which keeps its card unlocked) or, with no agent, from the
card itself."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.serialization import Encoding

from agent.card.emulated import EmulatedPivCard
from agent.card.vpcd import VpcdCard
from agent.center_link import load_device
from agent.cli import main as agent_main
from agent.operator_card import CardState
from agent.runtime import build_agent
from agent.workspace import Workspace, config_text
from center.db import enrollment_codes, operators
from center.service import Center
from sync.enroll import DEVICE_KIND, OPERATOR_KIND, EnrollmentCode, format_code
from sync.protocol import check_issued_by
from tests.center_support import ENTERPRISE, Clock, Ran, eventually, free_port, open_center, run_cli, serve
from tests.pcsc_support import CARD_PIN


@dataclass
class Served:
    center: Center
    url: str
    clock: Clock

    def code(self, kind: str = OPERATOR_KIND, **options: object) -> str:
        name = "王五" if kind == OPERATOR_KIND else None
        return str(self.center.invite(kind, ENTERPRISE, name, **options)["code"])  # type: ignore[arg-type]

    def operators(self) -> int:
        with self.center.engine.connect() as conn:
            return int(conn.scalar(sa.select(sa.func.count()).select_from(operators)) or 0)

    def codes_used(self) -> int:
        with self.center.engine.connect() as conn:
            used = (
                sa.select(sa.func.count()).select_from(enrollment_codes).where(enrollment_codes.c.used_at.isnot(None))
            )
            return int(conn.scalar(used) or 0)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    """The center, served on loopback from this event loop (so commands run off it), with a clock to move on."""
    clock = Clock()
    center = open_center(tmp_path / "center", [ENTERPRISE], clock=clock)
    port = free_port()
    runner = await serve(center, port)
    try:
        yield Served(center, f"http://127.0.0.1:{port}", clock)
    finally:
        await runner.cleanup()
        center.close()


def workspace(root: Path, reader: str, blank_card: bool = False) -> Workspace:
    """A fresh clerk's PC: no center CA pinned yet, agent.toml pointing somewhere else."""
    workspace = Workspace(root)
    workspace.init()
    workspace.config_file.write_text(config_text("http://127.0.0.1:9", reader), encoding="utf-8")
    if blank_card:
        EmulatedPivCard(pin=CARD_PIN).save(workspace.state / "emulated-card.json")  # no certificate yet
    return workspace


async def enroll(ws: Workspace, url: str, code: str, pin: str = CARD_PIN, management_key: str = "") -> Ran:
    """`card enroll` with the PIN and then the management key on standard input (an empty line: the default, which
    the emulated cards here still have and say so)."""
    argv = ("card", "enroll", "--workspace", str(ws.root), "--center", url, "--code", code, "--pin-stdin")
    stdin = f"{pin}\n{management_key}\n"
    return await asyncio.to_thread(run_cli, agent_main, *argv, "--management-key-stdin", stdin=stdin)


async def enroll_device(ws: Workspace, url: str, code: str) -> Ran:
    argv = ("device", "enroll", "--workspace", str(ws.root), "--center", url, "--code", code, "--name", "finance-pc")
    return await asyncio.to_thread(run_cli, agent_main, *argv)


async def card_info(ws: Workspace, *flags: str) -> Ran:
    return await asyncio.to_thread(run_cli, agent_main, "card", "info", "--workspace", str(ws.root), *flags)


def saved_card(ws: Workspace) -> EmulatedPivCard:
    return EmulatedPivCard.load(ws.state / "emulated-card.json")


@pytest.mark.pcsc
async def test_enrollment_end_to_end_through_pcsc_then_the_center_accepts_the_cards_signature(
    tmp_path: Path, served: Served, vpcd_card: tuple[EmulatedPivCard, VpcdCard, str]
) -> None:
    card, _vpcd, reader = vpcd_card
    self_signed_key = card.key.public_key()
    ws = workspace(tmp_path / "ws", reader)
    code, out, err = await enroll(ws, served.url, served.code())
    assert code == 0, err
    assert "the code is good: the card becomes the operator card (操作员卡) of 王五" in out
    assert "card enrolled: " in out and f"O={ENTERPRISE}" in out and "the center's CA is pinned" in out

    certificate = card.certificate
    assert certificate is not None
    check_issued_by(certificate, served.center.ca_certificate())  # certified by the center's CA
    assert certificate.public_key() == card.key.public_key() != self_signed_key  # for the key made on the card
    assert (ws.state / "center-ca.pem").read_bytes() == served.center.ca_certificate().public_bytes(Encoding.PEM)
    assert served.operators() == 1 and served.codes_used() == 1
    assert f'url = "{served.url}"' in ws.config_file.read_text(encoding="utf-8")  # agent.toml follows the center
    assert 'reader = "' + reader + '"' in ws.config_file.read_text(encoding="utf-8")  # and keeps the rest

    # This PC's own key, with its own code, so unattended pulls work with the card out.
    code, out, err = await enroll_device(ws, served.url, served.code(DEVICE_KIND))
    assert code == 0, err
    device = load_device(ws)
    assert device is not None and served.center.device_enterprise(device.chain[0]) == ENTERPRISE

    # A new card has no 出口收汇 permission (FAQ 3 (2)) until SAFE gives it one: here SAFE does so at once.
    [new_card] = served.center.permission_requests(ENTERPRISE)["cards"]
    served.center.safe_set_permission(new_card["card"], days=365)
    agent = build_agent(ws)
    await agent.start()
    try:
        await eventually(lambda: agent.card.state is CardState.LOCKED, 3, "the agent saw the card")
        await asyncio.to_thread(agent.unlock, CARD_PIN)
        form = served.center.issue_forms(ENTERPRISE, 1)[0]
        (ws.inbox / "filings" / "a.csv").write_text(f"form_no,port\n{form},2200\n", encoding="utf-8")
        await eventually(lambda: (ws.results / "a.result.csv").exists(), 10, "the result")
        assert served.center.form(form)["customs_status"] == "filed"  # type: ignore[index]
    finally:
        await agent.stop()


async def test_enrolling_the_emulated_card_saves_it_with_its_new_key(tmp_path: Path, served: Served) -> None:
    ws = workspace(tmp_path / "ws", "emulated", blank_card=True)
    code, out, err = await card_info(ws, "--json")
    assert code == 0 and "no operator certificate" in json.loads(out)["problem"]

    code, out, err = await enroll(ws, served.url, served.code(days=20))
    assert code == 0, err
    saved = saved_card(ws)
    assert saved.certificate is not None and saved.certificate.public_key() == saved.key.public_key()
    check_issued_by(saved.certificate, served.center.ca_certificate())

    code, out, err = await card_info(ws)
    assert "没有代理在此工作目录运行：直接从卡读取" in err
    assert "卡类型：模拟PIV卡（仅供测试和演示）/ emulated PIV card (tests and demo only)" in out
    assert f"企业：{ENTERPRISE}" in out and "操作员：王五" in out
    assert "注意：操作员卡证书将于" in out  # 20 days: inside the 30-day warning


async def test_a_used_code_is_refused_and_the_card_keeps_its_key(tmp_path: Path, served: Served) -> None:
    first, second = workspace(tmp_path / "a", "emulated", True), workspace(tmp_path / "b", "emulated", True)
    code = served.code()
    assert (await enroll(first, served.url, code)).code == 0
    kept = saved_card(second).key.public_key()
    ran = await enroll(second, served.url, code)
    assert ran.code == 1 and "ENROLLMENT_CODE_USED" in ran.err
    assert "注册码已使用过" in ran.err and "already used" in ran.err
    assert saved_card(second).key.public_key() == kept and saved_card(second).certificate is None
    assert served.operators() == 1


async def test_an_expired_code_is_refused(tmp_path: Path, served: Served) -> None:
    ws = workspace(tmp_path / "ws", "emulated", blank_card=True)
    code = served.code(valid_hours=1)
    served.clock.advance(hours=1, seconds=1)
    ran = await enroll(ws, served.url, code)
    assert ran.code == 1 and "ENROLLMENT_CODE_EXPIRED" in ran.err and "过期" in ran.err and "expired" in ran.err
    assert saved_card(ws).certificate is None and served.operators() == 0


async def test_a_ca_that_is_not_the_codes_is_refused_before_anything_is_sent(tmp_path: Path, served: Served) -> None:
    ws = workspace(tmp_path / "ws", "emulated", blank_card=True)
    secret = EnrollmentCode.parse(served.code()).secret
    forged = format_code(secret, hashlib.sha256(b"another center's CA").digest())
    ran = await enroll(ws, served.url, forged)
    assert ran.code == 1 and "does not match the enrollment code" in ran.err and "CA证书与注册码不符" in ran.err
    assert not (ws.state / "center-ca.pem").exists() and saved_card(ws).certificate is None
    assert served.codes_used() == 0  # the secret never left the PC
    assert 'url = "http://127.0.0.1:9"' in ws.config_file.read_text(encoding="utf-8")

    # A PC that pins another center already is left alone.
    (ws.state / "center-ca.pem").write_bytes(
        open_center(tmp_path / "other").ca_certificate().public_bytes(Encoding.PEM)
    )
    ran = await enroll(ws, served.url, served.code())
    assert ran.code == 1 and "already pins another center's CA" in ran.err and served.codes_used() == 0


async def test_a_code_of_another_kind_or_a_mistyped_one_is_refused(tmp_path: Path, served: Served) -> None:
    ws = workspace(tmp_path / "ws", "emulated", blank_card=True)
    ran = await enroll(ws, served.url, served.code(DEVICE_KIND))
    assert ran.code == 1 and "ENROLLMENT_CODE_WRONG_KIND" in ran.err and "eport-agent device enroll" in ran.err
    ran = await enroll(ws, served.url, "ABCD-EFGH")
    assert ran.code == 2 and "not an enrollment code" in ran.err
    assert saved_card(ws).certificate is None and not (ws.state / "center-ca.pem").exists()


async def test_a_wrong_pin_leaves_the_card_the_center_and_the_code_as_they_were(tmp_path: Path, served: Served) -> None:
    ws = workspace(tmp_path / "ws", "emulated", blank_card=True)
    kept = saved_card(ws).key.public_key()
    code = served.code()
    ran = await enroll(ws, served.url, code, "000000")
    assert ran.code == 1 and "密码错误：再输错 2 次" in ran.err
    assert saved_card(ws).key.public_key() == kept and saved_card(ws).certificate is None
    assert served.operators() == 0 and served.codes_used() == 0
    assert (await enroll(ws, served.url, code)).code == 0  # the code still works


async def test_device_enroll_certifies_this_pcs_key_once(tmp_path: Path, served: Served) -> None:
    ws = workspace(tmp_path / "ws", "auto")  # no card needed
    code = served.code(DEVICE_KIND)
    ran = await enroll_device(ws, served.url, code)
    assert ran.code == 0, ran.err
    assert "enrolled for unattended sync" in ran.out and "CN=finance-pc" in ran.out
    device = load_device(ws)
    assert device is not None and served.center.device_enterprise(device.chain[0]) == ENTERPRISE
    assert (ws.state / "center-ca.pem").exists() and f'url = "{served.url}"' in ws.config_file.read_text()
    ran = await enroll_device(ws, served.url, code)
    assert ran.code == 1 and "ENROLLMENT_CODE_USED" in ran.err


async def test_enrolling_is_refused_while_an_agent_holds_the_card(tmp_path: Path, served: Served) -> None:
    ws = workspace(tmp_path / "ws", "emulated", blank_card=True)
    (ws.state / "center-ca.pem").write_bytes(served.center.ca_certificate().public_bytes(Encoding.PEM))
    agent = build_agent(ws)
    await agent.start()
    try:
        ran = await enroll(ws, served.url, served.code())
    finally:
        await agent.stop()
    assert ran.code == 2 and "stop the running agent first" in ran.err
    assert served.operators() == 0


@pytest.mark.pcsc
async def test_card_info_asks_the_running_agent_and_its_card_stays_unlocked(
    tmp_path: Path, served: Served, vpcd_card: tuple[EmulatedPivCard, VpcdCard, str]
) -> None:
    card, _vpcd, reader = vpcd_card
    ws = workspace(tmp_path / "ws", reader)
    code, _out, err = await enroll(ws, served.url, served.code())
    assert code == 0, err
    code, out, _ = await card_info(ws, "--json")
    direct = json.loads(out)
    assert (direct["source"], direct["reader"], direct["pin_tries_left"]) == ("card", reader, 3)
    assert direct["card_type"].endswith("emulated PIV card (tests and demo only)")  # by its ATR, through pcscd

    agent = build_agent(ws)
    await agent.start()
    try:
        await eventually(lambda: agent.card.state is CardState.LOCKED, 3, "the agent saw the card")
        await asyncio.to_thread(agent.unlock, CARD_PIN)
        code, out, _ = await asyncio.to_thread(
            run_cli, agent_main, "card", "info", "--json", "--workspace", str(ws.root)
        )
        info = json.loads(out)
        assert (info["source"], info["state"], info["reader"]) == ("agent", "unlocked", reader)
        assert info["serial"] == card.serial
        assert (info["enterprise"], info["operator"]) == (ENTERPRISE, "王五")
        # Asking did not touch the card: still unlocked, it signs without another PIN.
        assert len(await asyncio.to_thread(agent.card.sign_digest, bytes(32))) > 8
    finally:
        await agent.stop()
