"""`eport-agent status` and `eport-agent sync`: the queue, the last and next sync, and what needs the clerk — with an
exit code a script can act on.

Exit codes: 0 nothing needs you (batches may be on their way); 1 something needs the clerk or went wrong (the card
is out, locked or blocked, batches wait for the card, the center refused a batch or has been away for a while, a
sync failed); 3 no agent runs on this workspace (what it last recorded is shown). Configuration errors exit 2.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
from typing import Any

from agent import permission
from agent.config import AgentConfig
from agent.control import AgentNotRunning, ControlClient
from agent.facade import SHARED_STATUS
from agent.store import Store
from agent.workspace import Workspace
from l10n import MESSAGES, say
from sync.states import BatchState
from tray.state import Level, tray_view

EXIT_OK, EXIT_NEEDS_YOU, EXIT_NOT_RUNNING = 0, 1, 3
# Facts only a running agent can vouch for: not shown once it has stopped.
LIVE_ONLY = ("card", "pin_tries_left", "next_sync")
TIMES = ("last_sync", "next_sync", "center_unreachable_since")


def local_time(value: Any) -> Any:
    """An ISO time from the store or the agent (UTC) as the PC's local time with its offset."""
    if not isinstance(value, str):
        return value
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        return value
    return when.astimezone().isoformat(timespec="seconds") if when.tzinfo else value


def current_status(workspace: Workspace) -> tuple[dict[str, Any], bool]:
    """The running agent's status, or what it last recorded in the store; and whether an agent answered."""
    try:
        return ControlClient.for_state(workspace.state).status(), True
    except AgentNotRunning:
        store = Store(workspace.store_file)
        recorded = {k: v for k, v in store.meta().items() if k in SHARED_STATUS and k not in LIVE_ONLY}
        fx = permission.warning(permission.fact(store))  # the card's 出口收汇 permission as last heard
        warnings = {"warnings": [fx]} if fx else {}
        return {"workspace": str(workspace.root), "batches": store.counts(), **recorded, **warnings}, False


def page_link(workspace: Workspace) -> str | None:
    """A one-time link to the running agent's status page (None from an agent that has none)."""
    try:
        return ControlClient.for_state(workspace.state).page_link()
    except (AgentNotRunning, KeyError):
        return None


def show_status(workspace: Workspace, as_json: bool) -> int:
    from agent.access import describe as describe_access
    from agent.access import with_access

    status, running = current_status(workspace)
    if not running:
        print(
            "没有 eport-agent 在此工作目录运行（下面是它最后记录的情况）；请运行 eport-agent run"
            " / no agent is running on this workspace (below is what it last recorded): start 'eport-agent run'",
            file=sys.stderr,
        )
    status = with_access(workspace, status)  # the 17999 accounts, and warnings ahead of their end
    if running:
        status["page"] = page_link(workspace)
    view = tray_view(status)
    code = EXIT_NOT_RUNNING if not running else EXIT_NEEDS_YOU if view.level in (Level.ATTENTION, Level.ERROR) else 0
    if as_json:
        print(json.dumps({**status, "level": view.level.value, "reasons": list(view.reasons)}, ensure_ascii=False))
        return code
    print(say("cli.workspace", root=workspace.root))
    for words, count in _by_words(status.pop("batches")).items():
        print(f"  {words}：{count}")
    for reason in view.reasons:
        print(f"• {reason}")
    status.pop("warnings", None)  # among the reasons
    for line in describe_access(status.pop("access")) if "access" in status else ():
        print(line)
    for name, value in status.items():
        if name not in ("workspace", "problem", "refused", "page") and value is not None and value != "":
            label = say(f"field.{name}") if f"field.{name}" in MESSAGES else name.replace("_", " ")
            print(f"{label}：{local_time(value) if name in TIMES else value}")
    if status.get("page"):
        print(f"状态页 / status page: {status['page']}")
    return code


def _by_words(batches: dict[str, int]) -> dict[str, int]:
    """The queue counted by the words a clerk reads (signed and sent are both still waiting for the center)."""
    counted: dict[str, int] = {}
    for state in (*BatchState, *sorted(set(batches) - set(BatchState))):
        if batches.get(state):
            words = say(f"state.{state}") if f"state.{state}" in MESSAGES else str(state)
            counted[words] = counted.get(words, 0) + batches[state]
    return counted


def cmd_status(args: argparse.Namespace, workspace: Workspace) -> int:
    return show_status(workspace, getattr(args, "json", False))


async def _sync_once(workspace: Workspace) -> str | None:
    from agent.runtime import build_agent

    agent = build_agent(workspace, AgentConfig.load(workspace), headless=True)
    try:
        await agent.sync_now()
        problem: str | None = agent.status()["problem"]
        return problem
    finally:
        await agent.stop()


def cmd_sync(args: argparse.Namespace, workspace: Workspace) -> int:
    """One sync now: send what is signed, deliver what is answered, pull updates; then the status. Non-zero when the
    sync itself failed (the center away, a file that could not be written)."""
    problem = asyncio.run(_sync_once(workspace))
    code = show_status(workspace, getattr(args, "json", False))
    if problem:
        print(f"同步未完成 / the sync did not complete: {problem}", file=sys.stderr)
        return EXIT_NEEDS_YOU
    return code if code != EXIT_NOT_RUNNING else EXIT_OK  # `sync` needs no running agent
