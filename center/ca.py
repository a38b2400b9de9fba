"""The center's certificate authority: it enrolls operator cards and signs the center's receipts.

On first open of a database it makes a P-256 CA (self-signed, 10 years) and a receipt key whose certificate the CA
issues; both live in the ``keys`` table, the private keys encrypted with the operator's passphrase when one is given
(``center.keyring``; an unencrypted pair is encrypted on the first open with a passphrase). A private key is opened
on first use, so commands that sign nothing never need the passphrase.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy.engine import Connection

from center import sm2_certificates
from center.db import devices, keys, operators
from center.keyring import Passphrase, SealedKey, is_encrypted, seal
from center.refusals import Refusal
from sync.access import LEGAL_PERSON_ROLE, OPERATOR_ROLE, role_of
from sync.algorithms import (
    ES256,
    NAMES,
    SM2SM3,
    PrivateKey,
    PublicKey,
    algorithm_of,
    algorithm_of_certificate,
    generate_private_key,
)
from sync.protocol import DigestSigner, SignatureError, check_issued_by, software_signer
from sync.sm2 import Sm2PrivateKey

log = logging.getLogger(__name__)

CA_NAME = "ca"
RECEIPT_NAME = "receipt"
CA_YEARS = 10
# Certificates start a little in the past so that a clock slightly behind ours still accepts them.
CLOCK_SKEW = dt.timedelta(minutes=5)


def cert_serial_hex(cert: x509.Certificate) -> str:
    """The ``operators`` key of a certificate."""
    return format(cert.serial_number, "x")


def certificate_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _name(*attributes: tuple[x509.ObjectIdentifier, str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in attributes])


@dataclass(frozen=True)
class KeyPair:
    sealed: SealedKey
    certificate: x509.Certificate

    @property
    def key(self) -> PrivateKey:
        """The private key, opened with the passphrase on first use (``center.keyring``)."""
        return self.sealed.get()


@dataclass(frozen=True)
class Operator:
    """An enrolled operator card, as the ledger needs it."""

    cert_serial: str
    enterprise_code: str
    name: str
    card: str = ""  # the IC card's serial (its certificate's serial when enrolled without one)
    role: str = OPERATOR_ROLE  # LEGAL_PERSON_ROLE for the enterprise's legal-person card (法人卡)


def _make_ca(now: dt.datetime, passphrase: Passphrase | None, algorithm: str = ES256) -> KeyPair:
    name = _name((NameOID.COMMON_NAME, "E-Port Data Center CA"), (NameOID.ORGANIZATION_NAME, "E-Port Data Center"))
    if algorithm == SM2SM3:  # eport-center init --algorithm sm2
        sm2_key = Sm2PrivateKey.generate()
        end = now + dt.timedelta(days=365 * CA_YEARS)
        sm2_cert = sm2_certificates.ca_certificate(sm2_key, name, now - CLOCK_SKEW, end)
        return KeyPair(SealedKey.made(sm2_key, seal(sm2_key, CA_NAME, passphrase)), sm2_cert)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + dt.timedelta(days=365 * CA_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return KeyPair(SealedKey.made(key, seal(key, CA_NAME, passphrase)), cert)


def _stored_pair(conn: Connection, row: sa.Row[Any], passphrase: Passphrase | None) -> KeyPair:
    """A stored key and certificate; an unencrypted key is encrypted now when there is a passphrase."""
    certificate = x509.load_pem_x509_certificate(row.certificate.encode("ascii"))
    sealed = SealedKey(row.private_key, passphrase)
    if passphrase is not None and not is_encrypted(row.private_key):
        key = sealed.get()
        sealed = SealedKey.made(key, seal(key, row.name, passphrase))
        conn.execute(sa.update(keys).where(keys.c.name == row.name).values(private_key=sealed.stored))
        log.warning("the %s key was stored unencrypted: it is now encrypted with the key passphrase", row.name)
    return KeyPair(sealed, certificate)


def _issue(
    ca: KeyPair, public_key: PublicKey, subject: x509.Name, now: dt.datetime, not_after: dt.datetime
) -> x509.Certificate:
    """An end-entity certificate (operator card, receipt key) signed by the CA."""
    # A certificate never outlives the CA that vouches for it.
    not_after = min(not_after, ca.certificate.not_valid_after_utc)
    if isinstance(ca.key, Sm2PrivateKey):  # an SM2 CA signs SM2-with-SM3
        return sm2_certificates.issue(ca.key, ca.certificate, public_key, subject, now - CLOCK_SKEW, not_after)
    assert isinstance(public_key, ec.EllipticCurvePublicKey)  # a P-256 CA certifies P-256 keys only (_accept)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.certificate.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
        .sign(ca.key, hashes.SHA256())
    )


# The organisational unit that marks a device certificate: it authenticates an agent, and can never sign business.
DEVICE_UNIT = "device"


class Authority:
    """The CA key, the receipt key, and the checks on certificates presented to the center."""

    def __init__(self, ca: KeyPair, receipt: KeyPair) -> None:
        self._ca = ca
        self._receipt = receipt

    @classmethod
    def ensure(cls, conn: Connection, passphrase: Passphrase | None = None, algorithm: str = ES256) -> Authority:
        """Load the keys, making the missing ones (first open: a CA of ``algorithm``, ES256 or SM2SM3) and, given a
        passphrase, encrypting keys that lie unencrypted. Call inside a write transaction."""
        stored = {row.name: row for row in conn.execute(sa.select(keys))}
        now = dt.datetime.now(dt.UTC)
        if CA_NAME in stored:
            ca = _stored_pair(conn, stored[CA_NAME], passphrase)
        else:
            ca = _make_ca(now, passphrase, algorithm)
            conn.execute(
                sa.insert(keys).values(
                    name=CA_NAME, private_key=ca.sealed.stored, certificate=certificate_pem(ca.certificate)
                )
            )
        if RECEIPT_NAME in stored:
            receipt = _stored_pair(conn, stored[RECEIPT_NAME], passphrase)
        else:
            key = generate_private_key(algorithm_of_certificate(ca.certificate))  # receipts: the CA's algorithm
            cert = _issue(
                ca,
                key.public_key(),
                _name(
                    (NameOID.COMMON_NAME, "E-Port Data Center Receipts"),
                    (NameOID.ORGANIZATION_NAME, "E-Port Data Center"),
                ),
                now,
                ca.certificate.not_valid_after_utc,
            )
            receipt = KeyPair(SealedKey.made(key, seal(key, RECEIPT_NAME, passphrase)), cert)
            conn.execute(
                sa.insert(keys).values(
                    name=RECEIPT_NAME, private_key=receipt.sealed.stored, certificate=certificate_pem(cert)
                )
            )
        return cls(ca, receipt)

    def unlock(self) -> None:
        """Open both private keys now (a server does at start, so that a missing or wrong passphrase stops it there
        and not at its first batch). Raises ``center.keyring.KeyringError``."""
        self._ca.sealed.get()
        self._receipt.sealed.get()

    @property
    def keys_loaded(self) -> bool:
        return self._ca.sealed.opened and self._receipt.sealed.opened

    @property
    def keys_encrypted(self) -> bool:
        return self._ca.sealed.encrypted and self._receipt.sealed.encrypted

    def reseal(self, conn: Connection, passphrase: Passphrase) -> None:
        """Store both keys encrypted under ``passphrase`` (a new passphrase; the old one opens them first)."""
        for name, pair in ((CA_NAME, self._ca), (RECEIPT_NAME, self._receipt)):
            conn.execute(
                sa.update(keys).where(keys.c.name == name).values(private_key=seal(pair.key, name, passphrase))
            )

    @property
    def ca_certificate(self) -> x509.Certificate:
        return self._ca.certificate

    @property
    def algorithm(self) -> str:
        """ES256 or SM2SM3: the CA's, the receipts', and the only one of the keys it certifies and accepts."""
        return algorithm_of_certificate(self._ca.certificate)

    def _accept(self, algorithm: str, what_zh: str, what_en: str) -> None:
        """One algorithm per center (docs/OPERATOR.md, "One algorithm"): another is refused in so many words."""
        if algorithm != self.algorithm:
            raise Refusal(
                "ALGORITHM_NOT_ACCEPTED",
                accepted=NAMES[self.algorithm],
                given=NAMES[algorithm],
                what_zh=what_zh,
                what_en=what_en,
            )

    def _accept_key(self, public_key: PublicKey) -> None:
        try:
            algorithm = algorithm_of(public_key)
        except SignatureError:
            raise Refusal("KEY_INVALID", detail="neither an ECC P-256 nor an SM2 key") from None
        self._accept(algorithm, "注册的密钥", "key to enroll")

    @property
    def receipt_chain(self) -> list[x509.Certificate]:
        return [self._receipt.certificate, self._ca.certificate]

    @property
    def receipt_signer(self) -> DigestSigner:
        return software_signer(self._receipt.key)

    def issue_operator_certificate(
        self,
        public_key: PublicKey,
        enterprise_code: str,
        operator_name: str,
        card_serial: str | None,
        days: int = 365,
        role: str = OPERATOR_ROLE,
    ) -> x509.Certificate:
        """A certificate for an operator card's key: CN = operator, O = enterprise code, serialNumber = card; the
        legal-person card also has OU = legal-person (the role is the CA's word, so it cannot be claimed)."""
        self._accept_key(public_key)
        attributes = [(NameOID.COMMON_NAME, operator_name), (NameOID.ORGANIZATION_NAME, enterprise_code)]
        if card_serial:
            attributes.append((NameOID.SERIAL_NUMBER, card_serial))
        if role == LEGAL_PERSON_ROLE:
            attributes.append((NameOID.ORGANIZATIONAL_UNIT_NAME, LEGAL_PERSON_ROLE))
        now = dt.datetime.now(dt.UTC)
        return _issue(self._ca, public_key, _name(*attributes), now, now + dt.timedelta(days=days))

    def check_certificate(self, cert: x509.Certificate, now: dt.datetime) -> None:
        """Refuse a certificate of another algorithm than ours, one that our CA did not issue, or one outside its
        validity period."""
        try:
            algorithm = algorithm_of_certificate(cert)
        except SignatureError:
            raise Refusal("CERTIFICATE_UNTRUSTED") from None
        self._accept(algorithm, "签名证书", "signing certificate")
        try:
            check_issued_by(cert, self._ca.certificate, now)
            return
        except SignatureError:
            pass
        # Tell "ours but expired" from "not ours": check the issuer's signature at a moment the leaf was valid.
        try:
            check_issued_by(cert, self._ca.certificate, cert.not_valid_before_utc)
        except SignatureError:
            raise Refusal("CERTIFICATE_UNTRUSTED") from None
        raise Refusal("CERTIFICATE_EXPIRED", not_after=cert.not_valid_after_utc.date().isoformat())

    def verify_operator(self, conn: Connection, chain: Sequence[x509.Certificate], now: dt.datetime) -> Operator:
        """The enrolled, unrevoked operator whose certificate (``chain[0]``) signed a request (its FX permission is
        center.permissions')."""
        leaf = chain[0]
        self.check_certificate(leaf, now)
        row = conn.execute(sa.select(operators).where(operators.c.cert_serial == cert_serial_hex(leaf))).first()
        # Same serial but other bytes cannot come from our CA unless its key leaked; treat it as unknown anyway.
        if row is None or row.certificate.strip() != certificate_pem(leaf).strip():
            raise Refusal("OPERATOR_UNKNOWN")
        if row.revoked:
            raise Refusal("OPERATOR_REVOKED")
        card = row.card_serial or row.cert_serial
        return Operator(row.cert_serial, row.enterprise_code, row.name, card, role_of(leaf))

    def issue_device_certificate(
        self, public_key: PublicKey, enterprise_code: str, device_name: str, days: int = 730
    ) -> x509.Certificate:
        """A certificate for an agent's own key: CN = device, O = enterprise, OU = "device" (never a card)."""
        self._accept_key(public_key)
        subject = _name(
            (NameOID.COMMON_NAME, device_name),
            (NameOID.ORGANIZATION_NAME, enterprise_code),
            (NameOID.ORGANIZATIONAL_UNIT_NAME, DEVICE_UNIT),
        )
        now = dt.datetime.now(dt.UTC)
        return _issue(self._ca, public_key, subject, now, now + dt.timedelta(days=days))

    def issue_server_certificate(
        self, hosts: Sequence[str], days: int = 825
    ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        """A TLS server certificate for the center itself, from the CA that agents pin (so no public CA is
        involved and an agent trusts exactly this center)."""
        if not hosts:
            raise ValueError("a server certificate names at least one host")
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        key = ec.generate_private_key(ec.SECP256R1())  # TLS keeps a P-256 key: clients' TLS has no SM2 (TLCP)
        now = dt.datetime.now(dt.UTC)
        not_after = min(now + dt.timedelta(days=days), self._ca.certificate.not_valid_after_utc)
        subject = _name((NameOID.COMMON_NAME, hosts[0]), (NameOID.ORGANIZATION_NAME, "E-Port Data Center"))
        if isinstance(self._ca.key, Sm2PrivateKey):
            ca, start = self._ca.certificate, now - CLOCK_SKEW
            return key, sm2_certificates.issue(self._ca.key, ca, key.public_key(), subject, start, not_after, names)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self._ca.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CLOCK_SKEW)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._ca.key.public_key()), critical=False
            )
            .sign(self._ca.key, hashes.SHA256())
        )
        return key, cert

    def verify_device(self, conn: Connection, cert: x509.Certificate, now: dt.datetime) -> str:
        """The enterprise of the enrolled, unrevoked device whose certificate authorised a request."""
        self.check_certificate(cert, now)
        row = conn.execute(sa.select(devices).where(devices.c.cert_serial == cert_serial_hex(cert))).first()
        if row is None or row.revoked or row.certificate.strip() != certificate_pem(cert).strip():
            raise Refusal("DEVICE_UNKNOWN")
        return str(row.enterprise_code)
