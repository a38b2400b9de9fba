"""The center as an installation: whether a database holds one (made once by ``eport-center init``; every other
command refuses a database without a center instead of making a new CA), and its register of enterprises, operator
cards and agent PCs, with revocation of a lost card or a retired PC (docs/OPERATOR.md, "Cards and PCs")."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography import x509

from center import permissions
from center.ca import CA_NAME
from center.db import database_url, devices, enterprises, keys, operators
from center.refusals import Refusal
from center.service import Center
from sync.access import role_of
from sync.algorithms import ES256
from sync.enroll import ca_fingerprint

OPERATOR_WORDS = {"what_zh": "操作员卡证书", "what_en": "operator card certificate", "command": "operator"}
DEVICE_WORDS = {"what_zh": "本机证书", "what_en": "agent PC certificate", "command": "device"}


def _stored_ca(url_or_path: str) -> x509.Certificate | None:
    """The CA certificate a database holds, without creating anything (no file, folder or table)."""
    url = sa.make_url(database_url(url_or_path) if "://" in url_or_path else f"sqlite:///{url_or_path}")
    if url.get_backend_name() == "sqlite":
        if not url.database or not Path(url.database).expanduser().is_file():
            return None
        url = url.set(database=str(Path(url.database).expanduser().resolve()))
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(keys.name):
                return None
            pem = conn.scalar(sa.select(keys.c.certificate).where(keys.c.name == CA_NAME))
    finally:
        engine.dispose()
    return None if pem is None else x509.load_pem_x509_certificate(pem.encode("ascii"))


def fingerprint_hex(ca: x509.Certificate) -> str:
    """The CA's SHA-256 fingerprint as ``openssl x509 -fingerprint -sha256`` prints it."""
    return ":".join(f"{b:02X}" for b in ca_fingerprint(ca))


def require_center(url_or_path: str) -> None:
    """Refuse a database that holds no center (a mistyped --db), before anything is created in it."""
    if _stored_ca(url_or_path) is None:
        raise Refusal("CENTER_NOT_FOUND", db=url_or_path)


def create_center(url_or_path: str, algorithm: str = ES256) -> Center:
    """A new center (schema, CA of ``algorithm``, receipt key, ports); refused if the database holds one already."""
    ca = _stored_ca(url_or_path)
    if ca is not None:
        raise Refusal("CENTER_EXISTS", db=url_or_path, fingerprint=fingerprint_hex(ca))
    return Center.open(url_or_path, algorithm=algorithm)


def _serial(text: str) -> str:
    """A certificate serial as stored (lower-case hex), as typed or copied (colons, spaces, capitals)."""
    return "".join(c for c in text if c not in ": ").lower()


def _not_after(pem: str) -> str:
    return x509.load_pem_x509_certificate(pem.encode("ascii")).not_valid_after_utc.date().isoformat()


def list_enterprises(center: Center) -> list[dict[str, Any]]:
    def active(table: sa.Table) -> Any:
        return (
            sa.select(sa.func.count())
            .where(table.c.enterprise_code == enterprises.c.code, sa.not_(table.c.revoked))
            .scalar_subquery()
        )

    query = sa.select(
        enterprises.c.code,
        enterprises.c.name,
        enterprises.c.org_code,
        active(operators).label("cards"),
        active(devices).label("pcs"),
    ).order_by(enterprises.c.code)
    with center.engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


def list_operators(center: Center, enterprise: str | None = None) -> list[dict[str, Any]]:
    query = sa.select(operators).order_by(operators.c.enterprise_code, operators.c.created_at)
    if enterprise:
        query = query.where(operators.c.enterprise_code == enterprise)
    with center.engine.connect() as conn:
        now = dt.datetime.now(dt.UTC)
        rows = [
            (row, permissions.card_facts(conn, now, row.enterprise_code, row.card_serial or row.cert_serial))
            for row in conn.execute(query)
        ]
    return [
        {
            "certificate": row.cert_serial,
            "enterprise": row.enterprise_code,
            "name": row.name,
            "role": role_of(x509.load_pem_x509_certificate(row.certificate.encode("ascii"))),
            "card_serial": row.card_serial,
            "valid_until": _not_after(row.certificate),
            "fx_permission": permission["permission"],
            "fx_permission_until": permission["until"],
            "revoked": bool(row.revoked),
        }
        for row, permission in rows
    ]


def list_devices(center: Center, enterprise: str | None = None) -> list[dict[str, Any]]:
    query = sa.select(devices).order_by(devices.c.enterprise_code, devices.c.created_at)
    if enterprise:
        query = query.where(devices.c.enterprise_code == enterprise)
    with center.engine.connect() as conn:
        rows = list(conn.execute(query))
    return [
        {
            "certificate": row.cert_serial,
            "enterprise": row.enterprise_code,
            "name": row.name,
            "valid_until": _not_after(row.certificate),
            "revoked": bool(row.revoked),
        }
        for row in rows
    ]


def _revoke(center: Center, table: sa.Table, where: Any, words: dict[str, str], given: str) -> list[dict[str, Any]]:
    """Revoke the matching certificates in one transaction: what they were (``revoked`` as before this command)."""
    with center.engine.begin() as conn:
        rows = list(conn.execute(sa.select(table.c.cert_serial, table.c.name, table.c.revoked).where(where)))
        if not rows:
            raise Refusal("CERTIFICATE_NOT_FOUND", serial=given, **words)
        conn.execute(sa.update(table).where(where).values(revoked=True))
    return [{"certificate": r.cert_serial, "name": r.name, "was_revoked": bool(r.revoked)} for r in rows]


def revoke_operator(center: Center, certificate: str | None = None, card: str | None = None) -> list[dict[str, Any]]:
    """A lost or retired card: by its certificate's serial, or every certificate of a card serial."""
    if certificate:
        return _revoke(center, operators, operators.c.cert_serial == _serial(certificate), OPERATOR_WORDS, certificate)
    assert card is not None
    return _revoke(center, operators, sa.func.upper(operators.c.card_serial) == card.upper(), OPERATOR_WORDS, card)


def revoke_device(center: Center, certificate: str) -> list[dict[str, Any]]:
    """A lost or retired PC, by its device certificate's serial."""
    return _revoke(center, devices, devices.c.cert_serial == _serial(certificate), DEVICE_WORDS, certificate)
