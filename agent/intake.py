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

from agent import repeats
from agent.repeats import Action, Repeat
from agent.store import Store
from agent.store_ingest import drop_scratch
from agent.taking import (
    Changed,
    NotRegular,
    Snapshot,
    keep,
    leftovers,
    let_go,
    readable_name,
    remove_object,
    snapshot,
)
from agent.workspace import KINDS, Workspace
from inbox.budget import Budget
from inbox.encoding import SAMPLE_BYTES
from inbox.schema import BatchKind, check_operation
from inbox.sources import FieldError, FileRefused, file_format, open_source, refuse, tell_kind
from inbox.validate import PortTable, Validator
from l10n import pair, say
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
        """At start: private copies a crash left half taken go to archive/ (as unfinished-…), never lost; the scratch
        files of its records are dropped (agent.store_ingest)."""
        for moved in leftovers(self.workspace.state / "taking", self.workspace.archive):
            log.warning("a copy left by an interrupted intake was kept as %s", moved.name)
        drop_scratch(self.workspace.store_file)

    def handle(self, path: Path) -> None:
        """The inbox watcher's callback for a complete file (a PermissionError makes the watcher try again)."""
        if self.take(path) is not None:
            self.on_batch()

    def take(self, path: Path, unreadable: Exception | None = None) -> str | None:
        """Handle one complete file; returns the new batch id, if it became a batch. Its bytes are read once, into
        a private copy (agent.taking); ``Changed`` (raised) when it changed meanwhile: the watcher looks again.
        ``unreadable``: reading it failed elsewhere (agent.intake_process): it is refused with that, not read."""
        try:
            snap = snapshot(path, self.workspace.state / "taking")
        except NotRegular as odd:
            self._refuse_object(path, odd)
            return None
        try:
            return self._take(snap, unreadable)
        finally:
            snap.discard()

    def _take(self, snap: Snapshot, unreadable: Exception | None = None) -> str | None:
        path, name, sha = snap.source, snap.name, snap.sha256
        repeat = repeats.decide(self.store, sha, name, lambda: self._kind_name(snap))
        if repeat.action is Action.FINISH:
            self._archive(snap, sha)  # recorded before a crash, not yet archived: finish, don't report it twice
            return None
        if repeat.action in (Action.DUPLICATE, Action.HOLD):
            self._report_repeat(snap, repeat)
            return None
        errors = self._errors_draft()
        if repeat.action is Action.AGAIN and repeat.words is not None:  # its errors file says what it repeats too
            _write_error(errors, FieldError(0, "", name, *repeat.words))
        batch_id = None
        failure: Exception | None = None
        try:
            if unreadable is not None:
                raise unreadable
            batch_id = self._read(snap, errors, repeat.note())
        except FileRefused as refused:
            _write_error(errors, refused.error)
        except (PermissionError, FileNotFoundError, sqlite3.Error, Changed):
            # Locked by another program, gone, changed while read, or the store (another process recorded the same
            # file first): not the file's doing, so it is looked at again rather than archived.
            errors.discard()
            raise
        except Exception as exc:  # the reader failed on this file: said in its errors file, never retried as is
            log.exception("reading %s failed", name)
            failure = exc
            zh, en = pair("intake.reader_failed", error=f"{type(exc).__name__}: {exc}")
            _write_error(errors, FieldError(0, "", name, zh, en))
        stem = safe_stem(name)
        if batch_id is None:
            self._retire_errors(stem)  # the newest errors file of a name replaces the older one
            report = errors.publish(f"{stem}.errors.csv", self.store.claimed_outputs())
            self.store.add_rejected_file(sha, name, str(report), folder=self._folder_kind(path))
            log.info("file %s rejected: %d errors, see %s", name, errors.count, report.name)
            self.announce("errors", workbook_of(report))
        else:
            errors.discard()
            self._retire_errors(stem)  # the corrected file went through: its old mistakes are settled
        self._archive(snap, sha)
        if failure is not None:
            self.problem = say("intake.unreadable", name=name, error=failure, report=workbook_of(report).name)
        else:
            self.problem = None
        return batch_id

    def _errors_draft(self) -> TableDraft:
        return TableDraft(self.workspace.errors, ERROR_COLUMNS, say("sheet.errors"))

    def _retire_errors(self, stem: str) -> None:
        for old, new in retire_errors(self.workspace.errors, self.workspace.archive, stem):
            self.store.report_moved(str(old), str(new))

    def _read(self, snap: Snapshot, errors: TableDraft, repeats_note: str | None = None) -> str | None:
        path, sha = snap.copy, snap.sha256  # the bytes read, under the dropped file's (readable) name
        noted = errors.count  # a repeat's note is the errors file's first line, not a mistake
        kind = tell_kind(path, self._folder_kind(snap.source))
        with path.open("rb") as handle:
            fmt = file_format(path, handle.read(SAMPLE_BYTES))
        source = open_source(path, kind)
        told = check_operation(snap.name) if kind.name == "checks" else None  # 预览批量备案…: a check of filings
        validator = Validator(kind, source, PortTable.of(self.store.ports()), {"operation": told} if told else None)
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
            if ingest.count == 0 and errors.count == noted:
                raise _no_records(kind)
            if errors.count > noted:
                return None
            if not snap.source_unchanged() and not snap.source_replaced():
                raise Changed(path.name)  # written to since it was read: not answered from a mix, read again
            ingest.repeats = repeats_note
            batch_id = ingest.commit()
        log.info(
            "batch %s received from %s: %s, %d records in %d part(s)",
            batch_id,
            path.name,
            kind.name,
            ingest.count,
            ingest.parts,
        )
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
        name = readable_name(path.name)
        draft = self._errors_draft()
        _write_error(draft, FieldError(0, "", name, zh, en))
        stem = safe_stem(name)
        self._retire_errors(stem)
        report = draft.publish(f"{stem}.errors.csv", self.store.claimed_outputs())
        sha = hashlib.sha256(f"not-a-file:{path}:{st.st_dev}:{st.st_ino}:{st.st_mtime_ns}".encode()).hexdigest()
        self.store.add_rejected_file(sha, name, str(report), folder=self._folder_kind(path))
        kept = remove_object(path, self._archive_path(name, sha))
        self.store.mark_archived(sha, str(kept or ""))
        log.warning("inbox entry %s is %s, not a regular file: refused without reading it", name, odd.en)
        self.announce("errors", workbook_of(report))

    def _kind_name(self, snap: Snapshot) -> str | None:
        """The kind the file's folder or name tells (None when neither does: its reading will say so)."""
        try:
            return tell_kind(snap.copy, self._folder_kind(snap.source)).name
        except FileRefused:
            return None

    def _report_repeat(self, snap: Snapshot, repeat: Repeat) -> None:
        """A copy of a file still on its way (answered once, with the first copy's outcome), or an applications file
        held: its errors file says why and what to do. A held file is recorded (it can be sent on purpose:
        agent.resend); a duplicate is not, since the first copy answers for it."""
        path, name, sha = snap.source, snap.name, snap.sha256
        assert repeat.words is not None and repeat.earlier is not None
        draft = self._errors_draft()
        _write_error(draft, FieldError(0, "", name, *repeat.words))
        stem = safe_stem(name)
        self._retire_errors(stem)
        report = draft.publish(f"{stem}.errors.csv", self.store.claimed_outputs())
        held = repeat.action is Action.HOLD
        if held:
            self.store.add_rejected_file(sha, name, str(report), folder=self._folder_kind(path))
        log.info("file %s repeats %s (%s): not sent", name, repeat.earlier["name"], repeat.action.value)
        self.announce("errors", workbook_of(report))
        self._archive(snap, sha, record=held)

    def _archive_path(self, name: str, sha: str) -> Path:
        suffix = UNSAFE_NAME.sub("_", Path(name).suffix[:10])
        return free_path(self.workspace.archive, f"{archive_stamp()}-{sha[:8]}-{safe_stem(name)}{suffix}")

    def _archive(self, snap: Snapshot, sha: str, record: bool = True) -> None:
        """Keep the bytes read in archive/ under a name that cannot collide (never deleted), then let the inbox
        file go if it is still those bytes; a file replaced or changed since stays and is taken on its own.
        Link (or copy) then unlink rather than rename: a rename out of the watched tree is held back by the
        inotify watcher for 0.5 s to pair it with a rename into it, and every later inbox event waits behind it.
        At every instant at least one name holds the clerk's file."""
        target = self._archive_path(snap.name, sha)
        keep(snap, target)
        if not let_go(snap):
            log.info(
                "file %s changed or was replaced after it was read: the new version is taken on its own",
                snap.name,
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
    if kind.name == "queries":  # the manual's FAQ 6, in its words
        return refuse(
            "必须输入查询条件。如果希望查到多票核销单，请选择条件“以……开始”，然后在值中输入核销单的前8位或前7位。",
            "a query needs at least one condition: to find many forms, use prefix (以……开始) with the first 8 or 7 "
            "characters of the form number",
        )
    return refuse("文件中没有数据行", "the file has no data rows")
