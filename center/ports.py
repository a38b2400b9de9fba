"""The port reference table (关区代码表): 4-digit customs codes and their Chinese names.

``data/ports.csv`` holds the directly administered customs districts (the first two digits name the district,
``00`` the district itself) and a few well-known subordinate customs houses; it is loaded on first open, and a
fuller table can be imported (``eport-center ports import``). A batch names a port by its code or its exact name;
the manual's "type part of the name and pick from the list" is :func:`search_ports`, served to agents.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from importlib import resources

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from center.db import ports
from center.refusals import Refusal
from sync.ports import CANDIDATES, candidates_text, search

PORT_CODE = re.compile(r"^[0-9]{4}$")
SEARCH_LIMIT = 20
HEADERS = {"code": "code", "关区代码": "code", "name": "name", "关区名称": "name", "口岸": "name"}


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


def resolve_ports(conn: Connection, texts: Iterable[str]) -> dict[str, str | None]:
    """:func:`resolve_port` of many texts in one query (a batch names the same few ports over and over)."""
    wanted = {text: text.strip() for text in texts}
    codes = {t for t in wanted.values() if PORT_CODE.match(t)}
    names = {t for t in wanted.values() if t and not PORT_CODE.match(t)}
    found: dict[str, str] = {}
    if codes or names:
        rows = conn.execute(sa.select(ports).where(ports.c.code.in_(codes) | ports.c.name.in_(names)))
        for row in rows:
            found[row.code] = found[row.name] = row.code
    return {text: found.get(stripped) for text, stripped in wanted.items()}


def port_not_found(conn: Connection, text: str) -> Refusal:
    """``PORT_NOT_FOUND`` for ``text``, offering the ports the manual's pick-list would (sync.ports)."""
    table = [(p["code"], p["name"]) for p in list_ports(conn)]
    zh, en = candidates_text(search(table, text, CANDIDATES))
    return Refusal("PORT_NOT_FOUND", port=text, candidates_zh=zh, candidates_en=en)


def search_ports(conn: Connection, text: str, limit: int = SEARCH_LIMIT) -> list[dict[str, str]]:
    """Ports whose code starts with, or whose name contains, ``text``: best matches first, as a pick-list.

    Order: the exact code or name, then code prefixes, then names starting with the text, then names containing
    it; by code within each group.
    """
    text = text.strip()
    if not text:
        return []
    rank = sa.case(
        ((ports.c.code == text) | (ports.c.name == text), 0),
        (sa.func.substr(ports.c.code, 1, len(text)) == text, 1),
        (sa.func.substr(ports.c.name, 1, len(text)) == text, 2),
        else_=3,
    )
    # instr/strpos instead of LIKE: no wildcard escaping, and the same answer on SQLite and PostgreSQL.
    contains = sa.func.strpos if conn.dialect.name == "postgresql" else sa.func.instr
    statement = (
        sa.select(ports.c.code, ports.c.name)
        .where((sa.func.substr(ports.c.code, 1, len(text)) == text) | (contains(ports.c.name, text) > 0))
        .order_by(rank, ports.c.code)
        .limit(limit)
    )
    return [{"code": r.code, "name": r.name} for r in conn.execute(statement)]


def parse_port_table(text: str) -> list[dict[str, str]]:
    """A port table in CSV (header ``code,name`` or ``关区代码,关区名称``), checked line by line."""
    reader = csv.reader(io.StringIO(text))
    header = [HEADERS.get(h.strip().lower(), "") for h in next(reader, [])]
    if "code" not in header or "name" not in header:
        raise Refusal(
            "PORT_IMPORT_INVALID", line=1, detail_zh="表头应为 code,name", detail_en="the header is code,name"
        )
    rows: list[dict[str, str]] = []
    for line, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        row = {key: cells[i].strip() if i < len(cells) else "" for i, key in enumerate(header) if key}
        _check_port_row(row, line, rows)
        rows.append({"code": row["code"], "name": row["name"]})
    return rows


def _check_port_row(row: dict[str, str], line: int, earlier: Iterable[dict[str, str]]) -> None:
    if not PORT_CODE.match(row["code"]):
        raise Refusal(
            "PORT_IMPORT_INVALID",
            line=line,
            detail_zh=f"关区代码“{row['code']}”应为4位数字",
            detail_en=f"code '{row['code']}' is not 4 digits",
        )
    if not row["name"]:
        raise Refusal("PORT_IMPORT_INVALID", line=line, detail_zh="缺少关区名称", detail_en="the name is missing")
    for other in earlier:
        if row["code"] == other["code"] or row["name"] == other["name"]:
            raise Refusal(
                "PORT_IMPORT_INVALID",
                line=line,
                detail_zh=f"关区代码或名称与前面的行重复（{row['code']} {row['name']}）",
                detail_en=f"code or name repeats an earlier line ({row['code']} {row['name']})",
            )


def import_ports(conn: Connection, rows: list[dict[str, str]]) -> dict[str, int]:
    """Add the new codes and rename the known ones, in one transaction; names stay unique across the table."""
    known = {r.code: r.name for r in conn.execute(sa.select(ports))}
    renamed = [r for r in rows if r["code"] in known and known[r["code"]] != r["name"]]
    added = [r for r in rows if r["code"] not in known]
    taken = {name: code for code, name in known.items()}
    for index, row in enumerate(rows, start=2):
        holder = taken.get(row["name"])
        if holder is not None and holder != row["code"] and not any(r["code"] == holder for r in rows):
            raise Refusal(
                "PORT_IMPORT_INVALID",
                line=index,
                detail_zh=f"名称“{row['name']}”已属于关区代码{holder}",
                detail_en=f"the name '{row['name']}' already belongs to code {holder}",
            )
    if renamed:
        # Park the renamed rows on unique temporary names first, so that two ports may swap names.
        for row in renamed:
            conn.execute(sa.update(ports).where(ports.c.code == row["code"]).values(name=f"~renaming {row['code']}~"))
        for row in renamed:
            conn.execute(sa.update(ports).where(ports.c.code == row["code"]).values(name=row["name"]))
    if added:
        conn.execute(sa.insert(ports), added)
    return {"added": len(added), "renamed": len(renamed), "unchanged": len(rows) - len(added) - len(renamed)}
