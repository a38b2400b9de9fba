"""Recovery after a crash: the agent (its own process) is SIGKILLed with 20 batches in flight — read, signed and
marked sent while the center was away — then the center comes back and the agent is started again; timed from
that start until the last result file exists. Repeated a few times; the center runs on loopback (SQLite file).

The baseline is the agent of before: a dead process's sync lease had to run out (120 s) before the restarted agent
sent anything. Target: ≤ 2 s.

    python bench/recovery.py [--batches 20] [--rounds 5]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.store import Store
from tests.center_support import free_port, open_center, serve
from tests.rigs import ENTERPRISE, enrolled_card, start_agent, workspace_for

TARGET_SECONDS = 2.0
BASELINE_SECONDS = 120.0  # the lease a dead agent left behind, before the roles became OS file locks


async def one_round(root: Path, batches: int) -> float:
    center = open_center(root, [ENTERPRISE])
    port = free_port()
    workspace = workspace_for(root / "ws", center, port, card=enrolled_card(center))
    forms = center.issue_forms(ENTERPRISE, batches)
    agent = await start_agent(workspace.root)  # the center is away: every batch is signed and waits
    for n, form in enumerate(forms):
        (workspace.inbox / "filings" / f"f{n:03d}.csv").write_text(f"form_no,port\n{form},2200\n", encoding="utf-8")
    store = Store(workspace.store_file)
    while sum(store.counts().get(state, 0) for state in ("signed", "sent")) < batches:
        await asyncio.sleep(0.01)
    agent.send_signal(signal.SIGKILL)  # the power cut
    await asyncio.to_thread(agent.wait)

    runner = await serve(center, port)
    started = time.perf_counter()
    agent = await start_agent(workspace.root)
    last = workspace.results / f"f{batches - 1:03d}.result.csv"
    while len(list(workspace.results.glob("*.result.csv"))) < batches:
        await asyncio.sleep(0.005)
    seconds = time.perf_counter() - started
    assert last.exists()
    agent.terminate()
    await asyncio.to_thread(agent.wait)
    await runner.cleanup()
    center.close()
    return seconds


async def run(batches: int, rounds: int) -> dict[str, Any]:
    times = []
    for n in range(rounds):
        with tempfile.TemporaryDirectory() as tmp:
            times.append(await one_round(Path(tmp) / f"round{n}", batches))
    return {
        "benchmark": "recovery_after_sigkill",
        "batches_in_flight": batches,
        "rounds": rounds,
        "seconds_median": round(statistics.median(times), 3),
        "seconds_max": round(max(times), 3),
        "target_seconds": TARGET_SECONDS,
        "baseline_seconds": BASELINE_SECONDS,
        "includes": "process start (Python imports, store, card unlock) until the last result file exists",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.batches, args.rounds))))


if __name__ == "__main__":
    main()
