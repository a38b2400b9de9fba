"""The operator card's identity: the key and certificate it holds, read (serial, certificate, expiry warnings) and
made anew (enrollment: a key generated on the card, its certificate written back).

Plain functions over one card session; the resident card and its states are agent.operator_card.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from agent.card.apdu import Connection
from agent.card.errors import SW_FILE_NOT_FOUND, SW_INCORRECT_DATA, SW_INCORRECT_P1P2, ApduError, CardError
from agent.card.piv import PIN_POLICY_ONCE, PIV_ALGORITHMS, PivSession
from agent.card.piv_admin import (
    ManagementKeySource,
    authenticate,
    card_type,
    management_key_info,
    yubikey_version,
)
from l10n import say
from sync.algorithms import ES256, NAMES, PublicKey, SignatureError, algorithm_of_certificate
from sync.protocol import DigestSigner

EXPIRY_WARNING = dt.timedelta(days=30)

# Issues the certificate for a key made on the card: (public key, card serial, the card's signer for the new key,
# to prove it holds the key) -> certificate.
Certify = Callable[[PublicKey, str | None, DigestSigner], x509.Certificate]


@dataclass(frozen=True)
class CardInfo:
    """What the agent knows of the card in the reader; plain values, read without touching the card."""

    state: str
    reader: str | None = None
    serial: str | None = None
    subject: str | None = None
    operator: str | None = None
    enterprise: str | None = None
    not_after: str | None = None  # ISO 8601, UTC
    pin_tries_left: int | None = None
    problem: str | None = None
    card_type: str | None = None  # e.g. "YubiKey 5.4.3 (PIV)" (agent.card.piv_admin.card_type)
    algorithm: str | None = None  # the 9C key's, from its certificate: "ECDSA P-256 (ES256)" or "SM2/SM3 国密 (SM2SM3)"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def warnings(self, now: dt.datetime | None = None) -> list[str]:
        """Trouble ahead that the clerk should hear about before signing fails."""
        warning = certificate_warning(self.not_after, now or dt.datetime.now(dt.UTC))
        return [warning] if warning else []


def _name_part(certificate: x509.Certificate, oid: x509.ObjectIdentifier) -> str | None:
    values = certificate.subject.get_attributes_for_oid(oid)
    return str(values[0].value) if values else None


def describe_card(
    session: PivSession, reader: str | None, state: str, tries_left: int | None
) -> tuple[CardInfo, x509.Certificate | None]:
    """Read serial, certificate and the kind of card (no PIN needed) into a CardInfo; a card without a certificate
    says so."""
    kind = card_type(session, bytes(getattr(session.protocol.connection, "atr", b"")))
    try:
        serial: str | None = session.get_serial()
    except ApduError:
        serial = None  # a card without a CHUID still signs
    try:
        certificate: x509.Certificate | None = session.get_certificate()
    except ApduError as exc:
        if exc.sw != SW_FILE_NOT_FOUND:
            raise
        certificate = None
    if certificate is None:
        info = CardInfo(
            state,
            reader,
            serial,
            pin_tries_left=tries_left,
            problem="The card holds no operator certificate: enroll it (eport-agent card enroll).",
            card_type=kind,
        )
        return info, None
    info = CardInfo(
        state,
        reader,
        serial,
        certificate.subject.rfc4514_string(),
        _name_part(certificate, NameOID.COMMON_NAME),
        _name_part(certificate, NameOID.ORGANIZATION_NAME),
        certificate.not_valid_after_utc.isoformat(),
        tries_left,
        card_type=kind,
        algorithm=_algorithm_name(certificate),
    )
    return info, certificate


def _algorithm_name(certificate: x509.Certificate) -> str | None:
    try:
        return NAMES[algorithm_of_certificate(certificate)]
    except SignatureError:
        return None


def select_piv(connection: Connection) -> PivSession:
    try:
        return PivSession(connection)
    except ApduError as exc:
        raise CardError("The card in the reader is not an E-Port operator card (it has no PIV application).") from exc


def enroll_card(
    connection: Connection, pin: str, certify: Certify, management_key: ManagementKeySource, algorithm: str = ES256
) -> x509.Certificate:
    """Generate a new key of ``algorithm`` (the center's: ES256 for P-256, SM2SM3 for SM2) on the card, have
    ``certify(public_key, serial, sign_digest)`` issue its certificate (the card signs the request with the new key:
    the proof that the key is on this card), and store it. A card that cannot make such a key says so and keeps the
    key it has.

    The card management key comes first (``management_key(what the card tells of it)``, asked once, kept nowhere,
    never retried): a refused key stops here with the card as it was and no PIN try spent. Then the PIN, once (the
    new key signs the request). The card's old key and certificate are gone afterwards.
    """
    session = select_piv(connection)
    authenticate(session, management_key(management_key_info(session)))
    session.verify_pin(pin)
    try:
        serial: str | None = session.get_serial()
    except ApduError:
        serial = None
    # A YubiKey's 9C key wants the PIN before every signature unless made with PIN policy "once": the agent signs
    # every batch after one unlock. Other PIV cards keep their own policy (docs/CARDS.md).
    pin_policy = PIN_POLICY_ONCE if yubikey_version(session) is not None else None
    piv_algorithm = PIV_ALGORITHMS[algorithm]
    try:
        public_key = session.generate_key(pin_policy, piv_algorithm)
    except ApduError as exc:
        if exc.sw in (SW_INCORRECT_DATA, SW_INCORRECT_P1P2):  # the card knows no such algorithm
            raise CardError(say("card.cannot_make", algorithm=NAMES[algorithm])) from None
        raise
    certificate = certify(public_key, serial, lambda digest: session.sign_digest(digest, piv_algorithm))
    session.put_certificate(certificate)
    return certificate


def certificate_warning(not_after: str | None, now: dt.datetime, ahead: dt.timedelta = EXPIRY_WARNING) -> str | None:
    """A warning when the operator certificate ends within ``ahead`` (or has ended)."""
    if not_after is None:
        return None
    end = dt.datetime.fromisoformat(not_after)
    if end <= now:
        return say("warn.cert_expired", day=end.date().isoformat())
    if end - now <= ahead:
        days = (end - now).days
        return say("warn.cert_expires", day=end.date().isoformat(), days=days)
    return None
