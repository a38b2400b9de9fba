"""`eport-agent run` and `eport-agent sync-daemon` on one workspace at the same time (issue 5): no lost update,
no double send. Both are real processes; the center is real, on loopback."""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa

from agent.store import Store
from center.db import batches, form_events
from tests.center_support import free_port, open_center, serve, wait_for
from tests.rigs import ENTERPRISE, enrolled_card, start_agent, workspace_for
from tests.tables import read_table

FILES, ROWS = 20, 10


async def test_run_and_sync_daemon_share_a_workspace_without_loss_or_double_send(tmp_path: Path) -> None:
    center = open_center(tmp_path, [ENTERPRISE])
    port = free_port()
    workspace = workspace_for(tmp_path / "ws", center, port, card=enrolled_card(center))
    forms = [center.issue_forms(ENTERPRISE, 100) for _ in range(FILES * ROWS // 100)]
    numbers = [f for chunk in forms for f in chunk]
    runner = await serve(center, port)
    agents = [await start_agent(workspace.root), await start_agent(workspace.root, "--headless")]
    try:
        for n in range(FILES):
            rows = "".join(f"{f},2200\n" for f in numbers[n * ROWS : (n + 1) * ROWS])
            (workspace.inbox / "filings" / f"f{n:02d}.csv").write_text("form_no,port\n" + rows)
            await asyncio.sleep(0.05)  # files keep arriving while both processes work: pacing, not waiting
        results = [await wait_for(workspace.results / f"f{n:02d}.result.csv", timeout=30) for n in range(FILES)]
    finally:
        for process in agents:
            process.terminate()
            process.communicate(timeout=20)
        await runner.cleanup()
    for result in results:
        rows = read_table(result)
        assert len(rows) == ROWS and {r["code"] for r in rows} == {"OK"}
    assert sorted(p.name for p in workspace.results.glob("*.csv")) == [f"f{n:02d}.result.csv" for n in range(FILES)]
    assert Store(workspace.store_file).counts() == {"delivered": FILES}
    with center.engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(batches)) == FILES
        filed = conn.execute(
            sa.select(form_events.c.form_no, sa.func.count())
            .where(form_events.c.event == "filed")
            .group_by(form_events.c.form_no)
        ).all()
    assert sorted(form for form, _ in filed) == sorted(numbers) and {n for _, n in filed} == {1}
    center.close()
