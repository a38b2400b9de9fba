"""The operator's upkeep commands: ``eport-center backup``, ``restore`` and ``keys status|passphrase``.

A SQLite center is backed up while it runs with SQLite's online backup API: one read transaction copies every page,
so the copy is the database as it stood at one moment, and writers go on meanwhile (WAL). The copy is checked
(``PRAGMA integrity_check``, the center's keys are in it) before it takes its name. A restore makes a new database
from a backup the same way and never overwrites one. A PostgreSQL center is backed up with PostgreSQL's own tools
(docs/OPERATOR.md, "Backups and restore"). The keys in a backup stay encrypted: a restored center needs the same
passphrase, kept apart from the backups.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from center.db import database_url
from center.keyring import NEW_PASSPHRASE_FILE_ENV, new_passphrase_from
from center.registry import require_center
from center.service import Center

# Agents may hold feed cursors past the backup's last entry (changes made after it, now lost): new entries are
# numbered from beyond them, or those agents would not see them until the numbers caught up.
FEED_GAP = 1_000_000

POSTGRES_BACKUP = (
    "eport-center backup copies a SQLite center; a PostgreSQL center is backed up with PostgreSQL's own tools, "
    "while it runs: pg_dump --format=custom --file FILE 'postgresql://...' (one consistent snapshot), or "
    "pg_basebackup with WAL archiving for recovery to any moment; see docs/OPERATOR.md, 'Backups and restore'"
)
POSTGRES_RESTORE = (
    "eport-center restore makes a SQLite center; a PostgreSQL center is restored with pg_restore into a new "
    "database; see docs/OPERATOR.md, 'Backups and restore'"
)


def add_commands(commands: Any) -> None:
    backup = commands.add_parser("backup", help="copy a running SQLite center to a file (PostgreSQL: pg_dump)")
    backup.add_argument("--db", required=True, metavar="PATH_OR_URL", help="the center's database")
    backup.add_argument("--to", required=True, type=Path, metavar="FILE", help="the backup file to make (new)")
    backup.add_argument("--json", action="store_true", help="print what was copied as JSON")
    backup.set_defaults(upkeep=_backup)

    restore = commands.add_parser("restore", help="make a SQLite center's database from a backup")
    restore.add_argument("--from", dest="source", required=True, type=Path, metavar="FILE", help="the backup file")
    restore.add_argument("--db", required=True, metavar="PATH", help="the database to make (must not exist)")
    restore.add_argument(
        "--feed-gap",
        type=int,
        default=FEED_GAP,
        metavar="N",
        help=f"move the update feed's numbering N past the backup's last entry (default {FEED_GAP:,})",
    )
    restore.add_argument("--json", action="store_true", help="print what was restored as JSON")
    restore.set_defaults(upkeep=_restore)

    keys = commands.add_parser("keys", help="the CA and receipt private keys at rest")
    keys_cmds = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    status = keys_cmds.add_parser("status", help="whether the keys are encrypted and the passphrase opens them")
    status.add_argument("--db", required=True, metavar="PATH_OR_URL")
    status.add_argument("--json", action="store_true")
    status.set_defaults(upkeep=_keys_status)
    change = keys_cmds.add_parser(
        "passphrase", help=f"encrypt the keys under a new passphrase (from the file named by {NEW_PASSPHRASE_FILE_ENV})"
    )
    change.add_argument("--db", required=True, metavar="PATH_OR_URL")
    change.set_defaults(upkeep=_keys_passphrase)


def _sqlite_path(db: str, refusal: str) -> Path:
    url = sa.make_url(database_url(db))
    if url.get_backend_name() != "sqlite" or not url.database:
        raise ValueError(refusal)
    return Path(url.database)


def _open_read_only(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise ValueError(f"there is no database file {path}")
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def _check_copy(conn: sqlite3.Connection, path: Path) -> dict[str, Any]:
    """The copy is sound and is a center's database: its integrity check and what it holds."""
    problems = [row[0] for row in conn.execute("PRAGMA integrity_check")]
    if problems != ["ok"]:
        raise ValueError(f"{path} is damaged: {'; '.join(problems[:5])}")
    try:
        names = {row[0] for row in conn.execute("SELECT name FROM keys")}
    except sqlite3.DatabaseError:
        names = set()
    if "ca" not in names:
        raise ValueError(f"{path} is not a center's database (it holds no CA key)")

    def count(table: str) -> int:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    last_seq = conn.execute("SELECT max(seq) FROM form_events").fetchone()[0]
    with contextlib.suppress(sqlite3.OperationalError):  # a backup made before applications had feed entries
        last_app = conn.execute("SELECT max(seq) FROM application_events").fetchone()[0]
        last_seq = max(last_seq or 0, last_app or 0)
    return {
        "enterprises": count("enterprises"),
        "forms": count("forms"),
        "batches": count("batches"),
        "feed_entries": count("form_events"),
        "last_feed_seq": int(last_seq or 0),
    }


def _copy(source: sqlite3.Connection, target: Path, feed_gap: int = 0) -> dict[str, Any]:
    """Copy ``source`` into the new file ``target`` (via ``target.part``, renamed once it is checked); with
    ``feed_gap``, the feed's next number is that far past its last."""
    if target.exists():
        raise ValueError(f"{target} exists: give a file name that does not (a copy never overwrites)")
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    part.unlink(missing_ok=True)
    copy = sqlite3.connect(part)
    try:
        source.backup(copy)  # every page in one step: one read transaction, one moment
        facts = _check_copy(copy, part)
        if feed_gap:
            following = facts["last_feed_seq"] + feed_gap
            with copy:  # AUTOINCREMENT's counter (sqlite_sequence has one row per table, and no key)
                updated = copy.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'form_events'", (following,))
                if updated.rowcount == 0:
                    copy.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('form_events', ?)", (following,))
            facts["next_feed_seq"] = facts["last_feed_seq"] + feed_gap + 1
    except BaseException:
        copy.close()
        part.unlink(missing_ok=True)
        raise
    copy.close()
    with part.open("rb") as written:
        os.fsync(written.fileno())
    part.replace(target)
    return {**facts, "bytes": target.stat().st_size}


def backup(db: str, to: Path) -> dict[str, Any]:
    """Copy the SQLite center ``db`` (running or not) to the new file ``to``; what the copy holds."""
    source = _open_read_only(_sqlite_path(db, POSTGRES_BACKUP))
    try:
        return {"backup": str(to), **_copy(source, to)}
    finally:
        source.close()


def restore(source: Path, db: str, feed_gap: int = FEED_GAP) -> dict[str, Any]:
    """Make the SQLite center ``db`` (which must not exist) from the backup ``source``; what it holds. The feed's
    numbering goes on ``feed_gap`` past the backup's last entry."""
    target = _sqlite_path(db, POSTGRES_RESTORE)
    for leftover in (target, Path(f"{target}-wal"), Path(f"{target}-shm")):
        if leftover.exists():
            raise ValueError(
                f"{leftover} exists: stop the center and move its database (with its -wal and -shm files) aside "
                "first; restore makes a new database and never overwrites one"
            )
    backup_conn = _open_read_only(source)
    try:
        return {"restored": str(target), **_copy(backup_conn, target, max(1, feed_gap))}
    finally:
        backup_conn.close()


def _print(args: argparse.Namespace, facts: dict[str, Any], line: str) -> None:
    print(json.dumps(facts, ensure_ascii=False) if args.json else line)


def _backup(args: argparse.Namespace) -> int:
    facts = backup(args.db, args.to)
    _print(
        args,
        facts,
        f"backup of {args.db} written to {args.to} ({facts['bytes']:,} bytes): {facts['enterprises']} enterprises, "
        f"{facts['forms']} forms, {facts['batches']} batches, feed up to {facts['last_feed_seq']}",
    )
    return 0


def _restore(args: argparse.Namespace) -> int:
    facts = restore(args.source, args.db, args.feed_gap)
    _print(
        args,
        facts,
        f"{args.db} restored from {args.source}: {facts['enterprises']} enterprises, {facts['forms']} forms, "
        f"{facts['batches']} batches, feed up to {facts['last_feed_seq']} (new entries from {facts['next_feed_seq']}); "
        f"start it with eport-center serve --db {args.db} and the same key passphrase as before",
    )
    return 0


def _existing(db: str) -> Center:
    """The center in ``db``; a mistyped ``--db`` is not made into a new center with a new CA."""
    require_center(db)
    return Center.open(db)


def _keys_status(args: argparse.Namespace) -> int:
    with _existing(args.db) as center:
        encrypted = center.keys_encrypted
        center.unlock_keys()  # a missing or wrong passphrase is reported as such (exit 1)
    facts = {"encrypted": encrypted, "opened": True}
    _print(
        args,
        facts,
        "the CA and receipt keys are encrypted (PKCS#12) and the passphrase opens them"
        if encrypted
        else "the CA and receipt keys lie UNENCRYPTED in the database (see docs/OPERATOR.md, 'The keys at rest')",
    )
    return 0


def _keys_passphrase(args: argparse.Namespace) -> int:
    new = new_passphrase_from()
    if new is None:
        raise ValueError(f"give the new passphrase in a file named by {NEW_PASSPHRASE_FILE_ENV}")
    with _existing(args.db) as center:
        center.unlock_keys()
        center.change_key_passphrase(new)
    print(
        "the CA and receipt keys are now encrypted under the new passphrase: give it to the center from now on "
        "(and restart every process of it)"
    )
    return 0
