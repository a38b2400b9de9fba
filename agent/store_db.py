"""How the agent opens its SQLite file, and the one way it writes to it: a transaction that takes the write lock up
front and is rolled back whenever it does not commit (docs/ARCHITECTURE.md: every state change is one transaction)."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from types import TracebackType

from sqlite_utils import Database


def now_iso() -> str:
    """The store's timestamps: UTC, ISO 8601, milliseconds (they sort as text)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def connect(path: Path) -> Database:
    # isolation_level=None: sqlite3 opens no transaction of its own, so every write is in a Transaction below (or,
    # outside one, a statement of its own), and sqlite-utils' writes join the open transaction as savepoints.
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL is durable across process crashes
    conn.execute("PRAGMA foreign_keys=ON")
    # No plugins: looking them up scans every installed package's metadata, and the store needs none.
    return Database(conn, execute_plugins=False, recursive_triggers=False)


class Transaction:
    """``with Transaction(conn):`` runs the block between BEGIN IMMEDIATE and COMMIT, and rolls back when the block
    raises or when COMMIT itself fails. ``begin``/``commit``/``rollback`` are there for a transaction that spans
    calls (``Ingest``).

    IMMEDIATE: the writer takes the lock up front, so two processes never interleave a step (a deferred BEGIN that
    writes later can fail with SQLITE_BUSY instead of waiting its turn). A failed COMMIT (a deferred foreign key,
    a busy or full disk) leaves the transaction open: without the ROLLBACK the connection's next BEGIN would fail
    and its lock would hold off every other process.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.begin()
        return self.conn

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.rollback()

    def begin(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        try:
            self.conn.execute("COMMIT")
        except BaseException:
            self.rollback()
            raise

    def rollback(self) -> None:
        if self.conn.in_transaction:  # some errors (SQLITE_FULL, SQLITE_IOERR) have rolled back already
            self.conn.execute("ROLLBACK")
