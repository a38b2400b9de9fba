"""Delivery, the last stage: acknowledged → delivered | rejected, and every other file a sync brings back.

- a batch's result (CSV, or XML for XML input; query answers in outbox/queries) and the center's signed receipt;
- the update feed's pages in ``outbox/updates/updates-<UTC time>.csv``, each entry exactly once, and
  ``outbox/forms.csv``, every form of the enterprise as it now stands (rewritten whenever the mirror moved on);
- the removal of half-written files a crash left behind.

Output names are chosen once and recorded before anything is written, so a step re-run after a crash rewrites the
same files. An update page is first promised (its file and last sequence number noted in the store), then written,
then committed with the feed cursor: after a crash the same page is written again to the same file, so no update is
lost and none appears in two files.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

from inbox.schema import KINDS
from outbox.contents import query_csv, result_csv, result_xml
from outbox.files import csv_bytes, free_path, remove_stale_drafts, write_atomic
from outbox.folders import OutboxFolders
from sync.states import BatchState
from sync.vocabulary import FEED_COLUMNS

log = logging.getLogger("eport.outbox")

# A draft older than this was not being written by anyone any more: the process writing it crashed.
STALE_DRAFT_SECONDS = 600.0
UPDATE_PROMISE = "update_pending"
FORMS_WRITTEN_AT = "forms_written_at"  # the update cursor forms.csv was last written at

# Tells the front ends which file was written: ("result" | "errors" | "updates", path).
Announce = Callable[[str, Path], None]


class DeliveryStore(Protocol):
    """What delivery needs of the store."""

    def batches_in(self, *states: str) -> list[dict[str, Any]]: ...

    def records(self, batch_id: str) -> list[dict[str, Any]]: ...

    def move(self, batch_id: str, from_states: Iterable[str], to_state: str, **columns: Any) -> bool: ...

    def claimed_outputs(self) -> set[str]: ...

    def meta(self) -> dict[str, str | None]: ...

    def set_meta(self, **values: str | None) -> None: ...

    def apply_updates(self, updates: list[dict[str, Any]], cursor: int) -> None: ...

    def forms(self) -> list[dict[str, Any]]: ...

    def update_cursor(self) -> int: ...


class Delivery:
    def __init__(self, folders: OutboxFolders, store: DeliveryStore, announce: Announce) -> None:
        self.folders, self.store, self.announce = folders, store, announce

    # -- batches -----------------------------------------------------------------------------------------------

    def deliver_answered(self) -> None:
        """Write the result and receipt of every answered batch; it is then delivered (or rejected, when the center
        refused it as a whole)."""
        first_failure: OSError | None = None
        for batch in self.store.batches_in(BatchState.ACKNOWLEDGED):
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
        write_atomic(result_file, self._result(batch, answer))
        if "receipt" in answer:
            write_atomic(receipt_file, answer["receipt"].encode("ascii"))
        final = BatchState.REJECTED if "refused" in answer else BatchState.DELIVERED
        self.store.move(batch["id"], [BatchState.ACKNOWLEDGED], final)
        self.announce("result", result_file)
        log.info(
            "batch %s %s (%s): %d result rows in %s",
            batch["id"],
            final,
            batch["source_name"],
            len(answer["results"]),
            result_file.name,
        )

    def _result(self, batch: dict[str, Any], answer: dict[str, Any]) -> bytes:
        if "rows" in answer and all(r["status"] == "OK" for r in answer["results"]):
            return query_csv(answer["rows"])
        kind = KINDS[batch["kind"]]
        records = self.store.records(batch["id"])
        if batch["format"] == "xml":
            return result_xml(kind, records, answer["results"])
        return result_csv(kind, records, answer["results"])

    def _output_paths(self, batch: dict[str, Any]) -> tuple[Path, Path]:
        """Chosen once and recorded, so a delivery re-run after a crash rewrites the same two files."""
        if batch["result_file"]:
            return Path(batch["result_file"]), Path(batch["receipt_file"])
        taken = self.store.claimed_outputs()
        folder = self.folders.queries if batch["kind"] == "queries" else self.folders.results
        suffix = "xml" if batch["format"] == "xml" and batch["kind"] != "queries" else "csv"
        result = free_path(folder, f"{batch['stem']}.result.{suffix}", taken)
        receipt = free_path(self.folders.receipts, f"{batch['stem']}.receipt.jws", taken)
        state = [BatchState.ACKNOWLEDGED]
        self.store.move(batch["id"], state, BatchState.ACKNOWLEDGED, result_file=str(result), receipt_file=str(receipt))
        return result, receipt

    # -- update pages (the sync engine pulls them, this writes them) ---------------------------------------------

    def write_page(self, page: list[dict[str, Any]]) -> None:
        """Write one page of the feed (entries after the cursor): promise its file and last entry, write the file,
        commit with the cursor. A page promised before a crash is finished exactly as promised: same file, same
        entries, so none is lost and none lands in two files."""
        promise = self.store.meta().get(UPDATE_PROMISE)
        if promise:
            promised = json.loads(promise)
            name, last = promised["file"], int(promised["last"])
            page = [entry for entry in page if int(entry["seq"]) <= last]
            if not page:  # the center no longer lists what was promised: start afresh with what it lists now
                log.warning("promised updates up to %d are no longer in the feed; the promise is dropped", last)
                self.store.set_meta(**{UPDATE_PROMISE: None})
                return
        else:
            name, last = self._new_page_name(), int(page[-1]["seq"])
            self.store.set_meta(**{UPDATE_PROMISE: json.dumps({"file": name, "last": last})})
        write_atomic(self.folders.updates / name, csv_bytes(FEED_COLUMNS, _feed_rows(page)))
        self.store.apply_updates(page, last)  # moves the cursor and ends the promise, in one transaction
        log.info("updates %d..%d written to %s", page[0]["seq"], last, name)

    def refresh_forms(self) -> None:
        """Rewrite forms.csv when the mirror moved on since it was last written (or it is gone). Checked every
        sync, so a forms.csv that could not be replaced (open in Excel) is brought up to date once it can be."""
        cursor = self.store.update_cursor()
        written = self.store.meta().get(FORMS_WRITTEN_AT)
        if cursor == 0 or (written == str(cursor) and self.folders.forms_csv.exists()):
            return
        write_atomic(self.folders.forms_csv, csv_bytes(FEED_COLUMNS, _feed_rows(self.store.forms())))
        self.store.set_meta(**{FORMS_WRITTEN_AT: str(cursor)})
        self.announce("updates", self.folders.forms_csv)

    def _new_page_name(self) -> str:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
        return free_path(self.folders.updates, f"updates-{stamp}.csv", self.store.claimed_outputs()).name

    # -- after a crash --------------------------------------------------------------------------------------------

    def remove_stale_drafts(self) -> None:
        removed = sum(
            remove_stale_drafts(folder, STALE_DRAFT_SECONDS) for folder in self.folders.all() if folder.is_dir()
        )
        if removed:
            log.info("removed %d half-written outbox files left by an earlier crash", removed)


def _feed_rows(entries: list[dict[str, Any]]) -> list[list[Any]]:
    return [[entry.get(name, "") for name in FEED_COLUMNS] for entry in entries]
