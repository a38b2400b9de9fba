"""The card management key at `eport-agent card enroll`, and `card change-pin` / `card change-puk`, as an IT person
meets them: the default key offered only when the card says it still has it, and then a loud advice to change it;
a card with its own key needs that key, a wrong one stops everything with the card as it was; a PIN or PUK change
is sent once, its failure told with the tries left. Through the real pcscd + vpcd stack where marked."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agent.card.emulated import EmulatedPivCard
from agent.card.piv_admin import ALGORITHM_AES192
from agent.card.vpcd import VpcdCard
from agent.cli import main as agent_main
from agent.workspace import Workspace
from tests.center_support import Ran, run_cli
from tests.pcsc_support import CARD_PIN
from tests.test_card_cli import Served, enroll, saved_card, served, workspace

__all__ = ["served"]  # the fixture, shared with tests/test_card_cli.py

OWN_KEY = "3DE5A1F0C2B74E98" * 3  # a card whose IT person has set a management key of its own


def own_key_card(ws: Workspace, **options: object) -> EmulatedPivCard:
    card = EmulatedPivCard(pin=CARD_PIN, management_key=bytes.fromhex(OWN_KEY), **options)  # type: ignore[arg-type]
    card.save(ws.state / "emulated-card.json")
    return card


async def agent_cli(ws: Workspace, *argv: str, stdin: str = "") -> Ran:
    return await asyncio.to_thread(run_cli, agent_main, *argv, "--workspace", str(ws.root), stdin=stdin)


async def test_the_default_key_is_offered_only_as_the_card_says_and_then_advised_against(
    tmp_path: Path, served: Served
) -> None:
    ws = workspace(tmp_path / "ws", "emulated", blank_card=True)  # a card as shipped: the default key
    ran = await enroll(ws, served.url, served.code())
    assert ran.code == 0, ran.err
    assert ran.err.count("WARNING: this card still has the well-known default management key") == 2  # asked, done
    assert ran.err.index("警告：这张卡仍使用公开的默认管理密钥") < ran.err.index("WARNING")
    assert "010203040506070801020304050607080102030405060708" not in ran.out + ran.err  # the key is never printed


async def test_a_card_with_its_own_key_needs_that_key(tmp_path: Path, served: Served) -> None:
    ws = workspace(tmp_path / "ws", "emulated")
    own_key_card(ws)
    code = served.code()

    ran = await enroll(ws, served.url, code)  # Enter: no default to take, the card does not have it
    assert ran.code == 1 and "type the card's management key" in ran.err and "需要输入卡管理密钥" in ran.err
    ran = await enroll(ws, served.url, code, management_key="00" * 24)
    assert ran.code == 1 and "卡拒绝了管理密钥" in ran.err and "nothing is retried" in ran.err
    card = saved_card(ws)
    assert card.certificate is None and card.tries_left == 3  # not changed; the PIN was not even presented
    assert served.operators() == 0 and served.codes_used() == 0

    ran = await enroll(ws, served.url, code, management_key=OWN_KEY.lower())
    assert ran.code == 0, ran.err
    assert "WARNING" not in ran.err and OWN_KEY not in ran.out + ran.err
    assert saved_card(ws).certificate is not None


async def test_without_a_terminal_the_key_must_come_on_stdin(tmp_path: Path, served: Served) -> None:
    ws = workspace(tmp_path / "ws", "emulated", blank_card=True)
    argv = ("card", "enroll", "--center", served.url, "--code", served.code(), "--pin-stdin")
    ran = await agent_cli(ws, *argv, stdin=f"{CARD_PIN}\n")
    assert ran.code == 2 and "--management-key-stdin" in ran.err
    assert saved_card(ws).certificate is None and served.codes_used() == 0


async def test_change_pin_and_puk_once_with_the_tries_left(tmp_path: Path) -> None:
    ws = workspace(tmp_path / "ws", "emulated", blank_card=True)

    ran = await agent_cli(ws, "card", "change-pin", "--pin-stdin", stdin="999999\n654321\n")
    assert ran.code == 1 and "当前PIN不正确" in ran.err and "2 tries left before the card blocks" in ran.err
    card = saved_card(ws)
    assert (card.pin, card.tries_left) == (CARD_PIN, 2)  # one try spent: never retried

    ran = await agent_cli(ws, "card", "change-pin", "--pin-stdin", stdin=f"{CARD_PIN}\n654321\n")
    assert ran.code == 0 and ran.out.startswith("PIN已更改 / the card's PIN is changed")
    assert (saved_card(ws).pin, saved_card(ws).tries_left) == ("654321", 3)

    ran = await agent_cli(ws, "card", "change-pin", "--pin-stdin", stdin="654321\n12ab56\n")
    assert ran.code == 1 and "PIN未更改" in ran.err
    assert (saved_card(ws).pin, saved_card(ws).tries_left) == ("654321", 3)  # refused before the card saw it

    ran = await agent_cli(ws, "card", "change-puk", "--pin-stdin", stdin="00000000\n87654321\n")
    assert ran.code == 1 and "PUK不正确" in ran.err and "2 tries left before the PUK blocks" in ran.err
    ran = await agent_cli(ws, "card", "change-puk", "--pin-stdin", stdin="12345678\n87654321\n")
    assert ran.code == 0 and "PUK已更改" in ran.out and saved_card(ws).puk == "87654321"
    assert "654321" not in ran.out + ran.err and "87654321" not in ran.out + ran.err


async def test_change_pin_on_a_blocked_card_says_so(tmp_path: Path) -> None:
    ws = workspace(tmp_path / "ws", "emulated")
    card = EmulatedPivCard(pin=CARD_PIN)
    card.tries_left = 0
    card.save(ws.state / "emulated-card.json")
    ran = await agent_cli(ws, "card", "change-pin", "--pin-stdin", stdin=f"{CARD_PIN}\n654321\n")
    assert ran.code == 1 and "PIN已锁定" in ran.err and "blocked" in ran.err


@pytest.mark.pcsc
async def test_an_aes_card_without_metadata_enrolls_through_pcscd(
    tmp_path: Path, served: Served, vpcd_card: tuple[EmulatedPivCard, VpcdCard, str]
) -> None:
    """A plain PIV card (no Yubico metadata) with an AES-192 key of its own, in the reader through pcscd."""
    card, _vpcd, reader = vpcd_card
    card.metadata = False
    card.management_algorithm, card.management_key = ALGORITHM_AES192, bytes.fromhex(OWN_KEY)
    ws = workspace(tmp_path / "ws", reader)
    ran = await enroll(ws, served.url, served.code(), management_key=OWN_KEY)
    assert ran.code == 0, ran.err
    assert card.certificate is not None and card.certificate.public_key() == card.key.public_key()
    assert card.admin_attempts == 1 and card.verify_attempts == 1


@pytest.mark.pcsc
async def test_change_pin_through_pcscd(tmp_path: Path, vpcd_card: tuple[EmulatedPivCard, VpcdCard, str]) -> None:
    card, _vpcd, reader = vpcd_card
    ws = workspace(tmp_path / "ws", reader)
    ran = await agent_cli(ws, "card", "change-pin", "--pin-stdin", stdin=f"{CARD_PIN}\n24681357\n")
    assert ran.code == 0, ran.err
    assert card.pin == "24681357" and card.reference_changes == 1
