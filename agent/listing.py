"""The files and forms as front ends list them (the status page): read-only queries over the store, plain dicts.

A page of files is one query over ``files`` (newest first, on its ``received_at`` index) joined to its batches, and
one over ``batch_events`` for the timelines of that page's batches; never a pass over all files or records. Times
stay UTC ISO text here (the store's); front ends show them in local time.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.store import FILE_BATCH, FILE_COUNTS, Store
from sync.states import BatchState
from sync.vocabulary import FORM_NO

PAGE_SIZE = 50

# What a file came to, as the page filters it: the SQL that picks it (over the rows of _FILES). A file in parts
# some of which were refused whole came partly through.
OUTCOMES = {
    "pending": "outcome = 'batch' AND state NOT IN ('delivered', 'rejected')",
    "ok": "state = 'delivered' AND coalesce(error_count, 0) = 0",
    "partly": "(state = 'delivered' AND error_count > 0) OR (state = 'rejected' AND unrefused_parts > 0)",
    "refused": "state = 'rejected' AND coalesce(unrefused_parts, 0) = 0",
    "errors": "outcome = 'rejected'",
}
# The steps of a file's timeline, in order, and the batch state that marks each (received and checked are one
# transaction: intake reads, checks and stores a file at once).
STEPS = ("received", "checked", "signed", "sent", "answered", "written")
STEP_STATE = {
    "signed": BatchState.SIGNED,
    "sent": BatchState.SENT,
    "answered": BatchState.ACKNOWLEDGED,
}
FINAL = (BatchState.DELIVERED, BatchState.REJECTED)
_ORDER = list(BatchState)

# One row per file taken in, with its batch as the store judges it (agent.store.FILE_BATCH: a file in parts is as far
# as its least advanced part, its counts summed); the filters and the order apply to these rows.
_FILES = f"""
SELECT * FROM (
    SELECT f.sha256, f.copy, f.name, f.received_at, f.outcome, f.report_file, f.archived_as, f.folder,
           f.batch_id AS file_batch, f.rowid AS file_rowid,
           b.id AS batch_id, b.kind, b.state, b.updated_at, b.result_file, b.receipt_file, b.problem, b.parts,
           {FILE_COUNTS}
    FROM files f {FILE_BATCH}
) AS x"""


@dataclass(frozen=True)
class FileFilter:
    """``day``: a local date (YYYY-MM-DD); ``kind``: a batch kind; ``outcome``: a key of OUTCOMES; ``q``: part of a
    file name, or a form number the file names (one of its rows, or inside one of its ranges)."""

    day: str = ""
    kind: str = ""
    outcome: str = ""
    q: str = ""
    page: int = 1


def file_key(row: dict[str, Any]) -> str:
    """How front ends name one file taken in: its content's digest and which copy (a file sent again is a copy)."""
    return f"{row['sha256']}-{row['copy']}"


def _day_bounds(day: str) -> tuple[str, str]:
    """The UTC ISO range of a local calendar day, in the store's text form (it sorts as text)."""
    start = dt.datetime.combine(dt.date.fromisoformat(day), dt.time()).astimezone()
    end = start + dt.timedelta(days=1)
    return tuple(m.astimezone(dt.UTC).isoformat(timespec="milliseconds") for m in (start, end))  # type: ignore[return-value]


def _where(store: Store, wanted: FileFilter) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    values: list[Any] = []
    if wanted.day:
        clauses.append("received_at >= ? AND received_at < ?")
        values.extend(_day_bounds(wanted.day))
    if wanted.kind:
        clauses.append("coalesce(kind, folder) = ?")
        values.append(wanted.kind)
    if wanted.outcome in OUTCOMES:
        clauses.append(f"({OUTCOMES[wanted.outcome]})")
    q = wanted.q.strip()
    if q:
        found = batches_naming(store, q.upper()) if FORM_NO.fullmatch(q.upper()) else []
        marks = ",".join("?" * len(found))
        clauses.append(
            f"(instr(lower(name), lower(?)) > 0 OR file_batch IN ({marks})"
            f" OR file_batch IN (SELECT first_part FROM batches WHERE id IN ({marks})))"
        )
        values.extend([q, *found, *found])
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", values


def files(store: Store, wanted: FileFilter) -> dict[str, Any]:
    """One page of files, newest first, with their timelines: ``{"files", "total", "page", "pages"}``."""
    where, values = _where(store, wanted)
    (total,) = store.conn.execute(f"SELECT count(*) FROM ({_FILES}){where}", values).fetchone()
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, wanted.page), pages)
    cursor = store.conn.execute(
        f"{_FILES}{where} ORDER BY received_at DESC, file_rowid DESC LIMIT ? OFFSET ?",
        [*values, PAGE_SIZE, (page - 1) * PAGE_SIZE],
    )
    names = [column[0] for column in cursor.description]
    rows = [dict(zip(names, row, strict=True)) for row in cursor]
    events = _events(store, [row["batch_id"] for row in rows if row["batch_id"]])
    return {
        "files": [_file(row, events.get(row["batch_id"], {})) for row in rows],
        "total": total,
        "page": page,
        "pages": pages,
    }


def one_file(store: Store, key: str) -> dict[str, Any] | None:
    """The file a front end names by :func:`file_key`, with its timeline; None for a key the store does not hold."""
    sha, _, copy = key.rpartition("-")
    if not sha or not copy.isdigit():
        return None
    cursor = store.conn.execute(f"{_FILES} WHERE sha256 = ? AND copy = ?", (sha, int(copy)))
    names = [column[0] for column in cursor.description]
    row = cursor.fetchone()
    if row is None:
        return None
    found = dict(zip(names, row, strict=True))
    return _file(found, _events(store, [found["batch_id"]]).get(found["batch_id"], {}) if found["batch_id"] else {})


def _events(store: Store, batch_ids: list[str]) -> dict[str, dict[str, str]]:
    if not batch_ids:
        return {}
    marks = ",".join("?" * len(batch_ids))
    found: dict[str, dict[str, str]] = {}
    rows = store.conn.execute(
        f"SELECT batch_id, state, at FROM batch_events WHERE batch_id IN ({marks}) ORDER BY rowid", batch_ids
    )
    for batch_id, state, at in rows:
        found.setdefault(batch_id, {})[state] = at
    return found


def _file(row: dict[str, Any], events: dict[str, str]) -> dict[str, Any]:
    """A file as front ends show it: what it is, how far it got (each step with its time, if known) and its files."""
    refused_file = row["outcome"] == "rejected"
    state = row["state"]
    outcome = (
        "errors"
        if refused_file
        else ("partly" if row["unrefused_parts"] else "refused")
        if state == BatchState.REJECTED
        else ("partly" if row["error_count"] else "ok")
        if state == BatchState.DELIVERED
        else "pending"
    )
    return {
        "key": file_key(row),
        "batch_id": row["batch_id"],
        "name": row["name"],
        "copy": row["copy"],
        "kind": row["kind"] or row["folder"],
        "rows": row["record_count"],
        "parts": row["parts"] or 1,  # the batches it was signed as (a file over one batch's limits: several)
        "received_at": row["received_at"],
        "state": "errors" if refused_file else state,
        "outcome": outcome,
        "ok": row["ok_count"],
        "refused": row["error_count"],
        "problem": row["problem"],
        "steps": _steps(row, events),
        "waiting_since": events.get(BatchState.AWAITING_SIGNATURE) if state == BatchState.AWAITING_SIGNATURE else None,
        "links": {
            name: path
            for name, path in (
                ("result", row["result_file"] if state in FINAL else None),
                ("errors", row["report_file"]),
                ("receipt", row["receipt_file"] if state == BatchState.DELIVERED else None),
                ("source", row["archived_as"]),
            )
            if path
        },
        "resendable": outcome in ("errors", "refused") and bool(row["archived_as"]),
    }


def _steps(row: dict[str, Any], events: dict[str, str]) -> list[dict[str, Any]]:
    """Each step: ``{"step", "done", "at"}``; ``at`` None for a step done before the store kept times (only the
    creation and the last change were kept then)."""
    received = {"step": "received", "done": True, "at": row["received_at"]}
    checked = {"step": "checked", "done": True, "at": row["received_at"]}
    if row["outcome"] == "rejected":  # refused on reading: its errors file is its result
        return [received, checked, {"step": "errors", "done": True, "at": row["received_at"]}]
    reached = _ORDER.index(BatchState(row["state"]))
    steps = [received, checked]
    for step, state in STEP_STATE.items():
        done = reached >= _ORDER.index(state)
        steps.append({"step": step, "done": done, "at": events.get(state) if done else None})
    final = next((events[state] for state in FINAL if state in events), None)
    done = row["state"] in FINAL
    steps.append({"step": "written", "done": done, "at": final or (row["updated_at"] if done else None)})
    return steps


def batches_naming(store: Store, form_no: str) -> list[str]:
    """The batches whose records name ``form_no``: as a form of a row, or inside a range (start + count)."""
    found = {
        batch_id
        for (batch_id,) in store.conn.execute(
            "SELECT DISTINCT batch_id FROM record_chunks WHERE instr(body, ?) > 0", (json.dumps(form_no),)
        )
    }
    prefix = form_no.rstrip("0123456789")
    digits = form_no[len(prefix) :]
    if digits:
        lowest = f"{prefix}{max(0, int(digits) - 999):0{len(digits)}d}"  # a range names at most 1000 forms
        ranges = store.conn.execute(
            "SELECT c.batch_id, json_extract(r.value, '$.start_form_no'), json_extract(r.value, '$.count')"
            " FROM record_chunks c, json_each('[' || c.body || ']') r"
            " WHERE instr(c.body, '\"start_form_no\"') > 0"
            " AND json_extract(r.value, '$.start_form_no') BETWEEN ? AND ?",
            (lowest, form_no),
        )
        for batch_id, start, count in ranges:
            start_prefix = str(start).rstrip("0123456789")
            if start_prefix == prefix and int(start[len(prefix) :]) + int(count) > int(digits):
                found.add(batch_id)
    return sorted(found)


def inside(path: str, *roots: Path) -> Path | None:
    """``path`` (from the store) if it lies inside one of ``roots`` and is a file; else None."""
    found = Path(path).resolve()
    if any(found.is_relative_to(root.resolve()) for root in roots) and found.is_file():
        return found
    return None


def linked(store: Store, key: str, what: str, *roots: Path) -> Path | None:
    """The file behind one of a file's links (result, errors, receipt, source), looked up in the store by the
    file's key, never taken from a request; only inside ``roots`` (outbox/, archive/)."""
    found = one_file(store, key)
    path = found["links"].get(what) if found is not None else None
    return inside(path, *roots) if path else None
