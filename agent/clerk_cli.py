"""The clerk's own commands beside the folders: ``eport-agent resend FILE`` (a held or archived file sent once more, on
purpose: agent.resend), ``ports search TEXT`` (the port table the agent keeps, searched the manual's way) and
``guide [PAGE]`` (业务规范: agent.guide). None needs the card or the center."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from agent.workspace import Workspace
from l10n import say


def add_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    resend = commands.add_parser(
        "resend", parents=[common], help="send a held or archived file once more, on purpose (重发)"
    )
    resend.add_argument("file", help="the file's name as dropped, or its file in archive/")
    ports = commands.add_parser("ports", help="the port table (关区代码表) the agent keeps")
    search = ports.add_subparsers(dest="ports_command", required=True).add_parser(
        "search", parents=[common], help="ports by part of their code or name (口岸查询)"
    )
    search.add_argument("text")
    search.add_argument("--json", action="store_true", help="print JSON")
    guide = commands.add_parser("guide", parents=[common], help="业务规范: 业务介绍, 操作指南, 填写规范")
    guide.add_argument("page", nargs="?", help="one page: 业务介绍 (intro), 操作指南 (operations), 填写规范 (rules)")


def cmd_resend(workspace: Workspace, args: argparse.Namespace) -> int:
    from agent.resend import CannotResend, key_of, resend
    from agent.store import Store

    store = Store(workspace.store_file)
    try:
        copy = resend(workspace, store, key_of(store, args.file), on_purpose=True)
    except CannotResend as refused:
        print(f"eport-agent: {refused}")
        return 1
    print(say("cli.resent", name=copy["name"], folder=copy["folder"]))
    return 0


def cmd_ports(workspace: Workspace, args: argparse.Namespace) -> int:
    from agent.port_table import find, keep_current
    from agent.store import Store

    store = Store(workspace.store_file)
    if not store.ports():
        print(say("cli.no_ports"))
        return 1
    keep_current(workspace, store)
    found = find(store, args.text)
    if args.json:
        print(json.dumps([{"code": code, "name": name} for code, name in found], ensure_ascii=False))
    else:
        print("\n".join(f"{code} {name}" for code, name in found) or say("cli.no_port_found", text=args.text))
    return 0 if found else 1


def cmd_guide(workspace: Workspace, args: argparse.Namespace) -> int:
    from agent.guide import page, pages

    if args.page is None:
        print("\n\n".join(pages().values()), end="")
        return 0
    text = page(args.page)
    if text is None:
        print(say("cli.no_guide_page", page=args.page, pages="、".join(pages())))
        return 2
    print(text, end="")
    return 0


COMMANDS: dict[str, Callable[[Workspace, argparse.Namespace], int]] = {
    "resend": cmd_resend,
    "ports": cmd_ports,
    "guide": cmd_guide,
}
