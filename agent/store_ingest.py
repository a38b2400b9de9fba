"""One dropped file becoming its batch in the store, in one transaction, fast enough for a million rows.

A file over one batch's limits (sync/limits.py) becomes several batches, its parts, each within them and each
signed and answered on its own; the file is still read, checked and recorded whole, in the one transaction, so a
mistake anywhere in it refuses all of it before anything is signed.

The records are staged in a scratch SQLite file of their own while the file is read (a large file takes a minute);
only the commit takes the store's write lock, so the rest of the agent (sync, signer, the page) is never held off
by a reading longer than the moment it takes to copy them in."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Protocol

from sqlite_utils import Database

from agent.store_db import Transaction, now_iso
from l10n import say
from sync.limits import (
    MAX_BATCH_FORMS,
    MAX_BATCH_RECORDS,
    MAX_PART_CONTAINERS,
    MAX_PART_TEXT_BYTES,
    WHOLE_KINDS,
)
from sync.states import BatchState
from sync.vocabulary import expand_range


class IngestStore(Protocol):
    """What an ingest needs of the store (agent.store.Store)."""

    @property
    def db(self) -> Database: ...

    path: Path

    def transaction(self) -> Transaction: ...

    def take_copy(self, sha256: str, name: str) -> int: ...


class Ingest:
    """One file becoming its batch (or parts), in one transaction: records stream in, duplicates are spotted on the
    way, and the caller commits (the batches exist) or leaves without committing (nothing of it exists).

        with store.ingest(sha, name, stem, kind, fmt) as ingest:
            for seq, text, forms in records:
                ingest.add(seq, text, forms)
            if not problems and not ingest.duplicates():
                batch_id = ingest.commit()
    """

    CHUNK = 2_000

    def __init__(self, store: IngestStore, sha256: str, name: str, stem: str, kind: str, fmt: str) -> None:
        self.store = store
        self.batch_id = uuid.uuid4().hex  # the part records go to now (the first part names the file)
        self.count = 0
        self._parts: list[tuple[str, int]] = []  # the parts filled before this one: id and record count
        self._part_records = 0
        self._part_forms = 0
        self._part_bytes = 0
        self._part_containers = 0
        self._whole = kind in WHOLE_KINDS  # a query or a check is one batch (its reading bounds it: inbox.budget)
        self._file = (sha256, name, stem, kind, fmt)
        self._texts: list[str] = []
        self._chunks = 0
        # Form numbers seen so far, as integers (9 base-36 digits): a million of them take tens of MB, not hundreds.
        self._seen: set[int] = set()
        self._repeated: set[str] = set()
        self._noted: list[tuple[int, list[str]]] = []  # refused rows and the forms they name
        self._transaction: Transaction = store.transaction()
        self._staging_path = store.path.with_name(f"{store.path.name}.ingest-{self.batch_id}")
        self._staging: sqlite3.Connection | None = None
        self._committed = False
        self.repeats: str | None = None  # the earlier copy this content repeats, for the result (agent.repeats)

    def __enter__(self) -> Ingest:
        # Scratch space, thrown away after: no journal, no syncs.
        self._staging = sqlite3.connect(self._staging_path, isolation_level=None, check_same_thread=False)
        self._staging.execute("PRAGMA journal_mode = OFF")
        self._staging.execute("PRAGMA synchronous = OFF")
        self._staging.execute(
            "CREATE TABLE chunks (batch_id TEXT, chunk INTEGER, body TEXT, PRIMARY KEY (batch_id, chunk))"
        )
        return self

    def add(self, seq: int, text: str, forms: list[str]) -> None:
        """Queue a valid record (its canonical JSON); ``forms`` are the form numbers it names."""
        named, size = max(len(forms), 1), 6 * len(text)  # its size on the wire at worst (sync.limits)
        containers = text.count("{") + text.count("[")  # as the center counts them before parsing, values' too
        if (
            self._part_records
            and not self._whole
            and (
                self._part_records >= MAX_BATCH_RECORDS
                or self._part_forms + named > MAX_BATCH_FORMS
                or self._part_bytes + size > MAX_PART_TEXT_BYTES
                or self._part_containers + containers > MAX_PART_CONTAINERS
            )
        ):
            self._next_part()
        self._part_records += 1
        self._part_forms += named
        self._part_bytes += size
        self._part_containers += containers
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

    def _next_part(self) -> None:
        self._flush()
        self._parts.append((self.batch_id, self._part_records))
        self.batch_id = uuid.uuid4().hex
        self._chunks = 0
        self._part_records = self._part_forms = self._part_bytes = self._part_containers = 0

    def _all_parts(self) -> list[tuple[str, int]]:
        return [*self._parts, (self.batch_id, self._part_records)]

    def _count_forms(self, forms: list[str]) -> None:
        for form in forms:
            number = int(form, 36)
            if number in self._seen:
                self._repeated.add(form)
            self._seen.add(number)

    def _flush(self) -> None:
        # Plain SQL, not table.insert(): this runs hundreds of times for a large file (see docs/PERFORMANCE.md).
        if self._texts:
            assert self._staging is not None, "used inside its with block"
            self._staging.execute(
                "INSERT INTO chunks (batch_id, chunk, body) VALUES (?, ?, ?)",
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
        bodies = (body for part, _ in self._all_parts() for body in self._staged(part))
        for body in bodies:
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

    def _staged(self, batch_id: str) -> Iterator[str]:
        assert self._staging is not None, "used inside its with block"
        query = "SELECT body FROM chunks WHERE batch_id = ? ORDER BY chunk"
        yield from (body for (body,) in self._staging.execute(query, (batch_id,)))

    def commit(self) -> str:
        """Record the file and its batch, or its parts, in one transaction; returns the (first) batch's id."""
        self._flush()
        assert self._staging is not None, "used inside its with block"
        sha256, name, stem, kind, fmt = self._file
        self._transaction.begin()
        # The chunks go in before their batch (its record count is known last): check their foreign key at COMMIT.
        # The pragma ends with the transaction.
        self._transaction.conn.execute("PRAGMA defer_foreign_keys = ON")
        self._transaction.conn.executemany(
            "INSERT INTO record_chunks (batch_id, chunk, body) VALUES (?, ?, ?)",
            self._staging.execute("SELECT batch_id, chunk, body FROM chunks ORDER BY batch_id, chunk"),
        )
        stamp = now_iso()
        db = self.store.db
        parts = self._all_parts()
        first = parts[0][0]
        copy = self.store.take_copy(sha256, name)  # a file the clerk asked to send again is a copy of its own
        db.table("files").insert(
            {"sha256": sha256, "copy": copy, "name": name, "received_at": stamp, "batch_id": first, "outcome": "batch"}
        )
        batch = {
            "kind": kind,
            "source_name": name,
            "format": fmt,
            "state": BatchState.RECEIVED.value,
            "created_at": stamp,
            "updated_at": stamp,
            "repeats": self.repeats,
        }
        if len(parts) == 1:
            db.table("batches").insert({**batch, "id": first, "stem": stem, "record_count": self.count})
        else:
            width = len(str(len(parts)))
            db.table("batches").insert_all(
                {
                    **batch,
                    "id": part_id,
                    "stem": say("file.part", stem=stem, part=f"{number:0{width}d}", parts=len(parts)),
                    "record_count": records,
                    "part": number,
                    "parts": len(parts),
                    "first_part": first,
                }
                for number, (part_id, records) in enumerate(parts, start=1)
            )
        self._transaction.commit()
        self._committed = True
        return first

    @property
    def parts(self) -> int:
        return len(self._parts) + 1

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._transaction.conn.in_transaction and not self._committed:
            self._transaction.rollback()
        if self._staging is not None:
            self._staging.close()
        self._staging_path.unlink(missing_ok=True)


def drop_scratch(store_path: Path, older_than: float = 600.0) -> None:
    """Scratch files an interrupted ingest left beside the store (nothing in them was ever recorded)."""
    for scratch in store_path.parent.glob(f"{store_path.name}.ingest-*"):
        with contextlib.suppress(OSError):
            if time.time() - scratch.stat().st_mtime > older_than:
                scratch.unlink()
