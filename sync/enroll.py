"""Enrollment over the wire, shared by the agent and the center (modelled on EST, RFC 7030, and ACME, RFC 8555).

The center's operator makes a one-time **enrollment code** for an operator card or an agent PC (``eport-center
operator invite`` / ``device invite``) and hands it to the IT person, who types or pastes it into ``eport-agent card
enroll`` / ``device enroll``. The code is one token of two parts joined by a dot::

    7KQM-3XHD-WP2A-9RTC.5S6Q3FJ0...   (16 + 52 characters)

- the **secret**: 80 random bits as 16 Crockford base32 characters in groups of four. Typing is forgiving: case,
  dashes and spaces do not matter, and O/I/L are read as 0/1/1. The center keeps only its SHA-256; it is good once,
  for a limited time;
- the **CA fingerprint**: the SHA-256 of the center's CA certificate (DER), 52 Crockford base32 characters. The
  agent fetches the CA from ``GET /api/v1/ca`` before it trusts anything from the center and pins it only when its
  fingerprint is this one; only then does the secret travel (over TLS to exactly that CA off loopback).

The request is ``POST /api/v1/enroll`` with ``{"request": "<compact JWS>"}``: the JWS (ES256 for a P-256 key,
SM2SM3 for an SM2 key, whose JWK says ``"crv": "SM2"``) carries the new public key in its protected header (``jwk``,
as ACME's new-account request does) and is signed by that key — the proof that the
requester holds it; its payload is ``{"v": 1, "kind", "code", "name"?, "card_serial"?}`` (the code's secret, so the
key and the code are bound by the one signature). The answer is ``{"kind", "enterprise", "certificate": PEM,
"chain": [PEM, ...]}``, the chain being the issuers above the certificate up to the CA.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from sync.algorithms import ES256, SM2SM3, PublicKey, algorithm_of, hasher, jws_signature, verify
from sync.protocol import DigestSigner, SignatureError, b64url, b64url_decode, canonical_json
from sync.sm2 import Sm2Error, Sm2PublicKey

API_CA = "/api/v1/ca"
API_ENROLL = "/api/v1/enroll"
API_ENROLL_CHECK = "/api/v1/enroll/check"
ENROLL_VERSION = 1

OPERATOR_KIND = "operator"  # an operator (or legal-person) IC card
DEVICE_KIND = "device"  # an agent PC's own key
KINDS = (OPERATOR_KIND, DEVICE_KIND)

# Crockford's base32: digits and capitals without I, L, O, U; what is typed is read leniently.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_TYPED = str.maketrans({"O": "0", "I": "1", "L": "1"})
SECRET_BYTES = 10  # 80 bits: 16 characters
SECRET_CHARS = 16
FINGERPRINT_CHARS = 52  # 256 bits (and 4 zero bits)
SEPARATOR = "."


class CodeError(ValueError):
    """What was typed is not an enrollment code (said before anything is sent)."""


def _encode(data: bytes) -> str:
    bits = int.from_bytes(data, "big") << (-len(data) * 8 % 5)
    count = -(-len(data) * 8 // 5)
    return "".join(ALPHABET[(bits >> 5 * (count - 1 - i)) & 31] for i in range(count))


def _decode(text: str, size: int) -> bytes:
    value = 0
    for char in text:
        value = value * 32 + ALPHABET.index(char)
    extra = len(text) * 5 - size * 8
    if extra < 0 or value & ((1 << extra) - 1):
        raise CodeError("the code does not decode")
    return (value >> extra).to_bytes(size, "big")


def _typed(text: str, what: str, length: int) -> str:
    cleaned = "".join(text.split()).replace("-", "").upper().translate(_TYPED)
    if len(cleaned) != length or any(char not in ALPHABET for char in cleaned):
        raise CodeError(f"the {what} is {length} characters of 0-9 and A-Z (without U)")
    return cleaned


def ca_fingerprint(ca: x509.Certificate) -> bytes:
    """The SHA-256 of the CA certificate's DER encoding."""
    return hashlib.sha256(ca.public_bytes(Encoding.DER)).digest()


def new_secret() -> str:
    """A fresh secret in its normal form (16 characters, no dashes)."""
    return _encode(secrets.token_bytes(SECRET_BYTES))


def grouped(secret: str) -> str:
    return "-".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def format_code(secret: str, fingerprint: bytes) -> str:
    """The token printed for the operator: grouped secret, a dot, the CA fingerprint."""
    return f"{grouped(secret)}{SEPARATOR}{_encode(fingerprint)}"


@dataclass(frozen=True)
class EnrollmentCode:
    secret: str  # normal form: 16 characters, upper case, no dashes
    fingerprint: bytes  # SHA-256 of the CA certificate (DER)

    @classmethod
    def parse(cls, text: str) -> EnrollmentCode:
        secret, sep, fingerprint = text.strip().partition(SEPARATOR)
        if not sep:
            raise CodeError(
                "the code has two parts joined by a dot (16 characters, then the CA fingerprint): paste all of it"
            )
        return cls(
            _typed(secret, "code's first part", SECRET_CHARS),
            _decode(_typed(fingerprint, "CA fingerprint after the dot", FINGERPRINT_CHARS), 32),
        )

    def matches(self, ca: x509.Certificate) -> bool:
        return secrets.compare_digest(ca_fingerprint(ca), self.fingerprint)


def normal_secret(text: str) -> str:
    """The secret as the center looks it up (what the agent sent, read as leniently as a typed code)."""
    return _typed(text, "enrollment code", SECRET_CHARS)


# -- the check: before the card makes a new key (and loses its old one), the agent asks whether the code is good --


def check_request(kind: str, secret: str) -> dict[str, Any]:
    """The body of ``POST /api/v1/enroll/check``; the answer tells what the code enrolls (kind, enterprise, name,
    expires_at; an operator card's role and days) and the ``algorithm`` of the key the center wants made (ES256 or
    SM2SM3: its CA's), or refuses the code as the enrollment itself would."""
    return {"v": ENROLL_VERSION, "kind": kind, "code": secret}


def read_check_request(body: bytes) -> tuple[str, str]:
    """(kind, secret) of a check request."""
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        document = None
    if not isinstance(document, dict) or document.get("kind") not in KINDS or not isinstance(document.get("code"), str):
        raise CodeError(f'the body is {{"v": {ENROLL_VERSION}, "kind": {" or ".join(KINDS)}, "code": "..."}}')
    return document["kind"], normal_secret(document["code"])


# -- the request: a compact JWS with the new key in its header, signed by that key ---------------------------------


# The JWK curve of each algorithm's key: RFC 7518's "P-256"; "SM2" for an SM2 key (no registered name exists).
CURVES = {ES256: "P-256", SM2SM3: "SM2"}


def _jwk(key: PublicKey) -> dict[str, str]:
    if isinstance(key, Sm2PublicKey):
        x, y = key.x, key.y
    else:
        numbers = key.public_numbers()
        x, y = numbers.x, numbers.y
    return {
        "kty": "EC",
        "crv": CURVES[algorithm_of(key)],
        "x": b64url(x.to_bytes(32, "big")),
        "y": b64url(y.to_bytes(32, "big")),
    }


def _key_from_jwk(jwk: Any, algorithm: str) -> PublicKey:
    curve = CURVES[algorithm]
    if not isinstance(jwk, dict) or jwk.get("kty") != "EC" or jwk.get("crv") != curve:
        raise SignatureError(f"the request's key is not an {curve} JWK")
    x, y = b64url_decode(str(jwk.get("x", ""))), b64url_decode(str(jwk.get("y", "")))
    if len(x) != 32 or len(y) != 32:
        raise SignatureError(f"the request's key is not an {curve} JWK")
    try:
        if algorithm == SM2SM3:
            return Sm2PublicKey(x + y)
        return ec.EllipticCurvePublicNumbers(
            int.from_bytes(x, "big"), int.from_bytes(y, "big"), ec.SECP256R1()
        ).public_key()
    except (ValueError, Sm2Error) as exc:
        raise SignatureError(f"the request's key is not a point of {curve}") from exc


def enrollment_request(
    kind: str,
    secret: str,
    public_key: PublicKey,
    sign_digest: DigestSigner,
    name: str | None = None,
    card_serial: str | None = None,
) -> dict[str, str]:
    """The body of ``POST /api/v1/enroll``; ``sign_digest`` (the new key: the card, the device key) is called once,
    with the digest its algorithm signs (ES256 for a P-256 key, SM2SM3 for an SM2 key)."""
    claims: dict[str, Any] = {"v": ENROLL_VERSION, "kind": kind, "code": secret}
    if name:
        claims["name"] = name
    if card_serial:
        claims["card_serial"] = card_serial
    algorithm = algorithm_of(public_key)
    protected = b64url(canonical_json({"alg": algorithm, "jwk": _jwk(public_key)}))
    signing_input = f"{protected}.{b64url(canonical_json(claims))}"
    digest = hasher(algorithm, public_key)
    digest.update(signing_input.encode("ascii"))
    return {"request": f"{signing_input}.{b64url(jws_signature(algorithm, sign_digest(digest.digest())))}"}


@dataclass(frozen=True)
class EnrollmentRequest:
    kind: str
    secret: str
    public_key: PublicKey
    name: str | None
    card_serial: str | None


def _text(claims: dict[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if value is not None and not isinstance(value, str):
        raise SignatureError(f"{name} must be text")
    return value.strip() if value else None


def open_enrollment_request(body: bytes) -> EnrollmentRequest:
    """Check the proof of possession (the request is signed by the key it carries) and read the request."""
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        document = None
    jws = document.get("request") if isinstance(document, dict) else None
    if not isinstance(jws, str) or jws.count(".") != 2:
        raise SignatureError('the body is {"request": "<compact JWS>"}')
    protected, payload, signature = jws.split(".")
    try:
        header = json.loads(b64url_decode(protected))
        claims = json.loads(b64url_decode(payload))
    except ValueError as exc:
        raise SignatureError("the request is not a JWS of JSON") from exc
    if not isinstance(header, dict) or header.get("alg") not in CURVES or not isinstance(claims, dict):
        raise SignatureError("the request is not an ES256 or SM2SM3 JWS of a JSON object")
    key = _key_from_jwk(header.get("jwk"), header["alg"])
    try:
        verify(header["alg"], key, f"{protected}.{payload}".encode("ascii"), b64url_decode(signature))
    except SignatureError as exc:
        raise SignatureError("the request is not signed by the key it carries") from exc
    if claims.get("v") != ENROLL_VERSION or claims.get("kind") not in KINDS or not isinstance(claims.get("code"), str):
        raise SignatureError(f"the request needs v {ENROLL_VERSION}, kind ({' or '.join(KINDS)}) and code")
    try:
        secret = normal_secret(claims["code"])
    except CodeError as exc:
        raise SignatureError(str(exc)) from None
    return EnrollmentRequest(claims["kind"], secret, key, _text(claims, "name"), _text(claims, "card_serial"))


def enrollment_answer(
    kind: str, enterprise: str, certificate: x509.Certificate, chain: list[x509.Certificate]
) -> dict[str, Any]:
    pem = [c.public_bytes(Encoding.PEM).decode("ascii") for c in (certificate, *chain)]
    return {"kind": kind, "enterprise": enterprise, "certificate": pem[0], "chain": pem[1:]}


def read_enrollment_answer(answer: Any) -> tuple[x509.Certificate, list[x509.Certificate]]:
    try:
        certificate = x509.load_pem_x509_certificate(answer["certificate"].encode("ascii"))
        chain = [x509.load_pem_x509_certificate(pem.encode("ascii")) for pem in answer["chain"]]
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise SignatureError("the center's enrollment answer holds no certificate") from exc
    return certificate, chain
