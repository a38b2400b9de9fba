"""A test harness: the agent as its own process on a test workspace, so that tests can kill it (SIGKILL) and run
two of them side by side. It uses the workspace's emulated card and unlocks it with the PIN from EPORT_TEST_PIN —
something only a test does: the real agent takes the PIN from the clerk, once, and never from the environment.

    python -m tests.agent_process WORKSPACE [--headless]
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from agent.config import AgentConfig
from agent.runtime import build_agent
from agent.workspace import Workspace


async def main(root: Path, headless: bool) -> None:
    workspace = Workspace(root)
    agent = build_agent(workspace, AgentConfig.load(workspace), settle_quiet=0.05, headless=headless)
    await agent.start()
    if not headless:
        await asyncio.get_running_loop().run_in_executor(None, agent.unlock, os.environ["EPORT_TEST_PIN"])
    print("ready", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await agent.stop()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(message)s")
    asyncio.run(main(Path(sys.argv[1]), "--headless" in sys.argv))
