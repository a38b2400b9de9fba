"""The agent's worker thread, on which the sync cycle's blocking work (store, card, files) runs off the event loop,
and the announcer that tells front ends which file was written."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

log = logging.getLogger("eport.agent")

Listener = Callable[[dict[str, Any]], None]


class Worker:
    """The one thread that runs blocking work (store, card, files), off the event loop, one piece at a time."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="agent-work")

    async def run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)


class Announcer:
    """Tells front ends which file was written; a front end's failure never stops the agent."""

    def __init__(self) -> None:
        self.listeners: list[Listener] = []

    def __call__(self, kind: str, path: Path) -> None:
        for listener in self.listeners:
            try:
                listener({"type": kind, "path": str(path)})
            except Exception:
                log.exception("listener failed")
