"""`eport-agent demo`: a local center, a demo enterprise and an emulated operator card, and the agent on them.

The center runs as its own process (``eport-center serve``), prepared through its command line as an operator would
(agent.demo_center); the emulated card and the PC are enrolled over the wire with one-time codes, by the same code
as ``eport-agent card enroll`` / ``device enroll`` (agent.enrollment).

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
from typing import Any

from cryptography.x509.oid import NameOID

from agent.card.emulated import EmulatedPivCard
from agent.card.piv_admin import DEFAULT_MANAGEMENT_KEY
from agent.config import AgentConfig
from agent.demo_center import CenterProcess, check_port_free, eport_center, eport_center_json
from agent.enrollment import enroll_device, enroll_operator_card, set_center_url
from agent.runtime import EMULATED, build_agent, emulated_card_file
from agent.signals import until_signalled
from agent.workspace import Workspace, config_text
from sync.enroll import EnrollmentCode

log = logging.getLogger("eport.demo")

DEMO_PIN = "123456"
DEMO_ENTERPRISE = "DEMO000001"
DEMO_ORG_CODE = "71093412-3"  # 组织机构代码 (GB 11714, check character 3)
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
  center     {url}   (database {db}, log {center_log})
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

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.__dict__, indent=2), encoding="utf-8")


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


async def open_demo_access(db: str) -> None:
    """No business opens before the enterprise holds a 17999 account (rule 12 in docs/OPERATOR.md): the demo enterprise
    gets a leased line, registered as the telecom would, named after the day; a demo resumed after its account ran
    out (or made before accounts existed) gets a new one."""
    accounts = await eport_center_json("access", "list", "--db", db, "--enterprise", DEMO_ENTERPRISE)
    if not accounts["open"]:
        account = f"demo{dt.date.today():%Y%m%d}@17999.e163"
        await eport_center_json(
            "access",
            "register",
            "--db",
            db,
            "--enterprise",
            DEMO_ENTERPRISE,
            "--account",
            account,
            "--type",
            "leased-line",
        )


async def prepare_center(db: str) -> tuple[list[str], list[str], str, str]:
    """What an operator does for a new center and enterprise: create the center, register the enterprise, issue
    forms, open its access, invite its operator card and its PC. Returns the forms of the demo enterprise and the
    other one, and the two enrollment codes."""
    await eport_center("init", "--db", db)  # the center itself, once: its CA and receipt key
    await eport_center(
        "enterprise",
        "create",
        "--db",
        db,
        "--code",
        DEMO_ENTERPRISE,
        "--name",
        "演示进出口有限公司 (demo)",
        "--org-code",
        DEMO_ORG_CODE,
    )
    # The database exists now: the rest may run side by side (SQLite lets one writer at a time in, the others wait).
    _created, issued, operator, device, _access = await asyncio.gather(
        eport_center("enterprise", "create", "--db", db, "--code", OTHER_ENTERPRISE, "--name", "另一家演示企业 (demo)"),
        eport_center_json("safe", "issue", "--db", db, "--enterprise", DEMO_ENTERPRISE, "--copies", str(DEMO_FORMS)),
        eport_center_json(
            "operator", "invite", "--db", db, "--enterprise", DEMO_ENTERPRISE, "--name", "演示操作员 Demo Operator"
        ),
        eport_center_json("device", "invite", "--db", db, "--enterprise", DEMO_ENTERPRISE, "--name", "demo PC"),
        open_demo_access(db),
    )
    others = await eport_center_json("safe", "issue", "--db", db, "--enterprise", OTHER_ENTERPRISE, "--copies", "2")
    return issued["forms"], others["forms"], operator["code"], device["code"]


async def set_up(workspace: Workspace, url: str, db: str, prepared: tuple[list[str], list[str], str, str]) -> DemoInfo:
    """First run, with the center up: a blank emulated card and this PC enrolled over the wire, agent.toml, the
    sample file, demo.json."""
    mine, others, operator_code, device_code = prepared
    EmulatedPivCard(pin=DEMO_PIN).save(emulated_card_file(workspace))
    # Sync every 10 s: the simulator's changes show soon. The enrollments below point it at the center again.
    workspace.config_file.write_text(config_text(url, EMULATED, interval_seconds=10), encoding="utf-8")
    # The emulated card keeps the well-known default management key: it is a demo card, NOT FOR PRODUCTION.
    certificate = await enroll_operator_card(
        workspace, url, EnrollmentCode.parse(operator_code), lambda: DEMO_PIN, lambda _info: DEFAULT_MANAGEMENT_KEY
    )
    # A new card has no 出口收汇 permission (FAQ 3 (2)) until SAFE gives it one: the demo's SAFE does so at once.
    [serial] = certificate.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    await eport_center_json("safe", "set-permission", "--db", db, "--card", str(serial.value), "--days", "365")
    await enroll_device(workspace, url, EnrollmentCode.parse(device_code), "demo PC")
    (workspace.root / "samples").mkdir(exist_ok=True)
    (workspace.root / "samples" / "filings.csv").write_bytes(_sample_csv(sample_rows(mine, others)))
    info = DemoInfo(center_url=url, center_db=db, enterprise=DEMO_ENTERPRISE, forms=mine)
    info.save(workspace.root / "demo.json")
    return info


def _with_port(workspace: Workspace, info: DemoInfo, url: str) -> DemoInfo:
    """A resumed demo on another port: the center moves, agent.toml and demo.json follow."""
    if info.center_url == url:
        return info
    set_center_url(workspace, url)
    moved = DemoInfo(url, info.center_db, info.enterprise, info.forms)
    moved.save(workspace.root / "demo.json")
    return moved


async def _start_agent(workspace: Workspace) -> Any:
    agent = build_agent(workspace, AgentConfig.load(workspace))
    await agent.start()
    await asyncio.get_running_loop().run_in_executor(None, agent.unlock, DEMO_PIN)
    return agent


async def run_demo(root: Path, port: int, stop: asyncio.Event | None = None, simulate: bool = True) -> None:
    workspace = Workspace(root)
    workspace.init()
    check_port_free(port)
    url, first_run = f"http://127.0.0.1:{port}", not (root / "demo.json").exists()
    db = str(root / "center" / "center.db") if first_run else DemoInfo.load(root / "demo.json").center_db
    prepared = await prepare_center(db) if first_run else None
    center_log, processes = workspace.logs / "center.log", []
    agent = None
    try:
        server = await CenterProcess.start(center_log, "serve", "--db", db, "--port", str(port))
        processes.append(server)
        if not first_run:
            await open_demo_access(db)
        await server.wait_ready(url)
        if prepared is not None:
            info = await set_up(workspace, url, db, prepared)
        else:
            info = _with_port(workspace, DemoInfo.load(root / "demo.json"), url)
        if simulate:
            delay = f"{SIMULATE_DELAY:g}"
            processes.append(
                await CenterProcess.start(workspace.logs / "simulate.log", "simulate", "--db", db, "--delay", delay)
            )
        agent = await _start_agent(workspace)
        sample = root / "samples" / "filings.csv"
        if first_run:
            shutil.copy(sample, workspace.inbox / "filings" / sample.name)
        print(
            BANNER.format(
                pin=DEMO_PIN,
                card_file=emulated_card_file(workspace),
                url=info.center_url,
                db=info.center_db,
                center_log=center_log,
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
        if agent is not None:
            await agent.stop()
        for process in reversed(processes):  # the simulator, then the center
            await process.stop()
        print("demo stopped; run the same command again to resume.", flush=True)
