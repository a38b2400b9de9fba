"""The demo's center, run exactly as a deployment runs it: ``eport-center serve`` as a process of its own, prepared
through the ``eport-center`` command line as an operator would, customs and SAFE played by ``eport-center
simulate``. The agent never imports the center: it starts its commands (``python -m center.cli``) and talks HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import socket
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

CENTER_COMMAND = (sys.executable, "-m", "center.cli")
READY_SECONDS = 60.0  # how long the center may take to answer /healthz
STOP_SECONDS = 10.0


class DemoError(Exception):
    """The demo's center could not be prepared or started; the message says what its command answered."""


async def eport_center(*argv: str) -> str:
    """Run one ``eport-center`` command to its end; its standard output, or DemoError with what it said."""
    process = await asyncio.create_subprocess_exec(
        *CENTER_COMMAND, *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        said = err.decode("utf-8", "replace").strip() or out.decode("utf-8", "replace").strip()
        raise DemoError(f"'eport-center {' '.join(argv[:2])}' failed: {said}")
    return out.decode("utf-8")


async def eport_center_json(*argv: str) -> Any:
    """An ``eport-center`` command with ``--json``: its answer."""
    return json.loads(await eport_center(*argv, "--json"))


def check_port_free(port: int) -> None:
    """Refuse a port something listens on already (a demo still running): its /healthz would answer for ours."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise OSError(errno.EADDRINUSE, f"port {port} is in use") from exc


class CenterProcess:
    """One long-running ``eport-center`` command (serve, simulate), its output appended to a log file; stopped by
    its process id."""

    def __init__(self, process: asyncio.subprocess.Process, log: Path) -> None:
        self.process, self.log = process, log

    @classmethod
    async def start(cls, log: Path, *argv: str) -> CenterProcess:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:  # the child has its own copy of the descriptor
            process = await asyncio.create_subprocess_exec(
                *CENTER_COMMAND, *argv, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out
            )
        return cls(process, log)

    @property
    def pid(self) -> int:
        return self.process.pid

    def _tail(self) -> str:
        lines = self.log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        return "\n".join(lines[-5:])

    async def wait_ready(self, url: str) -> None:
        """Until the center answers ``/healthz``; DemoError if it exits first or takes too long."""
        deadline = time.monotonic() + READY_SECONDS
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
            while True:
                if self.process.returncode is not None:
                    raise DemoError(f"the center stopped at start (see {self.log}):\n{self._tail()}")
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with session.get(f"{url}/healthz") as response:
                        if response.status == 200:
                            return
                if time.monotonic() > deadline:
                    raise DemoError(f"the center did not answer {url}/healthz within {READY_SECONDS:g} s")
                await asyncio.sleep(0.1)

    async def stop(self) -> None:
        """SIGTERM to our process (each command stops cleanly on it), SIGKILL if it lingers."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), STOP_SECONDS)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                await self.process.wait()
