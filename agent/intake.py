"""A dropped file becomes a batch, or an errors file, and then leaves the inbox for archive/. Nothing is lost:
the steps are ordered so that a crash between any two of them is finished on the next look at the file.

    read + validate + store (one transaction) → archive          (a batch)
    read + validate → errors file → record as rejected → archive  (a refused file)

Any failure while reading a file is the file's own: it ends in an errors file that says so, the source in archive/
and the problem in the status (the tray shows it), never in a file left in the inbox to fail again at every look.
Only what is not the file's doing — another program holding it locked, the local store — leaves it to be tried
again. An errors file whose mistakes are settled (the corrected file went through, or a newer one replaces it) goes
to archive/ too (outbox.tidy).
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

from agent.store import Store
from agent.taking import Changed, NotRegular, Snapshot, keep, leftovers, let_go, remove_object, snapshot
from agent.workspace import KINDS, Workspace
from inbox.budget import Budget
from inbox.encoding import SAMPLE_BYTES
from inbox.schema import BatchKind
from inbox.sources import FieldError, FileRefused, file_format, open_source, refuse, tell_kind
from inbox.validate import PortTable, Validator
from l10n import pair, say
from l10n.times import local_text
from outbox.contents import ERROR_COLUMNS, bilingual
from outbox.files import UNSAFE_NAME, TableDraft, free_path, safe_stem, workbook_of
from outbox.tidy import archive_stamp, retire_errors

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
        self.problem: str | None = None  # a file that could not be read, until a later one is

    def recover(self) -> None:
        """At start: private copies a crash left half taken go to archive/ (as unfinished-…), never lost."""
        for moved in leftovers(self.workspace.state / "taking", self.workspace.archive):
            log.warning("a copy left by an interrupted intake was kept as %s", moved.name)

    def handle(self, path: Path) -> None:
        """The inbox watcher's callback for a complete file (a PermissionError makes the watcher try again)."""
        if self.take(path) is not None:
            self.on_batch()

    def take(self, path: Path) -> str | None:
        """Handle one complete file; returns the new batch id, if it became a batch. Its bytes are read once, into
        a private copy (agent.taking); ``Changed`` (raised) when it changed meanwhile: the watcher looks again."""
        try:
            snap = snapshot(path, self.workspace.state / "taking")
        except NotRegular as odd:
            self._refuse_object(path, odd)
            return None
        try:
            return self._take(snap)
        finally:
            snap.discard()

    def _take(self, snap: Snapshot) -> str | None:
        path, sha = snap.source, snap.sha256
        known = self.store.file(sha)
        if known is not None and self.store.resend_pending(path.name, sha):
            known = None  # a refused file the clerk asked to send again (agent.resend): taken as a new copy
        if known is not None and known["archived_as"] is None:
            self._archive(snap, sha)  # recorded before a crash, not yet archived: finish, don't report it twice
            return None
        if known is not None:
            self._report_duplicate(snap, known)
            return None
        errors = self._errors_draft()
        batch_id = None
        failure: Exception | None = None
        try:
            batch_id = self._read(snap, errors)
        except FileRefused as refused:
            _write_error(errors, refused.error)
        except (PermissionError, FileNotFoundError, sqlite3.Error, Changed):
            # Locked by another program, gone, changed while read, or the store (another process recorded the same
            # file first): not the file's doing, so it is looked at again rather than archived.
            errors.discard()
            raise
        except Exception as exc:  # the reader failed on this file: said in its errors file, never retried as is
            log.exception("reading %s failed", path.name)
            failure = exc
            zh, en = pair("intake.reader_failed", error=f"{type(exc).__name__}: {exc}")
            _write_error(errors, FieldError(0, "", path.name, zh, en))
        stem = safe_stem(path.name)
        if batch_id is None:
            self._retire_errors(stem)  # the newest errors file of a name replaces the older one
            report = errors.publish(f"{stem}.errors.csv", self.store.claimed_outputs())
            self.store.add_rejected_file(sha, path.name, str(report), folder=self._folder_kind(path))
            log.info("file %s rejected: %d errors, see %s", path.name, errors.count, report.name)
            self.announce("errors", workbook_of(report))
        else:
            errors.discard()
            self._retire_errors(stem)  # the corrected file went through: its old mistakes are settled
        self._archive(snap, sha)
        if failure is not None:
            self.problem = say("intake.unreadable", name=path.name, error=failure, report=workbook_of(report).name)
        else:
            self.problem = None
        return batch_id

    def _errors_draft(self) -> TableDraft:
        return TableDraft(self.workspace.errors, ERROR_COLUMNS, say("sheet.errors"))

    def _retire_errors(self, stem: str) -> None:
        for old, new in retire_errors(self.workspace.errors, self.workspace.archive, stem):
            self.store.report_moved(str(old), str(new))

    def _read(self, snap: Snapshot, errors: TableDraft) -> str | None:
        path, sha = snap.copy, snap.sha256  # the bytes read, under the dropped file's name
        kind = tell_kind(path, self._folder_kind(snap.source))
        with path.open("rb") as handle:
            fmt = file_format(path, handle.read(SAMPLE_BYTES))
        source = open_source(path, kind)
        validator = Validator(kind, source, PortTable.of(self.store.ports()))
        with closing(source), self.store.ingest(sha, path.name, safe_stem(path.name), kind.name, fmt) as ingest:
            for problem in source.problems:
                _write_error(errors, problem)
            budget = Budget(kind)  # over a per-batch limit: refused at once, reading stops (inbox.budget)
            for row in source.rows:
                checked, problems, forms = validator.check(row)
                budget.spend(len(forms))
                for problem in problems:
                    _write_error(errors, problem)
                if checked is not None:
                    ingest.add(row[0], checked.text, checked.forms)
                else:
                    ingest.note(row[0], forms)
            for form, rows in ingest.duplicates():
                _write_error(errors, _duplicate_error(form, rows, source.label(0, kind.columns[0])))
            if ingest.count == 0 and errors.count == 0:
                raise _no_records(kind)
            if errors.count:
                return None
            if not snap.source_unchanged() and not snap.source_replaced():
                raise Changed(path.name)  # written to since it was read: not answered from a mix, read again
            batch_id = ingest.commit()
        log.info("batch %s received from %s: %s, %d records", batch_id, path.name, kind.name, ingest.count)
        return batch_id

    def _folder_kind(self, path: Path) -> str | None:
        """The kind folder the file was dropped in, at any depth: inbox/filings/june/x.csv is a filing."""
        try:
            first = path.relative_to(self.workspace.inbox).parts[0]
        except (ValueError, IndexError):
            return None
        return first if first in KINDS and path.parent != self.workspace.inbox else None

    def _refuse_object(self, path: Path, odd: NotRegular) -> None:
        """A link, pipe, socket or device in the inbox: refused without being opened, moved out of the inbox."""
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return
        zh, en = pair("intake.not_regular", what=odd.zh)[0], pair("intake.not_regular", what=odd.en)[1]
        draft = self._errors_draft()
        _write_error(draft, FieldError(0, "", path.name, zh, en))
        stem = safe_stem(path.name)
        self._retire_errors(stem)
        report = draft.publish(f"{stem}.errors.csv", self.store.claimed_outputs())
        sha = hashlib.sha256(f"not-a-file:{path}:{st.st_dev}:{st.st_ino}:{st.st_mtime_ns}".encode()).hexdigest()
        self.store.add_rejected_file(sha, path.name, str(report), folder=self._folder_kind(path))
        kept = remove_object(path, self._archive_path(path, sha))
        self.store.mark_archived(sha, str(kept or ""))
        log.warning("inbox entry %s is %s, not a regular file: refused without reading it", path.name, odd.en)
        self.announce("errors", workbook_of(report))

    def _report_duplicate(self, snap: Snapshot, known: dict[str, Any]) -> None:
        path = snap.source
        name, when = known["name"], local_text(known["received_at"])
        outcome = _outcome(self.store, known)
        draft = self._errors_draft()
        _write_error(
            draft,
            FieldError(
                0,
                "",
                path.name,
                f"重复文件：内容与 {name}（{when} 放入）完全相同，未再次发送。第一次的结果：{outcome[0]}",
                f"duplicate: the same content as {name} (dropped {when}); not sent again. The first one's outcome: "
                f"{outcome[1]}",
            ),
        )
        stem = safe_stem(path.name)
        self._retire_errors(stem)
        report = draft.publish(f"{stem}.errors.csv", self.store.claimed_outputs())
        log.info("file %s is a duplicate of %s; not sent again", path.name, known["name"])
        self.announce("errors", workbook_of(report))
        self._archive(snap, known["sha256"], record=False)

    def _archive_path(self, path: Path, sha: str) -> Path:
        suffix = UNSAFE_NAME.sub("_", path.suffix[:10])
        return free_path(self.workspace.archive, f"{archive_stamp()}-{sha[:8]}-{safe_stem(path.name)}{suffix}")

    def _archive(self, snap: Snapshot, sha: str, record: bool = True) -> None:
        """Keep the bytes read in archive/ under a name that cannot collide (never deleted), then let the inbox
        file go if it is still those bytes; a file replaced or changed since stays and is taken on its own.
        Link (or copy) then unlink rather than rename: a rename out of the watched tree is held back by the
        inotify watcher for 0.5 s to pair it with a rename into it, and every later inbox event waits behind it.
        At every instant at least one name holds the clerk's file."""
        target = self._archive_path(snap.source, sha)
        keep(snap, target)
        if not let_go(snap):
            log.info(
                "file %s changed or was replaced after it was read: the new version is taken on its own",
                snap.source.name,
            )
        if record:
            self.store.mark_archived(sha, str(target))


def _write_error(draft: TableDraft, error: FieldError) -> None:
    draft.write((error.row or "", error.column, error.value, bilingual(error.zh, error.en)))


def _duplicate_error(form: str, rows: list[int], column: str) -> FieldError:
    listed = ", ".join(map(str, rows))
    return FieldError(
        rows[1],
        column,
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
        name = workbook_of(Path(known["report_file"])).name
        return f"被拒绝，见 {name}", f"rejected, see {name}"
    batch = store.batch(known["batch_id"])
    zh, en = pair(f"state.{batch['state']}")
    if batch["result_file"]:
        name = workbook_of(Path(batch["result_file"])).name
        return f"{zh}，见 {name}", f"{en}, see {name}"
    return f"处理中（{zh}）", f"in progress ({en})"
