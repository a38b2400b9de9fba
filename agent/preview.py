"""A check (核对) asked for on the status page: what an operation would do to a form or a run of forms, before the
clerk does it.

The operation and the form numbers the clerk typed are checked by the rules every dropped file is checked by
(``inbox.validate.Validator`` on the ``checks`` kind): a mistake is answered at once, naming the field, and nothing is
written. Otherwise they become a small check file in inbox/checks/, under a name the agent makes
(``预览口岸备案-20260601-120005.csv``), which then goes the way of any dropped file: read, signed, sent, answered, its
result written to outbox/. Its answer — each form's statuses now and what the operation would do to it, or why it
cannot be done — is read back from the store (the center's answer as the sync engine stored it).

The same check asked again while the first one is still on its way is not written twice (intake would answer the
copy once, with the first one's outcome): the first one is shown instead.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
import threading
from pathlib import Path
from typing import Any

from agent.listing import one_file
from agent.repeats import IN_FLIGHT
from agent.store import Store
from agent.workspace import Workspace
from inbox.schema import CHECK_OPERATIONS, KINDS
from inbox.sources import Source
from inbox.validate import PortTable, Validator
from outbox.files import free_path

CHECKS = KINDS["checks"]
OPERATIONS = tuple(CHECK_OPERATIONS)  # filings, cancellations, submissions, losses
FIELDS = ("operation", "form_no", "start_form_no", "count", "port")  # what the page asks for
PREFIX = "预览"
SHOWN = 1000  # answers shown on the page: every form of the largest run (sync.vocabulary.MAX_RANGE)
_writing = threading.Lock()  # two clicks at once write one file


def ask(workspace: Workspace, store: Store, **given: str) -> dict[str, Any]:
    """A check of ``given`` (FIELDS; the operation by its kind name, e.g. ``filings``). ``{"problems": [...]}`` (each
    ``{"field", "label_zh", "message_zh", "message_en"}``) when the rules refuse it, nothing written; else
    ``{"ref", "name", "same"}``: the check file (``same``: the one already on its way), ``ref`` naming it for
    :func:`answer`."""
    cells = {column.name: str(given.get(column.name) or "") for column in CHECKS.columns}
    source = Source(
        layout=list(range(len(CHECKS.columns))),
        width=len(CHECKS.columns),
        rows=iter(()),
        labels=[column.zh for column in CHECKS.columns],
    )
    checked, problems, _forms = Validator(CHECKS, source, PortTable.of(store.ports())).check(
        (2, [cells[column.name] for column in CHECKS.columns])
    )
    if checked is None:
        fields = {column.zh: column.name for column in CHECKS.columns}
        return {
            "problems": [
                {"field": fields.get(p.column, ""), "label_zh": p.column, "message_zh": p.zh, "message_en": p.en}
                for p in problems
            ]
        }
    record = json.loads(checked.text)  # the values as the rules read them (full-width folded, upper-cased)
    data = _file_bytes(record)
    sha = hashlib.sha256(data).hexdigest()
    folder = workspace.inbox / CHECKS.name
    with _writing:
        same = _on_its_way(store, folder, sha, data)
        if same is not None:
            return {"ref": f"{sha}-{same}", "name": same, "same": True}
        stamp = dt.datetime.now().astimezone().strftime("%Y%m%d-%H%M%S")
        target = free_path(folder, f"{PREFIX}{_menu_name(record['operation'])}-{stamp}.csv")
        folder.mkdir(parents=True, exist_ok=True)
        draft = target.with_name(f"{target.name}.tmp")  # the watcher ignores .tmp files: it appears whole
        draft.write_bytes(data)
        os.replace(draft, target)
    return {"ref": f"{sha}-{target.name}", "name": target.name, "same": False}


def _menu_name(operation: str) -> str:
    """The manual's menu name of an operation given by its kind or any of its names: ``filings`` → 口岸备案."""
    return next((names[0] for kind, names in CHECK_OPERATIONS.items() if operation in (kind, *names)), CHECKS.zh)


def _file_bytes(record: dict[str, Any]) -> bytes:
    """The check as a CSV (UTF-8 with BOM, Chinese headers), one row."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow([column.zh for column in CHECKS.columns])
    writer.writerow(["" if record.get(column.name) is None else record[column.name] for column in CHECKS.columns])
    return "\ufeff".encode() + text.getvalue().encode("utf-8")


def _on_its_way(store: Store, folder: Path, sha: str, data: bytes) -> str | None:
    """The name of a check of these very bytes still waiting in the inbox or on its way to the center, if any."""
    for copy in store.copies(sha):
        if copy["outcome"] == "batch" and copy["state"] in IN_FLIGHT:
            return str(copy["name"])
    for waiting in sorted(folder.glob(f"{PREFIX}*.csv")) if folder.is_dir() else ():
        try:
            if waiting.stat().st_size == len(data) and waiting.read_bytes() == data:
                return waiting.name
        except OSError:  # taken by intake meanwhile: it is in the store now
            continue
    return None


def answer(store: Store, ref: str) -> dict[str, Any] | None:
    """The check ``ref`` (from :func:`ask`) as the page shows it: ``{"name", "file", "results", "more",
    "problem"}``. ``file`` is None while it waits in the inbox (then as agent.listing lists a file); ``results`` the
    center's answer, one per form, once answered. None for a ref that names no check."""
    sha, _, name = ref.partition("-")
    if len(sha) != 64 or not name:
        return None
    row = store.conn.execute(
        "SELECT copy FROM files WHERE sha256 = ? AND name = ? ORDER BY copy DESC LIMIT 1", (sha, name)
    ).fetchone()
    found = one_file(store, f"{sha}-{row[0]}") if row is not None else None
    if found is not None and found["kind"] != CHECKS.name:
        return None
    results: list[dict[str, Any]] = []
    if found is not None and found["batch_id"]:
        (stored,) = store.conn.execute("SELECT answer FROM batches WHERE id = ?", (found["batch_id"],)).fetchone()
        results = json.loads(stored)["results"] if stored else []
    return {
        "name": name,
        "file": found,
        "results": results[:SHOWN],
        "more": len(results) > SHOWN,
        "problem": found["problem"] if found is not None else None,
    }
