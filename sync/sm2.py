"""SM2 with SM3 (GB/T 32918 / GM/T 0003 signatures, GB/T 32905 / GM/T 0004 digests): keys, the Z value and the
digest a signature is made over, signing and verifying, and SM2 keys and certificates in their ASN.1 forms, where
the ``cryptography`` package cannot help (it has no SM2 curve).

- The digest: ``e = SM3(Z ‖ M)``, ``Z = SM3(ENTL ‖ ID ‖ a ‖ b ‖ xG ‖ yG ‖ xA ‖ yA)`` with the signer's public key
  (xA, yA) and the user ID ``1234567812345678`` (GB/T 35276, the ID every E-Port and GM/T 0009 signer uses). SM3
  comes from ``cryptography`` (OpenSSL), fed in pieces, so a huge batch is never held whole.
- Signing and verifying go through gmssl-pyx, which wraps the GmSSL C library: its signing nonce comes from the
  operating system's random source. (The pure-Python ``gmssl`` package draws it from ``random`` and is never used.)
- Keys and certificates: SubjectPublicKeyInfo (id-ecPublicKey with the SM2 curve, 1.2.156.10197.1.301),
  PKCS#8 private keys and certificate signatures (SM2-with-SM3, 1.2.156.10197.1.501) through asn1crypto.

gmssl-pyx and asn1crypto are imported on first use: an agent whose card holds a P-256 key never loads them.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

if TYPE_CHECKING:
    from cryptography import x509

# The curve of GB/T 32918.5 (sm2p256v1).
P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
A = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
GX = 0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7
GY = 0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0

CURVE_OID = "1.2.156.10197.1.301"  # sm2p256v1 (GM/T 0006)
SIGNATURE_OID = "1.2.156.10197.1.501"  # SM2-with-SM3 (GM/T 0006)
EC_PUBLIC_KEY_OID = "1.2.840.10045.2.1"  # id-ecPublicKey (RFC 5480): an SM2 key is an EC key on the SM2 curve
DEFAULT_USER_ID = b"1234567812345678"
SIZE = 32  # bytes of a coordinate, a private key, r and s


class Sm2Error(ValueError):
    """Not an SM2 key, point or signature."""


def _on_curve(x: int, y: int) -> bool:
    return 0 <= x < P and 0 <= y < P and (y * y - (x * x * x + A * x + B)) % P == 0


@dataclass(frozen=True)
class Sm2PublicKey:
    """An SM2 public key: the point (x, y), 32 bytes each, as x ‖ y."""

    point: bytes

    def __post_init__(self) -> None:
        if len(self.point) != 2 * SIZE or not _on_curve(self.x, self.y):
            raise Sm2Error("not a point of the SM2 curve")

    @classmethod
    def from_encoded(cls, data: bytes) -> Sm2PublicKey:
        """From the uncompressed encoding ``04 ‖ x ‖ y`` (a card's answer, a certificate's BIT STRING)."""
        if len(data) != 1 + 2 * SIZE or data[0] != 0x04:
            raise Sm2Error("an SM2 public key is 04 ‖ x ‖ y, 65 bytes")
        return cls(bytes(data[1:]))

    @property
    def encoded(self) -> bytes:
        return b"\x04" + self.point

    @property
    def x(self) -> int:
        return int.from_bytes(self.point[:SIZE], "big")

    @property
    def y(self) -> int:
        return int.from_bytes(self.point[SIZE:], "big")


class Sm2PrivateKey:
    """An SM2 private key held in memory (the center's keys, a PC's device key, the emulated card)."""

    __slots__ = ("_public", "_secret")

    def __init__(self, secret: bytes, public: Sm2PublicKey) -> None:
        if len(secret) != SIZE or not 1 <= int.from_bytes(secret, "big") < N - 1:
            raise Sm2Error("an SM2 private key is an integer 1 ≤ d < n-1, 32 bytes")
        self._secret = bytes(secret)
        self._public = public

    @classmethod
    def generate(cls) -> Sm2PrivateKey:
        from gmssl_pyx import sm2_key_generate

        public, secret = sm2_key_generate()
        return cls(secret, Sm2PublicKey(public))

    def public_key(self) -> Sm2PublicKey:
        return self._public

    def sign_digest(self, digest: bytes) -> bytes:
        """The signature r ‖ s (64 bytes) of ``digest`` = SM3(Z ‖ M) (:func:`digest_hasher`)."""
        from gmssl_pyx import sm2_sign_sm3_digest

        if len(digest) != SIZE:
            raise Sm2Error("an SM3 digest is 32 bytes")
        return raw_signature(sm2_sign_sm3_digest(self._secret, digest))

    def secret_bytes(self) -> bytes:
        """The private scalar d, for storing the key (PKCS#8) only."""
        return self._secret

    def __repr__(self) -> str:  # never the secret
        return f"Sm2PrivateKey(public={self._public.point[:4].hex()}…)"


# -- SM3 and the digest that is signed ----------------------------------------------------------------------------


class Sm3:
    """An incremental SM3 (``update`` in pieces, ``digest`` once)."""

    def __init__(self, data: bytes = b"") -> None:
        self._hash = hashes.Hash(hashes.SM3())
        if data:
            self._hash.update(data)

    def update(self, data: bytes) -> None:
        self._hash.update(data)

    def digest(self) -> bytes:
        return self._hash.finalize()


def sm3(data: bytes) -> bytes:
    return Sm3(data).digest()


def z_value(key: Sm2PublicKey, user_id: bytes = DEFAULT_USER_ID) -> bytes:
    """Z_A of GB/T 32918.2, 5.5: SM3(ENTL ‖ ID ‖ a ‖ b ‖ xG ‖ yG ‖ xA ‖ yA), ENTL the ID's length in bits (2 bytes)."""
    if len(user_id) * 8 > 0xFFFF:
        raise Sm2Error("the SM2 user ID is too long")
    parts = [(len(user_id) * 8).to_bytes(2, "big"), user_id]
    parts += [n.to_bytes(SIZE, "big") for n in (A, B, GX, GY)]
    return sm3(b"".join(parts) + key.point)


def digest_hasher(key: Sm2PublicKey, user_id: bytes = DEFAULT_USER_ID) -> Sm3:
    """An SM3 already fed with Z: feed it M (in pieces) and its digest is the e that the signer signs."""
    return Sm3(z_value(key, user_id))


def message_digest(key: Sm2PublicKey, message: bytes, user_id: bytes = DEFAULT_USER_ID) -> bytes:
    """e = SM3(Z ‖ M)."""
    hasher = digest_hasher(key, user_id)
    hasher.update(message)
    return hasher.digest()


def raw_signature(der: bytes) -> bytes:
    """r ‖ s (64 bytes) from the DER SEQUENCE {r, s}."""
    r, s = decode_dss_signature(der)
    if not (0 < r < N and 0 < s < N):
        raise Sm2Error("r and s of an SM2 signature lie in [1, n-1]")
    return r.to_bytes(SIZE, "big") + s.to_bytes(SIZE, "big")


def der_signature(raw: bytes) -> bytes:
    """The DER SEQUENCE {r, s} of r ‖ s."""
    if len(raw) != 2 * SIZE:
        raise Sm2Error("an SM2 signature r ‖ s is 64 bytes")
    return encode_dss_signature(int.from_bytes(raw[:SIZE], "big"), int.from_bytes(raw[SIZE:], "big"))


def verify_digest(key: Sm2PublicKey, digest: bytes, signature: bytes) -> bool:
    """Whether r ‖ s is ``key``'s signature of ``digest`` (e = SM3(Z ‖ M))."""
    from gmssl_pyx import GmsslInnerError, sm2_verify_sm3_digest

    if len(digest) != SIZE or len(signature) != 2 * SIZE:
        return False
    r, s = int.from_bytes(signature[:SIZE], "big"), int.from_bytes(signature[SIZE:], "big")
    if not (0 < r < N and 0 < s < N):
        return False
    try:
        return bool(sm2_verify_sm3_digest(key.point, digest, der_signature(signature)))
    except GmsslInnerError:
        return False


# -- ASN.1: SubjectPublicKeyInfo, PKCS#8, certificates ------------------------------------------------------------

_registered = False


def asn1() -> Any:
    """asn1crypto's ``keys`` module, with the SM2 curve known by name (first use only)."""
    global _registered
    from asn1crypto import keys

    if not _registered:
        if CURVE_OID not in keys.NamedCurve._map:
            keys.NamedCurve.register("sm2p256v1", CURVE_OID, SIZE)
        _registered = True
    return keys


def _algorithm(keys: Any, kind: Any) -> Any:
    return kind({"algorithm": "ec", "parameters": keys.ECDomainParameters(name="named", value=CURVE_OID)})


def public_key_info(key: Sm2PublicKey) -> Any:
    """The key's SubjectPublicKeyInfo (an asn1crypto ``PublicKeyInfo``)."""
    keys = asn1()
    return keys.PublicKeyInfo({"algorithm": _algorithm(keys, keys.PublicKeyAlgorithm), "public_key": key.encoded})


def _is_sm2(algorithm: Any) -> bool:
    parameters = algorithm["parameters"]
    return bool(algorithm["algorithm"].dotted == EC_PUBLIC_KEY_OID and parameters.chosen.dotted == CURVE_OID)


def public_key_from_info(der: bytes) -> Sm2PublicKey | None:
    """The SM2 key of a DER SubjectPublicKeyInfo; None when it holds a key of another kind."""
    keys = asn1()
    try:
        info = keys.PublicKeyInfo.load(der)
        if not _is_sm2(info["algorithm"]):
            return None
        return Sm2PublicKey.from_encoded(bytes(info["public_key"].native))
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise Sm2Error("not a SubjectPublicKeyInfo") from exc


def _tbs(cert: x509.Certificate) -> Any:
    from asn1crypto import x509 as asn1_x509

    asn1()
    return asn1_x509.TbsCertificate.load(cert.tbs_certificate_bytes)


def certificate_public_key(cert: x509.Certificate) -> Sm2PublicKey | None:
    """The SM2 key a certificate certifies; None when it certifies another kind of key."""
    return public_key_from_info(_tbs(cert)["subject_public_key_info"].dump())


def verify_certificate_signature(cert: x509.Certificate, issuer: Sm2PublicKey) -> bool:
    """Whether ``cert`` carries an SM2-with-SM3 signature by ``issuer`` over its TBSCertificate (the default ID)."""
    if cert.signature_algorithm_oid.dotted_string != SIGNATURE_OID:
        return False
    try:
        signature = raw_signature(cert.signature)
    except ValueError:
        return False
    return verify_digest(issuer, message_digest(issuer, cert.tbs_certificate_bytes), signature)


def public_key_pem(key: Sm2PublicKey) -> str:
    body = base64.encodebytes(public_key_info(key).dump()).decode("ascii")
    return f"-----BEGIN PUBLIC KEY-----\n{body}-----END PUBLIC KEY-----\n"


def _pem_body(text: bytes, label: str) -> bytes:
    begin, end = f"-----BEGIN {label}-----".encode(), f"-----END {label}-----".encode()
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        raise Sm2Error(f"not a PEM {label}")
    return base64.b64decode(text[start + len(begin) : stop])


def load_public_key_pem(text: bytes) -> Sm2PublicKey | None:
    """The SM2 key of a PEM PUBLIC KEY; None when it holds a key of another kind."""
    return public_key_from_info(_pem_body(text, "PUBLIC KEY"))


def private_key_info(key: Sm2PrivateKey) -> bytes:
    """PKCS#8 PrivateKeyInfo (DER) of the key, as ``openssl pkey`` reads and writes SM2 keys."""
    keys = asn1()
    ec_key = keys.ECPrivateKey(
        {
            "version": "ecPrivkeyVer1",
            "private_key": int.from_bytes(key.secret_bytes(), "big"),
            "public_key": key.public_key().encoded,
        }
    )
    algorithm = _algorithm(keys, keys.PrivateKeyAlgorithm)
    return bytes(keys.PrivateKeyInfo({"version": 0, "private_key_algorithm": algorithm, "private_key": ec_key}).dump())


def private_key_pem(key: Sm2PrivateKey) -> str:
    body = base64.encodebytes(private_key_info(key)).decode("ascii")
    return f"-----BEGIN PRIVATE KEY-----\n{body}-----END PRIVATE KEY-----\n"


def load_private_key_info(der: bytes) -> Sm2PrivateKey | None:
    """The SM2 key of a DER PrivateKeyInfo; None when it holds a key of another kind."""
    keys = asn1()
    try:
        info = keys.PrivateKeyInfo.load(der)
        if not _is_sm2(info["private_key_algorithm"]):
            return None
        ec_key = info["private_key"].parsed
        secret = int(ec_key["private_key"].native).to_bytes(SIZE, "big")
        public = ec_key["public_key"].native
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
        raise Sm2Error("not a PKCS#8 private key") from exc
    if public is None:
        raise Sm2Error("the SM2 private key is stored without its public key")
    return Sm2PrivateKey(secret, Sm2PublicKey.from_encoded(bytes(public)))


def load_private_key_pem(text: bytes) -> Sm2PrivateKey | None:
    """The SM2 key of a PEM PRIVATE KEY (PKCS#8, unencrypted); None when it holds a key of another kind."""
    return load_private_key_info(_pem_body(text, "PRIVATE KEY"))
