"""The agent's store: stores made by the old SQL-text schema open and keep working, every write is all or nothing
(a failing COMMIT included), and a batch moves only from the states a step names."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from agent.store import Store
from agent.store_schema import MIGRATIONS
from sync.states import BatchState

# The schema as the store wrote it before sqlite-utils (the SQL text of migrations 001 and 002, and the migrations
# table), copied here as it was: stores in the field were made by it.
OLD_001 = """
CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL);
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
INSERT INTO migrations VALUES ('001_files_batches_records', '2024-05-01T08:00:00.000+00:00');
"""

OLD_002 = """
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
INSERT INTO migrations VALUES ('002_forms_mirror', '2024-06-01T08:00:00.000+00:00');
"""

# What a store of that time held: one batch on its way, its file, its records, a lease, shared facts, ports.
OLD_DATA = """
INSERT INTO files VALUES ('aa11', 'filings.csv', '2024-06-02T09:00:00.000+00:00', 'b1', 'batch', NULL, 'archive/x');
INSERT INTO files VALUES ('bb22', 'bad.csv', '2024-06-02T09:01:00.000+00:00', NULL, 'rejected', 'errors/bad.csv',
    'archive/y');
INSERT INTO batches (id, kind, source_name, stem, format, state, created_at, updated_at, record_count, signature)
    VALUES ('b1', 'filings', 'filings.csv', 'filings', 'csv', 'sent', '2024-06-02T09:00:00.000+00:00',
    '2024-06-02T09:00:01.000+00:00', 3, 'sig');
INSERT INTO record_chunks VALUES ('b1', 0, '{"form_no":"100000001","port":"2200","seq":1},'
    || '{"form_no":"100000002","port":"2200","seq":2}');
INSERT INTO record_chunks VALUES ('b1', 1, '{"form_no":"100000003","port":"2200","seq":3}');
INSERT INTO leases VALUES ('sync', 'old-owner', 1.0);
INSERT INTO meta VALUES ('last_sync', '2024-06-02T09:00:02.000+00:00');
INSERT INTO ports VALUES ('2200', '上海海关');
"""

FORM = {
    "form_no": "100000001",
    "seq": 7,
    "event": "filed",
    "safe_status": "issued",
    "safe_status_zh": "已发放",
    "customs_status": "filed",
    "customs_status_zh": "已备案",
    "submission_status": "none",
    "submission_status_zh": "未交单",
    "port": "2200",
    "at": "2024-06-02T10:00:00Z",
    # The form's details as the feed gives them since the forms mirror keeps them (migration 008_form_details).
    "event_zh": "已口岸备案",
    "issue_date": "2024-06-01",
    "unified_no": "202400000001",
    "declaration_no": None,
    "export_date": None,
    "submit_date": None,
    "revoked_zh": "否",
}


def old_store(path: Path, *scripts: str) -> Path:
    with sqlite3.connect(path) as conn:
        conn.executescript("".join(scripts))
    conn.close()
    return path


def applied(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name, applied_at FROM migrations ORDER BY name").fetchall()
    conn.close()
    return rows


def ingest(store: Store, sha: str = "cc33", forms: tuple[str, ...] = ("200000001",)) -> str:
    with store.ingest(sha, f"{sha}.csv", sha, "filings", "csv") as batch:
        for seq, form in enumerate(forms, 1):
            batch.add(seq, f'{{"form_no":"{form}","port":"2200","seq":{seq}}}', [form])
        return batch.commit()


def test_a_store_made_by_the_old_schema_opens_with_its_data_and_keeps_working(tmp_path: Path) -> None:
    path = old_store(tmp_path / "agent.db", OLD_001, OLD_002, OLD_DATA)
    before = applied(path)

    store = Store(path)

    assert applied(path)[: len(before)] == before  # no step ran again; only the later ones were added
    assert [name for name, _ in applied(path)] == [name for name, _ in MIGRATIONS]
    assert store.file("aa11") == {
        "sha256": "aa11",
        "name": "filings.csv",
        "received_at": "2024-06-02T09:00:00.000+00:00",
        "batch_id": "b1",
        "outcome": "batch",
        "report_file": None,
        "archived_as": "archive/x",
        "copy": 0,  # the first time this content came in (a resend is a later copy)
        "folder": None,
    }
    assert store.batch("b1")["signature"] == "sig"
    assert [batch["id"] for batch in store.batches_in(BatchState.SENT)] == ["b1"]
    assert [record["form_no"] for record in store.records("b1")] == ["100000001", "100000002", "100000003"]
    assert store.counts() == {"sent": 1}
    assert store.claimed_outputs() == {"errors/bad.csv"}
    assert store.meta() == {"last_sync": "2024-06-02T09:00:02.000+00:00"}
    assert store.ports() == [{"code": "2200", "name": "上海海关"}]

    # ... and every kind of write still works on the old tables.
    assert store.move("b1", [BatchState.SENT], BatchState.ACKNOWLEDGED, answer="{}")
    new = ingest(store)  # the old table's foreign key is DEFERRABLE: chunks go in before their batch either way
    assert store.batch(new)["state"] == BatchState.RECEIVED
    store.apply_updates([FORM], cursor=7)
    assert store.forms() == [FORM] and store.update_cursor() == 7
    assert "leases" not in store.db.table_names()  # who sends is an OS file lock now
    store.add_rejected_file("dd44", "worse.csv", "errors/worse.csv")
    store.mark_archived("dd44", "archive/z")
    assert store.file("dd44")["archived_as"] == "archive/z"  # type: ignore[index]


def test_a_store_from_before_the_forms_mirror_gets_it(tmp_path: Path) -> None:
    path = old_store(tmp_path / "agent.db", OLD_001, OLD_DATA)

    store = Store(path)

    assert [name for name, _ in applied(path)] == [name for name, _ in MIGRATIONS]
    assert store.forms() == [] and store.batch("b1")["state"] == "sent"
    store.apply_updates([FORM], cursor=7)
    assert store.forms() == [FORM]


def test_a_new_store_runs_each_step_once_in_order(tmp_path: Path) -> None:
    path = tmp_path / "state" / "agent.db"
    Store(path)
    first = applied(path)
    Store(path)
    assert applied(path) == first
    assert [name for name, _ in first] == [name for name, _ in MIGRATIONS]


def test_a_failing_step_leaves_nothing_behind(tmp_path: Path) -> None:
    store = Store(tmp_path / "agent.db")
    store.apply_updates([FORM], cursor=7)
    with pytest.raises(sqlite3.IntegrityError):
        store.apply_updates([{**FORM, "seq": 9}, {"form_no": "100000002", "seq": 9}], cursor=9)  # no event: refused
    assert store.forms() == [FORM] and store.update_cursor() == 7  # the good entry and the cursor rolled back too
    assert not store.conn.in_transaction

    with pytest.raises(RuntimeError), store.ingest("ee55", "e.csv", "e", "filings", "csv") as batch:
        batch.add(1, '{"form_no":"300000001","port":"2200","seq":1}', ["300000001"])
        raise RuntimeError("the reader failed")
    with store.ingest("ee55", "e.csv", "e", "filings", "csv") as batch:
        batch.add(1, '{"form_no":"300000001","port":"2200","seq":1}', ["300000001"])
        # left without commit(): an errors file was written instead
    assert store.file("ee55") is None and store.counts() == {}
    assert store.conn.execute("SELECT count(*) FROM record_chunks").fetchone() == (0,)


def test_a_failing_commit_is_rolled_back_and_the_lock_released(tmp_path: Path) -> None:
    path = tmp_path / "agent.db"
    store = Store(path)
    with pytest.raises(sqlite3.IntegrityError), store.transaction() as conn:
        conn.execute("PRAGMA defer_foreign_keys = ON")  # the orphan chunk is only found at COMMIT
        conn.execute("INSERT INTO record_chunks (batch_id, chunk, body) VALUES ('nobody', 0, '{}')")
    assert not store.conn.in_transaction

    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # would fail with "database is locked" had the transaction stayed open
    other.execute("ROLLBACK")
    other.close()
    store.set_meta(after="yes")  # and this connection can begin again
    assert store.meta() == {"after": "yes"}
    assert store.conn.execute("SELECT count(*) FROM record_chunks").fetchone() == (0,)


def test_a_batch_moves_only_from_the_states_a_step_names(tmp_path: Path) -> None:
    store = Store(tmp_path / "agent.db")
    batch_id = ingest(store, forms=("200000001", "200000002"))

    assert not store.move(batch_id, [BatchState.SIGNED], BatchState.SENT)
    assert store.batch(batch_id)["state"] == BatchState.RECEIVED
    assert store.move(batch_id, [BatchState.RECEIVED, BatchState.AWAITING_SIGNATURE], BatchState.SIGNED, signature="s")
    assert not store.move(batch_id, [BatchState.RECEIVED, BatchState.AWAITING_SIGNATURE], BatchState.SIGNED)  # twice
    batch = store.batch(batch_id)
    assert (batch["state"], batch["signature"], batch["record_count"]) == ("signed", "s", 2)
    assert store.batches_in(BatchState.RECEIVED) == [] and store.counts() == {"signed": 1}
    with pytest.raises(sqlite3.OperationalError):  # a column name is quoted, never spliced into the SQL
        store.move(batch_id, [BatchState.SIGNED], BatchState.SENT, **{"problem = 'x', state": "y"})
    assert store.batch(batch_id)["state"] == BatchState.SIGNED


def test_each_new_state_is_noted_with_its_time_and_an_answer_with_its_outcome_counts(tmp_path: Path) -> None:
    store = Store(tmp_path / "agent.db")
    batch_id = ingest(store, forms=("200000001", "200000002", "200000003"))
    assert store.move(batch_id, [BatchState.RECEIVED], BatchState.SIGNED)
    assert store.move(batch_id, [BatchState.SIGNED], BatchState.SENT)
    answer = '{"results": [{"seq": 1, "status": "OK"}, {"seq": 2, "status": "ERROR"}, {"seq": 3, "status": "OK"}]}'
    assert store.move(batch_id, [BatchState.SENT], BatchState.ACKNOWLEDGED, answer=answer)
    assert store.move(batch_id, [BatchState.ACKNOWLEDGED], BatchState.ACKNOWLEDGED, result_file="r.csv")  # no new state
    assert not store.move(batch_id, [BatchState.SENT], BatchState.DELIVERED)  # refused: not noted

    events = store.conn.execute("SELECT state, at FROM batch_events WHERE batch_id = ? ORDER BY rowid", (batch_id,))
    states, times = zip(*events, strict=True)
    assert states == ("signed", "sent", "acknowledged")
    assert list(times) == sorted(times)
    batch = store.batch(batch_id)
    assert (batch["ok_count"], batch["error_count"]) == (2, 1)


def test_a_content_put_back_to_be_sent_again_is_taken_as_a_new_copy_once(tmp_path: Path) -> None:
    store = Store(tmp_path / "agent.db")
    store.add_rejected_file("ff66", "bad.csv", "errors/bad.csv", folder="filings")
    store.mark_archived("ff66", "archive/1")

    copy = store.request_resend("bad.重发1.csv", "ff66")
    assert copy == 1 and store.resend_pending("bad.重发1.csv", "ff66")
    assert not store.resend_pending("bad.重发1.csv", "other content")  # a file of another content is no resend
    with store.ingest("ff66", "bad.重发1.csv", "bad", "filings", "csv") as batch:
        batch.add(1, '{"form_no":"200000009","port":"2200","seq":1}', ["200000009"])
        batch.commit()  # intake records it under the name it was given: a copy of its own
    assert not store.resend_pending("bad.重发1.csv", "ff66")
    latest = store.file("ff66")
    assert latest is not None and (latest["copy"], latest["name"], latest["archived_as"]) == (1, "bad.重发1.csv", None)
    store.mark_archived("ff66", "archive/2")  # the latest copy's
    # The same content dropped again under any name is a copy of its own too (what intake does with it is
    # agent.repeats' to decide).
    ingest(store, sha="ff66")
    rows = store.conn.execute("SELECT copy, archived_as FROM files WHERE sha256 = 'ff66' ORDER BY copy").fetchall()
    assert rows == [(0, "archive/1"), (1, "archive/2"), (2, None)]
    assert store.request_resend("bad.重发3.csv", "ff66") == 3


def test_the_forms_history_keeps_each_feed_entry_once(tmp_path: Path) -> None:
    store = Store(tmp_path / "agent.db")
    later = {**FORM, "seq": 9, "event": "used", "customs_status_zh": "已使用"}
    store.apply_updates([FORM, later], cursor=9)
    store.apply_updates([later], cursor=9)  # the feed is at-least-once
    history = store.conn.execute("SELECT seq, event FROM form_events WHERE form_no = '100000001' ORDER BY seq")
    assert history.fetchall() == [(7, "filed"), (9, "used")]
