"""Unattended sync that a clerk can forget about (issue 5): the queue survives an absent center and drains by itself,
retries back off, whole-batch refusals are final."""

from __future__ import annotations

import asyncio
from pathlib import Path

from apscheduler.triggers.interval import IntervalTrigger

from agent.store import Store
from center.ca import cert_serial_hex
from tests.center_support import free_port, open_center, serve, wait_for
from tests.rigs import ENTERPRISE, PIN, agent_for, enrolled_card, loopback_agent, workspace_for
from tests.tables import read_table


async def test_center_down_for_a_while_then_up_the_queue_drains_by_itself(tmp_path: Path) -> None:
    center = open_center(tmp_path, [ENTERPRISE])
    card, forms, port = enrolled_card(center), center.issue_forms(ENTERPRISE, 3), free_port()
    workspace = workspace_for(tmp_path / "ws", center, port)
    # The schedule alone would not come back for an hour: only the retries can drain the queue.
    agent = agent_for(workspace, center, card, port, schedule=IntervalTrigger(hours=1), retry_cap=1.0)
    await agent.start()
    runner = None
    try:
        await asyncio.get_running_loop().run_in_executor(None, agent.unlock, PIN)
        (workspace.inbox / "filings" / "a.csv").write_text("form_no,port\n" + "".join(f"{f},2200\n" for f in forms))
        for _ in range(100):
            if agent.engine.backoff.failures >= 2:
                break
            await asyncio.sleep(0.05)
        assert agent.engine.backoff.failures >= 2, "the agent kept trying while the center was away"
        status = agent.status()
        assert status["center_unreachable_since"] is not None and "next try in" in status["problem"]
        waiting = Store(workspace.store_file).counts()
        assert set(waiting) <= {"signed", "sent"} and sum(waiting.values()) == 1  # queued, nothing lost

        runner = await serve(center, port)  # the center comes back
        result = await wait_for(workspace.results / "a.result.csv", timeout=10)
        rows = read_table(result)
        assert [r["code"] for r in rows] == ["OK", "OK", "OK"]
        assert agent.status()["center_unreachable_since"] is None and agent.engine.backoff.failures == 0
    finally:
        await agent.stop()
        if runner is not None:
            await runner.cleanup()
        center.close()


async def test_a_whole_batch_refusal_is_final_and_every_row_is_answered(tmp_path: Path) -> None:
    with open_center(tmp_path, [ENTERPRISE], access=False) as center:
        card, forms = enrolled_card(center), center.issue_forms(ENTERPRISE, 2)
        assert card.certificate is not None and center.revoke_operator(cert_serial_hex(card.certificate))
        async with loopback_agent(center, tmp_path / "ws", card) as (agent, workspace, _port):
            (workspace.inbox / "filings" / "b.csv").write_text("form_no,port\n" + "".join(f"{f},2200\n" for f in forms))
            result = await wait_for(workspace.results / "b.result.csv")
            rows = read_table(result)
            assert [(r["status"], r["code"]) for r in rows] == [("ERROR", "OPERATOR_REVOKED")] * 2
            assert Store(workspace.store_file).counts() == {"rejected": 1}
            await agent.sync_now()
            assert Store(workspace.store_file).counts() == {"rejected": 1}  # final: never sent again
