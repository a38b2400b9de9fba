"""The agent's only state: one SQLite file (WAL) shared by its threads and processes (DESIGN.md §5).

Plain sqlite3: the store is a handful of SQL statements, and sqlite-utils would add 22 MB to the resident agent.

Every state change of a batch is one transaction, and each step checks the state it starts from, so re-running any
step after a crash is harmless.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sync.vocabulary import FEED_COLUMNS as FORM_COLUMNS
from sync.vocabulary import expand_range

# Batch states, in order (DESIGN.md §5).
RECEIVED = "received"
AWAITING_SIGNATURE = "awaiting_signature"
SIGNED = "signed"
SENT = "sent"
ACKNOWLEDGED = "acknowledged"
DELIVERED = "delivered"
REJECTED = "rejected"

# Named schema steps, applied once each, in order. Statements are split at ";", so comments must not hold one.
MIGRATIONS: list[tuple[str, str]] = [
    (
        "001_files_batches_records",
        """
        CREATE TABLE files (
            sha256 TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            received_at TEXT NOT NULL,
            batch_id TEXT,
            outcome TEXT NOT NULL,          -- 'batch' or 'rejected' (errors file written)
            report_file TEXT,               -- the errors file of a rejected file
            archived_as TEXT                -- NULL until the source left the inbox
        );
        CREATE TABLE batches (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            source_name TEXT NOT NULL,
            stem TEXT NOT NULL,
            format TEXT NOT NULL,           -- csv or xml: results come back in the clerk's format
            state TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            record_count INTEGER NOT NULL,
            payload TEXT,
            signature TEXT,
            answer TEXT,
            result_file TEXT,               -- chosen once, so a re-run rewrites the same files
            receipt_file TEXT,
            problem TEXT
        );
        CREATE INDEX batches_state ON batches(state);
        CREATE TABLE record_chunks (        -- a batch's records, in order, a few thousand to a row: a file
            batch_id TEXT NOT NULL          -- of a million rows costs hundreds of inserts, not a million
                REFERENCES batches(id) DEFERRABLE INITIALLY DEFERRED,
            chunk INTEGER NOT NULL,
            body TEXT NOT NULL,             -- the records as canonical JSON joined by commas: signed as they are
            PRIMARY KEY (batch_id, chunk)
        );
        CREATE TABLE leases (               -- which process does a step that must not run twice at once
            name TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            until REAL NOT NULL             -- seconds since the epoch: a dead owner's lease runs out
        );
        CREATE TABLE meta (                 -- small facts other processes read: last sync, its problem...
            key TEXT PRIMARY KEY,
            value TEXT
        );
        CREATE TABLE ports (                -- the center's port table, cached for checking files offline
            code TEXT PRIMARY KEY,
            name TEXT NOT NULL
        );
        """,
    ),
    (
        "002_forms_mirror",
        """
        CREATE TABLE forms (                -- the enterprise's forms as the update feed last described them
            form_no TEXT PRIMARY KEY,
            seq INTEGER NOT NULL,           -- the feed entry that set this state
            event TEXT NOT NULL,
            safe_status TEXT NOT NULL,
            safe_status_zh TEXT,
            customs_status TEXT NOT NULL,
            customs_status_zh TEXT,
            submission_status TEXT NOT NULL,
            submission_status_zh TEXT,
            port TEXT,
            at TEXT NOT NULL
        );
        """,
    ),
]


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


class Store:
    """Plain-dict access to the agent database; one SQLite connection per thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._migrate()

    @property
    def conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL is durable across process crashes
            conn.execute("PRAGMA foreign_keys=ON")
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE: a writer takes the lock up front, so two processes never interleave a step."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _migrate(self) -> None:
        with self.transaction() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
            done = {row[0] for row in conn.execute("SELECT name FROM migrations")}
            for name, sql in MIGRATIONS:
                if name in done:
                    continue
                for statement in filter(str.strip, sql.split(";")):
                    conn.execute(statement)
                conn.execute("INSERT INTO migrations VALUES (?, ?)", (name, now_iso()))

    def _rows(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        return [dict(row) for row in self.conn.execute(sql, list(params))]

    # -- files -------------------------------------------------------------------------------------------------

    def file(self, sha256: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT * FROM files WHERE sha256 = ?", [sha256])
        return rows[0] if rows else None

    def add_rejected_file(self, sha256: str, name: str, report_file: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO files (sha256, name, received_at, outcome, report_file) VALUES (?, ?, ?, 'rejected', ?)",
                (sha256, name, now_iso(), report_file),
            )

    def claimed_outputs(self) -> set[str]:
        """Every output path already promised to a batch or file, written or not."""
        rows = self.conn.execute(
            "SELECT result_file FROM batches UNION SELECT receipt_file FROM batches UNION SELECT report_file FROM files"
        )
        return {path for (path,) in rows if path}

    def mark_archived(self, sha256: str, archived_as: str) -> None:
        with self.transaction() as conn:
            conn.execute("UPDATE files SET archived_as = ? WHERE sha256 = ?", (archived_as, sha256))

    # -- leases --------------------------------------------------------------------------------------------------

    def take_lease(self, name: str, owner: str, seconds: float) -> bool:
        """Hold ``name`` for ``seconds`` (or renew it); False while another live process holds it."""
        now = time.time()
        with self.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO leases (name, owner, until) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE"
                " SET owner = excluded.owner, until = excluded.until WHERE leases.owner = excluded.owner"
                " OR leases.until < ?",
                (name, owner, now + seconds, now),
            )
        return cursor.rowcount == 1

    def release_lease(self, name: str, owner: str) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM leases WHERE name = ? AND owner = ?", (name, owner))

    # -- facts shared between processes -----------------------------------------------------------------------------

    def set_meta(self, **values: str | None) -> None:
        with self.transaction() as conn:
            conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", values.items())

    def meta(self) -> dict[str, str | None]:
        return {key: value for key, value in self.conn.execute("SELECT key, value FROM meta")}

    # -- the forms mirror and the update cursor ----------------------------------------------------------------------

    def apply_updates(self, updates: list[dict[str, Any]], cursor: int) -> None:
        """Fold feed entries into the mirror and move the cursor, in one transaction (entries older than what the
        mirror holds change nothing: the feed is at-least-once)."""
        marks = ", ".join("?" * len(FORM_COLUMNS))
        with self.transaction() as conn:
            conn.executemany(
                f"INSERT INTO forms ({', '.join(FORM_COLUMNS)}) VALUES ({marks}) ON CONFLICT(form_no) DO UPDATE SET "
                + ", ".join(f"{c} = excluded.{c}" for c in FORM_COLUMNS[1:])
                + " WHERE excluded.seq > forms.seq",
                ([u.get(c) for c in FORM_COLUMNS] for u in updates),
            )
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('update_cursor', ?)", (str(cursor),))
            conn.execute("DELETE FROM meta WHERE key = 'update_pending'")

    def update_cursor(self) -> int:
        return int(self.meta().get("update_cursor") or 0)

    def forms(self) -> list[dict[str, Any]]:
        return self._rows(f"SELECT {', '.join(FORM_COLUMNS)} FROM forms ORDER BY form_no")

    # -- reference data ------------------------------------------------------------------------------------------

    def ports(self) -> list[dict[str, str]]:
        return self._rows("SELECT code, name FROM ports ORDER BY code")

    def replace_ports(self, ports: Iterable[dict[str, str]]) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM ports")
            conn.executemany("INSERT INTO ports (code, name) VALUES (?, ?)", ((p["code"], p["name"]) for p in ports))

    # -- batches -----------------------------------------------------------------------------------------------

    def ingest(self, sha256: str, name: str, stem: str, kind: str, fmt: str) -> Ingest:
        """Start recording a file and its batch; see :class:`Ingest`."""
        return Ingest(self, sha256, name, stem, kind, fmt)

    def batch(self, batch_id: str) -> dict[str, Any]:
        return self._rows("SELECT * FROM batches WHERE id = ?", [batch_id])[0]

    def batches_in(self, *states: str) -> list[dict[str, Any]]:
        marks = ",".join("?" * len(states))
        return self._rows(f"SELECT * FROM batches WHERE state IN ({marks}) ORDER BY created_at", states)

    def records(self, batch_id: str) -> list[dict[str, Any]]:
        return [record for body in self.record_texts(batch_id) for record in json.loads(f"[{body}]")]

    def record_texts(self, batch_id: str) -> Iterator[str]:
        """The batch's records as stored (canonical JSON, several per text joined by commas), in order."""
        rows = self.conn.execute("SELECT body FROM record_chunks WHERE batch_id = ? ORDER BY chunk", (batch_id,))
        return (body for (body,) in rows)

    def counts(self) -> dict[str, int]:
        return {state: n for state, n in self.conn.execute("SELECT state, count(*) FROM batches GROUP BY state")}

    def move(self, batch_id: str, from_states: Iterable[str], to_state: str, **columns: Any) -> bool:
        """Move a batch from one of ``from_states`` to ``to_state``; False if another step got there first."""
        froms = list(from_states)
        sets = "".join(f", {name} = ?" for name in columns)
        marks = ",".join("?" * len(froms))
        with self.transaction() as conn:
            cursor = conn.execute(
                f"UPDATE batches SET state = ?, updated_at = ?{sets} WHERE id = ? AND state IN ({marks})",
                (to_state, now_iso(), *columns.values(), batch_id, *froms),
            )
        return cursor.rowcount == 1


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

    def __init__(self, store: Store, sha256: str, name: str, stem: str, kind: str, fmt: str) -> None:
        self.store = store
        self.batch_id = uuid.uuid4().hex
        self.count = 0
        self._file = (sha256, name, stem, kind, fmt)
        self._texts: list[str] = []
        self._chunks = 0
        # Form numbers seen so far, as integers (9 base-36 digits): a million of them take tens of MB, not hundreds.
        self._seen: set[int] = set()
        self._repeated: set[str] = set()
        self._committed = False

    def __enter__(self) -> Ingest:
        self.conn = self.store.conn
        self.conn.execute("BEGIN IMMEDIATE")
        return self

    def add(self, seq: int, text: str, forms: list[str]) -> None:
        """Queue a valid record (its canonical JSON); ``forms`` are the form numbers it names."""
        for form in forms:
            number = int(form, 36)
            if number in self._seen:
                self._repeated.add(form)
            self._seen.add(number)
        self._texts.append(text)
        self.count += 1
        if len(self._texts) >= self.CHUNK:
            self._flush()

    def _flush(self) -> None:
        if self._texts:
            self.conn.execute(
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
        return sorted(rows.items(), key=lambda item: item[1])

    def commit(self) -> str:
        self._flush()
        sha256, name, stem, kind, fmt = self._file
        stamp = now_iso()
        self.conn.execute(
            "INSERT INTO files (sha256, name, received_at, batch_id, outcome) VALUES (?, ?, ?, ?, 'batch')",
            (sha256, name, stamp, self.batch_id),
        )
        self.conn.execute(
            "INSERT INTO batches (id, kind, source_name, stem, format, state, created_at, updated_at, record_count)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (self.batch_id, kind, name, stem, fmt, RECEIVED, stamp, stamp, self.count),
        )
        self.conn.execute("COMMIT")
        self._committed = True
        return self.batch_id

    def __exit__(self, *exc_info: object) -> None:
        if not self._committed:
            self.conn.execute("ROLLBACK")
