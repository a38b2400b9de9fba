"""Building blocks for tests that run an agent against a real center on loopback, with the emulated card in
process (the PC/SC path has its own tests; these are about intake, sync and delivery)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import socket
import subprocess
import sys
from pathlib import Path

from aiohttp import web
from cryptography.hazmat.primitives.serialization import Encoding

from agent.card.emulated import EmulatedConnection, EmulatedPivCard
from agent.card.piv import PivSession
from agent.device import device_public_key, save_device_certificate
from agent.engine import Agent
from agent.operator_card import OperatorCard
from agent.runtime import load_device
from agent.workspace import Workspace, config_text
from center.app import create_app
from center.service import Center
from sync.client import CenterClient

PIN = "123456"
ENTERPRISE = "1101230001"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def enrolled_card(center: Center, enterprise: str = ENTERPRISE) -> EmulatedPivCard:
    card = EmulatedPivCard(pin=PIN)
    session = PivSession(EmulatedConnection(card))
    session.verify_pin(PIN)
    session.put_certificate(center.enroll_operator(enterprise, session.generate_key(), "操作员", session.get_serial()))
    card.reset()
    return card


async def serve(center: Center, port: int) -> web.AppRunner:
    runner = web.AppRunner(create_app(center), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


def workspace_for(root: Path, center: Center, port: int, card_file: Path | None = None) -> Workspace:
    workspace = Workspace(root)
    workspace.init()
    reader = "auto"
    if card_file is not None:
        reader = "emulated"
        card_file.parent.mkdir(parents=True, exist_ok=True)
    workspace.config_file.write_text(config_text(f"http://127.0.0.1:{port}", reader), encoding="utf-8")
    (workspace.state / "center-ca.pem").write_bytes(center.ca_certificate().public_bytes(Encoding.PEM))
    return workspace


def enroll_device(center: Center, workspace: Workspace, enterprise: str = ENTERPRISE) -> None:
    """The agent's own key, made in its state/ and certified by the center, as enrollment does."""
    save_device_certificate(workspace, center.enroll_device(enterprise, device_public_key(workspace), "test PC"))


def agent_for(workspace: Workspace, center: Center, card: EmulatedPivCard, port: int, **options: object) -> Agent:
    return Agent(
        workspace,
        OperatorCard(lambda: EmulatedConnection(card)),
        CenterClient(f"http://127.0.0.1:{port}", timeout=5, device=load_device(workspace)),
        center.ca_certificate(),
        **options,  # type: ignore[arg-type]
    )


async def wait_for(path: Path, timeout: float = 10) -> Path:
    for _ in range(int(timeout / 0.05)):
        if path.exists():
            return path
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path} did not appear")


async def start_agent(workspace: Path, *flags: str) -> subprocess.Popen[str]:
    """Start the harness; its log goes to logs/ of the workspace. Waits (off the event loop) until it is ready."""
    log = (workspace / "logs" / f"agent{'-headless' if flags else ''}.log").open("a")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.agent_process", str(workspace), *flags],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env={**os.environ, "EPORT_TEST_PIN": PIN},
    )
    assert process.stdout is not None
    line = await asyncio.get_running_loop().run_in_executor(None, process.stdout.readline)
    assert line.strip() == "ready", f"the agent did not start: see {log.name}"
    return process


def agent_cli(*args: str, stdin: str = "") -> tuple[int, str, str]:
    """Run `eport-agent` in this process with ``stdin`` as its input; returns the exit code, stdout and stderr.
    It blocks (on the control channel, the card): call it off the event loop."""
    from agent.cli import main

    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    finally:
        sys.stdin = saved
    return code, out.getvalue(), err.getvalue()
