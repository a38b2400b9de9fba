"""IC card permissions (rule 11 in docs/OPERATOR.md; the manual's part two, FAQ 3).

A card's FX permission (its "出口收汇" rights at SAFE) is the card's own, apart from its certificate: it has a term
SAFE sets (``card_permissions``). A new card has none (FAQ 3 (2)); a permission runs out (FAQ 3 (1)). Either way
the enterprise's legal-person card (法人卡) requests it (数据备案 or 备案变更 → IC卡权限 → 外汇 → 暂存 → 申报), and
SAFE's officers approve the request online at three levels, in order: the third approval gives the card a year and
the business subsystem opens. SAFE can also set a card's term, or end it, directly (``eport-center safe
set-permission|end-permission``).

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
from center.db import (
    as_utc,
    business_date,
    card_permissions,
    operators,
    permission_approvals,
    permission_requests,
)
from center.ledger.identifiers import invalid_argument, is_int, parse_date
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


# The permission's term.

NOT_GRANTED, VALID, EXPIRED = "not_granted", "valid", "expired"


def _term(conn: Connection, enterprise: str, card: str) -> Any:
    return conn.execute(
        sa.select(card_permissions).where(
            card_permissions.c.enterprise_code == enterprise, card_permissions.c.card == card
        )
    ).first()


def state_of(until: dt.date | None, now: dt.datetime) -> str:
    if until is None:
        return NOT_GRANTED
    return VALID if business_date(now) <= until else EXPIRED


def check(conn: Connection, operator: Operator, now: dt.datetime) -> None:
    """Rule 11: a card without the permission, or past its term, does no 出口收汇 business (the manual's words)."""
    row = _term(conn, operator.enterprise_code, operator.card)
    until: dt.date | None = row.until if row is not None else None
    if until is None:
        raise Refusal("FX_PERMISSION_NOT_GRANTED", card=operator.card)
    if state_of(until, now) == EXPIRED:
        raise Refusal("FX_PERMISSION_EXPIRED", until=until.isoformat(), card=operator.card)


def set_term(conn: Connection, now: dt.datetime, enterprise: str, card: str, until: dt.date | None, note: str) -> None:
    """The card's permission runs through ``until`` from now on (None: it has none)."""
    values = {"until": until, "changed_at": now, "note": note}
    done = conn.execute(
        sa.update(card_permissions)
        .where(card_permissions.c.enterprise_code == enterprise, card_permissions.c.card == card)
        .values(**values)
    )
    if done.rowcount == 0:
        conn.execute(sa.insert(card_permissions).values(enterprise_code=enterprise, card=card, **values))


def enrolled(conn: Connection, now: dt.datetime, enterprise: str, card: str, fx_days: int | None) -> None:
    """A card is enrolled: it keeps the permission it has (a card enrolled again keeps its own); a new card has none,
    unless SAFE grants it at once (``fx_days``: set-ups, demos, tests)."""
    if fx_days is not None:
        set_term(
            conn, now, enterprise, card, business_date(now) + dt.timedelta(days=fx_days), "SAFE: set at enrollment"
        )
    elif _term(conn, enterprise, card) is None:
        set_term(conn, now, enterprise, card, None, "enrolled: a new card has no 出口收汇 permission (FAQ 3 (2))")


def seed(conn: Connection, now: dt.datetime) -> None:
    """Cards enrolled before the permission had a term of its own keep what their enrollment gave them."""
    rows = conn.execute(
        sa.select(
            operators.c.enterprise_code,
            operators.c.card_serial,
            operators.c.cert_serial,
            operators.c.fx_permission_until,
        )
        .where(~operators.c.revoked)
        .order_by(operators.c.created_at)
    ).all()
    if not rows:
        return
    known = {
        (r.enterprise_code, r.card)
        for r in conn.execute(sa.select(card_permissions.c.enterprise_code, card_permissions.c.card))
    }
    for row in rows:
        card = row.card_serial or row.cert_serial
        if (row.enterprise_code, card) not in known:
            set_term(
                conn, now, row.enterprise_code, card, row.fx_permission_until, "enrolled before permissions had terms"
            )
            known.add((row.enterprise_code, card))


def _the_card(conn: Connection, card: Any, enterprise: Any) -> tuple[str, str]:
    """(enterprise, card) of an enrolled, unrevoked card named by SAFE; refused when unknown or ambiguous."""
    if not isinstance(card, str) or not card.strip():
        raise invalid_argument("请指定IC卡卡号", "give the IC card's serial")
    card = card.strip()
    query = sa.select(operators.c.enterprise_code, operators.c.card_serial, operators.c.cert_serial).where(
        _card_matches(card), ~operators.c.revoked
    )
    if enterprise:
        query = query.where(operators.c.enterprise_code == enterprise)
    found = {(r.enterprise_code, r.card_serial or r.cert_serial) for r in conn.execute(query)}
    if not found:
        raise Refusal("PERMISSION_CARD_NOT_FOUND", card=card)
    if len(found) > 1:
        raise invalid_argument(
            f"卡号{card}属于多个企业，请用 --enterprise 指定",
            f"card {card} is enrolled by several enterprises: give --enterprise",
        )
    return found.pop()


def safe_set(conn: Connection, now: dt.datetime, card: Any, until: Any, days: Any, enterprise: Any) -> dict[str, Any]:
    """SAFE sets a card's permission: through ``until`` (a date), or for ``days`` from today."""
    if (until is None) == (days is None):
        raise invalid_argument(
            "请指定 --until 日期或 --days 天数（二者选一）", "give --until DATE or --days N, not both"
        )
    if days is not None:
        if not is_int(days) or days < 1:
            raise invalid_argument("天数应为正整数", "days must be a positive whole number")
        term = business_date(now) + dt.timedelta(days=days)
    else:
        term = parse_date(until, "权限有效期", "permission end")
    code, which = _the_card(conn, card, enterprise)
    set_term(conn, now, code, which, term, "SAFE: set")
    return card_facts(conn, now, code, which)


def safe_end(conn: Connection, now: dt.datetime, card: Any, enterprise: Any) -> dict[str, Any]:
    """SAFE ends a card's permission today: from now on the card does no 出口收汇 business until it is renewed."""
    code, which = _the_card(conn, card, enterprise)
    set_term(conn, now, code, which, business_date(now) - dt.timedelta(days=1), "SAFE: ended")
    return card_facts(conn, now, code, which)


def card_facts(conn: Connection, now: dt.datetime, enterprise: str, card: str) -> dict[str, Any]:
    row = _term(conn, enterprise, card)
    until = row.until if row is not None else None
    return {
        "enterprise": enterprise,
        "card": card,
        "permission": state_of(until, now),
        "until": until.isoformat() if until is not None else None,
        "changed_at": as_utc(row.changed_at).isoformat() if row is not None else None,
    }


def cards(conn: Connection, now: dt.datetime, enterprise: str) -> list[dict[str, Any]]:
    """The enterprise's unrevoked cards with their permission: what an agent shows before anything is dropped."""
    rows = conn.execute(
        sa.select(operators.c.card_serial, operators.c.cert_serial, operators.c.name, operators.c.certificate)
        .where(operators.c.enterprise_code == enterprise, ~operators.c.revoked)
        .order_by(operators.c.created_at)
    )
    listed: dict[str, dict[str, Any]] = {}
    for row in rows:
        card = row.card_serial or row.cert_serial
        entry = listed.setdefault(
            card, {**card_facts(conn, now, enterprise, card), "name": row.name, "certificates": []}
        )
        entry["certificates"].append(row.cert_serial)
    return list(listed.values())


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
        card = _granted_card(conn, row.enterprise_code, row.card)
        current = _term(conn, row.enterprise_code, card)
        if current is None or current.until is None or current.until < until:  # never shortened
            set_term(conn, now, row.enterprise_code, card, until, f"SAFE: request {request_no} approved at 3 levels")
        conn.execute(
            sa.update(permission_requests)
            .where(permission_requests.c.request_no == request_no)
            .values(permission_until=until)
        )
    updated = conn.execute(sa.select(permission_requests).where(permission_requests.c.request_no == request_no))
    return _facts(conn, updated.one())


def _granted_card(conn: Connection, enterprise: str, card: str) -> str:
    """The card a request names, as the permission names it (a request may give the certificate's serial)."""
    row = conn.execute(
        sa.select(operators.c.card_serial, operators.c.cert_serial).where(
            operators.c.enterprise_code == enterprise, _card_matches(card)
        )
    ).first()
    return (row.card_serial or row.cert_serial) if row is not None else card


def requests(conn: Connection, enterprise: str) -> list[dict[str, Any]]:
    """The enterprise's extension requests, newest first."""
    rows = conn.execute(
        sa.select(permission_requests)
        .where(permission_requests.c.enterprise_code == enterprise)
        .order_by(permission_requests.c.request_no.desc())
    )
    return [_facts(conn, row) for row in rows]
