"""Idle footprint of `eport-agent run` (issue 5): resident memory and CPU over a window with nothing to do.

Starts a center (`eport-center serve`, SQLite) and `eport-agent run` on a fresh workspace with the emulated card,
waits until the agent has settled, then samples the agent process from /proc (Linux) for the window.

    python bench/idle_footprint.py [--seconds 60] [--algorithm p256|sm2]

``--algorithm sm2``: a 国密 center and an SM2 card. ``gmssl_loaded`` tells whether the GmSSL library (gmssl-pyx)
is mapped into the agent: it is loaded only when an SM2 key is used, never by a P-256 agent.

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE))

from agent.workspace import Workspace  # noqa: E402
from center.service import Center  # noqa: E402
from sync.algorithms import CHOICES  # noqa: E402
from tests.center_support import open_access  # noqa: E402
from tests.rigs import ENTERPRISE, enrolled_card, free_port, workspace_for  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
HEADLESS = {**os.environ, "DISPLAY": ""}  # no tray: the agent alone
# The budget: 70 MB since the store is on sqlite-utils again (docs/PERFORMANCE.md, "Idle footprint").
TARGET_RSS_MB = 70
TARGET_CPU_PERCENT = 1


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def gmssl_loaded(pid: int) -> bool:
    """Whether gmssl-pyx's extension (the GmSSL library) is mapped into the process."""
    return "gmsslext" in Path(f"/proc/{pid}/maps").read_text()


@contextmanager
def running_agent(root: Path, algorithm: str = "p256", business: bool = False) -> Iterator[tuple[Workspace, int]]:
    """`eport-center serve` (SQLite) and `eport-agent run` on a fresh workspace under ``root`` with an emulated card
    enrolled, both as processes; yields the workspace and the agent's pid once it has settled (start-up, first
    sync, port table), and stops both after. ``business``: the enterprise's 17999 account is open."""
    center = Center.open(str(root / "center.db"), algorithm=CHOICES[algorithm])
    center.create_enterprise(ENTERPRISE, "bench")
    if business:
        open_access(center, ENTERPRISE)
    port = free_port()
    workspace = workspace_for(root / "ws", center, port, card=enrolled_card(center))
    center.close()
    serve = subprocess.Popen(
        [sys.executable, "-m", "center.cli", "serve", "--db", str(root / "center.db"), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    agent = subprocess.Popen(
        [sys.executable, "-m", "agent.cli", "run", "--workspace", str(workspace.root)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=HEADLESS,
    )
    try:
        time.sleep(5)  # start-up, first sync, port table
        yield workspace, agent.pid
    finally:
        agent.terminate()
        serve.terminate()
        agent.wait()
        serve.wait()


def measure(seconds: float, algorithm: str = "p256") -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, running_agent(Path(tmp), algorithm) as (_workspace, pid):
        cpu_before, samples = cpu_seconds(pid), []
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            samples.append(rss_mb(pid))
            time.sleep(1)
        cpu = cpu_seconds(pid) - cpu_before
        elapsed = time.monotonic() - start
        gmssl = gmssl_loaded(pid)
    return {
        "benchmark": "idle_footprint",
        "algorithm": algorithm,
        "gmssl_loaded": gmssl,
        "window_s": round(elapsed, 1),
        "rss_mb_max": round(max(samples), 1),
        "rss_mb_mean": round(sum(samples) / len(samples), 1),
        "cpu_percent": round(100 * cpu / elapsed, 2),
        "target_rss_mb": TARGET_RSS_MB,
        "target_cpu_percent": TARGET_CPU_PERCENT,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--algorithm", choices=sorted(CHOICES), default="p256", help="the center's and the card's")
    args = parser.parse_args()
    print(json.dumps(measure(args.seconds, args.algorithm)))


if __name__ == "__main__":
    main()
