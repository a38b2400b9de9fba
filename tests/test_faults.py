"""Faults a clerk never has to think about: a second agent on the same workspace is turned away without touching
anything, and an agent killed mid-work sends its queue as soon as it is started again (the operating system, not a
clock, says who owns a workspace)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from agent.runtime import build_agent
from agent.store import Store
from agent.workspace import Workspace
from center.db import batches
from tests.center_support import eventually, free_port, open_center, serve, wait_for
from tests.rigs import ENTERPRISE, PIN, agent_cli, agent_for, enrolled_card, loopback_agent, start_agent, workspace_for


async def test_a_second_agent_on_the_same_workspace_is_turned_away_and_touches_nothing(tmp_path: Path) -> None:
    center = open_center(tmp_path, [ENTERPRISE])
    async with loopback_agent(center, tmp_path / "ws") as (agent, workspace, _port):
        control = (workspace.state / "control.json").read_text(encoding="utf-8")
        code, _out, err = await asyncio.to_thread(agent_cli, "run", "--no-tray", "--workspace", str(workspace.root))
        assert code == 3
        assert "已有 eport-agent 在运行" in err and f"{os.getpid()}" in err and "already runs" in err
        assert (workspace.state / "control.json").read_text(encoding="utf-8") == control
        assert agent.status()["card"] == "unlocked"  # the first one carries on
    center.close()


async def test_an_agent_killed_mid_work_sends_its_queue_as_soon_as_it_is_started_again(tmp_path: Path) -> None:
    center = open_center(tmp_path, [ENTERPRISE])
    port = free_port()
    workspace = workspace_for(tmp_path / "ws", center, port, card=enrolled_card(center))
    forms = center.issue_forms(ENTERPRISE, 3)
    process = await start_agent(workspace.root)  # the center is down: the batches queue up signed
    for n, form in enumerate(forms):
        (workspace.inbox / "filings" / f"f{n}.csv").write_text(f"form_no,port\n{form},2200\n", encoding="utf-8")
    store = Store(workspace.store_file)
    await eventually(lambda: sum(store.counts().get(s, 0) for s in ("signed", "sent")) == 3, 10, "not queued")
    process.send_signal(signal.SIGKILL)  # a power cut
    process.communicate(timeout=10)

    runner = await serve(center, port)
    process = await start_agent(workspace.root)
    started = time.monotonic()
    try:
        for n in range(3):
            await wait_for(workspace.results / f"f{n}.result.csv", timeout=10)
        assert time.monotonic() - started < 5, "the restarted agent waited for the dead one's claim to run out"
        assert json.loads((workspace.state / "control.json").read_text(encoding="utf-8"))["pid"] == process.pid
    finally:
        process.terminate()
        process.communicate(timeout=20)
        await runner.cleanup()
        center.close()


async def test_a_file_whose_events_were_lost_is_found_at_the_next_sync(tmp_path: Path) -> None:
    center = open_center(tmp_path, [ENTERPRISE])
    forms = center.issue_forms(ENTERPRISE, 1)
    async with loopback_agent(center, tmp_path / "ws") as (agent, workspace, _port):
        assert agent.watcher is not None
        agent.watcher.observer.stop()  # from here on no file event arrives (a queue overflow, a network share)
        agent.watcher.observer.join(5)
        (workspace.inbox / "filings" / "lost.csv").write_text(f"form_no,port\n{forms[0]},2200\n", encoding="utf-8")
        agent.request_sync()  # what the schedule does every interval
        await wait_for(workspace.results / "lost.result.csv")
    center.close()


async def test_an_inbox_on_a_network_share_can_be_polled(tmp_path: Path) -> None:
    center = open_center(tmp_path, [ENTERPRISE])
    forms = center.issue_forms(ENTERPRISE, 1)
    async with loopback_agent(center, tmp_path / "ws", polling=True) as (agent, workspace, _port):
        assert agent.watcher is not None and type(agent.watcher.observer).__name__ == "PollingObserver"
        (workspace.inbox / "filings" / "share.csv").write_text(f"form_no,port\n{forms[0]},2200\n", encoding="utf-8")
        await wait_for(workspace.results / "share.result.csv")
    center.close()


def test_the_log_rotates_at_the_size_agent_toml_sets(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path / "ws")
    workspace.init()
    text = workspace.config_file.read_text(encoding="utf-8").replace("max_bytes = 1048576", "max_bytes = 2000")
    workspace.config_file.write_text(text.replace("backups = 5", "backups = 2"), encoding="utf-8")
    script = (
        "import logging, sys; from agent.cli import _setup_logging; from agent.workspace import Workspace;"
        "_setup_logging(Workspace(__import__('pathlib').Path(sys.argv[1])), False);"
        "[logging.getLogger('eport.agent').info('line %d of a long outage', n) for n in range(500)]"
    )
    subprocess.run([sys.executable, "-c", script, str(workspace.root)], check=True, capture_output=True)
    logs = sorted(p.name for p in workspace.logs.iterdir())
    assert logs == ["agent.log", "agent.log.1", "agent.log.2"]
    assert all(p.stat().st_size <= 2000 for p in workspace.logs.iterdir())


async def test_status_and_unlock_are_honest_about_the_card_and_say_so_in_their_exit_code(tmp_path: Path) -> None:
    center = open_center(tmp_path, [ENTERPRISE])
    card = enrolled_card(center)
    port = free_port()
    workspace = workspace_for(tmp_path / "ws", center, port, card=card)
    runner = await serve(center, port)
    agent = build_agent(workspace)
    await agent.start()
    ws = str(workspace.root)
    try:
        locked = await asyncio.to_thread(agent_cli, "status", "--workspace", ws)
        assert locked[0] == 1 and "操作员卡未解锁" in locked[1]  # the clerk is needed: a script can tell
        unlock = ("unlock", "--pin-stdin", "--workspace", ws)
        assert (await asyncio.to_thread(agent_cli, *unlock, stdin=f"{PIN}\n"))[0] == 0
        fine = await asyncio.to_thread(agent_cli, "status", "--workspace", ws)
        assert fine[0] == 0, fine

        # Unlocked already: a mistyped PIN is not sent to the card, so it spends none of its tries.
        code, out, _err = await asyncio.to_thread(agent_cli, *unlock, stdin="999999\n")
        assert code == 0 and "已解锁" in out
        assert card.tries_left == 3 and agent.status()["card"] == "unlocked"
    finally:
        await agent.stop()
        await runner.cleanup()
        center.close()


async def test_sync_with_the_center_away_fails_with_a_sentence_not_a_traceback(tmp_path: Path) -> None:
    center = open_center(tmp_path, [ENTERPRISE])
    workspace = workspace_for(tmp_path / "ws", center, free_port())  # nothing listens there
    code, _out, err = await asyncio.to_thread(agent_cli, "sync", "--workspace", str(workspace.root))
    assert code == 1 and "同步未完成" in err and "the sync did not complete" in err
    assert "Traceback" not in err and "Error(" not in err
    center.close()


@contextlib.contextmanager
def small_disk(path: Path, size: str = "4m") -> Iterator[Path]:
    """A real, small file system (tmpfs) to fill up; skipped where mounting is not allowed (not root)."""
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode(errors='replace').strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as out, contextlib.suppress(OSError):
        while out.write(b"\0" * 4096):  # unbuffered: the write that finds no room raises here
            pass
    return filler


async def test_a_full_disk_loses_nothing_says_so_and_the_agent_carries_on_once_there_is_room(tmp_path: Path) -> None:
    center = open_center(tmp_path, [ENTERPRISE])
    forms = center.issue_forms(ENTERPRISE, 2)
    with small_disk(tmp_path / "disk") as disk:
        async with loopback_agent(center, disk / "ws") as (agent, workspace, _port):
            agent.pause()  # the file is read and stored, then the disk fills before it is signed and sent
            (workspace.inbox / "filings" / "a.csv").write_text(f"form_no,port\n{forms[0]},2200\n", encoding="utf-8")
            store = Store(workspace.store_file)
            await eventually(lambda: store.counts() == {"received": 1}, 10, "the file was not taken")
            filler = fill(disk)
            agent.resume()
            await agent.sync_now()
            assert "磁盘已满" in (agent.status()["problem"] or ""), agent.status()["problem"]
            assert not list(workspace.outbox.rglob(".*.tmp")), "a half-written file was left behind"

            filler.unlink()  # room again
            await agent.sync_now()
            await wait_for(workspace.results / "a.result.csv")
            assert agent.status()["problem"] is None
    with center.engine.connect() as conn:  # applied exactly once
        assert conn.scalar(sa.select(sa.func.count()).select_from(batches)) == 1
    center.close()


async def test_a_copy_left_half_taken_by_a_crash_is_kept_in_the_archive_at_the_next_start(tmp_path: Path) -> None:
    center = open_center(tmp_path, [ENTERPRISE])
    workspace = workspace_for(tmp_path / "ws", center, free_port())
    left = workspace.state / "taking" / "4242-0123456789abcdef"
    left.mkdir(parents=True)
    (left / "filings.csv").write_text("form_no,port\n000000001,2200\n", encoding="utf-8")
    old = time.time() - 3600  # the crash was an hour ago
    os.utime(left, (old, old))
    agent = agent_for(workspace, center, enrolled_card(center), free_port())
    await agent.start()
    try:
        kept = [p.name for p in workspace.archive.iterdir()]
        assert len(kept) == 1 and kept[0].startswith("unfinished-") and kept[0].endswith("filings.csv"), kept
        assert not left.exists()
    finally:
        await agent.stop()
        center.close()
