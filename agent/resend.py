"""Send a file again: its archived source goes back into the inbox as a new file.

From the status page, a refused file: one refused with an errors file (e.g. checked before the port table was there)
or a batch the center refused as a whole (e.g. the 17999 account or the FX permission had run out, since put right);
only the latest copy of a refused file, and only once at a time. From the command line (``eport-agent resend FILE``,
``on_purpose``), any archived file, e.g. an applications file held because the same one was applied within 24 hours
(agent.repeats): the clerk names it as dropped, or by its archived file. The copy gets a name that says it is a
resend (``<name>.重发<n>.<ext>``) and cannot collide, goes into the inbox folder its kind is read from, and is noted
in the store first (``Store.request_resend``), so intake takes it as a new copy whatever became of the earlier ones.
It appears whole: written under a name the watcher ignores, then renamed.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any

from agent.listing import inside, one_file
from agent.store import Store
from agent.workspace import KINDS, Workspace
from outbox.files import free_path

log = logging.getLogger("eport.agent")

MARK = "重发"
_MARKED = re.compile(rf"\.{MARK}\d+$")


class CannotResend(Exception):
    """This file cannot be sent again (the message says why, Chinese first)."""


def resend_name(name: str, copy: int) -> str:
    """``备案0601.csv`` → ``备案0601.重发1.csv`` (a resend of a resend keeps one mark, with the new number)."""
    path = Path(name)
    return f"{_MARKED.sub('', path.stem)}.{MARK}{copy}{path.suffix}"


def resend(workspace: Workspace, store: Store, key: str, on_purpose: bool = False) -> dict[str, Any]:
    """Put the refused file ``key`` (agent.listing.file_key) back into the inbox; ``{"name", "folder"}`` of the
    copy. CannotResend when it is not refused, not the latest copy, already put back, or its source is gone; with
    ``on_purpose`` (the clerk's own command) any archived copy, whatever became of it."""
    found = one_file(store, key)
    if found is None:
        raise CannotResend("找不到该文件 / no such file")
    sha = key.rpartition("-")[0]
    if not on_purpose:
        if not found["resendable"]:
            raise CannotResend("只有被拒绝的文件可以重发 / only a refused file can be sent again")
        latest = store.file(sha)
        if latest is None or latest["copy"] != found["copy"]:
            raise CannotResend("此文件已重发过，请看最新的一份 / this file was sent again already: see its latest copy")
    pending = store.conn.execute("SELECT name FROM resends WHERE sha256 = ? AND taken_at IS NULL", (sha,)).fetchone()
    if pending is not None:
        raise CannotResend(f"已放回收件箱，等待读取：{pending[0]} / already back in the inbox as {pending[0]}")
    source = inside(found["links"]["source"], workspace.archive)
    if source is None:
        raise CannotResend("归档的原文件不见了 / the archived source is gone")
    kind = found["kind"] if found["kind"] in KINDS else None
    folder = workspace.inbox / kind if kind else workspace.inbox
    target = free_path(folder, resend_name(found["name"], found["copy"] + 1))
    copy = store.request_resend(target.name, sha)
    draft = target.with_name(f"{target.name}.tmp")  # the watcher ignores .tmp files
    shutil.copyfile(source, draft)
    os.replace(draft, target)
    log.info("file %s sent again as %s (copy %d)", found["name"], target.name, copy)
    return {"name": target.name, "folder": str(folder.relative_to(workspace.root))}


def key_of(store: Store, given: str) -> str:
    """The file the clerk names (``eport-agent resend FILE``): its file in archive/ (archive names are unique), or
    its name as dropped (the latest copy of that name); CannotResend when none matches."""
    name = Path(given).name
    archived = store.conn.execute(
        "SELECT sha256, copy, archived_as FROM files WHERE archived_as LIKE ? ORDER BY received_at DESC",
        (f"%{name}",),
    )
    row = next(((sha, copy) for sha, copy, kept in archived if Path(kept).name == name), None)
    if row is None:
        row = store.conn.execute(
            "SELECT sha256, copy FROM files WHERE name = ? AND archived_as IS NOT NULL"
            " ORDER BY received_at DESC, copy DESC LIMIT 1",
            (name,),
        ).fetchone()
    if row is None:
        raise CannotResend(
            f"找不到文件 {given}：请给出放入时的文件名或 archive/ 中的文件"
            f" / no file {given} was taken in: give its name as dropped, or its file in archive/"
        )
    return f"{row[0]}-{row[1]}"
