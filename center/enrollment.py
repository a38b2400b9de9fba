"""Enrollment at the center: certificates for operator cards and agent PCs, and the one-time codes (sync.enroll)
with which an agent asks for one over the wire.

A code is made by the operator (``eport-center operator invite`` / ``device invite``) for one enterprise and, for a
card, one operator; only its SHA-256 is stored. Redeeming it, issuing the certificate and recording the enrollment
happen in one transaction, so a code is used exactly once, and a refused request (wrong kind, expired, a key the CA
will not certify) leaves it as it was.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from cryptography import x509
from sqlalchemy.engine import Connection

from center import permissions
from center.ca import Authority, cert_serial_hex, certificate_pem
from center.db import as_utc, business_date, devices, enrollment_codes, operators, utcnow
from center.ledger.identifiers import invalid_argument, require_text
from center.ledger.issuance import require_enterprise
from center.refusals import Refusal
from sync.access import LEGAL_PERSON_ROLE, OPERATOR_ROLE
from sync.algorithms import PublicKey
from sync.enroll import DEVICE_KIND, OPERATOR_KIND, new_secret

DEFAULT_VALID_HOURS = 72
MAX_VALID_HOURS = 24 * 30

# How a kind of enrollment is named to the person who used the wrong code, and the command that takes it.
KIND_WORDS = {
    OPERATOR_KIND: ("操作员卡", "an operator card", "eport-agent card enroll"),
    DEVICE_KIND: ("本机（设备密钥）", "an agent PC (its device key)", "eport-agent device enroll"),
}


def enroll_operator(
    conn: Connection,
    authority: Authority,
    enterprise_code: str,
    public_key: PublicKey,
    name: str,
    card_serial: str | None = None,
    days: int = 365,
    role: str = OPERATOR_ROLE,
    fx_days: int | None = None,
) -> x509.Certificate:
    """Issue a certificate (valid ``days``) for an operator card's key and enroll it. The card's FX permission is its
    own (center.permissions): a new card has none unless SAFE grants it at once (``fx_days``)."""
    name = require_text(name, "操作员姓名", "operator name")
    if days < 1:
        raise ValueError("days must be at least 1")
    if role not in (OPERATOR_ROLE, LEGAL_PERSON_ROLE):
        raise ValueError(f"role must be {OPERATOR_ROLE} or {LEGAL_PERSON_ROLE}")
    require_enterprise(conn, enterprise_code)
    cert = authority.issue_operator_certificate(public_key, enterprise_code, name, card_serial, days, role)
    conn.execute(
        sa.insert(operators).values(
            cert_serial=cert_serial_hex(cert),
            enterprise_code=enterprise_code,
            name=name,
            card_serial=card_serial or None,
            certificate=certificate_pem(cert),
            fx_permission_until=business_date(cert.not_valid_after_utc),
            revoked=False,
            created_at=utcnow(),
        )
    )
    permissions.enrolled(conn, utcnow(), enterprise_code, card_serial or cert_serial_hex(cert), fx_days)
    return cert


def enroll_device(
    conn: Connection, authority: Authority, enterprise_code: str, public_key: PublicKey, name: str
) -> x509.Certificate:
    """Certify an agent's own key for unattended requests of this enterprise (never business signatures)."""
    name = require_text(name, "设备名称", "device name")
    require_enterprise(conn, enterprise_code)
    cert = authority.issue_device_certificate(public_key, enterprise_code, name)
    conn.execute(
        sa.insert(devices).values(
            cert_serial=cert_serial_hex(cert),
            enterprise_code=enterprise_code,
            name=name,
            certificate=certificate_pem(cert),
            revoked=False,
            created_at=utcnow(),
        )
    )
    return cert


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def _moment(at: dt.datetime) -> str:
    return f"{as_utc(at):%Y-%m-%d %H:%M} UTC"


@dataclass(frozen=True)
class Invitation:
    """What a code enrolls, as the operator who made it decided."""

    kind: str
    enterprise: str
    name: str | None
    role: str
    days: int
    expires_at: dt.datetime

    def as_json(self) -> dict[str, Any]:
        terms: dict[str, Any] = {
            "kind": self.kind,
            "enterprise": self.enterprise,
            "name": self.name,
            "expires_at": as_utc(self.expires_at).isoformat(timespec="seconds"),
        }
        if self.kind == OPERATOR_KIND:
            terms.update(role=self.role, days=self.days)
        return terms


def invite(
    conn: Connection,
    now: dt.datetime,
    kind: str,
    enterprise: str,
    name: str | None = None,
    role: str = OPERATOR_ROLE,
    days: int = 365,
    valid_hours: int = DEFAULT_VALID_HOURS,
) -> tuple[str, Invitation]:
    """A new code (its secret, shown this once) and what it enrolls."""
    if kind not in KIND_WORDS:
        raise ValueError(f"kind must be {OPERATOR_KIND} or {DEVICE_KIND}")
    if not 1 <= valid_hours <= MAX_VALID_HOURS:
        raise invalid_argument(
            f"注册码有效期应为1至{MAX_VALID_HOURS}小时", f"valid-hours must be 1 to {MAX_VALID_HOURS}"
        )
    if kind == OPERATOR_KIND:
        name = require_text(name, "操作员姓名", "operator name")
        if days < 1:
            raise invalid_argument("证书有效天数至少为1", "days must be at least 1")
        if role not in (OPERATOR_ROLE, LEGAL_PERSON_ROLE):
            raise ValueError(f"role must be {OPERATOR_ROLE} or {LEGAL_PERSON_ROLE}")
    require_enterprise(conn, enterprise)
    secret = new_secret()
    invitation = Invitation(
        kind, enterprise, (name or "").strip() or None, role, days, now + dt.timedelta(hours=valid_hours)
    )
    conn.execute(
        sa.insert(enrollment_codes).values(
            code_sha256=_digest(secret),
            kind=kind,
            enterprise_code=enterprise,
            name=invitation.name,
            role=role if kind == OPERATOR_KIND else None,
            days=days if kind == OPERATOR_KIND else None,
            created_at=now,
            expires_at=invitation.expires_at,
        )
    )
    return secret, invitation


def _usable(conn: Connection, now: dt.datetime, digest: str, kind: str) -> Invitation:
    row = conn.execute(sa.select(enrollment_codes).where(enrollment_codes.c.code_sha256 == digest)).first()
    if row is None:
        raise Refusal("ENROLLMENT_CODE_UNKNOWN")
    if row.used_at is not None:
        raise Refusal("ENROLLMENT_CODE_USED", used_at=_moment(row.used_at))
    if as_utc(row.expires_at) <= now:
        raise Refusal("ENROLLMENT_CODE_EXPIRED", expired_at=_moment(row.expires_at))
    if row.kind != kind:
        kind_zh, kind_en, command = KIND_WORDS[row.kind]
        asked_zh, asked_en, _ = KIND_WORDS[kind]
        raise Refusal(
            "ENROLLMENT_CODE_WRONG_KIND",
            kind_zh=kind_zh,
            kind_en=kind_en,
            command=command,
            asked_zh=asked_zh,
            asked_en=asked_en,
        )
    return Invitation(
        row.kind, row.enterprise_code, row.name, row.role or OPERATOR_ROLE, row.days or 365, as_utc(row.expires_at)
    )


def check(conn: Connection, now: dt.datetime, secret: str, kind: str) -> Invitation:
    """What a code would enroll, if it can be used now for ``kind``; nothing changes. The agent asks this before
    the card makes a new key, so that a bad code does not cost the card its old one."""
    return _usable(conn, now, _digest(secret), kind)


def redeem(conn: Connection, now: dt.datetime, secret: str, kind: str) -> Invitation:
    """Take a code for an enrollment of ``kind``: unknown, used, expired or other-kind codes are refused, and only
    a code that is taken here is marked used (concurrent requests with one code: exactly one gets it)."""
    digest = _digest(secret)
    invitation = _usable(conn, now, digest, kind)
    taken = conn.execute(
        sa.update(enrollment_codes)
        .where(enrollment_codes.c.code_sha256 == digest, enrollment_codes.c.used_at.is_(None))
        .values(used_at=now)
    )
    if taken.rowcount != 1:  # PostgreSQL: another request took it since we read it
        raise Refusal("ENROLLMENT_CODE_USED", used_at=_moment(now))
    return invitation


def record(conn: Connection, secret: str, cert: x509.Certificate) -> None:
    """Note which certificate a redeemed code enrolled."""
    conn.execute(
        sa.update(enrollment_codes)
        .where(enrollment_codes.c.code_sha256 == _digest(secret))
        .values(cert_serial=cert_serial_hex(cert))
    )
