"""A filing file dropped into inbox/ comes back as a signed result, through real pcscd + vpcd + the emulated card
and a real center on loopback (issue 2)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.card.emulated import EmulatedPivCard
from agent.card.errors import InvalidPinError, PinBlockedError
from agent.card.pcsc import PcscConnection
from agent.card.piv import PivSession
from agent.card.piv_admin import DEFAULT_MANAGEMENT_KEY, authenticate
from agent.config import AgentConfig
from agent.facade import Agent
from agent.runtime import build_agent
from agent.store import Store
from agent.workspace import Workspace
from center.service import Center
from sync.client import CenterClient, CenterRefused
from sync.protocol import batch_document, verify_compact
from tests.center_support import eventually, free_port, open_center, serve, wait_for
from tests.rigs import workspace_for
from tests.tables import read_table

PIN = "123456"
ENTERPRISE = "1101230001"
OTHER = "3102450002"

pytestmark = pytest.mark.pcsc


@dataclass
class Rig:
    center: Center
    url: str
    workspace: Workspace
    card: EmulatedPivCard
    reader: str
    mine: list[str]
    others: list[str]

    def config(self) -> AgentConfig:
        return AgentConfig.load(self.workspace)

    def counts(self) -> dict[str, int]:
        return Store(self.workspace.store_file).counts()


@pytest.fixture
def center_db(tmp_path: Path) -> Iterator[Center]:
    with open_center(tmp_path, [ENTERPRISE, OTHER]) as center:
        yield center


@pytest.fixture
async def rig(tmp_path: Path, center_db: Center, vpcd_card: tuple[EmulatedPivCard, object, str]) -> AsyncIterator[Rig]:
    card, _vpcd, reader = vpcd_card
    # Enrollment through the real stack: key generated on the card, certified by the center, written back.
    connection = PcscConnection(reader)
    session = PivSession(connection)
    authenticate(session, DEFAULT_MANAGEMENT_KEY)  # the management key, as a real card wants it
    session.verify_pin(PIN)
    certificate = center_db.enroll_operator(
        ENTERPRISE, session.generate_key(), "操作员", session.get_serial(), fx_days=365
    )
    session.put_certificate(certificate)
    connection.close()
    card.reset()

    port = free_port()
    runner = await serve(center_db, port)
    workspace = workspace_for(tmp_path / "ws", center_db, port, reader)
    yield Rig(
        center_db,
        f"http://127.0.0.1:{port}",
        workspace,
        card,
        reader,
        center_db.issue_forms(ENTERPRISE, 6),
        center_db.issue_forms(OTHER, 1),
    )
    await runner.cleanup()


@pytest.fixture
async def agent(rig: Rig) -> AsyncIterator[Agent]:
    agent = build_agent(rig.workspace, rig.config())
    await agent.start()
    yield agent
    await agent.stop()


async def unlock(agent: Agent, pin: str) -> None:
    await asyncio.get_running_loop().run_in_executor(None, agent.unlock, pin)


def drop(workspace: Workspace, name: str, rows: list[tuple[str, str]]) -> Path:
    lines = ["form_no,port", *(f"{f},{p}" for f, p in rows)]
    path = workspace.inbox / "filings" / name
    path.write_bytes("\r\n".join(lines).encode("utf-8"))
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    return read_table(path)


async def test_dropped_filing_comes_back_as_signed_result(rig: Rig, agent: Agent) -> None:
    await unlock(agent, PIN)
    m = rig.mine
    rows = [
        (m[0], "2200"),
        (m[1], "深圳海关"),
        ("ZZZ999999", "2200"),  # unknown form
        (rig.others[0], "2200"),  # another enterprise's form
    ]
    source = drop(rig.workspace, "备案0601.csv", rows)
    result = await wait_for(rig.workspace.results / "备案0601.result.csv")
    got = [(r["row"], r["form_no"], r["status"], r["code"]) for r in read_csv(result)]
    assert got == [
        ("2", m[0], "OK", "OK"),
        ("3", m[1], "OK", "OK"),
        ("4", "ZZZ999999", "ERROR", "FORM_NOT_FOUND"),
        ("5", rig.others[0], "ERROR", "FORM_NOT_FOUND"),
    ]
    messages = [r["message"] for r in read_csv(result)]
    assert "设置成功" in messages[0] and " / " in messages[0]
    # Another enterprise's form is answered exactly like one that does not exist, apart from its number.
    assert messages[3].replace(rig.others[0], "X") == messages[2].replace("ZZZ999999", "X")

    receipt = await wait_for(rig.workspace.receipts / "备案0601.receipt.jws")
    claims = verify_compact(receipt.read_text(), rig.center.ca_certificate())
    assert (claims["ok"], claims["error"]) == (2, 2)
    assert not source.exists()
    assert [p.name.endswith("备案0601.csv") for p in rig.workspace.archive.iterdir()] == [True]
    assert rig.center.form(m[0])["customs_status"] == "filed"  # type: ignore[index]
    assert rig.card.signatures == 1  # one card signature for the whole batch

    drop(rig.workspace, "again.csv", [(m[0], "5100")])  # filed by the first file: the center refuses it
    again = read_csv(await wait_for(rig.workspace.results / "again.result.csv"))
    assert again[0]["code"] == "FORM_ALREADY_FILED" and "撤销备案" in again[0]["message"]


async def test_a_range_row_gets_one_result_row_per_form(rig: Rig, agent: Agent) -> None:
    await unlock(agent, PIN)
    path = rig.workspace.inbox / "filings" / "range.csv"
    path.write_text(f"start_form_no,count,port\n{rig.mine[2]},3,2200\n", encoding="utf-8")
    rows = read_csv(await wait_for(rig.workspace.results / "range.result.csv"))
    assert [(r["row"], r["form_no"], r["code"]) for r in rows] == [("2", f, "OK") for f in rig.mine[2:5]]


async def test_rows_the_agent_can_check_are_refused_before_signing(rig: Rig, agent: Agent) -> None:
    await unlock(agent, PIN)
    drop(rig.workspace, "f.csv", [(rig.mine[0], "9999"), (rig.mine[1], "2200"), (rig.mine[1], "5100")])
    errors = read_csv(await wait_for(rig.workspace.errors / "f.errors.csv"))
    assert [(e["row"], e["column"]) for e in errors] == [("2", "port"), ("4", "form_no")]
    assert "not in the port table" in errors[0]["message"] and "appears more than once" in errors[1]["message"]
    assert rig.card.signatures == 0


async def test_a_batch_changed_after_signing_is_refused(rig: Rig, agent: Agent) -> None:
    await unlock(agent, PIN)
    drop(rig.workspace, "a.csv", [(rig.mine[0], "2200")])
    await wait_for(rig.workspace.results / "a.result.csv")
    store = Store(rig.workspace.store_file)
    await eventually(lambda: store.batches_in("delivered"), 5, "the batch was not marked delivered")
    batch = store.batches_in("delivered")[0]
    payload = {**json.loads(batch["payload"]), "records": store.records(batch["id"])}
    payload["batch_id"] = "tampered-" + payload["batch_id"][:20]  # fresh id, so no stored answer applies
    client = CenterClient(rig.url)
    try:
        unchanged = dict(payload, records=[dict(payload["records"][0], form_no=rig.mine[1])])
        with pytest.raises(CenterRefused) as refused:
            await client.send_batch(batch_document(unchanged, batch["signature"]))
    finally:
        await client.close()
    assert refused.value.code == "SIGNATURE_INVALID"
    assert rig.center.form(rig.mine[1])["customs_status"] == "unused"  # type: ignore[index]


async def test_the_same_batch_sent_twice_is_applied_once(rig: Rig, agent: Agent) -> None:
    await unlock(agent, PIN)
    drop(rig.workspace, "b.csv", [(rig.mine[3], "2200")])
    first = read_csv(await wait_for(rig.workspace.results / "b.result.csv"))
    assert first[0]["code"] == "OK"
    store = Store(rig.workspace.store_file)
    await eventually(lambda: store.batches_in("delivered"), 10, "the batch was not marked delivered")
    batch = store.batches_in("delivered")[0]
    payload = {**json.loads(batch["payload"]), "records": store.records(batch["id"])}
    client = CenterClient(rig.url)
    try:
        again = await client.send_batch(batch_document(payload, batch["signature"]))
    finally:
        await client.close()
    # The stored answer comes back: the row is still OK, not "already filed".
    assert again == json.loads(batch["answer"])
    assert again["results"][0]["code"] == "OK"


async def test_wrong_pin_reports_tries_left_and_is_never_retried(
    rig: Rig, agent: Agent, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    before = rig.card.verify_attempts  # enrollment verified the PIN once
    with pytest.raises(InvalidPinError) as wrong:
        await unlock(agent, "000000")
    assert wrong.value.tries_left == 2
    assert rig.card.verify_attempts == before + 1
    drop(rig.workspace, "c.csv", [(rig.mine[4], "2200")])
    # Read and waiting for the card: where an agent that replays PINs would try one. And once more on a sync.
    await eventually(lambda: rig.counts() == {"awaiting_signature": 1}, 10, "c.csv did not wait for the card")
    await agent.sync_now()
    assert rig.card.verify_attempts == before + 1  # the agent never tried the PIN again by itself
    assert rig.counts() == {"awaiting_signature": 1}
    assert not (rig.workspace.results / "c.result.csv").exists()

    await unlock(agent, PIN)  # the clerk types the right PIN: the waiting batch goes out
    rows = read_csv(await wait_for(rig.workspace.results / "c.result.csv"))
    assert rows[0]["code"] == "OK"
    assert "000000" not in caplog.text and PIN not in caplog.text  # no PIN in any log line
    assert "awaits the card" in caplog.text and "c.csv" in caplog.text  # one line per state change, with the file


async def test_the_card_blocks_after_three_wrong_pins(rig: Rig, agent: Agent) -> None:
    before = rig.card.verify_attempts
    for tries_left in (2, 1):
        with pytest.raises(InvalidPinError) as wrong:
            await unlock(agent, "000000")
        assert wrong.value.tries_left == tries_left
    with pytest.raises(PinBlockedError):
        await unlock(agent, "000000")
    with pytest.raises(PinBlockedError):
        await unlock(agent, PIN)  # even the right PIN is refused now
    assert agent.status()["card"] == "blocked"
    assert rig.card.verify_attempts == before + 4


async def test_a_file_with_mistakes_is_not_signed_and_gets_an_errors_file(rig: Rig, agent: Agent) -> None:
    await unlock(agent, PIN)
    source = drop(rig.workspace, "bad.csv", [(rig.mine[0], "2200"), ("12AB", "2200"), (rig.mine[1], "")])
    errors = read_csv(await wait_for(rig.workspace.errors / "bad.errors.csv"))
    assert [(e["row"], e["column"], e["value"]) for e in errors] == [("3", "form_no", "12AB"), ("4", "port", "")]
    await eventually(lambda: not source.exists(), 5, "the file did not leave the inbox")
    assert len(list(rig.workspace.archive.iterdir())) == 1
    assert rig.card.signatures == 0
    assert rig.center.form(rig.mine[0])["customs_status"] == "unused"  # type: ignore[index]
    assert not list(rig.workspace.results.iterdir())


async def test_the_same_file_dropped_again_after_its_answer_is_sent_again_and_the_center_answers_it(
    rig: Rig, agent: Agent
) -> None:
    await unlock(agent, PIN)
    drop(rig.workspace, "d.csv", [(rig.mine[5], "2200")])
    await wait_for(rig.workspace.results / "d.result.csv")
    drop(rig.workspace, "d-again.csv", [(rig.mine[5], "2200")])
    [row] = read_csv(await wait_for(rig.workspace.results / "d-again.result.csv"))
    # A real double: the center's rule answers it, and the result names the earlier copy (agent.repeats).
    assert row["code"] == "FORM_ALREADY_FILED" and "与 d.csv（" in row["message"] and "放入）内容相同" in row["message"]
    assert rig.card.signatures == 2
    assert len(list(rig.workspace.archive.iterdir())) == 2  # both copies kept, neither lost


async def test_batches_wait_across_a_restart_until_the_card_is_unlocked(rig: Rig) -> None:
    first = build_agent(rig.workspace, rig.config())
    await first.start()
    drop(rig.workspace, "e.csv", [(rig.mine[2], "2200"), (rig.mine[3], "2200")])
    await eventually(lambda: rig.counts() == {"awaiting_signature": 1}, 5, "e.csv did not wait for the card")
    await first.stop()

    second = build_agent(rig.workspace, rig.config())
    await second.start()
    try:
        await unlock(second, PIN)
        rows = read_csv(await wait_for(rig.workspace.results / "e.result.csv"))
    finally:
        await second.stop()
    assert [r["code"] for r in rows] == ["OK", "OK"]
    assert rig.counts() == {"delivered": 1}
