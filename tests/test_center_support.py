"""Shared helpers for the center's tests (no tests here).

Operator cards are stood in for by software P-256 keys: the center only sees a certificate and an ES256 signature,
and the card path (PC/SC, PIV GENERAL AUTHENTICATE) is tested with the agent.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from center import db
from center.service import Center
from sync.protocol import batch_document, canonical_json, sign_detached, software_signer

ENTERPRISE = "3301960001"
OTHER_ENTERPRISE = "4403960002"


@dataclass
class Card:
    """An operator 'card': a key and the certificate the center issued for it."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    enterprise: str

    def sign(self, payload: dict[str, Any], chain_tail: list[x509.Certificate] | None = None) -> dict[str, Any]:
        signature = sign_detached(
            canonical_json(payload), [self.certificate, *(chain_tail or [])], software_signer(self.key)
        )
        return batch_document(payload, signature)


def open_center(tmp_path: Path) -> Center:
    center = Center.open(str(tmp_path / "center.db"))
    center.create_enterprise(ENTERPRISE, "杭州测试进出口有限公司")
    center.create_enterprise(OTHER_ENTERPRISE, "深圳另一家贸易有限公司")
    return center


def enroll(center: Center, enterprise: str = ENTERPRISE, name: str = "张三", days: int = 365) -> Card:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = center.enroll_operator(enterprise, key.public_key(), name, card_serial="CARD-0001", days=days)
    return Card(key, cert, enterprise)


def filing_payload(batch_id: str, records: list[Any], enterprise: str = ENTERPRISE) -> dict[str, Any]:
    return {
        "v": 1,
        "batch_id": batch_id,
        "kind": "filings",
        "enterprise": enterprise,
        "created_at": "2024-05-06T09:30:00+08:00",
        "records": records,
    }


def filings(*pairs: tuple[str, str]) -> list[dict[str, Any]]:
    """Records from (form_no, port) pairs, numbered from 1."""
    return [{"seq": i, "form_no": form_no, "port": port} for i, (form_no, port) in enumerate(pairs, start=1)]


def set_form(center: Center, form_no: str, **values: Any) -> None:
    """Put a form into a state that the authority operations (later work) would produce."""
    with center.engine.begin() as conn:
        conn.execute(sa.update(db.forms).where(db.forms.c.form_no == form_no).values(**values))


def count_batches(center: Center) -> int:
    with center.engine.connect() as conn:
        return int(conn.scalar(sa.select(sa.func.count()).select_from(db.batches)) or 0)


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def stored_ca_key(center: Center) -> ec.EllipticCurvePrivateKey:
    """The CA's private key, read straight from the database (to make certificates the API would not issue)."""
    with center.engine.connect() as conn:
        pem = conn.scalar(sa.select(db.keys.c.private_key).where(db.keys.c.name == "ca"))
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def make_certificate(
    public_key: ec.EllipticCurvePublicKey,
    issuer: x509.Name,
    signing_key: ec.EllipticCurvePrivateKey,
    not_before: dt.datetime,
    not_after: dt.datetime,
    enterprise: str = ENTERPRISE,
) -> x509.Certificate:
    subject = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, "李四"), x509.NameAttribute(NameOID.ORGANIZATION_NAME, enterprise)]
    )
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(signing_key, hashes.SHA256())
    )
