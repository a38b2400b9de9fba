"""The stages as a clerk meets them: a failing sync cycle is one problem sentence that clears once the cause is gone,
the headless sync daemon never signs, a file locked while it is read is read again, a batch the center keeps failing
on is set aside while the others go on, and the backoff holds while the center is away."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from aiohttp import web
from apscheduler.triggers.interval import IntervalTrigger

from agent.runtime import assemble
from agent.store import Store
from inbox.watcher import InboxWatcher
from sync.client import CenterClient
from sync.engine import MAX_ATTEMPTS
from tests.center_support import eventually, free_port, open_center, serve, wait_for
from tests.rigs import ENTERPRISE, PIN, agent_for, enroll_device, enrolled_card, workspace_for
from tests.tables import read_table


async def test_a_file_the_sync_cannot_write_is_named_in_the_problem_and_the_problem_clears_once_it_can(
    tmp_path: Path,
) -> None:
    center = open_center(tmp_path, [ENTERPRISE])
    forms = center.issue_forms(ENTERPRISE, 2)  # two feed entries for outbox/forms.csv
    port = free_port()
    workspace = workspace_for(tmp_path / "ws", center, port)
    enroll_device(center, workspace)
    blocker = workspace.outbox / "forms.csv"
    blocker.mkdir()  # forms.csv cannot be replaced, as when another program holds it
    runner = await serve(center, port)
    agent = agent_for(workspace, center, enrolled_card(center), port)
    await agent.start()
    try:
        await eventually(lambda: "forms.csv" in (agent.status()["problem"] or ""), 10, "the problem was not shown")
        problem = agent.status()["problem"]
        assert problem.startswith("文件操作失败") and "Traceback" not in problem
        assert agent.status()["center_unreachable_since"] is None  # the center is fine: it is a local file

        # Everything else is still delivered while forms.csv is held.
        await asyncio.to_thread(agent.unlock, PIN)
        (workspace.inbox / "filings" / "a.csv").write_text(f"form_no,port\n{forms[0]},2200\n", encoding="utf-8")
        await wait_for(workspace.results / "a.result.csv")
        updates = workspace.outbox / "updates"
        await eventually(lambda: len(_entries(updates)) == 3, 10, "the filing did not reach the day's updates")

        blocker.rmdir()  # the clerk closes the file
        await agent.sync_now()
        assert agent.status()["problem"] is None
        assert blocker.is_file() and len(blocker.read_text(encoding="utf-8-sig").splitlines()) == 3
        assert len(list(updates.glob("updates-*.csv"))) == 1, "one file a day"
        assert len(_entries(updates)) == 3, "each entry once"
    finally:
        await agent.stop()
        await runner.cleanup()
        center.close()


def _entries(updates: Path) -> list[dict[str, str]]:
    return [row for page in updates.glob("updates-*.csv") for row in read_table(page)]


async def test_the_sync_daemon_has_no_card_and_never_signs(tmp_path: Path) -> None:
    center = open_center(tmp_path, [ENTERPRISE])
    card, forms, port = enrolled_card(center), center.issue_forms(ENTERPRISE, 1), free_port()
    workspace = workspace_for(tmp_path / "ws", center, port)
    runner = await serve(center, port)
    resident = agent_for(workspace, center, card, port)  # the card stays locked: no PIN given
    daemon = assemble(workspace, CenterClient(f"http://127.0.0.1:{port}"), center.ca_certificate(), card=None)
    try:
        await resident.start()
        (workspace.inbox / "filings" / "a.csv").write_text(f"form_no,port\n{forms[0]},2200\n", encoding="utf-8")
        store = Store(workspace.store_file)
        await eventually(lambda: store.counts() == {"awaiting_signature": 1}, 10, "the file did not wait for the card")
        await resident.stop()
        await daemon.sync_now()
        assert store.counts() == {"awaiting_signature": 1}, "the daemon signed or sent what only the card may sign"
        assert daemon.status()["card"] is None and daemon.watcher is None and daemon.engine.signer is None
        await daemon.stop()  # it leaves sending to the next agent

        resident = agent_for(workspace, center, card, port)  # the clerk starts the agent again and unlocks
        await resident.start()
        await asyncio.to_thread(resident.unlock, PIN)
        await wait_for(workspace.results / "a.result.csv")
    finally:
        await resident.stop()
        await runner.cleanup()
        center.close()


def test_a_file_locked_while_it_is_read_is_read_again(tmp_path: Path) -> None:
    calls: list[Path] = []
    done = threading.Event()

    def take(path: Path) -> None:
        calls.append(path)
        if len(calls) == 1:
            raise PermissionError(13, "locked by another program", str(path))
        done.set()

    watcher = InboxWatcher(tmp_path, take, quiet=0.05)
    watcher.start()
    try:
        (tmp_path / "a.csv").write_text("form_no,port\n", encoding="utf-8")
        assert done.wait(5), "the locked file was not looked at again"
        assert calls == [tmp_path / "a.csv", tmp_path / "a.csv"]
    finally:
        watcher.stop()


async def test_a_batch_the_center_keeps_failing_on_is_set_aside_and_the_others_go_on(tmp_path: Path) -> None:
    center = open_center(tmp_path, [ENTERPRISE])
    poison, good = center.issue_forms(ENTERPRISE, 2)
    attempts = 0

    @web.middleware
    async def fails_on_poison(request: web.Request, handler: Any) -> web.StreamResponse:
        nonlocal attempts
        if request.path == "/api/v1/batches" and poison.encode() in await request.read():
            attempts += 1
            return web.json_response({"code": "INTERNAL_ERROR"}, status=500)  # its own trouble, every time
        return await handler(request)

    port = free_port()
    workspace = workspace_for(tmp_path / "ws", center, port)
    runner = await serve(center, port, fails_on_poison)
    agent = agent_for(workspace, center, enrolled_card(center), port, schedule=IntervalTrigger(seconds=0.2))
    try:
        await agent.start()
        await asyncio.to_thread(agent.unlock, PIN)
        (workspace.inbox / "filings" / "a.csv").write_text(f"form_no,port\n{poison},2200\n", encoding="utf-8")
        await eventually(lambda: attempts >= 1, 10, "the poison batch was not sent")
        (workspace.inbox / "filings" / "b.csv").write_text(f"form_no,port\n{good},2200\n", encoding="utf-8")
        await wait_for(workspace.results / "b.result.csv")  # not held up behind the one the center fails on
        assert agent.status()["center_unreachable_since"] is None  # the center is there: no backoff for everyone

        rows = read_table(await wait_for(workspace.results / "a.result.csv", timeout=20))
        assert attempts == MAX_ATTEMPTS and [r["code"] for r in rows] == ["CENTER_FAILED"]
        assert "已搁置" in rows[0]["message"]
        assert Store(workspace.store_file).counts() == {"delivered": 1, "rejected": 1}
    finally:
        await agent.stop()
        await runner.cleanup()
        center.close()


async def test_while_the_center_is_away_new_files_do_not_cut_the_backoff_short(tmp_path: Path) -> None:
    center = open_center(tmp_path, [ENTERPRISE])
    forms = center.issue_forms(ENTERPRISE, 3)
    requests = 0

    @web.middleware
    async def away(request: web.Request, handler: Any) -> web.StreamResponse:
        nonlocal requests
        requests += 1
        return web.json_response({}, status=503)  # the proxy in front of a center that is down

    port = free_port()
    workspace = workspace_for(tmp_path / "ws", center, port)
    runner = await serve(center, port, away)
    agent = agent_for(workspace, center, enrolled_card(center), port, schedule=IntervalTrigger(seconds=0.2))
    agent.engine.backoff.first = 60.0  # the first retry comes in 30–60 s
    try:
        await agent.start()
        await asyncio.to_thread(agent.unlock, PIN)
        await eventually(lambda: agent.status()["center_unreachable_since"] is not None, 10, "the 503 went unnoticed")
        seen = requests
        for n, form in enumerate(forms):  # new files and the 0.2 s schedule: signed, but the center is left alone
            (workspace.inbox / "filings" / f"f{n}.csv").write_text(f"form_no,port\n{form},2200\n", encoding="utf-8")
        store = Store(workspace.store_file)
        await eventually(lambda: store.counts().get("signed") == 3, 10, "the new files were not signed")
        assert requests == seen, "the backoff's wait was cut short"

        agent.request_sync(force=True)  # the clerk's own "sync now" goes through at once
        await eventually(lambda: requests > seen, 5, "sync now did not try the center")
    finally:
        await agent.stop()
        await runner.cleanup()
        center.close()
