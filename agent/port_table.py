"""The port table (关区代码表) a clerk looks codes up in: the center's table as the agent last fetched it (the store's
cache), searched the manual's way (part of a code or a name, sync.ports) and kept as ``templates/ports.csv`` (and
.xlsx) whenever it changes."""

from __future__ import annotations

import hashlib
import json

from agent.store import Store
from agent.workspace import Workspace
from l10n import say
from outbox.columns import column
from outbox.files import write_table
from sync.ports import search

WRITTEN = "ports_written"  # meta: the digest of the table templates/ports.csv holds


def ports_of(store: Store) -> list[tuple[str, str]]:
    return [(p["code"], p["name"]) for p in store.ports()]


def find(store: Store, text: str, limit: int = 20) -> list[tuple[str, str]]:
    """The ports a clerk may mean by ``text``, best first (``eport-agent ports search``)."""
    return search(ports_of(store), text, limit)


def keep_current(workspace: Workspace, store: Store) -> bool:
    """Write templates/ports.csv (and .xlsx) when the cached table differs from what it holds; True if written."""
    table = ports_of(store)
    if not table:
        return False
    digest = hashlib.sha256(json.dumps(table, ensure_ascii=False).encode("utf-8")).hexdigest()
    target = workspace.root / "templates" / "ports.csv"
    if store.meta().get(WRITTEN) == digest and target.exists():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    write_table(target, [column("port"), column("port_name")], [list(row) for row in table], say("sheet.ports"))
    store.set_meta(**{WRITTEN: digest})
    return True
