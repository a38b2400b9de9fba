"""The agent on an SM2 card, in process (the PC/SC path is tests/test_sm2_end_to_end.py): a dropped file is signed
SM2SM3 once, the SM2 center's receipt is checked; a card of the other algorithm than the center's is refused as a
whole, and the clerk reads why in Chinese and English, both ways round."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.store import Store
from sync.algorithms import ES256, SM2SM3
from sync.protocol import b64url_decode, verify_compact
from sync.sm2 import Sm2PrivateKey
from tests import rigs
from tests.center_support import open_center, wait_for
from tests.tables import read_table


def drop_filing(inbox: Path, name: str, form_no: str) -> None:
    (inbox / "filings" / name).write_text(f"form_no,port\r\n{form_no},2200\r\n", encoding="utf-8")


async def test_an_sm2_card_signs_once_and_the_sm2_receipt_is_checked(tmp_path: Path) -> None:
    with open_center(tmp_path / "center", [rigs.ENTERPRISE], algorithm=SM2SM3) as center:
        card = rigs.enrolled_card(center)
        assert isinstance(card.key, Sm2PrivateKey)
        async with rigs.loopback_agent(center, tmp_path / "ws", card) as (agent, workspace, _port):
            assert agent.card.info.algorithm == "SM2/SM3 国密 (SM2SM3)"
            form_no = center.issue_forms(rigs.ENTERPRISE, 1)[0]
            drop_filing(workspace.inbox, "a.csv", form_no)
            [row] = read_table(await wait_for(workspace.results / "a.result.csv"))
            receipt = (await wait_for(workspace.receipts / "a.receipt.jws")).read_text()
        assert (row["status"], row["code"]) == ("OK", "OK")
        assert card.signatures == 1  # one card signature for the batch
        assert json.loads(b64url_decode(receipt.split(".")[0]))["alg"] == SM2SM3
        assert verify_compact(receipt, center.ca_certificate())["ok"] == 1
        [batch] = Store(workspace.store_file).batches_in("delivered")
        assert json.loads(b64url_decode(batch["signature"].split(".")[0]))["alg"] == SM2SM3


@pytest.mark.parametrize(
    ("card_center", "agent_center"), [(ES256, SM2SM3), (SM2SM3, ES256)], ids=["p256-card", "sm2-card"]
)
async def test_a_card_of_the_other_algorithm_is_refused_and_the_clerk_reads_why(
    tmp_path: Path, card_center: str, agent_center: str
) -> None:
    with (
        open_center(tmp_path / "issuer", [rigs.ENTERPRISE], algorithm=card_center) as issuer,
        open_center(tmp_path / "center", [rigs.ENTERPRISE], algorithm=agent_center) as center,
    ):
        card = rigs.enrolled_card(issuer)
        async with rigs.loopback_agent(center, tmp_path / "ws", card) as (_agent, workspace, _port):
            form_no = center.issue_forms(rigs.ENTERPRISE, 1)[0]
            drop_filing(workspace.inbox, "b.csv", form_no)
            [row] = read_table(await wait_for(workspace.results / "b.result.csv"))
        assert (row["status"], row["code"]) == ("ERROR", "ALGORITHM_NOT_ACCEPTED")
        names = {ES256: "ECDSA P-256 (ES256)", SM2SM3: "SM2/SM3 国密 (SM2SM3)"}
        assert f"本数据中心只签发和接受{names[agent_center]}" in row["message"]
        assert f"the signing certificate uses {names[card_center]}" in row["message"]
        assert center.form(form_no)["customs_status"] == "unused"  # type: ignore[index]
