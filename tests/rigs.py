"""Building blocks for tests that run an agent against a real center on loopback, with the emulated card in
process (the PC/SC path has its own tests; these are about intake, sync and delivery). Waiting with a deadline, a
command run in process and the center on loopback come from tests/center_support.py."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding

from agent.card.emulated import EmulatedConnection, EmulatedPivCard
from agent.card.piv import PIV_ALGORITHMS, PivSession
from agent.card.piv_admin import DEFAULT_MANAGEMENT_KEY, authenticate
from agent.center_link import load_device
from agent.device import device_public_key, save_device_certificate
from agent.facade import Agent
from agent.operator_card import OperatorCard
from agent.runtime import assemble, emulated_card_file
from agent.workspace import Workspace, config_text
from center.service import Center
from sync.client import CenterClient
from tests.center_support import Ran, free_port, run_cli, serve

PIN = "123456"
ENTERPRISE = "1101230001"


def enrolled_card(center: Center, enterprise: str = ENTERPRISE, name: str = "操作员", **terms: Any) -> EmulatedPivCard:
    """An emulated card with its key, of the center's algorithm (P-256 or SM2), and the certificate the center issued
    for it (``terms``: its days, its role; ``fx_days``: the 出口收汇 permission SAFE grants at once, a year unless
    given, None for a new card without it)."""
    terms.setdefault("fx_days", 365)
    card = EmulatedPivCard(pin=PIN)
    session = PivSession(EmulatedConnection(card))
    authenticate(session, DEFAULT_MANAGEMENT_KEY)  # an emulated card keeps the well-known default
    session.verify_pin(PIN)
    key = session.generate_key(algorithm=PIV_ALGORITHMS[center.algorithm])
    serial = session.get_serial()
    session.put_certificate(center.enroll_operator(enterprise, key, name, serial, **terms))
    card.reset()
    return card


def workspace_for(
    root: Path,
    center: Center,
    port: int,
    reader: str = "auto",
    *,
    card: EmulatedPivCard | None = None,
    **settings: Any,
) -> Workspace:
    """A workspace whose agent.toml names the center on 127.0.0.1:``port``, the card ``reader`` and ``settings``
    (``config_text``'s other values), with the center's CA pinned. With ``card``, that emulated card is the one in
    state/ and the reader is "emulated"."""
    workspace = Workspace(root)
    workspace.init()
    if card is not None:
        card.save(emulated_card_file(workspace))
        reader = "emulated"
    workspace.config_file.write_text(config_text(f"http://127.0.0.1:{port}", reader, **settings), encoding="utf-8")
    (workspace.state / "center-ca.pem").write_bytes(center.ca_certificate().public_bytes(Encoding.PEM))
    return workspace


def enroll_device(center: Center, workspace: Workspace, enterprise: str = ENTERPRISE) -> None:
    """The agent's own key, made in its state/ and certified by the center, as enrollment does."""
    save_device_certificate(workspace, center.enroll_device(enterprise, device_public_key(workspace), "test PC"))


def agent_for(workspace: Workspace, center: Center, card: EmulatedPivCard, port: int, **options: Any) -> Agent:
    """The resident agent, wired by agent.runtime as in production, on the emulated card in process; a dropped file
    counts as complete after 0.1 s of quiet unless ``settle_quiet`` says otherwise (tests write files whole)."""
    options.setdefault("settle_quiet", 0.1)
    return assemble(
        workspace,
        CenterClient(f"http://127.0.0.1:{port}", timeout=5, device=load_device(workspace)),
        center.ca_certificate(),
        OperatorCard(lambda: EmulatedConnection(card)),
        **options,
    )


@asynccontextmanager
async def loopback_agent(
    center: Center,
    root: Path,
    card: EmulatedPivCard | None = None,
    *,
    device: bool = False,
    unlocked: bool = True,
    **options: Any,
) -> AsyncIterator[tuple[Agent, Workspace, int]]:
    """The center served on a free loopback port and an agent in process (``agent_for`` ``options``) with its
    workspace at ``root``, started and unlocked (left locked with ``unlocked=False``), on ``card`` (by default a card
    enrolled now); with ``device``, the PC's device key enrolled too. Yields the agent, its workspace and the port;
    stops both afterwards."""
    card, port = card or enrolled_card(center), free_port()
    workspace = workspace_for(root, center, port)
    if device:
        enroll_device(center, workspace)
    runner = await serve(center, port)
    try:
        agent = agent_for(workspace, center, card, port, **options)
        await agent.start()
        try:
            if unlocked:
                await asyncio.to_thread(agent.unlock, PIN)
            yield agent, workspace, port
        finally:
            await agent.stop()
    finally:
        await runner.cleanup()


def spawn_agent(workspace: Path, *flags: str) -> subprocess.Popen[str]:
    """The harness (tests/agent_process.py) in a process of its own on ``workspace``, its log in the workspace's
    logs/; it prints "ready" on its standard output once it is started."""
    log = (workspace / "logs" / f"agent{'-headless' if flags else ''}.log").open("a")
    return subprocess.Popen(
        [sys.executable, "-m", "tests.agent_process", str(workspace), *flags],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env={**os.environ, "EPORT_TEST_PIN": PIN},
    )


async def start_agent(workspace: Path, *flags: str) -> subprocess.Popen[str]:
    """The harness, once it is ready (waited for off the event loop)."""
    process = spawn_agent(workspace, *flags)
    assert process.stdout is not None
    line = await asyncio.get_running_loop().run_in_executor(None, process.stdout.readline)
    assert line.strip() == "ready", f"the agent did not start: see {workspace / 'logs'}"
    return process


def agent_cli(*args: str, stdin: str = "") -> Ran:
    """`eport-agent ARGS` in this process with ``stdin`` as its input (tests.center_support.run_cli). It blocks (on
    the control channel, the card): call it off the event loop."""
    from agent.cli import main

    return run_cli(main, *args, stdin=stdin)
