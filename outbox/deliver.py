"""Delivery, the last stage: acknowledged → delivered | rejected, and every other file a sync brings back.

- a batch's result (CSV, or XML for XML input; query answers in outbox/queries), each with its workbook (.xlsx)
  beside it, and the center's signed receipt;
- the update feed's entries in one file a day, ``outbox/updates/updates-<local date>.csv`` (and .xlsx), each entry
  exactly once, and ``outbox/forms.csv`` (and .xlsx), every form of the enterprise as it now stands (rewritten
  whenever the mirror moved on);
- the removal of half-written files a crash left behind.

Output names are chosen once and recorded before anything is written, so a step re-run after a crash rewrites the
same files. An update page is first promised (its file and last sequence number noted in the store), then written,
then committed with the feed cursor. The promise also notes how long the day's file was before the page: after a
crash the file is cut back to that length and the same page written again, so no update is lost and none appears
twice.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

from inbox.schema import KINDS
from l10n import say
from l10n.times import now_local
from outbox.columns import columns
from outbox.contents import noted, query_table, result_table, result_xml
from outbox.files import (
    WORKBOOK,
    csv_bytes,
    free_path,
    read_cell,
    remove_stale_drafts,
    workbook_of,
    write_atomic,
    write_table,
    write_workbook,
)
from outbox.folders import OutboxFolders
from outbox.tidy import KEEP_DAYS, move_old_files
from sync.states import BatchState
from sync.vocabulary import FEED_COLUMNS

log = logging.getLogger("eport.outbox")

# A draft older than this was not being written by anyone any more: the process writing it crashed.
STALE_DRAFT_SECONDS = 600.0
UPDATE_PROMISE = "update_pending"
FORMS_WRITTEN_AT = "forms_written_at"  # the update cursor forms.csv was last written at

FEED = columns(list(FEED_COLUMNS))
# forms.csv: what a clerk needs to browse form by form (上一单/下一单), the statuses and 是否撤销 in Chinese.
FORMS = (
    "form_no",
    "safe_status_zh",
    "customs_status_zh",
    "submission_status_zh",
    "port",
    "issue_date",
    "unified_no",
    "declaration_no",
    "export_date",
    "submit_date",
    "revoked_zh",
    "event_zh",
    "at",
)
# Tells the front ends which file was written: ("result" | "errors" | "updates", path of the workbook).
Announce = Callable[[str, Path], None]


class DeliveryStore(Protocol):
    """What delivery needs of the store."""

    def batch_ids_in(self, *states: str) -> list[str]: ...

    def batch(self, batch_id: str) -> dict[str, Any]: ...

    def records(self, batch_id: str) -> list[dict[str, Any]]: ...

    def move(self, batch_id: str, from_states: Iterable[str], to_state: str, **columns: Any) -> bool: ...

    def claimed_outputs(self) -> set[str]: ...

    def meta(self) -> dict[str, str | None]: ...

    def set_meta(self, **values: str | None) -> None: ...

    def apply_updates(self, updates: list[dict[str, Any]], cursor: int) -> None: ...

    def forms(self) -> list[dict[str, Any]]: ...

    def update_cursor(self) -> int: ...


class Delivery:
    def __init__(
        self,
        folders: OutboxFolders,
        store: DeliveryStore,
        announce: Announce,
        archive: Path | None = None,
        keep_days: int = KEEP_DAYS,
    ) -> None:
        self.folders, self.store, self.announce = folders, store, announce
        self.archive, self.keep_days = archive, keep_days
        self._tidied_on: str | None = None

    # -- batches -----------------------------------------------------------------------------------------------

    def deliver_answered(self) -> None:
        """Write the result and receipt of every answered batch; it is then delivered (or rejected, when the center
        refused it as a whole)."""
        first_failure: OSError | None = None
        for batch_id in self.store.batch_ids_in(BatchState.ACKNOWLEDGED):
            batch = self.store.batch(batch_id)  # one answer in memory at a time: a file in 200 parts has 200
            try:
                self._deliver(batch)
            except OSError as exc:  # this batch's files wait for the next sync; the others are delivered now
                log.warning("batch %s (%s) not delivered yet: %s", batch["id"], batch["source_name"], exc)
                first_failure = first_failure or exc
        if first_failure is not None:
            raise first_failure

    def _deliver(self, batch: dict[str, Any]) -> None:
        answer = json.loads(batch["answer"])
        result_file, receipt_file = self._output_paths(batch)
        workbook = self._write_result(batch, answer, result_file)
        if "receipt" in answer:
            write_atomic(receipt_file, answer["receipt"].encode("ascii"))
        final = BatchState.REJECTED if "refused" in answer else BatchState.DELIVERED
        self.store.move(batch["id"], [BatchState.ACKNOWLEDGED], final)
        self.announce("result", workbook)
        log.info(
            "batch %s %s (%s): %d result rows in %s",
            batch["id"],
            final,
            batch["source_name"],
            len(answer["results"]),
            result_file.name,
        )

    def _write_result(self, batch: dict[str, Any], answer: dict[str, Any], path: Path) -> Path:
        """The result table (or XML) at ``path`` and its workbook beside it; returns the workbook's path. A batch
        that repeats an earlier copy of its file says so in every message (``repeats``)."""
        if "rows" in answer and all(r["status"] == "OK" for r in answer["results"]):
            header, rows = query_table(answer["rows"])
            return write_table(path, header, rows, say("sheet.query"))
        kind = KINDS[batch["kind"]]
        records = self.store.records(batch["id"])
        repeats = batch.get("repeats")
        results = noted(answer["results"], tuple(json.loads(repeats)) if repeats else None)
        header, rows = result_table(kind, records, results)
        if batch["format"] == "xml":
            write_workbook(workbook_of(path), header, rows, say("sheet.results"))
            write_atomic(path, result_xml(kind, records, results))
            return workbook_of(path)
        return write_table(path, header, rows, say("sheet.results"))

    def _output_paths(self, batch: dict[str, Any]) -> tuple[Path, Path]:
        """Chosen once and recorded, so a delivery re-run after a crash rewrites the same two files."""
        if batch["result_file"]:
            return Path(batch["result_file"]), Path(batch["receipt_file"])
        taken = self.store.claimed_outputs()
        folder = self.folders.queries if batch["kind"] == "queries" else self.folders.results
        suffix = "xml" if batch["format"] == "xml" and batch["kind"] != "queries" else "csv"
        result = free_path(folder, f"{batch['stem']}.result.{suffix}", taken, siblings=(WORKBOOK,))
        receipt = free_path(self.folders.receipts, f"{batch['stem']}.receipt.jws", taken)
        state = [BatchState.ACKNOWLEDGED]
        self.store.move(batch["id"], state, BatchState.ACKNOWLEDGED, result_file=str(result), receipt_file=str(receipt))
        return result, receipt

    # -- update pages (the sync engine pulls them, this writes them) ---------------------------------------------

    def write_page(self, page: list[dict[str, Any]]) -> None:
        """Add one page of the feed (entries after the cursor) to the day's file: promise the file, its length before
        the page and the page's last entry, write, commit with the cursor. A page promised before a crash is
        finished exactly as promised: the file cut back to its length then, the same entries added, so none is lost
        and none appears twice."""
        promise = self.store.meta().get(UPDATE_PROMISE)
        if promise:
            promised = json.loads(promise)
            name, last, base = promised["file"], int(promised["last"]), int(promised.get("base", 0))
            page = [entry for entry in page if int(entry["seq"]) <= last]
            if not page:  # the center no longer lists what was promised: start afresh with what it lists now
                log.warning("promised updates up to %d are no longer in the feed; the promise is dropped", last)
                self.store.set_meta(**{UPDATE_PROMISE: None})
                return
        else:
            name, last = f"updates-{now_local():%Y-%m-%d}.csv", int(page[-1]["seq"])
            day_file = self.folders.updates / name
            base = day_file.stat().st_size if day_file.exists() else 0
            self.store.set_meta(**{UPDATE_PROMISE: json.dumps({"file": name, "last": last, "base": base})})
        self._add_to_day(self.folders.updates / name, base, page)
        self.store.apply_updates(page, last)  # moves the cursor and ends the promise, in one transaction
        log.info("updates %d..%d added to %s", page[0]["seq"], last, name)
        self.announce("updates", workbook_of(self.folders.updates / name))

    def _add_to_day(self, path: Path, base: int, page: list[dict[str, Any]]) -> None:
        """The day's CSV as it was before the page plus the page, and its workbook made again from all of it."""
        before = path.read_bytes()[:base] if base and path.exists() else b""
        added = csv_bytes(FEED, _feed_rows(page))
        if before:
            added = added.split(b"\r\n", 1)[1]  # the day's file has its header already
        write_atomic(path, before + added)
        write_workbook(workbook_of(path), FEED, _read_back(path), say("sheet.updates"))

    def refresh_forms(self) -> None:
        """Rewrite forms.csv (and forms.xlsx) when the mirror moved on since it was last written (or either is gone).
        Checked every sync, so a file that could not be replaced (open in Excel) is brought up to date once it can
        be. No notification: the clerk is told of results and errors, not of every change of the mirror."""
        cursor = self.store.update_cursor()
        written = self.store.meta().get(FORMS_WRITTEN_AT)
        forms_csv = self.folders.forms_csv
        if cursor == 0 or (written == str(cursor) and forms_csv.exists() and workbook_of(forms_csv).exists()):
            return
        rows = [[form.get(name, "") for name in FORMS] for form in self.store.forms()]
        write_table(forms_csv, columns(list(FORMS)), rows, say("sheet.forms"))
        self.store.set_meta(**{FORMS_WRITTEN_AT: str(cursor)})

    # -- housekeeping -----------------------------------------------------------------------------------------------

    def keep_tidy(self) -> None:
        """Once a day: files older than ``keep_days`` move into month folders (outbox.tidy); nothing is deleted."""
        today = f"{now_local():%Y-%m-%d}"
        if self._tidied_on == today:
            return
        self._tidied_on = today
        folders = [self.folders.results, self.folders.errors, self.folders.queries, self.folders.updates]
        folders += [self.folders.receipts, *([self.archive] if self.archive is not None else [])]
        move_old_files(folders, self.keep_days)

    # -- after a crash --------------------------------------------------------------------------------------------

    def remove_stale_drafts(self) -> None:
        removed = sum(
            remove_stale_drafts(folder, STALE_DRAFT_SECONDS) for folder in self.folders.all() if folder.is_dir()
        )
        if removed:
            log.info("removed %d half-written outbox files left by an earlier crash", removed)


def _feed_rows(entries: list[dict[str, Any]]) -> list[list[Any]]:
    return [[entry.get(name, "") for name in FEED_COLUMNS] for entry in entries]


def _read_back(path: Path) -> list[list[str]]:
    """The rows of a table the agent wrote, as the values they stand for."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    return [[read_cell(cell) for cell in row] for row in rows[1:]]
