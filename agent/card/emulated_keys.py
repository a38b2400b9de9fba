"""The emulated card's 9C key: ECC P-256 (PIV algorithm 11) or SM2 (54, the vendor identifier docs/CARDS.md names),
made, used and shown as a card does it.

GENERAL AUTHENTICATE hands the card a 32-byte digest the host computed: SHA-256 of the message for P-256, answered
with a DER ECDSA signature; e = SM3(Z ‖ M) for SM2 (Z from the card's public key and the user ID 1234567812345678,
GB/T 32918.2), answered r ‖ s. SM2 goes through gmssl-pyx (sync.sm2), loaded only when an SM2 key is made or used.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from agent.card.piv import ALGORITHM_ECCP256, ALGORITHM_SM2
from sync.algorithms import PrivateKey
from sync.sm2 import Sm2PrivateKey

# What the emulated card can make, unless told otherwise (a card "without SM2" stands in for a YubiKey).
ALL_ALGORITHMS = (ALGORITHM_ECCP256, ALGORITHM_SM2)


def algorithm_of(key: PrivateKey) -> int:
    """The key's PIV algorithm identifier."""
    return ALGORITHM_SM2 if isinstance(key, Sm2PrivateKey) else ALGORITHM_ECCP256


def generate(algorithm: int) -> PrivateKey:
    if algorithm == ALGORITHM_SM2:
        return Sm2PrivateKey.generate()
    if algorithm == ALGORITHM_ECCP256:
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"no key of algorithm {algorithm:02X}")


def sign(key: PrivateKey, digest: bytes) -> bytes:
    """The key's signature of a 32-byte digest, in the card's form: DER for P-256, r ‖ s for SM2."""
    if isinstance(key, Sm2PrivateKey):
        return key.sign_digest(digest)
    return key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))


def public_point(key: PrivateKey) -> bytes:
    """The public key as GENERATE answers it in tag 86: the uncompressed point 04 ‖ x ‖ y."""
    if isinstance(key, Sm2PrivateKey):
        return key.public_key().encoded
    return key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
