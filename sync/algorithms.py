"""The signature algorithms of the wire, by their JWS ``alg`` names (docs/ARCHITECTURE.md, The wire):

- ``ES256``: ECDSA on P-256 with SHA-256 (RFC 7518, 3.4), as PIV cards sign;
- ``SM2SM3``: SM2 with SM3 (GB/T 32918.2, GB/T 32905), user ID ``1234567812345678``, as China's E-Port signs.

For both, the signer is handed a 32-byte digest and the JWS carries the signature as r ‖ s (64 bytes). For ES256
the digest is SHA-256(signing input) and the signer (a PIV card) answers in DER; for SM2SM3 it is
e = SM3(Z ‖ signing input), Z from the signer's public key and the user ID (sync.sm2), and the signer answers r ‖ s.
Which algorithm a signature has follows from the signer's key: a certificate on an SM2 key signs SM2SM3.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from typing import Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    Prehashed,
    decode_dss_signature,
    encode_dss_signature,
)

from sync import sm2
from sync.sm2 import Sm2PrivateKey, Sm2PublicKey

ES256 = "ES256"
SM2SM3 = "SM2SM3"
ALGORITHMS = (ES256, SM2SM3)
# How the algorithms are named to people (card info, refusals, the center's init).
NAMES = {ES256: "ECDSA P-256 (ES256)", SM2SM3: "SM2/SM3 国密 (SM2SM3)"}
# eport-center init --algorithm: the CA's key and signatures, the receipts, and the keys new cards and PCs make.
CHOICES = {"p256": ES256, "sm2": SM2SM3}

PublicKey = ec.EllipticCurvePublicKey | Sm2PublicKey
PrivateKey = ec.EllipticCurvePrivateKey | Sm2PrivateKey

# A signer takes the 32-byte digest of the signing input and returns the signature: DER for ES256 (what a PIV card
# gives), r ‖ s for SM2SM3.
DigestSigner = Callable[[bytes], bytes]


class SignatureError(Exception):
    """A JWS is malformed, or its signature or certificate does not verify."""


class Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...

    def digest(self) -> bytes: ...


def algorithm_of(key: PublicKey | PrivateKey) -> str:
    """ES256 for a P-256 key, SM2SM3 for an SM2 key; anything else is not for the wire."""
    if isinstance(key, Sm2PublicKey | Sm2PrivateKey):
        return SM2SM3
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return ES256
    raise SignatureError("the key is neither an ECC P-256 nor an SM2 key")


def public_key_of(cert: x509.Certificate) -> PublicKey:
    """The key a certificate certifies: P-256 (read by cryptography) or SM2 (read by asn1crypto)."""
    try:
        key = cert.public_key()
    except UnsupportedAlgorithm:
        try:
            found = sm2.certificate_public_key(cert)
        except ValueError as exc:
            raise SignatureError("the certificate's key cannot be read") from exc
        if found is None:
            raise SignatureError("the certificate is neither for an ECC P-256 nor for an SM2 key") from None
        return found
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise SignatureError("the certificate is neither for an ECC P-256 nor for an SM2 key")
    return key


def algorithm_of_certificate(cert: x509.Certificate) -> str:
    return algorithm_of(public_key_of(cert))


def hasher(algorithm: str, key: PublicKey) -> Hasher:
    """What the signing input is fed into, in pieces; its ``digest()`` is what the signer signs."""
    if algorithm == ES256:
        return hashlib.sha256()
    if algorithm == SM2SM3 and isinstance(key, Sm2PublicKey):
        return sm2.digest_hasher(key)
    raise SignatureError(f"{algorithm} is not the algorithm of the signer's key")


def jws_signature(algorithm: str, signature: bytes) -> bytes:
    """The signer's answer as a JWS carries it: r ‖ s, 64 bytes."""
    if algorithm == ES256:
        r, s = decode_dss_signature(signature)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    if len(signature) != 64:
        raise SignatureError("an SM2 signature r ‖ s is 64 bytes")
    return signature


def verify(algorithm: str, key: PublicKey, message: bytes, signature: bytes) -> None:
    """Raise SignatureError unless ``signature`` (r ‖ s) is ``key``'s ``algorithm`` signature of ``message``."""
    if algorithm not in ALGORITHMS:
        raise SignatureError(f"unsupported JWS algorithm {algorithm!r}")
    if algorithm_of(key) != algorithm:
        raise SignatureError(f"the JWS says {algorithm}, but the signer's key is for {algorithm_of(key)}")
    if len(signature) != 64:
        raise SignatureError(f"an {algorithm} signature is 64 bytes")
    if isinstance(key, Sm2PublicKey):
        if not sm2.verify_digest(key, sm2.message_digest(key, message), signature):
            raise SignatureError("the signature does not match the signed content")
        return
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    try:
        key.verify(der, message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise SignatureError("the signature does not match the signed content") from exc


def software_signer(key: PrivateKey) -> DigestSigner:
    """A digest signer backed by a key in memory (the center's keys, a PC's device key, test keys)."""
    if isinstance(key, Sm2PrivateKey):
        return key.sign_digest
    return lambda digest: key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))


def generate_private_key(algorithm: str) -> PrivateKey:
    if algorithm == SM2SM3:
        return Sm2PrivateKey.generate()
    if algorithm == ES256:
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"unknown algorithm {algorithm!r}")


def private_key_pem(key: PrivateKey) -> str:
    """PKCS#8 PEM, unencrypted (a PC's device key; the emulated card; a center without a key passphrase)."""
    if isinstance(key, Sm2PrivateKey):
        return sm2.private_key_pem(key)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def load_private_key_pem(text: bytes) -> PrivateKey:
    """A P-256 or SM2 private key from unencrypted PKCS#8 PEM; ValueError for anything else."""
    try:
        key = serialization.load_pem_private_key(text, password=None)
    except UnsupportedAlgorithm:
        found = sm2.load_private_key_pem(text)
        if found is None:
            raise ValueError("not an ECC P-256 or SM2 private key") from None
        return found
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("not an ECC P-256 or SM2 private key")
    return key


def public_key_pem(key: PublicKey) -> str:
    if isinstance(key, Sm2PublicKey):
        return sm2.public_key_pem(key)
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def load_public_key_pem(text: bytes) -> PublicKey:
    """A P-256 or SM2 public key from PEM (SubjectPublicKeyInfo); ValueError for anything else."""
    try:
        key = serialization.load_pem_public_key(text)
    except UnsupportedAlgorithm:
        found = sm2.load_public_key_pem(text)
        if found is None:
            raise ValueError("not an ECC P-256 or SM2 public key") from None
        return found
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("not an ECC P-256 or SM2 public key")
    return key


def same_key(a: PublicKey, b: PublicKey) -> bool:
    return type(a) is type(b) and a == b


def _signed_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    if cert.issuer != ca.subject:
        return False
    try:
        issuer = public_key_of(ca)
    except SignatureError:
        return False
    if isinstance(issuer, Sm2PublicKey):
        return sm2.verify_certificate_signature(cert, issuer)
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def check_issued_by(cert: x509.Certificate, ca: x509.Certificate, now: dt.datetime | None = None) -> None:
    """Raise unless ``cert`` was signed by ``ca`` (ECDSA with SHA-256 by a P-256 CA, SM2-with-SM3 by an SM2 CA) and
    both are inside their validity period."""
    now = now or dt.datetime.now(dt.UTC)
    if not _signed_by(cert, ca):
        raise SignatureError("the certificate was not issued by the center's authority")
    for c in (cert, ca):
        if not c.not_valid_before_utc <= now <= c.not_valid_after_utc:
            raise SignatureError(f"certificate {c.subject.rfc4514_string()} is outside its validity period")
