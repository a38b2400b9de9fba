"""An SM2 center and the emulated card through the real stack (pyscard → pcscd → vpcd → the card): `card enroll`
over the wire makes an SM2 key on the card because the center asks for it, `card info` names it, and a dropped file
is signed once (SM2 with SM3), sent, applied and answered with an SM2 receipt the agent checks; a changed batch is
refused; a card that cannot make SM2 keys is told so and keeps its key and the code."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent.card.emulated import EmulatedPivCard
from agent.card.piv import ALGORITHM_ECCP256
from agent.card.vpcd import VpcdCard
from agent.center_link import load_device
from agent.operator_card import CardState
from agent.runtime import build_agent
from agent.store import Store
from sync.algorithms import SM2SM3, algorithm_of_certificate
from sync.client import CenterClient, CenterRefused
from sync.enroll import DEVICE_KIND
from sync.protocol import b64url_decode, batch_document, check_issued_by, verify_compact
from sync.sm2 import Sm2PrivateKey
from tests.center_support import ENTERPRISE, Clock, eventually, free_port, open_center, serve, wait_for
from tests.pcsc_support import CARD_PIN
from tests.tables import read_table
from tests.test_card_cli import Served, card_info, enroll, enroll_device, workspace

pytestmark = pytest.mark.pcsc


@pytest.fixture
async def sm2_served(tmp_path: Path) -> AsyncIterator[Served]:
    """An SM2 center (eport-center init --algorithm sm2), served on loopback from this event loop."""
    clock = Clock()
    center = open_center(tmp_path / "center", [ENTERPRISE], clock=clock, algorithm=SM2SM3)
    port = free_port()
    runner = await serve(center, port)
    try:
        yield Served(center, f"http://127.0.0.1:{port}", clock)
    finally:
        await runner.cleanup()
        center.close()


async def test_an_sm2_card_is_enrolled_signs_once_and_its_batch_comes_back_with_an_sm2_receipt(
    tmp_path: Path, sm2_served: Served, vpcd_card: tuple[EmulatedPivCard, VpcdCard, str]
) -> None:
    card, _vpcd, reader = vpcd_card
    ws = workspace(tmp_path / "ws", reader)
    code, _out, err = await enroll(ws, sm2_served.url, sm2_served.code())
    assert code == 0, err
    assert isinstance(card.key, Sm2PrivateKey)  # made on the card, as the center asked
    assert card.certificate is not None and algorithm_of_certificate(card.certificate) == SM2SM3
    check_issued_by(card.certificate, sm2_served.center.ca_certificate())
    info = json.loads((await card_info(ws, "--json")).out)
    assert info["algorithm"] == "SM2/SM3 国密 (SM2SM3)" and info["reader"] == reader
    assert (await enroll_device(ws, sm2_served.url, sm2_served.code(DEVICE_KIND))).code == 0
    device = load_device(ws)
    assert device is not None and algorithm_of_certificate(device.chain[0]) == SM2SM3

    # A new card has no 出口收汇 permission (FAQ 3 (2)) until SAFE gives it one: here SAFE does so at once.
    [new_card] = sm2_served.center.permission_requests(ENTERPRISE)["cards"]
    sm2_served.center.safe_set_permission(new_card["card"], days=365)
    form_nos = sm2_served.center.issue_forms(ENTERPRISE, 3)
    agent = build_agent(ws)
    await agent.start()
    try:
        await eventually(lambda: agent.card.state is CardState.LOCKED, 3, "the agent did not see the card")
        await asyncio.to_thread(agent.unlock, CARD_PIN)
        before = card.signatures
        rows = "".join(f"{form_no},2200\r\n" for form_no in form_nos)
        (ws.inbox / "filings" / "sm2.csv").write_text(f"form_no,port\r\n{rows}", encoding="utf-8")
        result = read_table(await wait_for(ws.results / "sm2.result.csv"))
        receipt = (await wait_for(ws.receipts / "sm2.receipt.jws")).read_text()
        store = Store(ws.store_file)
        await eventually(lambda: store.batches_in("delivered"), 10, "the batch was not marked delivered")
    finally:
        await agent.stop()
    assert [(r["form_no"], r["code"]) for r in result] == [(f, "OK") for f in form_nos]
    assert card.signatures == before + 1  # one card signature for the whole batch
    assert json.loads(b64url_decode(receipt.split(".")[0]))["alg"] == SM2SM3
    assert verify_compact(receipt, sm2_served.center.ca_certificate())["ok"] == 3

    [batch] = store.batches_in("delivered")
    payload = {**json.loads(batch["payload"]), "records": store.records(batch["id"])}
    payload["batch_id"] = "tampered-" + payload["batch_id"][:20]  # a fresh id: no stored answer applies
    client = CenterClient(sm2_served.url)
    try:
        with pytest.raises(CenterRefused) as refused:
            await client.send_batch(batch_document(payload, batch["signature"]))
    finally:
        await client.close()
    assert refused.value.code == "SIGNATURE_INVALID"


async def test_a_card_that_cannot_make_sm2_keys_is_told_and_keeps_its_key_and_the_code(
    tmp_path: Path, sm2_served: Served, vpcd_card: tuple[EmulatedPivCard, VpcdCard, str]
) -> None:
    card, _vpcd, reader = vpcd_card
    card.key_algorithms = (ALGORITHM_ECCP256,)  # a PIV card with P-256 only, as a YubiKey is
    kept, certificate = card.key, card.certificate
    ws = workspace(tmp_path / "ws", reader)
    code = sm2_served.code()
    ran = await enroll(ws, sm2_served.url, code)
    assert ran.code == 1, ran.err
    assert "该卡不能生成数据中心要求的SM2/SM3 国密 (SM2SM3)密钥，卡上原有的密钥和证书未改动" in ran.err
    assert card.key is kept and card.certificate is certificate
    assert sm2_served.operators() == 0 and sm2_served.codes_used() == 0  # the code still works for another card
