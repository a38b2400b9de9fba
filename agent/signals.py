"""Waiting for the signal to stop: Ctrl-C, or SIGTERM from a service manager."""

from __future__ import annotations

import asyncio
import contextlib
import signal


async def until_signalled(stop: asyncio.Event | None = None) -> None:
    """Return on SIGINT or SIGTERM, or when ``stop`` is set (tests, an embedding program)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows: Ctrl-C arrives as KeyboardInterrupt
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
