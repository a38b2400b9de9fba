"""The center's private keys at rest: the CA key and the receipt key, encrypted with a passphrase.

The passphrase comes from the environment, never from the command line: ``EPORT_CENTER_KEY_PASSPHRASE_FILE`` names a
file holding it (a systemd credential, a secret mounted by the orchestrator; one trailing newline is ignored), or
``EPORT_CENTER_KEY_PASSPHRASE`` holds it. It is never logged and never written anywhere.

A key is stored as a PKCS#12 file (base64 text in ``keys.private_key``): PBES2 with PBKDF2-HMAC-SHA256 over 600,000
rounds and AES-256-CBC, the format ``openssl pkcs12`` reads. Without a passphrase the keys stay unencrypted PKCS#8 PEM
(a demo, the tests): ``eport-center serve`` refuses that off loopback (docs/OPERATOR.md, "The keys at rest").
"""

from __future__ import annotations

import base64
import binascii
import os
import threading
from collections.abc import Mapping
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.hazmat.primitives.serialization.pkcs12 import PBES

from center import sm2_keyring
from sync.algorithms import PrivateKey, load_private_key_pem, private_key_pem
from sync.sm2 import Sm2PrivateKey

PASSPHRASE_ENV = "EPORT_CENTER_KEY_PASSPHRASE"
PASSPHRASE_FILE_ENV = "EPORT_CENTER_KEY_PASSPHRASE_FILE"
NEW_PASSPHRASE_ENV = "EPORT_CENTER_NEW_KEY_PASSPHRASE"
NEW_PASSPHRASE_FILE_ENV = "EPORT_CENTER_NEW_KEY_PASSPHRASE_FILE"

# OWASP's figure for PBKDF2-HMAC-SHA256 (2023): each key takes ~0.3 s to open, once per process.
KDF_ROUNDS = 600_000
PLAIN_MARKER = "-----BEGIN PRIVATE KEY-----"


class KeyringError(ValueError):
    """The keys cannot be opened. A ValueError: the CLI prints its message and exits 1."""


class KeysLocked(KeyringError):
    """The keys are encrypted and no passphrase was given."""

    def __init__(self) -> None:
        super().__init__(
            "the center's CA and receipt keys are encrypted: give their passphrase in a file named by "
            f"{PASSPHRASE_FILE_ENV} (or in {PASSPHRASE_ENV}); see docs/OPERATOR.md, 'The keys at rest'"
        )


class WrongPassphrase(KeyringError):
    def __init__(self, source: str) -> None:
        super().__init__(f"the passphrase from {source} does not open the center's keys (was it changed?)")


class Passphrase:
    """A passphrase and where it came from (to name in a message; the passphrase itself is never shown)."""

    def __init__(self, secret: bytes, source: str) -> None:
        if not secret:
            raise KeyringError(f"the key passphrase from {source} is empty")
        self._secret = secret
        self.source = source

    @property
    def secret(self) -> bytes:
        return self._secret

    def __repr__(self) -> str:  # never the secret, wherever a Passphrase is printed
        return f"Passphrase(from {self.source})"


class FromEnvironment:
    """Take the passphrase from the environment (``Center.open``'s default)."""


FROM_ENVIRONMENT = FromEnvironment()


def passphrase_from(
    environ: Mapping[str, str] | None = None, file_env: str = PASSPHRASE_FILE_ENV, value_env: str = PASSPHRASE_ENV
) -> Passphrase | None:
    """The passphrase the environment gives (the file first), or None."""
    env = os.environ if environ is None else environ
    path = env.get(file_env)
    if path:
        try:
            text = Path(path).read_bytes()
        except OSError as exc:
            raise KeyringError(f"cannot read the key passphrase file {path} ({file_env}): {exc.strerror}") from None
        return Passphrase(text.removesuffix(b"\n").removesuffix(b"\r"), f"the file {path} ({file_env})")
    value = env.get(value_env)
    if value:
        return Passphrase(value.encode("utf-8"), value_env)
    return None


def new_passphrase_from(environ: Mapping[str, str] | None = None) -> Passphrase | None:
    """The new passphrase of ``eport-center keys passphrase``."""
    return passphrase_from(environ, NEW_PASSPHRASE_FILE_ENV, NEW_PASSPHRASE_ENV)


def is_encrypted(stored: str) -> bool:
    return not stored.lstrip().startswith(PLAIN_MARKER)


def seal(key: PrivateKey, name: str, passphrase: Passphrase | None) -> str:
    """The text to store for ``key``: PKCS#12 under ``passphrase`` (an SM2 key: encrypted PKCS#8,
    ``center.sm2_keyring``), else plain PKCS#8 PEM."""
    if isinstance(key, Sm2PrivateKey):
        return sm2_keyring.seal(key, passphrase.secret, KDF_ROUNDS) if passphrase else private_key_pem(key)
    if passphrase is None:
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode("ascii")
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(KDF_ROUNDS)
        .key_cert_algorithm(PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(passphrase.secret)
    )
    sealed = pkcs12.serialize_key_and_certificates(name.encode("ascii"), key, None, None, encryption)
    return base64.encodebytes(sealed).decode("ascii")


def unseal(stored: str, passphrase: Passphrase | None) -> PrivateKey:
    """The key stored as ``stored`` (see :func:`seal`)."""
    key: object
    if not is_encrypted(stored):
        key = load_private_key_pem(stored.encode("ascii"))  # P-256 or SM2
    else:
        if passphrase is None:
            raise KeysLocked()
        if sm2_keyring.is_sealed_sm2(stored):
            try:
                return sm2_keyring.unseal(stored, passphrase.secret)
            except ValueError:
                raise WrongPassphrase(passphrase.source) from None
        try:
            key, _, _ = pkcs12.load_key_and_certificates(base64.decodebytes(stored.encode("ascii")), passphrase.secret)
        except (ValueError, binascii.Error):
            raise WrongPassphrase(passphrase.source) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | Sm2PrivateKey):
        raise KeyringError("a stored key of the center is not an EC key")
    return key


class SealedKey:
    """A private key as stored, opened on first use (a command that needs no private key never asks for the
    passphrase) and kept in memory after that."""

    def __init__(self, stored: str, passphrase: Passphrase | None) -> None:
        self._stored = stored
        self._passphrase = passphrase
        self._key: PrivateKey | None = None
        self._lock = threading.Lock()

    @classmethod
    def made(cls, key: PrivateKey, stored: str) -> SealedKey:
        """A key just made or re-sealed: in memory already, ``stored`` as written."""
        sealed = cls(stored, None)
        sealed._key = key
        return sealed

    @property
    def stored(self) -> str:
        return self._stored

    @property
    def encrypted(self) -> bool:
        """Whether it lies encrypted in the database."""
        return bool(self._stored) and is_encrypted(self._stored)

    @property
    def opened(self) -> bool:
        return self._key is not None

    def get(self) -> PrivateKey:
        with self._lock:
            if self._key is None:
                self._key = unseal(self._stored, self._passphrase)
            return self._key
