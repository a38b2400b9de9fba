"""Device authorizations are single-use (sync.protocol): the nonce of every authorization the center lets through is
kept in ``device_nonces`` until the authorization is too old to be taken anyway, and an authorization whose nonce
is there already is refused (``AUTH_REPLAYED``). The table is in the database, so this holds whichever process of
the center (``serve --workers N``) receives the copy.

The authorization's window is real time (the device's clock against this machine's), not the center's business
clock. Old nonces go in one indexed delete at most once a minute per process, inside a request's own transaction.

Every function runs inside its caller's write transaction.
"""

from __future__ import annotations

import datetime as dt
import logging

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from center.db import device_nonces
from center.refusals import Refusal
from sync.protocol import DeviceAuthorization

log = logging.getLogger(__name__)

PURGE_SECONDS = 60.0  # how often a process deletes the nonces whose authorizations are past their window


def moment(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def spend(conn: Connection, device: str, authorization: DeviceAuthorization) -> None:
    """Note the authorization's nonce as used by ``device`` (its certificate's serial); refused if it was used
    before. One statement that inserts or does nothing, so that two copies racing on two processes cannot both pass:
    the second waits for the first's row and then finds it."""
    values = {
        "device": device,
        "nonce": authorization.nonce,
        "good_until": moment(authorization.good_until),
    }
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(device_nonces).values(**values).on_conflict_do_nothing()
    if conn.execute(statement.returning(device_nonces.c.nonce)).first() is None:  # nothing inserted: seen before
        log.warning("a device authorization was presented again (replayed)", extra={"device": device})
        raise Refusal("AUTH_REPLAYED")


def purge(conn: Connection, now: dt.datetime) -> int:
    """Delete the nonces whose authorizations are refused for their age by now; how many went."""
    done = conn.execute(sa.delete(device_nonces).where(device_nonces.c.good_until < now))
    return int(done.rowcount or 0)
