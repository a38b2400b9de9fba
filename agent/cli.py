"""`eport-agent`: the clerk's and operator's command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import getpass
import logging
import os
import sys
import threading
from collections.abc import Callable
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any

from agent.access_cli import add_commands as add_access_commands
from agent.access_cli import run_access, run_permission
from agent.card.errors import CardError, InvalidPinError, PinBlockedError
from agent.card_cli import add_commands as add_card_commands
from agent.card_cli import cmd_device_enroll, cmd_unlock, pin_failure, read_pin, run_card
from agent.clerk_cli import COMMANDS as CLERK_COMMANDS
from agent.clerk_cli import add_commands as add_clerk_commands
from agent.config import AgentConfig, ConfigError, use_workspace_language
from agent.roles import AlreadyRunning
from agent.signals import until_signalled
from agent.workspace import Workspace, default_root, remember
from l10n import say

log = logging.getLogger("eport.agent")
EXIT_ALREADY_RUNNING = 3  # `run`/`demo` on a workspace whose agent already runs


def _workspace(args: argparse.Namespace) -> Workspace:
    return Workspace(Path(args.workspace) if args.workspace else default_root())


def _setup_logging(workspace: Workspace, verbose: bool) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if workspace.logs.is_dir():
        try:
            config = AgentConfig.load(workspace)
            size, backups = config.log_max_bytes, config.log_backups
        except ConfigError:  # the command itself reports it; the log still rotates
            size, backups = AgentConfig.log_max_bytes, AgentConfig.log_backups
        log_file = workspace.logs / "agent.log"
        handlers.append(RotatingFileHandler(log_file, maxBytes=size, backupCount=backups, encoding="utf-8"))
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
    print(say("cli.init", root=workspace.root, config=workspace.config_file))
    if args.workspace and not os.environ.get("EPORT_AGENT_HOME"):
        remember(workspace.root)  # `run` at log-in and the sync service use it from now on (docs/OPERATOR.md)
        print("此后 run、sync-daemon 和登录时自动启动都使用这个工作目录 / run, sync-daemon and the log-in entry use it")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from agent.demo import run_demo  # the demo starts the center's processes; plain agent commands don't need it
    from agent.demo_center import DemoError

    workspace = _workspace(args)
    workspace.root.mkdir(parents=True, exist_ok=True)
    workspace.init()
    _setup_logging(workspace, args.verbose)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run_demo(workspace.root, args.port, simulate=not args.no_simulate))
    except DemoError as exc:
        print(f"eport-agent: demo: {exc}", file=sys.stderr)
        return 1
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
        agent.unlock(getpass.getpass(say("cli.pin_prompt")))
    except InvalidPinError as exc:
        print(say("cli.wrong_pin", tries=exc.tries_left), file=sys.stderr)
    except PinBlockedError:
        print(say("cli.blocked"), file=sys.stderr)
    except CardError as exc:
        print(say("cli.card_error_wait", error=exc), file=sys.stderr)


async def _run(workspace: Workspace) -> None:
    from agent.runtime import build_agent

    agent = build_agent(workspace, AgentConfig.load(workspace))
    await agent.start()
    try:
        await asyncio.get_running_loop().run_in_executor(None, _ask_pin, agent)
        print(say("cli.running", root=workspace.root, inbox=workspace.inbox), flush=True)
        await until_signalled()
    finally:
        await agent.stop()


def _run_with_tray(workspace: Workspace, pystray: Any) -> None:
    """The tray takes the main thread (its toolkits want it); the engine's event loop runs on another one."""
    from agent.runtime import build_agent
    from tray.app import TrayApp, load_dialogs

    loop = asyncio.new_event_loop()
    agent = build_agent(workspace, AgentConfig.load(workspace))
    loop.run_until_complete(agent.start())
    engine = threading.Thread(target=loop.run_forever, name="agent-loop", daemon=True)
    engine.start()
    try:
        print(say("cli.running_tray", root=workspace.root, inbox=workspace.inbox), flush=True)
        TrayApp(
            agent, pystray, workspace.inbox, workspace.outbox, dialogs=load_dialogs(), guide=workspace.root / "guide"
        ).run()
    finally:
        asyncio.run_coroutine_threadsafe(agent.stop(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        engine.join()
        loop.close()


def cmd_run(args: argparse.Namespace) -> int:
    from tray.app import load_backend

    workspace = _workspace(args)
    _setup_logging(workspace, args.verbose)
    pystray = None if args.no_tray else load_backend()
    with contextlib.suppress(KeyboardInterrupt):
        if pystray is None:
            asyncio.run(_run(workspace))
        else:
            _run_with_tray(workspace, pystray)
    return 0


async def _sync_daemon(workspace: Workspace) -> None:
    from agent.runtime import build_agent

    agent = build_agent(workspace, AgentConfig.load(workspace), headless=True)
    await agent.start()
    try:
        log.info("sync daemon running on %s (sending, delivering, pulling; signing stays with 'run')", workspace.root)
        await until_signalled()
    finally:
        await agent.stop()


def cmd_sync_daemon(args: argparse.Namespace) -> int:
    workspace = _workspace(args)
    _setup_logging(workspace, args.verbose)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_sync_daemon(workspace))
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    from agent.status_cli import cmd_sync as sync_once

    workspace = _workspace(args)
    _setup_logging(workspace, args.verbose)
    return sync_once(args, workspace)


def cmd_status(args: argparse.Namespace) -> int:
    from agent.status_cli import cmd_status as show

    workspace = _workspace(args)
    if not workspace.is_initialised():
        raise ConfigError(f"{workspace.root} is not a workspace: run 'eport-agent init' first")
    return show(args, workspace)


def cmd_card(args: argparse.Namespace) -> int:
    """The operator card: its facts, its enrollment over the wire, PIN and PUK changes (agent.card_cli)."""
    return run_card(_workspace(args), args)


def cmd_device(args: argparse.Namespace) -> int:
    """This PC's device key, enrolled over the wire (agent.card_cli)."""
    return cmd_device_enroll(_workspace(args), args)


def cmd_rules(args: argparse.Namespace) -> int:
    from inbox.rules import filling_rules

    print(filling_rules(), end="")
    return 0


def cmd_access(args: argparse.Namespace) -> int:
    """17999 access accounts, asked of the center with this agent's device credential (agent.access_cli)."""
    return run_access(_workspace(args), args)


def cmd_permission(args: argparse.Namespace) -> int:
    """IC card permission extensions: signed by the legal-person card in the reader (agent.access_cli)."""
    return run_permission(_workspace(args), args, lambda: read_pin(args), pin_failure)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="eport-agent", description="E-Port export FX collection batch agent")
    root.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--workspace",
        help="workspace folder (default: EPORT_AGENT_HOME, else the one chosen at init, else the user data folder)",
    )
    common.add_argument("--verbose", "-v", action="store_true", help="debug logging")
    commands = root.add_subparsers(dest="command")
    commands.add_parser("init", parents=[common], help="create the workspace folders and agent.toml")
    demo = commands.add_parser("demo", parents=[common], help="run a local center and the agent with an emulated card")
    demo.add_argument("--port", type=int, default=8710, help="loopback port of the demo center (default 8710)")
    demo.add_argument("--no-simulate", action="store_true", help="don't play customs and SAFE in the demo center")
    run = commands.add_parser("run", parents=[common], help="watch the inbox, sign with the card, sync on schedule")
    run.add_argument("--no-tray", action="store_true", help="no tray icon, even when a desktop is there")
    pin = argparse.ArgumentParser(add_help=False)
    pin.add_argument("--pin-stdin", action="store_true", help="read the PIN from standard input (for scripts)")
    commands.add_parser("unlock", parents=[common, pin], help="unlock the card of the running agent with its PIN")
    add_card_commands(commands, common, pin)
    commands.add_parser("sync-daemon", parents=[common], help="headless sync only (send, deliver, pull): a service")
    sync = commands.add_parser("sync", parents=[common], help="sync once now and show the queue")
    sync.add_argument("--json", action="store_true", help="print JSON")
    commands.add_parser("rules", help="print the filling rules (填写规范) of every batch kind")
    status = commands.add_parser("status", parents=[common], help="show the queue")
    status.add_argument("--json", action="store_true", help="print JSON")
    add_access_commands(commands, common, pin)
    add_clerk_commands(commands, common)
    return root


def _in_workspace(run: Callable[[Workspace, argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    return lambda args: run(_workspace(args), args)


COMMANDS = {
    "init": cmd_init,
    "demo": cmd_demo,
    "run": cmd_run,
    "status": cmd_status,
    "rules": cmd_rules,
    "sync-daemon": cmd_sync_daemon,
    "sync": cmd_sync,
    "unlock": lambda args: cmd_unlock(_workspace(args), args),
    "card": cmd_card,
    "device": cmd_device,
    "access": cmd_access,
    "permission": cmd_permission,
    **{name: _in_workspace(run) for name, run in CLERK_COMMANDS.items()},
}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("eport-agent")
    except PackageNotFoundError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    commands = parser()
    args = commands.parse_args(argv)
    if args.command is None:  # bare `eport-agent`: what it can do, not an error
        commands.print_help()
        return 0
    use_workspace_language(_workspace(args) if "workspace" in args else Workspace(default_root()))
    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        print(f"eport-agent: {exc}", file=sys.stderr)
        return 2
    except AlreadyRunning as exc:
        print(f"eport-agent: {exc}", file=sys.stderr)
        return EXIT_ALREADY_RUNNING


if __name__ == "__main__":
    sys.exit(main())
