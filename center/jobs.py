"""Periodic work done once for all the center's processes: whichever process finds a job due runs it, and the others
skip it until it is due again. The job's row in ``jobs`` is read ``FOR UPDATE`` (on SQLite the write transaction is
already exclusive), so two processes never run it at once and a second one, waiting on the lock, sees it done.
"""

from __future__ import annotations

import datetime as dt
import os
import socket

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from center.db import as_utc, jobs

ACCESS_SWEEP = "access_sweep"
JOBS = (ACCESS_SWEEP,)


def runner() -> str:
    """Who runs a job: this host and process."""
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


def seed_jobs(conn: Connection) -> None:
    """Create the job rows at open, so that claiming a job only ever locks a row that exists."""
    present = set(conn.scalars(sa.select(jobs.c.name)))
    missing = [{"name": name} for name in JOBS if name not in present]
    if missing:
        conn.execute(sa.insert(jobs), missing)


def claim(conn: Connection, name: str, now: dt.datetime, gap: dt.timedelta) -> bool:
    """Whether this transaction should run job ``name`` now: it last ran at least ``gap`` ago (or never). If so it is
    marked run now; the mark commits with the work, or is undone with it."""
    last = conn.scalar(sa.select(jobs.c.last_run_at).where(jobs.c.name == name).with_for_update())
    if last is not None and as_utc(now) - as_utc(last) < gap:
        return False
    conn.execute(sa.update(jobs).where(jobs.c.name == name).values(last_run_at=now, run_by=runner()))
    return True


def last_run(conn: Connection, name: str) -> tuple[dt.datetime | None, str | None]:
    row = conn.execute(sa.select(jobs.c.last_run_at, jobs.c.run_by).where(jobs.c.name == name)).first()
    if row is None or row.last_run_at is None:
        return None, None
    return as_utc(row.last_run_at), row.run_by
