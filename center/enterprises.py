"""The enterprises (经营单位) of the register: their code, name and organisation code (组织机构代码, GB 11714), by
which the data center knows an enterprise from a fax (the manual's part one, FAQ (七)). Each function runs inside its
caller's transaction."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from center.db import enterprises
from center.ledger.identifiers import check_enterprise_code, check_org_code
from center.refusals import Refusal


def create(conn: Connection, now: dt.datetime, code: str, name: str, org_code: str | None) -> bool:
    """Register an enterprise; True if created, False if it already exists with this name (safe to re-run; a
    missing organisation code is added then). The same code under another name is refused (ENTERPRISE_EXISTS)."""
    check_enterprise_code(code)
    name = name.strip()
    if not name:
        raise Refusal("NAME_REQUIRED", what_zh="企业名称", what_en="enterprise name")
    org = check_org_code(org_code) if org_code else None
    existing = conn.execute(sa.select(enterprises).where(enterprises.c.code == code)).first()
    if existing is not None and existing.name != name:
        raise Refusal("ENTERPRISE_EXISTS", code=code, name=existing.name)
    if org is not None:
        holder = conn.scalar(sa.select(enterprises.c.code).where(enterprises.c.org_code == org))
        if holder is not None and holder != code:
            raise Refusal("ORG_CODE_TAKEN", org_code=org, enterprise=holder)
    if existing is not None:
        if org is not None and existing.org_code != org:
            conn.execute(sa.update(enterprises).where(enterprises.c.code == code).values(org_code=org))
        return False
    conn.execute(sa.insert(enterprises).values(code=code, name=name, org_code=org, created_at=now))
    return True


def by_org_code(conn: Connection, org_code: str) -> str:
    """The enterprise code of an organisation code, as a fax gives it."""
    org = check_org_code(org_code)
    code = conn.scalar(sa.select(enterprises.c.code).where(enterprises.c.org_code == org))
    if code is None:
        raise Refusal("ORG_CODE_NOT_FOUND", org_code=org)
    return str(code)


def named(conn: Connection, enterprise: str | None, org_code: str | None) -> str:
    """The enterprise an operation names by its code or its organisation code (or both, which must agree)."""
    if not enterprise and not org_code:
        raise Refusal(
            "ARGUMENT_INVALID",
            detail_zh="请指定企业代码（--enterprise）或组织机构代码（--org-code）",
            detail_en="give the enterprise (--enterprise) or its organisation code (--org-code)",
        )
    found = by_org_code(conn, org_code) if org_code else None
    if enterprise and found and enterprise != found:
        raise Refusal(
            "ARGUMENT_INVALID",
            detail_zh=f"组织机构代码{org_code}属于企业{found}，不是{enterprise}",
            detail_en=f"organisation code {org_code} belongs to {found}, not {enterprise}",
        )
    return str(enterprise or found)


def facts(conn: Connection, code: str) -> dict[str, Any]:
    """The enterprise as agents and commands show it: code, name, organisation code."""
    row = conn.execute(sa.select(enterprises).where(enterprises.c.code == code)).first()
    return {"code": code, "name": row.name if row else None, "org_code": row.org_code if row else None}
