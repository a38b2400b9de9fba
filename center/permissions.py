"""Operator-card permissions (rule 11 in docs/OPERATOR.md; the manual's part two, FAQ 3).

An operator card's FX permission (its "出口收汇" rights at SAFE) runs out; the enterprise's legal-person card (法人卡)
then requests an extension (备案变更 → IC卡权限 → 外汇 → 暂存 → 申报), and SAFE's officers approve it online at three
levels, in order. The third approval gives the card another year and the business subsystem opens again.

Every function runs inside its caller's transaction.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from center.access import add_months
from center.ca import Operator
from center.db import as_utc, business_date, operators, permission_approvals, permission_requests
from center.ledger.identifiers import invalid_argument, is_int
from center.refusals import Refusal
from sync.access import LEGAL_PERSON_ROLE
from sync.protocol import PROTOCOL_VERSION

LEVELS = 3
EXTENSION_MONTHS = 12
REQUEST_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class PermissionPayload:
    """What the legal-person card signs: which card's permission to extend, for which enterprise."""

    request_id: str
    enterprise: str
    card: str

    @classmethod
    def parse(cls, payload: dict[str, Any]) -> PermissionPayload:
        def bad(detail: str) -> Refusal:
            return Refusal("BAD_REQUEST", detail=detail)

        if payload.get("v") != PROTOCOL_VERSION:
            raise bad(f"unsupported protocol version {payload.get('v')!r} (expected {PROTOCOL_VERSION})")
        request_id, enterprise, card = payload.get("request_id"), payload.get("enterprise"), payload.get("card")
        if not isinstance(request_id, str) or not REQUEST_ID.match(request_id):
            raise bad("'request_id' must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-'")
        if not isinstance(enterprise, str):
            raise bad("'enterprise' must be a string")
        if not isinstance(card, str) or not 0 < len(card.strip()) <= 64:
            raise bad("'card' must name the IC card (its serial), at most 64 characters")
        return cls(request_id, enterprise, card.strip())


def _card_matches(card: str) -> sa.ColumnElement[bool]:
    # The clerk knows the card by its serial (IC卡卡号); a card enrolled without one is known by its certificate.
    return sa.or_(operators.c.card_serial == card, operators.c.cert_serial == card.lower())


def _levels(conn: Connection, request_no: int) -> int:
    """How many of the three approvals a request has passed."""
    count = conn.scalar(
        sa.select(sa.func.count())
        .select_from(permission_approvals)
        .where(permission_approvals.c.request_no == request_no)
    )
    return int(count or 0)


def _facts(conn: Connection, row: Any) -> dict[str, Any]:
    approvals = conn.execute(
        sa.select(permission_approvals)
        .where(permission_approvals.c.request_no == row.request_no)
        .order_by(permission_approvals.c.level)
    ).all()
    requester = conn.scalar(sa.select(operators.c.name).where(operators.c.cert_serial == row.requested_by))
    return {
        "request_no": row.request_no,
        "enterprise": row.enterprise_code,
        "card": row.card,
        "requested_by": requester,
        "requested_at": as_utc(row.requested_at).isoformat(),
        "levels_approved": len(approvals),
        "approvals": [{"level": a.level, "approved_at": as_utc(a.approved_at).isoformat()} for a in approvals],
        "status": "approved" if row.permission_until is not None else "pending",
        "permission_until": row.permission_until.isoformat() if row.permission_until is not None else None,
    }


def request(conn: Connection, now: dt.datetime, requester: Operator, payload: PermissionPayload) -> dict[str, Any]:
    """The legal-person card asks SAFE to extend a card's permission; a resent request is answered as stored."""
    if requester.role != LEGAL_PERSON_ROLE:
        raise Refusal("PERMISSION_NEEDS_LEGAL_PERSON")
    if payload.enterprise != requester.enterprise_code:
        raise Refusal("ENTERPRISE_MISMATCH", enterprise=payload.enterprise)
    stored = conn.execute(
        sa.select(permission_requests).where(permission_requests.c.request_id == payload.request_id)
    ).first()
    if stored is not None:
        if stored.enterprise_code != requester.enterprise_code:
            raise Refusal("BAD_REQUEST", detail="this request_id is taken; send the request with a new one")
        return _facts(conn, stored)
    enrolled = conn.scalar(
        sa.select(sa.func.count())
        .select_from(operators)
        .where(
            operators.c.enterprise_code == requester.enterprise_code, _card_matches(payload.card), ~operators.c.revoked
        )
    )
    if not enrolled:  # unknown, or another enterprise's: the same answer (rule 10)
        raise Refusal("PERMISSION_CARD_NOT_FOUND", card=payload.card)
    pending = conn.execute(
        sa.select(permission_requests).where(
            permission_requests.c.enterprise_code == requester.enterprise_code,
            permission_requests.c.card == payload.card,
            permission_requests.c.permission_until.is_(None),
        )
    ).first()
    if pending is not None:
        levels = _levels(conn, pending.request_no)
        raise Refusal("PERMISSION_REQUEST_PENDING", card=payload.card, request_no=pending.request_no, levels=levels)
    conn.execute(
        sa.insert(permission_requests).values(
            request_id=payload.request_id,
            enterprise_code=requester.enterprise_code,
            card=payload.card,
            requested_by=requester.cert_serial,
            requested_at=now,
        )
    )
    row = conn.execute(
        sa.select(permission_requests).where(permission_requests.c.request_id == payload.request_id)
    ).one()
    return _facts(conn, row)


def approve(conn: Connection, now: dt.datetime, request_no: Any, level: Any) -> dict[str, Any]:
    """One of SAFE's three approvals, in order; the third extends the card's FX permission for a year."""
    if not is_int(level) or not 1 <= level <= LEVELS:
        raise invalid_argument(f"审批级别应为1至{LEVELS}", f"level must be 1 to {LEVELS}")
    row = conn.execute(
        sa.select(permission_requests).where(permission_requests.c.request_no == request_no).with_for_update()
    ).first()
    if row is None:
        raise Refusal("PERMISSION_REQUEST_NOT_FOUND", request_no=request_no)
    if row.permission_until is not None:
        raise Refusal("PERMISSION_ALREADY_APPROVED", request_no=request_no, until=row.permission_until.isoformat())
    passed = _levels(conn, row.request_no)
    if level != passed + 1:
        raise Refusal(
            "PERMISSION_LEVEL_OUT_OF_ORDER", request_no=request_no, levels=passed, next=passed + 1, level=level
        )
    conn.execute(sa.insert(permission_approvals).values(request_no=request_no, level=level, approved_at=now))
    if level == LEVELS:
        until = add_months(business_date(now), EXTENSION_MONTHS)
        conn.execute(
            sa.update(operators)
            .where(
                operators.c.enterprise_code == row.enterprise_code,
                _card_matches(row.card),
                ~operators.c.revoked,
                operators.c.fx_permission_until < until,  # an extension never shortens a permission
            )
            .values(fx_permission_until=until)
        )
        conn.execute(
            sa.update(permission_requests)
            .where(permission_requests.c.request_no == request_no)
            .values(permission_until=until)
        )
    updated = conn.execute(sa.select(permission_requests).where(permission_requests.c.request_no == request_no))
    return _facts(conn, updated.one())


def requests(conn: Connection, enterprise: str) -> list[dict[str, Any]]:
    """The enterprise's extension requests, newest first."""
    rows = conn.execute(
        sa.select(permission_requests)
        .where(permission_requests.c.enterprise_code == enterprise)
        .order_by(permission_requests.c.request_no.desc())
    )
    return [_facts(conn, row) for row in rows]
