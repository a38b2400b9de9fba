"""Chaos: the agent is SIGKILLed at random moments, 100 times, across intake, signing, sending and result writing,
and restarted each time — in a third of the rounds with the sync daemon beside it killed first, in another third
both at once — while files keep arriving and the center misbehaves (down for a while, 500s, connections reset after
it committed, slow answers). At the end nothing is lost, nothing is applied twice, and the last agent started gets
the whole queue through within seconds (nothing left behind by a dead process has to run out first).

The agent is the real program in its own process (tests/agent_process.py); the center is real, on loopback, with a
fault-injecting middleware in front of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiohttp import web

from agent.store import Store
from center.db import batches, form_events
from tests.center_support import free_port, open_center, serve, wait_for
from tests.rigs import ENTERPRISE, enrolled_card, spawn_agent, workspace_for
from tests.tables import read_table

FILES, ROWS, KILLS = 40, 5, 100
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def fault_middleware(rng: random.Random, counts: dict[str, int]) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def faults(request: web.Request, handler: Handler) -> web.StreamResponse:
        roll = rng.random()
        if roll < 0.10:
            counts["500"] += 1
            return web.json_response(
                {"code": "INTERNAL_ERROR", "message_zh": "故障", "message_en": "fault"}, status=500
            )
        if roll < 0.15:
            counts["slow"] += 1
            await asyncio.sleep(rng.uniform(0.5, 2.0))
        response = await handler(request)
        if roll > 0.85 and request.method == "POST" and request.transport is not None:
            counts["reset"] += 1  # the center committed, the agent never hears the answer
            request.transport.close()
        return response

    return faults


def spawn_daemon(workspace: Path, mode: str) -> contextlib.AbstractContextManager[subprocess.Popen[str] | None]:
    """The sync daemon beside `run` in the rounds that have one."""
    return spawn_agent(workspace, "--headless") if mode != "run" else contextlib.nullcontext()


@pytest.mark.slow
@pytest.mark.timeout(900)
async def test_sigkill_and_center_faults_lose_nothing_and_apply_nothing_twice(tmp_path: Path) -> None:
    rng = random.Random(20261127)
    center = open_center(tmp_path, [ENTERPRISE])
    port = free_port()
    card = enrolled_card(center)
    workspace = workspace_for(tmp_path / "ws", center, port, card=card, interval_seconds=2, retry_max_seconds=1)
    numbers = [f for _ in range(FILES * ROWS // 100) for f in center.issue_forms(ENTERPRISE, 100)]

    counts = {"500": 0, "slow": 0, "reset": 0, "down": 0, "kills": 0, "daemon kills": 0}
    faults = fault_middleware(rng, counts)
    runner = await serve(center, port, faults)

    async def drop_files() -> None:
        for n in range(FILES):
            rows = "".join(f"{f},2200\n" for f in numbers[n * ROWS : (n + 1) * ROWS])
            (workspace.inbox / "filings" / f"f{n:02d}.csv").write_text("form_no,port\n" + rows)
            await asyncio.sleep(rng.uniform(0.2, 1.5))

    dropping = asyncio.create_task(drop_files())
    try:
        for kill in range(KILLS):
            # Every third round the sync daemon shares the workspace and is killed while `run` holds the card;
            # every third round after that both die at once.
            mode = ("run", "daemon", "both")[kill % 3]
            with spawn_agent(workspace.root) as agent, spawn_daemon(workspace.root, mode) as daemon:
                await asyncio.sleep(rng.uniform(0.2, 1.4))  # from before it is ready to well into its work
                if daemon is not None:
                    daemon.send_signal(signal.SIGKILL)
                    await asyncio.to_thread(daemon.wait)
                    counts["daemon kills"] += 1
                    if mode == "daemon":
                        await asyncio.sleep(rng.uniform(0.1, 0.8))  # `run` carries on alone for a while
                agent.send_signal(signal.SIGKILL)
                await asyncio.to_thread(agent.wait)
            counts["kills"] += 1
            if kill % 25 == 12:  # the center goes away for a while (and comes back on the same port)
                counts["down"] += 1
                await runner.cleanup()
                with spawn_agent(workspace.root) as agent:
                    await asyncio.sleep(2.0)
                    agent.send_signal(signal.SIGKILL)
                    await asyncio.to_thread(agent.wait)
                runner = await serve(center, port, faults)
        await dropping
        with spawn_agent(workspace.root) as agent:  # the last run is left alone to finish
            started = time.monotonic()
            try:
                # Nothing has to run out after a crash: the whole queue is through within seconds, even with the
                # center still answering 500s, resetting connections and dawdling.
                results = [await wait_for(workspace.results / f"f{n:02d}.result.csv", timeout=30) for n in range(FILES)]
                recovery = time.monotonic() - started
            finally:
                agent.terminate()
                await asyncio.to_thread(agent.wait)
    finally:
        await runner.cleanup()

    assert recovery < 30, recovery
    assert counts["kills"] == KILLS and counts["daemon kills"] > KILLS // 2, counts
    assert counts["500"] and counts["reset"] and counts["down"], counts
    # Every input row has exactly one result row, once; every file is in the archive; nothing else was written.
    for n, result in enumerate(results):
        rows = read_table(result)
        assert [r["form_no"] for r in rows] == numbers[n * ROWS : (n + 1) * ROWS]
        assert {r["code"] for r in rows} == {"OK"}, rows
    assert sorted(p.name for p in workspace.results.glob("*.csv")) == [f"f{n:02d}.result.csv" for n in range(FILES)]
    assert list(workspace.errors.glob("*.csv")) == []
    assert len(list(workspace.archive.iterdir())) == FILES and not list((workspace.inbox / "filings").iterdir())
    assert Store(workspace.store_file).counts() == {"delivered": FILES}
    # The center applied every record once: one batch per file, one 'filed' event per form.
    with center.engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(batches)) == FILES
        filed = dict(
            conn.execute(
                sa.select(form_events.c.form_no, sa.func.count())
                .where(form_events.c.event == "filed")
                .group_by(form_events.c.form_no)
            ).all()
        )
    assert filed == dict.fromkeys(numbers, 1)
    center.close()
