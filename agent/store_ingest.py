"""One dropped file becoming one batch in the store, in one transaction, fast enough for a million rows."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from types import TracebackType
from typing import Protocol

from sqlite_utils import Database

from agent.store_db import Transaction, now_iso
from sync.states import BatchState
from sync.vocabulary import expand_range


class IngestStore(Protocol):
    """What an ingest needs of the store (agent.store.Store)."""

    @property
    def db(self) -> Database: ...

    def transaction(self) -> Transaction: ...

    def record_texts(self, batch_id: str) -> Iterator[str]: ...

    def take_copy(self, sha256: str, name: str) -> int: ...


class Ingest:
    """One file becoming one batch, in one transaction: records stream in, duplicates are spotted on the way, and
    the caller commits (the batch exists) or leaves without committing (nothing of it exists).

        with store.ingest(sha, name, stem, kind, fmt) as ingest:
            for seq, text, forms in records:
                ingest.add(seq, text, forms)
            if not problems and not ingest.duplicates():
                batch_id = ingest.commit()
    """

    CHUNK = 2_000

    def __init__(self, store: IngestStore, sha256: str, name: str, stem: str, kind: str, fmt: str) -> None:
        self.store = store
        self.batch_id = uuid.uuid4().hex
        self.count = 0
        self._file = (sha256, name, stem, kind, fmt)
        self._texts: list[str] = []
        self._chunks = 0
        # Form numbers seen so far, as integers (9 base-36 digits): a million of them take tens of MB, not hundreds.
        self._seen: set[int] = set()
        self._repeated: set[str] = set()
        self._noted: list[tuple[int, list[str]]] = []  # refused rows and the forms they name
        self._transaction: Transaction = store.transaction()
        self._committed = False
        self.repeats: str | None = None  # the earlier copy this content repeats, for the result (agent.repeats)

    def __enter__(self) -> Ingest:
        self._transaction.begin()
        # The chunks go in before their batch (its record count is known last): check their foreign key at COMMIT.
        # The pragma ends with the transaction.
        self._transaction.conn.execute("PRAGMA defer_foreign_keys = ON")
        return self

    def add(self, seq: int, text: str, forms: list[str]) -> None:
        """Queue a valid record (its canonical JSON); ``forms`` are the form numbers it names."""
        for form in forms:  # as _count_forms, inline: this runs once per row of a million-row file
            number = int(form, 36)
            if number in self._seen:
                self._repeated.add(form)
            self._seen.add(number)
        self._texts.append(text)
        self.count += 1
        if len(self._texts) >= self.CHUNK:
            self._flush()

    def note(self, seq: int, forms: list[str]) -> None:
        """The forms a refused row names: so that a form named twice is reported even if one of its rows is wrong."""
        if forms:
            self._count_forms(forms)
            self._noted.append((seq, forms))

    def _count_forms(self, forms: list[str]) -> None:
        for form in forms:
            number = int(form, 36)
            if number in self._seen:
                self._repeated.add(form)
            self._seen.add(number)

    def _flush(self) -> None:
        # Plain SQL, not table.insert(): this runs hundreds of times for a large file (see docs/PERFORMANCE.md).
        if self._texts:
            self._transaction.conn.execute(
                "INSERT INTO record_chunks (batch_id, chunk, body) VALUES (?, ?, ?)",
                (self.batch_id, self._chunks, ",".join(self._texts)),
            )
            self._chunks += 1
            self._texts.clear()

    def duplicates(self) -> list[tuple[str, list[int]]]:
        """Form numbers named by more than one row of the file, with those rows (in order of first row)."""
        if not self._repeated:
            return []
        self._flush()
        rows: dict[str, list[int]] = {form: [] for form in self._repeated}
        for body in self.store.record_texts(self.batch_id):
            for record in json.loads(f"[{body}]"):
                named = (
                    expand_range(record["start_form_no"], record["count"]) if "count" in record else [record["form_no"]]
                )
                for form in self._repeated.intersection(named):
                    rows[form].append(record["seq"])
        for seq, named in self._noted:
            for form in self._repeated.intersection(named):
                rows[form].append(seq)
        return sorted(((form, sorted(seqs)) for form, seqs in rows.items()), key=lambda item: item[1])

    def commit(self) -> str:
        self._flush()
        sha256, name, stem, kind, fmt = self._file
        stamp = now_iso()
        db = self.store.db
        copy = self.store.take_copy(sha256, name)  # a file the clerk asked to send again is a copy of its own
        db.table("files").insert(
            {
                "sha256": sha256,
                "copy": copy,
                "name": name,
                "received_at": stamp,
                "batch_id": self.batch_id,
                "outcome": "batch",
            }
        )
        db.table("batches").insert(
            {
                "id": self.batch_id,
                "kind": kind,
                "source_name": name,
                "stem": stem,
                "format": fmt,
                "state": BatchState.RECEIVED.value,
                "created_at": stamp,
                "updated_at": stamp,
                "record_count": self.count,
                "repeats": self.repeats,
            }
        )
        self._transaction.commit()
        self._committed = True
        return self.batch_id

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if not self._committed:
            self._transaction.rollback()
