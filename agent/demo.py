"""`eport-agent demo`: a local center, a demo enterprise and an emulated operator card, and the agent on them.

Everything here is for trying the agent out. The emulated card and its key are NOT for production and the demo says
so loudly. Running the demo again on the same folder resumes with the same center data, card and queue.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from cryptography.hazmat.primitives.serialization import Encoding

from agent.card.emulated import EmulatedConnection, EmulatedPivCard
from agent.card.piv import PivSession
from agent.config import AgentConfig
from agent.device import device_public_key, save_device_certificate
from agent.engine import Agent
from agent.runtime import EMULATED, build_agent, emulated_card_file
from agent.signals import until_signalled
from agent.workspace import Workspace, config_text
from center.app import create_app
from center.service import Center
from center.simulate import Delays, Simulator

log = logging.getLogger("eport.demo")

DEMO_PIN = "123456"
DEMO_ENTERPRISE = "DEMO000001"
OTHER_ENTERPRISE = "DEMO000002"  # its forms show that another enterprise's form is answered as unknown
DEMO_FORMS = 20
# The simulated customs and SAFE act on a form only after it has rested this long, so a clerk's batch (and the
# sample) is always answered before the simulator moves its forms on.
SIMULATE_DELAY = 30.0

BANNER = """
==========================================================================================
  DEMO MODE: emulated operator card (PIN {pin}) and a local center with a demo CA.
  NOT FOR PRODUCTION: the card's key is stored in plain form in {card_file}
==========================================================================================
  center     {url}   (database {db})
  enterprise {enterprise}
  drop files {inbox}
  results    {results}
  errors     {errors}
  updates    {updates}{simulated}
  The sample {sample} was dropped into inbox/filings/ on the first run.
  Ctrl-C stops everything; run the same command again to resume.
"""


@dataclass(frozen=True)
class DemoInfo:
    center_url: str
    center_db: str
    enterprise: str
    forms: list[str]

    @classmethod
    def load(cls, path: Path) -> DemoInfo:
        return cls(**json.loads(path.read_text(encoding="utf-8")))


def sample_rows(mine: list[str], others: list[str]) -> list[tuple[str, str]]:
    """Rows that succeed and rows the center refuses, each for a reason a clerk would meet."""
    return [
        (mine[0], "2200"),  # OK: 上海海关 by code
        (mine[1], "深圳海关"),  # OK: the port by its exact name
        (mine[2], "5100"),  # OK
        ("ZZZ999999", "2200"),  # refused: no such form
        (others[0], "2200"),  # refused: another enterprise's form is answered exactly as an unknown one
    ]


def _sample_csv(rows: list[tuple[str, str]]) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["form_no", "port"])
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8-sig")


def enroll_emulated_card(center: Center, enterprise: str) -> EmulatedPivCard:
    """Generate the key on the card, have the center's CA certify it, write the certificate to the card."""
    card = EmulatedPivCard(pin=DEMO_PIN)
    session = PivSession(EmulatedConnection(card))
    session.verify_pin(DEMO_PIN)
    public_key = session.generate_key()
    certificate = center.enroll_operator(enterprise, public_key, "演示操作员 Demo Operator", session.get_serial())
    session.put_certificate(certificate)
    card.reset()  # a fresh card session: the agent unlocks it like a clerk would
    return card


def set_up(workspace: Workspace, port: int) -> DemoInfo:
    """First run: center database, enterprises, the enrolled emulated card, forms, agent.toml, sample file."""
    root = workspace.root
    workspace.init()
    url = f"http://127.0.0.1:{port}"
    db = root / "center" / "center.db"
    center = Center.open(str(db))
    try:
        center.create_enterprise(DEMO_ENTERPRISE, "演示进出口有限公司 (demo)")
        center.create_enterprise(OTHER_ENTERPRISE, "另一家演示企业 (demo)")
        card = enroll_emulated_card(center, DEMO_ENTERPRISE)
        card.save(emulated_card_file(workspace))
        device = center.enroll_device(DEMO_ENTERPRISE, device_public_key(workspace), "demo PC")
        save_device_certificate(workspace, device)
        mine = center.issue_forms(DEMO_ENTERPRISE, DEMO_FORMS)
        others = center.issue_forms(OTHER_ENTERPRISE, 2)
        (workspace.state / "center-ca.pem").write_bytes(center.ca_certificate().public_bytes(Encoding.PEM))
    finally:
        center.close()
    # Sync every 10 s: the simulator's changes show soon.
    workspace.config_file.write_text(config_text(url, EMULATED, interval_seconds=10), encoding="utf-8")
    (root / "samples").mkdir(exist_ok=True)
    (root / "samples" / "filings.csv").write_bytes(_sample_csv(sample_rows(mine, others)))
    info = DemoInfo(center_url=url, center_db=str(db), enterprise=DEMO_ENTERPRISE, forms=mine)
    (root / "demo.json").write_text(json.dumps(info.__dict__, indent=2), encoding="utf-8")
    return info


def _with_port(workspace: Workspace, info: DemoInfo, port: int) -> DemoInfo:
    """A resumed demo on another port: the center moves, agent.toml and demo.json follow."""
    url = f"http://127.0.0.1:{port}"
    if info.center_url == url:
        return info
    text = workspace.config_file.read_text(encoding="utf-8").replace(info.center_url, url)
    workspace.config_file.write_text(text, encoding="utf-8")
    moved = DemoInfo(url, info.center_db, info.enterprise, info.forms)
    (workspace.root / "demo.json").write_text(json.dumps(moved.__dict__, indent=2), encoding="utf-8")
    return moved


def open_demo_access(center: Center) -> None:
    """No business opens before the enterprise holds a 17999 account (DESIGN.md §4 rule 12): the demo enterprise
    gets a leased line, registered as the telecom would, named after the day; a demo resumed after its account ran
    out (or made before accounts existed) gets a new one."""
    if not center.access_accounts(DEMO_ENTERPRISE)["open"]:
        center.access_register(DEMO_ENTERPRISE, f"demo{dt.date.today():%Y%m%d}@17999.e163", "leased-line")


async def start_center(db: str, port: int) -> tuple[Center, web.AppRunner]:
    center = Center.open(db)
    runner = web.AppRunner(create_app(center), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return center, runner


async def run_demo(root: Path, port: int, stop: asyncio.Event | None = None, simulate: bool = True) -> None:
    workspace = Workspace(root)
    first_run = not (root / "demo.json").exists()
    info = set_up(workspace, port) if first_run else _with_port(workspace, DemoInfo.load(root / "demo.json"), port)
    center, runner = await start_center(info.center_db, port)
    open_demo_access(center)
    simulation_stop = asyncio.Event()
    simulator = Simulator(center, Delays.every(SIMULATE_DELAY))
    simulation = asyncio.create_task(simulator.run(simulation_stop)) if simulate else None
    agent: Agent = build_agent(workspace, AgentConfig.load(workspace))
    try:
        await agent.start()
        await asyncio.get_running_loop().run_in_executor(None, agent.unlock, DEMO_PIN)
        sample = root / "samples" / "filings.csv"
        if first_run:
            shutil.copy(sample, workspace.inbox / "filings" / sample.name)
        print(
            BANNER.format(
                pin=DEMO_PIN,
                card_file=emulated_card_file(workspace),
                url=info.center_url,
                db=info.center_db,
                enterprise=info.enterprise,
                inbox=workspace.inbox / "filings",
                results=workspace.results,
                errors=workspace.errors,
                updates=workspace.outbox / "updates",
                simulated="   (customs and SAFE are simulated: forms move on after ~30 s)" if simulate else "",
                sample=sample,
            ),
            flush=True,
        )
        await until_signalled(stop)
    finally:
        await agent.stop()
        simulation_stop.set()
        if simulation is not None:
            await simulation
        await runner.cleanup()
        center.close()
        print("demo stopped; run the same command again to resume.", flush=True)
