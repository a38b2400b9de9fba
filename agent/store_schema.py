"""The store's schema as named steps, each applied once and in order; the ``migrations`` table says which have run.

A change is a new step at the end (``table.transform(...)``, ``table.add_column(...)``), never an edit of an applied
one: stores in the field ran the step as it was. The first two steps were SQL text once; stores made then have the
same tables (only ``record_chunks``' foreign key differs: deferrable there, deferred by ``Ingest`` here).

Not ``sqlite_utils.Migrations``: it keeps its own ``_sqlite_migrations`` table and reads what is pending before its
plain BEGIN, so two processes opening a new store at once could both run a step. Here the list is read and the
steps run inside one BEGIN IMMEDIATE.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlite_utils import Database

from agent.store_db import Transaction, now_iso


def _files_batches_records(db: Database) -> None:
    db.table("files").create(
        {
            "sha256": str,
            "name": str,
            "received_at": str,
            "batch_id": str,
            "outcome": str,  # 'batch' or 'rejected' (errors file written)
            "report_file": str,  # the errors file of a rejected file
            "archived_as": str,  # NULL until the source left the inbox
        },
        pk="sha256",
        not_null={"name", "received_at", "outcome"},
        if_not_exists=True,
    )
    db.table("batches").create(
        {
            "id": str,
            "kind": str,
            "source_name": str,
            "stem": str,
            "format": str,  # csv or xml: results come back in the clerk's format
            "state": str,  # a sync.states.BatchState
            "created_at": str,
            "updated_at": str,
            "record_count": int,
            "payload": str,
            "signature": str,
            "answer": str,
            "result_file": str,  # chosen once, so a re-run rewrites the same files
            "receipt_file": str,
            "problem": str,
        },
        pk="id",
        not_null={"kind", "source_name", "stem", "format", "state", "created_at", "updated_at", "record_count"},
        if_not_exists=True,
    )
    db.table("batches").create_index(["state"], index_name="batches_state", if_not_exists=True)
    # A batch's records, in order, a few thousand to a row: a file of a million rows costs hundreds of inserts, not
    # a million. The body is the records' canonical JSON joined by commas: signed as it is.
    db.table("record_chunks").create(
        {"batch_id": str, "chunk": int, "body": str},
        pk=("batch_id", "chunk"),
        not_null={"batch_id", "chunk", "body"},
        foreign_keys=[("batch_id", "batches", "id")],
        if_not_exists=True,
    )
    # Which process does a step that must not run twice at once; ``until`` is seconds since the epoch, so a dead
    # owner's lease runs out.
    db.table("leases").create(
        {"name": str, "owner": str, "until": float}, pk="name", not_null={"owner", "until"}, if_not_exists=True
    )
    # Small facts other processes read: the last sync, its problem, the update cursor...
    db.table("meta").create({"key": str, "value": str}, pk="key", if_not_exists=True)
    # The center's port table, cached for checking files offline.
    db.table("ports").create({"code": str, "name": str}, pk="code", not_null={"name"}, if_not_exists=True)


def _forms_mirror(db: Database) -> None:
    # The enterprise's forms as the update feed last described them; ``seq`` is the feed entry that set the state.
    db.table("forms").create(
        {
            "form_no": str,
            "seq": int,
            "event": str,
            "safe_status": str,
            "safe_status_zh": str,
            "customs_status": str,
            "customs_status_zh": str,
            "submission_status": str,
            "submission_status_zh": str,
            "port": str,
            "at": str,
        },
        pk="form_no",
        not_null={"seq", "event", "safe_status", "customs_status", "submission_status", "at"},
        if_not_exists=True,
    )


def _no_leases(db: Database) -> None:
    # Who sends is now an OS file lock (agent.roles), which the kernel releases when its process dies.
    db.table("leases").drop(ignore=True)


# The outcome counts of an answered batch, from its stored answer (SQLite's JSON functions: no Python pass over
# results that may number a million). ``agent.store`` sets them in the transaction that stores the answer.
COUNT_OUTCOMES = """
UPDATE batches SET
    ok_count = (SELECT count(*) FROM json_each(answer, '$.results') WHERE json_extract(value, '$.status') = 'OK'),
    error_count = (SELECT count(*) FROM json_each(answer, '$.results') WHERE json_extract(value, '$.status') != 'OK')
WHERE answer IS NOT NULL AND json_valid(answer)
"""


def _batch_events(db: Database) -> None:
    # When each batch reached each state (the status page's timeline); written with the move, in its transaction.
    # Batches moved before this step have only their creation and last update times.
    db.table("batch_events").create(
        {"batch_id": str, "state": str, "at": str},
        not_null={"batch_id", "state", "at"},
        foreign_keys=[("batch_id", "batches", "id")],
        if_not_exists=True,
    )
    db.table("batch_events").create_index(["batch_id"], index_name="batch_events_batch", if_not_exists=True)
    batches = db.table("batches")
    batches.add_column("ok_count", int)
    batches.add_column("error_count", int)
    db.execute(COUNT_OUTCOMES)


def _resends(db: Database) -> None:
    # The same content taken in again because the clerk asked to send it again (the status page's "send again"):
    # ``copy`` counts the times a content was taken in (0 the first), so a resent copy is a file of its own. A
    # refused file also keeps the inbox folder it came from (its kind, when the folder told it).
    files = db.table("files")
    files.add_column("copy", int, not_null_default=0)
    files.add_column("folder", str)
    files.transform(pk=("sha256", "copy"))
    # The page lists files newest first and filters them by day: an index on the time they came in.
    files.create_index(["received_at"], index_name="files_received", if_not_exists=True)
    # A copy the agent put back into the inbox, by the name it was given there, until intake has taken it.
    db.table("resends").create(
        {"name": str, "sha256": str, "copy": int, "requested_at": str, "taken_at": str},
        pk="name",
        not_null={"sha256", "copy", "requested_at"},
        if_not_exists=True,
    )


def _form_history(db: Database) -> None:
    # Every update-feed entry of the enterprise's forms, each once (the feed is at-least-once): a form's history.
    # Entries pulled before this step are in outbox/updates/ only.
    db.table("form_events").create(
        {
            "seq": int,
            "form_no": str,
            "event": str,
            "safe_status_zh": str,
            "customs_status_zh": str,
            "submission_status_zh": str,
            "port": str,
            "at": str,
        },
        pk="seq",
        not_null={"form_no", "event", "at"},
        if_not_exists=True,
    )
    db.table("form_events").create_index(["form_no", "seq"], index_name="form_events_form", if_not_exists=True)


def _batch_attempts(db: Database) -> None:
    # How often the center failed on a batch itself (HTTP 500): after a few it is set aside, and the queue goes on.
    db.table("batches").add_column("attempts", int, not_null_default=0)


def _form_details(db: Database) -> None:
    # What a clerk browses form by form (上一单/下一单) in forms.csv: the event and 是否撤销 in Chinese, and the form's
    # details as the feed gives them. A form's row gets them with its next feed entry.
    forms = db.table("forms")
    for name in ("event_zh", "issue_date", "unified_no", "declaration_no", "export_date", "submit_date", "revoked_zh"):
        forms.add_column(name, str)
    # A batch whose content was taken in before (a file dropped again, or sent again on purpose): which earlier copy
    # it repeats and when, in both languages (JSON), for its result to say so (agent.repeats).
    db.table("batches").add_column("repeats", str)


def _batch_parts(db: Database) -> None:
    # A file too big for one batch is signed as several, its parts (agent.store_ingest): each part knows which it
    # is and the first part's id, which the file's row names. Batches of one part leave them NULL.
    batches = db.table("batches")
    batches.add_column("part", int)
    batches.add_column("parts", int)
    batches.add_column("first_part", str)
    batches.create_index(["first_part"], index_name="batches_first_part", if_not_exists=True)


MIGRATIONS: list[tuple[str, Callable[[Database], None]]] = [
    ("001_files_batches_records", _files_batches_records),
    ("002_forms_mirror", _forms_mirror),
    ("003_no_leases", _no_leases),
    ("004_batch_events", _batch_events),
    ("005_resends", _resends),
    ("006_form_history", _form_history),
    ("007_batch_attempts", _batch_attempts),
    ("008_form_details", _form_details),
    ("009_batch_parts", _batch_parts),
]


def migrate(db: Database) -> None:
    """Apply the steps this store has not run yet, with their record, in one transaction."""
    with Transaction(db.conn):
        migrations = db.table("migrations")
        migrations.create({"name": str, "applied_at": str}, pk="name", not_null={"applied_at"}, if_not_exists=True)
        done = {row["name"] for row in migrations.rows}
        for name, step in MIGRATIONS:
            if name not in done:
                step(db)
                migrations.insert({"name": name, "applied_at": now_iso()})
