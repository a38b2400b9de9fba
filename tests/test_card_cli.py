"""`eport-agent card enroll` and `card info`: a key made on the card, certified by the center's CA, used to sign a
batch the center accepts; the card's facts read through the running agent (which keeps its card unlocked) or, with
no agent, from the card itself."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.serialization import Encoding

from agent.card.emulated import EmulatedPivCard
from agent.card.vpcd import VpcdCard
from agent.operator_card import CardState
from agent.runtime import build_agent, load_device
from agent.workspace import Workspace, config_text
from center.db import operators
from center.service import Center
from sync.protocol import check_issued_by
from tests.pcsc_support import CARD_PIN
from tests.rigs import agent_cli as cli
from tests.rigs import free_port, serve
from tests.test_center_support import open_access

ENTERPRISE = "1101230001"


@pytest.fixture
def center(tmp_path: Path) -> Iterator[Center]:
    center = Center.open(str(tmp_path / "center.db"))
    center.create_enterprise(ENTERPRISE, "测试进出口有限公司")
    open_access(center, ENTERPRISE)
    yield center
    center.close()


def workspace(root: Path, reader: str, port: int = 9) -> Workspace:
    """A fresh clerk's PC: no center CA pinned yet."""
    workspace = Workspace(root)
    workspace.init()
    workspace.config_file.write_text(config_text(f"http://127.0.0.1:{port}", reader), encoding="utf-8")
    return workspace


def enroll(workspace: Workspace, db: Path, pin: str = CARD_PIN, *options: str) -> tuple[int, str, str]:
    common = ("--workspace", str(workspace.root), "--db", str(db), "--enterprise", ENTERPRISE, "--pin-stdin")
    return cli("card", "enroll", *common, "--name", "王五", *options, stdin=f"{pin}\n")


def enrolled_operators(center: Center) -> int:
    with center.engine.connect() as conn:
        return int(conn.scalar(sa.select(sa.func.count()).select_from(operators)) or 0)


@pytest.mark.pcsc
async def test_enrollment_end_to_end_through_pcsc_then_the_center_accepts_the_cards_signature(
    tmp_path: Path, center: Center, vpcd_card: tuple[EmulatedPivCard, VpcdCard, str]
) -> None:
    card, _vpcd, reader = vpcd_card
    self_signed_key = card.key.public_key()
    port = free_port()
    ws = workspace(tmp_path / "ws", reader, port)
    code, out, err = await asyncio.to_thread(enroll, ws, tmp_path / "center.db")
    assert code == 0, err
    assert "card enrolled: " in out and "O=1101230001" in out and "pinned the center's CA" in out

    certificate = card.certificate
    assert certificate is not None
    check_issued_by(certificate, center.ca_certificate())  # certified by the center's CA
    assert certificate.public_key() == card.key.public_key() != self_signed_key  # for the key made on the card
    assert (ws.state / "center-ca.pem").read_bytes() == center.ca_certificate().public_bytes(Encoding.PEM)
    assert enrolled_operators(center) == 1
    # The PC's own device key was certified too, so unattended pulls work with the card out.
    assert "device key" in out and center.device_enterprise(load_device(ws).chain[0]) == "1101230001"  # type: ignore[union-attr]

    runner = await serve(center, port)
    agent = build_agent(ws)
    await agent.start()
    try:
        for _ in range(300):
            if agent.card.state is CardState.LOCKED:
                break
            await asyncio.sleep(0.01)
        await asyncio.to_thread(agent.unlock, CARD_PIN)
        form = center.issue_forms(ENTERPRISE, 1)[0]
        (ws.inbox / "filings" / "a.csv").write_text(f"form_no,port\n{form},2200\n", encoding="utf-8")
        for _ in range(200):
            if (ws.results / "a.result.csv").exists():
                break
            await asyncio.sleep(0.05)
        assert center.form(form)["customs_status"] == "filed"  # type: ignore[index]
    finally:
        await agent.stop()
        await runner.cleanup()


def test_enrolling_the_emulated_card_saves_it_with_its_new_key(tmp_path: Path, center: Center) -> None:
    ws = workspace(tmp_path / "ws", "emulated")
    EmulatedPivCard(pin=CARD_PIN).save(ws.state / "emulated-card.json")  # blank: no certificate yet
    code, out, err = cli("card", "info", "--json", "--workspace", str(ws.root))
    assert code == 0 and "no operator certificate" in json.loads(out)["problem"]

    code, out, err = enroll(ws, tmp_path / "center.db", CARD_PIN, "--days", "20")
    assert code == 0, err
    saved = EmulatedPivCard.load(ws.state / "emulated-card.json")
    assert saved.certificate is not None and saved.certificate.public_key() == saved.key.public_key()
    check_issued_by(saved.certificate, center.ca_certificate())

    code, out, err = cli("card", "info", "--workspace", str(ws.root))
    assert "no agent is running on this workspace: read from the card directly" in err
    assert "enterprise       1101230001" in out and "operator         王五" in out
    assert "warning: The operator certificate expires on" in out  # 20 days: inside the 30-day warning


def test_a_wrong_pin_leaves_the_card_and_the_center_as_they_were(tmp_path: Path, center: Center) -> None:
    ws = workspace(tmp_path / "ws", "emulated")
    card = EmulatedPivCard(pin=CARD_PIN)
    card.save(ws.state / "emulated-card.json")
    code, _out, err = enroll(ws, tmp_path / "center.db", "000000")
    assert code == 1 and "wrong PIN: 2 tries left" in err
    kept = EmulatedPivCard.load(ws.state / "emulated-card.json")
    assert kept.key.public_key() == card.key.public_key() and kept.certificate is None
    assert enrolled_operators(center) == 0


def test_the_center_refusing_is_reported_and_nothing_is_written(tmp_path: Path, center: Center) -> None:
    ws = workspace(tmp_path / "ws", "emulated")
    EmulatedPivCard(pin=CARD_PIN).save(ws.state / "emulated-card.json")
    common = ("--workspace", str(ws.root), "--db", str(tmp_path / "center.db"), "--pin-stdin", "--name", "王五")
    code, _out, err = cli("card", "enroll", *common, "--enterprise", "9999999999", stdin=f"{CARD_PIN}\n")
    assert code == 1 and "ENTERPRISE_NOT_FOUND" in err
    assert EmulatedPivCard.load(ws.state / "emulated-card.json").certificate is None
    assert not (ws.state / "center-ca.pem").exists()


async def test_enrolling_is_refused_while_an_agent_holds_the_card(tmp_path: Path, center: Center) -> None:
    ws = workspace(tmp_path / "ws", "emulated")
    EmulatedPivCard(pin=CARD_PIN).save(ws.state / "emulated-card.json")
    (ws.state / "center-ca.pem").write_bytes(center.ca_certificate().public_bytes(Encoding.PEM))
    agent = build_agent(ws)
    await agent.start()
    try:
        code, _out, err = await asyncio.to_thread(enroll, ws, tmp_path / "center.db")
    finally:
        await agent.stop()
    assert code == 2 and "stop the running agent first" in err
    assert enrolled_operators(center) == 0


@pytest.mark.pcsc
async def test_card_info_asks_the_running_agent_and_its_card_stays_unlocked(
    tmp_path: Path, center: Center, vpcd_card: tuple[EmulatedPivCard, VpcdCard, str]
) -> None:
    card, _vpcd, reader = vpcd_card
    ws = workspace(tmp_path / "ws", reader)
    code, _out, err = await asyncio.to_thread(enroll, ws, tmp_path / "center.db")
    assert code == 0, err
    code, out, _ = await asyncio.to_thread(cli, "card", "info", "--json", "--workspace", str(ws.root))
    direct = json.loads(out)
    assert (direct["source"], direct["reader"], direct["pin_tries_left"]) == ("card", reader, 3)

    agent = build_agent(ws)
    await agent.start()
    try:
        for _ in range(300):
            if agent.card.state is CardState.LOCKED:
                break
            await asyncio.sleep(0.01)
        await asyncio.to_thread(agent.unlock, CARD_PIN)
        code, out, _ = await asyncio.to_thread(cli, "card", "info", "--json", "--workspace", str(ws.root))
        info = json.loads(out)
        assert (info["source"], info["state"], info["reader"]) == ("agent", "unlocked", reader)
        assert info["serial"] == card.serial
        assert (info["enterprise"], info["operator"]) == (ENTERPRISE, "王五")
        # Asking did not touch the card: still unlocked, it signs without another PIN.
        assert len(await asyncio.to_thread(agent.card.sign_digest, bytes(32))) > 8
    finally:
        await agent.stop()
