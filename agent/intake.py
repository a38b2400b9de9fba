"""A dropped file becomes a batch, or an errors file, and then leaves the inbox for archive/. Nothing is lost:
the steps are ordered so that a crash between any two of them is finished on the next look at the file.

    read + validate + store (one transaction) → archive          (a batch)
    read + validate → errors file → record as rejected → archive  (a refused file)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import shutil
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

from agent.store import Store
from agent.workspace import KINDS, Workspace
from inbox.schema import BatchKind
from inbox.sources import FieldError, FileRefused, is_xml, open_source, refuse, tell_kind
from inbox.validate import PortTable, Validator
from outbox.contents import ERROR_HEADER, bilingual
from outbox.files import CsvDraft, free_path, safe_stem

log = logging.getLogger("eport.agent")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class Intake:
    def __init__(
        self,
        workspace: Workspace,
        store: Store,
        announce: Callable[[str, Path], None],
        on_batch: Callable[[], None] = lambda: None,
    ) -> None:
        self.workspace = workspace
        self.store = store
        self.announce = announce
        self.on_batch = on_batch  # a new batch waits to be signed and sent: ask for a sync

    def handle(self, path: Path) -> None:
        """The inbox watcher's callback for a complete file (a PermissionError makes the watcher try again)."""
        if self.take(path) is not None:
            self.on_batch()

    def take(self, path: Path) -> str | None:
        """Handle one complete file; returns the new batch id, if it became a batch."""
        sha = file_sha256(path)
        known = self.store.file(sha)
        if known is not None and self.store.resend_pending(path.name, sha):
            known = None  # a refused file the clerk asked to send again (agent.resend): taken as a new copy
        if known is not None and known["archived_as"] is None:
            self._archive(path, sha)  # recorded before a crash, not yet archived: finish, don't report it twice
            return None
        if known is not None:
            self._report_duplicate(path, known)
            return None
        errors = CsvDraft(self.workspace.errors, ERROR_HEADER)
        batch_id = None
        try:
            batch_id = self._read(path, sha, errors)
        except FileRefused as refused:
            _write_error(errors, refused.error)
        except BaseException:  # e.g. another process recorded the same file first: it is that one's to finish
            errors.discard()
            raise
        if batch_id is None:
            report = errors.publish(f"{safe_stem(path.name)}.errors.csv", self.store.claimed_outputs())
            self.store.add_rejected_file(sha, path.name, str(report), folder=self._folder_kind(path))
            log.info("file %s rejected: %d errors, see %s", path.name, errors.count, report.name)
            self.announce("errors", report)
        else:
            errors.discard()
        self._archive(path, sha)
        return batch_id

    def _read(self, path: Path, sha: str, errors: CsvDraft) -> str | None:
        kind = tell_kind(path, self._folder_kind(path))
        with path.open("rb") as handle:
            fmt = "xml" if is_xml(path, handle.read(512)) else "csv"
        source = open_source(path, kind)
        validator = Validator(kind, source, PortTable.of(self.store.ports()))
        with closing(source), self.store.ingest(sha, path.name, safe_stem(path.name), kind.name, fmt) as ingest:
            for row in source.rows:
                checked, problems = validator.check(row)
                for problem in problems:
                    _write_error(errors, problem)
                if checked is not None:
                    ingest.add(row[0], checked.text, checked.forms)
            for form, rows in ingest.duplicates():
                _write_error(errors, _duplicate_error(kind, form, rows))
            if ingest.count == 0 and errors.count == 0:
                raise _no_records(kind)
            if errors.count:
                return None
            batch_id = ingest.commit()
        log.info("batch %s received from %s: %s, %d records", batch_id, path.name, kind.name, ingest.count)
        return batch_id

    def _folder_kind(self, path: Path) -> str | None:
        folder = path.parent.name
        return folder if path.parent.parent == self.workspace.inbox and folder in KINDS else None

    def _report_duplicate(self, path: Path, known: dict[str, Any]) -> None:
        first = f"{known['name']} ({known['received_at'][:19].replace('T', ' ')} UTC)"
        outcome = _outcome(self.store, known)
        draft = CsvDraft(self.workspace.errors, ERROR_HEADER)
        _write_error(
            draft,
            FieldError(
                0,
                "",
                path.name,
                f"重复文件：内容与 {first} 完全相同，未再次发送。第一次的结果：{outcome[0]}",
                f"duplicate: the same content as {first}; not sent again. The first one's outcome: {outcome[1]}",
            ),
        )
        report = draft.publish(f"{safe_stem(path.name)}.errors.csv", self.store.claimed_outputs())
        log.info("file %s is a duplicate of %s; not sent again", path.name, known["name"])
        self.announce("errors", report)
        self._archive(path, known["sha256"], record=False)

    def _archive(self, path: Path, sha: str, record: bool = True) -> None:
        """Move the source out of the inbox under a name that cannot collide; it is never deleted."""
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
        target = free_path(self.workspace.archive, f"{stamp}-{sha[:8]}-{safe_stem(path.name)}{path.suffix[:10]}")
        # Link (or copy) then unlink rather than rename: a rename out of the watched tree is held back by the
        # inotify watcher for 0.5 s to pair it with a rename into it, and every later inbox event waits behind it.
        # At every instant at least one name holds the clerk's file.
        try:
            os.link(path, target)
        except OSError:
            shutil.copy2(path, target)
        path.unlink()
        if record:
            self.store.mark_archived(sha, str(target))


def _write_error(draft: CsvDraft, error: FieldError) -> None:
    draft.write((error.row or "", error.column, error.value, bilingual(error.zh, error.en)))


def _duplicate_error(kind: BatchKind, form: str, rows: list[int]) -> FieldError:
    listed = ", ".join(map(str, rows))
    return FieldError(
        rows[1],
        "form_no",
        form,
        f"核销单{form}在本文件中出现了不止一次（第 {listed} 行）",
        f"form {form} appears more than once in this file (rows {listed})",
    )


def _no_records(kind: BatchKind) -> FileRefused:
    if kind.name == "queries":
        return refuse("组合查询至少需要一个查询条件", "a query needs at least one condition")
    return refuse("文件中没有数据行", "the file has no data rows")


def _outcome(store: Store, known: dict[str, Any]) -> tuple[str, str]:
    if known["outcome"] == "rejected":
        name = Path(known["report_file"]).name
        return f"被拒绝，见 {name}", f"rejected, see {name}"
    batch = store.batch(known["batch_id"])
    if batch["result_file"]:
        name = Path(batch["result_file"]).name
        return f"已处理（{batch['state']}），见 {name}", f"{batch['state']}, see {name}"
    return f"处理中（{batch['state']}）", f"in progress ({batch['state']})"
