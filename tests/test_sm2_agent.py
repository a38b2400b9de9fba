"""The agent on an SM2 card, in process (the PC/SC path is tests/test_sm2_end_to_end.py): a dropped file is signed
SM2SM3 once, the SM2 center's receipt is checked; a card of the other algorithm than the center's is refused as a
whole, and the clerk reads why in Chinese and English, both ways round."""

from __future__ import annotations

import json
import subprocess
import sys
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


def test_the_sm2_libraries_are_loaded_only_when_an_sm2_key_is_used() -> None:
    """The idle agent's budget (docs/PERFORMANCE.md): a P-256 agent signs and checks without gmssl-pyx or asn1crypto,
    an SM2 key brings them in."""
    script = (
        "import sys\n"
        "import agent.cli, agent.runtime, agent.facade, center.service\n"
        "from cryptography.hazmat.primitives.asymmetric import ec\n"
        "from agent.card.emulated import self_signed_certificate\n"
        "from sync.protocol import sign_detached, software_signer, verify_detached\n"
        "key = ec.generate_private_key(ec.SECP256R1())\n"
        "verify_detached(sign_detached(b'{}', [self_signed_certificate(key)], software_signer(key)), b'{}')\n"
        "loaded = lambda: sorted(m for m in ('gmssl_pyx', 'asn1crypto') if m in sys.modules)\n"
        "print(loaded())\n"
        "from sync.sm2 import Sm2PrivateKey, private_key_pem\n"
        "private_key_pem(Sm2PrivateKey.generate())\n"
        "print(loaded())\n"
    )
    ran = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert ran.stdout.splitlines() == ["[]", "['asn1crypto', 'gmssl_pyx']"], ran.stderr
