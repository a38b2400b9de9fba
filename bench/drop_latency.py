"""Drop-to-result latency of a 100-row filing file, center on loopback (issue 2).

Starts a center (SQLite file) and the agent on a temporary workspace, drops N files of R rows one after another
into inbox/filings/ and times each from the moment the file is written until its result file exists. The card is
the emulated PIV card, through real pcscd + vpcd when a pcscd is running (``--card pcsc``), else in process.

    python bench/drop_latency.py [--drops 50] [--rows 100] [--card inprocess|pcsc]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives.serialization import Encoding

from agent.card.apdu import Connection
from agent.card.emulated import EmulatedConnection, EmulatedPivCard
from agent.card.piv import PivSession
from agent.card.piv_admin import DEFAULT_MANAGEMENT_KEY, authenticate
from agent.operator_card import OperatorCard
from agent.runtime import assemble
from agent.workspace import Workspace
from center.app import create_app
from center.service import Center
from sync.client import CenterClient

PIN = "123456"
ENTERPRISE = "BENCH00001"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def card_connection(card: EmulatedPivCard, kind: str) -> tuple[Any, Connection]:
    if kind == "inprocess":
        return None, EmulatedConnection(card)
    from agent.card.pcsc import PcscConnection, readers_with_card
    from agent.card.vpcd import VpcdCard

    vpcd = VpcdCard(card)
    vpcd.insert()
    for _ in range(60):
        readers = [r for r in readers_with_card() if "Virtual PCD 00 00" in r]
        if readers:
            return vpcd, PcscConnection(readers[0])
        time.sleep(0.05)
    raise RuntimeError("pcscd did not see the emulated card")


async def run(drops: int, rows: int, card_kind: str, moved_in: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        center = Center.open(str(root / "center.db"))
        center.create_enterprise(ENTERPRISE, "bench")
        center.access_register(ENTERPRISE, "bench0001@17999.e163", "leased-line")  # business opens (rule 12)
        card = EmulatedPivCard(pin=PIN)
        session = PivSession(EmulatedConnection(card))
        authenticate(session, DEFAULT_MANAGEMENT_KEY)
        session.verify_pin(PIN)
        session.put_certificate(
            center.enroll_operator(ENTERPRISE, session.generate_key(), "bench", "BENCH", fx_days=365)
        )
        card.reset()
        forms = [f for _ in range(0, drops * rows, 1000) for f in center.issue_forms(ENTERPRISE, 1000)]

        runner = web.AppRunner(create_app(center), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

        workspace = Workspace(root / "ws")
        workspace.init()
        (workspace.state / "center-ca.pem").write_bytes(center.ca_certificate().public_bytes(Encoding.PEM))
        vpcd, connection = card_connection(card, card_kind)
        operator_card = OperatorCard(lambda: connection)
        agent = assemble(workspace, CenterClient(f"http://127.0.0.1:{port}"), center.ca_certificate(), operator_card)
        await agent.start()
        await asyncio.get_running_loop().run_in_executor(None, agent.unlock, PIN)

        latencies: list[float] = []
        for n in range(drops):
            lines = ["form_no,port", *(f"{f},2200" for f in forms[n * rows : (n + 1) * rows])]
            target = workspace.results / f"drop{n:03d}.result.csv"
            dropped = workspace.inbox / "filings" / f"drop{n:03d}.csv"
            staged = dropped.with_name(f"{n:08X}")  # how Excel saves: a temporary file beside it, then a rename
            start = time.perf_counter()
            (staged if moved_in else dropped).write_text("\r\n".join(lines), encoding="utf-8")
            if moved_in:
                staged.rename(dropped)  # and renamed in, whole
            while not target.exists():
                await asyncio.sleep(0.002)
            latencies.append((time.perf_counter() - start) * 1000)

        assert agent.watcher is not None
        quiet_ms, settle_ms = agent.watcher.quiet * 1000, agent.watcher.settle * 1000
        await agent.stop()
        await runner.cleanup()
        center.close()
        if vpcd is not None:
            vpcd.remove()
    return {
        "quiet_ms": quiet_ms,
        "close_settle_ms": settle_ms,
        "p50_ms": round(statistics.median(latencies), 1),
        "p99_ms": round(percentile(latencies, 0.99), 1),
        "min_ms": round(min(latencies), 1),
        "max_ms": round(max(latencies), 1),
    }


async def both(drops: int, rows: int, card_kind: str) -> dict[str, Any]:
    """In one run, with the agent's default settings: files saved as Excel saves (a temporary file in the folder, then
    renamed to its name), taken as they arrive; and files written in place (a copy), taken once their writer closed
    them and wrote nothing more for the close settle — long enough for a network copy that appends one piece a
    second."""
    return {
        "benchmark": "drop_to_result_latency",
        "drops": drops,
        "rows_per_file": rows,
        "card": card_kind,
        "moved_in": await run(drops, rows, card_kind, moved_in=True),
        "written_in_place": await run(drops, rows, card_kind, moved_in=False),
        "target_p50_ms": 100,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drops", type=int, default=50)
    parser.add_argument("--rows", type=int, default=100)
    parser.add_argument("--card", choices=("inprocess", "pcsc"), default="inprocess")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(both(args.drops, args.rows, args.card))))


if __name__ == "__main__":
    main()
