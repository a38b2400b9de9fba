"""The agent's only state: one SQLite file (WAL) shared by its threads and processes (DESIGN.md §5).

Every state change of a batch is one transaction, and each step checks the state it starts from, so re-running any
step after a crash is harmless.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlite_utils

# Batch states, in order (DESIGN.md §5).
RECEIVED = "received"
AWAITING_SIGNATURE = "awaiting_signature"
SIGNED = "signed"
SENT = "sent"
ACKNOWLEDGED = "acknowledged"
DELIVERED = "delivered"
REJECTED = "rejected"

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
        CREATE TABLE records (
            batch_id TEXT NOT NULL REFERENCES batches(id),
            seq INTEGER NOT NULL,
            fields TEXT NOT NULL,
            PRIMARY KEY (batch_id, seq)
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
    def db(self) -> sqlite_utils.Database:
        db: sqlite_utils.Database | None = getattr(self._local, "db", None)
        if db is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL is durable across process crashes
            conn.execute("PRAGMA foreign_keys=ON")
            db = self._local.db = sqlite_utils.Database(conn)
        return db

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE: a writer takes the lock up front, so two processes never interleave a step."""
        conn = self.db.conn
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
        return list(self.db.query(sql, list(params)))

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
        rows = self.db.conn.execute(
            "SELECT result_file FROM batches UNION SELECT receipt_file FROM batches UNION SELECT report_file FROM files"
        )
        return {path for (path,) in rows if path}

    def mark_archived(self, sha256: str, archived_as: str) -> None:
        with self.transaction() as conn:
            conn.execute("UPDATE files SET archived_as = ? WHERE sha256 = ?", (archived_as, sha256))

    # -- batches -----------------------------------------------------------------------------------------------

    def add_batch(self, sha256: str, name: str, stem: str, kind: str, records: Iterable[dict[str, Any]]) -> str:
        """Record a file and its batch in one transaction; returns the new batch id (the idempotency key)."""
        batch_id = uuid.uuid4().hex
        stamp = now_iso()
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO files (sha256, name, received_at, batch_id, outcome) VALUES (?, ?, ?, ?, 'batch')",
                (sha256, name, stamp, batch_id),
            )
            conn.execute(
                "INSERT INTO batches (id, kind, source_name, stem, state, created_at, updated_at, record_count)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 0)",
                (batch_id, kind, name, stem, RECEIVED, stamp, stamp),
            )
            cursor = conn.executemany(
                "INSERT INTO records (batch_id, seq, fields) VALUES (?, ?, ?)",
                ((batch_id, r["seq"], json.dumps(r, ensure_ascii=False)) for r in records),
            )
            conn.execute("UPDATE batches SET record_count = ? WHERE id = ?", (cursor.rowcount, batch_id))
        return batch_id

    def batch(self, batch_id: str) -> dict[str, Any]:
        return self._rows("SELECT * FROM batches WHERE id = ?", [batch_id])[0]

    def batches_in(self, *states: str) -> list[dict[str, Any]]:
        marks = ",".join("?" * len(states))
        return self._rows(f"SELECT * FROM batches WHERE state IN ({marks}) ORDER BY created_at", states)

    def records(self, batch_id: str) -> list[dict[str, Any]]:
        rows = self.db.conn.execute("SELECT fields FROM records WHERE batch_id = ? ORDER BY seq", (batch_id,))
        return [json.loads(fields) for (fields,) in rows]

    def counts(self) -> dict[str, int]:
        return {state: n for state, n in self.db.conn.execute("SELECT state, count(*) FROM batches GROUP BY state")}

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

    def note_problem(self, batch_id: str, problem: str | None) -> None:
        with self.transaction() as conn:
            conn.execute("UPDATE batches SET problem = ?, updated_at = ? WHERE id = ?", (problem, now_iso(), batch_id))
