"""An SM2 CA's and receipt key's private keys at rest (center.keyring keeps the P-256 ones as PKCS#12, which
``cryptography`` cannot write for a key on a curve it does not know).

An SM2 key is stored as an encrypted PKCS#8 PEM (``-----BEGIN ENCRYPTED PRIVATE KEY-----``, RFC 5958 with PBES2 of
RFC 8018): PBKDF2-HMAC-SHA256 over the same 600,000 rounds and AES-256-CBC, the format ``openssl pkey`` reads.
The ASN.1 is asn1crypto's; the key derivation and the cipher are ``cryptography``'s.
"""

from __future__ import annotations

import base64
import os

from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from sync import sm2
from sync.sm2 import Sm2PrivateKey

LABEL = "ENCRYPTED PRIVATE KEY"
MARKER = f"-----BEGIN {LABEL}-----"


def _key(secret: bytes, salt: bytes, rounds: int) -> bytes:
    return PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt, iterations=rounds).derive(secret)


def seal(key: Sm2PrivateKey, secret: bytes, rounds: int) -> str:
    """The key's PKCS#8 encrypted under the passphrase ``secret``, as PEM."""
    from asn1crypto import algos, keys

    salt, iv = os.urandom(16), os.urandom(16)
    padder = padding.PKCS7(128).padder()
    plain = padder.update(sm2.private_key_info(key)) + padder.finalize()
    encryptor = Cipher(algorithms.AES(_key(secret, salt, rounds)), modes.CBC(iv)).encryptor()
    scheme = algos.EncryptionAlgorithm(
        {
            "algorithm": "pbes2",
            "parameters": {
                "key_derivation_func": {
                    "algorithm": "pbkdf2",
                    "parameters": {
                        "salt": algos.Pbkdf2Salt(name="specified", value=salt),
                        "iteration_count": rounds,
                        "prf": {"algorithm": "sha256"},
                    },
                },
                "encryption_scheme": {"algorithm": "aes256_cbc", "parameters": iv},
            },
        }
    )
    sealed = keys.EncryptedPrivateKeyInfo(
        {"encryption_algorithm": scheme, "encrypted_data": encryptor.update(plain) + encryptor.finalize()}
    )
    body = base64.encodebytes(sealed.dump()).decode("ascii")
    return f"{MARKER}\n{body}-----END {LABEL}-----\n"


def is_sealed_sm2(stored: str) -> bool:
    return stored.lstrip().startswith(MARKER)


def unseal(stored: str, secret: bytes) -> Sm2PrivateKey:
    """The key :func:`seal` stored; ValueError when the passphrase does not open it (or it is not such a key)."""
    from asn1crypto import keys

    lines = stored.strip().splitlines()
    try:
        sealed = keys.EncryptedPrivateKeyInfo.load(base64.b64decode("".join(lines[1:-1])))
        scheme = sealed["encryption_algorithm"]
        if scheme["algorithm"].native != "pbes2" or scheme.encryption_cipher != "aes":
            raise ValueError("not PBES2 with AES")
        kdf = scheme["parameters"]["key_derivation_func"]["parameters"]
        if kdf["prf"]["algorithm"].native != "sha256":
            raise ValueError("not PBKDF2-HMAC-SHA256")
        salt, rounds = kdf["salt"].native, kdf["iteration_count"].native
        decryptor = Cipher(algorithms.AES(_key(secret, salt, rounds)), modes.CBC(scheme.encryption_iv)).decryptor()
        padded = decryptor.update(sealed["encrypted_data"].native) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        key = sm2.load_private_key_info(unpadder.update(padded) + unpadder.finalize())
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise ValueError("the passphrase does not open the key") from exc
    if key is None:
        raise ValueError("the sealed key is not an SM2 key")
    return key
