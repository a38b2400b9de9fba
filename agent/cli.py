"""`eport-agent`: the clerk's and operator's command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import getpass
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from agent.card.errors import CardError, InvalidPinError, PinBlockedError
from agent.config import AgentConfig, ConfigError
from agent.store import Store
from agent.workspace import Workspace, default_root

log = logging.getLogger("eport.agent")


def _workspace(args: argparse.Namespace) -> Workspace:
    return Workspace(Path(args.workspace) if args.workspace else default_root())


def _setup_logging(workspace: Workspace, verbose: bool) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if workspace.logs.is_dir():
        handlers.append(logging.FileHandler(workspace.logs / "agent.log", encoding="utf-8"))
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        handlers=handlers,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("apscheduler", "aiohttp.access", "watchdog"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def cmd_init(args: argparse.Namespace) -> int:
    workspace = _workspace(args)
    workspace.init()
    print(f"workspace ready: {workspace.root}\nedit {workspace.config_file} to set the center's address")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from agent.demo import run_demo  # the demo pulls in the center; plain agent commands don't need it

    workspace = _workspace(args)
    workspace.root.mkdir(parents=True, exist_ok=True)
    workspace.init()
    _setup_logging(workspace, args.verbose)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run_demo(workspace.root, args.port))
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        print(f"eport-agent: port {args.port} is in use (is a demo already running?): pass --port N", file=sys.stderr)
        return 2
    return 0


def _ask_pin(agent: Any) -> None:
    """One PIN attempt from the terminal; a failure is reported, never retried by the agent."""
    if not sys.stdin.isatty():
        log.warning("no terminal to ask the PIN: batches wait for the card to be unlocked")
        return
    try:
        agent.unlock(getpass.getpass("Operator card PIN (操作员卡密码): "))
    except InvalidPinError as exc:
        print(f"wrong PIN: {exc.tries_left} tries left before the card blocks; batches wait.", file=sys.stderr)
    except PinBlockedError:
        print("the card is blocked (too many wrong PINs): ask the card issuer to unblock it.", file=sys.stderr)
    except CardError as exc:
        print(f"card: {exc}; batches wait for the card.", file=sys.stderr)


async def _run(workspace: Workspace) -> None:
    from agent.runtime import build_agent

    agent = build_agent(workspace, AgentConfig.load(workspace))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await agent.start()
    try:
        await loop.run_in_executor(None, _ask_pin, agent)
        print(f"agent running on {workspace.root}; drop files into {workspace.inbox}; Ctrl-C stops.", flush=True)
        await stop.wait()
    finally:
        await agent.stop()


def cmd_run(args: argparse.Namespace) -> int:
    workspace = _workspace(args)
    _setup_logging(workspace, args.verbose)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(workspace))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    workspace = _workspace(args)
    if not workspace.is_initialised():
        raise ConfigError(f"{workspace.root} is not a workspace: run 'eport-agent init' first")
    batches = Store(workspace.store_file).counts()
    if args.json:
        print(json.dumps({"workspace": str(workspace.root), "batches": batches}, ensure_ascii=False, indent=2))
    else:
        print(f"workspace {workspace.root}")
        for state, count in sorted(batches.items()):
            print(f"  {state:20} {count}")
    return 0


def cmd_rules(args: argparse.Namespace) -> int:
    from inbox.rules import filling_rules

    print(filling_rules(), end="")
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="eport-agent", description="E-Port export FX collection batch agent")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--workspace", help="workspace folder (default: EPORT_AGENT_HOME or the user data folder)")
    common.add_argument("--verbose", "-v", action="store_true", help="debug logging")
    commands = root.add_subparsers(dest="command", required=True)
    commands.add_parser("init", parents=[common], help="create the workspace folders and agent.toml")
    demo = commands.add_parser("demo", parents=[common], help="run a local center and the agent with an emulated card")
    demo.add_argument("--port", type=int, default=8710, help="loopback port of the demo center (default 8710)")
    commands.add_parser("run", parents=[common], help="watch the inbox, sign with the card, sync on schedule")
    commands.add_parser("rules", help="print the filling rules (填写规范) of every batch kind")
    status = commands.add_parser("status", parents=[common], help="show the queue")
    status.add_argument("--json", action="store_true", help="print JSON")
    return root


COMMANDS = {"init": cmd_init, "demo": cmd_demo, "run": cmd_run, "status": cmd_status, "rules": cmd_rules}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        print(f"eport-agent: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
