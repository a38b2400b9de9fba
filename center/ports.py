"""The port reference table (关区代码表): 4-digit customs codes and their Chinese names.

``data/ports.csv`` holds the directly administered customs districts (the first two digits name the district,
``00`` the district itself) and a few well-known subordinate customs houses; it is loaded on first open.
A clerk names a port by its code or by its exact name (the manual's fuzzy pick-list is an interactive aid that a
batch file cannot use, so a batch must be exact).
"""

from __future__ import annotations

import csv
import io
import re
from importlib import resources

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from center.db import ports

PORT_CODE = re.compile(r"^[0-9]{4}$")


def bundled_ports() -> list[dict[str, str]]:
    text = resources.files("center").joinpath("data/ports.csv").read_text(encoding="utf-8-sig")
    return [{"code": row["code"].strip(), "name": row["name"].strip()} for row in csv.DictReader(io.StringIO(text))]


def load_ports(conn: Connection) -> int:
    """Insert the bundled ports that are missing; returns how many were added. Existing rows are left alone."""
    known = set(conn.scalars(sa.select(ports.c.code)))
    missing = [row for row in bundled_ports() if row["code"] not in known]
    if missing:
        conn.execute(sa.insert(ports), missing)
    return len(missing)


def list_ports(conn: Connection) -> list[dict[str, str]]:
    return [{"code": r.code, "name": r.name} for r in conn.execute(sa.select(ports).order_by(ports.c.code))]


def resolve_port(conn: Connection, text: str) -> str | None:
    """A 4-digit code or an exact name → the port code; anything else → None."""
    text = text.strip()
    if not text:
        return None
    column = ports.c.code if PORT_CODE.match(text) else ports.c.name
    code: str | None = conn.scalar(sa.select(ports.c.code).where(column == text))
    return code
