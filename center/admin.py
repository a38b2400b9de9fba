"""Bearer tokens of the admin API: made by ``eport-center admin token``, shown once, stored only as a SHA-256."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from center.db import admin_tokens
from center.ledger.identifiers import require_text


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(conn: Connection, name: str, now: dt.datetime) -> str:
    name = require_text(name, "令牌名称", "token name")
    token = secrets.token_urlsafe(32)
    conn.execute(sa.insert(admin_tokens).values(token_sha256=_digest(token), name=name, created_at=now))
    return token


def token_name(conn: Connection, token: str) -> str | None:
    """The name of a valid token, or None. Looked up by digest, so no stored secret is ever compared."""
    name: str | None = conn.scalar(sa.select(admin_tokens.c.name).where(admin_tokens.c.token_sha256 == _digest(token)))
    return name
