"""The agent's only state: one SQLite file (WAL) shared by its threads and processes (docs/ARCHITECTURE.md).

Through sqlite-utils: the schema and its migrations (``agent.store_schema``), quoted identifiers, and inserts and
upserts of plain dicts. Hand-written SQL stays where it says something sqlite-utils cannot: a write guarded by the
state it starts from, the forms mirror that ignores older feed entries, and the record chunks streamed in and out by
the 1M-row intake path (``agent.store_ingest``).

Every state change of a batch is one transaction (``agent.store_db.Transaction``), and each step checks the state it
starts from, so re-running any step after a crash is harmless. Batch states are ``sync.states.BatchState``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from sqlite_utils import Database
from sqlite_utils.db import quote_identifier

from agent.store_db import Transaction, connect, now_iso
from agent.store_ingest import Ingest
from agent.store_schema import COUNT_OUTCOMES, migrate
from sync.states import BatchState
from sync.vocabulary import FORM_COLUMNS

_FORM_COLUMNS_SQL = ", ".join(map(quote_identifier, FORM_COLUMNS))
# A feed entry replaces the mirror's row only if it is newer: the feed is at-least-once.
_UPSERT_FORM = (
    f"INSERT INTO forms ({_FORM_COLUMNS_SQL}) VALUES ({', '.join('?' * len(FORM_COLUMNS))})"
    " ON CONFLICT(form_no) DO UPDATE SET "
    + ", ".join(f"{quote_identifier(c)} = excluded.{quote_identifier(c)}" for c in FORM_COLUMNS[1:])
    + " WHERE excluded.seq > forms.seq"
)


# Each feed entry once in the forms' history (the feed is at-least-once).
_EVENT_COLUMNS = (
    "seq",
    "form_no",
    "event",
    "safe_status_zh",
    "customs_status_zh",
    "submission_status_zh",
    "port",
    "at",
)
_FORM_EVENT = (
    f"INSERT OR IGNORE INTO form_events ({', '.join(_EVENT_COLUMNS)}) VALUES ({', '.join('?' * len(_EVENT_COLUMNS))})"
)


# A file's batch as front ends and repeats judge it. A file in parts is as far as its least advanced part (refused
# counts before delivered: a part refused stays in sight), the last of equals; its counts are summed over its parts,
# and ``unrefused_parts`` says how many of them the center did not refuse whole (NULL for a file of one batch).
_ADVANCE = (
    BatchState.RECEIVED,
    BatchState.AWAITING_SIGNATURE,
    BatchState.SIGNED,
    BatchState.SENT,
    BatchState.ACKNOWLEDGED,
    BatchState.REJECTED,
    BatchState.DELIVERED,
)
_RANK = " ".join(f"WHEN '{state.value}' THEN {rank}" for rank, state in enumerate(_ADVANCE))
FILE_BATCH = f"""LEFT JOIN batches b ON b.id = coalesce(
    (SELECT p.id FROM batches p WHERE p.first_part = f.batch_id ORDER BY CASE p.state {_RANK} END, p.part DESC LIMIT 1),
    f.batch_id)"""
FILE_COUNTS = """coalesce((SELECT sum(p.record_count) FROM batches p WHERE p.first_part = f.batch_id), b.record_count)
        AS record_count,
    coalesce((SELECT sum(p.ok_count) FROM batches p WHERE p.first_part = f.batch_id), b.ok_count) AS ok_count,
    coalesce((SELECT sum(p.error_count) FROM batches p WHERE p.first_part = f.batch_id), b.error_count) AS error_count,
    (SELECT count(*) FROM batches p WHERE p.first_part = f.batch_id AND p.state != 'rejected') AS unrefused_parts"""


class Store:
    """Plain-dict access to the agent database; one SQLite connection per thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        path.parent.mkdir(parents=True, exist_ok=True)
        migrate(self.db)

    @property
    def db(self) -> Database:
        """This thread's connection (sqlite3 objects must not cross threads)."""
        db: Database | None = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = connect(self.path)
        return db

    @property
    def conn(self) -> sqlite3.Connection:
        return self.db.conn

    def transaction(self) -> Transaction:
        return Transaction(self.conn)

    # -- files -------------------------------------------------------------------------------------------------

    def file(self, sha256: str) -> dict[str, Any] | None:
        """The file of this content, as last taken in (a content sent again has a later ``copy``)."""
        rows = self.db.table("files").rows_where("sha256 = ?", [sha256], order_by="copy DESC", limit=1)
        return next(rows, None)

    def add_rejected_file(self, sha256: str, name: str, report_file: str, folder: str | None = None) -> None:
        """A file refused with an errors file; ``folder``: the inbox/<kind>/ folder it was dropped in, if any."""
        with self.transaction():
            self.db.table("files").insert(
                {
                    "sha256": sha256,
                    "copy": self.take_copy(sha256, name),
                    "name": name,
                    "received_at": now_iso(),
                    "outcome": "rejected",
                    "report_file": report_file,
                    "folder": folder,
                }
            )

    def claimed_outputs(self) -> set[str]:
        """Every output path already promised to a batch or file, written or not."""
        rows = self.conn.execute(
            "SELECT result_file FROM batches UNION SELECT receipt_file FROM batches UNION SELECT report_file FROM files"
        )
        return {path for (path,) in rows if path}

    def report_moved(self, old: str, new: str) -> None:
        """An errors file went to archive/: its name in the outbox is free again."""
        with self.transaction():
            self.conn.execute("UPDATE files SET report_file = ? WHERE report_file = ?", (new, old))

    def mark_archived(self, sha256: str, archived_as: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                "UPDATE files SET archived_as = ? WHERE sha256 = ?"
                " AND copy = (SELECT max(copy) FROM files WHERE sha256 = ?)",
                (archived_as, sha256, sha256),
            )

    # -- sending a file again (the status page's "send again") -----------------------------------------------------

    def request_resend(self, name: str, sha256: str) -> int:
        """Note that a copy of this content is put back into the inbox as ``name``, so intake takes it as a new file
        (not a duplicate); returns the copy number it will have."""
        with self.transaction() as conn:
            (copy,) = conn.execute(
                "SELECT max(coalesce((SELECT max(copy) FROM files WHERE sha256 = ?), -1),"
                " coalesce((SELECT max(copy) FROM resends WHERE sha256 = ?), -1)) + 1",
                (sha256, sha256),
            ).fetchone()
            self.db.table("resends").insert(
                {"name": name, "sha256": sha256, "copy": copy, "requested_at": now_iso()}, replace=True
            )
        return int(copy)

    def resend_pending(self, name: str, sha256: str) -> bool:
        """Whether the file ``name`` of this content is a copy the agent put back to be sent again, not taken yet."""
        rows = self.db.table("resends").rows_where("name = ? AND sha256 = ? AND taken_at IS NULL", [name, sha256])
        return next(rows, None) is not None

    def take_copy(self, sha256: str, name: str) -> int:
        """The copy number of a file being recorded (call inside the transaction that records it): a resend's own
        number, which is then marked taken; else the next one of its content (0 the first time; a content dropped
        again is a copy of its own, agent.repeats)."""
        row = self.conn.execute(
            "SELECT copy FROM resends WHERE name = ? AND sha256 = ? AND taken_at IS NULL", (name, sha256)
        ).fetchone()
        if row is None:
            (copy,) = self.conn.execute(
                "SELECT max(coalesce((SELECT max(copy) FROM files WHERE sha256 = ?), -1),"
                " coalesce((SELECT max(copy) FROM resends WHERE sha256 = ?), -1)) + 1",
                (sha256, sha256),
            ).fetchone()
            return int(copy)
        self.conn.execute("UPDATE resends SET taken_at = ? WHERE name = ?", (now_iso(), name))
        return int(row[0])

    def copies(self, sha256: str) -> list[dict[str, Any]]:
        """Every copy of this content taken in, newest first, with what became of it (its batch's kind, state,
        outcome counts and result — of a file in parts, as :data:`FILE_BATCH` says; a refused file's errors file)."""
        cursor = self.conn.execute(
            "SELECT f.copy, f.name, f.received_at, f.outcome, f.report_file, f.archived_as, f.folder, f.batch_id,"
            f" b.kind, b.state, {FILE_COUNTS}, b.result_file, b.updated_at"
            f" FROM files f {FILE_BATCH} WHERE f.sha256 = ? ORDER BY f.copy DESC",
            (sha256,),
        )
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor]

    # -- facts shared between processes -----------------------------------------------------------------------------

    def set_meta(self, **values: str | None) -> None:
        with self.transaction():
            self.db.table("meta").upsert_all(({"key": k, "value": v} for k, v in values.items()), pk="key")

    def meta(self) -> dict[str, str | None]:
        return {row["key"]: row["value"] for row in self.db.table("meta").rows}

    # -- the forms mirror and the update cursor ----------------------------------------------------------------------

    def apply_updates(self, updates: list[dict[str, Any]], cursor: int) -> None:
        """Fold feed entries into the mirror and move the cursor, in one transaction (entries older than what the
        mirror holds change nothing: the feed is at-least-once)."""
        about_forms = [u for u in updates if u.get("form_no")]  # an application's entry names no form
        with self.transaction() as conn:
            conn.executemany(_UPSERT_FORM, ([u.get(c) for c in FORM_COLUMNS] for u in about_forms))
            conn.executemany(_FORM_EVENT, ([u.get(c) for c in _EVENT_COLUMNS] for u in about_forms))
            meta = self.db.table("meta")
            meta.upsert({"key": "update_cursor", "value": str(cursor)}, pk="key")
            meta.delete_where("key = ?", ["update_pending"])

    def update_cursor(self) -> int:
        return int(self.meta().get("update_cursor") or 0)

    def forms(self) -> list[dict[str, Any]]:
        return list(self.db.table("forms").rows_where(select=_FORM_COLUMNS_SQL, order_by="form_no"))

    # -- reference data ------------------------------------------------------------------------------------------

    def ports(self) -> list[dict[str, str]]:
        return list(self.db.table("ports").rows_where(select="code, name", order_by="code"))

    def replace_ports(self, ports: Iterable[dict[str, str]]) -> None:
        with self.transaction():
            table = self.db.table("ports")
            table.delete_where()
            table.insert_all({"code": p["code"], "name": p["name"]} for p in ports)

    # -- batches -----------------------------------------------------------------------------------------------

    def ingest(self, sha256: str, name: str, stem: str, kind: str, fmt: str) -> Ingest:
        """Start recording a file and its batch; see :class:`~agent.store_ingest.Ingest`."""
        return Ingest(self, sha256, name, stem, kind, fmt)

    def batch(self, batch_id: str) -> dict[str, Any]:
        return self.db.table("batches").get(batch_id)

    def batch_ids_in(self, *states: str) -> list[str]:
        """The ids of the batches in ``states``, in the order they are sent (their rows can be large: an answer)."""
        marks = ",".join("?" * len(states))
        query = f"SELECT id FROM batches WHERE state IN ({marks}) ORDER BY created_at, part"
        return [row[0] for row in self.conn.execute(query, states)]

    def batches_in(self, *states: str) -> list[dict[str, Any]]:
        marks = ",".join("?" * len(states))
        return list(self.db.table("batches").rows_where(f"state IN ({marks})", states, order_by="created_at, part"))

    def parts(self, batch_id: str) -> list[str]:
        """The batches a file became, in order, from its first batch's id (one, unless the file was split)."""
        rows = self.conn.execute("SELECT id FROM batches WHERE first_part = ? ORDER BY part", (batch_id,)).fetchall()
        return [row[0] for row in rows] or [batch_id]

    def records(self, batch_id: str) -> list[dict[str, Any]]:
        return [record for body in self.record_texts(batch_id) for record in json.loads(f"[{body}]")]

    def record_texts(self, batch_id: str) -> Iterator[str]:
        """The batch's records as stored (canonical JSON, several per text joined by commas), in order."""
        rows = self.conn.execute("SELECT body FROM record_chunks WHERE batch_id = ? ORDER BY chunk", (batch_id,))
        return (body for (body,) in rows)

    def counts(self) -> dict[str, int]:
        return {state: n for state, n in self.conn.execute("SELECT state, count(*) FROM batches GROUP BY state")}

    def move(self, batch_id: str, from_states: Iterable[str], to_state: str, **columns: Any) -> bool:
        """Move a batch from one of ``from_states`` to ``to_state``; False if another step got there first. A new
        state is noted with its time (``batch_events``); a stored answer's outcome counts are set with it."""
        froms = list(from_states)
        sets = "".join(f", {quote_identifier(name)} = ?" for name in columns)
        marks = ",".join("?" * len(froms))
        stamp = now_iso()
        with self.transaction() as conn:
            before = conn.execute("SELECT state FROM batches WHERE id = ?", (batch_id,)).fetchone()
            cursor = conn.execute(
                f"UPDATE batches SET state = ?, updated_at = ?{sets} WHERE id = ? AND state IN ({marks})",
                (to_state, stamp, *columns.values(), batch_id, *froms),
            )
            if cursor.rowcount == 1 and before[0] != to_state:
                conn.execute(
                    "INSERT INTO batch_events (batch_id, state, at) VALUES (?, ?, ?)", (batch_id, to_state, stamp)
                )
            if cursor.rowcount == 1 and "answer" in columns:
                conn.execute(f"{COUNT_OUTCOMES} AND id = ?", (batch_id,))
        return cursor.rowcount == 1
