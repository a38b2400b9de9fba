"""The update feed into the outbox (DESIGN.md §6): form changes pulled from the center land in
``outbox/updates/updates-<UTC timestamp>.csv``, exactly once each, and ``outbox/forms.csv`` shows every form of the
enterprise as it now stands.

The cursor moves only after the files are written. A page is first promised (its file name and last sequence
number noted in the store), then written, then committed with the cursor; after a crash the same page is written
again to the same file, so no update is lost and none appears in two files.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from agent.store import Store
from agent.workspace import Workspace
from outbox.files import csv_bytes, free_path, write_atomic
from sync.vocabulary import FEED_COLUMNS, FEED_PAGE

log = logging.getLogger("eport.agent")
Fetch = Callable[[int, int], Awaitable[list[dict[str, Any]]]]


def _rows(entries: list[dict[str, Any]]) -> list[list[Any]]:
    return [[entry.get(name, "") for name in FEED_COLUMNS] for entry in entries]


class UpdatePuller:
    def __init__(self, workspace: Workspace, store: Store, fetch: Fetch, run: Callable[..., Awaitable[Any]]) -> None:
        self.workspace, self.store, self.fetch, self.run = workspace, store, fetch, run

    async def pull(self) -> int:
        """Pull every update since the cursor; returns how many were new."""
        total = 0
        while True:
            cursor = await self.run(self.store.update_cursor)
            pending = await self.run(lambda: self.store.meta().get("update_pending"))
            promise = json.loads(pending) if pending else None
            page = await self.fetch(cursor, FEED_PAGE)
            if promise is not None:  # finish the page a crash interrupted, exactly as it was promised
                page = [entry for entry in page if entry["seq"] <= promise["last"]]
            if not page:
                return total
            target = promise["file"] if promise is not None else str(self._file_for(page))
            last = page[-1]["seq"]
            await self.run(self.store.set_meta, update_pending=json.dumps({"file": target, "last": last}))
            await self.run(write_atomic, self._path(target), csv_bytes(FEED_COLUMNS, _rows(page)))
            await self.run(self.store.apply_updates, page, last)
            await self.run(self._write_snapshot)
            log.info("updates %d..%d written to %s", page[0]["seq"], last, self._path(target).name)
            total += len(page)

    def _file_for(self, page: list[dict[str, Any]]) -> str:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
        return free_path(self.workspace.outbox / "updates", f"updates-{stamp}.csv", self.store.claimed_outputs()).name

    def _path(self, name: str) -> Path:
        return self.workspace.outbox / "updates" / name

    def _write_snapshot(self) -> None:
        write_atomic(self.workspace.outbox / "forms.csv", csv_bytes(FEED_COLUMNS, _rows(self.store.forms())))
